"""Teachable-Machine-style capture: webcam shots collected class by class (``st.camera_input``).

One camera, a "shots go to" class picker, and one card per class with an editable name, the shots as
thumbnails, *Remove last shot*, *Clear class* and *Remove class*. Every new photo the camera takes is added to
the chosen class and the camera resets at once, ready for the next shot: several shots per class, one
click each. :func:`class_capture` returns ``class name -> images``, the same shape as uploads, zips and
the demo set, so captured classes train through the same path.

The bookkeeping (:func:`new_classes`, :func:`add_shot`, :func:`remove_last`, :func:`clear`,
:func:`images_by_class`) is plain Python over a list of dicts, kept in ``st.session_state``.
"""

from __future__ import annotations

import streamlit as st

import explorer
from explorer.data import datasets
from ui import present

MIN_CLASSES = 2
SHOWN_SHOTS = 8  # thumbnails per class card (the newest ones)


def new_classes(count: int = MIN_CLASSES) -> list[dict]:
    """``count`` empty classes: ``{"id": int, "shots": [images]}``."""
    return [{"id": i, "shots": []} for i in range(count)]


def add_class(classes: list[dict]) -> dict:
    entry = {"id": max((c["id"] for c in classes), default=-1) + 1, "shots": []}
    classes.append(entry)
    return entry


def add_shot(entry: dict, data: bytes):
    """Decode one camera photo (JPEG bytes) and add it to the class; raises ``explorer.ImageError``."""
    image = datasets.shrink(explorer.load_image(data))
    entry["shots"].append(image)
    return image


def remove_last(entry: dict) -> None:
    if entry["shots"]:
        entry["shots"].pop()


def clear(entry: dict) -> None:
    entry["shots"].clear()


def images_by_class(classes: list[dict], names: dict[int, str]) -> dict[str, list]:
    """``class name -> shots`` (names by class id, stripped); raises ValueError for a missing or repeated name."""
    data: dict[str, list] = {}
    for position, entry in enumerate(classes):
        name = names.get(entry["id"], "").strip()
        if not name:
            raise ValueError(f"Class {position + 1} needs a name.")
        if name in data:
            raise ValueError(f"Two classes are called '{name}'. Give each class its own name.")
        data[name] = entry["shots"]
    return data


def _name_key(key: str, cid: int) -> str:
    return f"{key}_name_{cid}"


def _class_card(key: str, classes: list[dict], entry: dict, position: int) -> None:
    cid = entry["id"]
    with st.container(border=True):
        st.session_state.setdefault(_name_key(key, cid), f"Class {position + 1}")
        st.text_input("Class name", key=_name_key(key, cid))
        shots = entry["shots"]
        if shots:
            newest = shots[-SHOWN_SHOTS:]
            st.caption(f"{len(shots)} shot(s)" + (f", the newest {len(newest)}:" if len(shots) > len(newest) else ":"))
            st.image(newest, width=present.px(64))
        else:
            st.caption("No shots yet.")
        buttons = st.container(horizontal=True)  # wraps onto a second line rather than cutting a label off
        if buttons.button("Remove last shot", key=f"{key}_undo_{cid}", disabled=not shots, icon=":material/undo:"):
            remove_last(entry)
            st.rerun()
        if buttons.button("Clear class", key=f"{key}_clear_{cid}", disabled=not shots,
                          icon=":material/delete_sweep:"):
            clear(entry)
            st.rerun()
        if buttons.button("Remove class", key=f"{key}_remove_{cid}", disabled=len(classes) <= MIN_CLASSES,
                          icon=":material/delete:"):
            classes.remove(entry)
            st.rerun()


def class_capture(key: str = "capture"):
    """The capture widget; returns ``(class name -> images, None)`` or ``(None, error text)``."""
    classes = st.session_state.setdefault(f"{key}_classes", new_classes())
    ids = [c["id"] for c in classes]
    names = {cid: st.session_state.get(_name_key(key, cid), f"Class {i + 1}") for i, cid in enumerate(ids)}
    camera_col, cards_col = st.columns([2, 3])
    with camera_col:
        target_key = f"{key}_target"
        if st.session_state.get(target_key) not in ids:
            st.session_state[target_key] = ids[0]
        target = st.radio("Shots go to", ids, key=target_key, horizontal=True,
                          format_func=lambda cid: names.get(cid) or "(no name)")
        round_key = f"{key}_round"  # a new camera widget after each shot: the next shot is one click
        shot = st.camera_input(f"Take a photo of {names.get(target) or 'this class'}",
                               key=f"{key}_camera_{st.session_state.setdefault(round_key, 0)}")
        if shot is not None:
            entry = next(c for c in classes if c["id"] == target)
            try:
                add_shot(entry, shot.getvalue())
            except explorer.ImageError as exc:
                st.error(f"That shot could not be read: {exc}", icon=":material/broken_image:")
            else:
                st.session_state[round_key] += 1
                st.rerun()
        st.caption("Each photo you take is added to the class picked above. Take several per class, from "
                   "different angles and distances: a few dozen train well.")
    with cards_col:
        for position, entry in enumerate(list(classes)):
            _class_card(key, classes, entry, position)
        if st.button("Add a class", key=f"{key}_add", icon=":material/add:"):
            add_class(classes)
            st.rerun()
    names = {cid: st.session_state.get(_name_key(key, cid), "") for cid in (c["id"] for c in classes)}
    try:
        return images_by_class(classes, names), None
    except ValueError as exc:
        return None, str(exc)
