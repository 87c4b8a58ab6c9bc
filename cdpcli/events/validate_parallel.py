"""`validate` over several processes: large plain JSON-lines files are cut at line boundaries into
chunks, each chunk is validated by a worker process that writes its rendered problems to a
temporary file, and the chunks' reports are copied out in input order. The output is the same,
byte for byte, as a run in one process; memory stays flat (problems go to disk, not to a list).

Gzipped files, `.json` documents and stdin cannot be cut: each is one chunk. With one chunk, or one
job, or no `fork` start method on the platform, everything runs in this process (in the last case
the summary's `notes` say so).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, BinaryIO

from cdpcli.events.chunks import Chunk, cut
from cdpcli.events.model import Problem
from cdpcli.events.reader import InputFile, is_plain_lines, resolve_inputs
from cdpcli.events.validate import Validation, ValidationSummary, render_json, render_text
from cdpcli.workers.pool import can_fork, cannot_fork_note, ordered_map

MIN_CHUNK_BYTES = 4 * 1024 * 1024  # below this a process costs more than it saves

Render = Callable[[Problem], str]


def plan(
    inputs: Sequence[InputFile], jobs: int, *, min_chunk: int = MIN_CHUNK_BYTES
) -> list[Chunk]:
    """Cut the inputs into chunks: plain files of at least 2 x `min_chunk` bytes into up to
    2 x `jobs` pieces at line boundaries, everything else whole."""
    chunks: list[Chunk] = []
    for input_file in inputs:
        size = input_file.size or 0
        pieces = min(2 * jobs, size // min_chunk) if jobs > 1 else 1
        if pieces < 2 or not is_plain_lines(input_file):
            chunks.append(Chunk(input_file))
            continue
        chunks.extend(cut(input_file, size, -(-size // pieces)))
    return chunks


def validate_chunks(
    chunks: Sequence[Chunk],
    *,
    strict: bool,
    jobs: int,
    render: Render,
    write: Callable[[str], None],
    stdin: BinaryIO | None = None,
) -> ValidationSummary:
    """Validate every chunk, writing each problem's rendered line through `write`, in input
    order; returns the merged summary (with a note when `jobs` processes were asked for and the
    platform cannot fork them)."""
    if jobs < 2 or len(chunks) < 2 or not can_fork():
        summary = ValidationSummary()
        if jobs > 1 and len(chunks) > 1:  # workers would run it, but none can be forked
            summary.notes.append(cannot_fork_note(jobs))
        for chunk in chunks:
            _merge(summary, _validate(chunk, strict, render, write, stdin))
        return summary
    summary = ValidationSummary()
    workdir = Path(tempfile.mkdtemp(prefix="cdpcli-validate-"))
    try:
        work = functools.partial(_validate_to_file, strict=strict, render=render)
        tasks = [(chunk, workdir / f"{n}.txt") for n, chunk in enumerate(chunks)]
        for report, counts in ordered_map(work, tasks, jobs=jobs, window=len(tasks)):
            _merge(summary, counts)
            with open(report, encoding="utf-8") as lines:
                for line in lines:
                    write(line.rstrip("\n"))
            os.unlink(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary


def _validate(
    chunk: Chunk,
    strict: bool,
    render: Render,
    write: Callable[[str], None],
    stdin: BinaryIO | None,
) -> ValidationSummary:
    run = Validation(chunk.items(stdin), strict=strict)
    for problem in run.problems():
        write(render(problem))
    return run.summary


def _validate_to_file(
    task: tuple[Chunk, Path], *, strict: bool, render: Render
) -> tuple[Path, ValidationSummary]:
    """In a worker process: validate one chunk, its report lines into the task's file."""
    chunk, report = task
    out: IO[str]
    with open(report, "w", encoding="utf-8") as out:

        def write(line: str) -> None:
            out.write(line + "\n")

        summary = _validate(chunk, strict, render, write, None)
    return report, summary


def _merge(total: ValidationSummary, part: ValidationSummary) -> None:
    total.events_read += part.events_read
    total.valid += part.valid
    total.invalid += part.invalid
    total.warnings += part.warnings
    total.by_type.update(part.by_type)


def validate(
    paths: Sequence[str],
    *,
    write: Callable[[str], None],
    strict: bool = False,
    jobs: int = 1,
    as_json: bool = False,
    stdin: BinaryIO | None = None,
) -> ValidationSummary:
    """`cdpcli validate`: check every event of the files, directories or `-` in `paths` against
    the Segment spec. Each problem goes to `write` as it is found, in input order, as its report
    line (`PATH:LINE: severity: field: message`, or with `as_json` its JSON line); the summary is
    returned. With `jobs` > 1, large plain JSON-lines files are validated in that many processes,
    with the same lines in the same order. Raises InputError (exit 4) when a path cannot be read.
    """
    return validate_chunks(
        plan(resolve_inputs(paths), jobs),
        strict=strict,
        jobs=jobs,
        render=render_json if as_json else render_text,
        write=write,
        stdin=stdin,
    )
