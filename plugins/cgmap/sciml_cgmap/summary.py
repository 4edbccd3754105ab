"""Summary of a sweep: the distinct accepted mappings (paper §3.3, multiplicity of mappings)."""

from __future__ import annotations

from typing import Any


def distinct_mappings(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group accepted trials by ``mapping_signature`` (symmetry-equivalent mappings count once).

    Args:
        trials: dicts with ``results`` (the evaluator's), ``metrics`` and ``accepted``.

    Returns:
        One dict per distinct mapping, best test RMSD first: ``signature``, ``beads`` (atom
        indices per bead, from the best trial), ``n_used_beads``, ``best_test_rmsd`` (Å),
        ``count`` (trials that found it).
    """
    groups: dict[str, dict[str, Any]] = {}
    for t in trials:
        if not t.get("accepted", True):
            continue
        res = {**(t.get("metrics") or {}), **(t.get("results") or {})}
        sig = res.get("mapping_signature")
        rmsd = res.get("test_rmsd")
        if sig is None or rmsd is None:
            continue
        g = groups.setdefault(sig, {"signature": sig, "count": 0, "best_test_rmsd": float("inf")})
        g["count"] += 1
        if float(rmsd) < g["best_test_rmsd"]:
            g.update(best_test_rmsd=float(rmsd), beads=res.get("beads"),
                     n_used_beads=int(res.get("n_used_beads", 0)))
    return sorted(groups.values(), key=lambda g: g["best_test_rmsd"])


def summarize(trials: list[dict[str, Any]]) -> list[str]:
    """Lines for the run summary: one per distinct accepted mapping, plus the rejected count."""
    rows = distinct_mappings(trials)
    rejected = sum(1 for t in trials if not t.get("accepted", True))
    lines = [f"{len(rows)} distinct connectivity-preserving mapping(s) "
             f"({rejected} of {len(trials)} trial(s) rejected: broken connectivity or collapse)"]
    for g in rows:
        lines.append(f"  {g['n_used_beads']} beads {g['beads']}: test RMSD {g['best_test_rmsd']:.3f} Å "
                     f"(found {g['count']}x)")
    return lines
