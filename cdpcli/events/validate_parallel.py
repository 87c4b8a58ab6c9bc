"""`validate` over several processes: large plain JSON-lines files are cut at line boundaries into
chunks, each chunk is validated by a worker process that writes its rendered problems to a
temporary file, and the chunks' reports are copied out in input order. The output is the same,
byte for byte, as a run in one process; memory stays flat (problems go to disk, not to a list).

With `groups` (the text report), repeated problems are grouped (`cdpcli.events.grouping`): the
parent decides what is listed, over the problems in input order, so the report is the same as in
one process. A worker writes each problem it sends with its kind and place, and holds back (and
counts) those of a kind it already sent `groups.shown` times from its chunk.

Gzipped files, `.json` documents and stdin cannot be cut: each is one chunk. With one chunk, or one
job, or no `fork` start method on the platform, everything runs in this process (in the last case
the summary's `notes` say so). Stdin and objects in S3 or GCS are always validated in this
process, in their turn: a worker's stdin is not this process's, and the object-store client is
not fork-safe (`cdpcli.events.objects`).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, BinaryIO

from cdpcli import jsonio
from cdpcli.events.chunks import Chunk, cut
from cdpcli.events.grouping import ChunkGroups, ProblemGroups, ProblemKind, kind_of, place_of
from cdpcli.events.model import Problem
from cdpcli.events.objects import ObjectStores
from cdpcli.events.progress import ProgressCallback, ReadTracker, total_size
from cdpcli.events.reader import InputFile, find_inputs, is_plain_lines
from cdpcli.events.validate import (
    FieldChecks,
    Validation,
    ValidationSummary,
    render_json,
    render_text,
)
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
    groups: ProblemGroups | None = None,
    field_checks: FieldChecks | None = None,
    tracker: ReadTracker | None = None,
) -> ValidationSummary:
    """Validate every chunk (the Segment-spec rules, and `field_checks` when given), writing
    each problem's rendered line through `write`, in input order; returns the merged summary
    (with a note when `jobs` processes were asked for and the platform cannot fork them).

    With `groups`, only the problems it admits are written; the rest are counted in it (its
    `repeated()` and `other_kinds` are complete on return). `tracker` follows the read (for a
    progress display; a chunk validated by a worker counts when its report comes back)."""
    rules: Rules = (strict, field_checks)
    forkable = [chunk for chunk in chunks if not _read_here(chunk)]
    if jobs < 2 or len(forkable) < 2 or not can_fork():
        summary = ValidationSummary()
        if jobs > 1 and len(forkable) > 1:  # workers would run it, but none can be forked
            summary.notes.append(cannot_fork_note(jobs))
        for chunk in chunks:
            _merge(summary, _validate(chunk, rules, render, write, stdin, groups, tracker))
        return summary
    summary = ValidationSummary()
    workdir = Path(tempfile.mkdtemp(prefix="cdpcli-validate-"))
    try:
        work = functools.partial(
            _validate_to_file,
            rules=rules,
            render=render,
            grouped=None if groups is None else (groups.shown, groups.max_kinds),
        )
        tasks = [(chunk, workdir / f"{n}.txt") for n, chunk in enumerate(forkable)]
        reports = ordered_map(work, tasks, jobs=jobs, window=len(tasks))
        try:
            for chunk in chunks:
                if _read_here(chunk):  # in its turn
                    _merge(summary, _validate(chunk, rules, render, write, stdin, groups, tracker))
                    continue
                report, counts, held = next(reports)
                _merge(summary, counts)
                if tracker is not None:
                    tracker.done(chunk.size or 0, counts.events_read, counts.invalid)
                _copy_report(report, held, write, groups)
                os.unlink(report)
        finally:
            reports.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary


def _read_here(chunk: Chunk) -> bool:
    """Stdin and objects are read by this process, never by a worker."""
    return chunk.input.path is None


def _copy_report(
    report: Path, held: Held, write: Callable[[str], None], groups: ProblemGroups | None
) -> None:
    """A worker's report lines, in order: written as they are, or (with `groups`) each problem
    the groups admit, and the held-back ones counted."""
    with open(report, encoding="utf-8") as lines:
        if groups is None:
            for line in lines:
                write(line.rstrip("\n"))
            return
        for line in lines:
            severity, field, message, place, rendered = jsonio.loads(line)
            if groups.admit_kind(ProblemKind(severity, field, message), place):
                write(rendered)
    for kind, count, last in held:
        groups.add_unlisted(kind, count, last)


Rules = tuple[bool, FieldChecks | None]
"""`strict`, and the field checks, of a validation."""


def _validate(  # noqa: PLR0917
    chunk: Chunk,
    rules: Rules,
    render: Render,
    write: Callable[[str], None],
    stdin: BinaryIO | None,
    groups: ProblemGroups | None = None,
    tracker: ReadTracker | None = None,
) -> ValidationSummary:
    summary = ValidationSummary()
    opened = block = None
    if tracker is not None:
        counts = lambda: (summary.events_read, summary.invalid)  # noqa: E731
        opened, block = tracker.part(counts, start=chunk.start or 0)
    items = chunk.items(stdin, opened=opened, block=block)
    run = Validation(items, strict=rules[0], field_checks=rules[1], summary=summary)
    _report(run, render, write, groups)
    if tracker is not None:
        tracker.done(chunk.size or 0, summary.events_read, summary.invalid)
    return summary


def _report(
    run: Validation, render: Render, write: Callable[[str], None], groups: ProblemGroups | None
) -> None:
    if groups is None:
        for problem in run.problems():
            write(render(problem))
    else:
        admit = groups.admit
        for problem in run.problems():
            if admit(problem):
                write(render(problem))


Held = list[tuple[ProblemKind, int, str]]


def _validate_to_file(
    task: tuple[Chunk, Path], *, rules: Rules, render: Render, grouped: tuple[int, int] | None
) -> tuple[Path, ValidationSummary, Held]:
    """In a worker process: validate one chunk, its report lines into the task's file.

    `grouped` (`shown`, `max_kinds`): each line is `[severity, field, message, place, rendered]`
    instead, and the problems a `ChunkGroups` holds back are returned as counts."""
    chunk, report = task
    out: IO[str]
    run = Validation(chunk.items(None), strict=rules[0], field_checks=rules[1])
    with open(report, "w", encoding="utf-8") as out:
        if grouped is None:
            for problem in run.problems():
                out.write(render(problem) + "\n")
            return report, run.summary, []
        shown, max_kinds = grouped
        sent = ChunkGroups(shown=shown, max_kinds=max_kinds)
        for problem in run.problems():
            kind, place = kind_of(problem), place_of(problem)
            if sent.send(kind, place):
                out.write(jsonio.dumps([*kind, place, render(problem)]) + "\n")
    return report, run.summary, sent.held()


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
    grouped: bool = False,
    stdin: BinaryIO | None = None,
    objects: ObjectStores | None = None,
    field_checks: FieldChecks | None = None,
    progress: ProgressCallback | None = None,
) -> ValidationSummary:
    """`cdpcli validate`: check every event of the files, directories, `s3://`/`gs://` URLs or
    `-` in `paths` against the Segment spec. Each problem goes to `write` as it is found, in input
    order, as its report line (`PATH:LINE: severity: field: message`, or with `as_json` its JSON
    line); the summary is returned. With `grouped`, a problem repeated at many places is written
    at its first few and the rest counted in `summary.groups` (the text report; `as_json` always
    writes every problem). With `jobs` > 1, large plain JSON-lines files are validated in that
    many processes, with the same lines in the same order. `summary.notes` says what the user
    should know about the run (files a walk skipped, a `--jobs` that could not fork). `progress`
    receives how far the read has come, at most 10 times a second (`ReadProgress`), and once at
    the end. Raises InputError (exit 4) when a path cannot be read, NoInputError (exit 2) when
    there is none.
    """
    found = find_inputs(paths, objects=objects)
    groups = ProblemGroups() if grouped and not as_json else None
    tracker = None
    if progress is not None:
        tracker = ReadTracker(progress, total_size([f.size for f in found.files]))
    summary = validate_chunks(
        plan(found.files, jobs),
        strict=strict,
        jobs=jobs,
        render=render_json if as_json else render_text,
        write=write,
        stdin=stdin,
        groups=groups,
        field_checks=field_checks,
        tracker=tracker,
    )
    summary.notes[:0] = found.notes
    summary.groups = groups
    return summary
