"""``approve``, ``reject``, ``promote``, ``rollback``, ``serve`` and ``audit``: the registered models after a run.

Every command reads the same config as ``run`` (``--config``; default: the
bundled one) for the registry, the serving backend and the approval rule,
and leaves an audit record in the registry. ``approve`` deploys the approved
version through the same executor as the pipeline's ``deploy_model`` step,
so an approval given days after the run still goes through the canary.
"""

from __future__ import annotations

import getpass
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from kfp_governance.errors import GovernanceError
from kfp_governance.pipelines.console import console as _console
from kfp_governance.pipelines.console import fail as _fail

ConfigFile = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config; default: the bundled one.")]


def _context(config: Path | None):
    from kfp_governance.config import default_config, load_config
    from kfp_governance.registry import open_registry

    cfg = load_config(config) if config else default_config()
    return cfg, open_registry(cfg.registry)


def _record(registry, action: str, name: str, version: str | None, actor: str, reason: str, **details) -> None:
    import datetime as dt

    from kfp_governance.registry.base import AuditRecord

    registry.append_audit(AuditRecord(action=action, model_name=name, version=version, actor=actor,
                                      at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), reason=reason,
                                      details=details))


def _actor(registry, by: str) -> str:
    """``--by`` must be the registry's authenticated identity where it has one."""
    identity = registry.identity()
    if identity is not None and identity != by:
        raise GovernanceError(f"--by {by!r} is not the identity the registry authenticated ({identity!r})",
                              fix=f"run as {by!r}, or pass --by {identity!r}")
    return by


def _blessing_of(registry, name: str, version: str) -> tuple[bool, str, str]:
    """Whether the registered version was blessed (its tags), why not, and its model sha256."""
    target = registry.get_version(name, version)
    decision = (target.tags.get("gate.decision") or "").upper()
    return decision == "BLESSED", target.tags.get("gate.failed_checks", ""), target.model_sha256


