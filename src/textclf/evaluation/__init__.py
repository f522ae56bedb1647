"""Scoring a fitted model: metrics, report tables, plots and the report files of a run."""
