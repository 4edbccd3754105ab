"""``cgmap:md`` — MD trajectories of one molecule as training data (paper §2.1).

Frames come from NVE molecular dynamics with MMFF94 (:mod:`sciml_cgmap.md`) or from a user's
ASE-readable trajectory (``path``). Prepared arrays are cached by content hash under
``context.cache_dir``.

The split is in contiguous blocks of time, train | val | test (80/10/10 by default): frames
10 fs apart are strongly correlated, and a random split would put every test frame between two
training frames (issue 11). The paper (§3.1) split its frames at random.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import sciml
from pydantic import Field
from sciml import content_hash, file_sha256

#: Paper protocol (§2.1): 1 ns NVE, 1 fs step, 10^4 saved frames.
PAPER_SETTINGS = {"n_frames": 10_000, "save_every": 100, "timestep_fs": 1.0}

#: The paper's four systems (Fig. 1) as ``dataset.molecule`` presets: SMILES (hydrogens are
#: added) and what the molecule is. The two repeat units are capped with methyl groups where
#: the chain continues (sources and the reasoning: docs/plugins/cgmap.md).
MOLECULES = {
    "ethane": ("CC", "ethane, C2H6"),
    "ethylbenzene": ("CCc1ccccc1", "ethylbenzene, C8H10"),
    "cta": ("CO[C@@H]1O[C@H](COC(C)=O)[C@@H](OC)[C@H](OC(C)=O)[C@H]1OC(C)=O",
            "cellulose triacetate repeat unit capped as methyl 2,3,6-tri-O-acetyl-4-O-methyl-"
            "beta-D-glucopyranoside, C14H22O9 (methyl caps on O1 and O4, the glycosidic oxygens)"),
    "pim1": ("COc1cc2c(cc1OC)C1(CC2(C)C)CC(C)(C)c2cc3c(cc21)Oc1c(C#N)c(OC)c(OC)c(C#N)c1O3",
             "PIM-1 repeat unit (spirobisindane + dicyanobenzodioxin) with methoxy caps on the "
             "two open catechol oxygens and the two open ring positions, C33H32N2O6"),
}
#: SMILES of the presets (kept for callers of the former two-molecule table).
SMILES = {k: v[0] for k, v in MOLECULES.items()}


def time_block_split(n: int, train_fraction: float, val_fraction: float) -> dict[str, np.ndarray]:
    """Frame indices of contiguous blocks of time: train = the first frames, val = the next,
    test = the last (``{"train", "val", "test"}`` -> sorted int arrays covering ``range(n)``).

    Consecutive MD frames are correlated; blocks keep every test frame away from the training
    frames (the validation block lies between them).

    Raises:
        sciml.UserError: a split would be empty.
    """
    n_train = int(round(train_fraction * n))
    n_val = int(round(val_fraction * n))
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise sciml.UserError(f"{n} frames cannot be split {train_fraction}/{val_fraction}/rest "
                              "with at least one frame in each split; use more frames")
    idx = np.arange(n)
    return {"train": idx[:n_train], "val": idx[n_train:n_train + n_val], "test": idx[n_train + n_val:]}


class _Split:
    """A torch Dataset of frames: items ``{"positions": (n_atoms, 3) Å, "forces": (n_atoms, 3) kcal/mol/Å}``."""

    def __init__(self, positions: np.ndarray, forces: np.ndarray):
        import torch

        self.positions = torch.as_tensor(positions, dtype=torch.float32)
        self.forces = torch.as_tensor(forces, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i):
        return {"positions": self.positions[i], "forces": self.forces[i]}


class MDTrajectoryDataset(sciml.Dataset):
    """Frames of one molecule from MMFF94 NVE MD (or a user's trajectory file).

    ``metadata`` (passed to the model): ``n_atoms``, ``atomic_numbers``, ``symbols``, ``masses``
    (amu), ``bonds`` (list of atom-index pairs: the molecular graph / adjacency), ``smiles``,
    ``canonical_ranks`` (RDKit ``CanonicalRankAtoms(breakTies=False)``: symmetry classes),
    ``reference`` ((n_atoms, 3) Å, centre-of-mass-centred frame 0, the alignment target),
    ``mean_structure`` ((n_atoms, 3) Å, mean of the training frames as the model sees them),
    ``align`` and ``com_offset_A`` (aligned frames are centred at (c, c, c) Å), ``force_field``,
    and the production run's measured ``md_*`` metrics (:meth:`md_metrics`).

    Why the offset: the paper feeds raw simulation coordinates, presumably uncentred (its 2-bead
    ethane is reconstructed planar; centred it would be a line). For a centred molecule the bead
    vectors obey Σ_i n_i z_i ≈ 0 and span only N − 1 dimensions, so the bias-free linear decoder
    x' = D z loses one (ethane, 3 beads, least-squares optimal D for the best mapping: 0.63 Å RMSD
    centred, 0.09 Å with an offset; 2 beads: planar with the offset, as in the paper).

    Raises:
        sciml.UserError: bad SMILES, unreadable file, split fractions that leave no test data.
    """

    class Config(sciml.ComponentConfig):
        molecule: Literal["ethane", "ethylbenzene", "cta", "pim1"] | None = Field(
            None, description="one of the paper's four systems (Fig. 1): ethane, ethylbenzene, cta "
            "(cellulose triacetate unit), pim1 (PIM-1 unit); default ethane when neither `smiles` nor "
            "`path` is given")
        smiles: str | None = Field(None, description="molecule as SMILES instead of a preset; "
                                   "hydrogens are added; with `path`: optional, for MMFF94 forces and bonds")
        path: str | None = Field(None, description="optional user trajectory, any ASE-readable "
                                 "format (.xyz, .extxyz, .traj); forces read from it or computed "
                                 "with MMFF94 from `smiles`")
        engine: Literal["numpy", "ase"] = Field("numpy", description="MD integrator: pure numpy "
                                                "velocity Verlet, or ase.md.verlet.VelocityVerlet")
        temperature_K: float = Field(300.0, gt=0, le=5000, description="temperature of the Langevin "
                                     "equilibration, and so of the NVE production (K)")
        equilibration_ps: float = Field(10.0, ge=0, le=10_000, description="Langevin (ASE) "
                                        "equilibration at temperature_K before the NVE production "
                                        "(ps); 0: NVE from the energy minimum with Maxwell-Boltzmann "
                                        "velocities at temperature_K (it settles near temperature_K/2)")
        friction_per_fs: float = Field(0.01, gt=0, le=1, description="Langevin friction (1/fs)")
        n_frames: int = Field(2000, ge=10, le=1_000_000, description="saved frames (paper: 10^4)")
        save_every: int = Field(10, ge=1, description="MD steps between saved frames (paper: 100)")
        timestep_fs: float = Field(1.0, gt=0, le=5, description="integration step (fs; paper: 1)")
        md_seed: int = Field(0, ge=0, description="seed of the 3D embedding and velocities")
        train_fraction: float = Field(0.8, gt=0, lt=1, description="fraction of frames for training: "
                                      "the first block of the trajectory in time")
        val_fraction: float = Field(0.1, gt=0, lt=1, description="fraction for validation, the "
                                    "block after the training frames; test = the last block")
        align: bool = Field(True, description="remove the centre of mass and Kabsch-align every "
                            "frame (and its forces) to frame 0 (paper §3.4.2)")
        com_offset_A: float = Field(1.0, ge=0, le=1000, description="aligned frames have their "
                                    "centre of mass at (c, c, c) Å (the paper's inputs are raw, "
                                    "presumably uncentred, coordinates); with c = 0 the bias-free linear decoder loses "
                                    "one dimension")

    def __init__(self, config, context):
        super().__init__(config, context)
        self.metadata = {}
        self._arrays = None

    @property
    def smiles(self) -> str | None:
        """The molecule's SMILES: ``config.smiles``, else the ``molecule`` preset's, else ethane
        when no ``path`` is given.

        Raises:
            sciml.UserError: both ``molecule`` and ``smiles`` are set.
        """
        c = self.config
        if c.molecule and c.smiles:
            raise sciml.UserError(f"dataset.molecule={c.molecule!r} and dataset.smiles={c.smiles!r} "
                                  "are both set; use one of them")
        if c.molecule:
            return MOLECULES[c.molecule][0]
        return c.smiles if c.smiles or c.path else MOLECULES["ethane"][0]

    # ------------------------------------------------------------------ preparation
    def _data_key(self) -> dict:
        c = self.config
        key = {"v": 3, "smiles": self.smiles, "align": c.align, "com_offset_A": c.com_offset_A}
        if c.path:
            path = Path(c.path).expanduser()
            if not path.is_file():
                raise sciml.UserError(f"dataset.path={c.path!r} does not exist (expected an "
                                      "ASE-readable trajectory such as traj.xyz or traj.traj)")
            key.update(path_sha256=file_sha256(path))
        else:
            key.update(engine=c.engine, temperature_K=c.temperature_K, n_frames=c.n_frames,
                       save_every=c.save_every, timestep_fs=c.timestep_fs, md_seed=c.md_seed,
                       equilibration_ps=c.equilibration_ps, friction_per_fs=c.friction_per_fs)
        return key

    def _build(self):
        from sciml_cgmap import md
        from sciml_cgmap.alignment import align_frames, remove_com

        c = self.config
        if c.path:
            traj = md.load_trajectory(c.path, smiles=self.smiles)
            mol = traj["mol"]
            pos, frc, ene = traj["positions"], traj["forces"], traj["energies"]
            tot = np.full(len(ene), np.nan)
            symbols, numbers, masses, bonds = traj["symbols"], traj["numbers"], traj["masses"], traj["bonds"]
            wall, steps, equil, ff_name = 0.0, 0, None, "file"
        else:
            mol = md.molecule_from_smiles(self.smiles)
            run = md.run_nve_ase if c.engine == "ase" else md.run_nve
            t = run(mol, n_frames=c.n_frames, save_every=c.save_every, timestep_fs=c.timestep_fs,
                    temperature_K=c.temperature_K, seed=c.md_seed,
                    equilibration_steps=int(round(c.equilibration_ps * 1000 / c.timestep_fs)),
                    friction_per_fs=c.friction_per_fs)
            pos, frc, ene, tot = t.positions, t.forces, t.energies, t.total_energies
            equil, ff_name = t.equilibration, md.force_field_name(mol)
            symbols = [a.GetSymbol() for a in mol.GetAtoms()]
            numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
            masses, bonds = md.atomic_masses(mol), md.bonds_from_mol(mol)
            wall, steps = t.wall_time_s, t.n_steps
        ranks = md.canonical_ranks(symbols, bonds, mol=mol)
        reference = remove_com(pos[0], masses)
        if c.align:
            pos, frc = align_frames(pos, reference, masses, frc)
            pos = pos + c.com_offset_A
        arrays = {"positions": pos.astype(np.float32), "forces": frc.astype(np.float32),
                  "energies": np.asarray(ene, float), "total_energies": np.asarray(tot, float),
                  "masses": np.asarray(masses, float),
                  "atomic_numbers": np.asarray(numbers, np.int64),
                  "bonds": np.asarray(bonds, np.int64).reshape(-1, 2),
                  "canonical_ranks": np.asarray(ranks, np.int64), "reference": reference}
        meta = {"symbols": list(symbols), "md_wall_time_s": wall, "md_steps": steps,
                "force_field": ff_name,
                "md_equilibration_temperature_K": float("nan") if equil is None else equil.temperature_K,
                "md_equilibration_wall_time_s": 0.0 if equil is None else equil.wall_time_s}
        return arrays, meta

    def prepare(self) -> None:
        """Run (or load from the cache) the MD and build ``metadata``; idempotent."""
        if self._arrays is not None:
            return
        c = self.config
        if c.train_fraction + c.val_fraction >= 1:
            raise sciml.UserError(f"dataset.train_fraction={c.train_fraction} + dataset.val_fraction="
                                  f"{c.val_fraction} must be < 1 to leave a test split")
        if not c.path:  # validate early: one clear message before any work
            from sciml_cgmap.md import molecule_from_smiles

            molecule_from_smiles(self.smiles)
        key = self._data_key()
        self._hash = content_hash(key)
        cache = Path(self.context.cache_dir) / "cgmap" / f"md-{self._hash}.npz"
        arrays, meta = sciml.cached_arrays(cache, self._build)
        self._arrays, self._meta = arrays, meta
        self._splits = time_block_split(len(arrays["positions"]), c.train_fraction, c.val_fraction)
        self.metadata = {
            "n_atoms": int(arrays["positions"].shape[1]),
            "atomic_numbers": arrays["atomic_numbers"].tolist(),
            "symbols": list(meta["symbols"]),
            "masses": arrays["masses"].tolist(),
            "bonds": arrays["bonds"].tolist(),
            "smiles": self.smiles,
            "canonical_ranks": arrays["canonical_ranks"].tolist(),
            "reference": arrays["reference"].tolist(),
            # per-atom mean of the training frames only (the model's centring; no val/test frame)
            "mean_structure": arrays["positions"][self._splits["train"]].astype(float).mean(0).tolist(),
            "align": bool(c.align),
            "com_offset_A": float(c.com_offset_A),
            "md_wall_time_s": float(meta.get("md_wall_time_s", 0.0)),
            "md_steps": int(meta.get("md_steps", 0)),
            "force_field": str(meta.get("force_field", "")),
            "md_equilibration_wall_time_s": float(meta.get("md_equilibration_wall_time_s", 0.0)),
            "md_equilibration_temperature_K": float(meta.get("md_equilibration_temperature_K", float("nan"))),
            **self.md_metrics(),
        }

    def md_metrics(self) -> dict[str, float]:
        """The production run's measured state (:func:`sciml_cgmap.md.md_statistics`): mean
        kinetic temperature (K) and its spread, total-energy drift (kcal/mol per ns and over the
        run) and fluctuations; NaN for a user's trajectory without energies."""
        from sciml_cgmap.md import md_statistics

        c = self.config
        a = self._arrays
        tot = a["total_energies"] if "total_energies" in a else np.full(len(a["energies"]), np.nan)
        return md_statistics(a["energies"], tot, a["positions"].shape[1], c.save_every * c.timestep_fs)

    # ------------------------------------------------------------------ access
    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """Numpy arrays of split ``name``: positions/forces (n, n_atoms, 3) (Å, kcal/mol/Å), energies (n,)."""
        self.prepare()
        idx = self._index(name)
        return {k: self._arrays[k][idx] for k in ("positions", "forces", "energies")}

    def _index(self, name: str) -> np.ndarray:
        if name not in ("train", "val", "test"):
            raise sciml.UserError(f"split {name!r} is unknown; accepted: 'train', 'val', 'test'")
        return self._splits[name]

    def split(self, name):
        """torch Dataset of split ``name`` with items ``{"positions", "forces"}`` (float32)."""
        a = self.arrays(name)
        return _Split(a["positions"], a["forces"])

    def split_indices(self) -> dict[str, list[int]]:
        self.prepare()
        return {k: v.tolist() for k, v in self._splits.items()}

    def fingerprint(self) -> str:
        c = self.config
        return content_hash({"data": self._data_key(), "split": "time_blocks",
                             "fractions": [c.train_fraction, c.val_fraction]})
