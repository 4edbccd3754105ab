"""Ground-truth data of the paper §3.1: Ten Tusscher–Panfilov 2006 in a 2D monodomain slab.

The monodomain reaction-diffusion equation with the TP06 ionic model (ten Tusscher &
Panfilov, Am. J. Physiol. 291, 2006) is solved by ``finitewave`` (explicit finite
differences, isotropic tissue), as in the paper. One stimulus current is applied for 1 ms
in a small square: the top-left corner for the training set, near the centre for the
validation set (paper Fig. 1), and the middle of the top edge for the test set (not in the
paper, which has no test set; an edge site is neither a corner nor the centre, and unlike
the opposite corner it is no mirror image of the training slab). The transmembrane voltage
of every cell is recorded every ``record_interval`` ms.

finitewave is imported inside :func:`simulate_tp06_slab` only (it compiles numba kernels).
"""

from __future__ import annotations

import numpy as np
import sciml

STIMULUS_SITES = ("corner", "centre", "edge")


def stimulus_box(n: int, site: str, size: int) -> tuple[int, int, int, int]:
    """Cell index box ``(x1, x2, y1, y2)`` (half open, 0-based in the ``n×n`` slab).

    ``corner``: the ``size×size`` top-left corner; ``centre``: a ``size×size`` square whose
    top-left cell is one cell off the centre (the paper stimulates "near the center");
    ``edge``: a ``size×size`` square on the top edge (first index 0), at the centre's
    offset along the edge.

    Raises:
        sciml.UserError: unknown ``site`` or a box that does not fit in the slab.
    """
    if site not in STIMULUS_SITES:
        raise sciml.UserError(f"stimulus site {site!r} is not one of {list(STIMULUS_SITES)}")
    if not 1 <= size <= n:
        raise sciml.UserError(f"stimulus size {size} must be between 1 and the slab size {n}")
    if site == "corner":
        return 0, size, 0, size
    start = max(0, min(n - size, n // 2 - size // 2 - 1))
    if site == "edge":
        return 0, size, start, start + size
    return start, start + size, start, start + size


def simulate_tp06_slab(
    n: int = 24,
    t_end: float = 400.0,
    site: str = "corner",
    *,
    stim_size: int = 3,
    stim_current: float = 150.0,
    stim_duration: float = 1.0,
    dt: float = 0.01,
    dr: float = 0.25,
    record_interval: float = 1.0,
    num_threads: int = 1,
    g_kr_scale: float = 1.0,
    g_ks_scale: float = 1.0,
) -> np.ndarray:
    """Run TP06 in an ``n×n`` isotropic slab and return the voltage of every cell.

    Args:
        n: slab size in cells (24 in the paper).
        t_end: simulated time (ms; 400 in the paper).
        site: ``"corner"`` (training), ``"centre"`` (validation) or ``"edge"`` (test),
            see :func:`stimulus_box`.
        stim_size: side of the stimulated square (cells).
        stim_current: stimulus current added to du/dt in the square (mV/ms) during
            ``stim_duration`` ms (1 ms in the paper).
        dt, dr: time step (ms) and cell size (mm) of finitewave's explicit scheme.
        record_interval: sampling interval of the recorded voltage (ms).
        num_threads: numba threads (1 is fastest for a 24×24 slab on a shared CPU).
        g_kr_scale, g_ks_scale: factors on TP06's G_Kr and G_Ks conductances in the whole
            slab (> 1 shortens the action potential; a second region of the paper's Fig. 4).

    Returns:
        ``(n_t, n, n)`` float32 transmembrane voltage in mV, ``n_t = t_end/record_interval + 1``
        (sample 0 is the resting state at t = 0).

    Raises:
        sciml.UserError: bad sizes, times or site.
    """
    if n < 2:
        raise sciml.UserError(f"slab size n={n} must be at least 2 cells")
    if not (g_kr_scale > 0 and g_ks_scale > 0):
        raise sciml.UserError(f"conductance scales must be > 0, got g_kr_scale={g_kr_scale}, g_ks_scale={g_ks_scale}")
    if not (t_end > 0 and record_interval > 0 and record_interval <= t_end):
        raise sciml.UserError(
            f"need 0 < record_interval ({record_interval} ms) <= t_end ({t_end} ms)")
    x1, x2, y1, y2 = stimulus_box(n, site, stim_size)

    import finitewave as fw

    # finitewave treats the outer layer of the mesh as a no-flux boundary (not tissue):
    # pad by one cell so that the n×n interior is the slab.
    tissue = fw.CardiacTissue2D((n + 2, n + 2))
    tissue.add_boundaries()
    stim = fw.StimSequence()
    stim.add_stim(fw.StimCurrentCoord2D(0.0, stim_current, stim_duration,
                                        x1 + 1, x2 + 1, y1 + 1, y2 + 1))
    model = fw.TP062D()
    model.dt = dt
    model.dr = dr
    if g_kr_scale != 1.0:
        model.gKr = model.gKr * g_kr_scale
    if g_ks_scale != 1.0:
        model.gKs = model.gKs * g_ks_scale
    model.t_max = 0.0
    model.prog_bar = False
    model.cardiac_tissue = tissue
    model.stim_sequence = stim
    model.initialize()

    n_records = int(round(t_end / record_interval))
    out = np.empty((n_records + 1, n, n), dtype=np.float32)
    out[0] = model.u[1:-1, 1:-1]
    for k in range(1, n_records + 1):
        model.t_max = k * record_interval
        model.run(initialize=False, num_of_threads=num_threads)
        out[k] = model.u[1:-1, 1:-1]
    return out
