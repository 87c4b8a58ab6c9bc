"""A command run with no PATH while stdin is a terminal: a usage error (exit 2) whose hint shows
how to run *that* command, not another one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.paths import REPO as ROOT

EXAMPLE = ROOT / "config.example.yaml"

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def run_on_terminal(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m cdpcli ARGS` with stdin a pseudo-terminal (nothing piped in)."""
    primary, secondary = os.openpty()
    try:
        return subprocess.run(
            [sys.executable, "-m", "cdpcli", *args],
            stdin=secondary,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(primary)
        os.close(secondary)


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (
            ("send", "-c", str(EXAMPLE)),
            "e.g. `cdpcli send events.jsonl -c cdpcli.yaml` or "
            "`cat events.jsonl | cdpcli send -c cdpcli.yaml`",
        ),
        (
            ("send", "--dry-run", "-c", str(EXAMPLE)),
            "e.g. `cdpcli send events.jsonl -c cdpcli.yaml` or "
            "`cat events.jsonl | cdpcli send -c cdpcli.yaml`",
        ),
        (("inspect",), "e.g. `cdpcli inspect events.jsonl` or `cat events.jsonl | cdpcli inspect`"),
        (
            ("validate",),
            "e.g. `cdpcli validate events.jsonl` or `cat events.jsonl | cdpcli validate`",
        ),
    ],
)
def test_no_input_names_the_command_and_exits_2(args: tuple[str, ...], example: str) -> None:
    result = run_on_terminal(*args)
    assert result.returncode == 2, result.stderr
    assert "no input: give one or more PATHs" in result.stderr
    assert f"hint: {example}" in result.stderr, result.stderr
    assert result.stdout == ""
