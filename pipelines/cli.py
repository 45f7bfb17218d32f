"""``kfp-governance``: run, compile, submit and schedule the reference pipelines.

User errors (bad config, missing data, unknown names) end with one message and
exit code 2; a failed pipeline task with 1; ``--fail-on-reject`` with 3 when
the gate does not bless the model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from kfp_governance import __version__
from kfp_governance.errors import GovernanceError
from kfp_governance.pipelines.cli_registry import register as _register_registry
from kfp_governance.pipelines.cli_remote import register as _register_remote
from kfp_governance.pipelines.console import EXIT_REJECTED, EXIT_TASK_FAILED, console, err_console
from kfp_governance.pipelines.console import fail as _fail

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Governed ML pipelines for Kubeflow Pipelines v2 and Vertex AI.")


def _load_config(config: Path | None):
    from kfp_governance.config import default_config, load_config

    return load_config(config) if config else default_config()


def _version(value: bool) -> None:
    if value:
        console.print(f"kfp-governance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Governed ML pipelines for Kubeflow Pipelines v2 and Vertex AI."""


@app.command()
def run(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config; default: bundled UCI Adult."),
    output: Path = typer.Option(Path("kfp-governance-run"), "--output", "-o", help="Folder for artifacts and logs."),
    pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to run."),
    fail_on_reject: bool = typer.Option(False, "--fail-on-reject", help="Exit 3 if the gate rejects the model."),
) -> None:
    """Run a reference pipeline locally with kfp.local and print a summary."""
    from kfp_governance.pipelines.local_run import run_pipeline_locally
    from kfp_governance.pipelines.registry import get_pipeline
    from kfp_governance.pipelines.summary import print_summary, summarize
    from kfp_governance.preflight import check_data

    try:
        cfg = _load_config(config)
        pipeline_func, to_arguments = get_pipeline(pipeline)
        shape = check_data(cfg)
    except GovernanceError as err:
        _fail(str(err))
    console.print(f"[bold]kfp-governance {__version__}[/] · pipeline [cyan]{pipeline}[/] · data "
                  f"{cfg.data.uri} ({shape['rows']:,} rows, {shape['features']} features)", highlight=False)
    output = output.resolve()
    progress = Console(file=sys.stdout)  # kfp.local's own output is redirected to the run log

    def started(name: str) -> None:
        progress.print(f"  … {name}", highlight=False)

    def ended(timing) -> None:
        mark = "[green]✓[/]" if timing.status == "SUCCESS" else "[red]✗[/]"
        progress.print(f"  {mark} {timing.name} [dim]{timing.seconds:.1f} s[/]", highlight=False)

    result = run_pipeline_locally(pipeline_func, to_arguments(cfg), output, started, ended)
    if not result.succeeded:
        if result.user_errors:
            _fail("; ".join(result.user_errors) + f" (full log: {result.log_path})")
        _fail(f"the pipeline failed; see {result.log_path}", EXIT_TASK_FAILED)
    summary = summarize(result)
    (output / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    print_summary(console, summary)
    console.print(f"summary: {output / 'summary.json'} · log: {result.log_path}", highlight=False)
    gate = summary.get("gate")
    if fail_on_reject and gate is not None and not gate.get("blessed"):
        raise typer.Exit(EXIT_REJECTED)


@app.command()
def compile(
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the pipeline YAML."),
    pipeline: str = typer.Option("training", "--pipeline", help="Reference pipeline to compile."),
) -> None:
    """Compile a reference pipeline to one YAML document for KFP and Vertex AI Pipelines."""
    from kfp import compiler

    from kfp_governance.pipelines.registry import get_pipeline

    try:
        pipeline_func, _ = get_pipeline(pipeline)
    except GovernanceError as err:
        _fail(str(err))
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func, package_path=str(output))
    console.print(f"compiled [cyan]{pipeline}[/] to {output}", highlight=False)


@app.command("check-config")
def check_config(config: Path = typer.Argument(..., help="YAML config to check.")) -> None:
    """Validate a config file and the data it points at, without running anything."""
    from kfp_governance.preflight import check_data

    try:
        cfg = _load_config(config)
        shape = check_data(cfg)
    except GovernanceError as err:
        _fail(str(err))
    console.print(f"config OK: {shape['rows']:,} rows, {shape['features']} features, label {cfg.data.label!r}",
                  highlight=False)


_register_remote(app)  # submit and schedule
_register_registry(app)  # approve, reject, promote, rollback, serve, audit


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
