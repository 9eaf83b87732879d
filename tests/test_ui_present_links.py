"""Presentation mode and lesson links (ui.present, ui.links) in AppTest scripts."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, page_styles
from ui import present

APP = str(ROOT / "streamlit_app.py")


def _links_app():
    import streamlit as st

    from ui import links

    params = [links.number("demo_eps", "eps", 0, 16, cast=int),
              links.choice("demo_class", "class", [281, 284, 340], cast=int),
              links.flag("demo_compare", "compare")]
    links.restore(params)
    links.default("demo_eps", 2)
    links.default("demo_class", 284)
    st.slider("Budget", 0, 16, key="demo_eps")
    st.selectbox("Class", [281, 284, 340], key="demo_class")
    st.toggle("Compare", key="demo_compare")
    links.publish(params)


def test_a_link_restores_the_controls_and_a_changed_slider_goes_back_into_the_url():
    at = AppTest.from_function(_links_app)
    at.query_params.update({"eps": "8", "class": "340", "compare": "1"})
    at.run()
    assert not at.exception and not at.info
    assert at.slider(key="demo_eps").value == 8 and at.selectbox(key="demo_class").value == 340
    assert at.toggle(key="demo_compare").value is True
    at.slider(key="demo_eps").set_value(5).run()  # the user moves the slider: the URL must not undo it
    assert at.slider(key="demo_eps").value == 5
    assert at.query_params["eps"] == "5" and at.query_params["class"] == "340"


def test_bad_link_values_fall_back_to_defaults_with_a_notice():
    at = AppTest.from_function(_links_app)
    at.query_params.update({"eps": "1e9", "class": "cat", "compare": "maybe", "junk": "x"})
    at.run()
    assert not at.exception
    assert at.slider(key="demo_eps").value == 2 and at.selectbox(key="demo_class").value == 284
    assert "could not be used" in at.info[0].value and "eps=1e9" in at.info[0].value
    assert "junk" not in at.query_params  # another page's (or a mistyped) setting is dropped
    at.run()
    assert not at.info  # said once, not on every rerun


def test_nan_in_a_link_is_refused():
    at = AppTest.from_function(_links_app)
    at.query_params.update({"eps": "nan"})
    at.run()
    assert not at.exception and at.slider(key="demo_eps").value == 2 and at.info


def test_presentation_mode_from_the_url_stays_on_across_pages():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    assert at.toggle(key="present_toggle").value is True
    assert "font-size: 22px" in page_styles(at)
    at.switch_page("pages/inception_block.py").run()  # AppTest runs the page file without the shell
    assert at.session_state["present_mode"] is True
    at.switch_page("streamlit_app.py").run()
    assert at.toggle(key="present_toggle").value is True
    at.toggle(key="present_toggle").set_value(False).run()
    assert "cnn-explorer-style-presentation" not in page_styles(at)  # home keeps only its own card-title size
    assert "present" not in at.query_params


def test_presentation_mode_is_off_by_default():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.toggle(key="present_toggle").value is False
    # Only the styles in force in both modes (metrics and tables wrap, Home's card titles): no
    # presentation sizes.
    assert "cnn-explorer-style-presentation" not in page_styles(at)
    assert f"{present.BODY_PX}px" not in page_styles(at)


def test_a_presented_title_gets_room_and_nothing_else_moves(monkeypatch):
    """Presenting, a title grows to TITLE_PX: a figure that set a tight top margin gets two title heights;
    a figure on plotly's default margin (100 px) or without a title keeps its own."""
    import plotly.graph_objects as go

    from ui import present

    monkeypatch.setattr(present, "is_on", lambda: True)
    tight = present.style_figure(go.Figure(layout=dict(title="p after each step", margin=dict(t=36))))
    assert tight.layout.margin.t == 2 * present.TITLE_PX + 6
    assert present.style_figure(go.Figure(layout=dict(title="roomy"))).layout.margin.t is None
    assert present.style_figure(go.Figure(layout=dict(margin=dict(t=10)))).layout.margin.t == 10


def test_a_localhost_link_gets_the_network_address_or_a_warning(monkeypatch):
    """Issue 23: a link with the host the teacher typed (localhost) opens nothing on students' computers."""
    from ui import links

    monkeypatch.setattr(links.st, "get_option", lambda name: "")
    monkeypatch.setattr(links, "network_address", lambda: "192.168.1.20")
    assert links.shareable("http://localhost:8501/adversarial") == ("http://192.168.1.20:8501/adversarial", True)
    assert links.shareable("http://127.0.0.1:8501/") == ("http://192.168.1.20:8501/", True)
    assert links.shareable("http://school-server:8501/x") == ("http://school-server:8501/x", True)
    monkeypatch.setattr(links, "network_address", lambda: None)
    assert links.shareable("http://localhost:8501/") == ("http://localhost:8501/", False)
    monkeypatch.setattr(links, "network_address", lambda: "192.168.1.20")
    monkeypatch.setattr(links.st, "get_option", lambda name: "127.0.0.1")  # the server listens locally only
    assert links.shareable("http://localhost:8501/") == ("http://localhost:8501/", False)


def test_the_copy_button_says_a_link_cannot_carry_an_uploaded_photo():
    def page():
        import streamlit as st

        from ui import links

        st.session_state["fm_photo_source"] = st.session_state.get("source_now", "Sample photo")
        links.share([], key="share")

    at = AppTest.from_function(page).run()
    note = "A link cannot carry an uploaded or camera photo"
    assert not any(note in c.value for c in at.caption)
    at.session_state["source_now"] = "Upload"
    at.run()
    assert any(note in c.value for c in at.caption)
