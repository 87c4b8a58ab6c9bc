"""Which config file a command uses (`find_config`), and the starter config."""

from __future__ import annotations

from pathlib import Path

import pytest

import cdpcli
from tests.paths import REPO

EXAMPLE = REPO / "config.example.yaml"


def test_no_config_anywhere_is_none_or_an_error_when_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cdpcli.find_config(None, env={}) is None
    with pytest.raises(cdpcli.ConfigError, match=r"no config file: none given and no cdpcli\.yaml"):
        cdpcli.find_config(None, required=True, env={})


def test_the_option_then_the_environment_then_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdpcli.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"))
    other = tmp_path / "other.yaml"
    other.write_text(EXAMPLE.read_text(encoding="utf-8"))
    found = cdpcli.find_config(None, env={})
    assert found is not None and found.path == Path("cdpcli.yaml")
    assert cdpcli.find_config(None, env={"CDPCLI_CONFIG": str(other)}).path == other  # type: ignore[union-attr]
    assert cdpcli.find_config(other, required=True, env={}).path == other


def test_a_named_config_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(cdpcli.ConfigError):
        cdpcli.find_config(tmp_path / "nope.yaml", env={})
    with pytest.raises(cdpcli.ConfigError):
        cdpcli.find_config(None, env={"CDPCLI_CONFIG": str(tmp_path / "nope.yaml")})


def test_the_starter_config_is_the_example_and_loads(tmp_path: Path) -> None:
    assert cdpcli.starter_config() == EXAMPLE.read_text(encoding="utf-8")
    written = cdpcli.write_starter_config(tmp_path / "new.yaml")
    assert written.read_text(encoding="utf-8") == cdpcli.starter_config()
    assert len(cdpcli.load_config(written).routes) == 3


def test_the_starter_config_never_overwrites_without_force(tmp_path: Path) -> None:
    target = tmp_path / "cdpcli.yaml"
    target.write_text("mine\n")
    with pytest.raises(cdpcli.UsageError, match="already exists; not overwriting it"):
        cdpcli.write_starter_config(target)
    assert target.read_text() == "mine\n"
    cdpcli.write_starter_config(target, force=True)
    assert target.read_text(encoding="utf-8") == cdpcli.starter_config()
    with pytest.raises(cdpcli.UsageError, match="is a directory"):
        cdpcli.write_starter_config(tmp_path)
