"""Issue 12: interrupting cgmap's training at a middle epoch and resuming gives the same final
weights and metrics as an uninterrupted run with the same seed (the engine's resume; τ annealing
is a pure function of the epoch, the running maxima of Eq. 3 are model buffers in the checkpoint,
and the least-squares decoder refit is deterministic)."""

from sciml.testing import check_resume
from sciml_cgmap.model import CGVAE
from sciml_cgmap.training import CGMapTrainer


def test_interrupted_training_resumes_to_the_same_weights_and_metrics(ethane_data, tmp_path):
    def build(ctx):
        model = CGVAE(CGVAE.Config(n_beads=3, loss="normalized", anneal_epochs=4, tau_steps=4),
                      ethane_data.metadata)
        trainer = CGMapTrainer(CGMapTrainer.Config(max_epochs=6, batch_size=40, lr=3e-2, patience=0,
                                                   device="cpu", restore_best=False), ctx)
        return trainer, model, ethane_data

    out = check_resume(build, tmp_path, interrupt_at=3, seed=0)
    assert out["steps"] == 6
    # CPU, all randomness from seeded global RNGs (Gumbel noise, shuffling): bit-identical
    assert out["max_weight_diff"] <= 1e-6, out
    assert out["max_metric_diff"] <= 1e-6, out
