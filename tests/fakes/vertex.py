"""A fake of the parts of the Vertex AI REST API (v1) that ``PipelineJob`` uses.

Point google-cloud-aiplatform at it with::

    aiplatform.init(api_transport="rest", api_endpoint=fake.url,
                    credentials=AnonymousCredentials(), project=..., location=...)

It answers pipelineJobs create/get, schedules create/get/list, long-running
operations at ``/ui/projects/.../operations/N`` (the path the SDK's REST
transport polls), and, for ``STORAGE_EMULATOR_HOST``, the one Cloud Storage
call ``PipelineJob.submit`` makes: does the pipeline root's bucket exist.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

from .base import RecordingServer, Reply, Request

_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeVertex(RecordingServer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jobs: dict[str, dict] = {}
        self.schedules: dict[str, dict] = {}
        self.buckets: set[str] | None = None  # None: every bucket exists
        self.route("POST", _PARENT + r"/pipelineJobs", self._create_job)
        self.route("GET", _PARENT + r"/pipelineJobs/(?P<job>[^/]+)", self._get_job)
        self.route("POST", _PARENT + r"/schedules", self._create_schedule)
        self.route("GET", _PARENT + r"/schedules", self._list_schedules)
        self.route("GET", _PARENT + r"/schedules/(?P<schedule>[^/]+)", self._get_schedule)
        self.route("GET", r"/ui/projects/[^/]+/locations/[^/]+/operations/(?P<operation>\d+)", self._operation)
        self.route("GET", r"/v1/projects/[^/]+/locations/[^/]+/operations/(?P<operation>\d+)", self._operation)
        self.route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)", self._bucket)

    def error_body(self, status, message):
        names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}

    def _create_job(self, request: Request, project, location) -> Reply:
        job_id = request.arg("pipelineJobId") or f"job-{len(self.jobs) + 1}"
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job_id}"
        if name in self.jobs:
            return Reply(409, self.error_body(409, f"{name} already exists"))
        job = copy.deepcopy(request.json or {})
        job.update(name=name, state="PIPELINE_STATE_PENDING", createTime=_now(), updateTime=_now())
        self.jobs[name] = job
        return Reply(200, job)

    def _get_job(self, request: Request, project, location, job) -> Reply:
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job}"
        if name not in self.jobs:
            return Reply(404, self.error_body(404, f"{name} not found"))
        return Reply(200, self.jobs[name])

    def _create_schedule(self, request: Request, project, location) -> Reply:
        number = 1000 + len(self.schedules) + 1
        name = f"projects/{project}/locations/{location}/schedules/{number}"
        schedule = copy.deepcopy(request.json or {})
        schedule.update(name=name, state="ACTIVE", createTime=_now(), updateTime=_now(),
                        nextRunTime=_now(), startedRunCount="0")
        self.schedules[name] = schedule
        return Reply(200, schedule)

    def _get_schedule(self, request: Request, project, location, schedule) -> Reply:
        name = f"projects/{project}/locations/{location}/schedules/{schedule}"
        if name not in self.schedules:
            return Reply(404, self.error_body(404, f"{name} not found"))
        return Reply(200, self.schedules[name])

    def _list_schedules(self, request: Request, project, location) -> Reply:
        parent = f"projects/{project}/locations/{location}/"
        found = [s for n, s in self.schedules.items() if n.startswith(parent)]
        match = re.search(r'display_name\s*=\s*"([^"]*)"', request.arg("filter", "") or "")
        if match:
            found = [s for s in found if s.get("displayName") == match.group(1)]
        return Reply(200, {"schedules": found} if found else {})

    def _operation(self, request: Request, operation) -> Reply:
        return Reply(200, {"name": request.path.lstrip("/"), "done": True, "response": {}})

    def _bucket(self, request: Request, bucket) -> Reply:
        if self.buckets is not None and bucket not in self.buckets:
            return Reply(404, self.error_body(404, f"bucket {bucket} not found"))
        return Reply(200, {"kind": "storage#bucket", "name": bucket, "id": bucket})
