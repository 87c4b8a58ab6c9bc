"""`validate` in several processes gives the same report, byte for byte, as in one."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli.events.grouping import ProblemGroups
from cdpcli.events.reader import InputFile
from cdpcli.events.validate import render_json, render_text
from cdpcli.events.validate_parallel import plan, validate_chunks

GOOD = (
    '{"type":"track","event":"A","userId":"u%d","messageId":"m%d",'
    '"timestamp":"2024-05-14T09:21:07.312Z"}'
)
BAD = ['{"type":"track"', '{"type":"track","userId":"u"}', "[1]", "", '{"type":"nope"}']


def write_events(path: Path, bad_every: int, count: int) -> None:
    lines = []
    for n in range(count):
        lines.append(BAD[n % len(BAD)] if n % bad_every == 0 else GOOD % (n, n))
    path.write_text("\n".join(lines) + "\n")


def report(
    inputs: list[InputFile], jobs: int, min_chunk: int, as_json: bool
) -> tuple[list[str], dict]:
    lines: list[str] = []
    summary = validate_chunks(
        plan(inputs, jobs, min_chunk=min_chunk),
        strict=False,
        jobs=jobs,
        render=render_json if as_json else render_text,
        write=lines.append,
    )
    return lines, summary.as_dict()


@pytest.mark.parametrize("as_json", [False, True])
def test_chunks_cover_every_line_once_with_the_right_numbers(tmp_path: Path, as_json: bool) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, bad_every=7, count=3000)
    inputs = [InputFile(str(path), path)]
    chunks = plan(inputs, 3, min_chunk=10_000)
    assert len(chunks) == 6
    assert chunks[0].start == 0 and chunks[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    serial = report(inputs, 1, 10_000, as_json)
    parallel = report(inputs, 3, 10_000, as_json)
    assert parallel == serial
    bad = [n for n in range(3000) if n % 7 == 0 and BAD[n % len(BAD)] != ""]
    blank = [n for n in range(3000) if n % 7 == 0 and BAD[n % len(BAD)] == ""]
    assert serial[1]["events_read"] == 3000 - len(blank)
    assert serial[1]["invalid"] == len(bad)
    if as_json:
        reported = [json.loads(line)["line"] for line in serial[0]]
    else:
        reported = [int(line.split(":")[1]) for line in serial[0]]
    assert sorted(set(reported)) == [n + 1 for n in bad]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([*BAD, GOOD % (1, 1), "\r", "\xef\xbb\xbf{}"]), max_size=200),
    st.integers(50, 400),
)
def test_any_cut_gives_the_serial_report(tmp_path: Path, lines: list[str], min_chunk: int) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    inputs = [InputFile(str(path), path)]
    assert report(inputs, 4, min_chunk, False) == report(inputs, 1, min_chunk, False)


def grouped_report(
    inputs: list[InputFile], jobs: int, min_chunk: int, groups: ProblemGroups
) -> tuple[list[str], list[object], int]:
    lines: list[str] = []
    validate_chunks(
        plan(inputs, jobs, min_chunk=min_chunk),
        strict=False,
        jobs=jobs,
        render=render_text,
        write=lines.append,
        groups=groups,
    )
    return lines, list(groups.repeated()), groups.other_kinds


# Kinds of problems: alike ones (a missing messageId, a numeric id) and ones that differ by
# field (an unknown top-level field), so that few kinds fill `max_kinds`.
ALIKE = [
    '{"type":"track","event":"A","userId":"u","timestamp":"2024-05-14T09:21:07Z"}',
    '{"type":"track","event":"A","userId":7,"messageId":"m","timestamp":"2024-05-14T09:21:07Z"}',
    '{"type":"track","event":"A","userId":"u","messageId":"m","x%d":1,'
    '"timestamp":"2024-05-14T09:21:07Z"}',
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([*BAD, *ALIKE, GOOD % (1, 1)]), max_size=300),
    st.integers(50, 400),
    st.integers(1, 3),
    st.integers(1, 4),
)
def test_grouped_report_is_the_same_in_any_cut(
    tmp_path: Path, lines: list[str], min_chunk: int, shown: int, max_kinds: int
) -> None:
    """Whatever the cut, the grouped text report of 4 jobs (workers holding back repeats) is the
    one process's: the same lines listed, the same counts of the rest, in the same order."""
    path = tmp_path / "grouped.jsonl"
    path.write_text("".join(line.replace("%d", str(n % 5)) + "\n" for n, line in enumerate(lines)))
    inputs = [InputFile(str(path), path)]
    serial = grouped_report(inputs, 1, min_chunk, ProblemGroups(shown=shown, max_kinds=max_kinds))
    parallel = grouped_report(inputs, 4, min_chunk, ProblemGroups(shown=shown, max_kinds=max_kinds))
    assert parallel == serial
    ungrouped, _ = report(inputs, 1, min_chunk, False)
    listed, repeated, other = serial
    assert len(listed) + sum(r.more for r in repeated) + other == len(ungrouped)


