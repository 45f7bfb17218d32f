"""Reading the JSON evidence one step leaves for the next (gate, model card, run summary)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


def read_json_document(path: str | Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """``(document, None)`` for a non-empty JSON object at ``path``, else ``(None, why not)``.

    >>> read_json_document(None)
    (None, 'no path given')
    >>> read_json_document("/nonexistent/evaluation.json")
    (None, 'file does not exist')
    """
    if not path:
        return None, "no path given"
    path = Path(path)
    if not path.is_file():
        return None, "file does not exist"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not valid JSON: {err}"
    if not isinstance(document, dict) or not document:
        return None, "empty document"
    return document, None


SCHEMAS = ("validation", "evaluation", "fairness", "explanation", "blessing", "model_card")


@cache
def document_schema(kind: str) -> dict[str, Any]:
    """The published JSON Schema of an evidence document (``kfp_governance/schemas/<kind>.v1.json``).

    >>> document_schema("evaluation")["$id"]
    'kfp-governance/evaluation/v1'
    """
    if kind not in SCHEMAS:
        raise ValueError(f"unknown evidence kind {kind!r}; expected one of {SCHEMAS}")
    text = resources.files("kfp_governance").joinpath("schemas", f"{kind}.v1.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema_problems(kind: str, document: Any, limit: int = 3) -> list[str]:
    """Why ``document`` does not match its published schema (empty when it does), at most ``limit`` reasons.

    >>> schema_problems("evaluation", {"schema": "kfp-governance/evaluation/v1"})[0]
    "(document): 'champion' is a required property"
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(document_schema(kind))
    errors = sorted(validator.iter_errors(document), key=lambda e: (list(e.absolute_path), e.message))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}" for e in errors[:limit]]
