"""Table-1 evaluator and predict on the tiny slab."""

from __future__ import annotations

import numpy as np
import pytest
import sciml
from sciml.testing import make_context
from sciml_aphyn.evaluation import Table1Evaluator, slab_maps
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.predict import predict


def _evaluator(tmp_path, **kw):
    ctx = make_context(tmp_path)
    ctx.cache_dir = tmp_path / "evalcache"
    cfg = Table1Evaluator.Config(**{"baseline_max_epochs": 3, "baseline_patience": 2,
                                    "baseline_batch_size": 8,
                                    "map_times": [2.0, 10.0], **kw})
    return Table1Evaluator(cfg, ctx)


def test_table1_results_figures_and_cached_baselines(tiny_dataset, tmp_path, reporter):
    model = APHYNEP(APHYNEP.Config(zero_output=False), tiny_dataset.metadata)
    rep = reporter("rep")
    ev = _evaluator(tmp_path)
    res = ev.evaluate(model, tiny_dataset, rep)
    for key in ("train_mse", "val_mse", "test_mse", "val_mse_clean", "test_mse_clean", "val_fdl_norm2",
                "test_fdl_norm2", "fdl_norm2_train", "tau_in", "val_mse_ratio", "test_mse_ratio"):
        assert np.isfinite(res[key]), key
    assert 0 < res["val_mse"] < 1 and res["val_fdl_norm2"] > 0
    assert res["test_mse"] != res["val_mse"]  # a third slab, not the validation slab again
    noisy = tiny_dataset.arrays("test")["noisy"]
    assert noisy.shape == (36, 16)
    base = ev.baselines(model, tiny_dataset, res)
    assert set(base) == {"physics_only", "physics_offset"}
    for values in base.values():
        for key in ("train_mse", "val_mse", "test_mse", "tau_close", "epochs", "best_epoch"):
            assert np.isfinite(values[key]), key
        # L-BFGS (the default): at most 3 iterations here (baseline_max_epochs), ≤ 2 evaluations each
        assert 1 <= values["epochs"] <= 6 and values["best_epoch"] < values["epochs"]
    assert base["physics_offset"]["dv_offset"] != 0.0  # the offset trained
    assert "dv_offset" not in base["physics_only"]
    assert res["val_mse_ratio"] == pytest.approx(res["val_mse"] / base["physics_only"]["val_mse"])
    assert res["test_mse_ratio"] == pytest.approx(res["test_mse"] / base["physics_only"]["test_mse"])
    assert res["table1"]["physics_only"]["test_mse"] == base["physics_only"]["test_mse"]
    assert {"fig3_decomposition.png", "voltage_maps.png", "voltage_maps_test.png"} <= set(rep.figures)
    assert "table1.json" in rep.dicts
    assert res["test_mse_clean_ratio"] == pytest.approx(res["test_mse_clean"] / base["physics_only"]["test_mse_clean"])
    untrained = APHYNEP(APHYNEP.Config(use_fdl=False), tiny_dataset.metadata)
    train = tiny_dataset.arrays("train")["noisy"]
    from sciml_aphyn.evaluation import forecast_all
    assert base["physics_only"]["train_mse"] < np.mean((forecast_all(untrained, train)[..., 0] - train) ** 2)
    cached = sorted(p.name.split("_")[1] for p in (tmp_path / "evalcache" / "aphyn").glob("baseline_*.npz"))
    assert cached == ["physics", "physics"] and len(set((tmp_path / "evalcache" / "aphyn").glob("*.npz"))) == 2
    # second evaluation reuses the cached baselines: same τ and offset
    res2 = _evaluator(tmp_path).evaluate(model, tiny_dataset, reporter("rep2"))
    assert res2["baselines"]["physics_offset"] == res["baselines"]["physics_offset"]
    # F_dl-only settings (width) do not change the baselines: still two cache entries
    wider = APHYNEP(APHYNEP.Config(width=4, zero_output=True), tiny_dataset.metadata)
    res3 = _evaluator(tmp_path).evaluate(wider, tiny_dataset, reporter("rep3"))
    assert res3["baselines"]["physics_only"]["tau_close"] == res["baselines"]["physics_only"]["tau_close"]
    assert len(list((tmp_path / "evalcache" / "aphyn").glob("baseline_*.npz"))) == 2


