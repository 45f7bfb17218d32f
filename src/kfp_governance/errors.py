"""User-facing errors.

Every mistake a user can make (a missing file, a bad config key, a label with
one class) raises a :class:`GovernanceError` that names the thing that was
wrong and how to fix it. The CLI and the component launcher print it as one
line and exit non-zero, without a traceback. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class GovernanceError(Exception):
    """An error the user can fix: ``what`` went wrong and ``fix`` says how.

    >>> err = GovernanceError("label column 'income' is not in the data", fix="set data.label")
    >>> str(err)
    "label column 'income' is not in the data; fix: set data.label"
    """

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what}; fix: {fix}")


class ConfigError(GovernanceError):
    """The configuration is malformed or names something that does not exist."""


class DataError(GovernanceError):
    """The data cannot be used as configured (missing, empty, wrong columns)."""


class EvidenceError(GovernanceError):
    """Evidence a step needs is missing or fails its integrity check."""


class IntegrityError(EvidenceError):
    """A file's sha256 differs from the one recorded when it was written."""


class TimeLimitError(GovernanceError):
    """A step ran past its configured wall-clock limit; the message names the limit, the value and the work done."""


class RegistryError(GovernanceError):
    """The model registry cannot be reached, or holds no such model, version or alias."""


class DeploymentError(GovernanceError):
    """A model cannot be deployed as asked (not blessed, not approved, hash mismatch, server unreachable)."""
