"""Saving matplotlib figures without leaking them.

pyplot keeps every figure it made open until it is closed; a loop that draws one figure per
target (or a long sweep in one worker) otherwise grows without bound and matplotlib warns
after 20 open figures. :func:`save_figure` writes a figure and always closes it.
Inside a trial, use :meth:`sciml.Reporter.draw_figure` instead (it also turns a drawing
failure into a warning); this helper is for plugin commands and scripts that write files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(figure: Any, path: str | Path, *, dpi: int = 110, **savefig_kwargs: Any) -> Path:
    """Write ``figure`` (a ``matplotlib.figure.Figure``) to ``path`` and close it.

    The format follows the suffix (``.png``, ``.svg``, ``.pdf``); missing parent directories
    are created; ``bbox_inches="tight"`` unless given. The figure is closed even when saving
    fails, and the error propagates.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        sciml.UserError: ``figure`` has no ``savefig`` (not a matplotlib figure).
        OSError: the file cannot be written.
    """
    from sciml.errors import UserError

    if not hasattr(figure, "savefig"):
        raise UserError(f"save_figure needs a matplotlib figure, got {type(figure).__name__}")
    path = Path(path)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi, **savefig_kwargs)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path
