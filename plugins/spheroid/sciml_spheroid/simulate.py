"""Simulated bright-field spheroid experiment with a known ground truth.

Two presets. ``"legacy"`` (:func:`render_plate`, the simulator of the first release, kept so
that old results stay reproducible) lets one hidden efficacy drive size, circularity and
intensity together, so the hand-crafted features are nearly sufficient. ``"treatment"``
(:func:`render_treatment_plate`, the default of the dataset) lets each drug act through its own
mechanisms, each with its own dose response, and adds plate/day acquisition drift; it is
described in that function. The rest of this docstring describes the legacy preset.

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
import sciml
from scipy import ndimage

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
        images: ``(n_wells, n_days, size, size)`` (legacy) or ``(n_wells, n_days, n_layers, size,
            size)`` (treatment preset: focal layers as channels) float32 in [0, 1].
        efficacy: ``(n_wells,)`` hidden true fraction killed by day 10.
        design: the wells' treatments, in the same order.
        days: ``(n_days,)`` imaging days.
    """

    images: np.ndarray
    efficacy: np.ndarray
    design: list[WellDesign]
    days: np.ndarray
    #: treatment preset only: ``(n_wells,)`` the efficacy implied by the rendered (visible)
    #: mechanism effects, before the invisible well-to-well scatter — the oracle's score
    oracle: np.ndarray | None = None
    #: treatment preset only: ``(n_wells, n_mechanisms)`` mechanism effects (order :data:`MECHANISMS`)
    effects: np.ndarray | None = None


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


# -- the "treatment" preset ------------------------------------------------------------------------
#: Mechanisms through which a drug acts in the treatment preset, each with its own dose response.
MECHANISMS: tuple[str, ...] = ("growth", "core", "fragment", "loosen", "density")
#: How much a full effect of each mechanism kills (fraction): growth arrest alone kills little
#: (cytostatic), necrosis and fragmentation kill most.
KILL_WEIGHT: dict[str, float] = {"growth": 0.10, "core": 0.90, "fragment": 0.85, "loosen": 0.60, "density": 0.70}
#: Presets of the simulated experiment.
PRESETS: tuple[str, ...] = ("treatment", "legacy")


def kill_fraction(effects: dict[str, float] | np.ndarray) -> float | np.ndarray:
    """Fraction killed by mechanism effects (each in [0, 1]): ``1 - prod_m (1 - w_m a_m)`` (S4),
    ``w_m`` = :data:`KILL_WEIGHT`. ``effects``: a dict, or an array ``(..., len(MECHANISMS))``."""
    if isinstance(effects, dict):
        return float(1.0 - np.prod([1.0 - KILL_WEIGHT[m] * effects.get(m, 0.0) for m in MECHANISMS]))
    w = np.array([KILL_WEIGHT[m] for m in MECHANISMS])
    return 1.0 - np.prod(1.0 - w * np.asarray(effects), axis=-1)


@dataclasses.dataclass(frozen=True)
class MechanismDrug:
    """A drug acting through mechanisms, each with a Hill dose response (eq. S1).

    ``mechanisms``: ``((mechanism, ec50 µM, hill, emax), ...)`` with mechanism in :data:`MECHANISMS`.
    """

    name: str
    mechanisms: tuple[tuple[str, float, float, float], ...]

    def effects(self, concentration: float) -> dict[str, float]:
        """Mean effect of each mechanism (fraction in [0, 1]) at ``concentration`` (µM)."""
        out = {m: 0.0 for m in MECHANISMS}
        c = max(float(concentration), 0.0)
        for m, ec50, h, emax in self.mechanisms:
            out[m] = float(emax * c**h / (ec50**h + c**h))
        return out

    def efficacy(self, concentration: float | np.ndarray) -> np.ndarray:
        """Mean fraction killed at ``concentration`` (µM), eq. (S4) of the mean effects."""
        c = np.atleast_1d(np.asarray(concentration, dtype=float))
        e = np.array([kill_fraction(self.effects(x)) for x in c.ravel()]).reshape(c.shape)
        return e if np.ndim(concentration) else e[0]


