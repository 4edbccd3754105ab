"""y = X w + noise, fitted by a small MLP. Knobs make it fail or be rejected on purpose."""

import numpy as np
import pandas as pd
import sciml
import torch
from pydantic import Field


class LinearData(sciml.Dataset):
    class Config(sciml.ComponentConfig):
        n: int = Field(200, ge=10)
        n_features: int = Field(3, ge=1)
        noise: float = Field(0.01, ge=0)
        data_seed: int = 0

    def prepare(self):
        c = self.config
        key = sciml.content_hash(self.config.model_dump())
        arrays, _ = sciml.cached_arrays(self.context.cache_dir / f"toy-{key}.npz", self._build)
        self.x = torch.as_tensor(arrays["x"], dtype=torch.float32)
        self.y = torch.as_tensor(arrays["y"], dtype=torch.float32)
        self.metadata = {"n_features": c.n_features, "weights": arrays["w"]}
        n = len(self.x)
        self._idx = {"train": range(0, int(0.8 * n)), "val": range(int(0.8 * n), int(0.9 * n)),
                     "test": range(int(0.9 * n), n)}

    def _build(self):
        rng = np.random.default_rng(self.config.data_seed)
        x = rng.normal(size=(self.config.n, self.config.n_features))
        w = rng.normal(size=self.config.n_features)
        y = x @ w + self.config.noise * rng.normal(size=self.config.n)
        return {"x": x, "y": y, "w": w}, {"n": self.config.n}

    def split(self, name):
        idx = list(self._idx[name])
        return torch.utils.data.TensorDataset(self.x[idx], self.y[idx])

    def split_indices(self):
        return {k: list(v) for k, v in self._idx.items()}


class MLP(torch.nn.Module):
    class Config(sciml.ComponentConfig):
        hidden: int = Field(8, ge=1)
        fail_at_epoch: int = Field(-1, description="raise at this epoch (tests of failure handling)")
        nan_at_epoch: int = Field(-1, description="return a NaN loss from this epoch on")
        inf_at_epoch: int = Field(-1, description="return an infinite loss from this epoch on")
        fail_once_at_epoch: int = Field(-1, description="raise at this epoch unless fail_once_marker exists "
                                                        "(creates it): fails once, then succeeds on a retry")
        fail_once_marker: str = Field("", description="marker file of fail_once_at_epoch")
        epoch_log: str = Field("", description="directory: append each trained epoch to s<seed>.txt there")
        sleep_per_epoch: float = Field(0.0, ge=0, le=60, description="sleep at each epoch start (s)")

    def __init__(self, config, metadata):
        super().__init__()
        self.config = config
        self.net = torch.nn.Sequential(torch.nn.Linear(metadata["n_features"], config.hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(config.hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def on_epoch_start(self, epoch, max_epochs):
        c = self.config
        if c.epoch_log:
            from pathlib import Path

            log = Path(c.epoch_log)
            log.mkdir(parents=True, exist_ok=True)
            with open(log / f"s{torch.initial_seed()}.txt", "a") as fh:
                fh.write(f"{epoch}\n")
        if c.sleep_per_epoch:
            import time

            time.sleep(c.sleep_per_epoch)
        if epoch == c.fail_once_at_epoch and c.fail_once_marker:
            import os

            try:  # O_EXCL: exactly one trial fails, even with several running at once
                os.close(os.open(c.fail_once_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
            raise RuntimeError(f"toy failure once at epoch {epoch}")

    def training_step(self, batch, epoch):
        if epoch == self.config.fail_at_epoch:
            raise RuntimeError(f"toy failure at epoch {epoch}")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        if 0 <= self.config.nan_at_epoch <= epoch:
            loss = loss * float("nan")
        if 0 <= self.config.inf_at_epoch <= epoch:
            loss = loss * float("inf")
        return {"loss": loss}


class MSE(sciml.Evaluator):
    class Config(sciml.ComponentConfig):
        reject_above: float | None = Field(None, description="acceptance gate: reject when val_mse is above")

    def evaluate(self, model, data, reporter):
        out = {"note": "toy"}
        with torch.no_grad():
            for split in ("val", "test"):
                x, y = data.split(split).tensors
                out[f"{split}_mse"] = float(torch.nn.functional.mse_loss(model(x), y))
                out[f"n_{split}"] = len(y)
        return out

    def accept(self, results):
        limit = self.config.reject_above
        if limit is not None and results["val_mse"] > limit:
            return False, f"val_mse {results['val_mse']:.3g} > {limit}"
        return True, ""

    def baselines(self, model, data, results):
        """The training mean predicted for every sample."""
        mean = data.split("train").tensors[1].mean()
        return {"mean": {f"{split}_mse": float(((data.split(split).tensors[1] - mean) ** 2).mean())
                         for split in ("val", "test")}}


def predict(model, config, metadata, input_path):
    x = np.loadtxt(input_path, delimiter=",", ndmin=2)
    if x.shape[1] != metadata["n_features"]:
        raise sciml.UserError(f"{input_path}: expected {metadata['n_features']} columns, got {x.shape[1]}")
    with torch.no_grad():
        y = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    return pd.DataFrame({"y_pred": y})
