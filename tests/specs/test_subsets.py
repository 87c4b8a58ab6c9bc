"""The committed spec subsets (tests/specs/*.subset.openapi.yaml) are what `extract.py` makes of the
vendors' files kept in tests/specs/vendor, and those files are the ones SOURCE.md names."""

from __future__ import annotations

import pytest
import yaml

from tests.paths import SPECS, VENDOR_SPECS
from tests.specs import extract


@pytest.mark.parametrize("name", extract.SUBSETS)
def test_committed_subset_is_what_the_extractor_makes(name: str) -> None:
    source, paths = extract.SUBSETS[name]
    made = extract.render(VENDOR_SPECS / source, paths)
    committed = (SPECS / name).read_text(encoding="utf-8")
    assert yaml.safe_load(committed) == yaml.safe_load(made), "re-run tests/specs/extract.py"
    assert committed.splitlines()[:2] == made.splitlines()[:2]  # the header names the source


@pytest.mark.parametrize("name", extract.SUBSETS)
def test_source_is_the_file_source_md_names(name: str) -> None:
    source, _ = extract.SUBSETS[name]
    digest = extract.sha256(VENDOR_SPECS / source)
    rows = [
        line
        for line in (SPECS / "SOURCE.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(f"| {source} |")
    ]
    assert len(rows) == 1, f"SOURCE.md names {source} once"
    assert digest in rows[0], f"{source} changed since SOURCE.md: update it and re-run extract.py"


@pytest.mark.parametrize("name", extract.SUBSETS)
def test_subset_keeps_every_component_it_references(name: str) -> None:
    """Every `$ref` of a committed subset resolves inside it."""
    document = yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))
    _, paths = extract.SUBSETS[name]
    assert list(document["paths"]) == list(paths)
    refs = list(extract._refs(document))
    assert refs
    for ref in refs:
        kind, component = extract._component(ref)
        assert component in document["components"][kind], ref
