"""Register every candidate model with its evidence; set ``challenger`` on a blessed one.

Registration records, it does not decide: the gate's blessing says whether
the model is blessed, and a model that is not blessed is registered too
(with its decision and failed checks), so that the registry answers for
every candidate a pipeline produced. In order:

1. the model file's sha256 is checked against its record (and against
   ``expected_model_sha256``, the hash the Model artifact carries); the
   blessing, and every other evidence document that names a model, must name
   this one: evidence about another model is refused, never registered;
2. the evidence files are copied as they are (their sha256 in the version's
   ``evidence/manifest.json`` and tags) and the version is registered with
   the evidence summary as tags (:mod:`kfp_governance.registry.evidence`);
   a retry with the same pipeline run id and model file returns the version
   already registered;
3. the audit trail gets ``registered`` and ``gate_decision`` (decision,
   failed checks, policy sha256), and a blessed version becomes
   ``challenger`` (``alias_set``). A retried task appends none of them twice.

The result is also written as JSON (the registration record a later step
reads).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kfp_governance.errors import EvidenceError
from kfp_governance.hashing import sha256_file
from kfp_governance.lineage import code_version
from kfp_governance.model_io import read_record, verify_model
from kfp_governance.registry import CHALLENGER, AuditRecord, Registry, open_registry
from kfp_governance.registry.evidence import read_documents, stage_evidence, summary_tags

log = logging.getLogger(__name__)
SCHEMA = "kfp-governance/registration/v1"


@dataclass
class RegistrationResult:
    """What was registered: the version, whether it is blessed, its aliases, where it lives."""

    model_name: str
    version: str
    model_sha256: str
    blessed: bool
    decision: str
    aliases: list[str]
    source_uri: str
    registry: str
    pipeline_run_id: str
    already_registered: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for the registration artifact."""
        return {"model_name": self.model_name, "version": self.version, "model_sha256": self.model_sha256,
                "blessed": self.blessed, "decision": self.decision, "aliases": list(self.aliases),
                "source_uri": self.source_uri, "registry": self.registry}


def as_registry(registry: Any) -> Registry:
    """A :class:`Registry` from a registry, a ``RegistryConfig`` or ``None`` (the default local registry)."""
    return registry if isinstance(registry, Registry) else open_registry(registry)


def _registry_name(registry: Registry) -> str:
    return f"{registry.backend}:{getattr(registry, 'tracking_uri', '') or getattr(registry, 'uri', '')}"


def _named_model(kind: str, document: Mapping[str, Any]) -> str | None:
    if kind == "model_card":
        return (document.get("model_details") or {}).get("model_sha256")
    return document.get("model_sha256")


def _check_subject(documents: Mapping[str, Mapping[str, Any] | None], sha: str, paths: Mapping[str, Any]) -> None:
    for kind, document in documents.items():
        named = _named_model(kind, document) if document else None
        if named and named != sha:
            raise EvidenceError(f"the {kind} evidence {str(paths[kind])!r} is about model {named[:12]}, not about the "
                                f"model being registered ({sha[:12]})",
                                fix=f"pass the {kind} artifact the pipeline wrote for this model")


