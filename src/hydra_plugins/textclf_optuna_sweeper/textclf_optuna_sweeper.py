"""Hydra finds sweepers only in the ``hydra_plugins`` namespace: this module registers textclf's
Optuna sweeper there as ``hydra/sweeper=textclf_optuna``. Hydra imports every plugin module at
start-up, so this one stays light; the work is in ``textclf.search.sweeper``.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper


@dataclass
class TextclfOptunaSweeperConf:
    """``hydra.sweeper``'s keys; configs/hparams_search/*.yaml set them."""

    _target_: str = "hydra_plugins.textclf_optuna_sweeper.textclf_optuna_sweeper.OptunaSweeper"
    # the sampler reaches the sweeper as config: it is seeded by the study's progress (resuming)
    _recursive_: bool = False
    # trials the study should have in all: rerunning the command continues it up to this number
    n_trials: int = 20
    # trials launched side by side in each round (match hydra.launcher.n_jobs)
    n_jobs: int = 1
    # seconds after which no new round starts (null: no limit); the first round always runs
    timeout: Optional[float] = None
    direction: str = "maximize"
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": 0})
    # the search space: {override key: {type: float|int|categorical, ...}} (textclf.search.space)
    params: Any = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="textclf_optuna", node=TextclfOptunaSweeperConf,
                             provider="textclf")


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        from textclf.search.sweeper import StudySweeper

        self.sweeper = StudySweeper(**settings)

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments):
        return self.sweeper.sweep(arguments)
