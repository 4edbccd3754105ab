"""The headline path through the CLI: `sciml run cgmap --tune --num-samples 2 --seeds 2`."""

import pytest

pytest.importorskip("sciml_cgmap", reason="the cgmap plugin is not installed")


@pytest.mark.slow
def test_cgmap_tune_through_the_cli(sciml_store):
    from click.testing import CliRunner
    from mlflow import MlflowClient
    from sciml.testing import make_context
    from sciml.tracking import default_tracking_uri, load_model
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.evaluation import reconstruct, rmsd_per_frame
    from sciml_cli.main import get_cli

    # one bead is connectivity-preserving by construction, so every trial is acceptable
    # (min_beads=1 lifts the plugin's rejection of collapsed mappings for this budget test)
    args = ["run", "cgmap", "--tune", "--num-samples", "2", "--seeds", "2", "--seed", "3",
            "--set", "dataset.n_frames=100", "--set", "trainer.max_epochs=2", "--set", "evaluator.min_beads=1",
            "--search", "model.n_beads=choice(1)"]
    res = CliRunner().invoke(get_cli(), args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "registered model: models:/sciml-cgmap/1" in res.output

    client = MlflowClient(default_tracking_uri(), registry_uri=default_tracking_uri())
    exp = client.get_experiment_by_name("sciml-cgmap")
    parents = client.search_runs([exp.experiment_id], "tags.`sciml.mode` = 'tune'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    kids = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(kids) == 4
    assert sorted(k.data.tags["sciml.seed"] for k in kids) == ["3", "3", "4", "4"]
    assert all(k.info.run_name.startswith("cgmap-") for k in kids)

    mv = client.get_model_version_by_alias("sciml-cgmap", "champion")
    champion = client.get_run(mv.run_id)
    assert champion.data.tags["mlflow.parentRunId"] == parent.info.run_id
    logged_rmsd = champion.data.metrics["test_rmsd"]
    assert champion.data.metrics["connectivity_preserving"] == 1.0

    loaded = load_model("models:/sciml-cgmap@champion")
    cfg = {k: v for k, v in loaded.config["dataset"].items() if k != "name"}
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(**cfg), make_context(sciml_store / "reload"))
    data.prepare()
    x_in, _, x_rec = reconstruct(loaded.module, data.arrays("test")["positions"])
    assert rmsd_per_frame(x_in, x_rec).mean() == pytest.approx(logged_rmsd, rel=1e-5)
