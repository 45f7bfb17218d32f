"""A fake of the KFP v2beta1 REST API: what ``kfp.Client`` calls to submit and schedule.

Healthz, experiments (list with a display-name filter, create, get), runs
(create, get), pipelines (list, multipart upload, upload_version, versions
list) and recurring runs (create, list, get). Objects get sequential ids; a
filter is honoured for ``display_name`` EQUALS predicates only, which is all
the client sends.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import yaml

from .base import RecordingServer, Reply, Request

API = "/apis/v2beta1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _display_name_filter(request: Request) -> str | None:
    raw = request.arg("filter")
    if not raw:
        return None
    for predicate in json.loads(raw).get("predicates", []):
        if predicate.get("key") == "display_name" and predicate.get("operation") in ("EQUALS", 1):
            return predicate.get("stringValue") or predicate.get("string_value")
    return None


class FakeKFP(RecordingServer):
    def __init__(self, multi_user: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.multi_user = multi_user
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._ids = 0
        self.route("GET", API + "/healthz", self._healthz)
        self.route("GET", API + "/experiments", self._list_experiments)
        self.route("POST", API + "/experiments", self._create_experiment)
        self.route("GET", API + "/experiments/(?P<experiment_id>[^/]+)", self._get_experiment)
        self.route("POST", API + "/runs", self._create_run)
        self.route("GET", API + "/runs/(?P<run_id>[^/]+)", self._get_run)
        self.route("GET", API + "/pipelines", self._list_pipelines)
        self.route("POST", API + "/pipelines/upload", self._upload_pipeline)
        self.route("POST", API + "/pipelines/upload_version", self._upload_version)
        self.route("GET", API + "/pipelines/(?P<pipeline_id>[^/]+)/versions", self._list_versions)
        self.route("POST", API + "/recurringruns", self._create_recurring_run)
        self.route("GET", API + "/recurringruns", self._list_recurring_runs)
        self.route("GET", API + "/recurringruns/(?P<recurring_run_id>[^/]+)", self._get_recurring_run)

    def error_body(self, status, message):
        codes = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 503: 14}
        return {"error": message, "code": codes.get(status, 2), "message": message, "details": []}

    def _id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}-{self._ids:04d}"

    # -- healthz and experiments ---------------------------------------------------------------------------------
    def _healthz(self, request: Request) -> Reply:
        return Reply(200, {"multi_user": self.multi_user})

    def _list_experiments(self, request: Request) -> Reply:
        name = _display_name_filter(request)
        namespace = request.arg("namespace")
        found = [e for e in self.experiments.values()
                 if (name is None or e["display_name"] == name) and (not namespace or e.get("namespace") == namespace)]
        return Reply(200, {"experiments": found, "total_size": len(found)} if found else {})

    def _create_experiment(self, request: Request) -> Reply:
        body = request.json or {}
        experiment = {"experiment_id": self._id("experiment"), "display_name": body.get("display_name"),
                      "description": body.get("description") or "", "namespace": body.get("namespace") or "",
                      "created_at": _now(), "storage_state": "AVAILABLE"}
        self.experiments[experiment["experiment_id"]] = experiment
        return Reply(200, experiment)

    def _get_experiment(self, request: Request, experiment_id) -> Reply:
        if experiment_id not in self.experiments:
            return Reply(404, self.error_body(404, f"experiment {experiment_id} not found"))
        return Reply(200, self.experiments[experiment_id])

    # -- runs ---------------------------------------------------------------------------------------------------
    def _create_run(self, request: Request) -> Reply:
        run = copy.deepcopy(request.json or {})
        run.update(run_id=self._id("run"), state="PENDING", created_at=_now(), storage_state="AVAILABLE")
        self.runs[run["run_id"]] = run
        return Reply(200, run)

    def _get_run(self, request: Request, run_id) -> Reply:
        if run_id not in self.runs:
            return Reply(404, self.error_body(404, f"run {run_id} not found"))
        return Reply(200, self.runs[run_id])

    # -- pipelines ----------------------------------------------------------------------------------------------
    def _list_pipelines(self, request: Request) -> Reply:
        name = _display_name_filter(request)
        namespace = request.arg("namespace") or ""
        found = [p for p in self.pipelines.values()
                 if (name is None or p["display_name"] == name) and p.get("namespace", "") == namespace]
        return Reply(200, {"pipelines": found, "total_size": len(found)} if found else {})

    def _parse_package(self, request: Request) -> tuple[dict | None, Reply | None]:
        part = request.parts.get("uploadfile")
        if part is None:
            return None, Reply(400, self.error_body(400, "missing uploadfile"))
        try:
            documents = list(yaml.safe_load_all(part["content"]))
        except yaml.YAMLError as err:
            return None, Reply(400, self.error_body(400, f"invalid pipeline YAML: {err}"))
        return documents[0], None

    def _upload_pipeline(self, request: Request) -> Reply:
        spec, error = self._parse_package(request)
        if error:
            return error
        name = request.arg("name") or spec["pipelineInfo"]["name"]
        namespace = request.arg("namespace") or ""
        if any(p["display_name"] == name and p.get("namespace", "") == namespace for p in self.pipelines.values()):
            return Reply(409, self.error_body(409, f"pipeline {name!r} already exists"))
        pipeline = {"pipeline_id": self._id("pipeline"), "display_name": name, "namespace": namespace,
                    "description": request.arg("description") or "", "created_at": _now()}
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self._add_version(pipeline["pipeline_id"], name, spec)
        return Reply(200, pipeline)

    def _upload_version(self, request: Request) -> Reply:
        spec, error = self._parse_package(request)
        if error:
            return error
        pipeline_id, name = request.arg("pipelineid"), request.arg("name")
        if pipeline_id not in self.pipelines:
            return Reply(404, self.error_body(404, f"pipeline {pipeline_id} not found"))
        if any(v["pipeline_id"] == pipeline_id and v["display_name"] == name for v in self.versions.values()):
            return Reply(409, self.error_body(409, f"version {name!r} already exists"))
        return Reply(200, self._add_version(pipeline_id, name, spec))

    def _add_version(self, pipeline_id: str, name: str, spec: dict) -> dict:
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": self._id("version"), "display_name": name,
                   "created_at": _now(), "pipeline_spec": spec}
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _list_versions(self, request: Request, pipeline_id) -> Reply:
        name = _display_name_filter(request)
        found = [v for v in self.versions.values()
                 if v["pipeline_id"] == pipeline_id and (name is None or v["display_name"] == name)]
        return Reply(200, {"pipeline_versions": found, "total_size": len(found)} if found else {})

    # -- recurring runs -----------------------------------------------------------------------------------------
    def _create_recurring_run(self, request: Request) -> Reply:
        recurring = copy.deepcopy(request.json or {})
        recurring.update(recurring_run_id=self._id("recurring"), status="ENABLED", created_at=_now())
        self.recurring_runs[recurring["recurring_run_id"]] = recurring
        return Reply(200, recurring)

    def _list_recurring_runs(self, request: Request) -> Reply:
        name = _display_name_filter(request)
        experiment = request.arg("experiment_id")
        found = [r for r in self.recurring_runs.values()
                 if (name is None or r.get("display_name") == name)
                 and (not experiment or r.get("experiment_id") == experiment)]
        return Reply(200, {"recurringRuns": found, "total_size": len(found)} if found else {})

    def _get_recurring_run(self, request: Request, recurring_run_id) -> Reply:
        if recurring_run_id not in self.recurring_runs:
            return Reply(404, self.error_body(404, f"recurring run {recurring_run_id} not found"))
        return Reply(200, self.recurring_runs[recurring_run_id])
