import sciml

SCIML_API = "1"


@sciml.hookimpl
def sciml_register_datasets(register):
    register("linear", "sciml_toy.components:LinearData")


@sciml.hookimpl
def sciml_register_models(register):
    register("mlp", "sciml_toy.components:MLP")
    register("mlp2", "sciml_toy.components:MLP", description="the same MLP under a second name")


@sciml.hookimpl
def sciml_register_evaluators(register):
    register("mse", "sciml_toy.components:MSE")


@sciml.hookimpl
def sciml_register_pipelines(register):
    register(sciml.Pipeline(
        name="default", dataset="toy:linear", model="toy:mlp", evaluator="toy:mse",
        # a checkpoint every epoch: the fault tests interrupt the toy between any two epochs
        defaults={"trainer": {"max_epochs": 3, "batch_size": 32, "lr": 0.01, "patience": 0,
                              "checkpoint_every_s": 0}},
        search_space={"trainer.lr": "loguniform(1e-3, 3e-2)", "model.hidden": "choice(4, 8)"},
        metric="val_mse", mode="min", max_attempts=3,
        tune_defaults={"num_samples": 1, "seeds": 2},
        predict="sciml_toy.components:predict",
    ))
