"""Run a command as a child process and report its wall time, CPU time and peak memory.

CPU time is the kernel's rusage of the child, which includes the worker processes it waited for.
Memory is sampled every 100 ms over the whole process tree (the child and its descendants, such as
`--jobs` workers), because the kernel's peak RSS is that of one process only:

- `peak_rss_mb`: the peak of the sum of the processes' RSS (shared pages counted once per process,
  so forked workers make it an over-estimate), and never below the kernel's figure for the child;
- `peak_pss_mb`: the peak of the sum of their PSS (shared pages split between the processes that
  share them): the memory the run really holds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1  # the sampler shares the cores with what it measures: keep it light


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    returncode: int
    peak_pss_mb: float = 0.0
    processes: int = 1  # the most processes seen at once in the tree
    killed: bool = False  # stopped (SIGKILL) after the `seconds` it was given


def run(
    argv: list[str],
    *,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    seconds: float | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Run:
    """Run `argv` to completion, or kill it after `seconds`, sampling the memory of its process
    tree."""
    start = time.perf_counter()
    # preexec_fn (an rlimit): no thread of ours runs at the fork, the sampler starts after it
    process = subprocess.Popen(
        argv,
        stdout=stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        preexec_fn=preexec_fn,  # noqa: PLW1509
    )
    sampler = _Sampler(process.pid)
    sampler.start()
    timer = threading.Timer(seconds, process.kill) if seconds is not None else None
    if timer is not None:
        timer.start()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if timer is not None:
        timer.cancel()
    killed = timer is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
    sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=elapsed,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=max(sampler.peak_rss_kb, usage.ru_maxrss) / 1024,
        returncode=process.returncode,
        peak_pss_mb=sampler.peak_pss_kb / 1024,
        processes=sampler.processes,
        killed=killed,
    )


class _Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.processes = 1
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        while not self._done.is_set():
            pids = _tree(self.root)
            rss = pss = 0
            for pid in pids:
                rss += _field_kb(Path(f"/proc/{pid}/status"), "VmRSS:")
                pss += _field_kb(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.processes = max(self.processes, len(pids))
            self._done.wait(SAMPLE_SECONDS)


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc/PID/task/TID/children (Linux)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            todo.extend(int(child) for child in children)
    return found


def _field_kb(path: Path, name: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def compile_package() -> str:
    """Write cdpcli's bytecode (`__pycache__`), as `pip install` does, so that a timed run does
    not compile the package's sources at start-up: where PYTHONDONTWRITEBYTECODE is set (some
    sandboxes and containers), an editable install never keeps them, and every timed run would
    recompile the package first. Returns a line saying what was done."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("cdpcli")
    assert spec is not None and spec.submodule_search_locations, "cdpcli is not installed"
    package = next(iter(spec.submodule_search_locations))
    ok = compileall.compile_dir(package, quiet=1)
    return f"bytecode of {package}: {'written' if ok else 'NOT written (start-up compiles it)'}"
