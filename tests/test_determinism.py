"""The same inputs give the same evidence, byte for byte (no timings, no load-dependent choices).

Each executor runs twice on the same model, splits and config, writing to the
same paths; the documents must be identical. (Explanations and model cards
have tests of their own in test_explain.py and test_model_card.py; the
blessing carries the one time-dependent field, ``decided_at``, because it is
a decision record.)
"""

from __future__ import annotations

from kfp_governance.config import FairnessConfig

ATTRIBUTES = [{"name": "gender", "privileged": "Male"}, {"name": "ethnicity", "privileged": "White"}]


def _twice(run, path):
    run()
    first = path.read_bytes()
    run()
    return first, path.read_bytes()


def test_evaluation_is_byte_identical(tmp_path, adult_splits, adult_model):
    from kfp_governance.executors.evaluate_model import evaluate_model

    _, evaluation, _ = adult_splits
    out = tmp_path / "evaluation.json"
    first, second = _twice(lambda: evaluate_model(adult_model("hist_gradient_boosting"), evaluation,
                                                  champion_dir=adult_model("logistic_regression"), output_json=out),
                           out)
    assert first == second


def test_fairness_is_byte_identical_and_holds_no_timings(tmp_path, adult_splits, adult_model):
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness

    train, evaluation, _ = adult_splits
    out = tmp_path / "fairness.json"
    first, second = _twice(lambda: evaluate_fairness(
        adult_model("hist_gradient_boosting"), train, evaluation, protected_attributes=ATTRIBUTES,
        config=FairnessConfig(), output_json=out, output_html=tmp_path / "fairness.html"), out)
    assert first == second
    assert b"seconds" not in first


def test_validation_is_byte_identical(tmp_path, adult_splits):
    from kfp_governance.executors.validate_data import validate_data

    train, evaluation, _ = adult_splits

    def run():
        validate_data(train, evaluation, label="loan", train_statistics_path=tmp_path / "train.stats",
                      eval_statistics_path=tmp_path / "eval.stats", schema_path=tmp_path / "schema.pbtxt",
                      anomalies_path=tmp_path / "anomalies.json", report_path=tmp_path / "report.html")

    first, second = _twice(run, tmp_path / "anomalies.json")
    assert first == second
    assert b"seconds" not in first and b"timings" not in first
