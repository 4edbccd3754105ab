"""Rotation handling (paper §3.4.2): centre-of-mass removal and Kabsch alignment.

The paper's VAE takes Cartesian coordinates and is not rotation invariant: a rigidly rotated
input is not reconstructed. Aligning every frame to one reference frame before encoding removes
the rigid translation and rotation (the remedy is ours; the paper only diagnoses the problem).
"""

from __future__ import annotations

import numpy as np


def remove_com(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Positions (..., n_atoms, 3) Å minus their centre of mass (``masses`` (n_atoms,) amu)."""
    w = np.asarray(masses, float) / np.sum(masses)
    com = np.einsum("...ij,i->...j", positions, w)
    return positions - com[..., None, :]


def kabsch_rotations(positions: np.ndarray, reference: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Proper rotations R (n_frames, 3, 3) minimising Σ_j m_j |R x_j − r_j|² (Kabsch 1976).

    Both ``positions`` (n_frames, n_atoms, 3) and ``reference`` (n_atoms, 3) must already be
    centred on their centre of mass. Apply as ``x @ R.T``.
    """
    w = np.asarray(masses, float)[:, None]
    h = np.einsum("fij,ik->fjk", positions * w[None], reference)  # (F,3,3) = Σ m x r^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("fij,fjk->fik", u, vt)))
    diag = np.ones((len(positions), 3))
    diag[:, 2] = d
    # R = V diag U^T
    return np.einsum("fji,fj,fkj->fik", vt, diag, u)


def align_frames(positions: np.ndarray, reference: np.ndarray, masses: np.ndarray,
                 forces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Remove the centre of mass and rotate every frame onto ``reference``.

    Args:
        positions: (n_frames, n_atoms, 3) Å.
        reference: (n_atoms, 3) Å, centred on its centre of mass.
        masses: (n_atoms,) amu.
        forces: optional (n_frames, n_atoms, 3) kcal/mol/Å, rotated with the same rotation
            (forces are vectors: translation does not change them).

    Returns:
        (aligned positions, rotated forces or None), same shapes as the inputs.
    """
    x = remove_com(np.asarray(positions, float), masses)
    rot = kabsch_rotations(x, reference, masses)
    x = np.einsum("fij,fkj->fik", x, rot)
    f = None if forces is None else np.einsum("fij,fkj->fik", np.asarray(forces, float), rot)
    return x, f


def random_rotations(n: int, seed: int = 0) -> np.ndarray:
    """``n`` uniformly random rotation matrices (n, 3, 3) (scipy's ``Rotation.random``)."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=seed).as_matrix()
