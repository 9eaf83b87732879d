"""Class mode: a whole class builds one dataset from their phones, stored in a real database.

- :mod:`.store`: :class:`ClassStore` (SQLite by default, PostgreSQL for replicas; Alembic migrations).
- :mod:`.embedder`: each photo's backbone embedding, computed in the background when it arrives.
- :mod:`.training`: the class model trained from stored embeddings, kept versioned in the store.

``python -m explorer.classroom list|purge`` lists classes and deletes expired ones.
"""

from .store import (
    ClassInfo,
    ClassStore,
    LimitReached,
    NewClass,
    PhotoRecord,
    StoreBusy,
    StoredModel,
    configured_url,
    normalise_code,
)

__all__ = ["ClassInfo", "ClassStore", "LimitReached", "NewClass", "PhotoRecord", "StoreBusy", "StoredModel",
           "configured_url", "normalise_code"]
