"""``sciml predict spheroid``: efficacy scores and ranks for a user's plate map."""

from __future__ import annotations

import numpy as np


def predict(model, config, metadata, input_path):
    """Score every well of the plate map ``input_path`` (CSV, see :mod:`sciml_spheroid.io`).

    Returns a DataFrame, one row per well, sorted by ``rank`` (1 = largest deviation from the
    untreated prediction = most effective): plate, well, group, drug, concentration (µM),
    score, rank, and the hand-crafted day-7 -> day-10 changes (``d_log_area``,
    ``d_circularity``, ``d_relative_intensity``) for interpretation.

    Raises:
        sciml.UserError: bad plate map or images (see :func:`sciml_spheroid.io.load_plate_map`),
            or an untrained time-series stage.
    """
    import pandas as pd

    import sciml
    from sciml_spheroid.handcrafted import features_stack
    from sciml_spheroid.io import load_plate_map
    from sciml_spheroid.plate import GROUPS

    if not bool(model.ts_fitted):
        raise sciml.UserError("this spheroid model has no fitted time-series stage; train it with trainer spheroid:simclr")
    size = int(metadata.get("image_size", 64))
    days = metadata.get("days", [7, 8, 9, 10])
    a = load_plate_map(input_path, size=size, days=days)
    model.eval()
    reps = model.embed(a["images"])
    score = model.score(reps).numpy()
    f = features_stack(a["images"])
    d = f[:, -1] - f[:, 0]
    df = pd.DataFrame({
        "plate": a["plate_name"], "well": a["well"], "group": [GROUPS[g] for g in a["group"]],
        "drug": a["drug"], "concentration": a["concentration"], "score": score,
        "d_log_area": d[:, 0], "d_circularity": d[:, 1], "d_relative_intensity": d[:, 2],
    })
    if np.isfinite(a["efficacy"]).any():
        df["efficacy"] = a["efficacy"]
    df["rank"] = df["score"].rank(ascending=False, method="min").astype(int)
    return df.sort_values("rank").reset_index(drop=True)


def summarize(trials):
    """Extra summary lines: mean ± sd over trials of the headline (Spearman over treated
    conditions) for the model and each baseline on the test plates, and why a split or a
    baseline's figure is missing."""
    lines = []
    rows = [("test_spearman_treated", "SimCLR")] + [
        (f"baseline.{b}.test_spearman_treated", b) for b in ("concentration", "handcrafted", "random_init")]
    for key, name in rows:
        vals = [t.get("metrics", {}).get(key) for t in trials]
        vals = [v for v in vals if isinstance(v, (int, float)) and np.isfinite(v)]
        if vals:
            lines.append(f"{name}: Spearman over treated conditions (test) {np.mean(vals):.3f} ± {np.std(vals):.3f} "
                         f"(n={len(vals)})")
    seen = set()
    for t in trials:
        res = t.get("results", {}) or {}
        for line in [res.get("split_note", "")] + list(res.get("baseline_notes", [])):
            if line and line not in seen:
                seen.add(line)
                lines.append(line)
    return lines
