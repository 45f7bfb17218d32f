"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_single_component_example_runs(tmp_path):
    block = next(b for b in _python_blocks() if "local.init" in b)
    code = block.replace('"src/kfp_governance/data/adult.csv.gz"', repr(str(REPO / "src/kfp_governance/data/adult.csv.gz")))
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "finished with status" in result.stdout and "FAILURE" not in result.stdout


def _yaml_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    return re.search(heading + r".*?```yaml\n(.*?)```", text, flags=re.S).group(1)


def _run(config: dict, tmp_path: Path, name: str) -> dict:
    import json

    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    checked = run_cli("check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = run_cli("run", "--config", str(path), "--output", str(tmp_path / name))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_the_readme_configs_run_as_written(tmp_path):
    """The configuration example, then the gate example on top of it with the first run's model as champion:
    both pass check-config and run to the end, and every typed value reaches the executor with its type."""
    import json

    import joblib
    import yaml

    config = yaml.safe_load(_yaml_block("## Configuration"))
    config["data"]["uri"] = str(REPO / config["data"]["uri"])  # the example is written for the top folder
    first = _run(config, tmp_path, "config-example")

    model_dir = Path(first["model"]["path"])
    record = json.loads((model_dir / "model_record.json").read_text())
    assert record["params_requested"] == {"max_iter": 200, "learning_rate": 0.05}
    assert type(record["params_requested"]["max_iter"]) is int
    estimator = joblib.load(model_dir / "model.joblib").named_steps["model"]
    assert estimator.max_iter == 200 and type(estimator.max_iter) is int
    assert estimator.learning_rate == 0.05

    gate_example = yaml.safe_load(_yaml_block("### The gate"))
    gate_example["champion"]["model_uri"] = str(model_dir)
    second = _run({**config, **gate_example}, tmp_path, "gate-example")
    names = {c["name"] for c in second["gate"]["checks"]}
    assert {"min_recall", "max_regression:roc_auc", "explanations:require_exact", "explanations:min_rows",
            "sanity:predicts_both_classes"} <= names
    regression = next(c for c in second["gate"]["checks"] if c["name"] == "max_regression:roc_auc")
    assert regression["verdict"] != "skipped"  # the champion was found, verified and re-scored
