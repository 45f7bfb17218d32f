"""The MLflow registry backend, for real: a SQLite file in tmp and a real ``mlflow server`` on 127.0.0.1.

Every behaviour runs against both stores (the ``registry`` fixture), since
they differ where it matters (``ModelVersion.version`` is an int over
``sqlite://`` and a str over REST; artifacts go through the server's proxy).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from kfp_governance.errors import EvidenceError, RegistryError
from kfp_governance.model_io import read_record
from kfp_governance.registry import CHALLENGER, CHAMPION, AuditRecord, open_registry
from kfp_governance.registry.mlflow_registry import MlflowRegistry, default_home, resolve_tracking_uri

MODEL = "adult-income"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite store, proxied artifacts) on a free port of 127.0.0.1."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    mlflow = Path(sys.executable).with_name("mlflow")
    with open(folder / "server.log", "wb") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination", str(folder / "art")],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=folder)
        uri = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.perf_counter() - started > 150:
                    raise RuntimeError("mlflow server did not start:\n" + (folder / "server.log").read_text()[-3000:])
                time.sleep(0.5)
            print(f"\nmlflow server ready in {time.perf_counter() - started:.1f} s")
            yield uri
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    """An empty MLflow database, made once: creating its tables takes seconds, copying it does not."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowRegistry(path).versions(MODEL)
    return path


@pytest.fixture(params=["sqlite", "server"])
def registry(request, tmp_path, empty_db):
    if request.param == "sqlite":
        shutil.copyfile(empty_db, tmp_path / "mlflow.db")
        return MlflowRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # one server for the module; a model name per test keeps tests independent
    server = request.getfixturevalue("mlflow_server")
    reg = MlflowRegistry(server)
    reg.test_model = f"{MODEL}-{request.node.name.split('[')[0][5:]}"[:60]
    return reg


def _name(registry) -> str:
    return getattr(registry, "test_model", MODEL)


@pytest.fixture(scope="module")
def model_dir(adult_model):
    return adult_model("logistic_regression")


def _register(registry, model_dir, run_id="run-1", tags=None, evidence_dir=None):
    return registry.register(_name(registry), model_dir, evidence_dir=evidence_dir, tags=tags or {"gate.decision": "BLESSED"},
                             run_id=run_id)


def test_register_records_the_model_and_is_idempotent(registry, model_dir, tmp_path):
    sha = read_record(model_dir)["model_sha256"]
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "blessing.json").write_text(json.dumps({"model_sha256": sha, "blessed": True}))
    started = time.perf_counter()
    first = _register(registry, model_dir, evidence_dir=evidence)
    print(f"\nregister on {registry.tracking_uri.split(':')[0]}: {time.perf_counter() - started:.2f} s")
    assert first.version == "1" and isinstance(first.version, str)
    assert first.model_sha256 == sha and first.approval == "pending"
    assert first.tags["gate.decision"] == "BLESSED" and first.tags["pipeline_run_id"] == "run-1"
    assert first.source_uri.endswith("/model")
    again = _register(registry, model_dir, evidence_dir=evidence)  # a retried task
    assert again.version == "1"
    assert [v.version for v in registry.versions(_name(registry))] == ["1"]
    other = _register(registry, model_dir, run_id="run-2")  # the same file from another run is a new candidate
    assert other.version == "2"
    assert registry.get_version(_name(registry), "2").tags["pipeline_run_id"] == "run-2"
    folder = registry.download(_name(registry), "1", tmp_path / "download")
    assert (folder / "model.joblib").read_bytes() == (model_dir / "model.joblib").read_bytes()
    with pytest.raises(RegistryError, match="has no version '7'"):
        registry.get_version(_name(registry), "7")


def test_a_failed_upload_leaves_no_version(registry, model_dir, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "blessing.json").write_text("{}")
    (evidence / "vanished.json").symlink_to(tmp_path / "deleted-before-upload.json")  # the upload breaks midway
    with pytest.raises((RegistryError, OSError)):
        _register(registry, model_dir, evidence_dir=evidence)
    assert registry.versions(_name(registry)) == []
    with pytest.raises(EvidenceError, match="does not exist"):
        _register(registry, model_dir, evidence_dir=tmp_path / "no-such-folder")
    assert registry.versions(_name(registry)) == []
    assert _register(registry, model_dir).version == "1"  # and a retry then registers normally


def test_aliases_move_and_approval_is_a_tag(registry, model_dir):
    name = _name(registry)
    assert registry.alias(name, CHAMPION) is None  # not even registered yet
    one, two = _register(registry, model_dir, "a"), _register(registry, model_dir, "b")
    registry.set_alias(name, CHALLENGER, one.version)
    registry.set_alias(name, CHAMPION, one.version)
    assert registry.get_version(name, "1").aliases == (CHALLENGER, CHAMPION)
    registry.set_alias(name, CHALLENGER, two.version)
    assert registry.alias(name, CHALLENGER).version == "2"
    assert registry.get_version(name, "1").aliases == (CHAMPION,)
    registry.delete_alias(name, CHALLENGER)
    registry.delete_alias(name, CHALLENGER)  # removing an unset alias is fine
    assert registry.alias(name, CHALLENGER) is None
    with pytest.raises(RegistryError, match="no version '9'"):
        registry.set_alias(name, CHAMPION, "9")
    registry.set_approval(name, "2", "approved")
    assert registry.get_version(name, "2").approval == "approved"
    assert registry.get_version(name, "1").approval == "pending"
    with pytest.raises(ValueError):
        registry.set_approval(name, "2", "maybe")


