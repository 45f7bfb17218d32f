"""Generate a model card (HTML for people, JSON for machines) from the run's evidence only.

The layout follows Google's Model Card Toolkit schema (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``) and adds
what it lacks: ``fairness_analysis``, ``explainability``, ``governance``
(gate verdicts, approval, risk notes) and ``lineage``. Nothing is typed by
hand but the ``model_card:`` section of the config (intended use,
limitations, owners); every number is read from an artifact.

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
>>> card["model_details"]["framework"], card["governance"]["decision"]
('scikit-learn', 'NO GATE DECISION')
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfp_governance.config import ModelCardConfig
from kfp_governance.evidence import read_json_document
from kfp_governance.lineage import code_version
from kfp_governance.model_io import read_record

log = logging.getLogger(__name__)
SCHEMA = "kfp-governance/model-card/v1"
TOP_FEATURES = 10


def _read(path: str | Path | None) -> dict[str, Any] | None:
    return read_json_document(path)[0]


def _performance(evaluation: dict[str, Any] | None) -> dict[str, Any]:
    if not evaluation:
        return {"performance_metrics": [], "note": "no evaluation evidence"}
    metrics = [{"type": name, "value": value, "slice": "eval split"} for name, value in evaluation["metrics"].items()]
    champion = evaluation.get("champion")
    return {
        "performance_metrics": metrics,
        "eval_rows": evaluation.get("rows"),
        "confusion_matrix": evaluation.get("confusion_matrix"),
        "champion": ({"model_sha256": champion["model_sha256"], "metrics": champion["metrics"],
                      "deltas": evaluation.get("deltas")} if champion else None),
    }


def _validation(validation: dict[str, Any] | None) -> dict[str, Any] | None:
    if not validation:
        return None
    drift = validation.get("drift") or {}
    return {
        "anomaly_count": validation.get("anomaly_count"),
        "anomalies": [{k: a.get(k) for k in ("split", "feature", "kind", "short_description")}
                      for a in validation.get("anomalies", [])],
        "baseline_statistics": drift.get("baseline_statistics"),
        "drifted_features": drift.get("exceeded", []),
        "schema": validation.get("schema"),
        "rows": validation.get("rows"),
    }


def _fairness(fairness: dict[str, Any] | None) -> dict[str, Any]:
    if not fairness:
        return {"attributes": [], "note": "no fairness evidence"}
    attributes = []
    for name, entry in (fairness.get("attributes") or {}).items():
        sections = {}
        for section in ("data", "model", "champion"):
            block = entry.get(section)
            if not block:
                continue
            sections[section] = {
                "split": block.get("split"),
                "groups": block.get("groups"),
                "metrics": {m: {k: v.get(k) for k in ("value", "interval", "status")}
                            for m, v in (block.get("metrics") or {}).items()},
            }
        attributes.append({"name": name, "privileged": entry.get("definition") or entry.get("privileged"),
                           "status": entry.get("status"), **sections})
    return {"attributes": attributes, "engine": fairness.get("engine"), "warnings": fairness.get("warnings", []),
            "min_group_size": fairness.get("min_group_size"), "bootstrap": fairness.get("bootstrap")}


def _explainability(explanation: dict[str, Any] | None) -> dict[str, Any]:
    if not explanation:
        return {"top_features": [], "note": "no explanation evidence"}
    return {
        "method": f"SHAP {explanation.get('explainer')} ({explanation.get('output_space')})",
        "rows_explained": (explanation.get("sample") or {}).get("rows"),
        "top_features": explanation.get("feature_importance", [])[:TOP_FEATURES],
    }


def _governance(blessing: dict[str, Any] | None, card: ModelCardConfig, approval: dict[str, Any] | None) -> dict:
    if not blessing:
        return {"decision": "NO GATE DECISION", "blessed": False, "checks": [], "approval": approval,
                "risk_notes": card.risk_notes}
    return {"decision": blessing.get("decision"), "blessed": blessing.get("blessed"),
            "decided_at": blessing.get("decided_at"), "policy_sha256": blessing.get("policy_sha256"),
            "policy_source": blessing.get("policy_source"), "baseline": blessing.get("baseline"),
            "counts": blessing.get("counts"), "checks": blessing.get("checks", []), "approval": approval,
            "risk_notes": card.risk_notes}


def build_model_card(record: Mapping[str, Any], *, card_config: ModelCardConfig, data: Mapping[str, Any],
                     validation: dict | None = None, evaluation: dict | None = None, fairness: dict | None = None,
                     explanation: dict | None = None, blessing: dict | None = None,
                     approval: dict | None = None, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model card document from already-loaded evidence (see :func:`generate_model_card`)."""
    sha = record["model_sha256"]
    name = card_config.name or f"{record['estimator']} for {record['label']} = {record['positive_label']}"
    train_data = record.get("training_data", {})
    return {
        "schema": SCHEMA,
        "model_details": {
            "name": name,
            "overview": card_config.overview or (
                f"A scikit-learn {record.get('estimator_class', record['estimator'])} predicting whether "
                f"{record['label']!r} is {record['positive_label']!r} from {len(record['features'])} features."),
            "version": {"name": sha[:12], "date": dt.datetime.now(dt.UTC).date().isoformat()},
            "owners": [o.model_dump() for o in card_config.owners],
            "licenses": [card_config.license] if card_config.license else [],
            "framework": record.get("framework"),
            "estimator": record.get("estimator"),
            "model_sha256": sha,
            "versions": record.get("versions", {}),
        },
        "model_parameters": {
            "model_architecture": record.get("estimator_class"),
            "params": record.get("params_requested") or {},
            "features": record.get("features", []),
            "label": record["label"],
            "positive_label": record["positive_label"],
            "data": {
                "train": {"uri": data.get("source_uri"), "sha256": data.get("source_sha256"),
                          "rows": data.get("train_rows"), "split_sha256": train_data.get("split_sha256"),
                          "positive_rate": data.get("positive_rate_train")},
                "eval": {"rows": data.get("eval_rows"), "positive_rate": data.get("positive_rate_eval"),
                         "fraction": data.get("eval_fraction"), "seed": data.get("split_seed")},
                "validation": _validation(validation),
            },
        },
        "quantitative_analysis": _performance(evaluation),
        "fairness_analysis": _fairness(fairness),
        "explainability": _explainability(explanation),
        "considerations": {
            "users": card_config.users,
            "use_cases": [card_config.intended_use] if card_config.intended_use else [],
            "limitations": [card_config.limitations] if card_config.limitations else [],
            "tradeoffs": [card_config.tradeoffs] if card_config.tradeoffs else [],
            "ethical_considerations": [{"name": text} for text in card_config.ethical_considerations],
        },
        "governance": _governance(blessing, card_config, approval),
        "lineage": {**code_version(), "trained_with": record.get("code", {}), **dict(run or {})},
    }


