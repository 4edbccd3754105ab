"""Trial configs and the search space: pure functions (Ray is imported only to build Tune domains).

A run's config is resolved from one :class:`ConfigSource` (the pipeline, the ``--config``
file's contents, the ``--set``/``--seed``/``--device`` pairs). A trial's config is the same
source resolved once with the trial's sampled values and seed as ``overrides``
(:func:`sciml.config.resolve_config`); nothing is converted back into ``--set`` pairs.

The search space keeps sciml's string grammar (:mod:`sciml.config`) as its front end and is
sampled by Ray Tune's search API (:func:`tune_param_space`): with the basic search algorithm
(``BasicVariantGenerator(constant_grid_search=True)``) the random values of a sample are drawn
once and held constant over the grid of seeds (and ``grid(...)`` entries), so every seed of a
sampled config trains exactly that config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sciml.config import config_hash, load_yaml, parse_sets, resolve_config, validate_space
from sciml.errors import UserError
from sciml.run.records import TrialRecord, trial_name

if TYPE_CHECKING:  # a worker never imports the options of the driver
    from sciml.run.options import RunOptions

Space = dict[str, tuple[str, list[Any]]]


@dataclasses.dataclass(frozen=True)
class ConfigSource:
    """Everything a run's config is resolved from; JSON-able (kept in ``invocation.json``).

    Attributes:
        pipeline_key: ``plugin:name``.
        file_data: the ``--config`` file's contents, read once in the driver (a Ray worker on
            another node has no access to the file).
        sets: ``(dotted key, value)`` pairs in order: ``--set``, then ``--seed``, ``--device``.
    """

    pipeline_key: str
    file_data: dict[str, Any] | None = None
    sets: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_options(cls, pipeline_key: str, options: RunOptions) -> ConfigSource:
        """Raises: UserError: an unreadable config file or a malformed ``--set``."""
        sets = parse_sets(options.sets)
        if options.seed is not None:
            sets.append(("seed", options.seed))
        if options.device is not None:
            sets.append(("trainer.device", options.device))
        data = load_yaml(options.config_file) if options.config_file else None
        return cls(pipeline_key, data, tuple((k, v) for k, v in sets))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConfigSource:
        return cls(data["pipeline_key"], data.get("file_data"), tuple((k, v) for k, v in data.get("sets", ())))

    def to_json(self) -> dict[str, Any]:
        return {"pipeline_key": self.pipeline_key, "file_data": self.file_data, "sets": [list(p) for p in self.sets]}

    def resolve(self, overrides: Mapping[str, Any] | None = None, registry=None) -> dict[str, Any]:
        """The validated config, with dotted ``overrides`` (a trial's sampled values and seed) applied last.

        Raises:
            UserError: unknown keys or invalid values (see :func:`sciml.config.resolve_config`).
        """
        if registry is None:
            from sciml.registry import get_registry

            registry = get_registry()
        pipeline = registry.get("pipeline", self.pipeline_key).factory
        return resolve_config(pipeline, registry, pipeline_key=self.pipeline_key, config_file=self.file_data,
                              sets=self.sets, overrides=overrides)


def trial_overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The dotted overrides of a trial from Tune's ``{"overrides": {...}, "seed": N}``."""
    return {**dict(params.get("overrides") or {}), "seed": int(params["seed"])}


def new_record(plugin: str, config: dict[str, Any], trial_id: str | None = None) -> TrialRecord:
    """A pending record of a trial whose config is resolved."""
    h = config_hash(config)
    return TrialRecord(name=trial_name(plugin, h, config["seed"]), seed=int(config["seed"]), config=config,
                       config_hash=h, trial_id=trial_id)


def search_space(pipeline, search: Sequence[str], config: Mapping[str, Any]) -> Space:
    """The pipeline's search space with ``--search KEY=SPEC`` entries on top, parsed and checked.

    Raises:
        UserError: a malformed entry, or a key that is not in ``config``.
    """
    space = dict(pipeline.search_space or {})
    for item in search:
        k, sep, v = item.partition("=")
        if not sep:
            raise UserError(f"--search {item!r}: expected KEY=SPEC, e.g. --search trainer.lr='loguniform(1e-4,1e-2)'")
        space[k.strip()] = v.strip()
    return validate_space(space, config)


def sweep_size(pipeline, options: RunOptions) -> tuple[int, int]:
    """``(num_samples, seeds)`` of a sweep: the options, else the pipeline's tune defaults.

    Raises:
        UserError: either is below 1, or several seeds with ``--search-alg optuna``.
    """
    defaults = pipeline.tune_defaults or {}
    num_samples = options.num_samples or int(defaults.get("num_samples", 1))
    n_seeds = options.seeds or int(defaults.get("seeds", 1))
    if num_samples < 1 or n_seeds < 1:
        raise UserError("--num-samples and --seeds must be at least 1")
    if options.search_alg == "optuna" and options.seeds and options.seeds > 1:
        raise UserError("--search-alg optuna proposes each config once: use --seeds 1 "
                        "(or --search-alg basic to train every sampled config with several seeds)")
    if options.search_alg == "optuna":
        n_seeds = 1
    return num_samples, n_seeds


def extremes(func: str, args: list[Any]) -> list[Any]:
    """The values of one entry that bound what it can draw: every value of a choice or grid, the
    ends of a range (``randint``'s upper end is exclusive)."""
    if func in ("choice", "grid"):
        return list(args)
    if func == "randint":
        return [int(args[0]), int(args[1]) - 1]
    return [float(args[0]), float(args[1])]


def check_space(source: ConfigSource, space: Space, base_seed: int, search_alg: str = "basic") -> None:
    """Validate, in the driver before anything starts, what the sweep can draw: each value of a
    choice or grid and both ends of each range, one entry at a time.

    Raises:
        UserError: a value the component's config rejects (names the key and value), or a
            ``grid(...)`` entry with ``--search-alg optuna``.
    """
    for key, (func, args) in space.items():
        if func == "grid" and search_alg == "optuna":
            raise UserError(f"search space {key!r}: grid(...) needs --search-alg basic; optuna samples "
                            "choice, uniform, loguniform and randint")
        for value in extremes(func, args):
            try:
                source.resolve(overrides={key: value, "seed": base_seed})
            except UserError as exc:
                raise UserError(f"search space: {exc}") from None


def tune_domain(func: str, args: list[Any]):
    """The Ray Tune domain of one parsed entry (``randint``'s upper end is exclusive in both)."""
    from ray import tune

    if func == "grid":
        return tune.grid_search(list(args))
    if func == "choice":
        return tune.choice(list(args))
    if func == "uniform":
        return tune.uniform(float(args[0]), float(args[1]))
    if func == "loguniform":
        return tune.loguniform(float(args[0]), float(args[1]))
    if func == "randint":
        return tune.randint(int(args[0]), int(args[1]))
    raise ValueError(func)  # pragma: no cover - parse_space admits no other


def tune_param_space(space: Space, seeds: Sequence[int]) -> dict[str, Any]:
    """Tune's ``param_space``: ``{"overrides": {key: domain}, "seed": grid over seeds}``."""
    from ray import tune

    seed = tune.grid_search(list(seeds)) if len(seeds) > 1 else int(seeds[0])
    return {"overrides": {k: tune_domain(f, a) for k, (f, a) in space.items()}, "seed": seed}
