"""Run configuration: typed sections, YAML files, ``--set a.b=c`` overrides, search spaces.

A resolved run config is a plain dict::

    {"pipeline": "cgmap:default", "seed": 0,
     "dataset":   {"name": "cgmap:md", "smiles": "CC", ...},
     "model":     {"name": "cgmap:vae", "n_beads": 2, ...},
     "trainer":   {"name": "sciml:default", "max_epochs": 50, ...},
     "evaluator": {"name": "cgmap:mapping", ...}}

Precedence, lowest first: each component's ``Config`` defaults, the pipeline's
``defaults``, ``--config FILE``, ``--set`` overrides. Setting a section to a string
(``--set model=theirs:gnn_vae``) selects another component; the pipeline's defaults for
that section are then dropped, since they belong to the component it replaced.

Search-space grammar (``Pipeline.search_space`` values and ``--search key=SPEC``)::

    choice(a, b, ...)   uniform(lo, hi)   loguniform(lo, hi)
    randint(lo, hi)     (hi exclusive)    grid(a, b, ...)   (every value, each sample)
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sciml.caching import content_hash
from sciml.errors import UserError

SECTIONS = ("dataset", "model", "trainer", "evaluator")
TOP_LEVEL = ("seed",)
SPACE_FUNCS = ("choice", "uniform", "loguniform", "randint", "grid")
_SPACE_RE = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.S)


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value: YAML scalars and lists (``3``, ``1e-3``, ``true``, ``[2, 3]``)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)", value) else value
        except ValueError:
            return value
    return value


def parse_sets(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``["model.n_beads=3"]`` -> ``[("model.n_beads", 3)]``.

    Raises:
        UserError: an item without ``=`` or with an empty key.
    """
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set trainer.lr=0.001")
        out.append((key.strip(), parse_value(value)))
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file.

    Raises:
        UserError: missing file, invalid YAML, or a top level that is not a mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {str(path)!r} must hold a mapping of sections, got {type(data).__name__}")
    return data


def _closest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def _merge_section(raw: dict[str, Any], section: str, value: Any) -> None:
    if isinstance(value, str):
        if raw[section].get("name") != value:
            raw[section] = {"name": value}
        return
    if not isinstance(value, Mapping):
        raise UserError(f"{section} must be a mapping of keys or a component name, got {value!r}")
    raw[section].update(copy.deepcopy(dict(value)))


