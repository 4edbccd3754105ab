"""The end-of-run summary: what was selected on validation, its test figures next to the trivial
baselines, mean ± std over the accepted seeds, MLflow ids, the registered model, and the exit status."""

from __future__ import annotations

import click
from sciml.protocol import fmt_value as _fmt

#: ``sciml run``/``sciml resume`` exit statuses (docs/cli.md): 0 a champion was chosen (some trials
#: may have failed: a warning says so); 1 no trial finished with an accepted model, or registration
#: was asked for and nothing was registered; 2 bad input; 130 interrupted.
EXIT_OK, EXIT_NOTHING = 0, 1


def exit_status(summary, register: bool = True) -> int:
    """The exit status of a finished run (see :data:`EXIT_OK`)."""
    if summary.best is None or (register and not summary.model_version):
        return EXIT_NOTHING
    return EXIT_OK


def _reason(t) -> str:
    """One outcome per trial: each is counted once, under one reason."""
    if t.status == "FINISHED":
        return "accepted" if t.accepted else "rejected"
    return {"FAILED": "failed", "STOPPED": "stopped early"}.get(t.status, t.status.lower())


def print_summary(summary, register: bool = True) -> int:
    """Print the summary; return the exit status for the CLI."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from sciml.protocol import compare, test_counterpart, unflatten_baselines

    # soft wrap: long lines are not cut into pieces when the output goes to a file or a pipe
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    trials = summary.trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[_reason(t)] = counts.get(_reason(t), 0) + 1
    order = ("accepted", "rejected", "stopped early", "failed")
    parts = [f"{counts[k]} {k}" for k in (*order, *sorted(set(counts) - set(order))) if counts.get(k)]
    console.print(f"[bold]{summary.pipeline}[/bold]: {len(trials)} trial(s): {', '.join(parts) or 'none'} "
                  f"in {summary.seconds:.0f} s")
    for t in trials:
        if t.status == "FAILED":
            where = f" (traceback: {t.error_file})" if t.error_file else ""
            console.print(f"  [red]failed[/red] {t.name}: {escape(str(t.error))}{escape(where)}")
        elif t.status == "STOPPED":
            console.print(f"  [cyan]stopped early[/cyan] {t.name}: {escape(t.reason or 'by the scheduler')}")
        elif t.status == "FINISHED" and not t.accepted:
            console.print(f"  [yellow]rejected[/yellow] {t.name}: {escape(t.reason)}")
    metric, test = summary.metric, test_counterpart(summary.metric)
    if summary.aggregates and (any(a.get(metric, (0, 0, 0))[2] > 1 for a in summary.aggregates.values())
                               or summary.rejected):
        table = Table(title=f"over the accepted seeds (mean ± std); selected on {metric}")
        for col in ("config", metric, test, "accepted", "rejected"):
            table.add_column(col)
        key = 1 if summary.mode == "min" else -1
        for h, agg in sorted(summary.aggregates.items(), key=lambda kv: key * kv[1].get(metric, (0,))[0]):
            cells = [f"{_fmt(agg[m][0])} ± {_fmt(agg[m][1])}" if m in agg else "n/a" for m in (metric, test)]
            n = max((a[2] for a in agg.values()), default=0)
            table.add_row(h, *cells, str(n), str(summary.rejected.get(h, 0)))
        for h, n in sorted(summary.rejected.items()):
            if h not in summary.aggregates:
                table.add_row(h, "n/a", "n/a", "0", str(n))
        console.print(table)
    for line in summary.extra_lines:
        console.print(escape(line))
    best, cmp = summary.best, summary.comparison
    if best is None:
        console.print("[red]no trial finished with an accepted model; nothing registered[/red]")
        # still show how the best finished (rejected) trial did, on the same terms as a champion
        finished = [t for t in trials if t.status == "FINISHED" and metric in t.metrics]
        if finished:
            best = (min if summary.mode == "min" else max)(finished, key=lambda t: t.metrics[metric])
            cmp = compare(metric, summary.mode, best.metrics, unflatten_baselines(best.metrics))
            console.print(f"best rejected trial {best.name} ({escape(best.reason)}):")
    if best is not None:
        console.print(f"{'best trial ' + best.name + ': ' if best is summary.best else '  '}"
                      f"selected on {metric} = {_fmt(best.metrics.get(metric))}; "
                      f"{test} = {_fmt(best.metrics.get(test))} (test: reported, never used to choose)")
        baselines = unflatten_baselines(best.metrics)
        if baselines:
            table = Table(title="champion vs trivial baselines (same splits)")
            for col in ("", metric, test):
                table.add_column(col)
            table.add_row("model", _fmt(best.metrics.get(metric)), _fmt(best.metrics.get(test)))
            for name, values in sorted(baselines.items()):
                table.add_row(f"baseline {name}", _fmt(values.get(metric)), _fmt(values.get(test)))
            console.print(table)
        if cmp is not None:
            style = "green" if cmp.beats else "bold red"
            console.print(f"[{style}]{escape(cmp.verdict())}[/{style}]")
        shown = {k: v for k, v in best.metrics.items() if not k.startswith(("best_", "baseline."))}
        console.print("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items())))
    console.print(f"MLflow: parent run {summary.parent_run_id} (experiment {summary.experiment_id}) "
                  f"at {summary.tracking_uri}")
    if summary.model_version:
        console.print(f"registered model: models:/{summary.model_name}/{summary.model_version} "
                      f"(alias @champion)")
    code = exit_status(summary, register)
    failed = counts.get("failed", 0)
    if code == EXIT_OK and failed:
        console.print(f"[yellow]warning: {failed} of {len(trials)} trial(s) failed; see the tracebacks above[/yellow]")
    click.echo("", nl=False)
    return code
