"""Local fakes of the remote APIs the CLI talks to, each a recording HTTP server on 127.0.0.1.

* :class:`FakeVertex`: the Vertex AI REST API (pipeline jobs, schedules,
  operations) plus the one Cloud Storage call ``PipelineJob.submit`` makes;
* :class:`FakeKFP`: the KFP v2beta1 REST API (healthz, experiments, runs,
  pipelines and versions, recurring runs).

Use them as context managers or through the fixtures in the test modules; they
stop by themselves after a bounded number of requests or seconds.
"""

from .base import RecordingServer, Reply, Request
from .kfp import FakeKFP
from .vertex import FakeVertex

__all__ = ["FakeKFP", "FakeVertex", "RecordingServer", "Reply", "Request"]
