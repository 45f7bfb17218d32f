"""Our model for the KServe Python model server: one model folder written by ``train_model``, verified and served.

Run it in the serving environment (``make serving``, or the serving image)::

    python -m kfp_governance.serving.model_server --model_dir DIR --model_name NAME \\
        --expected_sha256 HEX --http_port 8080 [--allow-pickle] \\
        [--request-log PATH --request-log-max-bytes N --request-log-sample-rate R]

``--expected_sha256``, ``--model_version`` and ``--allow-pickle`` default to the
environment variables ``KFP_GOVERNANCE_EXPECTED_SHA256``,
``KFP_GOVERNANCE_MODEL_VERSION`` and ``KFP_GOVERNANCE_ALLOW_PICKLE``: a KServe
``ServingRuntime`` is shared by many models, and each ``InferenceService``
sets them for its own model.

What it guarantees before it answers anything:

* the model file's sha256 equals ``--expected_sha256`` (the registered hash);
  on a mismatch it prints why and exits with status 2 without listening;
* a ``model.skops`` file is loaded with skops, trusting only
  :data:`TRUSTED_SKOPS_TYPES` beside skops' own defaults (no pickle code
  runs); a folder with only ``model.joblib`` (a pickle) is loaded only with
  ``--allow-pickle``, because unpickling runs whatever code the file holds.

Requests carry rows as named features, in any key order; the server builds a
DataFrame in the record's feature order (``model_record.json``), as the
scikit-learn Pipeline expects:

* v1: ``POST /v1/models/NAME:predict`` with ``{"instances": [{"age": 39, ...}]}``,
  answered ``{"predictions": [{"label": 0, "probability": 0.12,
  "probabilities": [0.88, 0.12]}]}``; ``label`` is 1 when the model predicts
  the record's ``positive_label`` and 0 otherwise, ``probability`` is the
  positive class's;
* v2: ``POST /v2/models/NAME/infer`` with one input tensor per feature (named
  after it, shape ``[n]`` or ``[n, 1]``), or one ``BYTES`` tensor whose
  elements are JSON rows; answered with the outputs ``label`` (INT64 ``[n]``),
  ``probability`` (FP64 ``[n]``) and ``probabilities`` (FP64 ``[n, 2]``).

This module imports ``kserve`` only inside :func:`main` and
:func:`make_model`, so it also imports in the development environment, which
cannot hold kserve; the loading and decoding functions work in both.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from kfp_governance.errors import DeploymentError, GovernanceError, IntegrityError
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import MODEL_FILE, read_record

log = logging.getLogger("kfp_governance.serving")

SKOPS_FILE = "model.skops"
ENV_SHA256 = "KFP_GOVERNANCE_EXPECTED_SHA256"
ENV_VERSION = "KFP_GOVERNANCE_MODEL_VERSION"
ENV_ALLOW_PICKLE = "KFP_GOVERNANCE_ALLOW_PICKLE"

# Types skops does not trust by default that our estimators contain, reviewed one by one: each is a plain data
# holder rebuilt from arrays by skops' own loaders (no __reduce__ code runs). Found with
# skops.io.get_untrusted_types on every estimator train_model builds (logistic_regression, random_forest,
# hist_gradient_boosting). A model holding any other untrusted type is refused, with the type named.
TRUSTED_SKOPS_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def model_file(model_dir: str | Path) -> Path:
    """The file the server loads: ``model.skops`` when the folder has one, else ``model.joblib``."""
    model_dir = Path(model_dir)
    skops_path = model_dir / SKOPS_FILE
    return skops_path if skops_path.is_file() else model_dir / MODEL_FILE


def verify_model_file(model_dir: str | Path, expected_sha256: str) -> Path:
    """Check the sha256 of the file the server would load against ``expected_sha256``; return its path."""
    path = model_file(model_dir)
    if not path.is_file():
        raise DeploymentError(f"model directory {str(model_dir)!r} has neither {SKOPS_FILE} nor {MODEL_FILE}",
                              fix="pass a model folder written by train_model")
    if not expected_sha256:
        raise DeploymentError("no expected sha256 was given for the model file",
                              fix="pass --expected_sha256 with the registered model hash")
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise IntegrityError(f"model file {str(path)!r} has sha256 {actual}, but {expected_sha256} is expected "
                             f"(the registered hash); refusing to serve it",
                             fix="deploy the artifact that was registered, or register this one")
    return path


def load_served_model(model_dir: str | Path, expected_sha256: str, *, allow_pickle: bool = False) -> tuple[Any, dict]:
    """``(estimator, record)`` of a model folder, after its hash checks; skops first, a pickle only when allowed."""
    path = verify_model_file(model_dir, expected_sha256)
    record = read_record(model_dir)
    if path.name == SKOPS_FILE:
        import skops.io as sio

        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_SKOPS_TYPES]
        if untrusted:
            raise DeploymentError(f"model file {str(path)!r} holds types outside the reviewed trusted list: {untrusted}",
                                  fix="review them and add them to TRUSTED_SKOPS_TYPES, or retrain with a supported estimator")
        estimator = sio.load(path, trusted=list(TRUSTED_SKOPS_TYPES))
    else:
        if not allow_pickle:
            raise DeploymentError(f"model file {str(path)!r} is a pickle (joblib), and loading a pickle runs any code "
                                  "it holds; this server loads one only when allowed",
                                  fix="pass --allow-pickle (policy allows pickles), or add a model.skops with export_skops")
        import joblib

        estimator = joblib.load(path)
    classes = [int(c) for c in getattr(estimator, "classes_", [])]
    if sorted(classes) != [0, 1]:
        raise DeploymentError(f"model in {str(model_dir)!r} has classes {classes}; expected [0, 1] "
                              "(1 = the positive label)", fix="serve a binary classifier written by train_model")
    return estimator, record


def export_skops(model_dir: str | Path, expected_sha256: str | None = None) -> str:
    """Write ``model.skops`` beside the verified ``model.joblib``; return the new file's sha256.

    The pickle is loaded once here (where it was written, a trusted place), so
    that servers need never unpickle it.
    """
    import joblib
    import skops.io as sio

    from kfp_governance.model_io import verify_model

    model_dir = Path(model_dir)
    estimator = joblib.load(verify_model(model_dir, expected_sha256))
    untrusted = [t for t in sio.get_untrusted_types(data=sio.dumps(estimator)) if t not in TRUSTED_SKOPS_TYPES]
    if untrusted:
        raise DeploymentError(f"the model holds types outside the reviewed trusted list: {untrusted}",
                              fix="review them and add them to TRUSTED_SKOPS_TYPES")
    sio.dump(estimator, model_dir / SKOPS_FILE)
    return sha256_file(model_dir / SKOPS_FILE)


# --- decoding requests -------------------------------------------------------------------------------------------

def rows_from_v1(body: Any) -> list[dict[str, Any]]:
    """The rows of a v1 ``{"instances": [...]}`` body: objects of named features.

    >>> rows_from_v1({"instances": [{"age": 39, "sex": "Male"}]})
    [{'age': 39, 'sex': 'Male'}]
    >>> rows_from_v1({"instances": [[39, "Male"]]})
    Traceback (most recent call last):
    ...
    ValueError: instance 0 is a list; send each row as an object of named features, e.g. {"age": 39, ...}
    """
    if isinstance(body, (bytes, str)):  # a client that did not say Content-Type: application/json
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            raise ValueError("the request body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise ValueError('expected a JSON object {"instances": [{feature: value, ...}, ...]}')
    rows = body["instances"]
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"instance {index} is a {type(row).__name__}; send each row as an object of named "
                             'features, e.g. {"age": 39, ...}')
    return rows


def rows_from_v2(inputs: list[Any], features: list[str]) -> list[dict[str, Any]]:
    """Rows from v2 input tensors: one tensor per feature, or one BYTES tensor of JSON rows.

    Each input needs ``name``, ``datatype`` and ``as_numpy()`` (a ``kserve.InferInput``).
    """
    by_name = {i.name: i for i in inputs}
    if all(f in by_name for f in features):
        columns = {}
        for feature in features:
            values = by_name[feature].as_numpy().reshape(-1).tolist()
            columns[feature] = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
        sizes = {len(v) for v in columns.values()}
        if len(sizes) != 1:
            raise ValueError(f"the feature tensors have different lengths: { {k: len(v) for k, v in columns.items()} }")
        count = sizes.pop()
        return [{f: columns[f][i] for f in features} for i in range(count)]
    if len(inputs) == 1 and inputs[0].datatype == "BYTES":
        rows: list[dict[str, Any]] = []
        for value in inputs[0].as_numpy().reshape(-1).tolist():
            text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"BYTES input {inputs[0].name!r} holds an element that is not JSON: {err}") from None
            for row in decoded if isinstance(decoded, list) else [decoded]:
                if not isinstance(row, dict):
                    raise ValueError(f"BYTES input {inputs[0].name!r}: each JSON row must be an object of named features")
                rows.append(row)
        return rows
    missing = [f for f in features if f not in by_name]
    raise ValueError(f"v2 inputs {sorted(by_name)} lack feature tensor(s) {missing}; send one tensor per feature, "
                     "or one BYTES tensor of JSON rows")


def frame_from_rows(rows: list[dict[str, Any]], record: dict[str, Any]):
    """A DataFrame of ``rows`` in the record's feature order, numeric features as numbers; extra keys are ignored.

    >>> record = {"features": ["age", "sex"], "numeric_features": ["age"]}
    >>> frame_from_rows([{"sex": "Male", "age": 39}], record).to_dict("records")
    [{'age': 39, 'sex': 'Male'}]
    """
    import pandas as pd

    features = list(record["features"])
    if not rows:
        raise ValueError("the request holds no rows")
    for index, row in enumerate(rows):
        missing = [f for f in features if f not in row]
        if missing:
            raise ValueError(f"row {index} lacks feature(s) {missing}; the model takes {features}")
    frame = pd.DataFrame([[row[f] for f in features] for row in rows], columns=features)
    for column in record.get("numeric_features", []):
        if column in frame.columns and frame[column].dtype == object:
            try:
                frame[column] = pd.to_numeric(frame[column])
            except (TypeError, ValueError):
                raise ValueError(f"feature {column!r} is numeric, got {frame[column].tolist()[:3]}") from None
    return frame


def predict_frame(estimator: Any, frame) -> tuple[list[int], list[list[float]]]:
    """``(labels, probabilities)``: 1 for the positive label, and ``[P(not positive), P(positive)]`` a row.

    The label is the class of highest probability (what ``predict`` of every estimator train_model builds returns;
    one pass through the Pipeline instead of two, which halves the server's latency).
    """
    probabilities = estimator.predict_proba(frame)
    classes = list(estimator.classes_)
    positive = classes.index(1)
    negative = 1 - positive
    labels = [int(classes[i]) for i in probabilities.argmax(axis=1)]
    return (labels,
            [[float(row[negative]), float(row[positive])] for row in probabilities])


# --- the kserve.Model ------------------------------------------------------------------------------------------

def make_model(name: str, model_dir: str | Path, expected_sha256: str, *, allow_pickle: bool = False,
               model_version: str | None = None, request_log=None):
    """A loaded ``kserve.Model`` for ``model_dir`` (import kserve; only in the serving environment)."""
    import kserve
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    class GovernedModel(kserve.Model):
        """Serves one verified model folder on KServe's v1 and v2 protocols."""

        def __init__(self):
            super().__init__(name)
            self.model_dir = Path(model_dir)
            self.expected_sha256 = expected_sha256
            self.version = model_version
            self.estimator = None
            self.record: dict[str, Any] = {}

        def load(self) -> bool:
            self.estimator, self.record = load_served_model(self.model_dir, self.expected_sha256,
                                                            allow_pickle=allow_pickle)
            self.ready = True
            return self.ready

        def get_input_types(self) -> list[dict]:
            numeric = set(self.record.get("numeric_features", []))
            return [{"name": f, "datatype": "FP64" if f in numeric else "BYTES", "shape": [-1]}
                    for f in self.record.get("features", [])]

        def get_output_types(self) -> list[dict]:
            return [{"name": "label", "datatype": "INT64", "shape": [-1]},
                    {"name": "probability", "datatype": "FP64", "shape": [-1]},
                    {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}]

        def predict(self, payload, headers=None, response_headers=None):
            v2 = isinstance(payload, InferRequest)
            try:
                if v2:
                    rows = rows_from_v2(payload.inputs, list(self.record["features"]))
                else:
                    rows = rows_from_v1(payload)
                labels, probabilities = predict_frame(self.estimator, frame_from_rows(rows, self.record))
            except ValueError as err:
                raise InvalidInput(str(err)) from None
            if request_log is not None:
                features = list(self.record["features"])
                request_log.write([{f: r[f] for f in features} for r in rows],
                                  [{"label": a, "probability": p[1]} for a, p in zip(labels, probabilities)],
                                  model_version=self.version, protocol="v2" if v2 else "v1")
            if not v2:
                return {"predictions": [{"label": a, "probability": p[1], "probabilities": p}
                                        for a, p in zip(labels, probabilities)]}
            count = len(labels)
            outputs = [InferOutput("label", [count], "INT64", labels),
                       InferOutput("probability", [count], "FP64", [p[1] for p in probabilities]),
                       InferOutput("probabilities", [count, 2], "FP64", [v for p in probabilities for v in p])]
            return InferResponse(payload.id or str(uuid.uuid4()), self.name, outputs, model_version=self.version,
                                 parameters={"positive_label": str(self.record.get("positive_label", "")),
                                             "model_sha256": self.expected_sha256})

    model = GovernedModel()
    model.load()
    return model


def build_parser(parents: list[argparse.ArgumentParser] | None = None) -> argparse.ArgumentParser:
    """Our arguments (beside kserve's own ``--http_port``, ``--grpc_port``, ``--enable_grpc``, ...)."""
    parser = argparse.ArgumentParser(prog="python -m kfp_governance.serving.model_server", parents=parents or [],
                                     description="Serve one model folder written by train_model on KServe's v1/v2 "
                                                 "protocols, after checking its sha256.")
    parser.add_argument("--model_dir", required=True, help="the model folder (model.joblib or model.skops, "
                                                           "model_record.json)")
    parser.add_argument("--expected_sha256", default=os.environ.get(ENV_SHA256),
                        help="the sha256 the model file must have (the registered hash); a mismatch refuses to start "
                             f"(default: ${ENV_SHA256}, how an InferenceService passes it per model)")
    parser.add_argument("--model_version", default=os.environ.get(ENV_VERSION),
                        help=f"the registry version, reported in v2 answers and logs (default: ${ENV_VERSION})")
    parser.add_argument("--allow-pickle", dest="allow_pickle", action="store_true",
                        default=os.environ.get(ENV_ALLOW_PICKLE, "").lower() in ("1", "true", "yes"),
                        help="allow loading model.joblib (a pickle, which can run code) when there is no model.skops "
                             f"(default: ${ENV_ALLOW_PICKLE}=true)")
    parser.add_argument("--bind_host", default="0.0.0.0",
                        help="the address the HTTP server listens on (127.0.0.1 for local serving)")
    parser.add_argument("--request-log", dest="request_log", default=None,
                        help="log a sample of rows and predictions to this JSON-lines file (off by default)")
    parser.add_argument("--request-log-max-bytes", dest="request_log_max_bytes", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--request-log-sample-rate", dest="request_log_sample_rate", type=float, default=1.0)
    return parser


def _listen_on(host: str) -> None:
    """Make kserve's REST server listen on ``host`` (kserve 0.21 hard-codes 0.0.0.0 in ``RESTServer``)."""
    from kserve.protocol.rest import server as rest

    original = rest.RESTServer.__init__
    if getattr(original, "_kfp_governance", False):
        return

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.config.host = host

    init._kfp_governance = True
    rest.RESTServer.__init__ = init


def main(argv: list[str] | None = None) -> int:
    import kserve

    from kfp_governance.serving.request_log import RequestLog

    args, _ = build_parser([kserve.model_server.parser]).parse_known_args(argv)
    request_log = None
    try:
        if not args.expected_sha256:
            raise DeploymentError("no expected sha256 for the model file",
                                  fix=f"pass --expected_sha256 or set {ENV_SHA256} (the registered hash)")
        if args.request_log:
            request_log = RequestLog(args.request_log, max_bytes=args.request_log_max_bytes,
                                     sample_rate=args.request_log_sample_rate)
        model = make_model(args.model_name, args.model_dir, args.expected_sha256, allow_pickle=args.allow_pickle,
                           model_version=args.model_version, request_log=request_log)
    except (GovernanceError, ValueError) as err:
        print(f"kfp-governance model server: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"kfp-governance model server: {args.model_name} (sha256 {args.expected_sha256[:12]}) loaded from "
          f"{model_file(args.model_dir).name}, listening on {args.bind_host}:{args.http_port}", file=sys.stderr, flush=True)
    if args.bind_host != "0.0.0.0":
        _listen_on(args.bind_host)
    kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, enable_grpc=args.enable_grpc,
                       workers=1).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
