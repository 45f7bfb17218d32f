"""How much importing our SDK part adds to importing ``kfp.dsl`` (goal: under 0.3 s).

Each figure is the median of fresh interpreters, measured in the same run:
``kfp.dsl`` alone (the floor) and ``kfp.dsl`` plus every component and the
reference pipelines.

    .venv/bin/python benchmarks/sdk_import.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import print_table  # noqa: E402

CASES = {
    "kfp.dsl (floor)": "import kfp.dsl",
    "kfp.dsl + kfp_governance components and pipelines":
        "import kfp.dsl, kfp_governance.components, kfp_governance.pipelines.training",
}


def measure(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {name: measure(code, args.repeat) for name, code in CASES.items()}
    floor = results["kfp.dsl (floor)"]
    rows = [[name, seconds, seconds - floor, f"{seconds / floor:.2f}x"] for name, seconds in results.items()]
    print_table(f"SDK import time (median of {args.repeat} fresh interpreters)",
                ["import", "seconds", "added s", "vs floor"], rows)


if __name__ == "__main__":
    main()
