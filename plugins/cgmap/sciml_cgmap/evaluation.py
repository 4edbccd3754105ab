"""``cgmap:mapping`` — evaluation and selection of a trained CG mapping (paper §2.4, §3.3, §3.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sciml
from pydantic import Field

#: Colours of beads in figures (RGB, 0..1).
BEAD_COLOURS = [(0.90, 0.62, 0.00), (0.34, 0.71, 0.91), (0.00, 0.62, 0.45), (0.94, 0.89, 0.26),
                (0.00, 0.45, 0.70), (0.84, 0.37, 0.00), (0.80, 0.47, 0.65), (0.6, 0.6, 0.6)]


def rmsd_per_frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMSD (n_frames,) Å between (n_frames, n_atoms, 3) arrays, without re-alignment."""
    return np.sqrt(((x - y) ** 2).sum(-1).mean(-1))


def reconstruct(model, positions: np.ndarray, align: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode/decode frames with the hard assignment.

    Args:
        positions: (n_frames, n_atoms, 3) Å.
        align: first align the frames as the model's training data were (:meth:`CGVAE.preprocess`).

    Returns:
        ``(inputs, beads, reconstruction)``: the (aligned) inputs (n_frames, n_atoms, 3) Å, bead
        coordinates (n_frames, n_beads, 3) Å and the reconstruction (n_frames, n_atoms, 3) Å.
    """
    import torch

    model.eval()
    device = model.logits.device
    x = torch.as_tensor(np.asarray(positions), dtype=torch.float32, device=device)
    with torch.no_grad():
        if align:
            x = model.preprocess(x)
        z, x_rec, _ = model(x, model.assignment(hard=True))
    return x.cpu().numpy(), z.cpu().numpy(), x_rec.cpu().numpy()


def split_metrics(model, arrays: Mapping[str, np.ndarray], prefix: str) -> tuple[dict[str, float], np.ndarray]:
    """Reconstruction metrics of one split with the hard assignment.

    Args:
        arrays: the split's ``positions`` and ``forces`` (n_frames, n_atoms, 3), Å and kcal/mol/Å,
            as the dataset gives them (aligned when the model was trained on aligned frames).
        prefix: ``"val_"`` or ``"test_"``.

    Returns:
        ``({prefix + "rmsd": mean RMSD (Å), prefix + "rmsd_max": max (Å), prefix + "mean_cg_force":
        mean |F_i| over frames and used beads (kcal/mol/Å)}, per-frame RMSD (n_frames,) Å)``.
    """
    x_in, _, x_rec = reconstruct(model, arrays["positions"])
    rmsd = rmsd_per_frame(x_in, x_rec)
    used = sorted(set(model.bead_of_atom))
    c = model.assignment_matrix.cpu().numpy()
    cg_f = np.einsum("ji,fjd->fid", c, arrays["forces"])[:, used]
    return {f"{prefix}rmsd": float(rmsd.mean()), f"{prefix}rmsd_max": float(rmsd.max()),
            f"{prefix}mean_cg_force": float(np.linalg.norm(cg_f, axis=-1).mean())}, rmsd


def mean_structure_rmsd(train_positions: np.ndarray, positions: np.ndarray) -> float:
    """RMSD (Å, mean over frames) of predicting the mean training structure for every frame.

    The trivial baseline of issue 11: ``train_positions`` (n_train, n_atoms, 3) Å are averaged
    per atom, and :func:`rmsd_per_frame` compares that one structure with each of ``positions``
    (n_frames, n_atoms, 3) Å, exactly as the model's reconstruction is compared with its input
    (the same frames, the same alignment and centring, no re-alignment).
    """
    mean = np.asarray(train_positions, float).mean(0)
    x = np.asarray(positions, float)
    return float(rmsd_per_frame(x, np.broadcast_to(mean, x.shape)).mean())


class MappingEvaluator(sciml.Evaluator):
    """Validation- and test-split reconstruction RMSD, the mapping's structure, the rotation study,
    the mean-structure baseline and figures.

    Results (numbers become metrics), each split metric for ``val_`` and ``test_``: ``*_rmsd`` (Å,
    mean over the split's frames; ``val_rmsd`` selects), ``*_rmsd_max`` (Å), ``*_mean_cg_force``
    (kcal/mol/Å, mean |F_i| over frames and used beads); the dataset's MD metrics ``md_*``
    (``md_temperature_K``, ``md_energy_drift_kcal_mol_per_ns``, ...; NaN ones are not metrics);
    ``n_used_beads``,
    ``connectivity_preserving`` (1.0/0.0); the rotation study of paper §3.4.2 on ``n_rotated``
    random test frames: ``test_rmsd_rotated_raw`` (Å, randomly rotated about their centre of
    mass and fed as they are) next to ``test_rmsd_unrotated_subset`` (the same frames unrotated);
    non-numbers ``assignment`` (bead of each atom), ``beads`` (atom indices per bead),
    ``cg_connectivity`` (paper §2.4), ``broken_beads`` and ``mapping_signature`` (equal under the
    molecule's symmetry). :meth:`baselines`: ``mean_structure``. Figures (through
    ``reporter.draw_figure``: a figure that fails never fails the trial): ``mapping.png``
    (molecule coloured by bead), ``cgmap_losses.png`` when the reporter keeps a history.
    """

    class Config(sciml.ComponentConfig):
        rotation_seed: int = Field(0, ge=0, description="seed of the random rotations of §3.4.2")
        n_rotated: int = Field(200, ge=1, description="test frames used in the rotation study")
        figures: bool = Field(True, description="draw mapping.png and cgmap_losses.png")
        min_beads: int = Field(2, ge=1, description="reject mappings using fewer beads (the "
                               "collapse into one bead of paper §3.2); 1 accepts any")

    def evaluate(self, model, data, reporter) -> dict[str, Any]:
        from sciml_cgmap.alignment import random_rotations, remove_com
        from sciml_cgmap.mapping import broken_beads, cg_connectivity, mapping_signature

        meta = data.metadata
        val_metrics, _ = split_metrics(model, data.arrays("val"), "val_")
        test = data.arrays("test")
        test_metrics, rmsd = split_metrics(model, test, "test_")
        bead_of_atom = model.bead_of_atom
        used = sorted(set(bead_of_atom))
        bonds = meta["bonds"]
        broken = broken_beads(bead_of_atom, bonds)
        # rotation study (§3.4.2): rigidly rotate test frames about their centre of mass and feed
        # them unaligned. (Aligning them first gives back the unrotated frames exactly, so that
        # figure is not reported: it cannot differ from test_rmsd_unrotated_subset.)
        x_in = np.asarray(test["positions"], float)
        n = min(self.config.n_rotated, len(x_in))
        pick = np.sort(np.random.default_rng(self.config.rotation_seed).choice(len(x_in), n, replace=False))
        rot = random_rotations(n, seed=self.config.rotation_seed)
        x_sub = x_in[pick]
        com = x_sub - remove_com(x_sub, np.asarray(meta["masses"]))
        x_rot = np.einsum("fij,fkj->fik", x_sub - com, rot) + com
        raw_in, _, raw_rec = reconstruct(model, x_rot, align=False)
        results: dict[str, Any] = {
            **val_metrics,
            **test_metrics,
            "n_used_beads": float(len(used)),
            "connectivity_preserving": float(not broken),
            "test_rmsd_unrotated_subset": float(rmsd[pick].mean()),
            "test_rmsd_rotated_raw": float(rmsd_per_frame(raw_in, raw_rec).mean()),
            "assignment": [int(b) for b in bead_of_atom],
            "beads": [[j for j, b in enumerate(bead_of_atom) if b == i] for i in used],
            "cg_connectivity": cg_connectivity(bead_of_atom, bonds, model.n_beads).tolist(),
            "broken_beads": broken,
            "mapping_signature": mapping_signature(bead_of_atom, meta["symbols"], bonds),
            "smiles": meta.get("smiles"),
            "force_field": meta.get("force_field"),
            # the dataset's measured MD state (kinetic temperature, energy drift; md.md_statistics)
            **{k: v for k, v in meta.items() if k.startswith("md_") and isinstance(v, (int, float))},
        }
        if self.config.figures:
            reporter.draw_figure("mapping.png", plot_mapping, meta, bead_of_atom)
            reporter.draw_figure("cgmap_losses.png", plot_losses, reporter)
        return results

    def accept(self, results: Mapping[str, Any]) -> tuple[bool, str]:
        """Paper §3.3: reject mappings whose beads are not connected subgraphs; also reject a
        mapping that collapsed below ``min_beads`` used beads (paper §3.2). Looks at the mapping
        only (no test metric)."""
        used = results.get("n_used_beads")
        if used is not None and used < self.config.min_beads:
            return False, (f"mapping collapsed to {used:.0f} bead(s) (< evaluator.min_beads="
                           f"{self.config.min_beads}; paper §3.2)")
        if results.get("connectivity_preserving", 1.0) >= 0.5:
            return True, ""
        return False, (f"mapping breaks connectivity: bead(s) {results.get('broken_beads')} group atoms "
                       "that are not bonded through atoms of the same bead (paper §3.3)")

    def baselines(self, model, data, results) -> dict[str, dict[str, float]]:
        """``mean_structure``: the mean training structure predicted for every frame
        (:func:`mean_structure_rmsd`), ``val_rmsd`` and ``test_rmsd`` in Å on the model's splits."""
        train = data.arrays("train")["positions"]
        return {"mean_structure": {f"{split}_rmsd": mean_structure_rmsd(train, data.arrays(split)["positions"])
                                   for split in ("val", "test")}}


# ---------------------------------------------------------------------- figures
def _history(reporter, name: str) -> list[float]:
    """Values of metric ``name`` from a reporter's history: a method (``sciml.testing``'s
    recorder) or a list of ``(step, metrics)`` (the core's file reporter); [] without one."""
    history = getattr(reporter, "history", None)
    if callable(history):
        return list(history(name))
    if isinstance(history, list):
        return [m[name] for _, m in history if name in m]
    return []


def plot_losses(reporter):
    """Training and validation loss and reconstruction term per epoch (log scale); None when
    the reporter has no history."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {name: _history(reporter, name) for name in ("train_loss", "val_loss", "train_rec", "val_rec")}
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, values in curves.items():
        ax.plot(values, label=name)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return fig


def plot_mapping(meta: Mapping[str, Any], bead_of_atom):
    """The molecule with its atoms coloured by bead (:func:`draw_mapping_png`); None when RDKit
    cannot draw (no Cairo)."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    png = draw_mapping_png(meta, bead_of_atom)
    if png is None:
        return None
    img = plt.imread(io.BytesIO(png), format="png")
    fig, ax = plt.subplots(figsize=(4, 3.2))
    ax.imshow(img)
    ax.set_axis_off()
    ax.set_title(f"{meta.get('smiles') or ''}: {len(set(bead_of_atom))} beads", fontsize=9)
    return fig


def draw_mapping_png(meta: Mapping[str, Any], bead_of_atom, size=(360, 280)) -> bytes | None:
    """PNG bytes of the molecule (with hydrogens) with each atom highlighted in its bead's colour
    (RDKit ``MolDraw2DCairo``); None when RDKit cannot draw (no Cairo)."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    rw = Chem.RWMol()
    for s in meta["symbols"]:
        a = Chem.Atom(str(s))
        a.SetNoImplicit(True)
        rw.AddAtom(a)
    for i, j in meta["bonds"]:
        rw.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol = rw.GetMol()
    smiles = meta.get("smiles")
    if smiles:
        from rdkit import RDLogger

        RDLogger.DisableLog("rdApp.*")
        ref = Chem.MolFromSmiles(smiles)
        if ref is not None and Chem.AddHs(ref).GetNumAtoms() == mol.GetNumAtoms():
            mol = Chem.AddHs(ref)  # same atom order as the MD data; real bond orders
    mol.UpdatePropertyCache(strict=False)
    rdDepictor.Compute2DCoords(mol)
    colours = {j: BEAD_COLOURS[b % len(BEAD_COLOURS)] for j, b in enumerate(bead_of_atom)}
    try:
        drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    except Exception:
        return None
    opts = drawer.drawOptions()
    for j, b in enumerate(bead_of_atom):
        opts.atomLabels[j] = f"{meta['symbols'][j]}{b}"
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(colours), highlightAtomColors=colours,
                                       highlightBonds=[])
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
