"""A bounded retry for calls to a remote API: transient failures are retried with backoff, then one clear error.

>>> calls = []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise ConnectionError("reset")
...     return "ok"
>>> call_with_retry(flaky, attempts=3, backoff_s=0, transient=lambda e: isinstance(e, ConnectionError),
...                 exhausted=lambda e: RuntimeError(str(e)))
'ok'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_with_retry(fn: Callable[[], T], *, attempts: int, backoff_s: float,
                    transient: Callable[[BaseException], bool],
                    exhausted: Callable[[BaseException | None], Exception]) -> T:
    """``fn()``; a failure ``transient`` accepts is retried (``attempts`` in all, backoff doubling from
    ``backoff_s``), any other is raised as it is; when every attempt failed, ``exhausted(last error)`` is raised."""
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as err:
            if not transient(err):
                raise
            last = err
            if attempt + 1 < attempts:
                time.sleep(backoff_s * (2 ** attempt))
    raise exhausted(last) from None
