"""`send --jobs N`: the per-event work (`cdpcli.send.prepare`) of a large plain JSON-lines input
done by
N processes, this one and N - 1 workers, while this process alone keeps the bookkeeping
(accounting, batching, delivery, checkpoint, rejected file) exactly as in a run in one process.

The input is cut at line boundaries into pieces of about `piece_bytes`; each worker prepares the
events of a piece and sends them back as plain values, and this process prepares a piece itself
whenever it would otherwise wait for one (`WorkerPool.ordered`'s `local`); the pieces are
consumed in input order, with at most a few of them in flight, so the stream is the same, event
for event, as the one a single process makes, and memory stays bounded whatever the input's
size. Gzipped files, `.json` documents, stdin, small files and `--explain` are prepared in this
process alone, and so is everything where the platform cannot fork (`fork_notes` then says so).
"""

from __future__ import annotations

import functools
import marshal
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from cdpcli.errors import InputError
from cdpcli.events.chunks import Chunk, cut
from cdpcli.events.decode import BOM
from cdpcli.events.lines import ReadFailure, split_lines
from cdpcli.events.reader import InputFile, is_plain_lines, read_input
from cdpcli.send.prepare import Prepared, Preparer, named
from cdpcli.workers.pool import WorkerPool, can_fork, cannot_fork_note

PIECE_BYTES = 128 * 1024  # small pieces keep the results in flight (and each worker) small
MIN_PARALLEL_BYTES = 8 * 1024 * 1024  # below this a process costs more than it saves
PIECES_PER_JOB = 8  # pieces in flight per process preparing them (the workers and this one)


@dataclass(frozen=True)
class Parallelism:
    """How many processes prepare events (this one and `jobs - 1` workers), and how inputs are
    cut for them."""

    jobs: int = 1
    min_bytes: int = MIN_PARALLEL_BYTES
    piece_bytes: int = PIECE_BYTES


# The preparer of the run, set in this process just before the workers are forked: they inherit
# it (it holds compiled routes, which do not pickle).
_inherited: dict[str, Preparer] = {}


class _Position:
    """For progress displays: how far into the input the consumed pieces reach."""

    def __init__(self) -> None:
        self.offset = 0

    def tell(self) -> int:
        return self.offset


def qualifies(input_file: InputFile, preparer: Preparer, parallelism: Parallelism) -> bool:
    """Whether this input is prepared by the workers."""
    return can_fork() and _for_workers(input_file, preparer, parallelism)


def _for_workers(input_file: InputFile, preparer: Preparer, parallelism: Parallelism) -> bool:
    """Whether this input goes to workers where the platform can fork them."""
    size = input_file.size
    return (
        parallelism.jobs > 1
        and not preparer.explain
        and size is not None
        and size >= parallelism.min_bytes
        and is_plain_lines(input_file)
    )


def fork_notes(
    inputs: Sequence[InputFile], preparer: Preparer, parallelism: Parallelism
) -> tuple[str, ...]:
    """What the run tells the user about its processes: that it prepares everything in this
    one, when some input would go to workers but the platform cannot fork them."""
    if can_fork() or not any(_for_workers(f, preparer, parallelism) for f in inputs):
        return ()
    return (cannot_fork_note(parallelism.jobs),)


def start_workers(
    inputs: Sequence[InputFile], preparer: Preparer, parallelism: Parallelism
) -> WorkerPool | None:
    """The `jobs - 1` worker processes of a run, when some input qualifies; they inherit
    `preparer`. Start them before anything else (the sender's threads) runs."""
    if not any(qualifies(f, preparer, parallelism) for f in inputs):
        return None
    _inherited["preparer"] = preparer
    return WorkerPool(parallelism.jobs - 1, initializer=_in_worker)


def _in_worker() -> None:
    """In each worker process, once: what it prepares crosses a process boundary."""
    _inherited["preparer"].portable = True


