"""The files a send writes (PRODUCT.md §3.2, issue 16 cases 6 and 7): `--rejected` and
`--checkpoint` are regular files or absent, never followed through a link, locked for one run,
and checked writable (with `--output`) before the first request.

Runs that could block (a FIFO) or that must run beside another are subprocesses with a timeout;
the fakes of tests/fakes count the requests each run made.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdpcli import jsonio
from cdpcli.errors import UsageError
from cdpcli.events.model import Origin
from cdpcli.send import rejected as rejected_module
from cdpcli.send.checkpoint import Checkpoint
from cdpcli.send.outputs import FileLock, NotRegularFile
from cdpcli.send.rejected import RejectedFile
from tests.fakes import LAGO_BATCH, MIXPANEL_IMPORT, FakeLago, FakeMixpanel, Fault
from tests.fakes.sends import SECRETS, check_accounting, write_config
from tests.paths import REPO

TIMEOUT = 60  # a run that blocks (on a FIFO, on a lock) fails the test instead of hanging it
COUNT = 120
INVALID_LINES = 3  # lines 1-3 are not events: the rejected file has records from the start
POISONED = (10, 50)  # events Mixpanel refuses: records written after its answer


def write_input(directory: Path) -> tuple[Path, list[str]]:
    """Three lines that are not events, then COUNT track events; their message ids."""
    path = directory / "events.jsonl"
    ids = [f"msg-{index:06d}" for index in range(COUNT)]
    start = datetime(2024, 5, 1, tzinfo=UTC)
    lines = [f'{{"type": "nothing", "n": {n}}}' for n in range(INVALID_LINES)]
    lines += [
        jsonio.dumps(
            {
                "type": "track",
                "event": "API Call",
                "userId": f"user-{index % 7}",
                "messageId": ids[index],
                "timestamp": (start + timedelta(seconds=index)).isoformat().replace("+00:00", "Z"),
            }
        )
        for index in range(COUNT)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ids


def start(*args: str) -> subprocess.Popen[bytes]:
    """`cdpcli send ARGS --format json --quiet` in a subprocess, tiny backoff (`tests.fast_cli`),
    secrets in its environment."""
    env = {**os.environ, **SECRETS}
    argv = [sys.executable, "-m", "tests.fast_cli", "send", *args, "--format", "json", "--quiet"]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> tuple[int, dict[str, Any], str]:
    """Wait for the run (at most TIMEOUT): exit code, JSON summary ({} when none), stderr."""
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the run did not end within {TIMEOUT} s (blocked)")
    lines = out.splitlines()
    summary = jsonio.loads(lines[-1]) if lines else {}
    return process.returncode, summary, " ".join(err.decode().split())


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    return finish(start(*args))


@pytest.fixture
def setup(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> tuple[FakeMixpanel, FakeLago, list[str], list[str]]:
    """The fakes (Mixpanel refuses the POISONED events), the arguments of a send of the input,
    and the message ids."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path)
    mixpanel.poison.update(ids[i] for i in POISONED)
    return mixpanel, lago, [str(events), "-c", str(config)], ids


def request_count(mixpanel: FakeMixpanel, lago: FakeLago) -> int:
    return len(mixpanel.requests) + len(lago.requests)


def start_held(
    mixpanel: FakeMixpanel, lago: FakeLago, gate: threading.Event, *args: str
) -> subprocess.Popen[bytes]:
    """A run with one batch in flight whose first request waits for `gate`: it holds its files
    (claimed before its first request) and sends nothing more until the gate opens."""
    mixpanel.fail(MIXPANEL_IMPORT, Fault.held(gate))
    lago.fail(LAGO_BATCH, Fault.held(gate))
    process = start(*args, "--concurrency", "1")
    deadline = time.monotonic() + TIMEOUT
    while request_count(mixpanel, lago) == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first run sent nothing"
        time.sleep(0.005)
    return process