def _apply(raw: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if head in TOP_LEVEL and not rest:
        raw[head] = value
        return
    if head not in SECTIONS:
        valid = list(SECTIONS) + list(TOP_LEVEL)
        raise UserError(f"unknown config key {key!r}.{_closest(head, valid)} Top-level keys: {', '.join(valid)}")
    if not rest:
        _merge_section(raw, head, value)
        return
    target = raw[head]
    parts = rest.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise UserError(f"config key {key!r}: {part!r} is not a mapping")
    target[parts[-1]] = value


def _validate_section(section: str, values: dict[str, Any], registry) -> dict[str, Any]:
    values = dict(values)
    name = values.pop("name", None)
    if not name:
        raise UserError(f"{section}.name is not set: name a registered {section} (plugin:name)")
    cls = registry.get(section, name).load()
    config_cls = getattr(cls, "Config", None)
    if config_cls is None:
        if values:
            raise UserError(f"{section} {name!r} takes no configuration, got {', '.join(values)}")
        return {"name": name}
    fields = config_cls.model_fields
    for key in values:
        if key not in fields:
            raise UserError(f"unknown config key '{section}.{key}' for {name}."
                            f"{_closest(f'{section}.{key}', [f'{section}.{f}' for f in fields])} "
                            f"Valid keys: {', '.join(f'{section}.{f}' for f in fields) or 'none'}")
    try:
        validated = config_cls(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        raise UserError(f"invalid value for '{section}.{loc}' ({got!r}): {err['msg']}") from None
    return {"name": name, **validated.model_dump(mode="json")}


def resolve_config(pipeline, registry, *, pipeline_key: str,
                   config_file: str | Path | Mapping[str, Any] | None = None,
                   sets: Iterable[tuple[str, Any]] = (), overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build and validate the run config (see the module docstring for the precedence).

    Args:
        pipeline: the :class:`~sciml.Pipeline`.
        registry: the :class:`~sciml.registry.Registry` to resolve component names with.
        pipeline_key: ``plugin:name`` of the pipeline, stored in the config.
        config_file: YAML file with sections and top-level keys (or its contents, already read).
        sets: ``(dotted key, value)`` pairs, applied in order.
        overrides: dotted ``{key: value}`` applied last (the sampled values of a Tune trial).

    Raises:
        UserError: unknown keys (with the closest valid key), invalid values, unknown components.
    """
    raw: dict[str, Any] = {
        "dataset": {"name": pipeline.dataset},
        "model": {"name": pipeline.model},
        "trainer": {"name": pipeline.trainer},
        "evaluator": {"name": pipeline.evaluator},
        "seed": None,
    }
    for key, value in (pipeline.defaults or {}).items():
        _apply(raw, key, value)
    if config_file is not None:
        data = dict(config_file) if isinstance(config_file, Mapping) else load_yaml(config_file)
        data.pop("pipeline", None)
        for key, value in data.items():
            _apply(raw, key, value)
    for key, value in sets:
        _apply(raw, key, value)
    for key, value in (overrides or {}).items():
        _apply(raw, key, value)
    seed = raw["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UserError(f"invalid value for 'seed' ({seed!r}): expected a non-negative integer")
    out: dict[str, Any] = {"pipeline": pipeline_key, "seed": seed}
    for section in SECTIONS:
        out[section] = _validate_section(section, raw[section], registry)
    return out


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"n_beads": 2}}`` -> ``{"model.n_beads": 2}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def config_hash(config: Mapping[str, Any]) -> str:
    """Short hash of a resolved config without its seed: equal for the trials of one seed sweep."""
    return content_hash({k: v for k, v in config.items() if k != "seed"}, length=8)


def to_yaml(config: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(config), sort_keys=False)


# --- search spaces -------------------------------------------------------------------------

def parse_space(spec: Any) -> tuple[str, list[Any]]:
    """Parse one search-space entry: ``"loguniform(1e-4, 1e-2)"`` -> ``("loguniform", [1e-4, 0.01])``.

    A list is taken as ``choice``; a dict ``{"loguniform": [lo, hi]}`` is accepted too.

    Raises:
        UserError: unknown function, wrong number of arguments, or bounds out of order.
    """
    if isinstance(spec, (list, tuple)):
        func, args = "choice", list(spec)
    elif isinstance(spec, Mapping) and len(spec) == 1:
        func, args = next(iter(spec.items()))
        args = list(args) if isinstance(args, (list, tuple)) else [args]
    elif isinstance(spec, str) and (m := _SPACE_RE.match(spec)):
        func = m.group(1)
        try:
            args = list(ast.literal_eval(f"[{m.group(2)}]"))
        except (ValueError, SyntaxError):
            raise UserError(f"search space {spec!r}: arguments must be numbers or quoted strings") from None
    else:
        raise UserError(f"search space {spec!r}: expected one of {', '.join(f + '(...)' for f in SPACE_FUNCS)}")
    if func not in SPACE_FUNCS:
        raise UserError(f"search space {spec!r}: unknown function {func!r}.{_closest(func, SPACE_FUNCS)} "
                        f"Known: {', '.join(SPACE_FUNCS)}")
    if func in ("uniform", "loguniform", "randint"):
        if len(args) != 2 or not all(isinstance(a, (int, float)) for a in args) or not args[0] < args[1]:
            raise UserError(f"search space {spec!r}: {func} takes two numbers lo < hi")
        if func == "loguniform" and args[0] <= 0:
            raise UserError(f"search space {spec!r}: loguniform needs lo > 0")
        if func == "randint" and not all(-(2**63) <= a < 2**63 for a in args):
            raise UserError(f"search space {spec!r}: randint bounds must be 64-bit integers "
                            f"(between -2**63 and 2**63 - 1)")
    elif not args:
        raise UserError(f"search space {spec!r}: {func} needs at least one value")
    return func, args


def validate_space(space: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Parse every entry and check that its key exists in the resolved ``config``.

    Raises:
        UserError: a key that is not in the config, or a malformed entry.
    """
    flat = flatten({k: v for k, v in config.items() if k != "pipeline"})
    out = {}
    for key, spec in space.items():
        if key not in flat:
            raise UserError(f"search space key {key!r} is not a config key.{_closest(key, flat)}")
        out[key] = parse_space(spec)
    return out


def sample_space(parsed: Mapping[str, tuple[str, list[Any]]], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Draw the configs of a sweep: ``num_samples`` draws of the random entries, each combined
    with every combination of the ``grid`` entries. Deterministic for a given ``seed``.

    Sampling happens here, not in Ray Tune, so that every seed of a seed sweep trains exactly
    the same sampled config.
    """
    import itertools
    import math as _math

    import numpy as np

    rng = np.random.default_rng(seed)
    grid_keys = [k for k, (f, _) in parsed.items() if f == "grid"]
    combos = list(itertools.product(*(parsed[k][1] for k in grid_keys))) or [()]
    out = []
    for _ in range(num_samples):
        draw: dict[str, Any] = {}
        for key, (func, args) in parsed.items():
            if func == "choice":
                draw[key] = args[int(rng.integers(len(args)))]
            elif func == "uniform":
                draw[key] = float(rng.uniform(args[0], args[1]))
            elif func == "loguniform":
                draw[key] = float(_math.exp(rng.uniform(_math.log(args[0]), _math.log(args[1]))))
            elif func == "randint":
                draw[key] = int(rng.integers(args[0], args[1]))
        for combo in combos:
            out.append({**draw, **dict(zip(grid_keys, combo, strict=True))})
    return out
