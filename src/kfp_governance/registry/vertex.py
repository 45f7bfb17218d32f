"""Vertex AI Model Registry as a :class:`~kfp_governance.registry.base.Registry`.

One registered model name is one Vertex AI Model (its id is :func:`vertex_model_id` of the name); every
registration is a new version uploaded with ``parent_model``, served by our KServe image as a custom container
(predict route ``/v1/models/<id>:predict``, health route ``/v1/models/<id>``, KServe's v1 protocol, which is
Vertex's ``instances``/``predictions`` contract).

What goes where (labels allow only short ``[a-z0-9_-]`` values, so they only point at the evidence)::

    <staging>/models/<id>/<key>/            the version's artifact URI: the model folder (model.joblib, ...)
    <staging>/models/<id>/<key>/evidence.json   the evidence document: run id, full model sha256, tags, files
    <staging>/models/<id>/<key>/evidence/   the evidence files given to register()
    <staging>/audit/<id>/<sequence>-<action>.json   the audit trail, one object per record, never overwritten

    labels: model_sha256 (first 40 hex digits), run_id (a label-safe form), evidence (<key>), approval

``<key>`` is derived from the model sha256 and the run id, so a retried registration finds its own files and
its own version (idempotent by run id and model hash). Aliases are Vertex version aliases (``champion``,
``challenger``); the approval state is the ``approval`` label of the version.

>>> vertex_model_id("Adult Income")
'adult-income'
>>> label_value("run-2024-06-01T10:00")
'run-2024-06-01t10-00-...'
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from kfp_governance.errors import RegistryError
from kfp_governance.hashing import sha256_file
from kfp_governance.registry.base import APPROVAL_STATES, AuditRecord, ModelVersion, Registry

SHA_LABEL_LENGTH = 40
_ALIAS = re.compile(r"^[a-z][a-z0-9-]{0,126}[a-z0-9]$")
EVIDENCE_DOCUMENT = "evidence.json"
EVIDENCE_FOLDER = "evidence"


def _short_hash(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def label_value(text: str) -> str:
    """``text`` as a Vertex label value (``[a-z0-9_-]``, at most 63 characters); changed text gets a hash suffix.

    >>> label_value("abc_1-2")
    'abc_1-2'
    >>> len(label_value("X" * 200)) <= 63
    True
    """
    safe = re.sub(r"[^a-z0-9_-]", "-", text.lower())
    if safe == text and len(safe) <= 63:
        return safe
    return f"{safe[:50]}-{_short_hash(text)}"


def vertex_model_id(name: str) -> str:
    """The Vertex AI model id for a registered model name (a letter first, ``[a-z0-9_-]``, 63 characters).

    >>> vertex_model_id("income_model")
    'income_model'
    """
    safe = re.sub(r"[^a-z0-9_-]", "-", name.lower()).strip("-") or "model"
    if not safe[0].isalpha():
        safe = "m-" + safe
    return safe if len(safe) <= 63 else f"{safe[:50]}-{_short_hash(name)}"


def _split_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise RegistryError(f"the Vertex AI staging URI must be gs://BUCKET/PATH, got {uri!r}",
                            fix="set registry.vertex.staging_uri to a Cloud Storage folder")
    bucket, _, path = uri[len("gs://"):].partition("/")
    return bucket, path.strip("/")


def _quiet_import():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.cloud import aiplatform, storage
    return aiplatform, storage


def _transient(err: BaseException) -> bool:
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    transient = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, gexc.ServiceUnavailable,
                 gexc.InternalServerError, gexc.TooManyRequests, gexc.DeadlineExceeded, gexc.RetryError,
                 auth_exc.TransportError, ConnectionError, TimeoutError)
    return isinstance(err, transient)


def probe(url: str, attempts: int, backoff_s: float, timeout_s: float = 3.0) -> BaseException | None:
    """``None`` when a TCP connection to ``url``'s host opens within a bounded retry, else the last error.

    The client library's own retries on a refused connection run for minutes; this check bounds them.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    last: BaseException | None = None
    for attempt in range(max(1, attempts)):
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout_s):
                return None
        except OSError as err:
            last = err
            if attempt + 1 < attempts:
                time.sleep(backoff_s * (2 ** attempt))
    return last


