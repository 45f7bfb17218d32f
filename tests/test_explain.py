"""explain_model with real SHAP on the bundled UCI Adult data: additivity, folding, a deterministic plan,
byte-identical evidence, the time limit, an independent SHAP oracle, the JSON schema and the report."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_governance.config import ExplainConfig
from kfp_governance.errors import ConfigError, DataError, GovernanceError, IntegrityError, TimeLimitError
from kfp_governance.executors import explain_model as executor
from kfp_governance.executors.explain_model import explain_model
from kfp_governance.explain import plan as planning
from kfp_governance.explain.explainers import leaf_depths, make_adapter, resolve_kind
from kfp_governance.explain.report import fold
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import MODEL_FILE, load_model, read_record

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "src" / "kfp_governance" / "schemas" / "explanation.v1.json"

# a small forest keeps exact Tree SHAP quick (about 7 ms a row here); the default has 100 trees
FOREST = {"n_estimators": 10}
# fully grown trees (about 4,400 leaves each, depth ~50): exact Tree SHAP ~0.3 s a row for 30 trees
BIG_FOREST = {"n_estimators": 30, "min_samples_leaf": 1}


def _model(adult_model, estimator):
    return adult_model(estimator, **FOREST) if estimator == "random_forest" else adult_model(estimator)


def _explain(model_dir, eval_path, tmp_path, name="x", **config):
    config = {"max_samples": 60, **config}
    explainer = config.pop("explainer", "auto")
    return explain_model(model_dir, eval_path, config=ExplainConfig(**config), output_json=tmp_path / f"{name}.json",
                         output_html=tmp_path / f"{name}.html", explainer=explainer)


def _validate(document):
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


def _keys(value, prefix=""):
    """Every key path of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{prefix}.{key}"
            yield from _keys(item, f"{prefix}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item, prefix + "[]")


def _independent_output(model_dir, frame, output_space):
    """The model's output computed without the explainer: probability or log-odds of the positive class."""
    pipeline = load_model(model_dir)
    X = frame[read_record(model_dir)["features"]]
    if output_space == "probability":
        return pipeline.predict_proba(X)[:, 1]
    return pipeline.decision_function(X)


@pytest.mark.parametrize("estimator, explainer, space", [
    ("logistic_regression", "linear", "log_odds"),
    ("random_forest", "tree", "probability"),
    ("hist_gradient_boosting", "tree", "log_odds"),
])
def test_shap_values_add_up_to_the_model_output(adult_model, adult_splits, tmp_path, estimator, explainer, space):
    model_dir = _model(adult_model, estimator)
    _, eval_path, _ = adult_splits
    result = _explain(model_dir, eval_path, tmp_path)
    assert (result.explainer, result.output_space) == (explainer, space)
    assert result.exact is True  # small models: exact Tree SHAP, and Linear SHAP is exact
    assert result.additivity["holds"] and result.additivity["max_abs_error"] < 1e-6
    _validate(json.loads((tmp_path / "x.json").read_text()))

    # every explained row, through the adapter, against the pipeline's own output
    frame = pd.read_parquet(eval_path).iloc[result.row_indices]
    pipeline = load_model(model_dir)
    record = read_record(model_dir)
    adapter = make_adapter(explainer, pipeline, record["transformed_feature_sources"], frame[record["features"]],
                           frame[record["features"]], seed=0)
    modes = ["exact", "approximate"] if explainer == "tree" else ["default"]
    expected_output = _independent_output(model_dir, frame, space)
    for mode in modes:
        explained = adapter.explain(frame[record["features"]], mode)
        np.testing.assert_allclose(explained.values.sum(axis=1) + explained.expected_value, expected_output,
                                   rtol=0, atol=1e-6, err_msg=f"{estimator} {mode}")

    # the local explanations in the result add up as well (folded per feature)
    eval_frame = pd.read_parquet(eval_path)
    for local in result.local_explanations:
        row = eval_frame.iloc[[local["row_index"]]]
        total = local["expected_value"] + sum(c["shap"] for c in local["contributions"])
        assert total == pytest.approx(_independent_output(model_dir, row, space)[0], abs=1e-6)
        assert local["score"] == pytest.approx(pipeline.predict_proba(row[record["features"]])[0, 1], abs=1e-9)


def test_permutation_explainer_adds_up_on_the_original_features(adult_model, adult_splits, tmp_path):
    # slow on first use in a process: shap's permutation explainer compiles numba code (7-14 s here)
    model_dir = _model(adult_model, "logistic_regression")
    _, eval_path, loaded = adult_splits
    result = _explain(model_dir, eval_path, tmp_path, max_samples=10, explainer="permutation")
    assert (result.explainer, result.output_space, result.rows) == ("permutation", "probability", 10)
    assert (result.exact, result.algorithm) == (False, "permutation")
    assert result.background_rows == 100
    document = json.loads((tmp_path / "x.json").read_text())
    _validate(document)
    assert "sampled permutations" in document["method"]["reason"]
    assert result.additivity["max_abs_error"] < 1e-9
    assert sorted(e["feature"] for e in result.feature_importance) == sorted(loaded.features)
    assert all(e["columns"] == [e["feature"]] for e in result.feature_importance)  # folding is the identity
    eval_frame = pd.read_parquet(eval_path)
    for local in result.local_explanations:
        row = eval_frame.iloc[[local["row_index"]]]
        total = local["expected_value"] + sum(c["shap"] for c in local["contributions"])
        assert total == pytest.approx(_independent_output(model_dir, row, "probability")[0], abs=1e-9)


def test_one_hot_columns_fold_into_their_feature(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "logistic_regression")
    _, eval_path, _ = adult_splits
    record = read_record(model_dir)
    pipeline = load_model(model_dir)
    frame = pd.read_parquet(eval_path).head(40)[record["features"]]
    adapter = make_adapter("linear", pipeline, record["transformed_feature_sources"], frame, frame, seed=0)
    explained = adapter.explain(frame, "default")
    folded = fold(explained.values, adapter.sources, record["features"])
    columns = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    for j, feature in enumerate(record["features"]):
        if feature in record["categorical_features"]:
            mine = [i for i, c in enumerate(columns) if c.startswith(f"{feature}_")]
        else:
            mine = [columns.index(feature)]
        assert len(mine) >= 1
        np.testing.assert_allclose(folded[:, j], explained.values[:, mine].sum(axis=1), atol=1e-12)
    # the workclass one-hot has several columns; its importance is the mean of |sum|, not the sum of means
    wc = [i for i, c in enumerate(columns) if c.startswith("workclass_")]
    assert len(wc) > 2
    assert np.allclose(np.abs(folded[:, record["features"].index("workclass")]).mean(),
                       np.abs(explained.values[:, wc].sum(axis=1)).mean())

    # the executor's importance is that computation on its sample (a tree model: no background involved)
    tree_dir = _model(adult_model, "hist_gradient_boosting")
    result = _explain(tree_dir, eval_path, tmp_path, max_samples=40)
    sample = pd.read_parquet(eval_path).iloc[result.row_indices][record["features"]]
    tree_adapter = make_adapter("tree", load_model(tree_dir), read_record(tree_dir)["transformed_feature_sources"],
                                sample, sample, seed=0)
    refolded = fold(tree_adapter.explain(sample, "exact").values, tree_adapter.sources, record["features"])
    mine = {f: float(np.abs(refolded[:, j]).mean()) for j, f in enumerate(record["features"])}
    assert {e["feature"]: pytest.approx(mine[e["feature"]], abs=1e-12) for e in result.feature_importance} == mine
    means = [e["mean_abs_shap"] for e in result.feature_importance]
    assert means == sorted(means, reverse=True)


def test_sample_is_seeded_and_nested(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "hist_gradient_boosting")
    _, eval_path, _ = adult_splits
    first = _explain(model_dir, eval_path, tmp_path, name="a", max_samples=50, seed=7)
    again = _explain(model_dir, eval_path, tmp_path, name="b", max_samples=50, seed=7)
    smaller = _explain(model_dir, eval_path, tmp_path, name="c", max_samples=20, seed=7)
    other = _explain(model_dir, eval_path, tmp_path, name="d", max_samples=50, seed=8)
    assert first.rows == again.rows == 50 and smaller.rows == 20
    assert first.row_indices == again.row_indices
    assert smaller.row_indices == first.row_indices[:20]
    assert other.row_indices != first.row_indices
    assert first.feature_importance == again.feature_importance
    assert first.local_explanations == again.local_explanations
    assert len(set(first.row_indices)) == 50


def test_outputs_json_layout_and_metadata(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "hist_gradient_boosting")
    _, eval_path, loaded = adult_splits
    result = _explain(model_dir, eval_path, tmp_path, name="out", max_samples=30)
    document = json.loads((tmp_path / "out.json").read_text())
    assert document == json.loads(json.dumps(result.to_json()))
    assert document["schema"] == "kfp-governance/explanation/v1" and "schema_version" not in document
    assert document["method"] == {"explainer": "tree", "explainer_class": "TreeExplainer", "exact": True,
                                  "algorithm": "tree_path_dependent", "output_space": "log_odds",
                                  "reason": result.reason}
    assert document["model_sha256"] == read_record(model_dir)["model_sha256"]
    assert document["eval_data_sha256"] == sha256_file(eval_path)
    assert document["sample"]["rows"] == 30 and len(document["sample"]["row_indices"]) == 30
    assert document["sample"]["eval_rows"] == loaded.eval_rows
    assert [e["rank"] for e in document["feature_importance"]] == list(range(1, len(loaded.features) + 1))
    assert {e["kind"] for e in document["local_explanations"]} <= {"highest_score", "lowest_score", "nearest_0.5"}
    assert len(document["local_explanations"]) == 3
    for key in ("target_rows", "rows", "units_per_row", "estimated_units", "work_limit_units", "cost_model", "max_samples"):
        assert key in document["plan"], key
    assert document["plan"]["estimated_units"] == 30 * document["plan"]["units_per_row"] > 0
    meta = result.metadata(top_k=5)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in meta.values())
    shap_keys = [k for k in meta if k.startswith("shap.")]
    assert shap_keys == [f"shap.{e['feature']}" for e in document["feature_importance"][:5]]
    assert meta["rows"] == 30 and meta["exact"] == 1.0
    assert meta["time_limit_s"] == 600.0 and meta["shap_seconds"] >= 0 and meta["step_seconds"] >= meta["shap_seconds"]


