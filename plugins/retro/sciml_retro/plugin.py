"""Hook implementations of the ``retro`` plugin (no heavy imports here)."""

from __future__ import annotations

import sciml

SCIML_API = "1"


@sciml.hookimpl
def sciml_register_datasets(register):
    register("uspto", "sciml_retro.dataset:RetroDataset",
             description="atom-mapped USPTO/ORD reactions -> rdchiral templates, stock, route split, fingerprints")


@sciml.hookimpl
def sciml_register_models(register):
    register("policy", "sciml_retro.model:RetroPolicy",
             description="3N-MCTS expansion policy (Morgan fp -> template) + in-scope filter network")


@sciml.hookimpl
def sciml_register_evaluators(register):
    register("planning", "sciml_retro.evaluate:PlanningEvaluator",
             description="top-k template accuracy and MCTS solved rate on held-out benchmark targets")


@sciml.hookimpl
def sciml_register_pipelines(register):
    register(sciml.Pipeline(
        name="default",
        dataset="retro:uspto",
        model="retro:policy",
        evaluator="retro:planning",
        defaults={
            # K = 1: with 10k reactions, K = 3 (the paper's choice for 12.4 M) keeps 552 rules covering 33 % of
            # held-out reactions; K = 1 keeps 4,499 and covers 60 % (docs/plugins/retro.md, measured)
            "dataset": {"template_min_count": 1},
            "model": {"hidden_size": 512, "dropout": 0.2},
            "trainer": {"max_epochs": 20, "batch_size": 128, "lr": 1e-3, "patience": 4},
            # 20 validation + 20 test targets x 2 s, for the policy and again for the template-frequency baseline
            "evaluator": {"n_targets": 20, "time_limit": 2.0},
        },
        search_space={
            "trainer.lr": "loguniform(3e-4, 3e-3)",
            "model.hidden_size": "choice(256, 512, 1024)",
            "model.dropout": "uniform(0.0, 0.5)",
            "dataset.template_min_count": "choice(1, 2, 3)",
            "evaluator.c_puct": "uniform(0.5, 3.0)",
        },
        metric="val_solved_rate",  # validation routes choose; test_solved_rate is reported
        mode="max",
        predict="sciml_retro.predict:predict",
        description="template-based retrosynthesis: expansion policy + in-scope filter + MCTS (Segler & Waller 2018)",
    ))


@sciml.hookimpl
def sciml_register_commands(cli):
    import click

    @cli.group()
    def retro():
        """Retrosynthesis planning (3N-MCTS)."""

    @retro.command()
    @click.argument("smiles", required=False)
    @click.option("--targets", "targets", default=None, type=click.Path(),
                  help="plan every target of this file (one SMILES [name] per line, or a CSV with a 'smiles' column)")
    @click.option("--output-dir", "output_dir", default=None, type=click.Path(),
                  help="with --targets: summary.csv and one JSON (+ PNG) per target go here")
    @click.option("--workers", type=int, default=1, show_default=True, help="with --targets: parallel processes")
    @click.option("--time-limit", type=float, default=10.0, show_default=True, help="search time limit (s)")
    @click.option("--model", "model", default="models:/sciml-retro@champion", show_default=True,
                  help="MLflow model URI, or a trial's model directory (.sciml/runs/PARENT/TRIAL/model)")
    @click.option("--stock", "stock", default=None, help="stock file: one SMILES or InChIKey per line (default: built-in)")
    @click.option("--output", "output", default=None,
                  help="write routes JSON here (AiZynthFinder reaction-tree layout) and a PNG of all routes beside it")
    @click.option("--max-routes", type=int, default=3, show_default=True, help="stop after this many routes")
    @click.option("--max-depth", type=int, default=10, show_default=True, help="maximum reactions on a route")
    @click.option("--iterations", type=int, default=100000, show_default=True, help="MCTS iteration limit")
    @click.option("--c-puct", type=float, default=1.5, show_default=True, help="UCT exploration constant")
    @click.option("--use-filter/--no-filter", default=False, show_default=True, help="in-scope filter network")
    @click.option("--keep-target-in-stock", is_flag=True, default=False,
                  help="let a target that is in the stock count as made (a 0-step route); by default it is taken out")
    @click.option("--seed", type=int, default=0, show_default=True)
    def plan(smiles, targets, output_dir, workers, time_limit, model, stock, output, max_routes, max_depth, iterations,
             c_puct, use_filter, keep_target_in_stock, seed):
        """Plan synthesis routes for SMILES (or every target of --targets FILE) down to purchasable molecules."""
        from sciml_retro.cli import batch_command, plan_command

        if (smiles is None) == (targets is None):
            raise click.UsageError("give one target SMILES or --targets FILE (not both)")
        if targets is not None:
            if not output_dir:
                raise click.UsageError("--targets needs --output-dir DIR (summary.csv and one JSON per target)")
            code = batch_command(targets, output_dir, time_limit=time_limit, model=model, stock=stock,
                                 max_routes=max_routes, max_depth=max_depth, iterations=iterations, c_puct=c_puct,
                                 use_filter=use_filter, keep_target_in_stock=keep_target_in_stock, seed=seed,
                                 workers=workers, echo=click.echo)
            click.get_current_context().exit(code)
        code = plan_command(smiles, time_limit=time_limit, model=model, stock=stock, output=output,
                            max_routes=max_routes, max_depth=max_depth, iterations=iterations, c_puct=c_puct,
                            use_filter=use_filter, keep_target_in_stock=keep_target_in_stock, seed=seed,
                            echo=click.echo)
        click.get_current_context().exit(code)