@pytest.mark.parametrize(("shown", "max_kinds"), [(1, 1000), (3, 1000), (3, 2)])
def test_grouped_report_of_many_repeats(tmp_path: Path, shown: int, max_kinds: int) -> None:
    path = tmp_path / "repeats.jsonl"
    kinds = [*ALIKE, *BAD[:3]]
    path.write_text(
        "".join(kinds[n % 7 % len(kinds)].replace("%d", str(n % 4)) + "\n" for n in range(600))
    )
    inputs = [InputFile(str(path), path)]
    assert len(plan(inputs, 4, min_chunk=1000)) == 8
    serial = grouped_report(inputs, 1, 1000, ProblemGroups(shown=shown, max_kinds=max_kinds))
    parallel = grouped_report(inputs, 4, 1000, ProblemGroups(shown=shown, max_kinds=max_kinds))
    assert parallel == serial
    listed, repeated, other = serial
    ungrouped, _ = report(inputs, 1, 1000, False)
    assert len(ungrouped) > 500
    assert len(listed) <= shown * min(max_kinds, 12)
    assert len(listed) + sum(r.more for r in repeated) + other == len(ungrouped)
    assert (other > 0) is (max_kinds == 2)


def test_cli_jobs_gives_identical_output(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_events(path, bad_every=1001, count=90_000)  # about 9 MB: cut into 4 chunks with -j 2
    assert path.stat().st_size > 8 * 1024 * 1024
    outputs = []
    for output_format in ("json", "text"):
        for jobs in ("1", "2"):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cdpcli",
                    "validate",
                    str(path),
                    "-j",
                    jobs,
                    "-f",
                    output_format,
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 1, done.stderr
            outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[2] == outputs[3]  # the grouped text report too
    assert outputs[2].count(b"\n") < 30  # 90 invalid lines of 4 kinds: grouped
    summary = json.loads(outputs[0].splitlines()[-1])
    blank = [n for n in range(0, 90_000, 1001) if BAD[n % len(BAD)] == ""]
    assert summary["events_read"] == 90_000 - len(blank)
    assert summary["invalid"] == len(range(0, 90_000, 1001)) - len(blank)


def test_stdin_beside_files_is_read_by_this_process_with_jobs(tmp_path: Path) -> None:
    """A worker's stdin is not the command's: `validate FILE -` with -j 2 read nothing of stdin
    (its events were lost without a word)."""
    path = tmp_path / "events.jsonl"
    write_events(path, bad_every=7, count=70)
    stdin_events = "".join(GOOD % (n, n) + "\n" for n in range(5))
    for jobs in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "cdpcli", "validate", str(path), "-", "-j", jobs, "-f", "json"],
            input=stdin_events.encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["events_read"] == 70 - 2 + 5, jobs  # two blank lines are no events