def test_html_report_is_self_contained(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "random_forest")
    _, eval_path, _ = adult_splits
    _explain(model_dir, eval_path, tmp_path, name="report", max_samples=30)
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for tag in ("<script", "<link", "<iframe", "<object", "<embed", "@import", "url("):
        assert tag not in html.lower(), tag
    references = re.findall(r"""(?:src|href|srcset|poster|action)\s*=\s*["']([^"']*)""", html, flags=re.IGNORECASE)
    assert references and all(ref.startswith("data:image/png;base64,") for ref in references), references
    assert html.count("data:image/png;base64,") == 2  # bar chart and summary plot
    assert "Highest score" in html and "Lowest score" in html and "Score nearest 0.5" in html
    assert "marital-status" in html
    assert "TreeExplainer" in html and "tree_path_dependent" in html and "why this method and sample" in html
    assert not re.search(r"\bseconds?\b|\bpilot|budget", html, flags=re.IGNORECASE)  # no timings in the report


def test_tampered_model_is_refused(adult_model, adult_splits, tmp_path):
    source = _model(adult_model, "logistic_regression")
    _, eval_path, _ = adult_splits
    with pytest.raises(IntegrityError, match="sha256"):
        explain_model(source, eval_path, config=ExplainConfig(), output_json=tmp_path / "x.json",
                      output_html=tmp_path / "x.html", expected_sha256="0" * 64)
    copy = tmp_path / "model"
    shutil.copytree(source, copy)
    with open(copy / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IntegrityError, match="sha256"):
        _explain(copy, eval_path, tmp_path)
    assert not (tmp_path / "x.json").exists()


