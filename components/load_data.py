"""KFP interface of :mod:`kfp_governance.executors.load_data`."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def load_data(
    data_uri: str,
    label: str,
    positive_label: str,
    train_data: Output[Dataset],
    eval_data: Output[Dataset],
    data_format: str = "auto",
    features: list = [],
    na_values: list = [],
    protected_attributes: list = [],
    eval_fraction: float = 0.2,
    split_seed: int = 42,
):
    """Read CSV or Parquet from a path or URI and split it, stratified and seeded, into train and eval.

    Both outputs are Parquet files; their metadata carries the source URI and
    its sha256, row counts and positive rates.

    Example (runs locally)::

        from kfp import local
        from kfp_governance.components import load_data
        local.init(runner=local.SubprocessRunner(use_venv=False))
        task = load_data(data_uri="adult.csv", label="loan", positive_label=">50K")
        print(task.outputs["train_data"].metadata["rows"])
    """
    from kfp_governance.config import DataConfig, SplitConfig
    from kfp_governance.executors.load_data import load_data as execute
    from kfp_governance.launcher import step

    with step("load_data"):
        data = DataConfig(uri=data_uri, format=data_format, label=label, positive_label=positive_label,
                          features=features or None, na_values=na_values,
                          protected_attributes=protected_attributes)
        result = execute(data, SplitConfig(eval_fraction=eval_fraction, seed=split_seed),
                         train_data.path, eval_data.path)
        meta = result.metadata()
        train_data.metadata.update(meta, split="train", split_rows=result.train_rows)
        eval_data.metadata.update(meta, split="eval", split_rows=result.eval_rows)
