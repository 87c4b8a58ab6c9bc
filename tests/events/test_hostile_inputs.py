"""Hostile inputs measured from outside (PRODUCT.md §3.2, issue 16 cases 1 and 9): `validate` and
`send --dry-run` in a child process on a gzip bomb of NULs without a newline, on `/dev/zero`, on a
sparse file holding a line of hundreds of MB (cut for `--jobs 2`), and on a file whose reading
fails (EIO). The child's peak RSS, as the kernel reports it for the children of a small wrapper
process (`resource.getrusage(RUSAGE_CHILDREN)`, which covers `--jobs` workers too), stays under
150 MB.

The child's address space is capped at 1 GiB, so that a reader which holds the line (as the old
one did, to 4 GB and more) fails fast with a MemoryError instead of eating the machine's memory:
the cap is far above the bound the tests check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO

BOUND_KB = 150 * 1000  # 150 MB
ADDRESS_SPACE_CAP = 1 << 30

EVENT = (
    b'{"type":"track","event":"A","userId":"u","messageId":"m%d",'
    b'"timestamp":"2024-05-14T09:21:07.312Z"}'
)

# Runs argv[3:] capped, waits at most argv[2] seconds (0: no limit, then kills it), and prints
# how it ended and the peak RSS of its children (KiB on Linux).
_WRAPPER = r"""
import json, resource, subprocess, sys
cap, timeout, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit)
try:
    out, err = child.communicate(timeout=timeout or None)
    killed = False
except subprocess.TimeoutExpired:
    child.kill()
    out, err = child.communicate()
    killed = True
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": child.returncode, "killed": killed, "peak_kb": peak,
                  "out": out.decode("utf-8", "replace")[-4000:],
                  "err": err.decode("utf-8", "replace")[-4000:]}))
"""


@dataclass(frozen=True)
class Outcome:
    code: int
    killed: bool
    peak_kb: int
    out: str
    err: str


def measured(*args: str, seconds: float = 0) -> Outcome:
    """Run `python -m cdpcli ARGS` as a grandchild; kill it after `seconds` when given."""
    argv = [sys.executable, "-m", "cdpcli", *args]
    wrapper = [sys.executable, "-c", _WRAPPER, str(ADDRESS_SPACE_CAP), str(seconds), *argv]
    done = subprocess.run(wrapper, cwd=REPO, capture_output=True, timeout=600, check=True)
    return Outcome(**json.loads(done.stdout))


def assert_bounded(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.peak_kb < BOUND_KB, f"peak RSS {outcome.peak_kb:,} KiB"


def read_and_invalid(outcome: Outcome) -> tuple[int, int]:
    """Events read and invalid, from the JSON summary of a send."""
    summary = json.loads(outcome.out.splitlines()[-1])
    return summary["events_read"], summary["invalid"]


def nul_bomb(path: Path, size: int) -> Path:
    """A gzip of `size` NUL bytes and no newline, written a MiB at a time (the file is small)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())
    return path


def config(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "version: 1\n"
        "destinations:\n"
        "  mixpanel: {kind: mixpanel, project_id: '1', region: us}\n"
        "routes:\n"
        "  - {name: all, to: mixpanel}\n"
    )
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = nul_bomb(tmp_path_factory.mktemp("bomb") / "bomb.jsonl.gz", 300 << 20)
    assert path.stat().st_size < 1 << 20  # 300 MB of NULs in under a MB
    return path


def test_validate_on_a_gzip_bomb_stays_bounded(bomb: Path) -> None:
    outcome = measured("validate", str(bomb))
    assert outcome.code == 1, outcome.err
    assert outcome.out.splitlines()[0] == f"{bomb}:1: error: line longer than 1 MiB"
    assert_bounded(outcome)


