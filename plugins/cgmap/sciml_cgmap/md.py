"""Training data by molecular dynamics with RDKit's MMFF94 force field.

Two paths produce the same physics:

* :func:`run_nve` — a velocity-Verlet integrator in pure numpy over RDKit's MMFF94
  (units: Å, fs, amu, kcal/mol; forces kcal/mol/Å). This is the fast default.
* :class:`MMFFCalculator` — an ASE ``Calculator`` wrapping the same force field (eV, eV/Å,
  as ASE expects), usable with ``ase.md.verlet.VelocityVerlet`` and for users' own
  trajectories (:func:`load_trajectory`).

Paper (cgmap-vae-coarse-grained-mapping, §2.1): 10^4 configurations of an isolated molecule
sampled from a 1 ns NVE trajectory with a 1 fs step. The paper used Dreiding for ethane and
ethylbenzene; MMFF94 is used here because RDKit ships it (see docs/plugins/cgmap.md).

RDKit caveat: ``ForceField.CalcGrad(pos)`` is only correct right after ``CalcEnergy(pos)`` at the
same positions; :func:`energy_forces` always calls both, in that order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sciml import UserError

#: Boltzmann constant in kcal/mol/K.
KB_KCAL_PER_MOL_K = 0.0019872041
#: 1 kcal/mol/Å/amu expressed in Å/fs² (acceleration unit conversion).
ACC_KCAL_MOL_A_AMU_TO_A_FS2 = 4.184e-4
#: 1 amu·Å²/fs² expressed in kcal/mol.
KE_AMU_A2_FS2_TO_KCAL_MOL = 1.0 / ACC_KCAL_MOL_A_AMU_TO_A_FS2


def kcal_per_mol_in_ev() -> float:
    """1 kcal/mol in eV, from ASE's CODATA units (≈ 0.0433641)."""
    from ase import units

    return units.kcal / units.mol


def molecule_from_smiles(smiles: str):
    """RDKit molecule with explicit hydrogens from ``smiles``.

    Raises:
        UserError: ``smiles`` cannot be parsed, or MMFF94 has no parameters for it.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles.strip() else None
    if mol is None:
        raise UserError(f"dataset.smiles={smiles!r} is not a valid SMILES string "
                        "(expected e.g. 'CC' for ethane or 'CCc1ccccc1' for ethylbenzene)")
    mol = Chem.AddHs(mol)
    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise UserError(f"dataset.smiles={smiles!r}: MMFF94 has no parameters for this molecule; "
                        "use an organic molecule MMFF94 covers")
    return mol


def mmff_force_field(mol, positions=None):
    """MMFF94 force field of ``mol`` (with Hs); ``positions`` (n_atoms, 3) Å set the conformer."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.Geometry import Point3D

    if mol.GetNumConformers() == 0:
        conf = Chem.Conformer(mol.GetNumAtoms())
        mol.AddConformer(conf, assignId=True)
    if positions is not None:
        conf = mol.GetConformer()
        for i, p in enumerate(np.asarray(positions, dtype=float)):
            conf.SetAtomPosition(i, Point3D(*p))
    props = AllChem.MMFFGetMoleculeProperties(mol)
    ff = AllChem.MMFFGetMoleculeForceField(mol, props)
    if ff is None:
        raise UserError("MMFF94 could not be set up for this molecule")
    return ff


def energy_forces(ff, positions: np.ndarray) -> tuple[float, np.ndarray]:
    """MMFF94 energy (kcal/mol) and forces (n_atoms, 3) kcal/mol/Å at ``positions`` (n_atoms, 3) Å.

    Calls ``CalcEnergy`` before ``CalcGrad`` at the same positions (RDKit needs that order).
    """
    flat = np.asarray(positions, dtype=float).ravel().tolist()
    energy = ff.CalcEnergy(flat)
    grad = np.asarray(ff.CalcGrad(flat), dtype=float).reshape(-1, 3)
    return float(energy), -grad


