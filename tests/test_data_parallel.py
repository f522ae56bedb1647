"""Fine-tuning data-parallel under `torchrun`, and on whatever device torch sees.

The contract: `torchrun --nproc_per_node 2 train.py model=minilm_finetune` takes the same steps
with the same loss as `python train.py` (the two processes share each batch), and only rank 0
tracks and registers. Run for real, two processes on gloo, with a tiny BERT without dropout (so a
step's loss depends on its batch alone, not on which process drew which dropout mask).
"""

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from helpers.paths import ROOT
from helpers.processes import clean_env, store_overrides
from helpers.stores import all_runs, client, wait_for_running_run
from helpers.tiny_bert import build_tiny_bert
from textclf.models.finetune import TransformerClassifier

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
# 8 texts per label, 10% held out: 57 rows in batches of 8, so each epoch ends on a batch of one
# row, which rank 1 has no share of; 64 passages (one per test text and label) hold the test split.
FINETUNE = ["model=minilm_finetune", "model.estimator.epochs=2", "model.estimator.batch_size=8",
            "model.estimator.learning_rate=5e-3", "model.estimator.precision=fp32",
            "model.estimator.inference=fp32", "model.estimator.progress=false", "data.per_label=8"]


def train(folder, launcher: list[str], *overrides: str) -> subprocess.CompletedProcess:
    command = [*launcher, str(ROOT / "train.py"), *store_overrides(folder), *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder, env=clean_env())


@pytest.fixture(scope="module")
def one_and_two_processes(tmp_path_factory):
    """The same fine-tune by one process, then by two under torchrun, into one store."""
    folder = tmp_path_factory.mktemp("data-parallel")
    tiny = build_tiny_bert(folder / "tiny", dropout=0.0)
    results = [train(folder, launcher, *FINETUNE, f"model.encoder={tiny}")
               for launcher in ([sys.executable], TORCHRUN)]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    return folder, results


def test_two_processes_take_the_same_steps_with_the_same_loss_as_one(one_and_two_processes):
    folder, _ = one_and_two_processes
    one, two = sorted(all_runs(folder), key=lambda run: run.info.start_time)
    assert "data_parallel.world_size" not in one.data.tags and two.data.tags["data_parallel.world_size"] == "2"

    def steps(run, name):
        history = client(folder).get_metric_history(run.info.run_id, f"train/{name}")
        return np.array([metric.value for metric in sorted(history, key=lambda metric: metric.step)])

    assert len(steps(one, "step_loss")) == 16  # 2 epochs of 8 batches
    np.testing.assert_allclose(steps(two, "step_loss"), steps(one, "step_loss"), rtol=1e-5)
    assert np.ptp(steps(one, "step_loss")) > 0.01  # the steps changed the model: equal losses say something
    # The summed gradients are the batch mean's, as in one process (not N times it, nor 1/N).
    np.testing.assert_allclose(steps(two, "grad_norm"), steps(one, "grad_norm"), rtol=1e-4)


def test_only_rank_0_tracks_and_registers(one_and_two_processes):
    import mlflow

    folder, (_, torchrun) = one_and_two_processes
    assert [run.info.status for run in all_runs(folder)] == ["FINISHED", "FINISHED"]  # one run per train.py
    versions = client(folder).search_model_versions("name='diplomacy-topics'")
    assert sorted(int(version.version) for version in versions) == [1, 2]
    assert torchrun.stdout.count("models:/diplomacy-topics/2") == 1  # one summary, from rank 0
    # ...and what rank 0 registered is the model one process trains, to float noise.
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    texts = pd.DataFrame({"text": ["The minister restated the alliance commitment in Seoul.",
                                   "A missile launch was reported on Tuesday."]})
    probabilities = [mlflow.pyfunc.load_model(f"models:/diplomacy-topics/{version}").predict(texts)
                     .filter(like="prob_").to_numpy() for version in (1, 2)]
    np.testing.assert_allclose(probabilities[1], probabilities[0], atol=1e-5)


def test_a_model_that_cannot_share_its_training_is_trained_once_by_rank_0(tmp_path):
    result = train(tmp_path, TORCHRUN, "model=tfidf_logreg")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model=tfidf_logreg does not train data-parallel" in result.stdout
    (run,) = all_runs(tmp_path)
    assert run.info.status == "FINISHED" and "data_parallel.world_size" in run.data.tags


def test_device_auto_trains_where_torch_can(tiny):
    import torch

    model = TransformerClassifier(encoder=tiny, epochs=1, batch_size=4, progress=False, device="auto")
    model.fit(["missile launch", "summit visit"] * 4, ["security", "visit"] * 4)
    assert model.device_ == ("cuda:0" if torch.cuda.is_available() else "cpu")
    # ...and the fitted model predicts and is saved from the CPU, wherever it trained.
    assert {parameter.device.type for parameter in model.model_.parameters()} == {"cpu"}


def test_asking_for_a_gpu_torch_cannot_see_is_refused(tiny):
    import torch

    from textclf.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError, match="device=cuda.*Fix: set model.estimator.device=auto or cpu"):
        TransformerClassifier(encoder=tiny, progress=False, device="cuda").fit(["a", "b"], ["x", "y"])


def test_a_process_killed_mid_fit_ends_the_run_killed_with_nothing_registered(tmp_path):
    """torchrun stops the other processes when one dies; rank 0 ends its run KILLED, as on Ctrl-C."""
    import psutil

    tiny = build_tiny_bert(tmp_path / "tiny", dropout=0.0)
    command = [*TORCHRUN, str(ROOT / "train.py"), *store_overrides(tmp_path), *FINETUNE, f"model.encoder={tiny}",
               "model.estimator.epochs=100000", "model.estimator.patience=100000"]
    process = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_running_run(tmp_path, process)
        time.sleep(3)  # into the fit: the processes are exchanging gradients
        (rank_1,) = [child for child in psutil.Process(process.pid).children(recursive=True)
                     if child.environ().get("RANK") == "1"]
        rank_1.kill()
        process.wait(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert not client(tmp_path).search_registered_models()
