"""``sciml predict spheroid``: a user's plate map to scores, condition rankings and dose–response."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def report_dir(input_path) -> Path:
    """Where :func:`predict` writes the report of plate map ``input_path``: ``<name>.spheroid-report/`` beside it."""
    p = Path(input_path)
    return p.with_name(p.stem + ".spheroid-report")


def predict(model, config, metadata, input_path):
    """Score every well of the plate map ``input_path`` (CSV, see :mod:`sciml_spheroid.io`).

    The plate map is read with the training run's image settings (size, channels, crop) and the
    model's days; scores are normalised to each plate's **own** untreated wells (eqs. N1, N2),
    so the plate needs untreated wells (with ``model.normalise='plate'``, the default).

    Returns a DataFrame, one row per well, sorted by ``rank`` (1 = largest deviation from the
    untreated prediction = most effective): plate, well, group, drug, concentration (µM),
    score (z vs the plate's controls), rank, qc (empty = fine), the condition's mean score with
    its bootstrap 95 % interval and rank, the hand-crafted first-to-last-day changes
    (``d_log_area``, ``d_circularity``, ``d_relative_intensity``) for interpretation, and
    ``efficacy`` when the plate map has it. Also writes :func:`report_dir` with
    ``conditions.csv``, ``drugs.csv`` (Hill fits: EC50, E_max, intervals, drug rank),
    ``wells.csv``, a heat map, a dose–response figure per drug and ``report.html``.

    Raises:
        sciml.UserError: bad plate map or images (see :func:`sciml_spheroid.io.load_plate_map`),
            an untrained time-series stage, days the model needs but the plate lacks, or no
            untreated wells.
    """
    import pandas as pd
    import sciml

    from sciml_spheroid.handcrafted import features_stack
    from sciml_spheroid.io import load_plate_map
    from sciml_spheroid.plate import GROUPS
    from sciml_spheroid.report import plate_report

    if not bool(model.ts_fitted):
        raise sciml.UserError("this spheroid model has no fitted time-series stage; train it with trainer spheroid:simclr")
    ds = (config or {}).get("dataset", {}) if isinstance(config, dict) else {}
    size = int(metadata.get("image_size", 64))
    days = [int(d) for d in metadata.get("days", [7, 8, 9, 10])]
    channels = ds.get("channels", "all")
    a = load_plate_map(input_path, size=size, days=days, channels=channels, crop=float(ds.get("crop", 0.0) or 0.0))
    if a["images"].shape[2] != model.in_channels:
        raise sciml.UserError(f"the plate map's images have {a['images'].shape[2]} channel(s); the model was trained "
                              f"on {model.in_channels} (train with the same image layers, or dataset.channels)")
    model.eval()
    reps = model.embed(a["images"])
    score = model.score_wells(reps, a["plate"], a["group"])
    rep = plate_report(a, score)
    out = rep.write(report_dir(input_path))
    f = features_stack(a["images"], channel_axis=True)
    d = f[:, -1] - f[:, 0]
    df = pd.DataFrame({
        "plate": a["plate_name"], "well": a["well"], "group": [GROUPS[g] for g in a["group"]],
        "drug": a["drug"], "concentration": a["concentration"], "score": score, "qc": a["qc"],
        "d_log_area": d[:, 0], "d_circularity": d[:, 1], "d_relative_intensity": d[:, 2],
    })
    cond = rep.conditions.rename(columns={"score": "condition_score", "ci_low": "condition_ci_low",
                                          "ci_high": "condition_ci_high", "rank": "condition_rank"})
    df["_drug"] = np.where(a["group"] > 0, a["drug"], "none")
    df["_conc"] = np.where(a["group"] > 0, a["concentration"], 0.0)
    df = df.merge(cond[["group", "drug", "concentration", "condition_score", "condition_ci_low", "condition_ci_high",
                        "condition_rank"]].rename(columns={"drug": "_drug", "concentration": "_conc"}),
                  on=["group", "_drug", "_conc"], how="left").drop(columns=["_drug", "_conc"])
    if np.isfinite(a["efficacy"]).any():
        df["efficacy"] = a["efficacy"]
    df["rank"] = df["score"].rank(ascending=False, method="min").astype(int)
    df.attrs["report_dir"] = str(out)
    import logging

    logging.getLogger(__name__).warning("spheroid report (conditions, drug Hill fits, figures, HTML) written to %s", out)
    return df.sort_values("rank").reset_index(drop=True)


def summarize(trials):
    """Extra summary lines: mean ± sd over trials of the headline (Spearman over treated
    conditions) for the model and each baseline on the test plates, and why a split or a
    baseline's figure is missing."""
    lines = []
    rows = [("test_spearman_treated", "SimCLR")] + [
        (f"baseline.{b}.test_spearman_treated", b) for b in ("concentration", "handcrafted", "random_init")]
    rows += [("test_oracle_spearman_treated", "oracle (simulator ceiling)")]
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
