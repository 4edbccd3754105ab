"""Plugin discovery: a pluggy manager loading the entry-point group ``sciml``.

Environment:
    ``SCIML_DISABLE_PLUGINS=a,b``  never load these plugins.
    ``SCIML_PLUGINS=a,b``          load only these (an allow-list); empty string loads none.

A plugin that fails to import, implements a hook that does not exist (a misspelling),
or needs another plugin-API version is not registered; it is listed in
:func:`load_errors` and by ``sciml plugins``, and every other plugin still loads.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import os
from types import ModuleType

import pluggy

from sciml import hookspecs

ENTRYPOINT_GROUP = "sciml"
_pm: pluggy.PluginManager | None = None
_errors: dict[str, str] = {}
_versions: dict[str, str] = {}


@dataclasses.dataclass
class PluginInfo:
    name: str
    version: str | None
    hooks: list[str]
    error: str | None = None


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _unknown_hooks(plugin: object) -> list[str]:
    known = {n for n in dir(hookspecs) if n.startswith("sciml_")}
    bad = []
    for attr in dir(plugin):
        func = getattr(plugin, attr, None)
        if callable(func) and hasattr(func, f"{hookspecs.PROJECT}_impl") and attr not in known:
            close = difflib.get_close_matches(attr, sorted(known), n=1)
            bad.append(attr + (f" (did you mean {close[0]}?)" if close else ""))
    return bad


def _api_problem(plugin: object) -> str | None:
    from sciml import API_VERSION

    wanted = getattr(plugin, "SCIML_API", None)
    if wanted is None or str(wanted).split(".")[0] == API_VERSION.split(".")[0]:
        return None
    return f"needs sciml plugin API {wanted}, this core provides {API_VERSION}"


def register_plugin(pm: pluggy.PluginManager, plugin: object, name: str) -> bool:
    """Register ``plugin`` under ``name`` after checking it; record an error instead of raising."""
    problem = _api_problem(plugin)
    unknown = _unknown_hooks(plugin)
    if unknown:
        problem = "unknown hook implementation(s): " + ", ".join(unknown)
    if problem:
        _errors[name] = problem
        return False
    pm.register(plugin, name=name)
    pm.check_pending()
    return True


def _builtin() -> ModuleType:
    from sciml import builtin

    return builtin


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, loading entry points on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_builtin(), name="sciml")
    allow = _env_list("SCIML_PLUGINS")
    deny = _env_list("SCIML_DISABLE_PLUGINS") or set()
    for ep in importlib.metadata.entry_points(group=ENTRYPOINT_GROUP):
        if ep.name in deny or (allow is not None and ep.name not in allow):
            continue
        if pm.has_plugin(ep.name) or ep.name in _errors:
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break the others
            _errors[ep.name] = f"failed to import {ep.value}: {type(exc).__name__}: {exc}"
            continue
        if ep.dist is not None:
            _versions[ep.name] = ep.dist.version
        register_plugin(pm, module, ep.name)
    _pm = pm
    return pm


def reset() -> None:
    """Forget the manager (tests, or after installing a plugin in-process); the registry, built
    from the manager, is rebuilt with the next one (:func:`sciml.registry.get_registry`)."""
    global _pm
    _pm = None
    _errors.clear()
    _versions.clear()


def load_errors() -> dict[str, str]:
    """``{plugin: message}`` for plugins that could not be loaded."""
    get_plugin_manager()
    return dict(_errors)


def record_error(plugin: str, message: str) -> None:
    _errors[plugin] = message


def plugin_infos() -> list[PluginInfo]:
    pm = get_plugin_manager()
    out = []
    for name, plugin in sorted(pm.list_name_plugin()):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        version = _versions.get(name)
        if name == "sciml":
            from sciml import __version__ as version
        # loaded, but a hook raised (e.g. a pipeline that breaks the experiment protocol)
        out.append(PluginInfo(name=name, version=version, hooks=hooks, error=_errors.get(name)))
    for name, error in sorted(_errors.items()):
        if not pm.has_plugin(name):
            out.append(PluginInfo(name=name, version=_versions.get(name), hooks=[], error=error))
    return out

