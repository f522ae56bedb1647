"""Train a text classifier from configs/: `python train.py [group=option ...] [key=value ...]`.

All the work happens in `textclf.run(cfg)`; this file only hands it Hydra's config.
"""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import textclf
from textclf.cli.errors import refuse_a_sweep_under_torchrun, report_config_errors, report_user_errors
from textclf.cli.job_log import copy_output_to_job_log
from textclf.errors import Pruned
from textclf.imports import own_this_process
from textclf.search.trial import check_search_is_swept, record_value

# configs/paths/default.yaml resolves every path against the project folder.
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))
# Let config errors reach report_config_errors, which prints them as one line.
os.environ.setdefault("HYDRA_FULL_ERROR", "1")


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@copy_output_to_job_log  # what it prints, its error line included, in the run folder's train.log too
@report_user_errors
def main(cfg: DictConfig) -> float:
    """Train; return the metric a sweeper optimises (``optimized_metric`` in configs/train.yaml)."""
    check_search_is_swept(cfg, multirun=HydraConfig.get().mode == RunMode.MULTIRUN)
    try:
        metrics = textclf.run(cfg, overrides=HydraConfig.get().overrides.task)
    except Pruned as pruned:  # a search's pruner stopped this trial: its run ended KILLED
        print(f"trial {cfg.hparams_search.trial} {pruned}: its run ended KILLED", file=sys.stderr)
        return float("nan")
    value = metrics.get(cfg.optimized_metric, float("nan"))
    record_value(cfg, value)  # a search's trial: its study keeps the value even if the sweep stops now
    return value


if __name__ == "__main__":
    refuse_a_sweep_under_torchrun(sys.argv[1:])
    own_this_process()  # its heavy imports are set aside from the garbage collector (textclf.imports)
    report_config_errors(main)()
