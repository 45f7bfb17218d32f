"""Deploy a registered version only through the policy: blessed, approved where required, canary judged, rolled back.

The order, each step leaving an audit record in the registry:

1. **refuse or skip**: a version that is not blessed, or lacks the approval
   the rule requires (``approval.rule: required``: a recorded ``approved``
   state, by one of ``approval.approvers`` when that list is set), changes
   nothing and records ``deploy_skipped`` with the reason;
2. **verify**: the model folder is downloaded from the registry and its file's
   sha256 must equal the registered one;
3. **canary**: started beside the current champion at
   ``deployment.canary_percent`` (``canary_started``); resumable, so a retried
   deploy continues the same canary instead of starting a second one;
4. **judge** (:mod:`kfp_governance.deploy.judge`): the smoke test, then the
   analysis window against the champion, or against the registered model
   itself on a first deployment (``canary_judged`` with every figure);
5. **promote or roll back**: pass, the canary takes 100% and the ``champion``
   alias moves to it (``promoted``, with what it replaced); fail, the canary
   is removed and the champion keeps the traffic (``rolled_back``, with the
   failing figure) and the webhook is told.

``kfp-governance approve`` calls :func:`deploy_model` too, so an approval
given days after the run still deploys through the same gate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_governance.config import DeploymentPolicy, ProtectedAttribute
from kfp_governance.deploy import alerts, judge
from kfp_governance.errors import DeploymentError, EvidenceError
from kfp_governance.model_io import load_model, read_record, served_sha256
from kfp_governance.registry.base import CHAMPION, AuditRecord, ModelVersion, Registry
from kfp_governance.serving.base import Endpoint, ServingBackend

log = logging.getLogger(__name__)

DEPLOYED, SKIPPED, ROLLED_BACK = "deployed", "skipped", "rolled_back"


@dataclass
class DeployResult:
    outcome: str  # deployed | skipped | rolled_back
    model_name: str
    version: str
    reason: str
    replaced: str | None = None  # the champion version it replaced
    stages: list[dict[str, Any]] = field(default_factory=list)
    endpoint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def approval_problem(version: ModelVersion, rule: str, approvers: list[str], approved_by: str | None) -> str | None:
    """Why the approval rule is not met (``None`` when it is).

    >>> v = ModelVersion("m", "2", "ab" * 32, "file:///m/2", approval="pending")
    >>> approval_problem(v, "required", [], None)
    "version 2 of 'm' has no recorded approval (state: pending); approve it with: kfp-governance approve m 2 --by NAME"
    >>> approval_problem(v, "auto", [], None) is None
    True
    """
    if rule == "auto":
        return None
    if version.approval != "approved":
        return (f"version {version.version} of {version.name!r} has no recorded approval (state: {version.approval}); "
                f"approve it with: kfp-governance approve {version.name} {version.version} --by NAME")
    if approvers and approved_by not in approvers:
        return f"version {version.version} was approved by {approved_by!r}, who is not in approval.approvers {approvers}"
    return None


def _groups(frame, attributes: list[ProtectedAttribute]) -> dict[str, np.ndarray]:
    from kfp_governance.fairness.groups import split_groups

    out = {}
    for attribute in attributes:
        groups = split_groups(frame[attribute.name], attribute, split="eval split")
        out[attribute.name] = np.asarray(groups.privileged, dtype=bool)
    return out


def deploy_model(registry: Registry, serving: ServingBackend, *, model_name: str, version: str, blessed: bool,
                 blessing_reason: str, eval_path: str | Path, protected_attributes: list[Any],
                 approval_rule: str, approvers: list[str], policy: DeploymentPolicy | Mapping[str, Any],
                 actor: str, service: str | None = None, predictor: Callable[[Endpoint], judge.Predictor] | None = None,
                 webhook_env: str = alerts.DEFAULT_ENV, workdir: str | Path | None = None,
                 expected_sha256: str | None = None) -> DeployResult:
    """Deploy ``version`` of ``model_name`` if the policy allows it (see the module docstring).

    ``predictor(endpoint)`` returns the callable that asks an endpoint for
    probabilities (default: the KServe v1 HTTP client). ``expected_sha256``
    (the blessing's model) must be the registered version's. Raises
    :class:`DeploymentError` for what a user must fix; a failed canary is not an
    error: it is rolled back and reported in the result.
    """
    from kfp_governance.tabular import read_split

    policy = policy if isinstance(policy, DeploymentPolicy) else DeploymentPolicy.model_validate(dict(policy))
    attributes = [a if isinstance(a, ProtectedAttribute) else ProtectedAttribute.model_validate(a)
                  for a in protected_attributes]
    service = service or model_name
    target = registry.get_version(model_name, version)
    if expected_sha256 and expected_sha256 != target.model_sha256:
        raise DeploymentError(f"the blessing is for model {expected_sha256[:12]}, but version {version} of "
                              f"{model_name!r} is {target.model_sha256[:12]}",
                              fix="deploy the version registered from this blessing's model")

    def record(action: str, reason: str = "", **details: Any) -> None:
        registry.append_audit(AuditRecord(action=action, model_name=model_name, version=version, actor=actor,
                                          at=_now(), reason=reason, details=details))

    def skip(reason: str) -> DeployResult:
        record("deploy_skipped", reason)
        log.info("deploy skipped: %s", reason)
        return DeployResult(SKIPPED, model_name, version, reason)

    if not blessed:
        return skip(f"version {version} is not blessed by the gate: {blessing_reason}")
    approved_by = next((r.actor for r in reversed(registry.audit(model_name, version)) if r.action == "approved"), None)
    problem = approval_problem(target, approval_rule, approvers, approved_by)
    if problem:
        return skip(problem)

    champion = registry.alias(model_name, CHAMPION)
    if champion is not None and champion.version == version:
        return skip(f"version {version} is already the champion")
    folder = Path(workdir or tempfile.mkdtemp(prefix="kfp-governance-deploy-"))
    model_dir = registry.download(model_name, version, folder / f"v{version}")
    try:
        artifact = load_model(model_dir, target.model_sha256)  # the scorer of the smoke test, hash-checked once
    except EvidenceError as err:
        record("deploy_skipped", f"refused: {err}")
        raise DeploymentError(f"version {version} of {model_name!r}: {err}",
                              fix="the registered files changed after registration: register the model again") from None

    features = read_record(model_dir)["features"]
    rollout = serving.start_canary(service, model_dir, version=version,
                                   model_sha256=served_sha256(model_dir, target.model_sha256),
                                   percent=policy.canary_percent)
    record("canary_started", f"{policy.canary_percent}% of the traffic", endpoint=rollout.canary.url if rollout.canary
           else None, champion=champion.version if champion else None)

    ask = predictor or _http_predictor
    frame = read_split(eval_path, "eval split")
    smoke_rows = frame.iloc[: policy.smoke_rows]
    expected = artifact.predict_proba(smoke_rows[features])[:, 1]
    stages = [judge.smoke(ask(rollout.canary), smoke_rows[features], expected=expected,
                          tolerance=policy.smoke_tolerance)]
    if stages[0].passed:
        rows = frame.iloc[: policy.analysis_rows]
        reference = ask(rollout.stable) if rollout.stable else (lambda batch: artifact.predict_proba(
            pd.DataFrame(batch, columns=features))[:, 1])
        stages.append(judge.analysis(
            ask(rollout.canary), reference, rows[features], groups=_groups(rows, attributes),
            max_error_rate=policy.max_error_rate, max_p99_latency_ms=policy.max_p99_latency_ms,
            max_positive_rate_shift=policy.max_positive_rate_shift,
            max_selection_rate_shift=policy.max_selection_rate_shift, seconds=policy.analysis_seconds))
    passed = all(s.passed for s in stages)
    record("canary_judged", "passed" if passed else stages[-1].reason, stages=[s.to_json() for s in stages],
           reference="champion " + champion.version if champion else "the registered model (first deployment)")
    if not passed:
        serving.rollback(service)
        reason = f"{stages[-1].name} failed: {stages[-1].reason}"
        record("rolled_back", reason, champion=champion.version if champion else None)
        alerts.notify({"event": "rolled_back", "model": model_name, "version": version, "reason": reason},
                      webhook_env=webhook_env)
        return DeployResult(ROLLED_BACK, model_name, version, reason, stages=[s.to_json() for s in stages])
    rollout = serving.promote(service)
    registry.set_alias(model_name, CHAMPION, version)
    record("promoted", "canary passed smoke and analysis", replaced=champion.version if champion else None,
           endpoint=rollout.stable.url if rollout.stable else None)
    return DeployResult(DEPLOYED, model_name, version, "canary passed smoke and analysis",
                        replaced=champion.version if champion else None, stages=[s.to_json() for s in stages],
                        endpoint=rollout.stable.url if rollout.stable else None)


def _http_predictor(endpoint: Endpoint) -> judge.Predictor:
    from kfp_governance.serving.client import predict_probabilities

    return lambda rows: predict_probabilities(endpoint, rows)


def render_markdown(result: DeployResult) -> str:
    """A short summary for the KFP UI: the outcome, why, and each stage's verdict."""
    icon = {DEPLOYED: "✅", SKIPPED: "⏭️", ROLLED_BACK: "↩️"}[result.outcome]
    lines = [f"## {icon} {result.outcome.replace('_', ' ')}: {result.model_name} version {result.version}", "",
             result.reason, ""]
    if result.replaced:
        lines += [f"replaced champion version {result.replaced}", ""]
    for stage in result.stages:
        lines.append(f"- {'✅' if stage['passed'] else '❌'} {stage['name']}: {stage['reason']}")
    return "\n".join(lines) + "\n"


def write_result(result: DeployResult, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result.to_json(), indent=2, default=str), encoding="utf-8")
