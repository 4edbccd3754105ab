"""The training engine (Lightning) through the default trainer, on the toy plugin's data and model."""

import json
import logging
import os

import pytest
import torch
from sciml.engine import FAULT_ENV, TrainingDiverged, lightning_devices
from sciml.errors import UserError
from sciml.registry import get_registry
from sciml.testing import RecordingReporter, check_resume, make_context
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
    out = trainer(ctx, max_epochs=15, patience=0, checkpoint_every_s=0).fit(model, data, rep)
    losses = rep.history("train_loss")
    assert len(losses) == 15 and losses[-1] < 0.2 * losses[0]
    val = rep.history("val_loss")
    assert out["best_val_loss"] == pytest.approx(min(val)) and out["best_epoch"] == val.index(min(val))
    x, y = data.split("val").tensors
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(model(x), y)) == pytest.approx(min(val), rel=1e-4)
    # one Lightning checkpoint per epoch, handed to the reporter (Tune keeps it)
    assert rep.checkpoints == [ctx.run_dir / "fit.last.ckpt"] * 15
    assert json.loads((ctx.run_dir / "fit.done.json").read_text()) == out


def test_checkpoints_are_written_at_most_every_n_seconds_and_after_the_last_epoch(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "rep")
    trainer(ctx, max_epochs=6, patience=0, checkpoint_every_s=3600).fit(model, data, rep)
    assert len(rep.metrics) == 6 and rep.checkpoints == [ctx.run_dir / "fit.last.ckpt"]
    ctx, data, model = build(tmp_path / "b")
    rep = RecordingReporter(tmp_path / "b")
    trainer(ctx, max_epochs=50, patience=2, min_delta=1e6, checkpoint_every_s=3600).fit(model, data, rep)
    assert len(rep.metrics) == 3 and len(rep.checkpoints) == 1  # the early stop is the last epoch


def test_epoch_metrics_are_sample_weighted_means(tmp_path):
    """300 samples, batches of 64: the last batch is smaller, and the mean weighs it by its size."""
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "rep")
    trainer(ctx, max_epochs=1, lr=1e-9, batch_size=64).fit(model, data, rep)
    x, y = data.split("val").tensors
    with torch.no_grad():
        assert rep.history("val_loss")[0] == pytest.approx(float(torch.nn.functional.mse_loss(model(x), y)),
                                                            rel=1e-5)


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
    out = trainer(ctx, max_epochs=50, patience=3, min_delta=1e6).fit(model, data, rep)
    assert len(rep.history("val_loss")) == 4 and out["stopped_early"] == 1.0
    ctx, data, model = build(tmp_path / "b")
    rep = RecordingReporter(tmp_path / "b")
    trainer(ctx, max_epochs=50, patience=2, min_delta=1e6, stop_rule="no_change").fit(model, data, rep)
    assert len(rep.history("val_loss")) == 3
    # min_epochs: a schedule that must finish first (cgmap's tau) holds the stop back
    ctx, data, model = build(tmp_path / "c")
    rep = RecordingReporter(tmp_path / "c")
    trainer(ctx, max_epochs=50, patience=2, min_delta=1e6, min_epochs=7).fit(model, data, rep)
    assert len(rep.history("val_loss")) == 7


def test_interrupted_fit_resumes_to_the_same_weights(tmp_path):
    def make(ctx):
        ds_cls = get_registry().get("dataset", "toy:linear").load()
        data = ds_cls(ds_cls.Config(n=300, noise=0.01), ctx)
        data.prepare()
        model_cls = get_registry().get("model", "toy:mlp").load()
        return trainer(ctx, max_epochs=5, patience=0, lr_step_size=2), model_cls(model_cls.Config(), data.metadata), data

    diff = check_resume(make, tmp_path, interrupt_at=2)
    assert diff == {"max_weight_diff": 0.0, "max_metric_diff": 0.0, "steps": 5.0}


def test_a_finished_fit_is_not_repeated(tmp_path):
    ctx, data, model = build(tmp_path)
    out = trainer(ctx, max_epochs=3, patience=0).fit(model, data, RecordingReporter(tmp_path / "a"))
    ctx, data, again = build(tmp_path)
    rep = RecordingReporter(tmp_path / "b")
    assert trainer(ctx, max_epochs=3, patience=0).fit(again, data, rep) == out
    assert rep.metrics == [] and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                                        again.state_dict().values(), strict=True))


