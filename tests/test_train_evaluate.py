"""train_model and evaluate_model on the bundled data, with real scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from kfp_governance.errors import ConfigError, IntegrityError
from kfp_governance.executors.evaluate_model import evaluate_model
from kfp_governance.executors.train_model import train_model
from kfp_governance.model_io import MODEL_FILE, load_model, read_record


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_forest", "hist_gradient_boosting"])
def test_each_estimator_trains_and_records_its_lineage(adult_model, adult_splits, estimator):
    model_dir = adult_model(estimator)
    record = read_record(model_dir)
    train, _, loaded = adult_splits
    assert record["estimator"] == estimator
    assert record["features"] == loaded.features
    assert record["train_rows"] == loaded.train_rows
    assert record["versions"]["scikit-learn"]
    assert record["code"]["package_version"]
    assert len(record["transformed_feature_sources"]) == load_model(model_dir).named_steps["preprocess"] \
        .transform(pd.read_parquet(train).head(2)[record["features"]]).shape[1]


def test_training_is_reproducible(tmp_path, adult_splits):
    train, evaluation, _ = adult_splits
    frame = pd.read_parquet(evaluation)
    scores = []
    for name in ("a", "b"):
        train_model(train, tmp_path / name, label="loan", positive_label=">50K", estimator="random_forest",
                    params={"n_estimators": 10}, seed=3)
        model = load_model(tmp_path / name)
        scores.append(model.predict_proba(frame[read_record(tmp_path / name)["features"]])[:, 1])
    np.testing.assert_array_equal(scores[0], scores[1])


def test_unknown_estimator_parameter_names_it(tmp_path, adult_splits):
    train, _, _ = adult_splits
    with pytest.raises(ConfigError, match="training.params: Invalid parameter 'depth'"):
        train_model(train, tmp_path / "m", label="loan", positive_label=">50K", estimator="random_forest",
                    params={"depth": 3})
    with pytest.raises(ConfigError, match="training.params"):
        train_model(train, tmp_path / "m", label="loan", positive_label=">50K", estimator="random_forest",
                    params={"n_estimators": -1})


def test_tampered_model_is_refused_before_loading(tmp_path, adult_model, adult_splits):
    source = adult_model("logistic_regression")
    copy = tmp_path / "model"
    copy.mkdir()
    for item in source.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    with open(copy / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IntegrityError, match="sha256"):
        load_model(copy)
    with pytest.raises(IntegrityError):
        evaluate_model(copy, adult_splits[1])


def test_evaluation_matches_an_independent_computation(tmp_path, adult_model, adult_splits):
    model_dir = adult_model("hist_gradient_boosting")
    _, evaluation, _ = adult_splits
    result = evaluate_model(model_dir, evaluation, output_json=tmp_path / "e.json")
    frame = pd.read_parquet(evaluation)
    y = (frame["loan"] == ">50K").astype(int).to_numpy()
    model = load_model(model_dir)
    proba = model.predict_proba(frame[read_record(model_dir)["features"]])[:, 1]
    assert result.metrics["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, proba), abs=1e-12)
    assert result.metrics["accuracy"] == pytest.approx(metrics.accuracy_score(y, model.predict(
        frame[read_record(model_dir)["features"]])), abs=1e-12)
    (tn, fp), (fn, tp) = result.confusion_matrix["matrix"]
    assert tn + fp + fn + tp == len(y) and tp + fn == y.sum()
    assert result.metrics["recall"] == pytest.approx(tp / (tp + fn))
    curve = result.roc_curve
    assert len(curve["fpr"]) <= 101 and curve["fpr"][0] == 0 and curve["tpr"][-1] == 1
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == result.metrics


def test_champion_is_rescored_on_the_same_rows(adult_model, adult_splits):
    _, evaluation, _ = adult_splits
    challenger, champion = adult_model("hist_gradient_boosting"), adult_model("logistic_regression")
    both = evaluate_model(challenger, evaluation, champion_dir=champion)
    alone = evaluate_model(champion, evaluation)
    assert both.champion["metrics"] == alone.metrics
    assert both.deltas["roc_auc"] == pytest.approx(both.metrics["roc_auc"] - alone.metrics["roc_auc"])


def test_a_champion_whose_bytes_differ_from_its_pinned_hash_is_refused(tmp_path, adult_model, adult_splits):
    import shutil

    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.hashing import sha256_file

    train, evaluation, _ = adult_splits
    challenger = adult_model("logistic_regression")
    champion = tmp_path / "champion"
    shutil.copytree(adult_model("hist_gradient_boosting"), champion)
    pinned = sha256_file(champion / "model.joblib")
    ok = evaluate_model(challenger, evaluation, champion_dir=champion, champion_sha256=pinned)
    assert ok.champion["model_sha256"] == pinned

    with pytest.raises(IntegrityError, match="sha256"):  # the registered hash is of other bytes
        evaluate_model(challenger, evaluation, champion_dir=champion, champion_sha256="0" * 64)
    with pytest.raises(IntegrityError, match="sha256"):
        evaluate_fairness(challenger, train, evaluation, protected_attributes=[{"name": "gender", "privileged": "Male"}],
                          config={"bootstrap_samples": 0}, output_json=None, output_html=None,
                          champion_dir=champion, champion_sha256="0" * 64)
    with (champion / "model.joblib").open("ab") as stream:  # bytes changed after it was recorded
        stream.write(b"\0")
    with pytest.raises(IntegrityError, match="was recorded"):
        evaluate_model(challenger, evaluation, champion_dir=champion)


def test_preflight_refuses_a_champion_that_is_not_the_pinned_one(tmp_path, adult_model):
    from kfp_governance.config import ChampionConfig, default_config
    from kfp_governance.preflight import check_champion

    config = default_config().model_copy(deep=True)
    config.champion = ChampionConfig(model_uri=str(adult_model("logistic_regression")), model_sha256="0" * 64)
    with pytest.raises(ConfigError, match="champion.model_uri") as err:
        check_champion(config)
    assert "correct champion.model_sha256" in str(err.value)
    config.champion.model_sha256 = None
    check_champion(config)  # the hash in its own record matches its bytes
