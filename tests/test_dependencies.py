"""Every plugin declares what it imports (its dependencies or an extra), with an SPDX license and
a compatible range of sciml rather than a pin of torch; the core caps the majors of ray and mlflow."""

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
SPDX = {"MIT", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "GPL-3.0-or-later", "LGPL-3.0-or-later", "MPL-2.0"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _imports(package: Path) -> set[str]:
    """Top-level names of every module imported anywhere in ``package`` (functions included)."""
    names = set()
    for file in package.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def declared_problems(project: dict, package: Path) -> list[str]:
    """Imports of ``package`` whose distribution ``project`` declares neither as a dependency nor
    in an extra (the standard library and the plugin itself are exempt)."""
    declared = {_name(r) for r in project.get("dependencies", [])}
    for reqs in project.get("optional-dependencies", {}).values():
        declared |= {_name(r) for r in reqs}
    providers = md.packages_distributions()
    problems = []
    for mod in sorted(_imports(package) - set(sys.stdlib_module_names) - {package.name, "__future__"}):
        dists = {d.lower().replace("_", "-") for d in providers.get(mod, [mod])}
        if not dists & declared:
            problems.append(f"imports {mod} (from {', '.join(sorted(dists))}), which is not declared")
    return problems


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_a_plugin_declares_what_it_imports(plugin):
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    (package,) = [p for p in plugin.glob("sciml_*") if (p / "__init__.py").exists()]
    assert declared_problems(project, package) == []


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_a_plugin_has_an_spdx_license_and_depends_on_a_sciml_range(plugin):
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    assert project.get("license") in SPDX, f"{plugin.name}: license {project.get('license')!r} is not SPDX"
    deps = {_name(r): r for r in project["dependencies"]}
    assert re.search(r">=\s*[\d.]+\s*,\s*<", deps["sciml"]), deps["sciml"]
    assert "==" not in deps.get("torch", ""), "the CPU-wheel pin belongs in constraints.txt"


def test_the_core_caps_ray_and_mlflow_majors():
    deps = {_name(r): r for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert "<3" in deps["ray"] and "<4" in deps["mlflow"] and "==" not in deps["torch"]


def test_the_check_finds_an_undeclared_import(tmp_path):
    package = tmp_path / "sciml_demo"
    package.mkdir()
    (package / "__init__.py").write_text("import json\nimport numpy\n\ndef f():\n    import yaml\n")
    assert declared_problems({"dependencies": ["numpy>=1"]}, package) == [
        "imports yaml (from pyyaml), which is not declared"]
    assert declared_problems({"dependencies": ["numpy"], "optional-dependencies": {"io": ["PyYAML>=6"]}},
                             package) == []
