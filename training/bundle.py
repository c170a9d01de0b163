"""Experiment bundles: an experiment's config, runs, metrics and events in one JSON file (gzip-compressed),
without checkpoints, process ids or machine paths of the store. Export, import, and the gallery of
bundles shipped in `gallery/`. Secrets are redacted on the way out.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from .config import ExperimentConfig
from .errors import HeadStartError
from .policy import redact
from .store import Store, new_id

FORMAT = "headstart-bundle/1"
GALLERY = Path(__file__).resolve().parents[1] / "gallery"
"""Bundles shipped with Head Start; HEADSTART_GALLERY points the gallery at another folder."""
GALLERY_OWNER = "gallery"
RUN_FIELDS = ["id", "seq", "strategy", "n_train", "seed", "status", "role", "lr", "depends_on", "total_steps", "error",
              "created_at", "started_at", "ended_at", "attempts", "micro_batch_size", "mem_estimate", "result_json"]


def export_bundle(store: Store, exp_id: str) -> dict:
    exp = store.experiment(exp_id)
    if exp is None:
        raise HeadStartError(f"no experiment {exp_id!r}")
    runs = store.runs(exp_id)
    return json.loads(redact(json.dumps({
        "format": FORMAT, "exported_at": time.time(),
        "experiment": {"id": exp["id"], "name": exp["name"], "config": json.loads(exp["config_json"]),
                       "created_at": exp["created_at"], "info": json.loads(exp["info_json"])},
        "runs": [{k: r[k] for k in RUN_FIELDS} for r in runs],
        "metrics": [[m["run_id"], m["step"], m["examples"], m["wall_s"], m["flops"], m["key"], m["value"]]
                    for m in store.metrics(exp_id=exp_id)],
        "events": [[e["run_id"], e["at"], e["kind"], e["message"], e["data_json"]] for r in runs for e in store.events(r["id"])],
    })))


def write_bundle(bundle: dict, path: Path) -> None:
    data = json.dumps(bundle, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def read_bundle(path_or_bytes) -> dict:
    raw = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HeadStartError(f"not a Head Start bundle (JSON expected): {e}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise HeadStartError(f"not a Head Start bundle (format {FORMAT!r} expected)")
    ExperimentConfig.from_dict(bundle["experiment"]["config"])  # validates the config
    return bundle


def bundle_digest(bundle: dict) -> str:
    return hashlib.sha256(json.dumps(bundle["experiment"], sort_keys=True).encode()
                          + json.dumps(bundle["runs"], sort_keys=True).encode()).hexdigest()[:16]


def import_bundle(store: Store, bundle: dict, owner: str = "local") -> str:
    """Insert a bundle as a new experiment (new ids) in one transaction; returns its id. Importing the
    same bundle for the same owner twice returns the first copy."""
    digest = bundle_digest(bundle)
    for e in store.experiments():
        if e["owner"] == owner and json.loads(e["info_json"]).get("bundle") == digest:
            return e["id"]
    exp = bundle["experiment"]
    cfg = ExperimentConfig.from_dict(exp["config"])
    exp_id = new_id("e")
    ids = {r["id"]: new_id("r") for r in bundle["runs"]}
    info = dict(exp.get("info") or {}, bundle=digest, imported_from=exp["id"])
    store.experiment_dir(exp_id).mkdir(parents=True)
    try:
        cfg.save(store.experiment_dir(exp_id) / "config.yaml")
        with store.tx() as c:
            c.execute("INSERT INTO experiments (id, name, config_json, created_at, owner, info_json) VALUES (?, ?, ?, ?, ?, ?)",
                      (exp_id, exp["name"], cfg.to_json(), exp["created_at"], owner, json.dumps(info)))
            for r in bundle["runs"]:
                row = dict(r, id=ids[r["id"]], experiment_id=exp_id,
                           depends_on=",".join(ids[d] for d in r["depends_on"].split(",")) if r["depends_on"] else None,
                           status="interrupted" if r["status"] in ("queued", "running") else r["status"])
                cols = [*RUN_FIELDS, "experiment_id"]
                c.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [row[k] for k in cols])
            c.executemany("INSERT INTO metrics (run_id, step, examples, wall_s, flops, key, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [[ids[m[0]], *m[1:]] for m in bundle["metrics"]])
            c.executemany("INSERT INTO events (run_id, at, kind, message, data_json) VALUES (?, ?, ?, ?, ?)",
                          [[ids[e[0]], *e[1:]] for e in bundle["events"]])
    except BaseException:
        shutil.rmtree(store.experiment_dir(exp_id), ignore_errors=True)
        raise
    return exp_id


def gallery_bundles() -> list[Path]:
    folder = Path(os.environ.get("HEADSTART_GALLERY") or GALLERY)
    return sorted(folder.glob("*.json.gz")) if folder.is_dir() else []
