"""Hook implementations of the aphyn plugin (no heavy imports here)."""

from __future__ import annotations

import sciml

SCIML_API = "1"


@sciml.hookimpl
def sciml_register_datasets(register):
    register("tp06_slab", "sciml_aphyn.data:TP06SlabDataset",
             description="Ten Tusscher–Panfilov 2006 slab simulated with finitewave (APHYN-EP §3.1)")
    register("optical_mapping", "sciml_aphyn.data:OpticalMappingDataset",
             description="your own optical-mapping traces, .csv/.npy, one per pixel (APHYN-EP §3.2)")


@sciml.hookimpl
def sciml_register_models(register):
    register("aphyn_ep", "sciml_aphyn.model:APHYNEP",
             description="Mitchell–Schaeffer physics + ResNet correction, neural ODE (APHYN-EP Eq. 1-2)")


@sciml.hookimpl
def sciml_register_trainers(register):
    register("aphyn", "sciml_aphyn.training:AphynTrainer",
             description="Eq. 3 loss with the adaptive λ schedule λ_{j+1} = λ_j + γ L_traj")


@sciml.hookimpl
def sciml_register_evaluators(register):
    register("table1", "sciml_aphyn.evaluation:Table1Evaluator",
             description="forecast MSE vs the physics-only baseline, ‖F_dl‖², τ, Fig. 3 + voltage maps")


@sciml.hookimpl
def sciml_register_pipelines(register):
    register(sciml.Pipeline(
        name="default",
        dataset="aphyn:tp06_slab",
        model="aphyn:aphyn_ep",
        trainer="aphyn:aphyn",
        evaluator="aphyn:table1",
        defaults={
            "dataset": {"n": 24, "t_end": 400.0, "horizon": 350.0, "noise": 0.05},
            "model": {"width": 8, "n_blocks": 3, "method": "euler", "step_size": 0.1},
            "trainer": {"max_epochs": 200, "physics_warmup_epochs": 150, "lr": 3e-5, "lambda0": 1.0,
                        "gamma": 10.0},
        },
        search_space={
            "trainer.lr": "loguniform(1e-5, 3e-4)",
            "trainer.gamma": "choice(1.0, 10.0)",
            "model.width": "choice(8, 16)",
            "model.learn_tau": "choice(['tau_in', 'tau_out'], ['tau_in', 'tau_out', 'tau_close'])",
        },
        metric="val_mse",
        mode="min",
        tune_defaults={"num_samples": 2, "seeds": 1},
        predict="sciml_aphyn.predict:predict",
        summarize="sciml_aphyn.evaluation:summarize",
        description="APHYN-EP: hybrid Mitchell–Schaeffer + ResNet forecast of cardiac action potentials",
    ))


@sciml.hookimpl
def sciml_register_commands(cli):
    import click

    @cli.group()
    def aphyn():
        """APHYN-EP on your optical-mapping recordings."""

    @aphyn.command("fit")
    @click.argument("recording", type=click.Path())
    @click.option("--roi", "rois", multiple=True,
                  help="ROI: mask image (.png/.tif/.npy) or 'y0:y1,x0:x1'; repeat for several regions (default: all)")
    @click.option("--frame-interval", type=float, required=True, help="ms between frames")
    @click.option("--horizon", type=float, default=300.0, show_default=True, help="kept ms after the upstroke")
    @click.option("--binning", type=int, default=1, show_default=True, help="average N×N pixel blocks")
    @click.option("--seeds", type=int, default=3, show_default=True, help="fits per ROI (τ mean ± std)")
    @click.option("--epochs", type=int, default=60, show_default=True, help="cap on epochs (early stop on val)")
    @click.option("--polarity", type=click.Choice(["auto", "positive", "negative"]), default="auto", show_default=True)
    @click.option("--detrend-degree", type=int, default=1, show_default=True, help="baseline polynomial degree")
    @click.option("--beat", type=int, default=0, show_default=True, help="which beat (0 = first)")
    @click.option("--step-size", type=float, default=0.1, show_default=True, help="Euler step (ms; paper 0.1)")
    @click.option("--output-dir", default="aphyn-fit", show_default=True, help="tau.csv, summary.json, maps.png")
    def fit(recording, rois, frame_interval, horizon, binning, seeds, epochs, polarity, detrend_degree, beat,
            step_size, output_dir):
        """Fit the Mitchell–Schaeffer τ of RECORDING (.tif/.npy frames or .csv/.npy traces) per ROI."""
        from sciml_aphyn.cli import fit_command

        fit_command(recording, list(rois), output_dir, frame_interval=frame_interval, horizon=horizon,
                    binning=binning, seeds=seeds, epochs=epochs, polarity=polarity,
                    detrend_degree=detrend_degree, beat=beat, step_size=step_size, echo=click.echo)
