"""Load a CSV or Parquet file and split it, stratified by label, into train and eval.

The split is deterministic for a given seed, and the sha256 of the source is
recorded so every later artifact can name exactly which bytes it came from.

>>> from kfp_governance.config import default_config
>>> from kfp_governance.executors.load_data import load_data
>>> import tempfile, os
>>> out = tempfile.mkdtemp()
>>> cfg = default_config()
>>> result = load_data(cfg.data, cfg.split, os.path.join(out, "train"), os.path.join(out, "eval"))
>>> result.rows, result.train_rows + result.eval_rows
(32561, 32561)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_governance.config import DataConfig, SplitConfig
from kfp_governance.errors import DataError
from kfp_governance.sources import open_source, sha256_uri, source_size

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    source_uri: str
    source_sha256: str
    format: str
    rows: int
    train_rows: int
    eval_rows: int
    label: str
    positive_label: str
    features: list[str]
    protected_attributes: list[str]
    columns: list[str]
    positive_rate_train: float
    positive_rate_eval: float
    split_seed: int
    eval_fraction: float
    label_values: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return asdict(self)


def read_table(data: DataConfig):
    """Read the whole source as an Arrow table, the label column as text.

    Raises :class:`DataError` for a missing, empty or unparseable file.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    size = source_size(data.uri)
    if size == 0:
        raise DataError(f"data.uri {data.uri!r} is empty (0 bytes)", fix="point data.uri at a file with a header and rows")
    fmt = data.resolved_format()
    try:
        with open_source(data.uri, random_access=fmt == "parquet") as raw:
            if fmt == "parquet":
                table = pq.read_table(raw)
            else:
                stream = pa.CompressedInputStream(raw, "gzip") if data.uri.lower().endswith(".gz") else raw
                convert = pacsv.ConvertOptions(
                    null_values=list(pacsv.ConvertOptions().null_values) + list(data.na_values),
                    strings_can_be_null=True,
                    column_types={data.label: pa.string()},
                )
                table = pacsv.read_csv(stream, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as err:
        message = str(err).splitlines()[0]
        if "Empty CSV file" in message:
            raise DataError(f"data.uri {data.uri!r} is empty", fix="point data.uri at a file with a header and rows") from None
        raise DataError(f"cannot read data.uri {data.uri!r} as {fmt}: {message}",
                        fix="check data.format and the file's contents") from None
    if table.num_rows == 0:
        raise DataError(f"data.uri {data.uri!r} has a header but no rows", fix="point data.uri at a file with rows")
    return table


def check_columns(data: DataConfig, columns: list[str]) -> list[str]:
    """Return the feature list; raise :class:`DataError` naming any configured column that is absent."""
    available = ", ".join(columns)
    if data.label not in columns:
        raise DataError(f"label column {data.label!r} (data.label) is not in the data; columns are: {available}",
                        fix="set data.label to one of those columns")
    features = data.features if data.features is not None else [c for c in columns if c != data.label]
    missing = [f for f in features if f not in columns]
    if missing:
        raise DataError(f"feature column(s) {missing} (data.features) are not in the data; columns are: {available}",
                        fix="remove them from data.features or correct their spelling")
    if not features:
        raise DataError("the data has no feature columns besides the label", fix="add feature columns to the data")
    absent = [p.name for p in data.protected_attributes if p.name not in columns]
    if absent:
        raise DataError(
            f"protected attribute(s) {absent} (data.protected_attributes) are not in the data; columns are: {available}",
            fix="correct the attribute names or remove them from data.protected_attributes",
        )
    return features


def binary_label(labels, positive_label: str, what: str = "data.label") -> np.ndarray:
    """1 where the label equals ``positive_label`` (compared as text), else 0.

    Raises :class:`DataError` if the label has one class only, or nulls.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(labels, (pa.Array, pa.ChunkedArray)):
        if labels.null_count:
            raise DataError(f"{what} has {labels.null_count} missing value(s)",
                            fix="drop or fill the rows whose label is missing")
        text = pc.cast(labels, pa.string())
        y = np.asarray(pc.equal(text, positive_label)).astype(np.int8)
        values = pc.unique(text).to_pylist()
    else:
        text = labels.astype(str)
        y = (text == positive_label).to_numpy().astype(np.int8)
        values = list(text.unique())
    if len(values) < 2:
        raise DataError(f"{what} has one class only ({values[0]!r}); a classifier needs two",
                        fix="use data with both outcomes")
    if positive_label not in values:
        raise DataError(f"data.positive_label {positive_label!r} never occurs in the label; values are {sorted(values)[:10]}",
                        fix="set data.positive_label to one of those values")
    return y


def stratified_split(y: np.ndarray, eval_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of eval rows: per class, a seeded random ``eval_fraction`` (at least one row each side).

    >>> y = np.array([0] * 8 + [1] * 2)
    >>> mask = stratified_split(y, 0.5, seed=1)
    >>> int(mask.sum()), int(y[mask].sum())
    (5, 1)
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    mask = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        index = np.flatnonzero(y == cls)
        if len(index) < 2:
            raise DataError(f"class {cls} of the label has {len(index)} row(s); each class needs at least 2 to split",
                            fix="use more data")
        n_eval = int(round(len(index) * eval_fraction))
        n_eval = min(max(n_eval, 1), len(index) - 1)
        mask[rng.permutation(index)[:n_eval]] = True
    return mask


def load_data(data: DataConfig, split: SplitConfig, train_path: str | Path, eval_path: str | Path) -> LoadResult:
    """Read ``data.uri``, check it against the config, write train and eval Parquet files."""
    import pyarrow.parquet as pq

    log.info("reading %s", data.uri)
    table = read_table(data)
    columns = table.column_names
    features = check_columns(data, columns)
    y = binary_label(table.column(data.label), data.positive_label)
    keep = list(dict.fromkeys(features + [p.name for p in data.protected_attributes] + [data.label]))
    table = table.select(keep)
    eval_mask = stratified_split(y, split.eval_fraction, split.seed)
    import pyarrow as pa

    train = table.filter(pa.array(~eval_mask))
    evaluation = table.filter(pa.array(eval_mask))
    for path, part in ((train_path, train), (eval_path, evaluation)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, str(path))
    source_hash = sha256_uri(data.uri)
    log.info("split %d rows into %d train / %d eval (seed %d)", table.num_rows, train.num_rows,
             evaluation.num_rows, split.seed)
    import pyarrow.compute as pc

    return LoadResult(
        source_uri=data.uri,
        source_sha256=source_hash,
        format=data.resolved_format(),
        rows=table.num_rows,
        train_rows=train.num_rows,
        eval_rows=evaluation.num_rows,
        label=data.label,
        positive_label=data.positive_label,
        features=features,
        protected_attributes=[p.name for p in data.protected_attributes],
        columns=keep,
        positive_rate_train=float(y[~eval_mask].mean()),
        positive_rate_eval=float(y[eval_mask].mean()),
        split_seed=split.seed,
        eval_fraction=split.eval_fraction,
        label_values=sorted(pc.unique(pc.cast(table.column(data.label), "string")).to_pylist()),
    )
