"""Embeddings of the class's photos, computed in the background as photos arrive.

One daemon thread per server process takes stores that received photos, and fills in every photo
still without its class backbone's embedding, in batches, through the same geometry and compiled
step that :func:`explorer.train_classifier` uses (``classifier.seen_at`` then
``transfer.embeddings.embedding_step``): a stored embedding is exactly what training would compute.
Training a class model then costs one head fit. Photos that missed the worker (a restart between
arrival and embedding) are embedded by the next :func:`embed_missing`, which training calls first.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from ..models import classifier as clf
from ..transfer import load_backbone
from ..transfer.embeddings import batches, embedding_step, extract_embeddings
from .photos import decode_photo

_log = logging.getLogger(__name__)
_BACKBONES: dict[str, object] = {}
_BACKBONE_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()
_QUEUE: queue.Queue = queue.Queue()
_WORKER: threading.Thread | None = None
_WORKER_LOCK = threading.Lock()
_PENDING: set[int] = set()  # stores queued and not yet started
BATCH = 32


def backbone(key: str = "mobilenet_v2"):
    """The process's one frozen backbone for ``key`` (loaded once; never trained: read-only)."""
    with _BACKBONE_LOCK:
        if key not in _BACKBONES:
            _BACKBONES[key] = load_backbone(key)
        return _BACKBONES[key]


def embed_images(model, images: list[np.ndarray]) -> np.ndarray:
    """Embeddings of uint8 images, as :func:`explorer.train_classifier` computes them."""
    size = clf.input_size(model)
    stack = np.stack([clf.seen_at(image, size) for image in images])
    return extract_embeddings(embedding_step(model), batches(stack))


def embed_missing(store) -> int:
    """Embed every photo of the store still without its embedding; returns how many were done."""
    done = 0
    with _EMBED_LOCK:
        while True:
            todo = store.missing_embeddings(BATCH)
            if not todo:
                return done
            by_backbone: dict[str, list] = {}
            for photo_id, key, data in todo:
                by_backbone.setdefault(key, []).append((photo_id, data))
            for key, items in by_backbone.items():
                vectors = embed_images(backbone(key), [decode_photo(data) for _, data in items])
                store.store_embeddings(key, {photo_id: vector for (photo_id, _), vector in zip(items, vectors)})
                done += len(items)


def _work() -> None:
    while True:
        store = _QUEUE.get()
        with _WORKER_LOCK:
            _PENDING.discard(id(store))  # photos arriving from now on queue the store again
        try:
            embed_missing(store)
        except Exception:  # noqa: BLE001  (training embeds what is missing; the photo itself is safe)
            _log.exception("Background embedding failed; training will compute the missing embeddings.")
        finally:
            _QUEUE.task_done()


def schedule(store) -> None:
    """Ask the background worker to embed the store's new photos (returns at once)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None or not _WORKER.is_alive():
            _WORKER = threading.Thread(target=_work, daemon=True, name="classroom-embeddings")
            _WORKER.start()
        if id(store) in _PENDING:  # already waiting for a pass, which picks up every photo waiting
            return
        _PENDING.add(id(store))
    _QUEUE.put(store)


def wait_idle() -> None:
    """Block until the background worker has handled every scheduled store (tests, benchmark)."""
    _QUEUE.join()


__all__ = ["backbone", "embed_images", "embed_missing", "schedule", "wait_idle"]
