"""Labeled texts: the frozen dataset types, readers (files, Hugging Face), splitting and checks."""

from textclf.data.dataset import Dataset, DatasetSummary, Split, SplitSummary
from textclf.data.hf import load_hf
from textclf.data.readers import load_files

__all__ = ["Dataset", "DatasetSummary", "Split", "SplitSummary", "load_files", "load_hf"]
