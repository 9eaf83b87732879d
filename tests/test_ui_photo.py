"""ui.photo: the one photo input, its sample choice in a lesson link, and source buttons that never get cut off."""

from streamlit.testing.v1 import AppTest

from tests.conftest import page_styles


def _photo_app():
    import streamlit as st

    from ui import links
    from ui.photo import photo_input, sample_param

    params = [sample_param("demo", "photo")]
    links.restore(params)
    photo, where = photo_input("demo", "Coffee cup")
    st.write(f"{where} {photo.shape[1]}x{photo.shape[0]}")
    links.publish(params)


def test_a_link_picks_the_sample_and_a_new_pick_goes_back_into_the_url():
    at = AppTest.from_function(_photo_app)
    at.query_params["photo"] = "Rocket launch"
    at.run()
    assert not at.exception and not at.info
    assert at.selectbox(key="demo_sample").value == "Rocket launch"
    assert at.markdown[-1].value.startswith("sample: Rocket launch")
    at.selectbox(key="demo_sample").set_value("Astronaut").run()
    assert at.query_params["photo"] == "Astronaut" and at.markdown[-1].value.startswith("sample: Astronaut")


def test_without_a_link_the_default_sample_shows_and_a_bad_link_says_so():
    at = AppTest.from_function(_photo_app).run()
    assert at.selectbox(key="demo_sample").value == "Coffee cup" and at.query_params["photo"] == "Coffee cup"
    at = AppTest.from_function(_photo_app)
    at.query_params["photo"] = "Unicorn"
    at.run()
    assert not at.exception and at.selectbox(key="demo_sample").value == "Coffee cup"
    assert "photo=Unicorn" in at.info[0].value


def test_the_source_buttons_wrap_instead_of_hiding_camera():
    """Streamlit's segmented control scrolls sideways in a narrow column and cuts 'Camera' off: wrap it."""
    at = AppTest.from_function(_photo_app).run()
    assert at.segmented_control(key="demo_source").options == ["Sample photo", "Upload", "Camera"]
    css = page_styles(at)
    assert ".st-key-demo_source [role='radiogroup']" in css and "flex-wrap: wrap" in css
