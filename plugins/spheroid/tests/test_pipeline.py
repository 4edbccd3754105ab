"""End to end through the core's runner with a tiny budget, then predict on a user plate map.

The runner test is marked slow: it is tiny (24 px, width 2, one epoch) but MLflow, three plates
and the evaluator's baselines take ~20 s on an idle 2-core machine, minutes on a busy one."""

import imageio.v3 as iio
import numpy as np
import pytest
import sciml
from sciml.testing import make_context

TINY = [
    "seed=1", "dataset.image_size=24", "dataset.n_train_plates=1", "dataset.n_val_plates=1",
    "dataset.n_test_plates=1", "model.width=2", "model.embedding_size=8", "model.projection_dim=4",
    "trainer.max_epochs=1", "trainer.batch_size=64", "trainer.ts_epochs=10",
    "evaluator.supervised_epochs=1", "evaluator.probe_repeats=1", "evaluator.ts_epochs=10",
    "evaluator.gate=false",  # one epoch at width 2 need not beat an untrained encoder; the gate has its own test
]


@pytest.mark.slow
def test_tiny_run_through_runner_and_predict(sciml_store, tmp_path):
    pytest.importorskip("mlflow")
    from sciml import load_model
    from sciml.testing import run_tiny

    s = run_tiny("spheroid", *TINY)
    assert s.best is not None
    m = s.best.metrics
    for key in ("val_spearman_treated", "test_spearman_treated", "test_spearman", "test_kendall",
                "test_spearman_conditions", "baseline.handcrafted.test_spearman_treated",
                "baseline.concentration.val_spearman_treated", "baseline.treated.test_spearman",
                "baseline.random_init.test_spearman_treated", "baseline.handcrafted.test_probe_acc_all",
                "test_probe_acc_10", "test_probe_acc_all", "test_supervised_acc", "best_val_loss", "ts_train_loss"):
        assert key in m, key
    assert "baseline.treated.test_spearman_treated" not in m  # undefined (constant), not logged as 0
    assert -1 <= m["test_spearman_treated"] <= 1 and 0 <= m["test_probe_acc_all"] <= 1
    figs = {p.name for p in s.best.run_dir.rglob("*.png")}
    assert {"plate_heatmap.png", "example_wells.png", "ranking_vs_truth.png", "embedding_pca.png"} <= figs

    # predict on a user plate map made of simulated images written as 8-bit PNGs
    from sciml_spheroid.simulate import render_plate

    pl = render_plate(9, 0, size=24)
    rows = ["plate,well,day,group,drug,concentration,image"]
    for w in (0, 20, 59):
        wd = pl.design[w]
        for d, day in enumerate((7, 8, 9, 10)):
            name = f"{wd.well}_{day}.png"
            iio.imwrite(tmp_path / name, (pl.images[w, d] * 255).round().astype(np.uint8))
            rows.append(f"P,{wd.well},{day},{['untreated', 'single', 'screening'][wd.group]},{wd.drug},{wd.concentration},{name}")
    (tmp_path / "map.csv").write_text("\n".join(rows) + "\n")
    loaded = load_model("models:/sciml-spheroid@champion")
    df = loaded.predict(tmp_path / "map.csv")
    assert len(df) == 3 and sorted(df["rank"]) == [1, 2, 3]
    assert set(df["well"]) == {pl.design[w].well for w in (0, 20, 59)}
    assert np.isfinite(df["score"]).all() and (df["score"].diff().dropna() <= 0).all()


def test_dataset_splits_by_plate_and_caches(tmp_path):
    from sciml_spheroid.data import SpheroidPlates

    cfg = SpheroidPlates.Config(image_size=16, n_train_plates=1, n_val_plates=1, n_test_plates=1)
    ctx = make_context(tmp_path)
    ds = SpheroidPlates(cfg, ctx)
    ds.prepare()
    assert len(list(ctx.cache_dir.glob("spheroid-plates-*.npz"))) == 1
    tr, va, te = (ds.indices(n) for n in ("train", "val", "test"))
    assert len(tr) == len(va) == len(te) == 60
    assert set(ds.arrays["plate"][tr]) == {0} and set(ds.arrays["plate"][te]) == {2}
    item = ds.split("test")[0]
    assert tuple(item["images"].shape) == (4, 1, 16, 16)  # (days, channels, S, S)
    again = SpheroidPlates(cfg, ctx)
    again.prepare()  # from the cache: identical
    assert np.array_equal(again.arrays["images"], ds.arrays["images"])
    assert ds.metadata["days"] == [7, 8, 9, 10]


