"""The evaluation half in one run: fairness at 1M rows, then SHAP and the whole explain step.

Fairness (goal: our step within 5x a plain numpy floor at 1,000,000 rows;
AIF360 itself beside them) comes from ``fairness_bench.py``; SHAP on 1k and
10k rows for random forest and hist gradient boosting, and the whole
``explain_model`` step at the default budget (goal: under 20 s), from
``explain_bench.py``. Either part runs alone too.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/evaluation.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import explain_bench
import fairness_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k fairness rows, 1k SHAP rows, no AIF360")
    args = parser.parse_args()
    fairness_args = ["--rows", "100000", "--no-aif360"] if args.quick else []
    fairness_bench.main(fairness_args)
    print()
    explain_bench.main(["--quick"] if args.quick else [])


if __name__ == "__main__":
    main()
