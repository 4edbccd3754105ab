"""The options of ``sciml run`` and ``sciml resume``, defined once.

Each field of :class:`RunOptions` carries its command-line definition (:func:`option`): the
CLI builds the click options of ``run`` and ``resume`` from these fields
(:func:`cli_options`), and :meth:`RunOptions.validate` checks the same bounds for callers of
the Python API. Adding an option is adding one field here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sciml.errors import UserError

RUN, RESUME = "run", "resume"


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """How a :class:`RunOptions` field appears on the command line.

    Attributes:
        flag: the long flag (``--cpus-per-trial``); ``None`` for a positional argument.
        type: ``int``, ``float``, ``str`` or ``bool`` (a flag without value).
        help: one line for ``--help``.
        commands: the commands taking the option: ``run``, and ``resume`` where a resumed run
            may change it (its default there is "as before").
        low, low_open, high: bounds of a number (``low_open``: ``> low`` instead of ``>= low``).
        choices: the accepted values of a string.
        multiple, metavar, envvar: as in click.
    """

    flag: str | None
    type: type
    help: str = ""
    commands: tuple[str, ...] = (RUN,)
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    choices: tuple[str, ...] | None = None
    multiple: bool = False
    metavar: str | None = None
    envvar: str | None = None


def option(default: Any, flag: str | None, type: type, help: str = "", **spec: Any) -> Any:
    """A :class:`RunOptions` field with its command-line definition."""
    meta = {"cli": OptionSpec(flag, type, help, **spec)}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class RunOptions:
    """Options of one ``sciml run`` invocation (the CLI's flags, one field each)."""

    target: str = option(None, None, str, "a plugin, or plugin:pipeline")
    config_file: str | None = option(None, "--config", str, "YAML file with config sections.")
    sets: Sequence[str] = option((), "--set", str, "Override a config key, e.g. --set model.n_beads=3 "
                                 "(repeatable).", multiple=True, metavar="KEY=VALUE")
    search: Sequence[str] = option((), "--search", str, "Override a search-space entry, e.g. "
                                   "--search trainer.lr='loguniform(1e-4,1e-2)'.", multiple=True, metavar="KEY=SPEC")
    seed: int | None = option(None, "--seed", int, "Training seed (drawn and logged when omitted).", low=0)
    device: str | None = option(None, "--device", str, "auto (default), cpu, cuda or cuda:N.")
    cpus: int | None = option(None, "--cpus", int, "Torch threads of an in-process run (default: torch's "
                              "choice); under --tune, --cpus-per-trial sets them.", low=1)
    tune: bool = option(False, "--tune", bool, "Sweep with Ray Tune over the pipeline's search space and seeds.")
    num_samples: int | None = option(None, "--num-samples", int, "Configs sampled from the search space.", low=1)
    seeds: int | None = option(None, "--seeds", int, "Seeds per sampled config (aggregated as mean ± std).", low=1)
    search_alg: str = option("basic", "--search-alg", str, "How configs are sampled: basic (random/grid, "
                             "every seed of a config trains that config) or optuna (TPE; one seed per config).",
                             choices=("basic", "optuna"))
    cpus_per_trial: float = option(1.0, "--cpus-per-trial", float, "CPUs per trial (also its torch threads).",
                                   low=0, low_open=True)
    gpus_per_trial: float = option(0.0, "--gpus-per-trial", float,
                                   "GPUs per trial; fractions pack several trials on one GPU.", low=0)
    scheduler: str = option("fifo", "--scheduler", str, "Trial scheduler.", choices=("fifo", "asha"))
    max_concurrent: int | None = option(None, "--max-concurrent", int, "At most this many trials at once.", low=1)
    address: str | None = option(None, "--address", str,
                                 "Join an existing Ray cluster (HOST:PORT, ray://HOST:PORT or auto).")
    max_failures: int = option(0, "--max-failures", int, "Retries of a failed trial (from its last checkpoint).",
                               low=0, commands=(RUN, RESUME))
    tracking_uri: str | None = option(None, "--tracking-uri", str, "MLflow tracking server; default: local store.",
                                      envvar="MLFLOW_TRACKING_URI", commands=(RUN, RESUME))
    experiment: str | None = option(None, "--experiment", str, "MLflow experiment name (default sciml-PLUGIN).")
    retry_failed: bool = option(False, "--retry-failed", bool, "Also run the trials that failed again, "
                                "from their last checkpoint.", commands=(RESUME,))
    # not on the command line
    progress: bool | None = None
    register: bool = True

    def validate(self) -> RunOptions:
        """Check every option against its definition and the options against each other.

        Raises:
            UserError: a value out of its bounds or choices, or options that do not go together.
        """
        for f in dataclasses.fields(self):
            spec = f.metadata.get("cli")
            value = getattr(self, f.name)
            if spec is None or value is None or spec.type not in (int, float, str):
                continue
            name = spec.flag or f.name
            if spec.choices and value not in spec.choices:
                raise UserError(f"{name} {value!r}: accepted: {', '.join(spec.choices)}")
            if spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low):
                raise UserError(f"{name} {value}: must be {'>' if spec.low_open else '>='} {spec.low:g}")
            if spec.high is not None and value > spec.high:
                raise UserError(f"{name} {value}: must be <= {spec.high:g}")
        if not self.tune and (self.num_samples or self.seeds):
            raise UserError("--num-samples and --seeds need --tune")
        return self

    def command(self) -> str:
        """The ``sciml run`` command line of these options (the seed drawn is in the run's config)."""
        import shlex

        argv = ["sciml", "run", self.target]
        for f in dataclasses.fields(self):
            spec = f.metadata.get("cli")
            value = getattr(self, f.name)
            if spec is None or spec.flag is None or RUN not in spec.commands or f.name == "tracking_uri":
                continue
            if spec.multiple:
                for item in value:
                    argv += [spec.flag, str(item)]
            elif spec.type is bool:
                argv += [spec.flag] if value else []
            elif value is not None and value != f.default:
                argv += [spec.flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return " ".join(shlex.quote(a) for a in argv)


def cli_options(command: str) -> list[tuple[str, OptionSpec, Any]]:
    """``(field name, spec, default)`` of the options ``command`` (``run`` or ``resume``) takes.

    On ``resume`` every option defaults to ``None`` ("as the run was started") except flags.
    """
    out = []
    for f in dataclasses.fields(RunOptions):
        spec = f.metadata.get("cli")
        if spec is None or spec.flag is None or command not in spec.commands:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if command == RESUME and spec.type is not bool and RUN in spec.commands:
            default = None
        out.append((f.name, spec, default))
    return out
