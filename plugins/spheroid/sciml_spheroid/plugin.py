"""Hook implementations of the ``spheroid`` plugin (no heavy imports here)."""

from __future__ import annotations

import sciml

SCIML_API = "1"


@sciml.hookimpl
def sciml_register_datasets(register):
    register("plates", "sciml_spheroid.data:SpheroidPlates",
             description="bright-field spheroid plates: simulated experiment with known efficacy, or your plate map")


@sciml.hookimpl
def sciml_register_models(register):
    register("simclr", "sciml_spheroid.model:SpheroidSimCLR",
             description="SimCLR ResNet-18-style encoder + untreated time-series model; deviation = efficacy score")


@sciml.hookimpl
def sciml_register_trainers(register):
    register("simclr", "sciml_spheroid.training:SimCLRTrainer",
             description="SimCLR (NT-Xent) stage, then the time-series stage on untreated wells")


@sciml.hookimpl
def sciml_register_evaluators(register):
    register("ranking", "sciml_spheroid.evaluation:RankingEvaluator",
             description=("Spearman over treated conditions vs true efficacy on held-out plates; baselines: "
                              "concentration, treated, hand-crafted, untrained encoder; linear probe"))


_DEFAULTS = {
    "dataset": {"image_size": 48, "n_train_plates": 3, "n_val_plates": 1, "n_test_plates": 2},
    "model": {"width": 8, "embedding_size": 64, "temperature": 0.2, "aug_strength": 0.5},
    "trainer": {"max_epochs": 15, "batch_size": 128, "lr": 2e-3},
    "evaluator": {"supervised_epochs": 20},
}
_SEARCH = {
    "model.temperature": "loguniform(0.05, 1.0)",
    "trainer.lr": "loguniform(3e-4, 1e-2)",
    "trainer.batch_size": "choice(64, 128, 256)",
    "model.aug_strength": "uniform(0.2, 0.9)",
    "model.embedding_size": "choice(32, 64, 128)",
    "model.distance": "choice('l2', 'cosine')",
}


@sciml.hookimpl
def sciml_register_pipelines(register):
    register(sciml.Pipeline(
        name="unlabelled",
        dataset="spheroid:plates",
        model="spheroid:simclr",
        trainer="spheroid:simclr",
        evaluator="spheroid:ranking",
        defaults=_DEFAULTS,
        search_space=_SEARCH,
        metric="val_dose_spearman",
        mode="max",
        predict="sciml_spheroid.predict:predict",
        summarize="sciml_spheroid.predict:summarize",
        description=("the default pipeline for plates without an efficacy column: selects on the label-free "
                     "val_dose_spearman (score rising with dose on the validation plates)"),
    ))
    register(sciml.Pipeline(
        name="default",
        dataset="spheroid:plates",
        model="spheroid:simclr",
        trainer="spheroid:simclr",
        evaluator="spheroid:ranking",
        defaults=_DEFAULTS,
        search_space=_SEARCH,
        metric="val_spearman_treated",
        mode="max",
        predict="sciml_spheroid.predict:predict",
        summarize="sciml_spheroid.predict:summarize",
        description="SimCLR + time-series deviation ranks drug efficacy on spheroid plates (Babu 2024, Methodology 1)",
    ))
