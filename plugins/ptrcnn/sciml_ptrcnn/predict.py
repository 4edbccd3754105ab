"""``sciml predict ptrcnn``: formation energy (eV/atom) and lattice parameter (Å) of X2YZ formulas.

Input file: one formula per line (``Co2MnGa``, ``GaCo2Mn``, ``Co2 Ga1 Mn1``; ``#`` comments), or a
CSV with a ``formula`` column. Unknown elements or non-X2YZ formulas raise one ``UserError``
naming every bad formula.

Deep ensemble: pass several trained models (a list, e.g. the seed sweep of ``--tune --seeds N``)
and the output holds the ensemble mean and standard deviation per prediction. From the command
line: ``sciml ptrcnn predict --sweep RUNS/PARENT --input formulas.txt`` (every trial's model of a
sweep) or ``--model URI --model URI ...`` (:func:`predict_ensemble`, :func:`sweep_model_dirs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sciml

from sciml_ptrcnn.dataset import TARGETS, denormalize
from sciml_ptrcnn.elements import parse_formula
from sciml_ptrcnn.representation import encode, encoding_of


def read_formulas(path: str | Path) -> list[str]:
    """Formulas of a text or CSV file.

    Raises:
        UserError: missing file, empty file, or a CSV without a ``formula`` column.
    """
    path = Path(path)
    if not path.exists():
        raise sciml.UserError(f"input file {str(path)!r} does not exist")
    text = path.read_text()
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise sciml.UserError(f"input file {str(path)!r} holds no formula")
    if "," in lines[0]:
        df = pd.read_csv(path)
        if "formula" not in df:
            raise sciml.UserError(f"CSV input {str(path)!r} has no 'formula' column")
        return [str(f) for f in df["formula"]]
    return lines


def parse_all(formulas):
    """Parse every formula; one UserError listing all the bad ones."""
    out, bad = [], []
    for f in formulas:
        try:
            out.append(parse_formula(f))
        except sciml.UserError as exc:
            bad.append(str(exc))
    if bad:
        raise sciml.UserError(f"{len(bad)} input formula(s) rejected: " + "; ".join(bad[:10])
                              + (" ..." if len(bad) > 10 else ""))
    return out


def predict_formulas(models, metadata: dict, formulas) -> pd.DataFrame:
    """Predict for ``formulas`` with one model or a list (deep ensemble: mean and std columns)."""
    import torch

    models = models if isinstance(models, (list, tuple)) else [models]
    hs = parse_all(formulas)
    x = torch.from_numpy(encode(hs, metadata.get("representation", "ptr"), metadata.get("layout", "compact"),
                                encoding=encoding_of(metadata)))
    preds = {}
    for m in models:
        m.eval()
        with torch.no_grad():
            p = m(x).numpy()
        cols = [TARGETS.index(t) for t in m.tasks]
        phys = denormalize(p, metadata["normalization"], cols)
        for i, t in enumerate(m.tasks):
            preds.setdefault(t, []).append(phys[:, i])
    df = pd.DataFrame({"input": list(formulas), "formula": [h.formula for h in hs]})
    for t, vals in preds.items():
        v = np.stack(vals)
        df[t] = v.mean(0)
        if len(models) > 1:
            df[f"{t}_std"] = v.std(0)
    return df


def predict(model, config, metadata, input_path) -> pd.DataFrame:
    """The pipeline's ``predict`` hook: ``(model, run config, dataset metadata, input file)`` -> DataFrame
    with columns ``input, formula, formation_energy_per_atom`` (eV/atom) ``, lattice_parameter`` (Å)."""
    return predict_formulas(model, metadata, read_formulas(input_path))


def predict_ensemble(members, formulas) -> pd.DataFrame:
    """Deep-ensemble prediction: ``members`` are ``(model, metadata)`` pairs (each model with the
    dataset metadata it was trained with: its own representation, encoding and normalisation).

    Returns a DataFrame with ``input, formula``, then per target the members' mean
    (``formation_energy_per_atom`` eV/atom, ``lattice_parameter`` Å) and standard deviation over
    members (``*_std``, population std, 0 for one member), and ``n_models``.

    Raises:
        UserError: no member, or the members predict no common target.
    """
    import torch

    if not members:
        raise sciml.UserError("no model to predict with: give --model (one or more) or --sweep")
    hs = parse_all(formulas)
    preds: dict[str, list[np.ndarray]] = {}
    for model, metadata in members:
        x = torch.from_numpy(encode(hs, metadata.get("representation", "ptr"), metadata.get("layout", "compact"),
                                    encoding=encoding_of(metadata)))
        model.eval()
        with torch.no_grad():
            p = model(x).numpy()
        cols = [TARGETS.index(t) for t in model.tasks]
        phys = denormalize(p, metadata["normalization"], cols)
        for i, t in enumerate(model.tasks):
            preds.setdefault(t, []).append(phys[:, i])
    common = [t for t in TARGETS if len(preds.get(t, [])) == len(members)]
    if not common:
        raise sciml.UserError("the models predict no target in common (e.g. a formation-energy-only and a "
                              "lattice-parameter-only model)")
    df = pd.DataFrame({"input": list(formulas), "formula": [h.formula for h in hs]})
    for t in common:
        v = np.stack(preds[t])
        df[t] = v.mean(0)
        df[f"{t}_std"] = v.std(0)
    df["n_models"] = len(members)
    return df


def sweep_model_dirs(parent: str | Path) -> list[Path]:
    """Every trial model directory (``.../model`` with a ``state_dict.pt``) below a sweep's
    directory, sorted: ``$SCIML_HOME/runs/trials/<parent>`` after ``sciml run --tune``,
    ``$SCIML_HOME/runs/<parent>`` for trials run in process.

    Raises:
        UserError: the directory holds no trial model.
    """
    parent = Path(parent)
    dirs = sorted(d.parent for d in parent.rglob("model/state_dict.pt"))
    if not dirs:
        raise sciml.UserError(f"{str(parent)!r} holds no trial model (expected <trial>/model/state_dict.pt, as "
                              "`sciml run` writes under $SCIML_HOME/runs/<parent> or runs/trials/<parent>)")
    return dirs
