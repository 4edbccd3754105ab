"""NT-Xent, the normalised temperature-scaled cross-entropy loss of SimCLR.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning of
Visual Representations", eq. (1) and Algorithm 1::

    l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) )
    L = 1 / (2N) * sum_{k=1..N} [ l(2k-1, 2k) + l(2k, 2k-1) ]

with ``sim`` the cosine similarity and ``tau`` the temperature; the other 2(N-1) views in the
batch are the negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent loss of two views, eq. (1) of Chen et al. (2020), averaged over the 2N anchors.

    Args:
        z1, z2: ``(N, D)`` projections of the two augmented views; row ``k`` of ``z1`` and of
            ``z2`` come from the same image (the positive pair).
        temperature: ``tau`` > 0.

    Returns:
        scalar tensor (nats).

    Raises:
        ValueError: shapes differ, ``N < 2`` (no negatives) or ``temperature <= 0``.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent needs two (N, D) tensors of equal shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("nt_xent needs at least 2 pairs (N >= 2) so that negatives exist")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)
