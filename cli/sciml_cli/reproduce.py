"""``sciml reproduce RUN_ID`` (the work is done by :mod:`sciml.reproduce`; this module imports click only)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="MLflow tracking server; default: the local store.")
@click.option("--rtol", type=float, default=1e-6, show_default=True,
              help="Relative tolerance within which the metric counts as reproduced.")
def reproduce(run_id, tracking_uri, rtol):
    """Run a logged trial again with its exact config and seed, and compare its metric.

    RUN_ID is a trial's run id, or a parent run's (its champion trial is reproduced). The
    versions of sciml and of the plugin are checked against the ones logged (a difference is
    a warning), and so is the dataset digest. Exit code 0 when the selection metric is
    reproduced within --rtol, 1 when it is not.
    """
    from sciml.reproduce import reproduce as run_again

    out = run_again(run_id, tracking_uri=tracking_uri)
    for line in out.warnings:
        click.echo(f"warning: {line}", err=True)
    click.echo(f"reproduced trial {out.run_id} as run {out.summary.parent_run_id}")
    click.echo(f"dataset digest: logged {out.logged_digest}, now {out.reproduced_digest}")
    ok = out.matches(rtol)
    click.echo(f"{out.metric}: logged {out.logged!r}, reproduced {out.reproduced!r}: "
               f"{'reproduced' if ok else f'NOT reproduced (rtol {rtol:g})'}")
    sys.exit(0 if ok else 1)
