"""Embeddings of the class's photos, computed in the background as photos arrive.

Each store that received photos gets one background job through :func:`explorer.serving.submit` (the
one way to run long work: it holds a heavy-work slot, so embeddings take turns with paintings, attacks
and training), which fills in every photo still without its class backbone's embedding, in batches, through the same geometry and compiled
step that :func:`explorer.train_classifier` uses (``classifier.seen_at`` then
``transfer.embeddings.embedding_step``): a stored embedding is exactly what training would compute.
Training a class model then costs one head fit. Photos that missed the worker (a restart between
arrival and embedding) are embedded by the next :func:`embed_missing`, which training calls first.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from .. import serving
from ..models import classifier as clf
from ..transfer import load_backbone
from ..transfer.embeddings import batches, embedding_step, extract_embeddings
from .photos import decode_photo

_log = logging.getLogger(__name__)
_BACKBONES: dict[str, object] = {}
_BACKBONE_LOCK = threading.Lock()
_EMBED_LOCK = threading.Lock()
_JOBS_LOCK = threading.Lock()
_PENDING: set[int] = set()  # stores with a job that has not started yet
_JOBS: list = []  # subscriptions of jobs not yet finished (kept open: nobody else watches them)
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


def schedule(store) -> None:
    """Ask for the store's new photos to be embedded in the background (returns at once). A job that has
    not started yet picks up every photo waiting, so a class adding 300 photos starts a few jobs."""
    with _JOBS_LOCK:
        if id(store) in _PENDING:
            return
        _PENDING.add(id(store))

    def work(publish, token):
        with _JOBS_LOCK:
            _PENDING.discard(id(store))  # photos arriving from now on ask for another job
        try:
            return embed_missing(store)
        except Exception:  # noqa: BLE001  (training embeds what is missing; the photo itself is safe)
            _log.exception("Background embedding failed; training will compute the missing embeddings.")
            return 0

    # Not shared (key None). The job's own subscription is its watcher until it ends: background work
    # that nobody's page follows must not be cancelled as abandoned.
    subscription = serving.submit(None, work)
    with _JOBS_LOCK:
        for done in [s for s in _JOBS if s.run.finished]:
            done.close()
        _JOBS[:] = [s for s in _JOBS if not s.run.finished] + [subscription]


def wait_idle() -> None:
    """Block until every background embedding job has finished (tests, benchmark)."""
    while True:
        with _JOBS_LOCK:
            running = [s for s in _JOBS if not s.run.finished]
        if not running:
            return
        for subscription in running:
            subscription.run.wait_finished(60)


__all__ = ["backbone", "embed_images", "embed_missing", "schedule", "wait_idle"]