def register_model(model_dir: str | Path, *, model_name: str, blessing_json: str | Path,
                   registry: Registry | Any = None, model_card_json: str | Path | None = None,
                   validation_json: str | Path | None = None, evaluation_json: str | Path | None = None,
                   fairness_json: str | Path | None = None, explanation_json: str | Path | None = None,
                   pipeline_run_id: str = "", pipeline_run_name: str = "",
                   expected_model_sha256: str | None = None,
                   output_json: str | Path | None = None) -> RegistrationResult:
    """Register ``model_dir`` as a version of ``model_name`` with its evidence (see the module docstring).

    ``registry`` is a :class:`~kfp_governance.registry.base.Registry`, a
    :class:`~kfp_governance.config.RegistryConfig` or ``None`` (the per-user
    local MLflow registry). The blessing is required; the other evidence files
    are optional (``None``: the run produced none) but, when given, must exist.
    """
    model_dir = Path(model_dir)
    verify_model(model_dir, expected_model_sha256)
    record = read_record(model_dir)
    sha = sha256_file(verify_model(model_dir))
    paths = {"validation": validation_json, "evaluation": evaluation_json, "fairness": fairness_json,
             "explanation": explanation_json, "blessing": blessing_json, "model_card": model_card_json}
    paths = {kind: (str(path) if path else None) for kind, path in paths.items()}
    documents = read_documents(paths)
    blessing = documents["blessing"]
    if blessing is None:
        raise EvidenceError(f"no readable blessing at {str(blessing_json)!r}",
                            fix="pass the blessing the gate wrote; every candidate is registered with its decision")
    if blessing.get("model_sha256") != sha:
        raise EvidenceError(f"the blessing {str(blessing_json)!r} is for model {str(blessing.get('model_sha256'))[:12]}, "
                            f"not for the model being registered ({sha[:12]})",
                            fix="pass the blessing the gate wrote for this model")
    _check_subject(documents, sha, paths)
    registry = as_registry(registry)
    blessed = bool(blessing.get("blessed"))
    decision = str(blessing.get("decision") or ("BLESSED" if blessed else "NOT_BLESSED"))
    run = {"pipeline_run_id": pipeline_run_id, "pipeline_run_name": pipeline_run_name}
    actor = registry.identity() or (f"pipeline:{pipeline_run_name or pipeline_run_id}"
                                    if (pipeline_run_name or pipeline_run_id) else "kfp-governance")
    with tempfile.TemporaryDirectory(prefix="kfp-governance-register-") as scratch:
        manifest = stage_evidence(paths, Path(scratch) / "evidence")
        tags = summary_tags(record, documents, manifest, run=run, code=code_version())
        version = registry.register(model_name, model_dir, evidence_dir=Path(scratch) / "evidence", tags=tags,
                                    run_id=pipeline_run_id)
    trail = registry.audit(model_name, version.version)
    done = {(r.action, r.details.get("alias")) for r in trail}
    already = ("registered", None) in done

    def append(action: str, reason: str, details: dict[str, Any]) -> None:
        registry.append_audit(AuditRecord(action=action, model_name=model_name, version=version.version, actor=actor,
                                          at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                                          reason=reason, details=details))

    if not already:
        append("registered", f"candidate of pipeline run {pipeline_run_name or pipeline_run_id or '(none given)'}",
               {"model_sha256": sha, "source_uri": version.source_uri, **run,
                "evidence": {k: v.get("sha256") for k, v in manifest.items() if v.get("present")}})
    if ("gate_decision", None) not in done:
        append("gate_decision", decision + ("" if blessed else ": " + ", ".join(blessing.get("failed_checks") or [])),
               {"decision": decision, "blessed": blessed, "failed_checks": list(blessing.get("failed_checks") or []),
                "policy_sha256": blessing.get("policy_sha256"), "counts": blessing.get("counts"),
                "baseline_model_sha256": (blessing.get("baseline") or {}).get("model_sha256")})
    if blessed and ("alias_set", CHALLENGER) not in done:
        previous = registry.alias(model_name, CHALLENGER)
        registry.set_alias(model_name, CHALLENGER, version.version)
        append("alias_set", f"blessed: {CHALLENGER} is now version {version.version}",
               {"alias": CHALLENGER, "previous_version": previous.version if previous else None})
    final = registry.get_version(model_name, version.version)
    result = RegistrationResult(
        model_name=model_name, version=final.version, model_sha256=sha, blessed=blessed, decision=decision,
        aliases=list(final.aliases), source_uri=final.source_uri, registry=_registry_name(registry),
        pipeline_run_id=pipeline_run_id, already_registered=already, evidence=manifest, tags=dict(final.tags))
    if output_json:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(output_json).write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("registered %s version %s (%s%s)%s", model_name, result.version, decision,
             ", " + ", ".join(result.aliases) if result.aliases else "", " - already registered" if already else "")
    return result


__all__ = ["RegistrationResult", "register_model", "as_registry"]
