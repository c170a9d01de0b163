"""Run a preset's learning-rate search and store it with the app (`training/lr_search_stored.json`).

    python bench/store_lr_search.py quick          # the quick demo's search: every strategy × 5 rates at N=200
    python bench/store_lr_search.py quick --add    # only the strategies it has no shipped search for (e.g. own)

The quick demo must finish in 3 CPU minutes, which leaves no room for its own search, so its search is run
once here, on the same built-in data and model, and shipped: planning the preset finds it by key (task,
data, model, strategy, batch, optimizer, search size, steps and candidate rates) and queues no search runs.
Change any of those and the key changes, so the app searches again. Prints the table it stores.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile

from training.presets import get_preset
from training.service.execution import execute_run
from training.service.lr_search import STORED, stored_searches
from training.service.planning import launch
from training.service.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("--store", default=None, help="store to run in (default: a temporary one)")
    ap.add_argument("--add", action="store_true", help="keep the preset's shipped searches; run only the strategies "
                                                       "that have none (a strategy added to the preset)")
    args = ap.parse_args()
    cfg = get_preset(args.preset)
    cfg.lr_sweep.reuse = args.add  # run the search even if one is stored already, unless only adding
    # A shipped search costs the demo nothing, so it compares the rates after the whole budget, not at the budgeted rung
    # (the key leaves the rung out: the choice is still one made on this data, model and candidate rates).
    cfg.lr_sweep.rung = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.store or tmp)
        exp = launch(cfg, store)
        while queued := [r for r in store.runs(exp) if r.role == "lr-sweep" and r.status == "queued"]:
            for r in queued:  # again where a rung could not decide and sent the candidates on (lr_search.advance)
                row = execute_run(store, r.id)
                print(f"{r.strategy:8} lr {r.lr:<8g} {row.status} (step {row.result.get('steps')})", flush=True)
        info = store.experiment(exp).info
        shipped = {k: v for k, v in stored_searches().items()
                   if args.add or v.get("preset") != args.preset}  # its stale keys go, unless only adding
        for label, search in info["lr_search"].items():
            if search["status"] == "stored":
                continue  # shipped already and kept (--add)
            found = store.lr_search(search["key"])
            if found is None:
                sys.exit(f"the search of {label} did not finish; nothing written")
            shipped[search["key"]] = {"preset": args.preset, "spec": found["spec"], "result": found["result"]}
            print(f"{label}: chosen {found['result']['chosen']:g} {found['result'].get('chosen_options') or ''} — "
                  + ", ".join(f"{t['lr']:g} {t.get('options') or ''}: best val metric {t['val_metric']:.4f} (loss "
                              f"{t['val_loss']:.4f}) by step {t['steps']}"
                              for t in found["result"]["tried"] if t["val_metric"] is not None))
        STORED.write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {STORED}")
        store.close()


if __name__ == "__main__":
    main()
