"""The class store: one dataset built by a whole class from their phones, kept in a real database.

SQLite by default (an embedded file in WAL mode: a fresh machine needs no set-up), PostgreSQL for
replicas (``CNN_EXPLORER_DB=postgresql+psycopg://...`` or ``[connections.classroom] url`` in
``.streamlit/secrets.toml``). The schema is created and upgraded by Alembic migrations when a store
opens; migrations only ever add.

Tokens are random (``secrets``), shown once, and stored only as SHA-256 hashes; every check compares
hashes in constant time (``hmac.compare_digest``). Photos are decoded with the hardened
:func:`explorer.load_image`, shrunk to at most :data:`MAX_SIDE` pixels and re-encoded as JPEG, so no
EXIF (GPS, camera, owner) ever reaches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import threading
import time
import tomllib
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from .photos import clean_photo, decode_photo
from .schema import ClassRow, ModelRow, PhotoRow, StudentRow

#: Letters of a class code: no I/L/O/S/Z/B (read as 1, 0, 5, 2, 8), so a code read off a projector is typed right.
CODE_LETTERS = "ACDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 6
MAX_NICKNAME = 30
MAX_LABEL = 40
MAX_LABELS = 10
DEFAULT_PER_STUDENT = 50
DEFAULT_PER_CLASS = 2000
DEFAULT_RETENTION_DAYS = 7
BUSY_TIMEOUT_S = 30
WRITE_ATTEMPTS = 12


class LimitReached(ValueError):
    """A cap was reached (photos per student or per class); the message says which and what to do."""


class StoreBusy(RuntimeError):
    """The database stayed busy through every retry (never a raw ``database is locked``)."""


@dataclass(frozen=True)
class NewClass:
    """What :meth:`ClassStore.create_class` returns: the join code and the teacher's secret token."""

    code: str
    teacher_token: str
    title: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ClassInfo:
    code: str
    title: str
    labels: tuple[str, ...]
    created_at: datetime
    last_activity: datetime
    photos: int = 0
    students: int = 0


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    label: str
    nickname: str
    hidden: bool
    created_at: datetime
    student_id: int | None
    has_embedding: bool = False


@dataclass(frozen=True)
class StoredModel:
    version: int
    created_at: datetime
    data: bytes
    report: dict


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC in the database, the same on every engine


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _same(token, stored_hash: str) -> bool:
    if not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(_hash(token), stored_hash)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _clean_text(text, limit: int, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"The {what} must be text.")
    cleaned = " ".join("".join(ch for ch in text if ch.isprintable()).split())
    if not cleaned:
        raise ValueError(f"Type a {what} first.")
    if len(cleaned) > limit:
        raise ValueError(f"The {what} is too long: at most {limit} characters.")
    return cleaned


def _clean_label(label) -> str:
    label = _clean_text(label, MAX_LABEL, "label")
    if "/" in label or "\\" in label or label.startswith(".") or ":" in label:
        raise ValueError(f"Label '{label}' cannot hold '/', '\\', ':' or start with '.': it names a folder in the export.")
    return label


def normalise_code(code) -> str:
    """A typed code as stored: upper case, spaces and dashes dropped."""
    if not isinstance(code, str):
        raise LookupError("No class has this code.")
    return "".join(ch for ch in code.upper() if ch.isalnum())


def default_path() -> Path:
    """The SQLite file used when no database is configured: ``~/.local/share/cnn-explorer/classes.db``."""
    return Path.home() / ".local" / "share" / "cnn-explorer" / "classes.db"


def configured_url() -> str:
    """The store's database: ``CNN_EXPLORER_DB``, else ``[connections.classroom] url`` in
    ``.streamlit/secrets.toml`` (here or in the home folder), else the SQLite file :func:`default_path`."""
    url = os.environ.get("CNN_EXPLORER_DB", "").strip()
    if url:
        return url
    for folder in (Path.cwd(), Path.home()):
        secrets_file = folder / ".streamlit" / "secrets.toml"
        try:
            with open(secrets_file, "rb") as f:
                found = tomllib.load(f).get("connections", {}).get("classroom", {}).get("url")
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if found:
            return str(found)
    return f"sqlite:///{default_path()}"


