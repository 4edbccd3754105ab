"""y = X w + noise, fitted by a small MLP. Knobs make it fail or be rejected on purpose."""

import numpy as np
import pandas as pd
import torch
from pydantic import Field

import sciml


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

    def __init__(self, config, metadata):
        super().__init__()
        self.config = config
        self.net = torch.nn.Sequential(torch.nn.Linear(metadata["n_features"], config.hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(config.hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def training_step(self, batch, epoch):
        if epoch == self.config.fail_at_epoch:
            raise RuntimeError(f"toy failure at epoch {epoch}")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        if 0 <= self.config.nan_at_epoch <= epoch:
            loss = loss * float("nan")
        return {"loss": loss}


class MSE(sciml.Evaluator):
    class Config(sciml.ComponentConfig):
        reject_above: float | None = Field(None, description="selection: reject when test_mse is above")

    def evaluate(self, model, data, reporter):
        x, y = data.split("test").tensors
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(model(x), y))
        return {"test_mse": mse, "n_test": len(y), "note": "toy"}

    def accept(self, results):
        limit = self.config.reject_above
        if limit is not None and results["test_mse"] > limit:
            return False, f"test_mse {results['test_mse']:.3g} > {limit}"
        return True, ""


def predict(model, config, metadata, input_path):
    x = np.loadtxt(input_path, delimiter=",", ndmin=2)
    if x.shape[1] != metadata["n_features"]:
        raise sciml.UserError(f"{input_path}: expected {metadata['n_features']} columns, got {x.shape[1]}")
    with torch.no_grad():
        y = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    return pd.DataFrame({"y_pred": y})
