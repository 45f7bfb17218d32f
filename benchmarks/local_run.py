"""Wall time of the default ``kfp-governance run``, per task (goal: under 60 s end to end).

Beside it, the floor: the same executors called in one process, without
kfp.local (no subprocess per task, libraries imported once). The difference
is what running the pipeline as a pipeline costs locally.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/local_run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import print_table


def run_cli(output: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kfp_governance.pipelines.cli", "run", "--output", str(output)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, json.loads((output / "summary.json").read_text())


def run_in_process(folder: Path) -> dict[str, float]:
    """The floor: every executor of the training pipeline, called directly in one process."""
    code = f"""
import json, time
t = {{}}
def timed(name, fn):
    s = time.perf_counter(); fn(); t[name] = time.perf_counter() - s
from kfp_governance.config import default_config
from kfp_governance.executors.load_data import load_data
from kfp_governance.executors.validate_data import validate_data
from kfp_governance.executors.train_model import train_model
from kfp_governance.executors.evaluate_model import evaluate_model
from kfp_governance.executors.evaluate_fairness import evaluate_fairness
from kfp_governance.executors.explain_model import explain_model
from kfp_governance.executors.gate import gate
from kfp_governance.executors.model_card import generate_model_card
cfg = default_config(); f = {str(folder)!r}
tr, ev, m = f + '/train.parquet', f + '/eval.parquet', f + '/model'
timed('load-data', lambda: load_data(cfg.data, cfg.split, tr, ev))
timed('validate-data', lambda: validate_data(tr, ev, label='loan', train_statistics_path=f + '/ts',
      eval_statistics_path=f + '/es', schema_path=f + '/schema', anomalies_path=f + '/anomalies.json',
      report_path=f + '/validation.html'))
timed('train-model', lambda: train_model(tr, m, label='loan', positive_label='>50K',
      estimator=cfg.training.estimator))
timed('evaluate-model', lambda: evaluate_model(m, ev, output_json=f + '/evaluation.json'))
timed('evaluate-fairness', lambda: evaluate_fairness(m, tr, ev, protected_attributes=cfg.data.protected_attributes,
      config=cfg.fairness, output_json=f + '/fairness.json', output_html=f + '/fairness.html'))
timed('explain-model', lambda: explain_model(m, ev, config=cfg.explain, output_json=f + '/explanation.json',
      output_html=f + '/explanation.html'))
from kfp_governance.model_io import read_record
timed('gate', lambda: gate(cfg.gates, model_sha256=read_record(m)['model_sha256'],
      protected_attributes=['gender', 'ethnicity'], validation_json=f + '/anomalies.json',
      evaluation_json=f + '/evaluation.json', fairness_json=f + '/fairness.json',
      explanation_json=f + '/explanation.json', output_json=f + '/blessing.json'))
timed('generate-model-card', lambda: generate_model_card(m, card_config=cfg.model_card,
      blessing_json=f + '/blessing.json', output_json=f + '/card.json', output_html=f + '/card.html'))
print(json.dumps(t))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        floor_started = time.perf_counter()
        floor = run_in_process(Path(tmp))
        floor_total = time.perf_counter() - floor_started
        total, summary = run_cli(Path(tmp) / "run")
    rows = []
    for task in summary["tasks"]:
        base = floor.get(task["name"])
        rows.append([task["name"], task["seconds"], base if base is not None else "-",
                     f"{task['seconds'] / base:.1f}x" if base else "-"])
    rows.append(["total (wall, incl. start-up and imports)", total, floor_total, f"{total / floor_total:.1f}x"])
    print_table("default `kfp-governance run` (bundled UCI Adult, 32,561 rows), seconds",
                ["task", "kfp.local", "in-process floor", "ratio"], rows)
    print(f"goal: under 60 s end to end -> {'met' if total < 60 else 'NOT met'} ({total:.1f} s)")


if __name__ == "__main__":
    main()
