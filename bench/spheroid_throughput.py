"""Throughput of the spheroid plugin on CPU: plate render time, SimCLR training images/s,
embedding images/s (with 1 and 2 torch threads), hand-crafted feature images/s.

    nice .venv/bin/python bench/spheroid_throughput.py [--size 48] [--width 8] [--batch 128] [--threads 1 2]

Prints each figure, the ratio of embedding to training throughput and the speed ratio of one
thread to two (on shared, busy cores one thread wins by a wide margin). Not a test.
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="torch thread counts to compare (training and embedding)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads[0])
    from sciml_spheroid.handcrafted import features_stack
    from sciml_spheroid.model import SpheroidSimCLR
    from sciml_spheroid.simulate import render_plate

    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"size={args.size} width={args.width} batch={args.batch}")
    t = time.perf_counter()
    plate = render_plate(0, 0, size=args.size)
    t_render = time.perf_counter() - t
    n_img = plate.images.shape[0] * plate.images.shape[1]
    print(f"render: {t_render:.2f} s per plate (60 wells x 4 days = {n_img} images, {n_img / t_render:.0f} images/s)")

    torch.manual_seed(0)
    meta = {"days": [7, 8, 9, 10], "image_size": args.size}
    model = SpheroidSimCLR(SpheroidSimCLR.Config(width=args.width), meta)
    imgs = torch.from_numpy(plate.images.reshape(-1, 1, args.size, args.size))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    model.simclr_loss(imgs[: args.batch]).backward()  # warm-up
    model.embed(plate.images[:4, :, None])
    speeds = {}
    for n_threads in args.threads:
        torch.set_num_threads(n_threads)
        t = time.perf_counter()
        for _ in range(args.steps):
            b = imgs[torch.randint(0, len(imgs), (args.batch,))]
            loss = model.simclr_loss(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
        t_train = time.perf_counter() - t
        train_ips = args.steps * args.batch / t_train
        t = time.perf_counter()
        model.embed(plate.images)
        emb_ips = n_img / (time.perf_counter() - t)
        speeds[n_threads] = (train_ips, emb_ips)
        print(f"threads={n_threads}: SimCLR training {train_ips:.1f} images/s (2 augmented views each; "
              f"{t_train / args.steps:.2f} s per batch), embedding {emb_ips:.1f} images/s")
    torch.set_num_threads(args.threads[0])
    t = time.perf_counter()
    features_stack(plate.images[:15])
    t_hc = time.perf_counter() - t
    print(f"hand-crafted features: {15 * 4 / t_hc:.1f} images/s")
    tr0, em0 = speeds[args.threads[0]]
    print(f"ratio embedding/training throughput (threads={args.threads[0]}): {em0 / tr0:.1f}x")
    for n_threads in args.threads[1:]:
        tr, em = speeds[n_threads]
        print(f"ratio training speed threads={args.threads[0]} / threads={n_threads}: {tr0 / tr:.2f}x "
              f"(embedding {em0 / em:.2f}x)")
    n_params = sum(p.numel() for p in model.encoder.parameters())
    print(f"encoder parameters: {n_params}")


if __name__ == "__main__":
    main()