def test_eval_split_missing_a_feature_is_named(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "logistic_regression")
    _, eval_path, _ = adult_splits
    broken = tmp_path / "eval.parquet"
    pd.read_parquet(eval_path).drop(columns=["age", "gender"]).to_parquet(broken)
    with pytest.raises(DataError, match=r"eval_path .* lacks feature column\(s\) \['age', 'gender'\]"):
        _explain(model_dir, broken, tmp_path)


def test_empty_or_missing_eval_split(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "logistic_regression")
    _, eval_path, _ = adult_splits
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(eval_path).iloc[:0].to_parquet(empty)
    with pytest.raises(DataError, match="eval_path .*empty.parquet' has no rows"):
        _explain(model_dir, empty, tmp_path)
    with pytest.raises(DataError, match="eval_path .*nowhere.parquet' does not exist"):
        _explain(model_dir, tmp_path / "nowhere.parquet", tmp_path)


def test_a_tiny_eval_split_is_explained_whole(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "hist_gradient_boosting")
    _, eval_path, _ = adult_splits
    tiny = tmp_path / "tiny.parquet"
    pd.read_parquet(eval_path).head(3).to_parquet(tiny)
    result = _explain(model_dir, tiny, tmp_path)
    assert result.rows == 3 and sorted(result.row_indices) == [0, 1, 2]
    assert 1 <= len(result.local_explanations) <= 3


