"""The model files' temporary folders: each names the process that made it, and once that process
is gone the next worker's start removes what it left (tests/faults/ shows it after real kills)."""

from helpers.processes import dead_owner
from textclf.tracking import scratch
from textclf.tracking.ownership import this_process


def test_a_new_folder_names_its_process_and_outlives_nothing_but_that_process(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    ours = scratch.new_scratch()
    assert ours.parent == tmp_path and (ours / scratch.OWNER_FILE).read_text() == this_process()
    (ours / "model.pkl").write_bytes(b"...")

    left = tmp_path / "textclf-left-by-a-killed-run"
    (left / "tmp").mkdir(parents=True)
    (left / scratch.OWNER_FILE).write_text(dead_owner())
    other = tmp_path / "textclf-model-abc"  # a downloaded copy of a model (no owner file): not ours to judge
    other.mkdir()
    unrelated = tmp_path / "other-program"
    unrelated.mkdir()
    (unrelated / scratch.OWNER_FILE).write_text(dead_owner())

    assert scratch.remove_abandoned() == [left]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([ours.name, other.name, unrelated.name])
    assert (ours / "model.pkl").exists()
