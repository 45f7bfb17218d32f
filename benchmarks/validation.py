"""TFDV statistics on a generated 1,000,000 x 20 CSV: our streamed path against the floor and Beam.

Goal: ours within 3x the floor (pyarrow reading the CSV and nothing else) and
at least 20x faster than ``tfdv.generate_statistics_from_csv`` (TFDV's default
Beam path, DirectRunner). Each step runs in its own subprocess so its peak
RSS is its own; TFDV's import time is measured apart from the statistics.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/validation.py                  # 1M rows, Beam too
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/validation.py --beam-rows 200000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/validation.py --rows 100000 --skip-beam

With ``--beam-rows`` smaller than ``--rows`` the Beam step runs on the first
``--beam-rows`` rows and its time at ``--rows`` is extrapolated from its rate
(labelled as such in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import print_table

NUMERIC, CATEGORICAL = 10, 10
CARDINALITIES = (2, 3, 5, 10, 20, 50, 100, 500, 1000, 5000)
NULL_SHARE = 0.05


def make_csv(path: Path, rows: int, seed: int) -> None:
    """20 columns: 10 numeric (floats and ints), 10 categorical (2 to 5,000 values, Zipf-like), 5% nulls each."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(NUMERIC):
        mask = rng.random(rows) < NULL_SHARE
        if i % 2 == 0:
            columns[f"num_{i}"] = pa.array(rng.normal(50.0 * i, 10.0 + i, rows), mask=mask)
        else:
            columns[f"int_{i}"] = pa.array(rng.integers(0, 1000 * (i + 1), rows), mask=mask)
    for i, cardinality in enumerate(CARDINALITIES):
        vocabulary = pa.array([f"c{i}_{k}" for k in range(cardinality)])
        weights = 1.0 / np.arange(1, cardinality + 1)
        codes = rng.choice(cardinality, rows, p=weights / weights.sum()).astype(np.int32)
        mask = rng.random(rows) < NULL_SHARE
        columns[f"cat_{i}"] = pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), vocabulary).cast(pa.string())
    pacsv.write_csv(pa.table(columns), str(path))


def head_csv(source: Path, target: Path, rows: int) -> None:
    """The header and the first ``rows`` data lines of ``source``."""
    with source.open("rb") as src, target.open("wb") as dst:
        for index, line in enumerate(src):
            if index > rows:
                break
            dst.write(line)


# --- steps, each run in a fresh subprocess -------------------------------------------------------


def step_floor(path: str) -> dict:
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    table = pacsv.read_csv(path)
    return {"seconds": time.perf_counter() - started, "rows": table.num_rows}


def step_ours(path: str) -> dict:
    started = time.perf_counter()
    import tensorflow_data_validation  # noqa: F401  (imported once per validate_data run)

    from kfp_governance.validation.statistics import statistics_from_file

    imported = time.perf_counter()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    stats = statistics_from_file(path)
    return {"seconds": time.perf_counter() - imported, "import_seconds": imported - started,
            "rows": stats.datasets[0].num_examples, "features": len(stats.datasets[0].features),
            "rss_after_import_mb": base_rss}


def step_dataframe(path: str) -> dict:
    import pyarrow.csv as pacsv
    import tensorflow_data_validation as tfdv

    started = time.perf_counter()
    frame = pacsv.read_csv(path).to_pandas()
    stats = tfdv.generate_statistics_from_dataframe(frame)
    return {"seconds": time.perf_counter() - started, "rows": stats.datasets[0].num_examples}


def step_beam(path: str) -> dict:
    import tensorflow_data_validation as tfdv

    started = time.perf_counter()
    stats = tfdv.generate_statistics_from_csv(path, output_path=os.path.join(tempfile.mkdtemp(), "stats.tfrecord"))
    return {"seconds": time.perf_counter() - started, "rows": stats.datasets[0].num_examples}


STEPS = {"floor": step_floor, "ours": step_ours, "dataframe": step_dataframe, "beam": step_beam}


