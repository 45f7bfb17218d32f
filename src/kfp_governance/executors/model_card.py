"""Generate a model card (HTML for people, JSON for machines) from the run's evidence only.

The layout follows Google's Model Card Toolkit schema (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``) and adds
what it lacks: ``warnings``, ``fairness_analysis``, ``explainability``,
``governance`` (gate verdicts, approval, deployments, risk notes),
``lineage`` (the code and image that trained the model) and ``evidence``
(the sha256 of every document the card was built from). The JSON validates
against ``schemas/model_card.v1.json`` (JSON Schema draft 2020-12, see
:data:`JSON_SCHEMA_PATH`).

Nothing is typed by hand but the ``model_card:`` section of the config
(intended use, limitations, owners); every number is read from an artifact,
and what an artifact does not record is shown as "not recorded", never
left out, so that an auditor can tell a missing answer from a hidden one.

``warnings`` collects what must not be overlooked: the fairness step's
warnings, failed ``sanity:*`` gate checks, a model that predicts one class
only on the eval split (from the evaluation's ``prediction_counts`` or its
confusion matrix), and evidence documents that disagree about which model or
which data they describe.

The card is deterministic: the same evidence gives byte-identical JSON and
HTML. It carries no generation time; its date is the day of the gate's
decision (``governance.decided_at``), or ``null`` without a blessing.

>>> import tempfile, json
>>> from kfp_governance.config import default_config
>>> from kfp_governance.executors.load_data import load_data
>>> from kfp_governance.executors.train_model import train_model
>>> from kfp_governance.executors.evaluate_model import evaluate_model
>>> out = tempfile.mkdtemp(); cfg = default_config()
>>> loaded = load_data(cfg.data, cfg.split, f"{out}/train.parquet", f"{out}/eval.parquet")
>>> _ = train_model(f"{out}/train.parquet", f"{out}/model", label="loan", positive_label=">50K",
...                 estimator="logistic_regression")
>>> _ = evaluate_model(f"{out}/model", f"{out}/eval.parquet", output_json=f"{out}/evaluation.json")
>>> card = generate_model_card(f"{out}/model", card_config=cfg.model_card, data=loaded.metadata(),
...                            evaluation_json=f"{out}/evaluation.json",
...                            output_json=f"{out}/card.json", output_html=f"{out}/card.html")
>>> card["model_details"]["framework"], card["governance"]["decision"], card["governance"]["approval"]
('scikit-learn', 'NO GATE DECISION', None)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kfp_governance import __version__
from kfp_governance.config import ModelCardConfig
from kfp_governance.evidence import read_json_document
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import RECORD_FILE, read_record

log = logging.getLogger(__name__)
SCHEMA = "kfp-governance/model-card/v1"
JSON_SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "model_card.v1.json"
TOP_FEATURES = 10
DOCUMENTS = ("validation", "evaluation", "fairness", "explanation", "blessing")


def _read(path: str | Path | None) -> dict[str, Any] | None:
    return read_json_document(path)[0]


def _warning(source: str, kind: str, message: str) -> dict[str, str]:
    return {"source": source, "kind": kind, "message": message}


def _code(code: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Lineage in one shape, whether ``image`` is a plain string (older records) or ``{reference, digest}``."""
    if not code:
        return None
    image = code.get("image")
    if isinstance(image, Mapping):
        reference, digest = image.get("reference"), image.get("digest")
    elif isinstance(image, str) and image:
        reference, digest = image, (image.split("@", 1)[1] if "@sha256:" in image else None)
    else:
        reference = digest = None
    return {"package_version": code.get("package_version"), "git_commit": code.get("git_commit"),
            "git_dirty": code.get("git_dirty"), "commit_source": code.get("commit_source"),
            "image": {"reference": reference, "digest": digest}, "python_version": code.get("python_version")}


def _prediction_counts(evaluation: Mapping[str, Any]) -> dict[str, int] | None:
    counts = evaluation.get("prediction_counts")
    if isinstance(counts, Mapping) and counts.get("positive") is not None and counts.get("negative") is not None:
        return {"positive": int(counts["positive"]), "negative": int(counts["negative"])}
    matrix = (evaluation.get("confusion_matrix") or {}).get("matrix")
    try:  # rows are true labels, columns predictions: [[tn, fp], [fn, tp]]
        return {"positive": int(matrix[0][1] + matrix[1][1]), "negative": int(matrix[0][0] + matrix[1][0])}
    except (TypeError, IndexError, KeyError):
        return None


