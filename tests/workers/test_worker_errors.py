"""A worker process that dies is reported as a `WorkerError` (exit 1, with what to do), never as
a traceback or a hang."""

from __future__ import annotations

import os
import signal

import pytest

from cdpcli.errors import ExitCode, WorkerError
from cdpcli.workers.pool import ordered_map


def _dies_on_three(n: int) -> int:
    if n == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return n


def test_a_dead_worker_is_a_worker_error() -> None:
    results = ordered_map(_dies_on_three, range(8), jobs=2, window=2)
    got: list[int] = []
    with pytest.raises(WorkerError) as caught:
        got.extend(results)
    # What was handed out came in order and stops before the dead task (a task running beside
    # it when it died may be lost with it: the pool is broken as a whole).
    assert got == list(range(len(got))) and len(got) <= 3
    assert caught.value.exit_code == ExitCode.FAILED
    assert "worker process died" in caught.value.message
    assert caught.value.hint is not None and "--jobs" in caught.value.hint


def _signals_itself(n: int) -> int:
    os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group
    os.kill(os.getpid(), signal.SIGTERM)  # as `kill -TERM -PGID` does
    return n


def test_workers_leave_interrupts_to_the_parent() -> None:
    """The parent stops the run between two events; a worker that died of the same signal
    would break the pool first (and the run would end in a WorkerError, not exit 130)."""
    try:
        results = list(ordered_map(_signals_itself, range(4), jobs=2, window=2))
    except KeyboardInterrupt:  # a worker's own interrupt, handed back: it must not reach here
        pytest.fail("a worker acted on SIGINT instead of leaving it to the parent")
    assert results == [0, 1, 2, 3]
