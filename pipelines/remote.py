"""Submit and schedule a reference pipeline on Vertex AI Pipelines or a Kubeflow Pipelines cluster.

Both targets get the same compiled file: :func:`compile_pipeline` writes the
single YAML document ``kfp-governance compile`` writes, and everything that
differs per platform travels as run settings (project, region, endpoint,
pipeline root, service account) or as run parameters built from the config by
the pipeline's ``to_arguments`` function, then ``--param k=v`` overrides.

Settings come from flags, else from the environment the Kustomize overlays
give the CronJob (see :data:`SETTINGS`). Every mistake a user can make (an
unknown target, a missing setting, an unknown parameter, a local data path, an
endpoint that does not answer or answers an error) raises a
:class:`~kfp_governance.errors.GovernanceError` naming the thing and the fix;
the CLI prints it as one line and exits 2.

>>> [s.env for s in SETTINGS["vertex"] if s.required]
['GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_REGION', 'KFP_GOVERNANCE_PIPELINE_ROOT', 'KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT']
>>> resolve_settings("kubeflow", {"endpoint": "http://localhost:8888"}, environ={})["experiment"]
'kfp-governance'
>>> resolve_settings("kubeflow", {}, environ={})
Traceback (most recent call last):
...
kfp_governance.errors.ConfigError: missing setting for --target kubeflow: the KFP API endpoint; fix: ...
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfp_governance import __version__
from kfp_governance.errors import ConfigError, GovernanceError

TARGETS = ("vertex", "kubeflow")
KFP_API = "/apis/v2beta1"
REQUEST_TIMEOUT_S = 60


class RemoteError(GovernanceError):
    """A remote API could not be reached or answered with an error."""


@dataclass(frozen=True)
class Setting:
    """One target setting: its keyword, the environment variable and flag that set it."""

    key: str
    env: str
    flag: str
    what: str
    required: bool = False
    default: str | None = None


SETTINGS: dict[str, tuple[Setting, ...]] = {
    # The variable names are the ones kustomize/overlays/*/cronjob-patch.yaml gives the CronJob.
    "vertex": (
        Setting("project", "GOOGLE_CLOUD_PROJECT", "--project", "the Google Cloud project", True),
        Setting("region", "GOOGLE_CLOUD_REGION", "--region", "the Vertex AI region, e.g. europe-west4", True),
        Setting("pipeline_root", "KFP_GOVERNANCE_PIPELINE_ROOT", "--pipeline-root",
                "where runs write artifacts (gs://bucket/prefix)", True),
        Setting("service_account", "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT", "--service-account",
                "the Google service account the pipeline runs as", True),
        Setting("api_endpoint", "KFP_GOVERNANCE_VERTEX_ENDPOINT", "--api-endpoint",
                "the Vertex AI API endpoint (default: <region>-aiplatform.googleapis.com)"),
    ),
    "kubeflow": (
        Setting("endpoint", "KF_PIPELINES_ENDPOINT", "--endpoint", "the KFP API endpoint", True),
        Setting("token_path", "KF_PIPELINES_SA_TOKEN_PATH", "--token-path",
                "a file holding the bearer token (the projected service-account token)"),
        Setting("namespace", "KFP_GOVERNANCE_NAMESPACE", "--namespace",
                "the Kubeflow profile namespace (multi-user installs)"),
        Setting("experiment", "KFP_GOVERNANCE_EXPERIMENT", "--experiment", "the KFP experiment",
                default="kfp-governance"),
        Setting("pipeline_root", "KFP_GOVERNANCE_PIPELINE_ROOT", "--pipeline-root",
                "where runs write artifacts (minio://, s3://; default: the cluster's)"),
        Setting("service_account", "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT", "--service-account",
                "the Kubernetes service account the pipeline runs as"),
    ),
}


@dataclass
class Prepared:
    """The compiled package and the parameter values a submission sends."""

    pipeline: str
    package_path: Path
    pipeline_name: str
    parameter_types: dict[str, str]
    arguments: dict[str, Any]

    @property
    def arguments_digest(self) -> str:
        """sha256 (first 16 hex digits) of the canonical JSON of the parameter values."""
        canonical = json.dumps(self.arguments, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def package_digest(self) -> str:
        return hashlib.sha256(self.package_path.read_bytes()).hexdigest()[:12]


@dataclass
class Submission:
    """What a submit or schedule created, for the CLI to print."""

    target: str
    kind: str
    name: str
    display_name: str
    url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# -- settings -----------------------------------------------------------------------------------------------------

def check_target(target: str) -> str:
    """The target, or a :class:`ConfigError` listing the known ones.

    >>> check_target("vertex")
    'vertex'
    >>> check_target("sagemaker")
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: unknown target 'sagemaker' (--target); fix: choose one of vertex, kubeflow
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r} (--target)", fix=f"choose one of {', '.join(TARGETS)}")
    return target


