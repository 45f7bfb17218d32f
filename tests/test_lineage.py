"""``kfp_governance.lineage.code_version()``: the commit and image that really ran.

Each case imports the package in a fresh interpreter from a copy of the
sources in a temporary git repository (so the answer is not cached and not
this checkout's): a clean and a dirty source checkout, the package inside a
foreign checkout, and a wheel built by ``setup.py``'s hook and unpacked, whose
stamp must win over whatever repository surrounds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SOURCES = ("src", "components", "pipelines", "pyproject.toml", "setup.py", "README.md")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_build_info.json")
DIGEST = "sha256:" + "0123456789abcdef" * 4

def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    out = subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                          "-c", "commit.gpgsign=false", *args], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _commit_all(repo: Path) -> str:
    if not (repo / ".git").exists():
        _git(repo, "init", "--quiet")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", "snapshot")
    return _git(repo, "rev-parse", "HEAD")


def _copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORE)
        else:
            shutil.copy2(source, dest / name)
    return dest


def _code_version(import_root: Path, **env: str) -> dict:
    """``code_version()`` of the package imported from ``import_root`` in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KFP_GOVERNANCE_")}
    script = ("import json, kfp_governance.lineage as l; "
              "print(json.dumps({'file': l.__file__, 'version': l.code_version()}))")
    out = subprocess.run([sys.executable, "-c", script], cwd=import_root, capture_output=True, text=True, timeout=60,
                         env=dict(clean, PYTHONPATH=str(import_root), PYTHONDONTWRITEBYTECODE="1", **env))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert Path(found["file"]).resolve().is_relative_to(import_root.resolve()), f"imported {found['file']}"
    return found["version"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> tuple[Path, str]:
    """A git repository holding a copy of this package's sources, committed: ``(top level, commit)``."""
    repo = _copy_sources(tmp_path_factory.mktemp("checkout") / "kfp-governance")
    return repo, _commit_all(repo)


def test_source_checkout_reports_its_commit_clean_then_dirty(checkout):
    repo, commit = checkout
    clean = _code_version(repo / "src")
    assert (clean["git_commit"], clean["git_dirty"], clean["commit_source"]) == (commit, False, "source-checkout")

    outside = repo / "docs" / "notes.md"  # not a package source: the code that runs is unchanged
    outside.parent.mkdir()
    outside.write_text("scratch\n")
    assert _code_version(repo / "src")["git_dirty"] is False

    module = repo / "src" / "kfp_governance" / "errors.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an uncommitted change\n")
        dirty = _code_version(repo / "src")
        assert (dirty["git_commit"], dirty["git_dirty"]) == (commit, True)
    finally:
        module.write_text(original)
    untracked = repo / "components" / "new_step.py"  # a new module would run too
    untracked.write_text("X = 1\n")
    try:
        assert _code_version(repo / "src")["git_dirty"] is True
    finally:
        untracked.unlink()
        shutil.rmtree(outside.parent)
    assert _code_version(repo / "src")["git_dirty"] is False


@pytest.mark.parametrize("layout", ["no-pyproject", "another-project", "ours-but-not-src-layout"])
def test_package_inside_a_foreign_checkout_reports_no_commit(tmp_path, layout):
    repo = tmp_path / "other"
    site = repo / ("lib" if layout == "ours-but-not-src-layout" else "src")
    shutil.copytree(ROOT / "src" / "kfp_governance", site / "kfp_governance", ignore=IGNORE)
    if layout == "another-project":
        (repo / "pyproject.toml").write_text('[project]\nname = "someone-elses-app"\nversion = "1.0"\n')
    elif layout == "ours-but-not-src-layout":
        shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    _commit_all(repo)
    version = _code_version(site)
    assert version["git_commit"] is None, "reported the commit of a repository that is not this package's source"
    assert (version["git_dirty"], version["commit_source"]) == (None, "unknown")


def test_no_git_repository_reports_no_commit(tmp_path):
    shutil.copytree(ROOT / "src" / "kfp_governance", tmp_path / "kfp_governance", ignore=IGNORE)
    version = _code_version(tmp_path, GIT_CEILING_DIRECTORIES=str(tmp_path.parent))
    assert (version["git_commit"], version["commit_source"]) == (None, "unknown")


