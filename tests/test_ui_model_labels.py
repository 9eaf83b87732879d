"""The model picker's labels fit a select box: the box shows its value in a one-line input that cuts
a long name off at its edge, so long titles and user-model names are shortened and named in full below."""

from ui import models


def test_long_titles_are_short_in_the_picker_and_named_in_full_below():
    assert models._title("mobilenet_0.25", True).startswith("MobileNet 0.25 (128 px)")
    assert models._full_name("mobilenet_0.25", True) == "MobileNet, alpha 0.25 (128 px, fastest)"
    assert models._full_name("vgg16", True) is None  # short already: no second line


def test_long_user_model_names_are_shortened_and_named_in_full_below():
    long = models.USER_PREFIX + "my cats and dogs and birds classifier v2"
    label = models._title(long, True)
    assert len(label) <= len(models.USER_PREFIX) + models.USER_NAME_CHARS and "…" in label
    other = models.USER_PREFIX + "my cats and dogs and birds classifier v3"
    assert models._title(other, True) != label  # two long names stay apart in the list
    assert models._full_name(long, True) == long
    short = models.USER_PREFIX + "mugs"
    assert models._title(short, True) == short and models._full_name(short, True) is None
