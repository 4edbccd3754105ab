"""Summary of a sweep: the distinct accepted mappings (paper §3.3, multiplicity of mappings), as
lines (:func:`summarize`) and as a catalogue figure (:func:`plot_catalogue`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

#: The one reason each trial is counted under, in the order the summary prints them.
REASONS = {
    "accepted": "accepted",
    "rejected": "rejected by the mapping gate (broken connectivity or collapse)",
    "stopped": "stopped early by the scheduler",
    "failed": "failed",
    "other": "not finished",
}


def trial_reason(trial: dict[str, Any]) -> str:
    """The single reason a trial is counted under, one of :data:`REASONS`.

    A trial's ``status`` (the core's: FINISHED, STOPPED, FAILED; missing counts as FINISHED,
    as in ``bench/cgmap_paper.py``) comes first: only a finished trial can be accepted or
    rejected by the evaluator's gate. A trial the scheduler stopped early was never evaluated,
    so it is not a rejected mapping (issue 19.7).
    """
    status = str(trial.get("status") or "FINISHED").upper()
    if status == "FINISHED":
        return "accepted" if trial.get("accepted", True) else "rejected"
    return {"STOPPED": "stopped", "FAILED": "failed"}.get(status, "other")


def distinct_mappings(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group accepted trials by ``mapping_signature`` (symmetry-equivalent mappings count once).

    Args:
        trials: dicts with ``results`` (the evaluator's), ``metrics``, ``accepted`` and
            optionally ``status``.

    Returns:
        One dict per distinct mapping, best validation RMSD first: ``signature``, and from the
        trial with the lowest ``val_rmsd`` (the test figure is reported, never used to choose):
        ``beads`` (atom indices per bead), ``assignment`` (bead of each atom), ``n_used_beads``,
        ``val_rmsd`` and ``test_rmsd`` (Å), ``mean_cg_force`` (test block, kcal/mol/Å; None when
        not reported); ``count`` (trials that found the mapping).
    """
    groups: dict[str, dict[str, Any]] = {}
    for t in trials:
        if trial_reason(t) != "accepted":
            continue
        res = {**(t.get("metrics") or {}), **(t.get("results") or {})}
        sig = res.get("mapping_signature")
        val = res.get("val_rmsd")
        if sig is None or val is None:
            continue
        g = groups.setdefault(sig, {"signature": sig, "count": 0, "val_rmsd": float("inf")})
        g["count"] += 1
        if float(val) < g["val_rmsd"]:
            test = res.get("test_rmsd")
            force = res.get("test_mean_cg_force")
            g.update(val_rmsd=float(val), test_rmsd=None if test is None else float(test),
                     beads=res.get("beads"), assignment=res.get("assignment"),
                     n_used_beads=int(res.get("n_used_beads", 0)),
                     mean_cg_force=None if force is None else float(force))
    return sorted(groups.values(), key=lambda g: g["val_rmsd"])


def summarize(trials: list[dict[str, Any]]) -> list[str]:
    """Lines for the run summary: how many trials fell under each reason (each trial counted
    once, see :func:`trial_reason`), then one line per distinct accepted mapping."""
    rows = distinct_mappings(trials)
    counts = Counter(trial_reason(t) for t in trials)
    parts = [f"{counts[r]} {REASONS[r]}" for r in REASONS if counts[r]]
    lines = [f"{len(rows)} distinct connectivity-preserving mapping(s) from {len(trials)} trial(s): "
             + (", ".join(parts) or "none")]
    for g in rows:
        test = "n/a" if g["test_rmsd"] is None else f"{g['test_rmsd']:.3f}"
        force = "" if g.get("mean_cg_force") is None else f", mean CG force {g['mean_cg_force']:.1f} kcal/mol/Å"
        lines.append(f"  {g['n_used_beads']} beads {g['beads']}: val RMSD {g['val_rmsd']:.3f} Å, "
                     f"test RMSD {test} Å (found {g['count']}x){force}")
    return lines


def plot_catalogue(rows: list[dict[str, Any]], metadata: dict[str, Any], title: str = "", max_panels: int = 12):
    """One panel per distinct mapping (rows of :func:`distinct_mappings`, best on validation
    first): the molecule with its atoms coloured by bead, captioned with the beads used, the
    validation / test RMSD (Å), the mean CG force (kcal/mol/Å) and how often the mapping was
    found. Returns a matplotlib figure, or None without rows or without RDKit drawing (Cairo)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sciml_cgmap.evaluation import draw_mapping_png

    rows = [r for r in rows if r.get("assignment")][:max_panels]
    pngs = [draw_mapping_png(metadata, r["assignment"]) for r in rows]
    if not rows or any(p is None for p in pngs):
        return None
    cols = min(3, len(rows))
    n_rows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.6 * cols, 3.2 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, r, png in zip(axes.flat, rows, pngs, strict=False):
        ax.imshow(plt.imread(io.BytesIO(png), format="png"))
        test = "n/a" if r.get("test_rmsd") is None else f"{r['test_rmsd']:.3f}"
        force = "" if r.get("mean_cg_force") is None else f", |F| {r['mean_cg_force']:.1f}"
        ax.set_title(f"{r['n_used_beads']} beads, found {r['count']}x\nval {r['val_rmsd']:.3f} / test {test} Å{force}",
                     fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95 if title else 1))
    return fig
