"""What a registered version carries: its evidence files (in full) and a short summary of them (as tags).

A version's evidence is the set of JSON documents one run wrote about the model
(``validation``, ``evaluation``, ``fairness``, ``explanation``, ``blessing``,
``model_card``). Registration copies each given file into the version's
``evidence/`` folder as ``<kind>.json``, beside a ``manifest.json`` that lists
every file with its sha256 and where it was read from; the registry's tags hold
only a summary (short strings) that points at the full documents:

- data: source URI and sha256, train split sha256, schema and statistics
  paths and sha256;
- metrics (``metric.<name>``), fairness per attribute
  (``fairness.<attribute>.<metric>``), the explanation method;
- the gate's decision, failed checks and policy sha256;
- the model card's location, package version, git commit, image reference,
  pipeline run id and name, model sha256, and the sha256 of every evidence file.

>>> tags = summary_tags({"model_sha256": "ab" * 32, "training_data": {"source_uri": "adult.csv"}},
...                     {"blessing": {"decision": "BLESSED", "failed_checks": [], "policy_sha256": "cd" * 32}},
...                     {}, run={"pipeline_run_id": "run-1"})
>>> tags["gate.decision"], tags["data.uri"], tags["pipeline_run_id"], tags["gate.failed_checks"]
('BLESSED', 'adult.csv', 'run-1', '')
>>> shorten("x" * 300)[-12:]
'…(see files)'
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfp_governance.errors import EvidenceError
from kfp_governance.evidence import read_json_document
from kfp_governance.hashing import sha256_file

KINDS = ("validation", "evaluation", "fairness", "explanation", "blessing", "model_card")
MANIFEST = "manifest.json"
MAX_TAG = 250  # characters of a tag value; the full text is in the evidence files
METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss")
FAIRNESS_METRICS = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                    "average_odds_difference")


def shorten(value: Any) -> str:
    """A tag value: text, at most :data:`MAX_TAG` characters (longer values point to the files)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = str(value)
    suffix = "…(see files)"
    return text if len(text) <= MAX_TAG else text[: MAX_TAG - len(suffix)] + suffix


