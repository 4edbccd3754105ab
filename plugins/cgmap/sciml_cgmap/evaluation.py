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


class MappingEvaluator(sciml.Evaluator):
    """Test-split reconstruction RMSD, the mapping's structure, the rotation study and figures.

    Results (numbers become metrics): ``test_rmsd`` (Å, mean over test frames), ``n_used_beads``,
    ``connectivity_preserving`` (1.0/0.0), ``mean_cg_force`` (kcal/mol/Å, mean |F_i| over test
    frames and used beads), ``test_rmsd_rotated_raw`` / ``test_rmsd_rotated_aligned`` (Å, paper
    §3.4.2: ``n_rotated`` random test frames, randomly rotated about their centre of mass, fed as
    they are / aligned first) and ``test_rmsd_unrotated_subset`` (the same frames unrotated), and non-numbers
    ``assignment`` (bead of each atom), ``beads`` (atom indices per bead), ``cg_connectivity``
    (paper §2.4), ``broken_beads`` and ``mapping_signature`` (equal under the molecule's symmetry).
    Figures: ``mapping.png`` (molecule coloured by bead), ``cgmap_losses.png`` when the reporter
    keeps a history.
    """

    class Config(sciml.ComponentConfig):
        rotation_seed: int = Field(0, ge=0, description="seed of the random rotations of §3.4.2")
        n_rotated: int = Field(200, ge=1, description="test frames used in the rotation study")
        figures: bool = Field(True, description="draw mapping.png and cgmap_losses.png")
        min_beads: int = Field(2, ge=1, description="reject mappings using fewer beads (the "
                               "collapse into one bead of paper §3.2); 1 accepts any")

    def evaluate(self, model, data, reporter) -> dict[str, Any]:
        from sciml_cgmap.alignment import random_rotations
        from sciml_cgmap.mapping import broken_beads, cg_connectivity, mapping_signature

        meta = data.metadata
        test = data.arrays("test")
        x_in, z, x_rec = reconstruct(model, test["positions"])
        rmsd = rmsd_per_frame(x_in, x_rec)
        bead_of_atom = model.bead_of_atom
        used = sorted(set(bead_of_atom))
        bonds = meta["bonds"]
        broken = broken_beads(bead_of_atom, bonds)
        c = model.assignment_matrix.cpu().numpy()
        cg_f = np.einsum("ji,fjd->fid", c, test["forces"])[:, used]
        # rotation study (§3.4.2): rigidly rotate test frames about their centre of mass
        from sciml_cgmap.alignment import remove_com

        n = min(self.config.n_rotated, len(x_in))
        pick = np.sort(np.random.default_rng(self.config.rotation_seed).choice(len(x_in), n, replace=False))
        rot = random_rotations(n, seed=self.config.rotation_seed)
        masses = np.asarray(meta["masses"])
        x_sub = x_in[pick].astype(float)
        com = x_sub - remove_com(x_sub, masses)
        x_rot = np.einsum("fij,fkj->fik", x_sub - com, rot) + com
        raw_in, _, raw_rec = reconstruct(model, x_rot, align=False)
        al_in, _, al_rec = reconstruct(model, x_rot, align=True)
        results: dict[str, Any] = {
            "test_rmsd": float(rmsd.mean()),
            "test_rmsd_max": float(rmsd.max()),
            "n_used_beads": float(len(used)),
            "connectivity_preserving": float(not broken),
            "mean_cg_force": float(np.linalg.norm(cg_f, axis=-1).mean()),
            "test_rmsd_unrotated_subset": float(rmsd[pick].mean()),
            "test_rmsd_rotated_raw": float(rmsd_per_frame(raw_in, raw_rec).mean()),
            "test_rmsd_rotated_aligned": float(rmsd_per_frame(al_in, al_rec).mean()),
            "assignment": [int(b) for b in bead_of_atom],
            "beads": [[j for j, b in enumerate(bead_of_atom) if b == i] for i in used],
            "cg_connectivity": cg_connectivity(bead_of_atom, bonds, model.n_beads).tolist(),
            "broken_beads": broken,
            "mapping_signature": mapping_signature(bead_of_atom, meta["symbols"], bonds),
            "smiles": meta.get("smiles"),
        }
        if self.config.figures:
            self._figures(model, meta, bead_of_atom, reporter)
        return results

    def accept(self, results: Mapping[str, Any]) -> tuple[bool, str]:
        """Paper §3.3: reject mappings whose beads are not connected subgraphs; also reject a
        mapping that collapsed below ``min_beads`` used beads (paper §3.2)."""
        used = results.get("n_used_beads")
        if used is not None and used < self.config.min_beads:
            return False, (f"mapping collapsed to {used:.0f} bead(s) (< evaluator.min_beads="
                           f"{self.config.min_beads}; paper §3.2)")
        if results.get("connectivity_preserving", 1.0) >= 0.5:
            return True, ""
        return False, (f"mapping breaks connectivity: bead(s) {results.get('broken_beads')} group atoms "
                       "that are not bonded through atoms of the same bead (paper §3.3)")

    # ------------------------------------------------------------------ figures
    def _figures(self, model, meta, bead_of_atom, reporter) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        png = draw_mapping_png(meta, bead_of_atom)
        if png is not None:
            import io

            img = plt.imread(io.BytesIO(png), format="png")
            fig, ax = plt.subplots(figsize=(4, 3.2))
            ax.imshow(img)
            ax.set_axis_off()
            used = sorted(set(bead_of_atom))
            ax.set_title(f"{meta.get('smiles', '')}: {len(used)} beads", fontsize=9)
            reporter.log_figure(fig, "mapping.png")
            plt.close(fig)
        history = getattr(reporter, "history", None)
        if callable(history):
            fig, ax = plt.subplots(figsize=(4.5, 3.2))
            for name in ("train_loss", "val_loss", "train_rec", "val_rec"):
                values = history(name)
                if values:
                    ax.plot(values, label=name)
            if ax.lines:
                ax.set_xlabel("epoch")
                ax.set_yscale("log")
                ax.legend(fontsize=7)
                reporter.log_figure(fig, "cgmap_losses.png")
            plt.close(fig)


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
