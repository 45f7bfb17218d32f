"""Which code produced an artifact: package version, git commit, image.

The git commit comes from ``KFP_GOVERNANCE_GIT_COMMIT`` (set when an image is
built) or, in a development checkout, from ``git rev-parse HEAD``; the image
from ``KFP_GOVERNANCE_IMAGE`` when the component runs in one.
"""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from kfp_governance import __version__


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the code that runs, or ``None`` when it cannot be known."""
    commit = os.environ.get("KFP_GOVERNANCE_GIT_COMMIT")
    if commit:
        return commit
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def code_version() -> dict[str, str | None]:
    """Package version, git commit, image and Python version, for artifact records.

    >>> sorted(code_version())
    ['git_commit', 'image', 'package_version', 'python_version']
    """
    return {
        "package_version": __version__,
        "git_commit": git_commit(),
        "image": os.environ.get("KFP_GOVERNANCE_IMAGE"),
        "python_version": platform.python_version(),
    }