def _performance(evaluation: dict[str, Any] | None) -> dict[str, Any]:
    if not evaluation:
        return {"performance_metrics": [], "eval_rows": None, "confusion_matrix": None, "prediction_counts": None,
                "model_sha256": None, "eval_data_sha256": None, "champion": None, "note": "no evaluation evidence"}
    metrics = [{"type": name, "value": value, "slice": "eval split"}
               for name, value in (evaluation.get("metrics") or {}).items()]
    champion = evaluation.get("champion")
    return {
        "performance_metrics": metrics,
        "eval_rows": evaluation.get("rows"),
        "confusion_matrix": evaluation.get("confusion_matrix"),
        "prediction_counts": _prediction_counts(evaluation),
        "model_sha256": evaluation.get("model_sha256"),
        "eval_data_sha256": evaluation.get("eval_data_sha256"),
        "champion": ({"model_sha256": champion.get("model_sha256"), "metrics": champion.get("metrics") or {},
                      "deltas": evaluation.get("deltas") or {}} if champion else None),
    }


def _schema_features(features: Any) -> list[dict[str, Any]]:
    rows = []
    for f in features if isinstance(features, list) else []:
        domain = f.get("domain")
        rows.append({"name": f.get("name"), "type": f.get("type"), "presence": f.get("presence"),
                     "domain": list(domain) if isinstance(domain, list) else None,
                     "domain_size": f.get("domain_size", len(domain) if isinstance(domain, list) else None)})
    return rows


