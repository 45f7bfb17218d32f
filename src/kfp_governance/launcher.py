"""What every component does around its executor, inside the container.

:func:`step` configures logging and turns a :class:`GovernanceError` into one
line on stderr and a non-zero exit, so a user's mistake reads as a message,
not as a traceback, in the KFP UI, in Vertex AI and in ``kfp-governance run``.

>>> from kfp_governance.launcher import step
>>> with step("example"):
...     pass
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from kfp_governance.errors import GovernanceError

ERROR_PREFIX = "kfp-governance error"


@contextmanager
def step(name: str) -> Iterator[None]:
    """Run one component's body: log its duration; exit cleanly on a user error."""
    logging.basicConfig(level=os.environ.get("KFP_GOVERNANCE_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {name} %(levelname)s %(message)s", stream=sys.stderr, force=True)
    log = logging.getLogger("kfp_governance")
    started = time.perf_counter()
    try:
        yield
    except GovernanceError as err:
        print(f"{ERROR_PREFIX} in {name}: {err}", file=sys.stderr, flush=True)
        sys.exit(err.exit_code)
    log.info("%s finished in %.1f s", name, time.perf_counter() - started)
