"""Lesson links: a page's controls mirrored into its URL, so a teacher can prepare a link for the class.

A page lists its controls as :class:`Param` values (widget key, short URL name, parser), calls
:func:`restore` before it creates the widgets and :func:`publish` after them. A link opened in a fresh
browser restores the controls; a bad or unknown value falls back to the default with a short notice,
never an exception. :func:`share` shows the link with a copy button.

Widgets whose key a link may set must take their default from ``st.session_state`` (see
:func:`default`) rather than a ``value=``/``index=`` argument: Streamlit warns when both are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

_SEEN = "_links_seen"  # URL name -> the raw value this session last restored or published
KEEP = ("present",)  # URL names every page keeps (presentation mode)


@dataclass(frozen=True)
class Param:
    """One control mirrored into the URL: ``parse`` turns the URL text into a widget value or raises
    ValueError with a short reason; ``format`` turns the value back into URL text."""

    key: str
    name: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str


def choice(key: str, name: str, options, cast: Callable[[str], Any] = str) -> Param:
    """A selectbox/pills/segmented control: the value must be one of ``options``."""
    allowed = list(options)

    def parse(text: str):
        try:
            value = cast(text)
        except (TypeError, ValueError):
            raise ValueError("not one of the choices") from None
        if value not in allowed:
            raise ValueError("not one of the choices")
        return value

    return Param(key, name, parse)


def number(key: str, name: str, lo: float, hi: float, cast: Callable[[str], Any] = float,
           options=None) -> Param:
    """A slider: a number in lo..hi (and, for a select_slider, one of ``options``)."""

    def parse(text: str):
        try:
            value = cast(float(text)) if cast is int else cast(text)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("not a number") from None
        if value != value or not lo <= value <= hi:  # NaN or out of range
            raise ValueError(f"outside {_plain(lo)}..{_plain(hi)}")
        if options is not None:
            near = min(options, key=lambda o: abs(o - value))
            if abs(near - value) > 1e-9 * max(1.0, abs(value)):
                raise ValueError("not one of the slider's positions")
            value = near
        return value

    return Param(key, name, parse, _plain)


def flag(key: str, name: str) -> Param:
    """A toggle or checkbox."""

    def parse(text: str):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("not on/off")

    return Param(key, name, parse, lambda v: "1" if v else "0")


def _plain(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default(key: str, value) -> None:
    """Set a widget's starting value once per session (the widget is then created without value=)."""
    st.session_state.setdefault(key, value)


def restore(params: list[Param]) -> list[str]:
    """URL -> session state, before the widgets exist. Only values the URL changed since this session
    last saw it are applied, so the URL never overrides what the user just did. Returns notices about
    values that were ignored (also shown as one small info line)."""
    seen = st.session_state.setdefault(_SEEN, {})
    notices = []
    for p in params:
        raw = st.query_params.get(p.name)
        if raw is None or seen.get(p.name) == raw:
            continue
        seen[p.name] = raw
        try:
            st.session_state[p.key] = p.parse(raw)
        except ValueError as exc:
            notices.append(f"{p.name}={raw[:40]} ({exc})")
    if notices:
        st.info("This link had settings that could not be used, so their defaults are shown: "
                + "; ".join(notices) + ".", icon=":material/link_off:")
    return notices


def values(params: list[Param]) -> dict[str, str]:
    """The URL text of every control that has a value in this session."""
    return {p.name: p.format(st.session_state[p.key]) for p in params
            if st.session_state.get(p.key) is not None}


def publish(params: list[Param]) -> dict[str, str]:
    """Session state -> URL, after the widgets ran. Drops other pages' settings from the URL."""
    seen = st.session_state.setdefault(_SEEN, {})
    current = values(params)
    ours = {p.name for p in params}
    for name in list(st.query_params):
        if name not in ours and name not in KEEP:
            del st.query_params[name]
    for name, raw in current.items():
        if st.query_params.get(name) != raw:
            st.query_params[name] = raw
        seen[name] = raw
    return current


def link(params: list[Param]) -> str:
    """The full link to this view (the page's address plus its settings)."""
    query = values(params)
    query.update({name: st.query_params[name] for name in KEEP if name in st.query_params})
    base = st.context.url or ""
    return base + ("?" + urlencode(query) if query else "")


def share(params: list[Param], key: str = "share_link") -> None:
    """A 'Copy link to this view' control: the link in a box with a copy button."""
    with st.popover("Copy link to this view", icon=":material/link:", key=key):
        st.caption("Send this link to the class: it opens this page with these settings.")
        st.code(link(params), language=None, wrap_lines=True)