def test_bad_explainer_and_config_are_named(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "random_forest")
    _, eval_path, _ = adult_splits
    with pytest.raises(ConfigError, match="explainer='shapley' is not one of"):
        _explain(model_dir, eval_path, tmp_path, explainer="shapley")
    with pytest.raises(ConfigError, match="explainer='linear' does not fit RandomForestClassifier"):
        _explain(model_dir, eval_path, tmp_path, explainer="linear")
    with pytest.raises(ConfigError, match="time_limit_s"):
        explain_model(model_dir, eval_path, config={"time_limit_s": -1}, output_json=tmp_path / "x.json",
                      output_html=tmp_path / "x.html")
    assert resolve_kind(load_model(model_dir)) == "tree"


# --- reproducible evidence: the plan follows the model's size, never a clock --------------------------------------


@pytest.mark.parametrize("estimator", ["random_forest", "logistic_regression"])
def test_same_model_data_and_config_give_byte_identical_json_and_html(adult_model, adult_splits, tmp_path, estimator):
    model_dir = _model(adult_model, estimator)
    _, eval_path, _ = adult_splits
    first = _explain(model_dir, eval_path, tmp_path / "one", name="run", max_samples=120, seed=3)
    second = _explain(model_dir, eval_path, tmp_path / "two", name="run", max_samples=120, seed=3)
    for suffix in ("json", "html"):
        one = (tmp_path / "one" / f"run.{suffix}").read_bytes()
        two = (tmp_path / "two" / f"run.{suffix}").read_bytes()
        assert one == two, f"the {suffix} differs between two runs"
    assert first.to_json() == second.to_json()
    # nothing that depends on time or load in the evidence
    document = json.loads((tmp_path / "one" / "run.json").read_text())
    timed = [k for k in _keys(document) if re.search(r"second|time|timestamp|_s$|budget|pilot", k.split(".")[-1])]
    assert timed == []
    assert first.timings.keys() == {"time_limit_s", "shap_seconds", "render_seconds", "step_seconds"}


def _jumping_clock(step: float):
    """A clock that leaps ``step``, ``2 x step``, ``3 x step``, ... seconds between calls: a very busy machine."""
    counter = itertools.count(1)
    now = [1000.0]

    def clock():
        now[0] += step * next(counter)
        return now[0]

    return clock


