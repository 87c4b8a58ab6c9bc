"""The one exception root of cdpcli, and the exit code each class stands for.

Bad *data* (an invalid event, a rejected record) is never an exception: it is a reported value.
Exceptions are for conditions that stop a command: bad usage, a bad config, unreadable input,
missing or refused credentials, delivery that failed after retries, an interruption.
The CLI translates them into a message and an exit code in one place (`cdpcli.cli.common`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of PRODUCT.md §4 and §6."""

    OK = 0
    FAILED = 1  # some events invalid or rejected
    USAGE = 2
    CONFIG = 3
    INPUT = 4
    CREDENTIALS = 5
    DELIVERY = 6
    INTERRUPTED = 130


class CdpError(Exception):
    """Root of every error cdpcli raises on purpose.

    `message` says what went wrong and where; `hint` says what to do about it.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(CdpError):
    """The command line is wrong (a bad option value, conflicting flags)."""

    exit_code = ExitCode.USAGE


class NoInputError(UsageError):
    """No PATH was given and stdin is a terminal: there is nothing to read.

    The library cannot know how it was called; a command replaces `hint` with an example of its
    own invocation (`cdpcli.cli.common.handle_errors(no_input=...)`).
    """


class ConfigError(CdpError):
    """The YAML config is unreadable or invalid; the message names file, line and key."""

    exit_code = ExitCode.CONFIG


class InputError(CdpError):
    """An input path cannot be read at all (missing, a permission problem, not a file)."""

    exit_code = ExitCode.INPUT


class CredentialsError(CdpError):
    """A secret is missing, the keyring is unusable, or a destination refused the credentials."""

    exit_code = ExitCode.CREDENTIALS


class DeliveryError(CdpError):
    """A destination kept failing after every retry."""

    exit_code = ExitCode.DELIVERY


class WorkerError(CdpError):
    """A worker process of `--jobs` could not start, or died (killed by the system, out of
    memory)."""

    exit_code = ExitCode.FAILED


class Interrupted(CdpError):
    """The run was interrupted (SIGINT/SIGTERM); the checkpoint was flushed first."""

    exit_code = ExitCode.INTERRUPTED
