"""``textclf audit [overrides]``: run the audit on the data train.py would read, write the report
folder (whole or not at all), log it as an MLflow run, print the summary."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from textclf.errors import UserError
from textclf.pause import pause_at


def audit(args) -> None:
    from textclf.audit.report import summary_table, write_report
    from textclf.audit.run import run_audit
    from textclf.config import flatten_config
    from textclf.project import compose_config
    from textclf.tracking.reachability import check_reachable
    from textclf.tracking.store import store_settings

    cfg = compose_config(args.overrides, args.project, config_name="audit", project_option="--project PATH")
    settings = store_settings(cfg.tracking)
    check_reachable(settings["uri"], settings["connect_timeout"])  # in seconds, before the folds' minutes
    if not cfg.audit.models:  # the out-of-fold probabilities are the models' mean: none, no audit
        raise UserError("audit.models names no model. Fix: pass audit.models=[tfidf_linearsvc] (or more models)")
    models = {str(name): _model_config(str(name), args) for name in cfg.audit.models}
    output = Path(args.output if args.output else cfg.audit.output_dir).expanduser().resolve()
    if output.exists() and not output.is_dir():
        raise UserError(f"report folder {output} is a file. Fix: pass --output to a new or empty folder")
    if output.exists() and any(output.iterdir()):
        raise UserError(f"report folder {output} already holds files. Fix: pass --output to a new or empty folder")
    report = run_audit(cfg, models)
    from textclf.tracking.audit_run import log_audit

    params = {key: value for key, value in flatten_config(cfg).items()
              if key.startswith(("audit.", "data.", "task.")) or key == "blas_threads"}
    found = report.found()
    # Written beside the destination and moved into place once complete: never half a report.
    # Then logged: a store that fails this late (the early check passed) keeps the folds' work.
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".audit-") as staging:
        write_report(report, Path(staging) / "report")
        pause_at("audit_report")  # a fault test's moment: every file written, none in place yet
        if output.exists():
            output.rmdir()
        shutil.move(str(Path(staging) / "report"), output)
    run_id = log_audit(settings, f"audit {' '.join(args.overrides)}".strip(), params,
                       {**{f"audit/{kind}": count for kind, count in found.items()},
                        **{f"audit/oof_macro_f1.{name}": score for name, score in report.model_scores.items()}}, output)
    print(summary_table(report))
    print(f"report: {output}\nrun {run_id} in experiment {OmegaConf.select(cfg, 'tracking.experiment')}-audit")
    failed = [kind for kind in args.fail_on if found[kind]]
    if failed:
        print(f"failing (--fail-on): {', '.join(f'{found[kind]} {kind}' for kind in failed)}", file=sys.stderr)
        raise SystemExit(1)


def _model_config(name: str, args):
    """The model config ``name`` of ``audit.models``, composed as the audit's own config is."""
    from textclf.project import compose_config

    try:
        return compose_config([*args.overrides, f"model={name}"], args.project, config_name="audit").model
    except UserError as error:  # Hydra's words name the defaults list, not the setting that chose it
        raise UserError(f"audit.models has {name!r}: {error}") from None