def test_platemap_dataset_needs_a_path(tmp_path):
    from sciml_spheroid.data import SpheroidPlates

    ds = SpheroidPlates(SpheroidPlates.Config(source="platemap"), make_context(tmp_path))
    with pytest.raises(sciml.UserError, match="dataset.plate_map"):
        ds.prepare()


def test_platemap_dataset_single_plate_trains_on_all_wells_and_holds_none_out(tmp_path):
    import tifffile
    from sciml_spheroid.data import SpheroidPlates
    from sciml_spheroid.simulate import render_plate

    pl = render_plate(5, 0, size=16)
    rows = ["plate,well,day,group,drug,concentration,image,efficacy"]
    for w in (0, 1, 40):
        wd = pl.design[w]
        for d, day in enumerate((7, 8, 9, 10)):
            name = f"{wd.well}_{day}.tif"
            tifffile.imwrite(tmp_path / name, (pl.images[w, d] * 65535).astype(np.uint16))
            rows.append(f"only,{wd.well},{day},{wd.group},{wd.drug},{wd.concentration},{name},{pl.efficacy[w]}")
    (tmp_path / "map.csv").write_text("\n".join(rows) + "\n")
    ds = SpheroidPlates(SpheroidPlates.Config(source="platemap", plate_map=str(tmp_path / "map.csv"), image_size=16),
                        make_context(tmp_path / "ctx"))
    ds.prepare()
    assert len(ds.indices("train")) == 3
    assert len(ds.indices("val")) == 0 and len(ds.indices("test")) == 0  # never the training wells
    np.testing.assert_allclose(ds.arrays["images"][2, :, 0], pl.images[40], atol=1e-4)
    assert ds.arrays["efficacy"][2] == pytest.approx(pl.efficacy[40])
    with pytest.raises(sciml.UserError, match="not in the plate map"):
        SpheroidPlates(SpheroidPlates.Config(source="platemap", plate_map=str(tmp_path / "map.csv"),
                                             test_plates=["P9"]), make_context(tmp_path / "c2")).prepare()


@pytest.mark.slow
def test_unlabelled_plate_map_registers_a_champion_and_predict_gives_conditions_and_dose_response(
        sciml_store, tmp_path):
    """Issue 18, done-when: 16-bit TIFFs + a plate map without an efficacy column -> `sciml run
    spheroid:unlabelled` registers a champion -> predict ranks conditions with intervals and
    fits dose-response curves."""
    pytest.importorskip("mlflow")
    import pandas as pd
    import tifffile
    from sciml import load_model
    from sciml.testing import run_tiny
    from sciml_spheroid.predict import report_dir
    from sciml_spheroid.simulate import render_treatment_plate

    wells = list(range(0, 4)) + list(range(20, 30))  # 4 untreated + D1 at 5 doses x 2
    rows = ["plate,well,day,group,drug,concentration,image"]
    for p, label in enumerate(("A", "B", "C")):
        pl = render_treatment_plate(11, p, size=24)
        for w in wells:
            wd = pl.design[w]
            for d, day in enumerate((7, 8, 9, 10)):
                name = f"{label}_{wd.well}_{day}.tif"
                tifffile.imwrite(tmp_path / name, (pl.images[w, d, 0] * 65535).astype(np.uint16))
                rows.append(f"{label},{wd.well},{day},{['untreated', 'single', 'screening'][wd.group]},"
                            f"{wd.drug if wd.group else ''},{wd.concentration},{name}")
    csv = tmp_path / "map.csv"
    csv.write_text("\n".join(rows) + "\n")
    s = run_tiny("spheroid:unlabelled", "dataset.source=platemap", f"dataset.plate_map={csv}",
                 "dataset.image_size=16", *TINY[2:])
    assert s.best is not None and "val_dose_spearman" in s.best.metrics
    assert "val_spearman_treated" not in s.best.metrics  # no efficacy: no efficacy metric, no made-up one
    df = load_model("models:/sciml-spheroid@champion").predict(csv)
    assert len(df) == 3 * len(wells) and np.isfinite(df["score"]).all()
    assert {"condition_score", "condition_ci_low", "condition_ci_high", "condition_rank", "qc"} <= set(df.columns)
    out = report_dir(csv)
    drugs = pd.read_csv(out / "drugs.csv")
    assert drugs["drug"].tolist() == ["D1"] and drugs["n_concentrations"].tolist() == [5]
    assert {"ec50", "ec50_low", "ec50_high", "emax", "emax_low", "emax_high", "auc", "fit", "rank"} <= set(drugs.columns)
    cond = pd.read_csv(out / "conditions.csv")
    assert len(cond) == 6 and (cond["n_wells"] == 3 * 2).sum() == 5  # 2 replicates x 3 plates per dose
    assert (out / "report.html").is_file() and (out / "dose_response_D1.png").is_file()