def test_audit_is_append_only_and_ordered(registry, model_dir):
    name = _name(registry)
    assert registry.audit(name) == []
    _register(registry, model_dir)
    actions = ["registered", "gate_decision", "approved", "deployed"]
    stored = [registry.append_audit(AuditRecord(action=a, model_name=name, version="1" if a != "deployed" else None,
                                                actor="ada", at="", reason=f"because {a}", details={"n": i}))
              for i, a in enumerate(actions)]
    assert [r.sequence for r in stored] == [1, 2, 3, 4]
    trail = registry.audit(name)
    assert [(r.sequence, r.action, r.details["n"]) for r in trail] == [(i + 1, a, i) for i, a in enumerate(actions)]
    assert all(r.at for r in trail)  # the registry stamps the time when the caller gives none
    assert [r.action for r in registry.audit(name, "1")] == actions[:3]
    # append-only: a second record of an action is a new file, the first is still there
    registry.append_audit(AuditRecord(action="approved", model_name=name, version="1", actor="bob", at="",
                                      reason="again"))
    again = registry.audit(name, "1")
    assert [(r.action, r.actor) for r in again][-2:] == [("approved", "ada"), ("approved", "bob")]
    assert [r.sequence for r in registry.audit(name)] == [1, 2, 3, 4, 5]


def test_two_registrations_at_once_get_distinct_versions_and_keep_the_alias(registry, model_dir):
    name = _name(registry)
    _register(registry, model_dir, "warm-up")  # the experiment and the registered model exist, as after a first run
    results, errors = {}, []

    def one(i: int) -> None:
        try:
            reg = MlflowRegistry(registry.tracking_uri)
            version = reg.register(name, model_dir, evidence_dir=None, tags={}, run_id=f"parallel-{i}")
            reg.set_alias(name, CHALLENGER, version.version)
            reg.append_audit(AuditRecord(action="registered", model_name=name, version=version.version, actor="t",
                                         at=""))
            results[i] = version.version
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(results.values(), key=int) == ["2", "3", "4", "5"]  # distinct, none lost
    assert registry.alias(name, CHALLENGER).version in results.values()
    assert sorted(r.version for r in registry.audit(name)) == sorted(results.values())  # no record lost


def test_unreachable_registry_fails_fast_with_the_uri_and_the_fix(model_dir):
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    registry = open_registry(backend="mlflow", tracking_uri=uri)
    started = time.perf_counter()
    with pytest.raises(RegistryError) as caught:
        registry.register(MODEL, model_dir, evidence_dir=None, tags={}, run_id="r")
    elapsed = time.perf_counter() - started
    assert elapsed < 15, elapsed
    assert uri in str(caught.value) and "start the MLflow server" in str(caught.value)


def test_identity_is_the_servers_basic_auth_user_and_none_locally(mlflow_server, empty_db, tmp_path, monkeypatch):
    shutil.copyfile(empty_db, tmp_path / "local.db")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    assert MlflowRegistry(mlflow_server).identity() == "ada"
    assert MlflowRegistry(tmp_path / "local.db").identity() is None
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    assert MlflowRegistry(mlflow_server).identity() is None


def test_default_location_is_a_per_user_sqlite_file_with_artifacts_beside_it(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_GOVERNANCE_HOME", str(tmp_path / "home"))
    assert default_home() == tmp_path / "home"
    registry = open_registry()
    assert registry.tracking_uri == resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    version = registry.register(MODEL, model_dir, evidence_dir=None, tags={}, run_id="r")
    assert version.source_uri.startswith((tmp_path / "home" / "artifacts").as_uri())
    # a later run (a new client on the same default) sees the same registry
    assert open_registry().get_version(MODEL, "1").model_sha256 == version.model_sha256
    monkeypatch.delenv("KFP_GOVERNANCE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "kfp-governance"
    shutil.rmtree(tmp_path / "home")


def test_register_and_resolve_the_champion_through_the_server(mlflow_server, model_dir, adult_splits, tmp_path):
    from kfp_governance.executors.evaluate_model import evaluate_model
    from kfp_governance.executors.gate import gate
    from kfp_governance.executors.register_model import register_model
    from kfp_governance.executors.resolve_champion import resolve_champion
    from kfp_governance.hashing import sha256_file

    train, evaluation, _ = adult_splits
    sha = read_record(model_dir)["model_sha256"]
    evaluate_model(model_dir, evaluation, output_json=tmp_path / "evaluation.json")
    gate({"min_roc_auc": 0.8}, model_sha256=sha, train_data_sha256=sha256_file(train),
         eval_data_sha256=sha256_file(evaluation), evaluation_json=tmp_path / "evaluation.json",
         output_json=tmp_path / "blessing.json")  # no validation evidence: not blessed, registered all the same
    registry, name = MlflowRegistry(mlflow_server), "served-model"
    assert resolve_champion(registry, model_name=name, output_dir=tmp_path / "none").found is False
    started = time.perf_counter()
    result = register_model(model_dir, model_name=name, registry=registry, blessing_json=tmp_path / "blessing.json",
                            evaluation_json=tmp_path / "evaluation.json", pipeline_run_id="server-run")
    print(f"\nregister_model on the server: {time.perf_counter() - started:.2f} s")
    assert (result.version, result.blessed, result.aliases) == ("1", False, [])
    assert [r.action for r in registry.audit(name, "1")] == ["registered", "gate_decision"]
    registry.set_alias(name, CHAMPION, "1")
    champion = resolve_champion(registry, model_name=name, output_dir=tmp_path / "champion")
    assert (champion.version, champion.model_sha256) == ("1", sha)
    assert sha256_file(Path(champion.model_dir) / "model.joblib") == sha
