import numpy as np
import pytest
import sciml
from sciml_cgmap import plugin
from sciml_cgmap.summary import distinct_mappings, summarize


def test_hooks_register_components_and_pipeline_by_import_string():
    got = {}
    for hook in ("sciml_register_datasets", "sciml_register_models", "sciml_register_evaluators"):
        getattr(plugin, hook)(lambda name, factory, **kw: got.setdefault(name, factory))
    assert got == {"md": "sciml_cgmap.data:MDTrajectoryDataset", "vae": "sciml_cgmap.model:CGVAE",
                   "mapping": "sciml_cgmap.evaluation:MappingEvaluator"}
    pipes = []
    plugin.sciml_register_pipelines(pipes.append)
    (p,) = pipes
    assert (p.metric, p.mode, p.trainer) == ("test_rmsd", "min", "sciml:default")
    assert p.defaults["trainer"]["patience"] == 10 and p.defaults["trainer"]["min_delta"] == 1e-2
    assert p.defaults["trainer"]["stop_rule"] == "no_change"
    # every default and search-space key is a real config field of its component
    from sciml.training import DefaultTrainer
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.model import CGVAE

    fields = {"dataset": MDTrajectoryDataset.Config, "model": CGVAE.Config, "trainer": DefaultTrainer.Config}
    for section, cfg in fields.items():
        cfg(**p.defaults[section])
    for key in p.search_space:
        section, name = key.split(".")
        assert name in fields[section].model_fields


def test_summary_counts_symmetry_equivalent_mappings_once():
    a = {"accepted": True, "metrics": {"test_rmsd": 0.3}, "results": {
        "mapping_signature": "S1", "beads": [[0, 2, 3, 4], [1, 5, 6, 7]], "n_used_beads": 2, "test_rmsd": 0.3}}
    b = {"accepted": True, "metrics": {"test_rmsd": 0.2}, "results": {
        "mapping_signature": "S1", "beads": [[1, 5, 6, 7], [0, 2, 3, 4]], "n_used_beads": 2, "test_rmsd": 0.2}}
    c = {"accepted": True, "results": {"mapping_signature": "S2", "beads": [[0], [1]], "n_used_beads": 3,
                                       "test_rmsd": 0.1}}
    bad = {"accepted": False, "results": {"mapping_signature": "S3", "test_rmsd": 0.01, "n_used_beads": 3}}
    rows = distinct_mappings([a, b, c, bad])
    assert [(r["signature"], r["count"], r["best_test_rmsd"]) for r in rows] == [("S2", 1, 0.1), ("S1", 2, 0.2)]
    lines = summarize([a, b, c, bad])
    assert lines[0].startswith("2 distinct") and "1 of 4" in lines[0]
    assert "found 2x" in lines[2] and "0.200" in lines[2]


def test_bad_smiles_dataset_is_user_error(tmp_path):
    from sciml.testing import make_context
    from sciml_cgmap.data import MDTrajectoryDataset

    d = MDTrajectoryDataset(MDTrajectoryDataset.Config(smiles="not-a-smiles"), make_context(tmp_path))
    with pytest.raises(sciml.UserError, match="dataset.smiles='not-a-smiles' is not a valid SMILES"):
        d.prepare()


