"""KFP interface of :mod:`kfp_governance.executors.train_model`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train_model(
    train_data: Input[Dataset],
    model: Output[Model],
    estimator: str = "hist_gradient_boosting",
    estimator_params: str = "{}",
    seed: int = 0,
):
    """Fit a scikit-learn Pipeline (impute, one-hot, estimator) on the train split.

    ``estimator`` is ``logistic_regression``, ``random_forest`` or
    ``hist_gradient_boosting``; ``estimator_params`` is a JSON object of the
    estimator's parameters (JSON text, not a ``dict``: KFP sends a ``dict``
    parameter as a protobuf Struct, which turns every integer into a float
    that scikit-learn refuses, e.g. ``max_iter: 200`` into ``200.0``). The
    Model artifact is a directory (``model.joblib`` + ``model_record.json``);
    its metadata records framework, versions, features, parameters, the
    training data's sha256 and the model file's sha256.

    Usage in a pipeline::

        train = train_model(train_data=load.outputs["train_data"], estimator="random_forest",
                            estimator_params=json.dumps({"n_estimators": 50, "max_depth": 8}))
    """
    from kfp_governance.executors.train_model import parse_estimator_params
    from kfp_governance.executors.train_model import train_model as execute
    from kfp_governance.launcher import step

    with step("train_model"):
        source = train_data.metadata
        result = execute(
            train_data.path, model.path, label=source["label"], positive_label=source["positive_label"],
            features=list(source["features"]), estimator=estimator,
            params=parse_estimator_params(estimator_params), seed=seed,
            data_lineage={"source_uri": source.get("source_uri"), "source_sha256": source.get("source_sha256"),
                          "split_uri": train_data.uri},
        )
        model.metadata.update(result.metadata())
        model.metadata["framework_version"] = result.record["versions"]["scikit-learn"]
