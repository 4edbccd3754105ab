"""``sciml retro plan``: load a policy, a stock, run 3N-MCTS on one target, print/write the routes."""

from __future__ import annotations

from pathlib import Path

from sciml import UserError

from sciml_retro.chem import parse_target
from sciml_retro.stock import Stock

BUILTIN_STOCK = Path(__file__).resolve().parent / "data" / "stock_inchikeys.txt.gz"


def load_model_any(model: str):
    """A :class:`~sciml_retro.model.RetroPolicy` from an MLflow model URI (``models:/sciml-retro@champion``,
    ``runs:/ID/model``) or a trial's model directory (``.sciml/runs/PARENT/TRIAL/model``): :func:`sciml.load_model`.

    Raises:
        UserError: nothing loadable there (the message says how to get a model), or not a retro policy.
    """
    import sciml

    from sciml_retro.model import RetroPolicy

    try:
        module = sciml.load_model(model).module
    except UserError as exc:
        raise UserError(f"{exc}; train one with 'sciml run retro', or pass --model with a model URI or a trial's "
                        "model directory") from None
    if not isinstance(module, RetroPolicy):
        raise UserError(f"model {model!r} is a {type(module).__name__}, not a retro policy")
    return module.eval()


def _search_config(time_limit, max_routes, max_depth, iterations, c_puct, use_filter, keep_target_in_stock, seed):
    from sciml_retro.search import SearchConfig

    if time_limit <= 0:
        raise UserError(f"--time-limit {time_limit} must be > 0 seconds")
    return SearchConfig(time_limit=time_limit, max_iterations=iterations, max_depth=max_depth, max_routes=max_routes,
                        c_puct=c_puct, use_filter=use_filter, seed=seed, keep_target_in_stock=keep_target_in_stock)


def in_stock_note(target: str, stock_obj: Stock, keep_target_in_stock: bool) -> str | None:
    """The message for a target that is itself in the stock (None when it is not)."""
    if target not in stock_obj:
        return None
    if keep_target_in_stock:
        return (f"{target} is in the stock: with --keep-target-in-stock it counts as purchasable, so the answer "
                "is a 0-step route.")
    return (f"{target} is in the stock; planning without it, so that a route to make it is searched for "
            "(--keep-target-in-stock accepts it as purchasable).")


def write_result(res, out: Path, time_limit: float, target_in_stock: bool, keep_target_in_stock: bool,
                 max_pictures: int = 5) -> list[Path]:
    """Write ``out`` (routes JSON, AiZynthFinder reaction-tree layout per route) and, when a route was found,
    ``out`` with suffix .png (all routes, at most ``max_pictures``, as AND-OR trees). Returns the paths written."""
    from sciml_retro.route import draw_routes, save_routes

    save_routes(res.routes, out, {"target": res.target, "solved": res.solved, "time_to_first_s": res.time_to_first,
                                  "iterations": res.iterations, "time_limit_s": time_limit,
                                  "target_in_stock": bool(target_in_stock),
                                  "keep_target_in_stock": bool(keep_target_in_stock),
                                  "ranking": "score = log(product of template priors) - number of steps, best first"})
    written = [out]
    if res.routes:
        import matplotlib.pyplot as plt

        png = out.with_suffix(".png")
        fig = draw_routes(res.routes, max_pictures)
        fig.savefig(png, dpi=80)
        plt.close(fig)
        written.append(png)
    return written


def plan_command(smiles, *, time_limit=10.0, model="models:/sciml-retro@champion", stock=None, output=None,
                 max_routes=3, max_depth=10, iterations=100000, c_puct=1.5, use_filter=False,
                 keep_target_in_stock=False, seed=0, echo=print) -> int:
    """Plan routes for one target. Returns the exit code: 0 if a route was found, 1 if none was found.

    The target is taken out of the stock (a target in stock would come back as a 0-step "route");
    ``keep_target_in_stock`` keeps it. Every route is printed as a tree (each step's precursors under it,
    with the step's precedent: the most similar training reaction its template came from); with ``output``
    the routes are written as JSON and all of them drawn into a PNG beside it.

    Raises:
        UserError: bad SMILES, missing stock/model file, bad limits.
    """
    target = parse_target(smiles)
    cfg = _search_config(time_limit, max_routes, max_depth, iterations, c_puct, use_filter, keep_target_in_stock, seed)
    stock_obj = Stock.from_file(stock) if stock else Stock.from_file(BUILTIN_STOCK)
    policy = load_model_any(model)
    from sciml_retro.search import planner_from_model

    note = in_stock_note(target, stock_obj, keep_target_in_stock)
    if note:
        echo(note)
    res = planner_from_model(policy, stock_obj, cfg).search(target)
    if not res.routes:
        echo(f"No route found for {target} within {time_limit:g} s ({res.iterations} iterations, "
             f"{res.n_nodes} nodes, stock of {len(stock_obj)} molecules, {len(policy.templates)} templates).")
    else:
        echo(f"Found {len(res.routes)} route(s) for {target} in {res.elapsed:.1f} s "
             f"(first after {res.time_to_first:.2f} s, {res.iterations} iterations); ranked by score = "
             "log(product of template priors) - steps.")
        for k, r in enumerate(res.routes, 1):
            echo(f"\nRoute {k}: {r.n_steps} step(s), score {r.score:.2f}")
            echo(r.to_text())
    if output:
        paths = write_result(res, Path(output), time_limit, target in stock_obj, keep_target_in_stock)
        echo("\nwritten: " + ", ".join(str(p) for p in paths))
    return 0 if res.routes else 1


