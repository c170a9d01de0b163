"""The store's uploads folder: the files New experiment keeps for a preview and for the experiments made from them
(uploads/<content hash>/<the user's file name>). Bounded and cleaned: a file no experiment names is removed once it
has not been read for UNUSED_KEEP_S (a preview that never became an experiment), the oldest unnamed ones first
whenever the folder would pass HEADSTART_UPLOADS_MAX_MB, and a new file that would still not fit is refused before
it is written. A file an experiment names is never removed here (deleting the experiment frees it)."""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from pathlib import Path

from training.errors import DataError
from training.service.store import Store

UPLOADS = "uploads"
UNUSED_KEEP_S = 3600.0
"""How long a file no experiment names is kept after it was last read: long enough to finish the form it previews."""
IN_USE_S = 300.0
"""A file read this recently is being previewed on somebody's page: not removed even when the folder is full."""
_DIGEST = re.compile(r"^[0-9a-f]{16}$")


def _folders(root: Path) -> list[tuple[Path, float, int]]:
    """(folder, last read, bytes) per upload folder; other entries (bundles being imported) are not ours."""
    found = []
    for entry in root.iterdir() if root.is_dir() else ():
        if not (_DIGEST.match(entry.name) and entry.is_dir() and not entry.is_symlink()):
            continue
        files = [f for f in entry.iterdir() if f.is_file()]
        found.append((entry, max((f.stat().st_mtime for f in files), default=entry.stat().st_mtime),
                      sum(f.stat().st_size for f in files)))
    return found


def _named(store: Store) -> set[str]:
    """The upload folders an experiment's config names (its data file, its test set)."""
    text = "\n".join(e.config_json for e in store.experiments())
    return set(re.findall(r"uploads[/\\]+([0-9a-f]{16})[/\\]", text))


def sweep(store: Store, incoming: int = 0, cap_mb: int | None = None, now: float | None = None) -> int:
    """Remove what the rules above say may go, and make room for `incoming` bytes; returns the bytes removed. Raises
    DataError (in the words of the page that uploads) when the folder cannot take `incoming` bytes without removing
    a file somebody is previewing or an experiment names."""
    from training.settings import load_settings

    cap = (cap_mb if cap_mb is not None else load_settings().uploads_max_mb) * 1024 ** 2
    now = time.time() if now is None else now
    root = store.root / UPLOADS
    folders = _folders(root)
    named = _named(store) if folders else set()
    used, freed = sum(size for _, _, size in folders), 0
    for folder, last_read, size in sorted(folders, key=lambda f: f[1]):  # the least recently read first
        if folder.name in named:
            continue
        idle = now - last_read
        if idle > UNUSED_KEEP_S or (used + incoming > cap and idle > IN_USE_S):
            shutil.rmtree(folder, ignore_errors=True)
            used, freed = used - size, freed + size
    if used + incoming > cap:
        raise DataError(f"the store's uploads are full ({used / 1024 ** 2:,.0f} MB of the {cap / 1024 ** 2:,.0f} MB "
                        "allowed, HEADSTART_UPLOADS_MAX_MB, held by experiments and by files being previewed now); "
                        "delete an experiment made from an upload on Runs, or try again in a few minutes")
    return freed


def keep(store: Store, raw: bytes, digest: str, file_name: str) -> Path:
    """Write an uploaded file as uploads/<digest>/<file_name> (once: the same content is read again where it lies,
    and marked as read now), after making room for it."""
    root = store.root / UPLOADS
    path = root / digest / file_name
    if path.exists():
        os.utime(path)  # read now: a preview in use is not swept
        return path
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        # one page at a time makes room and writes: eight uploads at once all fitted a folder with room for two
        fcntl.flock(lock, fcntl.LOCK_EX)
        sweep(store, incoming=len(raw))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(raw)
        tmp.replace(path)
    return path
