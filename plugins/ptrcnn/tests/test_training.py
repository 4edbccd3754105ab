"""The paper's SGD recipe as trainer configuration of the core's engine (issue 12)."""

import lightning.pytorch as pl
import pytest
import sciml
import torch
from sciml.testing import RecordingReporter, make_context
from sciml_ptrcnn.dataset import HeuslerPTRDataset
from sciml_ptrcnn.model import PTRCNN, StabilityCNN
from sciml_ptrcnn.training import PaperTrainer, paper_config


class OptimizerProbe(pl.Callback):
    """Records the optimizer's settings as Lightning built them."""

    def __init__(self):
        self.groups = []

    def on_train_epoch_start(self, trainer, pl_module):
        g = trainer.optimizers[0].param_groups[0]
        self.groups.append({k: g[k] for k in ("lr", "momentum", "nesterov", "weight_decay")})


class ProbedTrainer(PaperTrainer):
    def callbacks(self, model, data):
        self.probe = OptimizerProbe()
        return [self.probe]


def _setup(tmp_path, oqmd_file, **cfg):
    ctx = make_context(tmp_path)
    d = HeuslerPTRDataset(HeuslerPTRDataset.Config(source="oqmd", path=str(oqmd_file)), ctx)
    d.prepare()
    torch.manual_seed(0)
    m = PTRCNN(PTRCNN.Config(task="formation_energy", channels=4, hidden=8), d.metadata)
    return ProbedTrainer(PaperTrainer.Config(batch_size=32, **cfg), ctx), m, d


def test_paper_defaults():
    c = PaperTrainer.Config()
    assert (c.optimizer, c.lr, c.momentum, c.nesterov, c.weight_decay) == ("sgd", 0.01, 0.85, True, 0.005)
    assert c.lr_step_size == 4 and c.max_epochs == 40  # ten decays over the run, as the paper's 10k of 100k
    assert isinstance(c, sciml.TrainerConfig)
    p = paper_config(30, lr=0.02)
    assert (p.max_epochs, p.lr_step_size, p.patience, p.lr) == (30, 3, 0, 0.02)
    assert paper_config(4).lr_step_size == 1


def test_nesterov_sgd_and_step_decay_reach_the_optimizer(tmp_path, oqmd_file):
    trainer, m, d = _setup(tmp_path, oqmd_file, max_epochs=4, lr_step_size=2, lr_gamma=0.5, patience=0)
    rep = RecordingReporter(tmp_path / "rep")
    out = trainer.fit(m, d, rep)
    g = trainer.probe.groups
    assert [x["lr"] for x in g] == pytest.approx([0.01, 0.01, 0.005, 0.005])
    assert all(x["nesterov"] and x["momentum"] == 0.85 and x["weight_decay"] == 0.005 for x in g)
    assert len(rep.history("val_loss")) == 4 and rep.checkpoints and out["epochs"] == 4


def test_momentum_zero_stays_zero_and_nesterov_off_is_honoured(tmp_path, oqmd_file):
    trainer, m, d = _setup(tmp_path / "a", oqmd_file, max_epochs=1, momentum=0.0)
    trainer.fit(m, d, RecordingReporter(tmp_path / "a" / "rep"))
    assert trainer.probe.groups[0]["momentum"] == 0 and not trainer.probe.groups[0]["nesterov"]
    trainer, m, d = _setup(tmp_path / "b", oqmd_file, max_epochs=1, nesterov=False)
    trainer.fit(m, d, RecordingReporter(tmp_path / "b" / "rep"))
    assert trainer.probe.groups[0]["momentum"] == 0.85 and not trainer.probe.groups[0]["nesterov"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_trainer_device_is_honoured(tmp_path, oqmd_file):
    trainer, m, d = _setup(tmp_path, oqmd_file, max_epochs=1, device="cuda")
    with pytest.raises(sciml.UserError, match="cuda"):
        trainer.fit(m, d, RecordingReporter(tmp_path / "rep"))


def test_stability_transfer_trains_through_the_engine(tmp_path):
    torch.manual_seed(0)
    base = PTRCNN(PTRCNN.Config(channels=4, hidden=8))
    clf = StabilityCNN(base)
    x = torch.rand(64, 1, 5, 16) * 2
    y = (x[:, 0, 2, 8] > 1).float()  # "stable" when the Co pixel is bright: learnable
    ds = torch.utils.data.TensorDataset(x, y)
    with torch.no_grad():
        before = float(clf.training_step((x, y), 0)["loss"])
    out = sciml.fit(clf, ds, ds, paper_config(8, batch_size=16, lr=0.05), make_context(tmp_path), sciml.SilentReporter(),
                    stage="stability")
    after = float(clf.training_step((x, y), 0)["loss"])
    assert after < before and out["epochs"] == 8
    assert (tmp_path / "run" / "stability.last.ckpt").exists()
