"""Run the load_data component inside the image exactly as a KFP task runs it.

The container command and arguments come from the compiled component (what
the KFP backend or Vertex AI would start), the executor input names the
bundled UCI Adult data, and the outputs land in a temporary folder. Used by
images/build-local.sh; needs nothing but the image.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import yaml
from kfp import compiler

from kfp_governance.components.load_data import load_data
from kfp_governance.datasets import adult_csv_path

work = tempfile.mkdtemp()
spec_path = os.path.join(work, "component.yaml")
compiler.Compiler().compile(load_data, spec_path)
with open(spec_path) as f:
    spec = yaml.safe_load(f)
(executor,) = spec["deploymentSpec"]["executors"].values()
container = executor["container"]

outputs = {name: os.path.join(work, name) for name in ("train_data", "eval_data")}
executor_input = {
    "inputs": {"parameterValues": {
        "data_uri": str(adult_csv_path()), "label": "loan", "positive_label": ">50K",
        "data_format": "csv", "na_values": ["?"], "features": [], "protected_attributes": [],
        "eval_fraction": 0.2, "split_seed": 42}},
    "outputs": {
        "artifacts": {name: {"artifacts": [{"name": name, "type": {"schemaTitle": "system.Dataset"},
                                             "uri": path, "metadata": {}}]}
                      for name, path in outputs.items()},
        "outputFile": os.path.join(work, "executor_output.json"),
    },
}
argv = container["command"] + [
    json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]]
print("declared image:", container["image"], "(run here in the image under test)")
print("command:", " ".join(container["command"][:2]), "... executor_main", " ".join(container["args"][2:]))
start = time.perf_counter()
subprocess.run(argv, check=True)
elapsed = time.perf_counter() - start
with open(executor_input["outputs"]["outputFile"]) as f:
    result = json.load(f)
for name, entry in result["artifacts"].items():
    meta = entry["artifacts"][0]["metadata"]
    print(f"{name}: rows={meta.get('split_rows')} sha256={str(meta.get('source_sha256'))[:12]}... "
          f"size={os.path.getsize(outputs[name])} bytes")
print(f"load_data task finished in {elapsed:.1f} s")
sys.exit(0)