_WORKER: dict = {}


def _init_worker(model, stock, cfg):
    from sciml_retro.search import planner_from_model

    stock_obj = Stock.from_file(stock) if stock else Stock.from_file(BUILTIN_STOCK)
    _WORKER.update(planner=planner_from_model(load_model_any(model), stock_obj, cfg), stock=stock_obj, cfg=cfg)


def _plan_one(job):
    k, name, stem, smiles, out_dir = job
    planner, stock_obj, cfg = _WORKER["planner"], _WORKER["stock"], _WORKER["cfg"]
    row = {"index": k, "name": name, "target": smiles, "solved": False, "steps": "", "n_routes": 0,
           "time_to_first_s": "", "best_score": "", "elapsed_s": "", "target_in_stock": "", "error": ""}
    try:
        target = parse_target(smiles)
    except UserError as exc:
        row["error"] = str(exc)
        return row
    res = planner.search(target)
    best = res.routes[0] if res.routes else None
    row.update(target=target, solved=res.solved, n_routes=len(res.routes), elapsed_s=round(res.elapsed, 3),
               steps=best.n_steps if best else "", best_score=round(best.score, 4) if best else "",
               time_to_first_s=round(res.time_to_first, 3) if res.time_to_first is not None else "",
               target_in_stock=target in stock_obj)
    write_result(res, Path(out_dir) / f"{k:04d}_{stem}.json", cfg.time_limit, target in stock_obj,
                 cfg.keep_target_in_stock)
    return row


def batch_command(targets_file, output_dir, *, time_limit=10.0, model="models:/sciml-retro@champion", stock=None,
                  max_routes=3, max_depth=10, iterations=100000, c_puct=1.5, use_filter=False,
                  keep_target_in_stock=False, seed=0, workers=1, progress=None, echo=print) -> int:
    """Plan every target of ``targets_file`` (one SMILES per line, optionally a name after it; or a CSV with a
    ``smiles`` column and optional ``name``/``id``) with ``time_limit`` seconds each, on ``workers`` processes.

    Writes ``output_dir/summary.csv`` (index, name, target, solved, steps, n_routes, time_to_first_s, best_score,
    elapsed_s, target_in_stock, error) and per target ``NNNN_name.json`` (+ ``.png`` when solved). A line whose
    SMILES RDKit cannot parse gets an ``error`` in the summary and does not stop the batch. Returns 0 when the
    summary was written. Several workers are started with "spawn" (a script calling this needs an
    ``if __name__ == "__main__":`` guard).

    Raises:
        UserError: missing or empty target file, bad limits, missing stock/model.
    """
    import csv
    import re
    import sys
    from concurrent.futures import ProcessPoolExecutor

    from sciml_retro.predict import read_named_targets

    cfg = _search_config(time_limit, max_routes, max_depth, iterations, c_puct, use_filter, keep_target_in_stock, seed)
    if workers < 1:
        raise UserError(f"--workers {workers} must be >= 1")
    named = read_named_targets(targets_file)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(k, name, re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or f"t{k}", smi, str(out_dir))
            for k, (name, smi) in enumerate(named, 1)]
    load_model_any(model)  # fail early, in this process, with the loader's message
    if progress is None:
        from tqdm import tqdm

        def progress(it, total):
            return tqdm(it, total=total, desc="targets", unit="target", disable=not sys.stderr.isatty())
    if workers == 1:
        _init_worker(model, stock, cfg)
        rows = [r for r in progress(map(_plan_one, jobs), len(jobs))]
    else:
        import multiprocessing as mp

        # fresh interpreters ("spawn"): a process forked after torch ran its thread pool can hang

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(model, stock, cfg)) as ex:
            rows = [r for r in progress(ex.map(_plan_one, jobs), len(jobs))]
    summary = out_dir / "summary.csv"
    with open(summary, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    n_ok = sum(bool(r["solved"]) for r in rows)
    n_in = sum(r["target_in_stock"] is True for r in rows)
    echo(f"{n_ok}/{len(rows)} targets solved at {time_limit:g} s each ({workers} worker(s)); "
         f"{n_in} target(s) were in the stock" + ("" if keep_target_in_stock else " and were planned without it")
         + f"; summary: {summary}")
    return 0
