"""Image datasets for transfer learning: one folder (or zip folder) per class, read safely.

``load_dataset`` takes a folder whose sub-folders are the classes, or a zip whose top-level folders
are the classes (a single wrapping folder, as "Compress folder" makes, is looked through). Zips are
read straight from memory, never extracted, so nothing is written to disk; hostile archives (path
traversal, absolute paths, symlinks, zip bombs) are refused before a single image is decoded.
Images are decoded with :func:`explorer.load_image` and shrunk to at most :data:`MAX_SIDE` pixels,
which is more than any backbone needs and keeps a few thousand photos in memory.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from .images import MAX_BYTES, SUPPORTED_TYPES, ImageError, load_image

# Limits for one dataset (a class set for a lesson, not ImageNet).
MAX_FILES = 10_000
MAX_TOTAL_BYTES = 2 * 1024**3  # declared uncompressed size of a whole zip
MAX_RATIO = 200  # uncompressed/compressed size of one entry; JPEG/PNG compress to ~1x
MAX_SIDE = 448
MIN_IMAGES = 5  # fewer images per class than this: warn
MAX_IMBALANCE = 3.0  # largest class / smallest class above this: warn

IMAGE_SUFFIXES = tuple("." + t for t in SUPPORTED_TYPES)


class DatasetError(ValueError):
    """A dataset could not be used; the message says why and what to do instead."""


class ImageSet(dict):
    """``class name -> list of RGB uint8 images``, plus ``skipped``: files that could not be read, and why."""

    def __init__(self, *args, skipped: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped = list(skipped or [])


def load_dataset(path_or_zip) -> ImageSet:
    """Read a class-per-folder dataset from a folder, a zip file path, zip bytes or an uploaded zip.

    Returns an :class:`ImageSet` (a dict ``class name -> list of HxWx3 uint8 arrays``, classes sorted
    by name) whose ``skipped`` lists unreadable files with the reason. Raises :class:`DatasetError`
    for anything that makes the set unusable: not a folder or zip, fewer than two classes, an empty
    class, a class without one readable image, unsafe or oversized archives.
    """
    if isinstance(path_or_zip, (str, os.PathLike)) and Path(path_or_zip).is_dir():
        files = _folder_files(Path(path_or_zip))
    else:
        files = _zip_files(_zip_bytes(path_or_zip))
    return _decode_all(files)


def _zip_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DatasetError(f"Nothing at '{path}'. Give a folder with one sub-folder per class, or a .zip file.")
        if not path.is_file():
            raise DatasetError(f"'{path}' is neither a folder nor a zip file.")
        if path.stat().st_size > MAX_TOTAL_BYTES:
            raise DatasetError(f"'{path.name}' is larger than {MAX_TOTAL_BYTES / 1e9:.0f} GB; use a smaller set.")
        return path.read_bytes()
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(MAX_TOTAL_BYTES + 1)
        if len(data) > MAX_TOTAL_BYTES:
            raise DatasetError(f"The upload is larger than {MAX_TOTAL_BYTES / 1e9:.0f} GB; use a smaller set.")
        return bytes(data)
    raise DatasetError(f"Cannot read a dataset from a {type(source).__name__}: give a folder, a zip path or zip bytes.")


def _not_a_zip() -> DatasetError:
    return DatasetError("This is not a zip file. Put one folder per class (cats/, dogs/...) into a zip and upload that.")


def _zip_files(data: bytes) -> dict[str, list[tuple[str, object]]]:
    """class -> [(file name, bytes loader)] (key None: loose top-level files), after refusing unsafe archives."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _not_a_zip() from None
    infos = archive.infolist()
    if len(infos) > MAX_FILES:
        raise DatasetError(f"The zip holds {len(infos)} entries; the limit is {MAX_FILES}. Use a smaller set.")
    total = 0
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise DatasetError(f"Refusing this zip: it holds an absolute path ('{name}').")
        if ".." in parts:
            raise DatasetError(f"Refusing this zip: it holds a path leaving its folder ('{name}').")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"Refusing this zip: it holds a symbolic link ('{name}'). Zip the files themselves.")
        total += info.file_size
        if info.file_size > MAX_BYTES or (info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise DatasetError(f"Refusing this zip: '{name}' unpacks to {info.file_size / 1e6:.0f} MB, "
                               "far more than any photo (a zip bomb?).")
    if total > MAX_TOTAL_BYTES:
        raise DatasetError(f"Refusing this zip: it unpacks to {total / 1e9:.1f} GB; the limit is "
                           f"{MAX_TOTAL_BYTES / 1e9:.0f} GB (a zip bomb?).")

    entries = []  # (parts, info) without macOS/hidden clutter
    for info in infos:
        parts = [p for p in PurePosixPath(info.filename.replace("\\", "/")).parts if p]
        if not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            continue
        entries.append((parts, info))
    entries = _strip_common_root(entries)
    classes: dict[str, list] = {}
    for parts, info in entries:
        if info.is_dir():
            classes.setdefault(parts[0], [])
        elif len(parts) >= 2:
            classes.setdefault(parts[0], []).append(("/".join(parts), lambda i=info: archive.read(i)))
        else:
            classes.setdefault(None, []).append(parts[0])
    return classes


def _strip_common_root(entries: list) -> list:
    """Look through one wrapping folder (``pets/cats/1.jpg`` -> ``cats/1.jpg``); loose files stay put."""
    while True:
        roots = {parts[0] for parts, info in entries if len(parts) >= 2 or info.is_dir()}
        if len(roots) != 1:
            return entries
        root = roots.pop()
        inner = [(parts[1:], info) for parts, info in entries if parts[0] == root and len(parts) > 1]
        if not any(len(parts) >= 2 for parts, _ in inner):  # the folder holds only files: it is a (lone) class
            return entries
        entries = inner + [(parts, info) for parts, info in entries if parts[0] != root]


def _folder_files(root: Path) -> dict[str, list]:
    classes: dict[str, list] = {}
    count = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = classes.setdefault(folder.name, [])
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                count += 1
                if count > MAX_FILES:
                    raise DatasetError(f"'{root}' holds more than {MAX_FILES} files; use a smaller set.")
                path = Path(dirpath) / name
                files.append((str(path.relative_to(root)), path))
    return classes


def _decode_all(classes: dict) -> ImageSet:
    skipped = [f"{name}: not inside a class folder" for name in classes.pop(None, [])]
    if len(classes) < 2:
        found = f" (found only '{next(iter(classes))}')" if classes else ""
        raise DatasetError(f"A dataset needs at least 2 classes{found}: one folder per class, each holding its images.")
    out = ImageSet()
    for name in sorted(classes):
        if not classes[name]:
            raise DatasetError(f"Class '{name}' is empty. Add images to its folder or remove the folder.")
        images = []
        for file_name, source in classes[name]:
            try:
                data = source() if callable(source) else source
                images.append(shrink(load_image(data)))
            except ImageError as exc:
                skipped.append(f"{file_name}: {exc}")
        if not images:
            raise DatasetError(f"Class '{name}' has no readable image ({len(classes[name])} file(s), none a photo "
                               f"we can read). Use {', '.join(SUPPORTED_TYPES)} files.")
        out[name] = images
    out.skipped = skipped
    return out


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The image with its longer side at most ``max_side`` (aspect kept); small images unchanged."""
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    img = Image.fromarray(image)
    img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return np.asarray(img)


def dataset_warnings(images_by_class: dict, min_images: int = MIN_IMAGES, max_imbalance: float = MAX_IMBALANCE) -> list[str]:
    """Plain-language warnings about a class set: too few images in a class, strong imbalance."""
    counts = {name: len(items) for name, items in images_by_class.items()}
    warnings = [f"Class '{n}' has only {c} image(s); aim for at least {min_images * 4}, and never fewer than "
                f"{min_images}." for n, c in counts.items() if c < min_images]
    if counts and min(counts.values()) > 0:
        big, small = max(counts, key=counts.get), min(counts, key=counts.get)
        if counts[big] / counts[small] > max_imbalance:
            warnings.append(f"The classes are imbalanced: '{big}' has {counts[big]} images, '{small}' only "
                            f"{counts[small]}. The model will lean towards '{big}'; add images to '{small}'.")
    return warnings


def augmented_copies(image: np.ndarray, count: int, seed: int = 0, size: int = 224) -> list[np.ndarray]:
    """``count`` different ``size`` x ``size`` views of one photo: random crops (60-100 %), flips and colour jitter.

    Turns a handful of photos into a small, honest test set (each class is one real photo seen many
    ways), and the shipped samples into a demo set.
    """
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    out = []
    for _ in range(count):
        scale = rng.uniform(0.6, 1.0)
        h, w = max(1, int(height * scale)), max(1, int(width * scale))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        crop = Image.fromarray(image[top:top + h, left:left + w]).resize((size, size), Image.Resampling.BILINEAR)
        view = np.asarray(crop, dtype=np.float32)
        if rng.random() < 0.5:
            view = view[:, ::-1]
        view = view * rng.uniform(0.75, 1.25, size=3) + rng.uniform(-20, 20)
        out.append(np.clip(view, 0, 255).astype(np.uint8))
    return out


def demo_dataset(per_class: int = 12, seed: int = 0) -> ImageSet:
    """A ready-made set from the shipped sample photos (one class per photo, augmented views of it)."""
    from .samples import SAMPLES, sample_image

    return ImageSet({name: augmented_copies(shrink(sample_image(name)), per_class, seed + i)
                     for i, name in enumerate(sorted(SAMPLES))})
