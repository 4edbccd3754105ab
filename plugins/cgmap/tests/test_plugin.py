import numpy as np
import pytest
import sciml
from sciml_cgmap import plugin
from sciml_cgmap.summary import distinct_mappings, summarize


def test_hooks_register_components_and_pipeline_by_import_string():
    got = {}
    for hook in ("sciml_register_datasets", "sciml_register_models", "sciml_register_evaluators",
                 "sciml_register_trainers"):
        getattr(plugin, hook)(lambda name, factory, **kw: got.setdefault(name, factory))
    assert got == {"md": "sciml_cgmap.data:MDTrajectoryDataset", "vae": "sciml_cgmap.model:CGVAE",
                   "mapping": "sciml_cgmap.evaluation:MappingEvaluator",
                   "trainer": "sciml_cgmap.training:CGMapTrainer"}
    pipes = []
    plugin.sciml_register_pipelines(pipes.append)
    (p,) = pipes
    assert (p.metric, p.mode, p.trainer) == ("val_rmsd", "min", "cgmap:trainer")
    from sciml.testing import check_selection_metric

    check_selection_metric(p.name, p.metric, p.mode)  # the core's load-time check passes
    assert p.defaults["trainer"]["patience"] == 10 and p.defaults["trainer"]["min_delta"] == 1e-2
    assert p.defaults["trainer"]["stop_rule"] == "no_change"
    # every default and search-space key is a real config field of its component
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.model import CGVAE
    from sciml_cgmap.training import CGMapTrainer

    fields = {"dataset": MDTrajectoryDataset.Config, "model": CGVAE.Config, "trainer": CGMapTrainer.Config}
    for section, cfg in fields.items():
        cfg(**p.defaults[section])
    for key in p.search_space:
        section, name = key.split(".")
        assert name in fields[section].model_fields


def _trial(sig, val, test, beads=None, n=2, accepted=True, status="FINISHED"):
    return {"accepted": accepted, "status": status, "metrics": {"val_rmsd": val, "test_rmsd": test},
            "results": {"mapping_signature": sig, "beads": beads, "n_used_beads": n}}


def test_summary_counts_symmetry_equivalent_mappings_once_best_on_validation():
    a = _trial("S1", 0.3, 0.1, [[0, 2, 3, 4], [1, 5, 6, 7]])
    b = _trial("S1", 0.2, 0.25, [[1, 5, 6, 7], [0, 2, 3, 4]])  # best on val, worse on test
    c = _trial("S2", 0.1, 0.15, [[0], [1]], n=3)
    bad = _trial("S3", 0.01, 0.01, n=3, accepted=False)
    legacy = {"accepted": True, "results": {"mapping_signature": "S2", "val_rmsd": 0.5, "test_rmsd": 0.5,
                                            "n_used_beads": 3}}  # no status (bench): finished
    rows = distinct_mappings([a, b, c, bad, legacy])
    assert [(r["signature"], r["count"], r["val_rmsd"], r["test_rmsd"]) for r in rows] == [
        ("S2", 2, 0.1, 0.15), ("S1", 2, 0.2, 0.25)]  # the test figure chose nothing
    lines = summarize([a, b, c, bad, legacy])
    assert lines[0] == ("2 distinct connectivity-preserving mapping(s) from 5 trial(s): 4 accepted, "
                        "1 rejected by the mapping gate (broken connectivity or collapse)")
    assert "val RMSD 0.200 Å, test RMSD 0.250 Å (found 2x)" in lines[2]


def test_summary_does_not_count_stopped_or_failed_trials_as_rejected():
    # issue 19.7: `--tune --num-samples 4 --seeds 1 --scheduler asha` reported the 3 trials ASHA
    # stopped as "3 of 4 trial(s) rejected: broken connectivity or collapse"
    from sciml_cgmap.summary import trial_reason

    done = _trial("S1", 0.2, 0.2)
    stopped = [{"accepted": False, "status": "STOPPED", "metrics": {"val_rmsd": 0.9}, "results": {}}
               for _ in range(2)]
    failed = {"accepted": False, "status": "FAILED", "metrics": {}, "results": {}}
    rejected = _trial("S3", 0.1, 0.1, accepted=False)
    trials = [done, *stopped, failed, rejected]
    assert [trial_reason(t) for t in trials] == ["accepted", "stopped", "stopped", "failed", "rejected"]
    lines = summarize(trials)
    assert lines[0] == ("1 distinct connectivity-preserving mapping(s) from 5 trial(s): 1 accepted, "
                        "1 rejected by the mapping gate (broken connectivity or collapse), "
                        "2 stopped early by the scheduler, 1 failed")
    assert summarize([])[0] == "0 distinct connectivity-preserving mapping(s) from 0 trial(s): none"