def _data_schema(validation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not validation:
        return None
    schema = validation.get("data_schema") or validation.get("schema")
    if not isinstance(schema, Mapping):
        return None
    return {"source": schema.get("source"), "path": schema.get("path"), "sha256": schema.get("sha256"),
            "features": _schema_features(schema.get("features"))}


def _statistics(validation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    statistics = (validation or {}).get("statistics")
    if not isinstance(statistics, Mapping):
        return None
    return {split: ({"path": entry.get("path"), "sha256": entry.get("sha256")} if isinstance(entry, Mapping) else None)
            for split, entry in ((s, statistics.get(s)) for s in ("train", "eval"))}


def _validation(validation: dict[str, Any] | None) -> dict[str, Any] | None:
    if not validation:
        return None
    drift = validation.get("drift") or {}
    skew = validation.get("skew") or {}
    return {
        "anomaly_count": validation.get("anomaly_count"),
        "anomalies": [{k: a.get(k) for k in ("split", "feature", "kind", "short_description")}
                      for a in validation.get("anomalies") or []],
        "baseline_statistics": drift.get("baseline_statistics"),
        "drifted_features": drift.get("exceeded") or [],
        "serving_statistics": skew.get("serving_statistics"),
        "skewed_features": skew.get("exceeded") or [],
        "unseen_values": validation.get("unseen_values") or [],
        "rows": validation.get("rows"),
    }


def _fairness(fairness: dict[str, Any] | None) -> dict[str, Any]:
    if not fairness:
        return {"attributes": [], "engine": None, "warnings": [], "min_group_size": None, "bootstrap": None,
                "model_sha256": None, "train_data_sha256": None, "eval_data_sha256": None,
                "note": "no fairness evidence"}
    attributes = []
    for name, entry in (fairness.get("attributes") or {}).items():
        sections = {}
        for section in ("data", "model", "champion"):
            block = entry.get(section)
            if not block:
                continue
            sections[section] = {
                "split": block.get("split"),
                "groups": block.get("groups") or {},
                "metrics": {m: {k: v.get(k) for k in ("value", "interval", "confidence", "status", "reason")}
                            for m, v in (block.get("metrics") or {}).items()},
            }
        attributes.append({"name": name, "privileged": entry.get("definition") or entry.get("privileged"),
                           "status": entry.get("status"), **sections})
    return {"attributes": attributes, "engine": fairness.get("engine"), "warnings": list(fairness.get("warnings") or []),
            "min_group_size": fairness.get("min_group_size"), "bootstrap": fairness.get("bootstrap"),
            "model_sha256": fairness.get("model_sha256"), "train_data_sha256": fairness.get("train_data_sha256"),
            "eval_data_sha256": fairness.get("eval_data_sha256")}


def _explanation_method(explanation: Mapping[str, Any]) -> dict[str, Any]:
    method = explanation.get("method")
    if isinstance(method, Mapping):
        return {k: method.get(k) for k in ("explainer", "explainer_class", "exact", "algorithm", "output_space", "reason")}
    approximate = explanation.get("approximate")  # older documents: top-level keys, no "method"
    return {"explainer": explanation.get("explainer"), "explainer_class": explanation.get("explainer_class"),
            "exact": None if approximate is None else not approximate, "algorithm": None,
            "output_space": explanation.get("output_space"), "reason": (explanation.get("plan") or {}).get("reason")}


def _explainability(explanation: dict[str, Any] | None) -> dict[str, Any]:
    if not explanation:
        return {"method": None, "sample": None, "top_features": [], "model_sha256": None, "eval_data_sha256": None,
                "note": "no explanation evidence"}
    sample = explanation.get("sample") or {}
    return {
        "method": _explanation_method(explanation),
        "sample": {k: sample.get(k) for k in ("eval_rows", "rows", "background_rows", "seed")},
        "top_features": [{"feature": f.get("feature"), "mean_abs_shap": f.get("mean_abs_shap")}
                         for f in (explanation.get("feature_importance") or [])[:TOP_FEATURES]],
        "model_sha256": explanation.get("model_sha256"),
        "eval_data_sha256": explanation.get("eval_data_sha256"),
    }


def _governance(blessing: dict[str, Any] | None, card: ModelCardConfig, approval: Mapping[str, Any] | None,
                deployments: Sequence[Mapping[str, Any]]) -> dict:
    blessing = blessing or {}
    return {"decision": blessing.get("decision") or "NO GATE DECISION", "blessed": bool(blessing.get("blessed")),
            "decided_at": blessing.get("decided_at"), "policy_sha256": blessing.get("policy_sha256"),
            "policy_source": blessing.get("policy_source"), "baseline": blessing.get("baseline"),
            "counts": blessing.get("counts"), "checks": list(blessing.get("checks") or []),
            "evidence": blessing.get("evidence") or {},
            "approval": dict(approval) if approval else None,
            "deployments": [dict(d) for d in deployments],
            "risk_notes": list(card.risk_notes)}


def _training_params(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    effective = record.get("params")
    requested = record.get("params_requested") or {}
    if not isinstance(effective, Mapping):  # not recorded: the overrides are all that is known
        return [{"name": k, "value": v, "requested": True} for k, v in sorted(requested.items())]
    names = sorted(set(effective) | set(requested))
    return [{"name": k, "value": effective.get(k, requested.get(k)), "requested": k in requested} for k in names]


def _warnings(record: Mapping[str, Any], docs: Mapping[str, dict | None], performance: Mapping[str, Any],
              read_sha256: Mapping[str, str | None]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    counts = performance.get("prediction_counts")
    if counts and min(counts["positive"], counts["negative"]) == 0:
        only = "negative" if counts["positive"] == 0 else "positive"
        found.append(_warning("evaluation", "one_class", (
            f"the model predicts one class only on the eval split: every one of {counts['positive'] + counts['negative']}"
            f" rows is predicted {only} ({counts['positive']} positive, {counts['negative']} negative)")))
    for text in (docs["fairness"] or {}).get("warnings") or []:
        found.append(_warning("fairness", "fairness", str(text)))
    for check in (docs["blessing"] or {}).get("checks") or []:
        if str(check.get("name", "")).startswith("sanity:") and check.get("verdict") == "fail":
            found.append(_warning("gate", "sanity_check", f"{check['name']} failed: {check.get('reason') or ''}".strip()))
    model_sha = record.get("model_sha256")
    for name in ("evaluation", "fairness", "explanation", "blessing"):
        other = (docs[name] or {}).get("model_sha256")
        if other and model_sha and other != model_sha:
            found.append(_warning(name, "mismatch", f"the {name} evidence is of model {other[:12]}, "
                                                    f"not of this model {model_sha[:12]}"))
    train_hashes = {"model record": (record.get("training_data") or {}).get("split_sha256"),
                    "validation": (docs["validation"] or {}).get("train_data_sha256"),
                    "fairness": (docs["fairness"] or {}).get("train_data_sha256"),
                    "blessing": (docs["blessing"] or {}).get("train_data_sha256")}
    eval_hashes = {name: (docs[name] or {}).get("eval_data_sha256")
                   for name in ("validation", "evaluation", "fairness", "explanation", "blessing")}
    for split, hashes in (("train", train_hashes), ("eval", eval_hashes)):
        known = {k: v for k, v in hashes.items() if v}
        if len(set(known.values())) > 1:
            found.append(_warning("evidence", "mismatch", f"the evidence names different {split} splits: " + ", ".join(
                f"{k} {v[:12]}" for k, v in known.items())))
    for name, entry in ((docs["blessing"] or {}).get("evidence") or {}).items():
        judged, shown = (entry or {}).get("sha256"), read_sha256.get(name)
        if judged and shown and judged != shown:
            found.append(_warning("gate", "mismatch", f"the gate judged a {name} document with sha256 {judged[:12]}, "
                                                      f"but the card shows one with sha256 {shown[:12]}"))
    unique = []
    for w in found:
        if w not in unique:
            unique.append(w)
    return unique


def build_model_card(record: Mapping[str, Any], *, card_config: ModelCardConfig, data: Mapping[str, Any],
                     validation: dict | None = None, evaluation: dict | None = None, fairness: dict | None = None,
                     explanation: dict | None = None, blessing: dict | None = None,
                     approval: Mapping[str, Any] | None = None, deployments: Sequence[Mapping[str, Any]] = (),
                     run: Mapping[str, Any] | None = None,
                     evidence_sha256: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The model card document from already-loaded evidence (see :func:`generate_model_card`).

    ``evidence_sha256`` maps document names (``validation``, ..., ``blessing``,
    ``model_record``) to the sha256 of the file each was read from.
    """
    sha = record["model_sha256"]
    name = card_config.name or f"{record['estimator']} for {record['label']} = {record['positive_label']}"
    train_data = record.get("training_data") or {}
    docs = {"validation": validation, "evaluation": evaluation, "fairness": fairness, "explanation": explanation,
            "blessing": blessing}
    read_sha256 = dict(evidence_sha256 or {})
    performance = _performance(evaluation)
    eval_split_sha = next((d.get("eval_data_sha256") for d in (evaluation, validation, fairness, explanation)
                           if d and d.get("eval_data_sha256")), None)
    decided_at = (blessing or {}).get("decided_at")
    trained_with = _code(record.get("code"))
    return {
        "schema": SCHEMA,
        "warnings": _warnings(record, docs, performance, read_sha256),
        "model_details": {
            "name": name,
            "overview": card_config.overview or (
                f"A scikit-learn {record.get('estimator_class', record['estimator'])} predicting whether "
                f"{record['label']!r} is {record['positive_label']!r} from {len(record.get('features', []))} features."),
            "version": {"name": sha[:12], "date": str(decided_at)[:10] if decided_at else None},
            "owners": [o.model_dump() for o in card_config.owners],
            "licenses": [card_config.license] if card_config.license else [],
            "framework": record.get("framework"),
            "estimator": record.get("estimator"),
            "model_sha256": sha,
            "versions": record.get("versions") or {},
        },
        "model_parameters": {
            "model_architecture": record.get("estimator_class"),
            "params": record.get("params"),
            "params_requested": record.get("params_requested") or {},
            "parameters": _training_params(record),
            "seed": record.get("seed"),
            "features": record.get("features", []),
            "label": record["label"],
            "positive_label": record["positive_label"],
            "data": {
                "train": {"uri": data.get("source_uri") or train_data.get("source_uri"),
                          "sha256": data.get("source_sha256") or train_data.get("source_sha256"),
                          "rows": data.get("train_rows", record.get("train_rows")),
                          "split_uri": train_data.get("split_uri"),
                          "split_sha256": train_data.get("split_sha256") or (validation or {}).get("train_data_sha256"),
                          "positive_rate": data.get("positive_rate_train", record.get("train_positive_rate"))},
                "eval": {"rows": data.get("eval_rows", performance.get("eval_rows")),
                         "positive_rate": data.get("positive_rate_eval"), "fraction": data.get("eval_fraction"),
                         "seed": data.get("split_seed"), "split_sha256": eval_split_sha},
                "statistics": _statistics(validation),
                "schema": _data_schema(validation),
                "validation": _validation(validation),
            },
        },
        "quantitative_analysis": performance,
        "fairness_analysis": _fairness(fairness),
        "explainability": _explainability(explanation),
        "considerations": {
            "users": card_config.users,
            "use_cases": [card_config.intended_use] if card_config.intended_use else [],
            "limitations": [card_config.limitations] if card_config.limitations else [],
            "tradeoffs": [card_config.tradeoffs] if card_config.tradeoffs else [],
            "ethical_considerations": [{"name": text} for text in card_config.ethical_considerations],
        },
        "governance": _governance(blessing, card_config, approval, deployments),
        "lineage": {
            **(trained_with or _code({"image": None})),
            "recorded": trained_with is not None,
            "gate_code": _code((blessing or {}).get("code")),
            "card_generator": {"package_version": __version__},
            **dict(run or {}),
        },
        "evidence": {name: {"present": read_sha256.get(name) is not None, "sha256": read_sha256.get(name)}
                     for name in ("model_record", *DOCUMENTS)},
    }


def _show(value: Any) -> str:
    """A parameter value as a Python literal (``None``, ``True``, ``'lbfgs'``), as scikit-learn prints it."""
    return repr(value) if isinstance(value, (str, bool, int, float)) or value is None else json.dumps(value)


def render_html(card: dict[str, Any]) -> str:
    """The card as one self-contained HTML page (no scripts, no network)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("kfp_governance", "templates"), autoescape=select_autoescape(["j2"]),
                      keep_trailing_newline=True)
    env.filters["show"] = _show
    columns: list[str] = []
    for deployment in card["governance"]["deployments"]:
        columns.extend(k for k in deployment if k not in columns)
    return env.get_template("model_card.html.j2").render(card=card, deployment_columns=columns)


def card_json(card: Mapping[str, Any]) -> str:
    """The card's JSON text: the same card always gives the same bytes."""
    return json.dumps(card, indent=2, default=str, ensure_ascii=False) + "\n"


def generate_model_card(model_dir: str | Path, *, card_config: ModelCardConfig | Mapping[str, Any] | None = None,
                        data: Mapping[str, Any] | None = None, validation_json: str | Path | None = None,
                        evaluation_json: str | Path | None = None, fairness_json: str | Path | None = None,
                        explanation_json: str | Path | None = None, blessing_json: str | Path | None = None,
                        approval: Mapping[str, Any] | None = None, deployments: Sequence[Mapping[str, Any]] = (),
                        run: Mapping[str, Any] | None = None,
                        output_json: str | Path | None = None, output_html: str | Path | None = None) -> dict:
    """Read the evidence files, build the card, write JSON and HTML; return the card.

    ``approval`` (the registry's approval record, or ``None``) and
    ``deployments`` (one entry per deployment, oldest first) come from
    registration; without them the card says that no approval is recorded
    and that the model was never deployed.
    """
    if not isinstance(card_config, ModelCardConfig):
        card_config = ModelCardConfig.model_validate(dict(card_config or {}))
    paths = {"validation": validation_json, "evaluation": evaluation_json, "fairness": fairness_json,
             "explanation": explanation_json, "blessing": blessing_json}
    record = read_record(model_dir)
    documents = {name: _read(path) for name, path in paths.items()}
    evidence_sha256 = {name: sha256_file(paths[name]) if documents[name] is not None else None for name in paths}
    evidence_sha256["model_record"] = sha256_file(Path(model_dir) / RECORD_FILE)
    card = build_model_card(record, card_config=card_config, data=dict(data or {}), **documents,
                            approval=approval, deployments=deployments, run=run, evidence_sha256=evidence_sha256)
    if output_json:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(output_json).write_text(card_json(card), encoding="utf-8")
    if output_html:
        Path(output_html).parent.mkdir(parents=True, exist_ok=True)
        Path(output_html).write_text(render_html(card), encoding="utf-8")
    log.info("model card for %s: %s, %d warning(s)", card["model_details"]["version"]["name"],
             card["governance"]["decision"], len(card["warnings"]))
    return card