def test_the_plan_ignores_the_clock_and_the_time_limit_only_stops(adult_model, adult_splits, tmp_path, monkeypatch):
    model_dir = _model(adult_model, "random_forest")
    _, eval_path, _ = adult_splits
    quiet = _explain(model_dir, eval_path, tmp_path / "quiet", name="e", max_samples=120)
    with monkeypatch.context() as patch:
        patch.setattr(time, "perf_counter", _jumping_clock(50.0))
        patch.setattr(time, "monotonic", _jumping_clock(50.0))
        busy = _explain(model_dir, eval_path, tmp_path / "busy", name="e", max_samples=120, time_limit_s=1e12)
    assert (busy.exact, busy.algorithm, busy.rows, busy.row_indices) == (
        quiet.exact, quiet.algorithm, quiet.rows, quiet.row_indices)
    for suffix in ("json", "html"):
        assert (tmp_path / "busy" / f"e.{suffix}").read_bytes() == (tmp_path / "quiet" / f"e.{suffix}").read_bytes()
    assert busy.timings["step_seconds"] > 1e3 and quiet.timings["step_seconds"] < 1e3  # the clock did jump

    # a limit that is exceeded stops the step with an error naming the limit, the work done and the fix
    with monkeypatch.context() as patch:
        patch.setattr(time, "monotonic", _jumping_clock(10.0))
        with pytest.raises(TimeLimitError) as raised:
            _explain(model_dir, eval_path, tmp_path / "stopped", name="e", max_samples=120, time_limit_s=100.0)
    message = str(raised.value)
    assert isinstance(raised.value, GovernanceError)
    assert "explain.time_limit_s=100" in message
    done = int(re.search(r"with (\d+) of 120 rows explained", message).group(1))
    assert done % executor.BATCH_ROWS == 0 and done < 120
    assert "fix: lower explain.max_samples or raise explain.time_limit_s" in message
    assert not (tmp_path / "stopped" / "e.json").exists()


def test_plan_is_a_pure_function_of_the_model_size():
    small = planning.plan_tree(1000, exact_units_per_row=2_000_000, approximate_units_per_row=1_000, facts="small")
    assert (small.exact, small.algorithm, small.rows, small.estimated_units) == (True, "tree_path_dependent", 1000,
                                                                               2_000_000_000)
    assert small == planning.plan_tree(1000, 2_000_000, 1_000, facts="small")  # same facts, same plan
    middle = planning.plan_tree(1000, exact_units_per_row=25_000_000, approximate_units_per_row=1_000, facts="mid")
    assert (middle.exact, middle.rows) == (True, 400) and "exact on the 400 rows that fit" in middle.reason
    big = planning.plan_tree(1000, exact_units_per_row=100_000_000, approximate_units_per_row=3_000, facts="big")
    assert (big.exact, big.algorithm, big.rows, big.mode) == (False, "tree_saabas_approximate", 1000, "approximate")
    assert "approximate Tree SHAP" in big.reason and "explain.max_samples <= 100 would give exact" in big.reason
    assert planning.plan_tree(100, 100_000_000, 3_000, facts="big").exact  # the hinted max_samples does give exact
    linear = planning.plan_linear(700, columns=65)
    assert (linear.exact, linear.algorithm, linear.rows, linear.work_limit_units) == (True, "linear_interventional",
                                                                                     700, None)
    wide = planning.plan_permutation(1000, features=200, background_rows=100)  # 401,000 units a row: 7 rows fit
    narrow = planning.plan_permutation(1000, features=6, background_rows=100)
    assert wide.rows == planning.MIN_ROWS < narrow.rows == 230
    assert "the minimum of 10 rows" in wide.reason
    assert leaf_depths([1, 3, -1, -1, -1], [2, 4, -1, -1, -1]).tolist() == [1, 2, 2]


