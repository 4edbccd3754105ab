import numpy as np
import pytest
import sciml
from sciml_cgmap import md


def finite_difference_forces(ff, x, h=1e-4):
    f = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        f[idx] = -(md.energy_forces(ff, xp)[0] - md.energy_forces(ff, xm)[0]) / (2 * h)
    return f


@pytest.mark.parametrize("smiles", ["CC", "CCc1ccccc1"])
def test_mmff_forces_match_finite_differences(smiles):
    mol = md.molecule_from_smiles(smiles)
    x0 = md.embed_and_minimise(mol, seed=3)
    ff = md.mmff_force_field(mol)
    rng = np.random.default_rng(0)
    x = x0 + rng.normal(0, 0.05, x0.shape)
    md.energy_forces(ff, x0)  # evaluate elsewhere first: the next call must not reuse its state
    e, f = md.energy_forces(ff, x)
    fd = finite_difference_forces(ff, x)
    assert np.abs(f).max() > 1.0  # off-minimum: forces are not trivially zero
    np.testing.assert_allclose(f, fd, atol=2e-3 * np.abs(fd).max())


def test_maxwell_boltzmann_temperature_and_zero_momentum():
    masses = np.array([12.011, 12.011] + [1.008] * 6)
    rng = np.random.default_rng(1)
    ke = []
    for _ in range(3000):
        v = md.maxwell_boltzmann(masses, 300.0, rng)
        np.testing.assert_allclose((masses[:, None] * v).sum(0), 0, atol=1e-12)
        ke.append(md.kinetic_energy(masses, v))
    expected = 0.5 * (3 * len(masses) - 3) * md.KB_KCAL_PER_MOL_K * 300.0  # kcal/mol
    assert np.mean(ke) == pytest.approx(expected, rel=0.03)


def test_numpy_nve_conserves_energy_and_shapes():
    mol = md.molecule_from_smiles("CC")
    t = md.run_nve(mol, n_frames=100, save_every=10, temperature_K=300, seed=0)
    assert t.positions.shape == (100, 8, 3) and t.forces.shape == (100, 8, 3) and t.energies.shape == (100,)
    assert np.ptp(t.energies) > 0.5  # the molecule moves (kcal/mol)
    drift = np.ptp(t.total_energies)
    assert drift < 0.1 * np.ptp(t.energies)  # NVE: total energy far steadier than potential


def test_ase_calculator_units_and_forces():
    from ase import units

    mol = md.molecule_from_smiles("CC")
    x = md.embed_and_minimise(mol, seed=0) + np.random.default_rng(2).normal(0, 0.03, (8, 3))
    atoms = md.mol_to_atoms(mol, x)
    atoms.calc = md.MMFFCalculator(mol)
    e_kcal, f_kcal = md.energy_forces(md.mmff_force_field(mol), x)
    conv = units.kcal / units.mol
    assert conv == pytest.approx(0.0433641, rel=1e-4)
    assert atoms.get_potential_energy() == pytest.approx(e_kcal * conv, rel=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), f_kcal * conv, rtol=1e-9)
    # forces are minus the gradient of the ASE energy (eV/Å)
    h = 1e-4
    a = atoms.copy()
    a.calc = md.MMFFCalculator(mol)
    p = a.get_positions()
    p[3, 1] += h
    a.set_positions(p)
    ep = a.get_potential_energy()
    p[3, 1] -= 2 * h
    a.set_positions(p)
    em = a.get_potential_energy()
    assert -(ep - em) / (2 * h) == pytest.approx(atoms.get_forces()[3, 1], rel=1e-4, abs=1e-6)


def test_ase_velocity_verlet_conserves_energy():
    mol = md.molecule_from_smiles("CC")
    t = md.run_nve_ase(mol, n_frames=40, save_every=5, temperature_K=300, seed=0)
    assert t.positions.shape == (40, 8, 3)
    assert np.ptp(t.total_energies) < 0.1 * np.ptp(t.energies)


def test_ase_calculator_rejects_wrong_atoms():
    from ase import Atoms

    mol = md.molecule_from_smiles("CC")
    atoms = Atoms("CCOHHHHH", positions=np.random.default_rng(0).normal(size=(8, 3)))
    atoms.calc = md.MMFFCalculator(mol)
    with pytest.raises(sciml.UserError, match="do not match"):
        atoms.get_potential_energy()


def test_bad_smiles_is_a_user_error():
    with pytest.raises(sciml.UserError, match=r"dataset.smiles='C1CC\(' is not a valid SMILES"):
        md.molecule_from_smiles("C1CC(")


def _write_xyz(path, with_forces, n=5):
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    mol = md.molecule_from_smiles("CC")
    t = md.run_nve(mol, n_frames=n, save_every=5, seed=1)
    frames = []
    for x, f, e in zip(t.positions, t.forces, t.energies, strict=True):
        a = md.mol_to_atoms(mol, x)
        if with_forces:
            conv = md.kcal_per_mol_in_ev()
            a.calc = SinglePointCalculator(a, energy=e * conv, forces=f * conv)
        frames.append(a)
    ase.io.write(path, frames, format="extxyz")
    return t


def test_loader_reads_forces_from_extxyz(tmp_path):
    t = _write_xyz(tmp_path / "traj.xyz", with_forces=True)
    out = md.load_trajectory(tmp_path / "traj.xyz")
    np.testing.assert_allclose(out["positions"], t.positions, atol=1e-6)
    np.testing.assert_allclose(out["forces"], t.forces, rtol=1e-5, atol=1e-5)  # back in kcal/mol/Å
    assert out["bonds"] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (1, 7)]  # from geometry
    assert out["symbols"] == list("CCHHHHHH")


