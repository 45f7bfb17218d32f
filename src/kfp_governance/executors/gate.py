"""The gate: judge the evidence against a policy and write a *blessing*.

The blessing is data, not control flow (as TFX's Evaluator hands a blessing
to its Pusher): ``blessed`` true or false, every check with its metric,
value, threshold, comparison and verdict, the champion it compared against,
and the sha256 of the policy. Registration and deployment read it and act,
or record why they did not.

A model is blessed only if no check fails and at least one passes; missing
or undefined evidence fails its check.

>>> import json, tempfile
>>> folder = tempfile.mkdtemp()
>>> _ = open(f"{folder}/evaluation.json", "w").write(json.dumps({"metrics": {"roc_auc": 0.9}}))
>>> blessing = gate({"min_roc_auc": 0.85, "require": ["evaluation"], "max_anomalies": 0},
...                 model_sha256="ab" * 32, evaluation_json=f"{folder}/evaluation.json",
...                 validation_json=None, output_json=f"{folder}/blessing.json")
>>> blessing.blessed, [c.verdict for c in blessing.checks][:2]  # evaluation present; no validation
(False, ['pass', 'fail'])
>>> blessing.failed()[0].name  # no validation evidence was given
'max_anomalies'
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_governance.evidence import read_json_document
from kfp_governance.gate.checks import (
    FAIL,
    PASS,
    Check,
    data_checks,
    evidence_checks,
    fairness_checks,
    performance_checks,
    regression_checks,
)
from kfp_governance.gate.policy import DEFAULT_POLICY, GatePolicy, parse_policy, policy_hash
from kfp_governance.hashing import sha256_file
from kfp_governance.lineage import code_version

log = logging.getLogger(__name__)
SCHEMA = "kfp-governance/blessing/v1"


@dataclass
class Blessing:
    blessed: bool
    checks: list[Check]
    model_sha256: str
    baseline: dict[str, Any] | None
    policy: dict[str, Any]
    policy_sha256: str
    policy_source: str
    evidence: dict[str, Any] = field(default_factory=dict)
    decided_at: str = ""
    code: dict[str, Any] = field(default_factory=dict)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == FAIL]

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.checks) for v in ("pass", "fail", "skipped")}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "blessed": self.blessed,
            "decision": "BLESSED" if self.blessed else "NOT_BLESSED",
            "model_sha256": self.model_sha256,
            "baseline": self.baseline,
            "policy": self.policy,
            "policy_sha256": self.policy_sha256,
            "policy_source": self.policy_source,
            "counts": self.counts(),
            "failed_checks": [c.name for c in self.failed()],
            "checks": [c.to_json() for c in self.checks],
            "evidence": self.evidence,
            "decided_at": self.decided_at,
            "code": self.code,
        }

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the blessing artifact (what registration and deployment read)."""
        return {"blessed": self.blessed, "decision": "BLESSED" if self.blessed else "NOT_BLESSED",
                "model_sha256": self.model_sha256, "policy_sha256": self.policy_sha256,
                "failed_checks": [c.name for c in self.failed()], **{f"checks_{k}": v for k, v in self.counts().items()},
                "baseline_model_sha256": (self.baseline or {}).get("model_sha256")}


def _read_evidence(path: str | Path | None, name: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    document, problem = read_json_document(path)
    if document is None:
        if problem.startswith("not valid JSON"):
            log.warning("%s evidence %s is %s", name, path, problem)
        return None, {"present": False} if not path else {"present": False, "path": str(path), "reason": problem}
    return document, {"present": True, "path": str(path), "sha256": sha256_file(path)}


def render_markdown(blessing: Blessing) -> str:
    """A short Markdown summary for the KFP UI: the decision and a table of checks."""
    icon = {"pass": "✅", "fail": "❌", "skipped": "⏭️"}
    title = "✅ BLESSED" if blessing.blessed else "❌ NOT BLESSED"
    counts = blessing.counts()
    lines = [f"## {title}", "",
             f"{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped · "
             f"model `{blessing.model_sha256[:12]}` · policy `{blessing.policy_sha256[:12]}` "
             f"({blessing.policy_source})",
             "", "baseline (champion): " + (f"`{blessing.baseline['model_sha256'][:12]}`" if blessing.baseline
                                           else "none yet"),
             "", "| | check | value | threshold | note |", "|---|---|---|---|---|"]
    for check in blessing.checks:
        value = "" if check.value is None else f"{check.value:.4g}"
        threshold = "" if check.threshold is None else f"{check.comparison} {check.threshold:g}"
        lines.append(f"| {icon[check.verdict]} | {check.name} | {value} | {threshold} | {check.reason} |")
    return "\n".join(lines) + "\n"


def gate(policy: GatePolicy | dict[str, Any] | None, *, model_sha256: str, protected_attributes: list[str] = (),
         evaluation_json: str | Path | None = None, fairness_json: str | Path | None = None,
         explanation_json: str | Path | None = None, validation_json: str | Path | None = None,
         output_json: str | Path | None = None, output_markdown: str | Path | None = None) -> Blessing:
    """Judge the evidence files against ``policy`` (``None``: the default policy) and write the blessing."""
    source = "default" if policy is None else "config"
    policy = policy if isinstance(policy, GatePolicy) else parse_policy(policy)
    documents, evidence = {}, {}
    for name, path in (("validation", validation_json), ("evaluation", evaluation_json),
                       ("fairness", fairness_json), ("explanation", explanation_json)):
        documents[name], evidence[name] = _read_evidence(path, name)
    attributes = list(protected_attributes)
    checks = evidence_checks(policy, documents, attributes)
    checks += data_checks(policy, documents["validation"])
    checks += performance_checks(policy, documents["evaluation"])
    checks += regression_checks(policy, documents["evaluation"])
    checks += fairness_checks(policy, documents["fairness"], attributes)
    evaluated_sha = (documents["evaluation"] or {}).get("model_sha256")
    if evaluated_sha and evaluated_sha != model_sha256:
        checks.append(Check("evidence:same_model", "evidence", "model_sha256", None, None, "equal", FAIL,
                            f"the evaluation is of model {evaluated_sha[:12]}, not {model_sha256[:12]}"))
    champion = (documents["evaluation"] or {}).get("champion")
    blessed = not any(c.verdict == FAIL for c in checks) and any(c.verdict == PASS for c in checks)
    blessing = Blessing(
        blessed=blessed, checks=checks, model_sha256=model_sha256,
        baseline={"model_sha256": champion["model_sha256"], "metrics": champion.get("metrics")} if champion else None,
        policy=policy.model_dump(mode="json"), policy_sha256=policy_hash(policy), policy_source=source,
        evidence=evidence, decided_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        code=code_version(),
    )
    for path, text in ((output_json, json.dumps(blessing.to_json(), indent=2)),
                       (output_markdown, render_markdown(blessing) if output_markdown else None)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    log.info("gate: %s (%s)", "BLESSED" if blessed else "NOT BLESSED",
             ", ".join(f"{k}={v}" for k, v in blessing.counts().items()))
    return blessing


__all__ = ["Blessing", "gate", "render_markdown", "DEFAULT_POLICY"]