def test_dataset_from_user_xyz_file_and_predict(ethane_data, tmp_path):
    import ase.io
    import torch
    from sciml.testing import make_context
    from sciml_cgmap import md
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.model import CGVAE
    from sciml_cgmap.predict import predict

    mol = md.molecule_from_smiles("CC")
    t = md.run_nve(mol, n_frames=30, save_every=5, seed=2)
    ase.io.write(tmp_path / "traj.xyz", [md.mol_to_atoms(mol, x) for x in t.positions], format="xyz")
    d = MDTrajectoryDataset(MDTrajectoryDataset.Config(path=str(tmp_path / "traj.xyz"), smiles="CC"),
                            make_context(tmp_path / "c"))
    d.prepare()
    assert d.metadata["n_atoms"] == 8 and d.metadata["bonds"] == ethane_data.metadata["bonds"]
    assert sorted(sum(d.split_indices().values(), [])) == list(range(30))
    assert len(d.split("train")) == 24 and len(d.split("test")) == 3
    # predict: rotated input frames give the same beads (aligned) as the unrotated ones
    model = CGVAE(CGVAE.Config(n_beads=2), d.metadata)
    from sciml_cgmap.alignment import random_rotations

    rot = random_rotations(1, seed=4)[0]
    np.save(tmp_path / "frames.npy", t.positions[:5])
    np.save(tmp_path / "rotated.npy", t.positions[:5] @ rot.T + 3.0)
    df = predict(model, {}, d.metadata, tmp_path / "frames.npy")
    df_rot = predict(model, {}, d.metadata, tmp_path / "rotated.npy")
    assert list(df.columns) == ["frame", "rmsd"] + [f"bead{i}_{a}" for i in range(2) for a in "xyz"]
    np.testing.assert_allclose(df.to_numpy(), df_rot.to_numpy(), atol=1e-4)
    df_xyz = predict(model, {}, d.metadata, tmp_path / "traj.xyz")
    assert len(df_xyz) == 30 and torch.isfinite(torch.tensor(df_xyz.to_numpy())).all()
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5, 3)))
    with pytest.raises(sciml.UserError, match=r"has frames of shape \(5, 3\); the model needs \(8, 3\)"):
        predict(model, {}, d.metadata, tmp_path / "wrong.npy")


def test_dataset_from_extxyz_with_forces_needs_no_smiles(tmp_path):
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    from sciml.testing import RecordingReporter, make_context
    from sciml_cgmap import md
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.evaluation import MappingEvaluator
    from sciml_cgmap.model import CGVAE

    mol = md.molecule_from_smiles("CCO")
    t = md.run_nve(mol, n_frames=20, save_every=5, seed=0)
    frames = []
    for x, f, e in zip(t.positions, t.forces, t.energies, strict=True):
        a = md.mol_to_atoms(mol, x)
        a.calc = SinglePointCalculator(a, energy=e * md.kcal_per_mol_in_ev(), forces=f * md.kcal_per_mol_in_ev())
        frames.append(a)
    ase.io.write(tmp_path / "ethanol.extxyz", frames)
    d = MDTrajectoryDataset(MDTrajectoryDataset.Config(path=str(tmp_path / "ethanol.extxyz")),
                            make_context(tmp_path / "c"))
    d.prepare()
    assert d.metadata["smiles"] is None and d.metadata["n_atoms"] == 9
    assert sorted(map(tuple, d.metadata["bonds"])) == md.bonds_from_mol(mol)  # from the geometry
    model = CGVAE(CGVAE.Config(n_beads=2), d.metadata)
    rep = RecordingReporter(tmp_path / "rep")
    res = MappingEvaluator(MappingEvaluator.Config(n_rotated=2), make_context(tmp_path / "e")).evaluate(model, d, rep)
    assert "mapping.png" in rep.figures and res["smiles"] is None
    # forces came from the file, rotated into the aligned frames: same magnitudes
    np.testing.assert_allclose(np.linalg.norm(d.arrays("train")["forces"], axis=-1),
                               np.linalg.norm(t.forces[d.split_indices()["train"]], axis=-1), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_end_to_end_run_registers_a_champion_that_reloads(sciml_store):
    from sciml.testing import make_context, run_tiny
    from sciml.tracking import load_model
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.evaluation import reconstruct, rmsd_per_frame

    # one bead is always connectivity-preserving (accepted with min_beads=1) at the first attempt
    s = run_tiny("cgmap", "seed=1", "dataset.n_frames=100", "trainer.max_epochs=3", "model.n_beads=1",
                 "evaluator.min_beads=1")
    assert s.best is not None and s.model_version is not None
    assert s.best.accepted and s.best.metrics["connectivity_preserving"] == 1.0
    assert s.best.results["assignment"] == [0] * 8 and s.best.metrics["n_used_beads"] == 1.0
    loaded = load_model("models:/sciml-cgmap@champion")
    cfg = {k: v for k, v in loaded.config["dataset"].items() if k != "name"}
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(**cfg), make_context(sciml_store / "x"))
    data.prepare()
    x_in, _, x_rec = reconstruct(loaded.module, data.arrays("test")["positions"])
    assert rmsd_per_frame(x_in, x_rec).mean() == pytest.approx(s.best.metrics["test_rmsd"], rel=1e-5)
