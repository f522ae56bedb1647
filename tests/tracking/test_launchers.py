"""Sweeps through Hydra's launchers: every job's run nested under the sweep's parent run, which a
job finds in the sweep folder (a Ray or SLURM worker inherits no environment from the launching
process), and `threads` reaching the models so that parallel jobs share the cores."""

import pytest

from helpers.processes import run_train
from helpers.stores import all_runs
from helpers.training import composed
from textclf.config import build


@pytest.mark.parametrize(("launcher", "says"), [("submitit_local", "Submitit 'local' sweep output dir"),
                                                ("ray", "Ray Launcher is launching 2 jobs")])
def test_a_sweep_nests_both_jobs_under_the_parent_found_in_the_sweep_folder(tmp_path, launcher, says):
    # The environment variable joblib's workers rely on is made wrong in each job: only the sweep
    # folder's record can nest them right.
    result = run_train(tmp_path, "-m", f"hydra/launcher={launcher}", "threads=1", "model=tfidf_nb",
                       "features=tfidf_word", "seed=0,1", "+hydra.job.env_set.TEXTCLF_PARENT_RUN_ID=not-the-parent")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = all_runs(tmp_path)
    (parent,) = [run for run in runs if run.data.tags.get("textclf.sweep") == "parent"]
    jobs = [run for run in runs if run is not parent]
    assert parent.info.status == "FINISHED" and len(jobs) == 2
    assert [run.data.tags.get("mlflow.parentRunId") for run in jobs] == [parent.info.run_id] * 2
    assert sorted(run.data.params["seed"] for run in jobs) == ["0", "1"]
    assert all(run.info.status == "FINISHED" and run.data.params["threads"] == "1" for run in jobs)
    assert says in result.stdout + result.stderr


@pytest.mark.parametrize("model", ["minilm_logreg", "minilm_finetune", "minilm_zeroshot", "minilm_setfit"])
def test_threads_reach_every_minilm_model(model):
    cfg = composed(f"model={model}", "threads=1")
    estimator = build(cfg.model.estimator, "model")
    steps = getattr(estimator, "steps", [("only", estimator)])
    assert [step.num_threads for _, step in steps if hasattr(step, "num_threads")] == [1]
    assert composed(f"model={model}").threads is None  # all cores unless set


def test_the_slurm_example_composes_on_submitit_slurm():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from helpers.paths import ROOT

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm_example"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert cfg.hydra.launcher.cpus_per_task == 8 and cfg.hydra.launcher.partition == "gpu"
