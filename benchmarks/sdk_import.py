"""How much importing our SDK part adds to importing ``kfp.dsl`` (goal: under 0.3 s).

Measured in the same run, in fresh interpreters, interleaved so that a busy
machine slows both sides alike:

* ``kfp.dsl`` alone: the floor;
* ``kfp.dsl`` plus every component and the reference pipelines;
* the added time measured inside one interpreter: the clock read after
  ``import kfp.dsl`` and again after importing ours (least noisy).

    .venv/bin/python benchmarks/sdk_import.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import print_table

FLOOR = "import kfp.dsl"
OURS = "import kfp.dsl, kfp_governance.components, kfp_governance.pipelines.training"
ADDED = ("import time, kfp.dsl\n"
         "s = time.perf_counter()\n"
         "import kfp_governance.components, kfp_governance.pipelines.training\n"
         "print(time.perf_counter() - s)")


def wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    floor, ours, added = [], [], []
    for _ in range(args.repeat):
        floor.append(wall(FLOOR))
        ours.append(wall(OURS))
        out = subprocess.run([sys.executable, "-c", ADDED], check=True, capture_output=True, text=True)
        added.append(float(out.stdout))
    f, o, a = statistics.median(floor), statistics.median(ours), statistics.median(added)
    print_table(f"SDK import time, seconds (median of {args.repeat} fresh interpreters, interleaved)",
                ["import", "seconds", "vs floor"],
                [["kfp.dsl (floor)", f, "1.00x"], ["kfp.dsl + our components and pipelines", o, f"{o / f:.2f}x"],
                 ["added by ours, timed inside one interpreter", a, f"{a / f:.3f}x"]])
    print(f"goal: under 0.3 s added -> {'met' if a < 0.3 else 'NOT met'} ({a:.3f} s)")


if __name__ == "__main__":
    main()
