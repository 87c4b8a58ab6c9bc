"""`validate` over several processes: large plain JSON-lines files are cut at line boundaries into
chunks, each chunk is validated by a worker process that writes its rendered problems to a
temporary file, and the chunks' reports are copied out in input order. The output is the same,
byte for byte, as a run in one process; memory stays flat (problems go to disk, not to a list).

Gzipped files, `.json` documents and stdin cannot be cut: each is one chunk. With one chunk, or one
job, or no `fork` start method on the platform, everything runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from cdpcli.model import Problem
from cdpcli.reader import InputFile, Item, is_plain_lines, read_input, read_range
from cdpcli.validation import Validation, ValidationSummary

MIN_CHUNK_BYTES = 4 * 1024 * 1024  # below this a process costs more than it saves
_BLOCK = 1 << 20

Render = Callable[[Problem], str]


@dataclass(frozen=True)
class Chunk:
    """A part of one input: a byte range of a plain file starting at line `first_line`, or (with
    `start` None) the whole input."""

    input: InputFile
    start: int | None = None
    end: int | None = None
    first_line: int = 1

    def items(self, stdin: BinaryIO | None = None) -> Iterator[Item]:
        if self.start is None or self.end is None:
            return read_input(self.input, stdin=stdin)
        return read_range(self.input, self.start, self.end, self.first_line)


def default_jobs() -> int:
    """The processes `validate` uses by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
        chunks.extend(_cut(input_file, size, pieces))
    return chunks


def _cut(input_file: InputFile, size: int, pieces: int) -> list[Chunk]:
    """Byte ranges ending just after a newline, with the line number each starts at."""
    assert input_file.path is not None
    targets = [size * k // pieces for k in range(1, pieces)]
    bounds: list[tuple[int, int]] = [(0, 1)]  # (byte offset, line number) of each chunk start
    with open(input_file.path, "rb") as handle:
        position, lines = 0, 1
        for target in targets:
            if target <= position:  # the last line stepped over: a long line spans two targets
                continue
            # count the newlines up to the target, then step to the end of that line
            while position + _BLOCK <= target:
                block = handle.read(_BLOCK)
                lines += block.count(b"\n")
                position += len(block)
            block = handle.read(target - position)
            lines += block.count(b"\n")
            position += len(block)
            rest = handle.readline()
            if not rest:
                break
            position += len(rest)
            lines += rest.count(b"\n")
            if position < size and position > bounds[-1][0]:
                bounds.append((position, lines))
    ends = [start for start, _ in bounds[1:]] + [size]
    return [
        Chunk(input_file, start, end, first_line)
        for (start, first_line), end in zip(bounds, ends, strict=True)
        if end > start
    ]


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
    order; returns the merged summary."""
    if jobs < 2 or len(chunks) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        summary = ValidationSummary()
        for chunk in chunks:
            _merge(summary, _validate(chunk, strict, render, write, stdin))
        return summary
    summary = ValidationSummary()
    workdir = Path(tempfile.mkdtemp(prefix="cdpcli-validate-"))
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_validate_to_file, chunk, strict, render, workdir / f"{n}.txt")
                for n, chunk in enumerate(chunks)
            ]
            for future in futures:
                report, counts = future.result()
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
    chunk: Chunk, strict: bool, render: Render, report: Path
) -> tuple[Path, ValidationSummary]:
    """In a worker process: validate one chunk, its report lines into `report`."""
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
