"""A strict fake of the Vertex AI v1 REST Model and Endpoint services, and of the Cloud Storage JSON API.

Point google-cloud-aiplatform at it with ``aiplatform.init(api_transport="rest", api_endpoint=fake.url,
credentials=AnonymousCredentials(), ...)`` and google-cloud-storage with
``storage.Client(client_options={"api_endpoint": fake.url}, credentials=AnonymousCredentials())`` (the same
server answers both, like ``STORAGE_EMULATOR_HOST``).

Strict where the real API is strict: every request body is parsed into the API's own message type
(``google.cloud.aiplatform_v1.types``, ``ignore_unknown_fields=False``) and an unknown field, a label outside
``[a-z0-9_-]{0,63}``, an alias outside ``[a-z][a-z0-9-]{0,126}[a-z0-9]``, an alias already held by another
version, a model without a serving container, a traffic split that does not add up to 100 or names an unknown
deployed model, or undeploying a model that still takes traffic is answered with HTTP 400, as Vertex AI would.

Answered: ModelService upload (a long-running operation, polled at ``/ui/.../operations/N``), get (by version id
or alias, ``models/ID@VER``), listVersions (``labels.k="v"`` filters joined by AND), mergeVersionAliases, update
(labels of one version with ``@VER``, of the model without); EndpointService create, get, deployModel,
undeployModel, update (traffic split); PredictionService predict (instances are routed by the traffic split,
deterministically, and answered by :attr:`FakeVertexModels.answer`); Cloud Storage object upload (multipart,
``ifGenerationMatch=0``), download, get and list.

Not modelled: IAM, quotas, pagination, real serving containers, deployment delays, operation errors, resumable
uploads, and which aliases the real service moves by itself (this fake refuses a held alias: the client must
remove it first).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote

from .base import RecordingServer, Reply, Request

_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_MODEL = _PARENT + r"/models/(?P<model>[^/:@]+)(?:@(?P<version>[^/:]+))?"
_ENDPOINT = _PARENT + r"/endpoints/(?P<endpoint>[^/:]+)"
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9-]{0,126}[a-z0-9]$")
_TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _types():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.cloud.aiplatform_v1 import types
    return types


class BadRequest(Exception):
    """Raised by a handler: the request is one the real API refuses (HTTP 400)."""


def _parse(message_type, body: bytes):
    """The body as the API's message, refusing unknown fields and malformed JSON."""
    from google.protobuf.json_format import ParseError

    try:
        return message_type.from_json(body.decode() if body else "{}", ignore_unknown_fields=False)
    except (ParseError, ValueError, TypeError) as err:
        raise BadRequest(f"invalid {message_type.__name__}: {err}") from None


def _to_dict(message) -> dict[str, Any]:
    return json.loads(type(message).to_json(message, including_default_value_fields=False))


