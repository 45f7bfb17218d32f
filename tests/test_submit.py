"""``submit`` and ``schedule`` through the real clients, against local fakes of both APIs.

google-cloud-aiplatform's ``PipelineJob`` (REST transport) talks to
:class:`fakes.FakeVertex` and kfp's ``Client`` to :class:`fakes.FakeKFP`; the
tests assert the exact requests that cross the client seam: the pipeline spec
sent is our compiled YAML, parameter values come from the config and
``--param``, settings land where they belong, schedules are translated and
carry at most one concurrent run and no catch-up.

Not exercised here: a real Vertex AI or KFP backend (whether it accepts these
requests, runs the pipeline, honours the schedule), authentication beyond the
bearer header, and the pipeline running remotely.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
import yaml
from conftest import run_cli
from fakes import FakeKFP, FakeVertex

from kfp_governance.errors import ConfigError, GovernanceError
from kfp_governance.pipelines import remote
from kfp_governance.pipelines.arguments import training_arguments

PROJECT, REGION = "governed-ml", "europe-west4"
ROOT = "gs://governed-ml-artifacts/pipeline-root"
RUNNER = "kfp-governance-runner@governed-ml.iam.gserviceaccount.com"
PARENT = f"/v1/projects/{PROJECT}/locations/{REGION}"
VERTEX_ENV = ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_REGION", "KFP_GOVERNANCE_PIPELINE_ROOT",
              "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT", "KFP_GOVERNANCE_VERTEX_ENDPOINT")
KFP_ENV = ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_SA_TOKEN_PATH", "KFP_GOVERNANCE_NAMESPACE",
           "KFP_GOVERNANCE_EXPERIMENT", "KFP_GOVERNANCE_PIPELINE_ROOT", "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT",
           "KF_PIPELINES_UI_ENDPOINT", "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME")

CONFIG = """
data:
  uri: {data}
  format: csv
  label: loan
  positive_label: ">50K"
  na_values: ["?"]
  protected_attributes:
    - {{name: gender, privileged: Male}}
    - {{name: age, privileged: ">=25"}}
split: {{eval_fraction: 0.25, seed: 7}}
training:
  estimator: random_forest
  params: {{n_estimators: 50}}
champion: {{model_uri: {champion}}}
gates:
  min_roc_auc: 0.85
  max_regression: {{roc_auc: 0.01}}
  fairness:
    max_gap: {{equal_opportunity_difference: 0.2}}
model_card:
  intended_use: Tests of remote submission.
"""

CACHE_OFF = ("load-data", "validate-data", "evaluate-model", "evaluate-fairness")


# -- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The reference pipeline compiled once: path, bytes and parsed spec."""
    path = remote.compile_pipeline("training", tmp_path_factory.mktemp("compiled"))
    return path, path.read_bytes(), yaml.safe_load(path.read_text())


def _config_file(folder, scheme):
    path = folder / f"{scheme}.yaml"
    path.write_text(CONFIG.format(data=f"{scheme}://governed-ml-data/adult/latest.csv",
                                  champion=f"{scheme}://governed-ml-data/models/champion"))
    return path


@pytest.fixture(scope="module")
def config_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("configs")
    return {"vertex": _config_file(folder, "gs"), "kubeflow": _config_file(folder, "s3")}


@pytest.fixture(scope="module")
def configs(config_files):
    from kfp_governance.config import load_config

    return {target: load_config(path) for target, path in config_files.items()}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in VERTEX_ENV + KFP_ENV + ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return monkeypatch


@pytest.fixture
def vertex(clean_env):
    """A Vertex AI fake with aiplatform pointed at it (REST transport, anonymous credentials)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform
        from google.cloud.aiplatform import initializer

    fake = FakeVertex(lifetime_s=120).start()
    saved = dict(vars(initializer.global_config))  # aiplatform.init is bound to this object: restore it after
    clean_env.setenv("STORAGE_EMULATOR_HOST", fake.url)  # the bucket check PipelineJob.submit makes
    aiplatform.init(api_transport="rest", api_endpoint=fake.url, credentials=AnonymousCredentials(),
                    project=PROJECT, location=REGION)
    yield fake
    fake.stop()
    vars(initializer.global_config).clear()
    vars(initializer.global_config).update(saved)


@pytest.fixture
def kfp(clean_env):
    fake = FakeKFP(lifetime_s=120).start()
    yield fake
    fake.stop()


def _vertex_settings(fake, **more):
    return {"project": PROJECT, "region": REGION, "pipeline_root": ROOT, "service_account": RUNNER,
            "api_endpoint": fake.url, **more}


def _floats(value):
    """Numbers as floats: protobuf's Struct/Value (both clients' wire format) has only doubles."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _caching(spec) -> dict[str, bool]:
    return {name: task.get("cachingOptions", {}).get("enableCache", False)
            for name, task in spec["root"]["dag"]["tasks"].items()}


