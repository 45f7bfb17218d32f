"""The compiled pipeline: one YAML document, typed parameters, no cache for external inputs."""

from __future__ import annotations

import yaml
from conftest import run_cli


def _compile(tmp_path):
    path = tmp_path / "training.yaml"
    result = run_cli("compile", "--output", str(path))
    assert result.returncode == 0, result.stderr
    return path


def test_compiles_to_a_single_document_with_typed_parameters(tmp_path):
    documents = list(yaml.safe_load_all(_compile(tmp_path).read_text()))
    assert len(documents) == 1, "a second (platform) document breaks the Vertex AI SDK"
    spec = documents[0]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["data_uri"]["parameterType"] == "STRING"
    assert parameters["eval_fraction"]["parameterType"] == "NUMBER_DOUBLE"
    assert parameters["split_seed"]["parameterType"] == "NUMBER_INTEGER"
    assert parameters["protected_attributes"]["parameterType"] == "LIST"
    assert parameters["estimator_params"]["parameterType"] == "STRING"  # JSON text: a STRUCT turns ints into floats
    assert "isOptional" not in parameters["data_uri"]  # required: no silent default data


def test_load_data_is_never_cached(tmp_path):
    tasks = yaml.safe_load(_compile(tmp_path).read_text())["root"]["dag"]["tasks"]
    assert tasks["load-data"]["cachingOptions"].get("enableCache", False) is False
    assert tasks["train-model"]["cachingOptions"].get("enableCache") is True


def test_components_use_versioned_images_and_no_pip_install(tmp_path):
    from kfp_governance import __version__

    spec = yaml.safe_load(_compile(tmp_path).read_text())
    for name, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        assert container["image"].endswith(f":{__version__}"), name
        assert "pip install" not in " ".join(container["command"]), name


def test_image_registry_is_overridable_at_compile_time(tmp_path, monkeypatch):
    monkeypatch.setenv("KFP_GOVERNANCE_IMAGE_REGISTRY", "registry.internal:5000/ml")
    monkeypatch.setenv("KFP_GOVERNANCE_IMAGE_TAG", "@sha256:" + "0" * 64)
    spec = yaml.safe_load(_compile(tmp_path).read_text())
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images and all(i.startswith("registry.internal:5000/ml/kfp-governance-") for i in images)
    assert all(i.endswith("@sha256:" + "0" * 64) for i in images)


def test_each_family_can_be_pinned_by_its_own_digest(tmp_path, monkeypatch):
    digest = "registry.internal/kfp-governance-validation@sha256:" + "1" * 64
    monkeypatch.setenv("KFP_GOVERNANCE_IMAGE_VALIDATION", digest)
    spec = yaml.safe_load(_compile(tmp_path).read_text())
    images = {name: e["container"]["image"] for name, e in spec["deploymentSpec"]["executors"].items()}
    assert images["exec-validate-data"] == digest
    assert all(image != digest for name, image in images.items() if name != "exec-validate-data")
    # each task is told the exact reference it runs in, so its lineage records the digest
    for name, executor in spec["deploymentSpec"]["executors"].items():
        env = {e["name"]: e["value"] for e in executor["container"].get("env", [])}
        assert env["KFP_GOVERNANCE_IMAGE"] == images[name], name


def test_unknown_pipeline_is_a_clear_error(tmp_path):
    result = run_cli("compile", "--pipeline", "nope", "--output", str(tmp_path / "x.yaml"))
    assert result.returncode == 2
    assert "unknown pipeline 'nope'" in result.stderr and "Traceback" not in result.stderr
