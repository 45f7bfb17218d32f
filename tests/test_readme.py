"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def test_every_config_key_in_the_readme_example_is_valid(tmp_path):
    import yaml

    from kfp_governance.config import parse_config

    text = (REPO / "README.md").read_text()
    block = re.search(r"## Configuration.*?```yaml\n(.*?)```", text, flags=re.S).group(1)
    parse_config(yaml.safe_load(block), "README example")
    gate_block = re.search(r"### The gate.*?```yaml\n(.*?)```", text, flags=re.S).group(1)
    parse_config({"data": {"uri": "x.csv", "label": "y", "positive_label": "1"}, **yaml.safe_load(gate_block)},
                 "README gate example")
