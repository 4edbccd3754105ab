import pytest
import sciml
import torch
from sciml_cgmap.model import CGVAE

META = {"n_atoms": 8, "mean_structure": [[0.0, 0.0, 0.0]] * 8}  # centred on the origin: x' = D z


def _frames(n=64, seed=0):
    """Fluctuating frames (n, 8, 3) Å about a fixed structure away from the origin."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(8, 3, generator=g) * 1.5 + 1.0
    return base + 0.1 * torch.randn(n, 8, 3, generator=g)


def test_centred_decoder_with_zero_d_returns_the_mean_structure():
    x = _frames()
    mean = x.mean(0)
    m = CGVAE(CGVAE.Config(n_beads=3), {"n_atoms": 8, "mean_structure": mean.tolist()})
    with torch.no_grad():
        m.decoder.zero_()
    m.eval()
    z, x_rec, c = m(x)
    torch.testing.assert_close(x_rec, mean.expand_as(x))
    # the bead coordinates are the real (uncentred) centroids of the beads' atoms
    torch.testing.assert_close(z, torch.einsum("ij,bjd->bid", m.encoding(c), x))


def test_fit_decoder_is_the_least_squares_optimum_and_beats_the_mean_structure():
    x = _frames(seed=1)
    mean = x.mean(0)
    m = CGVAE(CGVAE.Config(n_beads=4), {"n_atoms": 8, "mean_structure": mean.tolist()})
    with torch.no_grad():
        m.logits.copy_(torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), 4) * 5.0)
    m.eval()
    mse = m.fit_decoder(x)
    base = ((x - mean) ** 2).sum(-1).mean().item()
    assert mse < base
    # any perturbation of the solved D reconstructs the training frames worse
    d = m.decoder.detach().clone()
    for k in range(3):
        with torch.no_grad():
            m.decoder.copy_(d + 0.01 * torch.randn(d.shape, generator=torch.Generator().manual_seed(k)))
        _, x_rec, _ = m(x)
        assert ((x - x_rec) ** 2).sum(-1).mean().item() > mse
    # the paper's uncentred decoder x' = D z on the same frames cannot reach the mean structure here
    raw = CGVAE(CGVAE.Config(n_beads=4, centre=False), {"n_atoms": 8})
    with torch.no_grad():
        raw.logits.copy_(m.logits)
    assert raw.fit_decoder(x) > base


def test_centre_needs_the_mean_structure():
    with pytest.raises(sciml.UserError, match="model.centre=true needs the dataset's mean training structure"):
        CGVAE(CGVAE.Config(n_beads=2), {"n_atoms": 8})


def test_encoding_rows_are_normalised_and_non_negative():
    torch.manual_seed(0)
    m = CGVAE(CGVAE.Config(n_beads=3), META)
    m.train()
    m.on_epoch_start(0, 10)
    c = m.assignment()
    assert c.shape == (8, 3)
    torch.testing.assert_close(c.sum(1), torch.ones(8))  # each atom's probabilities over beads
    e = m.encoding(c)
    assert e.shape == (3, 8) and (e >= 0).all()
    torch.testing.assert_close(e.sum(1), torch.ones(3))  # Σ_j E_ij = 1
    z, x_rec, _ = m(torch.randn(5, 8, 3), c)
    assert z.shape == (5, 3, 3) and x_rec.shape == (5, 8, 3)


def test_empty_bead_gives_zero_row_not_nan():
    m = CGVAE(CGVAE.Config(n_beads=3), META)
    with torch.no_grad():
        m.logits.zero_()
        m.logits[:, 0] = 1.0  # every atom in bead 0: beads 1 and 2 are empty
    m.eval()
    c = m.assignment()
    e = m.encoding(c)
    assert torch.isfinite(e).all()
    torch.testing.assert_close(e[0], torch.full((8,), 1 / 8))
    assert (e[1:] == 0).all()
    x = torch.randn(4, 8, 3)
    out = m.losses({"positions": x, "forces": torch.randn(4, 8, 3)}, update_max=False)
    assert torch.isfinite(out["loss"]) and out["n_used_beads"].item() == 1
    # the one used bead sits at the centroid of the atoms
    torch.testing.assert_close(m(x)[0][:, 0], x.mean(1))


def test_collapsed_soft_assignment_keeps_gradients_finite():
    # regression: at τ = 0.1 a collapsed mapping left beads with Σ_j C_ji ~ 1e-30; dividing by it
    # gave NaN gradients and NaN logits (paper-sized ethane, Eq. 3)
    torch.manual_seed(0)
    m = CGVAE(CGVAE.Config(n_beads=2, loss="normalized"), META)
    with torch.no_grad():
        m.logits.zero_()
        m.logits[:, 0] = 7.0
    m.train()
    m.tau.fill_(0.1)
    for _ in range(20):
        m.zero_grad()
        out = m.losses({"positions": torch.randn(4, 8, 3), "forces": torch.randn(4, 8, 3)}, update_max=True)
        out["loss"].backward()
        assert torch.isfinite(m.logits.grad).all() and torch.isfinite(m.decoder.grad).all()
    e = m.encoding(torch.tensor([[1.0, 1e-30], [1.0, 0.0]]))
    assert torch.isfinite(e).all() and e[1].abs().max() < 1e-20


def test_hard_assignment_matrix_is_argmax_one_hot():
    m = CGVAE(CGVAE.Config(n_beads=2), META)
    a = m.assignment_matrix
    assert a.shape == (8, 2) and set(a.sum(1).tolist()) == {1.0}
    assert a.argmax(1).tolist() == m.logits.argmax(1).tolist() == m.bead_of_atom


def test_cg_forces_sum_atomic_forces_of_each_bead():
    c = torch.tensor([[1.0, 0], [1, 0], [0, 1]])
    f = torch.tensor([[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]])
    torch.testing.assert_close(CGVAE.cg_forces(f, c), torch.tensor([[[5.0, 7, 9], [7, 8, 9]]]))


def test_normalized_loss_divides_by_running_maximum():
    m = CGVAE(CGVAE.Config(n_beads=2, loss="normalized", alpha=0.25), META)
    m.train()
    x = torch.randn(6, 8, 3)
    f = torch.randn(6, 8, 3)
    big = m.losses({"positions": x, "forces": 10 * f}, update_max=True)
    # first batch: each term is its own maximum -> (1 - α)·1 + α·1
    assert big["loss"].item() == pytest.approx(1.0, rel=1e-5)
    rec_max, force_max = m.rec_max.item(), m.force_max.item()
    assert force_max == pytest.approx(big["force"].item())
    small = m.losses({"positions": x, "forces": f}, update_max=True)
    # a smaller force keeps the old maximum: α·F/Fmax + (1 − α)·rec/rec_max
    assert m.force_max.item() == pytest.approx(force_max)
    expected = 0.75 * small["rec"].item() / max(rec_max, small["rec"].item()) + 0.25 * small["force"].item() / force_max
    assert small["loss"].item() == pytest.approx(expected, rel=1e-4)
    assert small["force"].item() == pytest.approx(force_max / 100, rel=0.05)  # forces scale squared
    # the formula itself, with a zero maximum treated as 1
    v = CGVAE.normalized_loss(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(4.0), torch.tensor(0.0), 0.5)
    assert v.item() == pytest.approx(0.5 * 0.5 + 0.5 * 3.0)


def test_force_loss_adds_rho_times_force():
    torch.manual_seed(1)
    m = CGVAE(CGVAE.Config(n_beads=2, loss="force", rho=0.5), META)
    out = m.losses({"positions": torch.randn(3, 8, 3), "forces": torch.randn(3, 8, 3)}, update_max=True)
    assert out["loss"].item() == pytest.approx(out["rec"].item() + 0.5 * out["force"].item(), rel=1e-5)


def test_temperature_decreases_stepwise_from_4_to_0_1():
    m = CGVAE(CGVAE.Config(n_beads=2, tau_steps=5), META)
    taus = [m.tau_at(e, 50) for e in range(50)]
    assert taus[0] == pytest.approx(4.0) and taus[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(taus, taus[1:], strict=False))
    assert len(set(round(t, 9) for t in taus)) == 5  # stepwise: 5 levels
    m2 = CGVAE(CGVAE.Config(n_beads=2, anneal_epochs=10), META)
    assert m2.tau_at(10, 1000) == pytest.approx(0.1)


def test_too_many_beads_is_a_user_error():
    with pytest.raises(sciml.UserError, match="model.n_beads=9 exceeds the molecule's 8 atoms"):
        CGVAE(CGVAE.Config(n_beads=9), META)


def test_graph_init_is_a_connected_partition_and_the_argmax_of_the_logits():
    from sciml_cgmap.mapping import is_connectivity_preserving
    from sciml_cgmap.model import graph_voronoi_partition

    # ethylbenzene heavy-atom chain + ring, hydrogens on every carbon
    bonds = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 2]]
    bonds += [[c, 8 + k] for k, c in enumerate([0, 0, 0, 1, 1, 3, 4, 5, 6, 7])]
    z = [6] * 8 + [1] * 10
    for seed in range(20):
        torch.manual_seed(seed)
        part = graph_voronoi_partition(18, bonds, 3, z)
        assert sorted(set(part)) == [0, 1, 2] and is_connectivity_preserving(part, bonds)
    torch.manual_seed(0)
    m = CGVAE(CGVAE.Config(n_beads=3, init="graph", init_scale=50.0),
              {"n_atoms": 18, "bonds": bonds, "atomic_numbers": z, "mean_structure": [[0.0] * 3] * 18})
    torch.manual_seed(0)
    torch.randn(18, 3)  # the model draws its noise first
    assert m.bead_of_atom == graph_voronoi_partition(18, bonds, 3, z)


def test_force_threshold_switches_the_force_term_on_once_reconstruction_is_good():
    torch.manual_seed(0)
    m = CGVAE(CGVAE.Config(n_beads=2, loss="force", rho=1.0, force_threshold=0.5), META)
    m.train()
    m.on_epoch_start(0, 10)
    x, f = torch.randn(4, 8, 3), 10 * torch.randn(4, 8, 3)
    out = m.losses({"positions": 10 * x, "forces": f}, update_max=True)  # rec >> 0.5 Å²: force off
    assert out["force_on"] == 0 and out["loss"].item() == pytest.approx(out["rec"].item())
    with torch.no_grad():
        m.decoder.zero_()
    out = m.losses({"positions": 0.01 * x, "forces": f}, update_max=True)  # rec < 0.5 Å²: on, and stays on
    assert out["force_on"] == 1 and out["loss"].item() == pytest.approx(out["rec"].item() + out["force"].item(), rel=1e-5)
    out = m.losses({"positions": 10 * x, "forces": f}, update_max=True)
    assert out["force_on"] == 1