def test_the_gate_reads_validation_only(tiny_dataset, tmp_path, reporter):
    """Issue 11: accept() decides on validation MSE against the best baseline on validation.

    Test metrics, however extreme, change nothing (fails on the old code: it had no test split
    and no baselines to compare with).
    """
    model = APHYNEP(APHYNEP.Config(zero_output=False), tiny_dataset.metadata)
    ev = _evaluator(tmp_path, baseline_max_epochs=1)
    res = ev.evaluate(model, tiny_dataset, reporter("rep"))
    assert {"val_mse", "test_mse"} <= set(res)
    best_val = min(b["val_mse"] for b in res["baselines"].values())

    def poisoned(results, value):
        out = {k: (value if k.startswith("test_") else v) for k, v in results.items()}
        out["baselines"] = {n: {k: (value if k.startswith("test_") else v) for k, v in b.items()}
                            for n, b in results["baselines"].items()}
        return out

    for val_mse in (0.5 * best_val, 2.0 * best_val):
        results = {**res, "val_mse": val_mse}
        decision = ev.accept(results)
        assert decision[0] is (val_mse < best_val)
        for value in (0.0, 1e9, float("nan")):
            assert ev.accept(poisoned(results, value)) == decision
    # the best baseline on validation is the reference, named in the reason
    name = min(res["baselines"], key=lambda n: res["baselines"][n]["val_mse"])
    assert name in ev.accept(res)[1]
    assert ev.accept({"val_mse": 1.0}) == (False, "no validation MSE of the model or of a baseline to compare")


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
        {"seed": 3, "metrics": {"val_mse": 0.004, "test_mse": 0.0045, "baseline.physics_only.val_mse": 0.005,
                                "baseline.physics_only.test_mse": 0.006, "val_mse_ratio": 0.8,
                                "test_mse_ratio": 0.75, "tau_in": 0.29, "tau_close": 160.0},
         "results": {"table1": {}}},
        {"seed": 4, "metrics": {}, "results": {}},  # failed trial: no line
    ])
    assert len(lines) == 1
    assert "seed 3" in lines[0] and "4.000e-03/4.500e-03" in lines[0] and "physics_only 5.000e-03/6.000e-03" in lines[0]
    assert "val 0.800" in lines[0] and "test 0.750" in lines[0] and "tau_close=160" in lines[0]


def test_adam_baselines_stop_on_validation(tiny_dataset, tmp_path):
    model = APHYNEP(APHYNEP.Config(), tiny_dataset.metadata)
    base, info = _evaluator(tmp_path, baseline_optimizer="adam").baseline("physics_only", model, tiny_dataset)
    assert base.fdl is None and 1 <= info["epochs"] <= 3 and info["best_epoch"] < info["epochs"]
    assert (tmp_path / "run" / "baseline_physics_only.last.ckpt").exists()  # its own engine stage


def test_fdl_share_is_the_part_of_the_variation_of_v_that_fdl_drives():
    import torch
    from sciml_aphyn.evaluation import fdl_share

    model = APHYNEP(APHYNEP.Config(fdl_kind="constant"), {"sampling_interval": 2.0})
    with torch.no_grad():
        model.fdl.offset.fill_(-1e-3)  # 1/ms
    v = np.concatenate([np.linspace(0, 1, 6), np.linspace(1, 0, 6)[1:]])  # up 1, down 1: variation 2
    states = np.stack([np.tile(v, (4, 1)), np.ones((4, len(v)))], axis=-1)  # (4, 11, 2)
    # ∫|F_dl| dt over 10 intervals of 2 ms = 0.02 per trace; total variation 2 per trace
    assert fdl_share(model, states, 2.0) == pytest.approx(0.02 / 2.0, rel=1e-5)
    assert fdl_share(APHYNEP(APHYNEP.Config(use_fdl=False), {}), states, 2.0) == 0.0
