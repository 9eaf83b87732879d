"""The app shell: navigation, the home page with the weights status."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, needs_fixtures

APP = str(ROOT / "streamlit_app.py")


@needs_fixtures
def test_home_page_lists_pages_and_weights():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "known files are here" in text
    assert "**2 of" not in text  # the fixture cache holds 6 weight files + class names
    assert "**7 of 19**" in text, text
    assert len(at.dataframe) == 1
    links = [el.proto.label for el in at.get("page_link")]
    assert len(links) == 7 and "**Feature maps**" in links


@needs_fixtures
def test_weights_table_has_no_nan():
    """Missing files have no size: the MB column says so in words instead of showing 'nan'."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    table = at.dataframe[0].value
    assert "nan" not in {str(v).lower() for v in table["MB"]}
    assert "not here" in set(table["MB"]) and any(v.replace(".", "").isdigit() for v in table["MB"])
