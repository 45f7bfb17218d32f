"""Latency of our KServe model server on 127.0.0.1 beside an in-process predict_proba (the floor).

p50/p99 of N single-row v1 and v2 requests, and throughput with batches of 100 rows, for the
logistic-regression model on UCI Adult. Needs .venv-serving (`make serving`).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving.py [--requests 1000] [--estimator logistic_regression]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

from kfp_governance.config import default_config
from kfp_governance.executors.load_data import load_data
from kfp_governance.executors.train_model import train_model
from kfp_governance.model_io import read_record
from kfp_governance.serving import client
from kfp_governance.serving.local import LocalProcessBackend


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--estimator", default="logistic_regression")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    config = default_config()
    load_data(config.data, config.split, work / "train.parquet", work / "eval.parquet")
    train_model(work / "train.parquet", work / "model", label="loan", positive_label=">50K", estimator=args.estimator)
    record = read_record(work / "model")
    features = record["features"]
    frame = pd.read_parquet(work / "eval.parquet")[features]
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in frame.to_dict("records")]
    model = joblib.load(work / "model" / "model.joblib")

    backend = LocalProcessBackend(work / "state", allow_pickle=True)
    started = time.perf_counter()
    rollout = backend.start_canary("bench", work / "model", version="1", model_sha256=record["model_sha256"], percent=100)
    start_seconds = time.perf_counter() - started
    endpoint = rollout.canary
    try:
        n = args.requests
        single = [rows[i % len(rows)] for i in range(n)]
        for row in single[:20]:  # warm up
            client.predict(endpoint, [row])
            client.predict(endpoint, [row], protocol="v2")
        results = []
        floor = []
        for i in range(n):
            t = time.perf_counter()
            model.predict_proba(frame.iloc[[i % len(frame)]])
            floor.append(time.perf_counter() - t)
        results.append(["in-process predict_proba (1 row)", n, *_percentiles(floor), n / sum(floor)])
        for protocol in ("v1", "v2"):
            times = []
            for row in single:
                t = time.perf_counter()
                client.predict(endpoint, [row], protocol=protocol)
                times.append(time.perf_counter() - t)
            results.append([f"HTTP {protocol} (1 row)", n, *_percentiles(times), n / sum(times)])
        batches = [rows[i:i + 100] for i in range(0, min(len(rows), 100 * 50), 100)]
        t = time.perf_counter()
        for batch in batches:
            model.predict_proba(pd.DataFrame(batch, columns=features))
        elapsed = time.perf_counter() - t
        results.append(["in-process predict_proba (100 rows)", len(batches), float("nan"), float("nan"),
                        100 * len(batches) / elapsed])
        for protocol in ("v1", "v2"):
            times = []
            for batch in batches:
                t = time.perf_counter()
                client.predict(endpoint, batch, protocol=protocol)
                times.append(time.perf_counter() - t)
            results.append([f"HTTP {protocol} (100 rows)", len(batches), *_percentiles(times),
                            100 * len(batches) / sum(times)])
    finally:
        backend.stop("bench")
    print_table(f"model server on 127.0.0.1 ({args.estimator}; server start to ready {start_seconds:.1f} s)",
                ["path", "requests", "p50 ms", "p99 ms", "rows/s"],
                [[r[0], r[1], *("-" if v != v else round(v, 2) for v in r[2:4]), round(r[4])] for r in results])


if __name__ == "__main__":
    main()
