"""Content-hashed caches of prepared data.

Arrays are stored as ``.npz`` (``allow_pickle=False``: loading never runs code) with a
SHA-256 sidecar; a file whose hash does not match is reported and rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CacheCorruptedError(RuntimeError):
    """A cache file's content does not match its recorded hash."""


def content_hash(obj: Any, length: int = 16) -> str:
    """Stable hex digest of a JSON-serialisable object (keys sorted), ``length`` chars."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as 64 hex characters (read in 1 MiB chunks).

    Use it in :meth:`sciml.Dataset.fingerprint` for the input files a dataset reads, so the
    logged dataset digest changes when the data does.

    Raises:
        FileNotFoundError, OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$SCIML_CACHE``, else ``~/.cache/sciml``."""
    return Path(os.environ.get("SCIML_CACHE", Path.home() / ".cache" / "sciml")).expanduser()


def safe_child(root: str | Path, name: str) -> Path:
    """``root/name``, refusing names that would escape ``root`` (``..``, absolute paths).

    Raises:
        ValueError: if the resolved path is not inside ``root``.
    """
    root = Path(root).resolve()
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {name!r} escapes the directory {str(root)!r}")
    return path


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_arrays(path: str | Path, arrays: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> Path:
    """Write numpy arrays to ``path`` (.npz) atomically, with ``path.sha256`` and ``path.json``.

    ``meta`` (JSON-serialisable) is saved beside it and returned by :func:`load_arrays`.
    """
    import numpy as np

    path = Path(path)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})

    _atomic_write(path, write)
    digest = file_sha256(path)
    _atomic_write(path.with_suffix(path.suffix + ".json"),
                  lambda t: t.write_text(json.dumps({"sha256": digest, "meta": dict(meta or {})}, default=str)))
    return path


def load_arrays(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load what :func:`save_arrays` wrote: ``(arrays, meta)``.

    Raises:
        FileNotFoundError: no such cache entry.
        CacheCorruptedError: the file's SHA-256 differs from the recorded one (truncated,
            edited) or the sidecar is missing.
    """
    import numpy as np

    path = Path(path)
    side = path.with_suffix(path.suffix + ".json")
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        info = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise CacheCorruptedError(f"cache {path} has no readable hash record ({exc})") from exc
    if file_sha256(path) != info.get("sha256"):
        raise CacheCorruptedError(f"cache {path} does not match its recorded SHA-256")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, info.get("meta", {})


def cached_arrays(path: str | Path, build: Callable[[], tuple[Mapping[str, Any], Mapping[str, Any]]]):
    """Load ``path`` if it is intact, else call ``build() -> (arrays, meta)``, save and return it.

    Building holds a file lock (``path.lock``, :mod:`filelock`): concurrent trials that find
    the cache cold build it once; the others wait and load what the first one saved. A
    corrupted entry is logged as a warning and rebuilt.
    """
    from filelock import FileLock

    path = Path(path)
    try:
        return load_arrays(path)  # the common case takes no lock
    except (FileNotFoundError, CacheCorruptedError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        try:
            return load_arrays(path)  # built by another process while this one waited
        except FileNotFoundError:
            pass
        except CacheCorruptedError as exc:
            log.warning("%s; rebuilding it", exc)
        arrays, meta = build()
        save_arrays(path, arrays, meta)
    return {k: v for k, v in arrays.items()}, dict(meta)
