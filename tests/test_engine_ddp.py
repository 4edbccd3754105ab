"""Several devices in one trial: DDP over gloo on CPU processes, inside a Ray Tune trial."""

import pytest
from sciml.testing import run_tiny

DDP = ("trainer.devices=2", "trainer.strategy=ddp", "trainer.device=cpu", "trainer.max_epochs=3", "trainer.patience=0")


@pytest.mark.slow
@pytest.mark.integration
def test_ddp_trial_inside_tune_on_two_cpus(sciml_store):
    s = run_tiny("toy", "seed=0", *DDP, tune=True, num_samples=1, seeds=1, cpus_per_trial=2)
    [trial] = s.trials
    assert trial.status == "FINISHED", trial.error
    # two processes trained (the trial is rank 0; rank 1 ran beside it), each epoch reported once
    assert trial.metrics["world_size"] == 2.0 and trial.metrics["epochs"] == 3.0
    log = trial.run_dir / "rank1.log"
    assert log.exists() and "error" not in log.read_text().lower()


@pytest.mark.slow
def test_ddp_local_run_matches_the_metric_names_of_one_process(sciml_store):
    one = run_tiny("toy", "seed=0", "trainer.max_epochs=3", "trainer.patience=0", "trainer.device=cpu")
    two = run_tiny("toy", "seed=0", *DDP)
    assert two.trials[0].metrics["world_size"] == 2.0 and one.trials[0].metrics["world_size"] == 1.0
    assert set(one.trials[0].metrics) == set(two.trials[0].metrics)
    # the same data split over two ranks: the validation loss is of the same model class and size
    assert two.trials[0].metrics["val_mse"] == pytest.approx(one.trials[0].metrics["val_mse"], rel=0.5)
