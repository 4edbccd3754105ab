"""The paper's training recipe as configuration of the core's engine (:func:`sciml.fit`, Lightning).

Paper §CNNs: SGD with Nesterov's accelerated gradient, momentum 0.85, starting lr 0.01, weight
decay 0.005, "step rate decay with a step size of 10 000" of 100,000 iterations, i.e. ten steps
over the run. Here the step is ``lr_step_size`` epochs (``StepLR``) and the factor ``lr_gamma``
(not given in the paper; 0.7). Ours, not the paper's: early stopping on the validation loss
(``patience``) and the weights of the best validation epoch kept at the end (the paper trains a
fixed number of iterations).

There is no training loop here: device (``trainer.device``), threads, checkpoints and resume are
the engine's.
"""

from __future__ import annotations

from typing import Literal

import sciml
from pydantic import Field


class PaperTrainer(sciml.DefaultTrainer):
    """Trainer ``ptrcnn:sgd``: the core's trainer with the paper's SGD recipe as defaults."""

    class Config(sciml.TrainerConfig):
        max_epochs: int = Field(40, ge=1, description="epochs (passes over the training set)")
        batch_size: int = Field(64, ge=1, description="mini-batch size (compounds; not in the paper)")
        lr: float = Field(0.01, gt=0, description="initial learning rate (paper: 0.01)")
        optimizer: Literal["adam", "adamw", "sgd"] = Field("sgd", description="sgd (paper), adam or adamw")
        momentum: float = Field(0.85, ge=0, lt=1, description="SGD momentum (paper: 0.85; 0 = plain SGD)")
        nesterov: bool = Field(True, description="Nesterov accelerated gradient (paper; needs momentum > 0)")
        weight_decay: float = Field(0.005, ge=0, description="L2 weight decay (paper: 0.005)")
        lr_step_size: int = Field(4, ge=0, description="epochs between lr decays (paper: a tenth of training); 0 = constant lr")
        lr_gamma: float = Field(0.7, gt=0, le=1, description="lr factor at each decay (not in the paper)")
        patience: int = Field(10, ge=0, description="early stopping patience in epochs on val_loss (0 = off)")


def paper_config(epochs: int, **overrides) -> PaperTrainer.Config:
    """The paper's recipe for a run of ``epochs`` epochs: ten lr steps over the run
    (``lr_step_size = max(1, round(epochs / 10))``), no early stopping; ``overrides`` are other
    :class:`PaperTrainer.Config` fields. Used by the evaluator's auxiliary fits and the benches."""
    fields = {"max_epochs": epochs, "lr_step_size": max(1, round(epochs / 10)), "patience": 0, **overrides}
    return PaperTrainer.Config(**fields)
