"""Simulated bright-field spheroid experiment with a known ground truth.

No public spheroid images can be had here, so the default data set is a simulated experiment
laid out like the thesis's plates (Babu 2024, §1): 96-well plates, the 60 inner wells used,
one bright-field image per well per day on days 7–10, drug applied on day 7, and three groups:
untreated (control), a single recommended concentration, and drug screening (drugs ×
concentrations × replicates).

Ground truth. Every treated well has a hidden true efficacy ``E`` (fraction of tumour killed by
day 10) from a Hill dose–response curve (Hill 1910)::

    E(c) = E_max * c**h / (EC50**h + c**h)                                    (S1)

plus well-to-well biological scatter (normal, sd ``efficacy_noise``, clipped to [0, 1]);
untreated wells have ``E = 0``.

Growth. Untreated spheroid radius follows a Gompertz curve (Laird 1964)::

    r(t) = K * exp(ln(r_7 / K) * exp(-alpha * (t - 7)))                      (S2)

Drug effect. The effect builds up after dosing, ``p(t) = E * ((t - 7) / 3) ** 1.3``
(``p = E`` on day 10); a treated spheroid's growth is damped, ``r_g = r_7 (r(t)/r_7)**(1 - E)``,
and it shrinks, ``r = r_g (1 - 0.5 p)``. With ``p`` it loses circularity (Fourier boundary
harmonics), its necrotic core widens and darkens, the viable rim darkens, it sheds debris
(number of particles ∝ ``p``) and at high ``p`` fragments (satellite blobs).

Image formation (transmitted light)::

    I = G * L(x, y) * (b * exp(-OD(x, y)) + halo(x, y)) + offset,  then blur, shot noise   (S3)

with optical density ``OD`` = textured dark necrotic core + lighter (viable) rim + debris,
a bright refraction halo at the border, the well wall visible in the corners, illumination
``L`` with vignetting and a linear gradient, a per-plate gain ``G`` and offset (plate-to-plate
intensity shifts), per-image Gaussian focus blur, Poisson shot noise and Gaussian read noise.

Coordinates: the field of view spans ``[-1, 1]`` in both axes (FOV half-width = 1; one FOV
half-width ≈ 600 µm, so a day-7 spheroid of radius 0.3 is ≈ 360 µm across).
Everything is deterministic from ``(seed, plate)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

import sciml
from sciml_spheroid.plate import DAYS, INNER_WELLS


@dataclasses.dataclass(frozen=True)
class Drug:
    """A drug's Hill dose–response (eq. S1): ``ec50`` (µM), ``hill`` (–), ``emax`` (fraction)."""

    name: str
    ec50: float
    hill: float
    emax: float

    def efficacy(self, concentration: float | np.ndarray) -> np.ndarray:
        """Fraction killed at ``concentration`` (µM), eq. (S1); 0 at concentration 0."""
        c = np.asarray(concentration, dtype=float)
        ch = np.power(np.clip(c, 0.0, None), self.hill)
        return self.emax * ch / (self.ec50 ** self.hill + ch)


#: Screening drugs (hypothetical; spread of potency and maximal effect).
DEFAULT_DRUGS: tuple[Drug, ...] = (
    Drug("D1", ec50=0.5, hill=1.5, emax=0.95),
    Drug("D2", ec50=3.0, hill=1.0, emax=0.85),
    Drug("D3", ec50=8.0, hill=2.0, emax=0.60),
)
#: Screening concentrations (µM), a half-log series.
DEFAULT_CONCENTRATIONS: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclasses.dataclass(frozen=True)
class WellDesign:
    """One well's treatment: group code (0 untreated, 1 single, 2 screening), drug, dose (µM)."""

    well: str
    group: int
    drug: str
    concentration: float


def design_plate(
    n_untreated: int = 18,
    n_single: int = 12,
    drugs: Sequence[Drug] = DEFAULT_DRUGS,
    concentrations: Sequence[float] = DEFAULT_CONCENTRATIONS,
    replicates: int = 2,
    single_drug: str = "D1",
    single_concentration: float = 1.0,
) -> list[WellDesign]:
    """Assign the 60 inner wells (column-major B2, C2, ...) to the three groups.

    Default: 18 untreated, 12 single recommended concentration (``single_drug`` at
    ``single_concentration`` µM), 30 screening (3 drugs × 5 concentrations × 2 replicates).

    Raises:
        sciml.UserError: the groups need more than the 60 inner wells, or ``single_drug`` is
            not one of ``drugs``.
    """
    names = [d.name for d in drugs]
    if n_single and single_drug not in names:
        raise sciml.UserError(f"single_drug {single_drug!r} is not one of the drugs {names}")
    n_screen = len(drugs) * len(concentrations) * replicates
    total = n_untreated + n_single + n_screen
    if total > len(INNER_WELLS):
        raise sciml.UserError(
            f"the design needs {total} wells ({n_untreated} untreated + {n_single} single + "
            f"{len(drugs)} drugs x {len(concentrations)} concentrations x {replicates} replicates) "
            f"but a plate has {len(INNER_WELLS)} inner wells"
        )
    out: list[WellDesign] = []
    wells = iter(INNER_WELLS)
    for _ in range(n_untreated):
        out.append(WellDesign(next(wells), 0, "none", 0.0))
    for _ in range(n_single):
        out.append(WellDesign(next(wells), 1, single_drug, float(single_concentration)))
    for d in drugs:
        for c in concentrations:
            for _ in range(replicates):
                out.append(WellDesign(next(wells), 2, d.name, float(c)))
    return out


