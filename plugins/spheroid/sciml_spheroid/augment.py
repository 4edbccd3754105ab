"""Augmentations for SimCLR views and the supervised baseline, run on the batch with kornia.

What SimCLR's views vary, the encoder learns to ignore (thesis §6.1.1: augmentation "forces
invariance" to microscope exposure, environment and focal plane). So a view may vary only what
efficacy does not change. Preset ``"efficacy"`` (the default), each justified against what a
treatment changes here (size, necrotic-core darkening, texture, rim):

- flips and rotations by multiples of 90°: a spheroid has no orientation (exact, no resampling);
- small translations (<= 6 % of the field): the spheroid's position in the well is arbitrary;
- crop-and-resize only with a scale in [0.9, 1] and aspect [0.95, 1.05]: apparent size changes
  by at most ~5 %, below the well-to-well scatter of untreated spheroids, so growth arrest and
  swelling stay visible;
- brightness x[0.95, 1.05] and contrast x[0.95, 1.05]: the plate-to-plate / day-to-day
  illumination drift, far below the darkening of a necrotic core (optical density x2);
- Gaussian blur (sigma up to ~1 px at 48 px) and sensor noise: focus drift and shot noise.

Preset ``"legacy"`` (the first release) used SimCLR's ImageNet recipe (Chen et al. 2020, §3):
crops down to 20–65 % of the image and brightness/contrast x[0.7, 1.3]: it makes the encoder
invariant to size and intensity, where the efficacy signal is. ``strength`` in [0, 1] scales
every range. The supervised baseline (thesis §6.2.2) uses crop-and-resize to 80–100 %, flips
and blur. All pipelines take ``(B, C, S, S)`` (focal layers as channels) in [0, 1].
"""

from __future__ import annotations

import torch

AUGMENT_PRESETS = ("efficacy", "legacy")


def simclr_augment(size: int, strength: float = 0.5, preset: str = "efficacy") -> torch.nn.Module:
    """kornia pipeline mapping ``(B, C, size, size)`` in [0, 1] to one random view of each.

    Raises:
        ValueError: unknown ``preset`` (accepted: :data:`AUGMENT_PRESETS`).
    """
    import kornia.augmentation as K

    s = float(strength)
    blur_k = max(3, (size // 16) | 1)
    if preset == "legacy":
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
    if preset != "efficacy":
        raise ValueError(f"unknown augmentation preset {preset!r}; accepted: {list(AUGMENT_PRESETS)}")
    return torch.nn.Sequential(
        K.RandomHorizontalFlip(),
        K.RandomVerticalFlip(),
        K.RandomRotation90(times=(0, 3), p=1.0 if s > 0 else 0.0),
        K.RandomAffine(degrees=0.0, translate=(0.12 * s, 0.12 * s), padding_mode="reflection", p=0.8 if s > 0 else 0.0),
        K.RandomResizedCrop((size, size), scale=(1.0 - 0.2 * s, 1.0), ratio=(1.0 - 0.1 * s, 1.0 + 0.1 * s), p=0.5),
        K.RandomBrightness(brightness=(1.0 - 0.1 * s, 1.0 + 0.1 * s), p=0.5),
        K.RandomContrast(contrast=(1.0 - 0.1 * s, 1.0 + 0.1 * s), p=0.5),
        K.RandomGaussianBlur((blur_k, blur_k), sigma=(0.1, 0.1 + 1.8 * s), p=0.5),
        K.RandomGaussianNoise(mean=0.0, std=0.03 * s, p=0.5),
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
