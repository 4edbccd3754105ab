"""Issue 12: retro trains on the core's engine (``sciml.DefaultTrainer``); an interrupted fit resumes to the same
weights and metrics as an uninterrupted one with the same seed."""

from __future__ import annotations

import pytest
import sciml
from sciml.testing import check_resume


@pytest.mark.slow  # three short fits of the engine: ~30 s on an idle machine
def test_interrupted_policy_training_resumes_to_the_same_weights(tmp_path):
    from sciml_retro.dataset import RetroDataset
    from sciml_retro.model import RetroPolicy

    def build(ctx):
        # the first 300 reactions of the built-in USPTO/ORD set: a few seconds of template extraction
        ds = RetroDataset(RetroDataset.Config(limit=300, template_min_count=1, n_bits=64, filter_negatives=16), ctx)
        ds.prepare()
        model = RetroPolicy(RetroPolicy.Config(hidden_size=16, filter_hidden=8, dropout=0.2), ds.metadata)
        trainer = sciml.DefaultTrainer(sciml.DefaultTrainer.Config(max_epochs=3, batch_size=32, patience=0), ctx)
        return trainer, model, ds

    out = check_resume(build, tmp_path / "runs", interrupt_at=2)
    # all randomness (init, dropout, shuffling) comes from seeded global RNGs that the engine restores on resume
    assert out["steps"] == 3
    assert out["max_weight_diff"] <= 1e-6 and out["max_metric_diff"] <= 1e-6, out