# -- the compiled file --------------------------------------------------------------------------------------------

def test_compiled_yaml_is_one_document_with_no_vertex_only_placeholders(compiled):
    _, raw, spec = compiled
    text = raw.decode()
    assert len(list(yaml.safe_load_all(text))) == 1, "a second (platform) document breaks the Vertex AI SDK"
    assert "platforms" not in spec and "platform_spec" not in text
    assert not re.search(r"\{\{\$\.pipeline_google_cloud_\w+\}\}", text)  # Vertex-only placeholders
    assert "google_cloud_pipeline_components" not in text and "gcp_resources" not in text
    assert not any(task for task, on in _caching(spec).items() if on and task in CACHE_OFF)


def test_compiled_yaml_loads_in_both_clients(compiled, configs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform
        from kfp.client import client as kfp_client

    path, _, spec = compiled
    job = aiplatform.PipelineJob(display_name="load check", template_path=str(path), pipeline_root=ROOT,
                                 parameter_values=training_arguments(configs["vertex"]), project=PROJECT,
                                 location=REGION, credentials=AnonymousCredentials())
    assert _floats(job.pipeline_spec) == _floats(spec)
    document = kfp_client._extract_pipeline_yaml(str(path))  # what Client.upload_pipeline / runs parse
    assert document.platform_spec == type(document.platform_spec)()  # no platform spec
    assert _floats(document.to_dict()) == _floats(spec)


def test_compiled_yaml_is_byte_identical_whichever_target(compiled, tmp_path, clean_env):
    _, raw, _ = compiled
    outputs = {}
    for target, env in {"vertex": {"TARGET": "vertex", "GOOGLE_CLOUD_PROJECT": PROJECT,
                                   "GOOGLE_CLOUD_REGION": REGION, "KFP_GOVERNANCE_PIPELINE_ROOT": ROOT},
                        "kubeflow": {"TARGET": "kubeflow", "KF_PIPELINES_ENDPOINT": "http://ml-pipeline:8888",
                                     "KFP_GOVERNANCE_PIPELINE_ROOT": "minio://mlpipeline/v2/artifacts"}}.items():
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            result = run_cli("compile", "--output", str(tmp_path / f"{target}.yaml"))
        assert result.returncode == 0, result.stderr
        outputs[target] = (tmp_path / f"{target}.yaml").read_bytes()
    assert outputs["vertex"] == outputs["kubeflow"] == raw  # and what submit/schedule compile


# -- Vertex AI ----------------------------------------------------------------------------------------------------

def test_vertex_submit_sends_the_compiled_spec_and_the_config_as_parameters(vertex, compiled, configs):
    _, _, spec = compiled
    result = remote.submit("vertex", configs["vertex"], params={"eval_fraction": "0.3", "estimator": "logistic_regression"},
                           settings=_vertex_settings(vertex), environ={}, run_name="nightly retrain")

    bucket = vertex.only("GET", r"/storage/v1/b/.*")
    assert bucket.path == "/storage/v1/b/governed-ml-artifacts"  # the SDK checks the pipeline root's bucket
    create = vertex.only("POST", PARENT + "/pipelineJobs")
    body = create.json
    job_id = create.arg("pipelineJobId")
    assert job_id.startswith("kfp-governance-training-")
    assert result.name == f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{job_id}"
    assert result.url == (f"https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs/{job_id}"
                          f"?project={PROJECT}")
    assert body["displayName"] == "nightly retrain"
    assert _floats(body["pipelineSpec"]) == _floats(spec)
    assert not any(on for task, on in _caching(body["pipelineSpec"]).items() if task in CACHE_OFF)
    assert body["serviceAccount"] == RUNNER
    assert body["runtimeConfig"]["gcsOutputDirectory"] == ROOT

    values = body["runtimeConfig"]["parameterValues"]
    expected = {**training_arguments(configs["vertex"]), "eval_fraction": 0.3, "estimator": "logistic_regression"}
    assert _floats(values) == _floats(expected)
    assert values["data_uri"] == "gs://governed-ml-data/adult/latest.csv"
    assert values["protected_attributes"] == [{"name": "gender", "privileged": "Male"},
                                              {"name": "age", "privileged": ">=25"}]
    assert values["gate_policy"] == {"min_roc_auc": 0.85, "max_regression": {"roc_auc": 0.01},
                                     "fairness": {"max_gap": {"equal_opportunity_difference": 0.2}}}
    assert values["estimator_params"] == '{"n_estimators": 50}'  # JSON text: 50 stays an integer
    assert values["champion_model_uri"] == "gs://governed-ml-data/models/champion"

    labels = body["labels"]
    assert labels["kfp-governance-pipeline"] == "training" and labels["kfp-governance-trigger"] == "submit"
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}", value), (key, value)
    assert not result.warnings


