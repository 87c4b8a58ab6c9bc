"""The cdpcli command line with retry backoff of milliseconds, for tests that run it in a
subprocess: `python -m tests.fast_cli send ...` (from the repository), or `use_fast_retries()`
before `cdpcli.cli.app.main()`. In-process tests use the `fast_retries` fixture.

`python -m tests.fast_cli --attempt-deadline SECONDS send ...` also shortens the total deadline
of each HTTP attempt (default 120 s, PRODUCT.md §6.1 "Deadlines"), for tests against servers
that trickle or never answer."""

from __future__ import annotations

import functools
import sys

from cdpcli.retry import ATTEMPT_DEADLINE_SECONDS, RetryPolicy

FAST_BASE_SECONDS = 0.001
"""The first wait's ceiling; the waits double up to 30 times that."""


def fast_policy(
    max_retries: int, *, attempt_deadline: float = ATTEMPT_DEADLINE_SECONDS
) -> RetryPolicy:
    """`--max-retries N` with the waits shrunk: at most 1 ms, doubling to 30 ms."""
    return RetryPolicy(
        max_attempts=max_retries,
        base=FAST_BASE_SECONDS,
        cap=FAST_BASE_SECONDS * 30,
        attempt_deadline=attempt_deadline,
    )


def use_fast_retries(attempt_deadline: float = ATTEMPT_DEADLINE_SECONDS) -> None:
    """Make `cdpcli send` in this process retry after milliseconds, not seconds (and give up an
    attempt after `attempt_deadline` seconds)."""
    from cdpcli.cli import send_cmd

    send_cmd.retry_policy = functools.partial(fast_policy, attempt_deadline=attempt_deadline)


def main() -> None:
    deadline = ATTEMPT_DEADLINE_SECONDS
    if sys.argv[1:2] == ["--attempt-deadline"]:
        deadline = float(sys.argv[2])
        del sys.argv[1:3]
    use_fast_retries(deadline)
    from cdpcli.cli.app import main as cli_main

    sys.argv[0] = "cdpcli"
    cli_main()


if __name__ == "__main__":
    main()
