"""A bounded sample of served requests and their predictions, as JSON lines.

The model server writes one line per sampled row: the time, the model
version, the row's features and the prediction. The log is off by default; it
is the raw material for monitoring and for replaying real traffic through a
canary. Two bounds keep it safe to leave on:

* ``sample_rate``: the share of requests logged (0 < rate <= 1), drawn from a
  seeded random generator so a run is reproducible;
* ``max_bytes``: the file never grows past this size; once full, further rows
  are counted as dropped, never written half.

>>> import json, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "requests.jsonl")
>>> log = RequestLog(path, max_bytes=300, sample_rate=1.0)
>>> log.write([{"age": 39}], [{"label": 0, "probability": 0.25}], model_version="3")
1
>>> json.loads(open(path).readline())["features"]
{'age': 39}
>>> sum(log.write([{"age": i}], [{"label": 1, "probability": 0.9}]) for i in range(10)) < 10
True
>>> os.path.getsize(path) <= 300
True
>>> read_request_log(path)[0]["prediction"]["label"]
0
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class RequestLog:
    """Append sampled (features, prediction) rows to ``path`` as JSON lines, never past ``max_bytes``."""

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, sample_rate: float = 1.0,
                 seed: int = 0):
        if max_bytes <= 0:
            raise ValueError(f"request log max_bytes must be positive, got {max_bytes}")
        if not 0 < sample_rate <= 1:
            raise ValueError(f"request log sample_rate must be in (0, 1], got {sample_rate}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.sample_rate = float(sample_rate)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._size = self.path.stat().st_size if self.path.exists() else 0
        self.written = 0
        self.dropped = 0

    @property
    def full(self) -> bool:
        return self._size >= self.max_bytes

    def write(self, rows: list[dict[str, Any]], predictions: list[dict[str, Any]], *,
              model_version: str | None = None, protocol: str | None = None) -> int:
        """Log the sampled share of ``rows`` with their ``predictions``; return how many rows were written."""
        written = 0
        with self._lock:
            lines = []
            for row, prediction in zip(rows, predictions):
                if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
                    continue
                line = json.dumps({"time": round(time.time(), 3), "model_version": model_version, "protocol": protocol,
                                   "features": row, "prediction": prediction}, default=_plain, sort_keys=True) + "\n"
                encoded = line.encode("utf-8")
                if self._size + len(encoded) > self.max_bytes:
                    self.dropped += 1
                    continue
                lines.append(encoded)
                self._size += len(encoded)
                written += 1
            if lines:
                with open(self.path, "ab") as stream:
                    stream.write(b"".join(lines))
            self.written += written
        return written


def read_request_log(path: str | Path) -> list[dict[str, Any]]:
    """Every logged row of a request log (an empty list when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and other values that know ``item()`` or ``tolist()``."""
    for attribute in ("item", "tolist"):
        if hasattr(value, attribute):
            return getattr(value, attribute)()
    return str(value)
