"""Start the serving image's MLServer on a model trained inside the image, and call it.

A scikit-learn pipeline is fitted on the bundled UCI Adult data with the
image's own scikit-learn and saved with joblib; MLServer (the image's CMD,
`mlserver start <folder>`) loads it with the scikit-learn runtime; a
`predict_proba` request over the Open Inference Protocol v2 must answer with
probabilities (readiness alone does not prove the model loads; see
ARCHITECTURE.md). Used by images/build-local.sh.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kfp_governance.datasets import adult_csv_path

frame = pd.read_csv(adult_csv_path(), na_values=["?"]).dropna()
numeric = ["age", "education-num", "hours-per-week"]
X, y = frame[numeric].to_numpy(dtype="float64"), (frame["loan"] == ">50K").astype(int)
model = make_pipeline(StandardScaler(), LogisticRegression())
model.fit(X, y)

models = tempfile.mkdtemp()
joblib.dump(model, os.path.join(models, "model.joblib"))
with open(os.path.join(models, "model-settings.json"), "w") as f:
    json.dump({"name": "adult", "implementation": "mlserver_sklearn.SKLearnModel",
               "parameters": {"uri": "./model.joblib", "extra": {}}}, f)

port = os.environ.get("MLSERVER_HTTP_PORT", "8080")
start = time.perf_counter()
log = open(os.path.join(models, "mlserver.log"), "w+")  # noqa: SIM115 - read back on failure
server = subprocess.Popen(["mlserver", "start", models], stdout=log, stderr=subprocess.STDOUT)
try:
    for _ in range(240):
        if server.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/adult/ready", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        server.wait()
    if server.poll() is not None:
        log.seek(0)
        raise SystemExit(f"MLServer is not ready (exit code {server.returncode}); its log:\n" + log.read()[-3000:])
    ready = time.perf_counter() - start
    rows = X[:3]
    request = {"inputs": [{"name": "predict", "shape": list(rows.shape), "datatype": "FP64",
                           "data": rows.ravel().tolist()}],
               "parameters": {"content_type": "np"},
               "outputs": [{"name": "predict_proba"}]}
    try:
        reply = json.load(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/adult/infer", data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"}), timeout=30))
    except urllib.error.HTTPError as err:
        raise SystemExit(f"inference failed: HTTP {err.code} {err.read().decode()[:2000]}") from None
    (output,) = reply["outputs"]
    assert output["name"] == "predict_proba" and output["shape"] == [3, 2], output
    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status
    print(f"MLServer ready in {ready:.1f} s; /v2/health/ready -> {health}; "
          f"predict_proba for 3 rows -> {[round(p, 3) for p in output['data'][:6]]}")
finally:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)
