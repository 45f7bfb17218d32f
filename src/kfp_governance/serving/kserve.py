"""Serving on KServe: a ``ServingRuntime`` for our image and one ``InferenceService`` per deployment.

Objects are built as plain dicts (the kserve SDK cannot be installed beside
the main lock) and applied with the kubernetes client's ``CustomObjectsApi``,
the one seam to the cluster: :class:`KServeBackend` takes any object with its
``create/get/patch/delete_namespaced_custom_object`` methods.

The canary follows KServe v0.20's two modes, chosen by the
``serving.kserve.io/deploymentMode`` annotation:

* ``Serverless`` (Knative): ``spec.predictor`` is set to the new model with
  ``spec.predictor.canaryTrafficPercent``; Knative keeps the previous revision
  for the rest of the traffic. Tag routing is on, so the canary answers
  directly at the ``latest`` tag's URL in ``status.components.predictor.traffic``.
* ``Standard`` (RawDeployment): ``spec.predictor`` keeps the stable model and
  ``spec.canary[]`` holds ``{predictor, trafficPercent}`` for the new one.

KServe has no automatic rollback (kserve#3085): :meth:`KServeBackend.rollback`
restores the stable model recorded in the object's annotations.

>>> isvc = inference_service("adult", namespace="ml", storage_uri="gs://b/m/1", model_sha256="ab" * 32, version="1")
>>> isvc["spec"]["predictor"]["model"]["runtime"], isvc["metadata"]["annotations"][MODE_ANNOTATION]
('kfp-governance-sklearn', 'Serverless')
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kfp_governance.errors import DeploymentError
from kfp_governance.serving.base import Endpoint, Rollout, ServingBackend
from kfp_governance.serving.model_server import ENV_ALLOW_PICKLE, ENV_SHA256, ENV_VERSION

GROUP = "serving.kserve.io"
ISVC_VERSION = "v1beta1"
ISVC_PLURAL = "inferenceservices"
RUNTIME_VERSION = "v1alpha1"
RUNTIME_PLURAL = "servingruntimes"
RUNTIME_NAME = "kfp-governance-sklearn"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
SERVERLESS, STANDARD = "Serverless", "Standard"
MODES = (SERVERLESS, STANDARD)
PREFIX = "kfp-governance.io/"  # our annotations: what is stable and what is the canary
HTTP_PORT = 8080
NON_ROOT_UID = 1000


def _image() -> str:
    from kfp_governance.components._image import SERVING_IMAGE

    return SERVING_IMAGE


def serving_runtime(name: str = RUNTIME_NAME, *, namespace: str, image: str | None = None,
                    cpu: str = "1", memory: str = "2Gi") -> dict[str, Any]:
    """A ``ServingRuntime`` running our model server in ``image`` (default: the serving image) for sklearn models.

    ``autoSelect`` is off: only InferenceServices that name this runtime use it.
    The model's hash, version and pickle permission come from each
    InferenceService's environment (see :func:`inference_service`).

    >>> rt = serving_runtime(namespace="ml", image="registry/serving:1")
    >>> rt["spec"]["containers"][0]["securityContext"]["runAsNonRoot"]
    True
    """
    return {
        "apiVersion": f"{GROUP}/{RUNTIME_VERSION}",
        "kind": "ServingRuntime",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "kfp-governance"}},
        "spec": {
            "supportedModelFormats": [{"name": "sklearn", "version": "1", "autoSelect": False}],
            "protocolVersions": ["v1", "v2"],
            "containers": [{
                "name": "kserve-container",
                "image": image or _image(),
                "command": ["python", "-m", "kfp_governance.serving.model_server"],
                "args": ["--model_dir=/mnt/models", "--model_name={{.Name}}", f"--http_port={HTTP_PORT}",
                         "--enable_grpc=false"],
                "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
                "ports": [{"containerPort": HTTP_PORT, "name": "http1", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
                "securityContext": {"runAsNonRoot": True, "runAsUser": NON_ROOT_UID, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": HTTP_PORT},
                                   "initialDelaySeconds": 2, "periodSeconds": 5},
            }],
        },
    }


def _predictor(storage_uri: str, model_sha256: str, version: str, *, runtime: str, allow_pickle: bool,
               service_account: str | None) -> dict[str, Any]:
    predictor: dict[str, Any] = {
        "model": {
            "name": "kserve-container",  # the container's name; spec.canary[].predictor.model requires it (v0.20 CRD)
            "modelFormat": {"name": "sklearn"},
            "runtime": runtime,
            "storageUri": storage_uri,
            "env": [{"name": ENV_SHA256, "value": model_sha256}, {"name": ENV_VERSION, "value": str(version)},
                    {"name": ENV_ALLOW_PICKLE, "value": "true" if allow_pickle else "false"}],
        },
    }
    if service_account:
        predictor["serviceAccountName"] = service_account
    return predictor


def inference_service(name: str, *, namespace: str, storage_uri: str, model_sha256: str, version: str,
                      mode: str = SERVERLESS, runtime: str = RUNTIME_NAME, allow_pickle: bool = False,
                      service_account: str | None = None, canary: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``InferenceService`` serving ``storage_uri`` (the stable model), optionally with a canary.

    ``canary`` is ``{"storage_uri", "model_sha256", "version", "percent"}``. In
    ``Serverless`` mode the predictor becomes the canary's model with
    ``canaryTrafficPercent`` (Knative keeps the stable revision); in
    ``Standard`` mode the predictor stays stable and ``spec.canary[]`` holds
    the canary. Annotations record both, so a rollback can restore the stable one.
    """
    if mode not in MODES:
        raise DeploymentError(f"KServe deployment mode must be one of {MODES}, got {mode!r}",
                              fix="set serving.kserve_mode")
    stable = _predictor(storage_uri, model_sha256, version, runtime=runtime, allow_pickle=allow_pickle,
                        service_account=service_account)
    annotations = {MODE_ANNOTATION: mode, PREFIX + "stable-version": str(version),
                   PREFIX + "stable-sha256": model_sha256, PREFIX + "stable-storage-uri": storage_uri}
    spec: dict[str, Any] = {"predictor": stable}
    if canary:
        percent = int(canary["percent"])
        if not 0 <= percent <= 100:
            raise DeploymentError(f"canary percent must be within 0..100, got {percent}",
                                  fix="set deployment.canary_percent")
        new = _predictor(canary["storage_uri"], canary["model_sha256"], canary["version"], runtime=runtime,
                         allow_pickle=allow_pickle, service_account=service_account)
        annotations.update({PREFIX + "canary-version": str(canary["version"]),
                            PREFIX + "canary-sha256": canary["model_sha256"],
                            PREFIX + "canary-storage-uri": canary["storage_uri"]})
        if mode == SERVERLESS:
            spec["predictor"] = dict(new, canaryTrafficPercent=percent)
        else:
            spec["canary"] = [{"predictor": new, "trafficPercent": percent}]
    if mode == SERVERLESS:
        annotations[TAG_ROUTING_ANNOTATION] = "true"
    return {
        "apiVersion": f"{GROUP}/{ISVC_VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                     "labels": {"app.kubernetes.io/part-of": "kfp-governance"}},
        "spec": spec,
    }