@dataclasses.dataclass
class PlateImages:
    """One rendered plate.

    Attributes:
        images: ``(n_wells, n_days, size, size)`` float32 in [0, 1] (transmitted intensity).
        efficacy: ``(n_wells,)`` hidden true fraction killed by day 10.
        design: the wells' treatments, in the same order.
        days: ``(n_days,)`` imaging days.
    """

    images: np.ndarray
    efficacy: np.ndarray
    design: list[WellDesign]
    days: np.ndarray


def _gompertz_radius(r7: float, K: float, alpha: float, t: float) -> float:
    """Eq. (S2): Gompertz radius at day ``t`` from radius ``r7`` on day 7 (FOV units)."""
    return K * np.exp(np.log(r7 / K) * np.exp(-alpha * (t - 7.0)))


def render_plate(
    seed: int,
    plate: int = 0,
    size: int = 64,
    design: list[WellDesign] | None = None,
    drugs: Sequence[Drug] = DEFAULT_DRUGS,
    efficacy_noise: float = 0.05,
    noise_level: float = 1.0,
    days: Sequence[int] = DAYS,
) -> PlateImages:
    """Render every designed well of plate ``plate`` of experiment ``seed`` on each day.

    Args:
        seed: experiment seed; ``(seed, plate)`` fixes everything (deterministic).
        plate: plate index within the experiment.
        size: image side (pixels).
        design: well treatments (default :func:`design_plate`).
        drugs: dose–response curves of the drugs named in ``design``.
        efficacy_noise: sd of the well-to-well scatter of the true efficacy (fraction).
        noise_level: multiplies the imaging nuisances (blur, noise, illumination, shifts).
        days: imaging days (drug applied on the first).

    Returns:
        :class:`PlateImages` with images ``(n_wells, n_days, size, size)`` in [0, 1].
    """
    if size < 16:
        raise sciml.UserError(f"image size {size} is too small; use at least 16 pixels")
    design = design_plate(drugs=drugs) if design is None else design
    by_name = {d.name: d for d in drugs}
    prng = np.random.default_rng([int(seed), int(plate), 7919])
    nl = float(noise_level)
    plate_gain = 1.0 + nl * prng.normal(0.0, 0.08)
    plate_offset = nl * prng.normal(0.0, 0.02)
    grad_dir = prng.uniform(0, 2 * np.pi)
    grad = nl * prng.uniform(0.03, 0.10)
    vignette = nl * prng.uniform(0.10, 0.25)

    lin = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    Y, X = np.meshgrid(lin, lin, indexing="ij")
    illum_base = (1.0 - vignette * (X**2 + Y**2) / 2.0) * (1.0 + grad * (np.cos(grad_dir) * X + np.sin(grad_dir) * Y))
    px = 2.0 / size  # pixel width in FOV units

    images = np.empty((len(design), len(days), size, size), dtype=np.float32)
    efficacy = np.zeros(len(design))
    for w, wd in enumerate(design):
        rng = np.random.default_rng([int(seed), int(plate), w + 1])
        if wd.group == 0:
            eff = 0.0
        else:
            if wd.drug not in by_name:
                raise sciml.UserError(f"well {wd.well}: unknown drug {wd.drug!r}; known: {sorted(by_name)}")
            eff = float(np.clip(by_name[wd.drug].efficacy(wd.concentration) + rng.normal(0, efficacy_noise), 0, 1))
        efficacy[w] = eff
        # Per-well biology (fixed over days)
        r7 = rng.uniform(0.27, 0.35)
        K = r7 * rng.uniform(1.35, 1.55)
        alpha = rng.uniform(0.30, 0.42)
        cx0, cy0 = rng.normal(0.0, 0.06, 2)
        core_frac = rng.uniform(0.45, 0.6)
        od_core0 = rng.uniform(1.1, 1.5)
        od_rim0 = rng.uniform(0.25, 0.4)
        k_harm = np.arange(2, 7)
        harm_phase = rng.uniform(0, 2 * np.pi, k_harm.size)
        harm_w = rng.uniform(0.3, 1.0, k_harm.size) / k_harm
        base_irreg = rng.uniform(0.01, 0.03)
        k_rough = np.arange(7, 16)
        rough_phase = rng.uniform(0, 2 * np.pi, k_rough.size)
        tex = ndimage.gaussian_filter(rng.normal(size=(48, 48)), 1.6)
        tex = (tex - tex.mean()) / (tex.std() + 1e-9)
        n_debris = 90
        deb_ang = rng.uniform(0, 2 * np.pi, n_debris)
        deb_rad = 1.0 + rng.exponential(0.35, n_debris)
        deb_size = rng.uniform(0.006, 0.02, n_debris)
        deb_od = rng.uniform(0.3, 0.9, n_debris)
        n_frag = 6
        frag_ang = rng.uniform(0, 2 * np.pi, n_frag)
        frag_size = rng.uniform(0.15, 0.3, n_frag)
        well_R = rng.uniform(1.22, 1.32)
        wcx, wcy = rng.normal(0.0, 0.05, 2)
        n_natural = rng.integers(0, 4)

        for d, day in enumerate(days):
            t = float(day)
            dt = max(0.0, (t - days[0]) / max(1e-9, (days[-1] - days[0])))
            p = eff * dt**1.3
            r_unt = _gompertz_radius(r7, K, alpha, t)
            r = r7 * (r_unt / r7) ** (1.0 - eff) * (1.0 - 0.5 * p)
            cx = cx0 + rng.normal(0, 0.01)
            cy = cy0 + rng.normal(0, 0.01)
            dx, dy = X - cx, Y - cy
            rho = np.hypot(dx, dy)
            theta = np.arctan2(dy, dx)
            amp = base_irreg + 0.5 * p
            boundary = 1.0 + amp * np.sum(harm_w[:, None, None] * np.cos(k_harm[:, None, None] * theta + harm_phase[:, None, None]), 0)
            boundary += 0.05 * p * np.mean(np.cos(k_rough[:, None, None] * theta + rough_phase[:, None, None]), 0) * 3
            rb = r * boundary
            edge_w = px * 0.8
            inside = 1.0 / (1.0 + np.exp(-(rb - rho) / edge_w))
            r_core = rb * (core_frac + 0.25 * p)
            core = 1.0 / (1.0 + np.exp(-(r_core - rho) / (2.5 * px)))
            # texture sampled in spheroid-normalised coordinates (grows with the spheroid)
            u = (dx / r + 2.0) / 4.0 * 47.0
            v = (dy / r + 2.0) / 4.0 * 47.0
            T = ndimage.map_coordinates(tex, [v, u], order=1, mode="nearest")
            T = np.exp((0.22 + 0.3 * p) * T)
            od_rim = od_rim0 * (1.0 + 0.9 * p)
            od_core = od_core0 * (1.0 + 0.5 * p)
            od = inside * (od_rim + (od_core - od_rim) * core) * T
            # fragments: satellite blobs budding off at high effect
            n_f = int(np.floor(n_frag * max(0.0, p - 0.35) / 0.65 + 1e-9))
            for j in range(n_f):
                fr = r * (1.0 + 0.25 * p)
                fx = cx + fr * np.cos(frag_ang[j])
                fy = cy + fr * np.sin(frag_ang[j])
                fs = frag_size[j] * r
                od += od_rim * 1.3 / (1.0 + np.exp(-(fs - np.hypot(X - fx, Y - fy)) / edge_w))
            # debris: shed in proportion to the effect (plus a little in every well)
            n_d = min(n_debris, int(round(n_debris * p)) + int(n_natural))
            for j in range(n_d):
                dr = r * deb_rad[j] * (1.0 + 0.3 * p)
                ex = cx + dr * np.cos(deb_ang[j])
                ey = cy + dr * np.sin(deb_ang[j])
                od += deb_od[j] * np.exp(-((X - ex) ** 2 + (Y - ey) ** 2) / (2 * deb_size[j] ** 2))
            halo = 0.12 * (1.0 - 0.5 * p) * np.exp(-(((rho - rb) / (1.6 * px)) ** 2)) * (rho > rb * 0.98)
            # well wall: dark plastic beyond the well radius with a bright rim
            wr = np.hypot(X - wcx, Y - wcy)
            wall = 1.0 - 0.6 / (1.0 + np.exp(-(wr - well_R) / (1.5 * px)))
            wall_rim = 0.15 * np.exp(-(((wr - well_R) / (2.0 * px)) ** 2))
            day_light = 1.0 + nl * rng.normal(0, 0.02)
            img = plate_gain * day_light * illum_base * (0.82 * np.exp(-od) + halo) * wall + wall_rim + plate_offset
            sigma = nl * rng.uniform(0.2, 1.0) * size / 64.0
            if sigma > 0.05:
                img = ndimage.gaussian_filter(img, sigma)
            if nl > 0:
                photons = 600.0 / nl
                img = rng.poisson(np.clip(img, 0, None) * photons) / photons + rng.normal(0, 0.006 * nl, img.shape)
            images[w, d] = np.clip(img, 0.0, 1.0)
    return PlateImages(images=images, efficacy=efficacy, design=list(design), days=np.asarray(days))
