"""How a sweep's jobs find the sweep's parent run, whatever launched them.

The sweep's callback (``tracking.sweep``) creates the parent run in the launching process and
hands its id on two ways: the environment variable ``TEXTCLF_PARENT_RUN_ID``, which joblib's and
submitit's local workers inherit, and a file in the sweep's folder (``hydra.sweep.dir``), which a
job reads when its worker did not start from the launching process: a Ray worker, a SLURM job.
Hydra resolves a job's ``hydra.sweep.dir`` from the launching process's cache, so every job
names the same folder. No MLflow here: the training process reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

PARENT_RUN_ENV = "TEXTCLF_PARENT_RUN_ID"
PARENT_RUN_FILE = ".textclf-parent-run"


def sweep_parent_run() -> str | None:
    """The parent run id of the sweep this process runs a job of; None outside a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return os.environ.get(PARENT_RUN_ENV)
    file = Path(HydraConfig.get().sweep.dir) / PARENT_RUN_FILE
    written = file.read_text(encoding="utf-8").strip() if file.is_file() else None
    return written or os.environ.get(PARENT_RUN_ENV)


def publish_parent_run(parent_run_id: str, sweep_dir: str) -> None:
    """Hand the parent run id to the sweep's jobs, however they are launched (see above)."""
    os.environ[PARENT_RUN_ENV] = parent_run_id
    folder = Path(sweep_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARENT_RUN_FILE).write_text(parent_run_id + "\n", encoding="utf-8")
