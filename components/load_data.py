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
    its sha256, the split file's own ``sha256`` (what every piece of evidence
    computed on the split names), row counts and positive rates.

    Usage in a pipeline::

        load = load_data(data_uri="gs://bucket/adult.csv", label="loan", positive_label=">50K",
                         protected_attributes=[{"name": "gender", "privileged": "Male"}])
    """
    from kfp_governance.config import DataConfig, SplitConfig
    from kfp_governance.executors.load_data import load_data as execute
    from kfp_governance.hashing import sha256_file
    from kfp_governance.launcher import step

    with step("load_data"):
        data = DataConfig(uri=data_uri, format=data_format, label=label, positive_label=positive_label,
                          features=features or None, na_values=na_values,
                          protected_attributes=protected_attributes)
        result = execute(data, SplitConfig(eval_fraction=eval_fraction, seed=split_seed),
                         train_data.path, eval_data.path)
        meta = result.metadata()
        train_data.metadata.update(meta, split="train", split_rows=result.train_rows,
                                   sha256=sha256_file(train_data.path))
        eval_data.metadata.update(meta, split="eval", split_rows=result.eval_rows, sha256=sha256_file(eval_data.path))
