"""Issue 12: both stages of the spheroid trainer resume through the engine. Interrupted at a
middle epoch of either stage and resumed, a run ends with the same weights and the same
reported metrics as an uninterrupted run with the same seed (tolerance 1e-6: CPU, every random
draw from seeded global RNGs, which the engine restores)."""

import pytest
from sciml.testing import check_resume, make_context

TOL = 1e-6


def _build(tmp_path):
    from sciml_spheroid.data import SpheroidPlates
    from sciml_spheroid.model import SpheroidSimCLR
    from sciml_spheroid.training import SimCLRTrainer

    ds = SpheroidPlates(SpheroidPlates.Config(image_size=16, n_train_plates=1, n_val_plates=1, n_test_plates=0,
                                              n_untreated=4, n_single=0, replicates=1, concentrations=[1.0]),
                        make_context(tmp_path / "data"))
    ds.prepare()

    def build(ctx):
        model = SpheroidSimCLR(SpheroidSimCLR.Config(width=2, embedding_size=8, projection_dim=4, ts_hidden=4),
                               ds.metadata)
        trainer = SimCLRTrainer(SimCLRTrainer.Config(max_epochs=3, batch_size=16, ts_epochs=8, ts_steps_per_epoch=2), ctx)
        return trainer, model, ds

    return build


@pytest.mark.parametrize("stage,at", [("simclr", 1), ("timeseries", 2)])
def test_interrupted_stage_resumes_to_the_same_weights(tmp_path, stage, at):
    out = check_resume(_build(tmp_path), tmp_path / stage, interrupt_at=at, stage=stage)
    assert out["steps"] == 3 + 4  # SimCLR epochs 0-2, then the time-series stage at steps 3-6, each once
    assert out["max_weight_diff"] <= TOL
    assert out["max_metric_diff"] <= TOL
