"""The Vertex AI Model Registry backend through the real google-cloud-aiplatform and google-cloud-storage clients.

Both clients talk to :class:`fakes.vertex_models.FakeVertexModels` on 127.0.0.1 (REST transport, anonymous
credentials), which parses every body into ``google.cloud.aiplatform_v1.types`` and refuses unknown fields.
The tests assert the requests that crossed: the upload carries our serving image, the KServe v1 routes,
``parent_model`` for later versions and only label-safe values; the evidence is a JSON document under the
version's artifact URI; retries are idempotent; aliases move; the audit trail is append-only and ordered.

Not exercised: a real Vertex AI project (IAM, quotas, whether it moves a held alias by itself), resumable
uploads of large files, and the serving container itself.
"""

from __future__ import annotations

import json
import re
import socket
import time
import warnings

import pytest
from fakes.vertex_models import FakeVertexModels

from kfp_governance.errors import RegistryError
from kfp_governance.registry.base import AuditRecord

PROJECT, REGION = "governed-ml", "europe-west4"
STAGING = "gs://governed-ml-artifacts/registry"
IMAGE = "europe-docker.pkg.dev/governed-ml/kfp-governance/serving:0.1.0"
PARENT = f"/v1/projects/{PROJECT}/locations/{REGION}"
LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


@pytest.fixture
def fake(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.cloud.aiplatform import initializer
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    saved = dict(vars(initializer.global_config))  # aiplatform.init is global: restore it after
    server = FakeVertexModels(lifetime_s=120, max_requests=2000).start()
    yield server
    server.stop()
    vars(initializer.global_config).clear()
    vars(initializer.global_config).update(saved)


def _registry(url, **more):
    from google.auth.credentials import AnonymousCredentials

    from kfp_governance.registry.vertex import VertexRegistry

    return VertexRegistry(PROJECT, REGION, STAGING, IMAGE, api_endpoint=url, storage_endpoint=url,
                          credentials=AnonymousCredentials(), **more)


def _model_dir(folder, payload: bytes):
    """A model folder as train_model writes it: the file and a record with its sha256."""
    import hashlib

    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(payload)
    record = {"model_file": "model.joblib", "model_sha256": hashlib.sha256(payload).hexdigest()}
    (folder / "model_record.json").write_text(json.dumps(record))
    return folder, record["model_sha256"]


def test_register_two_versions_with_evidence_labels_and_serving_container(fake, tmp_path):
    registry = _registry(fake.url)
    first, sha1 = _model_dir(tmp_path / "m1", b"model one")
    second, sha2 = _model_dir(tmp_path / "m2", b"model two")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "blessing.json").write_text('{"blessed": true}')
    tags = {"data_uri": "gs://governed-ml-data/adult.csv", "data_sha256": "f" * 64, "git_commit": "0123abc",
            "policy_sha256": "e" * 64}

    v1 = registry.register("Income Model", first, evidence_dir=evidence, tags=tags, run_id="run-2024-06-01T10:00:00Z")
    v2 = registry.register("Income Model", second, evidence_dir=None, tags={}, run_id="run-2")

    assert (v1.version, v2.version) == ("1", "2")
    assert len(fake.calls("GET", r"/ui/projects/[^/]+/locations/[^/]+/operations/\d+")) == 2  # each upload's LRO polled
    assert (v1.model_sha256, v2.model_sha256) == (sha1, sha2)
    assert v1.tags == tags and v1.approval == "pending" and v1.aliases == ()
    uploads = fake.calls("POST", PARENT + "/models:upload")
    assert len(uploads) == 2
    body1, body2 = uploads[0].json, uploads[1].json
    assert body1["modelId"] == "income-model" and "parentModel" not in body1
    assert body2["parentModel"] == f"projects/{PROJECT}/locations/{REGION}/models/income-model"
    container = body1["model"]["containerSpec"]
    assert container["imageUri"] == IMAGE
    assert container["predictRoute"] == "/v1/models/income-model:predict"
    assert container["healthRoute"] == "/v1/models/income-model"
    for body in (body1, body2):
        labels = body["model"]["labels"]
        assert all(LABEL.match(k) and LABEL.match(v) for k, v in labels.items()), labels
    labels = body1["model"]["labels"]
    assert labels["model_sha256"] == sha1[:40] and labels["approval"] == "pending"
    assert body1["model"]["artifactUri"] == v1.source_uri and v1.source_uri.startswith(STAGING + "/models/income-model/")
    assert labels["evidence"] == v1.source_uri.rsplit("/", 1)[-1]  # the label points at the evidence folder
    document = json.loads(fake.read_object(v1.source_uri + "/evidence.json"))
    assert document["run_id"] == "run-2024-06-01T10:00:00Z" and document["model_sha256"] == sha1
    assert document["tags"] == tags and set(document["evidence_files"]) == {"blessing.json"}
    assert fake.read_object(v1.source_uri + "/model.joblib") == b"model one"
    assert fake.read_object(v1.source_uri + "/evidence/blessing.json") == b'{"blessed": true}'
    assert [v.version for v in registry.versions("Income Model")] == ["1", "2"]
    assert registry.get_version("Income Model", "2").model_sha256 == sha2
    assert registry.versions("unknown-model") == []
    out = registry.download("Income Model", "1", tmp_path / "downloaded")
    assert sorted(p.name for p in out.iterdir()) == ["model.joblib", "model_record.json"]
    assert (out / "model.joblib").read_bytes() == b"model one"


