"""Reading the JSON evidence one step leaves for the next (gate, model card, run summary)."""

from __future__ import annotations

import json
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