def embed_and_minimise(mol, seed: int = 0, max_iters: int = 2000) -> np.ndarray:
    """Embed ``mol`` in 3D with ETKDG (``seed``) and minimise with MMFF94; returns (n_atoms, 3) Å.

    Raises:
        UserError: the embedding fails.
    """
    from rdkit.Chem import AllChem

    mol.RemoveAllConformers()
    if AllChem.EmbedMolecule(mol, randomSeed=int(seed)) != 0:
        if AllChem.EmbedMolecule(mol, randomSeed=int(seed), useRandomCoords=True) != 0:
            raise UserError("could not embed the molecule in 3D (RDKit ETKDG failed)")
    ff = mmff_force_field(mol)
    ff.Minimize(maxIts=max_iters)
    return np.asarray(ff.Positions(), dtype=float).reshape(-1, 3)


def atomic_masses(mol) -> np.ndarray:
    """Masses (n_atoms,) in amu."""
    return np.array([a.GetMass() for a in mol.GetAtoms()], dtype=float)


def maxwell_boltzmann(masses: np.ndarray, temperature_K: float, rng: np.random.Generator) -> np.ndarray:
    """Velocities (n_atoms, 3) in Å/fs drawn at ``temperature_K``, centre-of-mass momentum removed."""
    sigma = np.sqrt(KB_KCAL_PER_MOL_K * temperature_K / masses * ACC_KCAL_MOL_A_AMU_TO_A_FS2)
    v = rng.normal(size=(len(masses), 3)) * sigma[:, None]
    v -= (masses[:, None] * v).sum(0) / masses.sum()
    return v


def kinetic_energy(masses: np.ndarray, velocities: np.ndarray) -> float:
    """Kinetic energy in kcal/mol of velocities (n_atoms, 3) Å/fs."""
    return float(0.5 * (masses[:, None] * velocities**2).sum() * KE_AMU_A2_FS2_TO_KCAL_MOL)


@dataclass
class Trajectory:
    """Saved frames of an MD run.

    Attributes:
        positions: (n_frames, n_atoms, 3) Å.
        forces: (n_frames, n_atoms, 3) kcal/mol/Å.
        energies: (n_frames,) potential energy, kcal/mol.
        total_energies: (n_frames,) potential + kinetic, kcal/mol (NaN when unknown).
        wall_time_s: wall-clock seconds of the integration.
        n_steps: integration steps done.
    """

    positions: np.ndarray
    forces: np.ndarray
    energies: np.ndarray
    total_energies: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_time_s: float = 0.0
    n_steps: int = 0


def run_nve(mol, n_frames: int, save_every: int = 10, timestep_fs: float = 1.0,
            temperature_K: float = 300.0, seed: int = 0, progress=None) -> Trajectory:
    """NVE molecular dynamics of one molecule with velocity Verlet over MMFF94 (paper §2.1).

    Embeds ``mol`` in 3D (seeded), minimises, draws Maxwell–Boltzmann velocities at
    ``temperature_K`` (centre-of-mass momentum removed), then integrates
    ``n_frames * save_every`` steps of ``timestep_fs``, saving every ``save_every``-th step.
    Paper protocol: ``n_frames=10_000, save_every=100, timestep_fs=1`` (1 ns).

    Args:
        mol: RDKit molecule with explicit hydrogens (:func:`molecule_from_smiles`).
        progress: optional ``callable(iterable, total) -> iterable`` (a progress bar).

    Returns:
        :class:`Trajectory` with positions (n_frames, n_atoms, 3) Å, forces kcal/mol/Å,
        energies kcal/mol.
    """
    if n_frames < 1 or save_every < 1 or timestep_fs <= 0:
        raise UserError(f"n_frames={n_frames}, save_every={save_every}, timestep_fs={timestep_fs}: "
                        "all must be positive")
    rng = np.random.default_rng(seed)
    x = embed_and_minimise(mol, seed=seed)
    ff = mmff_force_field(mol)
    m = atomic_masses(mol)
    inv_m = (ACC_KCAL_MOL_A_AMU_TO_A_FS2 / m)[:, None]
    v = maxwell_boltzmann(m, temperature_K, rng)
    n_atoms = len(m)
    pos = np.empty((n_frames, n_atoms, 3))
    frc = np.empty((n_frames, n_atoms, 3))
    ene = np.empty(n_frames)
    tot = np.empty(n_frames)
    e, f = energy_forces(ff, x)
    dt = float(timestep_fs)
    half_dt = 0.5 * dt
    frames = range(n_frames) if progress is None else progress(range(n_frames), n_frames)
    t0 = time.perf_counter()
    for k in frames:
        for _ in range(save_every):
            v += half_dt * f * inv_m
            x += dt * v
            e, f = energy_forces(ff, x)
            v += half_dt * f * inv_m
        pos[k] = x
        frc[k] = f
        ene[k] = e
        tot[k] = e + kinetic_energy(m, v)
    return Trajectory(pos, frc, ene, tot, time.perf_counter() - t0, n_frames * save_every)


