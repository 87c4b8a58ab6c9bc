"""The files a send writes (PRODUCT.md §3.2): `--checkpoint`, `--rejected` and `--output`, checked
and claimed before anything is read or sent.

- `--checkpoint` and `--rejected` must be regular files or absent. A symbolic link, FIFO, device,
  directory or socket at either path is refused (`UsageError`, exit 2): nothing is written through
  a link planted at the path, and nothing blocks opening a FIFO. The files are opened without
  following a link (`O_NOFOLLOW`) and without blocking (`O_NONBLOCK`), then checked again by
  `fstat`, so a link planted after the check is refused too (where the OS has no `O_NOFOLLOW`,
  Windows, the `lstat` check stands alone).
- One run at a time per checkpoint and per rejected file: each is claimed with an OS-level lock
  (`flock` on POSIX, `msvcrt.locking` on Windows), which the OS releases when the process dies,
  SIGKILL included. A second run naming either exits 2 at once, naming the file and the pid that
  holds it. The lock is on a sidecar `FILE.lock`, not on FILE: the checkpoint is replaced by
  `os.replace` on every save (a lock on the file would stay on the old inode, and a second run
  would lock the new one), and the rejected file is only created at its first record. The lock file
  holds the pid of its holder; it is removed when the run ends (a killed run leaves it, harmless:
  the next run takes it over). Acquiring checks that the locked file is still the one at the path,
  so removing it cannot let two runs in.
- Both are checked writable before the first request: creating the lock file proves that the
  directory exists and takes new files (the checkpoint is written as a new file renamed over the
  old), and an existing rejected file is opened for writing. A path that cannot be written (no such
  directory, a path under a regular file, a read-only file system, permissions) is `InputError`,
  exit 4, as README's exit codes say for an output file that cannot be written.
- A dry run reads the checkpoint and never writes it: it takes no lock on it (a dry run never
  blocks a real run, and reads a file that is only ever replaced whole) and does not need its
  directory writable. It does write `--rejected` and `--output`: the rejected file is locked as in
  a real run.
- `--output` may be anything writable (a FIFO, `/dev/null`), but not an input, the checkpoint or
  the rejected file: it is truncated when opened, after every other check.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cdpcli.errors import InputError, UsageError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
LOCK_SUFFIX = ".lock"
_WINDOWS_LOCK_OFFSET = 1 << 30  # msvcrt locks bytes: one far past the pid, which stays readable
_LOCK_ATTEMPTS = 5  # a lock file removed between our open and our lock: open it again

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


class NotRegularFile(UsageError):
    """A path cdpcli writes (or a checkpoint it reads) is a link, FIFO, device or directory."""

    def __init__(self, path: Path | str, mode: int, *, option: str | None = None) -> None:
        self.kind = kind = kind_of(mode)
        where = f"{option} {path}" if option else str(path)
        if stat.S_ISLNK(mode):
            hint = "cdpcli never writes through a symbolic link: pass the path of a regular "
            hint += "file, or of one to create"
        else:
            hint = "pass the path of a regular file, or of one to create"
        super().__init__(f"{where} is {kind}, not a regular file", hint=hint)


def open_regular(path: Path, flags: int, mode: int = 0o600, *, option: str | None = None) -> int:
    """`os.open` that refuses what is not a regular file: a symbolic link as the last component
    (not followed, `ELOOP`), a FIFO (opened without blocking, then refused), a device."""
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | BINARY, mode)
    except OSError as error:
        if _is_link(path):  # ELOOP on Linux, EMLINK on FreeBSD
            raise NotRegularFile(path, stat.S_IFLNK, option=option) from error
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, info.st_mode, option=option)
        if not NOFOLLOW and _is_link(path):  # no O_NOFOLLOW (Windows): the lstat stands alone
            raise NotRegularFile(path, stat.S_IFLNK, option=option)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def refuse_unless_regular(option: str, path: Path) -> bool:
    """Raise `NotRegularFile` unless `path` is a regular file or absent; True when it exists."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False  # absent (or under a file): whether it can be created is checked next
    except OSError as error:
        raise InputError(
            f"{option} {path}: cannot check the file: {error.strerror or error}"
        ) from error
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(path, info.st_mode, option=option)
    return True


