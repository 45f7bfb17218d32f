"""approve, reject, rollback and audit through the CLI, on a real MLflow registry and real model servers."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import run_cli

CONFIG = {
    "data": {"uri": None, "label": "loan", "positive_label": ">50K", "na_values": ["?"],
             "protected_attributes": [{"name": "gender", "privileged": "Male"}]},
    "approval": {"rule": "required", "approvers": ["alice", "bob"]},
    "deployment": {"smoke_rows": 20, "analysis_rows": 40},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, adult_config, adult_model):
    import os

    from kfp_governance.registry.mlflow_registry import MlflowRegistry

    folder = tmp_path_factory.mktemp("cli-registry")
    config = dict(CONFIG, data=dict(CONFIG["data"], uri=adult_config.data.uri))
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    registry = MlflowRegistry(os.environ["KFP_GOVERNANCE_HOME"] + "/mlflow.db")
    blessed = {"gate.decision": "BLESSED"}
    for run, estimator in (("cli-1", "logistic_regression"), ("cli-2", "hist_gradient_boosting")):
        registry.register("cli-model", adult_model(estimator), evidence_dir=None, tags=blessed, run_id=run)
    return path, registry


def _error(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_approve_records_who_and_why_and_deploys_through_the_canary(setup, adult_splits):
    config, registry = setup
    _, evaluation, _ = adult_splits
    result = run_cli("approve", "cli-model", "1", "--by", "alice", "--reason", "reviewed the card",
                     "--eval-data", str(evaluation), "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployment: deployed" in result.stdout and "smoke" in result.stdout
    assert registry.get_version("cli-model", "1").approval == "approved"
    assert registry.alias("cli-model", "champion").version == "1"
    approved = next(r for r in registry.audit("cli-model", "1") if r.action == "approved")
    assert (approved.actor, approved.reason) == ("alice", "reviewed the card")


def test_mistakes_are_one_line_and_change_nothing(setup):
    config, registry = setup
    line = _error(run_cli("approve", "cli-model", "99", "--by", "alice", "--no-deploy", "--config", str(config)))
    assert "has no version '99'" in line
    line = _error(run_cli("approve", "cli-model", "2", "--by", "mallory", "--no-deploy", "--config", str(config)))
    assert "'mallory' may not approve" in line
    assert registry.get_version("cli-model", "2").approval == "pending"
    assert "needs --eval-data" in _error(run_cli("approve", "cli-model", "2", "--by", "bob", "--config", str(config)))


def test_reject_then_audit_tells_the_whole_story(setup):
    config, registry = setup
    result = run_cli("reject", "cli-model", "2", "--by", "bob", "--reason", "gap too wide", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert registry.get_version("cli-model", "2").approval == "rejected"
    report = json.loads(run_cli("audit", "cli-model", "2", "--json", "--config", str(config)).stdout)
    assert [s["id"] for s in report["sections"]] == [str(i) for i in range(1, 10)]
    trail = report["sections"][5]["content"]["trail"]
    assert trail[-1]["action"] == "rejected" and trail[-1]["actor"] == "bob"
    text = run_cli("audit", "cli-model", "--config", str(config)).stdout  # the champion by default
    assert "audit of cli-model version 1" in text and "approved" in text and "promoted" in text


def test_rollback_without_a_previous_champion_is_refused(setup):
    config, registry = setup
    line = _error(run_cli("rollback", "cli-model", "--by", "alice", "--config", str(config)))
    assert "no previous champion" in line
    assert registry.alias("cli-model", "champion").version == "1"
