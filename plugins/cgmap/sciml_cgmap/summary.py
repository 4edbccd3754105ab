"""Summary of a sweep: the distinct accepted mappings (paper §3.3, multiplicity of mappings)."""

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
        ``beads`` (atom indices per bead), ``n_used_beads``, ``val_rmsd`` and ``test_rmsd`` (Å);
        ``count`` (trials that found the mapping).
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
            g.update(val_rmsd=float(val), test_rmsd=None if test is None else float(test),
                     beads=res.get("beads"), n_used_beads=int(res.get("n_used_beads", 0)))
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
        lines.append(f"  {g['n_used_beads']} beads {g['beads']}: val RMSD {g['val_rmsd']:.3f} Å, "
                     f"test RMSD {test} Å (found {g['count']}x)")
    return lines
