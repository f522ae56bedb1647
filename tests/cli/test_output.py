"""Where the commands write (``textclf.cli.output``): a destination that cannot be written is
refused before any model loads; a file appears whole under its name (a new one with the
permissions the umask gives, a replaced one with its own; through a link, its target), even when
two commands write it at once; standard output, a device or a named pipe is written to as it is,
never replaced."""

import datetime
import decimal
import io
import json
import os
import stat
import threading

import pandas as pd
import pytest

from textclf.cli.output import check_output, opened_output, write_predictions
from textclf.errors import UserError


def test_dev_stdout_is_standard_output_and_stays_a_device(capsys):
    check_output("/dev/stdout")
    with opened_output("/dev/stdout") as handle:
        handle.write("id,label\n")
    with opened_output("/dev/stderr") as handle:
        handle.write("said\n")
    assert capsys.readouterr() == ("id,label\n", "said\n")
    assert os.path.islink("/dev/stdout")  # was replaced by a regular file (as root)
    assert not any(name.startswith(".stdout") for name in os.listdir("/dev"))


def test_a_named_pipe_is_written_to_not_replaced(tmp_path):
    pipe = tmp_path / "tags.csv"
    os.mkfifo(pipe)
    read = []
    reader = threading.Thread(target=lambda: read.append(pipe.read_text()))
    reader.start()
    check_output(str(pipe))
    with opened_output(str(pipe)) as handle:
        handle.write("id,label\n1,visit\n")
    reader.join(timeout=10)
    assert read == ["id,label\n1,visit\n"]
    assert stat.S_ISFIFO(pipe.stat().st_mode) and os.listdir(tmp_path) == ["tags.csv"]


def test_a_file_under_dev_is_a_file_and_a_link_is_written_through(tmp_path):
    """/dev/shm holds files (a path under /dev/ was taken for a device and refused); a link's
    target gets the text, and the link stays."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        shared = f"/dev/shm/textclf-test-{os.getpid()}.csv"
        try:
            check_output(shared)
            with opened_output(shared) as handle:
                handle.write("id,label\n")
            assert open(shared).read() == "id,label\n"
        finally:
            os.unlink(shared)
    (tmp_path / "target.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "target.csv")
    with opened_output(str(tmp_path / "link.csv")) as handle:
        handle.write("new\n")
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "target.csv").read_text() == "new\n"


def test_two_commands_writing_one_file_leave_one_of_them_whole(tmp_path):
    destination = str(tmp_path / "tags.csv")
    with opened_output(destination) as first:
        first.write("first\n")
        with opened_output(destination) as second:
            second.write("second\n")
        assert (tmp_path / "tags.csv").read_text() == "second\n"
        first.write("first again\n")
    assert (tmp_path / "tags.csv").read_text() == "first\nfirst again\n"
    assert os.listdir(tmp_path) == ["tags.csv"]  # no hidden file left behind


def test_a_new_file_gets_the_umasks_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    umask = os.umask(0o027)
    try:
        with opened_output(str(tmp_path / "new.csv")) as handle:
            handle.write("x\n")
        assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
        (tmp_path / "kept.csv").write_text("old\n")
        os.chmod(tmp_path / "kept.csv", 0o604)
        with opened_output(str(tmp_path / "kept.csv")) as handle:
            handle.write("new\n")
        assert stat.S_IMODE((tmp_path / "kept.csv").stat().st_mode) == 0o604
    finally:
        os.umask(umask)


@pytest.mark.parametrize("destination, message", [
    ("{tmp}", "is a folder. Fix: pass a file name"),
    ("{tmp}/missing/tags.csv", "folder {tmp}/missing does not exist. Fix: create it"),
    ("/proc/tags.csv", "cannot write in folder /proc"),  # was a traceback once every text was tagged
])
def test_a_destination_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, destination, message):
    with pytest.raises(UserError, match=message.format(tmp=tmp_path)):
        check_output(destination.format(tmp=tmp_path))
    assert sorted(os.listdir(tmp_path)) == []


def test_ids_json_has_no_type_for_are_written_as_their_text():
    # what pyarrow gives for a Parquet input's date, timestamp and decimal id columns
    frame = pd.DataFrame({"id": [datetime.date(2024, 1, 2), decimal.Decimal("7.50")], "label": ["a", "b"]})
    jsonl, csv = io.StringIO(), io.StringIO()
    write_predictions(frame, jsonl, "jsonl", header=True)
    write_predictions(frame, csv, "csv", header=True)
    assert [json.loads(line)["id"] for line in jsonl.getvalue().splitlines()] == ["2024-01-02", "7.50"]
    assert csv.getvalue().splitlines() == ["id,label", "2024-01-02,a", "7.50,b"]
