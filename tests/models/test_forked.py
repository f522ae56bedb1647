"""ChildResult: a function's value or exception comes back from a forked child, and a child that
dies is reported, not waited for."""

import os
import signal

import numpy as np
import pytest

from textclf.models.forked import ChildResult


def scaled_sum(matrix, factor):
    return (matrix * factor).sum(axis=0), os.getpid()


def test_the_value_comes_back_from_another_process():
    matrix = np.arange(12.0).reshape(4, 3)
    value, pid = ChildResult(scaled_sum, (matrix, 2.0)).result()
    np.testing.assert_array_equal(value, [36.0, 44.0, 52.0])
    assert pid != os.getpid()


def refuse(reason):
    raise ValueError(reason)


def test_the_exception_comes_back():
    with pytest.raises(ValueError, match="not enough rows"):
        ChildResult(refuse, ("not enough rows",)).result()


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_child_is_reported():
    with pytest.raises(RuntimeError, match="ended without a result"):
        ChildResult(die, ()).result()
