"""Which code produced an artifact: package version, git commit (and whether it was dirty), image.

The commit comes from, in this order:

1. the **build stamp** ``kfp_governance/_build_info.json``, written into the
   package when a wheel is built (``setup.py``'s ``build_py``; in an image
   build from the ``REVISION`` / ``REVISION_DIRTY`` build arguments, since
   the build context has no ``.git``). Any non-editable install has one, so
   an installed package never looks at a git repository that happens to
   surround it;
2. a **source checkout**: with no stamp (the editable development install),
   ``git`` is asked only if the repository's top level is this package's own
   source tree (its ``pyproject.toml`` names ``kfp-governance`` and this
   module lies in its ``src/kfp_governance``). ``git_dirty`` is true when
   ``git status --porcelain`` reports anything under the paths the package is
   built from (:data:`SOURCE_PATHS`): modified or staged tracked files, and
   untracked files that are not ignored (a new module there would run too);
   changes elsewhere (tests, docs) do not make the code that runs dirty;
3. otherwise **unknown**: commit and dirty flag are ``None``.

The image is ``KFP_GOVERNANCE_IMAGE`` (the exact reference a compiled task
runs, its digest taken from a ``name@sha256:...`` reference), else
``KFP_GOVERNANCE_IMAGE_BUILT_AS`` (baked in at image build, no digest: a
tag may have moved since), else ``"local"``.

>>> version = code_version()
>>> sorted(version)
['commit_source', 'git_commit', 'git_dirty', 'image', 'package_version', 'python_version']
>>> version["commit_source"] in ("build-stamp", "source-checkout", "unknown")
True
>>> image_reference({"KFP_GOVERNANCE_IMAGE": "ghcr.io/o/kfp-governance-training@sha256:" + "ab" * 32})["digest"][:9]
'sha256:ab'
>>> image_reference({})
{'reference': 'local', 'digest': None}
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP = PACKAGE_DIR / "_build_info.json"
PROJECT_NAME = "kfp-governance"
# What the package is built from (pyproject.toml's [tool.setuptools.package-dir]), relative to the top level.
SOURCE_PATHS = ("src", "components", "pipelines", "pyproject.toml", "setup.py")
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def source_checkout(package_dir: Path = PACKAGE_DIR) -> dict[str, Any]:
    """``{"git_commit", "git_dirty"}`` of the checkout ``package_dir`` is the source of, or both ``None``.

    ``None`` when git is missing, ``package_dir`` is in no repository, or the
    repository is not this project's (a foreign checkout that merely contains
    the installed package). ``setup.py`` calls this too, to stamp a wheel.
    """
    unknown = {"git_commit": None, "git_dirty": None}
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    if not top:
        return unknown
    root = Path(top.strip()).resolve()
    try:
        name = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return unknown
    if name != PROJECT_NAME or package_dir.resolve() != root / "src" / "kfp_governance":
        return unknown
    commit = (_git(root, "rev-parse", "--verify", "HEAD") or "").strip() or None
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *SOURCE_PATHS)
    return {"git_commit": commit, "git_dirty": None if commit is None or status is None else bool(status.strip())}


@lru_cache(maxsize=1)
def _commit() -> tuple[str | None, bool | None, str]:
    if STAMP.is_file():
        stamp = json.loads(STAMP.read_text(encoding="utf-8"))
        commit = stamp.get("git_commit") or None
        return commit, stamp.get("git_dirty") if commit else None, "build-stamp" if commit else "unknown"
    found = source_checkout()
    return found["git_commit"], found["git_dirty"], "source-checkout" if found["git_commit"] else "unknown"


def image_reference(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """``{"reference", "digest"}`` of the image this runs in (see the module docstring)."""
    environ = os.environ if environ is None else environ
    reference = environ.get("KFP_GOVERNANCE_IMAGE", "").strip()
    if reference:
        match = _DIGEST.search(reference)
        return {"reference": reference, "digest": match.group(1) if match else None}
    built_as = environ.get("KFP_GOVERNANCE_IMAGE_BUILT_AS", "").strip()
    return {"reference": built_as or "local", "digest": None}


def code_version() -> dict[str, Any]:
    """Package version, git commit and dirty flag with their source, image and Python version."""
    from kfp_governance import __version__

    commit, dirty, source = _commit()
    return {
        "package_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "commit_source": source,
        "image": image_reference(),
        "python_version": platform.python_version(),
    }
