"""cdpcli where `fcntl` and `fork` are missing (Windows; PRODUCT.md §9): every module imports,
and `--jobs N` runs in one process with a note, its output the same byte for byte as `-j 1`.

Each check runs in a subprocess whose prelude takes away what Windows lacks before cdpcli is
imported: the `fcntl` module, `os.fork` (and the other fork and POSIX-only calls cdpcli could
reach), `select.poll` and the `fork` start method. The input is above the sizes at which
`validate` and `send` cut a file for workers (`MIN_CHUNK_BYTES`, `MIN_PARALLEL_BYTES`), so a
platform that can fork would use workers for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.generate import events as generated_events
from cdpcli.events.validate_parallel import MIN_CHUNK_BYTES
from cdpcli.jsonio import dumps_bytes
from cdpcli.send.prepare_parallel import MIN_PARALLEL_BYTES
from tests.paths import REPO

WINDOWS_LIKE = """
import multiprocessing, multiprocessing.context, os, select, sys
sys.modules["fcntl"] = None  # `import fcntl` raises ImportError, as on Windows
for name in ("fork", "forkpty", "register_at_fork", "sched_getaffinity", "fchmod"):
    if hasattr(os, name):
        delattr(os, name)
for name in ("poll", "epoll", "devpoll", "kqueue"):
    if hasattr(select, name):
        delattr(select, name)
multiprocessing.get_all_start_methods = lambda: ["spawn"]
multiprocessing.context.BaseContext.get_all_start_methods = lambda self: ["spawn"]
"""

CLI = """
import sys
from cdpcli.cli.app import main
sys.argv = ["cdpcli", *sys.argv[1:]]
main()
"""

IMPORT_ALL = """
import importlib, pkgutil
import cdpcli
names = [m.name for m in pkgutil.walk_packages(cdpcli.__path__, "cdpcli.")]
names.remove("cdpcli.__main__")  # it runs the CLI
for name in names:
    importlib.import_module(name)
assert "fcntl" not in sys.modules or sys.modules["fcntl"] is None
print(len(names))
"""

CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: analytics
    to: mixpanel
  - name: usage
    to: billing
    when: {type: track}
    map:
      code: api_calls
      external_subscription_id: "{{ properties.subscription_id }}"
      properties: {gb: "{{ properties.bytes }}"}
"""

NOTE = "note: --jobs 2: this platform cannot fork worker processes; using one process\n"


# How long a run took and its rate, in the send summary line: the one part of stderr that varies.
TIMING = re.compile(rb" in [\d.]+ m?s \([\d,]+ events/s\)")


