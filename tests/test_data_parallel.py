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
from textclf.models.contrastive import ContrastiveEmbedder
from textclf.models.finetune import TransformerClassifier

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
# 8 texts per label, 10% held out: 57 rows in batches of 8, so each epoch ends on a batch of one
# row, which rank 1 has no share of; 64 passages (one per test text and label) hold the test split.
FINETUNE = ["model=minilm_finetune", "model.estimator.epochs=2", "model.estimator.batch_size=8",
            "model.estimator.learning_rate=5e-3", "model.estimator.precision=fp32",
            "model.estimator.inference=fp32", "model.estimator.progress=false", "data.per_label=8"]


def as_torchrun_process(monkeypatch, rank: int) -> None:
    """This process's environment as torchrun sets it for process ``rank`` of 2."""
    for name, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": 2}.items():
        monkeypatch.setenv(name, str(value))


def train(folder, launcher: list[str], *overrides: str) -> subprocess.CompletedProcess:
    command = [*launcher, str(ROOT / "train.py"), *store_overrides(folder), *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder, env=clean_env())


@pytest.fixture(scope="module")
def one_and_two_processes(tmp_path_factory):
    """The same fine-tune by two processes under torchrun (tracked in a store) and by one, here
    (as ``python train.py`` fits it: ``training.fit`` on the same composed config)."""
    from helpers.training import composed
    from textclf.config import build
    from textclf.training import fit

    folder = tmp_path_factory.mktemp("data-parallel")
    tiny = build_tiny_bert(folder / "tiny", dropout=0.0)
    torchrun = train(folder, TORCHRUN, *FINETUNE, f"model.encoder={tiny}")
    assert torchrun.returncode == 0, torchrun.stderr[-3000:]
    cfg = composed(*FINETUNE, f"model.encoder={tiny}")
    dataset, task = build(cfg.data, "data"), build(cfg.task, "task")
    alone = task.prepare(build(cfg.model.estimator, "model"), dataset.label_names)
    fit(alone, dataset, task)
    return folder, torchrun, alone


def test_two_processes_take_the_same_steps_with_the_same_loss_as_one(one_and_two_processes):
    folder, _, alone = one_and_two_processes
    (run,) = all_runs(folder)
    assert run.data.tags["data_parallel.world_size"] == "2"

    def logged(name):
        history = client(folder).get_metric_history(run.info.run_id, f"train/{name}")
        return np.array([metric.value for metric in sorted(history, key=lambda metric: metric.step)])

    def one_process(name):
        return np.array([step[name] for step in alone.step_history_])

    assert len(one_process("step_loss")) == 16  # 2 epochs of 8 batches
    np.testing.assert_allclose(logged("step_loss"), one_process("step_loss"), rtol=1e-5)
    assert np.ptp(one_process("step_loss")) > 0.01  # the steps changed the model: equal losses say something
    # The summed gradients are the batch mean's, as in one process (not N times it, nor 1/N).
    np.testing.assert_allclose(logged("grad_norm"), one_process("grad_norm"), rtol=1e-4)


