"""The cdpcli command line with retry backoff of milliseconds, for tests that run it in a
subprocess: `python -m tests.fast_cli send ...` (from the repository), or `use_fast_retries()`
before `cdpcli.cli.app.main()`. In-process tests use the `fast_retries` fixture."""

from __future__ import annotations

import sys

from cdpcli.retry import RetryPolicy

FAST_BASE_SECONDS = 0.001
"""The first wait's ceiling; the waits double up to 30 times that."""


def fast_policy(max_retries: int) -> RetryPolicy:
    """`--max-retries N` with the waits shrunk: at most 1 ms, doubling to 30 ms."""
    return RetryPolicy(max_attempts=max_retries, base=FAST_BASE_SECONDS, cap=FAST_BASE_SECONDS * 30)


def use_fast_retries() -> None:
    """Make `cdpcli send` in this process retry after milliseconds, not seconds."""
    from cdpcli.cli import send_cmd

    send_cmd.retry_policy = fast_policy


def main() -> None:
    use_fast_retries()
    from cdpcli.cli.app import main as cli_main

    sys.argv[0] = "cdpcli"
    cli_main()


if __name__ == "__main__":
    main()
