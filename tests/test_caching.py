import numpy as np
import pytest
from sciml.caching import CacheCorruptedError, cached_arrays, content_hash, load_arrays, safe_child, save_arrays


def test_round_trip_with_meta(tmp_path):
    x = np.arange(12.0).reshape(3, 4)
    save_arrays(tmp_path / "a.npz", {"x": x, "n": np.array(3)}, {"source": "test"})
    arrays, meta = load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(arrays["x"], x)
    assert int(arrays["n"]) == 3 and meta == {"source": "test"}


def test_truncated_file_is_detected_and_rebuilt(tmp_path, caplog):
    path = tmp_path / "a.npz"
    save_arrays(path, {"x": np.ones(1000)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CacheCorruptedError, match="SHA-256"):
        load_arrays(path)
    calls = []

    def build():
        calls.append(1)
        return {"x": np.zeros(3)}, {}

    arrays, _ = cached_arrays(path, build)
    assert calls == [1] and arrays["x"].tolist() == [0, 0, 0]
    assert "rebuilding" in caplog.text
    arrays, _ = cached_arrays(path, build)  # intact now: not rebuilt
    assert calls == [1]


def test_object_arrays_are_refused(tmp_path):
    save_arrays(tmp_path / "o.npz", {"x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="pickle"):
        load_arrays(tmp_path / "o.npz")


def test_content_hash_is_order_independent():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_safe_child(tmp_path):
    assert safe_child(tmp_path, "x/y.png") == (tmp_path / "x" / "y.png").resolve()
    for bad in ("../escape.png", "/etc/passwd", "a/../../b"):
        with pytest.raises(ValueError, match="escapes"):
            safe_child(tmp_path, bad)


def _build_slowly(path, log):
    """A cache build that takes a while and leaves one line in ``log`` per build."""

    def build():
        import time

        with open(log, "a") as fh:
            fh.write("built\n")
        time.sleep(1.0)
        return {"x": np.arange(5.0)}, {"by": "one process"}

    return cached_arrays(path, build)


def test_concurrent_processes_on_a_cold_cache_build_it_once(tmp_path):
    import multiprocessing

    path, log = tmp_path / "cold.npz", tmp_path / "builds.log"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_build_slowly, [(path, log)] * 4)
    assert log.read_text().splitlines() == ["built"]  # without the lock: one build per process
    for arrays, meta in results:
        np.testing.assert_array_equal(arrays["x"], np.arange(5.0))
        assert meta == {"by": "one process"}
