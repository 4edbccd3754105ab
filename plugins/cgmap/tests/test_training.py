"""A short training of the VAE on tiny ethane data (threshold measured, with margin)."""

import numpy as np
import torch
from sciml.testing import make_context, seed_everything
from sciml_cgmap.evaluation import MappingEvaluator, mean_structure_rmsd, reconstruct, rmsd_per_frame
from sciml_cgmap.model import CGVAE
from sciml_cgmap.training import CGMapTrainer


def test_vae_learns_to_reconstruct_ethane_with_three_beads(ethane_data, tmp_path, make_reporter):
    seed_everything(0)
    model = CGVAE(CGVAE.Config(n_beads=3, anneal_epochs=20), ethane_data.metadata)
    test = ethane_data.arrays("test")["positions"]
    before = rmsd_per_frame(*reconstruct(model, test)[::2]).mean()
    model.train()
    base = mean_structure_rmsd(ethane_data.arrays("train")["positions"], test)
    trainer = CGMapTrainer(CGMapTrainer.Config(max_epochs=40, batch_size=20, lr=3e-2, patience=0,
                                               device="cpu", restore_best=False),
                           make_context(tmp_path / "t"))
    rep = make_reporter(tmp_path / "rep")
    trainer.fit(model, ethane_data, rep)
    after = rmsd_per_frame(*reconstruct(model, test)[::2]).mean()
    taus = rep.history("train_tau")
    assert taus[0] == 4.0 and abs(taus[-1] - 0.1) < 1e-6
    # measured with seeds 0-2 (1 ps Langevin + 1 ps NVE ethane): 0.084, 0.055, 0.056 Å after,
    # 0.15 Å before and for the mean training structure
    assert after < 0.8 * base < before, (before, after, base)
    results = MappingEvaluator(MappingEvaluator.Config(n_rotated=20), make_context(tmp_path / "e")).evaluate(
        model, ethane_data, rep)
    assert abs(results["test_rmsd"] - after) < 1e-5
    val = ethane_data.arrays("val")["positions"]
    assert abs(results["val_rmsd"] - rmsd_per_frame(*reconstruct(model, val)[::2]).mean()) < 1e-5
    assert results["val_rmsd"] != results["test_rmsd"]  # two splits, two figures
    assert results["n_used_beads"] in (2.0, 3.0)
    # §3.4.2: rigidly rotated inputs are not reconstructed without alignment
    assert "test_rmsd_rotated_aligned" not in results  # equal to the unrotated RMSD by construction
    assert results["test_rmsd_rotated_raw"] > 3 * results["test_rmsd_unrotated_subset"]
    assert "mapping.png" in rep.figures and "cgmap_losses.png" in rep.figures
    for split in ("val", "test"):
        assert np.isfinite(results[f"{split}_mean_cg_force"]) and results[f"{split}_mean_cg_force"] > 0
    ev = MappingEvaluator(MappingEvaluator.Config(), make_context(tmp_path / "e"))
    assert ev.accept({**results, "connectivity_preserving": 0.0, "broken_beads": [1]}) == (
        False, "mapping breaks connectivity: bead(s) [1] group atoms that are not bonded through atoms "
        "of the same bead (paper §3.3)")
    assert ev.accept({**results, "connectivity_preserving": 1.0, "n_used_beads": 1.0})[1].startswith(
        "mapping collapsed to 1 bead(s)")
    assert ev.accept({**results, "connectivity_preserving": 1.0, "n_used_beads": 2.0}) == (True, "")
    torch.testing.assert_close(model.assignment_matrix.argmax(1), torch.tensor(results["assignment"]))


def test_no_early_stop_before_tau_reaches_its_final_value(ethane_data, tmp_path, make_reporter):
    seed_everything(0)
    model = CGVAE(CGVAE.Config(n_beads=3, anneal_epochs=5, tau_steps=5), ethane_data.metadata)
    # every epoch counts as "no change": without the τ-aware min_epochs this stops after 2 epochs
    cfg = CGMapTrainer.Config(max_epochs=9, batch_size=40, patience=1, min_delta=1e9, stop_rule="no_change",
                              device="cpu", restore_best=False)
    rep = make_reporter(tmp_path / "rep")
    out = CGMapTrainer(cfg, make_context(tmp_path / "t")).fit(model, ethane_data, rep)
    taus = rep.history("train_tau")
    assert len(taus) == 5 and abs(taus[-1] - 0.1) < 1e-6 and out["stopped_early"]
    assert out["train_rec_refit"] > 0  # the least-squares decoder refit ran
    # an anneal span longer than the training is cut to it: τ still ends at tau_end
    rep2 = make_reporter(tmp_path / "rep2")
    CGMapTrainer(cfg.model_copy(update={"max_epochs": 4}), make_context(tmp_path / "u")).fit(
        CGVAE(CGVAE.Config(n_beads=3, anneal_epochs=20, tau_steps=4), ethane_data.metadata), ethane_data, rep2)
    taus = rep2.history("train_tau")
    assert len(taus) == 4 and taus[0] == 4.0 and abs(taus[-1] - 0.1) < 1e-6
