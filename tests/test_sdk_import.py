"""The SDK part imports only kfp: users compile our components with their own kfp."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["tensorflow", "tensorflow_data_validation", "sklearn", "shap", "aif360", "google.cloud.aiplatform",
         "mlflow", "mlserver", "pandas", "pyarrow", "pydantic", "typer", "rich"]


def test_component_and_pipeline_definitions_import_nothing_heavy():
    code = (
        "import sys, json\n"
        "import kfp_governance.components, kfp_governance.pipelines.training\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_sdk_declares_only_kfp():
    from importlib.metadata import requires

    base = [r for r in requires("kfp-governance") if "extra ==" not in r]
    assert base == ["kfp<3,>=2.13"] or base == ["kfp>=2.13,<3"]