# --- one run at a time per rejected file and per checkpoint -----------------------------------


def test_a_second_run_on_the_same_rejected_file_exits_2_at_once_and_the_first_file_stays_whole(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, ids = setup
    rejected = tmp_path / "rejected.jsonl"
    gate = threading.Event()
    first = start_held(mixpanel, lago, gate, *args, "--rejected", str(rejected))
    try:
        before = request_count(mixpanel, lago)

        code, summary, stderr = run(*args, "--rejected", str(rejected))

        assert code == 2
        assert f"--rejected {rejected} is in use by another cdpcli run (pid {first.pid})" in stderr
        assert summary == {}
        assert request_count(mixpanel, lago) == before  # the second run sent nothing
    finally:
        gate.set()
    code, summary, stderr = finish(first)

    assert code == 1, stderr
    check_accounting(summary)
    assert summary["invalid"] == INVALID_LINES and summary["rejected"] == len(POISONED)
    # The first run's file is whole: every line a record, each rejection once, replayable.
    records = [jsonio.loads(line) for line in rejected.read_bytes().splitlines()]
    assert len(records) == INVALID_LINES + len(POISONED)
    assert all(r["kind"] == "rejected" for r in records)
    refused = [r["event"]["messageId"] for r in records if r["destination"] == "mixpanel"]
    assert refused == [ids[i] for i in POISONED]
    assert not (tmp_path / "rejected.jsonl.lock").exists()  # removed when the run ended
    mixpanel.poison.clear()

    code, replay, stderr = run(str(rejected), *args[1:])

    assert code == 1, stderr  # the lines that were not events are still not events
    assert replay["events_read"] == len(records)
    assert replay["invalid"] == INVALID_LINES and replay["delivered"] == len(POISONED)


def test_a_second_run_on_the_same_checkpoint_exits_2_and_a_dry_run_is_not_blocked(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    checkpoint = tmp_path / "run.checkpoint"
    gate = threading.Event()
    first = start_held(mixpanel, lago, gate, *args, "--checkpoint", str(checkpoint))
    try:
        before = request_count(mixpanel, lago)

        code, _, stderr = run(*args, "--checkpoint", str(checkpoint))

        assert code == 2
        in_use = f"--checkpoint {checkpoint} is in use by another cdpcli run (pid {first.pid})"
        assert in_use in stderr
        assert request_count(mixpanel, lago) == before
        # A dry run only reads the checkpoint: it takes no lock, so it runs beside the real one.
        code, dry, stderr = run(*args, "--checkpoint", str(checkpoint), "--dry-run")
        assert code in (0, 1), stderr  # 1 for the invalid lines, unless a save passed them
        assert dry["events_read"] == INVALID_LINES + COUNT
        assert request_count(mixpanel, lago) == before
    finally:
        gate.set()
    code, summary, stderr = finish(first)

    assert code == 1, stderr
    check_accounting(summary)
    saved = jsonio.loads(checkpoint.read_bytes())  # whole, and the re-run resumes at its end
    assert saved["format"] == "cdpcli-checkpoint"
    assert not (tmp_path / "run.checkpoint.lock").exists()

    code, again, stderr = run(*args, "--checkpoint", str(checkpoint))

    assert code == 0, stderr
    assert again["resumed"] == again["events_read"] == INVALID_LINES + COUNT
    assert again["delivered"] == 0


def test_a_killed_run_releases_its_locks(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    files = ["--checkpoint", str(tmp_path / "run.ckpt"), "--rejected", str(tmp_path / "rej.jsonl")]
    gate = threading.Event()
    first = start_held(mixpanel, lago, gate, *args, *files, "--jobs", "2")
    try:
        code, _, stderr = run(*args, *files)
        assert code == 2 and "is in use by another cdpcli run" in stderr  # held while it runs
        first.kill()
        first.communicate(timeout=TIMEOUT)
        assert first.returncode == -signal.SIGKILL
    finally:
        gate.set()

    code, summary, stderr = run(*args, *files)  # the OS released the locks of the killed run

    assert code == 1, stderr
    check_accounting(summary)
    assert summary["rejected"] == len(POISONED)


def test_a_forked_worker_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = FileLock.acquire(tmp_path / "file", option="--rejected")
    try:
        fd = lock._fd
        assert fd is not None
        child = os.fork()
        if child == 0:  # a `--jobs` worker: its copy of the descriptor is closed at fork
            try:
                os.fstat(fd)
            except OSError as error:
                os._exit(0 if error.errno == errno.EBADF else 1)
            os._exit(1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        lock.release()


def test_a_lock_held_in_this_process_is_refused_with_its_pid(tmp_path: Path) -> None:
    target = tmp_path / "run.ckpt"
    lock = FileLock.acquire(target, option="--checkpoint")
    try:
        with pytest.raises(UsageError) as refused:
            FileLock.acquire(target, option="--checkpoint")
        assert refused.value.message == (
            f"--checkpoint {target} is in use by another cdpcli run (pid {os.getpid()})"
        )
    finally:
        lock.release()
    assert not (tmp_path / "run.ckpt.lock").exists()
    FileLock.acquire(target, option="--checkpoint").release()  # free again


# --- links, FIFOs, devices and directories at the paths -------------------------------------


def test_a_symlink_at_the_rejected_path_is_refused_and_its_target_untouched(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep me\n")
    target.chmod(0o644)
    link = tmp_path / "rejected.jsonl"
    link.symlink_to(target)

    code, summary, stderr = run(*args, "--rejected", str(link))

    assert code == 2
    assert f"--rejected {link} is a symbolic link, not a regular file" in stderr
    assert summary == {} and request_count(mixpanel, lago) == 0
    assert target.read_bytes() == b"keep me\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_dangling_symlink_at_the_rejected_path_creates_no_file_elsewhere(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "rejected.jsonl"
    link.symlink_to(elsewhere / "planted.jsonl")

    code, _, stderr = run(*args, "--rejected", str(link))

    assert code == 2
    assert f"--rejected {link} is a symbolic link, not a regular file" in stderr
    assert list(elsewhere.iterdir()) == [] and request_count(mixpanel, lago) == 0


def test_a_symlink_planted_after_the_checks_is_not_followed(tmp_path: Path) -> None:
    """The rejected file is opened at its first record: a link planted at its path in between
    is refused there too (O_NOFOLLOW), the target untouched."""
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep me\n")
    link = tmp_path / "rejected.jsonl"
    link.symlink_to(target)
    rejected = RejectedFile(link, append=False)
    entry = rejected_module.record(event=b"{}", origin=Origin("in.jsonl", 1), reason="test")

    with pytest.raises(NotRegularFile):
        rejected.write(entry)

    assert target.read_bytes() == b"keep me\n" and rejected.count == 0


@pytest.mark.parametrize("dry_run", [False, True], ids=["send", "dry run"])
def test_a_fifo_as_checkpoint_exits_2_without_blocking(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]], dry_run: bool
) -> None:
    mixpanel, lago, args, _ids = setup
    fifo = tmp_path / "run.ckpt"
    os.mkfifo(fifo)

    code, _, stderr = run(*args, "--checkpoint", str(fifo), *(["--dry-run"] if dry_run else []))

    assert code == 2
    assert f"--checkpoint {fifo} is a FIFO, not a regular file" in stderr
    assert request_count(mixpanel, lago) == 0


def test_loading_a_fifo_checkpoint_does_not_block(tmp_path: Path) -> None:
    """Below the CLI's checks: `Checkpoint.load` opens without blocking and refuses a FIFO."""
    fifo = tmp_path / "run.ckpt"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            Checkpoint(fifo, "fingerprint").load()
            outcome.append(None)
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():  # blocked in open(): give it a writer so that it ends
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("Checkpoint.load blocked on a FIFO")
    assert isinstance(outcome[0], NotRegularFile)
    assert outcome[0].message == f"--checkpoint {fifo} is a FIFO, not a regular file"


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "a-directory"
    path.mkdir()
    return path


REJECTED_NOT_FILES = {  # what was allowed before, /dev/null and /dev/stdout among them, is a device
    "fifo": ("a FIFO", _fifo),
    "directory": ("a directory", _directory),
    "/dev/full": ("a character device", lambda _tmp: Path("/dev/full")),
    "/dev/null": ("a character device", lambda _tmp: Path("/dev/null")),
    "/dev/stdout": ("a symbolic link", lambda _tmp: Path("/dev/stdout")),
}


@pytest.mark.parametrize("case", list(REJECTED_NOT_FILES))
def test_a_rejected_path_that_is_not_a_regular_file_exits_2_before_sending(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]], case: str
) -> None:
    mixpanel, lago, args, _ids = setup
    kind, make = REJECTED_NOT_FILES[case]
    path = make(tmp_path)

    code, _, stderr = run(*args, "--rejected", str(path))

    assert code == 2
    assert f"--rejected {path} is {kind}, not a regular file" in stderr
    assert request_count(mixpanel, lago) == 0


# --- output paths checked writable before the first request ----------------------------------


def _missing_directory(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "missing" / "file", "No such file or directory"


def _under_a_file(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "regular").write_bytes(b"")
    return tmp_path / "regular" / "file", "Not a directory"


UNWRITABLE = {
    "missing directory": _missing_directory,
    "under a regular file": _under_a_file,
    "under /dev/full": lambda _tmp: (Path("/dev/full/file"), "Not a directory"),
    "in /proc": lambda _tmp: (Path("/proc/cdpcli-test-file"), ""),
}


@pytest.mark.parametrize("option", ["--checkpoint", "--rejected"])
@pytest.mark.parametrize("where", list(UNWRITABLE))
def test_an_unwritable_output_path_exits_4_before_the_first_request(
    tmp_path: Path,
    setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]],
    option: str,
    where: str,
) -> None:
    mixpanel, lago, args, _ids = setup
    path, reason = UNWRITABLE[where](tmp_path)

    code, summary, stderr = run(*args, option, str(path))

    assert code == 4
    assert f"{option} {path}: cannot create a file in {path.parent}: {reason}" in stderr
    assert summary == {} and request_count(mixpanel, lago) == 0  # noticed before sending


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_directory_exits_4_before_the_first_request(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o500)

    code, _, stderr = run(*args, "--checkpoint", str(directory / "run.ckpt"))

    assert code == 4 and "Permission denied" in stderr
    assert request_count(mixpanel, lago) == 0


def test_output_that_is_an_input_is_refused_before_it_is_truncated(tmp_path: Path) -> None:
    events, _ids = write_input(tmp_path)
    config = tmp_path / "cdpcli.yaml"
    config.write_text(
        "version: 1\ndestinations:\n  mp:\n    kind: mixpanel\n    project_id: '1'\n"
        "routes:\n  - name: all\n    to: mp\n",
        encoding="utf-8",
    )
    content = events.read_bytes()

    code, _, stderr = run(str(events), "-c", str(config), "--dry-run", "--output", str(events))

    assert code == 2 and f"--output {events} is also an input" in stderr
    assert events.read_bytes() == content


def test_rejected_and_checkpoint_cannot_be_one_file(
    tmp_path: Path, setup: tuple[FakeMixpanel, FakeLago, list[str], list[str]]
) -> None:
    mixpanel, lago, args, _ids = setup
    path = tmp_path / "both"

    code, _, stderr = run(*args, "--rejected", str(path), "--checkpoint", str(path))

    assert code == 2 and "--rejected and --checkpoint name the same file" in stderr
    assert request_count(mixpanel, lago) == 0
