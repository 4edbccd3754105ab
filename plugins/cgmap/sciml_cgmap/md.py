"""Training data by molecular dynamics with RDKit's MMFF94 force field.

Two paths produce the same physics:

* :func:`run_nve` — a velocity-Verlet integrator in pure numpy over RDKit's MMFF94
  (units: Å, fs, amu, kcal/mol; forces kcal/mol/Å). This is the fast default.
* :class:`MMFFCalculator` — an ASE ``Calculator`` wrapping the same force field (eV, eV/Å,
  as ASE expects), usable with ``ase.md.verlet.VelocityVerlet`` and for users' own
  trajectories (:func:`load_trajectory`).

Paper (cgmap-vae-coarse-grained-mapping, §2.1): 10^4 configurations of an isolated molecule
sampled from a 1 ns NVE trajectory with a 1 fs step. The paper used Dreiding for ethane and
ethylbenzene, GLYCAM06 for CTA and PCFF for PIM-1; MMFF94 is used here because RDKit ships it,
with RDKit's UFF as the fallback for molecules MMFF94 has no parameters for (see
docs/plugins/cgmap.md).

Temperature: an NVE run started at the energy minimum with velocities drawn at T equilibrates
near T/2 (equipartition between kinetic and potential energy). :func:`run_nve` therefore first
thermalises the molecule with ASE's Langevin thermostat (``equilibration_ps``), rescales the
velocities so that the total energy equals the thermostatted run's mean total energy, then runs
the NVE production. :func:`md_statistics` measures the production's kinetic temperature and
energy drift.

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
    """RDKit molecule with explicit hydrogens from ``smiles``; its force field (:func:`force_field_name`)
    is MMFF94, or UFF when MMFF94 lacks parameters for it.

    Raises:
        UserError: ``smiles`` cannot be parsed, or neither MMFF94 nor UFF has parameters for it.
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
        if not AllChem.UFFHasAllMoleculeParams(mol):
            raise UserError(f"dataset.smiles={smiles!r}: neither MMFF94 nor UFF has parameters for "
                            "this molecule; use an organic molecule these force fields cover")
        mol.SetProp("_sciml_force_field", "UFF")
    return mol


def force_field_name(mol) -> str:
    """``"MMFF94"`` or ``"UFF"`` (the fallback chosen by :func:`molecule_from_smiles`)."""
    return mol.GetProp("_sciml_force_field") if mol.HasProp("_sciml_force_field") else "MMFF94"


def mmff_force_field(mol, positions=None):
    """Force field of ``mol`` (with Hs): MMFF94, or UFF when :func:`force_field_name` says so;
    ``positions`` (n_atoms, 3) Å set the conformer."""
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
    if force_field_name(mol) == "UFF":
        ff = AllChem.UFFGetMoleculeForceField(mol)
    else:
        props = AllChem.MMFFGetMoleculeProperties(mol)
        ff = AllChem.MMFFGetMoleculeForceField(mol, props)
    if ff is None:
        raise UserError(f"{force_field_name(mol)} could not be set up for this molecule")
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
    """Embed ``mol`` in 3D with ETKDG (``seed``) and minimise with its force field (MMFF94 or UFF);
    returns (n_atoms, 3) Å.

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
        wall_time_s: wall-clock seconds of the integration (production).
        n_steps: integration steps done (production).
        equilibration: the thermostat's :class:`Equilibration`, or None.
    """

    positions: np.ndarray
    forces: np.ndarray
    energies: np.ndarray
    total_energies: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_time_s: float = 0.0
    n_steps: int = 0
    equilibration: Equilibration | None = None


def kinetic_temperature(kinetic_kcal_mol, n_atoms: int):
    """Instantaneous kinetic temperature (K) of kinetic energies (kcal/mol) of a molecule of
    ``n_atoms`` atoms with its centre-of-mass momentum removed: T = 2K / ((3n − 3) k_B)."""
    dof = max(1, 3 * int(n_atoms) - 3)
    return 2.0 * np.asarray(kinetic_kcal_mol, float) / (dof * KB_KCAL_PER_MOL_K)


