"""Typed values survive the pipeline: what the config validates reaches the executor with its type.

A ``dict`` pipeline parameter travels as a protobuf Struct, which holds only
doubles, so ``max_iter: 200`` would reach scikit-learn as ``200.0`` (and be
refused). Estimator parameters therefore cross as JSON text, in
``kfp-governance run``, in the compiled YAML and in a user's own pipeline.
"""

import json

import joblib
import pytest
from kfp import dsl, local
from kfp.dsl.types.type_utils import InconsistentTypeException

from kfp_governance.components import load_data, train_model
from kfp_governance.config import default_config, parse_config
from kfp_governance.errors import ConfigError
from kfp_governance.pipelines.arguments import training_arguments


def test_the_pipeline_argument_is_json_text_that_keeps_integers():
    config = default_config()
    config.training.params = {"max_iter": 200, "learning_rate": 0.1, "max_depth": None}
    text = training_arguments(config)["estimator_params"]
    assert isinstance(text, str)
    assert json.loads(text) == {"max_iter": 200, "learning_rate": 0.1, "max_depth": None}
    assert type(json.loads(text)["max_iter"]) is int


def test_a_user_pipeline_with_integer_params_trains_with_integers(tmp_path, adult_config):
    """A user's own two-task pipeline, run by kfp.local: the estimator gets the int, not 200.0."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))

    @dsl.pipeline(name="user-pipeline")
    def user_pipeline(data_uri: str):
        load = load_data(data_uri=data_uri, label="loan", positive_label=">50K", na_values=["?"])
        train_model(train_data=load.outputs["train_data"], estimator="hist_gradient_boosting",
                    estimator_params=json.dumps({"max_iter": 20, "max_leaf_nodes": 7}))

    user_pipeline(data_uri=adult_config.data.uri)
    model_dirs = list((tmp_path / "root").rglob("model_record.json"))
    assert len(model_dirs) == 1
    estimator = joblib.load(model_dirs[0].parent / "model.joblib").named_steps["model"]
    assert (estimator.max_iter, estimator.max_leaf_nodes) == (20, 7)
    assert type(estimator.max_iter) is int
    assert json.loads(model_dirs[0].read_text())["params_requested"] == {"max_iter": 20, "max_leaf_nodes": 7}


def test_a_dict_is_refused_when_the_pipeline_is_defined():
    with pytest.raises(InconsistentTypeException, match="estimator_params"):
        @dsl.pipeline(name="wrong")
        def wrong():
            load = load_data(data_uri="x.csv", label="y", positive_label="1")
            train_model(train_data=load.outputs["train_data"], estimator_params={"max_iter": 3})


@pytest.mark.parametrize("params, message", [
    ({"max_iter": 200.5}, "'max_iter' parameter of HistGradientBoostingClassifier must be an int"),
    ({"learning_rate": -1}, "'learning_rate' parameter"),
    ({"n_estimators": 10}, "Invalid parameter 'n_estimators'"),
])
def test_check_config_refuses_what_training_would_refuse(params, message):
    from kfp_governance.preflight import check_data

    config = parse_config({**default_config().model_dump(mode="json", by_alias=True, exclude_unset=True),
                           "training": {"params": params}})
    with pytest.raises(ConfigError, match="training.params") as err:
        check_data(config)
    assert message in str(err.value)


def test_an_integral_privileged_value_stays_an_integer():
    from kfp_governance.config import ProtectedAttribute

    assert ProtectedAttribute.model_validate({"name": "sex", "privileged": 1.0}).privileged == 1
    assert type(ProtectedAttribute.model_validate({"name": "sex", "privileged": 1.0}).privileged) is int
    assert ProtectedAttribute.model_validate({"name": "score", "privileged": 0.5}).privileged == 0.5