def test_send_dry_run_on_a_gzip_bomb_stays_bounded(bomb: Path, tmp_path: Path) -> None:
    routes = config(tmp_path)
    outcome = measured(
        "send", str(bomb), "-c", str(routes), "--dry-run", "-o", "/dev/null", "--format", "json"
    )
    assert outcome.code == 1, outcome.err
    assert read_and_invalid(outcome) == (1, 1)
    assert_bounded(outcome)


def test_send_dry_run_on_dev_zero_with_a_limit_ends(tmp_path: Path) -> None:
    routes = config(tmp_path)
    outcome = measured(
        "send", "/dev/zero", "-c", str(routes), "--dry-run", "-o", "/dev/null", "--limit", "1",
        "--format", "json", seconds=120,
    )  # fmt: skip
    assert not outcome.killed
    assert outcome.code == 1, outcome.err
    assert read_and_invalid(outcome) == (1, 1)
    assert_bounded(outcome)


def test_validate_on_dev_zero_stays_bounded_while_it_reads() -> None:
    outcome = measured("validate", "/dev/zero", seconds=4)
    assert outcome.killed  # still reading: the endless line is skipped, never held
    assert_bounded(outcome)


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain file big enough to be cut for `--jobs 2`: 20,000 events, a line of 300 MB of NULs
    (a hole: nothing on disk), a line that is not JSON, 20,000 events."""
    path = tmp_path_factory.mktemp("sparse") / "events.jsonl"
    body = b"".join(EVENT % n + b"\n" for n in range(20_000))
    with open(path, "wb") as handle:
        handle.write(body)
        handle.seek(300 << 20, 1)
        handle.write(b"\nnot json\n" + body)
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_validate_on_a_huge_line_keeps_the_line_numbers(sparse: Path, jobs: str) -> None:
    outcome = measured("validate", str(sparse), "-j", jobs, "--format", "json")
    assert outcome.code == 1, outcome.err
    problems = [json.loads(line) for line in outcome.out.splitlines()[:-1]]
    assert [(p["line"], p["message"]) for p in problems] == [
        (20_001, "line longer than 1 MiB"),
        (20_002, "not JSON: invalid literal, expected 'null' at column 1"),
    ]
    summary = json.loads(outcome.out.splitlines()[-1])
    assert (summary["events_read"], summary["valid"]) == (40_002, 40_000)
    assert_bounded(outcome)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_send_on_a_huge_line_keeps_the_line_numbers(
    sparse: Path, tmp_path: Path, jobs: str
) -> None:
    rejected = tmp_path / "rejected.jsonl"
    outcome = measured(
        "send", str(sparse), "-c", str(config(tmp_path)), "--dry-run", "-o", "/dev/null",
        "-j", jobs, "--rejected", str(rejected), "--format", "json",
    )  # fmt: skip
    assert outcome.code == 1, outcome.err
    summary = json.loads(outcome.out.splitlines()[-1])
    assert (summary["events_read"], summary["invalid"], summary["delivered"]) == (40_002, 2, 40_000)
    records = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["origin"], r["reason"], r["event"]) for r in records] == [
        (f"{sparse}:20001", "invalid: line longer than 1 MiB", None),
        (f"{sparse}:20002", "invalid: not JSON: invalid literal, expected 'null' at column 1",
         "not json"),
    ]  # fmt: skip
    assert_bounded(outcome)


PROC_MEM = Path("/proc/self/mem")  # opens, but reading at offset 0 fails with EIO


@pytest.mark.skipif(not PROC_MEM.exists(), reason="no /proc on this platform")
@pytest.mark.parametrize("command", ["validate", "send"])
def test_a_read_error_is_exit_4_naming_the_file(command: str, tmp_path: Path) -> None:
    args = [command, str(PROC_MEM)]
    if command == "send":
        args += ["-c", str(config(tmp_path)), "--dry-run", "-o", "/dev/null"]
    done = subprocess.run(
        [sys.executable, "-m", "cdpcli", *args],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 4, stderr
    assert "/proc/self/mem: cannot read the file: Input/output error" in stderr
    assert "hint: " in stderr
    assert "Traceback" not in stderr
