"""A user's optical-mapping recording: robust normalisation of noisy traces, TIFF stacks, ROI,
binning, drift and photobleaching (issue 17). The synthetic recordings have known activation
times (Mitchell–Schaeffer action potentials of a planar wave, 50 cm/s, 0.7 mm pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import sciml
from sciml_aphyn.recording import bin_stack, block_split, load_roi, read_recording, read_stack, stack_to_traces
from sciml_aphyn.synthetic import fluorescence, planar_wave_movie
from sciml_aphyn.traces import normalise_traces, preprocess_traces

DT = 1.0  # ms per frame


@pytest.fixture(scope="module")
def wave():
    """``(v (600, 8, 12), activation (1, 8, 12))``: one beat crossing the field from the left."""
    return planar_wave_movie(600, DT, 8, 12)


def _truth(act, coords):
    return act[0][coords[:, 0], coords[:, 1]]


def test_noise_added_before_normalisation_does_not_fire_the_cut_at_sample_zero(wave):
    """The bug of issue 17: min-max normalisation of a noisy trace cuts at the first noise sample."""
    v, act = wave
    rng = np.random.default_rng(0)
    raw = -85.0 + 120.0 * v.reshape(len(v), -1).T  # mV, rest -85
    noisy = raw + 12.0 * rng.standard_normal(raw.shape)  # SNR 10, noise before normalisation
    _, start_minmax = normalise_traces(noisy, DT, 300.0, return_start=True, method="minmax")
    assert (start_minmax <= 2).mean() > 0.9  # the old cut fires in the first samples
    prep = preprocess_traces(noisy, DT, 300.0, bleach="subtract")
    truth = act[0].reshape(-1)
    assert len(prep.kept) == raw.shape[0]
    assert np.abs(prep.activation_ms - truth).max() < 2.0
    # the kept trace starts at the foot of the upstroke (smoothed over 5 ms), not at sample 0
    assert np.all(prep.start >= truth - 8) and np.all(prep.start <= truth + 1)
    rest = np.concatenate([noisy[i, :int(truth[i]) - 5] for i in range(0, len(truth), 7)])
    assert abs(np.median((rest - (-85.0)) / 120.0)) < 0.05  # resting level at 0 in normalised units
    clean = (raw - -85.0) / 120.0
    aligned = np.take_along_axis(clean, prep.start[:, None] + np.arange(301)[None], axis=1)
    assert np.median(prep.traces[:, 40:120] - aligned[:, 40:120]) == pytest.approx(0.0, abs=0.08)


def test_tiff_stack_with_drift_bleaching_offset_and_noise_end_to_end(tmp_path, wave):
    """Camera frames (uint16, ΔF/F −8 %, SNR 10, offset gradient, drift, bleaching of 18 % over the
    recording, i.e. twice the action potential): activation within 2 ms of the truth."""
    import tifffile

    v, act = wave
    frames = fluorescence(v, DT, snr=10.0, bleach_tau_ms=3000.0, drift_per_s=0.05, seed=3)
    path = tmp_path / "rec.tif"
    tifffile.imwrite(path, frames)
    stack = read_stack(path)
    assert stack.shape == (600, 8, 12) and stack.dtype == np.float64
    traces, coords, grid = stack_to_traces(stack)
    prep = preprocess_traces(traces, DT, 300.0)
    assert prep.polarity == -1  # the dye dims on depolarisation
    assert len(prep.kept) == 96
    err = prep.activation_ms - _truth(act, coords[prep.kept])
    assert np.abs(err).max() < 2.0
    clean = v.reshape(600, -1).T[prep.kept]
    aligned = np.take_along_axis(clean, prep.start[:, None] + np.arange(301)[None], axis=1)
    resid = prep.traces - aligned
    assert abs(resid.mean()) < 0.1  # baseline and amplitude right to a few % (noise σ ~0.1)
    assert resid.std() < 0.15
    assert np.nanmedian(prep.apd_ms) == pytest.approx(273.0, abs=10.0)  # APD80 of the MS action potential


def test_strong_photobleaching_is_removed(wave):
    v, act = wave
    frames = fluorescence(v, DT, snr=20.0, bleach_tau_ms=800.0, drift_per_s=0.0, seed=4, dtype=np.float64)
    traces, coords, _ = stack_to_traces(frames)  # baseline falls by 53 %: 7x the action potential
    prep = preprocess_traces(traces, DT, 300.0, detrend_degree=3)
    assert np.abs(prep.activation_ms - _truth(act, coords[prep.kept])).max() < 2.0
    late = prep.traces[:, 250:]  # after repolarisation: back at rest (0), not drifting below
    assert abs(np.median(late[np.isfinite(prep.apd_ms)])) < 0.08


def test_roi_binning_and_background_pixels(tmp_path, wave):
    from PIL import Image

    v, act = wave
    v = v.copy()
    v[:, :, 10:] = 0.0  # columns 10-11: no tissue, noise only
    frames = fluorescence(v, DT, snr=10.0, seed=5, dtype=np.float64)
    stack = np.asarray(frames)
    _, _, _ = stack_to_traces(stack)
    prep_all = preprocess_traces(stack_to_traces(stack)[0], DT, 300.0)
    assert len(prep_all.kept) == 80  # the 16 background pixels are dropped (no action potential)
    mask = np.zeros((8, 12), dtype=np.uint8)
    mask[2:6, 0:8] = 255
    Image.fromarray(mask).save(tmp_path / "roi.png")
    roi = load_roi(str(tmp_path / "roi.png"), (8, 12))
    assert roi.sum() == 32 and np.array_equal(roi, load_roi("2:6,0:8", (8, 12)))
    traces, coords, grid = stack_to_traces(stack, str(tmp_path / "roi.png"), binning=2)
    assert grid == (4, 6) and traces.shape == (8, 600)  # 2 binned rows × 4 binned columns in the ROI
    binned_truth = act[0].reshape(4, 2, 6, 2).mean(axis=(1, 3))[coords[:, 0], coords[:, 1]]
    prep = preprocess_traces(traces, DT, 300.0)
    assert np.abs(prep.activation_ms - binned_truth).max() < 2.0
    assert np.median(prep.noise) < 0.7 * np.median(prep_all.noise)  # 2×2 binning halves σ


def test_beat_choice_in_a_multi_beat_recording():
    v, act = planar_wave_movie(900, DT, 2, 3, beats=(0.0, 450.0))
    raw = -85.0 + 120.0 * v.reshape(900, -1).T + np.random.default_rng(1).normal(0, 6.0, (6, 900))
    first = preprocess_traces(raw, DT, 300.0, bleach="subtract")
    second = preprocess_traces(raw, DT, 300.0, bleach="subtract", beat=1)
    assert np.abs(first.activation_ms - act[0].reshape(-1)).max() < 2.0
    assert np.abs(second.activation_ms - act[1].reshape(-1)).max() < 2.0
    with pytest.raises(sciml.UserError, match="next beat starts .* inside the 460 ms horizon"):
        preprocess_traces(raw, DT, 460.0, bleach="subtract")
    with pytest.raises(sciml.UserError, match="2 complete beat.*beat 2 was asked for"):
        preprocess_traces(raw, DT, 300.0, bleach="subtract", beat=2)


def test_block_split_keeps_neighbours_together():
    coords = np.argwhere(np.ones((4, 10), dtype=bool))
    parts = block_split(coords)
    cols = {k: set(coords[v, 1].tolist()) for k, v in parts.items()}
    assert cols == {"train": set(range(6)), "val": {6, 7}, "test": {8, 9}}
    assert sum(len(v) for v in parts.values()) == 40
    with pytest.raises(sciml.UserError, match="needs >= 3"):
        block_split(coords[coords[:, 1] < 2])


def test_recording_errors_are_one_line_user_errors(tmp_path, wave):
    import tifffile

    with pytest.raises(sciml.UserError, match="does not exist"):
        read_stack(tmp_path / "missing.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 4, 5, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(sciml.UserError, match="colour pages"):
        read_stack(tmp_path / "rgb.tif")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(sciml.UserError, match="cannot read the recording"):
        read_stack(tmp_path / "bad.tif")
    with pytest.raises(sciml.UserError, match="neither a mask file nor a rectangle"):
        load_roi("left half", (4, 5))
    with pytest.raises(sciml.UserError, match=r"ROI mask has shape \(3, 3\)"):
        load_roi(np.ones((3, 3)), (4, 5))
    with pytest.raises(sciml.UserError, match="selects no pixel"):
        load_roi("0:0,0:5", (4, 5))
    with pytest.raises(sciml.UserError, match="binning factor must be in 1..4"):
        bin_stack(np.zeros((2, 4, 5)), np.ones((4, 5), bool), 5)
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(100, 1, (300, 3, 4)))
    kind, stack = read_recording(tmp_path / "noise.npy")
    assert kind == "stack"
    with pytest.raises(sciml.UserError, match="no trace has an action potential above 3"):
        preprocess_traces(stack_to_traces(stack)[0], 1.0, 100.0)
    centred = 50.0 * wave[0].reshape(600, -1).T[:3] + np.random.default_rng(2).normal(0, 2.0, (3, 600))
    with pytest.raises(sciml.UserError, match="bleach='subtract'"):  # ΔF/F of a signal resting at 0
        preprocess_traces(centred, 1.0, 50.0)