def test_loader_computes_mmff_forces_when_missing(tmp_path):
    t = _write_xyz(tmp_path / "plain.xyz", with_forces=False)
    out = md.load_trajectory(tmp_path / "plain.xyz", smiles="CC")
    np.testing.assert_allclose(out["forces"], t.forces, rtol=1e-4, atol=1e-4)
    with pytest.raises(sciml.UserError, match="has no forces; set dataset.smiles"):
        md.load_trajectory(tmp_path / "plain.xyz")
    with pytest.raises(sciml.UserError, match="do not match dataset.smiles='CO'"):
        md.load_trajectory(tmp_path / "plain.xyz", smiles="CO")
    with pytest.raises(sciml.UserError, match="does not exist"):
        md.load_trajectory(tmp_path / "missing.xyz", smiles="CC")


def test_canonical_ranks_symmetry_classes():
    mol = md.molecule_from_smiles("CCc1ccccc1")
    ranks = md.canonical_ranks([a.GetSymbol() for a in mol.GetAtoms()], md.bonds_from_mol(mol), mol=mol)
    # ortho carbons (3, 7) and meta carbons (4, 6) are symmetry-equivalent; ipso (2) and para (5) unique
    assert ranks[3] == ranks[7] and ranks[4] == ranks[6]
    assert len({ranks[2], ranks[3], ranks[4], ranks[5]}) == 4
    # the graph-only path (no RDKit molecule) gives the same classes for ethane
    e = md.molecule_from_smiles("CC")
    r = md.canonical_ranks(list("CCHHHHHH"), md.bonds_from_mol(e))
    assert r[0] == r[1] and len(set(r[2:])) == 1 and r[2] != r[0]


def test_presets_are_the_papers_four_systems_with_mmff94():
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula
    from sciml_cgmap.data import MOLECULES

    want = {"ethane": ("C2H6", 8), "ethylbenzene": ("C8H10", 18), "cta": ("C14H22O9", 45),
            "pim1": ("C33H32N2O6", 73)}
    assert set(MOLECULES) == set(want)
    for name, (formula, n_atoms) in want.items():
        mol = Chem.MolFromSmiles(MOLECULES[name][0])
        assert CalcMolFormula(mol) == formula, name
        mh = md.molecule_from_smiles(MOLECULES[name][0])
        assert mh.GetNumAtoms() == n_atoms and md.force_field_name(mh) == "MMFF94"
        assert AllChem.MMFFHasAllMoleculeParams(mh)
    # the CTA unit keeps beta-D-glucose's ring stereochemistry (C1 R, C2 R, C3 S, C4 S, C5 R of
    # methyl beta-D-glucopyranoside; labels of the acetylated unit checked by hand: C4 becomes R
    # only through CIP priorities, its @/@@ tag is the glucoside's)
    cta = Chem.MolFromSmiles(MOLECULES["cta"][0])
    assert [c for _, c in Chem.FindMolChiralCenters(cta)] == ["R", "R", "R", "S", "R"]


def test_uff_is_the_fallback_when_mmff94_has_no_parameters():
    mol = md.molecule_from_smiles("C[Se]C")  # MMFF94 has no selenium
    assert md.force_field_name(mol) == "UFF"
    x = md.embed_and_minimise(mol, seed=0)
    e, f = md.energy_forces(md.mmff_force_field(mol), x)
    assert np.isfinite(e) and np.abs(f).max() < 1.0  # at the UFF minimum
    with pytest.raises(sciml.UserError, match="neither MMFF94 nor UFF"):
        md.molecule_from_smiles("[Og]")


def test_md_statistics_recover_temperature_and_drift():
    n_atoms, t_k = 8, 300.0
    kin = np.full(101, 0.5 * (3 * n_atoms - 3) * md.KB_KCAL_PER_MOL_K * t_k)
    pot = 0.05 * np.sin(np.arange(101)) + 0.5 * np.arange(101) / 100  # +0.5 kcal/mol over 100 frames of 10 fs
    tot = pot + kin
    st = md.md_statistics(pot, tot, n_atoms, frame_interval_fs=10.0)
    assert st["md_temperature_K"] == pytest.approx(t_k, rel=1e-3)
    assert st["md_energy_drift_kcal_mol"] == pytest.approx(0.5, abs=0.05)
    assert st["md_energy_drift_kcal_mol_per_ns"] == pytest.approx(500, rel=0.1)
    assert np.isnan(md.md_statistics(pot, np.full(101, np.nan), n_atoms, 10.0)["md_temperature_K"])


def test_langevin_equilibration_reaches_the_target_temperature():
    mol = md.molecule_from_smiles("CC")
    t = md.run_nve(mol, n_frames=200, save_every=10, temperature_K=300, seed=0, equilibration_steps=3000)
    st = md.md_statistics(t.energies, t.total_energies, 8, 10.0)
    # ethane's kinetic temperature fluctuates by ±90 K per frame; the means land within ~15 %
    assert 220 < t.equilibration.temperature_K < 380 and 220 < st["md_temperature_K"] < 380
    assert abs(st["md_energy_drift_kcal_mol"]) < 0.05
    cold = md.run_nve(mol, n_frames=200, save_every=10, temperature_K=300, seed=0)
    assert md.md_statistics(cold.energies, cold.total_energies, 8, 10.0)["md_temperature_K"] < 200