#: Drugs of the treatment preset (hypothetical): a necrosis inducer, a disaggregating drug (the
#: spheroid grows looser and lighter, its area *increases*), a fragmenting drug active at high
#: doses, and a cytostatic drug that stops growth but kills little — size is the wrong guide.
TREATMENT_DRUGS: tuple[MechanismDrug, ...] = (
    MechanismDrug("D1", (("core", 0.5, 1.5, 0.9), ("growth", 0.5, 1.5, 0.5))),
    MechanismDrug("D2", (("loosen", 2.0, 1.2, 0.9), ("density", 3.0, 1.0, 0.7), ("growth", 1.0, 1.0, 0.2))),
    MechanismDrug("D3", (("fragment", 4.0, 2.5, 0.9), ("core", 6.0, 2.0, 0.4))),
    MechanismDrug("D4", (("growth", 0.3, 1.2, 0.95), ("core", 20.0, 1.0, 0.15))),
)


def design_treatment_plate(concentrations: Sequence[float] = DEFAULT_CONCENTRATIONS, replicates: int = 2,
                           n_untreated: int = 12, n_single: int = 8,
                           drugs: Sequence[MechanismDrug] = TREATMENT_DRUGS,
                           single_concentration: float = 1.0) -> list[WellDesign]:
    """The treatment preset's layout: 12 untreated, 8 single (D1, 1 µM), 4 drugs x 5 doses x 2."""
    return design_plate(n_untreated=n_untreated, n_single=n_single, drugs=drugs, concentrations=concentrations,
                        replicates=replicates, single_drug=drugs[0].name, single_concentration=single_concentration)