class FakeVertexModels(RecordingServer):
    """Models, endpoints, predictions and Cloud Storage objects in memory, with every request recorded."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.models: dict[str, dict[str, Any]] = {}  # model id -> {display_name, labels, versions: {id: Model}}
        self.endpoints: dict[str, Any] = {}  # endpoint id -> types.Endpoint
        self.objects: dict[tuple[str, str], bytes] = {}  # (bucket, name) -> content
        self.generations: dict[tuple[str, str], int] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self._counter = 1000
        self._pending_media: dict[int, bytes] = {}
        self._served: dict[str, int] = {}  # endpoint id -> predictions routed so far
        # (deployed model, instances) -> predictions; tests replace it to play a model server
        self.answer = lambda deployed, instances: [{"deployed_model_id": deployed.id} for _ in instances]
        m = self.route
        m("POST", _PARENT + r"/models:upload", self._upload)
        m("GET", _MODEL + r":listVersions", self._list_versions)
        m("POST", _MODEL + r":mergeVersionAliases", self._merge_aliases)
        m("GET", _MODEL, self._get_model)
        m("PATCH", _MODEL, self._update_model)
        m("POST", _PARENT + r"/endpoints", self._create_endpoint)
        m("POST", _ENDPOINT + r":deployModel", self._deploy)
        m("POST", _ENDPOINT + r":undeployModel", self._undeploy)
        m("POST", _ENDPOINT + r":predict", self._predict)
        m("GET", _ENDPOINT, self._get_endpoint)
        m("PATCH", _ENDPOINT, self._update_endpoint)
        m("GET", r"/(?:ui|v1)/projects/[^/]+/locations/[^/]+/operations/(?P<operation>\d+)", self._operation)
        m("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o", self._gcs_upload)
        m("GET", r"/download/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)", self._gcs_download)
        m("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o", self._gcs_list)
        m("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>.+)", self._gcs_get)

    # -- plumbing -----------------------------------------------------------------------------------------------
    def error_body(self, status, message):
        names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}

    def _answer(self, request: Request) -> Reply:
        try:
            return super()._answer(request)
        except BadRequest as err:
            return Reply(400, self.error_body(400, str(err)))

    def _dispatch(self, handler) -> None:
        """The base's dispatch, but a ``bytes`` reply body is sent as it is (Cloud Storage media downloads)."""
        original = handler.wfile

        class Capture:
            def __init__(self):
                self.parts: list[bytes] = []

            def write(self, data):
                self.parts.append(data)

        capture = Capture()
        handler.wfile = capture
        try:
            super()._dispatch(handler)
        finally:
            handler.wfile = original
        raw = b"".join(capture.parts)
        media = self._pending_media.pop(threading.get_ident(), None)
        if media is None:
            original.write(raw)
            return
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        status_line = head[0]
        original.write(f"{status_line}\r\nContent-Type: application/octet-stream\r\n"
                       f"Content-Length: {len(media)}\r\n\r\n".encode() + media)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _lro(self, project: str, location: str, response_type: str, response: dict) -> Reply:
        number = str(self._next())
        name = f"projects/{project}/locations/{location}/operations/{number}"
        self.operations[number] = {"name": name, "done": True,
                                   "response": {"@type": _TYPE + response_type, **response}}
        return Reply(200, {"name": name, "done": False})  # the client polls the operation once

    def _operation(self, request: Request, operation) -> Reply:
        if operation not in self.operations:
            return Reply(404, self.error_body(404, f"operation {operation} not found"))
        return Reply(200, self.operations[operation])

    # -- models -------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_labels(labels) -> None:
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL.match(value):
                raise BadRequest(f"label {key}={value!r} is invalid: keys and values allow [a-z0-9_-], 63 characters")

    def _upload(self, request: Request, project, location) -> Reply:
        types = _types()
        upload = _parse(types.UploadModelRequest, request.body)
        model = upload.model
        if not model.display_name:
            raise BadRequest("model.display_name is required")
        if not model.container_spec.image_uri:
            raise BadRequest("model.container_spec.image_uri is required for a custom model")
        self._check_labels(model.labels)
        for alias in model.version_aliases:
            if not _ALIAS.match(alias):
                raise BadRequest(f"version alias {alias!r} does not match {_ALIAS.pattern}")
        if upload.parent_model:
            model_id = upload.parent_model.rsplit("/", 1)[-1]
            if model_id not in self.models:
                return Reply(404, self.error_body(404, f"parent model {upload.parent_model} not found"))
        else:
            model_id = upload.model_id or str(self._next())
            if model_id in self.models:
                return Reply(409, self.error_body(409, f"model {model_id} already exists"))
            self.models[model_id] = {"display_name": model.display_name, "labels": {}, "versions": {}}
        entry = self.models[model_id]
        taken = {a for v in entry["versions"].values() for a in v.version_aliases}
        for alias in model.version_aliases:
            if alias in taken:
                raise BadRequest(f"version alias {alias!r} is already held by another version of {model_id}")
        version_id = str(len(entry["versions"]) + 1)
        stored = types.Model(model)
        stored.name = f"projects/{project}/locations/{location}/models/{model_id}"
        stored.version_id = version_id
        stored.create_time = stored.version_create_time = stored.update_time = stored.version_update_time = _now()
        aliases = list(model.version_aliases)
        if not entry["versions"]:
            aliases.insert(0, "default")
        stored.version_aliases = aliases
        stored.supported_deployment_resources_types = [types.Model.DeploymentResourcesType.DEDICATED_RESOURCES]
        entry["versions"][version_id] = stored
        return self._lro(project, location, "UploadModelResponse", {"model": stored.name, "modelVersionId": version_id})

    def _version(self, model, version) -> Any:
        entry = self.models.get(model)
        if entry is None:
            return None
        version = version or "default"
        if version in entry["versions"]:
            return entry["versions"][version]
        return next((v for v in entry["versions"].values() if version in v.version_aliases), None)

    def _model_json(self, stored) -> dict[str, Any]:
        out = _to_dict(stored)
        model_labels = self.models[stored.name.rsplit("/", 1)[-1]]["labels"]
        if model_labels:
            out["labels"] = {**model_labels, **out.get("labels", {})}  # merged, as the API returns them
        return out

    def _get_model(self, request: Request, project, location, model, version=None) -> Reply:
        stored = self._version(model, version)
        if stored is None:
            return Reply(404, self.error_body(404, f"model {model}@{version or 'default'} not found"))
        return Reply(200, self._model_json(stored))

    def _list_versions(self, request: Request, project, location, model, version=None) -> Reply:
        if model not in self.models:
            return Reply(404, self.error_body(404, f"model {model} not found"))
        found = list(self.models[model]["versions"].values())
        text = (request.arg("filter") or "").strip()
        if text:
            for clause in re.split(r"\s+AND\s+", text):
                match = re.fullmatch(r'labels\.([a-z0-9_-]+)\s*=\s*"?([a-z0-9_-]*)"?', clause.strip())
                if not match:
                    raise BadRequest(f"unsupported filter {clause!r}")
                key, value = match.groups()
                found = [v for v in found if v.labels.get(key) == value]
        return Reply(200, {"models": [self._model_json(v) for v in found]} if found else {})

    def _merge_aliases(self, request: Request, project, location, model, version=None) -> Reply:
        types = _types()
        merge = _parse(types.MergeVersionAliasesRequest, request.body)
        stored = self._version(model, version) if version else None
        if stored is None or not version or not version.isdigit():
            return Reply(404 if version else 400, self.error_body(
                404 if version else 400, f"mergeVersionAliases needs models/{model}@VERSION_ID; got {version!r}"))
        others = {a for v in self.models[model]["versions"].values() if v is not stored for a in v.version_aliases}
        aliases = list(stored.version_aliases)
        for alias in merge.version_aliases:
            name = alias.removeprefix("-")
            if not _ALIAS.match(name):
                raise BadRequest(f"version alias {name!r} does not match {_ALIAS.pattern}")
            if alias.startswith("-"):
                if name == "default":
                    raise BadRequest("the default alias cannot be removed")
                aliases = [a for a in aliases if a != name]
            elif name in others:
                raise BadRequest(f"version alias {name!r} is already held by another version of {model}")
            elif name not in aliases:
                aliases.append(name)
        stored.version_aliases = aliases
        stored.version_update_time = _now()
        return Reply(200, self._model_json(stored))

    def _update_model(self, request: Request, project, location, model, version=None) -> Reply:
        types = _types()
        body = _parse(types.Model, request.body)
        paths = [p for arg in request.query.get("updateMask", []) for p in arg.split(",") if p]
        if not paths:
            raise BadRequest("updateMask is required")
        for path in paths:
            if path not in {"labels", "display_name", "displayName", "description", "version_description",
                            "versionDescription"}:
                raise BadRequest(f"field {path!r} cannot be updated")
        self._check_labels(body.labels)
        if model not in self.models:
            return Reply(404, self.error_body(404, f"model {model} not found"))
        if version in (None, "-"):
            if "labels" in paths:
                self.models[model]["labels"] = dict(body.labels)
            return Reply(200, self._model_json(self._version(model, None)))
        stored = self._version(model, version)
        if stored is None:
            return Reply(404, self.error_body(404, f"model {model}@{version} not found"))
        if "labels" in paths:
            stored.labels = dict(body.labels)
        stored.version_update_time = _now()
        return Reply(200, self._model_json(stored))

    # -- endpoints ----------------------------------------------------------------------------------------------
    def _create_endpoint(self, request: Request, project, location) -> Reply:
        types = _types()
        endpoint = _parse(types.Endpoint, request.body)
        if not endpoint.display_name:
            raise BadRequest("endpoint.display_name is required")
        self._check_labels(endpoint.labels)
        endpoint_id = request.arg("endpointId") or request.arg("endpoint_id") or str(self._next())
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,61}[a-z0-9]|[1-9][0-9]{0,8}", endpoint_id):
            raise BadRequest(f"endpoint id {endpoint_id!r} is invalid")
        if endpoint_id in self.endpoints:
            return Reply(409, self.error_body(409, f"endpoint {endpoint_id} already exists"))
        endpoint.name = f"projects/{project}/locations/{location}/endpoints/{endpoint_id}"
        endpoint.create_time = endpoint.update_time = _now()
        self.endpoints[endpoint_id] = endpoint
        return self._lro(project, location, "Endpoint", _to_dict(endpoint))

    def _endpoint(self, endpoint_id):
        return self.endpoints.get(endpoint_id)

    def _get_endpoint(self, request: Request, project, location, endpoint) -> Reply:
        stored = self._endpoint(endpoint)
        if stored is None:
            return Reply(404, self.error_body(404, f"endpoint {endpoint} not found"))
        return Reply(200, _to_dict(stored))

    @staticmethod
    def _check_split(split: dict[str, int], deployed: set[str]) -> None:
        unknown = set(split) - deployed
        if unknown:
            raise BadRequest(f"traffic split names deployed models that do not exist: {sorted(unknown)}")
        if deployed and sum(split.values()) != 100:
            raise BadRequest(f"traffic split {split} must add up to 100")
        if not deployed and split:
            raise BadRequest("traffic split must be empty when no model is deployed")

    def _deploy(self, request: Request, project, location, endpoint) -> Reply:
        types = _types()
        deploy = _parse(types.DeployModelRequest, request.body)
        stored = self._endpoint(endpoint)
        if stored is None:
            return Reply(404, self.error_body(404, f"endpoint {endpoint} not found"))
        deployed = deploy.deployed_model
        match = re.fullmatch(r"projects/[^/]+/locations/[^/]+/models/([^/@]+)(?:@([^/]+))?", deployed.model)
        version = self._version(match.group(1), match.group(2)) if match else None
        if version is None:
            raise BadRequest(f"deployed_model.model {deployed.model!r} does not exist")
        if not deployed.dedicated_resources.machine_spec.machine_type:
            raise BadRequest("a custom-container model needs dedicated_resources.machine_spec.machine_type")
        deployed.id = str(self._next())
        deployed.model = version.name
        deployed.model_version_id = version.version_id
        deployed.create_time = _now()
        split = {(deployed.id if k == "0" else k): v for k, v in deploy.traffic_split.items()}
        self._check_split(split, {d.id for d in stored.deployed_models} | {deployed.id})
        stored.deployed_models.append(deployed)
        stored.traffic_split = split
        return self._lro(project, location, "DeployModelResponse", {"deployedModel": _to_dict(deployed)})

    def _undeploy(self, request: Request, project, location, endpoint) -> Reply:
        types = _types()
        undeploy = _parse(types.UndeployModelRequest, request.body)
        stored = self._endpoint(endpoint)
        if stored is None:
            return Reply(404, self.error_body(404, f"endpoint {endpoint} not found"))
        ids = [d.id for d in stored.deployed_models]
        if undeploy.deployed_model_id not in ids:
            return Reply(404, self.error_body(404, f"deployed model {undeploy.deployed_model_id} not found"))
        remaining = {i for i in ids if i != undeploy.deployed_model_id}
        # a given split replaces the endpoint's; undeploying the last model always leaves an empty split
        split = dict(undeploy.traffic_split) if undeploy.traffic_split else ({} if not remaining else dict(stored.traffic_split))
        if split.get(undeploy.deployed_model_id):
            raise BadRequest(f"deployed model {undeploy.deployed_model_id} still takes {split[undeploy.deployed_model_id]}% "
                             "of the traffic: move it first")
        split.pop(undeploy.deployed_model_id, None)
        self._check_split(split, remaining)
        stored.deployed_models = [d for d in stored.deployed_models if d.id != undeploy.deployed_model_id]
        stored.traffic_split = split
        return self._lro(project, location, "UndeployModelResponse", {})

    def _update_endpoint(self, request: Request, project, location, endpoint) -> Reply:
        types = _types()
        body = _parse(types.Endpoint, request.body)
        stored = self._endpoint(endpoint)
        if stored is None:
            return Reply(404, self.error_body(404, f"endpoint {endpoint} not found"))
        paths = [p for arg in request.query.get("updateMask", []) for p in arg.split(",") if p]
        if not paths:
            raise BadRequest("updateMask is required")
        for path in paths:
            if path in ("traffic_split", "trafficSplit"):
                split = dict(body.traffic_split)
                self._check_split(split, {d.id for d in stored.deployed_models})
                stored.traffic_split = split
            elif path == "labels":
                self._check_labels(body.labels)
                stored.labels = dict(body.labels)
            elif path in ("display_name", "displayName", "description"):
                setattr(stored, "display_name" if path.startswith("display") else path, getattr(body, path.replace(
                    "displayName", "display_name")))
            else:
                raise BadRequest(f"field {path!r} cannot be updated")
        stored.update_time = _now()
        return Reply(200, _to_dict(stored))

    def _predict(self, request: Request, project, location, endpoint) -> Reply:
        types = _types()
        predict = _parse(types.PredictRequest, request.body)
        stored = self._endpoint(endpoint)
        if stored is None:
            return Reply(404, self.error_body(404, f"endpoint {endpoint} not found"))
        split = {k: v for k, v in stored.traffic_split.items() if v}
        if not split:
            return Reply(400, self.error_body(400, f"endpoint {endpoint} has no deployed model taking traffic"))
        count = self._served.get(endpoint, 0)
        self._served[endpoint] = count + 1
        slot, chosen = count % 100, None
        for deployed_id in sorted(split):  # deterministic weighted round robin over 100 requests
            if slot < split[deployed_id]:
                chosen = deployed_id
                break
            slot -= split[deployed_id]
        deployed = next(d for d in stored.deployed_models if d.id == chosen)
        instances = [json.loads(type(predict).to_json(predict))["instances"]][0] if predict.instances else []
        return Reply(200, {"predictions": self.answer(deployed, instances), "deployedModelId": deployed.id,
                           "model": deployed.model, "modelVersionId": deployed.model_version_id})

    # -- Cloud Storage ------------------------------------------------------------------------------------------
    def _object_resource(self, bucket: str, name: str) -> dict[str, Any]:
        content = self.objects[(bucket, name)]
        generation = self.generations[(bucket, name)]
        return {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(content)),
                "generation": str(generation), "metageneration": "1", "id": f"{bucket}/{name}/{generation}",
                "md5Hash": base64.b64encode(hashlib.md5(content).digest()).decode()}

    def _gcs_upload(self, request: Request, bucket) -> Reply:
        if request.arg("uploadType") != "multipart":
            raise BadRequest(f"only multipart uploads are faked, got uploadType={request.arg('uploadType')}")
        content_type = request.headers.get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        parts = list(message.iter_parts())
        if len(parts) != 2:
            raise BadRequest("a multipart upload has a metadata part and a media part")
        metadata = json.loads(parts[0].get_payload(decode=True))
        unknown = set(metadata) - {"name", "contentType", "metadata", "md5Hash", "crc32c", "cacheControl",
                                   "contentEncoding", "contentDisposition", "contentLanguage", "storageClass"}
        if unknown:
            raise BadRequest(f"unknown object metadata fields {sorted(unknown)}")
        name = metadata.get("name") or request.arg("name")
        content = parts[1].get_payload(decode=True) or b""
        if "md5Hash" in metadata and metadata["md5Hash"] != base64.b64encode(hashlib.md5(content).digest()).decode():
            raise BadRequest("md5Hash does not match the content")
        key = (bucket, name)
        if request.arg("ifGenerationMatch") == "0" and key in self.objects:
            return Reply(412, self.error_body(412, f"object gs://{bucket}/{name} already exists"))
        self.objects[key] = content
        self.generations[key] = self.generations.get(key, 0) + 1
        return Reply(200, self._object_resource(bucket, name))

    def _gcs_get(self, request: Request, bucket, name) -> Reply:
        name = unquote(name)
        if (bucket, name) not in self.objects:
            return Reply(404, self.error_body(404, f"object gs://{bucket}/{name} not found"))
        if request.arg("alt") == "media":
            return self._media_reply(bucket, name)
        return Reply(200, self._object_resource(bucket, name))

    def _gcs_download(self, request: Request, bucket, name) -> Reply:
        name = unquote(name)
        if (bucket, name) not in self.objects:
            return Reply(404, self.error_body(404, f"object gs://{bucket}/{name} not found"))
        return self._media_reply(bucket, name)

    def _media_reply(self, bucket, name) -> Reply:
        # the base sends JSON; _dispatch swaps in the raw bytes for this handler's thread
        self._pending_media[threading.get_ident()] = self.objects[(bucket, name)]
        return Reply(200, None)

    def _gcs_list(self, request: Request, bucket) -> Reply:
        prefix = request.arg("prefix") or ""
        names = sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))
        return Reply(200, {"kind": "storage#objects", "items": [self._object_resource(bucket, n) for n in names]})

    # -- helpers for tests --------------------------------------------------------------------------------------
    def read_object(self, uri: str) -> bytes:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return self.objects[(bucket, name)]

    def object_names(self, prefix: str = "") -> list[str]:
        return sorted(f"gs://{b}/{n}" for b, n in self.objects if f"gs://{b}/{n}".startswith(prefix))

    def split(self, endpoint_id: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint_id].traffic_split)

    def deployed(self, endpoint_id: str) -> list[Any]:
        return list(self.endpoints[endpoint_id].deployed_models)

    def set_version_labels(self, model_id: str, version: str, **labels) -> None:
        with contextlib.suppress(KeyError):
            self.models[model_id]["versions"][version].labels.update(labels)
