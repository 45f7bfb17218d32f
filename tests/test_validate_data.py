"""validate_data against real TFDV (no mocks): statistics, anomalies, drift, report, errors.

Tolerances for the streamed statistics, compared with
``tfdv.generate_statistics_from_dataframe`` on the same data:

- exact: number of examples, and per feature the type, non-missing, missing,
  min/max/total value counts, zeros, min, max, unique values, top values and
  the rank histogram;
- mean and standard deviation: relative 1e-9 (summation order differs);
- quantiles (median, quantile histogram boundaries) and histogram bucket
  counts come from TFDV's approximate quantile sketch (epsilon 0.01) fed in
  different batches: each boundary may differ by at most 0.01 in rank (the
  share of values below it) and each bucket count by at most 1% of the
  rows. On the data below they are in fact identical.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kfp_governance.config import DriftThresholds
from kfp_governance.errors import ConfigError, DataError

RANK_TOLERANCE = 0.01
COUNT_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def tfdv():
    """TFDV, imported once for the module (the import takes 10-30 s)."""
    import tensorflow_data_validation

    return tensorflow_data_validation


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Numeric and categorical columns with nulls (floats as NaN, strings as None)."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "lyon", "nice", "lille", "nantes"], rows, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    return pd.DataFrame({
        "income": np.where(rng.random(rows) < 0.1, np.nan, rng.lognormal(10, 1, rows)),
        "age": rng.integers(18, 90, rows),
        "score": np.where(rng.random(rows) < 0.02, np.nan, rng.normal(0, 1, rows)),
        "city": pd.Series(np.where(rng.random(rows) < 0.05, None, city), dtype=object),
        "plan": pd.Series(rng.choice(["basic", "plus", "pro"], rows), dtype=object),
        "active": rng.random(rows) < 0.3,
        "label": pd.Series(rng.choice(["yes", "no"], rows, p=[0.3, 0.7]), dtype=object),
    })


def write_parquet(frame: pd.DataFrame, path) -> str:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), str(path))
    return str(path)


def run(tmp_path, train, evaluation, name: str = "out", **kwargs):
    from kfp_governance.executors.validate_data import validate_data

    out = tmp_path / name
    return validate_data(
        train, evaluation, label=kwargs.pop("label", "label"),
        train_statistics_path=out / "train_stats.pb", eval_statistics_path=out / "eval_stats.pb",
        schema_path=out / "schema.pbtxt", anomalies_path=out / "anomalies.json",
        report_path=out / "report.html", **kwargs)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, tfdv):
    """A train/eval pair from one distribution, and the result of validating it."""
    folder = tmp_path_factory.mktemp("clean")
    train = write_parquet(make_frame(3000, seed=1), folder / "train.parquet")
    evaluation = write_parquet(make_frame(1000, seed=2), folder / "eval.parquet")
    return train, evaluation, run(folder, train, evaluation, batch_rows=700)


# --- statistics -----------------------------------------------------------------------------------


def _features(stats):
    return {".".join(f.path.step): f for f in stats.datasets[0].features}


def _common(feature):
    return feature.num_stats.common_stats if feature.HasField("num_stats") else feature.string_stats.common_stats


def _rank(sorted_values: np.ndarray, value: float) -> float:
    return np.searchsorted(sorted_values, value, side="right") / len(sorted_values)


def test_streamed_statistics_equal_tfdv_dataframe(tmp_path, tfdv):
    from kfp_governance.validation.statistics import statistics_from_file

    frame = make_frame(20_000, seed=3)
    path = write_parquet(frame, tmp_path / "data.parquet")
    ours = statistics_from_file(path, batch_rows=3000)  # 7 record batches
    reference = tfdv.generate_statistics_from_dataframe(frame)

    assert ours.datasets[0].num_examples == reference.datasets[0].num_examples == 20_000
    mine, theirs = _features(ours), _features(reference)
    assert sorted(mine) == sorted(theirs) == sorted(frame.columns)
    for name, expected in theirs.items():
        got = mine[name]
        assert got.type == expected.type, name
        for field in ("num_non_missing", "num_missing", "min_num_values", "max_num_values", "tot_num_values"):
            assert getattr(_common(got), field) == getattr(_common(expected), field), (name, field)
        if expected.HasField("num_stats"):
            g, e = got.num_stats, expected.num_stats
            assert (g.num_zeros, g.min, g.max) == (e.num_zeros, e.min, e.max), name
            assert g.mean == pytest.approx(e.mean, rel=1e-9) and g.std_dev == pytest.approx(e.std_dev, rel=1e-9)
            values = np.sort(frame[name].dropna().to_numpy(dtype=float))
            assert abs(_rank(values, g.median) - _rank(values, e.median)) <= RANK_TOLERANCE, name
            assert len(g.histograms) == len(e.histograms) == 2
            for hg, he in zip(g.histograms, e.histograms):
                assert hg.type == he.type and len(hg.buckets) == len(he.buckets)
                for bg, be in zip(hg.buckets, he.buckets):
                    assert abs(_rank(values, bg.low_value) - _rank(values, be.low_value)) <= RANK_TOLERANCE
                    assert abs(_rank(values, bg.high_value) - _rank(values, be.high_value)) <= RANK_TOLERANCE
                    assert abs(bg.sample_count - be.sample_count) <= COUNT_TOLERANCE * len(frame), name
        else:
            g, e = got.string_stats, expected.string_stats
            assert g.unique == e.unique and g.avg_length == pytest.approx(e.avg_length, rel=1e-9)
            assert list(g.top_values) == list(e.top_values), name
            assert list(g.rank_histogram.buckets) == list(e.rank_histogram.buckets), name


def test_csv_and_parquet_give_the_same_counts(tmp_path, tfdv):
    from kfp_governance.validation.statistics import statistics_from_file

    frame = make_frame(2000, seed=4).drop(columns=["active"])
    parquet = write_parquet(frame, tmp_path / "d.parquet")
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    a, b = _features(statistics_from_file(parquet)), _features(statistics_from_file(str(csv)))
    for name in frame.columns:
        assert _common(a[name]).num_missing == _common(b[name]).num_missing == frame[name].isna().sum()


def test_files_stream_in_batches_of_the_requested_size(tmp_path):
    from kfp_governance.validation.arrow_batches import iter_file_batches

    frame = make_frame(5000, seed=8)
    parquet = write_parquet(frame, tmp_path / "d.parquet")
    assert [b.num_rows for b in iter_file_batches(parquet, batch_rows=2000)] == [2000, 2000, 1000]
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    sizes = [b.num_rows for b in iter_file_batches(str(csv), batch_rows=1500, csv_block_bytes=20_000)]
    assert sum(sizes) == 5000 and all(size >= 1500 for size in sizes[:-1]) and len(sizes) < 5000 * 60 // 20_000


def test_flat_columns_become_tfdv_list_columns():
    from kfp_governance.validation.arrow_batches import to_tfdv_batch

    batch = pa.record_batch([
        pa.array([1, None, 3], pa.int32()),
        pa.array([1.5, None, 2.0], pa.float32()),
        pa.array(["a", None, "a"]).dictionary_encode(),
        pa.array([True, False, None]),
        pa.array([0, 86_400_000_000, None], pa.timestamp("us")),
        pa.array(["x", "y", None], pa.large_string()),
    ], names=["i", "f", "d", "b", "t", "s"])
    out = to_tfdv_batch(batch)
    assert [str(t) for t in out.schema.types] == [
        "list<item: int64>", "list<item: double>", "list<item: string>",
        "list<item: int64>", "list<item: string>", "list<item: large_string>"]
    assert out.column(0).to_pylist() == [[1], None, [3]]
    assert out.column(2).to_pylist() == [["a"], None, ["a"]]
    assert out.column(3).to_pylist() == [[1], [0], None]
    assert out.column(4).to_pylist()[1] == ["1970-01-02 00:00:00.000000"]
    sliced = to_tfdv_batch(batch.slice(1, 2))  # arrays with an offset keep their own nulls
    assert sliced.column(0).to_pylist() == [None, [3]] and sliced.column(5).to_pylist() == [["y"], None]
    with pytest.raises(DataError, match="column 'st'"):
        to_tfdv_batch(pa.record_batch([pa.array([{"a": 1}])], names=["st"]))


# --- a clean split --------------------------------------------------------------------------------


def test_clean_split_has_no_anomalies_and_writes_every_output(clean, tfdv):
    _, _, result = clean
    assert result.anomaly_count == 0 and result.anomalies == []
    assert (result.train_rows, result.eval_rows, result.feature_count) == (3000, 1000, 7)
    assert result.drift == [] and result.schema_source == "inferred from the train split"
    outputs = result.outputs
    assert tfdv.load_stats_binary(outputs["train_statistics"]).datasets[0].num_examples == 3000
    assert tfdv.load_stats_binary(outputs["eval_statistics"]).datasets[0].num_examples == 1000
    schema = tfdv.load_schema_text(outputs["schema"])
    label = next(f for f in schema.feature if f.name == "label")
    assert list(label.not_in_environment) == ["SERVING"]
    assert all(not f.HasField("shape") for f in schema.feature)  # infer_feature_shape=False
    document = json.loads(Path(outputs["anomalies"]).read_text())
    assert document["anomaly_count"] == 0 and document["rows"] == {"train": 3000, "eval": 1000}
    meta = result.metadata()
    for key in ("train_rows", "eval_rows", "feature_count", "anomaly_count", "anomalies_by_feature",
                "schema_source", "schema_sha256", "timings_s", "drift"):
        assert key in meta
    assert None not in meta.values()
    assert result.metrics()["anomaly_count"] == 0.0


def test_report_is_self_contained_and_shows_every_feature(clean):
    _, _, result = clean
    html = Path(result.outputs["report"]).read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    for name in result.features:
        assert f'<div class="fname">{name}</div>' in html
    assert html.count("<svg") >= 3  # histograms of the numeric features
    assert "No anomalies" in html


def test_adult_eval_split_has_no_spurious_anomalies(tmp_path, adult_splits, tfdv):
    train, evaluation, loaded = adult_splits
    result = run(tmp_path, str(train), str(evaluation), label="loan")
    assert result.anomalies == [], result.anomalies
    assert (result.train_rows, result.eval_rows) == (loaded.train_rows, loaded.eval_rows)
    assert result.feature_count == len(loaded.columns)


# --- anomalies ------------------------------------------------------------------------------------


def test_new_category_missing_column_and_new_nulls_are_anomalies(tmp_path, clean):
    train, _, _ = clean
    frame = make_frame(1000, seed=5)
    frame.loc[frame.index[:100], "plan"] = "enterprise"      # a new category in 10% of rows
    frame["age"] = frame["age"].astype("Int64")               # stays an integer column with nulls
    frame.loc[frame.index[:50], "age"] = pd.NA                # nulls where train had none
    frame = frame.drop(columns=["score"])                     # a missing column
    evaluation = write_parquet(frame, tmp_path / "eval.parquet")
    result = run(tmp_path, train, evaluation)
    kinds = {(a["split"], a["feature"], a["kind"]) for a in result.anomalies}
    assert kinds == {
        ("eval", "plan", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
        ("eval", "age", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),
        ("eval", "score", "SCHEMA_MISSING_COLUMN"),
    }
    assert result.anomalies_by_feature["age"] == ["eval:FEATURE_TYPE_LOW_FRACTION_PRESENT"]
    document = json.loads(Path(result.outputs["anomalies"]).read_text())
    assert document["anomaly_count"] == 3
    assert {"feature", "kind", "severity", "short_description", "description"} <= set(document["anomalies"][0])
    html = Path(result.outputs["report"]).read_text(encoding="utf-8")
    assert "enterprise" in html and "SCHEMA_MISSING_COLUMN" in html


def test_a_rare_unseen_value_is_listed_but_not_an_anomaly(tmp_path, clean):
    train, _, _ = clean
    frame = make_frame(2000, seed=6)
    frame.loc[frame.index[0], "plan"] = "legacy"   # 0.05% of rows, under the 0.1% tolerance
    result = run(tmp_path, train, write_parquet(frame, tmp_path / "eval.parquet"))
    assert result.anomalies == []
    assert result.unseen_values == [{"split": "eval", "feature": "plan", "values": [{"value": "legacy", "count": 1}],
                                     "distinct": 1, "fraction": 1 / 2000}]
    strict = run(tmp_path, train, str(tmp_path / "eval.parquet"), name="strict", min_domain_mass=1.0)
    assert [a["kind"] for a in strict.anomalies] == ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]


def test_supplied_schema_is_used_and_recorded(tmp_path, clean):
    train, evaluation, first = clean
    result = run(tmp_path, train, evaluation, schema_uri=first.outputs["schema"])
    assert result.schema_source == first.outputs["schema"]
    assert result.anomalies == []


# --- drift ----------------------------------------------------------------------------------------


def test_drift_detected_against_a_different_baseline_and_not_against_the_same(tmp_path, clean):
    train, evaluation, first = clean
    baseline = first.outputs["train_statistics"]

    same = run(tmp_path, train, evaluation, name="same", baseline_statistics_uri=baseline)
    assert same.drifted_features == [] and same.anomalies == []
    assert len(same.drift) == 7 and all(d["value"] == pytest.approx(0.0, abs=1e-9) for d in same.drift)

    shifted = make_frame(3000, seed=7)
    shifted["score"] = shifted["score"] + 2.0
    shifted["plan"] = np.where(np.arange(3000) % 10 < 7, "pro", shifted["plan"])
    current = write_parquet(shifted, tmp_path / "shifted.parquet")
    drifted = run(tmp_path, current, evaluation, name="drifted", baseline_statistics_uri=baseline)
    assert drifted.drifted_features == ["plan", "score"]
    by_feature = {d["feature"]: d for d in drifted.drift}
    assert by_feature["score"]["comparator"] == "jensen_shannon_divergence"
    assert by_feature["plan"]["comparator"] == "infinity_norm"
    assert by_feature["score"]["value"] > 0.1 and by_feature["score"]["threshold"] == 0.1
    assert drifted.anomalies == [] and drifted.anomaly_count == 0  # drift is reported apart from anomalies
    assert by_feature["plan"]["kind"] == "COMPARATOR_L_INFTY_HIGH" and "pro" in by_feature["plan"]["description"]
    assert "kind" not in by_feature["age"]
    document = json.loads(Path(drifted.outputs["anomalies"]).read_text())
    assert document["drift"]["exceeded"] == ["plan", "score"]
    assert document["drift"]["baseline_statistics"] == baseline
    assert drifted.metrics()["drifted_features"] == 2.0
    assert "drift 0." in Path(drifted.outputs["report"]).read_text(encoding="utf-8")

    relaxed = run(tmp_path, current, evaluation, name="relaxed", baseline_statistics_uri=baseline,
                  drift=DriftThresholds(features={"score": 0.99}))
    assert relaxed.drifted_features == ["plan"]
    with pytest.raises(ConfigError, match="nosuch"):
        run(tmp_path, current, evaluation, name="bad", baseline_statistics_uri=baseline,
            drift=DriftThresholds(features={"nosuch": 0.2}))


def test_skew_against_serving_statistics(tmp_path, clean):
    train, evaluation, _ = clean
    serving = make_frame(2000, seed=9).drop(columns=["label"])
    serving["income"] = serving["income"] * 3.0
    first = run(tmp_path, write_parquet(serving, tmp_path / "serving.parquet"), evaluation, name="serving",
                label="plan")
    result = run(tmp_path, train, evaluation, serving_statistics_uri=first.outputs["train_statistics"])
    assert result.skewed_features == ["income"]
    assert result.drift == [] and result.anomalies == []
    assert "label" not in {d["feature"] for d in result.skew}  # the label is not served: no skew comparator


def test_a_feature_missing_from_the_baseline_is_listed_as_not_measured(tmp_path, clean):
    train, evaluation, _ = clean
    older = make_frame(3000, seed=10).drop(columns=["score"])
    baseline = run(tmp_path, write_parquet(older, tmp_path / "older.parquet"), evaluation, name="older")
    result = run(tmp_path, train, evaluation, baseline_statistics_uri=baseline.outputs["train_statistics"])
    score = next(d for d in result.drift if d["feature"] == "score")
    assert score["value"] is None and score["exceeded"] is False
    assert score["kind"] == "COMPARATOR_CONTROL_DATA_MISSING"
    assert result.drifted_features == [] and result.anomalies == []
    assert "not measured" in Path(result.outputs["report"]).read_text(encoding="utf-8")


def test_baseline_statistics_in_text_and_tfrecord_form(tmp_path, clean, tfdv):
    import tensorflow as tf

    from kfp_governance.validation.protos import load_statistics

    _, _, first = clean
    stats = tfdv.load_stats_binary(first.outputs["train_statistics"])
    text = tmp_path / "stats.pbtxt"
    tfdv.write_stats_text(stats, str(text))
    record = tmp_path / "stats.tfrecord"
    with tf.io.TFRecordWriter(str(record)) as writer:
        writer.write(stats.SerializeToString())
    for path in (text, record, first.outputs["train_statistics"]):
        assert load_statistics(str(path), "baseline_statistics_uri") == stats


# --- Beam -----------------------------------------------------------------------------------------


def test_beam_direct_runner_matches_in_process(tmp_path, clean, tfdv):
    train, evaluation, first = clean
    result = run(tmp_path, train, evaluation, runner="DirectRunner")
    assert result.anomalies == [] and result.runner == "DirectRunner"
    ours = _features(tfdv.load_stats_binary(first.outputs["train_statistics"]))
    beam = _features(tfdv.load_stats_binary(result.outputs["train_statistics"]))
    for name, feature in ours.items():
        assert _common(beam[name]).num_missing == _common(feature).num_missing
        assert _common(beam[name]).num_non_missing == _common(feature).num_non_missing


def test_beam_options_are_checked():
    from kfp_governance.validation.beam import pipeline_options

    with pytest.raises(ConfigError, match="--project"):
        pipeline_options("DataflowRunner", ["--region=europe-west4", "--temp_location=gs://b/tmp"])
    with pytest.raises(ConfigError, match="'project=x'"):
        pipeline_options("DirectRunner", ["project=x"])
    with pytest.raises(ConfigError, match="--temp_location"):
        pipeline_options("FlinkRunner", ["--flink_master=localhost:8081"])
    options = pipeline_options("DataflowRunner", ["--project=p", "--region=r", "--temp_location=gs://b/t"])
    assert options.get_all_options()["runner"] == "DataflowRunner"


# --- errors ---------------------------------------------------------------------------------------


def test_missing_and_empty_splits_are_data_errors(tmp_path, clean):
    train, evaluation, _ = clean
    with pytest.raises(DataError, match="train_path .*does not exist"):
        run(tmp_path, str(tmp_path / "nope.parquet"), evaluation)
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="eval_path .*empty"):
        run(tmp_path, train, str(empty))
    no_rows = write_parquet(make_frame(10).iloc[:0], tmp_path / "no_rows.parquet")
    with pytest.raises(DataError, match="eval_path .*no rows"):
        run(tmp_path, train, no_rows)
    not_parquet = tmp_path / "junk.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        run(tmp_path, train, str(not_parquet))


def test_bad_schema_and_baseline_are_config_errors(tmp_path, clean):
    train, evaluation, _ = clean
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("feature { name: 'x' type: NOT_A_TYPE }")
    with pytest.raises(ConfigError, match="schema_uri .*does not exist"):
        run(tmp_path, train, evaluation, schema_uri=str(tmp_path / "missing.pbtxt"))
    with pytest.raises(ConfigError, match="schema_uri .*not a TFDV schema"):
        run(tmp_path, train, evaluation, schema_uri=str(garbage))
    with pytest.raises(ConfigError, match="baseline_statistics_uri .*does not exist"):
        run(tmp_path, train, evaluation, baseline_statistics_uri=str(tmp_path / "missing.pb"))
    with pytest.raises(ConfigError, match="baseline_statistics_uri .*not TFDV statistics"):
        run(tmp_path, train, evaluation, baseline_statistics_uri=str(garbage))


def test_bad_arguments_name_the_parameter(tmp_path, clean):
    train, evaluation, _ = clean
    with pytest.raises(DataError, match="label column 'target'"):
        run(tmp_path, train, evaluation, label="target")
    with pytest.raises(ConfigError, match="runner 'fast'"):
        run(tmp_path, train, evaluation, runner="fast")
    with pytest.raises(ConfigError, match="batch_rows is 0"):
        run(tmp_path, train, evaluation, batch_rows=0)
