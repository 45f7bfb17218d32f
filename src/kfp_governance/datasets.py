"""Data sets that ship with the package (no download at run time)."""

from __future__ import annotations

from pathlib import Path

_DATA = Path(__file__).parent / "data"


def adult_csv_path() -> Path:
    """Path of the bundled UCI Adult CSV (gzip), 32,561 rows; see ``data/ATTRIBUTION.md``.

    >>> adult_csv_path().name
    'adult.csv.gz'
    """
    return _DATA / "adult.csv.gz"
