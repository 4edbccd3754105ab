"""Hook implementations of the ptrcnn plugin (no heavy imports here)."""

from __future__ import annotations

import sciml


@sciml.hookimpl
def sciml_register_datasets(register):
    register("heusler", "sciml_ptrcnn.dataset:HeuslerPTRDataset",
             description="X2YZ full-Heusler compounds as periodic-table images (CHGNet/OQMD/CSV labels)")


@sciml.hookimpl
def sciml_register_models(register):
    register("cnn", "sciml_ptrcnn.model:PTRCNN",
             description="Zheng et al. 2018 CNN: 3 conv (3x3, 5x5, 3x3) + 2 FC, multi-task head")


@sciml.hookimpl
def sciml_register_trainers(register):
    register("sgd", "sciml_ptrcnn.training:PaperTrainer",
             description="the core's engine with the paper's SGD: Nesterov momentum 0.85, weight decay 0.005, step-decayed lr, early stopping")


@sciml.hookimpl
def sciml_register_evaluators(register):
    register("regression", "sciml_ptrcnn.evaluation:RegressionEvaluator",
             description="MAE/MAPE, experimental MAE, error vs training size vs controls, KRR, stability heatmaps")


@sciml.hookimpl
def sciml_register_pipelines(register):
    register(sciml.Pipeline(
        name="default",
        dataset="ptrcnn:heusler",
        model="ptrcnn:cnn",
        trainer="ptrcnn:sgd",
        evaluator="ptrcnn:regression",
        defaults={
            "dataset": {"source": "chgnet", "representation": "ptr", "normalization": "whitening"},
            # channels 32 (paper: 96) keeps `sciml run ptrcnn` to a few minutes on 2 shared cores
            "model": {"task": "multi", "channels": 32, "hidden": 192},
            # lr step every epoch of 12 = the paper's ten steps over a run, factor 0.7
            "trainer": {"max_epochs": 12, "batch_size": 16, "lr": 0.01, "momentum": 0.85, "nesterov": True,
                        "weight_decay": 0.005, "lr_step_size": 1, "lr_gamma": 0.7, "patience": 5},
            "evaluator": {"learning_curve_sizes": [500, 2000], "learning_curve_epochs": 10,
                          "learning_curve_representations": ["ptr", "random_table_1"],
                          "stability_epochs": 10},
        },
        search_space={
            "trainer.lr": "loguniform(3e-3, 3e-2)",
            "trainer.weight_decay": "loguniform(1e-4, 1e-2)",
            "trainer.batch_size": "choice(16, 32, 64)",
            "model.channels": "choice(32, 64, 96)",
            "dataset.representation": "choice('ptr', 'random_table_1', 'mendeleev_line')",
        },
        metric="val_mae_formation_energy",
        mode="min",
        predict="sciml_ptrcnn.predict:predict",
        description="CNN on the periodic-table representation of X2YZ full-Heuslers (Zheng et al., Chem. Sci. 2018)",
    ))


@sciml.hookimpl
def sciml_register_commands(cli):
    import click

    @cli.group(name="ptrcnn")
    def ptrcnn():
        """Periodic-table CNN for full-Heusler compounds: data tools."""

    @ptrcnn.command(name="label")
    @click.argument("out", type=click.Path(dir_okay=False))
    @click.option("--n", "n", type=int, default=3000, show_default=True, help="compounds of the seeded random order")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--chunk", type=int, default=32, show_default=True, help="compounds per batched CHGNet call")
    @click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
    @click.option("--experimental/--no-experimental", default=True, show_default=True,
                  help="label pymatgen's 120 experimental X2YZ compositions first")
    def label(out, n, seed, chunk, threads, experimental):
        """Label X2YZ full-Heuslers with CHGNet (lattice parameter, formation energy) into OUT (CSV, resumable)."""
        from sciml_ptrcnn.label import run_label

        path = run_label(out, n=n, seed=seed, chunk=chunk, threads=threads, include_experimental=experimental)
        click.echo(f"wrote {path} (settings in {path}.settings.json)")

    @ptrcnn.command(name="predict")
    @click.option("--model", "models", multiple=True,
                  help="a model URI or directory (models:/sciml-ptrcnn@champion, runs:/ID/model, runs/PARENT/TRIAL/model); repeat for an ensemble")
    @click.option("--sweep", type=click.Path(exists=True, file_okay=False),
                  help="a sweep's parent run directory ($SCIML_HOME/runs/PARENT): every trial's model")
    @click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="formulas, one a line, or a CSV with a 'formula' column")
    @click.option("--output", "output_path", type=click.Path(dir_okay=False), help=".csv or .json; default: stdout")
    def predict_cmd(models, sweep, input_path, output_path):
        """Formation energy (eV/atom) and lattice parameter (Å) of X2YZ formulas: the ensemble mean
        and standard deviation over several models (a seed sweep's trials, or --model repeated)."""
        from sciml_ptrcnn.predict import predict_ensemble, read_formulas, sweep_model_dirs

        loaded = [sciml.load_model(m) for m in models]
        if sweep:
            loaded += [sciml.load_model_dir(d) for d in sweep_model_dirs(sweep)]
        wrong = [str(i) for i, m in enumerate(loaded) if m.config.get("pipeline", "").split(":")[0] != "ptrcnn"]
        if wrong:
            raise sciml.UserError(f"model(s) {', '.join(wrong)} (0-based, --model first) were not trained by plugin ptrcnn")
        frame = predict_ensemble([(m.module, m.metadata) for m in loaded], read_formulas(input_path))
        if output_path is None:
            click.echo(frame.to_csv(index=False), nl=False)
        elif output_path.endswith((".csv", ".json")):
            if output_path.endswith(".json"):
                frame.to_json(output_path, orient="records", indent=2)
            else:
                frame.to_csv(output_path, index=False)
            click.echo(f"wrote {len(frame)} rows ({len(loaded)} models) to {output_path}", err=True)
        else:
            raise sciml.UserError(f"--output {output_path!r}: use a .csv or .json file name")
