"""The commented starter config (`cdpcli config init`, PRODUCT.md §5): two destinations and three
example routes, shipped in `cdpcli/data/config.example.yaml` (the repository's
`config.example.yaml` is the same file)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cdpcli.errors import UsageError


def starter_config() -> str:
    """The text of the commented starter config shipped with the package."""
    return (
        resources.files("cdpcli")
        .joinpath("data", "config.example.yaml")
        .read_text(encoding="utf-8")
    )


def write_starter_config(path: str | Path, *, force: bool = False) -> Path:
    """Write the starter config to a new file at `path` (over an existing one only with `force`);
    returns the path written. Raises UsageError (exit 2) when `path` exists (without `force`), is
    a directory, or cannot be written."""
    target = Path(path)
    text = starter_config()
    if target.is_dir():
        raise UsageError(f"{target} is a directory", hint="give a file path, e.g. cdpcli.yaml")
    try:
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(
            f"{target} already exists; not overwriting it",
            hint="pass --force to overwrite, or give another PATH",
        ) from None
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    return target
