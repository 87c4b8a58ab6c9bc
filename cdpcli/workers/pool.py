"""Cutting large plain JSON-lines files into byte ranges at line boundaries, and running work on
them in worker processes, results in input order.

Used by `validate --jobs` (`cdpcli.events.validate_parallel`) and by `send --jobs`
(`cdpcli.send.prepare_parallel`). Gzipped files, `.json` documents and stdin cannot be cut: each is
one
chunk, read in this process.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import multiprocessing
import multiprocessing.process
import multiprocessing.util  # its exit handler must be registered before ours
import os
import pickle
import select
import signal
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from cdpcli.errors import WorkerError

_PARENT_POLL_SECONDS = 0.5

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The processes a command uses by default: the CPUs this process may run on, or one where
    worker processes cannot be forked (then only an explicit `--jobs N` gets a note)."""
    if not can_fork():
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether this platform can fork worker processes (not on Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def cannot_fork_note(jobs: int) -> str:
    """What a command asked for `jobs` processes says where `can_fork()` is false: it runs in
    one process, with the same output."""
    return f"--jobs {jobs}: this platform cannot fork worker processes; using one process"


def ordered_map(
    function: Callable[[T], R],
    tasks: Iterable[T],
    *,
    jobs: int,
    window: int,
) -> Generator[R, None, None]:
    """`function` over `tasks` in `jobs` forked worker processes (a `WorkerPool` of its own),
    results in task order, at most `window` tasks ahead. Closing the iterator cancels what is
    still queued and stops the workers."""
    with WorkerPool(jobs) as pool:
        yield from pool.ordered(function, tasks, window=window)


class WorkerPool:
    """`jobs` worker processes, forked when the pool is made (start it before any thread of
    this process starts: a fork copies no thread, but it copies the locks they hold). Only where
    `can_fork()`: callers run the work in this process elsewhere.

    Each worker has a pipe of its own each way. `ordered` gives each task to the worker with the
    fewest in hand and reads results as they come, by the calling thread itself. No helper
    thread, no shared queue: a result costs one pickle and one pipe transfer, and nothing in
    this process competes with the caller for the GIL.

    Workers ignore SIGINT and SIGTERM (the parent decides how to stop) and exit on their own if
    the parent dies (a `kill -9` of the run must not leave them behind).
    """

    def __init__(self, jobs: int, *, initializer: Callable[[], None] | None = None) -> None:
        if not can_fork():
            raise WorkerError(
                "cannot start worker processes: this platform cannot fork them",
                hint="re-run with --jobs 1",
            )
        self.jobs = jobs
        self._workers: list[_Worker] = []
        _open_pools.add(self)
        context = multiprocessing.get_context("fork")
        try:
            for _ in range(jobs):
                tasks_in, tasks_out = context.Pipe(duplex=False)
                results_in, results_out = context.Pipe(duplex=False)
                _widen(tasks_out)
                _widen(results_out)
                # A worker must hold no other worker's pipe ends, or closing the parent's end
                # would not reach the worker at the other end (EOF, EPIPE).
                others = [end for w in self._workers for end in (w.tasks, w.results)]
                others.append(tasks_out)
                others.append(results_in)
                process = context.Process(
                    target=_worker_main,
                    args=(tasks_in, results_out, others, os.getpid(), initializer),
                    daemon=True,
                )
                process.start()
                tasks_in.close()
                results_out.close()
                self._workers.append(_Worker(process, tasks_out, results_in))
            for worker in self._workers:
                worker.receive()  # each worker answers once it is up (its initializer done)
        except (OSError, WorkerError) as error:
            self.close()
            raise WorkerError(
                f"cannot start {jobs} worker processes ({error})", hint="re-run with --jobs 1"
            ) from error

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers: each is asked to exit, and one that does not (it is busy with a
        task nobody will read) is killed: workers ignore SIGTERM."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.tasks.send_bytes(_STOP)
            worker.tasks.close()
            worker.results.close()  # a worker writing a result nobody reads gets EPIPE
        deadline = time.monotonic() + _STOP_SECONDS
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()  # it ignores SIGTERM
                worker.process.join()
        self._workers = []
        _open_pools.discard(self)

    def ordered(
        self,
        function: Callable[[T], R],
        tasks: Iterable[T],
        *,
        window: int,
        local: Callable[[T], R] | None = None,
    ) -> Generator[R, None, None]:
        """`function` over `tasks`, results in task order, with at most `window` tasks
        (and at most 16 per worker) submitted and not yet consumed: memory stays bounded
        however many tasks there are. Closing the iterator early stops the pool (its workers
        may be busy with tasks nobody will read).

        A task goes to the worker with the fewest in hand, each holding at most `_DEPTH` (the
        one it works on and the next ones, so that it never waits for this process), and
        results are read as soon as they come: a worker that gets less CPU (it shares a core
        with this process, or with anything else) takes fewer tasks, instead of holding up
        the others once they are a window ahead of it.

        With `local` (the same work as `function`, in this process), the calling thread does
        not wait for a result while there is a task it could run: when every worker holds its
        tasks and the next result is not in yet, it runs the next task itself. Its result, or
        its exception, is given out in task order like any other."""
        if not self._workers:  # closed (by an earlier `ordered` left early): nothing would run
            raise WorkerError("the worker pool is closed", hint="start a new run")
        run = _OrderedRun(self._workers, function, iter(tasks), window, local)
        finished = False
        try:
            while True:
                run.read_in()
                run.hand_out()
                if run.given in run.arrived:
                    ok, value = run.arrived.pop(run.given)
                    if not ok:
                        raise value
                    run.given += 1
                    yield value
                elif run.given == run.sent:  # every task given back (the tasks ran out)
                    break
                elif run.may_run_here():
                    # Every worker holds its tasks and the next result is not in: run one here.
                    run.run_here()
            finished = True
        finally:
            if not finished:
                self.close()


class _OrderedRun:
    """The state of one `WorkerPool.ordered`: tasks sent (numbered in order), results read in
    and not yet given out, and what each worker holds."""

    def __init__(
        self,
        workers: list[_Worker],
        function: Callable[[Any], Any],
        source: Iterator[Any],
        window: int,
        local: Callable[[Any], Any] | None,
    ) -> None:
        self.workers, self.function, self.source, self.local = workers, function, source, local
        jobs = len(workers)
        self.window = max(1, min(window, _MAX_IN_FLIGHT * jobs))
        self.depth = min(_DEPTH, -(-self.window // jobs))
        self.in_hand: list[collections.deque[int]] = [collections.deque() for _ in workers]
        self.arrived: dict[int, tuple[bool, Any]] = {}  # read in, by task number, not given out
        self.sent = self.given = 0
        self.exhausted = False
        self.ready = select.poll()
        self.by_fd = {}
        for number, worker in enumerate(workers):
            fd = worker.results.fileno()
            self.ready.register(fd, select.POLLIN)
            self.by_fd[fd] = number

    def may_run_here(self) -> bool:
        return (
            self.local is not None and not self.exhausted and self.sent - self.given < self.window
        )

    def read_in(self) -> None:
        """Read the results that are in; wait for one only when there is nothing to give out
        and nothing to run here."""
        if self.sent == self.given + len(self.arrived):  # no result still to come
            return
        wait = self.given not in self.arrived and not self.may_run_here()
        for fd, _ in self.ready.poll(None if wait else 0):
            number = self.by_fd[fd]
            worker, held = self.workers[number], self.in_hand[number]
            if not held:  # the pipe closed under an idle worker
                raise worker.died(EOFError())
            self.arrived[held.popleft()] = worker.receive_raw()

    def hand_out(self) -> None:
        """Send tasks to the workers holding the fewest, up to `depth` each, within the window."""
        in_hand = self.in_hand
        while not self.exhausted and self.sent - self.given < self.window:
            number = min(range(len(in_hand)), key=lambda n: len(in_hand[n]))
            if len(in_hand[number]) >= self.depth:
                return
            task = next(self.source, _NO_TASK)
            if task is _NO_TASK:
                self.exhausted = True
                return
            self.workers[number].send(self.function, task)
            in_hand[number].append(self.sent)
            self.sent += 1

    def run_here(self) -> None:
        """Run the next task in this thread; its exception is raised in its turn, as a
        worker's would be."""
        assert self.local is not None
        task = next(self.source, _NO_TASK)
        if task is _NO_TASK:
            self.exhausted = True
            return
        try:
            self.arrived[self.sent] = (True, self.local(task))
        except Exception as error:
            self.arrived[self.sent] = (False, error)
        self.sent += 1


_NO_TASK: Any = object()

# Pools not closed yet. At exit, multiprocessing joins every child it started after sending it
# SIGTERM, which workers ignore: a pool still open then would hang the exit. This handler,
# registered after multiprocessing's, runs before it.
_open_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_open_pools() -> None:
    for pool in list(_open_pools):
        pool.close()


_STOP = b""  # the message that asks a worker to exit
_STOP_SECONDS = 2.0
_PIPE_BYTES = 1 << 20  # a worker's whole result fits: it never waits for the parent to read
_MAX_IN_FLIGHT = 16  # tasks per worker submitted and not yet consumed: bounds what is held
_DEPTH = 3  # tasks a worker holds at most: a few hundred bytes each, its task pipe never fills


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    tasks: Connection
    results: Connection

    def send(self, function: Callable[[Any], Any], task: Any) -> None:
        try:
            self.tasks.send_bytes(pickle.dumps((function, task), pickle.HIGHEST_PROTOCOL))
        except OSError as error:
            raise self.died(error) from error

    def receive_raw(self) -> tuple[bool, Any]:
        """The next result: (True, value), or (False, the exception the task raised)."""
        try:
            answer: tuple[bool, Any] = pickle.loads(self.results.recv_bytes())
        except (OSError, EOFError) as error:
            raise self.died(error) from error
        return answer

    def receive(self) -> Any:
        ok, value = self.receive_raw()
        if not ok:
            raise value
        return value

    def died(self, error: BaseException) -> WorkerError:
        self.process.join(_STOP_SECONDS)
        code = self.process.exitcode
        how = f"exit code {code}" if code is not None else type(error).__name__
        return WorkerError(
            f"a worker process died ({how})",
            hint="the system may have run out of memory; re-run with fewer --jobs "
            "(with --checkpoint the run resumes where it stopped)",
        )


def _widen(connection: Connection) -> None:
    """Make a pipe hold a whole result (Linux; elsewhere the default size only costs waits)."""
    try:
        import fcntl  # POSIX only; imported here so that `import cdpcli` works without it
    except ImportError:
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(connection.fileno(), set_size, _PIPE_BYTES)


def _worker_main(
    tasks: Connection,
    results: Connection,
    others: list[Connection],
    parent: int,
    initializer: Callable[[], None] | None,
) -> None:
    """A worker's life: answer that it is up, then run tasks until told to stop (or until the
    parent closes its end of either pipe)."""
    for end in others:
        end.close()
    # A Ctrl-C, or a SIGTERM sent to the whole process group, is the parent's to act on: it
    # stops between two events and then stops the workers (a worker killed by it would break
    # the pool instead).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if initializer is not None:
        initializer()
    results.send_bytes(pickle.dumps((True, None)))
    while True:
        try:
            message = tasks.recv_bytes()
        except (EOFError, OSError):
            return
        if message == _STOP:
            return
        function, task = pickle.loads(message)
        try:
            answer = pickle.dumps((True, function(task)), pickle.HIGHEST_PROTOCOL)
        except BaseException as error:  # whatever it is, the parent raises it
            answer = _failure(error)
        try:
            results.send_bytes(answer)
        except OSError:  # the parent stopped reading: it is closing the pool
            return


def _failure(error: BaseException) -> bytes:
    try:
        return pickle.dumps((False, error), pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle still reaches the parent
        return pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)
