"""Plugin discovery: live registration, allow/deny lists, broken and misspelled plugins."""

import importlib.metadata
import types

import pytest
import sciml
from sciml import plugins, registry
from sciml.errors import UserError
from sciml.testing import registered


def make_plugin(**hooks):
    mod = types.ModuleType("thirdparty")
    for name, fn in hooks.items():
        setattr(mod, name, sciml.hookimpl(fn))
    return mod


def test_entry_point_plugins_load_with_versions():
    names = {i.name: i for i in plugins.plugin_infos()}
    assert names["sciml"].hooks == ["sciml_register_trainers"]
    assert names["toy"].version == importlib.metadata.version("sciml-toy")
    assert "sciml_register_pipelines" in names["toy"].hooks
    assert registry.get_registry().by_plugin("toy")["model"] == ["toy:mlp", "toy:mlp2"]


def test_live_registered_plugin_is_listed_and_usable():
    def sciml_register_models(register):
        register("linear", "torch.nn:Linear", description="a torch layer")

    with registered(make_plugin(sciml_register_models=sciml_register_models), "third"):
        entry = registry.get_registry().get("model", "third:linear")
        assert entry.load().__name__ == "Linear" and entry.description == "a torch layer"
        assert "third" in {i.name for i in plugins.plugin_infos()}
    with pytest.raises(UserError):
        registry.get_registry().get("model", "third:linear")


def test_unknown_component_lists_known_and_closest():
    with pytest.raises(UserError, match=r"unknown model 'toy:mpl'\. Did you mean 'toy:mlp'\? Known: .*toy:mlp"):
        registry.get_registry().get("model", "toy:mpl")
    with pytest.raises(UserError, match=r"unknown plugin 'tyo'\. Did you mean 'toy'"):
        registry.get_registry().pipeline("tyo")


def test_disable_and_allow_lists(monkeypatch):
    monkeypatch.setenv("SCIML_DISABLE_PLUGINS", "toy,other")
    plugins.reset()
    assert "toy" not in {i.name for i in plugins.plugin_infos()}
    monkeypatch.delenv("SCIML_DISABLE_PLUGINS")
    monkeypatch.setenv("SCIML_PLUGINS", "toy")
    plugins.reset()
    assert {i.name for i in plugins.plugin_infos() if not i.error} == {"sciml", "toy"}


def test_misspelled_hook_is_rejected_with_suggestion():
    bad = make_plugin(sciml_register_model=lambda register: None)
    pm = plugins.get_plugin_manager()
    assert plugins.register_plugin(pm, bad, "typo") is False
    assert "did you mean sciml_register_models?" in plugins.load_errors()["typo"]
    assert not pm.has_plugin("typo")


def test_api_version_mismatch_blocks_plugin():
    future = make_plugin(sciml_register_models=lambda register: None)
    future.SCIML_API = "2"
    assert plugins.register_plugin(plugins.get_plugin_manager(), future, "future") is False
    assert "needs sciml plugin API 2" in plugins.load_errors()["future"]


def test_plugin_raising_in_hook_does_not_hide_others():
    def sciml_register_models(register):
        raise RuntimeError("boom")

    with registered(make_plugin(sciml_register_models=sciml_register_models), "broken"):
        reg = registry.get_registry()
        assert reg.get("model", "toy:mlp")  # others still collected
        assert "sciml_register_models raised RuntimeError: boom" in plugins.load_errors()["broken"]


def test_broken_entry_point_is_reported(monkeypatch):
    real = importlib.metadata.entry_points

    def fake(group=None, **kw):
        eps = list(real(group=group, **kw))
        if group == "sciml":
            eps.append(importlib.metadata.EntryPoint("ghost", "sciml_ghost_missing.plugin", "sciml"))
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    plugins.reset()
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert "No module named 'sciml_ghost_missing'" in infos["ghost"].error
    assert infos["toy"].error is None


def test_running_a_blocked_plugin_says_why():
    future = make_plugin(sciml_register_models=lambda register: None)
    future.SCIML_API = "2"
    plugins.register_plugin(plugins.get_plugin_manager(), future, "future")
    with pytest.raises(UserError, match="plugin 'future' is installed but not loaded: needs sciml plugin API 2"):
        registry.get_registry().pipeline("future")
