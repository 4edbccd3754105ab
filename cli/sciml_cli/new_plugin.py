"""``sciml new-plugin NAME``: render the plugin template into a new, installable distribution.

The template lives in ``sciml/templates/plugin/``: every file ends in ``.tmpl`` and is rendered
with :class:`string.Template` (``$name``, ``$package``, ``$description``; ``$$`` is a literal
dollar sign). A path part ``__package__`` becomes the import package ``sciml_NAME``.
This module imports nothing heavy: ``sciml --help`` loads it.
"""

from __future__ import annotations

import keyword
import re
import string
from pathlib import Path

import click
from sciml.errors import UserError

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "core" / "sciml" / "templates" / "plugin"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED = {"sciml", "test", "tests"}


def template_dir() -> Path:
    """The directory of the plugin template (inside the installed ``sciml`` package)."""
    import sciml

    here = Path(sciml.__file__).resolve().parent / "templates" / "plugin"
    return here if here.is_dir() else TEMPLATE_DIR


def check_name(name: str) -> str:
    """Validate a plugin name: a lowercase Python identifier, not a keyword, not reserved.

    Raises:
        UserError: naming the bad value and what is accepted.
    """
    if not _NAME_RE.fullmatch(name or "") or keyword.iskeyword(name) or name in _RESERVED:
        why = ("is reserved" if name in _RESERVED else
               "is a Python keyword" if keyword.iskeyword(name) else
               "is not a lowercase Python identifier")
        raise UserError(f"plugin name {name!r} {why}; use lowercase letters, digits and _, starting "
                        "with a letter (e.g. 'mdsim'): it becomes the entry point NAME, the component "
                        "prefix NAME:..., the distribution sciml-NAME and the package sciml_NAME")
    return name


def check_not_installed(name: str) -> None:
    """Refuse a name an installed plugin already uses: two entry points ``name`` would clash.

    Raises:
        UserError: naming the installed distribution.
    """
    import importlib.metadata

    for ep in importlib.metadata.entry_points(group="sciml"):
        if ep.name == name:
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value
            raise UserError(f"plugin name {name!r} is taken: {dist} is installed with that entry point; "
                            "choose another name")


def render_plugin(name: str, dest: str | Path | None = None, description: str | None = None) -> Path:
    """Render the template for plugin ``name`` into ``dest`` (default ``./sciml-NAME``).

    Returns:
        The directory of the new distribution.

    Raises:
        UserError: a bad name, or ``dest`` exists and is not empty (nothing is overwritten).
    """
    check_name(name)
    dest = Path(dest) if dest is not None else Path(f"sciml-{name}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{str(dest)!r} already exists and is not empty; choose another --dir")
    values = {"name": name, "package": f"sciml_{name}",
              "description": description or f"the sciml plugin {name}"}
    root = template_dir()
    sources = sorted(p for p in root.rglob("*.tmpl") if "__pycache__" not in p.parts)
    if not sources:
        raise UserError(f"the plugin template is missing from {root}; reinstall sciml")
    rendered = {}
    for src in sources:
        rel = src.relative_to(root).with_suffix("")  # drop .tmpl
        rel = Path(*[values["package"] if part == "__package__" else part for part in rel.parts])
        try:
            rendered[rel] = string.Template(src.read_text()).substitute(values)
        except (KeyError, ValueError) as exc:  # a template bug, not a user error
            raise RuntimeError(f"template {src}: {exc}") from exc
    for rel, text in rendered.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return dest


@click.command("new-plugin")
@click.argument("name")
@click.option("--dir", "dest", type=click.Path(file_okay=False), metavar="D",
              help="Directory to create (default: ./sciml-NAME). Must not exist or be empty.")
@click.option("--description", help="One line about the plugin (README, pyproject, sciml plugins).")
def new_plugin(name, dest, description):
    """Create a new plugin distribution sciml-NAME from the template.

    \b
    It has a Dataset, a Model, the default trainer, an Evaluator, a default
    pipeline with a search space, a README and its own tests. Then:
      pip install -e ./sciml-NAME && sciml run NAME
    """
    check_not_installed(check_name(name))
    out = render_plugin(name, dest, description)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    click.echo(f"created {out}/ ({len(files)} files):")
    for f in files:
        click.echo(f"  {f}")
    shown = out.as_posix() if out.is_absolute() or out.as_posix().startswith(".") else f"./{out.as_posix()}"
    click.echo(f"next: pip install -e {shown} && sciml plugins && sciml run {name}")
