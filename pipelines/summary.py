"""The end-of-run summary: what a person wants to see after ``kfp-governance run``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _meta(artifact) -> dict[str, Any]:
    return dict(getattr(artifact, "metadata", {}) or {})


def summarize(run) -> dict[str, Any]:
    """Collect rows, checks, metrics and report locations from a finished local run."""
    out = run.outputs
    summary: dict[str, Any] = {"seconds": round(run.seconds, 1),
                               "tasks": [{"name": t.name, "seconds": round(t.seconds, 2), "status": t.status}
                                         for t in run.tasks]}
    if "train_data" in out:
        meta = _meta(out["train_data"])
        summary["data"] = {k: meta.get(k) for k in ("source_uri", "source_sha256", "rows", "train_rows",
                                                     "eval_rows", "label", "positive_label")}
    if "model" in out:
        meta = _meta(out["model"])
        summary["model"] = {"path": out["model"].path, "estimator": meta.get("estimator"),
                            "sha256": meta.get("model_sha256")}
    if "metrics" in out:
        summary["metrics"] = {k: v for k, v in _meta(out["metrics"]).items()}
    reports = {name: artifact.path for name, artifact in out.items()
               if type(artifact).__name__ in ("HTML", "Markdown")}
    if reports:
        summary["reports"] = reports
    for key in ("validation", "fairness", "explanation", "gate"):
        if f"{key}_summary" in out:
            summary[key] = _meta(out[f"{key}_summary"])
    return summary


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """Print the summary as a few small tables."""
    data = summary.get("data", {})
    if data:
        console.print(f"\n[bold]data[/] {data['rows']:,.0f} rows → {data['train_rows']:,.0f} train / "
                      f"{data['eval_rows']:,.0f} eval · sha256 {str(data['source_sha256'])[:12]}…", highlight=False)
    if "model" in summary:
        model = summary["model"]
        console.print(f"[bold]model[/] {model['estimator']} · sha256 {str(model['sha256'])[:12]}… · {model['path']}",
                      highlight=False)
    if summary.get("metrics"):
        table = Table(title="evaluation (eval split)", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in sorted(summary["metrics"].items()):
            table.add_row(name, f"{value:,.0f}" if name.endswith("rows") else f"{value:.4f}")
        console.print(table)
    if summary.get("reports"):
        table = Table(title="reports", title_justify="left")
        table.add_column("report")
        table.add_column("path")
        for name, path in summary["reports"].items():
            table.add_row(name, path)
        console.print(table)
    tasks = Table(title=f"tasks (wall time, {summary['seconds']:.1f} s in all)", title_justify="left")
    tasks.add_column("task")
    tasks.add_column("seconds", justify="right")
    tasks.add_column("status")
    for task in summary["tasks"]:
        tasks.add_row(task["name"], f"{task['seconds']:.1f}", task["status"])
    console.print(tasks)