def test_retried_registration_returns_the_same_version(fake, tmp_path):
    registry = _registry(fake.url)
    folder, sha = _model_dir(tmp_path / "m", b"model")
    first = registry.register("income", folder, evidence_dir=None, tags={"a": "b"}, run_id="run-7")
    again = registry.register("income", folder, evidence_dir=None, tags={"a": "b"}, run_id="run-7")
    other_run = registry.register("income", folder, evidence_dir=None, tags={"a": "b"}, run_id="run-8")
    assert again == first and other_run.version == "2"
    assert len(fake.calls("POST", PARENT + "/models:upload")) == 2
    listing = fake.calls("GET", PARENT + "/models/income:listVersions")[-1]
    assert listing.arg("filter") == f'labels.run_id="run-8" AND labels.model_sha256="{sha[:40]}"'


def test_aliases_move_and_approval_is_a_label(fake, tmp_path):
    registry = _registry(fake.url)
    for i in (1, 2):
        registry.register("income", _model_dir(tmp_path / f"m{i}", f"m{i}".encode())[0], evidence_dir=None, tags={},
                          run_id=f"run-{i}")
    assert registry.alias("income", "champion") is None
    registry.set_alias("income", "champion", "1")
    registry.set_alias("income", "challenger", "2")
    assert registry.alias("income", "champion").version == "1"
    registry.set_alias("income", "champion", "2")  # moves: the old holder loses it first
    assert registry.alias("income", "champion").version == "2"
    assert registry.get_version("income", "1").aliases == ()
    assert registry.get_version("income", "2").aliases == ("challenger", "champion")
    merges = [(r.path.rsplit("@", 1)[-1], r.json["versionAliases"]) for r in fake.calls("POST", r".*:mergeVersionAliases")]
    assert merges == [("1:mergeVersionAliases", ["champion"]), ("2:mergeVersionAliases", ["challenger"]),
                      ("1:mergeVersionAliases", ["-champion"]), ("2:mergeVersionAliases", ["champion"])]
    registry.delete_alias("income", "challenger")
    assert registry.alias("income", "challenger") is None
    with pytest.raises(RegistryError, match="not a valid Vertex AI version alias"):
        registry.set_alias("income", "Champion_1", "1")

    registry.set_approval("income", "2", "approved")
    assert registry.get_version("income", "2").approval == "approved"
    assert registry.get_version("income", "1").approval == "pending"
    patch = fake.calls("PATCH", r".*/models/income@2")[-1]
    assert patch.arg("updateMask") == "labels" and patch.json["labels"]["approval"] == "approved"
    with pytest.raises(RegistryError, match="has no version '9'"):
        registry.set_approval("income", "9", "approved")


