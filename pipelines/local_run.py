"""Run a reference pipeline on this machine with ``kfp.local``.

Every task runs as a subprocess of the current Python (no venv per task, no
container), so the locked development environment is the runtime. What
``kfp.local`` prints goes to ``<output>/run.log``; the console shows one line
per task with its wall time.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_governance.launcher import ERROR_PREFIX

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"Executing task '([^']+)'")
_END = re.compile(r"Task '([^']+)' finished with status (\w+)")
_USER_ERROR = re.compile(re.escape(ERROR_PREFIX) + r" in (\S+): (.*)")  # what launcher.step prints


@dataclass
class TaskTiming:
    name: str
    seconds: float
    status: str


@dataclass
class LocalRun:
    outputs: dict[str, Any]
    succeeded: bool
    tasks: list[TaskTiming] = field(default_factory=list)
    user_errors: list[str] = field(default_factory=list)
    log_path: Path | None = None
    seconds: float = 0.0


class _RunLog(io.TextIOBase):
    """A text stream that keeps kfp.local's output in a file and reports task starts and ends."""

    def __init__(self, path: Path, on_start: Callable[[str], None], on_end: Callable[[TaskTiming], None]):
        self._file = path.open("w", encoding="utf-8")
        self._pending = ""
        self._started: dict[str, float] = {}
        self._on_start, self._on_end = on_start, on_end
        self.tasks: list[TaskTiming] = []
        self.user_errors: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._file.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._read(_ANSI.sub("", line))
        return len(text)

    def _read(self, line: str) -> None:
        if match := _START.search(line):
            self._started[match.group(1)] = time.perf_counter()
            self._on_start(match.group(1))
        elif match := _END.search(line):
            name, state = match.groups()
            timing = TaskTiming(name, time.perf_counter() - self._started.get(name, time.perf_counter()), state)
            self.tasks.append(timing)
            self._on_end(timing)
        elif match := _USER_ERROR.search(line):
            self.user_errors.append(f"{match.group(1)}: {match.group(2).strip()}")

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        super().close()
        self._file.close()


def run_pipeline_locally(pipeline: Callable[..., Any], arguments: dict[str, Any], output_dir: Path,
                         on_start: Callable[[str], None] = lambda name: None,
                         on_end: Callable[[TaskTiming], None] = lambda timing: None) -> LocalRun:
    """Run ``pipeline(**arguments)`` with kfp.local's SubprocessRunner; artifacts go under ``output_dir``."""
    from kfp import local

    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = output_dir / "run.log"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(output_dir / "pipeline_root"),
               raise_on_error=False)
    run_log = _RunLog(log_path, on_start, on_end)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(run_log), warnings.catch_warnings():
            # Our components name their production image; locally the same code runs in this
            # Python, which is exactly what the locked environment is for.
            warnings.filterwarnings("ignore", message="You may be attemping to run a task")
            task = pipeline(**arguments)
    finally:
        run_log.close()
    outputs = dict(getattr(task, "outputs", None) or {})
    succeeded = bool(outputs) and all(t.status == "SUCCESS" for t in run_log.tasks)
    return LocalRun(outputs=outputs, succeeded=succeeded, tasks=run_log.tasks, user_errors=run_log.user_errors,
                    log_path=log_path, seconds=time.perf_counter() - started)