class VertexRegistry(Registry):
    """Vertex AI Model Registry, with evidence and the audit trail in the Cloud Storage staging folder.

    ``api_endpoint`` (e.g. a local fake, ``http://127.0.0.1:PORT``) switches the client to the REST transport;
    ``storage_endpoint`` points the Cloud Storage client elsewhere (the same fake); ``credentials`` default to
    Application Default Credentials.
    """

    backend = "vertex"

    def __init__(self, project: str, location: str, staging_uri: str, serving_image: str, *,
                 api_endpoint: str | None = None, storage_endpoint: str | None = None, credentials: Any = None,
                 attempts: int = 3, backoff_s: float = 0.5, serving_port: int = 8080):
        if not project or not location:
            raise RegistryError("the Vertex AI registry needs a project and a location",
                                fix="set registry.vertex.project and registry.vertex.location")
        if not serving_image:
            raise RegistryError("the Vertex AI registry needs the serving image (Model.upload requires one)",
                                fix="set serving.image to our KServe serving image reference")
        self.project, self.location, self.serving_image = project, location, serving_image
        self.bucket, self.prefix = _split_gs(staging_uri)
        self.staging_uri = f"gs://{self.bucket}/{self.prefix}".rstrip("/")
        self.api_endpoint, self.storage_endpoint, self.credentials = api_endpoint, storage_endpoint, credentials
        self.attempts, self.backoff_s, self.serving_port = max(1, attempts), backoff_s, serving_port
        self._storage_client = None

    # -- clients ------------------------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return self.api_endpoint or f"https://{self.location}-aiplatform.googleapis.com"

    def _aiplatform(self):
        if not getattr(self, "_reachable", False):
            for url in dict.fromkeys([self.where, self.storage_endpoint or "https://storage.googleapis.com"]):
                error = probe(url, self.attempts, self.backoff_s)
                if error is not None:
                    raise RegistryError(
                        f"Vertex AI registry at {url} (project {self.project}, {self.location}) is unreachable after "
                        f"{self.attempts} attempts: {error}",
                        fix="check registry.vertex.api_endpoint / the network and the credentials, then retry")
            self._reachable = True
        aiplatform, _ = _quiet_import()
        kwargs: dict[str, Any] = {"project": self.project, "location": self.location}
        if self.credentials is not None:
            kwargs["credentials"] = self.credentials
        if self.api_endpoint:
            kwargs.update(api_endpoint=self.api_endpoint, api_transport="rest")
        aiplatform.init(**kwargs)
        return aiplatform

    def _bucket(self):
        if self._storage_client is None:
            _, storage = _quiet_import()
            options = {"api_endpoint": self.storage_endpoint} if self.storage_endpoint else None
            self._storage_client = storage.Client(project=self.project, credentials=self.credentials,
                                                  client_options=options)
        return self._storage_client.bucket(self.bucket)

    def _call(self, what: str, fn, *args, **kwargs):
        """``fn(...)`` with a bounded retry on transient failures, then one clear RegistryError."""
        from kfp_governance.retry import call_with_retry

        return call_with_retry(lambda: fn(*args, **kwargs), attempts=self.attempts, backoff_s=self.backoff_s,
                               transient=_transient, exhausted=lambda last: RegistryError(
            f"Vertex AI registry at {self.where} (project {self.project}, {self.location}) is unreachable: "
            f"{what} failed {self.attempts} times ({type(last).__name__}: {str(last)[:200]})",
            fix="check registry.vertex.api_endpoint / the network and the credentials, then retry"))

    def _model_name(self, name: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/models/{vertex_model_id(name)}"

    def _get(self, name: str, version: str):
        """The Vertex Model of ``name@version`` (version id or alias), or None."""
        from google.api_core import exceptions as gexc

        aiplatform = self._aiplatform()
        try:
            return self._call(f"get model {name}@{version}", aiplatform.Model, self._model_name(name), version=version)
        except gexc.NotFound:
            return None

    def _list(self, name: str, filter: str | None = None) -> list[Any]:
        from google.api_core import exceptions as gexc

        self._aiplatform()
        client = self._model_client()
        try:
            pages = self._call(f"list versions of {name}", lambda: list(
                client.list_model_versions(request={"name": self._model_name(name), "filter": filter or ""})))
        except gexc.NotFound:
            return []
        return sorted(pages, key=lambda m: int(m.version_id) if m.version_id.isdigit() else 0)

    def _model_client(self):
        aiplatform = self._aiplatform()
        return aiplatform.Model._instantiate_client(self.location, self.credentials)

    # -- storage ------------------------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def _put_once(self, object_name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write an object that must never change: a second write of other bytes is an error."""
        from google.api_core import exceptions as gexc

        blob = self._bucket().blob(object_name)
        try:
            self._call(f"upload gs://{self.bucket}/{object_name}", blob.upload_from_string, data,
                       content_type=content_type, if_generation_match=0)
        except gexc.PreconditionFailed:
            existing = self._call(f"read gs://{self.bucket}/{object_name}", blob.download_as_bytes)
            if existing != data:
                raise RegistryError(f"gs://{self.bucket}/{object_name} already exists with other content",
                                    fix="registered evidence is immutable: register under a new run id") from None

    def _read(self, object_name: str) -> bytes | None:
        from google.api_core import exceptions as gexc

        try:
            return self._call(f"read gs://{self.bucket}/{object_name}", self._bucket().blob(object_name).download_as_bytes)
        except gexc.NotFound:
            return None

    def _names(self, prefix: str) -> list[str]:
        bucket = self._bucket()
        return self._call(f"list gs://{self.bucket}/{prefix}",
                          lambda: sorted(b.name for b in bucket.client.list_blobs(bucket, prefix=prefix)))

    # -- versions -----------------------------------------------------------------------------------------------
    def _evidence(self, model) -> dict[str, Any]:
        uri = model.artifact_uri or ""
        if not uri.startswith(f"gs://{self.bucket}/"):
            return {}
        raw = self._read(f"{uri[len(f'gs://{self.bucket}/'):].rstrip('/')}/{EVIDENCE_DOCUMENT}")
        return json.loads(raw) if raw else {}

    def _version(self, name: str, model) -> ModelVersion:
        resource = getattr(model, "gca_resource", model)
        evidence = self._evidence(resource)
        labels = dict(resource.labels)
        approval = labels.get("approval", "pending")
        created = resource.version_create_time
        return ModelVersion(
            name=name, version=str(resource.version_id),
            model_sha256=evidence.get("model_sha256") or labels.get("model_sha256", ""),
            source_uri=resource.artifact_uri,
            aliases=tuple(sorted(a for a in resource.version_aliases if a != "default")),
            approval=approval if approval in APPROVAL_STATES else "pending",
            tags=dict(evidence.get("tags", {})),
            created_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""))

    def register(self, name: str, model_dir: Path, *, evidence_dir: Path | None, tags: dict[str, str],
                 run_id: str) -> ModelVersion:
        from google.api_core import exceptions as gexc

        from kfp_governance.model_io import verify_model

        model_dir = Path(model_dir)
        sha = sha256_file(verify_model(model_dir))
        labels = {"model_sha256": sha[:SHA_LABEL_LENGTH], "run_id": label_value(run_id),
                  "approval": "pending", "registered_by": "kfp-governance"}
        for found in self._list(name, f'labels.run_id="{labels["run_id"]}" AND '
                                      f'labels.model_sha256="{labels["model_sha256"]}"'):
            evidence = self._evidence(found)
            if evidence.get("run_id") == run_id and evidence.get("model_sha256") == sha:
                return self._version(name, found)
        key = f"{sha[:16]}-{_short_hash(run_id)}"
        labels["evidence"] = key
        folder = self._path("models", vertex_model_id(name), key)
        artifact_uri = f"gs://{self.bucket}/{folder}"
        files: dict[str, str] = {}
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            relative = path.relative_to(model_dir).as_posix()
            self._put_once(f"{folder}/{relative}", path.read_bytes())
            files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        evidence_files: dict[str, str] = {}
        if evidence_dir is not None:
            for path in sorted(p for p in Path(evidence_dir).rglob("*") if p.is_file()):
                relative = path.relative_to(evidence_dir).as_posix()
                self._put_once(f"{folder}/{EVIDENCE_FOLDER}/{relative}", path.read_bytes())
                evidence_files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        document = {"schema": "kfp-governance/vertex-evidence/v1", "model_name": name, "run_id": run_id,
                    "model_sha256": sha, "tags": dict(sorted(tags.items())), "model_files": files,
                    "evidence_files": evidence_files, "artifact_uri": artifact_uri,
                    "serving_image": self.serving_image}
        self._put_once(f"{folder}/{EVIDENCE_DOCUMENT}", json.dumps(document, indent=2, sort_keys=True).encode(),
                       "application/json")
        aiplatform = self._aiplatform()
        model_id = vertex_model_id(name)
        upload = dict(display_name=name, artifact_uri=artifact_uri, serving_container_image_uri=self.serving_image,
                      serving_container_predict_route=f"/v1/models/{model_id}:predict",
                      serving_container_health_route=f"/v1/models/{model_id}",
                      serving_container_ports=[self.serving_port],
                      serving_container_environment_variables={"KFP_GOVERNANCE_MODEL_NAME": model_id,
                                                               "KFP_GOVERNANCE_MODEL_SHA256": sha},
                      labels=labels, description=f"kfp-governance model {name}",
                      version_description=f"run {run_id}", project=self.project, location=self.location,
                      credentials=self.credentials, sync=True)
        exists = self._get(name, "default") is not None
        try:
            if exists:
                model = self._call(f"upload a version of {name}", aiplatform.Model.upload,
                                   parent_model=self._model_name(name), is_default_version=False, **upload)
            else:
                model = self._call(f"upload {name}", aiplatform.Model.upload, model_id=model_id, **upload)
        except gexc.AlreadyExists:  # another run created the model first: become a version of it
            model = self._call(f"upload a version of {name}", aiplatform.Model.upload,
                               parent_model=self._model_name(name), is_default_version=False, **upload)
        except gexc.GoogleAPICallError as err:
            raise RegistryError(f"Vertex AI refused the upload of {name}: {err.message}",
                                fix="check the serving image and the labels") from None
        return self._version(name, model)

    def get_version(self, name: str, version: str) -> ModelVersion:
        model = self._get(name, str(version)) if str(version).isdigit() else None
        if model is None:
            raise RegistryError(f"model {name!r} has no version {version!r} in Vertex AI ({self.project}, {self.location})",
                                fix=f"list the versions with `kfp-governance audit {name}`")
        return self._version(name, model)

    def versions(self, name: str) -> list[ModelVersion]:
        return [self._version(name, m) for m in self._list(name)]

    def alias(self, name: str, alias: str) -> ModelVersion | None:
        model = self._get(name, alias)
        return None if model is None else self._version(name, model)

    def _merge(self, name: str, version: str, aliases: list[str]) -> None:
        client = self._model_client()
        self._call(f"merge aliases {aliases} on {name}@{version}", client.merge_version_aliases,
                   name=f"{self._model_name(name)}@{version}", version_aliases=aliases)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        if not _ALIAS.match(alias):
            raise RegistryError(f"alias {alias!r} is not a valid Vertex AI version alias",
                                fix="use [a-z][a-z0-9-]{0,126}[a-z0-9], e.g. champion or challenger")
        target = self.get_version(name, version)
        current = self.alias(name, alias)
        if current is not None and current.version == target.version:
            return
        if current is not None:  # an alias is held by one version at a time: take it off the old one first
            self._merge(name, current.version, [f"-{alias}"])
        self._merge(name, target.version, [alias])

    def delete_alias(self, name: str, alias: str) -> None:
        current = self.alias(name, alias)
        if current is not None:
            self._merge(name, current.version, [f"-{alias}"])

    def set_approval(self, name: str, version: str, state: str) -> None:
        if state not in APPROVAL_STATES:
            raise RegistryError(f"approval state {state!r} is not one of {APPROVAL_STATES}", fix="use one of those")
        model = self._get(name, str(version)) if str(version).isdigit() else None
        if model is None:
            self.get_version(name, version)  # raises the error naming the version
        resource = model.gca_resource
        labels = {**dict(resource.labels), "approval": state}
        types = type(resource)
        update = types(name=f"{self._model_name(name)}@{resource.version_id}", labels=labels)
        from google.protobuf import field_mask_pb2

        client = self._model_client()
        self._call(f"label {name}@{version}", client.update_model, model=update,
                   update_mask=field_mask_pb2.FieldMask(paths=["labels"]))

    def download(self, name: str, version: str, destination: Path) -> Path:
        found = self.get_version(name, version)
        folder = found.source_uri[len(f"gs://{self.bucket}/"):].rstrip("/")
        destination = Path(destination)
        for object_name in self._names(folder + "/"):
            relative = object_name[len(folder) + 1:]
            if relative == EVIDENCE_DOCUMENT or relative.startswith(EVIDENCE_FOLDER + "/"):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self._read(object_name) or b"")
        return destination

    # -- audit --------------------------------------------------------------------------------------------------
    def _audit_prefix(self, name: str) -> str:
        return self._path("audit", vertex_model_id(name)) + "/"

    def append_audit(self, record: AuditRecord) -> AuditRecord:
        from dataclasses import replace

        from google.api_core import exceptions as gexc

        prefix = self._audit_prefix(record.model_name)
        for _ in range(20):  # another writer may take the sequence number: take the next one
            names = self._names(prefix)
            sequence = 1 + max((int(n[len(prefix):].split("-", 1)[0]) for n in names), default=0)
            stored = replace(record, sequence=sequence)
            blob = self._bucket().blob(f"{prefix}{sequence:08d}-{label_value(record.action)}.json")
            try:
                self._call("append an audit record", blob.upload_from_string,
                           json.dumps(stored.to_json(), sort_keys=True).encode(), content_type="application/json",
                           if_generation_match=0)
                return stored
            except gexc.PreconditionFailed:
                continue
        raise RegistryError(f"could not append an audit record for {record.model_name!r}: too many concurrent writers",
                            fix="retry the action")

    def audit(self, name: str, version: str | None = None) -> list[AuditRecord]:
        records = []
        for object_name in self._names(self._audit_prefix(name)):
            data = json.loads(self._read(object_name) or b"{}")
            record = AuditRecord(**data)
            if version is None or record.version == str(version):
                records.append(record)
        return sorted(records, key=lambda r: r.sequence)

    def identity(self) -> str | None:
        return getattr(self.credentials, "service_account_email", None)
