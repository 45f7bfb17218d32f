"""load_data: deterministic stratified split, recorded hash, clear errors on bad data."""

from __future__ import annotations

import gzip
import hashlib

import pandas as pd
import pytest

from kfp_governance.config import DataConfig, SplitConfig
from kfp_governance.errors import DataError
from kfp_governance.executors.load_data import load_data


def _write(tmp_path, frame, name="d.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _frame(n=200):
    return pd.DataFrame({"x": range(n), "c": ["a", "b"] * (n // 2), "g": ["m", "f", "f", "m"] * (n // 4),
                         "y": ([1] * (n // 4) + [0] * (3 * n // 4))})


def _run(tmp_path, data, split=SplitConfig()):
    return load_data(data, split, tmp_path / "train.parquet", tmp_path / "eval.parquet")


def test_adult_split_is_stratified_and_hash_recorded(adult_splits, adult_config):
    train, evaluation, result = adult_splits
    assert result.rows == 32561
    assert result.train_rows + result.eval_rows == result.rows
    assert abs(result.eval_rows / result.rows - 0.2) < 1e-3
    assert abs(result.positive_rate_train - result.positive_rate_eval) < 1e-3
    with open(adult_config.data.uri, "rb") as handle:
        raw = handle.read()
    assert result.source_sha256 == hashlib.sha256(raw).hexdigest()
    eval_frame = pd.read_parquet(evaluation)
    assert eval_frame["workclass"].isna().sum() > 0  # '?' became missing
    assert set(eval_frame.columns) == set(result.columns)


def test_split_is_deterministic_per_seed(tmp_path):
    path = _write(tmp_path, _frame())
    data = DataConfig(uri=str(path), label="y", positive_label="1")
    first = pd.read_parquet(_run(tmp_path / "a", data, SplitConfig(seed=7)) and tmp_path / "a" / "eval.parquet")
    second = pd.read_parquet(_run(tmp_path / "b", data, SplitConfig(seed=7)) and tmp_path / "b" / "eval.parquet")
    other = pd.read_parquet(_run(tmp_path / "c", data, SplitConfig(seed=8)) and tmp_path / "c" / "eval.parquet")
    assert first["x"].tolist() == second["x"].tolist()
    assert first["x"].tolist() != other["x"].tolist()


def test_parquet_and_gzip_sources(tmp_path):
    frame = _frame()
    parquet = _write(tmp_path, frame, "d.parquet")
    result = _run(tmp_path / "p", DataConfig(uri=str(parquet), label="y", positive_label="1"))
    assert result.format == "parquet" and result.rows == len(frame)
    gz = tmp_path / "d.csv.gz"
    with gzip.open(gz, "wt") as handle:
        frame.to_csv(handle, index=False)
    result = _run(tmp_path / "g", DataConfig(uri=f"file://{gz}", label="y", positive_label="1"))
    assert result.rows == len(frame)


def test_features_subset_keeps_protected_attributes(tmp_path):
    path = _write(tmp_path, _frame())
    data = DataConfig(uri=str(path), label="y", positive_label="1", features=["x"],
                      protected_attributes=[{"name": "g", "privileged": "m"}])
    result = _run(tmp_path, data)
    assert result.features == ["x"]
    assert list(pd.read_parquet(tmp_path / "train.parquet").columns) == ["x", "g", "y"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text(""), "is empty"),
        (lambda p: p.write_text("x,y\n"), "has a header but no rows"),
    ],
)
def test_missing_or_empty_file(tmp_path, setup, message):
    path = tmp_path / "d.csv"
    setup(path)
    with pytest.raises(DataError, match=message):
        _run(tmp_path, DataConfig(uri=str(path), label="y", positive_label="1"))


@pytest.mark.parametrize(
    "data_kwargs, message",
    [
        ({"label": "income"}, "label column 'income' .* is not in the data; columns are: x, c, g, y"),
        ({"features": ["x", "zz"]}, r"feature column\(s\) \['zz'\]"),
        ({"protected_attributes": [{"name": "race", "privileged": "w"}]}, r"protected attribute\(s\) \['race'\]"),
        ({"positive_label": "yes"}, "data.positive_label 'yes' never occurs"),
    ],
)
def test_configured_columns_must_exist(tmp_path, data_kwargs, message):
    path = _write(tmp_path, _frame())
    data = DataConfig(**{"uri": str(path), "label": "y", "positive_label": "1", **data_kwargs})
    with pytest.raises(DataError, match=message):
        _run(tmp_path, data)


def test_label_with_one_class(tmp_path):
    frame = _frame().assign(y=1)
    path = _write(tmp_path, frame)
    with pytest.raises(DataError, match="has one class only"):
        _run(tmp_path, DataConfig(uri=str(path), label="y", positive_label="1"))
