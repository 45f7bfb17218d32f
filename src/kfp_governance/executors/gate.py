"""The gate: judge the evidence against a policy and write a *blessing*.

The blessing is data, not control flow (as TFX's Evaluator hands a blessing
to its Pusher): ``blessed`` true or false, every check with its metric,
value, threshold, comparison and verdict, the champion it compared against,
and the sha256 of the policy. Registration and deployment read it and act,
or record why they did not.

A model is blessed only if no check fails and at least one threshold passes; missing
or undefined evidence fails its check. Whatever the policy:

- every document must match its published schema (``kfp_governance/schemas``)
  and name the model and the split(s) being judged (``model_sha256``,
  ``train_data_sha256``, ``eval_data_sha256``, which the component computes
  from the artifacts' files): evidence about anything else fails and is not
  used (see :mod:`kfp_governance.gate.binding`);
- a model that predicts one class only, or whose fairness metrics are
  undefined for a group, fails a ``sanity:`` check.

>>> import json, tempfile
>>> folder = tempfile.mkdtemp()
>>> model, data = "ab" * 32, "cd" * 32
>>> _ = open(f"{folder}/evaluation.json", "w").write(json.dumps({"metrics": {"roc_auc": 0.9}}))
>>> blessing = gate({"min_roc_auc": 0.85, "require": ["evaluation"]}, model_sha256=model,
...                 train_data_sha256=data, eval_data_sha256=data, evaluation_json=f"{folder}/evaluation.json")
>>> blessing.blessed, [c.name for c in blessing.failed()][:2]   # the document lacks what the schema requires
(False, ['evidence:evaluation', 'evidence:evaluation:schema'])
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_governance.evidence import read_json_document
from kfp_governance.gate.binding import binding_checks, champion_consistency, schema_check
from kfp_governance.gate.checks import (
    FAIL,
    PASS,
    Check,
    data_checks,
    evidence_checks,
    explanation_checks,
    fairness_checks,
    performance_checks,
    regression_checks,
    sanity_checks,
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
    train_data_sha256: str
    eval_data_sha256: str
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
            "train_data_sha256": self.train_data_sha256,
            "eval_data_sha256": self.eval_data_sha256,
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
                "model_sha256": self.model_sha256, "train_data_sha256": self.train_data_sha256,
                "eval_data_sha256": self.eval_data_sha256, "policy_sha256": self.policy_sha256,
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


def gate(policy: GatePolicy | dict[str, Any] | None, *, model_sha256: str, train_data_sha256: str,
         eval_data_sha256: str, protected_attributes: list[str] = (),
         evaluation_json: str | Path | None = None, fairness_json: str | Path | None = None,
         explanation_json: str | Path | None = None, validation_json: str | Path | None = None,
         output_json: str | Path | None = None, output_markdown: str | Path | None = None) -> Blessing:
    """Judge the evidence files against ``policy`` (``None``: the default policy) and write the blessing.

    ``model_sha256``, ``train_data_sha256`` and ``eval_data_sha256`` name what is
    judged: the sha256 of the model file and of the two split files. Evidence
    that names anything else fails.
    """
    source = "default" if policy is None else "config"
    policy = policy if isinstance(policy, GatePolicy) else parse_policy(policy)
    subject = {"model_sha256": model_sha256, "train_data_sha256": train_data_sha256,
               "eval_data_sha256": eval_data_sha256}
    documents, evidence = {}, {}
    integrity: list[Check] = []
    for name, path in (("validation", validation_json), ("evaluation", evaluation_json),
                       ("fairness", fairness_json), ("explanation", explanation_json)):
        document, evidence[name] = _read_evidence(path, name)
        if document is not None:
            found = [schema_check(name, document)]
            if found[0].verdict == PASS:
                found += binding_checks(name, document, subject)
            integrity += found
            if any(c.verdict == FAIL for c in found):
                evidence[name]["rejected"] = [c.reason for c in found if c.verdict == FAIL]
                document = None  # never judge thresholds on evidence that is malformed or about something else
        documents[name] = document
    attributes = list(protected_attributes)
    checks = evidence_checks(policy, documents, attributes) + integrity
    checks += champion_consistency(documents["evaluation"], documents["fairness"])
    checks += sanity_checks(documents["evaluation"], documents["fairness"])
    checks += data_checks(policy, documents["validation"])
    checks += performance_checks(policy, documents["evaluation"])
    checks += regression_checks(policy, documents["evaluation"])
    checks += fairness_checks(policy, documents["fairness"], attributes)
    checks += explanation_checks(policy, documents["explanation"])
    champion = (documents["evaluation"] or {}).get("champion")
    # Evidence and sanity checks guard the judgement; at least one threshold of the policy must pass.
    blessed = not any(c.verdict == FAIL for c in checks) and any(
        c.verdict == PASS and c.kind not in ("evidence", "sanity") for c in checks)
    blessing = Blessing(
        blessed=blessed, checks=checks, model_sha256=model_sha256, train_data_sha256=train_data_sha256,
        eval_data_sha256=eval_data_sha256,
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
