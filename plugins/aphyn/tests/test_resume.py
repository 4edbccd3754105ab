"""Issue 12: an APHYN-EP fit interrupted at a middle epoch and resumed ends where an
uninterrupted fit with the same seed ends: weights, metrics and the λ of Eq. 3 (which lives in
the LambdaSchedule callback's state in Lightning's checkpoint)."""

from __future__ import annotations

import torch
from sciml.testing import check_resume
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.training import AphynTrainer, _Arrays


def test_interrupted_fit_resumes_to_the_same_weights_metrics_and_lambda(tmp_path):
    gen = torch.Generator().manual_seed(0)
    ms = APHYNEP(APHYNEP.Config(use_fdl=False, tau_close=60.0, step_size=0.5), {"sampling_interval": 1.0})
    with torch.no_grad():
        traces = ms.forecast(0.5 + 0.4 * torch.rand(8, generator=gen), 41)[..., 0].T
    traces = traces + 0.01 * torch.randn(traces.shape, generator=gen)

    def build(ctx):
        # warm-up 1, then 3 joint epochs: the interrupt falls while λ grows
        cfg = AphynTrainer.Config(max_epochs=4, physics_warmup_epochs=1, lr=1e-3, physics_lr=0.05, batch_size=4,
                                  gamma=10.0)
        model = APHYNEP(APHYNEP.Config(step_size=0.5, zero_output=False, time_unit=50.0), {"sampling_interval": 1.0})
        return AphynTrainer(cfg, ctx), model, _Arrays(traces[:6], traces[6:])

    out = check_resume(build, tmp_path, interrupt_at=2)
    assert out["steps"] == 4.0
    # the same seed, the same batches (the engine restores the RNG state): equal to float precision
    assert out["max_weight_diff"] <= 1e-6
    assert out["max_metric_diff"] <= 1e-6  # includes "lambda": restored from the callback's state
