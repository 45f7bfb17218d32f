"""Shared fixtures: the bundled UCI Adult split once per session, models trained on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# The per-user registry and serving state of every run in the tests live in a folder of their own, never in the
# user's (KFP_GOVERNANCE_HOME is read by the default MLflow registry and the local serving backend).
os.environ["KFP_GOVERNANCE_HOME"] = tempfile.mkdtemp(prefix="kfp-governance-test-home-")


@pytest.fixture(scope="session", autouse=True)
def _stop_local_model_servers():
    """Model servers that runs deployed outlive their task by design: stop them when the tests end."""
    yield
    from kfp_governance.serving.local import LocalProcessBackend

    state = Path(os.environ["KFP_GOVERNANCE_HOME"]) / "serving"
    backend = LocalProcessBackend(state)
    for service in sorted(state.glob("*.json")):
        backend.stop(service.stem)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def adult_config():
    from kfp_governance.config import default_config

    return default_config()


@pytest.fixture(scope="session")
def adult_splits(tmp_path_factory, adult_config):
    """``(train_path, eval_path, LoadResult)`` of the bundled data with the default split."""
    from kfp_governance.executors.load_data import load_data

    folder = tmp_path_factory.mktemp("adult")
    train, evaluation = folder / "train.parquet", folder / "eval.parquet"
    result = load_data(adult_config.data, adult_config.split, train, evaluation)
    return train, evaluation, result


@pytest.fixture(scope="session")
def adult_model(tmp_path_factory, adult_splits):
    """A factory: ``adult_model("random_forest")`` trains once per estimator and returns the model dir."""
    from kfp_governance.executors.train_model import train_model

    cache: dict[str, Path] = {}
    train, _, _ = adult_splits

    def make(estimator: str = "logistic_regression", **params) -> Path:
        key = estimator + repr(sorted(params.items()))
        if key not in cache:
            directory = tmp_path_factory.mktemp(f"model-{estimator}")
            train_model(train, directory, label="loan", positive_label=">50K", estimator=estimator, params=params)
            cache[key] = directory
        return cache[key]

    return make


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``kfp-governance`` as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "kfp_governance.pipelines.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env={**os.environ, "COLUMNS": "200"})
