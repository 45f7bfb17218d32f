"""The CLI as a user meets it: one command runs everything; every mistake is one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli


def _csv(tmp_path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "x": x,
        "color": rng.choice(["red", "green", "blue"], size=n),
        "sex": rng.choice(["F", "M"], size=n),
        "approved": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
    path = tmp_path / "user.csv"
    frame.to_csv(path, index=False)
    return path


def _config(tmp_path, body: str):
    path = tmp_path / "config.yaml"
    path.write_text(body)
    return path


USER_CONFIG = """
data:
  uri: user.csv
  label: approved
  positive_label: "yes"
  protected_attributes: [{name: sex, privileged: M}]
split: {eval_fraction: 0.25, seed: 1}
training: {estimator: logistic_regression, params: {C: 0.5}}
"""


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    result = run_cli("run", "--output", str(output))
    return result, output


def test_default_run_on_bundled_data(default_run):
    result, output = default_run
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((output / "summary.json").read_text())
    assert summary["data"]["rows"] == 32561
    assert summary["metrics"]["roc_auc"] > 0.85
    assert {t["name"] for t in summary["tasks"]} == {
        "load-data", "resolve-champion", "validate-data", "train-model", "evaluate-model", "evaluate-fairness",
        "explain-model", "gate", "generate-model-card", "register-model", "deploy-model"}
    assert summary["registration"]["version"] and summary["deployment"]["outcome"] == "deployed"
    assert summary["validation"]["anomaly_count"] == 0
    assert summary["gate"]["decision"] in result.stdout
    for check in summary["gate"]["checks"]:
        assert check["name"] in result.stdout
    for name in ("validation_report", "fairness_report", "explanation_report", "gate_summary", "model_card"):
        assert Path(summary["reports"][name]).stat().st_size > 500, name


def test_the_run_reports_numbers_an_independent_computation_agrees_with(default_run):
    """The run's metrics, fairness gaps and prediction counts, recomputed from the model file and the eval split
    with scikit-learn, joblib and plain numpy (no code of ours)."""
    import joblib
    from sklearn.metrics import recall_score, roc_auc_score

    _, output = default_run
    summary = json.loads((output / "summary.json").read_text())
    model_dir = Path(summary["model"]["path"])
    frame = pd.read_parquet(next(output.rglob("load-data/eval_data")))
    features = json.loads((model_dir / "model_record.json").read_text())["features"]
    y = (frame["loan"].astype(str) == ">50K").to_numpy().astype(int)
    score = joblib.load(model_dir / "model.joblib").predict_proba(frame[features])[:, 1]
    predicted = (score >= 0.5).astype(int)
    # the Metrics artifact rounds to 6 decimals for the UIs; the evidence JSON keeps every digit
    assert summary["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-6)
    assert summary["metrics"]["recall"] == pytest.approx(recall_score(y, predicted), abs=1e-6)

    fairness = json.loads(next(output.rglob("evaluate-fairness/fairness")).read_text())
    privileged = (frame["gender"] == "Male").to_numpy()

    def tpr(group):
        return predicted[group & (y == 1)].mean()

    def fpr(group):
        return predicted[group & (y == 0)].mean()

    gender = fairness["attributes"]["gender"]["model"]["metrics"]
    assert gender["equal_opportunity_difference"]["value"] == pytest.approx(tpr(~privileged) - tpr(privileged), abs=1e-12)
    aod = ((fpr(~privileged) - fpr(privileged)) + (tpr(~privileged) - tpr(privileged))) / 2
    assert gender["average_odds_difference"]["value"] == pytest.approx(aod, abs=1e-12)

    evaluation = json.loads(next(output.rglob("evaluate-model/evaluation")).read_text())
    assert evaluation["prediction_counts"] == {"positive": int(predicted.sum()), "negative": int((1 - predicted).sum())}
    checks = {c["name"]: c for c in summary["gate"]["checks"]}
    assert checks["min_roc_auc"]["value"] == pytest.approx(roc_auc_score(y, score), abs=1e-9)
    assert checks["sanity:predicts_both_classes"]["verdict"] == "pass"


def test_model_card_is_built_from_the_run_evidence(default_run):
    _, output = default_run
    summary = json.loads((output / "summary.json").read_text())
    card_json = Path(summary["reports"]["model_card"]).parent / "model_card_json"
    card = json.loads(card_json.read_text())
    assert card["model_details"]["model_sha256"] == summary["model"]["sha256"]
    assert card["model_parameters"]["data"]["train"]["sha256"] == summary["data"]["source_sha256"]
    assert card["governance"]["decision"] == summary["gate"]["decision"]
    assert {a["name"] for a in card["fairness_analysis"]["attributes"]} == {"gender", "ethnicity"}
    assert card["explainability"]["top_features"]
    assert card["lineage"]["pipeline_job_name"] and card["lineage"]["package_version"]
    assert card["considerations"]["use_cases"]  # from model_card.intended_use in the default config
    html = Path(summary["reports"]["model_card"]).read_text()
    assert summary["model"]["sha256"][:16] in html and "<script" not in html and "http" not in html.lower()


def test_a_tightened_policy_rejects_and_fail_on_reject_exits_3(tmp_path):
    import yaml

    example = Path(__file__).resolve().parents[1] / "examples" / "adult.yaml"
    config = yaml.safe_load(example.read_text())
    config["data"]["uri"] = str((example.parent / config["data"]["uri"]).resolve())
    config["gates"]["min_roc_auc"] = 0.99  # the model scores about 0.93
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(config))
    result = run_cli("run", "--config", str(strict), "--output", str(tmp_path / "out"), "--fail-on-reject")
    assert result.returncode == 3, result.stdout + result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["gate"]["blessed"] is False and summary["gate"]["failed_checks"] == ["min_roc_auc"]
    assert "NOT_BLESSED" in result.stdout


def test_run_on_a_user_csv(tmp_path):
    _csv(tmp_path)
    config = _config(tmp_path, USER_CONFIG)
    result = run_cli("run", "--config", str(config), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["data"]["rows"] == 400 and summary["data"]["eval_rows"] == 100
    assert summary["model"]["estimator"] == "logistic_regression"


BAD_INPUTS = {
    "file missing": ("data:\n  uri: nowhere.csv\n  label: approved\n  positive_label: 'yes'\n",
                     "data.uri '", "does not exist"),
    "empty file": ("data:\n  uri: empty.csv\n  label: approved\n  positive_label: 'yes'\n", "empty.csv", "is empty"),
    "label missing": ("data:\n  uri: user.csv\n  label: income\n  positive_label: 'yes'\n",
                      "label column 'income'", "set data.label"),
    "one class": ("data:\n  uri: oneclass.csv\n  label: approved\n  positive_label: 'yes'\n",
                  "one class only", "both outcomes"),
    "feature missing": ("data:\n  uri: user.csv\n  label: approved\n  positive_label: 'yes'\n  features: [x, size]\n",
                        "['size']", "data.features"),
    "protected attribute missing": ("data:\n  uri: user.csv\n  label: approved\n  positive_label: 'yes'\n"
                                    "  protected_attributes: [{name: race, privileged: w}]\n",
                                    "protected attribute(s) ['race']", "data.protected_attributes"),
    "privileged value never occurs": ("data:\n  uri: user.csv\n  label: approved\n  positive_label: 'yes'\n"
                                      "  protected_attributes: [{name: sex, privileged: Male}]\n",
                                      "privileged value 'Male' of attribute 'sex' never occurs", "'F', 'M'"),
    "numeric comparison on text": ("data:\n  uri: user.csv\n  label: approved\n  positive_label: 'yes'\n"
                                   "  protected_attributes: [{name: color, privileged: '>=3'}]\n",
                                   "is a numeric comparison", "not numeric"),
    "unknown gate key": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                         "gates: {min_auc: 0.8}\n", "gates.min_auc: unknown key", "README"),
    "gate threshold out of range": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                                    "gates: {min_roc_auc: 1.5}\n", "gates.min_roc_auc", "1.5"),
    "gate with no threshold": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                               "gates: {require: [evaluation]}\n", "sets no threshold", "min_roc_auc"),
    "unparseable config": ("data: {uri: user.csv, label: [approved\n", "not valid YAML at line", "fix"),
    "unknown estimator": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                          "training: {estimator: svm}\n", "unknown estimator 'svm'", "logistic_regression"),
    "unknown estimator parameter": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                                    "training: {estimator: logistic_regression, params: {depth: 3}}\n",
                                    "training.params: Invalid parameter 'depth'", "use parameters of LogisticRegression"),
    "estimator parameter of the wrong type": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                                              "training: {estimator: logistic_regression, params: {max_iter: 2.5}}\n",
                                              "'max_iter' parameter of LogisticRegression must be an int", "2.5"),
    "champion is a file": ("data: {uri: user.csv, label: approved, positive_label: 'yes'}\n"
                           "champion: {model_uri: user.csv}\n", "champion.model_uri", "is a file, not a model folder"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_message(tmp_path, case):
    body, *expected = BAD_INPUTS[case]
    _csv(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    pd.DataFrame({"x": [1, 2, 3], "approved": ["yes"] * 3}).to_csv(tmp_path / "oneclass.csv", index=False)
    result = run_cli("run", "--config", str(_config(tmp_path, body)), "--output", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith("error:"), result.stderr
    for text in expected:
        assert text in error_lines[0]
    assert not (tmp_path / "out" / "summary.json").exists()
    checked = run_cli("check-config", str(tmp_path / "config.yaml"))  # what check-config accepts, run runs
    assert checked.returncode == 2 and [line for line in checked.stderr.splitlines() if line.strip()] == error_lines


def test_error_inside_a_task_is_reported_cleanly(tmp_path):
    _csv(tmp_path)
    (tmp_path / "schema.pbtxt").write_text("this is not a TFDV schema {")  # only the validation task reads it
    config = _config(tmp_path, USER_CONFIG + "validation: {schema: schema.pbtxt}\n")
    result = run_cli("run", "--config", str(config), "--output", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "validate_data:" in result.stderr and "schema.pbtxt" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run_cli("check-config", str(tmp_path / "none.yaml"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_version():
    from kfp_governance import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout
