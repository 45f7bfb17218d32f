"""Reading a split written by ``load_data`` into features and a 0/1 label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kfp_governance.errors import DataError


def read_split(path: str | Path, what: str = "dataset") -> pd.DataFrame:
    """Read a Parquet split; raise :class:`DataError` if it is missing or has no rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {str(path)!r} does not exist", fix="pass the output of load_data")
    frame = pd.read_parquet(path)
    if frame.empty:
        raise DataError(f"{what} file {str(path)!r} has no rows", fix="check the split fraction and the source data")
    return frame


def features_and_label(frame: pd.DataFrame, features: list[str], label: str, positive_label: str,
                       what: str = "dataset") -> tuple[pd.DataFrame, np.ndarray]:
    """The feature columns and ``y`` (1 where the label equals ``positive_label``)."""
    missing = [c for c in features + [label] if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}",
                        fix="train and evaluate on splits with the same columns")
    y = (frame[label].astype(str) == str(positive_label)).to_numpy().astype(np.int8)
    return frame[features], y


def column_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Split columns into numeric (incl. bool) and categorical (everything else)."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    return numeric, categorical
