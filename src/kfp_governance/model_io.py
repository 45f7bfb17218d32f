"""How a trained model is stored, and how it is loaded only after its hash checks.

A model artifact is a directory::

    model.joblib        the fitted scikit-learn Pipeline
    model.skops         the same, for servers that load without pickle (when its types are trusted)
    model_record.json   what produced it: versions, features, label, params,
                        training data hash, and the sha256 of model.joblib

Every reader (evaluation, fairness, explanations, registration, serving)
goes through :func:`load_model`, which refuses a file whose sha256 differs
from the recorded one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kfp_governance.errors import EvidenceError, IntegrityError
from kfp_governance.hashing import sha256_file

MODEL_FILE = "model.joblib"
RECORD_FILE = "model_record.json"


def save_model(estimator: Any, directory: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``estimator`` and its record into ``directory``; return the record with the file's sha256."""
    import joblib

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    joblib.dump(estimator, model_path)
    full_record = dict(record, model_file=MODEL_FILE, model_sha256=sha256_file(model_path), **_write_skops(estimator,
                                                                                                        directory))
    (directory / RECORD_FILE).write_text(json.dumps(full_record, indent=2, sort_keys=True), encoding="utf-8")
    return full_record


def _write_skops(estimator: Any, directory: Path) -> dict[str, str]:
    """A ``model.skops`` copy that a server can load without running pickle code, when every type in it is on
    the serving family's reviewed trusted list (``kfp_governance.serving.model_server.TRUSTED_SKOPS_TYPES``);
    else nothing (the model is then served only where the policy allows pickle)."""
    try:
        import skops.io as sio
    except ImportError:  # skops is in the training extra; a bare install keeps the joblib file only
        return {}
    from kfp_governance.serving.model_server import SKOPS_FILE, TRUSTED_SKOPS_TYPES

    data = sio.dumps(estimator)
    if [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_SKOPS_TYPES]:
        return {}
    (directory / SKOPS_FILE).write_bytes(data)
    return {"skops_file": SKOPS_FILE, "skops_sha256": sha256_file(directory / SKOPS_FILE)}


def served_sha256(directory: str | Path, registered_sha256: str) -> str:
    """The sha256 a model server must find in the file it loads: ``model.skops`` (recorded at training) when the
    folder has one, else ``model.joblib``'s, the registered hash."""
    directory = Path(directory)
    if (directory / "model.skops").is_file():
        return read_record(directory).get("skops_sha256", "")
    return registered_sha256


def read_record(directory: str | Path) -> dict[str, Any]:
    """The model's record (``model_record.json``)."""
    path = Path(directory) / RECORD_FILE
    if not path.is_file():
        raise EvidenceError(f"model directory {str(directory)!r} has no {RECORD_FILE}",
                            fix="pass a model written by train_model")
    return json.loads(path.read_text(encoding="utf-8"))


def verify_model(directory: str | Path, expected_sha256: str | None = None) -> Path:
    """Check ``model.joblib`` against ``expected_sha256`` (or the record's) and return its path."""
    directory = Path(directory)
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise EvidenceError(f"model directory {str(directory)!r} has no {MODEL_FILE}",
                            fix="pass a model written by train_model")
    expected = expected_sha256 or read_record(directory).get("model_sha256")
    if not expected:
        raise IntegrityError(f"no sha256 is recorded for {str(model_path)!r}",
                             fix="retrain the model so that its hash is recorded")
    actual = sha256_file(model_path)
    if actual != expected:
        raise IntegrityError(
            f"model file {str(model_path)!r} has sha256 {actual}, but {expected} was recorded",
            fix="the file changed after training: use the artifact train_model wrote",
        )
    return model_path


def load_model(directory: str | Path, expected_sha256: str | None = None) -> Any:
    """Load the fitted estimator after verifying its sha256.

    ``expected_sha256`` defaults to the hash in ``model_record.json``; pass the
    hash carried in artifact metadata to make the check independent of the
    directory's own record.
    """
    import joblib

    return joblib.load(verify_model(directory, expected_sha256))


def local_model_dir(uri: str, scratch: str | Path | None = None) -> Path:
    """A local directory holding the model at ``uri`` (path, ``file://``, ``gs://``, ``s3://``).

    ``gs://bucket/x`` is read through Vertex AI's ``/gcs/bucket/x`` mount when
    it exists; other remote URIs are copied into ``scratch`` (a temporary
    folder by default). The caller still verifies the hash with
    :func:`load_model`.
    """
    import tempfile

    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" not in uri:
        path = Path(uri)
        if not path.is_dir():
            raise EvidenceError(f"model directory {uri!r} does not exist",
                                fix="point champion_model_uri at a model written by train_model")
        return path
    if uri.startswith("gs://") and Path("/gcs", uri[len("gs://"):]).is_dir():
        return Path("/gcs", uri[len("gs://"):])
    import pyarrow.fs as pafs

    target = Path(scratch or tempfile.mkdtemp(prefix="kfp-governance-model-"))
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
        pafs.copy_files(path, str(target), source_filesystem=filesystem,
                        destination_filesystem=pafs.LocalFileSystem())
    except (OSError, ValueError) as err:
        raise EvidenceError(f"cannot copy the model at {uri!r}: {err}",
                            fix="check the URI and the credentials of the task's service account") from None
    return target