def test_only_rank_0_tracks_and_registers(one_and_two_processes):
    import mlflow

    folder, torchrun, alone = one_and_two_processes
    (run,) = all_runs(folder)  # one run for the two processes
    assert run.info.status == "FINISHED"
    (version,) = client(folder).search_model_versions("name='diplomacy-topics'")
    assert version.run_id == run.info.run_id
    assert torchrun.stdout.count("models:/diplomacy-topics/1") == 1  # one summary, from rank 0
    # ...and what rank 0 registered is the model one process trains, to float noise.
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    texts = ["The minister restated the alliance commitment in Seoul.", "A missile launch was reported on Tuesday."]
    registered = mlflow.pyfunc.load_model("models:/diplomacy-topics/1").predict(pd.DataFrame({"text": texts}))
    np.testing.assert_allclose(registered.filter(like="prob_").to_numpy(), alone.predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("rank", [0, 1])
def test_a_model_that_cannot_share_its_training_is_trained_once_by_rank_0(tmp_path, monkeypatch, capsys, rank):
    """torchrun's variables as it sets them, in this process: rank 0 trains and says why alone,
    rank 1 ends at once, leaving nothing."""
    from helpers.training import train_here

    as_torchrun_process(monkeypatch, rank)
    result = train_here(tmp_path, "model=tfidf_nb", "features=tfidf_word", monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    said = "model=tfidf_nb does not train data-parallel" in result.stdout
    runs = all_runs(tmp_path) if (tmp_path / "mlflow.db").exists() else []
    if rank == 0:
        (run,) = runs
        assert said and run.info.status == "FINISHED" and "data_parallel.world_size" not in run.data.tags
    else:
        assert not said and not runs and "models:/" not in result.stdout


def tuned(estimator):
    """The torch module a fitted fine-tune or contrastive tuning trained."""
    return estimator.model_ if hasattr(estimator, "model_") else estimator.tuned_.model


@pytest.mark.parametrize("make", [
    lambda tiny, device: TransformerClassifier(encoder=tiny, epochs=1, batch_size=4, progress=False, device=device),
    lambda tiny, device: ContrastiveEmbedder(encoder=tiny, epochs=1, progress=False, device=device),
], ids=["finetune", "setfit"])
def test_device_auto_trains_where_torch_can_and_cuda_without_a_gpu_is_refused(tiny, make):
    import torch

    from textclf.errors import UserError

    model = make(tiny, "auto").fit(["missile launch", "summit visit"] * 4, ["security", "visit"] * 4)
    assert model.device_ == ("cuda:0" if torch.cuda.is_available() else "cpu")
    # ...and the fitted model predicts and is saved from the CPU, wherever it trained.
    assert {parameter.device.type for parameter in tuned(model).parameters()} == {"cpu"}
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"model\.\w+\.device=cuda.*Fix: set model\.\w+\.device=auto or cpu"):
            make(tiny, "cuda").fit(["a", "b"], ["x", "y"])


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
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0
    (run,) = all_runs(tmp_path)
    assert run.info.status == "KILLED", stderr[-5000:]
    # rank 0's line, whether the lost peer or torchrun's SIGTERM reached it first, or both
    assert f"interrupted: run {run.info.run_id} ended KILLED; nothing was registered" in stderr, stderr[-5000:]
    assert not client(tmp_path).search_registered_models()


@pytest.mark.parametrize("rank", [0, 1])
def test_a_sweep_under_torchrun_is_refused_before_it_starts(tmp_path, monkeypatch, capsys, rank):
    """Every process would run Hydra's sweeper and make a parent run of its own."""
    from helpers.training import train_here

    as_torchrun_process(monkeypatch, rank)
    result = train_here(tmp_path, "-m", "model=tfidf_nb,tfidf_logreg", monkeypatch=monkeypatch, capsys=capsys,
                        new_store=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert said == (["error: a sweep (-m) cannot run under torchrun: every process would run the whole sweep. "
                     "Fix: run each job under torchrun (a launcher such as submitit_slurm), or drop -m"]
                    if rank == 0 else [])
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def test_only_a_lost_peer_ends_the_fit_as_an_interrupt():
    """gloo's error when another process died becomes the interrupt torchrun's SIGTERM would be; any
    other error keeps its own (a setup mistake must not read as "another process stopped")."""
    from textclf.models.data_parallel import Ranks, peers_lost_as_interrupt

    lost = RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:18116: Connection reset by peer")
    with pytest.raises(KeyboardInterrupt, match="another torchrun process stopped"):
        with peers_lost_as_interrupt(Ranks(rank=0, world_size=2)):
            raise lost
    for ranks, error in [(Ranks(), lost), (Ranks(rank=0, world_size=2), RuntimeError("Duplicate GPU detected"))]:
        with pytest.raises(RuntimeError) as raised:
            with peers_lost_as_interrupt(ranks):
                raise error
        assert raised.value is error


def test_rank_0s_value_reaches_every_process_and_sums_add_all_of_them(tmp_path):
    """The two exchanges the fit makes besides DDP's own, between two real gloo processes: rank 0's
    held-out score to all (so all stop at the same epoch) and a step's loss summed over the shares."""
    script = tmp_path / "exchange.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from textclf.models import data_parallel as dp\n"
        "ranks = dp.launched_ranks()\n"
        "dp.join_process_group(ranks, 'cpu')\n"
        "said = (dp.broadcast_from_rank_0(0.25 + ranks.rank, ranks, 'cpu'),\n"
        "        dp.all_reduce_sum(1.0 + ranks.rank, ranks, 'cpu'))\n"
        "Path(sys.argv[1], f'rank{ranks.rank}.txt').write_text(repr(said))\n")
    result = subprocess.run([*TORCHRUN, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120,
                            env=clean_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)] == ["(0.25, 3.0)"] * 2
