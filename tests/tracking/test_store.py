"""What textclf knows of a store without MLflow: how an error line shows its URI, and which
database URIs are probed on a TCP port before MLflow is let at them."""

import pytest

from textclf.tracking.reachability import checked_database_url
from textclf.tracking.store import shown


@pytest.mark.parametrize(("uri", "expected"), [
    ("postgresql://analyst:s3cret@db.example:5432/runs", "postgresql://analyst:***@db.example:5432/runs"),
    ("postgresql://:s3cret@db.example/runs", "postgresql://:***@db.example/runs"),
    ("http://analyst:s3cret@127.0.0.1:5000", "http://analyst:***@127.0.0.1:5000"),
    ("postgresql://analyst:p@ss@db.example/runs", "postgresql://analyst:***@db.example/runs"),
    ("postgresql://db.example/runs?user=analyst&password=s3cret", "postgresql://db.example/runs?user=analyst&password=***"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("sqlite:////home/analyst/mlflow.db", "sqlite:////home/analyst/mlflow.db"),
    ("http://analyst:s3cret@[::1:5000", "http://analyst:***@[::1:5000"),  # no URL (unclosed bracket): was a traceback
])
def test_an_error_line_never_shows_a_password(uri, expected):
    assert shown(uri) == expected


@pytest.mark.parametrize(("uri", "probed"), [
    ("postgresql://analyst@127.0.0.1:9/runs", True),
    ("postgresql://analyst@localhost/runs?host=/var/run/postgresql", False),  # a local socket
    ("postgresql:///runs", False),
])
def test_only_a_database_reached_over_tcp_is_probed(uri, probed):
    from textclf.errors import UserError
    from textclf.tracking.reachability import check_database_reachable

    url = checked_database_url(uri)
    if probed:
        with pytest.raises(UserError, match="unreachable"):
            check_database_reachable(url, timeout=3)
    else:
        check_database_reachable(url, timeout=3)  # nothing listens on 127.0.0.1:5432 here either


@pytest.mark.parametrize("uri", ["http://[::1", "http://analyst:s3cret@[::1", "http://exa mple.com"])
def test_a_server_uri_that_is_no_url_is_one_user_error(uri):
    from textclf.errors import UserError
    from textclf.tracking.reachability import check_reachable

    with pytest.raises(UserError, match="is not a valid URL .* Fix: use sqlite:///") as refused:
        check_reachable(uri, timeout=3)
    assert "s3cret" not in str(refused.value)


def test_the_champion_line_says_which_score_kept_it():
    from textclf.tracking.store import Registration

    def kept(score, champion_score):
        return Registration("models:/m/2", "2", False, "1", "validation/macro_f1", score, champion_score).outcome()

    assert kept(0.8, 0.9) == "champion stays v1: its validation/macro_f1 0.900 against 0.800"
    assert kept(0.9, 0.9) == "champion stays v1: the same validation/macro_f1, 0.900; a tie keeps it"
    # apart only in later digits: shown in full, not as "0.900 against 0.900"
    assert kept(0.9000001, 0.9000002) == "champion stays v1: its validation/macro_f1 0.9000002 against 0.9000001"
    assert Registration("models:/m/2", "2", True, "2", "validation/macro_f1", 0.9, None).outcome() == "now champion"