def render_html(card: dict[str, Any]) -> str:
    """The card as one self-contained HTML page (no scripts, no network)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("kfp_governance", "templates"), autoescape=select_autoescape(["j2"]))
    return env.get_template("model_card.html.j2").render(card=card)


def generate_model_card(model_dir: str | Path, *, card_config: ModelCardConfig | Mapping[str, Any] | None = None,
                        data: Mapping[str, Any] | None = None, validation_json: str | Path | None = None,
                        evaluation_json: str | Path | None = None, fairness_json: str | Path | None = None,
                        explanation_json: str | Path | None = None, blessing_json: str | Path | None = None,
                        approval: dict | None = None, run: Mapping[str, Any] | None = None,
                        output_json: str | Path | None = None, output_html: str | Path | None = None) -> dict:
    """Read the evidence files, build the card, write JSON and HTML; return the card."""
    if not isinstance(card_config, ModelCardConfig):
        card_config = ModelCardConfig.model_validate(dict(card_config or {}))
    card = build_model_card(
        read_record(model_dir), card_config=card_config, data=dict(data or {}), validation=_read(validation_json),
        evaluation=_read(evaluation_json), fairness=_read(fairness_json), explanation=_read(explanation_json),
        blessing=_read(blessing_json), approval=approval, run=run,
    )
    if output_json:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(output_json).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    if output_html:
        Path(output_html).parent.mkdir(parents=True, exist_ok=True)
        Path(output_html).write_text(render_html(card), encoding="utf-8")
    log.info("model card for %s: %s", card["model_details"]["version"]["name"], card["governance"]["decision"])
    return card
