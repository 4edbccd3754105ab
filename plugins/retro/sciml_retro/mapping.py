"""Atom mapping of reaction files with RXNMapper (optional extra ``sciml-retro[mapping]``).

Template extraction (Segler & Waller 2018, "rules extracted from reactions") needs atom-mapped
reactions. This module maps a user's reaction file (see :mod:`sciml_retro.reactions` for the
accepted layouts) with RXNMapper (Schwaller et al. 2021), whose model ships inside its wheel, so
mapping runs offline.

The output is JSON lines, one per reaction: ``{"id", "rxn", "mapped", "confidence"}``
(``mapped`` is ``null`` with an ``"error"`` key when RXNMapper fails, e.g. > 512 tokens). Lines are
appended batch by batch and flushed, so a killed run resumes where it stopped (ids already in the
output are skipped).

Command line::

    python -m sciml_retro.mapping INPUT OUTPUT.jsonl [--batch-size 16] [--limit N]
    python -m sciml_retro.mapping --compress OUTPUT.jsonl DEST.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

from sciml import UserError

from sciml_retro.reactions import load_reactions, reaction_smiles


def _mapper():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from rxnmapper import RXNMapper
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise UserError(
            "atom mapping needs the optional extra: pip install 'sciml-retro[mapping]' "
            f"(rxnmapper, transformers<5); import failed: {exc}"
        ) from None
    return RXNMapper()


def done_ids(out_path: Path) -> set[str]:
    """Ids already written to ``out_path`` (a partial last line from a killed run is ignored)."""
    ids: set[str] = set()
    if out_path.exists():
        with open(out_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    ids.add(json.loads(line)["id"])
                except (json.JSONDecodeError, KeyError):
                    continue
    return ids


def map_batch(mapper, rxns: list[str]) -> list[dict]:
    """Map a batch; on failure fall back to one reaction at a time so one bad reaction costs one line."""
    try:
        res = mapper.get_attention_guided_atom_maps(rxns)
        return [{"mapped": r["mapped_rxn"], "confidence": float(r["confidence"])} for r in res]
    except Exception:  # noqa: BLE001 - rxnmapper raises assorted errors on long/odd inputs
        out = []
        for rxn in rxns:
            try:
                r = mapper.get_attention_guided_atom_maps([rxn])[0]
                out.append({"mapped": r["mapped_rxn"], "confidence": float(r["confidence"])})
            except Exception as exc:  # noqa: BLE001
                out.append({"mapped": None, "confidence": 0.0, "error": f"{type(exc).__name__}: {exc}"[:200]})
        return out


def map_file(in_path, out_path, batch_size: int = 16, limit: int | None = None, log=print) -> int:
    """Map the reactions of ``in_path`` into JSON lines at ``out_path`` (resumable). Returns lines written now."""
    out_path = Path(out_path)
    records = load_reactions(in_path)[:limit]
    seen = done_ids(out_path)
    todo = [r for r in records if r["id"] not in seen]
    log(f"{len(records)} reactions, {len(seen)} already mapped, {len(todo)} to go")
    if not todo:
        return 0
    mapper = _mapper()
    written, t0 = 0, time.time()
    if out_path.exists() and out_path.stat().st_size:
        with open(out_path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            partial = fh.read(1) != b"\n"
        if partial:  # a killed run left half a line: end it so the next line starts clean
            with open(out_path, "a", encoding="utf-8") as fh:
                fh.write("\n")
    with open(out_path, "a", encoding="utf-8") as fh:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            rxns = [reaction_smiles(r) for r in batch]
            for rec, rxn, res in zip(batch, rxns, map_batch(mapper, rxns), strict=True):
                fh.write(json.dumps({"id": rec["id"], "rxn": rxn, **res}) + "\n")
            fh.flush()
            written += len(batch)
            if (start // batch_size) % 20 == 0:
                rate = (time.time() - t0) / written
                log(f"{len(seen) + written}/{len(records)} mapped, {rate:.3f} s/reaction")
    return written


def compress(jsonl_path, dest) -> int:
    """Write the complete lines of ``jsonl_path`` sorted by id into gzip ``dest``; returns the count."""
    rows = {}
    with open(jsonl_path, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[row["id"]] = row
    with gzip.open(dest, "wt", encoding="utf-8", compresslevel=9) as fh:
        for rid in sorted(rows):
            fh.write(json.dumps(rows[rid], separators=(",", ":")) + "\n")
    return len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--compress", action="store_true", help="compress INPUT (mapped jsonl) into OUTPUT (.jsonl.gz)")
    a = p.parse_args(argv)
    if a.compress:
        print(compress(a.input, a.output), "reactions written to", a.output)
        return 0
    map_file(a.input, a.output, a.batch_size, a.limit, log=lambda m: print(time.strftime("%H:%M:%S"), m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