@dataclass
class Equilibration:
    """Result of :func:`equilibrate_langevin`.

    Attributes:
        positions: (n_atoms, 3) Å at the end of the thermostatted run.
        velocities: (n_atoms, 3) Å/fs, rescaled so that the total energy equals ``target_energy``.
        target_energy: mean potential + kinetic energy (kcal/mol) over the second half of the run.
        temperature_K: mean kinetic temperature over the second half (K, :func:`kinetic_temperature`).
        n_steps: thermostatted steps; ``wall_time_s``: their wall time (s).
    """

    positions: np.ndarray
    velocities: np.ndarray
    target_energy: float
    temperature_K: float
    n_steps: int
    wall_time_s: float


def equilibrate_langevin(mol, positions: np.ndarray, temperature_K: float, n_steps: int,
                         timestep_fs: float = 1.0, friction_per_fs: float = 0.01,
                         seed: int = 0) -> Equilibration:
    """Thermalise ``mol`` at ``temperature_K`` with ASE's Langevin thermostat
    (``ase.md.langevin.Langevin``, centre of mass fixed by ``ase.constraints.FixCom``) over the force field of
    :class:`MMFFCalculator`, starting from ``positions`` (n_atoms, 3) Å with Maxwell–Boltzmann
    velocities.

    The canonical mean total energy <U + K> is taken over the second half of the ``n_steps``
    steps; the final velocities are rescaled so that U + K equals it, so that a following NVE
    run samples the microcanonical shell at the canonical mean energy (its mean kinetic
    temperature is then close to ``temperature_K``, not a draw of one snapshot's energy).

    Raises:
        UserError: ``n_steps`` < 2 or non-positive ``temperature_K``/``timestep_fs``/``friction_per_fs``.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    if n_steps < 2 or temperature_K <= 0 or timestep_fs <= 0 or friction_per_fs <= 0:
        raise UserError(f"equilibration: n_steps={n_steps} (>= 2), temperature_K={temperature_K}, "
                        f"timestep_fs={timestep_fs}, friction_per_fs={friction_per_fs} (all > 0) needed")
    rng = np.random.default_rng(seed)
    atoms = mol_to_atoms(mol, positions)
    atoms.calc = MMFFCalculator(mol)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())  # ASE's advice: Langevin(fixcm=True) is biased for small molecules
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                   friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    to_kcal = 1.0 / kcal_per_mol_in_ev()
    totals, kinetics = [], []

    def record():
        kin = atoms.get_kinetic_energy() * to_kcal
        kinetics.append(kin)
        totals.append(atoms.get_potential_energy() * to_kcal + kin)

    t0 = time.perf_counter()
    dyn.attach(record, interval=1)
    dyn.run(n_steps)
    wall = time.perf_counter() - t0
    half = len(totals) // 2
    target = float(np.mean(totals[half:]))
    x = atoms.get_positions()
    v = atoms.get_velocities() * units.fs  # Å/(ASE time) -> Å/fs
    m = atomic_masses(mol)
    v -= (m[:, None] * v).sum(0) / m.sum()
    ff = mmff_force_field(mol)
    u, _ = energy_forces(ff, x)
    k_now, k_want = kinetic_energy(m, v), target - u
    if k_now > 0 and k_want > 0:
        v *= np.sqrt(k_want / k_now)
    t_mean = float(kinetic_temperature(np.mean(kinetics[half:]), len(m)))
    return Equilibration(x, v, target, t_mean, n_steps, wall)


def run_nve(mol, n_frames: int, save_every: int = 10, timestep_fs: float = 1.0,
            temperature_K: float = 300.0, seed: int = 0, progress=None,
            equilibration_steps: int = 0, friction_per_fs: float = 0.01) -> Trajectory:
    """NVE molecular dynamics of one molecule with velocity Verlet over MMFF94 (paper §2.1).

    Embeds ``mol`` in 3D (seeded) and minimises. With ``equilibration_steps`` > 0 the molecule
    is first thermalised at ``temperature_K`` (:func:`equilibrate_langevin`, ASE Langevin,
    ``friction_per_fs``); otherwise Maxwell–Boltzmann velocities at ``temperature_K`` start the
    run from the minimum (it then equilibrates near ``temperature_K``/2). The NVE production
    integrates ``n_frames * save_every`` steps of ``timestep_fs``, saving every
    ``save_every``-th step. Paper protocol: ``n_frames=10_000, save_every=100, timestep_fs=1`` (1 ns).

    Args:
        mol: RDKit molecule with explicit hydrogens (:func:`molecule_from_smiles`).
        progress: optional ``callable(iterable, total) -> iterable`` (a progress bar).

    Returns:
        :class:`Trajectory` with positions (n_frames, n_atoms, 3) Å, forces kcal/mol/Å,
        energies kcal/mol; ``equilibration`` holds the thermostat's :class:`Equilibration` or None.
    """
    if n_frames < 1 or save_every < 1 or timestep_fs <= 0:
        raise UserError(f"n_frames={n_frames}, save_every={save_every}, timestep_fs={timestep_fs}: "
                        "all must be positive")
    rng = np.random.default_rng(seed)
    x = embed_and_minimise(mol, seed=seed)
    ff = mmff_force_field(mol)
    m = atomic_masses(mol)
    inv_m = (ACC_KCAL_MOL_A_AMU_TO_A_FS2 / m)[:, None]
    equil = None
    if equilibration_steps > 0:
        equil = equilibrate_langevin(mol, x, temperature_K, equilibration_steps, timestep_fs,
                                     friction_per_fs, seed=seed)
        x, v = equil.positions.copy(), equil.velocities.copy()
    else:
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
    return Trajectory(pos, frc, ene, tot, time.perf_counter() - t0, n_frames * save_every, equil)


def md_statistics(energies: np.ndarray, total_energies: np.ndarray, n_atoms: int,
                  frame_interval_fs: float) -> dict[str, float]:
    """Measured state of an NVE production run (the dataset's MD metrics).

    Args:
        energies, total_energies: (n_frames,) potential and total energy, kcal/mol.
        frame_interval_fs: time between saved frames (fs).

    Returns:
        ``md_temperature_K`` (mean kinetic temperature, :func:`kinetic_temperature`),
        ``md_temperature_std_K`` (its standard deviation over frames),
        ``md_energy_drift_kcal_mol_per_ns`` (slope of a least-squares line through the total
        energy against time), ``md_energy_drift_kcal_mol`` (that slope times the run's length),
        ``md_total_energy_std_kcal_mol`` and ``md_potential_energy_std_kcal_mol`` (fluctuations
        over frames, for scale). NaN when the energies are unknown (a user's file without them).
    """
    u = np.asarray(energies, float)
    tot = np.asarray(total_energies, float)
    keys = ("md_temperature_K", "md_temperature_std_K", "md_energy_drift_kcal_mol_per_ns",
            "md_energy_drift_kcal_mol", "md_total_energy_std_kcal_mol", "md_potential_energy_std_kcal_mol")
    if len(tot) < 2 or len(tot) != len(u) or not np.all(np.isfinite(tot)) or not np.all(np.isfinite(u)):
        return dict.fromkeys(keys, float("nan"))
    temp = kinetic_temperature(tot - u, n_atoms)
    t_ns = np.arange(len(tot)) * frame_interval_fs * 1e-6
    slope = float(np.polyfit(t_ns, tot, 1)[0])
    return dict(zip(keys, (float(temp.mean()), float(temp.std()), slope, slope * float(t_ns[-1]),
                           float(tot.std()), float(u.std())), strict=True))


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
                temperature_K: float = 300.0, seed: int = 0, equilibration_steps: int = 0,
                friction_per_fs: float = 0.01) -> Trajectory:
    """Same protocol as :func:`run_nve` (thermostat included) through
    ``ase.md.verlet.VelocityVerlet`` and :class:`MMFFCalculator` (interoperable, slower).
    Returns kcal/mol units like :func:`run_nve`."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    x = embed_and_minimise(mol, seed=seed)
    equil = None
    if equilibration_steps > 0:
        equil = equilibrate_langevin(mol, x, temperature_K, equilibration_steps, timestep_fs,
                                     friction_per_fs, seed=seed)
        x = equil.positions
    atoms = mol_to_atoms(mol, x)
    atoms.calc = MMFFCalculator(mol)
    if equil is not None:
        atoms.set_velocities(equil.velocities / units.fs)
    else:
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
                      time.perf_counter() - t0, n_frames * save_every, equil)


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