def register(app: typer.Typer) -> None:
    """Add the registry and serving commands to the CLI."""

    @app.command()
    def approve(model: str, version: str, by: Annotated[str, typer.Option("--by", help="Who approves.")],
                reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
                eval_data: Annotated[Path | None, typer.Option("--eval-data", help="Eval split (Parquet) the canary "
                                                                                   "is judged on; needed to deploy.")] = None,
                config: ConfigFile = None, deploy: Annotated[bool, typer.Option(
                    "--deploy/--no-deploy", help="Deploy the approved version now (default).")] = True) -> None:
        """Approve a registered version (named person, reason) and deploy it through the canary."""
        try:
            cfg, registry = _context(config)
            actor = _actor(registry, by)
            target = registry.get_version(model, version)
            if cfg.approval.approvers and actor not in cfg.approval.approvers:
                raise GovernanceError(f"{actor!r} may not approve: approval.approvers is {cfg.approval.approvers}",
                                      fix="ask one of them, or add the name to approval.approvers")
            registry.set_approval(model, target.version, "approved")
            _record(registry, "approved", model, target.version, actor, reason)
            _console.print(f"approved {model} version {target.version} (by {actor})", highlight=False)
            if deploy:
                _deploy(cfg, registry, model, target.version, actor, eval_data)
        except GovernanceError as err:
            _fail(str(err))

    @app.command()
    def reject(model: str, version: str, by: Annotated[str, typer.Option("--by")],
               reason: Annotated[str, typer.Option("--reason")] = "", config: ConfigFile = None) -> None:
        """Reject a registered version: it is never deployed (recorded with who and why)."""
        try:
            _, registry = _context(config)
            actor = _actor(registry, by)
            target = registry.get_version(model, version)
            registry.set_approval(model, target.version, "rejected")
            _record(registry, "rejected", model, target.version, actor, reason)
            _console.print(f"rejected {model} version {target.version} (by {actor})", highlight=False)
        except GovernanceError as err:
            _fail(str(err))

    @app.command()
    def promote(model: str, by: Annotated[str, typer.Option("--by")],
                reason: Annotated[str, typer.Option("--reason")] = "", config: ConfigFile = None) -> None:
        """Give the running canary 100% of the traffic and make it the champion (by hand, recorded)."""
        from kfp_governance.registry.base import CHAMPION
        from kfp_governance.serving import open_serving

        try:
            cfg, registry = _context(config)
            actor = _actor(registry, by)
            serving = open_serving(cfg)
            service = cfg.serving.service or model
            state = serving.status(service)
            if state is None or state.canary is None:
                raise GovernanceError(f"{model!r} has no running canary to promote",
                                      fix="deploy a version first (kfp-governance approve MODEL VERSION)")
            version = state.canary.version
            if registry.get_version(model, version).approval == "rejected":
                raise GovernanceError(f"version {version} of {model!r} was rejected", fix="roll the canary back")
            previous = registry.alias(model, CHAMPION)
            serving.promote(service)
            registry.set_alias(model, CHAMPION, version)
            _record(registry, "promoted", model, version, actor, reason or "by hand",
                    replaced=previous.version if previous else None)
            _console.print(f"promoted {model} version {version} to champion", highlight=False)
        except GovernanceError as err:
            _fail(str(err))

    @app.command()
    def rollback(model: str, by: Annotated[str, typer.Option("--by")] = "",
                 reason: Annotated[str, typer.Option("--reason")] = "", config: ConfigFile = None) -> None:
        """Remove a running canary, or put the previous champion back in place of the current one."""
        from kfp_governance.registry.base import CHAMPION
        from kfp_governance.serving import open_serving

        try:
            cfg, registry = _context(config)
            actor = _actor(registry, by or getpass.getuser())
            serving = open_serving(cfg)
            service = cfg.serving.service or model
            state = serving.status(service)
            if state is not None and state.canary is not None:
                serving.rollback(service)
                _record(registry, "rolled_back", model, state.canary.version, actor, reason or "by hand")
                _console.print(f"rolled back the canary (version {state.canary.version}) of {model}", highlight=False)
                return
            current = registry.alias(model, CHAMPION)
            promotions = [r for r in registry.audit(model) if r.action == "promoted"
                          and current is not None and r.version == current.version and r.details.get("replaced")]
            if not promotions:
                raise GovernanceError(f"{model!r} has no previous champion to roll back to",
                                      fix="deploy another version instead (kfp-governance approve MODEL VERSION)")
            previous = str(promotions[-1].details["replaced"])
            folder = registry.download(model, previous, Path(tempfile.mkdtemp(prefix="kfp-governance-")) / "model")
            target = registry.get_version(model, previous)
            from kfp_governance.model_io import served_sha256

            serving.start_canary(service, folder, version=previous,
                                 model_sha256=served_sha256(folder, target.model_sha256), percent=100)
            serving.promote(service)
            registry.set_alias(model, CHAMPION, previous)
            _record(registry, "rolled_back", model, current.version if current else None, actor,
                    reason or "by hand", restored=previous)
            _console.print(f"rolled {model} back to version {previous}", highlight=False)
        except GovernanceError as err:
            _fail(str(err))

    @app.command()
    def serve(model: Annotated[str, typer.Argument(help="MODEL or MODEL@ALIAS or MODEL@VERSION (default alias "
                                                        "champion).")],
              port: Annotated[int, typer.Option("--port")] = 8080, config: ConfigFile = None) -> None:
        """Serve a registered version in the foreground on 127.0.0.1 with the KServe model server."""
        from kfp_governance.model_io import served_sha256
        from kfp_governance.registry.base import CHAMPION
        from kfp_governance.serving.local import serve as run_server

        try:
            cfg, registry = _context(config)
            name, _, which = model.partition("@")
            which = which or CHAMPION
            target = registry.get_version(name, which) if which.isdigit() else registry.alias(name, which)
            if target is None:
                raise GovernanceError(f"{name!r} has no version with alias {which!r}",
                                      fix="run the pipeline first, or name a version: MODEL@VERSION")
            folder = registry.download(name, target.version, Path(tempfile.mkdtemp()) / "model")
            sha = served_sha256(folder, target.model_sha256)
            _console.print(f"serving {name} version {target.version} on http://127.0.0.1:{port} "
                           f"(v1: /v1/models/{name}:predict, v2: /v2/models/{name}/infer)", highlight=False)
            raise typer.Exit(run_server(folder, model_name=name, expected_sha256=sha, port=port,
                                        version=target.version, allow_pickle=cfg.serving.allow_pickle))
        except GovernanceError as err:
            _fail(str(err))

    @app.command()
    def audit(model: str, version: Annotated[str | None, typer.Argument()] = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print the JSON form.")] = False,
              config: ConfigFile = None) -> None:
        """The version's evidence and every action on it, from the registry alone (EU AI Act Annex IV layout)."""
        from kfp_governance.executors.audit import audit_report, render_text

        try:
            _, registry = _context(config)
            report = audit_report(registry, model, version)
        except GovernanceError as err:
            _fail(str(err))
        if as_json:
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            _console.print(render_text(report), highlight=False)


def _deploy(cfg, registry, model: str, version: str, actor: str, eval_data: Path | None) -> None:
    from kfp_governance.executors.deploy_model import deploy_model
    from kfp_governance.serving import open_serving

    if eval_data is None:
        raise GovernanceError("approve needs --eval-data to judge the canary (the run's eval split, e.g. "
                              "<output>/.../load-data/eval_data)", fix="pass --eval-data, or --no-deploy")
    blessed, failed, sha = _blessing_of(registry, model, version)
    eval_path = eval_data
    result = deploy_model(registry, open_serving(cfg), model_name=model, version=version, blessed=blessed,
                          blessing_reason=failed, eval_path=eval_path,
                          protected_attributes=cfg.data.protected_attributes, approval_rule=cfg.approval.rule,
                          approvers=cfg.approval.approvers, policy=cfg.deployment, actor=actor,
                          service=cfg.serving.service or model, webhook_env=cfg.alerts.webhook_env,
                          expected_sha256=sha)
    style = {"deployed": "green", "skipped": "yellow", "rolled_back": "red"}[result.outcome]
    _console.print(f"deployment: [{style}]{result.outcome}[/]: {result.reason}", highlight=False)
    for stage in result.stages:
        _console.print(f"  {'✓' if stage['passed'] else '✗'} {stage['name']}: {stage['reason']}", highlight=False)
