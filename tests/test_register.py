"""Registration and champion resolution, end to end on real evidence and a real MLflow registry (SQLite in tmp).

The evidence is what a pipeline run writes: the evaluation, fairness and
explanation executors on the bundled Adult data, the gate's blessing and the
model card, and TFDV's validation of the splits.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from kfp_governance.config import RegistryConfig
from kfp_governance.errors import EvidenceError, IntegrityError, RegistryError
from kfp_governance.executors.register_model import register_model
from kfp_governance.executors.resolve_champion import resolve_champion
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import read_record
from kfp_governance.registry import CHALLENGER, CHAMPION, open_registry

ATTRIBUTES = [{"name": "gender", "privileged": "Male"}, {"name": "ethnicity", "privileged": "White"}]
POLICY = {"min_roc_auc": 0.8, "fairness": {"max_gap": {"equal_opportunity_difference": 0.5}}}
NAME = "adult-income"


@pytest.fixture(scope="module")
def evidence(tmp_path_factory, adult_splits, adult_model):
    from kfp_governance.config import ExplainConfig, FairnessConfig
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.executors.evaluate_model import evaluate_model
    from kfp_governance.executors.explain_model import explain_model
    from kfp_governance.executors.gate import gate
    from kfp_governance.executors.model_card import generate_model_card
    from kfp_governance.executors.validate_data import validate_data

    folder = tmp_path_factory.mktemp("evidence")
    train, evaluation, loaded = adult_splits
    model = adult_model("logistic_regression")
    sha = read_record(model)["model_sha256"]
    evaluate_model(model, evaluation, output_json=folder / "evaluation.json")
    evaluate_fairness(model, train, evaluation, protected_attributes=ATTRIBUTES,
                      config=FairnessConfig(bootstrap_samples=20), output_json=folder / "fairness.json",
                      output_html=None)
    explain_model(model, evaluation, config=ExplainConfig(max_samples=50), output_json=folder / "explanation.json",
                  output_html=folder / "explanation.html")
    out = folder / "validation"
    validate_data(train, evaluation, label="loan", train_statistics_path=out / "train.stats",
                  eval_statistics_path=out / "eval.stats", schema_path=out / "schema.pbtxt",
                  anomalies_path=folder / "validation.json", report_path=out / "report.html")
    documents = {"evaluation_json": folder / "evaluation.json", "fairness_json": folder / "fairness.json",
                 "explanation_json": folder / "explanation.json", "validation_json": folder / "validation.json"}
    subject = {"model_sha256": sha, "train_data_sha256": sha256_file(train), "eval_data_sha256": sha256_file(evaluation)}
    for name, policy in (("blessing", POLICY), ("rejection", {**POLICY, "min_roc_auc": 0.99})):
        gate(policy, protected_attributes=["gender", "ethnicity"], output_json=folder / f"{name}.json", **subject,
             **documents)
    generate_model_card(model, data=loaded.metadata(), blessing_json=folder / "blessing.json",
                        output_json=folder / "model_card.json", **documents)
    assert json.loads((folder / "blessing.json").read_text())["blessed"]
    assert not json.loads((folder / "rejection.json").read_text())["blessed"]
    return {"model": model, "sha": sha, "folder": folder, **documents, "model_card_json": folder / "model_card.json"}


@pytest.fixture
def registry(tmp_path):
    return open_registry(RegistryConfig(tracking_uri=str(tmp_path / "registry" / "mlflow.db")))


def _register(registry, evidence, blessing="blessing.json", run_id="run-1", **changes):
    arguments = {k: evidence[k] for k in ("validation_json", "evaluation_json", "fairness_json", "explanation_json",
                                         "model_card_json")}
    arguments.update(changes)
    return register_model(arguments.pop("model", evidence["model"]), model_name=NAME, registry=registry,
                          blessing_json=evidence["folder"] / blessing, pipeline_run_id=run_id,
                          pipeline_run_name=f"training-{run_id}", **arguments)


def test_a_blessed_model_is_registered_with_its_evidence_and_becomes_challenger(registry, evidence, tmp_path):
    started = time.perf_counter()
    result = _register(registry, evidence, output_json=tmp_path / "registration.json")
    print(f"\nregister_model on SQLite: {time.perf_counter() - started:.2f} s")
    assert (result.version, result.blessed, result.aliases, result.already_registered) == ("1", True, [CHALLENGER],
                                                                                          False)
    written = json.loads((tmp_path / "registration.json").read_text())
    assert written["version"] == "1" and written["model_name"] == NAME and written["aliases"] == [CHALLENGER]
    tags = registry.get_version(NAME, "1").tags
    blessing = json.loads((evidence["folder"] / "blessing.json").read_text())
    evaluation = json.loads(evidence["evaluation_json"].read_text())
    record = read_record(evidence["model"])
    assert tags["model_sha256"] == evidence["sha"] and tags["pipeline_run_id"] == "run-1"
    assert tags["gate.decision"] == "BLESSED" and tags["gate.failed_checks"] == ""
    assert tags["policy_sha256"] == blessing["policy_sha256"]
    data = json.loads(evidence["model_card_json"].read_text())["model_parameters"]["data"]["train"]
    assert tags["data.uri"] == data["uri"] and tags["data.uri"].endswith("adult.csv.gz")
    assert tags["data.sha256"] == data["sha256"] and len(tags["data.sha256"]) == 64
    assert tags["data.train_split_sha256"] == record["training_data"]["split_sha256"]
    assert float(tags["metric.roc_auc"]) == pytest.approx(evaluation["metrics"]["roc_auc"], rel=1e-5)
    assert {"fairness.gender.equal_opportunity_difference", "fairness.ethnicity.status", "explanation.method",
            "package_version", "git_commit", "image", "model_card_uri", "approval"} <= set(tags)
    assert all(isinstance(v, str) and len(v) <= 250 for v in tags.values())
    # the evidence in the registry is byte for byte the files given, and their hashes are recorded
    stored = Path(registry._client.download_artifacts(tags["mlflow_run_id"], "evidence", str(tmp_path / "got")))
    manifest = json.loads((stored / "manifest.json").read_text())
    for kind in ("validation", "evaluation", "fairness", "explanation", "blessing", "model_card"):
        given = evidence["folder"] / f"{kind}.json"
        assert (stored / f"{kind}.json").read_bytes() == given.read_bytes()
        assert manifest[kind]["sha256"] == sha256_file(given) == tags[f"evidence.{kind}.sha256"]
    assert tags["schema.sha256"] and tags["statistics.train.sha256"] and tags["validation.anomaly_count"] == "0"
    trail = registry.audit(NAME, "1")
    assert [r.action for r in trail] == ["registered", "gate_decision", "alias_set"]
    decision = trail[1].details
    assert decision["policy_sha256"] == blessing["policy_sha256"] and decision["blessed"] is True
    assert trail[0].actor == "pipeline:training-run-1" and trail[0].details["model_sha256"] == evidence["sha"]

    retried = _register(registry, evidence)  # the task retried after registering: same version, nothing twice
    assert (retried.version, retried.already_registered) == ("1", True)
    assert [v.version for v in registry.versions(NAME)] == ["1"]
    assert [r.action for r in registry.audit(NAME)] == ["registered", "gate_decision", "alias_set"]


def test_a_model_that_is_not_blessed_is_registered_without_becoming_challenger(registry, evidence):
    _register(registry, evidence)
    result = _register(registry, evidence, blessing="rejection.json", run_id="run-2")
    assert (result.version, result.blessed, result.decision, result.aliases) == ("2", False, "NOT_BLESSED", [])
    assert registry.alias(NAME, CHALLENGER).version == "1"
    assert registry.get_version(NAME, "2").tags["gate.failed_checks"] == "min_roc_auc"
    decision = [r for r in registry.audit(NAME, "2") if r.action == "gate_decision"][0]
    assert decision.details["failed_checks"] == ["min_roc_auc"] and "min_roc_auc" in decision.reason


def test_evidence_about_another_model_or_a_changed_model_file_is_refused(registry, evidence, tmp_path):
    blessing = json.loads((evidence["folder"] / "blessing.json").read_text())
    blessing["model_sha256"] = "0" * 64
    (evidence["folder"] / "foreign.json").write_text(json.dumps(blessing))
    with pytest.raises(EvidenceError, match="blessing .* is for model 000000000000"):
        _register(registry, evidence, blessing="foreign.json")
    card = json.loads(evidence["model_card_json"].read_text())
    card["model_details"]["model_sha256"] = "1" * 64
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(EvidenceError, match="model_card evidence .* is about model 111111111111"):
        _register(registry, evidence, model_card_json=tmp_path / "card.json")
    changed = shutil.copytree(evidence["model"], tmp_path / "changed")
    with open(changed / "model.joblib", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(IntegrityError):
        _register(registry, evidence, model=changed)
    assert registry.versions(NAME) == [] and registry.audit(NAME) == []


def test_resolve_champion_first_run_then_verified_then_tampered(registry, evidence, tmp_path):
    assert resolve_champion(registry, model_name=NAME, output_dir=tmp_path / "none").to_json() == {
        "model_dir": "", "model_sha256": "", "version": ""}
    _register(registry, evidence)
    assert not resolve_champion(registry, model_name=NAME, output_dir=tmp_path / "none").found  # challenger only
    registry.set_alias(NAME, CHAMPION, "1")
    champion = resolve_champion(registry, model_name=NAME, output_dir=tmp_path / "champion")
    assert (champion.version, champion.model_sha256) == ("1", evidence["sha"])
    assert sha256_file(Path(champion.model_dir) / "model.joblib") == evidence["sha"]
    assert (Path(champion.model_dir) / "model_record.json").is_file()
    # someone changes the registered file in the artifact store: the champion is refused
    stored = next((tmp_path / "registry" / "artifacts").rglob("model/model.joblib"))
    with open(stored, "ab") as stream:
        stream.write(b"tampered")
    with pytest.raises(IntegrityError, match="champion of 'adult-income' .* registered sha256"):
        resolve_champion(registry, model_name=NAME, output_dir=tmp_path / "tampered")


def test_two_pipeline_runs_register_at_once(registry, evidence):
    _register(registry, evidence, run_id="first")
    results, errors = {}, []

    def run(run_id):
        try:
            reg = open_registry(tracking_uri=registry.tracking_uri)
            results[run_id] = _register(reg, evidence, run_id=run_id).version
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(f"parallel-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(results.values()) == ["2", "3"]
    assert registry.alias(NAME, CHALLENGER).version in ("2", "3")
    for version in ("2", "3"):
        assert [r.action for r in registry.audit(NAME, version)] == ["registered", "gate_decision", "alias_set"]


def test_an_unreachable_registry_is_one_clear_error_within_seconds(evidence, adult_model):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(RegistryError, match=f"http://127.0.0.1:{port}.*fix: start the MLflow server"):
        _register(RegistryConfig(tracking_uri=f"http://127.0.0.1:{port}"), evidence)
    assert time.perf_counter() - started < 15
