"""evaluate_fairness: values against fairlearn, AIF360 and plain numpy, on two real data sets.

Data sets: UCI Adult (bundled, protected attributes gender, ethnicity, age)
and the Statlog German Credit data (``tests/data/german_credit.csv.gz``,
see ``tests/data/ATTRIBUTION.md``; protected attributes sex, age). The
models are real scikit-learn models trained with ``train_model``; nothing
is mocked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_governance.config import DataConfig, FairnessConfig, ProtectedAttribute, SplitConfig
from kfp_governance.errors import ConfigError, DataError
from kfp_governance.executors.evaluate_fairness import evaluate_fairness
from kfp_governance.executors.evaluate_model import predict_scores
from kfp_governance.executors.load_data import load_data
from kfp_governance.executors.train_model import train_model
from kfp_governance.fairness.metrics import DATA_METRICS, MODEL_METRICS

GERMAN = Path(__file__).parent / "data" / "german_credit.csv.gz"
TOL = 1e-9


def _prepare(out: Path, data: DataConfig, split: SplitConfig, **train_kwargs) -> dict:
    load_data(data, split, out / "train.parquet", out / "eval.parquet")
    train_model(out / "train.parquet", out / "model", label=data.label, positive_label=data.positive_label,
                estimator="logistic_regression", **train_kwargs)
    return {"dir": out, "train": out / "train.parquet", "eval": out / "eval.parquet", "model": out / "model",
            "label": data.label, "positive": data.positive_label}


def _run(case: dict, attributes, config: FairnessConfig | None = None, tag: str = "run", **kwargs):
    out = case["dir"] / tag
    return evaluate_fairness(case["model"], case["train"], case["eval"], protected_attributes=attributes,
                             config=config or FairnessConfig(), output_json=out / "fairness.json",
                             output_html=out / "fairness.html", **kwargs)


@pytest.fixture(scope="module")
def adult(tmp_path_factory, adult_config, adult_splits, adult_model):
    """The shared Adult split and logistic regression (conftest), a champion, and one fairness run."""
    train, evaluation, _ = adult_splits
    case = {"dir": tmp_path_factory.mktemp("fairness-adult"), "train": train, "eval": evaluation,
            "model": adult_model("logistic_regression"), "champion": adult_model("logistic_regression", C=0.01),
            "label": "loan", "positive": ">50K"}
    case["attributes"] = adult_config.data.protected_attributes + [ProtectedAttribute(name="age", privileged=">=25")]
    case["result"] = _run(case, case["attributes"], champion_dir=case["champion"])
    return case


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    data = DataConfig(uri=str(GERMAN), label="credit", positive_label="good",
                      protected_attributes=[{"name": "sex", "privileged": "male"},
                                            {"name": "age", "privileged": ">=25"}])
    case = _prepare(tmp_path_factory.mktemp("german"), data, SplitConfig(eval_fraction=0.3, seed=7))
    case["attributes"] = data.protected_attributes
    case["result"] = _run(case, case["attributes"], FairnessConfig(min_group_size=25))
    return case


# ---------------------------------------------------------------- oracles

def _labels(case, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_parquet(case[split])
    return frame, (frame[case["label"]].astype(str) == case["positive"]).to_numpy().astype(int)


def _predictions(case, model_dir) -> np.ndarray:
    _, scores, _ = predict_scores(model_dir, pd.read_parquet(case["eval"]))
    return (scores >= 0.5).astype(int)


def _privileged(frame: pd.DataFrame, attribute: ProtectedAttribute) -> np.ndarray:
    """Written independently of the executor: plain pandas comparisons."""
    column = frame[attribute.name]
    if attribute.comparison:
        op, threshold = attribute.comparison
        assert op == ">="
        return (column >= threshold).to_numpy()
    return (column.astype(str) == str(attribute.privileged)).to_numpy()


def _numpy_oracle(y_true, y_pred, privileged) -> dict[str, float]:
    u, p = ~privileged, privileged

    def rate(num, den):
        return num.sum() / den.sum()

    sel_u, sel_p = y_pred[u].mean(), y_pred[p].mean()
    tpr_u, tpr_p = rate((y_pred == 1) & (y_true == 1) & u, (y_true == 1) & u), rate(
        (y_pred == 1) & (y_true == 1) & p, (y_true == 1) & p)
    fpr_u, fpr_p = rate((y_pred == 1) & (y_true == 0) & u, (y_true == 0) & u), rate(
        (y_pred == 1) & (y_true == 0) & p, (y_true == 0) & p)
    return {
        "statistical_parity_difference": sel_u - sel_p,
        "disparate_impact": sel_u / sel_p,
        "equal_opportunity_difference": tpr_u - tpr_p,
        "average_odds_difference": ((fpr_u - fpr_p) + (tpr_u - tpr_p)) / 2,
        "false_positive_rate_difference": fpr_u - fpr_p,
    }


def _fairlearn_oracle(y_true, y_pred, privileged) -> dict[str, float]:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    groups = np.where(privileged, "privileged", "unprivileged")
    frame = MetricFrame(metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                        y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    u, p = frame.by_group.loc["unprivileged"], frame.by_group.loc["privileged"]
    values = {
        "statistical_parity_difference": u["sel"] - p["sel"],
        "disparate_impact": u["sel"] / p["sel"],
        "equal_opportunity_difference": u["tpr"] - p["tpr"],
        "average_odds_difference": ((u["fpr"] - p["fpr"]) + (u["tpr"] - p["tpr"])) / 2,
        "false_positive_rate_difference": u["fpr"] - p["fpr"],
    }
    # fairlearn's own difference is unsigned (max - min): it must equal |SPD|.
    unsigned = demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
    assert unsigned == pytest.approx(abs(values["statistical_parity_difference"]), abs=TOL)
    return values


def _aif360_oracle(y_true, y_pred, privileged) -> dict[str, float]:
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    def dataset(labels):
        df = pd.DataFrame({"group": privileged.astype(float), "y": np.asarray(labels, dtype=float)})
        return BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["group"],
                                  favorable_label=1.0, unfavorable_label=0.0)

    metric = ClassificationMetric(dataset(y_true), dataset(y_pred), unprivileged_groups=[{"group": 0.0}],
                                  privileged_groups=[{"group": 1.0}])
    return {name: float(getattr(metric, name)()) for name in MODEL_METRICS}


def _aif360_data_oracle(y, privileged) -> dict[str, float]:
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import BinaryLabelDatasetMetric

    df = pd.DataFrame({"group": privileged.astype(float), "y": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["group"], favorable_label=1.0,
                            unfavorable_label=0.0)
    metric = BinaryLabelDatasetMetric(ds, unprivileged_groups=[{"group": 0.0}], privileged_groups=[{"group": 1.0}])
    return {name: float(getattr(metric, name)()) for name in DATA_METRICS}


def _value(section, metric):
    return section["metrics"][metric]["value"]


CASES = [("adult", "gender"), ("adult", "ethnicity"), ("adult", "age"), ("german", "sex"), ("german", "age")]


# ---------------------------------------------------------------- equality with the oracles

@pytest.mark.parametrize("dataset,name", CASES)
def test_model_bias_equals_numpy_fairlearn_and_aif360(request, dataset, name):
    case = request.getfixturevalue(dataset)
    attribute = next(a for a in case["attributes"] if a.name == name)
    frame, y_true = _labels(case, "eval")
    y_pred = _predictions(case, case["model"])
    privileged = _privileged(frame, attribute)
    section = case["result"].attributes[name]["model"]
    oracles = {"numpy": _numpy_oracle(y_true, y_pred, privileged),
               "fairlearn": _fairlearn_oracle(y_true, y_pred, privileged),
               "aif360": _aif360_oracle(y_true, y_pred, privileged)}
    for oracle, values in oracles.items():
        for metric in MODEL_METRICS:
            assert _value(section, metric) == pytest.approx(values[metric], abs=TOL), (oracle, metric)
    assert section["groups"]["privileged"]["size"] == privileged.sum()
    assert section["groups"]["unprivileged"]["size"] == (~privileged).sum()
    assert section["groups"]["unprivileged"]["selection_rate"] == pytest.approx(y_pred[~privileged].mean(), abs=TOL)
    assert section["groups"]["privileged"]["tpr"] == pytest.approx(
        y_pred[privileged & (y_true == 1)].mean(), abs=TOL)


@pytest.mark.parametrize("dataset,name", CASES)
def test_data_bias_equals_numpy_fairlearn_and_aif360(request, dataset, name):
    from fairlearn.metrics import MetricFrame, selection_rate

    case = request.getfixturevalue(dataset)
    attribute = next(a for a in case["attributes"] if a.name == name)
    frame, y = _labels(case, "train")
    privileged = _privileged(frame, attribute)
    section = case["result"].attributes[name]["data"]
    by_group = MetricFrame(metrics=selection_rate, y_true=y, y_pred=y,
                           sensitive_features=np.where(privileged, "p", "u")).by_group
    oracles = {
        "numpy": {"statistical_parity_difference": y[~privileged].mean() - y[privileged].mean(),
                  "disparate_impact": y[~privileged].mean() / y[privileged].mean()},
        "fairlearn": {"statistical_parity_difference": by_group["u"] - by_group["p"],
                      "disparate_impact": by_group["u"] / by_group["p"]},
        "aif360": _aif360_data_oracle(y, privileged),
    }
    for oracle, values in oracles.items():
        for metric in DATA_METRICS:
            assert _value(section, metric) == pytest.approx(values[metric], abs=TOL), (oracle, metric)
    assert section["split"] == "train" and section["rows"] == len(frame)


def test_champion_is_rescored_on_the_same_eval_rows(adult):
    result = adult["result"]
    frame, y_true = _labels(adult, "eval")
    y_pred = _predictions(adult, adult["champion"])
    for attribute in adult["attributes"]:
        champion = result.attributes[attribute.name]["champion"]
        expected = _numpy_oracle(y_true, y_pred, _privileged(frame, attribute))
        for metric in MODEL_METRICS:
            assert _value(champion, metric) == pytest.approx(expected[metric], abs=TOL)
        assert champion["rows"] == len(frame)
    assert result.champion_sha256 and result.champion_sha256 != result.model_sha256
    assert "gender.champion.equal_opportunity_difference" in result.metadata()


# ---------------------------------------------------------------- numeric threshold, groups, statuses

def test_numeric_threshold_privileged(adult):
    frame, _ = _labels(adult, "eval")
    age = adult["result"].attributes["age"]
    assert age["definition"] == "age >= 25" and age["kind"] == "numeric"
    assert age["model"]["groups"]["privileged"]["size"] == (frame["age"] >= 25).sum()
    strict = _run(adult, [{"name": "age", "privileged": ">25"}], FairnessConfig(bootstrap_samples=0), tag="gt25")
    assert strict.attributes["age"]["model"]["groups"]["privileged"]["size"] == (frame["age"] > 25).sum()


def test_numeric_value_privileged_on_numeric_column(german):
    frame, _ = _labels(german, "eval")
    result = _run(german, [{"name": "num_dependents", "privileged": 1}], FairnessConfig(bootstrap_samples=0),
                  tag="dependents")
    entry = result.attributes["num_dependents"]
    assert entry["definition"] == "num_dependents == 1"
    assert entry["model"]["groups"]["privileged"]["size"] == (frame["num_dependents"] == 1).sum()


def test_statuses_follow_group_sizes(german):
    """Every metric is 'insufficient' exactly when a denominator is below min_group_size."""
    result = german["result"]
    seen = set()
    for entry in result.attributes.values():
        for section in ("data", "model"):
            for metric in entry[section]["metrics"].values():
                smallest = min(n for basis in metric["denominators"].values() for n in basis.values())
                expected = "insufficient" if smallest < result.min_group_size else "ok"
                assert metric["status"] == expected
                seen.add(metric["status"])
                if expected == "insufficient":
                    assert "min_group_size" in metric["reason"] and metric["value"] is not None
    assert seen == {"ok", "insufficient"}, "German age < 25 has few rows in eval: both statuses occur"
    assert result.status == "insufficient"
    assert result.metadata()["age.metrics_not_ok"] > 0


def test_small_groups_are_reported_insufficient_not_passed(german):
    result = _run(german, german["attributes"], FairnessConfig(min_group_size=10_000, bootstrap_samples=0),
                  tag="huge_min")
    for entry in result.attributes.values():
        assert entry["status"] == "insufficient"
        for section in ("data", "model"):
            assert all(m["status"] == "insufficient" for m in entry[section]["metrics"].values())
            assert all(m["value"] is not None for m in entry[section]["metrics"].values())
    assert result.status == "insufficient"


# ---------------------------------------------------------------- bootstrap

def test_bootstrap_interval_contains_estimate_and_is_seeded(adult):
    result = adult["result"]
    for name, entry in result.attributes.items():
        for section in ("data", "model", "champion"):
            for metric, m in entry[section]["metrics"].items():
                lo, hi = m["interval"]
                assert lo <= m["value"] <= hi, (name, section, metric)
                assert m["bootstrap_undefined"] == 0
    again = _run(adult, adult["attributes"], tag="again", champion_dir=adult["champion"])
    assert again.to_json()["attributes"] == result.to_json()["attributes"]
    other = _run(adult, adult["attributes"], FairnessConfig(seed=1), tag="seed1")
    gender = ("gender", "model", "statistical_parity_difference")
    assert _interval(other, *gender) != _interval(result, *gender)
    # an attribute's intervals do not depend on which other attributes are configured
    alone = _run(adult, [adult["attributes"][0]], tag="alone")
    assert _interval(alone, *gender) == _interval(result, *gender)


def _interval(result, name, section, metric):
    return result.attributes[name][section]["metrics"][metric]["interval"]


def test_bootstrap_matches_a_row_resampling_bootstrap(adult):
    """The count (multinomial) bootstrap has the spread of resampling rows within each group."""
    frame, _ = _labels(adult, "eval")
    y_pred = _predictions(adult, adult["model"])
    privileged = _privileged(frame, adult["attributes"][0])
    rng = np.random.default_rng(123)
    index = {g: np.flatnonzero(privileged == g) for g in (True, False)}
    spd = []
    for _ in range(400):
        pick = {g: rng.choice(ix, size=len(ix), replace=True) for g, ix in index.items()}
        spd.append(y_pred[pick[False]].mean() - y_pred[pick[True]].mean())
    lo, hi = np.percentile(spd, [2.5, 97.5])
    ours = _interval(_run(adult, [adult["attributes"][0]], FairnessConfig(bootstrap_samples=400), tag="b400"),
                     "gender", "model", "statistical_parity_difference")
    assert (ours[1] - ours[0]) == pytest.approx(hi - lo, rel=0.2)
    assert ours[0] == pytest.approx(lo, abs=0.004) and ours[1] == pytest.approx(hi, abs=0.004)


def test_no_bootstrap_gives_no_interval(german):
    result = _run(german, german["attributes"], FairnessConfig(bootstrap_samples=0, min_group_size=1), tag="nob")
    metric = result.attributes["sex"]["model"]["metrics"]["statistical_parity_difference"]
    assert metric["interval"] is None and metric["value"] is not None
    assert "sex.model.statistical_parity_difference.ci_low" not in result.metadata()


# ---------------------------------------------------------------- degenerate predictions and missing values

def test_one_class_predictions_are_a_warning_and_di_is_undefined(adult, adult_model, tmp_path):
    # a real model so strongly regularised that it predicts every row negative
    case = dict(adult, model=adult_model("logistic_regression", C=1e-7), dir=tmp_path)
    result = _run(case, adult["attributes"][:2], FairnessConfig(bootstrap_samples=20))
    assert any("predicts every eval row negative" in w for w in result.warnings)
    model = result.attributes["gender"]["model"]
    di = model["metrics"]["disparate_impact"]
    assert di["value"] is None and di["status"] == "undefined" and "privileged" in di["reason"]
    for metric in ("statistical_parity_difference", "equal_opportunity_difference", "average_odds_difference",
                   "false_positive_rate_difference"):
        assert model["metrics"][metric]["value"] == 0.0 and model["metrics"][metric]["status"] == "ok"
    assert model["groups"]["privileged"]["tpr"] == 0.0 and model["groups"]["unprivileged"]["fpr"] == 0.0
    assert result.status == "undefined"
    assert "gender.model.disparate_impact" not in result.metadata()
    json.loads((tmp_path / "run" / "fairness.json").read_text(), parse_constant=_no_constants)


def _no_constants(name):
    raise AssertionError(f"JSON has the non-standard constant {name}")


def test_missing_protected_values_are_excluded_and_counted(adult, tmp_path):
    frame = pd.read_parquet(adult["eval"])
    frame.loc[frame.index[:100], "gender"] = None
    frame.to_parquet(tmp_path / "eval.parquet")
    case = dict(adult, eval=tmp_path / "eval.parquet", dir=tmp_path)
    result = _run(case, [adult["attributes"][0]], FairnessConfig(bootstrap_samples=0))
    model = result.attributes["gender"]["model"]
    assert model["missing_rows"] == 100 and result.attributes["gender"]["data"]["missing_rows"] == 0
    assert model["groups"]["privileged"]["size"] + model["groups"]["unprivileged"]["size"] == len(frame) - 100
    assert any("100 row(s) of the eval split have no value for 'gender'" in w for w in result.warnings)
    _, y_true = _labels(case, "eval")
    y_pred = _predictions(case, adult["model"])
    keep = frame["gender"].notna().to_numpy()
    expected = _numpy_oracle(y_true[keep], y_pred[keep], (frame["gender"] == "Male").to_numpy()[keep])
    for metric in MODEL_METRICS:
        assert _value(model, metric) == pytest.approx(expected[metric], abs=TOL)


# ---------------------------------------------------------------- bad input

def test_attribute_column_absent(german):
    with pytest.raises(DataError, match=r"protected_attributes\[0\].*'religion' is not in the train split"):
        _run(german, [{"name": "religion", "privileged": "x"}], tag="bad")


def test_privileged_value_never_occurs_lists_the_values(adult):
    with pytest.raises(ConfigError) as err:
        _run(adult, [{"name": "gender", "privileged": "male"}], tag="bad")
    message = str(err.value)
    assert "'male'" in message and "'Female', 'Male'" in message and "did you mean 'Male'" in message
    assert "gender" in message and err.value.fix


def test_threshold_no_row_satisfies(adult):
    with pytest.raises(ConfigError, match=r"no row of 'age' satisfies privileged '>=200'.*from 17 to 90"):
        _run(adult, [{"name": "age", "privileged": ">=200"}], tag="bad")


def test_comparison_on_a_non_numeric_column(adult):
    with pytest.raises(ConfigError, match=r"'>=25' of attribute 'gender' is a numeric comparison.*not numeric"):
        _run(adult, [{"name": "gender", "privileged": ">=25"}], tag="bad")


@pytest.mark.parametrize("value,group", [("Male", "unprivileged"), ("Female", "privileged")])
def test_group_of_size_zero_in_a_split(adult, tmp_path, value, group):
    frame = pd.read_parquet(adult["eval"])
    frame["gender"] = value
    frame.to_parquet(tmp_path / "eval.parquet")
    case = dict(adult, eval=tmp_path / "eval.parquet", dir=tmp_path)
    with pytest.raises(DataError, match=rf"the {group} group of attribute 'gender' .* has no rows in the eval split"):
        _run(case, [{"name": "gender", "privileged": "Male"}])


def test_no_protected_attributes(adult):
    with pytest.raises(ConfigError, match="protected_attributes is empty"):
        _run(adult, [], tag="bad")


def test_plain_dicts_are_accepted_and_bad_ones_rejected(german):
    result = evaluate_fairness(german["model"], german["train"], german["eval"],
                               protected_attributes=[{"name": "sex", "privileged": "male"}],
                               config={"min_group_size": 5, "bootstrap_samples": 10},
                               output_json=None, output_html=None)
    assert result.attributes["sex"]["model"]["status"] == "ok"
    with pytest.raises(ConfigError, match=r"protected_attributes\[0\]"):
        _run(german, [{"name": "sex"}], tag="bad")
    with pytest.raises(ConfigError, match="more than once"):
        _run(german, [{"name": "sex", "privileged": "male"}, {"name": "sex", "privileged": "female"}], tag="bad")


# ---------------------------------------------------------------- outputs

def test_json_file_is_strict_json_and_matches_the_result(adult):
    path = adult["dir"] / "run" / "fairness.json"
    document = json.loads(path.read_text(), parse_constant=_no_constants)
    assert document == json.loads(json.dumps(adult["result"].to_json()))
    assert document["schema"] == "kfp-governance/fairness/v1" and document["engine"] == "numpy"
    gender = document["attributes"]["gender"]
    assert set(gender) == {"privileged", "definition", "kind", "status", "data", "model", "champion"}
    assert set(gender["model"]["metrics"]) == set(MODEL_METRICS)
    assert set(gender["data"]["metrics"]) == set(DATA_METRICS)
    metric = gender["model"]["metrics"]["equal_opportunity_difference"]
    assert {"value", "interval", "group_sizes", "denominators", "status", "reason"} <= set(metric)


def test_metadata_is_flat_numbers(adult):
    meta = adult["result"].metadata()
    assert all(isinstance(v, float) for v in meta.values())
    assert meta["gender.model.statistical_parity_difference"] == _value(
        adult["result"].attributes["gender"]["model"], "statistical_parity_difference")
    assert meta["gender.model.privileged_size"] + meta["gender.model.unprivileged_size"] == adult["result"].eval_rows
    assert meta["ethnicity.data.disparate_impact.ci_low"] < meta["ethnicity.data.disparate_impact"]


def test_html_report_is_self_contained(adult):
    html = (adult["dir"] / "run" / "fairness.html").read_text()
    assert html.count("<svg") == 3 * len(adult["attributes"])  # model, data and champion charts
    for pattern in (r"https?:", r"\bsrc\s*=", r"<link\b", r"<script\b", r"@import", r"url\(", r"//[a-z]"):
        assert not re.search(pattern, html, re.IGNORECASE), pattern
    for attribute in adult["attributes"]:
        assert f"<h2>{attribute.name} " in html
    assert "age &gt;= 25" in html and "Equal opportunity difference" in html


def test_split_groups_on_column_kinds():
    from kfp_governance.fairness.groups import split_groups

    def masks(values, privileged, dtype=None):
        g = split_groups(pd.Series(values, dtype=dtype), ProtectedAttribute(name="a", privileged=privileged))
        return g.privileged.tolist(), g.unprivileged.tolist(), g.missing

    assert masks(["x", None, "y", "x"], "x") == ([True, False, False, True], [False, False, True, False], 1)
    assert masks(["x", None, "y"], "x", "category") == ([True, False, False], [False, False, True], 1)
    assert masks([True, False, None], "True", "boolean") == ([True, False, False], [False, True, False], 1)
    assert masks([1.0, 2.0, np.nan], 2) == ([False, True, False], [True, False, False], 1)
    assert masks([1, 2, 3], "2") == ([False, True, False], [True, False, True], 0)
    assert masks([20, 25, 30], "<25") == ([True, False, False], [False, True, True], 0)
    assert masks([20, 25, 30], "Male") == ([False, False, False], [True, True, True], 0)  # caller reports it
