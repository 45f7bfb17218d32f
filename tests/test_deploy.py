"""Gated deployment for real: an MLflow registry on SQLite, KServe model servers as local processes.

Each test registers real models (trained on UCI Adult), deploys through
:func:`kfp_governance.executors.deploy_model.deploy_model` and checks what a
user relies on: what answers on the endpoints, where the champion alias
points, and what the audit trail says.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import joblib
import numpy as np
import pandas as pd
import pytest

from kfp_governance.config import DeploymentPolicy
from kfp_governance.errors import DeploymentError
from kfp_governance.executors.deploy_model import deploy_model
from kfp_governance.registry.base import CHAMPION
from kfp_governance.serving.client import predict_probabilities

ATTRIBUTES = [{"name": "gender", "privileged": "Male"}]
FAST = {"smoke_rows": 20, "analysis_rows": 60, "analysis_seconds": 60}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from kfp_governance.registry.mlflow_registry import MlflowRegistry
    from kfp_governance.serving.local import LocalProcessBackend

    folder = tmp_path_factory.mktemp("deploy")
    registry = MlflowRegistry(f"sqlite:///{folder / 'mlflow.db'}")
    serving = LocalProcessBackend(folder / "serving")
    yield registry, serving, folder
    for state in (folder / "serving").glob("*.json"):
        serving.stop(state.stem)


def _register(registry, model_dir, name, run_id):
    return registry.register(name, model_dir, evidence_dir=None, tags={"gate.decision": "BLESSED"}, run_id=run_id)


def _deploy(world, name, version, eval_path, **policy):
    registry, serving, folder = world
    return deploy_model(registry, serving, model_name=name, version=version, blessed=True, blessing_reason="",
                        eval_path=eval_path, protected_attributes=ATTRIBUTES, approval_rule="auto", approvers=[],
                        policy={**FAST, **policy}, actor="test", workdir=folder / f"{name}-{version}")


def _actions(registry, name, version=None):
    return [r.action for r in registry.audit(name, version)]


def test_first_deployment_is_judged_against_the_registered_model_and_promoted(world, adult_model, adult_splits):
    registry, serving, _ = world
    _, evaluation, _ = adult_splits
    model = adult_model("logistic_regression")
    version = _register(registry, model, "first", "run-1").version
    result = _deploy(world, "first", version, evaluation)
    assert result.outcome == "deployed", result.reason
    assert registry.alias("first", CHAMPION).version == version
    assert _actions(registry, "first", version) == ["canary_started", "canary_judged", "promoted"]
    rollout = serving.status("first")
    assert rollout.canary is None and rollout.stable.version == version
    frame = pd.read_parquet(evaluation).iloc[:25]
    features = json.loads((model / "model_record.json").read_text())["features"]
    served = predict_probabilities(rollout.stable, frame[features].to_dict(orient="records"))
    expected = joblib.load(model / "model.joblib").predict_proba(frame[features])[:, 1]
    np.testing.assert_allclose(served, expected, atol=1e-9)  # what is served is the registered model


def test_a_canary_whose_group_selection_rate_moves_is_rolled_back(world, adult_model, adult_splits):
    registry, serving, _ = world
    _, evaluation, _ = adult_splits
    champion = _register(registry, adult_model("logistic_regression"), "fair", "run-1").version
    assert _deploy(world, "fair", champion, evaluation).outcome == "deployed"
    challenger = _register(registry, adult_model("hist_gradient_boosting"), "fair", "run-2").version
    result = _deploy(world, "fair", challenger, evaluation, max_positive_rate_shift=1.0,
                     max_selection_rate_shift=0.001)
    assert result.outcome == "rolled_back"
    assert "selection rate of gender" in result.reason
    assert registry.alias("fair", CHAMPION).version == champion  # the champion keeps the traffic
    rollout = serving.status("fair")
    assert rollout.canary is None and rollout.stable.version == champion
    judged = next(r for r in registry.audit("fair", challenger) if r.action == "canary_judged")
    figures = judged.details["stages"][-1]["figures"]["selection_rates"]["gender"]
    assert max(g["shift"] for g in figures.values()) > 0.001
    assert _actions(registry, "fair", challenger)[-1] == "rolled_back"


def test_a_slow_canary_is_rolled_back_with_its_latency(world, adult_model, adult_splits):
    registry, _, _ = world
    _, evaluation, _ = adult_splits
    version = _register(registry, adult_model("logistic_regression"), "slow", "run-1").version
    result = _deploy(world, "slow", version, evaluation, max_p99_latency_ms=0.01)  # no real server answers so fast
    assert result.outcome == "rolled_back" and "p99 latency" in result.reason
    assert registry.alias("slow", CHAMPION) is None


def test_not_blessed_or_not_approved_changes_nothing(world, adult_model, adult_splits):
    registry, serving, folder = world
    _, evaluation, _ = adult_splits
    version = _register(registry, adult_model("logistic_regression"), "gated", "run-1").version
    common = dict(model_name="gated", version=version, eval_path=evaluation, protected_attributes=ATTRIBUTES,
                  approvers=[], policy=FAST, actor="test", workdir=folder / "gated")
    result = deploy_model(registry, serving, blessed=False, blessing_reason="min_recall", approval_rule="auto", **common)
    assert result.outcome == "skipped" and "not blessed" in result.reason
    result = deploy_model(registry, serving, blessed=True, blessing_reason="", approval_rule="required", **common)
    assert result.outcome == "skipped" and "kfp-governance approve gated" in result.reason
    assert serving.status("gated") is None and registry.alias("gated", CHAMPION) is None
    registry.set_approval("gated", version, "approved")
    result = deploy_model(registry, serving, blessed=True, blessing_reason="", approval_rule="required", **common)
    assert result.outcome == "deployed"
    assert _actions(registry, "gated", version)[:2] == ["deploy_skipped", "deploy_skipped"]


def test_registered_files_that_changed_are_refused_before_anything_runs(world, adult_model, adult_splits, tmp_path):
    registry, serving, _ = world
    _, evaluation, _ = adult_splits
    copy = tmp_path / "model"
    shutil.copytree(adult_model("logistic_regression"), copy)
    version = _register(registry, copy, "tampered", "run-1").version
    with pytest.raises(DeploymentError, match="for model"):  # a blessing for another model file
        deploy_model(registry, serving, model_name="tampered", version=version, blessed=True, blessing_reason="",
                     eval_path=evaluation, protected_attributes=ATTRIBUTES, approval_rule="auto", approvers=[],
                     policy=FAST, actor="test", expected_sha256="0" * 64)
    assert serving.status("tampered") is None


def test_a_rollback_notifies_the_webhook(world, adult_model, adult_splits, monkeypatch):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("KFP_GOVERNANCE_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        registry, _, _ = world
        _, evaluation, _ = adult_splits
        version = _register(registry, adult_model("logistic_regression"), "alerted", "run-1").version
        result = _deploy(world, "alerted", version, evaluation, max_p99_latency_ms=0.01)
    finally:
        server.shutdown()
    assert result.outcome == "rolled_back"
    assert received and received[0]["event"] == "rolled_back" and received[0]["version"] == version
    assert "rolled back" in received[0]["text"] and "p99 latency" in received[0]["text"]


def test_the_deployment_policy_is_validated():
    with pytest.raises(ValueError):
        DeploymentPolicy.model_validate({"canary_percent": 0})
