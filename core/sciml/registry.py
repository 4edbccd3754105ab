"""Registry of what plugins register, keyed ``plugin:name`` per kind.

Each hook implementation is called on its own with a ``register`` bound to its plugin's
name, so a plugin that raises in a hook is reported and the others are still collected.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any, Literal

from sciml.components import Pipeline
from sciml.errors import UserError
from sciml.plugins import get_plugin_manager, load_errors, record_error

Kind = Literal["dataset", "model", "trainer", "evaluator", "pipeline"]
KINDS: tuple[Kind, ...] = ("dataset", "model", "trainer", "evaluator", "pipeline")
_HOOKS = {
    "dataset": "sciml_register_datasets",
    "model": "sciml_register_models",
    "trainer": "sciml_register_trainers",
    "evaluator": "sciml_register_evaluators",
    "pipeline": "sciml_register_pipelines",
}


def resolve(obj: Any) -> Any:
    """Import ``"pkg.mod:attr"`` strings; return anything else unchanged."""
    if not isinstance(obj, str):
        return obj
    module, _, attr = obj.partition(":")
    target = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        target = getattr(target, part)
    return target


@dataclasses.dataclass
class Entry:
    kind: Kind
    plugin: str
    name: str
    factory: Any
    description: str = ""

    @property
    def key(self) -> str:
        return f"{self.plugin}:{self.name}"

    def load(self) -> Any:
        """The factory (class), importing it if it was registered as a string."""
        if isinstance(self.factory, str):
            self.factory = resolve(self.factory)
        return self.factory


class Registry:
    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}

    @classmethod
    def collect(cls, pm) -> Registry:
        reg = cls()
        for kind, hook_name in _HOOKS.items():
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                try:
                    impl.function(register=reg._registrar(kind, impl.plugin_name))
                except Exception as exc:
                    record_error(impl.plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}")
        return reg

    def _registrar(self, kind: Kind, plugin: str):
        def register(name_or_pipeline, factory=None, *, description: str = ""):
            if kind == "pipeline":
                pipe = name_or_pipeline
                if not isinstance(pipe, Pipeline):
                    raise TypeError("register() takes a sciml.Pipeline in sciml_register_pipelines")
                self.add(Entry(kind, plugin, pipe.name, pipe, pipe.description))
            else:
                if factory is None:
                    raise TypeError(f"register({name_or_pipeline!r}) needs a factory")
                self.add(Entry(kind, plugin, str(name_or_pipeline), factory, description))

        return register

    def add(self, entry: Entry) -> None:
        self._entries[entry.kind][entry.key] = entry

    def entries(self, kind: Kind) -> list[Entry]:
        return sorted(self._entries[kind].values(), key=lambda e: e.key)

    def by_plugin(self, plugin: str) -> dict[Kind, list[str]]:
        return {k: [e.key for e in self.entries(k) if e.plugin == plugin] for k in KINDS}

    def get(self, kind: Kind, key: str) -> Entry:
        """Look up ``plugin:name``.

        Raises:
            UserError: unknown key; the message lists the known ones and the closest.
        """
        entries = self._entries[kind]
        if key in entries:
            return entries[key]
        known = sorted(entries)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown {kind} {key!r}.{hint} Known: {', '.join(known) or 'none'}")

    def pipeline(self, name: str) -> Pipeline:
        """Find the pipeline for ``sciml run NAME``: ``plugin`` or ``plugin:pipeline``.

        Raises:
            UserError: no such plugin or pipeline.
        """
        if ":" in name:
            return self.get("pipeline", name).factory
        mine = [e for e in self.entries("pipeline") if e.plugin == name]
        chosen = [e for e in mine if e.name == "default"] or (mine if len(mine) == 1 else [])
        if chosen:
            return chosen[0].factory
        if name in load_errors():
            raise UserError(f"plugin {name!r} is installed but not loaded: {load_errors()[name]}")
        plugins = sorted({e.plugin for e in self.entries("pipeline")})
        if mine:
            raise UserError(f"plugin {name!r} has several pipelines; pick one of: "
                            + ", ".join(e.key for e in mine))
        close = difflib.get_close_matches(name, plugins, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown plugin {name!r}.{hint} Plugins with a pipeline: {', '.join(plugins) or 'none'}")

    def plugin_of(self, pipeline: Pipeline) -> str:
        for e in self.entries("pipeline"):
            if e.factory is pipeline:
                return e.plugin
        return pipeline.dataset.split(":")[0]


_registry: Registry | None = None
_registry_pm: object | None = None


def get_registry() -> Registry:
    """The registry built from the live plugin manager (cached; rebuilt when the manager is new)."""
    global _registry, _registry_pm
    pm = get_plugin_manager()
    if _registry is None or _registry_pm is not pm:
        _registry, _registry_pm = Registry.collect(pm), pm
    return _registry


def reset() -> None:
    """Forget the registry (it is rebuilt on next use)."""
    global _registry, _registry_pm
    _registry, _registry_pm = None, None