def stage_evidence(files: Mapping[str, str | Path | None], directory: str | Path) -> dict[str, dict[str, Any]]:
    """Copy each given evidence file into ``directory`` as ``<kind>.json``; write and return the manifest.

    ``files`` maps kinds (:data:`KINDS`) to paths; ``None`` or an empty path means
    the run produced no such document, which the manifest records as absent. A
    path given but missing, or not a JSON object, is an error: registration never
    records evidence it could not read.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, Any]] = {}
    for kind, path in files.items():
        if kind not in KINDS:
            raise ValueError(f"unknown evidence kind {kind!r}; expected one of {KINDS}")
        if not path:
            manifest[kind] = {"present": False}
            continue
        document, problem = read_json_document(path)
        if document is None:
            raise EvidenceError(f"{kind} evidence {str(path)!r} cannot be registered: {problem}",
                                fix=f"pass the {kind} JSON the pipeline wrote, or no {kind} file at all")
        target = directory / f"{kind}.json"
        shutil.copyfile(path, target)
        manifest[kind] = {"present": True, "file": target.name, "sha256": sha256_file(target), "source": str(path)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def read_documents(files: Mapping[str, str | Path | None]) -> dict[str, dict[str, Any] | None]:
    """The parsed JSON of each given evidence file (``None`` where absent)."""
    return {kind: read_json_document(path)[0] if path else None for kind, path in files.items()}


def _get(document: Mapping[str, Any] | None, *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def summary_tags(record: Mapping[str, Any], documents: Mapping[str, Mapping[str, Any] | None],
                 manifest: Mapping[str, Mapping[str, Any]], *, run: Mapping[str, str | None],
                 evidence_uri: str = "", code: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The short summary of a version's evidence, as string tags (see the module docstring).

    ``record`` is the model's ``model_record.json``; ``documents`` the parsed
    evidence by kind; ``manifest`` what :func:`stage_evidence` returned;
    ``run`` the pipeline run (``pipeline_run_id``, ``pipeline_run_name``);
    ``evidence_uri`` where the evidence folder lives in the registry; ``code``
    the registering code's lineage (defaults to the model record's).
    """
    validation, evaluation = documents.get("validation"), documents.get("evaluation")
    fairness, explanation = documents.get("fairness"), documents.get("explanation")
    blessing, card = documents.get("blessing"), documents.get("model_card")
    training = record.get("training_data") or {}
    card_data = _get(card, "model_parameters", "data", "train") or {}
    trained = record.get("code") or {}
    code = code or trained
    image = trained.get("image") or code.get("image")
    tags: dict[str, Any] = {
        "model_sha256": record.get("model_sha256"),
        "estimator": record.get("estimator"),
        "data.uri": training.get("source_uri") or card_data.get("uri"),
        "data.sha256": training.get("source_sha256") or card_data.get("sha256"),
        "data.train_split_sha256": training.get("split_sha256") or _get(validation, "train_data_sha256"),
        "data.eval_split_sha256": _get(evaluation, "eval_data_sha256") or _get(validation, "eval_data_sha256"),
        "schema.uri": _get(validation, "data_schema", "path") or _get(validation, "data_schema", "source"),
        "schema.sha256": _get(validation, "data_schema", "sha256"),
        "gate.decision": _get(blessing, "decision") or ("NO GATE DECISION" if blessing is None else None),
        "gate.blessed": _get(blessing, "blessed") if blessing else False,
        "gate.failed_checks": _get(blessing, "failed_checks") or [],
        "policy_sha256": _get(blessing, "policy_sha256"),
        "package_version": trained.get("package_version") or code.get("package_version"),
        "git_commit": trained.get("git_commit") or code.get("git_commit"),
        "image": image.get("reference") if isinstance(image, Mapping) else image,
        "pipeline_run_id": run.get("pipeline_run_id"),
        "pipeline_run_name": run.get("pipeline_run_name"),
    }
    for split in ("train", "eval"):
        tags[f"statistics.{split}.uri"] = _get(validation, "statistics", split, "path")
        tags[f"statistics.{split}.sha256"] = _get(validation, "statistics", split, "sha256")
    if validation:
        tags["validation.anomaly_count"] = validation.get("anomaly_count")
    for name in METRICS:
        value = _get(evaluation, "metrics", name)
        if value is not None:
            tags[f"metric.{name}"] = value
    for attribute, entry in (_get(fairness, "attributes") or {}).items():
        tags[f"fairness.{attribute}.status"] = _get(entry, "status")
        for metric in FAIRNESS_METRICS:
            value = _get(entry, "model", "metrics", metric, "value")
            if value is not None:
                tags[f"fairness.{attribute}.{metric}"] = value
    if explanation:
        method = explanation.get("method") if isinstance(explanation.get("method"), Mapping) else {}
        tags["explanation.method"] = method.get("explainer_class") or method.get("explainer")
        tags["explanation.exact"] = method.get("exact")
    if evidence_uri:
        tags["evidence_uri"] = evidence_uri
        if (manifest.get("model_card") or {}).get("present"):
            tags["model_card_uri"] = evidence_uri.rstrip("/") + "/model_card.json"
    for kind, entry in manifest.items():
        if entry.get("present"):
            tags[f"evidence.{kind}.sha256"] = entry["sha256"]
    out = {key: shorten(value) for key, value in tags.items() if value is not None and value != ""}
    out["gate.failed_checks"] = shorten(tags["gate.failed_checks"])  # "" says "none failed", not "unknown"
    return out


__all__ = ["KINDS", "MANIFEST", "shorten", "stage_evidence", "read_documents", "summary_tags"]
