"""Hook specifications: the plugin author's reference.

A sciml plugin is a module (or any object) with functions decorated by
:data:`sciml.hookimpl`, advertised through the entry-point group ``sciml``::

    # pyproject.toml of the distribution sciml-myplugin
    [project.entry-points.sciml]
    myplugin = "sciml_myplugin.plugin"

Every hook below is a *collector*: the core calls it with a ``register``
callback and the plugin registers any number of named factories. Factories are
classes (or ``"module:attr"`` import strings, resolved only when used, so that
``sciml --help`` and ``sciml plugins`` stay cheap and never import torch).
Components are addressed ``plugin:name``; the plugin part is the entry-point
name, so the plugin ``cgmap`` registering ``"md"`` creates ``cgmap:md``.

The component contracts (constructor arguments, methods) are in
:mod:`sciml.components`.

The lifecycle hooks (``sciml_before_trial``, ``sciml_after_trial``, ``sciml_on_trial_error``)
are not collectors: the core calls every plugin's implementation around each trial, in the
process that runs the trial (the driver for an in-process run, a Ray worker under ``--tune``).
"""

from __future__ import annotations

import pluggy

PROJECT = "sciml"

#: Marker for hook specifications (core only).
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marker for hook implementations: decorate your plugin's functions with it.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sciml_register_datasets(register):
    """Register Dataset factories.

    Args:
        register: ``register(name, factory, *, description=None)``. ``factory`` is a
            subclass of :class:`sciml.Dataset` or an import string ``"pkg.mod:Class"``.

    Example::

        @sciml.hookimpl
        def sciml_register_datasets(register):
            register("md", "sciml_cgmap.data:MDTrajectoryDataset")
    """


@hookspec
def sciml_register_models(register):
    """Register Model factories.

    Args:
        register: ``register(name, factory, *, description=None)``. ``factory`` is a
            ``torch.nn.Module`` subclass (or import string) constructed as
            ``factory(config, metadata)`` where ``config`` is an instance of the class's
            ``Config`` and ``metadata`` is the Dataset's :attr:`~sciml.Dataset.metadata`.

    Example::

        @sciml.hookimpl
        def sciml_register_models(register):
            register("vae", "sciml_cgmap.model:CGVAE")
    """


@hookspec
def sciml_register_trainers(register):
    """Register Trainer factories.

    Most plugins use the core's ``sciml:default`` trainer and register none.

    Args:
        register: ``register(name, factory, *, description=None)``; ``factory`` is a
            :class:`sciml.Trainer` subclass or import string.

    Example::

        @sciml.hookimpl
        def sciml_register_trainers(register):
            register("two_stage", "sciml_ptrcnn.training:TransferTrainer")
    """


@hookspec
def sciml_register_evaluators(register):
    """Register Evaluator factories.

    Args:
        register: ``register(name, factory, *, description=None)``; ``factory`` is a
            :class:`sciml.Evaluator` subclass or import string.

    Example::

        @sciml.hookimpl
        def sciml_register_evaluators(register):
            register("mapping", "sciml_cgmap.evaluation:MappingEvaluator")
    """


@hookspec
def sciml_register_pipelines(register):
    """Register pipelines: what ``sciml run <plugin>`` runs.

    Args:
        register: ``register(pipeline)`` with a :class:`sciml.Pipeline` naming the
            dataset, model, trainer and evaluator, their default config, the search
            space for ``--tune`` and the metric to optimise. A pipeline named
            ``default`` (or the plugin's only pipeline) is what ``sciml run PLUGIN`` runs;
            others run as ``sciml run PLUGIN:NAME``.

    Example::

        @sciml.hookimpl
        def sciml_register_pipelines(register):
            register(sciml.Pipeline(
                name="default",
                dataset="cgmap:md", model="cgmap:vae", evaluator="cgmap:mapping",
                defaults={"model": {"n_beads": 2}, "trainer": {"max_epochs": 50}},
                search_space={"trainer.lr": "loguniform(1e-3, 3e-2)"},
                metric="val_rmsd", mode="min",
            ))
    """


@hookspec
def sciml_register_commands(cli):
    """Add CLI commands of the plugin's own.

    Args:
        cli: the root :class:`click.Group` of ``sciml``. Add a group or command to it.
            Keep imports of heavy libraries inside the command body: this hook runs on
            every ``sciml`` invocation, ``--help`` included.

    Example::

        @sciml.hookimpl
        def sciml_register_commands(cli):
            @cli.group()
            def retro():
                "Retrosynthesis planning."

            @retro.command()
            @click.argument("smiles")
            def plan(smiles):
                from sciml_retro.search import plan_cli
                plan_cli(smiles)
    """


@hookspec
def sciml_before_trial(config, context):
    """Called before a trial starts, in the process that runs it (a Ray worker under ``--tune``).

    Args:
        config: the trial's resolved run config (``{"pipeline", "seed", "dataset", "model",
            "trainer", "evaluator"}``); do not change it.
        context: the trial's :class:`sciml.Context` (``run_dir``, ``seed``, ``device``,
            ``threads``, ``in_tune``).

    A hook that raises is logged as a warning; the trial goes on.

    Example::

        @sciml.hookimpl
        def sciml_before_trial(config, context):
            print("starting", config["pipeline"], "seed", context.seed)
    """


@hookspec
def sciml_after_trial(config, context, outcome):
    """Called after a trial finished (trained, evaluated, its model saved), where it ran.

    Args:
        config: the trial's resolved run config.
        context: the trial's :class:`sciml.Context`.
        outcome: ``{"metrics", "results", "accepted", "reason", "dataset_hash", "seconds"}``
            (see :func:`sciml.trial.execute_trial`); ``metrics`` holds validation and test
            metrics and the baselines as ``baseline.<name>.<metric>``.

    A hook that raises is logged as a warning; the trial still counts as finished.

    Example::

        @sciml.hookimpl
        def sciml_after_trial(config, context, outcome):
            print(context.seed, outcome["accepted"], outcome["metrics"]["val_loss"])
    """


@hookspec
def sciml_on_trial_error(config, context, error):
    """Called when a trial raises, where it ran, before the error propagates (the trial is
    then marked failed, or retried under ``--max-failures``).

    Args:
        config: the trial's resolved run config.
        context: the trial's :class:`sciml.Context`; ``context.run_dir / "error.txt"``
            holds the full traceback.
        error: the exception.

    A hook that raises is logged as a warning; the original error propagates.

    Example::

        @sciml.hookimpl
        def sciml_on_trial_error(config, context, error):
            print("trial failed:", type(error).__name__, error)
    """
