"""The default trainer on the toy plugin's data and model."""

import math

import pytest
import torch
from sciml.errors import UserError
from sciml.registry import get_registry
from sciml.testing import RecordingReporter, make_context
from sciml.training import DefaultTrainer, resolve_device, seed_everything


def build(tmp_path, seed=0, **model_kw):
    reg = get_registry()
    ctx = make_context(tmp_path, seed=seed)
    ds_cls = reg.get("dataset", "toy:linear").load()
    data = ds_cls(ds_cls.Config(n=300, noise=0.01), ctx)
    data.prepare()
    model_cls = reg.get("model", "toy:mlp").load()
    seed_everything(seed)
    model = model_cls(model_cls.Config(hidden=16, **model_kw), data.metadata)
    return ctx, data, model


def trainer(ctx, **kw):
    return DefaultTrainer(DefaultTrainer.Config(**{"batch_size": 32, "lr": 0.02, **kw}), ctx)


def test_loss_decreases_and_best_state_is_restored(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "rep")
    out = trainer(ctx, max_epochs=15, patience=0).fit(model, data, rep)
    losses = rep.history("train_loss")
    assert len(losses) == 15 and losses[-1] < 0.2 * losses[0]
    val = rep.history("val_loss")
    assert out["best_val_loss"] == pytest.approx(min(val))
    x, y = data.split("val").tensors
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(model(x), y)) == pytest.approx(min(val), rel=1e-4)
    assert (tmp_path / "rep" / "best.pt").exists()


def test_seeding_makes_training_reproducible(tmp_path):
    runs = []
    for i in range(2):
        ctx, data, model = build(tmp_path / str(i), seed=3)
        rep = RecordingReporter(tmp_path / f"r{i}")
        trainer(ctx, max_epochs=3).fit(model, data, rep)
        runs.append(rep.history("val_loss"))
    assert runs[0] == runs[1]


def test_early_stopping_rules(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "a")
    # a huge min_delta: no epoch counts as progress, so it stops after `patience` epochs
    trainer(ctx, max_epochs=50, patience=3, min_delta=1e6).fit(model, data, rep)
    assert len(rep.history("val_loss")) == 4
    ctx, data, model = build(tmp_path / "b")
    rep = RecordingReporter(tmp_path / "b")
    trainer(ctx, max_epochs=50, patience=2, min_delta=1e6, stop_rule="no_change").fit(model, data, rep)
    assert len(rep.history("val_loss")) == 3


def test_resume_from_last_checkpoint(tmp_path):
    ctx, data, model = build(tmp_path)
    first = RecordingReporter(ctx.run_dir)  # checkpoints land where the trainer looks on restart
    trainer(ctx, max_epochs=2, patience=0).fit(model, data, first)
    ctx2, data2, model2 = build(tmp_path)
    second = RecordingReporter(ctx2.run_dir)
    trainer(ctx2, max_epochs=4, patience=0).fit(model2, data2, second)
    assert [s for s, _ in second.metrics] == [2, 3]  # epochs 0-1 were not repeated


def test_nan_loss_raises(tmp_path):
    ctx, data, model = build(tmp_path, nan_at_epoch=1)
    with pytest.raises(RuntimeError, match="non-finite loss at epoch 1"):
        trainer(ctx, max_epochs=5).fit(model, data, RecordingReporter(tmp_path / "r"))


def test_monitor_must_exist(tmp_path):
    ctx, data, model = build(tmp_path)
    with pytest.raises(UserError, match="trainer.monitor='val_acc' is not a reported metric"):
        trainer(ctx, max_epochs=1, monitor="val_acc").fit(model, data, RecordingReporter(tmp_path / "r"))


def test_sgd_with_step_decay(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "r")
    trainer(ctx, max_epochs=4, optimizer="sgd", nesterov=True, lr_step_size=2, lr_gamma=0.5).fit(model, data, rep)
    assert rep.history("lr") == pytest.approx([0.02, 0.01, 0.01, 0.005])


def test_amp_flag_is_a_noop_on_cpu(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "r")
    trainer(ctx, max_epochs=2, amp=True, device="cpu").fit(model, data, rep)
    assert all(math.isfinite(v) for v in rep.history("train_loss"))
    assert next(model.parameters()).dtype == torch.float32


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(UserError, match="no CUDA device is available"):
        resolve_device("cuda:0")
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(UserError, match="there are 2 CUDA devices"):
        resolve_device("cuda:5")


def test_pin_memory_follows_device(tmp_path):
    ctx, data, model = build(tmp_path)
    t = trainer(ctx)
    assert t._loader(model, data.split("train"), True, "cuda").pin_memory is True
    assert t._loader(model, data.split("train"), True, "cpu").pin_memory is False


def test_best_state_copy_keeps_non_tensor_extra_state(tmp_path):
    from sciml.training import _copy_state

    extra = {"templates": ["[C:1]>>[C:1]"]}
    state = {"w": torch.ones(2), "_extra_state": extra}
    copied = _copy_state(state)
    state["w"].add_(1)
    extra["templates"].append("x")
    assert copied["w"].tolist() == [1.0, 1.0] and copied["_extra_state"] == {"templates": ["[C:1]>>[C:1]"]}