def _build_wheel(source: Path, out: Path, **env: str) -> Path:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             "--disable-pip-version-check", "--wheel-dir", str(out), str(source)],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = time.perf_counter() - started
    assert seconds < 120, f"building the wheel took {seconds:.0f} s"
    (wheel,) = out.glob("kfp_governance-*.whl")
    return wheel


def _stamp(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read("kfp_governance/_build_info.json"))


def test_wheel_carries_the_build_stamp_and_it_wins_over_a_surrounding_checkout(tmp_path, checkout):
    repo, commit = checkout
    source = tmp_path / "source"
    shutil.copytree(repo, source)  # with its .git: the build reads the commit from it
    stamp = _stamp(_build_wheel(source, tmp_path / "dist"))
    assert (stamp["git_commit"], stamp["git_dirty"]) == (commit, False)
    assert not (source / "src" / "kfp_governance" / "_build_info.json").exists(), "the stamp went into the sources"

    # Installed (here: unpacked) inside someone else's repository, the stamp is still what counts.
    foreign = tmp_path / "foreign"
    with zipfile.ZipFile(tmp_path / "dist" / next(p.name for p in (tmp_path / "dist").iterdir())) as archive:
        archive.extractall(foreign / "site")
    _commit_all(foreign)
    version = _code_version(foreign / "site")
    assert (version["git_commit"], version["git_dirty"], version["commit_source"]) == (commit, False, "build-stamp")


def test_wheel_built_without_git_takes_the_commit_from_the_environment(tmp_path):
    source = _copy_sources(tmp_path / "context")  # as an image build's context: no .git
    commit = "f" * 40
    stamp = _stamp(_build_wheel(source, tmp_path / "dist", KFP_GOVERNANCE_GIT_COMMIT=commit,
                                KFP_GOVERNANCE_GIT_DIRTY="true", GIT_CEILING_DIRECTORIES=str(tmp_path)))
    assert (stamp["git_commit"], stamp["git_dirty"]) == (commit, True)
    unknown = _stamp(_build_wheel(source, tmp_path / "dist2", KFP_GOVERNANCE_GIT_COMMIT="unknown",
                                  GIT_CEILING_DIRECTORIES=str(tmp_path)))
    assert (unknown["git_commit"], unknown["git_dirty"]) == (None, None)


@pytest.mark.parametrize(("env", "expected"), [
    ({"KFP_GOVERNANCE_IMAGE": f"ghcr.io/kfp-governance/kfp-governance-training@{DIGEST}"},
     {"reference": f"ghcr.io/kfp-governance/kfp-governance-training@{DIGEST}", "digest": DIGEST}),
    ({"KFP_GOVERNANCE_IMAGE": "ghcr.io/kfp-governance/kfp-governance-training:0.1.0",
      "KFP_GOVERNANCE_IMAGE_BUILT_AS": "localhost/kfp-governance-training:0.1.0"},
     {"reference": "ghcr.io/kfp-governance/kfp-governance-training:0.1.0", "digest": None}),
    ({"KFP_GOVERNANCE_IMAGE_BUILT_AS": "localhost/kfp-governance-training:0.1.0"},
     {"reference": "localhost/kfp-governance-training:0.1.0", "digest": None}),
    ({"KFP_GOVERNANCE_IMAGE_BUILT_AS": ""}, {"reference": "local", "digest": None}),
    ({}, {"reference": "local", "digest": None}),
], ids=["digest", "tag-wins-over-built-as", "built-as", "empty-built-as", "unset"])
def test_image_reference_from_the_environment(monkeypatch, env, expected):
    from kfp_governance.lineage import code_version

    for name in ("KFP_GOVERNANCE_IMAGE", "KFP_GOVERNANCE_IMAGE_BUILT_AS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert code_version()["image"] == expected


def test_dirty_paths_are_what_the_package_is_built_from():
    from kfp_governance.lineage import SOURCE_PATHS

    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    roots = {Path(d).parts[0] for d in package_dirs.values()}
    assert roots | {"pyproject.toml", "setup.py"} == set(SOURCE_PATHS)
