"""``heavy_imports``: a process of textclf's own sets aside what its heavy imports made, so the
garbage collector's full passes stop walking it; any other process only has the collector paused
for the import. train.py's process is one of textclf's own."""

import gc
import json
import subprocess
import sys

import pytest

from helpers.paths import ROOT
from helpers.processes import clean_env, store_overrides
from textclf import imports


@pytest.fixture
def collector_as_it_was():
    """The test's process is pytest's: nothing in it was set aside (not even by the tests that run
    train.py in it, ``helpers.training``), and it is so again afterwards, the collector as it was."""
    assert gc.get_freeze_count() == 0, "a test left objects of pytest's process set aside"
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # what the test set aside goes back to the collector's oldest generation
    (gc.enable if enabled else gc.disable)()


def made_in_the_body() -> list:
    return [[] for _ in range(5000)]  # container objects, as an import's modules and functions are


@pytest.mark.usefixtures("collector_as_it_was")
def test_in_a_process_of_textclfs_own_what_the_body_made_is_set_aside(monkeypatch):
    monkeypatch.setattr(imports, "_own_process", True)
    before = gc.get_freeze_count()
    with imports.heavy_imports():
        assert not gc.isenabled()  # paused for the body
        made = made_in_the_body()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)


@pytest.mark.usefixtures("collector_as_it_was")
def test_elsewhere_the_collector_is_only_paused(monkeypatch):
    monkeypatch.setattr(imports, "_own_process", False)  # textclf.train called in a user's notebook
    before = gc.get_freeze_count()
    with imports.heavy_imports():
        assert not gc.isenabled()
        made_in_the_body()
    assert gc.isenabled() and gc.get_freeze_count() == before


@pytest.mark.usefixtures("collector_as_it_was")
def test_a_collector_turned_off_by_the_caller_stays_off(monkeypatch):
    monkeypatch.setattr(imports, "_own_process", True)
    gc.disable()
    before = gc.get_freeze_count()
    with imports.heavy_imports():
        made_in_the_body()
    assert not gc.isenabled() and gc.get_freeze_count() == before


REPORT_AFTER_TRAIN_PY = """
import gc, json, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print(json.dumps({"frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def test_train_py_sets_aside_what_it_imports(tmp_path):
    """Run as train.py is (its ``__main__``), and the objects of its imports are set aside: more
    than importing scikit-learn alone makes."""
    result = subprocess.run([sys.executable, "-c", REPORT_AFTER_TRAIN_PY, str(ROOT / "train.py"),
                             *store_overrides(tmp_path), "features=tfidf_word", "model=tfidf_nb"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=clean_env())
    assert result.returncode == 0, result.stderr[-3000:]
    collector = json.loads(result.stdout.strip().splitlines()[-1])
    assert collector["enabled"] and collector["frozen"] > 50_000, collector


def test_train_py_run_in_pytests_process_leaves_it_pytests(tmp_path, train_in_process):
    """``helpers.training`` runs train.py's ``__main__`` in this process: it must not mark it as
    textclf's own, or a later first run here would set aside every object of pytest's."""
    assert train_in_process(tmp_path, "--help").returncode == 0
    assert imports._own_process is False and gc.get_freeze_count() == 0