def test_audit_trail_is_append_only_and_ordered(fake, tmp_path):
    registry = _registry(fake.url)
    actions = ["registered", "gate_decision", "approved", "canary_started", "promoted"]
    stored = [registry.append_audit(AuditRecord(action=a, model_name="income", version="1", actor="ci",
                                                at=f"2024-06-01T10:00:0{i}Z", details={"i": i}))
              for i, a in enumerate(actions)]
    registry.append_audit(AuditRecord(action="registered", model_name="income", version="2", actor="ci",
                                      at="2024-06-01T11:00:00Z"))
    assert [r.sequence for r in stored] == [1, 2, 3, 4, 5]
    assert [r.action for r in registry.audit("income", "1")] == actions
    assert [r.sequence for r in registry.audit("income")] == [1, 2, 3, 4, 5, 6]
    assert fake.object_names(STAGING + "/audit/income/")[0] == STAGING + "/audit/income/00000001-registered.json"
    uploads = [r for r in fake.calls("POST", r"/upload/storage/v1/b/governed-ml-artifacts/o")]
    assert all(r.arg("ifGenerationMatch") == "0" for r in uploads)  # never overwrites
    fake.fail("POST", r"/upload/storage/v1/b/governed-ml-artifacts/o", 412, "a racing writer took it", times=1)
    late = registry.append_audit(AuditRecord(action="rolled_back", model_name="income", version="1", actor="ci",
                                             at="2024-06-01T12:00:00Z"))
    assert late.sequence == 7 and len(fake.calls("POST", r"/upload/storage/v1/b/.*")) == len(uploads) + 2


def test_unreachable_registry_fails_fast_naming_endpoint_and_fix(tmp_path, fake):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    registry = _registry(url, attempts=2, backoff_s=0.1)
    folder, _ = _model_dir(tmp_path / "m", b"model")
    started = time.monotonic()
    with pytest.raises(RegistryError) as err:
        registry.register("income", folder, evidence_dir=None, tags={}, run_id="run-1")
    assert time.monotonic() - started < 10
    assert url in str(err.value) and "fix:" in str(err.value) and "2 attempts" in str(err.value)


def test_unavailable_then_recovered_is_retried(fake, tmp_path):
    registry = _registry(fake.url, backoff_s=0.05)
    fake.fail("GET", PARENT + r"/models/income:listVersions", 503, times=2)
    folder, _ = _model_dir(tmp_path / "m", b"model")
    assert registry.register("income", folder, evidence_dir=None, tags={}, run_id="run-1").version == "1"


def test_the_fake_refuses_what_vertex_refuses(fake):
    import requests

    base = fake.url + PARENT
    ok = {"model": {"displayName": "x", "containerSpec": {"imageUri": IMAGE}}}
    assert requests.post(base + "/models:upload", json=ok, timeout=5).status_code == 200
    unknown = {"model": {"displayName": "x", "containerSpec": {"imageUri": IMAGE}, "evidence": {"blessed": True}}}
    reply = requests.post(base + "/models:upload", json=unknown, timeout=5)
    assert reply.status_code == 400 and "evidence" in reply.text
    bad_label = {"model": {"displayName": "x", "containerSpec": {"imageUri": IMAGE}, "labels": {"run": "Run 1"}}}
    assert requests.post(base + "/models:upload", json=bad_label, timeout=5).status_code == 400
    no_image = {"model": {"displayName": "x"}}
    assert requests.post(base + "/models:upload", json=no_image, timeout=5).status_code == 400
