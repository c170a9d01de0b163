"""The store's uploads folder is bounded and cleaned (issue 39, item 4): previews that never became experiments are
removed, an experiment's files never are, and an upload that cannot fit is refused before anything is written."""
import os
import time

import pytest

from training.errors import DataError
from training.service.planning import launch
from training.service.store import Store
from training.service.uploads import IN_USE_S, UNUSED_KEEP_S, keep, sweep
from training.testing import tabular_rows, tiny_tabular_config


def _aged(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_unnamed_uploads_are_swept_named_ones_kept_and_a_file_that_cannot_fit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_UPLOADS_MAX_MB", "1")
    store = Store(tmp_path / "store")
    import pandas as pd

    table = pd.DataFrame(tabular_rows(400)).to_csv(index=False).encode()
    named = keep(store, table, "a" * 16, "products.csv")
    launch(tiny_tabular_config(named), store)
    stale = keep(store, b"y" * 100, "b" * 16, "old.csv")
    previewing = keep(store, b"z" * (1024 ** 2 * 6 // 10), "c" * 16, "now.csv")
    _aged(stale, UNUSED_KEEP_S + 60)
    _aged(named, UNUSED_KEEP_S + 60)
    assert sweep(store) == 100  # only the stale preview: the experiment's file stays however old
    assert named.exists() and previewing.exists() and not stale.parent.exists()
    # the folder is full: a file being previewed is not removed to make room; the new one is refused, not written
    with pytest.raises(DataError, match="HEADSTART_UPLOADS_MAX_MB"):
        keep(store, b"w" * (1024 ** 2 // 2), "d" * 16, "big.csv")
    assert not (store.root / "uploads" / ("d" * 16)).exists() and previewing.exists()
    # once that preview is left alone, it makes room
    _aged(previewing, IN_USE_S + 60)
    assert keep(store, b"w" * (1024 ** 2 // 2), "d" * 16, "big.csv").exists() and not previewing.exists()
    assert named.exists()


def test_an_upload_read_again_is_marked_as_in_use(tmp_path):
    store = Store(tmp_path / "store")
    path = keep(store, b"a,b\n1,2\n", "e" * 16, "t.csv")
    _aged(path, UNUSED_KEEP_S + 60)
    assert keep(store, b"a,b\n1,2\n", "e" * 16, "t.csv") == path
    assert sweep(store) == 0 and path.exists()


def test_uploads_at_the_same_time_hold_the_cap(tmp_path, monkeypatch):
    """Eight pages uploading at once: the sweep and the write are one step, so no more than fit are kept."""
    import threading

    import training.service.uploads as uploads

    monkeypatch.setenv("HEADSTART_UPLOADS_MAX_MB", "1")
    store = Store(tmp_path / "store")
    real_sweep = uploads.sweep

    def slow_sweep(*args, **kwargs):  # widen the gap between making room and writing, as a busy server does
        freed = real_sweep(*args, **kwargs)
        time.sleep(0.05)
        return freed

    monkeypatch.setattr(uploads, "sweep", slow_sweep)
    kept, refused = [], []

    def upload(i):
        try:
            kept.append(keep(store, bytes([i]) * 400_000, f"{i:016x}", "f.csv"))
        except DataError:
            refused.append(i)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kept) == 2 and len(refused) == 6
    assert sum(f.stat().st_size for f in (store.root / "uploads").rglob("*.csv")) <= 1024 ** 2