_MIGRATE_LOCK = threading.Lock()


def _migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (every revision only adds)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with _MIGRATE_LOCK:
        for attempt in range(3):  # two processes opening a fresh database at once: the loser sees head
            try:
                with engine.begin() as connection:
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                return
            except DBAPIError:  # e.g. PostgreSQL's "relation already exists" for the loser of the race
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
                           pool_size=8, max_overflow=24)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # connection settings (no queries): WAL, waits, zeroed deletes
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")  # a deleted child's photo is overwritten, not left in free pages
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _transient(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    state = getattr(exc.orig, "sqlstate", None)
    return "locked" in text or "busy" in text or state in ("40001", "40P01")


class ClassStore:
    """Classes, their students, photos, embeddings and trained models, in one database.

    ``url``: a SQLAlchemy URL (default :func:`configured_url`). ``per_student`` / ``per_class``: photo
    caps (``CNN_EXPLORER_CLASS_PER_STUDENT``, default 50; ``CNN_EXPLORER_CLASS_PER_CLASS``, default
    2000). ``retention_days``: a class is deleted this many days after its last activity
    (``CNN_EXPLORER_CLASS_DAYS``, default 7; expired classes are purged when a store opens, unless
    ``purge_at_open=False``).
    ``embed``: compute each photo's embedding in the background when it arrives (default on, or
    ``CNN_EXPLORER_CLASS_EMBED=0``).
    """

    def __init__(self, url: str | None = None, *, per_student: int | None = None, per_class: int | None = None,
                 retention_days: float | None = None, embed: bool | None = None, backbone: str = "mobilenet_v2",
                 purge_at_open: bool = True):
        self.url = url or configured_url()
        self.per_student = per_student if per_student is not None else _env_int("CNN_EXPLORER_CLASS_PER_STUDENT",
                                                                                  DEFAULT_PER_STUDENT)
        self.per_class = per_class if per_class is not None else _env_int("CNN_EXPLORER_CLASS_PER_CLASS",
                                                                            DEFAULT_PER_CLASS)
        self.retention_days = float(retention_days if retention_days is not None else
                                    _env_int("CNN_EXPLORER_CLASS_DAYS", DEFAULT_RETENTION_DAYS))
        self.embed = (os.environ.get("CNN_EXPLORER_CLASS_EMBED", "1") != "0") if embed is None else bool(embed)
        self.backbone = backbone
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = _sqlite_engine(self.url) if self.is_sqlite else create_engine(
            self.url, pool_pre_ping=True, pool_size=8, max_overflow=24)
        # SQLite has one writer at a time: writers of this process queue here, other processes wait in
        # the busy timeout, and what still fails is retried (never a "database is locked" to a caller).
        self._write_lock = threading.Lock() if self.is_sqlite else None
        _migrate(self.engine)
        #: a long-running server purges expired classes at most this often, when a class starts or a student joins
        self.purge_every_s = 3600.0
        self._purged_at = time.monotonic()
        if purge_at_open:
            self.purge()

    # -- plumbing -------------------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, work):
        """Run ``work(session)`` in one committed transaction, retried while the database is busy."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                if self._write_lock is not None:
                    with self._write_lock, Session(self.engine, expire_on_commit=False) as session, session.begin():
                        return work(session)
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except OperationalError as exc:
                if not _transient(exc):
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + secrets.randbelow(100) / 100))
        raise StoreBusy("The class store is busy right now; press the button again in a moment.")

    def _read(self, work):
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    return work(session)
            except OperationalError as exc:
                if not _transient(exc):
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
        raise StoreBusy("The class store is busy right now; try again in a moment.")

    @staticmethod
    def _class(session: Session, code) -> ClassRow:
        row = session.scalar(select(ClassRow).where(ClassRow.code == normalise_code(code)))
        if row is None:
            raise LookupError("No class has this code (it may have ended). Check the code with your teacher.")
        return row

    @staticmethod
    def _teacher(row: ClassRow, teacher_token) -> None:
        if not _same(teacher_token, row.teacher_hash):
            raise PermissionError("Only the teacher of this class can do this (the teacher link is missing or wrong).")

    @staticmethod
    def _student(session: Session, row: ClassRow, token) -> StudentRow:
        if not isinstance(token, str) or not token:
            raise PermissionError("Join the class first: your student link is missing.")
        student = session.scalar(select(StudentRow).where(StudentRow.token_hash == _hash(token),
                                                          StudentRow.class_id == row.id))
        if student is None or not _same(token, student.token_hash):
            raise PermissionError("This student link does not belong to this class. Join again with your name.")
        return student

    # -- classes --------------------------------------------------------------------------------------

    def create_class(self, labels=("cat", "dog"), title: str = "") -> NewClass:
        """A new class: ``labels`` (2 to 10 distinct names) and an optional ``title``. Returns its
        ``.code`` (6 unambiguous letters) and ``.teacher_token`` (unguessable; shown once, kept hashed)."""
        self._purge_now_and_then()
        if isinstance(labels, str):
            labels = [part for part in labels.split(",")]
        cleaned = [_clean_label(label) for label in labels]
        if len({label.casefold() for label in cleaned}) != len(cleaned):
            raise ValueError("Each label must be different.")
        if not 2 <= len(cleaned) <= MAX_LABELS:
            raise ValueError(f"A class needs 2 to {MAX_LABELS} labels, e.g. cat, dog.")
        title = " ".join(str(title or "").split())[:200]
        token = secrets.token_urlsafe(24)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
            now = _now()

            def add(session, code=code, now=now):
                if session.scalar(select(ClassRow.id).where(ClassRow.code == code)) is not None:
                    return False
                session.add(ClassRow(code=code, title=title, labels=json.dumps(cleaned), teacher_hash=_hash(token),
                                     backbone=self.backbone, created_at=now, last_activity=now))
                return True

            try:
                if self._write(add):
                    return NewClass(code=code, teacher_token=token, title=title, labels=tuple(cleaned))
            except IntegrityError:  # another replica took the same code at the same moment
                continue
        raise RuntimeError("Could not find a free class code; try again.")

    def class_info(self, code) -> ClassInfo:
        def read(session):
            row = self._class(session, code)
            photos = session.scalar(select(func.count(PhotoRow.id)).where(PhotoRow.class_id == row.id))
            students = session.scalar(select(func.count(StudentRow.id)).where(StudentRow.class_id == row.id))
            return ClassInfo(code=row.code, title=row.title, labels=tuple(json.loads(row.labels)),
                             created_at=row.created_at, last_activity=row.last_activity, photos=int(photos or 0),
                             students=int(students or 0))

        return self._read(read)

    def is_teacher(self, code, teacher_token) -> bool:
        try:
            return self._read(lambda s: _same(teacher_token, self._class(s, code).teacher_hash))
        except LookupError:
            return False

    def check_teacher(self, code, teacher_token) -> None:
        """``PermissionError`` unless ``teacher_token`` is this class's (``LookupError``: no such class)."""
        self._read(lambda s: self._teacher(self._class(s, code), teacher_token))

    def classes(self) -> list[ClassInfo]:
        """Every class, oldest activity first (for ``python -m explorer.classroom list``)."""
        codes = self._read(lambda s: list(s.scalars(select(ClassRow.code).order_by(ClassRow.last_activity))))
        out = []
        for code in codes:
            try:
                out.append(self.class_info(code))
            except LookupError:
                pass
        return out

    def delete_class(self, code, teacher_token) -> None:
        """End the class: its photos, students, embeddings and models are deleted (teacher only)."""
        def remove(session):
            row = self._class(session, code)
            self._teacher(row, teacher_token)
            self._delete_rows(session, row.id)

        self._write(remove)

    @staticmethod
    def _delete_rows(session: Session, class_id: int) -> None:
        session.execute(delete(PhotoRow).where(PhotoRow.class_id == class_id))
        session.execute(delete(ModelRow).where(ModelRow.class_id == class_id))
        session.execute(delete(StudentRow).where(StudentRow.class_id == class_id))
        session.execute(delete(ClassRow).where(ClassRow.id == class_id))

    def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._purged_at >= self.purge_every_s:
            self._purged_at = time.monotonic()
            self.purge()

    def expired(self, days: float | None = None) -> list[str]:
        """Codes of classes whose last activity is more than ``days`` (default: the retention) ago."""
        limit = _now() - timedelta(days=self.retention_days if days is None else float(days))
        return self._read(lambda s: list(s.scalars(select(ClassRow.code).where(ClassRow.last_activity < limit))))

    def purge(self, days: float | None = None) -> list[str]:
        """Delete every expired class (see :meth:`expired`); returns their codes."""
        limit = _now() - timedelta(days=self.retention_days if days is None else float(days))

        def remove(session):
            rows = list(session.scalars(select(ClassRow).where(ClassRow.last_activity < limit)))
            for row in rows:
                self._delete_rows(session, row.id)
            return [row.code for row in rows]

        return self._write(remove)

    # -- students and photos --------------------------------------------------------------------------

    def join(self, code, nickname) -> str:
        """A new student of the class: returns their token (keep it in their link; never shown to others)."""
        nickname = _clean_text(nickname, MAX_NICKNAME, "name")
        self._purge_now_and_then()
        token = secrets.token_urlsafe(24)

        def add(session):
            row = self._class(session, code)
            session.add(StudentRow(class_id=row.id, nickname=nickname, token_hash=_hash(token), created_at=_now()))
            row.last_activity = _now()

        self._write(add)
        return token

    def nickname(self, code, token) -> str:
        """The name a student joined with (``PermissionError`` for a token not of this class)."""
        return self._read(lambda s: self._student(s, self._class(s, code), token).nickname)

    def add_photo(self, code, token, label, data: bytes) -> int:
        """Store a student's photo under ``label`` (committed when this returns); returns its id.

        ``ValueError`` for bytes that are not an image, :class:`LimitReached` at a cap, ``LookupError``
        for an unknown class or label, ``PermissionError`` for a token not of this class. The teacher's
        token may add photos too."""
        jpeg, thumb, width, height = clean_photo(data)  # before any transaction: decoding is the slow part

        def add(session):
            row = self._class(session, code)
            labels = json.loads(row.labels)
            if label not in labels:
                raise LookupError(f"This class has no label '{label}'. Pick one of: {', '.join(labels)}.")
            # One add at a time per class (PostgreSQL row lock; SQLite writes one at a time anyway), so the
            # class's cap holds when a whole class presses "add" in the same second.
            session.scalar(select(ClassRow.id).where(ClassRow.id == row.id).with_for_update())
            student_id = None
            if isinstance(token, str) and token and _same(token, row.teacher_hash):
                student_id = None
            else:
                student = self._student(session, row, token)
                student_id = student.id
                mine = session.scalar(select(func.count(PhotoRow.id)).where(PhotoRow.student_id == student.id))
                if mine >= self.per_student:
                    raise LimitReached(f"You have added {mine} photos, the most one student may add "
                                       f"({self.per_student}). Remove one of yours to add another.")
            total = session.scalar(select(func.count(PhotoRow.id)).where(PhotoRow.class_id == row.id))
            if total >= self.per_class:
                raise LimitReached(f"The class has {total} photos, the most one class may hold ({self.per_class}). "
                                   "Ask your teacher to remove some.")
            photo = PhotoRow(class_id=row.id, student_id=student_id, label=label, data=jpeg, thumb=thumb,
                             width=width, height=height, hidden=False, created_at=_now())
            session.add(photo)
            row.last_activity = _now()
            session.flush()
            return photo.id

        photo_id = self._write(add)
        if self.embed:
            from .embedder import schedule

            schedule(self)
        return photo_id

    def photos(self, code, *, token=None, newest_first: bool = False) -> list[PhotoRecord]:
        """Every photo of the class (hidden ones included, marked ``.hidden``), oldest first; with a
        student ``token``, only that student's."""
        def read(session):
            row = self._class(session, code)
            query = (select(PhotoRow.id, PhotoRow.label, StudentRow.nickname, PhotoRow.hidden, PhotoRow.created_at,
                            PhotoRow.student_id, PhotoRow.embedding_backbone)
                     .outerjoin(StudentRow, StudentRow.id == PhotoRow.student_id)
                     .where(PhotoRow.class_id == row.id)
                     .order_by(PhotoRow.id.desc() if newest_first else PhotoRow.id))
            if token is not None:
                query = query.where(PhotoRow.student_id == self._student(session, row, token).id)
            return [PhotoRecord(id=r.id, label=r.label, nickname=r.nickname if r.nickname is not None else "teacher",
                                hidden=bool(r.hidden), created_at=r.created_at, student_id=r.student_id,
                                has_embedding=r.embedding_backbone == row.backbone)
                    for r in session.execute(query)]

        return self._read(read)

    def counts(self, code) -> dict[str, int]:
        """Visible photos per label, in the class's label order."""
        def read(session):
            row = self._class(session, code)
            found = dict(session.execute(select(PhotoRow.label, func.count(PhotoRow.id))
                                         .where(PhotoRow.class_id == row.id, PhotoRow.hidden.is_(False))
                                         .group_by(PhotoRow.label)).all())
            return {label: int(found.get(label, 0)) for label in json.loads(row.labels)}

        return self._read(read)

    def thumbnail(self, code, photo_id: int) -> bytes:
        return self._photo_column(code, photo_id, PhotoRow.thumb)

    def photo_bytes(self, code, photo_id: int) -> bytes:
        """The stored (clean, re-encoded) JPEG of a photo."""
        return self._photo_column(code, photo_id, PhotoRow.data)

    def _photo_column(self, code, photo_id, column):
        def read(session):
            row = self._class(session, code)
            data = session.scalar(select(column).where(PhotoRow.id == int(photo_id), PhotoRow.class_id == row.id))
            if data is None:
                raise LookupError("This photo is not in the class (it may have been removed).")
            return data

        return self._read(read)

    def hide_photo(self, code, teacher_token, photo_id: int, hidden: bool = True) -> None:
        """Hide (or show again) a photo: hidden photos stay listed for the teacher but leave the dataset."""
        def change(session):
            row = self._class(session, code)
            self._teacher(row, teacher_token)
            done = session.execute(update(PhotoRow).where(PhotoRow.id == int(photo_id), PhotoRow.class_id == row.id)
                                   .values(hidden=bool(hidden)))
            if not done.rowcount:
                raise LookupError("This photo is not in the class (it may have been removed).")
            row.last_activity = _now()

        self._write(change)

    def remove_photo(self, code, token, photo_id: int) -> None:
        """Delete a photo: a student's own, or any photo with the teacher's token."""
        def remove(session):
            row = self._class(session, code)
            photo = session.scalar(select(PhotoRow).where(PhotoRow.id == int(photo_id), PhotoRow.class_id == row.id))
            teacher = _same(token, row.teacher_hash)
            if not teacher:
                student = self._student(session, row, token)
                if photo is not None and photo.student_id != student.id:
                    raise PermissionError("You can only remove your own photos.")
            if photo is None:
                raise LookupError("This photo is not in the class (it may have been removed).")
            session.delete(photo)
            row.last_activity = _now()

        self._write(remove)

    # -- datasets -------------------------------------------------------------------------------------

    def _visible(self, code, columns):
        def read(session):
            row = self._class(session, code)
            labels = json.loads(row.labels)
            rows = session.execute(select(PhotoRow.label, *columns)
                                   .where(PhotoRow.class_id == row.id, PhotoRow.hidden.is_(False))
                                   .order_by(PhotoRow.id)).all()
            return row, labels, rows

        return self._read(read)

    def dataset(self, code) -> dict[str, list[np.ndarray]]:
        """``label -> [uint8 HxWx3 images]`` of the visible photos, in label order, oldest photo first:
        ready for :func:`explorer.train_classifier`."""
        _, labels, rows = self._visible(code, [PhotoRow.data])
        out: dict[str, list[np.ndarray]] = {label: [] for label in labels}
        for label, data in rows:
            if label in out:
                out[label].append(decode_photo(data))
        return out

    def training_data(self, code) -> tuple[dict[str, list[bytes]], dict[str, list[np.ndarray | None]], str]:
        """``(label -> photo JPEG bytes, label -> stored embeddings or None, backbone)`` of the visible
        photos, in the order of :meth:`dataset`."""
        row, labels, rows = self._visible(code, [PhotoRow.data, PhotoRow.embedding, PhotoRow.embedding_backbone])
        photos: dict[str, list[bytes]] = {label: [] for label in labels}
        vectors: dict[str, list] = {label: [] for label in labels}
        for label, data, embedding, backbone in rows:
            if label in photos:
                photos[label].append(data)
                ok = embedding is not None and backbone == row.backbone
                vectors[label].append(np.frombuffer(embedding, np.float32) if ok else None)
        return photos, vectors, row.backbone

    def export_zip(self, code, teacher_token) -> bytes:
        """The visible photos as a zip of label folders (``cat/0001.jpg`` ...) that
        :func:`explorer.load_dataset` reads back; the JPEGs are the stored clean copies (no EXIF)."""
        self.check_teacher(code, teacher_token)
        _, labels, rows = self._visible(code, [PhotoRow.id, PhotoRow.data])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for label in labels:
                archive.writestr(zipfile.ZipInfo(f"{label}/"), b"")
            for label, photo_id, data in rows:
                archive.writestr(f"{label}/{photo_id:05d}.jpg", data)
        return out.getvalue()

    # -- embeddings -----------------------------------------------------------------------------------

    def missing_embeddings(self, limit: int = 32) -> list[tuple[int, str, bytes]]:
        """``(photo id, backbone, jpeg)`` of photos still without their class backbone's embedding."""
        def read(session):
            rows = session.execute(
                select(PhotoRow.id, ClassRow.backbone, PhotoRow.data).join(ClassRow, ClassRow.id == PhotoRow.class_id)
                .where((PhotoRow.embedding_backbone.is_(None)) | (PhotoRow.embedding_backbone != ClassRow.backbone))
                .order_by(PhotoRow.id).limit(limit)).all()
            return [(r[0], r[1], r[2]) for r in rows]

        return self._read(read)

    def store_embeddings(self, backbone: str, vectors: dict[int, np.ndarray]) -> None:
        """Keep embeddings next to their photos (photos removed meanwhile are skipped)."""
        def write(session):
            for photo_id, vector in vectors.items():
                session.execute(update(PhotoRow).where(PhotoRow.id == int(photo_id)).values(
                    embedding=np.asarray(vector, np.float32).tobytes(), embedding_backbone=backbone))

        self._write(write)

    # -- trained models -------------------------------------------------------------------------------

    def save_model(self, code, teacher_token, data: bytes, report: dict) -> int:
        """Keep a trained class model (its bytes and a JSON-able report); returns its version (1, 2 ...)."""
        def add(session):
            row = self._class(session, code)
            self._teacher(row, teacher_token)
            latest = session.scalar(select(func.max(ModelRow.version)).where(ModelRow.class_id == row.id)) or 0
            session.add(ModelRow(class_id=row.id, version=latest + 1, created_at=_now(), data=bytes(data),
                                 report=json.dumps(report)))
            row.last_activity = _now()
            return latest + 1

        return self._write(add)

    def latest_model(self, code) -> StoredModel | None:
        """The newest trained class model, or None before the first training."""
        def read(session):
            row = self._class(session, code)
            model = session.scalar(select(ModelRow).where(ModelRow.class_id == row.id)
                                   .order_by(ModelRow.version.desc()).limit(1))
            if model is None:
                return None
            return StoredModel(version=model.version, created_at=model.created_at, data=model.data,
                               report=json.loads(model.report))

        return self._read(read)


__all__ = ["CODE_LETTERS", "ClassInfo", "ClassStore", "LimitReached", "NewClass", "PhotoRecord", "StoreBusy",
           "StoredModel", "clean_photo", "configured_url", "decode_photo", "default_path", "normalise_code"]