def run(prelude: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The CLI with `args`, in a subprocess that first runs `prelude` (stderr without the
    summary line's duration and rate)."""
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    done = subprocess.run(
        [sys.executable, "-c", prelude + CLI, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    done.stderr = TIMING.sub(b" in TIME", done.stderr)
    return done


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Events above both cutting thresholds, with invalid lines among them (problems to report,
    records for the rejected file) and tracks the `usage` map rejects."""
    size = max(2 * MIN_CHUNK_BYTES, MIN_PARALLEL_BYTES) + 512 * 1024
    lines: list[bytes] = []
    total = 0
    for n, event in enumerate(generated_events(size // 300, seed=15)):
        if n % 41 == 0:
            del event["userId"]
            event.pop("anonymousId", None)  # invalid: nobody
        if event["type"] == "track" and n % 37 == 0:
            del event["properties"]["subscription_id"]
        line = b'{"type":"track"' if n % 997 == 0 else dumps_bytes(event)
        lines.append(line + b"\n")
        total += len(line) + 1
        if total > size:
            break
    assert total > size, "generate more events"
    path = tmp_path_factory.mktemp("portable") / "events.jsonl"
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portable-config") / "cdpcli.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_every_module_imports_without_fcntl_fork_or_poll() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WINDOWS_LIKE + IMPORT_ALL],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert int(done.stdout) > 30  # the walk found the package's modules


# Every command, as a user runs it (`keys` with keyring's null backend: no real keychain).
COMMANDS = {
    "validate": ["validate", "{events}"],  # by default as many processes as it can fork
    "inspect": ["inspect", "{events}", "--format", "json"],
    "config check": ["config", "check", "-c", "{config}"],
    "config init": ["config", "init", "{tmp}/new.yaml"],
    "keys list": ["keys", "list", "-c", "{config}"],
    "eligibility": ["eligibility", "--founded", "2023-03-01", "--raised", "2M", "--country", "DE"],
    "send": ["send", "--dry-run", "{events}", "-c", "{config}"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_runs_without_fcntl_fork_or_poll(
    command: str, big_input: Path, config: Path, tmp_path: Path
) -> None:
    def args(where: Path) -> list[str]:
        where.mkdir()
        return [a.format(events=big_input, config=config, tmp=where) for a in COMMANDS[command]]

    normal = run("", *args(tmp_path / "normal"))
    windows = run(WINDOWS_LIKE, *args(tmp_path / "windows"))
    assert windows.returncode == normal.returncode, windows.stderr.decode()
    assert windows.stdout == normal.stdout
    assert windows.stderr.replace(b"/windows/", b"/normal/") == normal.stderr
    made = sorted(p.name for p in (tmp_path / "windows").iterdir())
    assert made == sorted(p.name for p in (tmp_path / "normal").iterdir())
    for name in made:
        assert (tmp_path / "windows" / name).read_bytes() == (
            tmp_path / "normal" / name
        ).read_bytes()


def test_validate_jobs_falls_back_to_one_process_with_a_note(big_input: Path) -> None:
    serial = run("", "validate", str(big_input), "-j", "1")
    windows = run(WINDOWS_LIKE, "validate", str(big_input), "-j", "2")
    assert serial.returncode == windows.returncode == 1  # some events are invalid
    assert serial.stdout.count(b"\n") > 5  # problems reported (repeated ones grouped)
    assert b"more like it" in serial.stdout
    assert windows.stdout == serial.stdout
    assert windows.stderr == NOTE.encode() + serial.stderr
    assert windows.stderr.count(b"note:") == 1


def test_validate_json_summary_leaves_the_note_out(big_input: Path) -> None:
    serial = run("", "validate", str(big_input), "-j", "1", "--format", "json")
    windows = run(WINDOWS_LIKE, "validate", str(big_input), "-j", "2", "--format", "json")
    assert windows.stdout == serial.stdout
    assert windows.stderr == NOTE.encode() + serial.stderr


def test_validate_jobs_1_says_nothing(big_input: Path) -> None:
    windows = run(WINDOWS_LIKE, "validate", str(big_input), "-j", "1", "--quiet")
    assert windows.returncode == 1
    assert windows.stderr == b""


def test_send_dry_run_jobs_falls_back_to_one_process_with_a_note(
    big_input: Path, config: Path, tmp_path: Path
) -> None:
    def send(prelude: str, jobs: str, rejected: Path) -> subprocess.CompletedProcess[bytes]:
        args = ["send", "--dry-run", "-j", jobs, str(big_input), "-c", str(config)]
        return run(prelude, *args, "--format", "json", "--rejected", str(rejected))

    serial = send("", "1", tmp_path / "serial.rejected")
    windows = send(WINDOWS_LIKE, "2", tmp_path / "windows.rejected")
    assert serial.returncode == windows.returncode == 1  # invalid and rejected events
    assert serial.stdout.count(b"\n") > 50  # request lines, then the summary
    assert windows.stdout == serial.stdout
    assert windows.stderr == NOTE.encode() + serial.stderr
    records = (tmp_path / "serial.rejected").read_bytes()
    assert records.count(b"\n") > 100
    assert (tmp_path / "windows.rejected").read_bytes() == records


def test_send_with_a_small_input_says_nothing(config: Path) -> None:
    """Nothing would have gone to workers: there is nothing to say."""
    sample = REPO / "sample_events" / "server.jsonl"
    serial = run("", "send", "--dry-run", "-j", "1", str(sample), "-c", str(config))
    windows = run(WINDOWS_LIKE, "send", "--dry-run", "-j", "2", str(sample), "-c", str(config))
    assert windows.returncode == serial.returncode
    assert windows.stdout == serial.stdout
    assert windows.stderr == serial.stderr
