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
