"""Time-series model of Methodology 1, step 2 (thesis §5.1): trained only on untreated wells,
it predicts the day-10 representation from the representations of days 7, 8, 9.

A GRU reads the context days and a linear layer predicts the change from the last context day
(``z_hat_10 = z_9 + W GRU(z_7, z_8, z_9)``), on representations standardised with the untreated
training wells' mean and sd. The deviation between prediction and the actual day-10
representation (L2 or cosine distance) is the efficacy score (§5.1 step 3).
"""

from __future__ import annotations

import torch
from torch import nn


class TimeSeriesPredictor(nn.Module):
    """``(N, n_context, D) -> (N, D)``: predicted next representation."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(seq)
        return seq[:, -1] + self.out(h[:, -1])


def deviation(pred: torch.Tensor, actual: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """Efficacy score per well ``(N,)`` from ``(N, D)`` predicted and actual representations.

    ``"l2"``: Euclidean distance (standardised units); ``"cosine"``: 1 - cosine similarity.

    Raises:
        ValueError: unknown ``distance``.
    """
    if distance == "l2":
        return torch.linalg.vector_norm(pred - actual, dim=-1)
    if distance == "cosine":
        return 1.0 - torch.nn.functional.cosine_similarity(pred, actual, dim=-1)
    raise ValueError(f"unknown distance {distance!r}; accepted: 'l2', 'cosine'")


def fit_predictor(model: TimeSeriesPredictor, context: torch.Tensor, target: torch.Tensor,
                  epochs: int = 300, lr: float = 3e-3, weight_decay: float = 1e-3,
                  val: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[float]:
    """Full-batch Adam on the MSE between ``model(context)`` ``(N, n_context, D)`` and ``target`` ``(N, D)``.

    With ``val = (context_val, target_val)`` the weights of the epoch with the lowest validation
    MSE are kept (early stopping: few untreated wells, many dimensions). Returns the training
    loss history (per epoch)."""
    import copy

    return _fit(model, context, target, epochs, lr, weight_decay, val, copy)


def _fit(model, context, target, epochs, lr, weight_decay, val, copy):
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = []
    best, best_state = float("inf"), None
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        loss = torch.mean((model(context) - target) ** 2)
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
        if val is not None and len(val[0]):
            model.eval()
            with torch.no_grad():
                v = float(torch.mean((model(val[0]) - val[1]) ** 2))
            if v < best:
                best, best_state = v, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist
