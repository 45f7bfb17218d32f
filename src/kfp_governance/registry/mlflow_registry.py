"""The MLflow model registry backend: a SQLite file locally, an MLflow tracking server on-prem.

Layout, for a model ``NAME``:

- the experiment ``kfp-governance/NAME`` holds one MLflow run per registered
  version (artifacts ``model/``: ``model.joblib`` and ``model_record.json``;
  ``evidence/``: the run's evidence JSON files and their ``manifest.json``),
  and one run named ``audit-trail`` whose ``audit/`` folder is the model's
  append-only trail;
- the registered model ``NAME`` has one version per registration, created
  with ``create_model_version(source=<run artifact URI>/model)`` (no
  ``mlflow.sklearn.log_model``: it is slow and pickles the model again), with
  the evidence summary, ``model_sha256``, ``pipeline_run_id`` and
  ``approval`` as version tags; ``champion`` and ``challenger`` are MLflow
  registered-model aliases.

Registration creates the version last, after every upload: if an upload
fails, the run is deleted and no version exists. A retry with the same
pipeline run id and model sha256 returns the version already registered.

Audit records are one JSON file each, ``audit/<sequence:06d>-<action>-<nonce>.json``.
A writer claims the sequence after the highest it can list and never
overwrites: the random nonce keeps two writers that claim the same number at
the same instant (two pipeline runs at once on a server) from replacing each
other's record; such records share their sequence number and read back in
``(sequence, time, file name)`` order.

The default location (``tracking_uri`` not set) is a SQLite file shared by
every local run of the user, so the champion survives between runs:
``$KFP_GOVERNANCE_HOME/mlflow.db``, else
``$XDG_DATA_HOME/kfp-governance/mlflow.db`` (``~/.local/share/...``), with
the artifacts in ``artifacts/`` beside it.

>>> default_home({"KFP_GOVERNANCE_HOME": "/srv/kfp"}).as_posix()
'/srv/kfp'
>>> resolve_tracking_uri("/srv/kfp/registry.db")
'sqlite:////srv/kfp/registry.db'
>>> resolve_tracking_uri("http://mlflow.kubeflow:5000/")
'http://mlflow.kubeflow:5000'
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from kfp_governance.errors import EvidenceError, RegistryError
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import MODEL_FILE, verify_model
from kfp_governance.registry.base import APPROVAL_STATES, Approval, AuditRecord, ModelVersion, Registry

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPERIMENT_PREFIX = "kfp-governance/"
KIND_TAG = "kfp_governance.kind"
APPROVAL_TAG = "approval"
SHA_TAG, RUN_TAG = "model_sha256", "pipeline_run_id"
AUDIT_RUN_NAME, AUDIT_DIR = "audit-trail", "audit"
# MLflow's own HTTP retries, bounded so that an unreachable server fails in seconds, not minutes
# (MLflow's defaults: 7 retries, backoff factor 2, 120 s timeout). Set by the user, they win.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
               # a CLI command prints one line per result, not MLflow's download progress bars
               "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
_AUDIT_FILE = re.compile(r"^(\d{6,})-([a-z_]+)-([0-9a-f]+)\.json$")
# Errors about the request (no such thing, already exists, bad value): not the registry being unreachable.
_ANSWERED = {"RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE", "INVALID_STATE",
             "PERMISSION_DENIED", "UNAUTHENTICATED", "BAD_REQUEST"}


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user folder of the default local registry (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get("KFP_GOVERNANCE_HOME"):
        return Path(environ["KFP_GOVERNANCE_HOME"]).expanduser()
    data = environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data) / "kfp-governance"


def resolve_tracking_uri(tracking_uri: str | os.PathLike | None = None) -> str:
    """The MLflow URI to use: ``tracking_uri`` as given (a plain path means a SQLite file), else the default."""
    tracking_uri = os.fspath(tracking_uri) if tracking_uri else None
    if not tracking_uri:
        return f"sqlite:///{(default_home() / 'mlflow.db').resolve()}"
    if "://" not in tracking_uri:
        path = Path(tracking_uri).expanduser()
        path = path if path.suffix == ".db" else path / "mlflow.db"
        return f"sqlite:///{path.resolve()}"
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else tracking_uri


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).isoformat(timespec="seconds")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MlflowRegistry(Registry):
    """A :class:`~kfp_governance.registry.base.Registry` on MLflow (``mlflow.MlflowClient``).

    ``tracking_uri``: ``http(s)://`` for an MLflow server (basic auth through
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, which needs
    ``mlflow[auth]`` on the server), ``sqlite:///path.db`` or a plain path for
    a local file, ``None`` for the per-user default.
    """

    backend = "mlflow"

    def __init__(self, tracking_uri: str | os.PathLike | None = None):
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        for key, value in HTTP_LIMITS.items():
            os.environ.setdefault(key, value)
        import warnings

        # mlflow's own pydantic models trip pydantic's "model_" namespace warning at import: not ours to fix
        warnings.filterwarnings("ignore", message='Field "model_', category=UserWarning)
        db = _sqlite_path(self.tracking_uri)
        self._artifact_root = None
        if db is not None:
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise RegistryError(f"cannot create the folder of the MLflow registry {self.tracking_uri}: {err}",
                                    fix="set KFP_GOVERNANCE_HOME or registry.tracking_uri to a writable place") from None
            # Beside the database, not MLflow's default ./mlruns (relative to wherever a run happens to start).
            self._artifact_root = (db.parent / "artifacts").resolve().as_uri()
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _fix(self) -> str:
        if self.tracking_uri.startswith(("http://", "https://")):
            return (f"start the MLflow server or correct registry.tracking_uri (the server must answer "
                    f"{self.tracking_uri}/health)")
        return "check that the registry file's folder is writable, or set registry.tracking_uri / KFP_GOVERNANCE_HOME"

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client; a registry that cannot be reached (after MLflow's bounded retries) is one RegistryError."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as err:
            if err.error_code in _ANSWERED:
                raise
            message = str(err).split("\n")[0][:300]
            raise RegistryError(f"MLflow registry at {self.tracking_uri} failed to {what}: {message}",
                                fix=self._fix()) from None
        except (OSError, ConnectionError) as err:
            raise RegistryError(f"MLflow registry at {self.tracking_uri} failed to {what}: {err}",
                                fix=self._fix()) from None

    @staticmethod
    def _code(err: Exception) -> str | None:
        return getattr(err, "error_code", None)

    def _experiment_id(self, name: str, create: bool) -> str | None:
        from mlflow.exceptions import MlflowException

        experiment_name = EXPERIMENT_PREFIX + name
        found = self._call("look up an experiment", self._client.get_experiment_by_name, experiment_name)
        if found is not None:
            return found.experiment_id
        if not create:
            return None
        location = f"{self._artifact_root}/{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}" if self._artifact_root else None
        try:
            return self._call("create an experiment", self._client.create_experiment, experiment_name,
                              artifact_location=location)
        except MlflowException as err:  # created by a concurrent run in between
            if self._code(err) != "RESOURCE_ALREADY_EXISTS":
                raise
            return self._call("look up an experiment", self._client.get_experiment_by_name, experiment_name).experiment_id

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._call("create a registered model", self._client.create_registered_model, name,
                       tags={KIND_TAG: "model"})
        except MlflowException as err:
            if self._code(err) != "RESOURCE_ALREADY_EXISTS":
                raise

    def _aliases(self, name: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            model = self._call("read a registered model", self._client.get_registered_model, name)
        except MlflowException as err:
            if self._code(err) == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def _to_version(self, mv: Any, aliases: Mapping[str, str]) -> ModelVersion:
        version = str(mv.version)  # an int over sqlite://, a str over REST
        tags = dict(mv.tags or {})
        approval = tags.get(APPROVAL_TAG, "pending")
        return ModelVersion(
            name=mv.name, version=version, model_sha256=tags.get(SHA_TAG, ""), source_uri=mv.source,
            aliases=tuple(sorted(a for a, v in aliases.items() if v == version)),
            approval=approval if approval in APPROVAL_STATES else "pending", tags=tags,
            created_at=_iso(mv.creation_timestamp))

    def _search(self, name: str, extra: str = "") -> list[Any]:
        query = f"name = {_quote(name)}" + (f" and {extra}" if extra else "")
        found, token = [], None
        while True:
            page = self._call("search model versions", self._client.search_model_versions, query, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return sorted(found, key=lambda mv: int(mv.version))

    def _missing(self, name: str, version: str) -> RegistryError:
        return RegistryError(f"model {name!r} has no version {version!r} in the MLflow registry at {self.tracking_uri}",
                             fix=f"pick one of the registered versions (kfp-governance audit {name})")

    def _version(self, name: str, version: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._call("read a model version", self._client.get_model_version, name, str(version))
        except MlflowException as err:
            if self._code(err) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise self._missing(name, version) from None
            raise

    # -- the interface --------------------------------------------------------------------------------------

    def find(self, name: str, run_id: str, model_sha256: str) -> ModelVersion | None:
        """The version registered by pipeline run ``run_id`` for this model file, if there is one (the oldest)."""
        matches = [mv for mv in self._search(name, f"tags.{SHA_TAG} = {_quote(model_sha256)}")
                   if (mv.tags or {}).get(RUN_TAG, "") == run_id]
        return self._to_version(matches[0], self._aliases(name)) if matches else None

    def register(self, name: str, model_dir: Path, *, evidence_dir: Path | None, tags: dict[str, str],
                 run_id: str) -> ModelVersion:
        model_dir = Path(model_dir)
        sha = sha256_file(verify_model(model_dir))
        if evidence_dir is not None and not Path(evidence_dir).is_dir():
            raise EvidenceError(f"evidence folder {str(evidence_dir)!r} does not exist",
                                fix="pass the folder the evidence files were staged in, or None")
        existing = self.find(name, run_id, sha)
        if existing is not None:
            log.info("model %s: version %s already registered by run %r for %s", name, existing.version, run_id,
                     sha[:12])
            return existing
        experiment = self._experiment_id(name, create=True)
        run = self._call("create a run", self._client.create_run, experiment, run_name=f"register-{sha[:12]}",
                         tags={KIND_TAG: "registration", SHA_TAG: sha, RUN_TAG: run_id})
        mlflow_run = run.info.run_id
        try:
            self._call("upload the model", self._client.log_artifacts, mlflow_run, str(model_dir), "model")
            if evidence_dir is not None:
                self._call("upload the evidence", self._client.log_artifacts, mlflow_run, str(evidence_dir), "evidence")
            self._ensure_model(name)
            version_tags = {**tags, SHA_TAG: sha, RUN_TAG: run_id, APPROVAL_TAG: "pending",
                            "mlflow_run_id": mlflow_run}
            if evidence_dir is not None:
                version_tags["evidence_uri"] = f"{run.info.artifact_uri}/evidence"
                if (Path(evidence_dir) / "model_card.json").is_file():
                    version_tags["model_card_uri"] = f"{run.info.artifact_uri}/evidence/model_card.json"
            mv = self._call("create a model version", self._client.create_model_version, name,
                            source=f"{run.info.artifact_uri}/model", run_id=mlflow_run, tags=version_tags)
            self._call("finish the run", self._client.set_terminated, mlflow_run, "FINISHED")
        except BaseException:
            try:
                self._client.delete_run(mlflow_run)
            except Exception as cleanup:  # the original error is the one to report
                log.warning("could not delete the half-made run %s: %s", mlflow_run, cleanup)
            raise
        # Two retries of one task racing each other: keep the oldest version, drop ours.
        canonical = self.find(name, run_id, sha)
        if canonical is not None and canonical.version != str(mv.version):
            self._call("delete a duplicate version", self._client.delete_model_version, name, str(mv.version))
            self._client.delete_run(mlflow_run)
            return canonical
        return self._to_version(mv, self._aliases(name))

    def get_version(self, name: str, version: str) -> ModelVersion:
        return self._to_version(self._version(name, version), self._aliases(name))

    def versions(self, name: str) -> list[ModelVersion]:
        aliases = self._aliases(name)
        return [self._to_version(mv, aliases) for mv in self._search(name)]

    def alias(self, name: str, alias: str) -> ModelVersion | None:
        version = self._aliases(name).get(alias)
        return None if version is None else self.get_version(name, version)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._version(name, version)  # a clear error for a version that does not exist
        self._call("set an alias", self._client.set_registered_model_alias, name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        if alias in self._aliases(name):
            self._call("delete an alias", self._client.delete_registered_model_alias, name, alias)

    def set_approval(self, name: str, version: str, state: Approval) -> None:
        if state not in APPROVAL_STATES:
            raise ValueError(f"approval state {state!r} is not one of {APPROVAL_STATES}")
        self._version(name, version)
        self._call("tag a model version", self._client.set_model_version_tag, name, str(version), APPROVAL_TAG, state)

    def download(self, name: str, version: str, destination: Path) -> Path:
        mv = self._version(name, version)
        destination = Path(destination)
        destination.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="kfp-governance-download-") as scratch:
            if mv.run_id and mv.source.endswith("/model"):
                got = self._call("download the model", self._client.download_artifacts, mv.run_id, "model", scratch)
            else:
                import mlflow.artifacts

                got = self._call("download the model", mlflow.artifacts.download_artifacts, artifact_uri=mv.source,
                                 dst_path=scratch, tracking_uri=self.tracking_uri)
            shutil.copytree(got, destination, dirs_exist_ok=True)
        if not (destination / MODEL_FILE).is_file():
            raise RegistryError(f"version {version} of {name!r} at {mv.source} holds no {MODEL_FILE}",
                                fix="register the model folder train_model wrote")
        return destination

    def evidence(self, name: str, version: str) -> dict[str, Any]:
        mv = self._version(name, version)
        if not mv.run_id or "evidence_uri" not in (mv.tags or {}):  # registered without evidence files
            return {}
        documents: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="kfp-governance-evidence-") as scratch:
            try:
                got = Path(self._call("download the evidence", self._client.download_artifacts, mv.run_id, "evidence",
                                      scratch))
            except RegistryError:
                return {}
            for path in sorted(got.glob("*.json")):
                if path.name != "manifest.json":
                    documents[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        return documents

    def _audit_runs(self, name: str, create: bool) -> list[str]:
        experiment = self._experiment_id(name, create=create)
        if experiment is None:
            return []
        runs = self._call("search the audit trail", self._client.search_runs, [experiment],
                          filter_string=f"tags.`{KIND_TAG}` = 'audit'", order_by=["attributes.start_time ASC"])
        ids = sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))
        if ids or not create:
            return [r.info.run_id for r in ids]
        run = self._call("create the audit trail", self._client.create_run, experiment, run_name=AUDIT_RUN_NAME,
                         tags={KIND_TAG: "audit"})
        # Two first registrations at once may each make one: every audit run is read, the oldest written to.
        return self._audit_runs(name, create=False) or [run.info.run_id]

    def _audit_files(self, runs: list[str]) -> list[tuple[int, str, str]]:
        found = []
        for run in runs:
            for info in self._call("list the audit trail", self._client.list_artifacts, run, AUDIT_DIR):
                match = _AUDIT_FILE.match(Path(info.path).name)
                if match and not info.is_dir:
                    found.append((int(match.group(1)), run, info.path))
        return found

    def append_audit(self, record: AuditRecord) -> AuditRecord:
        runs = self._audit_runs(record.model_name, create=True)
        sequence = max((seq for seq, _, _ in self._audit_files(runs)), default=0) + 1
        stored = replace(record, sequence=sequence, version=None if record.version is None else str(record.version),
                         at=record.at or _now())
        with tempfile.TemporaryDirectory(prefix="kfp-governance-audit-") as scratch:
            path = Path(scratch) / f"{sequence:06d}-{record.action}-{uuid.uuid4().hex[:12]}.json"
            path.write_text(json.dumps(stored.to_json(), indent=2, sort_keys=True, default=str) + "\n",
                            encoding="utf-8")
            self._call("append to the audit trail", self._client.log_artifact, runs[0], str(path), AUDIT_DIR)
        return stored

    def audit(self, name: str, version: str | None = None) -> list[AuditRecord]:
        runs = self._audit_runs(name, create=False)
        records = []
        with tempfile.TemporaryDirectory(prefix="kfp-governance-audit-") as scratch:
            for run in runs:
                if not self._audit_files([run]):
                    continue
                folder = Path(self._call("read the audit trail", self._client.download_artifacts, run, AUDIT_DIR,
                                         str(Path(scratch) / run)))
                for path in folder.iterdir():
                    if _AUDIT_FILE.match(path.name):
                        data = json.loads(path.read_text(encoding="utf-8"))
                        records.append((data.get("sequence", 0), data.get("at", ""), path.name, AuditRecord(**data)))
        records.sort(key=lambda item: item[:3])
        wanted = None if version is None else str(version)
        return [r for *_, r in records if wanted is None or r.version == wanted]

    def identity(self) -> str | None:
        """``MLFLOW_TRACKING_USERNAME`` for an MLflow server with basic auth; ``None`` for a local SQLite file,
        which authenticates no one (a user name from the OS would only be a claim)."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return os.environ.get("MLFLOW_TRACKING_USERNAME") or None
        return None


__all__ = ["MlflowRegistry", "default_home", "resolve_tracking_uri", "HTTP_LIMITS"]
