"""The end-of-run summary: best metrics, mean ± std over seeds, MLflow ids, registered model."""

from __future__ import annotations

import click


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def print_summary(summary) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # soft wrap: long lines are not cut into pieces when the output goes to a file or a pipe
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    trials = summary.trials
    failed = [t for t in trials if t.status == "FAILED"]
    stopped = [t for t in trials if t.status == "STOPPED"]
    rejected = [t for t in trials if t.status == "FINISHED" and not t.accepted]
    console.print(f"[bold]{summary.pipeline}[/bold]: {len(trials)} trial(s), "
                  f"{len(trials) - len(failed) - len(stopped)} finished, {len(failed)} failed, "
                  f"{len(stopped)} stopped early, {len(rejected)} rejected by selection "
                  f"in {summary.seconds:.0f} s")
    for t in failed:
        console.print(f"  [red]failed[/red] {t.name}: {escape(str(t.error))}")
    for t in rejected:
        console.print(f"  [yellow]rejected[/yellow] {t.name}: {escape(t.reason)}")
    if summary.aggregates and any(a.get(summary.metric, (0, 0, 0))[2] > 1 for a in summary.aggregates.values()):
        table = Table(title=f"{summary.metric} over seeds (mean ± std)")
        table.add_column("config")
        table.add_column(summary.metric)
        table.add_column("seeds")
        for h, agg in sorted(summary.aggregates.items(), key=lambda kv: kv[1].get(summary.metric, (0,))[0]):
            if summary.metric in agg:
                m, s, n = agg[summary.metric]
                table.add_row(h, f"{_fmt(m)} ± {_fmt(s)}", str(n))
        console.print(table)
    for line in summary.extra_lines:
        console.print(escape(line))
    best = summary.best
    if best is None:
        console.print("[red]no trial finished with an accepted model; nothing registered[/red]")
    else:
        shown = {k: v for k, v in best.metrics.items() if not k.startswith("best_")}
        console.print(f"best trial {best.name} ({summary.metric}={_fmt(best.metrics[summary.metric])})")
        console.print("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items())))
    console.print(f"MLflow: parent run {summary.parent_run_id} (experiment {summary.experiment_id}) "
                  f"at {summary.tracking_uri}")
    if summary.model_version:
        console.print(f"registered model: models:/{summary.model_name}/{summary.model_version} "
                      f"(alias @champion)")
    click.echo("", nl=False)