def prepared_items(
    input_file: InputFile,
    preparer: Preparer,
    *,
    parallelism: Parallelism,
    workers: WorkerPool | None = None,
    resume_below: int = 0,
    stdin: BinaryIO | None = None,
    opened: Callable[[Any], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> Generator[Prepared, None, None]:
    """The prepared items of one input, in input order: by `workers` (started for this
    `preparer` by `start_workers`) when the input qualifies, else in this process. `opened`
    receives an object whose `tell()` is how far into the input the items given so far reach;
    `tick` is called while a live input (stdin, a pipe) is read (`read_input`)."""
    size = input_file.size
    if workers is None or size is None or not qualifies(input_file, preparer, parallelism):
        prepare = preparer.prepare
        for item in read_input(input_file, stdin=stdin, opened=opened, tick=tick):
            yield prepare(item, resume_below)
        return
    assert _inherited.get("preparer") is preparer, "workers started for another preparer"
    _piece_lines.cache_clear()  # lines of an earlier run, whose input may since have changed
    position = _Position()
    if opened is not None:
        opened(position)
    tasks = ((chunk, resume_below) for chunk in cut(input_file, size, parallelism.piece_bytes))
    pieces = workers.ordered(
        _prepare_piece,
        tasks,
        window=PIECES_PER_JOB * (workers.jobs + 1),
        local=functools.partial(_prepare_here, preparer),
    )
    try:
        for end, prepared in pieces:
            # From a worker, marshalled plain tuples; from this process, the items themselves.
            if isinstance(prepared, bytes):
                yield from map(named, marshal.loads(prepared))
            else:
                yield from prepared
            position.offset = end
    finally:
        pieces.close()


# A prepared piece: where it ends, and its items (marshalled when they come from a worker).
Piece = tuple[int, bytes | list[Prepared]]


def _prepare_piece(task: tuple[Chunk, int]) -> Piece:
    """In a worker process: the prepared items of one piece (as plain tuples, strings, bytes
    and numbers, so `marshal`, faster than pickle both ways, carries them), and where it ends.

    A routed event that is a whole input line does not carry that line back (most never need
    it): its `data` is the piece's locator, one tuple that marshal writes once per piece."""
    chunk, resume_below = task
    assert chunk.start is not None and chunk.end is not None and chunk.input.path is not None
    preparer = _inherited["preparer"]
    preparer.piece = (str(chunk.input.path), chunk.start, chunk.end, chunk.first_line)
    prepare = preparer.prepare
    try:
        return chunk.end, marshal.dumps(
            [tuple(prepare(item, resume_below)) for item in chunk.items()]
        )
    finally:
        preparer.piece = None


def _prepare_here(preparer: Preparer, task: tuple[Chunk, int]) -> Piece:
    """In this process: the prepared items of one piece (as `prepared_items` makes them for an
    input read here), and where it ends."""
    chunk, resume_below = task
    assert chunk.end is not None
    prepare = preparer.prepare
    return chunk.end, [prepare(item, resume_below) for item in chunk.items()]


def quoted(data: Any, line: int) -> Any:
    """The `data` of a prepared item from input line `line`, as the rejected file quotes it:
    a piece locator (see `_prepare_piece`) is read back from the input (which, like a
    checkpoint's line numbers, assumes the input does not change during the run)."""
    if type(data) is not tuple:
        return data
    path, start, end, first_line = data
    try:
        lines = _piece_lines(path, start, end)
    except (OSError, ReadFailure) as failed:
        error = failed.error if isinstance(failed, ReadFailure) else failed
        reason = (error.strerror if isinstance(error, OSError) else None) or error
        raise InputError(
            f"{path}:{line}: cannot read the line back for the rejected file: {reason}",
            hint="the input must stay in place until the run ends; re-run "
            "(with --checkpoint the run resumes where it stopped)",
        ) from error
    index = line - first_line
    if not 0 <= index < len(lines):
        raise InputError(
            f"{path}:{line}: the line is no longer there to quote in the rejected file "
            "(the input changed during the run)",
            hint="leave the input unchanged until the run ends, then re-run",
        )
    raw = lines[index]
    if line == 1 and raw.startswith(BOM):
        raw = raw[len(BOM) :]
    return raw.strip()


@functools.lru_cache(maxsize=4)  # the rejections of one batch come from a few pieces in a row
def _piece_lines(path: str, start: int, end: int) -> list[bytes]:
    """The lines of a piece, a line over the bound as a marker (its problem quotes no text): a
    piece ends after the line its size reached, which may be a line of gigabytes."""
    with open(path, "rb") as handle:
        handle.seek(start)
        return list(split_lines(handle.read, end - start))
