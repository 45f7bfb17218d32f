"""explain_model with real SHAP on the bundled UCI Adult data: additivity, folding, budget, determinism, report."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from kfp_governance.config import ExplainConfig
from kfp_governance.errors import ConfigError, DataError, IntegrityError
from kfp_governance.executors.explain_model import explain_model
from kfp_governance.explain import plan as planning
from kfp_governance.explain.explainers import make_adapter, resolve_kind
from kfp_governance.explain.report import fold
from kfp_governance.model_io import MODEL_FILE, load_model, read_record

# a small forest keeps exact Tree SHAP quick (about 6-14 ms a row here); the default has 100 trees
FOREST = {"n_estimators": 10}


def _model(adult_model, estimator):
    return adult_model(estimator, **FOREST) if estimator == "random_forest" else adult_model(estimator)


def _explain(model_dir, eval_path, tmp_path, name="x", **config):
    config = {"time_budget_s": 10.0, "max_samples": 60, **config}
    explainer = config.pop("explainer", "auto")
    return explain_model(model_dir, eval_path, config=ExplainConfig(**config), output_json=tmp_path / f"{name}.json",
                         output_html=tmp_path / f"{name}.html", explainer=explainer)


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
    assert result.additivity["holds"] and result.additivity["max_abs_error"] < 1e-6

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
    assert result.background_rows == 100
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


def test_tighter_budget_gives_a_cheaper_plan_for_a_random_forest(adult_model, adult_splits, tmp_path):
    model_dir = _model(adult_model, "random_forest")
    _, eval_path, _ = adult_splits
    _explain(model_dir, eval_path, tmp_path, name="warm", max_samples=10)  # imports done before timing
    tight = _explain(model_dir, eval_path, tmp_path, name="tight", time_budget_s=1.8, max_samples=1000)
    roomy = _explain(model_dir, eval_path, tmp_path, name="roomy", time_budget_s=8.0, max_samples=1000)
    assert roomy.approximate is False and roomy.rows >= planning.QUALITY_FLOOR
    assert tight.rows < roomy.rows or (tight.approximate and not roomy.approximate)
    for result in (tight, roomy):
        plan = result.plan
        assert plan["reason"]
        assert plan["estimated_shap_seconds"] > 0 and plan["actual_shap_seconds"] > 0
        assert plan["pilots"] and plan["pilots"][0]["mode"] == "exact"
        if not plan["over_budget_planned"]:
            extrapolated = plan["estimated_shap_seconds"] - next(
                p["seconds"] for p in plan["pilots"] if p["mode"] == plan["mode"])
            assert extrapolated <= plan["shap_budget_s"] + 2e-3  # both are rounded in the record
    assert roomy.plan["step_seconds"] <= 1.5 * roomy.plan["time_budget_s"]  # roughly; the machine is shared


def test_plan_rows_shrink_with_the_budget():
    pilot = {"default": planning.Pilot("default", rows=5, seconds=0.3, seconds_per_row=0.05)}
    rows = [planning.choose_plan(1000, budget, pilot, ("default",)).rows for budget in (0.0, 1.0, 5.0, 20.0, 100.0)]
    assert rows == [10, 25, 105, 405, 1000]
    over = planning.choose_plan(1000, 0.0, pilot, ("default",))
    assert over.over_budget and "over the budget" in over.reason
    skipped = planning.choose_plan(200, 1.0, {"approximate": planning.Pilot("approximate", 10, 0.01, 0.001)},
                                   ("exact", "approximate"), skipped={"exact": "predicted 5 s/row"})
    assert skipped.mode == "approximate" and "exact not measured: predicted 5 s/row" in skipped.reason


def test_exact_pilot_is_skipped_when_the_model_is_predicted_too_slow():
    calls = []
    pilot, parts = planning.run_pilot(lambda a, b: calls.append((a, b)), "exact", 1000, allowance_s=0.5,
                                      predicted_seconds_per_row=2.0)
    assert pilot is None and parts == [] and calls == []


def test_pilot_shrinks_its_batches_to_the_allowance_and_required_pilots_take_a_second_row():
    import time

    def steady(start, stop):
        time.sleep(0.05 * (stop - start))
        return (start, stop)

    pilot, parts = planning.run_pilot(steady, "exact", 1000, allowance_s=0.14)
    assert parts == [(0, 1), (1, 2)] and pilot.rows == 2
    assert 0.04 <= pilot.seconds_per_row <= 0.2

    def slow_first(start, stop):  # like numba compiling on the first call
        time.sleep(0.3 if start == 0 else 0.01 * (stop - start))
        return (start, stop)

    assert planning.run_pilot(slow_first, "default", 1000, allowance_s=0.1)[0].rows == 1
    pilot, _ = planning.run_pilot(slow_first, "default", 1000, allowance_s=0.1, required=True)
    assert pilot.rows == 2 and pilot.seconds_per_row < 0.1  # the set-up is not taken for the cost of a row


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
    assert document["explainer"] == "tree" and document["explainer_class"] == "TreeExplainer"
    assert document["model_sha256"] == read_record(model_dir)["model_sha256"]
    assert document["sample"]["rows"] == 30 and len(document["sample"]["row_indices"]) == 30
    assert document["sample"]["eval_rows"] == loaded.eval_rows
    assert [e["rank"] for e in document["feature_importance"]] == list(range(1, len(loaded.features) + 1))
    assert {e["kind"] for e in document["local_explanations"]} <= {"highest_score", "lowest_score", "nearest_0.5"}
    assert len(document["local_explanations"]) == 3
    for key in ("time_budget_s", "target_rows", "mode", "reason", "pilots", "estimated_shap_seconds",
                "actual_shap_seconds", "step_seconds", "within_budget"):
        assert key in document["plan"], key
    meta = result.metadata(top_k=5)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in meta.values())
    shap_keys = [k for k in meta if k.startswith("shap.")]
    assert shap_keys == [f"shap.{e['feature']}" for e in document["feature_importance"][:5]]
    assert meta["rows"] == 30 and meta["approximate"] == 0.0


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
    with pytest.raises(ConfigError, match="time_budget_s"):
        explain_model(model_dir, eval_path, config={"time_budget_s": -1}, output_json=tmp_path / "x.json",
                      output_html=tmp_path / "x.html")
    assert resolve_kind(load_model(model_dir)) == "tree"