def test_large_forest_gets_approximate_tree_shap_and_a_small_one_exact(adult_model, adult_splits, tmp_path):
    _, eval_path, _ = adult_splits
    big_dir = adult_model("random_forest", **BIG_FOREST)
    big = _explain(big_dir, eval_path, tmp_path, name="big", max_samples=1000)
    assert (big.explainer, big.exact, big.algorithm, big.rows) == ("tree", False, "tree_saabas_approximate", 1000)
    facts = big.model_facts
    assert facts["trees"] == 30 and facts["max_depth"] > 30 and facts["leaves"] > 30 * 2000
    assert "only" in big.reason and "approximate Tree SHAP" in big.reason and "explain.max_samples <=" in big.reason
    document = json.loads((tmp_path / "big.json").read_text())
    assert document["method"]["exact"] is False and document["method"]["reason"] == big.reason
    assert document["plan"]["estimated_units"] == 1000 * facts["approximate_units_per_row"]
    _validate(document)
    assert "approximate" in (tmp_path / "big.html").read_text()

    # the hint in the reason holds: that many rows would be explained exactly (planned only, not run)
    hinted = int(re.search(r"explain\.max_samples <= ([\d,]+)", big.reason).group(1).replace(",", ""))
    record = read_record(big_dir)
    frame = pd.read_parquet(eval_path)[record["features"]]
    adapter = make_adapter("tree", load_model(big_dir), record["transformed_feature_sources"], frame, frame, seed=0)
    assert adapter.plan(hinted).exact and not adapter.plan(max(hinted + 1, planning.QUALITY_FLOOR)).exact

    # independent oracle for the approximate values: shap called directly, one call for all rows (no batches)
    shap_values = _direct_tree_shap(big_dir, eval_path, big.row_indices, approximate=True)
    _assert_importance_matches(big, shap_values, big_dir)

    small = _explain(_model(adult_model, "random_forest"), eval_path, tmp_path, name="small", max_samples=60)
    assert (small.exact, small.algorithm, small.rows) == (True, "tree_path_dependent", 60)
    assert "within the limit" in small.reason


def _direct_tree_shap(model_dir, eval_path, row_indices, approximate=False):
    """SHAP values of the positive class from shap.TreeExplainer on the preprocessed matrix, without our code."""
    import shap

    pipeline = load_model(model_dir)
    record = read_record(model_dir)
    rows = pd.read_parquet(eval_path).iloc[row_indices][record["features"]]
    matrix = pipeline.named_steps["preprocess"].transform(rows)
    matrix = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=float)
    values = shap.TreeExplainer(pipeline.named_steps["model"]).shap_values(matrix, approximate=approximate,
                                                                          check_additivity=False)
    values = np.asarray(values[1] if isinstance(values, list) else values, dtype=float)
    return values[:, :, 1] if values.ndim == 3 else values


def _assert_importance_matches(result, values, model_dir):
    """Fold ``values`` per feature by the column names (numeric: the name; one-hot: ``feature_category``)."""
    names = [str(c) for c in load_model(model_dir).named_steps["preprocess"].get_feature_names_out()]
    assert len(names) == values.shape[1] == sum(len(e["columns"]) for e in result.feature_importance)
    features = read_record(model_dir)["features"]
    owner = [name if name in features else max((f for f in features if name.startswith(f + "_")), key=len)
             for name in names]
    expected = {}
    for feature in features:
        mine = [j for j, o in enumerate(owner) if o == feature]
        expected[feature] = float(np.mean(np.abs(values[:, mine].sum(axis=1))))
    got = {e["feature"]: e["mean_abs_shap"] for e in result.feature_importance}
    assert got.keys() == expected.keys()
    for feature in features:
        assert got[feature] == pytest.approx(expected[feature], rel=1e-9, abs=1e-12), feature
    ranking = sorted(features, key=lambda f: (-expected[f], f))
    assert [e["feature"] for e in result.feature_importance] == ranking


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "random_forest"])
def test_importances_equal_shap_called_directly(adult_model, adult_splits, tmp_path, estimator):
    model_dir = _model(adult_model, estimator)
    _, eval_path, _ = adult_splits
    result = _explain(model_dir, eval_path, tmp_path, max_samples=130)  # three batches of at most 50 rows
    assert result.rows == 130 > 2 * executor.BATCH_ROWS and result.exact
    _assert_importance_matches(result, _direct_tree_shap(model_dir, eval_path, result.row_indices), model_dir)
