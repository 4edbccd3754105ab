"""Hand-crafted, human-interpretable spheroid features (thesis §1): size/area, circularity,
pixel-intensity change — measured with scikit-image.

Segmentation: Gaussian smoothing, Otsu threshold inside the central disc (the well wall in the
corners is ignored), the dark connected component nearest the image centre, holes filled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import filters, measure

FEATURES = ("log_area", "circularity", "relative_intensity")


def dark_pixels(image: np.ndarray) -> np.ndarray:
    """Boolean ``(H, W)``: pixels darker than the Otsu threshold inside the central disc."""
    img = ndimage.gaussian_filter(np.asarray(image, dtype=float), 1.0)
    h, w = img.shape
    yy, xx = np.mgrid[:h, :w]
    disc = np.hypot((yy + 0.5) / h * 2 - 1, (xx + 0.5) / w * 2 - 1) < 0.95
    return (img < filters.threshold_otsu(img[disc])) & disc


def segment(image: np.ndarray) -> np.ndarray:
    """Boolean mask ``(H, W)`` of the spheroid in a bright-field image ``(H, W)`` in [0, 1]."""
    img = ndimage.gaussian_filter(np.asarray(image, dtype=float), 1.0)
    h, w = img.shape
    yy, xx = np.mgrid[:h, :w]
    rr = np.hypot((yy + 0.5) / h * 2 - 1, (xx + 0.5) / w * 2 - 1)
    disc = rr < 0.95
    thr = filters.threshold_otsu(img[disc])
    mask = (img < thr) & disc
    labels = measure.label(mask)
    if labels.max() == 0:
        return mask
    best, best_d = 0, np.inf
    for reg in measure.regionprops(labels):
        if reg.area < 4:
            continue
        cy, cx = reg.centroid
        d = np.hypot(cy - h / 2, cx - w / 2) - np.sqrt(reg.area)  # prefer central and large
        if d < best_d:
            best, best_d = reg.label, d
    return ndimage.binary_fill_holes(labels == best) if best else mask


def features(image: np.ndarray) -> np.ndarray:
    """``(3,)`` features of one image ``(H, W)``: [log area (log of fraction of the field of
    view), circularity ``4 pi A / P**2`` (1 for a disc), mean intensity inside the spheroid
    divided by the median background (cancels plate-to-plate intensity shifts)]."""
    image = np.asarray(image, dtype=float)
    mask = segment(image)
    area = float(mask.sum())
    if area < 1:
        return np.array([np.log(1.0 / image.size), 0.0, 1.0])
    perim = measure.perimeter(mask)
    circ = float(np.clip(4 * np.pi * area / max(perim, 1e-9) ** 2, 0, 1.5))
    bg = np.median(image[~ndimage.binary_dilation(mask, iterations=2)])
    inten = float(image[mask].mean() / max(bg, 1e-6))
    return np.array([np.log(area / image.size), circ, inten])


def features_stack(images: np.ndarray, channel_axis: bool = False) -> np.ndarray:
    """Features of every image of ``(..., H, W)`` -> ``(..., 3)``; with ``channel_axis``, images
    are ``(..., C, H, W)`` and the features are measured on the channel mean (grey)."""
    images = np.asarray(images)
    if channel_axis:
        images = images.mean(axis=-3)
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.stack([features(im) for im in flat])
    return out.reshape(*images.shape[:-2], len(FEATURES))
