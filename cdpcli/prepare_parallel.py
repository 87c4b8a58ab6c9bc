"""`send --jobs`: the per-event work (`cdpcli.prepare`) of a large plain JSON-lines input done in
worker processes, while this process keeps the bookkeeping (accounting, batching, delivery,
checkpoint, rejected file) exactly as in a run in one process.

The input is cut at line boundaries into pieces of about `piece_bytes`; each worker prepares the
events of a piece and sends them back as plain values; the pieces are consumed in input order,
with at most a few of them in flight, so the stream is the same, event for event, as the one a
single process makes, and memory stays bounded whatever the input's size. Gzipped files, `.json`
documents, stdin, small files and `--explain` are prepared in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cdpcli.chunks import Chunk, can_fork, cut, ordered_map
from cdpcli.prepare import Prepared, Preparer, portable
from cdpcli.reader import InputFile, is_plain_lines, read_input

PIECE_BYTES = 256 * 1024  # small pieces keep the results in flight (and each worker) small
MIN_PARALLEL_BYTES = 8 * 1024 * 1024  # below this a process costs more than it saves
PIECES_PER_JOB = 2  # pieces in flight per worker: one being prepared, one waiting to be consumed


@dataclass(frozen=True)
class Parallelism:
    """How many processes prepare events, and how inputs are cut for them."""

    jobs: int = 1
    min_bytes: int = MIN_PARALLEL_BYTES
    piece_bytes: int = PIECE_BYTES


# The preparer of the run, set in this process just before the workers are forked: they inherit
# it (it holds modules and compiled routes, which do not pickle).
_inherited: dict[str, Preparer] = {}


class _Position:
    """For progress displays: how far into the input the consumed pieces reach."""

    def __init__(self) -> None:
        self.offset = 0

    def tell(self) -> int:
        return self.offset


def prepared_items(
    input_file: InputFile,
    preparer: Preparer,
    *,
    parallelism: Parallelism,
    resume_below: int = 0,
    stdin: BinaryIO | None = None,
    opened: Callable[[Any], None] | None = None,
) -> Generator[Prepared, None, None]:
    """The prepared items of one input, in input order. `opened` receives an object whose
    `tell()` is how far into the input the items given so far reach."""
    size = input_file.size
    if (
        parallelism.jobs < 2
        or preparer.explain
        or size is None
        or size < parallelism.min_bytes
        or not can_fork()
        or not is_plain_lines(input_file)
    ):
        prepare = preparer.prepare
        for item in read_input(input_file, stdin=stdin, opened=opened):
            yield prepare(item, resume_below)
        return
    _inherited["preparer"] = preparer
    position = _Position()
    if opened is not None:
        opened(position)
    tasks = ((chunk, resume_below) for chunk in cut(input_file, size, parallelism.piece_bytes))
    pieces = ordered_map(
        _prepare_piece,
        tasks,
        jobs=parallelism.jobs,
        window=PIECES_PER_JOB * parallelism.jobs,
    )
    try:
        for end, prepared in pieces:
            yield from prepared
            position.offset = end
    finally:
        pieces.close()


def _prepare_piece(task: tuple[Chunk, int]) -> tuple[int, list[Prepared]]:
    """In a worker process: the prepared items of one piece, and where the piece ends."""
    chunk, resume_below = task
    assert chunk.end is not None
    prepare = _inherited["preparer"].prepare
    return chunk.end, [portable(prepare(item, resume_below)) for item in chunk.items()]
