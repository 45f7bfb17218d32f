"""The gate blesses a model that passes and rejects one that breaks any single check.

The evidence is real: the executors run on the bundled Adult data (TFDV,
scikit-learn, SHAP, the fairness executor); only the policy, or one piece of
evidence, changes from test to test.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kfp_governance.errors import ConfigError
from kfp_governance.executors.gate import gate
from kfp_governance.gate.policy import parse_policy
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import read_record

ATTRIBUTES = [{"name": "gender", "privileged": "Male"}, {"name": "ethnicity", "privileged": "White"}]

# Passes on the evidence below: every later test breaks exactly one threshold.
PASSING = {
    "min_roc_auc": 0.8, "min_accuracy": 0.8, "max_log_loss": 0.5,
    "max_regression": {"roc_auc": 0.1},
    "fairness": {"max_gap": {"equal_opportunity_difference": 0.5, "average_odds_difference": 0.5},
                 "min_disparate_impact": 0.01},
    "max_anomalies": 0, "max_drifted_features": 0,
}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory, adult_splits, adult_model):
    from kfp_governance.config import ExplainConfig, FairnessConfig
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.executors.evaluate_model import evaluate_model
    from kfp_governance.executors.explain_model import explain_model
    from kfp_governance.executors.validate_data import validate_data

    folder = tmp_path_factory.mktemp("evidence")
    train, evaluation, _ = adult_splits
    challenger, champion = adult_model("logistic_regression"), adult_model("hist_gradient_boosting")
    files = {"model_sha256": read_record(challenger)["model_sha256"], "train_data_sha256": sha256_file(train),
             "eval_data_sha256": sha256_file(evaluation), "champion": champion}
    evaluate_model(challenger, evaluation, output_json=folder / "evaluation.json")
    evaluate_model(challenger, evaluation, champion_dir=champion, output_json=folder / "evaluation_champion.json")
    evaluate_fairness(challenger, train, evaluation, protected_attributes=ATTRIBUTES,
                      config=FairnessConfig(bootstrap_samples=50), output_json=folder / "fairness.json",
                      output_html=None)
    evaluate_fairness(challenger, train, evaluation, protected_attributes=ATTRIBUTES, champion_dir=champion,
                      config=FairnessConfig(bootstrap_samples=50), output_json=folder / "fairness_champion.json",
                      output_html=None)
    evaluate_fairness(challenger, train, evaluation, protected_attributes=ATTRIBUTES, champion_dir=champion,
                      config=FairnessConfig(bootstrap_samples=50, min_group_size=5000),
                      output_json=folder / "fairness_small.json", output_html=None)
    explain_model(challenger, evaluation, config=ExplainConfig(max_samples=200),
                  output_json=folder / "explanation.json", output_html=folder / "explanation.html")

    def validate(name, eval_path=evaluation, baseline=None, serving=None, schema=None):
        out = folder / name
        validate_data(train, eval_path, label="loan", schema_uri=schema and str(schema),
                      train_statistics_path=out / "train.stats",
                      eval_statistics_path=out / "eval.stats", schema_path=out / "schema.pbtxt",
                      anomalies_path=out / "anomalies.json", report_path=out / "report.html",
                      baseline_statistics_uri=baseline and str(baseline),
                      serving_statistics_uri=serving and str(serving))
        return out

    validate("clean")
    # The same splits against a schema whose workclass domain lacks 'Private': a real anomaly on the very
    # splits every other piece of evidence was computed on (another eval split would fail the subject check).
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse((folder / "clean" / "schema.pbtxt").read_text(), schema_pb2.Schema())
    domain = next(d for d in schema.string_domain if d.name == "workclass")
    kept = [v for v in domain.value if v != "Private"]
    del domain.value[:]
    domain.value.extend(kept)
    (folder / "narrow_schema.pbtxt").write_text(text_format.MessageToString(schema))
    validate("anomalous", schema=folder / "narrow_schema.pbtxt")
    older = pd.read_parquet(train)
    older = older[older["age"] > 45]  # a baseline window of older people only: age drifts
    older.to_parquet(folder / "older.parquet")
    baseline = validate("baseline_window", folder / "older.parquet")
    # the baseline window's statistics, computed as its *train* split
    validate_data(folder / "older.parquet", folder / "older.parquet", label="loan",
                  train_statistics_path=folder / "older.stats", eval_statistics_path=baseline / "e2.stats",
                  schema_path=baseline / "s2.pbtxt", anomalies_path=baseline / "a2.json",
                  report_path=baseline / "r2.html")
    validate("drifted", baseline=folder / "older.stats")
    validate("skewed", serving=folder / "older.stats")  # serving traffic of older people only
    files["folder"] = folder
    return files


def _gate(evidence, policy=PASSING, **changes):
    folder = evidence["folder"]
    paths = {
        "validation_json": folder / "clean" / "anomalies.json",
        "evaluation_json": folder / "evaluation_champion.json",
        "fairness_json": folder / "fairness_champion.json",
        "explanation_json": folder / "explanation.json",
    }
    paths.update(changes)
    subject = {k: evidence[k] for k in ("model_sha256", "train_data_sha256", "eval_data_sha256")}
    subject.update({k: paths.pop(k) for k in list(paths) if k.endswith("_sha256")})
    blessing = gate(policy, protected_attributes=["gender", "ethnicity"], output_json=folder / "blessing.json",
                    output_markdown=folder / "blessing.md", **subject, **paths)
    written = json.loads((folder / "blessing.json").read_text())
    assert written["blessed"] == blessing.blessed
    assert written["failed_checks"] == [c.name for c in blessing.failed()]
    return blessing, written


def test_a_passing_model_is_blessed_with_every_check_recorded(evidence):
    blessing, written = _gate(evidence)
    assert blessing.blessed, [c for c in blessing.checks if c.verdict == "fail"]
    names = {c["name"] for c in written["checks"]}
    assert {"min_roc_auc", "max_log_loss", "max_regression:roc_auc", "max_anomalies",
            "max_gap:gender:equal_opportunity_difference", "min_disparate_impact:ethnicity",
            "evidence:explanation"} <= names
    for check in written["checks"]:
        assert {"metric", "value", "threshold", "comparison", "verdict"} <= set(check)
    assert written["baseline"]["model_sha256"] == json.loads(
        (evidence["folder"] / "evaluation_champion.json").read_text())["champion"]["model_sha256"]
    assert len(written["policy_sha256"]) == 64
    assert "✅ BLESSED" in (evidence["folder"] / "blessing.md").read_text()


@pytest.mark.parametrize("change, failing", [
    ({"min_roc_auc": 0.99}, "min_roc_auc"),
    ({"min_accuracy": 0.99}, "min_accuracy"),
    ({"max_log_loss": 0.1}, "max_log_loss"),
    ({"max_regression": {"roc_auc": 0.001}}, "max_regression:roc_auc"),
    ({"fairness": {**PASSING["fairness"], "attributes": {"gender": {"max_gap": {
        "equal_opportunity_difference": 0.01}}}}}, "max_gap:gender:equal_opportunity_difference"),
    ({"fairness": {**PASSING["fairness"], "attributes": {"gender": {"min_disparate_impact": 0.9}}}},
     "min_disparate_impact:gender"),
    ({"fairness": {**PASSING["fairness"], "attributes": {"ethnicity": {"max_gap": {
        "statistical_parity_difference": 0.01}}}}}, "max_gap:ethnicity:statistical_parity_difference"),
])
def test_breaking_one_threshold_rejects_and_names_it(evidence, change, failing):
    blessing, written = _gate(evidence, {**PASSING, **change})
    assert not blessing.blessed
    assert failing in written["failed_checks"]
    assert len(written["failed_checks"]) == 1, written["failed_checks"]
    assert "❌ NOT BLESSED" in (evidence["folder"] / "blessing.md").read_text()


def test_data_anomalies_reject(evidence):
    blessing, written = _gate(evidence, validation_json=evidence["folder"] / "anomalous" / "anomalies.json")
    assert written["failed_checks"] == ["max_anomalies"]
    assert "workclass" in next(c for c in blessing.checks if c.name == "max_anomalies").reason


def test_drift_against_the_baseline_rejects(evidence):
    blessing, written = _gate(evidence, validation_json=evidence["folder"] / "drifted" / "anomalies.json")
    assert written["failed_checks"] == ["max_drifted_features"]
    assert "age" in next(c for c in blessing.checks if c.name == "max_drifted_features").reason


def test_training_serving_skew_rejects(evidence):
    blessing, written = _gate(evidence, validation_json=evidence["folder"] / "skewed" / "anomalies.json")
    assert written["failed_checks"] == ["max_skewed_features"]
    assert "age" in next(c for c in blessing.checks if c.name == "max_skewed_features").reason
    clean = _gate(evidence)[1]
    assert "max_skewed_features" not in {c["name"] for c in clean["checks"]}  # not measured: no check


@pytest.mark.parametrize("missing", ["validation_json", "evaluation_json", "fairness_json", "explanation_json"])
def test_missing_evidence_is_never_blessed(evidence, missing):
    blessing, written = _gate(evidence, **{missing: evidence["folder"] / "nowhere.json"})
    assert not blessing.blessed
    assert f"evidence:{missing.removesuffix('_json')}" in written["failed_checks"]


def test_fairness_must_cover_every_configured_attribute(evidence):
    folder = evidence["folder"]
    document = json.loads((folder / "fairness_champion.json").read_text())
    del document["attributes"]["ethnicity"]
    (folder / "fairness_partial.json").write_text(json.dumps(document))
    blessing, written = _gate(evidence, fairness_json=folder / "fairness_partial.json")
    assert "evidence:fairness:ethnicity" in written["failed_checks"]


def test_small_groups_fail_unless_explicitly_allowed(evidence):
    small = evidence["folder"] / "fairness_small.json"
    blessing, written = _gate(evidence, fairness_json=small)
    assert not blessing.blessed and all(name.startswith(("max_gap", "min_disparate")) for name in
                                        written["failed_checks"])
    lenient = {**PASSING, "fairness": {**PASSING["fairness"], "allow_insufficient": True}}
    blessing, written = _gate(evidence, lenient, fairness_json=small)
    assert blessing.blessed
    assert any(c["verdict"] == "skipped" and "smaller than the minimum" in c["reason"] for c in written["checks"])


def test_first_model_skips_regression_with_a_reason(evidence):
    blessing, written = _gate(evidence, evaluation_json=evidence["folder"] / "evaluation.json",
                              fairness_json=evidence["folder"] / "fairness.json")
    check = next(c for c in written["checks"] if c["name"] == "max_regression:roc_auc")
    assert check["verdict"] == "skipped" and "no champion yet" in check["reason"]
    assert blessing.blessed and written["baseline"] is None


def test_interval_judgement_is_stricter_than_the_point_estimate(evidence):
    fairness = json.loads((evidence["folder"] / "fairness.json").read_text())
    eod = fairness["attributes"]["gender"]["model"]["metrics"]["equal_opportunity_difference"]
    low, high = eod["interval"]
    between = (abs(eod["value"]) + max(abs(low), abs(high))) / 2  # above the point, below the far bound
    policy = {**PASSING, "fairness": {**PASSING["fairness"], "attributes": {"gender": {"max_gap": {
        "equal_opportunity_difference": between}}}}}
    assert _gate(evidence, policy)[0].blessed
    conservative = {**policy, "fairness": {**policy["fairness"], "judge": "conservative"}}
    assert "max_gap:gender:equal_opportunity_difference" in _gate(evidence, conservative)[1]["failed_checks"]


def test_evaluation_of_another_model_is_refused(evidence):
    blessing, written = _gate(evidence, model_sha256="0" * 64)
    assert {"evidence:evaluation:subject", "evidence:fairness:subject", "evidence:explanation:subject"} <= set(
        written["failed_checks"])
    assert "evidence:validation:subject" not in written["failed_checks"]  # validation names no model


@pytest.mark.parametrize("policy, message", [
    ({}, "sets no threshold"),
    ({"max_regression": {}}, "sets no threshold"),
    ({"max_regression": {}, "explanations": {}, "fairness": {"max_gap": {}}}, "sets no threshold"),
    ({"require": ["evaluation"]}, "sets no threshold"),
    ({"min_auc": 0.8}, "gates.min_auc: unknown key"),
    ({"min_roc_auc": 1.5}, "gates.min_roc_auc"),
    ({"max_regression": {"auc": 0.1}}, "unknown metric 'auc'"),
    ({"fairness": {"max_gap": {"equal_opportunity_difference": 2}}}, "lies in [0, 1]"),
    ({"fairness": {"judge": "vibes"}, "min_roc_auc": 0.5}, "gates.fairness.judge"),
])
def test_bad_policies_are_refused_with_the_key(policy, message):
    with pytest.raises(ConfigError) as err:
        parse_policy(policy)
    assert message in str(err.value)


def test_policy_hash_changes_with_any_threshold():
    from kfp_governance.gate.policy import policy_hash

    assert policy_hash(parse_policy(PASSING)) == policy_hash(parse_policy(dict(PASSING)))
    assert policy_hash(parse_policy(PASSING)) != policy_hash(parse_policy({**PASSING, "min_roc_auc": 0.81}))


# -- evidence that belongs to something else, or is malformed (issue 7, finding 3) ---------------------------

@pytest.fixture(scope="module")
def foreign(evidence, adult_splits, adult_model):
    """Evidence computed on another model (the champion) and on another eval split."""
    from kfp_governance.config import ExplainConfig, FairnessConfig
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.executors.explain_model import explain_model
    from kfp_governance.executors.validate_data import validate_data

    folder = evidence["folder"] / "foreign"
    train, evaluation, _ = adult_splits
    other = evidence["champion"]
    evaluate_fairness(other, train, evaluation, protected_attributes=ATTRIBUTES, champion_dir=other,
                      config=FairnessConfig(bootstrap_samples=20), output_json=folder / "fairness.json",
                      output_html=None)
    explain_model(other, evaluation, config=ExplainConfig(max_samples=50), output_json=folder / "explanation.json",
                  output_html=folder / "explanation.html")
    subset = pd.read_parquet(evaluation).iloc[:3000]  # another eval split: same columns, other rows
    subset.to_parquet(folder / "eval_subset.parquet")
    validate_data(train, folder / "eval_subset.parquet", label="loan", train_statistics_path=folder / "t.stats",
                  eval_statistics_path=folder / "e.stats", schema_path=folder / "schema.pbtxt",
                  anomalies_path=folder / "anomalies.json", report_path=folder / "report.html")
    return folder


@pytest.mark.parametrize("kind", ["fairness", "explanation", "validation"])
def test_evidence_about_another_model_or_split_fails_and_is_not_used(evidence, foreign, kind):
    name = {"validation": "anomalies.json"}.get(kind, f"{kind}.json")
    blessing, written = _gate(evidence, **{f"{kind}_json": foreign / name})
    assert not blessing.blessed
    subject = next(c for c in blessing.checks if c.name == f"evidence:{kind}:subject")
    assert subject.verdict == "fail"
    assert ("eval_data_sha256" if kind == "validation" else "model_sha256") in subject.reason
    assert f"evidence:{kind}" in written["failed_checks"]  # the rejected document counts as missing
    assert written["evidence"][kind]["rejected"]


def _altered(evidence, source, name, change):
    document = json.loads(source.read_text())
    change(document)
    path = evidence["folder"] / name
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("kind, source, change", [
    ("evaluation", "evaluation_champion.json", lambda d: d.pop("model_sha256")),
    ("evaluation", "evaluation_champion.json", lambda d: d["metrics"].pop("roc_auc")),
    ("validation", "clean/anomalies.json", lambda d: (d.pop("anomalies"), d.update(anomaly_count=7))),
    ("validation", "clean/anomalies.json", lambda d: d.update(anomaly_count=7)),
    ("fairness", "fairness_champion.json", lambda d: d.pop("eval_data_sha256")),
    ("explanation", "explanation.json", lambda d: d.pop("model_sha256")),
])
def test_malformed_evidence_fails_its_schema_check(evidence, kind, source, change):
    path = _altered(evidence, evidence["folder"] / source, f"malformed_{kind}.json", change)
    blessing, written = _gate(evidence, **{f"{kind}_json": path})
    assert not blessing.blessed
    check = next(c for c in blessing.checks if c.name == f"evidence:{kind}:schema")
    assert check.verdict == "fail" and "malformed" in check.reason


def test_the_blessing_validates_against_its_published_schema(evidence):
    from kfp_governance.evidence import schema_problems

    _, written = _gate(evidence)
    assert schema_problems("blessing", written) == []
    assert written["train_data_sha256"] == evidence["train_data_sha256"]


def test_evaluation_and_fairness_must_compare_with_the_same_champion(evidence):
    blessing, written = _gate(evidence, fairness_json=evidence["folder"] / "fairness.json")  # no champion there
    assert "evidence:same_champion" in written["failed_checks"]


# -- a constant model is never blessed (issue 7, finding 2) ----------------------------------------------------

@pytest.fixture(scope="module")
def constant_model(evidence, adult_splits, adult_model):
    """Logistic regression so regularised that it predicts 'not >50K' for every row (its ROC AUC stays high)."""
    from kfp_governance.config import ExplainConfig, FairnessConfig
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.executors.evaluate_model import evaluate_model
    from kfp_governance.executors.explain_model import explain_model

    train, evaluation, _ = adult_splits
    model = adult_model("logistic_regression", C=1e-6)
    folder = evidence["folder"] / "constant"
    evaluate_model(model, evaluation, output_json=folder / "evaluation.json")
    evaluate_fairness(model, train, evaluation, protected_attributes=ATTRIBUTES,
                      config=FairnessConfig(bootstrap_samples=20), output_json=folder / "fairness.json",
                      output_html=None)
    explain_model(model, evaluation, config=ExplainConfig(max_samples=50), output_json=folder / "explanation.json",
                  output_html=folder / "explanation.html")
    return model, folder


def _example_policies():
    from conftest import REPO

    from kfp_governance.config import default_config, load_config
    from kfp_governance.gate.policy import DEFAULT_POLICY

    example = load_config(REPO / "examples" / "adult.yaml").gates.model_dump(mode="json", exclude_unset=True)
    return {"example": example, "bundled default": default_config().gates.model_dump(mode="json",
            exclude_unset=True), "no gates section": DEFAULT_POLICY,
            "roc only": {"min_roc_auc": 0.5, "require": ["evaluation"]}}


@pytest.mark.parametrize("which", ["example", "bundled default", "no gates section", "roc only"])
def test_a_model_that_never_predicts_the_positive_class_is_not_blessed(evidence, constant_model, adult_splits, which):
    import joblib

    model, folder = constant_model
    _, evaluation, _ = adult_splits
    frame = pd.read_parquet(evaluation)
    record = read_record(model)
    predictions = joblib.load(model / "model.joblib").predict(frame[record["features"]])
    assert set(predictions) == {0}  # the premise, checked independently of our evidence
    policy = _example_policies()[which]
    blessing, written = _gate(evidence, policy, model_sha256=record["model_sha256"],
                              evaluation_json=folder / "evaluation.json", fairness_json=folder / "fairness.json",
                              explanation_json=folder / "explanation.json")
    assert not blessing.blessed
    sanity = next(c for c in blessing.checks if c.name == "sanity:predicts_both_classes")
    assert sanity.verdict == "fail" and f"negative for all {len(frame)} eval rows" in sanity.reason
    # disparate impact is 0/0 for every attribute: undefined fairness fails too, whatever the policy asks
    assert {"sanity:fairness_defined:gender", "sanity:fairness_defined:ethnicity"} <= set(written["failed_checks"])


def test_exact_explanations_and_a_minimum_sample_can_be_required(evidence):
    explanation = json.loads((evidence["folder"] / "explanation.json").read_text())
    rows, exact = explanation["sample"]["rows"], explanation["method"]["exact"]
    blessing, _ = _gate(evidence, {**PASSING, "explanations": {"require_exact": True, "min_rows": rows}})
    assert blessing.blessed == bool(exact)
    blessing, written = _gate(evidence, {**PASSING, "explanations": {"min_rows": rows + 1}})
    assert written["failed_checks"] == ["explanations:min_rows"]
    approximate = _altered(evidence, evidence["folder"] / "explanation.json", "approximate.json",
                           lambda d: d["method"].update(exact=False, algorithm="tree_saabas_approximate"))
    blessing, written = _gate(evidence, {**PASSING, "explanations": {"require_exact": True}},
                              explanation_json=approximate)
    assert written["failed_checks"] == ["explanations:require_exact"]
