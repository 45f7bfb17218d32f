"""Build hook: stamp the wheel with the commit it is built from (see ``kfp_governance.lineage``).

Everything else about the package is in ``pyproject.toml``. ``build_py``
writes ``kfp_governance/_build_info.json`` into the build directory (never
into ``src/``), taking the commit from, in this order:

1. ``KFP_GOVERNANCE_GIT_COMMIT`` and ``KFP_GOVERNANCE_GIT_DIRTY``
   (``true``/``false``) in the environment: image builds, whose context has
   no ``.git``, pass them from the ``REVISION`` / ``REVISION_DIRTY`` build
   arguments;
2. git, if this directory is the top level of this project's checkout;
3. the stamp an sdist carries (``sdist`` writes one into the sdist, so a
   wheel built from it, as ``uv build`` and ``pip install <sdist>`` do,
   keeps the commit).

An editable install (``pip install -e .``) gets no stamp: its code is the
working tree, which ``lineage`` reads from git at run time.
"""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
STAMP = "_build_info.json"
UNSET = ("", "unknown", "none", "null")


def _lineage():
    spec = importlib.util.spec_from_file_location("_kfp_governance_lineage", HERE / "src" / "kfp_governance" / "lineage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_info() -> dict:
    commit = os.environ.get("KFP_GOVERNANCE_GIT_COMMIT", "").strip()
    if commit.lower() not in UNSET:
        dirty = os.environ.get("KFP_GOVERNANCE_GIT_DIRTY", "").strip().lower()
        found = {"git_commit": commit, "git_dirty": {"true": True, "1": True, "false": False, "0": False}.get(dirty),
                 "stamped_from": "environment"}
    else:
        found = dict(_lineage().source_checkout(HERE / "src" / "kfp_governance"), stamped_from="git")
        shipped = HERE / "src" / "kfp_governance" / STAMP
        if found["git_commit"] is None and shipped.is_file():  # building from an unpacked sdist
            found = dict(json.loads(shipped.read_text(encoding="utf-8")), stamped_from="sdist")
        elif found["git_commit"] is None:
            found["stamped_from"] = None
    return {**found, "built_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _write(directory: Path, info: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STAMP).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


class StampedBuildPy(build_py):
    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            _write(Path(self.build_lib) / "kfp_governance", build_info())


class StampedSdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        _write(Path(base_dir) / "src" / "kfp_governance", build_info())


setup(cmdclass={"build_py": StampedBuildPy, "sdist": StampedSdist})