class FileLock:
    """An exclusive OS-level lock, for one run, on the sidecar `FILE.lock` of `target`.

    Non-blocking: a lock another process holds is `UsageError` at once. Released by `release()`,
    or by the OS when the process ends however it ends. A forked worker (`--jobs`) does not keep
    it: the child closes its copy at fork, so a killed parent frees the file at once.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self._owner = os.getpid()
        _HELD.add(fd)

    @classmethod
    def acquire(cls, target: Path, *, option: str) -> FileLock:
        path = target.with_name(target.name + LOCK_SUFFIX)
        for _attempt in range(_LOCK_ATTEMPTS):
            try:
                fd = open_regular(path, os.O_RDWR | os.O_CREAT, 0o600, option=None)
            except NotRegularFile as error:
                raise UsageError(
                    f"{option} {target}: its lock file {path} is {error.kind}, not a regular file",
                    hint=f"remove {path} (cdpcli creates it as a regular file), or pass another "
                    f"{option} path",
                ) from error
            except OSError as error:
                raise InputError(
                    f"{option} {target}: cannot create a file in "
                    f"{_directory(target)}: {error.strerror or error}",
                    hint=f"create the directory or make it writable, or pass another {option} "
                    "path (nothing was read or sent)",
                ) from error
            try:
                locked = _try_lock(fd)
            except OSError as error:
                os.close(fd)
                raise InputError(
                    f"{option} {target}: cannot lock {path}: {error.strerror or error}",
                    hint=f"the file system may not support locks: pass another {option} path",
                ) from error
            if not locked:
                pid = _read_pid(fd)
                os.close(fd)
                holder = f" (pid {pid})" if pid else ""
                raise UsageError(
                    f"{option} {target} is in use by another cdpcli run{holder}",
                    hint=f"wait for that run to end, or give this run another {option} path "
                    "(two runs writing one file would corrupt it)",
                )
            if _same_file(fd, path):
                _write_pid(fd)
                return cls(path, fd)
            os.close(fd)  # the holder removed it as we opened it: take the new one
        raise UsageError(
            f"{option} {target} is in use by another cdpcli run",
            hint=f"wait for that run to end, or give this run another {option} path",
        )

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None or os.getpid() != self._owner:  # a forked child never removes it
            return
        _HELD.discard(fd)
        if sys.platform == "win32":
            with contextlib.suppress(OSError):
                _unlock_windows(fd)
            os.close(fd)
            with contextlib.suppress(OSError):  # in use by a process that opened it: it stays
                os.unlink(self.path)
            return
        # Removed while still locked: a run that opened it meanwhile finds, once it has the
        # lock, that the path names another file (or none), and opens the path again.
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                os.unlink(self.path)
        os.close(fd)


_HELD: set[int] = set()


def _close_in_child() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def _lock_module() -> Any:
    """The platform's lock primitive: `fcntl` on POSIX, `msvcrt` on Windows, imported here so
    that `import cdpcli` works on either; None where neither exists (nothing to lock with)."""
    for name in ("fcntl", "msvcrt"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    module = _lock_module()
    if module is None:
        return True
    if module.__name__ == "msvcrt":
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            module.locking(fd, module.LK_NBLCK, 1)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True
    try:
        module.flock(fd, module.LOCK_EX | module.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _unlock_windows(fd: int) -> None:
    module = _lock_module()
    if module is not None and module.__name__ == "msvcrt":
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        module.locking(fd, module.LK_UNLCK, 1)


def _same_file(fd: int, path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (info.st_dev, info.st_ino) == (held.st_dev, held.st_ino)


def _write_pid(fd: int) -> None:
    with contextlib.suppress(OSError):  # the pid is for the message of a second run only
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _directory(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _same_path(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class OutputFiles:
    """What one send claims: the locks on its checkpoint and rejected file, and `--output`.
    A context manager: leaving it releases the locks and closes the output."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> OutputFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def claim(
        self,
        inputs: Sequence[Path | None],
        *,
        checkpoint: Path | None,
        rejected: Path | None,
        output: Path | None,
        dry_run: bool,
        write_request: Callable[[bytes], None] | None = None,
    ) -> Callable[[bytes], None] | None:
        """Check and claim the run's files before anything is read or sent (see the module's
        docstring); returns where the dry-run request lines go (`--output`, else
        `write_request`)."""
        if output is not None and not dry_run:
            raise UsageError("--output needs --dry-run")
        if output is not None and write_request is not None:
            raise UsageError("request lines go to --output or to a callback, not both")
        rejected_exists = rejected is not None and refuse_unless_regular("--rejected", rejected)
        if checkpoint is not None:
            refuse_unless_regular("--checkpoint", checkpoint)
        _refuse_overlaps(inputs, checkpoint=checkpoint, rejected=rejected, output=output)
        if rejected is not None:
            self._stack.callback(FileLock.acquire(rejected, option="--rejected").release)
            if rejected_exists:
                _probe_writable(rejected)
        if checkpoint is not None and not dry_run:
            self._stack.callback(FileLock.acquire(checkpoint, option="--checkpoint").release)
        if output is None:
            return write_request
        try:
            handle: IO[bytes] = open(output, "wb")  # noqa: SIM115 - closed by the stack
        except OSError as error:
            raise InputError(
                f"--output {output}: cannot open: {error.strerror or error}",
                hint="create the directory or make it writable, or pass another --output path",
            ) from error
        self._stack.callback(handle.close)

        def write_file(line: bytes) -> None:
            handle.write(line + b"\n")

        return write_file


def _refuse_overlaps(
    inputs: Sequence[Path | None],
    *,
    checkpoint: Path | None,
    rejected: Path | None,
    output: Path | None,
) -> None:
    """No file is written by two of the options, or read as an input while written (a replay
    would read what it writes; `--output` would truncate an input before it is read)."""
    options = (("--rejected", rejected), ("--checkpoint", checkpoint), ("--output", output))
    named = [(option, path) for option, path in options if path is not None]
    for option, path in named:
        for input_path in inputs:
            if input_path is not None and _same_path(input_path, path):
                raise UsageError(
                    f"{option} {path} is also an input",
                    hint=f"write the {option.lstrip('-')} file of a run to another path",
                )
    for index, (option, path) in enumerate(named):
        for other_option, other in named[index + 1 :]:
            if _same_path(path, other):
                raise UsageError(
                    f"{option} and {other_option} name the same file ({path})",
                    hint="give each its own path",
                )


def _probe_writable(path: Path) -> None:
    """An existing rejected file can be opened for writing (nothing is written or truncated)."""
    try:
        os.close(open_regular(path, os.O_WRONLY, option="--rejected"))
    except OSError as error:
        raise InputError(
            f"--rejected {path}: cannot write the rejected file: {error.strerror or error}",
            hint="make it writable, or pass another --rejected path (nothing was read or sent)",
        ) from error
