"""Rebuild a shipped gallery record from its recipe: a preset, the overrides it was recorded with, and the experiment's
name — trained on this machine with today's code, exported as a bundle that says which code version made it.

    python gallery/rebuild.py --list                          # the records and their recipes
    python gallery/rebuild.py tabular-diamonds-mlp            # train it, write gallery/tabular-diamonds-mlp.json.gz
    python gallery/rebuild.py tabular-diamonds-mlp --out /tmp/x.json.gz --store /tmp/store
    python gallery/rebuild.py --check gallery/tabular-diamonds-mlp.json.gz
                                                              # the record against its recipe (config, provenance,
                                                              # per-example eval outcomes on every finished run)

A record's bundle carries `experiment.info.recorded_with`: the recipe, the git commit (and whether the tree had
uncommitted changes), the command, when, and on what machine. Rebuilding on the same code and machine retrains the
same runs from the same seeds; the numbers match to the last digits where the kernels are deterministic (CPU), and a
`--check` of the rebuilt bundle against the shipped one compares the configs and every run's metric.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECORDS = {
    "tabular-diamonds-mlp": {"preset": "tabular", "set": [], "name": "tabular"},
    "chatbot-smollm2": {"preset": "chatbot-quick", "set": [], "name": "chatbot-quick"},
    "images-mnist-efficientnet": {"preset": "images", "set": [], "name": "images"},
    "tweets-sentiment-fair": {"preset": "sentiment",
                              "set": ["sizes=[100,1000,3000]", "strategies=[scratch,full,lora,head]",
                                      "model.max_length=128"],
                              "name": "tweets sentiment — fair defaults"},
}
"""Each shipped record: the preset it starts from, the `--set` overrides, and the experiment's name on the page."""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(record: str, recipe: dict) -> dict:
    """What made this record: the recipe, the code version, the command, when and where."""
    return {"record": record, "preset": recipe["preset"], "set": list(recipe["set"]),
            "commit": _git("rev-parse", "HEAD") or "unknown",
            "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "command": f"python gallery/rebuild.py {record}",
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"}


def config_of(recipe: dict):
    from training.__main__ import load_config

    cfg = load_config(recipe["preset"], list(recipe["set"]))
    cfg.name = recipe["name"]
    return cfg


def rebuild(record: str, out: Path, store_dir: Path) -> Path:
    """Train the record in `store_dir` and write its bundle to `out`. A store that already holds this recipe's
    experiment, unfinished (the process was killed, the machine's slot ended), is carried on from its checkpoints
    instead of started again: the runs that finished stay, the interrupted ones resume. The provenance is the code
    version when the training started; a record carried on under another commit says so (`continued_with`)."""
    from training.service.bundle import export_bundle, write_bundle
    from training.service.execution import continue_experiment, run_experiment
    from training.service.records import Status
    from training.service.store import Store

    recipe = RECORDS[record]
    cfg = config_of(recipe)
    store = Store(store_dir)
    started = time.time()
    made = provenance(record, recipe)
    earlier = [e for e in store.experiments() if e.name == cfg.name
               and json.loads(e.config_json) == json.loads(json.dumps(cfg.to_dict()))]
    if earlier:
        exp_id = earlier[-1].id
        sidecar = store_dir / f"rebuild-{record}.json"
        first = json.loads(sidecar.read_text()) if sidecar.exists() else dict(made, commit="unknown")
        for r in store.runs(exp_id):
            if r.status in (Status.RUNNING, Status.INTERRUPTED):
                if r.status == Status.RUNNING:  # its process is gone (this script runs one experiment at a time)
                    store.update_run(r.id, status=Status.INTERRUPTED, pid=None)
                store.requeue(r.id)
        print(f"carrying on {exp_id} in {store_dir}: "
              f"{sum(r.status == Status.DONE for r in store.runs(exp_id))} runs done", flush=True)
        exp_id = continue_experiment(store, exp_id, progress=True)
        if first.get("commit") != made["commit"] or made["uncommitted_changes"]:
            first = dict(first, continued_with={k: made[k] for k in ("commit", "uncommitted_changes", "recorded_at")})
        made = dict(first, continued=True)
    else:
        (store_dir / f"rebuild-{record}.json").write_text(json.dumps(made))
        exp_id = run_experiment(cfg, store, progress=True)
    bundle = export_bundle(store, exp_id)
    bundle["experiment"]["info"]["recorded_with"] = dict(made, elapsed_s=round(time.time() - started, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bundle(bundle, out)
    return out


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _metric(run: dict) -> dict:
    """What a run measured (its eval metrics at the end and at its best checkpoint, its steps; a reference run's every
    reference score) — never its timings, which no two machines share."""
    result = json.loads(run.get("result_json") or "{}")
    number = (int, float)
    out = {f"{part}.{k}": v for part in ("eval", "eval_best") for k, v in (result.get(part) or {}).items()
           if isinstance(v, number) and not isinstance(v, bool)}
    for ref in result.get("references") or []:
        where = f"{ref.get('reference')}@{ref.get('n_train')}/{ref.get('seed')}"
        out.update({f"{where}.{k}": v for k, v in ref.items() if isinstance(v, number) and not isinstance(v, bool)
                    and k not in ("n_train", "seed")})
    if isinstance(result.get("steps"), number):
        out["steps"] = result["steps"]
    return out


def check(path: Path, against: Path | None = None, rtol: float = 1e-6) -> list[str]:
    """What is wrong with a record against its recipe (empty: nothing): the config the recipe makes today, the
    provenance, per-example eval outcomes on every finished grid run; with `against`, every run in both, measuring the
    same (`_metric`, to 1e-6)."""
    doc = json.load(gzip.open(path))
    problems = []
    info = doc["experiment"].get("info") or {}
    made = info.get("recorded_with")
    record = (made or {}).get("record") or path.name.removesuffix(".json.gz")
    if record not in RECORDS:
        return [f"{path.name}: no recipe named {record!r} (known: {', '.join(RECORDS)})"]
    if not made:
        problems.append(f"{path.name}: no experiment.info.recorded_with — not made by this script")
    # the record's config read as today's code reads it: a field added since takes its default, as the bundle's import
    # does (the record's data has no stray labels, say, so `stray_labels: stop` changes none of its runs)
    from training.config import ExperimentConfig

    want = _flat(config_of(RECORDS[record]).to_dict())
    have = _flat(ExperimentConfig.from_dict(doc["experiment"]["config"]).to_dict())
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            problems.append(f"{path.name}: config.{key} is {json.dumps(have.get(key))[:80]}, the recipe makes "
                            f"{json.dumps(want.get(key))[:80]}")
    grid = [r for r in doc["runs"] if r.get("role") == "grid" and r.get("status") == "done"]
    without = [r["id"] for r in grid if not json.loads(r.get("result_json") or "{}").get("eval_items")]
    if without:
        problems.append(f"{path.name}: {len(without)} of {len(grid)} finished grid runs store no per-example eval "
                        "outcomes")
    if against is not None:
        other = json.load(gzip.open(against))
        key = lambda r: (r["strategy"], r["n_train"], r["seed"], r.get("role"), r.get("lr"))  # noqa: E731
        theirs = {key(r): _metric(r) for r in other["runs"]}
        for r in doc["runs"]:
            mine, ref = _metric(r), theirs.get(key(r))
            if ref is None:
                problems.append(f"{path.name}: run {key(r)} is not in {against.name}")
            elif not mine or set(mine) != set(ref) or any(not math.isclose(mine[k], ref[k], rel_tol=rtol, abs_tol=1e-9)
                                                          for k in mine):
                differ = sorted(k for k in set(mine) | set(ref) if k not in mine or k not in ref
                                or not math.isclose(mine[k], ref[k], rel_tol=rtol, abs_tol=1e-9))
                problems.append(f"{path.name}: run {key(r)} differs from {against.name} in "
                                + (", ".join(f"{k} ({mine.get(k)} vs {ref.get(k)})" for k in differ[:4]) or "nothing"))
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("record", nargs="?", choices=sorted(RECORDS))
    p.add_argument("--list", action="store_true", help="the records and their recipes")
    p.add_argument("--out", help="where the bundle goes (default: gallery/RECORD.json.gz)")
    p.add_argument("--store", help="the store to train in (default: a new temporary folder); one that holds this "
                   "record's unfinished experiment carries it on from its checkpoints")
    p.add_argument("--check", metavar="BUNDLE", help="check a record against its recipe instead of training")
    p.add_argument("--against", metavar="BUNDLE", help="with --check: every run's eval metrics equal this bundle's")
    p.add_argument("--rtol", type=float, default=1e-6, help="with --against: the relative difference that counts as "
                   "equal (a language model's eval loss moves in the 5th digit between builds of the same code)")
    args = p.parse_args(argv)
    if args.list:
        for name, r in RECORDS.items():
            print(f"{name:28} preset {r['preset']:14} {' '.join('--set ' + s for s in r['set'])}")
        return 0
    if args.check:
        problems = check(Path(args.check), Path(args.against) if args.against else None, args.rtol)
        print("\n".join(problems) if problems else f"{args.check}: matches its recipe")
        return 1 if problems else 0
    if not args.record:
        p.error("name a record (or --list, --check)")
    out = Path(args.out) if args.out else ROOT / "gallery" / f"{args.record}.json.gz"
    store = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix=f"rebuild-{args.record}-"))
    print(rebuild(args.record, out, store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
