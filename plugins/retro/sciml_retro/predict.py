"""``sciml predict`` for retro: plan routes for every target SMILES of a file (one per line, or a CSV with a
``smiles`` column). Returns a DataFrame: target, solved, n_steps, time_to_first_s, route_json."""

from __future__ import annotations

import json
from pathlib import Path

from sciml import UserError


def read_targets(path) -> list[str]:
    """Target SMILES from a text file (first token per line) or a CSV with a 'smiles' column."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"target file {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        df = pd.read_csv(path)
        if "smiles" not in df.columns:
            raise UserError(f"{path}: CSV needs a 'smiles' column; has {list(df.columns)}")
        return [str(s) for s in df["smiles"]]
    return [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def read_named_targets(path) -> list[tuple[str, str]]:
    """``[(name, smiles)]`` from a text file (SMILES, then an optional name, per line; ``#`` comments) or a CSV with
    a ``smiles`` column and an optional ``name`` or ``id`` column. Unnamed targets are named by their line number.

    Raises:
        UserError: the file does not exist, has no ``smiles`` column (CSV) or no target.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"target file {str(path)!r} does not exist")
    out: list[tuple[str, str]] = []
    if path.suffix.lower() == ".csv":
        import pandas as pd

        df = pd.read_csv(path)
        if "smiles" not in df.columns:
            raise UserError(f"{path}: CSV needs a 'smiles' column; has {list(df.columns)}")
        names = df["name"] if "name" in df.columns else df["id"] if "id" in df.columns else None
        for i, smi in enumerate(df["smiles"]):
            out.append((str(names.iloc[i]) if names is not None else f"t{i + 1}", str(smi)))
    else:
        for i, ln in enumerate(path.read_text().splitlines(), 1):
            fields = ln.split("#", 1)[0].split()
            if fields:
                out.append((" ".join(fields[1:]) or f"line{i}", fields[0]))
    if not out:
        raise UserError(f"target file {str(path)!r} holds no target SMILES")
    return out


def predict(model, config, metadata, input_path):
    import pandas as pd

    from sciml_retro.chem import parse_target
    from sciml_retro.cli import BUILTIN_STOCK
    from sciml_retro.search import SearchConfig, planner_from_model
    from sciml_retro.stock import Stock

    ev = (config or {}).get("evaluator", {}) if isinstance(config, dict) else {}
    cfg = SearchConfig(time_limit=float(ev.get("time_limit", 5.0)), c_puct=float(ev.get("c_puct", 1.5)),
                       max_depth=int(ev.get("max_depth", 10)), max_routes=1,
                       keep_target_in_stock=bool(ev.get("keep_target_in_stock", False)))
    planner = planner_from_model(model, Stock.from_file(BUILTIN_STOCK), cfg)
    rows = []
    for smi in read_targets(input_path):
        res = planner.search(parse_target(smi))
        best = res.routes[0] if res.routes else None
        rows.append({"target": smi, "solved": res.solved, "n_steps": best.n_steps if best else None,
                     "time_to_first_s": res.time_to_first, "route_json": json.dumps(best.to_dict()) if best else ""})
    return pd.DataFrame(rows)