def render_treatment_plate(
    seed: int,
    plate: int = 0,
    size: int = 64,
    design: list[WellDesign] | None = None,
    drugs: Sequence[MechanismDrug] = TREATMENT_DRUGS,
    efficacy_noise: float = 0.05,
    noise_level: float = 1.0,
    days: Sequence[int] = DAYS,
    n_layers: int = 1,
    effect_scatter: float = 0.15,
) -> PlateImages:
    """Render a plate where treatment acts the way treatments act (the "treatment" preset).

    Biology per treated well: each mechanism ``m`` of the well's drug has the mean effect
    ``a_m(c)`` of its own Hill curve (S1), scattered well to well (log-normal, sd
    ``effect_scatter``) and clipped to [0, 1]; effects build up after dosing,
    ``p_m(t) = a_m ((t - t0) / (t_end - t0))**1.3``:

    - ``growth``: growth arrest, ``r = r7 (r_untreated(t) / r7)**(1 - a_growth)`` (Gompertz S2);
    - ``core``: the necrotic core widens (+30 % of the radius) and darkens (optical density x2),
      the spheroid shrinks slightly (-12 %);
    - ``fragment``: cracks open inside (lighter lines), the outline loses circularity, and
      satellite fragments bud off at high effect;
    - ``loosen``: the rim loosens: a soft edge (up to 10 pixels wide), a rough outline, shed
      single cells around it, the refraction halo fades, the apparent radius grows (+30 %);
    - ``density``: the tissue thins out (optical density -55 %), so the spheroid gets lighter.

    Truth: the fraction killed is ``E = kill(a) + N(0, efficacy_noise)`` clipped to [0, 1], with
    ``kill`` eq. (S4) (:func:`kill_fraction`); ``oracle = kill(a)`` is what the images can show at
    best (the scatter is invisible). Untreated wells have ``E = 0``.

    Acquisition: transmitted light as eq. (S3) with a per-plate gain, offset, vignetting and
    gradient, a per-(plate, day) illumination gain (sd 5 %) and focus drift shared by all wells
    of that plate on that day (plate-to-plate focus offset sd 0.6, day-to-day sd 0.4, in
    units of ``1.2 * size / 64`` pixels of blur), a small per-well focus jitter, shot and read noise.
    ``n_layers`` focal planes (spacing 1 unit around the nominal focus) are returned as channels.

    Returns:
        :class:`PlateImages`, images ``(n_wells, n_days, n_layers, size, size)`` in [0, 1], with
        ``oracle`` and ``effects`` set.

    Raises:
        sciml.UserError: ``size < 16``, ``n_layers < 1``, or a design naming an unknown drug.
    """
    if size < 16:
        raise sciml.UserError(f"image size {size} is too small; use at least 16 pixels")
    if n_layers < 1:
        raise sciml.UserError(f"n_layers must be >= 1, got {n_layers}")
    design = design_treatment_plate(drugs=drugs) if design is None else design
    by_name = {d.name: d for d in drugs}
    nl = float(noise_level)
    prng = np.random.default_rng([int(seed), int(plate), 104729])
    plate_gain = 1.0 + nl * prng.normal(0.0, 0.08)
    plate_offset = nl * prng.normal(0.0, 0.02)
    plate_focus = nl * prng.normal(0.0, 0.6)
    grad_dir = prng.uniform(0, 2 * np.pi)
    grad = nl * prng.uniform(0.03, 0.10)
    vignette = nl * prng.uniform(0.10, 0.25)
    day_gain = 1.0 + nl * prng.normal(0.0, 0.05, len(days))
    day_focus = nl * prng.normal(0.0, 0.4, len(days))

    lin = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    Y, X = np.meshgrid(lin, lin, indexing="ij")
    illum = (1.0 - vignette * (X**2 + Y**2) / 2.0) * (1.0 + grad * (np.cos(grad_dir) * X + np.sin(grad_dir) * Y))
    px = 2.0 / size
    z_layers = np.arange(n_layers) - (n_layers - 1) / 2.0
    blur_unit = 1.2 * size / 64.0

    images = np.empty((len(design), len(days), n_layers, size, size), dtype=np.float32)
    efficacy = np.zeros(len(design))
    oracle = np.zeros(len(design))
    effects = np.zeros((len(design), len(MECHANISMS)))
    for w, wd in enumerate(design):
        rng = np.random.default_rng([int(seed), int(plate), w + 1, 31])
        a = {m: 0.0 for m in MECHANISMS}
        if wd.group != 0:
            if wd.drug not in by_name:
                raise sciml.UserError(f"well {wd.well}: unknown drug {wd.drug!r}; known: {sorted(by_name)}")
            mean = by_name[wd.drug].effects(wd.concentration)
            a = {m: float(np.clip(v * np.exp(rng.normal(0, effect_scatter)) + rng.normal(0, 0.02), 0, 1)) if v > 0
                 else 0.0 for m, v in mean.items()}
            oracle[w] = kill_fraction(a)
            efficacy[w] = float(np.clip(oracle[w] + rng.normal(0, efficacy_noise), 0, 1))
        effects[w] = [a[m] for m in MECHANISMS]
        r7 = rng.uniform(0.24, 0.32)
        K = r7 * rng.uniform(1.35, 1.55)
        alpha = rng.uniform(0.30, 0.42)
        cx0, cy0 = rng.normal(0.0, 0.06, 2)
        core_frac = rng.uniform(0.40, 0.55)
        od_core0 = rng.uniform(1.0, 1.4)
        od_rim0 = rng.uniform(0.35, 0.5)
        k_harm = np.arange(2, 7)
        harm_phase = rng.uniform(0, 2 * np.pi, k_harm.size)
        harm_w = rng.uniform(0.3, 1.0, k_harm.size) / k_harm
        base_irreg = rng.uniform(0.01, 0.03)
        k_rough = np.arange(8, 20)
        rough_phase = rng.uniform(0, 2 * np.pi, k_rough.size)
        tex = ndimage.gaussian_filter(rng.normal(size=(48, 48)), 1.6)
        tex = (tex - tex.mean()) / (tex.std() + 1e-9)
        crack = ndimage.gaussian_filter(rng.normal(size=(48, 48)), 2.5)
        crack = np.exp(-((crack / (crack.std() + 1e-9)) / 0.25) ** 2)  # thin lines where the field crosses 0
        n_shed = 60
        shed_ang = rng.uniform(0, 2 * np.pi, n_shed)
        shed_rad = rng.uniform(0.85, 1.6, n_shed)
        shed_size = rng.uniform(0.008, 0.016, n_shed)
        n_frag = 5
        frag_ang = rng.uniform(0, 2 * np.pi, n_frag)
        frag_size = rng.uniform(0.15, 0.3, n_frag)
        well_R = rng.uniform(1.22, 1.32)
        wcx, wcy = rng.normal(0.0, 0.05, 2)
        focus_jitter = nl * rng.normal(0.0, 0.2)

        for d, day in enumerate(days):
            t = float(day)
            dt = max(0.0, (t - days[0]) / max(1e-9, (days[-1] - days[0])))
            p = {m: a[m] * dt**1.3 for m in MECHANISMS}
            r_unt = _gompertz_radius(r7, K, alpha, t)
            r = r7 * (r_unt / r7) ** (1.0 - a["growth"])
            r *= (1.0 - 0.12 * p["core"]) * (1.0 + 0.3 * p["loosen"])
            cx = cx0 + rng.normal(0, 0.01)
            cy = cy0 + rng.normal(0, 0.01)
            dx, dy = X - cx, Y - cy
            rho = np.hypot(dx, dy)
            theta = np.arctan2(dy, dx)
            amp = base_irreg + 0.25 * p["fragment"]
            boundary = 1.0 + amp * np.sum(harm_w[:, None, None] * np.cos(
                k_harm[:, None, None] * theta + harm_phase[:, None, None]), 0)
            boundary += 0.08 * p["loosen"] * np.mean(np.cos(k_rough[:, None, None] * theta + rough_phase[:, None, None]), 0) * 3
            rb = r * boundary
            edge_w = px * (0.8 + 10.0 * p["loosen"])
            inside = 1.0 / (1.0 + np.exp(-(rb - rho) / edge_w))
            r_core = rb * (core_frac + 0.3 * p["core"])
            core = 1.0 / (1.0 + np.exp(-(r_core - rho) / (2.5 * px)))
            u = np.clip((dx / r + 2.0) / 4.0 * 47.0, 0, 47)
            v = np.clip((dy / r + 2.0) / 4.0 * 47.0, 0, 47)
            T = np.exp((0.2 + 0.2 * p["loosen"]) * ndimage.map_coordinates(tex, [v, u], order=1, mode="nearest"))
            C = ndimage.map_coordinates(crack, [v, u], order=1, mode="nearest")
            density = 1.0 - 0.55 * p["density"]
            od_rim = od_rim0 * density * (1.0 - 0.3 * p["loosen"])
            od_core = od_core0 * density * (1.0 + 1.0 * p["core"])
            od = inside * (od_rim + (od_core - od_rim) * core) * T * (1.0 - 0.8 * p["fragment"] * C)
            n_f = int(np.floor(n_frag * max(0.0, p["fragment"] - 0.3) / 0.7 + 1e-9))
            for j in range(n_f):
                fr = r * (1.0 + 0.3 * p["fragment"])
                fx, fy = cx + fr * np.cos(frag_ang[j]), cy + fr * np.sin(frag_ang[j])
                od += od_rim * 1.3 / (1.0 + np.exp(-(frag_size[j] * r - np.hypot(X - fx, Y - fy)) / (0.8 * px)))
            for j in range(min(n_shed, int(round(n_shed * p["loosen"])))):
                ex = cx + r * shed_rad[j] * np.cos(shed_ang[j])
                ey = cy + r * shed_rad[j] * np.sin(shed_ang[j])
                od += 0.5 * np.exp(-((X - ex) ** 2 + (Y - ey) ** 2) / (2 * shed_size[j] ** 2))
            halo = 0.12 * (1.0 - 0.8 * p["loosen"]) * np.exp(-(((rho - rb) / (1.6 * px)) ** 2)) * (rho > rb * 0.98)
            wr = np.hypot(X - wcx, Y - wcy)
            wall = 1.0 - 0.6 / (1.0 + np.exp(-(wr - well_R) / (1.5 * px)))
            wall_rim = 0.15 * np.exp(-(((wr - well_R) / (2.0 * px)) ** 2))
            sharp = plate_gain * day_gain[d] * illum * (0.82 * np.exp(-od) + halo) * wall + wall_rim + plate_offset
            focus = plate_focus + day_focus[d] + focus_jitter
            for k, z in enumerate(z_layers):
                sigma = float(np.hypot(0.3, z - focus)) * blur_unit
                img = ndimage.gaussian_filter(sharp, sigma) if sigma > 0.05 else sharp
                if nl > 0:
                    photons = 600.0 / nl
                    img = rng.poisson(np.clip(img, 0, None) * photons) / photons + rng.normal(0, 0.006 * nl, img.shape)
                images[w, d, k] = np.clip(img, 0.0, 1.0)
    return PlateImages(images=images, efficacy=efficacy, design=list(design), days=np.asarray(days),
                       oracle=oracle, effects=effects)
