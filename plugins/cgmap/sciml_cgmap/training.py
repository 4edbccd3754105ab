"""``cgmap:trainer`` — the core's Lightning trainer with cgmap's two particulars.

1. No early stop before the Gumbel-softmax temperature τ has reached ``tau_end`` (paper §3.1:
   τ "follows a stepwise decrease until the end of the training"): ``min_epochs`` is raised to
   the model's anneal span (``model.anneal_epochs``, at most and by default the trainer's
   ``max_epochs``). The anneal itself is the model's ``on_epoch_start`` hook.
2. After training, with ``model.refit_decoder``, the decoder D is set to the exact least-squares
   minimiser of the reconstruction term (Eq. 1) for the final hard mapping on the training frames
   (:meth:`sciml_cgmap.model.CGVAE.fit_decoder`). Gradient training reaches it only
   approximately: it optimises D for soft Gumbel samples of the assignment, not the hard argmax
   the mapping is evaluated with.
"""

from __future__ import annotations

import sciml


class CGMapTrainer(sciml.DefaultTrainer):
    """:class:`sciml.DefaultTrainer` (``Config`` = :class:`sciml.TrainerConfig`) with the τ-aware
    ``min_epochs`` and the decoder refit described in the module docstring. Returns the
    engine's fit summary plus ``train_rec_refit`` (Å², L_rec of the refit decoder on the
    training frames) when the decoder was refit.
    """

    def fit(self, model, data, reporter) -> dict[str, float]:
        c = self.config
        anneal = getattr(getattr(model, "config", None), "anneal_epochs", None)
        span = min(anneal or c.max_epochs, c.max_epochs)
        if c.min_epochs < span:
            self.config = c.model_copy(update={"min_epochs": span})
        try:
            out = dict(super().fit(model, data, reporter) or {})
        finally:
            self.config = c
        if getattr(getattr(model, "config", None), "refit_decoder", False):
            import torch

            x = torch.as_tensor(data.arrays("train")["positions"], dtype=torch.float32)
            x = x.to(model.decoder.device)
            model.eval()
            out["train_rec_refit"] = model.fit_decoder(x)
        return out
