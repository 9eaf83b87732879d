"""Class mode: 30 students add 10 photos each at once; how soon the teacher sees them, and how fast Train is.

    python bench/class_mode.py [--students 30] [--photos 10] [--url sqlite:///...|postgresql+psycopg://...]

Against the real store (``explorer.classroom.ClassStore``, a temporary SQLite file unless ``--url``),
with the background embedding worker on, as on the server. Each student is a thread; all start at
once (a barrier) and add their photos back to back (phone-sized JPEGs of 1024x768, decoded, shrunk and
re-encoded by the store). The teacher's wall polls the store every ``REFRESH_S`` seconds, as the page's
``st.fragment(run_every=...)`` does; a photo's *visible* latency is from the moment its student
pressed "add" to the first poll that lists it (so it includes the wall's refresh period).

Then Train: ``explorer.classroom.training.train_class`` on the 300 photos from the stored embeddings
(one head fit), timed from the call to the kept model, against the same call embedding every photo at
train time (``stored_embeddings=False``), in turns: stored, embed-all, stored (the stored time is the
mean of its two runs). Last line:

    students=30 photos=300 p95_visible=Xs train=Ys ratio=R
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time

import _offline  # noqa: F401  (offline weights, repository on sys.path)
import numpy as np
from PIL import Image

import explorer
from explorer.classroom import ClassStore, embedder
from explorer.classroom import training as class_training
from explorer.data.datasets import augmented_copies
from explorer.data.samples import SAMPLES, sample_image
from ui.classroom import REFRESH_S

FIXTURES = _offline.FIXTURES / "images"


def phone_photos(count: int) -> list[tuple[str, bytes]]:
    """``count`` (label, JPEG) pairs, half cats, half dogs, 1024x768, each a different random view."""
    if (FIXTURES / "cat.jpg").is_file():
        sources = {name: explorer.load_image(FIXTURES / f"{name}.jpg") for name in ("cat", "dog")}
    else:
        names = sorted(SAMPLES)[:2]
        sources = {"cat": sample_image(names[0]), "dog": sample_image(names[1])}
    out = []
    for label, image in sources.items():
        for view in augmented_copies(image, count // 2, seed=len(out), size=768):
            buffer = io.BytesIO()
            Image.fromarray(view).resize((1024, 768)).save(buffer, format="JPEG", quality=90)
            out.append((label, buffer.getvalue()))
    return out


def add_at_once(store, code, students: int, per_student: int, photos) -> tuple[list[float], float]:
    tokens = [store.join(code, f"student {i}") for i in range(students)]
    pressed: dict[int, float] = {}
    seen: dict[int, float] = {}
    errors: list[str] = []
    done = threading.Event()
    start = threading.Barrier(students + 1)

    def student(i):
        start.wait()
        for n in range(per_student):
            label, data = photos[(i * per_student + n) % len(photos)]
            t = time.perf_counter()
            try:
                pressed[store.add_photo(code, tokens[i], label, data)] = t
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    def teacher():
        while True:
            now = time.perf_counter()
            for record in store.photos(code):
                seen.setdefault(record.id, now)
            if done.is_set() and len(seen) >= len(pressed):
                return
            time.sleep(REFRESH_S)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(students)]
    for t in threads:
        t.start()
    wall = threading.Thread(target=teacher)
    wall.start()
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    added = time.perf_counter() - began
    done.set()
    wall.join()
    if errors:
        raise SystemExit(f"{len(errors)} adds failed, e.g. {errors[0]}")
    return [seen[i] - pressed[i] for i in pressed], added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--photos", type=int, default=10, help="photos per student")
    parser.add_argument("--url", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--epochs", type=int, default=10, help="head epochs (the Transfer page's default)")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='bench_class_')}/classes.db"
    store = ClassStore(url, embed=True)
    klass = store.create_class(["cat", "dog"])
    total = args.students * args.photos
    photos = phone_photos(total)
    embedder.backbone(store.backbone)  # the server loads it once; not part of any student's wait
    latencies, added = add_at_once(store, klass.code, args.students, args.photos, photos)
    waited = time.perf_counter()
    embedder.wait_idle()
    embedder.embed_missing(store)
    print(f"{total} photos added in {added:.1f} s; background embeddings done {time.perf_counter() - waited:.1f} s "
          "after the last add")
    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"added -> visible to the teacher (wall refresh every {REFRESH_S} s): p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"max {max(latencies):.2f} s")

    def train(stored: bool) -> float:
        t = time.perf_counter()
        class_training.train_class(store, klass.code, klass.teacher_token, epochs=args.epochs,
                                   stored_embeddings=stored)
        return time.perf_counter() - t

    first, baseline, second = train(True), train(False), train(True)
    stored = (first + second) / 2
    print(f"Train from stored embeddings: {first:.1f} s, {second:.1f} s; embedding all {total} photos at Train: "
          f"{baseline:.1f} s")
    print(f"students={args.students} photos={total} p95_visible={p95:.2f}s train={stored:.1f}s "
          f"ratio={baseline / stored:.1f}")
    store.close()


if __name__ == "__main__":
    main()
