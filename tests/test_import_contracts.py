"""The import contracts (import-linter, ``[tool.importlinter]`` in pyproject.toml) that ``make test``
runs: they pass on this tree, they cover every plugin folder, and they catch a plugin that reaches
past ``sciml``'s public API."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter's own TOML reader
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


def _importlinter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_plugin_package_is_under_contract():
    plugins = {p.name for p in ROOT.glob("plugins/*/sciml_*") if (p / "__init__.py").exists()}
    plugins |= {p.name for p in ROOT.glob("tests/toy_plugin/sciml_*") if (p / "__init__.py").exists()}
    assert plugins, "found no plugin packages"
    cfg = _importlinter()
    contracts = {c["id"]: c for c in cfg["contracts"]}
    assert plugins <= set(cfg["root_packages"])
    assert plugins <= set(contracts["public-api"]["source_modules"])
    assert plugins <= set(contracts["core-no-plugins"]["forbidden_modules"])


def test_contracts_hold_on_this_tree():
    res = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " BROKEN" not in res.stdout and "0 broken" in res.stdout


def test_a_plugin_importing_a_core_module_breaks_the_contract(tmp_path):
    pkg = tmp_path / "sciml_sneaky"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sciml\n")
    (pkg / "ok.py").write_text("from sciml import UserError, file_sha256\n")
    (pkg / "bad.py").write_text("from sciml.caching import file_sha256\n")
    public = next(c for c in _importlinter()["contracts"] if c["id"] == "public-api")
    config = tmp_path / ".importlinter"
    config.write_text("[importlinter]\nroot_packages =\n    sciml\n    sciml_sneaky\n\n"
                      f"[importlinter:contract:public-api]\nname = {public['name']}\ntype = forbidden\n"
                      "source_modules =\n    sciml_sneaky\nforbidden_modules =\n"
                      + "".join(f"    {m}\n" for m in public["forbidden_modules"])
                      + f"allow_indirect_imports = {public['allow_indirect_imports']}\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(BIN)}
    res = subprocess.run([_tool("lint-imports"), "--no-cache", "--config", str(config)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "BROKEN" in res.stdout and "sciml_sneaky.bad -> sciml.caching" in res.stdout
    assert "sciml_sneaky.ok" not in res.stdout  # the public API is allowed
    (pkg / "bad.py").unlink()
    res = subprocess.run([_tool("lint-imports"), "--no-cache", "--config", str(config)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr



def module_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph ``{module: modules it imports}``: its strongly connected
    components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_cycle_finder_finds_cycles():
    assert module_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert module_cycles({"a": {"b"}, "b": set()}) == []


def test_no_cycle_of_modules_in_the_core_beyond_the_listed_exceptions():
    import grimp

    graph = grimp.build_graph("sciml", exclude_type_checking_imports=True)
    # the package's __init__ re-exports the public API from its modules: importing "sciml" from a core
    # module is not a cycle of modules, so the root package is left out
    edges = {m: set(graph.find_modules_directly_imported_by(m)) - {"sciml"} for m in graph.modules if m != "sciml"}
    acyclic = next(c for c in _importlinter()["contracts"] if c["id"] == "core-acyclic")
    for rule in acyclic.get("ignore_imports", []):
        importer, imported = (s.strip() for s in rule.split("->"))
        edges.get(importer, set()).discard(imported)
    assert module_cycles(edges) == []


def private_core_imports(source: str) -> list[str]:
    """The modules of sciml other than the package itself and ``sciml.testing`` that ``source`` imports."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [n for n in names if n.startswith("sciml.") and n != "sciml.testing"]
    return found


def test_plugin_tests_and_the_plugin_template_use_only_the_public_api():
    """import-linter sees the plugin packages; their tests (and the template's) are checked here."""
    files = [*ROOT.glob("plugins/*/tests/**/*.py"), *ROOT.glob("tests/toy_plugin/**/*.py"),
             *ROOT.glob("core/sciml/templates/plugin/**/*.py.tmpl")]
    assert files
    import re

    # the template's placeholders ($package, ${name}) become identifiers before parsing
    bad = {str(f.relative_to(ROOT)): private_core_imports(re.sub(r"\$\{?(\w+)\}?", r"tmpl_\1", f.read_text()))
           for f in files}
    assert {f: mods for f, mods in bad.items() if mods} == {}
    assert private_core_imports("import sciml\nfrom sciml.testing import make_context\n") == []
    assert private_core_imports("def f():\n    from sciml.trial import FileReporter\n") == ["sciml.trial"]
