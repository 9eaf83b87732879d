"""Lesson links: a page's controls mirrored into its URL, so a teacher can prepare a link for the class.

A page lists its controls as :class:`Param` values (widget key, short URL name, parser), calls
:func:`restore` before it creates the widgets and :func:`publish` after them. A link opened in a fresh
browser restores the controls; a bad or unknown value falls back to the default with a short notice,
never an exception. :func:`share` shows the link with a copy button.

Widgets whose key a link may set must take their default from ``st.session_state`` (see
:func:`default`) rather than a ``value=``/``index=`` argument: Streamlit warns when both are given.
"""

from __future__ import annotations

import socket

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

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


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
PHOTO_SOURCES = ("Upload", "Camera")  # ui.photo's sources a link cannot carry


def network_address() -> str | None:
    """This computer's address on the classroom network (None if it has none). A UDP 'connect' sends
    nothing: it only asks the system which interface would be used."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def shareable(url: str) -> tuple[str, bool]:
    """``(url, ok)``: a teacher on ``localhost`` gets the server's network address instead (a localhost
    link opens nothing on a student's computer); ``ok`` is False when there is none to use."""
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        return url, True
    if (st.get_option("server.address") or "") in LOCAL_HOSTS[:3]:  # this server answers this computer only
        return url, False
    address = network_address()
    if address is None:
        return url, False
    netloc = address + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), True


def link(params: list[Param]) -> str:
    """The full link to this view (the page's address plus its settings), with the server's network
    address when the page was opened as ``localhost``."""
    query = values(params)
    query.update({name: st.query_params[name] for name in KEEP if name in st.query_params})
    base, _ = shareable(st.context.url or "")
    return base + ("?" + urlencode(query) if query else "")


def share(params: list[Param], key: str = "share_link") -> None:
    """A 'Copy link to this view' control: the link in a box with a copy button, and what it cannot do."""
    with st.popover("Copy link to this view", icon=":material/link:", key=key):
        st.caption("Send this link to the class: it opens this page with these settings.")
        st.code(link(params), language=None, wrap_lines=True)
        if not shareable(st.context.url or "")[1]:
            st.caption("This link names this computer only (localhost), and the server has no address on the "
                       "classroom network (or listens on this computer only): students' computers cannot open it. "
                       "Start the server on the network (`streamlit run streamlit_app.py`, no --server.address) "
                       "and open it by its network address.")
        if any(k.endswith("_source") and v in PHOTO_SOURCES for k, v in st.session_state.items()):
            st.caption("A link cannot carry an uploaded or camera photo: it opens with the sample photo. "
                       "Students upload their own, or pick a sample.")
