"""Finished results by key, in memory (a size limit in MB, least recently used out) and optionally on disk."""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import tempfile
import threading

from .keys import freeze, nbytes


class RunCache:
    """Finished runs by key, least recently used first out once their total size passes ``limit_mb``.

    With a ``directory``, every value kept is also written there (one pickle per key, written atomically;
    the folder is bounded to 4 x ``limit_mb``, oldest files out) and a key missing in memory is looked
    up there: ``python -m explorer.warm`` fills it before class, a restarted server keeps its results,
    and replicas on one machine share them. Pickles are code: the folder must be the server's own.
    """

    def __init__(self, limit_mb: float, directory: str | os.PathLike | None = None):
        self.limit_bytes = int(float(limit_mb) * 1e6)
        self._items: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        self.size_bytes = 0
        self.hits = self.misses = self.evictions = 0
        self.directory = None
        if directory is not None:
            self.directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
            os.makedirs(self.directory, exist_ok=True)

    def _path(self, key) -> str:
        return os.path.join(self.directory, hashlib.sha256(repr(key).encode()).hexdigest()[:40] + ".pkl")

    def _load(self, key):
        try:
            with open(self._path(key), "rb") as f:
                stored_key, value = pickle.load(f)
            os.utime(self._path(key))  # recently used
        except (OSError, pickle.PickleError, EOFError, ValueError, TypeError, AttributeError):
            return None
        return freeze(value) if stored_key == key else None

    def _store(self, key, value) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                pickle.dump((key, value), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self._path(key))
            files = [os.path.join(self.directory, n) for n in os.listdir(self.directory) if n.endswith(".pkl")]
            stats = sorted(((os.stat(p).st_mtime, os.stat(p).st_size, p) for p in files), reverse=True)
            total = 0
            for _, size, path in stats:
                total += size
                if total > 4 * self.limit_bytes:
                    os.remove(path)
        except (OSError, pickle.PickleError, TypeError, AttributeError):
            pass  # a full or read-only disk costs the disk copy only

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        return key in self._items

    def get(self, key):
        """The cached value (and mark it recently used), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
        value = self._load(key) if self.directory else None
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.put(key, value, persist=False)
        return value

    def put(self, key, value, persist: bool = True) -> bool:
        """Keep ``value`` (evicting the least recently used); False if it alone is over the limit."""
        size = nbytes(value)
        if persist and self.directory and size <= self.limit_bytes:
            self._store(key, value)
        with self._lock:
            if key in self._items:
                self.size_bytes -= self._items.pop(key)[1]
            if size > self.limit_bytes:
                return False
            self._items[key] = (value, size)
            self.size_bytes += size
            while self.size_bytes > self.limit_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.size_bytes -= dropped
                self.evictions += 1
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size_bytes = 0


__all__ = ["RunCache"]
