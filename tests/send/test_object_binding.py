"""A checkpoint over objects is bound to each object's ETag (or generation) and size: a resume
over an object that changed since is refused, naming it (PRODUCT.md §3.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpcli import jsonio
from cdpcli.errors import ExitCode, UsageError
from cdpcli.send.checkpoint import Checkpoint

URL = "s3://archive/segment-logs/src/1714521600000/a.gz"
THEN = {"etag": "9b2cf535f27731c974343645a3985328", "size": 1200}


def test_the_objects_are_saved_and_a_resume_over_the_same_ones_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    Checkpoint(path, "f", objects={URL: THEN}).save({URL: 17})
    assert jsonio.loads(path.read_bytes())["objects"] == {URL: THEN}
    assert Checkpoint(path, "f", objects={URL: dict(THEN)}).load() == {URL: 17}


@pytest.mark.parametrize(
    "now",
    [
        {"etag": "0cc175b9c0f1b6a831c399e269772661", "size": 1200},
        {"etag": THEN["etag"], "size": 1201},
        {**THEN, "version": "1714521600000001"},
    ],
)
def test_a_changed_object_is_refused_naming_it(tmp_path: Path, now: dict[str, object]) -> None:
    path = tmp_path / "run.ckpt"
    Checkpoint(path, "f", objects={URL: THEN}).save({URL: 17})
    with pytest.raises(UsageError) as refused:
        Checkpoint(path, "f", objects={URL: now}).load()
    assert refused.value.exit_code == ExitCode.USAGE
    assert refused.value.message.startswith(
        f"{URL}: the object changed since the checkpoint {path} was written (ETag {THEN['etag']}"
    )
    assert "delete the checkpoint" in str(refused.value.hint)


def test_a_checkpoint_of_files_has_no_objects(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    Checkpoint(path, "f").save({"a.jsonl": 3})
    assert "objects" not in jsonio.loads(path.read_bytes())
    assert Checkpoint(path, "f").load() == {"a.jsonl": 3}
