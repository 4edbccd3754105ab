"""The ``sciml`` command line. Thin: it parses, calls :mod:`sciml.run.driver`, prints.

Heavy libraries (torch, ray, mlflow) are imported inside commands only, so ``sciml --help``
stays fast. User errors print one line and exit with code 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import click
from sciml.errors import SciMLError, UserError


class _UserClickError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:  # always one line, even for a multi-line message (a YAML error)
        lines = [ln.strip() for ln in self.format_message().splitlines() if ln.strip()]
        click.echo(f"Error: {' '.join(lines)}", err=True)


class _RunClickError(_UserClickError):
    exit_code = 1


class SciMLGroup(click.Group):
    """Turns :class:`sciml.UserError` from any subcommand into one line and exit code 2, other
    :class:`sciml.SciMLError` (e.g. the tracking server went away) into one line and exit code 1,
    and an interrupted run (Ctrl-C, SIGTERM) into a line saying how to resume it, exit code 130."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserClickError(str(exc)) from None
        except SciMLError as exc:
            raise _RunClickError(str(exc)) from None
        except KeyboardInterrupt as exc:
            parent = getattr(exc, "parent_run_id", None)
            if parent is None:
                raise
            click.echo(f"Interrupted: state saved; parent run {parent} is marked KILLED. "
                       f"Continue with: sciml resume {parent}", err=True)
            ctx.exit(130)


