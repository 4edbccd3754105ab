"""Table-1 evaluator and predict on the tiny slab."""

from __future__ import annotations

import numpy as np
import pytest

import sciml
from sciml.testing import RecordingReporter, make_context
from sciml_aphyn.evaluation import Table1Evaluator, slab_maps
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.predict import predict


def test_table1_results_figures_and_cached_baseline(tiny_dataset, tmp_path):
    model = APHYNEP(APHYNEP.Config(zero_output=False), tiny_dataset.metadata)
    ctx = make_context(tmp_path)
    ctx.cache_dir = tmp_path / "evalcache"
    cfg = Table1Evaluator.Config(baseline_epochs=1, baseline_pixels_per_epoch=8, baseline_batch_size=8,
                                 map_times=[2.0, 10.0])
    rep = RecordingReporter(tmp_path / "rep")
    res = Table1Evaluator(cfg, ctx).evaluate(model, tiny_dataset, rep)
    noisy = tiny_dataset.arrays("val")["noisy"]
    for key in ("train_mse", "val_mse", "baseline_val_mse", "fdl_norm2_val", "tau_in", "baseline_tau_close"):
        assert np.isfinite(res[key])
    assert 0 < res["val_mse"] < 1 and res["fdl_norm2_val"] > 0
    assert res["val_mse_ratio"] == pytest.approx(res["val_mse"] / res["baseline_val_mse"])
    assert res["table1"]["physics_only"]["val_mse"] == res["baseline_val_mse"]
    assert {"fig3_decomposition.png", "voltage_maps.png"} <= set(rep.figures)
    assert "table1.json" in rep.dicts
    assert len(list((tmp_path / "evalcache" / "aphyn").glob("baseline_*.npz"))) == 1
    # second evaluation reuses the cached baseline: same τ, no training time
    res2 = Table1Evaluator(cfg, ctx).evaluate(model, tiny_dataset, RecordingReporter(tmp_path / "rep2"))
    assert res2["baseline_tau_close"] == res["baseline_tau_close"]
    assert res2["baseline_val_mse"] == res["baseline_val_mse"]
    # F_dl-only settings (width) do not change the physics-only baseline: still one cache entry
    wider = APHYNEP(APHYNEP.Config(width=4, zero_output=True), tiny_dataset.metadata)
    res3 = Table1Evaluator(cfg, ctx).evaluate(wider, tiny_dataset, RecordingReporter(tmp_path / "rep3"))
    assert res3["baseline_tau_close"] == res["baseline_tau_close"]
    assert len(list((tmp_path / "evalcache" / "aphyn").glob("baseline_*.npz"))) == 1
    assert noisy.shape[1] == 16


def test_slab_maps_place_forecasts_on_the_slab_clock():
    forecast = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]], dtype=np.float32)
    maps = slab_maps(forecast, np.array([0, 2]), (1, 2), [0, 2, 3, 5])
    assert maps[:, 0, 0].tolist() == pytest.approx([0.9, 0.7, 0.0, 0.0])
    assert maps[:, 0, 1].tolist() == pytest.approx([0.0, 0.6, 0.5, 0.0])


def test_predict_forecasts_a_user_file(tmp_path):
    t = np.arange(40)
    raw = np.where((t >= 5) & (t < 30), 20.0, -80.0)[None, :].repeat(3, axis=0)
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(",".join(str(x) for x in r) for r in raw))
    model = APHYNEP(APHYNEP.Config(), {"sampling_interval": 1.0, "horizon": 20.0})
    df = predict(model, {"dataset": {"sampling_interval": 2.0}}, {"sampling_interval": 1.0, "horizon": 20.0}, path)
    assert list(df.columns) == ["pixel", "time_ms", "v_measured", "v_forecast", "h_forecast"]
    assert len(df) == 3 * 11  # 20 ms at 2 ms + 1 per pixel
    assert df["time_ms"].max() == 20.0
    assert df.loc[df.time_ms == 0, "v_forecast"].tolist() == pytest.approx([1.0] * 3)
    assert model.sampling_interval == 1.0  # restored
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(sciml.UserError, match="is empty"):
        predict(model, {}, {"sampling_interval": 1.0}, tmp_path / "empty.npy")
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(sciml.UserError, match="NaN or inf"):
        predict(model, {}, {"sampling_interval": 1.0}, tmp_path / "nan.npy")


def test_summarize_reads_metrics_of_each_trial():
    from sciml_aphyn.evaluation import summarize

    lines = summarize([
        {"seed": 3, "metrics": {"val_mse": 0.004, "baseline_val_mse": 0.005, "val_mse_ratio": 0.8,
                                "tau_in": 0.29, "tau_close": 160.0}, "results": {"table1": {}}},
        {"seed": 4, "metrics": {}, "results": {}},  # failed trial: no line
    ])
    assert len(lines) == 1
    assert "seed 3" in lines[0] and "4.000e-03" in lines[0] and "ratio 0.80" in lines[0]
    assert "tau_close=160" in lines[0]
