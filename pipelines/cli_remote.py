"""``kfp-governance submit`` and ``kfp-governance schedule``: the reference pipelines on Vertex AI or Kubeflow.

Registered on the main Typer app by :func:`register`; nothing heavy is
imported until a command runs (google-cloud-aiplatform takes about ten
seconds to import).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from kfp_governance.errors import GovernanceError

EXIT_USER_ERROR = 2

_console = Console()
_err_console = Console(stderr=True)

_TARGET_HELP = "Where to run: vertex (Vertex AI Pipelines) or kubeflow (a KFP v2 API)."
_VERTEX = "Vertex AI"
_KFP = "Kubeflow"


def _fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    _err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def _settings(**flags: str | None) -> dict[str, str | None]:
    return {key: value for key, value in flags.items() if value is not None}


def _params(values: list[str] | None) -> dict[str, str]:
    from kfp_governance.pipelines.remote import parse_param

    params: dict[str, str] = {}
    for text in values or []:
        name, value = parse_param(text)
        params[name] = value
    return params


def _report(result) -> None:
    for note in result.warnings:
        _err_console.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    where = {"vertex": "Vertex AI Pipelines", "kubeflow": "Kubeflow Pipelines"}[result.target]
    _console.print(f"created {result.kind} [cyan]{result.display_name}[/] on {where}", highlight=False, soft_wrap=True)
    _console.print(f"  {result.kind}: {result.name}", highlight=False, soft_wrap=True)
    for key, value in result.details.items():
        _console.print(f"  {key}: {value}", highlight=False, soft_wrap=True)
    if result.url:
        _console.print(f"  url: {result.url}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``submit`` and ``schedule`` commands to ``app``."""

    @app.command()
    def submit(
        target: str = typer.Option(..., "--target", "-t", help=_TARGET_HELP),
        config: Path = typer.Option(..., "--config", "-c", help="YAML config (the same file as `run`)."),
        pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to submit."),
        param: list[str] | None = typer.Option(None, "--param", "-p", metavar="NAME=VALUE",
                                                  help="Override one pipeline parameter (repeatable); JSON "
                                                       "values are parsed."),
        run_name: str | None = typer.Option(None, "--run-name", help="Display name of the run."),
        project: str | None = typer.Option(None, "--project", help="project; env GOOGLE_CLOUD_PROJECT.",
                                              rich_help_panel=_VERTEX),
        region: str | None = typer.Option(None, "--region", help="region; env GOOGLE_CLOUD_REGION.",
                                             rich_help_panel=_VERTEX),
        api_endpoint: str | None = typer.Option(None, "--api-endpoint", rich_help_panel=_VERTEX,
                                                   help="API endpoint; env KFP_GOVERNANCE_VERTEX_ENDPOINT."),
        endpoint: str | None = typer.Option(None, "--endpoint", rich_help_panel=_KFP,
                                               help="KFP API URL; env KF_PIPELINES_ENDPOINT."),
        token_path: str | None = typer.Option(None, "--token-path", rich_help_panel=_KFP,
                                                 help="bearer token file; env KF_PIPELINES_SA_TOKEN_PATH."),
        namespace: str | None = typer.Option(None, "--namespace", rich_help_panel=_KFP,
                                                help="profile namespace; env KFP_GOVERNANCE_NAMESPACE."),
        experiment: str | None = typer.Option(None, "--experiment", rich_help_panel=_KFP,
                                                 help="experiment (default kfp-governance); env "
                                                      "KFP_GOVERNANCE_EXPERIMENT."),
        pipeline_root: str | None = typer.Option(None, "--pipeline-root",
                                                    help="Artifact root (gs://, minio://, s3://); env "
                                                         "KFP_GOVERNANCE_PIPELINE_ROOT."),
        service_account: str | None = typer.Option(None, "--service-account",
                                                      help="Identity the pipeline runs as; env "
                                                           "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT."),
    ) -> None:
        """Start one run of a reference pipeline on Vertex AI Pipelines or a Kubeflow Pipelines cluster."""
        from kfp_governance.pipelines import remote

        try:
            remote.check_target(target)
            params = _params(param)
            settings = _settings(project=project, region=region, api_endpoint=api_endpoint, endpoint=endpoint,
                                 token_path=token_path, namespace=namespace, experiment=experiment,
                                 pipeline_root=pipeline_root, service_account=service_account)
            remote.resolve_settings(target, settings)
            from kfp_governance.config import load_config

            cfg = load_config(config)
            result = remote.submit(target, cfg, pipeline=pipeline, params=params, settings=settings,
                                   run_name=run_name)
        except GovernanceError as err:
            _fail(str(err))
        _report(result)

    @app.command()
    def schedule(
        target: str = typer.Option(..., "--target", "-t", help=_TARGET_HELP),
        config: Path = typer.Option(..., "--config", "-c", help="YAML config (the same file as `run`)."),
        cron: str = typer.Option(..., "--cron", help="Standard 5-field cron ('0 3 * * 1': Mondays 03:00) or "
                                                     "@hourly/@daily/@weekly/@monthly/@yearly."),
        timezone: str | None = typer.Option(None, "--timezone", help="IANA time zone of --cron (default UTC; "
                                                                        "kubeflow: UTC only)."),
        name: str | None = typer.Option(None, "--name", help="Display name of the schedule (default "
                                                                "<pipeline name>-schedule)."),
        pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to schedule."),
        param: list[str] | None = typer.Option(None, "--param", "-p", metavar="NAME=VALUE",
                                                  help="Override one pipeline parameter (repeatable); JSON "
                                                       "values are parsed."),
        project: str | None = typer.Option(None, "--project", help="project; env GOOGLE_CLOUD_PROJECT.",
                                              rich_help_panel=_VERTEX),
        region: str | None = typer.Option(None, "--region", help="region; env GOOGLE_CLOUD_REGION.",
                                             rich_help_panel=_VERTEX),
        api_endpoint: str | None = typer.Option(None, "--api-endpoint", rich_help_panel=_VERTEX,
                                                   help="API endpoint; env KFP_GOVERNANCE_VERTEX_ENDPOINT."),
        endpoint: str | None = typer.Option(None, "--endpoint", rich_help_panel=_KFP,
                                               help="KFP API URL; env KF_PIPELINES_ENDPOINT."),
        token_path: str | None = typer.Option(None, "--token-path", rich_help_panel=_KFP,
                                                 help="bearer token file; env KF_PIPELINES_SA_TOKEN_PATH."),
        namespace: str | None = typer.Option(None, "--namespace", rich_help_panel=_KFP,
                                                help="profile namespace; env KFP_GOVERNANCE_NAMESPACE."),
        experiment: str | None = typer.Option(None, "--experiment", rich_help_panel=_KFP,
                                                 help="experiment (default kfp-governance); env "
                                                      "KFP_GOVERNANCE_EXPERIMENT."),
        pipeline_root: str | None = typer.Option(None, "--pipeline-root",
                                                    help="Artifact root (gs://, minio://, s3://); env "
                                                         "KFP_GOVERNANCE_PIPELINE_ROOT."),
        service_account: str | None = typer.Option(None, "--service-account",
                                                      help="Identity the pipeline runs as; env "
                                                           "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT."),
    ) -> None:
        """Run a reference pipeline on a schedule (a Vertex AI schedule or a KFP recurring run).

        At most one run at a time and no catch-up of missed runs. Use this or
        the Kustomize CronJob, never both: every run would happen twice.
        """
        from kfp_governance.pipelines import remote
        from kfp_governance.pipelines.cron import parse_cron

        try:
            remote.check_target(target)
            params = _params(param)
            settings = _settings(project=project, region=region, api_endpoint=api_endpoint, endpoint=endpoint,
                                 token_path=token_path, namespace=namespace, experiment=experiment,
                                 pipeline_root=pipeline_root, service_account=service_account)
            remote.resolve_settings(target, settings)
            parsed = parse_cron(cron, timezone)
            parsed.vertex() if target == "vertex" else parsed.kfp()  # refuse what the backend cannot express
            from kfp_governance.config import load_config

            cfg = load_config(config)
            result = remote.schedule(target, cfg, cron=cron, timezone=timezone, pipeline=pipeline, params=params,
                                     settings=settings, name=name)
        except GovernanceError as err:
            _fail(str(err))
        _report(result)
