"""The ``retro:uspto`` Dataset: (fingerprint, template) pairs for the expansion policy, filter
examples for the in-scope filter, the stock and the held-out benchmark targets.

Data: the committed atom-mapped USPTO/ORD reactions (``data/README.md``) or ``mapped_reactions``,
a user's file written by :mod:`sciml_retro.mapping`. Duplicate reactions (same canonical reaction
SMILES under other record IDs) are removed before the route split (:func:`sciml_retro.data.deduplicate`).
See :mod:`sciml_retro.data` for the route split (train / validation routes / test routes); everything
heavy is cached under ``context.cache_dir`` with :func:`sciml.cached_arrays`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import sciml
from pydantic import Field
from sciml import file_sha256

from sciml_retro import data as D
from sciml_retro.chem import morgan_fingerprint, reaction_fingerprint
from sciml_retro.stock import Stock


class _Split:
    """torch-style dataset of dict samples (see :class:`sciml_retro.model.RetroPolicy` for keys)."""

    def __init__(self, fps, labels, filter_fp, filter_x, filter_y):
        import torch

        self.torch = torch
        self.fps, self.labels = fps, labels
        self.filter_fp, self.filter_x, self.filter_y = filter_fp, filter_x, filter_y

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        t = self.torch
        item = {"fp": t.from_numpy(np.unpackbits(self.fps[i]).astype(np.float32)),
                "template": t.tensor(int(self.labels[i]))}
        if len(self.filter_y):
            j = i % len(self.filter_y)
            item["filter_fp"] = t.from_numpy(np.unpackbits(self.filter_fp[j]).astype(np.float32))
            item["filter_x"] = t.from_numpy(self.filter_x[j].astype(np.float32))
            item["filter_y"] = t.tensor(float(self.filter_y[j]))
        return item


def make_negatives(products, reactants, labels, library, rng, max_tries=40, per_product=1, known=None):
    """Negative filter examples (Segler & Waller 2018: outcomes of applying other rules than the recorded one).

    For each (product, recorded reactants, recorded template index) try up to ``max_tries`` other library
    templates in random order (product-side substructure pre-screen) and keep ``per_product`` outcomes whose
    reactants differ from the recorded ones and from every other recorded way to make that product
    (``known``: ``{product: {frozenset of reactant SMILES, ...}}`` over the reactions the caller may see; an
    outcome whose molecules are all among one recorded reaction's reactants counts as recorded), so a valid
    alternative disconnection that the data record is not labelled infeasible. Returns
    ``[(product, [reactants...]), ...]``.
    """
    from rdkit import Chem

    from sciml_retro.templates import apply_template

    queries = [Chem.MolFromSmarts(t.split(">>")[0]) for t in library]
    out = []
    for prod, reac, lab in zip(products, reactants, labels, strict=True):
        mol = Chem.MolFromSmiles(prod)
        if mol is None:
            continue
        recorded = frozenset(reac.split("."))
        # an outcome is a recorded disconnection when its molecules are among some recorded reaction's reactants
        # (recorded reactant lists may also hold reagents that a template does not regenerate)
        seen = list((known or {}).get(prod, ())) + [recorded]
        found = 0
        for j in rng.permutation(len(library))[:max_tries]:
            if j == lab or queries[j] is None or not mol.HasSubstructMatch(queries[j]):
                continue
            for outcome in apply_template(library[j], prod):
                if not any(set(outcome) <= r for r in seen):
                    out.append((prod, list(outcome)))
                    found += 1
                    break
            if found >= per_product:
                break
    return out


class RetroDataset(sciml.Dataset):
    """Reactions -> templates, stock, route split, fingerprints (see module doc)."""

    class Config(sciml.ComponentConfig):
        mapped_reactions: str = Field("", description="atom-mapped reaction file (JSON lines from sciml_retro.mapping, or "
                                      "reaction SMILES/CSV/JSON with maps); empty: the committed USPTO/ORD set")
        stock_file: str = Field("", description="stock for search (one SMILES or InChIKey per line); empty: built-in stock")
        template_min_count: int = Field(3, ge=1, le=1000, description="K: templates with >= K training occurrences are classes")
        template_min_confidence: float = Field(
            0.3, ge=0.0, le=1.0, description="drop templates whose reactions' RXNMapper mapping confidence is below this "
            "(unknown confidences pass); chosen on the validation routes (bench/retro_template_filters.py)")
        template_roundtrip: bool = Field(True, description="keep a template only if applying it to its own recorded "
                                         "product regenerates the recorded reactants (rdchiral round trip)")
        radius: int = Field(2, ge=1, le=4, description="Morgan fingerprint radius (bonds)")
        n_bits: int = Field(2048, ge=64, le=16384, description="fingerprint length (bits)")
        min_steps: int = Field(2, ge=1, le=20, description="benchmark targets: shortest route >= this many reactions")
        max_steps: int = Field(10, ge=1, le=50, description="benchmark targets: shortest route <= this many reactions")
        test_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="fraction of reactions held out on whole routes (test)")
        val_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="fraction of reactions held out on other whole "
                                    "routes (validation: selection, early stopping)")
        split_seed: int = Field(0, ge=0, description="seed of the route split (fixed across training seeds)")
        filter_negatives: int = Field(3000, ge=0, le=100000, description="products used to make in-scope filter negatives (0: none)")
        limit: int = Field(0, ge=0, description="use only the first N reactions (0: all); for quick tests")

    def _source(self) -> Path:
        return Path(self.config.mapped_reactions) if self.config.mapped_reactions else D.BUILTIN_REACTIONS

    def _table(self):
        src = self._source()
        if not src.is_file():
            raise sciml.UserError(f"dataset.mapped_reactions {str(src)!r} does not exist")
        key = sciml.content_hash({"file": file_sha256(src), "limit": self.config.limit, "v": 3})

        def build():
            rows = D.load_mapped(src)
            if self.config.limit:
                rows = rows[: self.config.limit]
            table, n_dup = D.deduplicate(D.extract_table(rows))
            return table, {"source": str(src), "n_duplicates": n_dup}

        arrays, meta = sciml.cached_arrays(Path(self.context.cache_dir) / f"retro-table-{key}.npz", build)
        self.n_duplicates = int(meta.get("n_duplicates", 0))
        return arrays, key

    def prepare(self) -> None:
        c = self.config
        table, tkey = self._table()
        self.table = table
        stock_builtin = D.builtin_stock(table["products"], table["reactants"])
        key = sciml.content_hash({"table": tkey, "cfg": c.model_dump(exclude={"stock_file"}), "v": 4})

        def build():
            sp = D.route_split(table, stock_builtin, min_steps=c.min_steps, max_steps=c.max_steps,
                               test_fraction=c.test_fraction, val_fraction=c.val_fraction, seed=c.split_seed)
            keep = D.template_trust(table, c.template_min_confidence, c.template_roundtrip)
            library, labels, _ = D.template_library(table["templates"], sp["split"], c.template_min_count, keep=keep)
            fps = np.stack([np.packbits(morgan_fingerprint(p, c.radius, c.n_bits)) for p in table["products"]])
            rng = np.random.default_rng(c.split_seed)
            fx, ffp, fy, fsplit = [], [], [], []
            # recorded ways to make each product, over the reactions a split may see (train; train + val)
            known_by_split = {}
            for s_max in (0, 1):
                known: dict[str, set] = {}
                for i in np.flatnonzero(sp["split"] <= s_max):
                    known.setdefault(str(table["products"][i]), set()).add(frozenset(table["reactants"][i].split(".")))
                known_by_split[s_max] = known
            for s in (0, 1):
                idx = np.flatnonzero((sp["split"] == s) & (labels >= 0))
                idx = rng.permutation(idx)[: c.filter_negatives if s == 0 else max(1, c.filter_negatives // 8)]
                if c.filter_negatives == 0 or not library:
                    continue
                negs = make_negatives(table["products"][idx], table["reactants"][idx], labels[idx], library, rng,
                                      known=known_by_split[s])
                pos = [(table["products"][i], table["reactants"][i].split(".")) for i in idx[: max(len(negs), 1)]]
                for (prod, reacs), y in [(p, 1) for p in pos] + [(n, 0) for n in negs]:
                    fx.append(reaction_fingerprint(prod, reacs, c.radius, c.n_bits).astype(np.int8))
                    ffp.append(np.packbits(morgan_fingerprint(prod, c.radius, c.n_bits)))
                    fy.append(y)
                    fsplit.append(s)
            order = rng.permutation(len(fy))
            nb = c.n_bits
            arrays = {
                "split": sp["split"], "labels": labels, "fps": fps, "library": np.array(library, dtype=str),
                "targets": np.array(sp["targets"], dtype=str),
                "target_routes": np.array([" ".join(map(str, r)) for r in sp["target_routes"]], dtype=str),
                "val_targets": np.array(sp["val_targets"], dtype=str),
                "val_target_routes": np.array([" ".join(map(str, r)) for r in sp["val_target_routes"]], dtype=str),
                "filter_x": np.array(fx, dtype=np.int8).reshape(-1, nb)[order],
                "filter_fp": np.array(ffp, dtype=np.uint8).reshape(-1, nb // 8)[order],
                "filter_y": np.array(fy, dtype=np.int8)[order], "filter_split": np.array(fsplit, dtype=np.int8)[order],
            }
            counts = D.filter_counts(table, sp["split"], c.template_min_confidence, c.template_roundtrip,
                                     c.template_min_count)
            return arrays, {"n_benchmark": sp["n_benchmark"], "filter_counts": counts}

        self.arrays, meta = sciml.cached_arrays(Path(self.context.cache_dir) / f"retro-prep-{key}.npz", build)
        self.n_benchmark = int(meta.get("n_benchmark", 0))
        self.filter_counts = dict(meta.get("filter_counts", {}))
        self.library = [str(t) for t in self.arrays["library"]]
        # test benchmark targets (``targets``) and validation ones, with their reference routes
        self.targets = [str(t) for t in self.arrays["targets"]]
        self.target_routes = [[int(i) for i in r.split()] for r in self.arrays["target_routes"]]
        self.val_targets = [str(t) for t in self.arrays["val_targets"]]
        self.val_target_routes = [[int(i) for i in r.split()] for r in self.arrays["val_target_routes"]]
        self.stock = Stock.from_file(c.stock_file) if c.stock_file else stock_builtin
        self._key = key
        prec = D.precedents(table, self.arrays["split"], self.arrays["labels"], self.library)
        self.metadata = {"n_bits": c.n_bits, "radius": c.radius, "n_templates": len(self.library),
                         "templates": self.library, "precedents": prec}

    def benchmark(self, split: Literal["val", "test"]) -> tuple[list[str], list[list[int]]]:
        """Held-out benchmark targets of ``split`` and their reference routes (reaction indices).

        Raises:
            sciml.UserError: ``split`` is neither ``val`` nor ``test``.
        """
        if split == "test":
            return self.targets, self.target_routes
        if split == "val":
            return self.val_targets, self.val_target_routes
        raise sciml.UserError(f"benchmark split {split!r} is unknown; accepted: val, test")

    def reference_route(self, i: int, split: Literal["val", "test"] = "test") -> list[tuple[str, str]]:
        """Reference route of held-out target i of ``split``: ``[(product, dot-joined sorted reactants), ...]``
        (canonical SMILES)."""
        routes = self.benchmark(split)[1]
        return [(str(self.table["products"][j]), str(self.table["reactants"][j])) for j in routes[i]]

    def template_counts(self) -> np.ndarray:
        """Trusted training occurrences of each library template (:func:`sciml_retro.data.template_trust`), shape
        ``(n_library,)`` (the frequency prior of the policy-free baseline)."""
        from collections import Counter

        keep = D.template_trust(self.table, self.config.template_min_confidence, self.config.template_roundtrip)
        counts = Counter(t for t, s, k in zip(self.table["templates"], self.arrays["split"], keep, strict=True)
                         if s == 0 and k)
        return np.array([counts[t] for t in self.library], dtype=np.int64)

    def split(self, name: Literal["train", "val", "test"]):
        code = {"train": 0, "val": 1, "test": 2}.get(name)
        if code is None:
            raise sciml.UserError(f"split {name!r} is unknown; accepted: train, val, test")
        a = self.arrays
        idx = np.flatnonzero(a["split"] == code)
        if name == "train":
            idx = idx[a["labels"][idx] >= 0]
        fsel = np.flatnonzero(a["filter_split"] == (0 if name == "train" else 1))
        return _Split(a["fps"][idx], a["labels"][idx], a["filter_fp"][fsel], a["filter_x"][fsel], a["filter_y"][fsel])

    def fingerprint(self) -> str:
        """Content hash of the prepared data (source file + config); of the config before :meth:`prepare`."""
        return getattr(self, "_key", None) or super().fingerprint()

    def split_indices(self):
        s = self.arrays["split"]
        return {n: np.flatnonzero(s == c).tolist() for n, c in (("train", 0), ("val", 1), ("test", 2))}

    def summary(self) -> dict:
        """Counts: reactions (after removing duplicates), duplicates removed, templates, library size, stock size,
        benchmark targets, and what the template filters removed (``templates_removed_by_roundtrip``,
        ``templates_removed_by_confidence``: library templates each filter removes on its own)."""
        from collections import Counter

        counts = Counter(t for t in self.table["templates"] if t)
        s = self.arrays["split"]
        return {"n_reactions": int(len(s)), "n_duplicates_removed": getattr(self, "n_duplicates", 0),
                "n_unique_templates": len(counts),
                "n_templates_ge3": sum(v >= 3 for v in counts.values()), "n_library": len(self.library),
                "n_stock": len(self.stock), "n_benchmark": self.n_benchmark, "n_heldout_targets": len(self.targets),
                "n_val_targets": len(self.val_targets),
                "n_train": int((s == 0).sum()), "n_val": int((s == 1).sum()), "n_test": int((s == 2).sum()),
                "n_filter_examples": int(len(self.arrays["filter_y"])),
                **{f"templates_{k}": v for k, v in getattr(self, "filter_counts", {}).items()}}
