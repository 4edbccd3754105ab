"""``cgmap:vae`` — the coarse-graining auto-encoder (paper §2.2–2.3; Wang & Gómez-Bombarelli 2019).

Encoder: learnable logits log φ (n_atoms, N). An assignment C (n_atoms, N) is drawn by the
Gumbel-softmax reparametrisation, C_ji = softmax_i((log φ_ji + g_ji)/τ), so every atom j's
probabilities over the N beads sum to 1. The encoding tensor is C normalised over atoms,
E_ij = C_ji / Σ_j C_ji (E_ij ≥ 0, Σ_j E_ij = 1), and the bead coordinates are z_i = Σ_j E_ij x_j.
Decoder: a learnable D (n_atoms, N), linear in the bead coordinates as in the paper. With
``Config.centre`` (default) it acts on coordinates centred per atom on the mean training
structure x̄ (a normalisation of the data): x'_j = x̄_j + Σ_i D_ji (z_i − z̄_i), z̄ = E x̄. With
``centre=False`` it is the paper's x'_j = Σ_i D_ji z_i on raw coordinates, which cannot even
reproduce the mean structure for a fluctuating molecule: it has no offset, and D is shared by
x, y and z (docs/plugins/cgmap.md gives the numbers). In evaluation mode C is the hard one-hot
argmax assignment (the mapping; "moiety of atom j = argmax_i C_ij"). :meth:`CGVAE.fit_decoder`
solves the reconstruction term for D exactly (least squares) for the hard assignment.

Initialisation (``Config.init``): the paper's N(0, 1) logits (``"random"``), or the same noise plus
``init_scale`` on the bead of a random connected partition of the molecular graph (``"graph"``,
:func:`graph_voronoi_partition`; ours: with random logits the CTA and PIM-1 units never gave a
connectivity-preserving mapping in our runs).

Losses (``Config.loss``):

* ``"rec"``  — Eq. 1: L_rec = (1/n) Σ_j E_x[|x_j − x'_j|²]  (Å²).
* ``"force"`` — Eq. 2: L = L_rec + ρ L_force, L_force = (1/N) Σ_i E_x[|F_i|²] with the
  instantaneous CG force F_i = Σ_j C_ji f_j ((kcal/mol/Å)²).
* ``force_threshold`` (§2.3, the variant the paper tried and dropped): the force term of Eq. 2 or
  Eq. 3 is off (Eq. 3: α = 0) until a training batch's L_rec falls below the threshold, then on.
* ``"normalized"`` — Eq. 3, our reading of the paper's text ("each term divided by the maximum
  value it assumed until the current epoch", α ∈ [0, 1] balancing the two, α = 0.5 being the
  same as no α): L = (1 − α) L_rec / max_{k≤K} L_rec + α L_force / max_{k≤K} L_force, the maxima
  taken over every training mini-batch seen so far, this one included (detached).

τ decreases stepwise from ``tau_start`` = 4 to ``tau_end`` = 0.1 (paper §3.1) in ``tau_steps``
geometric steps spread over ``anneal_epochs`` (at most the training's epochs); the cgmap trainer
(:mod:`sciml_cgmap.training`) does not stop early before the last step.
"""

from __future__ import annotations

from typing import Literal

import sciml
import torch
from pydantic import Field
from torch import nn

#: Total assignment (in atoms) below which a bead counts as empty in :meth:`CGVAE.encoding`.
EMPTY_BEAD = 1e-6


