"""The audit's report folder: one CSV per kind of problem, ``summary.md``, and the table printed."""

from __future__ import annotations

from pathlib import Path

from textclf.audit.run import AuditReport
from textclf.safe_csv import write_rows

SHOWN_IN_SUMMARY = 10  # rows of each kind quoted in summary.md


def write_report(report: AuditReport, folder: Path) -> list[Path]:
    """Write every file of the report into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "label_issues.csv": (["split", "row", "id", "text", "given_label", "suggested_label", "quality"],
                             [[*_where(report, issue.row), report.pool.texts[issue.row], "|".join(issue.given),
                               "|".join(issue.suggested), round(issue.quality, 4)] for issue in report.label_issues]),
        "duplicates.csv": (["kind", "similarity", "across_splits", "split", "row", "id", "text",
                            "other_split", "other_row", "other_id", "other_text"],
                           [["exact" if pair.exact else "near", round(pair.similarity, 4),
                             report.origins[pair.first][0] != report.origins[pair.second][0],
                             *_where(report, pair.first), report.pool.texts[pair.first],
                             *_where(report, pair.second), report.pool.texts[pair.second]]
                            for pair in report.duplicates]),
        "outliers.csv": (["split", "row", "id", "text", "label_similarity"],
                         [[*_where(report, row), report.pool.texts[row], round(similarity, 4)]
                          for row, similarity in report.outliers]),
        "lengths.csv": (["split", "row", "id", "text", "problem"],
                        [[*_where(report, row), report.pool.texts[row], problem] for row, problem in report.lengths]),
        "missing.csv": (["split", "row", "id", "text", "problem"],
                        [[row.split, row.row, row.id, row.text, row.problem] for row in report.missing]),
        "label_counts.csv": (["label", "train", "validation", "test"],
                             [[label, *(per_split.get(split, 0) for split in ("train", "validation", "test"))]
                              for label, per_split in report.counts.items()]),
    }
    if report.task == "multilabel":
        tables["label_pairs.csv"] = (["label", "other_label", "texts", "expected_if_independent"],
                                     [[p.first, p.second, p.count, round(p.expected, 2)] for p in report.label_pairs])
    written = []
    for name, (header, rows) in tables.items():
        written.append(folder / name)
        with written[-1].open("w", newline="", encoding="utf-8") as handle:
            write_rows(handle, [header, *rows])
    written.append(folder / "summary.md")
    written[-1].write_text(summary_markdown(report), encoding="utf-8")
    return written


def summary_table(report: AuditReport) -> str:
    """The few lines printed at the end of ``textclf audit``."""
    found = report.found()
    lines = [f"audit of {report.dataset} ({len(report.pool)} texts, {report.task}, label issues from {report.model}):",
             f"  no text or no label     {found['missing']:>6}  (left out of the checks below)",
             f"  likely label errors     {found['label_issues']:>6}",
             f"  duplicate pairs         {found['duplicates']:>6}  ({found['leakage']} across splits: leakage)",
             f"  texts unlike any label  {found['outliers']:>6}",
             f"  too short or too long   {found['length']:>6}",
             f"  label imbalance         {report.imbalance():>6.1f}x  (most / least common label in train)",
             "  out-of-fold macro-F1    " + ", ".join(f"{score:.2f} {name}" for name, score in report.model_scores.items())
             + "  (agreement with the given labels: the lower, the more false alarms above)"]
    if report.task == "multilabel":
        lines.append(f"  unlikely label pairs    {found['label_pairs']:>6}")
    lines += [f"train.py would refuse this data: {said}" for said in report.refused]  # its words, less "error:"
    return "\n".join(lines)


def summary_markdown(report: AuditReport) -> str:
    parts = [f"# Audit of {report.dataset}", "", "```", summary_table(report), "```", "",
             "## Likely label errors (lowest label quality first)", "",
             "| split | id | given | suggested | quality | text |", "|---|---|---|---|---|---|"]
    for issue in report.label_issues[:SHOWN_IN_SUMMARY]:
        split, _, ident = _where(report, issue.row)
        parts.append(f"| {split} | {ident} | {'/'.join(issue.given)} | {'/'.join(issue.suggested)} | "
                     f"{issue.quality:.3f} | {_cell(report.pool.texts[issue.row])} |")
    parts += ["", "## Duplicates across splits (leakage)", "", "| similarity | where | other | text |", "|---|---|---|---|"]
    for pair in report.leakage()[:SHOWN_IN_SUMMARY]:
        first, second = _where(report, pair.first), _where(report, pair.second)
        parts.append(f"| {pair.similarity:.3f} | {first[0]} {first[2]} | {second[0]} {second[2]} | "
                     f"{_cell(report.pool.texts[pair.first])} |")
    parts += ["", "Every finding is in the CSV files beside this one.", ""]
    return "\n".join(parts)


def _where(report: AuditReport, row: int) -> list:
    split, within = report.origins[row]
    return [split, within, report.pool.ids[row]]


def _cell(text: str, longest: int = 120) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= longest else text[: longest - 3] + "..."