def test_split_is_in_contiguous_blocks_of_time(ethane_data):
    # issue 11: frames 10 fs apart were split at random, so test frames sat between training frames
    idx = {k: np.asarray(v) for k, v in ethane_data.split_indices().items()}
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(200))
    assert (len(idx["train"]), len(idx["val"]), len(idx["test"])) == (160, 20, 20)
    train = idx["train"]
    between = [t for t in idx["test"] if (train < t).any() and (train > t).any()]
    assert between == []  # no test frame lies between two training frames in time
    assert train.max() < idx["val"].min() and idx["val"].max() < idx["test"].min()
    from sciml_cgmap.data import time_block_split

    with pytest.raises(sciml.UserError, match="10 frames cannot be split 0.9/0.1/rest"):
        time_block_split(10, 0.9, 0.1)


def test_mean_structure_baseline_on_a_tiny_constructed_example():
    from sciml_cgmap.evaluation import MappingEvaluator, mean_structure_rmsd, rmsd_per_frame

    train = np.array([[[0.0, 0, 0], [1, 0, 0]], [[0, 0, 0], [3, 0, 0]]])  # mean: (0,0,0), (2,0,0)
    val = np.array([[[1.0, 0, 0], [2, 0, 0]]])  # squared errors 1 and 0 -> RMSD sqrt(1/2)
    test = np.array([[[0.0, 0, 0], [2, 0, 2]], [[0, 0, 0], [2, 0, 0]]])  # sqrt(2) and 0 -> mean sqrt(2)/2
    assert mean_structure_rmsd(train, val) == pytest.approx(np.sqrt(0.5))
    assert mean_structure_rmsd(train, test) == pytest.approx(np.sqrt(2) / 2)

    class Data:
        def arrays(self, split):
            return {"positions": {"train": train, "val": val, "test": test}[split]}

    ev = MappingEvaluator(MappingEvaluator.Config(), None)
    assert ev.baselines(None, Data(), {}) == {"mean_structure": {
        "val_rmsd": pytest.approx(np.sqrt(0.5)), "test_rmsd": pytest.approx(np.sqrt(2) / 2)}}
    # the same per-frame RMSD as the model's (no re-alignment): a model reconstructing the mean
    # structure would score exactly the baseline
    mean = np.broadcast_to(train.mean(0), test.shape)
    assert rmsd_per_frame(test, mean).mean() == pytest.approx(mean_structure_rmsd(train, test))


def test_evaluator_reports_val_and_test_and_baseline_and_survives_a_broken_figure(
        ethane_data, tmp_path, make_reporter, monkeypatch, caplog):
    from sciml.testing import make_context
    from sciml_cgmap import evaluation
    from sciml_cgmap.model import CGVAE

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = CGVAE(CGVAE.Config(n_beads=2), ethane_data.metadata)
    ev = evaluation.MappingEvaluator(evaluation.MappingEvaluator.Config(n_rotated=5), make_context(tmp_path))

    def broken(*args, **kwargs):
        raise RuntimeError("no Cairo today")

    monkeypatch.setattr(evaluation, "draw_mapping_png", broken)
    rep = make_reporter(tmp_path / "rep")
    with caplog.at_level("WARNING"):
        res = ev.evaluate(model, ethane_data, rep)
    assert "mapping.png" not in rep.figures and "no Cairo today" in caplog.text
    assert {"val_rmsd", "test_rmsd", "val_rmsd_max", "test_rmsd_max", "val_mean_cg_force",
            "test_mean_cg_force", "test_rmsd_rotated_raw", "test_rmsd_unrotated_subset"} <= set(res)
    assert "mean_cg_force" not in res and "test_rmsd_rotated_aligned" not in res
    base = ev.baselines(model, ethane_data, res)["mean_structure"]
    # the aligned ethane data move little about their mean; the untrained centred decoder
    # (D ~ 1/N) stays near the mean structure, the uncentred one is far off
    assert 0 < base["val_rmsd"] < 0.2 and 0 < base["test_rmsd"] < 0.2 and res["test_rmsd"] < 0.5
    raw = ev.evaluate(CGVAE(CGVAE.Config(n_beads=2, centre=False), ethane_data.metadata), ethane_data, rep)
    assert raw["test_rmsd"] > 0.5
    # the dataset's measured MD state is reported with the results (1 ps equilibration at 300 K)
    assert 150 < res["md_temperature_K"] < 450 and abs(res["md_energy_drift_kcal_mol"]) < 0.5
    # the gate looks at the mapping only: changing every test metric changes nothing
    flipped = {k: (1e9 if k.startswith("test_") else v) for k, v in res.items()}
    assert ev.accept(flipped) == ev.accept(res)


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


