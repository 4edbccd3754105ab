"""Per-epoch wall time of the training engine (Lightning) against a plain torch loop, side by side.

For each plugin, the plugin's default pipeline is built once per repetition (dataset, model,
trainer from its embedded defaults), and the same model is trained for ``--epochs`` epochs

- by the plugin's trainer on :func:`sciml.fit` (Lightning), and
- by a plain torch loop: the loop every plugin used before the engine (per-batch
  ``float(loss)``, the same DataLoader settings, the same optimizer and LR schedule, one
  validation pass per epoch).

The two alternate (loop, engine, loop, engine, ...) so that machine drift hits both. Per-epoch time
is the median over epochs 2.. of each run (the first epoch carries start-up); "fixed" is a run's
wall time minus ``epochs x`` its per-epoch median (Lightning's set-up, checkpoints, ...).

    python bench/engine_overhead.py                      # cgmap and ptrcnn defaults, 6 epochs, 3 repetitions
    python bench/engine_overhead.py --plugins cgmap --epochs 10 --reps 5

Target (issue 12): engine / loop <= 1.10 per epoch on ptrcnn.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def build(plugin: str, epochs: int, tmp: Path, threads: int):
    from sciml.assembly import build_components
    from sciml.components import Context
    from sciml.config import resolve_config
    from sciml.registry import get_registry

    registry = get_registry()
    pipeline = registry.pipeline(plugin)
    config = resolve_config(pipeline, registry, pipeline_key=f"{plugin}:default",
                            sets=[("trainer.max_epochs", epochs), ("trainer.patience", 0), ("seed", 0)])
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    context = Context(run_dir=run_dir, cache_dir=tmp / "cache", seed=0, device="cpu", threads=threads)
    return build_components(config, context)


class Clock:
    """A reporter that keeps the time of each epoch's report."""

    def __init__(self):
        self.times: list[float] = []

    def report(self, step, metrics):
        self.times.append(time.perf_counter())

    def __getattr__(self, name):  # figures, dicts, checkpoints: not timed here
        return lambda *a, **k: None


def engine_run(plugin, epochs, tmp, threads):
    dataset, model, trainer = build(plugin, epochs, tmp, threads)
    clock = Clock()
    t0 = time.perf_counter()
    trainer.fit(model, dataset, clock)
    total = time.perf_counter() - t0
    per_epoch = statistics.median(b - a for a, b in zip(clock.times, clock.times[1:], strict=False))
    return per_epoch, total


def loop_run(plugin, epochs, tmp, threads):
    """The plain loop: what DefaultTrainer did before the engine (per-batch host syncs included)."""
    import torch
    from sciml.engine import _make_module, batch_len
    from torch.utils.data import DataLoader

    dataset, model, trainer = build(plugin, epochs, tmp, threads)
    c = trainer.config
    made = _make_module(model, c).configure_optimizers()  # the same optimizer and schedule
    optimizer = made["optimizer"] if isinstance(made, dict) else made
    scheduler = made["lr_scheduler"]["scheduler"] if isinstance(made, dict) else None
    collate = getattr(model, "collate", None)
    gen = torch.Generator().manual_seed(0)
    train = DataLoader(dataset.split("train"), batch_size=c.batch_size, shuffle=True, generator=gen, collate_fn=collate)
    val = DataLoader(dataset.split("val"), batch_size=c.val_batch_size or c.batch_size, collate_fn=collate)
    validate = getattr(model, "validation_step", None) or model.training_step
    times = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(epoch, epochs)
        model.train()
        total = n = 0.0
        for batch in train:
            out = model.training_step(batch, epoch)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if c.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
            optimizer.step()
            total += float(out["loss"].detach()) * batch_len(batch)
            n += batch_len(batch)
        model.eval()
        with torch.no_grad():
            for batch in val:
                float(validate(batch, epoch)["loss"])
        if scheduler is not None:
            scheduler.step()
        if hasattr(model, "on_epoch_end"):
            model.on_epoch_end(epoch, {"train_loss": total / max(n, 1)})
        times.append(time.perf_counter())
    wall = time.perf_counter() - t0
    return statistics.median(b - a for a, b in zip(times, times[1:], strict=False)), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugins", nargs="+", default=["cgmap", "ptrcnn"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = []
        for plugin in args.plugins:
            build(plugin, 1, tmp, args.threads)  # prepare (and cache) the data outside the timings
            loop, engine = [], []
            for _ in range(args.reps):
                loop.append(loop_run(plugin, args.epochs, tmp, args.threads))
                engine.append(engine_run(plugin, args.epochs, tmp, args.threads))
            le = statistics.median(x[0] for x in loop)
            ee = statistics.median(x[0] for x in engine)
            lw = statistics.median(x[1] for x in loop)
            ew = statistics.median(x[1] for x in engine)
            rows.append((plugin, le, ee, ee / le, lw - args.epochs * le, ew - args.epochs * ee, ew / lw))
    print(f"\n{args.epochs} epochs, {args.reps} repetitions, {args.threads} thread(s), medians\n")
    print("| plugin | loop s/epoch | engine s/epoch | ratio per epoch | loop fixed s | engine fixed s | ratio whole fit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for plugin, le, ee, ratio, lf, ef, whole in rows:
        print(f"| {plugin} | {le:.4f} | {ee:.4f} | {ratio:.3f} | {lf:.2f} | {ef:.2f} | {whole:.3f} |")


if __name__ == "__main__":
    main()
