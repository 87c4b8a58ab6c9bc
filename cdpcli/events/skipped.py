"""The files a directory walk (or a prefix listing) leaves out because they are not event files,
counted by suffix, so that a folder of `.parquet` or `.csv` files is never silently read as
empty: `archive/: skipped 3 files that are not event files (.csv 2, .parquet 1)`."""

from __future__ import annotations

from collections import Counter

NO_SUFFIX = "no suffix"


class SkippedFiles:
    """The suffixes of the files one walk skipped."""

    def __init__(self) -> None:
        self.suffixes: Counter[str] = Counter()

    def add(self, name: str) -> None:
        self.suffixes[suffix_of(name)] += 1

    @property
    def count(self) -> int:
        return sum(self.suffixes.values())

    def describe(self) -> str:
        """`3 files that are not event files (.csv 2, .parquet 1)`."""
        count = self.count
        kinds = ", ".join(
            f"{suffix} {n}"
            for suffix, n in sorted(self.suffixes.items(), key=lambda item: (-item[1], item[0]))
        )
        files = "1 file that is not an event file" if count == 1 else f"{count:,} files that are"
        if count != 1:
            files += " not event files"
        return f"{files} ({kinds})"

    def note(self, where: str) -> str | None:
        """The note for the user, or None when nothing was skipped."""
        if not self.count:
            return None
        return f"{where}: skipped {self.describe()}"


def suffix_of(name: str) -> str:
    """The suffix a skipped file is counted under: `.csv`, `.tar.gz`, or `no suffix`."""
    base = name.rsplit("/", 1)[-1].lower()
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem or not suffix:
        return NO_SUFFIX
    if suffix == "gz":
        inner_stem, inner_dot, inner = stem.rpartition(".")
        if inner_dot and inner_stem:
            return f".{inner}.gz"
    return f".{suffix}"
