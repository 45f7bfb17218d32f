"""``kfp-governance submit`` and ``kfp-governance schedule``: the reference pipelines on Vertex AI or Kubeflow.

Registered on the main Typer app by :func:`register`; nothing heavy is
imported until a command runs (google-cloud-aiplatform takes about ten
seconds to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kfp_governance.errors import GovernanceError
from kfp_governance.pipelines.console import console as _console
from kfp_governance.pipelines.console import err_console as _err_console
from kfp_governance.pipelines.console import fail as _fail

_VERTEX = "Vertex AI"
_KFP = "Kubeflow"

# The options submit and schedule share, declared once.
Target = Annotated[str, typer.Option("--target", "-t", help="Where to run: vertex (Vertex AI Pipelines) or "
                                                              "kubeflow (a KFP v2 API).")]
ConfigFile = Annotated[Path, typer.Option("--config", "-c", help="YAML config (the same file as `run`).")]
Params = Annotated[list[str] | None, typer.Option("--param", "-p", metavar="NAME=VALUE",
                                                  help="Override one pipeline parameter (repeatable); JSON values "
                                                       "are parsed.")]
Project = Annotated[str | None, typer.Option("--project", help="project; env GOOGLE_CLOUD_PROJECT.",
                                             rich_help_panel=_VERTEX)]
Region = Annotated[str | None, typer.Option("--region", help="region; env GOOGLE_CLOUD_REGION.",
                                            rich_help_panel=_VERTEX)]
ApiEndpoint = Annotated[str | None, typer.Option("--api-endpoint", rich_help_panel=_VERTEX,
                                                 help="API endpoint; env KFP_GOVERNANCE_VERTEX_ENDPOINT.")]
Endpoint = Annotated[str | None, typer.Option("--endpoint", rich_help_panel=_KFP,
                                              help="KFP API URL; env KF_PIPELINES_ENDPOINT.")]
TokenPath = Annotated[str | None, typer.Option("--token-path", rich_help_panel=_KFP,
                                               help="bearer token file; env KF_PIPELINES_SA_TOKEN_PATH.")]
Namespace = Annotated[str | None, typer.Option("--namespace", rich_help_panel=_KFP,
                                               help="profile namespace; env KFP_GOVERNANCE_NAMESPACE.")]
Experiment = Annotated[str | None, typer.Option("--experiment", rich_help_panel=_KFP,
                                                help="experiment (default kfp-governance); env "
                                                     "KFP_GOVERNANCE_EXPERIMENT.")]
PipelineRoot = Annotated[str | None, typer.Option("--pipeline-root", help="Artifact root (gs://, minio://, s3://); "
                                                                          "env KFP_GOVERNANCE_PIPELINE_ROOT.")]
ServiceAccount = Annotated[str | None, typer.Option("--service-account", help="Identity the pipeline runs as; env "
                                                                              "KFP_GOVERNANCE_RUN_SERVICE_ACCOUNT.")]


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
        target: Target,
        config: ConfigFile,
        pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to submit."),
        param: Params = None,
        run_name: str | None = typer.Option(None, "--run-name", help="Display name of the run."),
        project: Project = None, region: Region = None, api_endpoint: ApiEndpoint = None,
        endpoint: Endpoint = None, token_path: TokenPath = None, namespace: Namespace = None,
        experiment: Experiment = None, pipeline_root: PipelineRoot = None, service_account: ServiceAccount = None,
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
        target: Target,
        config: ConfigFile,
        cron: str = typer.Option(..., "--cron", help="Standard 5-field cron ('0 3 * * 1': Mondays 03:00) or "
                                                     "@hourly/@daily/@weekly/@monthly/@yearly."),
        timezone: str | None = typer.Option(None, "--timezone", help="IANA time zone of --cron (default UTC; "
                                                                        "kubeflow: UTC only)."),
        name: str | None = typer.Option(None, "--name", help="Display name of the schedule (default "
                                                                "<pipeline name>-schedule)."),
        pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to schedule."),
        param: Params = None,
        project: Project = None, region: Region = None, api_endpoint: ApiEndpoint = None,
        endpoint: Endpoint = None, token_path: TokenPath = None, namespace: Namespace = None,
        experiment: Experiment = None, pipeline_root: PipelineRoot = None, service_account: ServiceAccount = None,
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