@click.group(cls=SciMLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sciml")
def cli():
    """sciml: training, sweeps and tracking for scientific machine learning.

    \b
      sciml plugins               what is installed
      sciml run cgmap             one training run, tracked in MLflow
      sciml run cgmap --tune      a Ray Tune sweep over the search space and seeds
      sciml ui                    the MLflow UI on the same store
    """


def _click_type(spec):
    if spec.choices:
        return click.Choice(list(spec.choices))
    if spec.type is int and spec.low is not None:
        return click.IntRange(min=int(spec.low), max=spec.high)
    if spec.type is float and spec.low is not None:
        return click.FloatRange(min=spec.low, max=spec.high, min_open=spec.low_open)
    return spec.type


def run_options(command: str):
    """The click options of ``command`` (``run`` or ``resume``), derived from the fields of
    :class:`sciml.run.options.RunOptions`: adding a field there adds the option to both."""
    from sciml.run.options import cli_options

    def decorate(func):
        for name, spec, default in reversed(cli_options(command)):
            if spec.type is bool:
                func = click.option(spec.flag, name, is_flag=True, default=bool(default), help=spec.help)(func)
                continue
            func = click.option(spec.flag, name, type=_click_type(spec), default=default, multiple=spec.multiple,
                                metavar=spec.metavar, envvar=spec.envvar, help=spec.help,
                                show_default=default is not None and not spec.multiple)(func)
        return func

    return decorate


@cli.command()
@click.argument("target")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
@run_options("run")
def run(target, print_config, **flags):
    """Train TARGET (a plugin, or plugin:pipeline) and track it in MLflow.

    \b
    Exit status: 0 a champion was chosen and registered (a warning names any failed trials);
    1 no trial finished with an accepted model, or nothing was registered; 2 bad input;
    130 interrupted (continue with `sciml resume`).
    """
    from sciml.run.options import RunOptions

    options = RunOptions(target=target, **flags)
    if print_config:
        from sciml.config import to_yaml
        from sciml.run.driver import prepare

        _, _, _, config = prepare(options)
        click.echo(to_yaml(config), nl=False)
        return
    from sciml.run.driver import run as run_pipeline

    from sciml_cli.summary import print_summary

    sys.exit(print_summary(run_pipeline(options), register=options.register))


@cli.command()
@click.argument("run_id")
@run_options("resume")
def resume(run_id, **flags):
    """Continue an interrupted run or sweep under its MLflow parent run RUN_ID.

    Finished trials are not repeated; interrupted ones continue from their last checkpoint.
    Options left out keep the values the run was started with.
    """
    from sciml.run.driver import resume as resume_run

    from sciml_cli.summary import print_summary

    sys.exit(print_summary(resume_run(run_id, **flags)))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List installed plugins: name, version, hooks and what each registers."""
    from sciml.plugins import plugin_infos
    from sciml.registry import get_registry

    reg = get_registry()
    rows = []
    for info in plugin_infos():
        registered = {k: v for k, v in reg.by_plugin(info.name).items() if v} if info.hooks else {}
        rows.append({"name": info.name, "version": info.version, "hooks": info.hooks,
                     "registers": registered, "error": info.error})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        head = f"{row['name']} {row['version'] or ''}".strip()
        if row["error"] and not row["hooks"]:
            click.echo(f"{head}  [not loaded] {row['error']}")
            continue
        if row["error"]:  # loaded, but a hook raised: what it registered before that is listed
            click.echo(f"{head}  [error] {row['error']}")
        click.echo(head)
        for kind, keys in row["registers"].items():
            click.echo(f"  {kind + 's':<11} {', '.join(keys)}")


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="Store to serve; default: the local store.")
def ui(port, host, tracking_uri):
    """Open the MLflow UI (runs and model registry) on the tracking store sciml writes to."""
    from sciml.tracking import default_tracking_uri, sciml_home

    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("http"):
        raise UserError(f"the store {uri} is already served by an MLflow server; open it in a browser")
    artifacts = (sciml_home() / "artifacts").as_uri()
    cmd = [sys.executable, "-c", _SERVE_MLFLOW, "server", "--backend-store-uri", uri,
           "--default-artifact-root", artifacts, "--host", host, "--port", str(port), "--workers", "1"]
    click.echo(f"MLflow UI on http://{host}:{port}  (store: {uri}); Ctrl-C stops it", err=True)
    # job execution (GenAI evaluation workers) is not needed to browse runs and models
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # the server runs in its own process group, so stopping `sciml ui` stops all its workers
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)

    # SIGTERM only interrupts the wait below, like Ctrl-C; the group is stopped outside the handler.
    # (Stopping it inside the handler made `sciml ui` take 15 s: the interrupted proc.wait() holds
    # the Popen's waitpid lock, so a second wait in the handler could not reap the server and ran
    # out its full timeouts although the server had exited.)
    def interrupt(*_):
        raise KeyboardInterrupt

    handlers = {signal.SIGINT: signal.getsignal(signal.SIGINT),
                signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt)}
    code = 0
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # a second Ctrl-C or SIGTERM must not cut the stop short and leave the server running
        for sig in handlers:
            signal.signal(sig, signal.SIG_IGN)
        try:
            _stop_group(proc)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    sys.exit(code)


# `python -m mlflow ...`, ended by os._exit: the `mlflow server` process only starts its uvicorn worker
# and waits for it; after the worker has stopped, a normal interpreter exit spent 1-3 s collecting
# MLflow's modules, which made `sciml ui` miss its 2 s stop.
_SERVE_MLFLOW = """\
import os, runpy, sys
code = 0
try:
    runpy.run_module("mlflow", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    if isinstance(exc.code, str):
        print(exc.code, file=sys.stderr)
    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


def _stop_group(proc: subprocess.Popen, grace: float = 1.5) -> None:
    """Stop the process group of ``proc`` (``proc`` leads it): SIGTERM, then SIGKILL what is left
    after ``grace`` seconds.

    The MLflow server's uvicorn worker shuts down within a fraction of a second on SIGTERM, and its
    parent exits with it (see ``_SERVE_MLFLOW``). Returns when no process of the group is left, or
    2 s after the SIGKILL if one cannot be killed.
    """
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, so that only live members keep the group alive
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            continue
        break
    proc.poll()


@cli.command()
@click.argument("plugin")
@click.option("--model", "model_uris", required=True, multiple=True,
              help="models:/sciml-cgmap@champion, runs:/ID/model, or a trial's model directory "
                   "($SCIML_HOME/runs/PARENT/TRIAL/model); repeat for an ensemble (mean and std)")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "output_path", type=click.Path(dir_okay=False), help=".csv or .json; default: stdout")
def predict(plugin, model_uris, input_path, output_path):
    """Apply a trained model to a user's file (the plugin says how inputs are read).

    The model comes from the tracking store (a model or run URI) or from a local model
    directory, which needs no tracking store. With ``--model`` repeated (e.g. the trials of a
    seed sweep), each model predicts and every numeric column that differs between them is
    reported as the ensemble mean, with its standard deviation over the models in ``<column>_std``.
    """
    from sciml import load_model

    if output_path and not output_path.endswith((".csv", ".json")):
        raise UserError(f"--output {output_path!r}: use a .csv or .json file name")
    frames = []
    for uri in model_uris:
        loaded = load_model(uri)
        trained_for = loaded.config.get("pipeline", "").split(":")[0]
        if trained_for != plugin:
            raise UserError(f"model {uri!r} was trained by plugin {trained_for!r}, not {plugin!r}")
        frames.append(loaded.predict(input_path))
    frame = frames[0] if len(frames) == 1 else ensemble(frames, model_uris)
    if output_path is None:
        click.echo(frame.to_csv(index=False), nl=False)
    elif output_path.endswith(".json"):
        frame.to_json(output_path, orient="records", indent=2)
    else:
        frame.to_csv(output_path, index=False)
    if output_path:
        click.echo(f"wrote {len(frame)} rows ({len(frames)} model(s)) to {output_path}", err=True)


def ensemble(frames, names):
    """One table from several models' predictions of the same input: columns equal in every
    frame are kept, numeric columns that differ become their mean plus ``<column>_std`` (the
    sample standard deviation over models, ddof=1).

    Raises:
        UserError: the models' tables do not have the same rows and columns.
    """
    import numpy as np
    from pandas.api.types import is_numeric_dtype

    first = frames[0]
    for frame, name in zip(frames[1:], names[1:], strict=True):
        if list(frame.columns) != list(first.columns) or len(frame) != len(first):
            raise UserError(f"model {name!r} predicts columns {list(frame.columns)} x {len(frame)} rows; "
                            f"{names[0]!r} predicts {list(first.columns)} x {len(first)}: not one ensemble")
    out = first.copy()
    for column in first.columns:
        values = [f[column] for f in frames]
        if all(v.equals(values[0]) for v in values[1:]):
            continue
        if not all(is_numeric_dtype(v.dtype) for v in values):
            raise UserError(f"column {column!r} differs between the models and is not numeric: no ensemble")
        stacked = np.stack([v.to_numpy(dtype=float) for v in values])
        out[column] = stacked.mean(axis=0)
        out.insert(out.columns.get_loc(column) + 1, f"{column}_std", stacked.std(axis=0, ddof=1))
    return out


cli.add_command(__import__("sciml_cli.new_plugin", fromlist=["new_plugin"]).new_plugin)  # light: click only
cli.add_command(__import__("sciml_cli.reproduce", fromlist=["reproduce"]).reproduce)  # light: click only


def _add_plugin_commands(group: click.Group) -> None:
    from sciml.plugins import get_plugin_manager, record_error

    pm = get_plugin_manager()
    for impl in pm.hook.sciml_register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin must not break the CLI
            record_error(impl.plugin_name, f"sciml_register_commands raised {type(exc).__name__}: {exc}")


_added = False


def get_cli() -> click.Group:
    """The root group with the plugins' own commands added (once)."""
    global _added
    if not _added:
        _add_plugin_commands(cli)
        _added = True
    return cli


def main() -> None:
    """Console entry point."""
    get_cli()(prog_name="sciml")


if __name__ == "__main__":
    main()
