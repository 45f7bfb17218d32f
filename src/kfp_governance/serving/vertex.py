"""Vertex AI Endpoints as a :class:`~kfp_governance.serving.base.ServingBackend`.

The model versions are the ones :class:`kfp_governance.registry.vertex.VertexRegistry` registered (our KServe
image as a custom container). A service is one Vertex AI Endpoint with the id ``<service>``; the canary is
deployed beside the champion and takes ``percent`` of its traffic through the Endpoint's traffic split.

Addressing the canary directly: ``Endpoint.predict`` on Vertex AI goes through the traffic split, and the
``X-Vertex-AI-Deployed-Model-Id`` header is documented only on rawPredict's *response*, not as a way to choose
a model (and the SDK's ``raw_predict`` ignores a custom API endpoint). So the canary version is also deployed,
at 100%, on a dedicated judge Endpoint ``<service>-canary`` for the length of the rollout; the canary
:class:`~kfp_governance.serving.base.Endpoint` points at it (``details["endpoint"]``, ``details["predict_url"]``)
and names the deployed-model id on the split endpoint (``details["split_deployed_model_id"]``). Promotion and
rollback undeploy it. The cost is one extra replica during the canary. The stable endpoint's address goes
through the split (``details["direct"]`` is False while a canary runs).

Requests to ``predict_url`` take KServe v1's body ``{"instances": [...]}`` and answer ``{"predictions": ...}``
with a Google bearer token; :meth:`VertexEndpointBackend.predict` does that through the SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp_governance.errors import DeploymentError
from kfp_governance.registry.vertex import SHA_LABEL_LENGTH, _short_hash, vertex_model_id
from kfp_governance.serving.base import Endpoint, Rollout, ServingBackend

JUDGE_SUFFIX = "-canary"


def vertex_endpoint_id(service: str) -> str:
    """The Endpoint id of a service (a letter first, ``[a-z0-9-]``, at most 63 characters, 7 left for the suffix).

    >>> vertex_endpoint_id("Income Model")
    'income-model'
    """
    safe = vertex_model_id(service).replace("_", "-")
    return safe if len(safe) <= 56 else f"{safe[:43].rstrip('-')}-{_short_hash(service)}"


class VertexEndpointBackend(ServingBackend):
    """Canary rollouts of registered Vertex AI model versions on a Vertex AI Endpoint.

    ``model_name`` is the registered model name (default: the service name); ``machine_type`` and the replica
    counts size each deployed model; ``api_endpoint`` and ``credentials`` as for the registry.
    """

    backend = "vertex"

    def __init__(self, project: str, location: str, *, model_name: str | None = None,
                 machine_type: str = "n1-standard-2", min_replica_count: int = 1, max_replica_count: int = 1,
                 service_account: str | None = None, api_endpoint: str | None = None, credentials: Any = None,
                 attempts: int = 3, backoff_s: float = 0.5):
        if not project or not location:
            raise DeploymentError("the Vertex AI serving backend needs a project and a location",
                                  fix="set serving.vertex.project and serving.vertex.location")
        self.project, self.location, self.model_name = project, location, model_name
        self.machine_type, self.min_replica_count, self.max_replica_count = machine_type, min_replica_count, max_replica_count
        self.service_account, self.api_endpoint, self.credentials = service_account, api_endpoint, credentials
        self.attempts, self.backoff_s = max(1, attempts), backoff_s

    # -- plumbing -----------------------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return self.api_endpoint or f"https://{self.location}-aiplatform.googleapis.com"

    def _aiplatform(self):
        import warnings

        from kfp_governance.registry.vertex import probe

        if not getattr(self, "_reachable", False):
            error = probe(self.where, self.attempts, self.backoff_s)
            if error is not None:
                raise DeploymentError(
                    f"Vertex AI at {self.where} (project {self.project}, {self.location}) is unreachable after "
                    f"{self.attempts} attempts: {error}",
                    fix="check serving.vertex.api_endpoint / the network and the credentials, then retry")
            self._reachable = True

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from google.cloud import aiplatform
        kwargs: dict[str, Any] = {"project": self.project, "location": self.location}
        if self.credentials is not None:
            kwargs["credentials"] = self.credentials
        if self.api_endpoint:
            kwargs.update(api_endpoint=self.api_endpoint, api_transport="rest")
        aiplatform.init(**kwargs)
        return aiplatform

    def _call(self, what: str, fn, *args, **kwargs):
        from kfp_governance.registry.vertex import _transient
        from kfp_governance.retry import call_with_retry

        return call_with_retry(lambda: fn(*args, **kwargs), attempts=self.attempts, backoff_s=self.backoff_s,
                               transient=_transient, exhausted=lambda last: DeploymentError(
            f"Vertex AI at {self.where} (project {self.project}, {self.location}) is unreachable: {what} failed "
            f"{self.attempts} times ({type(last).__name__}: {str(last)[:200]})",
            fix="check serving.vertex.api_endpoint / the network and the credentials, then retry"))

    def _resource(self, endpoint_id: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/endpoints/{endpoint_id}"

    def _endpoint(self, endpoint_id: str, create: bool = False):
        from google.api_core import exceptions as gexc

        aiplatform = self._aiplatform()

        def get():
            endpoint = aiplatform.Endpoint(self._resource(endpoint_id))
            endpoint._sync_gca_resource()  # the constructor may skip the GET
            return endpoint

        try:
            return self._call(f"get endpoint {endpoint_id}", get)
        except gexc.NotFound:
            if not create:
                return None
        try:
            return self._call(f"create endpoint {endpoint_id}", aiplatform.Endpoint.create, display_name=endpoint_id,
                              endpoint_id=endpoint_id, labels={"managed_by": "kfp-governance"}, sync=True)
        except gexc.AlreadyExists:
            return self._call(f"get endpoint {endpoint_id}", get)

    @staticmethod
    def _deployed(endpoint) -> list[Any]:
        if endpoint is None:
            return []
        endpoint._sync_gca_resource()
        return sorted(endpoint.gca_resource.deployed_models, key=lambda d: (d.create_time.timestamp(), d.id))

    def _describe(self, endpoint, deployed, *, model_id: str, direct: bool, **details) -> Endpoint:
        url = f"{self.where}/v1/{endpoint.resource_name}"
        split = dict(endpoint.gca_resource.traffic_split)
        return Endpoint(url=url, model=model_id, version=str(deployed.model_version_id),
                        model_sha256=details.pop("model_sha256", ""),
                        details={"protocol": "vertex", "endpoint": endpoint.resource_name, "predict_url": url + ":predict",
                                 "deployed_model_id": deployed.id, "model_resource": deployed.model,
                                 "traffic_percent": split.get(deployed.id, 0), "direct": direct, **details})

    def _sha(self, model_resource: str, version: str) -> str:
        aiplatform = self._aiplatform()
        model = self._call("get model", aiplatform.Model, model_resource, version=version)
        return dict(model.labels).get("model_sha256", "")

    # -- the interface ------------------------------------------------------------------------------------------
    def status(self, service: str) -> Rollout | None:
        endpoint_id = vertex_endpoint_id(service)
        main = self._endpoint(endpoint_id)
        deployed = self._deployed(main)
        if not deployed:
            return None
        judge = self._endpoint(endpoint_id + JUDGE_SUFFIX)
        judged = self._deployed(judge)
        canary_key = (judged[0].model, judged[0].model_version_id) if judged else None
        canary = next((d for d in deployed if (d.model, d.model_version_id) == canary_key), None)
        stable = [d for d in deployed if d is not canary]
        if canary is None and len(stable) > 1:  # a rollout interrupted before its judge endpoint: newest is canary
            canary, stable = stable[-1], stable[:-1]
        model_id = vertex_model_id(self.model_name or service)
        stable_ep = None
        if stable:
            top = max(stable, key=lambda d: main.gca_resource.traffic_split.get(d.id, 0))
            stable_ep = self._describe(main, top, model_id=model_id, direct=canary is None,
                                       model_sha256=self._sha(top.model, top.model_version_id))
        canary_ep, percent = None, 0
        if canary is not None:
            percent = int(main.gca_resource.traffic_split.get(canary.id, 0))
            sha = self._sha(canary.model, canary.model_version_id)
            if judged:
                canary_ep = self._describe(judge, judged[0], model_id=model_id, direct=True, model_sha256=sha,
                                           split_endpoint=main.resource_name, split_deployed_model_id=canary.id)
            else:
                canary_ep = self._describe(main, canary, model_id=model_id, direct=False, model_sha256=sha,
                                           split_endpoint=main.resource_name, split_deployed_model_id=canary.id)
        return Rollout(service=service, stable=stable_ep, canary=canary_ep, canary_percent=percent)

    def start_canary(self, service: str, model_dir: Path, *, version: str, model_sha256: str,
                     percent: int) -> Rollout:
        from google.api_core import exceptions as gexc

        from kfp_governance.errors import EvidenceError
        from kfp_governance.model_io import verify_model

        if not 0 < int(percent) <= 100:
            raise DeploymentError(f"canary percent {percent!r} is not in 1..100", fix="set deployment.canary_percent")
        try:
            verify_model(model_dir, model_sha256)
        except EvidenceError as err:
            raise DeploymentError(f"refusing to deploy version {version}: {err.what}", fix=err.fix) from None
        aiplatform = self._aiplatform()
        model_id = vertex_model_id(self.model_name or service)
        model_resource = f"projects/{self.project}/locations/{self.location}/models/{model_id}"
        try:
            model = self._call(f"get model {model_id}@{version}", aiplatform.Model, model_resource, version=str(version))
        except gexc.NotFound:
            raise DeploymentError(f"Vertex AI has no model version {model_id}@{version}",
                                  fix="register the model with the vertex registry first") from None
        registered = dict(model.labels).get("model_sha256", "")
        if registered != model_sha256[:SHA_LABEL_LENGTH]:
            raise DeploymentError(f"registered version {model_id}@{version} holds model sha256 {registered}..., "
                                  f"not {model_sha256}", fix="deploy the version that was registered for this model")
        endpoint_id = vertex_endpoint_id(service)
        main = self._endpoint(endpoint_id, create=True)
        deployed = self._deployed(main)
        mine = [d for d in deployed if d.model_version_id == str(version) and d.model.endswith(f"/models/{model_id}")]
        others = [d for d in deployed if d not in mine]
        if len(others) > 1 and not mine:
            raise DeploymentError(f"endpoint {endpoint_id} already runs a canary beside its champion",
                                  fix=f"promote or roll back service {service!r} first")
        deploy = dict(machine_type=self.machine_type, min_replica_count=self.min_replica_count,
                      max_replica_count=self.max_replica_count, service_account=self.service_account, sync=True,
                      deployed_model_display_name=f"{model_id}-v{version}")
        if not mine:
            share = 100 if not others else int(percent)
            self._call(f"deploy {model_id}@{version} to {endpoint_id}", model.deploy, endpoint=main,
                       traffic_percentage=share, **deploy)
        if others:  # a champion is serving: judge the canary on its own endpoint
            judge = self._endpoint(endpoint_id + JUDGE_SUFFIX, create=True)
            judged = self._deployed(judge)
            for stale in [d for d in judged if d.model_version_id != str(version)]:
                self._call("undeploy a stale judge model", judge.undeploy, stale.id, traffic_split=None)
            if not [d for d in self._deployed(judge) if d.model_version_id == str(version)]:
                self._call(f"deploy {model_id}@{version} to {endpoint_id + JUDGE_SUFFIX}", model.deploy,
                           endpoint=judge, traffic_percentage=100, **deploy)
        return self.status(service)

    def _clear_judge(self, service: str) -> None:
        judge = self._endpoint(vertex_endpoint_id(service) + JUDGE_SUFFIX)
        for deployed in self._deployed(judge):
            self._call("undeploy the judge model", judge.undeploy, deployed.id, traffic_split=None)

    def promote(self, service: str) -> Rollout:
        rollout = self.status(service)
        if rollout is None or rollout.canary is None:
            raise DeploymentError(f"service {service!r} has no canary to promote", fix="start a canary first")
        main = self._endpoint(vertex_endpoint_id(service))
        canary_id = rollout.canary.details["split_deployed_model_id"]
        old = [d.id for d in self._deployed(main) if d.id != canary_id]
        if old:
            self._call("shift all traffic to the canary", main.update,
                       traffic_split={canary_id: 100, **{i: 0 for i in old}})
        for deployed_id in old:
            self._call("undeploy the old champion", main.undeploy, deployed_id, traffic_split={canary_id: 100})
        self._clear_judge(service)
        return self.status(service)

    def rollback(self, service: str) -> Rollout:
        rollout = self.status(service)
        if rollout is None:
            raise DeploymentError(f"service {service!r} has nothing deployed to roll back", fix="check the service name")
        main = self._endpoint(vertex_endpoint_id(service))
        if rollout.canary is not None:
            canary_id = rollout.canary.details["split_deployed_model_id"]
            if rollout.stable is not None:
                stable_id = rollout.stable.details["deployed_model_id"]
                self._call("give the champion all traffic", main.update, traffic_split={stable_id: 100, canary_id: 0})
                self._call("undeploy the canary", main.undeploy, canary_id, traffic_split={stable_id: 100})
            else:  # the first model ever deployed: nothing to return to
                self._call("undeploy the canary", main.undeploy, canary_id, traffic_split=None)
        self._clear_judge(service)
        return self.status(service) or Rollout(service=service, stable=None, canary=None, canary_percent=0)

    def stop(self, service: str) -> None:
        self._clear_judge(service)
        main = self._endpoint(vertex_endpoint_id(service))
        deployed = self._deployed(main)
        for index, item in enumerate(deployed):
            rest = deployed[index + 1:]
            split = {d.id: (100 if i == 0 else 0) for i, d in enumerate(rest)}
            if rest:
                self._call("move traffic", main.update, traffic_split={item.id: 0, **split})
            self._call("undeploy", main.undeploy, item.id, traffic_split=split if rest else None)

    # -- addressing ---------------------------------------------------------------------------------------------
    def predict(self, endpoint: Endpoint, instances: list[Any]) -> list[Any]:
        """The predictions of ``endpoint`` (a canary or stable address from :meth:`status`) for ``instances``."""
        aiplatform = self._aiplatform()
        target = aiplatform.Endpoint(endpoint.details["endpoint"])
        return list(self._call("predict", target.predict, instances=instances).predictions)
