"""``sciml predict cgmap``: CG bead coordinates of a user's frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sciml


def read_positions(path: str | Path, n_atoms: int) -> np.ndarray:
    """Frames (n_frames, n_atoms, 3) Å from ``.npy`` or any ASE-readable trajectory.

    Raises:
        sciml.UserError: missing or unreadable file, or a wrong number of atoms.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise sciml.UserError(f"--input {str(path)!r} does not exist (expected .npy of shape "
                              "(n_frames, n_atoms, 3) or an ASE-readable trajectory such as .xyz/.traj)")
    if path.suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    else:
        import ase.io

        try:
            frames = ase.io.read(str(path), index=":")
        except Exception as exc:
            raise sciml.UserError(f"--input {str(path)!r} could not be read by ASE ({exc})") from exc
        x = np.array([a.get_positions() for a in frames])
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (n_atoms, 3):
        raise sciml.UserError(f"--input {str(path)!r} has frames of shape {tuple(x.shape[1:])}; the model "
                              f"needs ({n_atoms}, 3) (same atoms, same order as its training data)")
    return x.astype(float)


def predict(model, config, metadata, input_path):
    """Per-frame bead coordinates and reconstruction RMSD.

    Frames are aligned like the training data when the model was trained with alignment.

    Returns:
        pandas.DataFrame, one row per frame: ``frame``, ``rmsd`` (Å) and ``bead<i>_x/y/z`` (Å).
    """
    import pandas as pd

    from sciml_cgmap.evaluation import reconstruct, rmsd_per_frame

    x = read_positions(input_path, int(metadata["n_atoms"]))
    x_in, z, x_rec = reconstruct(model, x, align=model.align)
    df = pd.DataFrame({"frame": np.arange(len(x)), "rmsd": rmsd_per_frame(x_in, x_rec)})
    for i in range(z.shape[1]):
        for k, axis in enumerate("xyz"):
            df[f"bead{i}_{axis}"] = z[:, i, k]
    return df
