"""Processes in tests: checks for worker processes (Linux /proc), and a command's stderr as a
terminal shows it."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path

from tests.paths import REPO


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
"""Terminal control sequences (colours, cursor moves, carriage returns) that a display writes."""


def stderr_of(argv: list[str], env: dict[str, str], *, terminal: bool) -> tuple[int, str]:
    """Run `argv` (cwd the repository) with stderr a pseudo-terminal, or a pipe: its exit code
    and its stderr, terminal control sequences removed. Stdout and stdin are /dev/null."""
    if not terminal:
        done = subprocess.run(argv, check=False, cwd=REPO, env=env, capture_output=True, timeout=60)
        return done.returncode, done.stderr.decode()
    import pty  # POSIX only

    parent, child = pty.openpty()
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=child, stdin=subprocess.DEVNULL
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(parent)
    code = process.wait(timeout=10)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
