"""Canary rollouts on a Vertex AI Endpoint through the real google-cloud-aiplatform client and a strict fake.

Versions are registered with :class:`VertexRegistry` first (the fake's Model service), then
:class:`VertexEndpointBackend` deploys, splits, promotes and rolls back on the fake's Endpoint service; the
tests read the split from the fake's state and the requests that crossed. The canary is judged through its own
endpoint (``<service>-canary``), so its address answers only from the canary.

Not exercised: real replicas, the serving container answering on Vertex AI, deployment time, autoscaling.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
import warnings

import pytest
from fakes.vertex_models import FakeVertexModels

from kfp_governance.errors import DeploymentError

PROJECT, REGION = "governed-ml", "europe-west4"
STAGING = "gs://governed-ml-artifacts/registry"
IMAGE = "europe-docker.pkg.dev/governed-ml/kfp-governance/serving:0.1.0"
PARENT = f"/v1/projects/{PROJECT}/locations/{REGION}"


@pytest.fixture
def fake(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.cloud.aiplatform import initializer
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    saved = dict(vars(initializer.global_config))
    server = FakeVertexModels(lifetime_s=120, max_requests=3000).start()
    yield server
    server.stop()
    vars(initializer.global_config).clear()
    vars(initializer.global_config).update(saved)


def _clients(url, **more):
    from google.auth.credentials import AnonymousCredentials

    from kfp_governance.registry.vertex import VertexRegistry
    from kfp_governance.serving.vertex import VertexEndpointBackend

    credentials = AnonymousCredentials()
    registry = VertexRegistry(PROJECT, REGION, STAGING, IMAGE, api_endpoint=url, storage_endpoint=url,
                              credentials=credentials)
    backend = VertexEndpointBackend(PROJECT, REGION, model_name="income", api_endpoint=url, credentials=credentials,
                                    **more)
    return registry, backend


def _version(registry, folder, payload: bytes, run_id: str):
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    (folder / "model_record.json").write_text(json.dumps({"model_file": "model.joblib", "model_sha256": sha}))
    return folder, registry.register("income", folder, evidence_dir=None, tags={}, run_id=run_id)


@pytest.fixture
def two_versions(fake, tmp_path):
    registry, backend = _clients(fake.url)
    one = _version(registry, tmp_path / "v1", b"champion model", "run-1")
    two = _version(registry, tmp_path / "v2", b"canary model", "run-2")
    return backend, one, two


def test_canary_split_promote(fake, two_versions):
    backend, (dir1, v1), (dir2, v2) = two_versions
    first = backend.start_canary("income", dir1, version=v1.version, model_sha256=v1.model_sha256, percent=10)
    assert first.canary is None and first.stable.version == "1" and fake.split("income") == {
        first.stable.details["deployed_model_id"]: 100}  # nothing to split against: the first model takes all
    deploy = fake.only("POST", PARENT + "/endpoints/income:deployModel").json
    assert deploy["deployedModel"]["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-2"
    assert deploy["deployedModel"]["model"].endswith("/models/income@1")

    rollout = backend.start_canary("income", dir2, version=v2.version, model_sha256=v2.model_sha256, percent=10)
    stable_id = rollout.stable.details["deployed_model_id"]
    canary_id = rollout.canary.details["split_deployed_model_id"]
    assert fake.split("income") == {stable_id: 90, canary_id: 10} and rollout.canary_percent == 10
    assert rollout.canary.version == "2" and rollout.canary.model_sha256 == v2.model_sha256[:40]
    assert rollout.canary.details["endpoint"].endswith("/endpoints/income-canary")
    assert [d.model_version_id for d in fake.deployed("income-canary")] == ["2"]
    again = backend.start_canary("income", dir2, version=v2.version, model_sha256=v2.model_sha256, percent=10)
    assert again == rollout  # resumed, not deployed twice
    assert len(fake.calls("POST", PARENT + "/endpoints/income:deployModel")) == 2

    answers = {backend.predict(rollout.canary, [{"age": 40}])[0]["deployed_model_id"] for _ in range(20)}
    judge_id = fake.deployed("income-canary")[0].id
    assert answers == {judge_id}  # the canary's address reaches only the canary
    routed = [backend.predict(rollout.stable, [{"age": 40}])[0]["deployed_model_id"] for _ in range(100)]
    assert (routed.count(stable_id), routed.count(canary_id)) == (90, 10)  # the split endpoint splits

    promoted = backend.promote("income")
    assert promoted.canary is None and promoted.stable.version == "2"
    assert fake.split("income") == {canary_id: 100}
    assert [d.id for d in fake.deployed("income")] == [canary_id] and fake.deployed("income-canary") == []
    assert backend.status("income") == promoted


def test_canary_rollback_restores_the_champion(fake, two_versions):
    backend, (dir1, v1), (dir2, v2) = two_versions
    backend.start_canary("income", dir1, version=v1.version, model_sha256=v1.model_sha256, percent=10)
    rollout = backend.start_canary("income", dir2, version=v2.version, model_sha256=v2.model_sha256, percent=25)
    stable_id = rollout.stable.details["deployed_model_id"]
    assert sorted(fake.split("income").values()) == [25, 75]
    back = backend.rollback("income")
    assert back.canary is None and back.stable.version == "1" and back.stable.details["direct"] is True
    assert fake.split("income") == {stable_id: 100}
    assert [d.model_version_id for d in fake.deployed("income")] == ["1"] and fake.deployed("income-canary") == []
    patches = fake.calls("PATCH", PARENT + "/endpoints/income")
    assert patches[-1].arg("updateMask") == "trafficSplit"
    with pytest.raises(DeploymentError, match="no canary to promote"):
        backend.promote("income")


def test_hash_mismatch_is_refused_before_anything_is_deployed(fake, two_versions):
    backend, (dir1, v1), (dir2, v2) = two_versions
    with pytest.raises(DeploymentError, match="refusing to deploy"):
        backend.start_canary("income", dir1, version=v1.version, model_sha256=v2.model_sha256, percent=10)
    with pytest.raises(DeploymentError, match="holds model sha256"):  # the local file is v2, the version is v1
        backend.start_canary("income", dir2, version=v1.version, model_sha256=v2.model_sha256, percent=10)
    assert fake.calls("POST", r".*:deployModel") == [] and backend.status("income") is None


def test_unreachable_endpoint_fails_fast_naming_it(tmp_path, fake):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _, backend = _clients(url, attempts=2, backoff_s=0.1)
    started = time.monotonic()
    with pytest.raises(DeploymentError) as err:
        backend.status("income")
    assert time.monotonic() - started < 10 and url in str(err.value) and "fix:" in str(err.value)


def test_the_fake_refuses_bad_splits_and_unknown_fields(fake, two_versions):
    import requests

    backend, (dir1, v1), _ = two_versions
    backend.start_canary("income", dir1, version=v1.version, model_sha256=v1.model_sha256, percent=10)
    deployed_id = fake.deployed("income")[0].id
    base = fake.url + PARENT + "/endpoints/income"
    bad_sum = requests.patch(base, params={"updateMask": "traffic_split"}, json={"trafficSplit": {deployed_id: 50}},
                             timeout=5)
    assert bad_sum.status_code == 400 and "add up to 100" in bad_sum.text
    unknown = requests.post(base + ":deployModel", json={"deployedModel": {"model": "x", "canaryPercent": 10}},
                            timeout=5)
    assert unknown.status_code == 400 and "canaryPercent" in unknown.text
    busy = requests.post(base + ":undeployModel", json={"deployedModelId": deployed_id,
                                                        "trafficSplit": {deployed_id: 100}}, timeout=5)
    assert busy.status_code == 400 and "still takes" in busy.text
    assert fake.split("income") == {deployed_id: 100}
