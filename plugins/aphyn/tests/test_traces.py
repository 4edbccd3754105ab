"""Loader of users' optical-mapping traces and the paper's normalisation (§3.1, §3.2)."""

from __future__ import annotations

import numpy as np
import pytest
import sciml
from sciml_aphyn.traces import add_noise, load_traces, normalise_traces, read_trace_file


def _action_potentials(n_pixels=3, n_t=60, rest=-85.0, peak=30.0):
    """Square-ish APs in mV: rest, upstroke at sample 5 + pixel, plateau, back to rest."""
    raw = np.full((n_pixels, n_t), rest)
    for p in range(n_pixels):
        up = 5 + p
        raw[p, up:up + 30] = np.linspace(peak, rest + 10, 30)
    return raw


def test_normalise_cuts_rest_and_scales_to_unit_range():
    raw = _action_potentials()
    out, start = normalise_traces(raw, sampling_interval=2.0, horizon=40.0, return_start=True, method="minmax")
    assert out.shape == (3, 21)  # 40 ms / 2 ms + 1
    assert out.dtype == np.float32
    assert start.tolist() == [5, 6, 7]  # first sample of each upstroke
    assert out[:, 0].tolist() == pytest.approx([1.0, 1.0, 1.0])  # starts at the peak
    assert out.min() >= 0.0 and out.max() <= 1.0
    expected = (raw[1, 6:27] - raw[1].min()) / (raw[1].max() - raw[1].min())
    assert out[1] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_loader_round_trip(tmp_path, suffix):
    raw = _action_potentials()
    path = tmp_path / f"traces{suffix}"
    if suffix == ".csv":
        path.write_text("# one trace per row, mV\n" + "\n".join(",".join(f"{x:.6f}" for x in r) for r in raw))
    else:
        np.save(path, raw)
    assert read_trace_file(path) == pytest.approx(raw, abs=1e-6)
    loaded = load_traces(path, sampling_interval=2.0, horizon=40.0)
    assert loaded == pytest.approx(normalise_traces(raw, 2.0, 40.0), abs=1e-6)


@pytest.mark.parametrize("content, match", [
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("1,2,3\n4,5\n", "different numbers of samples"),
    ("1,2,abc\n", "non-numeric"),
    ("1,2,nan\n", "NaN or inf"),
])
def test_bad_csv_files_give_user_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(sciml.UserError, match=match):
        load_traces(path, sampling_interval=1.0, horizon=1.0)


def test_bad_npy_and_paths_give_user_errors(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(sciml.UserError, match=r"expected a 2D array .* shape \(2, 3, 4\)"):
        read_trace_file(tmp_path / "cube.npy")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(sciml.UserError, match="not numeric"):
        read_trace_file(tmp_path / "text.npy")
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(sciml.UserError, match=r"accepted: \['.csv', '.npy'\]"):
        read_trace_file(tmp_path / "x.txt")
    with pytest.raises(sciml.UserError, match="does not exist"):
        read_trace_file(tmp_path / "missing.csv")


def test_normalisation_errors_name_the_bad_trace():
    raw = _action_potentials()
    flat = raw.copy()
    flat[2] = -85.0
    with pytest.raises(sciml.UserError, match=r"trace\(s\) \[2\] are flat"):
        normalise_traces(flat, 1.0, 10.0)
    with pytest.raises(sciml.UserError, match=r"trace 0 has only 54 ms after its upstroke but the horizon is 55 ms \(3 trace\(s\) too short\)"):
        normalise_traces(raw, 1.0, 55.0, method="minmax")
    with pytest.raises(sciml.UserError, match="sampling_interval must be > 0"):
        normalise_traces(raw, 0.0, 10.0)
    with pytest.raises(sciml.UserError, match="2D array"):
        normalise_traces(raw[0], 1.0, 10.0)


def test_noise_is_seeded_with_the_requested_level():
    clean = np.zeros((200, 300), dtype=np.float32)
    a, b, c = add_noise(clean, 0.05, 1), add_noise(clean, 0.05, 1), add_noise(clean, 0.05, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() == pytest.approx(0.05, rel=0.02)