def graph_voronoi_partition(n_atoms: int, bonds, n_beads: int, atomic_numbers=None) -> list[int]:
    """A random connected partition of the molecular graph into ``n_beads`` parts: ``n_beads``
    distinct seed atoms drawn with torch's global RNG (heavy atoms first when there are enough),
    each atom assigned to the seed nearest in bonds (ties to the lower seed index), which makes
    every part a connected subgraph (of a connected molecule). Returns the part of each atom."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    b = np.asarray(bonds, dtype=int).reshape(-1, 2)
    heavy = [j for j in range(n_atoms) if atomic_numbers is None or int(atomic_numbers[j]) > 1]
    pool = heavy if len(heavy) >= n_beads else list(range(n_atoms))
    seeds = [pool[int(i)] for i in torch.randperm(len(pool))[:n_beads]]
    adj = coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(n_atoms, n_atoms))
    dist = shortest_path(adj, directed=False, unweighted=True, indices=seeds)  # (n_beads, n_atoms)
    return [int(k) for k in np.argmin(dist, axis=0)]  # argmin: first (lowest-index) seed on ties


class CGVAE(nn.Module):
    """Coarse-graining VAE mapping ``n_atoms`` atoms to ``n_beads`` beads.

    Args:
        config: :class:`CGVAE.Config`.
        metadata: the dataset's metadata (``n_atoms``; ``reference``, ``masses``, ``align`` for
            aligning new frames in :meth:`preprocess`).

    Raises:
        sciml.UserError: ``n_beads`` larger than the number of atoms.
    """

    class Config(sciml.ComponentConfig):
        n_beads: int = Field(2, ge=1, le=1000, description="number of CG beads N (latent size)")
        loss: Literal["rec", "force", "normalized"] = Field(
            "rec", description="'rec' Eq. 1, 'force' Eq. 2 (rec + rho*force), 'normalized' Eq. 3")
        rho: float = Field(0.01, ge=0, description="force weight of Eq. 2 (Å²/(kcal/mol/Å)²)")
        alpha: float = Field(0.5, ge=0, le=1, description="force weight of Eq. 3 (dimensionless)")
        tau_start: float = Field(4.0, gt=0, description="initial Gumbel-softmax temperature")
        tau_end: float = Field(0.1, gt=0, description="final Gumbel-softmax temperature")
        tau_steps: int = Field(10, ge=1, description="number of stepwise temperature levels")
        anneal_epochs: int | None = Field(None, ge=1, description="epochs over which tau reaches "
                                          "tau_end (default: the trainer's max_epochs)")
        centre: bool = Field(True, description="decode displacements from the mean training "
                             "structure, x' = x̄ + D (z − z̄) (data centred per atom); false: the "
                             "paper's x' = D z on raw coordinates")
        force_threshold: float | None = Field(
            None, gt=0, description="§2.3 variant: the force term of Eq. 2/3 switches on once a "
            "training batch's reconstruction term falls below this (Å²), and stays on; none: from "
            "the start (the paper's choice)")
        init: Literal["graph", "random"] = Field(
            "graph", description="initial logits: 'graph' = a random connected partition of the "
            "molecular graph (graph-Voronoi cells of N random heavy atoms) plus noise; 'random' = the "
            "paper's N(0, 1) logits")
        init_scale: float = Field(3.0, ge=0, description="logit given to each atom's initial bead "
                                  "with init='graph' (on top of N(0, 1) noise)")
        refit_decoder: bool = Field(True, description="after training, set D to the least-squares "
                                    "solution of Eq. 1 on the training frames for the hard mapping")

    def __init__(self, config: Config, metadata: dict):
        super().__init__()
        self.config = config
        n = int(metadata["n_atoms"])
        if config.n_beads > n:
            raise sciml.UserError(f"model.n_beads={config.n_beads} exceeds the molecule's {n} atoms; "
                                  f"use 1..{n}")
        self.n_atoms, self.n_beads = n, config.n_beads
        # log φ, random init: the source of the paper's mapping multiplicity (§3.3)
        logits = torch.randn(n, config.n_beads)
        bonds = metadata.get("bonds")
        if config.init == "graph" and bonds is not None:
            part = graph_voronoi_partition(n, bonds, config.n_beads, metadata.get("atomic_numbers"))
            logits += config.init_scale * nn.functional.one_hot(torch.as_tensor(part), config.n_beads)
        self.logits = nn.Parameter(logits)
        # D starts near 1/N: every atom reconstructed near the beads' mean (the molecule's centre)
        self.decoder = nn.Parameter((1.0 + 0.1 * torch.randn(n, config.n_beads)) / config.n_beads)
        self.register_buffer("tau", torch.tensor(float(config.tau_start)))
        self.register_buffer("rec_max", torch.tensor(0.0))
        self.register_buffer("force_max", torch.tensor(0.0))
        # 1 once the force term is on (always, without force_threshold); a buffer: survives resume
        self.register_buffer("force_on", torch.tensor(0.0 if config.force_threshold else 1.0))
        ref = metadata.get("reference")
        self.register_buffer("reference", torch.tensor(ref, dtype=torch.float32) if ref is not None
                             else torch.zeros(n, 3))
        masses = metadata.get("masses")
        self.register_buffer("masses", torch.tensor(masses, dtype=torch.float32) if masses is not None
                             else torch.ones(n))
        mean = metadata.get("mean_structure") if config.centre else None
        if config.centre and mean is None:
            raise sciml.UserError("model.centre=true needs the dataset's mean training structure "
                                  "(metadata 'mean_structure'); set model.centre=false")
        self.register_buffer("centre", torch.tensor(mean, dtype=torch.float32) if mean is not None
                             else torch.zeros(n, 3))
        self.align = bool(metadata.get("align", False))
        self.com_offset_A = float(metadata.get("com_offset_A", 0.0))

    # ------------------------------------------------------------------ mapping
    def assignment(self, hard: bool | None = None) -> torch.Tensor:
        """C (n_atoms, n_beads): a Gumbel-softmax sample at temperature τ in training, the
        one-hot argmax in evaluation (or as ``hard`` says). Rows sum to 1."""
        hard = (not self.training) if hard is None else hard
        if hard:
            return nn.functional.one_hot(self.logits.argmax(1), self.n_beads).to(self.logits.dtype)
        return nn.functional.gumbel_softmax(self.logits, tau=float(self.tau), hard=False, dim=1)

    @staticmethod
    def encoding(c: torch.Tensor) -> torch.Tensor:
        """E (n_beads, n_atoms) from C (n_atoms, n_beads): E_ij = C_ji / Σ_j C_ji.

        An empty bead (Σ_j C_ji below ``EMPTY_BEAD`` = 1e-6 atoms) is not normalised: its row
        stays ≈ 0 instead of dividing by (almost) zero, which overflowed to NaN gradients when the
        mapping collapsed into one bead at τ = 0.1.
        """
        return (c / c.sum(0).clamp_min(EMPTY_BEAD)).T

    @property
    def assignment_matrix(self) -> torch.Tensor:
        """Hard assignment (n_atoms, n_beads), one-hot: atom j belongs to bead argmax_i log φ_ji."""
        return nn.functional.one_hot(self.logits.detach().argmax(1), self.n_beads).float()

    @property
    def bead_of_atom(self) -> list[int]:
        """Bead index of every atom (n_atoms,)."""
        return self.logits.detach().argmax(1).tolist()

    def forward(self, positions: torch.Tensor, c: torch.Tensor | None = None):
        """Encode and decode.

        Args:
            positions: (batch, n_atoms, 3) Å.
            c: optional assignment (n_atoms, n_beads); default :meth:`assignment`.

        Returns:
            ``(z, x_rec, c)``: bead coordinates (batch, n_beads, 3) Å, reconstruction
            (batch, n_atoms, 3) Å and the assignment used.
        """
        if c is None:
            c = self.assignment()
        e = self.encoding(c)
        z = torch.einsum("ij,bjd->bid", e, positions)
        z_mean = e @ self.centre  # (n_beads, 3); zero when not centred
        x_rec = self.centre + torch.einsum("ji,bid->bjd", self.decoder, z - z_mean)
        return z, x_rec, c

    @torch.no_grad()
    def fit_decoder(self, positions: torch.Tensor) -> float:
        """Set D to the exact minimiser of the reconstruction term (Eq. 1) for the hard
        assignment: least squares over ``positions`` (frames, n_atoms, 3) Å, the three Cartesian
        components pooled (D is shared by x, y, z). Returns the mean-square error (Å², per atom
        and frame, summed over x, y, z), i.e. L_rec on ``positions``.

        An empty bead's column is left as it is (it multiplies a zero coordinate).
        """
        c = self.assignment(hard=True)
        e = self.encoding(c)
        x = positions.to(self.decoder.dtype) - self.centre
        u = torch.einsum("ij,bjd->bid", e, x)  # (F, N, 3) centred bead coordinates
        a = u.permute(0, 2, 1).reshape(-1, self.n_beads).double()  # (3F, N)
        y = x.permute(0, 2, 1).reshape(-1, self.n_atoms).double()  # (3F, n)
        used = c.sum(0) > 0
        sol = torch.linalg.lstsq(a[:, used], y, driver="gelsd").solution  # (N_used, n)
        d = self.decoder.detach().clone()
        d[:, used] = sol.T.to(d.dtype)
        self.decoder.copy_(d)
        _, x_rec, _ = self(positions.to(self.decoder.dtype), c)
        return float(((positions - x_rec) ** 2).sum(-1).mean())

    @staticmethod
    def cg_forces(forces: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Instantaneous CG forces F_i = Σ_j C_ji f_j (batch, n_beads, 3) kcal/mol/Å from atomic
        forces (batch, n_atoms, 3) kcal/mol/Å (Wang & Gómez-Bombarelli 2019)."""
        return torch.einsum("ji,bjd->bid", c, forces)

    def preprocess(self, positions: torch.Tensor) -> torch.Tensor:
        """Align new frames (batch, n_atoms, 3) Å to the training reference (COM + Kabsch, then
        the centre of mass at (c, c, c) Å, c = ``com_offset_A``) when the model was trained on
        aligned data; identity otherwise."""
        if not self.align:
            return positions
        from sciml_cgmap.alignment import align_frames

        x, _ = align_frames(positions.detach().cpu().double().numpy(), self.reference.cpu().double().numpy(),
                            self.masses.cpu().double().numpy())
        x = x + self.com_offset_A
        return torch.as_tensor(x, dtype=positions.dtype, device=positions.device)

    # ------------------------------------------------------------------ training
    def tau_at(self, epoch: int, max_epochs: int) -> float:
        """Stepwise temperature schedule: ``tau_steps`` geometric levels from ``tau_start`` to
        ``tau_end`` over ``anneal_epochs`` epochs, at most and by default ``max_epochs`` (so τ
        always reaches ``tau_end`` in training); epochs count from 0."""
        c = self.config
        span = max(1, min(c.anneal_epochs or max_epochs, max_epochs))
        if c.tau_steps == 1:
            return c.tau_end
        level = min(c.tau_steps - 1, int(epoch * c.tau_steps / span))
        return c.tau_start * (c.tau_end / c.tau_start) ** (level / (c.tau_steps - 1))

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        self.tau.fill_(self.tau_at(epoch, max_epochs))

    def losses(self, batch: dict, update_max: bool) -> dict[str, torch.Tensor]:
        """Loss terms of one batch ``{"positions", "forces"}`` (batch, n_atoms, 3).

        Returns ``loss`` (per ``Config.loss``), ``rec`` (Eq. 1, Å²), ``force`` (mean squared CG
        force, (kcal/mol/Å)²), ``rmsd`` (Å, mean over frames) and ``n_used_beads``.
        """
        x, f = batch["positions"], batch["forces"]
        _, x_rec, c = self(x)
        sq = ((x - x_rec) ** 2).sum(-1)  # (batch, n_atoms) Å²
        rec = sq.mean()
        force = (self.cg_forces(f, c) ** 2).sum(-1).mean()
        cfg = self.config
        if update_max and cfg.force_threshold and rec.detach() < cfg.force_threshold:
            self.force_on.fill_(1.0)
        if cfg.loss == "rec":
            loss = rec
        elif cfg.loss == "force":
            loss = rec + self.force_on * cfg.rho * force
        else:
            if update_max:
                self.rec_max.copy_(torch.maximum(self.rec_max, rec.detach()))
                self.force_max.copy_(torch.maximum(self.force_max, force.detach()))
            alpha = cfg.alpha if self.force_on > 0 else 0.0
            loss = self.normalized_loss(rec, force, self.rec_max, self.force_max, alpha)
        used = float(len(torch.unique(c.detach().argmax(1))))
        return {"loss": loss, "rec": rec.detach(), "force": force.detach(),
                "rmsd": sq.detach().mean(1).sqrt().mean(), "n_used_beads": torch.tensor(used),
                "tau": self.tau.detach().clone(), "force_on": self.force_on.detach().clone()}

    @staticmethod
    def normalized_loss(rec, force, rec_max, force_max, alpha: float) -> torch.Tensor:
        """Eq. 3: (1 − α) L_rec / max L_rec + α L_force / max L_force (dimensionless, ≤ 1 when
        the maxima include the current values); a zero maximum counts as 1."""
        def safe(m):
            return torch.where(m > 0, m, torch.ones_like(m))

        return (1 - alpha) * rec / safe(rec_max) + alpha * force / safe(force_max)

    def training_step(self, batch, epoch):
        return self.losses(batch, update_max=True)

    def validation_step(self, batch, epoch):
        out = self.losses(batch, update_max=False)
        out.pop("tau")
        out.pop("force_on")
        return out
