"""Why the paper's linear decoder loses to the mean structure, on every mapping of a small molecule.

Enumerates every connectivity-preserving mapping of the molecule onto exactly N beads (distinct up
to the molecule's symmetry; feasible for ethane's 8 atoms), gives each the least-squares-optimal
decoder for the reconstruction term (Eq. 1) on the training frames (``CGVAE.fit_decoder``) and
prints validation and test RMSD for two decoder forms next to the mean-structure baseline:

* ``raw``: the paper's x' = D z on the (aligned, offset) Cartesian coordinates;
* ``centred``: the same linear D on coordinates centred per atom on the mean training structure,
  x' = x̄ + D (z − z̄) (the plugin's default, ``model.centre=true``).

No training: this is the best each decoder form can do for each mapping, so it separates the
decoder form from the optimisation.

    .venv/bin/python bench/cgmap_decoder.py [--molecule ethane] [--beads 2 3 4] [--n-frames 2000]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path


def main() -> None:
    import sciml
    import torch
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.evaluation import mean_structure_rmsd, split_metrics
    from sciml_cgmap.mapping import is_connectivity_preserving, mapping_signature, relabel_beads
    from sciml_cgmap.model import CGVAE
    from sciml_cgmap.plugin import PIPELINE_DEFAULTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecule", default="ethane")
    ap.add_argument("--beads", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--n-frames", type=int, default=PIPELINE_DEFAULTS["dataset"]["n_frames"])
    ap.add_argument("--save-every", type=int, default=PIPELINE_DEFAULTS["dataset"]["save_every"])
    ap.add_argument("--max-atoms", type=int, default=10, help="refuse bigger molecules (N^n mappings)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sciml-cgmap-bench"))
    args = ap.parse_args()

    root = Path(args.cache)
    ctx = sciml.Context(run_dir=root / "run", cache_dir=root / "cache", threads=1)
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(molecule=args.molecule, n_frames=args.n_frames,
                                                          save_every=args.save_every), ctx)
    data.prepare()
    meta = data.metadata
    n = meta["n_atoms"]
    if n > args.max_atoms:
        raise SystemExit(f"{args.molecule} has {n} atoms: N^{n} mappings is too many to enumerate")
    train = data.arrays("train")
    x_train = torch.as_tensor(train["positions"])
    base = {s: mean_structure_rmsd(train["positions"], data.arrays(s)["positions"]) for s in ("val", "test")}
    print(f"{args.molecule}: {n} atoms, {len(x_train)} training frames, MD {meta['md_temperature_K']:.0f} K; "
          f"mean structure val {base['val']:.3f} / test {base['test']:.3f} Å")
    print("| N | mapping (bead of each atom) | raw x' = D z: val / test (Å) | centred: val / test (Å) "
          "| mean structure val / test (Å) |")
    print("|---|---|---|---|---|")
    for nb in args.beads:
        seen = set()
        for a in itertools.product(range(nb), repeat=n):
            if len(set(a)) != nb or list(a) != relabel_beads(a):  # each labelling once
                continue
            a = list(a)
            if not is_connectivity_preserving(a, meta["bonds"]):
                continue
            sig = mapping_signature(a, meta["symbols"], meta["bonds"])
            if sig in seen:
                continue
            seen.add(sig)
            got = {}
            for centre in (False, True):
                model = CGVAE(CGVAE.Config(n_beads=nb, centre=centre), meta)
                with torch.no_grad():
                    model.logits.copy_(torch.nn.functional.one_hot(torch.tensor(a), nb).float() * 10)
                model.eval()
                model.fit_decoder(x_train)
                got[centre] = [split_metrics(model, data.arrays(s), f"{s}_")[0][f"{s}_rmsd"] for s in ("val", "test")]
            print(f"| {nb} | {a} | {got[False][0]:.3f} / {got[False][1]:.3f} | {got[True][0]:.3f} / {got[True][1]:.3f} "
                  f"| {base['val']:.3f} / {base['test']:.3f} |")


if __name__ == "__main__":
    main()
