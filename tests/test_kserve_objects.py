"""KServe objects against the real v0.20.0 CRDs, and the calls that cross the Kubernetes seam against a fake API server."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
import yaml

from kfp_governance.errors import DeploymentError
from kfp_governance.serving.kserve import (
    MODE_ANNOTATION,
    PREFIX,
    SERVERLESS,
    STANDARD,
    KServeBackend,
    inference_service,
    serving_runtime,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "kserve-v0.20.0"
if not SCHEMAS.is_dir():
    SCHEMAS = Path("/work/shared/schemas/kserve-v0.20.0")
SHA_1, SHA_2 = "a" * 64, "b" * 64


def _structural(schema):
    """The CRD's openAPIV3Schema as JSON Schema: unknown fields fail (as the API server's strict validation does)."""
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _structural(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _validator(crd_file: str, version: str):
    crd = yaml.safe_load((SCHEMAS / crd_file).read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    schema = _structural(schema)
    schema["properties"]["metadata"] = {"type": "object", "required": ["name"],
                                        "properties": {"name": {"type": "string", "maxLength": 63},
                                                       "namespace": {"type": "string"},
                                                       "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                                       "annotations": {"type": "object",
                                                                       "additionalProperties": {"type": ["string", "null"]}}}}
    return jsonschema.Draft7Validator(schema)


ISVC = _validator("serving.kserve.io_inferenceservices.yaml", "v1beta1")
RUNTIME = _validator("serving.kserve.io_servingruntimes.yaml", "v1alpha1")


def _errors(validator, obj):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def _objects():
    yield "runtime", RUNTIME, serving_runtime(namespace="ml", image="registry/kfp-governance-serving:0.1.0")
    for mode in (SERVERLESS, STANDARD):
        yield f"{mode}-stable", ISVC, inference_service("adult", namespace="ml", storage_uri="gs://b/m/1",
                                                        model_sha256=SHA_1, version="1", mode=mode)
        yield f"{mode}-canary", ISVC, inference_service(
            "adult", namespace="ml", storage_uri="gs://b/m/1", model_sha256=SHA_1, version="1", mode=mode,
            allow_pickle=True, service_account="kfp-governance-serving",
            canary={"storage_uri": "gs://b/m/2", "model_sha256": SHA_2, "version": "2", "percent": 10})


@pytest.mark.parametrize("name,validator,obj", list(_objects()), ids=[n for n, _, _ in _objects()])
def test_every_object_we_build_passes_the_crd_schema(name, validator, obj):
    assert _errors(validator, obj) == []


def test_canary_fields_per_mode():
    canary = {"storage_uri": "gs://b/m/2", "model_sha256": SHA_2, "version": "2", "percent": 25}
    knative = inference_service("a", namespace="ml", storage_uri="gs://b/m/1", model_sha256=SHA_1, version="1",
                                mode=SERVERLESS, canary=canary)
    raw = inference_service("a", namespace="ml", storage_uri="gs://b/m/1", model_sha256=SHA_1, version="1",
                            mode=STANDARD, canary=canary)
    assert knative["spec"]["predictor"]["canaryTrafficPercent"] == 25 and "canary" not in knative["spec"]
    assert knative["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m/2"
    assert raw["spec"]["canary"][0]["trafficPercent"] == 25
    assert raw["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m/1"
    assert raw["spec"]["canary"][0]["predictor"]["model"]["storageUri"] == "gs://b/m/2"
    assert raw["metadata"]["annotations"][MODE_ANNOTATION] == STANDARD


@pytest.mark.parametrize("mutate", [
    lambda o: o["spec"]["predictor"].update(canaryTrafficPercent="ten"),
    lambda o: o["spec"].update(canary=[{"trafficPercent": 10}]),  # canary without its predictor
    lambda o: o["spec"]["predictor"]["model"].update(storageURI="gs://typo"),  # unknown field
    lambda o: o["spec"].pop("predictor"),
], ids=["percent-not-int", "canary-without-predictor", "unknown-field", "no-predictor"])
def test_a_wrong_object_fails_the_schema(mutate):
    obj = inference_service("adult", namespace="ml", storage_uri="gs://b/m/1", model_sha256=SHA_1, version="1")
    mutate(obj)
    assert _errors(ISVC, obj)


def test_a_wrong_runtime_fails_the_schema():
    obj = serving_runtime(namespace="ml", image="x")
    obj["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = "yes"
    assert _errors(RUNTIME, obj)


# --- a fake Kubernetes API server for custom objects ---------------------------------------------------------

def _merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


class FakeKube:
    """Custom objects in memory; records every request; checks each stored body against the CRD schema."""

    def __init__(self, ready: bool = True):
        self.objects: dict[tuple, dict] = {}
        self.requests: list[dict] = []
        self.ready = ready
        self.lock = threading.Lock()

    def status_for(self, obj):
        url = f"http://{obj['metadata']['name']}.{obj['metadata']['namespace']}.example.com"
        status = {"url": url, "conditions": [{"type": "Ready", "status": "True" if self.ready else "False",
                                              "message": "" if self.ready else "RevisionMissing"}],
                  "components": {"predictor": {"url": url, "latestCreatedRevision": "adult-predictor-00002",
                                               "traffic": [{"tag": "latest", "latestRevision": True,
                                                            "url": f"http://latest-{url[7:]}", "percent": 10}]}}}
        return status

    def handle(self, method, path, body, content_type):
        parts = path.strip("/").split("/")  # apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]
        assert parts[0] == "apis" and parts[3] == "namespaces", path
        group, version, namespace, plural = parts[1], parts[2], parts[4], parts[5]
        name = parts[6] if len(parts) > 6 else None
        self.requests.append({"method": method, "path": path, "body": body, "content_type": content_type})
        validator = ISVC if plural == "inferenceservices" else RUNTIME
        key = (group, version, namespace, plural, name or (body or {}).get("metadata", {}).get("name"))
        with self.lock:
            if method == "POST":
                if key in self.objects:
                    return 409, {"kind": "Status", "reason": "AlreadyExists", "code": 409}
                errors = _errors(validator, body)
                if errors:
                    return 422, {"kind": "Status", "reason": "Invalid", "message": "; ".join(errors), "code": 422}
                self.objects[key] = dict(body, status=self.status_for(body) if plural == "inferenceservices" else {})
                return 201, self.objects[key]
            if key not in self.objects:
                return 404, {"kind": "Status", "reason": "NotFound", "code": 404}
            if method == "GET":
                return 200, self.objects[key]
            if method == "PATCH":
                assert content_type == "application/merge-patch+json", content_type
                merged = _merge({k: v for k, v in self.objects[key].items() if k != "status"}, body)
                errors = _errors(validator, merged)
                if errors:
                    return 422, {"kind": "Status", "reason": "Invalid", "message": "; ".join(errors), "code": 422}
                self.objects[key] = dict(merged, status=self.status_for(merged))
                return 200, self.objects[key]
            if method == "DELETE":
                del self.objects[key]
                return 200, {"kind": "Status", "status": "Success"}
        return 405, {}


@pytest.fixture
def fake_kube():
    fake = FakeKube()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, answer = fake.handle(self.command, self.path.split("?")[0], body, self.headers.get("Content-Type"))
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    api = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(configuration))
    yield fake, api
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", [SERVERLESS, STANDARD])
def test_canary_promote_rollback_across_the_seam(fake_kube, mode):
    fake, api = fake_kube
    backend = KServeBackend("ml", api=api, mode=mode, image="registry/serving:1", poll_seconds=0.01, ready_timeout=2)
    first = backend.start_canary("adult", Path("gs://b/m/1"), version="1", model_sha256=SHA_1, percent=10)
    assert first.stable.version == "1" and first.canary is None
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in fake.requests[:4]] == [
        ("GET", "kfp-governance-sklearn"), ("POST", "servingruntimes"), ("GET", "adult"), ("POST", "inferenceservices")]

    rollout = backend.start_canary("adult", Path("gs://b/m/2"), version="2", model_sha256=SHA_2, percent=10)
    assert rollout.canary.version == "2" and rollout.stable.version == "1" and rollout.canary_percent == 10
    stored = fake.objects[("serving.kserve.io", "v1beta1", "ml", "inferenceservices", "adult")]
    if mode == SERVERLESS:
        assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 10
        assert rollout.canary.url.startswith("http://latest-")
    else:
        assert stored["spec"]["canary"][0]["trafficPercent"] == 10
        assert stored["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m/1"
    patches = [r for r in fake.requests if r["method"] == "PATCH"]
    assert len(patches) == 1

    count = len(fake.requests)  # a retried call changes nothing
    assert backend.start_canary("adult", Path("gs://b/m/2"), version="2", model_sha256=SHA_2, percent=10).canary.version == "2"
    assert not [r for r in fake.requests[count:] if r["method"] != "GET"]

    rolled = backend.rollback("adult")
    stored = fake.objects[("serving.kserve.io", "v1beta1", "ml", "inferenceservices", "adult")]
    assert rolled.canary is None and rolled.stable.version == "1"
    assert stored["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m/1"
    assert "canary" not in stored["spec"] and "canaryTrafficPercent" not in stored["spec"]["predictor"]
    assert PREFIX + "canary-version" not in stored["metadata"]["annotations"]

    backend.start_canary("adult", Path("gs://b/m/2"), version="2", model_sha256=SHA_2, percent=30)
    promoted = backend.promote("adult")
    stored = fake.objects[("serving.kserve.io", "v1beta1", "ml", "inferenceservices", "adult")]
    assert promoted.stable.version == "2" and promoted.canary is None
    assert stored["spec"]["predictor"]["model"]["storageUri"] == "gs://b/m/2"
    env = {e["name"]: e["value"] for e in stored["spec"]["predictor"]["model"]["env"]}
    assert env["KFP_GOVERNANCE_EXPECTED_SHA256"] == SHA_2

    backend.stop("adult")
    assert backend.status("adult") is None
    assert fake.requests[-2]["method"] == "DELETE"


def test_not_ready_is_a_clear_error(fake_kube):
    fake, api = fake_kube
    fake.ready = False
    backend = KServeBackend("ml", api=api, image="x", poll_seconds=0.01, ready_timeout=0.2)
    with pytest.raises(DeploymentError, match="not Ready within.*RevisionMissing"):
        backend.start_canary("adult", Path("gs://b/m/1"), version="1", model_sha256=SHA_1, percent=10)


def test_api_errors_name_the_call(fake_kube):
    _, api = fake_kube
    backend = KServeBackend("ml", api=api, image="x", manage_runtime=False)
    with pytest.raises(DeploymentError, match="no InferenceService ml/missing"):
        backend.promote("missing")
