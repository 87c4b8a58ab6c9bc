"""The one exception root of cdpcli, and the exit code each class stands for.

Bad *data* (an invalid event, a rejected record) is never an exception: it is a reported value.
Exceptions are for conditions that stop a command: bad usage, a bad config, unreadable input,
missing or refused credentials, delivery that failed after retries, an interruption.
The CLI translates them into a message and an exit code in one place (`cdpcli.cli.common`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    """The YAML config is unreadable or invalid; the message names file, line and key.

    One load reports every error it finds (`ConfigErrors`): `errors` holds each of them, or just
    this one when it stands alone; the message of an error holding several lists them all.
    """

    exit_code = ExitCode.CONFIG

    def __init__(
        self, message: str, *, hint: str | None = None, errors: Sequence[ConfigError] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.errors: tuple[ConfigError, ...] = tuple(errors) or (self,)


MAX_LISTED_CONFIG_ERRORS = 50
"""Errors one `ConfigError` message lists (a config is at most 1 MiB: it could hold thousands)."""


class ConfigErrors:
    """Every error of one config, collected so that one run reports them all.

    Each validator reports what it finds (`add`) and goes on where it can; a helper that cannot
    go on raises a `ConfigError`, which `collect()` records (with every error it holds) so the
    caller goes on with the next part. `check()` raises one `ConfigError` holding them all.
    """

    def __init__(self, source: str | None = None) -> None:
        self.source = source  # the file, named in the first line of a message listing several
        self._errors: list[ConfigError] = []

    def add(self, where: str, message: str, hint: str | None = None) -> None:
        """Record `WHERE: MESSAGE` (`where` is "FILE:LINE: key `a.b`")."""
        self._errors.append(ConfigError(f"{where}: {message}", hint=hint))

    def add_error(self, error: ConfigError) -> None:
        self._errors.extend(error.errors)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a block; a `ConfigError` it raises is recorded and the code after it goes on."""
        try:
            yield
        except ConfigError as error:
            self.add_error(error)

    def __len__(self) -> int:
        return len(self._errors)

    def check(self) -> None:
        """Raise what was found: the error itself when there is one, else one listing all (in
        the order of their lines in `source`, when it is given)."""
        if not self._errors:
            return
        if len(self._errors) == 1:
            raise self._errors[0]
        found = self._errors
        if self.source is not None:
            found = sorted(found, key=self._line)
        raise ConfigError(_listing(self.source, found), errors=found)

    def _line(self, error: ConfigError) -> int:
        """The line an error names (`SOURCE:LINE: ...`), 0 when it names none."""
        prefix = f"{self.source}:"
        if not error.message.startswith(prefix):
            return 0
        digits = error.message[len(prefix) :].split(":", 1)[0]
        return int(digits) if digits.isdigit() else 0


def _listing(source: str | None, errors: Sequence[ConfigError]) -> str:
    lines = [f"{source + ': ' if source else ''}{len(errors)} errors in the config:"]
    for error in errors[:MAX_LISTED_CONFIG_ERRORS]:
        lines.append(f"  {error.message}")
        if error.hint:
            lines.append(f"    hint: {error.hint}")
    if len(errors) > MAX_LISTED_CONFIG_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_LISTED_CONFIG_ERRORS} more")
    return "\n".join(lines)


def closest(word: object, choices: Iterable[str]) -> str | None:
    """The one of `choices` that `word` is a near miss of (a typo, another case), if any."""
    if not isinstance(word, str) or not word:
        return None
    options = [choice for choice in choices if choice != word]
    folded = [choice for choice in options if choice.casefold() == word.casefold()]
    close = folded or difflib.get_close_matches(word, options, n=1, cutoff=0.7)
    return close[0] if close else None


def did_you_mean(word: object, choices: Iterable[str], quote: str = "`") -> str:
    """`did you mean `region`?` when `word` is a near miss of one of `choices`, else ""."""
    close = closest(word, choices)
    return f"did you mean {quote}{close}{quote}?" if close else ""


def unknown(
    text: str,
    word: object,
    allowed: Sequence[str],
    *,
    quote: str = "`",
    listed: str | None = None,
) -> str:
    """`TEXT; did you mean `x`? allowed: a, b` (the question only for a near miss; `listed`
    replaces the list of `allowed`)."""
    suggestion = did_you_mean(word, allowed, quote)
    suggested = f"{suggestion} " if suggestion else ""
    return f"{text}; {suggested}allowed: {listed or ', '.join(allowed)}"


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