def test_interrupt_reaches_the_caller_as_keyboard_interrupt(tmp_path, monkeypatch):
    """Lightning answers Ctrl-C with sys.exit(1); the runner needs the KeyboardInterrupt back."""
    import signal

    ctx, data, model = build(tmp_path)
    monkeypatch.setenv(FAULT_ENV, "1")
    rep = RecordingReporter(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        trainer(ctx, max_epochs=3, patience=0, checkpoint_every_s=3600).fit(model, data, rep)
    assert [s for s, _ in rep.metrics] == [0] and (ctx.run_dir / "fit.last.ckpt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C still works afterwards


def test_nan_loss_raises(tmp_path):
    ctx, data, model = build(tmp_path, nan_at_epoch=1)
    with pytest.raises(TrainingDiverged, match="non-finite loss at epoch 1.*lower trainer.lr"):
        trainer(ctx, max_epochs=5).fit(model, data, RecordingReporter(tmp_path / "r"))


def test_monitor_must_exist(tmp_path):
    ctx, data, model = build(tmp_path)
    with pytest.raises(UserError, match="trainer.monitor='val_acc' is not a reported metric"):
        trainer(ctx, max_epochs=1, monitor="val_acc").fit(model, data, RecordingReporter(tmp_path / "r"))


def test_sgd_with_step_decay_and_momentum_as_configured(tmp_path):
    ctx, data, model = build(tmp_path)
    rep = RecordingReporter(tmp_path / "r")
    trainer(ctx, max_epochs=4, optimizer="sgd", nesterov=True, lr_step_size=2, lr_gamma=0.5).fit(model, data, rep)
    assert rep.history("lr") == pytest.approx([0.02, 0.02, 0.01, 0.01])  # the rate each epoch trained with
    from sciml.engine import _make_module

    for momentum, nesterov in ((0.0, True), (0.85, True), (0.85, False)):
        module = _make_module(model, DefaultTrainer.Config(optimizer="sgd", momentum=momentum, nesterov=nesterov))
        group = module.configure_optimizers().param_groups[0]
        assert group["momentum"] == momentum and group["nesterov"] == (nesterov and momentum > 0)


def test_mixed_precision_is_cuda_only(tmp_path, caplog):
    ctx = make_context(tmp_path)
    with caplog.at_level(logging.INFO, logger="sciml.engine"):
        chosen = lightning_devices(DefaultTrainer.Config(precision="bf16-mixed", device="cpu"), ctx)
    assert chosen["precision"] == "32-true" and chosen["accelerator"] == "cpu"
    assert "applies on CUDA only" in caplog.text


def test_device_choice_comes_from_the_context_when_auto(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    ctx = make_context(tmp_path, device="cuda:1")
    chosen = lightning_devices(DefaultTrainer.Config(precision="16-mixed"), ctx)
    assert chosen == {"accelerator": "gpu", "devices": [1], "strategy": "auto", "precision": "16-mixed"}
    assert lightning_devices(DefaultTrainer.Config(device="cpu", devices=2), ctx)["strategy"] != "auto"


def test_threads_come_from_the_context(tmp_path):
    ctx, data, model = build(tmp_path)
    ctx.threads = 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        trainer(ctx, max_epochs=1).fit(model, data, RecordingReporter(tmp_path / "r"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


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


def test_corrupt_checkpoint_is_moved_aside_and_training_starts_over(tmp_path, caplog):
    ctx, data, model = build(tmp_path)
    last = ctx.run_dir / "fit.last.ckpt"
    last.write_bytes(b"PK\x03\x04 not a checkpoint")
    rep = RecordingReporter(tmp_path / "r")
    with caplog.at_level(logging.WARNING, logger="sciml.engine"):
        trainer(ctx, max_epochs=2, patience=0).fit(model, data, rep)
    assert "unusable" in caplog.text and (ctx.run_dir / "fit.last.ckpt.corrupt").exists()
    assert [s for s, _ in rep.metrics] == [0, 1]


def test_best_state_keeps_non_tensor_extra_state(tmp_path):
    """retro's model carries its template list as ``get_extra_state``: the restored best keeps it."""
    ctx, data, _ = build(tmp_path)
    model_cls = get_registry().get("model", "toy:mlp").load()
    seen = {}

    class WithTemplates(model_cls):
        def get_extra_state(self):
            return {"templates": ["[C:1]>>[C:1]"]}

        def set_extra_state(self, state):
            seen.update(state)

    model = WithTemplates(model_cls.Config(hidden=16), data.metadata)
    trainer(ctx, max_epochs=2, patience=0).fit(model, data, RecordingReporter(tmp_path / "r"))
    assert seen == {"templates": ["[C:1]>>[C:1]"]}


@pytest.mark.skipif(os.cpu_count() < 2, reason="DDP over gloo needs 2 CPUs")
def test_ddp_on_two_cpu_processes_is_configured_with_gloo(tmp_path):
    chosen = lightning_devices(DefaultTrainer.Config(device="cpu", devices=2, strategy="ddp"), make_context(tmp_path))
    assert chosen["devices"] == 2 and chosen["strategy"].process_group_backend == "gloo"