def storage_uri(model_dir: str | Path) -> str:
    """The storage URI of a model folder (``gs://``, ``s3://``, ``pvc://`` kept; a local path stays a path).

    >>> storage_uri(Path("gs://bucket/models/1"))
    'gs://bucket/models/1'
    """
    text = str(model_dir)
    for scheme in ("gs", "s3", "pvc", "https", "http", "hf", "oci"):
        if text.startswith(f"{scheme}:/") and not text.startswith(f"{scheme}://"):
            return f"{scheme}://" + text[len(scheme) + 2:]
    return text


def _default_api():
    import kubernetes

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.CustomObjectsApi()


def _status_code(err: Exception) -> int | None:
    return getattr(err, "status", None)


class KServeBackend(ServingBackend):
    """Deploy to KServe through ``api`` (a ``kubernetes.client.CustomObjectsApi``; default from the kube config)."""

    backend = "kserve"

    def __init__(self, namespace: str, *, api: Any = None, mode: str = SERVERLESS, runtime: str = RUNTIME_NAME,
                 image: str | None = None, allow_pickle: bool = False, service_account: str | None = None,
                 ready_timeout: float = 600.0, poll_seconds: float = 5.0, manage_runtime: bool = True):
        if mode not in MODES:
            raise DeploymentError(f"KServe deployment mode must be one of {MODES}, got {mode!r}",
                                  fix="set serving.kserve_mode")
        self.namespace = namespace
        self._api = api
        self.mode = mode
        self.runtime = runtime
        self.image = image
        self.allow_pickle = allow_pickle
        self.service_account = service_account
        self.ready_timeout = float(ready_timeout)
        self.poll_seconds = float(poll_seconds)
        self.manage_runtime = manage_runtime

    @property
    def api(self):
        if self._api is None:
            self._api = _default_api()
        return self._api

    # --- Kubernetes calls -----------------------------------------------------------------------------------
    def _call(self, what: str, method: str, *args, **kwargs):
        try:
            return getattr(self.api, method)(*args, **kwargs)
        except Exception as err:
            if _status_code(err) == 404 and method.startswith("get"):
                return None
            status = _status_code(err)
            reason = getattr(err, "reason", None) or str(err)
            body = str(getattr(err, "body", "") or "")[:400]
            raise DeploymentError(f"Kubernetes API: {what} failed ({status or type(err).__name__}: {reason}) {body}".strip(),
                                  fix="check the cluster, the namespace and this service account's RBAC on "
                                      f"{GROUP}") from None

    def _get(self, name: str) -> dict[str, Any] | None:
        return self._call(f"get InferenceService {self.namespace}/{name}", "get_namespaced_custom_object",
                          GROUP, ISVC_VERSION, self.namespace, ISVC_PLURAL, name)

    def _patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(f"patch InferenceService {self.namespace}/{name}", "patch_namespaced_custom_object",
                          GROUP, ISVC_VERSION, self.namespace, ISVC_PLURAL, name, body)

    def ensure_runtime(self) -> dict[str, Any]:
        """Create our ``ServingRuntime`` in the namespace unless it exists; return it."""
        existing = self._call(f"get ServingRuntime {self.namespace}/{self.runtime}", "get_namespaced_custom_object",
                              GROUP, RUNTIME_VERSION, self.namespace, RUNTIME_PLURAL, self.runtime)
        if existing:
            return existing
        body = serving_runtime(self.runtime, namespace=self.namespace, image=self.image)
        return self._call(f"create ServingRuntime {self.namespace}/{self.runtime}", "create_namespaced_custom_object",
                          GROUP, RUNTIME_VERSION, self.namespace, RUNTIME_PLURAL, body)

    # --- reading objects -----------------------------------------------------------------------------------
    def _rollout(self, service: str, isvc: dict[str, Any]) -> Rollout:
        notes = isvc.get("metadata", {}).get("annotations", {}) or {}
        status = isvc.get("status", {}) or {}
        spec = isvc.get("spec", {})
        predictor_status = (status.get("components", {}) or {}).get("predictor", {}) or {}
        stable_url = status.get("url") or predictor_status.get("url") or ""
        stable = None
        if notes.get(PREFIX + "stable-version"):
            stable = Endpoint(url=stable_url, model=service, version=notes[PREFIX + "stable-version"],
                              model_sha256=notes.get(PREFIX + "stable-sha256", ""),
                              details={"storage_uri": notes.get(PREFIX + "stable-storage-uri"),
                                       "revision": predictor_status.get("latestRolledoutRevision"),
                                       "namespace": self.namespace, "mode": notes.get(MODE_ANNOTATION)})
        canary, percent = None, 0
        if notes.get(PREFIX + "canary-version"):
            if notes.get(MODE_ANNOTATION) == STANDARD:
                entries = spec.get("canary") or []
                percent = int(entries[0]["trafficPercent"]) if entries else 0
            else:
                percent = int(spec.get("predictor", {}).get("canaryTrafficPercent", 0) or 0)
            canary = Endpoint(url=self._canary_url(isvc), model=service, version=notes[PREFIX + "canary-version"],
                              model_sha256=notes.get(PREFIX + "canary-sha256", ""),
                              details={"storage_uri": notes.get(PREFIX + "canary-storage-uri"),
                                       "revision": predictor_status.get("latestCreatedRevision"),
                                       "namespace": self.namespace, "mode": notes.get(MODE_ANNOTATION)})
        return Rollout(service=service, stable=stable, canary=canary, canary_percent=percent)

    @staticmethod
    def _canary_url(isvc: dict[str, Any]) -> str:
        """The canary's own URL: the ``latest`` tag's (Serverless), else a ``canary`` component's, else ``""``."""
        components = (isvc.get("status", {}) or {}).get("components", {}) or {}
        for entry in (components.get("predictor", {}) or {}).get("traffic", []) or []:
            if entry.get("tag") == "latest" and entry.get("url"):
                return entry["url"]
        for name, component in components.items():
            if name.startswith("canary") and component.get("url"):
                return component["url"]
        return ""

    def _wait_ready(self, service: str, version: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            isvc = self._get(service) or {}
            conditions = (isvc.get("status", {}) or {}).get("conditions", []) or []
            ready = next((c for c in conditions if c.get("type") == "Ready"), None)
            if ready and ready.get("status") == "True":
                return isvc
            if time.monotonic() > deadline:
                detail = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('message', '')}".strip() for c in conditions)
                raise DeploymentError(f"InferenceService {self.namespace}/{service} v{version} was not Ready within "
                                      f"{self.ready_timeout:.0f} s: {detail or 'no conditions reported'}",
                                      fix=f"kubectl -n {self.namespace} describe inferenceservice {service}; a hash "
                                          "mismatch shows in the predictor pod's log")
            time.sleep(self.poll_seconds)

    # --- ServingBackend -----------------------------------------------------------------------------------
    def start_canary(self, service: str, model_dir: Path, *, version: str, model_sha256: str, percent: int) -> Rollout:
        uri = storage_uri(model_dir)
        if "://" not in uri:  # a local folder: check the hash here (the server checks it again in the pod)
            from kfp_governance.serving.model_server import verify_model_file

            verify_model_file(uri, model_sha256)
        if self.manage_runtime:
            self.ensure_runtime()
        existing = self._get(service)
        if existing is None:  # a first deployment: the new model is stable from the start
            body = inference_service(service, namespace=self.namespace, storage_uri=uri, model_sha256=model_sha256,
                                     version=str(version), mode=self.mode, runtime=self.runtime,
                                     allow_pickle=self.allow_pickle, service_account=self.service_account)
            self._call(f"create InferenceService {self.namespace}/{service}", "create_namespaced_custom_object",
                       GROUP, ISVC_VERSION, self.namespace, ISVC_PLURAL, body)
            return self._rollout(service, self._wait_ready(service, str(version)))
        notes = existing.get("metadata", {}).get("annotations", {}) or {}
        mode = notes.get(MODE_ANNOTATION, self.mode)
        if notes.get(PREFIX + "canary-version") == str(version) and notes.get(PREFIX + "canary-sha256") == model_sha256:
            rollout = self._rollout(service, existing)  # a retried call: resume
            if rollout.canary_percent == int(percent):
                return self._rollout(service, self._wait_ready(service, str(version)))
        body = inference_service(service, namespace=self.namespace, storage_uri=notes[PREFIX + "stable-storage-uri"],
                                 model_sha256=notes[PREFIX + "stable-sha256"], version=notes[PREFIX + "stable-version"],
                                 mode=mode, runtime=self.runtime, allow_pickle=self.allow_pickle,
                                 service_account=self.service_account,
                                 canary={"storage_uri": uri, "model_sha256": model_sha256, "version": str(version),
                                         "percent": int(percent)})
        self._patch(service, {"metadata": {"annotations": body["metadata"]["annotations"]}, "spec": body["spec"]})
        return self._rollout(service, self._wait_ready(service, str(version)))

    def promote(self, service: str) -> Rollout:
        return self._settle(service, "canary")

    def rollback(self, service: str) -> Rollout:
        return self._settle(service, "stable")

    def _settle(self, service: str, role: str) -> Rollout:
        """Leave only the ``role`` model (``canary``: promote; ``stable``: roll back) at 100%; a no-op when no canary
        is recorded (a retried call)."""
        isvc = self._require(service)
        notes = isvc["metadata"].get("annotations", {}) or {}
        if not notes.get(PREFIX + "canary-version"):
            return self._rollout(service, isvc)
        mode = notes.get(MODE_ANNOTATION, self.mode)
        body = inference_service(service, namespace=self.namespace, storage_uri=notes[PREFIX + f"{role}-storage-uri"],
                                 model_sha256=notes[PREFIX + f"{role}-sha256"], version=notes[PREFIX + f"{role}-version"],
                                 mode=mode, runtime=self.runtime, allow_pickle=self.allow_pickle,
                                 service_account=self.service_account)
        self._patch(service, self._clearing(body, notes, mode))
        return self._rollout(service, self._wait_ready(service, notes[PREFIX + f"{role}-version"]))

    @staticmethod
    def _clearing(body: dict[str, Any], notes: dict[str, Any], mode: str) -> dict[str, Any]:
        """A merge patch to ``body`` that also removes the canary (null deletes a key in a JSON merge patch)."""
        annotations = dict(body["metadata"]["annotations"])
        for key in ("canary-version", "canary-sha256", "canary-storage-uri"):
            annotations[PREFIX + key] = None
        spec = dict(body["spec"])
        if mode == STANDARD:
            spec["canary"] = None
        else:
            spec["predictor"] = dict(spec["predictor"], canaryTrafficPercent=None)
        return {"metadata": {"annotations": annotations}, "spec": spec}

    def _require(self, service: str) -> dict[str, Any]:
        isvc = self._get(service)
        if isvc is None:
            raise DeploymentError(f"no InferenceService {self.namespace}/{service} exists",
                                  fix="deploy a model first")
        return isvc

    def status(self, service: str) -> Rollout | None:
        isvc = self._get(service)
        return None if isvc is None else self._rollout(service, isvc)

    def stop(self, service: str) -> None:
        try:
            self.api.delete_namespaced_custom_object(GROUP, ISVC_VERSION, self.namespace, ISVC_PLURAL, service)
        except Exception as err:
            if _status_code(err) != 404:
                raise DeploymentError(f"Kubernetes API: delete InferenceService {self.namespace}/{service} failed: {err}",
                                      fix="check the cluster and RBAC") from None