def measure(step: str, path: Path) -> dict:
    """Run one step in a subprocess; its wall seconds, rows and peak RSS (MB)."""
    print(f"  running {step} on {path.name} ...", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, __file__, "--step", step, str(path)], capture_output=True, text=True, check=False,
                         env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                              "TF_CPP_MIN_LOG_LEVEL": "3"})
    if out.returncode:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"step {step} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_step(step: str, path: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    result = STEPS[step](path)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--beam-rows", type=int, default=None, help="rows for the Beam step (default: --rows)")
    parser.add_argument("--skip-beam", action="store_true")
    parser.add_argument("--no-dataframe", action="store_true", help="skip tfdv.generate_statistics_from_dataframe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        run_step(*args.step)
        return

    with tempfile.TemporaryDirectory(prefix="kfp-governance-bench-") as tmp:
        csv = Path(tmp) / "data.csv"
        started = time.perf_counter()
        make_csv(csv, args.rows, args.seed)
        print(f"generated {args.rows:,} x {NUMERIC + CATEGORICAL} CSV ({csv.stat().st_size / 1e6:.0f} MB, "
              f"{NULL_SHARE:.0%} nulls per column) in {time.perf_counter() - started:.1f} s; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
        results = {"floor": measure("floor", csv), "ours": measure("ours", csv)}
        if not args.no_dataframe:
            results["dataframe"] = measure("dataframe", csv)
        beam_rows = min(args.beam_rows or args.rows, args.rows)
        if not args.skip_beam:
            beam_csv = csv
            if beam_rows < args.rows:
                beam_csv = Path(tmp) / "head.csv"
                head_csv(csv, beam_csv, beam_rows)
            results["beam"] = measure("beam", beam_csv)
        load = os.getloadavg()[0]

    floor = results["floor"]["seconds"]
    beam_at_rows = None
    if "beam" in results:
        beam = results["beam"]
        beam_at_rows = beam["seconds"] * args.rows / beam["rows"]
    labels = {
        "floor": "pyarrow.csv.read_csv (floor)",
        "ours": "ours: streamed in-process statistics",
        "dataframe": "tfdv.generate_statistics_from_dataframe",
        "beam": "tfdv.generate_statistics_from_csv (Beam DirectRunner)",
    }
    rows = []
    for name, result in results.items():
        seconds = result["seconds"]
        speedup = f"{beam_at_rows / (seconds * args.rows / result['rows']):.0f}x" if beam_at_rows else "-"
        rows.append([labels[name], result["rows"], seconds, f"{seconds * args.rows / result['rows'] / floor:.1f}x",
                     speedup, f"{result['rows'] / seconds:,.0f}", f"{result['peak_rss_mb']:,.0f}"])
        if name == "beam" and result["rows"] < args.rows:
            rows.append([f"  Beam extrapolated to {args.rows:,} rows (rate above)", args.rows, beam_at_rows,
                         f"{beam_at_rows / floor:.1f}x", "1x", "-", "-"])
    print_table(f"Statistics of a {args.rows:,} x {NUMERIC + CATEGORICAL} CSV (OMP_NUM_THREADS="
                f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load average at end {load:.2f})",
                ["step", "rows", "wall s", "x floor", "Beam s / this s", "rows/s", "peak RSS MB"], rows)
    ours = results["ours"]
    print(f"TFDV import (once per process, not in 'wall s'): {ours['import_seconds']:.1f} s; "
          f"ours: RSS after imports {ours['rss_after_import_mb']:,.0f} MB, peak {ours['peak_rss_mb']:,.0f} MB")
    verdicts = [f"ours / floor = {ours['seconds'] / floor:.2f}x (goal <= 3x)"]
    if beam_at_rows:
        verdicts.append(f"Beam / ours = {beam_at_rows / ours['seconds']:.0f}x (goal >= 20x)")
    print("; ".join(verdicts))


if __name__ == "__main__":
    main()