def test_dataset_from_extxyz_with_forces_needs_no_smiles(tmp_path, make_reporter):
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    from sciml.testing import make_context
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
    rep = make_reporter(tmp_path / "rep")
    res = MappingEvaluator(MappingEvaluator.Config(n_rotated=2), make_context(tmp_path / "e")).evaluate(model, d, rep)
    assert "mapping.png" in rep.figures and res["smiles"] is None
    # forces came from the file, rotated into the aligned frames: same magnitudes
    np.testing.assert_allclose(np.linalg.norm(d.arrays("train")["forces"], axis=-1),
                               np.linalg.norm(t.forces[d.split_indices()["train"]], axis=-1), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_end_to_end_run_registers_a_champion_that_reloads(sciml_store):
    from sciml import load_model
    from sciml.testing import make_context, run_tiny
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
    # one bead carries (almost) nothing beyond the mean structure: the centred decoder stays near it
    assert s.best.metrics["test_rmsd"] == pytest.approx(s.best.metrics["baseline.mean_structure.test_rmsd"], rel=0.2)


def test_molecule_preset_and_smiles_conflict_is_one_clear_error(tmp_path):
    from sciml.testing import make_context
    from sciml_cgmap.data import MOLECULES, MDTrajectoryDataset

    d = MDTrajectoryDataset(MDTrajectoryDataset.Config(molecule="pim1"), make_context(tmp_path))
    assert d.smiles == MOLECULES["pim1"][0]
    assert MDTrajectoryDataset(MDTrajectoryDataset.Config(), make_context(tmp_path)).smiles == "CC"
    both = MDTrajectoryDataset(MDTrajectoryDataset.Config(molecule="cta", smiles="CC"), make_context(tmp_path))
    with pytest.raises(sciml.UserError, match="dataset.molecule='cta' and dataset.smiles='CC' are both set"):
        both.prepare()
    with pytest.raises(Exception, match="ethane"):
        MDTrajectoryDataset.Config(molecule="benzene")


def test_catalogue_lists_force_and_draws_one_panel_per_mapping():
    from sciml_cgmap.summary import plot_catalogue

    meta = {"symbols": ["C", "C", "H", "H", "H", "H", "H", "H"], "smiles": "CC",
            "bonds": [[0, 1], [0, 2], [0, 3], [0, 4], [1, 5], [1, 6], [1, 7]]}
    a = _trial("S1", 0.12, 0.13, [[0, 2, 3, 4], [1, 5, 6, 7]])
    a["results"].update(assignment=[0, 1, 0, 0, 0, 1, 1, 1], test_mean_cg_force=13.3)
    b = _trial("S2", 0.07, 0.06, [[0, 1, 2, 3, 5, 6], [4], [7]], n=3)
    b["results"].update(assignment=[0, 0, 0, 0, 1, 0, 0, 2], test_mean_cg_force=28.5)
    rows = distinct_mappings([a, b, a])
    assert [(r["count"], r["mean_cg_force"]) for r in rows] == [(1, 28.5), (2, 13.3)]
    assert summarize([a, b])[2].endswith("(found 1x), mean CG force 13.3 kcal/mol/Å")
    fig = plot_catalogue(rows, meta, title="ethane")
    if fig is None:
        pytest.skip("RDKit cannot draw here (no Cairo)")
    assert len([ax for ax in fig.axes if ax.images]) == 2
    assert "found 2x" in fig.axes[1].get_title() and "|F| 13.3" in fig.axes[1].get_title()
