"""Serving as local processes on 127.0.0.1: the KServe model server from the serving environment.

:class:`LocalProcessBackend` runs the stable (champion) version and the canary
as two separate model-server processes, each on its own free port and
addressed directly (``Endpoint.url``). A local process has no traffic router:
the canary's percent is recorded in the state and reported by
:meth:`~LocalProcessBackend.status`, but nothing splits requests; callers
(the deployment judge) send each request to the endpoint they mean.

The state (pids, ports, versions, hashes, log files) lives in
``<state_dir>/<service>.json``, written atomically under a file lock, so a
later command in another process (``kfp-governance promote``, ``rollback``)
finds the servers an earlier one started. Servers run in their own session
and outlive the command that started them until ``stop``.

The server's Python is ``.venv-serving/bin/python`` (``make serving``) by
default; set ``KFP_GOVERNANCE_SERVING_PYTHON`` or pass ``python=`` to use
another (in the serving image: the image's own Python).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kfp_governance.errors import DeploymentError
from kfp_governance.serving.base import Endpoint, Rollout, ServingBackend
from kfp_governance.serving.client import is_ready
from kfp_governance.serving.model_server import verify_model_file

SERVER_MODULE = "kfp_governance.serving.model_server"
PYTHON_ENV = "KFP_GOVERNANCE_SERVING_PYTHON"
HOST = "127.0.0.1"
NO_ROUTER = "a local process has no traffic router: stable and canary are addressed directly; the percent is recorded only"


def default_serving_python() -> str:
    """``$KFP_GOVERNANCE_SERVING_PYTHON``, else the repository's ``.venv-serving/bin/python``.

    Else this Python when it has kserve (the serving image).
    """
    configured = os.environ.get(PYTHON_ENV)
    if configured:
        return configured
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / ".venv-serving" / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    import importlib.util

    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    raise DeploymentError("no Python with kserve for the local model server was found",
                          fix=f"run `make serving` (creates .venv-serving), or set {PYTHON_ENV}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(model_dir: str | Path, *, model_name: str, expected_sha256: str, port: int,
                   python: str | None = None, version: str | None = None, allow_pickle: bool = False,
                   host: str = HOST, request_log: str | Path | None = None,
                   request_log_max_bytes: int | None = None, request_log_sample_rate: float | None = None) -> list[str]:
    """The command line that runs our model server for one model folder (gRPC off; HTTP on ``host:port``)."""
    command = [python or default_serving_python(), "-m", SERVER_MODULE, "--model_dir", str(model_dir),
               "--model_name", model_name, "--expected_sha256", expected_sha256, "--http_port", str(port),
               "--bind_host", host, "--enable_grpc", "false", "--configure_logging", "true"]
    if version is not None:
        command += ["--model_version", str(version)]
    if allow_pickle:
        command.append("--allow-pickle")
    if request_log:
        command += ["--request-log", str(request_log)]
        if request_log_max_bytes is not None:
            command += ["--request-log-max-bytes", str(int(request_log_max_bytes))]
        if request_log_sample_rate is not None:
            command += ["--request-log-sample-rate", str(float(request_log_sample_rate))]
    return command


def serve(model_dir: str | Path, *, model_name: str = "model", expected_sha256: str | None = None, port: int = 8080,
          host: str = HOST, python: str | None = None, version: str | None = None, allow_pickle: bool = False,
          request_log: str | Path | None = None, request_log_max_bytes: int | None = None) -> int:
    """Run the model server in the foreground (``kfp-governance serve``) until it stops; return its exit status.

    ``expected_sha256`` defaults to the hash in the folder's ``model_record.json``
    (pass the registered hash when serving a registered version).
    """
    from kfp_governance.model_io import read_record
    from kfp_governance.serving.model_server import SKOPS_FILE

    if expected_sha256 is None:
        if (Path(model_dir) / SKOPS_FILE).is_file():
            raise DeploymentError(f"{model_dir} holds {SKOPS_FILE}, whose hash the record does not hold",
                                  fix="pass expected_sha256 (the registered hash of model.skops)")
        expected_sha256 = read_record(model_dir)["model_sha256"]
    verify_model_file(model_dir, expected_sha256)
    command = server_command(model_dir, model_name=model_name, expected_sha256=expected_sha256, port=port,
                             python=python, version=version, allow_pickle=allow_pickle, host=host,
                             request_log=request_log, request_log_max_bytes=request_log_max_bytes)
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait(timeout=30)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and SERVER_MODULE.encode() in cmdline


class LocalProcessBackend(ServingBackend):
    """Stable and canary model servers as processes on 127.0.0.1, their state in ``state_dir``."""

    backend = "local"

    def __init__(self, state_dir: str | Path, python: str | None = None, *, allow_pickle: bool = False,
                 start_timeout: float = 60.0, request_log_dir: str | Path | None = None,
                 request_log_max_bytes: int = 10 * 1024 * 1024):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._python = python
        self.allow_pickle = allow_pickle
        self.start_timeout = float(start_timeout)
        self.request_log_dir = Path(request_log_dir) if request_log_dir else None
        self.request_log_max_bytes = request_log_max_bytes
        self._children: dict[int, subprocess.Popen] = {}

    @property
    def python(self) -> str:
        return self._python or default_serving_python()

    # --- state ------------------------------------------------------------------------------------------------
    def _state_path(self, service: str) -> Path:
        if not service or "/" in service or service.startswith("."):
            raise DeploymentError(f"service name {service!r} cannot name a state file", fix="use a plain name")
        return self.state_dir / f"{service}.json"

    @contextlib.contextmanager
    def _locked(self, service: str):
        lock_path = self.state_dir / f".{service}.lock"
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self, service: str) -> dict[str, Any]:
        path = self._state_path(service)
        if not path.is_file():
            return {"service": service, "stable": None, "canary": None, "canary_percent": 0}
        return json.loads(path.read_text(encoding="utf-8"))

    def _write(self, service: str, state: dict[str, Any]) -> None:
        path = self._state_path(service)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def _rollout(self, state: dict[str, Any]) -> Rollout:
        def endpoint(entry):
            if not entry:
                return None
            return Endpoint(url=entry["url"], model=entry["model"], version=entry["version"],
                            model_sha256=entry["model_sha256"],
                            details={k: entry[k] for k in ("pid", "port", "log", "model_dir", "request_log") if k in entry}
                            | {"router": NO_ROUTER})

        return Rollout(service=state["service"], stable=endpoint(state.get("stable")), canary=endpoint(state.get("canary")),
                       canary_percent=int(state.get("canary_percent", 0)) if state.get("canary") else 0)

    # --- processes ----------------------------------------------------------------------------------------------
    def _start(self, service: str, role: str, model_dir: Path, version: str, model_sha256: str) -> dict[str, Any]:
        verify_model_file(model_dir, model_sha256)  # before any process starts
        port = free_port()
        log_path = self.state_dir / f"{service}-{role}-v{version}-{port}.log"
        request_log = None
        if self.request_log_dir:
            request_log = self.request_log_dir / f"{service}-v{version}.jsonl"
        command = server_command(model_dir, model_name=service, expected_sha256=model_sha256, port=port,
                                 python=self.python, version=version, allow_pickle=self.allow_pickle,
                                 request_log=request_log, request_log_max_bytes=self.request_log_max_bytes)
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        with open(log_path, "ab") as log:
            try:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True, env=env)
            except OSError as err:
                raise DeploymentError(f"cannot start the model server with {command[0]!r}: {err}",
                                      fix=f"run `make serving`, or set {PYTHON_ENV}") from None
        self._children[process.pid] = process
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + self.start_timeout
        while True:
            if process.poll() is not None:
                raise DeploymentError(f"the {role} model server for {service} v{version} exited with status "
                                      f"{process.returncode} before it was ready:\n{_tail(log_path)}",
                                      fix="read the server log above (" + str(log_path) + ")")
            if is_ready(url, service, timeout=1.0):
                break
            if time.monotonic() > deadline:
                self._terminate(process.pid)
                raise DeploymentError(f"the {role} model server for {service} v{version} was not ready within "
                                      f"{self.start_timeout:.0f} s:\n{_tail(log_path)}",
                                      fix="raise start_timeout on a busy machine, or read " + str(log_path))
            time.sleep(0.2)
        return {"url": url, "model": service, "version": str(version), "model_sha256": model_sha256,
                "pid": process.pid, "port": port, "log": str(log_path), "model_dir": str(model_dir),
                "request_log": str(request_log) if request_log else None, "started": time.time()}

    def _terminate(self, pid: int | None, timeout: float = 15.0) -> None:
        if not pid:
            return
        child = self._children.pop(pid, None)
        if not _alive(pid) and child is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if child is not None and child.poll() is not None:
                    return
                if child is None and not _alive(pid):
                    return
                time.sleep(0.1)

    def _live(self, entry: dict[str, Any] | None) -> dict[str, Any] | None:
        return entry if entry and _alive(entry.get("pid")) else None

    # --- ServingBackend ---------------------------------------------------------------------------------------
    def start_canary(self, service: str, model_dir: Path, *, version: str, model_sha256: str, percent: int) -> Rollout:
        if not 0 <= int(percent) <= 100:
            raise DeploymentError(f"canary percent must be within 0..100, got {percent}", fix="set deployment.canary_percent")
        model_dir = Path(model_dir)
        with self._locked(service):
            state = self._read(service)
            state["stable"] = self._live(state.get("stable"))
            canary = self._live(state.get("canary"))
            if canary and canary["version"] == str(version) and canary["model_sha256"] == model_sha256:
                state.update(canary=canary, canary_percent=int(percent))  # a retried call: resume
                self._write(service, state)
                return self._rollout(state)
            if canary:
                self._terminate(canary["pid"])
            state.update(canary=None, canary_percent=0)
            self._write(service, state)
            state["canary"] = self._start(service, "canary", model_dir, str(version), model_sha256)
            state["canary_percent"] = int(percent)
            self._write(service, state)
            return self._rollout(state)

    def promote(self, service: str) -> Rollout:
        with self._locked(service):
            state = self._read(service)
            canary = self._live(state.get("canary"))
            if not canary:
                stable = self._live(state.get("stable"))
                if stable and not state.get("canary"):  # promoted already (a retried call)
                    return self._rollout(state)
                raise DeploymentError(f"service {service!r} has no running canary to promote",
                                      fix="start a canary first (deploy the model)")
            old = state.get("stable")
            if old and old.get("pid") != canary["pid"]:
                self._terminate(old.get("pid"))
            state.update(stable=canary, canary=None, canary_percent=0)
            self._write(service, state)
            return self._rollout(state)

    def rollback(self, service: str) -> Rollout:
        with self._locked(service):
            state = self._read(service)
            if state.get("canary"):
                self._terminate(state["canary"].get("pid"))
            state.update(stable=self._live(state.get("stable")), canary=None, canary_percent=0)
            self._write(service, state)
            return self._rollout(state)

    def status(self, service: str) -> Rollout | None:
        with self._locked(service):
            if not self._state_path(service).is_file():
                return None
            state = self._read(service)
            state.update(stable=self._live(state.get("stable")), canary=self._live(state.get("canary")))
            if not state["stable"] and not state["canary"]:
                return None
            return self._rollout(state)

    def stop(self, service: str) -> None:
        with self._locked(service):
            state = self._read(service)
            for role in ("canary", "stable"):
                if state.get(role):
                    self._terminate(state[role].get("pid"))
            self._state_path(service).unlink(missing_ok=True)

    def describe(self, service: str) -> dict[str, Any]:
        """The stored state as plain data (for ``kfp-governance`` status output)."""
        rollout = self.status(service)
        return asdict(rollout) if rollout else {}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])
