"""Augmentations for SimCLR views and the supervised baseline, run on the batch with kornia.

SimCLR (Chen et al. 2020, §3) relies on random resized crop + colour distortion + blur; for
grey bright-field images (thesis §6.1.1) colour becomes brightness/contrast, and flips,
rotations by multiples of 90° (a spheroid has no orientation; a continuous rotation costs
another warp per view on CPU) and sensor noise are added. ``strength`` in [0, 1]
scales every range. The supervised baseline (thesis §6.2.2) uses weaker ones: crop-and-resize
to 80–100 % of the image, flips, Gaussian blur.
"""

from __future__ import annotations

import torch


def simclr_augment(size: int, strength: float = 0.5) -> torch.nn.Module:
    """kornia pipeline mapping ``(B, 1, size, size)`` in [0, 1] to one random view of each."""
    import kornia.augmentation as K

    s = float(strength)
    blur_k = max(3, (size // 16) | 1)
    return torch.nn.Sequential(
        K.RandomResizedCrop((size, size), scale=(max(0.2, 1.0 - 0.7 * s), 1.0), ratio=(0.8, 1.25)),
        K.RandomHorizontalFlip(),
        K.RandomVerticalFlip(),
        K.RandomRotation90(times=(0, 3), p=1.0 if s > 0 else 0.0),
        K.RandomBrightness(brightness=(1.0 - 0.3 * s, 1.0 + 0.3 * s), p=0.8),
        K.RandomContrast(contrast=(1.0 - 0.4 * s, 1.0 + 0.4 * s), p=0.8),
        K.RandomGaussianBlur((blur_k, blur_k), sigma=(0.1, 0.1 + 1.5 * s), p=0.5),
        K.RandomGaussianNoise(mean=0.0, std=0.04 * s, p=0.5),
    )


def supervised_augment(size: int) -> torch.nn.Module:
    """Weaker pipeline of the supervised baseline (thesis §6.2.2)."""
    import kornia.augmentation as K

    blur_k = max(3, (size // 16) | 1)
    return torch.nn.Sequential(
        K.RandomResizedCrop((size, size), scale=(0.8, 1.0)),
        K.RandomHorizontalFlip(),
        K.RandomVerticalFlip(),
        K.RandomGaussianBlur((blur_k, blur_k), sigma=(0.1, 1.0), p=0.5),
    )
