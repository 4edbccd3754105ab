"""Issue 12: a ptrcnn training interrupted at a middle epoch and resumed ends with the same
weights and metrics as an uninterrupted run with the same seed.

Tolerance: 1e-6 (float32 round-off); on CPU the two runs are expected to be bit-identical, since
all randomness (init, shuffling) comes from seeded torch generators that the engine checkpoints.
"""

from sciml.testing import check_resume
from sciml_ptrcnn.dataset import HeuslerPTRDataset
from sciml_ptrcnn.model import PTRCNN
from sciml_ptrcnn.training import PaperTrainer

TOL = 1e-6


def test_resume_mid_training_equals_uninterrupted(tmp_path, oqmd_file):
    def build(ctx):
        d = HeuslerPTRDataset(HeuslerPTRDataset.Config(source="oqmd", path=str(oqmd_file)), ctx)
        d.prepare()
        m = PTRCNN(PTRCNN.Config(task="formation_energy", channels=4, hidden=8), d.metadata)
        # step decay every 2 epochs: the resumed run must also restore the scheduler's position
        t = PaperTrainer(PaperTrainer.Config(max_epochs=5, batch_size=16, lr_step_size=2, lr_gamma=0.5, patience=0), ctx)
        return t, m, d

    out = check_resume(build, tmp_path, interrupt_at=3)
    assert out["steps"] == 5
    assert out["max_weight_diff"] <= TOL and out["max_metric_diff"] <= TOL, out
