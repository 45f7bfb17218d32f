"""``kfp-governance audit``: a version's evidence and every action on it, from the registry alone.

Laid out as the sections of the technical documentation of EU AI Act
Annex IV (as far as a model registry can answer them; what it cannot is
said, not invented), with the model card's fields inside. The JSON form is
for tools; :func:`render_text` for people.
"""

from __future__ import annotations

import json
from typing import Any

from kfp_governance.errors import RegistryError
from kfp_governance.registry.base import Registry

NOT_RECORDED = "not recorded in the registry"


def _get(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def audit_report(registry: Registry, name: str, version: str | None = None) -> dict[str, Any]:
    """The audit document of ``version`` of ``name`` (default: the champion, else the newest version)."""
    from kfp_governance.registry.base import CHAMPION

    versions = registry.versions(name)
    if not versions:
        raise RegistryError(f"model {name!r} is not registered in this registry",
                            fix="run the pipeline first, or check registry settings and the model name")
    if version is None:
        target = registry.alias(name, CHAMPION) or versions[-1]
    else:
        target = registry.get_version(name, version)
    evidence = registry.evidence(name, target.version)
    card, blessing = evidence.get("model_card") or {}, evidence.get("blessing") or {}
    evaluation, fairness = evidence.get("evaluation") or {}, evidence.get("fairness") or {}
    explanation, validation = evidence.get("explanation") or {}, evidence.get("validation") or {}
    trail = [r.to_json() for r in registry.audit(name, target.version)]
    model_wide = [r.to_json() for r in registry.audit(name) if r.version is None]
    tags = dict(target.tags)
    sections = [
        {"id": "1", "title": "General description of the AI system",
         "content": {"model": name, "version": target.version, "model_sha256": target.model_sha256,
                     "aliases": list(target.aliases), "registered_at": target.created_at,
                     "intended_use": _get(card, "considerations", "use_cases") or NOT_RECORDED,
                     "owners": _get(card, "model_details", "owners") or NOT_RECORDED,
                     "software": {"package_version": tags.get("package_version"), "git_commit": tags.get("git_commit"),
                                  "image": tags.get("image"), "framework": _get(card, "model_details", "framework")}}},
        {"id": "2", "title": "Elements of the system and its development",
         "content": {"data": {"uri": tags.get("data.uri"), "sha256": tags.get("data.sha256"),
                              "train_split_sha256": tags.get("data.train_split_sha256"),
                              "eval_split_sha256": tags.get("data.eval_split_sha256"),
                              "schema_sha256": tags.get("schema.sha256"),
                              "statistics": _get(validation, "statistics") or NOT_RECORDED},
                     "training": {"estimator": tags.get("estimator"),
                                  "parameters": _get(card, "model_parameters", "params") or NOT_RECORDED},
                     "validation_and_testing": {"metrics": _get(evaluation, "metrics") or NOT_RECORDED,
                                                "explanation_method": _get(explanation, "method") or NOT_RECORDED,
                                                "anomalies": _get(validation, "anomaly_count")},
                     "pipeline_run": tags.get("pipeline_run_id")}},
        {"id": "3", "title": "Monitoring, functioning and control",
         "content": {"limitations": _get(card, "considerations", "limitations") or NOT_RECORDED,
                     "fairness_per_group": {a: _get(v, "model", "metrics") for a, v in
                                            (_get(fairness, "attributes") or {}).items()} or NOT_RECORDED,
                     "warnings": card.get("warnings") or _get(fairness, "warnings") or [],
                     "human_oversight": {"approval": target.approval,
                                         "approvals": [r for r in trail if r["action"] in ("approved", "rejected")]}}},
        {"id": "4", "title": "Appropriateness of the performance metrics",
         "content": {"gate_checks": [{k: c.get(k) for k in ("name", "value", "threshold", "comparison", "verdict")}
                                     for c in blessing.get("checks", [])] or NOT_RECORDED}},
        {"id": "5", "title": "Risk management",
         "content": {"decision": blessing.get("decision") or tags.get("gate.decision") or NOT_RECORDED,
                     "failed_checks": blessing.get("failed_checks", []),
                     "policy_sha256": blessing.get("policy_sha256") or tags.get("policy_sha256"),
                     "policy": blessing.get("policy") or NOT_RECORDED,
                     "risk_notes": _get(card, "considerations", "risk_notes") or []}},
        {"id": "6", "title": "Changes through the lifecycle",
         "content": {"trail": trail, "model_wide": model_wide}},
        {"id": "7", "title": "Standards applied", "content": "none claimed by this tool"},
        {"id": "8", "title": "EU declaration of conformity", "content": "not issued by this tool"},
        {"id": "9", "title": "Post-market monitoring",
         "content": "request logs of the model server (serving request log); the monitoring pipeline is not yet "
                    "part of this release"},
    ]
    return {"schema": "kfp-governance/audit/v1", "model": name, "version": target.version,
            "registry": registry.backend, "sections": sections, "evidence_kinds": sorted(evidence)}


def render_text(report: dict[str, Any]) -> str:
    """The report as plain text, one heading per Annex IV section, the trail as one line per action."""
    lines = [f"audit of {report['model']} version {report['version']} ({report['registry']} registry)", ""]
    for section in report["sections"]:
        lines.append(f"{section['id']}. {section['title']}")
        content = section["content"]
        if section["id"] == "6":
            for record in content["trail"]:
                lines.append(f"   {record['at']}  {record['action']:<15} by {record['actor']}: {record['reason']}")
        elif isinstance(content, dict):
            for key, value in content.items():
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                lines.append(f"   {key}: {text if len(text) < 300 else text[:297] + '...'}")
        else:
            lines.append(f"   {content}")
        lines.append("")
    return "\n".join(lines)
