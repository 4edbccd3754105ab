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


def plan_command(smiles, *, time_limit=10.0, model="models:/sciml-retro@champion", stock=None, output=None,
                 max_routes=3, max_depth=10, iterations=100000, c_puct=1.5, use_filter=False,
                 keep_target_in_stock=False, seed=0, echo=print) -> int:
    """Plan routes for one target. Returns the exit code: 0 if a route was found, 1 if none was found.

    The target is taken out of the stock (a target in stock would come back as a 0-step "route");
    ``keep_target_in_stock`` keeps it.

    Raises:
        UserError: bad SMILES, missing stock/model file, bad limits.
    """
    target = parse_target(smiles)
    if time_limit <= 0:
        raise UserError(f"--time-limit {time_limit} must be > 0 seconds")
    stock_obj = Stock.from_file(stock) if stock else Stock.from_file(BUILTIN_STOCK)
    policy = load_model_any(model)
    from sciml_retro.route import draw_route, save_routes
    from sciml_retro.search import SearchConfig, planner_from_model

    cfg = SearchConfig(time_limit=time_limit, max_iterations=iterations, max_depth=max_depth, max_routes=max_routes,
                       c_puct=c_puct, use_filter=use_filter, seed=seed, keep_target_in_stock=keep_target_in_stock)
    if target in stock_obj and not keep_target_in_stock:
        echo(f"{target} is in the stock; planning without it (--keep-target-in-stock accepts it as purchasable).")
    res = planner_from_model(policy, stock_obj, cfg).search(target)
    if not res.routes:
        echo(f"No route found for {target} within {time_limit:g} s ({res.iterations} iterations, "
             f"{res.n_nodes} nodes, stock of {len(stock_obj)} molecules, {len(policy.templates)} templates).")
    else:
        echo(f"Found {len(res.routes)} route(s) for {target} in {res.elapsed:.1f} s "
             f"(first after {res.time_to_first:.2f} s, {res.iterations} iterations).")
        for k, r in enumerate(res.routes, 1):
            echo(f"\nRoute {k}: {r.n_steps} step(s), score {r.score:.2f}")
            echo(r.to_text())
    if output:
        out = Path(output)
        save_routes(res.routes, out, {"target": target, "solved": res.solved, "time_to_first_s": res.time_to_first,
                                      "iterations": res.iterations, "time_limit_s": time_limit,
                                      "target_in_stock": target in stock_obj,
                                      "keep_target_in_stock": bool(keep_target_in_stock)})
        echo(f"\nroutes written to {out}")
        if res.routes:
            png = out.with_suffix(".png")
            draw_route(res.routes[0]).savefig(png, dpi=90)
            echo(f"picture of the best route written to {png}")
    return 0 if res.routes else 1
