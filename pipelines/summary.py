"""The end-of-run summary: what a person wants to see after ``kfp-governance run``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from kfp_governance.evidence import read_json_document

REPORTS = ("validation_report", "fairness_report", "explanation_report", "gate_summary", "model_card")


def _meta(artifact) -> dict[str, Any]:
    return dict(getattr(artifact, "metadata", {}) or {})


def _json(artifact) -> dict[str, Any] | None:
    return read_json_document(getattr(artifact, "path", None))[0]


def summarize(run) -> dict[str, Any]:
    """Collect rows, anomalies, metrics, the gate's checks and report locations from a finished local run."""
    out = run.outputs
    summary: dict[str, Any] = {"seconds": round(run.seconds, 1),
                               "tasks": [{"name": t.name, "seconds": round(t.seconds, 2), "status": t.status}
                                         for t in run.tasks]}
    if "train_data" in out:
        meta = _meta(out["train_data"])
        summary["data"] = {k: meta.get(k) for k in ("source_uri", "source_sha256", "rows", "train_rows",
                                                     "eval_rows", "label", "positive_label")}
        if "eval_data" in out:  # what `kfp-governance approve --eval-data` judges a canary on
            summary["data"]["eval_split"] = out["eval_data"].path
    if "anomalies" in out:
        meta = _meta(out["anomalies"])
        summary["validation"] = {"anomaly_count": meta.get("anomaly_count"),
                                 "anomalies_by_feature": meta.get("anomalies_by_feature", {}),
                                 "drifted_features": meta.get("drifted_features", [])}
    if "model" in out:
        meta = _meta(out["model"])
        summary["model"] = {"path": out["model"].path, "estimator": meta.get("estimator"),
                            "sha256": meta.get("model_sha256")}
    if "metrics" in out:
        summary["metrics"] = _meta(out["metrics"])
    if "blessing" in out and (blessing := _json(out["blessing"])):
        summary["gate"] = {"blessed": blessing["blessed"], "decision": blessing["decision"],
                           "failed_checks": blessing["failed_checks"],
                           "checks": [{k: c[k] for k in ("name", "verdict", "value", "comparison", "threshold",
                                                          "reason")} for c in blessing["checks"]]}
    if "registration" in out and (registration := _json(out["registration"])):
        summary["registration"] = {k: registration.get(k) for k in ("model_name", "version", "aliases", "registry",
                                                                     "decision")}
    if "deployment" in out and (deployment := _json(out["deployment"])):
        summary["deployment"] = {k: deployment.get(k) for k in ("outcome", "model_name", "version", "reason",
                                                                 "replaced", "endpoint")}
    summary["reports"] = {name: out[name].path for name in REPORTS if name in out}
    return summary


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def _print_release(console: Console, summary: dict[str, Any]) -> None:
    if "registration" in summary:
        r = summary["registration"]
        console.print(f"[bold]registered[/] {r['model_name']} version {r['version']}"
                      + (f" in {r['registry']}" if r.get("registry") else "")
                      + (f" · aliases {', '.join(r['aliases'])}" if r.get("aliases") else ""), highlight=False)
    if "deployment" in summary:
        d = summary["deployment"]
        style = {"deployed": "green", "skipped": "yellow", "rolled_back": "red"}.get(d["outcome"], "white")
        console.print(f"[bold]deployment[/] [{style}]{d['outcome']}[/]: {d['reason']}"
                      + (f" · serving at {d['endpoint']}" if d.get("endpoint") else ""), highlight=False)


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """Print the summary as a few small tables."""
    data = summary.get("data", {})
    if data:
        console.print(f"\n[bold]data[/] {data['rows']:,.0f} rows → {data['train_rows']:,.0f} train / "
                      f"{data['eval_rows']:,.0f} eval · sha256 {str(data['source_sha256'])[:12]}…", highlight=False)
    if "validation" in summary:
        validation = summary["validation"]
        detail = "; ".join(f"{f}: {', '.join(kinds)}" for f, kinds in validation["anomalies_by_feature"].items())
        console.print(f"[bold]validation[/] {validation['anomaly_count']:.0f} anomalies" +
                      (f" ({detail})" if detail else "") +
                      (f" · drifted: {', '.join(validation['drifted_features'])}"
                       if validation["drifted_features"] else ""), highlight=False)
    if "model" in summary:
        model = summary["model"]
        console.print(f"[bold]model[/] {model['estimator']} · sha256 {str(model['sha256'])[:12]}…", highlight=False)
    if summary.get("metrics"):
        table = Table(title="evaluation on the eval split", title_justify="left", min_width=40)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in sorted(summary["metrics"].items()):
            table.add_row(name, f"{value:,.0f}" if name.endswith("rows") else f"{value:.4f}")
        console.print(table)
    if "gate" in summary:
        gate = summary["gate"]
        style = "bold green" if gate["blessed"] else "bold red"
        table = Table(title=f"gate: [{style}]{gate['decision']}[/]", title_justify="left", min_width=60)
        for column in ("verdict", "check", "value", "threshold", "note"):
            table.add_column(column, justify="right" if column == "value" else "left")
        colour = {"pass": "green", "fail": "red", "skipped": "dim"}
        for check in gate["checks"]:
            threshold = "" if check["threshold"] is None else f"{check['comparison']} {check['threshold']:g}"
            table.add_row(f"[{colour[check['verdict']]}]{check['verdict']}[/]", check["name"],
                          _number(check["value"]), threshold, check["reason"])
        console.print(table)
    _print_release(console, summary)
    if summary.get("reports"):
        table = Table(title="reports", title_justify="left")
        table.add_column("report")
        table.add_column("path", overflow="fold")
        for name, path in summary["reports"].items():
            table.add_row(name, path)
        console.print(table)
    tasks = Table(title=f"tasks (wall time; {summary['seconds']:.1f} s in all)", title_justify="left", min_width=40)
    tasks.add_column("task")
    tasks.add_column("seconds", justify="right")
    tasks.add_column("status")
    for task in summary["tasks"]:
        tasks.add_row(task["name"], f"{task['seconds']:.1f}", task["status"])
    console.print(tasks)
