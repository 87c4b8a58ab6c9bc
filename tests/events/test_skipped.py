"""Files a directory walk skips are reported once per run, by suffix, so that a folder of
`.parquet` or `.csv` files is never silently read as empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app
from cdpcli.errors import InputError
from cdpcli.events.reader import find_inputs, resolve_inputs
from cdpcli.events.skipped import SkippedFiles, suffix_of
from tests.paths import REPO

EVENT = (
    '{"type":"track","event":"A","userId":"u","messageId":"m","timestamp":"2024-05-14T09:21:07Z"}\n'
)


def make(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EVENT if name.endswith((".jsonl", ".gz")) else "a,b\n")


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("users.csv", ".csv"),
        ("PART-0.PARQUET", ".parquet"),
        ("dump.tar.gz", ".tar.gz"),
        ("rows.csv.gz", ".csv.gz"),
        ("README", "no suffix"),
        ("notes.", "no suffix"),
    ],
)
def test_a_skipped_file_is_counted_by_its_suffix(name: str, suffix: str) -> None:
    assert suffix_of(name) == suffix


def test_the_note_says_how_many_and_which_suffixes_most_first() -> None:
    skipped = SkippedFiles()
    assert skipped.note("x/") is None
    skipped.add("a.parquet")
    assert skipped.note("x/") == "x/: skipped 1 file that is not an event file (.parquet 1)"
    for name in ("b.csv", "c.csv", "d.txt", "e.txt", "f.txt"):
        skipped.add(name)
    assert skipped.note("x/") == (
        "x/: skipped 6 files that are not event files (.txt 3, .csv 2, .parquet 1)"
    )


def test_a_walk_notes_what_it_skipped_once_per_directory(tmp_path: Path) -> None:
    make(tmp_path / "a", ["1.jsonl", "users.csv", "sub/2.gz", "sub/orders.csv", "p.parquet"])
    make(tmp_path / "b", ["3.jsonl"])
    make(tmp_path / "a", [".DS_Store", ".git/x.csv"])  # hidden: neither read nor counted
    found = find_inputs([str(tmp_path / "a"), str(tmp_path / "b")])
    assert [Path(f.name).name for f in found.files] == ["1.jsonl", "2.gz", "3.jsonl"]
    assert found.notes == (
        f"{tmp_path / 'a'}: skipped 3 files that are not event files (.csv 2, .parquet 1)",
    )
    assert resolve_inputs([str(tmp_path / "b")]) == find_inputs([str(tmp_path / "b")]).files


def test_a_directory_of_other_files_says_what_it_holds(tmp_path: Path) -> None:
    make(tmp_path, ["a.parquet", "b.parquet", "c.csv"])
    with pytest.raises(InputError) as raised:
        find_inputs([str(tmp_path)])
    assert raised.value.message == (
        f"{tmp_path}: directory holds no event files "
        "(skipped 3 files that are not event files (.parquet 2, .csv 1))"
    )


@pytest.mark.parametrize("command", ["validate", "inspect", "send"])
def test_every_command_prints_the_note_on_stderr(tmp_path: Path, command: str) -> None:
    make(tmp_path, ["1.jsonl", "export.csv"])
    args = [command, str(tmp_path)]
    if command == "send":
        args += ["-c", str(REPO / "config.example.yaml"), "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    note = f"note: {tmp_path}: skipped 1 file that is not an event file (.csv 1)"
    assert result.stderr.count(note) == 1
    assert note not in result.stdout
    quiet = CliRunner().invoke(app, [*args, "--quiet"])
    assert "note:" not in quiet.stderr
