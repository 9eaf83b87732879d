"""The class store's tables (SQLAlchemy 2 typed ORM). Changes go through a new Alembic migration in
``migrations/versions`` (never edit an applied one: a migration may add, never drop, a class's data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ClassRow(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    labels: Mapped[str] = mapped_column(Text)  # JSON list, in the teacher's order
    teacher_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the teacher token (never the token)
    backbone: Mapped[str] = mapped_column(String(64), default="mobilenet_v2")
    created_at: Mapped[datetime]
    last_activity: Mapped[datetime]


class StudentRow(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    nickname: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class PhotoRow(Base):
    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_class_label", "class_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # re-encoded JPEG, longest side <= MAX_SIDE, no metadata
    thumb: Mapped[bytes] = mapped_column(LargeBinary)  # small JPEG for the wall
    width: Mapped[int]
    height: Mapped[int]
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32 vector
    embedding_backbone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ModelRow(Base):
    __tablename__ = "class_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    created_at: Mapped[datetime]
    data: Mapped[bytes] = mapped_column(LargeBinary)  # the classifier as a .keras file
    report: Mapped[str] = mapped_column(Text)  # JSON: class names, curves, confusion matrix, accuracy
