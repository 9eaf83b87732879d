"""Presentation mode: large type for a projector, clutter behind an expander.

A toggle in the sidebar (rendered by the app shell on every run, so it keeps its value across page
switches), also reachable as ``?present=1`` on any page URL. Pages style their charts with
:func:`style_figure` (or show them with :func:`plotly_chart`), size thumbnails with :func:`px`, and put
file names, weight files and developer captions inside :func:`details`.
"""

from __future__ import annotations

import contextlib

import streamlit as st

KEY = "present_mode"  # the session's setting (not a widget key: it must outlive pages without the toggle)
_WIDGET = "present_toggle"
PARAM = "present"
ON_VALUES = ("1", "true", "yes", "on")

#: Font sizes (px) in presentation mode: body text, captions, chart ticks and labels, chart titles.
BODY_PX, CAPTION_PX, TICK_PX, TITLE_PX = 22, 20, 18, 22
#: Thumbnails grow by this factor in presentation mode.
THUMB_SCALE = 1.6

_CSS = f"""
html {{ font-size: {BODY_PX}px; }}
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, [data-testid="stAlertContentInfo"] p,
[data-testid="stTable"] td, [data-testid="stTable"] th {{ font-size: {BODY_PX}px !important; }}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{
  font-size: {CAPTION_PX}px !important; color: inherit !important; }}
[data-testid="stMetricValue"] p, [data-testid="stMetricValue"] {{ font-size: 1.75rem !important; line-height: 1.25 !important; }}
@media (min-width: 768px) {{  /* a phone folds the side bar away by its own width: a wider one left a strip */
  [data-testid="stSidebar"] {{ width: 340px !important; min-width: 340px !important; }} }}
[data-testid="stSidebarNav"] span {{ font-size: 20px !important; white-space: normal !important; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 2.5rem !important; }}
@media (max-width: 767px) {{  /* a phone: the side bar keeps its narrower width, so menu and names keep their size */
  [data-testid="stSidebar"] [data-testid="stSelectbox"] input, [data-testid="stSidebarNav"] span,
  [data-testid="stSidebarNav"] [data-testid="stMarkdownContainer"] p {{
    font-size: 16px !important; }} }}
"""


#: In force in both modes: a metric's label and value, and a table's cells, wrap instead of ending in "…"
#: (presentation mode cut every Architectures card value, "56 mi…"; a phone ran Home's table off screen).
_ALWAYS_CSS = """
[data-testid="stMetric"] *, [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stMetricValue"] { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; overflow-wrap: anywhere; }
[data-testid="stTable"] td, [data-testid="stTable"] th, [data-testid="stTable"] td *, [data-testid="stTable"] th * {
  overflow-wrap: anywhere !important; white-space: normal !important; }
[data-testid="stTable"] table { min-width: 0 !important; }
"""


def style(css: str, name: str) -> None:
    """Add page CSS that is in force from the first paint, without taking any room.

    ``st.markdown``, not ``st.html``: the browser loads Streamlit's code for ``st.html`` lazily, in a
    request of its own once the first element arrives, so on a busy server the page's text showed at
    normal size for seconds before the style came; the markdown code comes with the page itself. The
    element holding the style hides itself (a hidden ``<style>`` still applies). ``name`` makes its id.
    """
    sid = f"cnn-explorer-style-{name}"
    st.markdown(f'<style id="{sid}">[data-testid="stElementContainer"]:has(#{sid}) {{ display: none !important; }}\n'
                f"{css}</style>", unsafe_allow_html=True)


def is_on() -> bool:
    """Whether this session is in presentation mode (the URL's ``?present=1`` turns it on)."""
    if KEY not in st.session_state:
        st.session_state[KEY] = st.query_params.get(PARAM, "").lower() in ON_VALUES
    return bool(st.session_state[KEY])


def sidebar_toggle() -> bool:
    """The sidebar switch; call once per run from the app shell, before the page runs."""
    if _WIDGET not in st.session_state:  # first run (the URL's value) or a run that skipped the shell
        st.session_state[_WIDGET] = is_on()
    on = st.sidebar.toggle("Presentation mode", key=_WIDGET,
                           help="Large text and charts for a projector; details move into expanders. "
                                "Add ?present=1 to any page's link to open it this way.")
    st.session_state[KEY] = on
    style(_ALWAYS_CSS, "always")
    if on:
        st.query_params[PARAM] = "1"
        style(_CSS, "presentation")
    elif PARAM in st.query_params:
        del st.query_params[PARAM]
    return on


def px(width: int) -> int:
    """A thumbnail or picture width, larger in presentation mode."""
    return int(round(width * THUMB_SCALE)) if is_on() else width


def style_figure(fig, height: int | None = None):
    """Presentation mode: chart text at TICK_PX (titles TITLE_PX) and a 25% taller figure. Normal mode
    keeps the page's own fonts. ``height``: the figure's normal height. Returns the figure."""
    if height is not None:
        fig.update_layout(height=height)
    if not is_on():
        return fig
    fig.update_layout(font=dict(size=TICK_PX), title_font_size=TITLE_PX, legend_font_size=TICK_PX,
                      hoverlabel_font_size=TICK_PX)
    fig.update_xaxes(tickfont_size=TICK_PX, title_font_size=TICK_PX)
    fig.update_yaxes(tickfont_size=TICK_PX, title_font_size=TICK_PX)
    fig.update_annotations(font_size=TICK_PX)
    top = fig.layout.margin.t  # None: plotly's default of 100 px, room enough
    if fig.layout.title.text and top is not None and top < 2 * TITLE_PX + 6:  # room for the larger title
        fig.update_layout(margin_t=2 * TITLE_PX + 6)
    if fig.layout.height:
        fig.update_layout(height=int(fig.layout.height * 1.25))
    return fig


def plotly_chart(fig, height: int | None = None, **kwargs):
    """``st.plotly_chart`` with the mode's font sizes, full width."""
    return st.plotly_chart(style_figure(fig, height), **kwargs)


@contextlib.contextmanager
def details(label: str = "Details"):
    """Where file names, weight files and developer notes go: inline normally, folded when presenting."""
    if is_on():
        with st.expander(label, expanded=False):
            yield
    else:
        yield
