"""The KServe model server for real: processes from .venv-serving, v1 and v2 requests, hash refusal, local canaries.

A missing serving environment fails (run `make serving`); nothing here skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from kfp_governance.errors import DeploymentError, IntegrityError
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import read_record
from kfp_governance.serving import client, open_serving
from kfp_governance.serving.local import LocalProcessBackend, free_port, server_command
from kfp_governance.serving.model_server import export_skops

REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = Path(os.environ.get("KFP_GOVERNANCE_SERVING_PYTHON", REPO / ".venv-serving" / "bin" / "python"))


def _lock_version(path: Path, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", path.read_text(), re.MULTILINE)
    assert match, f"{package} is not pinned in {path}"
    return match.group(1)


def test_serving_lock_has_the_main_locks_scikit_learn():
    main = _lock_version(REPO / "requirements" / "lock.txt", "scikit-learn")
    serving = _lock_version(REPO / "requirements" / "serving-lock.txt", "scikit-learn")
    assert serving == main
    assert _lock_version(REPO / "requirements" / "serving-lock.txt", "kserve") == "0.21.0"


@pytest.fixture(scope="module")
def serving_python():
    if not SERVING_PYTHON.exists():
        pytest.fail(f"the serving environment {SERVING_PYTHON} is missing: run make serving")
    code = ("import importlib.metadata as md, sklearn, kserve, kfp_governance.serving.model_server; "
            "print(md.version('kserve'), sklearn.__version__)")
    out = subprocess.run([str(SERVING_PYTHON), "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"the serving environment is broken (run make serving): {out.stderr[-800:]}"
    assert out.stdout.split()[1] == __import__("sklearn").__version__
    return str(SERVING_PYTHON)


@pytest.fixture(scope="module")
def model_dir(adult_model, tmp_path_factory):
    """A pickle-only copy of the logistic-regression model (train_model also writes model.skops: removed here)."""
    target = tmp_path_factory.mktemp("served") / "model"
    shutil.copytree(adult_model("logistic_regression"), target)
    (target / "model.skops").unlink(missing_ok=True)
    return target


def _served_sha(folder):
    """The sha256 of the file the server loads: model.skops when there is one, else model.joblib."""
    record = read_record(folder)
    return record["skops_sha256"] if (folder / "model.skops").is_file() else record["model_sha256"]


@pytest.fixture(scope="module")
def rows(adult_splits):
    _, evaluation, _ = adult_splits
    frame = pd.read_parquet(evaluation).head(40)
    return frame


class _Servers:
    def __init__(self):
        self.processes: list[subprocess.Popen] = []

    def start(self, command, log: Path):
        with open(log, "wb") as stream:
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="module")
def servers():
    pool = _Servers()
    yield pool
    pool.stop()


def _wait_ready(url, name, process, log, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited: {log.read_text()[-2000:]}"
        if client.is_ready(url, name):
            return
        time.sleep(0.2)
    raise AssertionError(f"server not ready: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def pickle_server(serving_python, model_dir, servers, tmp_path_factory):
    """Our server on model.joblib with --allow-pickle and a request log of at most 4 kB."""
    folder = tmp_path_factory.mktemp("pickle-server")
    port = free_port()
    log_path = folder / "requests.jsonl"
    sha = read_record(model_dir)["model_sha256"]
    command = server_command(model_dir, model_name="adult", expected_sha256=sha, port=port, python=serving_python,
                             version="7", allow_pickle=True, request_log=log_path, request_log_max_bytes=4096)
    process = servers.start(command, folder / "server.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, "adult", process, folder / "server.log")
    return url, log_path


def _expected(model_dir, frame):
    model = joblib.load(model_dir / "model.joblib")
    features = read_record(model_dir)["features"]
    return model.predict(frame[features]), model.predict_proba(frame[features])


def _records(frame, model_dir):
    features = read_record(model_dir)["features"]
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[features].to_dict("records")]


def test_v1_and_v2_answers_equal_the_artifacts_predict_proba(pickle_server, model_dir, rows):
    url, _ = pickle_server
    labels, probabilities = _expected(model_dir, rows)
    records = _records(rows, model_dir)
    # shuffled key order: the server orders features by the record
    shuffled = [dict(reversed(list(r.items()))) for r in records]
    v1 = client.predict_v1(url, "adult", shuffled)
    v2 = client.predict_v2(url, "adult", records)
    v2_bytes = client.predict_v2(url, "adult", records, tensors=False)
    for answer in (v1, v2, v2_bytes):
        assert answer.labels == [int(v) for v in labels]
        np.testing.assert_allclose(answer.probabilities, probabilities[:, 1], rtol=0, atol=1e-9)
    body = json.dumps({"instances": records[:3]}).encode()
    request = urllib.request.Request(f"{url}/v1/models/adult:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    full = json.loads(urllib.request.urlopen(request, timeout=10).read())
    np.testing.assert_allclose([p["probabilities"] for p in full["predictions"]], probabilities[:3], atol=1e-9)


def test_bad_rows_get_a_400_naming_the_feature(pickle_server, model_dir, rows):
    url, _ = pickle_server
    record = _records(rows, model_dir)[0]
    record.pop("age")
    with pytest.raises(DeploymentError, match=r"HTTP 400.*lacks feature\(s\) \['age'\]"):
        client.predict_v1(url, "adult", [record])


def test_request_log_is_bounded(pickle_server, model_dir, rows):
    url, log_path = pickle_server
    records = _records(rows, model_dir)
    for _ in range(5):
        client.predict_v1(url, "adult", records)
    lines = log_path.read_text().splitlines()
    assert 0 < len(lines) < 5 * len(records)
    assert log_path.stat().st_size <= 4096
    first = json.loads(lines[0])
    assert set(first["features"]) == set(read_record(model_dir)["features"])
    assert first["model_version"] == "7" and 0 <= first["prediction"]["probability"] <= 1


def test_hash_mismatch_refuses_to_start(serving_python, model_dir):
    command = server_command(model_dir, model_name="adult", expected_sha256="0" * 64, port=free_port(),
                             python=serving_python, allow_pickle=True)
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "refusing to serve it" in out.stderr and "0" * 64 in out.stderr


def test_a_pickle_needs_allow_pickle(serving_python, model_dir):
    command = server_command(model_dir, model_name="adult", expected_sha256=read_record(model_dir)["model_sha256"],
                             port=free_port(), python=serving_python, allow_pickle=False)
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--allow-pickle" in out.stderr


def test_skops_model_serves_without_pickle(serving_python, model_dir, rows, servers, tmp_path):
    skops_dir = tmp_path / "skops-model"
    shutil.copytree(model_dir, skops_dir)
    sha = export_skops(skops_dir)
    (skops_dir / "model.joblib").unlink()  # no pickle anywhere: the server must load the skops file
    port = free_port()
    process = servers.start(server_command(skops_dir, model_name="adult", expected_sha256=sha, port=port,
                                           python=serving_python), tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, "adult", process, tmp_path / "server.log")
    labels, probabilities = _expected(model_dir, rows)
    answer = client.predict_v1(url, "adult", _records(rows, model_dir))
    assert answer.labels == [int(v) for v in labels]
    np.testing.assert_allclose(answer.probabilities, probabilities[:, 1], atol=1e-9)
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture
def local_backend(serving_python, tmp_path):
    backend = LocalProcessBackend(tmp_path / "state", python=serving_python, allow_pickle=True, start_timeout=90)
    yield backend
    for service in ("adult", "other"):
        backend.stop(service)


def _answers(url):
    try:
        urllib.request.urlopen(f"{url}/v2/health/live", timeout=2)
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def test_local_backend_canary_promote_rollback(local_backend, serving_python, adult_model, model_dir, rows, tmp_path):
    second = adult_model("random_forest")
    sha_1 = _served_sha(model_dir)
    sha_2 = _served_sha(second)
    first = local_backend.start_canary("adult", model_dir, version="1", model_sha256=sha_1, percent=10)
    assert first.canary.version == "1" and first.canary_percent == 10 and "no traffic router" in first.canary.details["router"]
    promoted = local_backend.promote("adult")
    assert promoted.stable.url == first.canary.url and promoted.canary is None

    # another process (a later command) sees the same state
    again = LocalProcessBackend(local_backend.state_dir, python=serving_python, allow_pickle=True)
    canary = again.start_canary("adult", second, version="2", model_sha256=sha_2, percent=20)
    assert canary.stable.version == "1" and canary.canary.version == "2" and canary.canary.url != canary.stable.url
    assert again.start_canary("adult", second, version="2", model_sha256=sha_2, percent=20).canary.url == canary.canary.url
    labels, _ = _expected(second, rows)
    assert client.predict_v1(canary.canary.url, "adult", _records(rows, model_dir)).labels == [int(v) for v in labels]

    rolled = local_backend.rollback("adult")
    assert rolled.canary is None and rolled.stable.version == "1"
    assert not _answers(canary.canary.url) and _answers(canary.stable.url)

    canary = again.start_canary("adult", second, version="2", model_sha256=sha_2, percent=20)
    promoted = again.promote("adult")
    assert promoted.stable.version == "2" and not _answers(rolled.stable.url) and _answers(promoted.stable.url)
    local_backend.stop("adult")
    assert local_backend.status("adult") is None and not _answers(promoted.stable.url)


def test_local_backend_refuses_a_hash_mismatch_before_starting(local_backend, model_dir):
    with pytest.raises(IntegrityError, match="refusing to serve"):
        local_backend.start_canary("other", model_dir, version="1", model_sha256="f" * 64, percent=10)
    assert local_backend.status("other") is None


def test_local_backend_reports_the_server_log_when_start_fails(serving_python, model_dir, tmp_path):
    backend = LocalProcessBackend(tmp_path / "state", python=serving_python, allow_pickle=False)  # a pickle, not allowed
    with pytest.raises(DeploymentError, match=r"exited with status 2 before it was ready(.|\n)*--allow-pickle"):
        backend.start_canary("other", model_dir, version="1", model_sha256=_served_sha(model_dir),
                             percent=10)
    backend.stop("other")


def test_open_serving_picks_the_backend(tmp_path):
    from kfp_governance.serving.kserve import KServeBackend

    assert isinstance(open_serving({"backend": "local"}, state_dir=tmp_path), LocalProcessBackend)
    assert isinstance(open_serving({"backend": "kserve"}, namespace="ml", api=object()), KServeBackend)
    with pytest.raises(Exception, match="serving.backend"):
        open_serving({"backend": "nope"})
    assert sha256_file(REPO / "requirements" / "serving-lock.txt")  # the lock is committed beside serving.in
