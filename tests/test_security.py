"""Security: checkpoints, models and caches load without running code; paths from configs
and plugins stay inside the directories they are meant for."""

import logging
import os
import pickle

import numpy as np
import pytest
import torch
from sciml.caching import load_arrays, safe_child, save_arrays


class Bomb:
    """Unpickling this runs ``os.system`` — what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_bomb_in_a_checkpoint_is_refused_not_run(tmp_path, caplog):
    from sciml.engine import _usable_checkpoint

    marker = tmp_path / "pwned"
    last = tmp_path / "fit.last.ckpt"
    torch.save({"state_dict": {"net.w": Bomb(marker)}, "loops": {}}, last)
    with pytest.raises(pickle.UnpicklingError):  # what torch does with it on its own
        torch.load(last, weights_only=True)
    with caplog.at_level(logging.WARNING, logger="sciml.engine"):
        assert _usable_checkpoint(last) is False
    assert not marker.exists() and "cannot be loaded safely" in caplog.text
    assert (tmp_path / "fit.last.ckpt.corrupt").exists() and not last.exists()


def test_pickle_bomb_in_a_trial_directory_does_not_run_when_training_resumes(tmp_path):
    from sciml.testing import make_context
    from sciml.training import DefaultTrainer
    from sciml.trial import FileReporter
    from sciml_toy.components import MLP, LinearData

    marker = tmp_path / "pwned"
    ctx = make_context(tmp_path)
    torch.save({"state_dict": {"net.w": Bomb(marker)}, "loops": {}}, ctx.run_dir / "fit.last.ckpt")
    data = LinearData(LinearData.Config(), ctx)
    data.prepare()
    rep = FileReporter(ctx.run_dir)
    DefaultTrainer(DefaultTrainer.Config(max_epochs=1), ctx).fit(MLP(MLP.Config(), data.metadata), data, rep)
    assert not marker.exists() and [s for s, _ in rep.history] == [0]


def test_pickle_bomb_in_a_model_state_dict_is_refused(tmp_path):
    from sciml.modelio import load_model_dir, save_model_dir
    from sciml_toy.components import MLP

    cfg = {"pipeline": "toy:default", "seed": 0, "model": {"name": "toy:mlp", "hidden": 4}}
    save_model_dir(tmp_path / "model", MLP(MLP.Config(hidden=4), {"n_features": 3}), cfg, {"n_features": 3})
    assert load_model_dir(tmp_path / "model").module.net[0].out_features == 4
    marker = tmp_path / "pwned"
    torch.save(Bomb(marker), tmp_path / "model" / "state_dict.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_model_dir(tmp_path / "model")
    assert not marker.exists()


def test_cache_with_an_object_array_is_refused_even_with_a_matching_hash(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "c.npz"
    save_arrays(path, {"x": np.arange(3)})
    np.savez(path, x=np.array([Bomb(marker)], dtype=object))  # replaced and re-hashed by an attacker
    import hashlib
    import json

    side = path.with_suffix(".npz.json")
    info = json.loads(side.read_text())
    info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    side.write_text(json.dumps(info))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_arrays(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../x.png", "../../etc/passwd", "/tmp/abs.png", "a/../../x.png"])
def test_reporter_refuses_paths_outside_its_artifacts(tmp_path, name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sciml.trial import FileReporter

    rep = FileReporter(tmp_path / "run")
    with pytest.raises(ValueError, match="escapes"):
        rep.log_figure(plt.figure(), name)
    with pytest.raises(ValueError, match="escapes"):
        rep.log_dict({"a": 1}, name.replace(".png", ".json"))
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.json").exists()
    rep.log_dict({"a": 1}, "sub/ok.json")  # a subdirectory inside is fine
    assert (tmp_path / "run" / "artifacts" / "sub" / "ok.json").exists()


def test_safe_child_keeps_names_inside_root(tmp_path):
    assert safe_child(tmp_path, "a/b.npz") == (tmp_path / "a" / "b.npz").resolve()
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ValueError):
        safe_child(tmp_path, "link/etc/passwd")  # a symlink out of the root is not followed out


def test_mlflow_model_loading_trust_is_documented():
    import sciml.mlflow_model as mm

    doc = mm.__doc__
    assert "cloudpickle" in doc and "trust" in doc and "never unpickled" in doc
