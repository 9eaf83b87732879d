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
    assert len(at.table) == 1
    assert "Ready with their ImageNet weights: MobileNetV2" in text, text
    links = [el.proto.label for el in at.get("page_link")]
    assert len(links) == 7 and "**Feature maps**" in links


@needs_fixtures
def test_weights_table_has_no_nan():
    """Missing files have no size: the MB column says so in words instead of showing 'nan'."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    table = at.table[0].value
    assert "nan" not in {str(v).lower() for v in table["MB"]}
    assert "not here" in set(table["MB"]) and any(v.replace(".", "").isdigit() for v in table["MB"])


@needs_fixtures
def test_presentation_mode_folds_the_weight_files_away():
    """A projected home page shows what is ready in words; file names and the cache path fold into an expander."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    folded = next(e for e in at.expander if e.label == "Weight files and where they live")
    assert len(folded.table) == 1 and any("Keras keeps weights in" in m.value for m in folded.markdown)
    assert not any("Keras keeps weights in" in m.value for m in at.main.markdown if m not in folded.markdown)
    assert any("known files are here" in m.value for m in at.main.markdown)
    normal = AppTest.from_file(APP, default_timeout=60).run()
    assert not any(e.label == "Weight files and where they live" for e in normal.expander)  # inline when not presenting
