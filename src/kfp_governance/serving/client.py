"""A tiny HTTP client for our model server's v1 ``:predict`` and v2 ``/infer`` routes (standard library only).

Used by the deployment judge and the tests to ask an :class:`~kfp_governance.serving.base.Endpoint` for labels
and probabilities; every call has a timeout, and every failure is a :class:`DeploymentError` naming the URL.

>>> Prediction(labels=[1], probabilities=[0.8]).labels
[1]
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from kfp_governance.errors import DeploymentError

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Prediction:
    """The answer for a batch of rows: ``labels`` (1 = the positive label) and the positive class's ``probabilities``."""

    labels: list[int]
    probabilities: list[float]
    seconds: float = 0.0


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    data = json.dumps(body, default=_plain).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")[:500]
        raise DeploymentError(f"{url} answered HTTP {err.code}: {detail}",
                              fix="check the request's features against the model's record") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise DeploymentError(f"{url} did not answer within {timeout} s: {reason}",
                              fix="check that the model server is running and reachable") from None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON has no NaN: a missing numeric value travels as null."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


def predict_v1(url: str, model: str, rows: list[dict[str, Any]], *, timeout: float = DEFAULT_TIMEOUT) -> Prediction:
    """POST ``rows`` to ``{url}/v1/models/{model}:predict``."""
    started = time.perf_counter()
    answer = _post(f"{url.rstrip('/')}/v1/models/{model}:predict", {"instances": _clean(rows)}, timeout)
    seconds = time.perf_counter() - started
    try:
        predictions = answer["predictions"]
        return Prediction([int(p["label"]) for p in predictions], [float(p["probability"]) for p in predictions],
                          seconds)
    except (KeyError, TypeError, ValueError):
        raise DeploymentError(f"{url} answered without labels and probabilities: {str(answer)[:300]}",
                              fix="serve the model with kfp_governance.serving.model_server") from None


def predict_v2(url: str, model: str, rows: list[dict[str, Any]], *, timeout: float = DEFAULT_TIMEOUT,
               tensors: bool = True) -> Prediction:
    """POST ``rows`` to ``{url}/v2/models/{model}/infer``.

    One tensor per feature, or (``tensors=False``) one BYTES tensor of JSON rows.
    """
    rows = _clean(rows)
    if tensors:
        inputs = []
        for name in rows[0]:
            values = [row[name] for row in rows]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in values)
            inputs.append({"name": name, "shape": [len(values)], "datatype": "FP64" if numeric else "BYTES",
                           "data": values if numeric else [None if v is None else str(v) for v in values]})
    else:
        inputs = [{"name": "rows", "shape": [len(rows)], "datatype": "BYTES",
                   "data": [json.dumps(row, default=_plain) for row in rows]}]
    started = time.perf_counter()
    answer = _post(f"{url.rstrip('/')}/v2/models/{model}/infer", {"inputs": inputs}, timeout)
    seconds = time.perf_counter() - started
    try:
        outputs = {o["name"]: o["data"] for o in answer["outputs"]}
        return Prediction([int(v) for v in outputs["label"]], [float(v) for v in outputs["probability"]], seconds)
    except (KeyError, TypeError, ValueError):
        raise DeploymentError(f"{url} answered without label and probability outputs: {str(answer)[:300]}",
                              fix="serve the model with kfp_governance.serving.model_server") from None


def predict(endpoint, rows: list[dict[str, Any]], *, protocol: str = "v1", timeout: float = DEFAULT_TIMEOUT) -> Prediction:
    """Ask an :class:`~kfp_governance.serving.base.Endpoint` for ``rows`` over ``protocol`` (``v1`` or ``v2``)."""
    if protocol == "v1":
        return predict_v1(endpoint.url, endpoint.model, rows, timeout=timeout)
    if protocol == "v2":
        return predict_v2(endpoint.url, endpoint.model, rows, timeout=timeout)
    raise ValueError(f"protocol must be 'v1' or 'v2', got {protocol!r}")


def is_ready(url: str, model: str, *, timeout: float = 2.0) -> bool:
    """True when ``{url}/v2/models/{model}/ready`` answers 200 (the model is loaded)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v2/models/{model}/ready", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        return False


def predict_probabilities(endpoint, rows: list[dict[str, Any]], *, protocol: str = "v1",
                          timeout: float = DEFAULT_TIMEOUT) -> list[float]:
    """The positive class's probability for each of ``rows`` (the deployment judge's predictor)."""
    return predict(endpoint, rows, protocol=protocol, timeout=timeout).probabilities
