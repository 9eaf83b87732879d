"""The class's pooled photos train a classifier: from embeddings stored when photos arrived (one head
fit at "Train"), through explorer.train_classifier, and the model is kept in the store (issue 22)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import explorer
from explorer.classroom import ClassStore
from explorer.classroom import embedder
from explorer.classroom import training as class_training
from explorer.data.datasets import augmented_copies
from explorer.transfer import classify
from explorer.transfer import training as transfer_training
from tests.conftest import needs_fixtures

pytestmark = needs_fixtures
BACKBONE = "mobilenet_0.25"  # real ImageNet weights, small enough for a test


def jpeg(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(fixture_images):
    return {name: [jpeg(v) for v in augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 10,
                                                     seed=i, size=200)]
            for i, name in enumerate(("cat", "dog"))}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, photos):
    """A class where two students added 10 cat and 10 dog photos; embeddings computed in the background."""
    url = f"sqlite:///{tmp_path_factory.mktemp('class') / 'classes.db'}"
    store = ClassStore(url, embed=True, backbone=BACKBONE)
    klass = store.create_class(["cat", "dog"])
    tokens = {name: store.join(klass.code, f"{name} fan") for name in photos}
    for name, items in photos.items():
        for data in items:
            store.add_photo(klass.code, tokens[name], name, data)
    embedder.wait_idle()
    yield store, klass, url
    store.close()


def test_embeddings_are_stored_in_the_background_as_training_would_compute_them(classroom):
    store, klass, _ = classroom
    assert all(p.has_embedding for p in store.photos(klass.code))
    assert store.missing_embeddings() == []
    data, vectors, key = store.training_data(klass.code)
    backbone = embedder.backbone(key)
    # what train_classifier's own pass computes for the same photos (its geometry and compiled step)
    fresh = embedder.embed_images(backbone, [explorer.load_image(b) for b in data["cat"][:4]])
    stored = np.stack(vectors["cat"][:4])
    assert stored.shape == fresh.shape == (4, 256)
    assert np.allclose(stored, fresh, rtol=1e-3, atol=1e-3 * float(np.abs(fresh).max()))


def test_training_the_class_uses_stored_embeddings_not_the_backbone(classroom, monkeypatch):
    store, klass, _ = classroom

    def no_backbone_pass(*args, **kwargs):
        raise AssertionError("the backbone ran over the photos at Train")

    monkeypatch.setattr(transfer_training, "extract_embeddings", no_backbone_pass)
    trained = class_training.train_class(store, klass.code, klass.teacher_token, epochs=15, seed=0)
    result = trained.result
    assert result.class_names == ["cat", "dog"] and trained.version >= 1
    assert result.val_accuracy >= 0.75, result.history  # seen 1.0 on this machine, with and without oneDNN
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.confusion_matrix().sum() == 4  # 2 of 10 per class held out
    assert result.val_images.shape == (4, 128, 128, 3)


def test_a_student_cannot_train_and_short_labels_are_refused(classroom, tmp_path):
    store, klass, _ = classroom
    with pytest.raises(PermissionError):
        class_training.train_class(store, klass.code, store.join(klass.code, "Eve"))
    other = ClassStore(f"sqlite:///{tmp_path / 'c.db'}", embed=False, backbone=BACKBONE)
    small = other.create_class(["cat", "dog"])
    other.add_photo(small.code, small.teacher_token, "cat", jpeg(np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(ValueError, match="dog"):
        class_training.train_class(other, small.code, small.teacher_token)


def test_the_kept_model_survives_a_restart_and_answers_like_the_trained_one(classroom, photos, fixture_images):
    store, klass, url = classroom
    trained = class_training.train_class(store, klass.code, klass.teacher_token, epochs=15, seed=1)
    reopened = ClassStore(url, embed=False, backbone=BACKBONE)
    stored = reopened.latest_model(klass.code)
    assert stored.version == trained.version and stored.report["class_names"] == ["cat", "dog"]
    assert len(stored.data) < 100_000  # the head's weights, not a copy of the backbone
    model = class_training.open_model(klass.code, stored)
    for name in ("cat", "dog"):
        photo = explorer.load_image(fixture_images / f"{name}.jpg")
        assert classify(model, photo)[0][0] == name
        assert np.allclose(explorer.predict(model, photo), explorer.predict(trained.result.model, photo), atol=1e-5)
    assert explorer.class_names_of(model) == ["cat", "dog"]
    reopened.close()


def test_photos_missing_an_embedding_are_embedded_at_train(tmp_path, photos):
    store = ClassStore(f"sqlite:///{tmp_path / 'c.db'}", embed=False, backbone=BACKBONE)  # no background worker
    klass = store.create_class(["cat", "dog"])
    for name, items in photos.items():
        for data in items[:4]:
            store.add_photo(klass.code, klass.teacher_token, name, data)
    assert not any(p.has_embedding for p in store.photos(klass.code))
    trained = class_training.train_class(store, klass.code, klass.teacher_token, epochs=2)
    assert trained.result.class_names == ["cat", "dog"]
    assert all(p.has_embedding for p in store.photos(klass.code))


def test_pooled_data_trains_through_train_classifier(classroom):
    store, klass, _ = classroom
    data = store.dataset(klass.code)
    result = explorer.train_classifier(data, backbone=embedder.backbone(BACKBONE), epochs=15, seed=0)
    assert result.class_names == ["cat", "dog"] and result.train_count == 16
    assert result.val_accuracy >= 0.75, result.history  # seen 1.0 on this machine
    _, vectors, _ = store.training_data(klass.code)
    with pytest.raises(ValueError, match="augment_copies"):
        explorer.train_classifier(data, backbone=embedder.backbone(BACKBONE), embeddings=vectors, augment_copies=1)
    with pytest.raises(ValueError, match="embeddings"):
        explorer.train_classifier(data, backbone=embedder.backbone(BACKBONE),
                                  embeddings={"cat": vectors["cat"][:3], "dog": vectors["dog"]})