def test_vertex_schedule_is_translated_single_concurrency_and_carries_the_job(vertex, compiled, configs):
    _, _, spec = compiled
    result = remote.schedule("vertex", configs["vertex"], cron="0 3 * * mon", timezone="Europe/Berlin",
                             settings=_vertex_settings(vertex), environ={})

    listing = vertex.only("GET", PARENT + "/schedules")
    assert listing.arg("filter") == 'display_name="kfp-governance-training-schedule"'
    body = vertex.only("POST", PARENT + "/schedules").json
    assert vertex.requests.index(listing) < vertex.requests.index(vertex.only("POST", PARENT + "/schedules"))
    assert body["displayName"] == "kfp-governance-training-schedule"
    assert body["cron"] == "TZ=Europe/Berlin 0 3 * * 1"
    assert int(body["maxConcurrentRunCount"]) == 1
    assert not body.get("allowQueueing", False)  # a run due while one runs is skipped, not queued
    assert not body.get("catchUp", False)
    assert "maxRunCount" not in body and "endTime" not in body
    request = body["createPipelineJobRequest"]
    assert request["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    job = request["pipelineJob"]
    assert _floats(job["pipelineSpec"]) == _floats(spec)
    assert job["serviceAccount"] == RUNNER
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    assert _floats(job["runtimeConfig"]["parameterValues"]) == _floats(training_arguments(configs["vertex"]))
    assert job["labels"]["kfp-governance-trigger"] == "schedule"
    assert not vertex.calls("POST", PARENT + "/pipelineJobs")  # scheduling starts no run now
    assert result.name == f"projects/{PROJECT}/locations/{REGION}/schedules/1001"
    assert result.details["cron"] == "TZ=Europe/Berlin 0 3 * * 1"


def test_vertex_refuses_a_second_schedule_with_the_same_name(vertex, configs):
    remote.schedule("vertex", configs["vertex"], cron="@daily", settings=_vertex_settings(vertex), environ={})
    with pytest.raises(ConfigError) as err:
        remote.schedule("vertex", configs["vertex"], cron="@daily", settings=_vertex_settings(vertex), environ={})
    assert "already exists" in str(err.value) and "--name" in str(err.value)
    remote.schedule("vertex", configs["vertex"], cron="@daily", settings=_vertex_settings(vertex), environ={},
                    name="second-schedule")
    assert len(vertex.calls("POST", PARENT + "/schedules")) == 2


def test_flags_override_the_environment(vertex, configs):
    environ = {"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_CLOUD_REGION": "us-central1",
               "KFP_GOVERNANCE_PIPELINE_ROOT": "gs://from-env/root", "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT": RUNNER,
               "KFP_GOVERNANCE_VERTEX_ENDPOINT": vertex.url}
    remote.submit("vertex", configs["vertex"], settings={"region": REGION, "pipeline_root": ROOT}, environ=environ)
    body = vertex.only("POST", PARENT + "/pipelineJobs").json  # PARENT has the flag's region
    assert body["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    assert body["serviceAccount"] == RUNNER  # from the environment


@pytest.mark.parametrize("status", [403, 500])
def test_vertex_api_errors_name_the_endpoint_and_status(vertex, configs, status):
    vertex.fail("POST", PARENT + "/pipelineJobs", status, "Permission 'aiplatform.pipelineJobs.create' denied")
    with pytest.raises(remote.RemoteError) as err:
        remote.submit("vertex", configs["vertex"], settings=_vertex_settings(vertex), environ={})
    message = str(err.value)
    assert f"Vertex AI at {vertex.url} answered HTTP {status}" in message
    assert "creating the pipeline job" in message and "pipelineJobId=" not in message


def test_vertex_unreachable_names_the_endpoint(vertex, configs):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(remote.RemoteError) as err:
        remote.submit("vertex", configs["vertex"], settings=_vertex_settings(vertex, api_endpoint=endpoint),
                      environ={})
    assert f"cannot reach Vertex AI at {endpoint}" in str(err.value)
    assert "Connection refused" in str(err.value)


def test_a_failed_bucket_check_is_one_warning_not_a_traceback(vertex, configs):
    vertex.fail("GET", r"/storage/v1/b/.*", 403, "caller does not have storage.buckets.get access")
    result = remote.submit("vertex", configs["vertex"], settings=_vertex_settings(vertex), environ={})
    assert vertex.only("POST", PARENT + "/pipelineJobs")
    assert len(result.warnings) == 1 and "GCS bucket" in result.warnings[0] and "403" in result.warnings[0]


# -- Kubeflow Pipelines -------------------------------------------------------------------------------------------

def test_kfp_submit_sends_the_compiled_spec_the_parameters_and_the_token(kfp, compiled, configs, tmp_path):
    _, _, spec = compiled
    token = tmp_path / "token"
    token.write_text("projected-sa-token\n")
    result = remote.submit("kubeflow", configs["kubeflow"], params={"split_seed": "11"},
                           settings={"endpoint": kfp.url, "token_path": str(token), "namespace": "team-a",
                                     "pipeline_root": "minio://mlpipeline/v2/artifacts",
                                     "service_account": "kfp-governance-runner"},
                           environ={}, run_name="nightly retrain")

    assert {r.headers.get("authorization") for r in kfp.requests} == {"Bearer projected-sa-token"}
    experiment = kfp.only("POST", "/apis/v2beta1/experiments").json
    assert experiment == {"display_name": "kfp-governance", "namespace": "team-a"}
    body = kfp.only("POST", "/apis/v2beta1/runs").json
    assert body["display_name"] == "nightly retrain"
    assert body["experiment_id"] == "experiment-0001"
    assert body["service_account"] == "kfp-governance-runner"
    assert _floats(body["pipeline_spec"]) == _floats(spec)
    assert not any(on for task, on in _caching(body["pipeline_spec"]).items() if task in CACHE_OFF)
    runtime = body["runtime_config"]
    assert runtime["pipeline_root"] == "minio://mlpipeline/v2/artifacts"
    assert runtime["parameters"] == {**training_arguments(configs["kubeflow"]), "split_seed": 11}
    assert runtime["parameters"]["data_uri"] == "s3://governed-ml-data/adult/latest.csv"
    assert runtime["parameters"]["protected_attributes"][1] == {"name": "age", "privileged": ">=25"}
    assert runtime["parameters"]["gate_policy"]["min_roc_auc"] == 0.85
    assert not kfp.calls("POST", r"/apis/v2beta1/pipelines/.*")  # a run carries its spec; nothing uploaded
    assert result.name == "run-0002" and result.url == f"{kfp.url}/#/runs/details/run-0002"


def test_kfp_schedule_uploads_a_version_and_creates_a_recurring_run(kfp, compiled, configs):
    _, raw, spec = compiled
    result = remote.schedule("kubeflow", configs["kubeflow"], cron="0 3 * * mon", timezone="UTC",
                             settings={"endpoint": kfp.url, "service_account": "kfp-governance-runner"}, environ={})

    upload = kfp.only("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.arg("name") == "kfp-governance-training"
    assert upload.parts["uploadfile"]["content"] == raw  # the very bytes of the compiled YAML
    version = kfp.only("POST", "/apis/v2beta1/pipelines/upload_version")
    assert version.parts["uploadfile"]["content"] == raw
    assert re.fullmatch(r"kfp-governance-training-0-1-0-[0-9a-f]{12}", version.arg("name"))
    body = kfp.only("POST", "/apis/v2beta1/recurringruns").json
    assert body["display_name"] == "kfp-governance-training-schedule"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1"}}
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["service_account"] == "kfp-governance-runner"
    assert body["experiment_id"] == "experiment-0001"
    reference = body["pipeline_version_reference"]
    assert kfp.versions[reference["pipeline_version_id"]]["pipeline_id"] == reference["pipeline_id"]
    assert kfp.versions[reference["pipeline_version_id"]]["display_name"] == version.arg("name")
    assert "pipeline_spec" not in body
    assert body["runtime_config"]["parameters"] == training_arguments(configs["kubeflow"])
    assert _floats(kfp.versions[reference["pipeline_version_id"]]["pipeline_spec"]) == _floats(spec)
    assert not kfp.calls("POST", "/apis/v2beta1/runs")
    assert result.url == f"{kfp.url}/#/recurringrun/details/{result.name}"


def test_kfp_schedule_reuses_an_uploaded_version_and_refuses_a_duplicate(kfp, configs):
    settings = {"endpoint": kfp.url}
    remote.schedule("kubeflow", configs["kubeflow"], cron="@weekly", settings=settings, environ={})
    with pytest.raises(ConfigError) as err:
        remote.schedule("kubeflow", configs["kubeflow"], cron="@weekly", settings=settings, environ={})
    assert "already exists" in str(err.value) and "every run twice" in str(err.value)
    remote.schedule("kubeflow", configs["kubeflow"], cron="@daily", settings=settings, environ={}, name="daily")
    assert len(kfp.calls("POST", "/apis/v2beta1/pipelines/upload")) == 1
    assert len(kfp.calls("POST", "/apis/v2beta1/pipelines/upload_version")) == 1  # same spec: same version
    crons = [r.json["trigger"]["cron_schedule"]["cron"] for r in kfp.calls("POST", "/apis/v2beta1/recurringruns")]
    assert crons == ["0 0 0 * * 0", "0 0 0 * * *"]


def test_kfp_multi_user_install_needs_a_namespace(kfp, configs):
    kfp.multi_user = True
    with pytest.raises(ConfigError) as err:
        remote.submit("kubeflow", configs["kubeflow"], settings={"endpoint": kfp.url}, environ={})
    assert "multi-user" in str(err.value) and "KFP_GOVERNANCE_NAMESPACE" in str(err.value)
    assert not kfp.calls("POST")


@pytest.mark.parametrize("status, path", [(500, "/apis/v2beta1/runs"), (403, "/apis/v2beta1/experiments")])
def test_kfp_api_errors_name_the_endpoint_and_status(kfp, configs, status, path):
    kfp.fail("POST", path, status, "injected by the test")
    with pytest.raises(remote.RemoteError) as err:
        remote.submit("kubeflow", configs["kubeflow"], settings={"endpoint": kfp.url}, environ={})
    assert f"the KFP API at {kfp.url} answered HTTP {status}" in str(err.value)
    assert "injected by the test" in str(err.value)


# -- parameters ---------------------------------------------------------------------------------------------------

def test_param_overrides_are_typed_by_the_compiled_parameters(kfp, configs):
    params = {"eval_fraction": "0.3", "split_seed": "5", "features": '["age", "education"]',
              "estimator_params": '{"max_depth": 3}', "positive_label": "1", "label": "income",
              "gate_policy": '{"min_roc_auc": 0.9}'}
    remote.submit("kubeflow", configs["kubeflow"], params=params, settings={"endpoint": kfp.url}, environ={})
    values = kfp.only("POST", "/apis/v2beta1/runs").json["runtime_config"]["parameters"]
    assert values["eval_fraction"] == 0.3 and values["split_seed"] == 5
    assert values["features"] == ["age", "education"]
    assert values["estimator_params"] == '{"max_depth": 3}'  # a STRING parameter: the JSON text as given
    assert values["positive_label"] == "1" and values["label"] == "income"  # string parameters stay text
    assert values["gate_policy"] == {"min_roc_auc": 0.9}


def test_an_unknown_parameter_lists_the_valid_ones(configs, tmp_path):
    with pytest.raises(ConfigError) as err:
        remote.prepare("kubeflow", configs["kubeflow"], params={"eval_fractoin": "0.3"}, directory=tmp_path)
    message = str(err.value)
    assert "unknown pipeline parameter 'eval_fractoin'" in message
    assert "eval_fraction" in message and "data_uri" in message and "gate_policy" in message


@pytest.mark.parametrize("name, value, kind", [("split_seed", "seven", "an integer"), ("split_seed", "1.5", "an integer"),
                                               ("eval_fraction", "true", "a number"), ("features", "age", "a JSON list"),
                                               ("gate_policy", "[1]", "a JSON object")])
def test_a_parameter_of_the_wrong_type_is_refused(configs, tmp_path, name, value, kind):
    with pytest.raises(ConfigError) as err:
        remote.prepare("kubeflow", configs["kubeflow"], params={name: value}, directory=tmp_path)
    assert f"--param {name}={value!r}: {name} takes {kind}" in str(err.value)


def test_a_local_data_path_is_refused_for_a_remote_run(configs, tmp_path):
    with pytest.raises(ConfigError) as err:
        remote.prepare("vertex", configs["vertex"], params={"data_uri": "/home/me/adult.csv"}, directory=tmp_path)
    assert "data_uri '/home/me/adult.csv' is a local path" in str(err.value) and "gs://" in str(err.value)


# -- settings -----------------------------------------------------------------------------------------------------

FULL_VERTEX = {"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_CLOUD_REGION": REGION, "KFP_GOVERNANCE_PIPELINE_ROOT": ROOT,
               "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT": RUNNER}


@pytest.mark.parametrize("target, environ, missing, flag", [
    ("vertex", FULL_VERTEX, "GOOGLE_CLOUD_PROJECT", "--project"),
    ("vertex", FULL_VERTEX, "GOOGLE_CLOUD_REGION", "--region"),
    ("vertex", FULL_VERTEX, "KFP_GOVERNANCE_PIPELINE_ROOT", "--pipeline-root"),
    ("vertex", FULL_VERTEX, "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT", "--service-account"),
    ("kubeflow", {"KF_PIPELINES_ENDPOINT": "http://ml-pipeline:8888"}, "KF_PIPELINES_ENDPOINT", "--endpoint"),
])
def test_a_missing_setting_names_the_variable_and_the_flag(target, environ, missing, flag):
    assert remote.resolve_settings(target, {}, environ)
    partial = {k: v for k, v in environ.items() if k != missing}
    with pytest.raises(ConfigError) as err:
        remote.resolve_settings(target, {}, partial)
    assert f"set {missing} or pass {flag}" in str(err.value)
    with pytest.raises(ConfigError) as err:
        remote.resolve_settings(target, {}, {**partial, missing: ""})
    assert f"{missing} is set but empty" in str(err.value)


@pytest.mark.parametrize("target, flags, words", [
    ("vertex", {"pipeline_root": "/tmp/root"}, ["not a Cloud Storage URI", "gs://"]),
    ("vertex", {"service_account": "runner"}, ["not an email address"]),
    ("kubeflow", {"endpoint": "ml-pipeline:8888"}, ["has no scheme", "http://"]),
    ("kubeflow", {"endpoint": "http://x", "project": "p"}, ["--project does not apply to --target kubeflow"]),
])
def test_settings_values_are_checked(target, flags, words):
    environ = FULL_VERTEX if target == "vertex" else {}
    with pytest.raises(ConfigError) as err:
        remote.resolve_settings(target, flags, environ)
    for word in words:
        assert word in str(err.value)


def test_a_missing_token_file_names_the_variable(kfp, configs, tmp_path):
    with pytest.raises(ConfigError) as err:
        remote.submit("kubeflow", configs["kubeflow"], settings={"endpoint": kfp.url},
                      environ={"KF_PIPELINES_SA_TOKEN_PATH": str(tmp_path / "absent")})
    assert "KF_PIPELINES_SA_TOKEN_PATH" in str(err.value)
    assert not kfp.requests


# -- the CLI: what a user (or the CronJob) sees -------------------------------------------------------------------

def _one_line_error(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: ")
    for word in words:
        assert word in result.stderr, result.stderr


def test_cli_submit_to_kubeflow_from_the_overlay_environment(kfp, config_files, clean_env, tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken")
    for name, value in {"KF_PIPELINES_ENDPOINT": kfp.url, "KF_PIPELINES_SA_TOKEN_PATH": str(token),
                        "KFP_GOVERNANCE_NAMESPACE": "team-a", "KFP_GOVERNANCE_PIPELINE_ROOT": "minio://mlpipeline/v2",
                        "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT": "kfp-governance-runner"}.items():
        clean_env.setenv(name, value)
    result = run_cli("submit", "--target", "kubeflow", "--config", str(config_files["kubeflow"]),
                     "--param", "eval_fraction=0.3")
    assert result.returncode == 0, result.stderr
    assert "created run" in result.stdout and "run-0002" in result.stdout
    assert f"{kfp.url}/#/runs/details/run-0002" in result.stdout
    body = kfp.only("POST", "/apis/v2beta1/runs").json
    assert body["runtime_config"]["parameters"]["eval_fraction"] == 0.3
    assert body["service_account"] == "kfp-governance-runner"
    assert kfp.only("POST", "/apis/v2beta1/experiments").json["namespace"] == "team-a"


def test_cli_schedule_on_vertex(vertex, config_files, clean_env):
    result = run_cli("schedule", "--target", "vertex", "--config", str(config_files["vertex"]),
                     "--cron", "@weekly", "--timezone", "Europe/Berlin", "--project", PROJECT, "--region", REGION,
                     "--pipeline-root", ROOT, "--service-account", RUNNER, "--api-endpoint", vertex.url)
    assert result.returncode == 0, result.stderr
    assert "created schedule" in result.stdout and "TZ=Europe/Berlin 0 0 * * 0" in result.stdout
    assert vertex.only("POST", PARENT + "/schedules").json["cron"] == "TZ=Europe/Berlin 0 0 * * 0"


def test_cli_unknown_target(config_files):
    _one_line_error(run_cli("submit", "--target", "sagemaker", "--config", str(config_files["vertex"])),
                    "unknown target 'sagemaker'", "vertex, kubeflow")


def test_cli_missing_setting(config_files, clean_env):
    clean_env.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    _one_line_error(run_cli("submit", "--target", "vertex", "--config", str(config_files["vertex"])),
                    "missing setting for --target vertex", "GOOGLE_CLOUD_REGION", "--region")


def test_cli_kubeflow_unreachable(config_files, clean_env):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    _one_line_error(run_cli("submit", "--target", "kubeflow", "--config", str(config_files["kubeflow"]),
                            "--endpoint", endpoint),
                    f"cannot reach the KFP API at {endpoint}", "Connection refused")


def test_cli_kubeflow_api_error(kfp, config_files):
    kfp.fail("POST", "/apis/v2beta1/runs", 500, "workflow creation failed")
    _one_line_error(run_cli("submit", "--target", "kubeflow", "--config", str(config_files["kubeflow"]),
                            "--endpoint", kfp.url),
                    f"the KFP API at {kfp.url} answered HTTP 500", "workflow creation failed")


def test_cli_vertex_api_error(vertex, config_files):
    vertex.fail("POST", PARENT + "/pipelineJobs", 403, "Permission 'aiplatform.pipelineJobs.create' denied")
    _one_line_error(run_cli("submit", "--target", "vertex", "--config", str(config_files["vertex"]),
                            "--project", PROJECT, "--region", REGION, "--pipeline-root", ROOT,
                            "--service-account", RUNNER, "--api-endpoint", vertex.url),
                    f"Vertex AI at {vertex.url} answered HTTP 403", "aiplatform.pipelineJobs.create")


def test_cli_bad_param(config_files, kfp):
    _one_line_error(run_cli("submit", "--target", "kubeflow", "--config", str(config_files["kubeflow"]),
                            "--endpoint", kfp.url, "--param", "eval_fractoin=0.3"),
                    "unknown pipeline parameter 'eval_fractoin'")
    assert not kfp.calls("POST")


def test_errors_are_governance_errors():
    assert issubclass(remote.RemoteError, GovernanceError)
    assert json.loads(json.dumps(remote.TARGETS)) == ["vertex", "kubeflow"]