# --------------------------------------------------------------------------- ASE path

def _calculator_base():
    from ase.calculators.calculator import Calculator, all_changes

    return Calculator, all_changes


class MMFFCalculator(_calculator_base()[0]):
    """ASE Calculator for MMFF94 from RDKit: ``energy`` in eV, ``forces`` in eV/Å.

    Args:
        mol: RDKit molecule with explicit hydrogens, atoms in the same order as the ASE
            ``Atoms`` it will compute (or pass ``smiles``).
        smiles: alternative to ``mol``.

    Raises:
        UserError: the atoms' elements do not match the molecule's, in order.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, mol=None, smiles: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if mol is None:
            if smiles is None:
                raise UserError("MMFFCalculator needs an RDKit molecule or a SMILES string")
            mol = molecule_from_smiles(smiles)
            embed_and_minimise(mol)
        self.mol = mol
        self.symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        self._ff = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=_calculator_base()[1]):
        super().calculate(atoms, properties, system_changes)
        symbols = self.atoms.get_chemical_symbols()
        if symbols != self.symbols:
            raise UserError(f"atoms {''.join(symbols)} do not match the molecule's atoms "
                            f"{''.join(self.symbols)} (same elements in the same order are needed)")
        if self._ff is None:
            self._ff = mmff_force_field(self.mol, self.atoms.get_positions())
        e, f = energy_forces(self._ff, self.atoms.get_positions())
        conv = kcal_per_mol_in_ev()
        self.results["energy"] = e * conv
        self.results["free_energy"] = e * conv
        self.results["forces"] = f * conv


def mol_to_atoms(mol, positions: np.ndarray):
    """ASE ``Atoms`` of ``mol`` at ``positions`` (n_atoms, 3) Å."""
    from ase import Atoms

    return Atoms(symbols=[a.GetSymbol() for a in mol.GetAtoms()], positions=np.asarray(positions))


def run_nve_ase(mol, n_frames: int, save_every: int = 10, timestep_fs: float = 1.0,
                temperature_K: float = 300.0, seed: int = 0) -> Trajectory:
    """Same protocol as :func:`run_nve` through ``ase.md.verlet.VelocityVerlet`` and
    :class:`MMFFCalculator` (interoperable, slower). Returns kcal/mol units like :func:`run_nve`."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    x = embed_and_minimise(mol, seed=seed)
    atoms = mol_to_atoms(mol, x)
    atoms.calc = MMFFCalculator(mol)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    conv = 1.0 / kcal_per_mol_in_ev()
    pos, frc, ene, tot = [], [], [], []
    t0 = time.perf_counter()
    for _ in range(n_frames):
        dyn.run(save_every)
        pos.append(atoms.get_positions())
        frc.append(atoms.get_forces() * conv)
        e = atoms.get_potential_energy()
        ene.append(e * conv)
        tot.append((e + atoms.get_kinetic_energy()) * conv)
    return Trajectory(np.array(pos), np.array(frc), np.array(ene), np.array(tot),
                      time.perf_counter() - t0, n_frames * save_every)


# --------------------------------------------------------------------------- users' files

def bonds_from_mol(mol) -> list[tuple[int, int]]:
    """Bonds as sorted atom-index pairs, from an RDKit molecule."""
    return sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
                  for b in mol.GetBonds())


def bonds_from_geometry(atoms) -> list[tuple[int, int]]:
    """Bonds guessed from one geometry with ASE's neighbour list (covalent radii, ``natural_cutoffs``)."""
    from ase.neighborlist import NeighborList, natural_cutoffs

    nl = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=False)
    nl.update(atoms)
    bonds = set()
    for i in range(len(atoms)):
        for j in nl.get_neighbors(i)[0]:
            bonds.add((min(i, int(j)), max(i, int(j))))
    return sorted(bonds)