def resolve_settings(target: str, flags: Mapping[str, str | None] | None = None,
                     environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each setting of ``target`` from its flag, else its environment variable, else its default.

    A required setting that is missing, or a variable that is set but empty (an
    overlay value left blank), is a :class:`ConfigError` naming the variable and
    the flag.

    >>> env = {"GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_CLOUD_REGION": "europe-west4",
    ...        "KFP_GOVERNANCE_PIPELINE_ROOT": "gs://b/root", "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT": ""}
    >>> resolve_settings("vertex", {"service_account": "runner@p.iam.gserviceaccount.com"}, env)["region"]
    'europe-west4'
    >>> resolve_settings("vertex", {}, env)
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT is set but empty (the Google service account ...
    """
    check_target(target)
    flags = dict(flags or {})
    environ = os.environ if environ is None else environ
    known = {s.key for s in SETTINGS[target]}
    unknown = sorted(k for k, v in flags.items() if k not in known and v is not None)
    if unknown:
        flags_known = ", ".join(s.flag for s in SETTINGS[target])
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in unknown)} does not apply to "
                          f"--target {target}", fix=f"the settings of {target} are {flags_known}")
    resolved: dict[str, str | None] = {}
    for setting in SETTINGS[target]:
        value = flags.get(setting.key)
        if value is not None and not value.strip():
            raise ConfigError(f"{setting.flag} is empty ({setting.what})", fix=f"pass a value to {setting.flag}")
        if value is None and setting.env in environ:
            value = environ[setting.env]
            if not value.strip():
                raise ConfigError(f"{setting.env} is set but empty ({setting.what})",
                                  fix=f"give {setting.env} a value (in a Kustomize overlay: params.env) "
                                      f"or pass {setting.flag}")
        if value is None:
            value = setting.default
        if value is None and setting.required:
            raise ConfigError(f"missing setting for --target {target}: {setting.what}",
                              fix=f"set {setting.env} or pass {setting.flag}")
        resolved[setting.key] = value.strip() if value else value
    _check_values(target, resolved)
    return resolved


def _check_values(target: str, settings: dict[str, str | None]) -> None:
    if target == "vertex":
        root = settings["pipeline_root"] or ""
        if not root.startswith("gs://"):
            raise ConfigError(f"pipeline root {root!r} is not a Cloud Storage URI (KFP_GOVERNANCE_PIPELINE_ROOT / "
                              f"--pipeline-root)", fix="use gs://<bucket>/<prefix>")
        account = settings["service_account"] or ""
        if "@" not in account:
            raise ConfigError(f"service account {account!r} is not an email address "
                              f"(KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT / --service-account)",
                              fix="use <name>@<project>.iam.gserviceaccount.com")
        endpoint = settings.get("api_endpoint")
        if endpoint and endpoint.startswith("http://") and not re.match(r"^http://(127\.0\.0\.1|localhost)[:/]",
                                                                        endpoint):
            raise ConfigError(f"Vertex AI endpoint {endpoint!r} is plain http on another host "
                              f"(KFP_GOVERNANCE_VERTEX_ENDPOINT / --api-endpoint)",
                              fix="use https://, or http://127.0.0.1 for a local emulator")
    else:
        endpoint = settings["endpoint"] or ""
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"KFP endpoint {endpoint!r} has no scheme (KF_PIPELINES_ENDPOINT / --endpoint)",
                              fix="write it as http://ml-pipeline.kubeflow.svc.cluster.local:8888 or https://...")


# -- compile and parameters ---------------------------------------------------------------------------------------

def compile_pipeline(pipeline: str, directory: str | Path) -> Path:
    """Compile ``pipeline`` to ``<directory>/<pipeline>.yaml`` exactly as ``kfp-governance compile`` does."""
    from kfp import compiler

    from kfp_governance.pipelines.registry import get_pipeline

    pipeline_func, _ = get_pipeline(pipeline)
    path = Path(directory) / f"{pipeline}.yaml"
    compiler.Compiler().compile(pipeline_func, package_path=str(path))
    return path


def parameter_types(package_path: str | Path) -> tuple[str, dict[str, str]]:
    """The pipeline's name and ``{parameter: parameterType}`` from a compiled package."""
    import yaml

    spec = yaml.safe_load(Path(package_path).read_text(encoding="utf-8"))
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return spec["pipelineInfo"]["name"], {name: p["parameterType"] for name, p in parameters.items()}


_KINDS = {"STRING": "a string", "NUMBER_INTEGER": "an integer", "NUMBER_DOUBLE": "a number", "BOOLEAN": "a boolean",
          "LIST": "a JSON list", "STRUCT": "a JSON object"}


def parse_param(text: str) -> tuple[str, str]:
    """Split one ``--param k=v``.

    >>> parse_param("eval_fraction=0.3")
    ('eval_fraction', '0.3')
    >>> parse_param("label")
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: --param 'label' is not NAME=VALUE; fix: write e.g. --param eval_fraction=0.3
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--param {text!r} is not NAME=VALUE", fix="write e.g. --param eval_fraction=0.3")
    return name.strip(), value


def apply_overrides(arguments: Mapping[str, Any], overrides: Mapping[str, Any],
                    types: Mapping[str, str]) -> dict[str, Any]:
    """``arguments`` with ``--param`` overrides applied and checked against the parameter types.

    A text value is parsed as JSON when it parses, else kept as a string;
    string parameters always take the text as written.

    >>> types = {"eval_fraction": "NUMBER_DOUBLE", "label": "STRING", "features": "LIST"}
    >>> apply_overrides({"label": "loan"}, {"eval_fraction": "0.3", "label": "42", "features": '["age"]'}, types)
    {'label': '42', 'eval_fraction': 0.3, 'features': ['age']}
    >>> apply_overrides({}, {"eval_fractoin": "0.3"}, types)
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: unknown pipeline parameter 'eval_fractoin' (--param); fix: use one of ...
    >>> apply_overrides({}, {"eval_fraction": "high"}, types)
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: --param eval_fraction='high': eval_fraction takes a number; ...
    """
    result = dict(arguments)
    for name, raw in overrides.items():
        if name not in types:
            raise ConfigError(f"unknown pipeline parameter {name!r} (--param)",
                              fix=f"use one of {', '.join(sorted(types))}")
        kind = types[name]
        value: Any = raw
        if isinstance(raw, str) and kind != "STRING":
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        result[name] = _typed(name, value, kind, raw)
    for name, value in result.items():
        if name in types:
            result[name] = _typed(name, value, types[name], value)
    return result


def _typed(name: str, value: Any, kind: str, raw: Any) -> Any:
    ok = {
        "STRING": isinstance(value, str),
        "NUMBER_INTEGER": isinstance(value, int) and not isinstance(value, bool),
        "NUMBER_DOUBLE": isinstance(value, (int, float)) and not isinstance(value, bool),
        "BOOLEAN": isinstance(value, bool),
        "LIST": isinstance(value, list),
        "STRUCT": isinstance(value, dict),
    }.get(kind, True)
    if not ok:
        example = {"NUMBER_INTEGER": "42", "NUMBER_DOUBLE": "0.3", "BOOLEAN": "true", "LIST": "'[\"a\", \"b\"]'",
                   "STRUCT": "'{\"key\": 1}'", "STRING": "text"}.get(kind, "...")
        raise ConfigError(f"--param {name}={raw!r}: {name} takes {_KINDS.get(kind, kind)}",
                          fix=f"write e.g. --param {name}={example}")
    return float(value) if kind == "NUMBER_DOUBLE" else value


def check_remote_uris(arguments: Mapping[str, Any], target: str) -> None:
    """Refuse a local path in a ``*_uri`` parameter: a remote run cannot read the submitter's disk.

    >>> check_remote_uris({"data_uri": "gs://bucket/adult.csv", "schema_uri": ""}, "vertex")
    >>> check_remote_uris({"data_uri": "/home/me/adult.csv"}, "kubeflow")
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: data_uri '/home/me/adult.csv' is a local path, which a kubeflow run cannot read; ...
    """
    store = "gs://" if target == "vertex" else "s3:// (MinIO) or gs://"
    for name, value in arguments.items():
        local = isinstance(value, str) and bool(value) and ("://" not in value or value.startswith("file://"))
        if name.endswith("_uri") and local:
            raise ConfigError(f"{name} {value!r} is a local path, which a {target} run cannot read",
                              fix=f"upload the file and point the config (or --param {name}) at a {store} URI")


def prepare(target: str, config, *, pipeline: str = "training", params: Mapping[str, Any] | None = None,
            directory: str | Path) -> Prepared:
    """Compile the pipeline into ``directory`` and build its parameter values from the config and overrides."""
    from kfp_governance.pipelines.registry import get_pipeline

    _, to_arguments = get_pipeline(pipeline)
    path = compile_pipeline(pipeline, directory)
    name, types = parameter_types(path)
    arguments = apply_overrides(to_arguments(config), params or {}, types)
    missing = sorted(set(types) - set(arguments))
    if missing:
        raise ConfigError(f"no value for pipeline parameter(s) {', '.join(missing)}",
                          fix="set them in the config or with --param")
    check_remote_uris(arguments, target)
    return Prepared(pipeline, path, name, types, arguments)


# -- Vertex AI labels ---------------------------------------------------------------------------------------------

def vertex_label(text: str) -> str:
    """``text`` as a Vertex AI label key or value: ``[a-z0-9_-]``, at most 63 characters.

    >>> vertex_label("0.1.0+Local")
    '0-1-0-local'
    >>> len(vertex_label("x" * 100))
    63
    """
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def vertex_labels(prepared: Prepared, trigger: str) -> dict[str, str]:
    """The labels on every Vertex AI pipeline job we create; evidence lives in the run, labels only point."""
    labels = {
        "kfp-governance-pipeline": prepared.pipeline,
        "kfp-governance-version": __version__,
        "kfp-governance-trigger": trigger,
        "kfp-governance-params": prepared.arguments_digest,
    }
    return {vertex_label(k): vertex_label(v) for k, v in labels.items()}


# -- entry points -------------------------------------------------------------------------------------------------

def submit(target: str, config, *, pipeline: str = "training", params: Mapping[str, Any] | None = None,
           settings: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None,
           run_name: str | None = None) -> Submission:
    """Compile ``pipeline``, build its parameters from ``config`` (and ``params`` overrides) and start one run."""
    check_target(target)
    resolved = resolve_settings(target, settings, environ)
    with tempfile.TemporaryDirectory(prefix="kfp-governance-") as directory:
        prepared = prepare(target, config, pipeline=pipeline, params=params, directory=directory)
        display = run_name or f"{prepared.pipeline_name} {_stamp()}"
        if target == "vertex":
            return _vertex_submit(prepared, resolved, display)
        return _kfp_submit(prepared, resolved, display)


def schedule(target: str, config, *, cron: str, timezone: str | None = None, pipeline: str = "training",
             params: Mapping[str, Any] | None = None, settings: Mapping[str, str | None] | None = None,
             environ: Mapping[str, str] | None = None, name: str | None = None) -> Submission:
    """Create a schedule that starts ``pipeline`` on ``cron``: at most one run at a time, no catch-up."""
    from kfp_governance.pipelines.cron import parse_cron

    check_target(target)
    resolved = resolve_settings(target, settings, environ)
    parsed = parse_cron(cron, timezone)
    backend_cron = parsed.vertex() if target == "vertex" else parsed.kfp()
    with tempfile.TemporaryDirectory(prefix="kfp-governance-") as directory:
        prepared = prepare(target, config, pipeline=pipeline, params=params, directory=directory)
        display = name or f"{prepared.pipeline_name}-schedule"
        if target == "vertex":
            return _vertex_schedule(prepared, resolved, display, backend_cron)
        return _kfp_schedule(prepared, resolved, display, backend_cron)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- Vertex AI ----------------------------------------------------------------------------------------------------

def _vertex_endpoint(settings: Mapping[str, str | None]) -> str:
    return settings.get("api_endpoint") or f"https://{settings['region']}-aiplatform.googleapis.com"


def _aiplatform(settings: Mapping[str, str | None]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.cloud import aiplatform
    init: dict[str, Any] = {"project": settings["project"], "location": settings["region"], "api_transport": "rest"}
    endpoint = settings.get("api_endpoint")
    if endpoint:
        init["api_endpoint"] = endpoint
        if endpoint.startswith("http://"):  # a local emulator: never send real credentials over plain http
            from google.auth.credentials import AnonymousCredentials

            init["credentials"] = AnonymousCredentials()
    try:
        aiplatform.init(**init)
    except ValueError as err:
        raise ConfigError(f"Vertex AI rejected the settings: {err}",
                          fix="check GOOGLE_CLOUD_PROJECT / --project and GOOGLE_CLOUD_REGION / --region") from None
    return aiplatform


def _pipeline_job(aiplatform, prepared: Prepared, settings, display: str, trigger: str):
    return aiplatform.PipelineJob(
        display_name=display[:128],
        template_path=str(prepared.package_path),
        parameter_values=prepared.arguments,
        pipeline_root=settings["pipeline_root"],
        labels=vertex_labels(prepared, trigger),
        enable_caching=None,  # keep each task's compiled caching setting
        project=settings["project"],
        location=settings["region"],
    )


def _vertex_submit(prepared: Prepared, settings, display: str) -> Submission:
    aiplatform = _aiplatform(settings)
    with _vertex_errors(settings, "creating the pipeline job") as notes:
        job = _pipeline_job(aiplatform, prepared, settings, display, "submit")
        job.submit(service_account=settings["service_account"])
    job_id = job.resource_name.rsplit("/", 1)[-1]
    return Submission(
        "vertex", "pipeline job", job.resource_name, display,
        url=_console(settings, f"pipelines/runs/{job_id}"),
        details={"pipeline root": settings["pipeline_root"], "service account": settings["service_account"]},
        warnings=notes)


def _vertex_schedule(prepared: Prepared, settings, display: str, cron: str) -> Submission:
    aiplatform = _aiplatform(settings)
    with _vertex_errors(settings, "listing schedules") as notes:
        existing = aiplatform.PipelineJobSchedule.list(filter=f'display_name="{display}"')
    live = [s for s in existing if _state_name(getattr(s, "state", None)) not in ("COMPLETED",)]
    if live:
        raise ConfigError(f"a Vertex AI schedule named {display!r} already exists ({live[0].resource_name}); a "
                          f"second one would start every run twice",
                          fix="delete or pause the existing schedule, or pass --name for a different schedule")
    with _vertex_errors(settings, "creating the schedule") as more:
        job = _pipeline_job(aiplatform, prepared, settings, display, "schedule")
        created = job.create_schedule(cron=cron, display_name=display, max_concurrent_run_count=1,
                                      allow_queueing=False, service_account=settings["service_account"])
    schedule_id = created.resource_name.rsplit("/", 1)[-1]
    return Submission(
        "vertex", "schedule", created.resource_name, display,
        url=_console(settings, f"pipelines/schedules/{schedule_id}"),
        details={"cron": cron, "max concurrent runs": 1, "queueing": "off (a run due while one runs is skipped)",
                 "service account": settings["service_account"], "pipeline root": settings["pipeline_root"]},
        warnings=notes + more)


def _state_name(state) -> str:
    return getattr(state, "name", str(state or ""))


def _console(settings, path: str) -> str:
    return (f"https://console.cloud.google.com/vertex-ai/locations/{settings['region']}/{path}"
            f"?project={settings['project']}")


@contextlib.contextmanager
def _vertex_errors(settings, step: str) -> Iterator[list[str]]:
    """Turn the SDK's errors into one-line :class:`RemoteError` s and its log lines into short warnings."""
    import requests
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions

    endpoint = _vertex_endpoint(settings)
    notes: list[str] = []
    with _captured_logs("google.cloud.aiplatform", notes), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield notes
        except api_exceptions.GoogleAPICallError as err:
            status = err.code if isinstance(err.code, int) else getattr(err, "grpc_status_code", err.code)
            reason = _HTTP_REASONS.get(status, "") if isinstance(status, int) else ""
            raise RemoteError(f"Vertex AI at {endpoint} answered HTTP {status}{' ' + reason if reason else ''} "
                              f"while {step}: {_without_query(err.message)}", fix=_vertex_fix(status)) from None
        except auth_exceptions.DefaultCredentialsError:
            raise RemoteError("no Google credentials found to call Vertex AI",
                              fix="on GKE use Workload Identity (the vertex overlay); elsewhere run "
                                  "'gcloud auth application-default login'") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                auth_exceptions.TransportError) as err:
            raise RemoteError(f"cannot reach Vertex AI at {endpoint} while {step}: {_short(err)}",
                              fix="check GOOGLE_CLOUD_REGION / --region (and KFP_GOVERNANCE_VERTEX_ENDPOINT / "
                                  "--api-endpoint if set) and the network egress") from None
        except auth_exceptions.RefreshError as err:
            raise RemoteError(f"Google credentials could not be refreshed while {step}: {_short(err)}",
                              fix="check the Workload Identity binding or run "
                                  "'gcloud auth application-default login'") from None


def _vertex_fix(status) -> str:
    if status in (401, 403):
        return ("grant the submitting identity roles/aiplatform.user and roles/iam.serviceAccountUser on "
                "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT")
    if status == 404:
        return "check GOOGLE_CLOUD_PROJECT / --project and GOOGLE_CLOUD_REGION / --region"
    if status == 400:
        return "the request was refused as invalid: check the settings and --param values named above"
    return "retry later; if it persists, check the Vertex AI status page"


@contextlib.contextmanager
def _captured_logs(prefix: str, notes: list[str]) -> Iterator[None]:
    """Keep the SDK's log lines (and tracebacks) off the terminal; keep warnings as one line each in ``notes``."""
    loggers = [logger for name, logger in logging.root.manager.loggerDict.items()
               if name.startswith(prefix) and isinstance(logger, logging.Logger)]
    loggers.append(logging.getLogger(prefix))

    class Capture(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.WARNING:
                text = _one_line(record.getMessage())
                if record.exc_info and record.exc_info[1] is not None:
                    text += f": {_short(record.exc_info[1])}"
                notes.append(text)
            return False

    capture = Capture()
    for logger in loggers:
        logger.addFilter(capture)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(capture)


# -- Kubeflow Pipelines -------------------------------------------------------------------------------------------

def _read_token(path: str | None) -> str | None:
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read the KFP token file {path!r} (KF_PIPELINES_SA_TOKEN_PATH / --token-path): "
                          f"{err.strerror or err}",
                          fix="mount the projected service-account token there (the kubeflow overlay does) or "
                              "unset KF_PIPELINES_SA_TOKEN_PATH") from None
    if not token:
        raise ConfigError(f"the KFP token file {path!r} is empty (KF_PIPELINES_SA_TOKEN_PATH / --token-path)",
                          fix="check the projected service-account token volume")
    return token


def _kfp_healthz(endpoint: str, token: str | None) -> dict:
    """One GET of the health endpoint, with a timeout, before the client (which retries for 25 s) is built."""
    import urllib.error
    import urllib.request

    url = f"{endpoint}{KFP_API}/healthz"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as kfp.Client: no proxy from env
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        message = _kfp_message(err.read())
        raise RemoteError(f"the KFP API at {endpoint} answered HTTP {err.code} {err.reason} to GET {KFP_API}/healthz"
                          + (f": {message}" if message else ""), fix=_kfp_fix(err.code)) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise RemoteError(f"cannot reach the KFP API at {endpoint}: {_short(reason)}",
                          fix="check KF_PIPELINES_ENDPOINT / --endpoint and that the network policy allows "
                              "the connection") from None
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise RemoteError(f"{endpoint} answered GET {KFP_API}/healthz with something that is not JSON: is it the "
                          f"KFP API?", fix="point KF_PIPELINES_ENDPOINT / --endpoint at the ml-pipeline "
                                           "service (port 8888) or the KFP UI's /pipeline path") from None


def _kfp_client(settings):
    endpoint = settings["endpoint"].rstrip("/")
    token = _read_token(settings.get("token_path"))
    health = _kfp_healthz(endpoint, token)
    if health.get("multi_user") and not settings.get("namespace"):
        raise ConfigError(f"the KFP API at {endpoint} is a multi-user install and no namespace is set",
                          fix="set KFP_GOVERNANCE_NAMESPACE or pass --namespace (your Kubeflow profile namespace)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import kfp.client
    with _kfp_errors(endpoint, "connecting"):
        client = kfp.client.Client(host=endpoint, namespace=settings.get("namespace") or "kubeflow",
                                   existing_token=token)
    return client, endpoint


@contextlib.contextmanager
def _kfp_errors(endpoint: str, step: str) -> Iterator[None]:
    import kfp_server_api
    import urllib3

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        except kfp_server_api.ApiException as err:
            if not err.status:  # the generated client reports TLS failures as status 0
                raise RemoteError(f"cannot reach the KFP API at {endpoint} while {step}: {_short(err.reason)}",
                                  fix="check the endpoint's TLS certificate and KF_PIPELINES_ENDPOINT") from None
            message = _kfp_message(err.body)
            raise RemoteError(f"the KFP API at {endpoint} answered HTTP {err.status} {err.reason or ''} while {step}"
                              .replace("  ", " ") + (f": {message}" if message else ""),
                              fix=_kfp_fix(err.status)) from None
        except urllib3.exceptions.HTTPError as err:
            raise RemoteError(f"cannot reach the KFP API at {endpoint} while {step}: {_short(err)}",
                              fix="check KF_PIPELINES_ENDPOINT / --endpoint and the network") from None


def _kfp_fix(status: int) -> str:
    if status in (401, 403):
        return ("check the token (KF_PIPELINES_SA_TOKEN_PATH) and that the service account may create "
                "experiments, runs and recurring runs in KFP_GOVERNANCE_NAMESPACE")
    if status == 404:
        return "check KF_PIPELINES_ENDPOINT / --endpoint: it should reach the KFP v2 API (/apis/v2beta1)"
    if status == 400:
        return "the request was refused as invalid: check the settings and --param values named above"
    return "retry later; if it persists, check the ml-pipeline deployment's logs"


def _kfp_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return _one_line(str(body))[:300]
    if isinstance(data, dict):
        return _one_line(str(data.get("message") or data.get("error") or data))[:300]
    return _one_line(str(data))[:300]


def _kfp_ui(endpoint: str, fragment: str) -> str:
    ui = os.environ.get("KF_PIPELINES_UI_ENDPOINT") or endpoint
    return f"{ui.rstrip('/')}/#/{fragment}"


def _kfp_experiment(client, endpoint: str, settings):
    with _kfp_errors(endpoint, f"finding or creating experiment {settings['experiment']!r}"):
        return client.create_experiment(name=settings["experiment"], namespace=settings.get("namespace"))


def _kfp_submit(prepared: Prepared, settings, display: str) -> Submission:
    client, endpoint = _kfp_client(settings)
    experiment = _kfp_experiment(client, endpoint, settings)
    with _kfp_errors(endpoint, "creating the run"):
        result = client.create_run_from_pipeline_package(
            str(prepared.package_path), arguments=prepared.arguments, run_name=display,
            experiment_id=experiment.experiment_id, pipeline_root=settings.get("pipeline_root"),
            enable_caching=None, service_account=settings.get("service_account"))
    return Submission(
        "kubeflow", "run", result.run_id, display, url=_kfp_ui(endpoint, f"runs/details/{result.run_id}"),
        details={"experiment": f"{settings['experiment']} ({experiment.experiment_id})",
                 "namespace": settings.get("namespace") or "-",
                 "pipeline root": settings.get("pipeline_root") or "the cluster's default",
                 "service account": settings.get("service_account") or "the cluster's default"})


def _equals(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def _kfp_schedule(prepared: Prepared, settings, display: str, cron: str) -> Submission:
    client, endpoint = _kfp_client(settings)
    namespace = settings.get("namespace")
    experiment = _kfp_experiment(client, endpoint, settings)
    with _kfp_errors(endpoint, "listing recurring runs"):
        existing = client.list_recurring_runs(experiment_id=experiment.experiment_id, filter=_equals(display))
    if existing.recurring_runs:
        raise ConfigError(f"a KFP recurring run named {display!r} already exists in experiment "
                          f"{settings['experiment']!r} ({existing.recurring_runs[0].recurring_run_id}); a second one "
                          f"would start every run twice",
                          fix="delete or disable the existing recurring run, or pass --name for a different one")
    version_name = f"{prepared.pipeline_name}-{vertex_label(__version__)}-{prepared.package_digest}"
    with _kfp_errors(endpoint, f"finding pipeline {prepared.pipeline_name!r}"):
        found = client.list_pipelines(filter=_equals(prepared.pipeline_name), namespace=namespace)
    if found.pipelines:
        pipeline_id = found.pipelines[0].pipeline_id
    else:
        with _kfp_errors(endpoint, f"uploading pipeline {prepared.pipeline_name!r}"):
            pipeline_id = client.upload_pipeline(
                str(prepared.package_path), pipeline_name=prepared.pipeline_name,
                description=f"kfp-governance {__version__}: {prepared.pipeline} reference pipeline",
                namespace=namespace).pipeline_id
    with _kfp_errors(endpoint, f"finding pipeline version {version_name!r}"):
        versions = client.list_pipeline_versions(pipeline_id, filter=_equals(version_name))
    if versions.pipeline_versions:
        version_id = versions.pipeline_versions[0].pipeline_version_id
    else:
        with _kfp_errors(endpoint, f"uploading pipeline version {version_name!r}"):
            version_id = client.upload_pipeline_version(
                str(prepared.package_path), version_name, pipeline_id=pipeline_id,
                description=f"compiled by kfp-governance {__version__}").pipeline_version_id
    with _kfp_errors(endpoint, "creating the recurring run"):
        recurring = client.create_recurring_run(
            experiment_id=experiment.experiment_id, job_name=display,
            description=f"kfp-governance {prepared.pipeline}: scheduled retraining",
            cron_expression=cron, max_concurrency=1, no_catchup=True, params=prepared.arguments,
            pipeline_id=pipeline_id, version_id=version_id, enabled=True,
            pipeline_root=settings.get("pipeline_root"), enable_caching=None,
            service_account=settings.get("service_account"))
    return Submission(
        "kubeflow", "recurring run", recurring.recurring_run_id, display,
        url=_kfp_ui(endpoint, f"recurringrun/details/{recurring.recurring_run_id}"),
        details={"cron": f"{cron} (seconds first, UTC)", "max concurrent runs": 1, "catch-up": "off",
                 "experiment": f"{settings['experiment']} ({experiment.experiment_id})",
                 "pipeline version": f"{version_name} ({version_id})",
                 "namespace": namespace or "-"})


# -- small helpers ------------------------------------------------------------------------------------------------

_HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                 503: "Service Unavailable", 504: "Gateway Timeout"}


def _without_query(text: Any) -> str:
    """The SDK's error text without the URL's query string (``?pipelineJobId=...&$alt=...``)."""
    return re.sub(r"(https?://[^\s?]+)\?\S*?(?=:?\s|$)", r"\1", _one_line(text))


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _short(err: Any) -> str:
    """The innermost useful part of a connection error, without object reprs."""
    text = _one_line(err)
    for pattern in (r"\[Errno -?\d+\] [^'\")]+", r"Connection refused", r"timed out", r"Name or service not known"):
        match = re.search(pattern, text)
        if match:
            return match.group(0).strip()
    return text[:300]