def canonical_ranks(symbols: list[str], bonds: list[tuple[int, int]], mol=None) -> list[int]:
    """Symmetry classes of atoms: RDKit ``CanonicalRankAtoms(breakTies=False)``.

    Atoms related by the molecule's graph symmetry get equal ranks. Without ``mol`` a
    molecule is built from ``symbols`` and single ``bonds`` (no sanitisation).
    """
    from rdkit import Chem

    if mol is None:
        rw = Chem.RWMol()
        for s in symbols:
            a = Chem.Atom(s)
            a.SetNoImplicit(True)
            rw.AddAtom(a)
        for i, j in bonds:
            rw.AddBond(int(i), int(j), Chem.BondType.SINGLE)
        mol = rw.GetMol()
        mol.UpdatePropertyCache(strict=False)
    return [int(r) for r in Chem.CanonicalRankAtoms(mol, breakTies=False)]


def load_trajectory(path: str | Path, smiles: str | None = None) -> dict:
    """Read a user's trajectory in any ASE-readable format (``.xyz``, extended XYZ, ``.traj``, ...).

    Forces are read from the file when present (converted eV/Å → kcal/mol/Å); otherwise they
    are computed with MMFF94 when ``smiles`` is given (atoms in the file must be in the order
    of RDKit's ``AddHs(MolFromSmiles(smiles))``).

    Returns:
        dict with ``positions`` (n_frames, n_atoms, 3) Å, ``forces`` (n_frames, n_atoms, 3)
        kcal/mol/Å, ``energies`` (n_frames,) kcal/mol (NaN if unknown), ``symbols``,
        ``numbers``, ``masses`` (amu), ``bonds`` and ``mol`` (RDKit molecule or None).

    Raises:
        UserError: missing/unreadable file, inconsistent frames, atoms not matching
            ``smiles``, or no forces in the file and no ``smiles``.
    """
    import ase.io

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"dataset.path={str(path)!r} does not exist (expected an ASE-readable "
                        "trajectory such as traj.xyz or traj.traj)")
    try:
        frames = ase.io.read(str(path), index=":")
    except Exception as exc:  # ASE raises many types for unreadable files
        raise UserError(f"dataset.path={str(path)!r} could not be read by ASE ({exc}); "
                        "accepted: ASE-readable trajectories such as .xyz, .extxyz, .traj") from exc
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise UserError(f"dataset.path={str(path)!r} holds no frames")
    symbols = frames[0].get_chemical_symbols()
    if any(a.get_chemical_symbols() != symbols for a in frames):
        raise UserError(f"dataset.path={str(path)!r}: frames differ in their atoms; one molecule, "
                        "same atom order in every frame is needed")
    positions = np.array([a.get_positions() for a in frames])
    ev_to_kcal = 1.0 / kcal_per_mol_in_ev()
    mol = None
    if smiles:
        mol = molecule_from_smiles(smiles)
        mol_symbols = [a.GetSymbol() for a in mol.GetAtoms()]
        if mol_symbols != symbols:
            raise UserError(f"dataset.path={str(path)!r}: atoms {''.join(symbols)} do not match "
                            f"dataset.smiles={smiles!r} with hydrogens ({''.join(mol_symbols)}); "
                            "order the file's atoms like RDKit's AddHs(MolFromSmiles(smiles))")
    forces = None
    energies = np.full(len(frames), np.nan)
    try:
        forces = np.array([a.get_forces() for a in frames]) * ev_to_kcal
        energies = np.array([a.get_potential_energy() for a in frames]) * ev_to_kcal
    except Exception:  # no calculator / no stored forces or energies
        pass
    if forces is None:
        if mol is None:
            raise UserError(f"dataset.path={str(path)!r} has no forces; set dataset.smiles to the "
                            "molecule's SMILES so that MMFF94 forces can be computed")
        ff = mmff_force_field(mol, positions[0])
        forces = np.empty_like(positions)
        for k, x in enumerate(positions):
            energies[k], forces[k] = energy_forces(ff, x)
    if mol is not None:
        bonds = bonds_from_mol(mol)
        masses = atomic_masses(mol)
    else:
        bonds = bonds_from_geometry(frames[0])
        masses = frames[0].get_masses()
    return {"positions": positions, "forces": forces, "energies": energies, "symbols": symbols,
            "numbers": frames[0].get_atomic_numbers(), "masses": np.asarray(masses, float),
            "bonds": bonds, "mol": mol}
