"""Experiment bundles: an experiment's config, runs, metrics and events in one JSON file (gzip-compressed),
without checkpoints, process ids or machine paths of the store. Export, import, and the gallery of
bundles shipped in `gallery/`. Secrets are redacted on the way out.

An imported bundle is a *record*: its runs can be looked at, compared and reported, never trained —
runs that had not finished when it was exported arrive cancelled, `Store.requeue` and the dispatcher's
recovery leave them alone, and the worker refuses them. To train it, launch its config as a new
experiment (the normal path, with every policy check). Reading is bounded: the compressed bytes by the
upload cap, the decompressed stream by `HEADSTART_BUNDLE_MAX_MB`, and the structure is checked field by
field before anything is written.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import shutil
import time
import zlib
from pathlib import Path

from training.config import ExperimentConfig
from training.errors import HeadStartError
from training.service.policy import PolicyError, redact
from training.service.records import check_constraints
from training.service.store import STATUSES, Store, new_id
from training.settings import load_settings

FORMAT = "headstart-bundle/1"
GALLERY = Path(__file__).resolve().parents[2] / "gallery"
"""Bundles shipped with Head Start; HEADSTART_GALLERY points the gallery at another folder."""
GALLERY_OWNER = "gallery"
RECORD_NOTE = ("not finished when the bundle was exported; an imported experiment is a record, never trained here — "
               "launch its config as a new experiment to train it")
RUN_FIELDS = ["id", "seq", "strategy", "n_train", "seed", "status", "role", "lr", "depends_on", "total_steps", "error",
              "created_at", "started_at", "ended_at", "attempts", "micro_batch_size", "mem_estimate", "result_json"]


def export_bundle(store: Store, exp_id: str) -> dict:
    exp = store.experiment(exp_id)
    if exp is None:
        raise HeadStartError(f"no experiment {exp_id!r}")
    runs = store.runs(exp_id)
    decision = store.decision(exp_id)
    return json.loads(redact(json.dumps({
        "format": FORMAT, "exported_at": time.time(),
        "experiment": {"id": exp.id, "name": exp.name, "config": json.loads(exp.config_json),
                       "created_at": exp.created_at, "info": exp.info},
        "runs": [{k: row[k] for k in RUN_FIELDS} for row in (r.as_row() for r in runs)],
        "metrics": [[m["run_id"], m["step"], m["examples"], m["wall_s"], m["flops"], m["key"], m["value"]]
                    for m in store.metrics(exp_id=exp_id)],
        "events": [[e["run_id"], e["at"], e["kind"], e["message"], e["data_json"]] for r in runs for e in store.events(r.id)],
        "decision": decision.as_dict() if decision is not None else None,
    })))


def write_bundle(bundle: dict, path: Path) -> None:
    data = json.dumps(bundle, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def read_bundle(path_or_bytes, name: str = "the bundle") -> dict:
    """Parse and check a bundle (bytes or a path), within the deployment's size caps."""
    settings = load_settings()
    if isinstance(path_or_bytes, Path):
        name = path_or_bytes.name if name == "the bundle" else name
        if not path_or_bytes.exists():
            raise HeadStartError(f"bundle {path_or_bytes} not found")
        if not path_or_bytes.is_file():
            raise HeadStartError(f"{path_or_bytes} is not a bundle file (a folder, a device or a pipe); give the "
                                 ".json.gz or .json that bundle-export wrote")
        cap = settings.upload_max_mb * 1_000_000
        if path_or_bytes.stat().st_size > cap:
            raise PolicyError(f"{name} is over this deployment's {settings.upload_max_mb} MB upload cap")
        with path_or_bytes.open("rb") as f:
            raw = f.read(cap + 1)  # a file that grows while read is still held to the cap
    else:
        raw = path_or_bytes
    if len(raw) > settings.upload_max_mb * 1_000_000:
        raise PolicyError(f"{name} is {len(raw) / 1e6:.1f} MB, over this deployment's {settings.upload_max_mb} MB "
                          "upload cap (HEADSTART_UPLOAD_MAX_MB)")
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, settings.bundle_max_mb * 1_000_000, name)
    elif len(raw) > settings.bundle_max_mb * 1_000_000:
        raise PolicyError(f"{name} is over the {settings.bundle_max_mb} MB a bundle may hold (HEADSTART_BUNDLE_MAX_MB)")
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HeadStartError(f"{name} is not a Head Start bundle (JSON expected): {e}") from None
    except RecursionError:
        raise HeadStartError(f"{name} is not a Head Start bundle: its JSON is nested too deeply") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise HeadStartError(f"{name} is not a Head Start bundle (format {FORMAT!r} expected)")
    check_bundle(bundle, name)
    return bundle


def _gunzip(raw: bytes, limit: int, name: str) -> bytes:
    """Decompress a gzip stream, refusing it as soon as it would expand beyond `limit` bytes."""
    d = zlib.decompressobj(wbits=31)
    out, size = [], 0
    try:
        chunk = d.decompress(raw, 1 << 20)
        while chunk:
            size += len(chunk)
            if size > limit:
                raise PolicyError(f"{name} expands beyond the {limit // 1_000_000} MB a bundle may hold "
                                  "(HEADSTART_BUNDLE_MAX_MB); it is not a bundle this deployment accepts")
            out.append(chunk)
            chunk = d.decompress(d.unconsumed_tail, 1 << 20)
    except zlib.error as e:
        raise HeadStartError(f"{name} is not a readable gzip file ({e})") from None
    return b"".join(out)


def _expect(ok: bool, where: str, what: str, name: str) -> None:
    if not ok:
        raise HeadStartError(f"{name} is not a valid Head Start bundle: {where} must be {what}")


def num(x) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_bundle(bundle: dict, name: str = "the bundle") -> None:
    """Check a bundle's structure field by field (no KeyError or TypeError reaches the user)."""
    exp = bundle.get("experiment")
    _expect(isinstance(exp, dict), "experiment", "a mapping", name)
    for key, kind in (("id", str), ("name", str), ("config", dict)):
        _expect(isinstance(exp.get(key), kind), f"experiment.{key}", f"a {kind.__name__}", name)
    _expect(num(exp.get("created_at")), "experiment.created_at", "a number", name)
    _expect(isinstance(exp.get("info", {}), dict), "experiment.info", "a mapping", name)
    _check_info(exp.get("info", {}), name)
    try:
        ExperimentConfig.from_dict(exp["config"])
    except HeadStartError as e:
        raise HeadStartError(f"{name} holds an experiment config this version cannot use: {e}") from None
    except RecursionError:
        raise HeadStartError(f"{name} holds an experiment config nested too deeply to be one") from None
    runs = bundle.get("runs")
    _expect(isinstance(runs, list) and runs, "runs", "a non-empty list", name)
    ids = set()
    for i, r in enumerate(runs):
        _expect(isinstance(r, dict) and set(RUN_FIELDS) <= set(r), f"runs[{i}]", f"a mapping with {', '.join(RUN_FIELDS)}",
                name)
        for key in ("id", "strategy", "status", "role"):
            _expect(isinstance(r[key], str), f"runs[{i}].{key}", "a string", name)
        for key in ("seq", "n_train", "seed"):
            _expect(_int(r[key]), f"runs[{i}].{key}", f"an integer from 0 to {MAX_INT:,}", name)
        for key in ("total_steps", "attempts", "micro_batch_size", "mem_estimate"):
            _expect(r[key] is None or _int(r[key]), f"runs[{i}].{key}", f"an integer from 0 to {MAX_INT:,} (or null)", name)
        _expect(r["lr"] is None or (num(r["lr"]) and math.isfinite(r["lr"]) and r["lr"] > 0), f"runs[{i}].lr",
                "a positive number (or null)", name)
        _expect(num(r["created_at"]) and math.isfinite(r["created_at"]), f"runs[{i}].created_at", "a number", name)
        for key in ("started_at", "ended_at"):
            _expect(r[key] is None or (num(r[key]) and math.isfinite(r[key])), f"runs[{i}].{key}", "a number (or null)",
                    name)
        _expect(r["error"] is None or isinstance(r["error"], str), f"runs[{i}].error", "a string (or null)", name)
        _expect(r["id"] not in ids, f"runs[{i}].id", "an id no other run of the bundle has", name)
        _expect(r["status"] in STATUSES, f"runs[{i}].status", f"one of {', '.join(STATUSES)}", name)
        _expect(r["depends_on"] is None or isinstance(r["depends_on"], str), f"runs[{i}].depends_on", "a string", name)
        _expect(r["result_json"] is None or isinstance(r["result_json"], str), f"runs[{i}].result_json", "a string",
                name)
        if r["result_json"]:
            _check_result(r["result_json"], f"runs[{i}].result_json", name)
        ids.add(r["id"])
    for i, r in enumerate(runs):
        _expect(not r["depends_on"] or set(r["depends_on"].split(",")) <= ids, f"runs[{i}].depends_on",
                "ids of runs in the bundle", name)
    for key, width, rule in (("metrics", 7, lambda m: isinstance(m[0], str) and m[0] in ids and isinstance(m[5], str)
                              and all(num(x) for x in (m[1], m[2], m[3], m[4], m[6])) and not math.isnan(m[6])),
                             ("events", 5, lambda e: isinstance(e[0], str) and e[0] in ids and num(e[1])
                              and all(isinstance(x, str) for x in e[2:]))):
        rows = bundle.get(key)
        _expect(isinstance(rows, list), key, "a list", name)
        for i, row in enumerate(rows):
            _expect(isinstance(row, list) and len(row) == width and rule(row), f"{key}[{i}]",
                    f"a row of {width} fields of the right types for a run in the bundle (a metric's value a number, "
                    "not NaN)" if key == "metrics" else f"a row of {width} fields of the right types for a run in the "
                    "bundle", name)
    if bundle.get("decision") is not None:
        _check_decision(bundle["decision"], name)


ITEM_FORMS = ({"y_true", "y_pred"}, {"y_true", "y_pred", "p_pred"}, {"nll", "tokens"})
"""The forms of per-example eval items (see `training.core.evaluate`): classification and regression, language models."""


MAX_INT = 2 ** 62
"""Integers a bundle may hold: what the store's 64-bit columns take (a larger one raised OverflowError)."""


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_INT


INFO_KINDS = {"data": dict, "lr_search": dict, "lr_source": dict, "until_plateau": dict, "footprint": dict, "cost": dict,
              "sizes": list, "label_names": list, "pool_size": int, "device": str, "device_name": str,
              "timed_step": dict}
"""The experiment info keys the pages read, and their kinds: a bundle whose info has another kind there would
import and then break Compare and the report."""


def _renamed(search: dict, ids: dict[str, str]) -> dict:
    """A search entry whose run ids (the candidates' options, the grid run its winner became) follow the imported runs'
    new ids — the candidates' settings and the winner would otherwise point at runs that are not there."""
    out = dict(search)
    if isinstance(search.get("options_by_run"), dict):
        out["options_by_run"] = {ids.get(k, k): v for k, v in search["options_by_run"].items()}
    if isinstance(search.get("continued_by"), str):
        out["continued_by"] = ids.get(search["continued_by"], search["continued_by"])
    return out


def _check_info(info, name: str) -> None:
    _expect(isinstance(info, dict), "experiment.info", "a mapping", name)
    for key, kind in INFO_KINDS.items():
        if key in info and info[key] is not None:
            _expect(isinstance(info[key], kind) and not isinstance(info[key], bool), f"experiment.info.{key}",
                    f"a {kind.__name__}", name)
    for key in ("lr_search", "footprint"):
        for label, value in (info.get(key) or {}).items():
            _expect(isinstance(value, dict), f"experiment.info.{key}.{label}", "a mapping", name)
    for label, search in (info.get("lr_search") or {}).items():
        where = f"experiment.info.lr_search.{label}"
        _expect(search.get("status") in ("planned", "reused", "stored"), f"{where}.status", "planned, reused or stored",
                name)
        _expect(isinstance(search.get("label", label), str), f"{where}.label", "a strategy's name", name)
        _expect(search.get("chosen") is None or num(search["chosen"]), f"{where}.chosen", "a number", name)
        tried = search.get("tried", [])
        _expect(isinstance(tried, list) and all(isinstance(t, dict) and num(t.get("lr")) and isinstance(t.get("status"), str)
                                                and all(t.get(k) is None or num(t[k]) for k in ("steps", "val_metric",
                                                                                                  "val_loss"))
                                                for t in tried), f"{where}.tried",
                "a list of rates tried (lr, status, steps, val_metric, val_loss)", name)
        by_run = search.get("options_by_run") or {}
        _expect(isinstance(by_run, dict), f"{where}.options_by_run", "a mapping of run ids to options", name)
        settings = [search.get("chosen_options") or {}, *(t.get("options") or {} for t in tried), *by_run.values()]
        _expect(all(isinstance(o, dict) and all(isinstance(k, str) and num(v) for k, v in o.items()) for o in settings),
                f"{where}.options", "options tried with the rates (names and numbers)", name)
        _expect(isinstance(search.get("rungs") or [], list) and all(_int(r) and r > 0 for r in search.get("rungs") or []),
                f"{where}.rungs", "a list of steps", name)
        _expect(isinstance(search.get("default") or "", str), f"{where}.default", "a candidate's name", name)
        if search.get("status") == "planned" and "rung" in search:  # what Compare's words of the search read
            _expect("steps" in search, f"{where}.steps", "the steps its winner trains", name)
        for key in ("rung", "steps", "policy_steps", "size", "seed"):
            _expect(search.get(key) is None or (_int(search[key]) and search[key] >= 0), f"{where}.{key}",
                    "a whole number", name)
        cands = search.get("candidates") or []
        _expect(isinstance(cands, list) and all(isinstance(c, dict) and num(c.get("lr")) and isinstance(
            c.get("options") or {}, dict) for c in cands), f"{where}.candidates", "a list of rates and options", name)
        _expect(all((t.get("rung") is None or (_int(t["rung"]) and t["rung"] >= 0))
                    and (t.get("val_trivial") is None or (num(t["val_trivial"]) and 0 <= t["val_trivial"] <= 1))
                    and (t.get("val_n") is None or (_int(t["val_n"]) and t["val_n"] > 0)) for t in tried),
                f"{where}.tried", "rungs (whole steps), a majority share in [0, 1] and a positive validation count", name)
    _expect(all(_int(n) for n in info.get("sizes") or []), "experiment.info.sizes", "a list of sizes", name)
    _expect(all(isinstance(x, str) for x in info.get("label_names") or []), "experiment.info.label_names",
            "a list of class names", name)


RESULT_NUMBERS = ("steps", "examples", "wall_s", "flops", "peak_mem_bytes", "trainable_params", "params", "lr",
                  "best_step", "eval_examples", "validation_examples", "best_val_loss", "validation_majority", "max_length")
RESULT_SCORES = ("eval", "eval_best", "probe_final", "probe_baseline", "probe_best", "forgetting", "forgetting_best",
                 "best_val", "options")
RESULT_COUNTS = ("steps", "examples", "eval_examples", "validation_examples", "max_length")
"""Counts that must not be negative (a validation count of −5 reached a square root: math domain error)."""
RESULT_FLAGS = ("until_plateau", "stopped_early", "diverged")
RESULT_TEXTS = ("strategy", "torch", "transformers", "device")
"""A run result's fields that Compare, the report and the export read, by kind: a bundle with a list where `eval`
belongs, or "lots" for `flops`, imported and then broke every page of that experiment."""


def _check_result(result_json: str, where: str, name: str) -> None:
    """A run's result: a JSON mapping whose per-example eval items, where it has any (bundles from before have none),
    are lists of numbers of one length — what the analysis' paired bootstrap reads."""
    try:
        result = json.loads(result_json)
    except (json.JSONDecodeError, RecursionError):
        result = None
    _expect(isinstance(result, dict), where, "a JSON mapping", name)
    for key in RESULT_NUMBERS:
        _expect(result.get(key) is None or num(result[key]), f"{where}.{key}", "a number", name)
    for key in RESULT_COUNTS:
        _expect(result.get(key) is None or result[key] >= 0, f"{where}.{key}", "a count (0 or more)", name)
    _expect(result.get("validation_majority") is None or 0 <= result["validation_majority"] <= 1,
            f"{where}.validation_majority", "a share from 0 to 1", name)
    for key in RESULT_SCORES:
        value = result.get(key)
        _expect(value is None or (isinstance(value, dict) and all(v is None or num(v) for v in value.values())),
                f"{where}.{key}", "a mapping of metric names to numbers", name)
    for key in RESULT_FLAGS:
        _expect(result.get(key) is None or isinstance(result[key], bool), f"{where}.{key}", "true or false", name)
    for key in RESULT_TEXTS:
        _expect(result.get(key) is None or isinstance(result[key], str), f"{where}.{key}", "a string", name)
    items = result.get("eval_items")
    if items is not None:
        _expect(isinstance(items, dict) and "end" in items and set(items) <= {"end", "best"}, f"{where}.eval_items",
                "a mapping of end (and best) to eval items", name)
        for key, value in items.items():
            _check_items(value, f"{where}.eval_items.{key}", name)
    refs = result.get("references")
    if refs is not None:
        _expect(isinstance(refs, list) and all(isinstance(row, dict) for row in refs), f"{where}.references",
                "a list of mappings", name)
        for j, row in enumerate(refs):
            at = f"{where}.references[{j}]"
            _expect(isinstance(row.get("reference"), str) and isinstance(row.get("name", ""), str), f"{at}.reference",
                    "a reference's name", name)
            _expect(_int(row.get("n_train")) and _int(row.get("seed", 0)), f"{at}.n_train", "a size and seed", name)
            for key in ("accuracy", "macro_f1", "loss", "rmse", "mae", "r2", "eval_examples"):
                _expect(row.get(key) is None or num(row[key]), f"{at}.{key}", "a number", name)
            if row.get("items") is not None:
                _check_items(row["items"], f"{where}.references[{j}].items", name)


def _check_items(items, where: str, name: str) -> None:
    _expect(isinstance(items, dict) and set(items) in ITEM_FORMS
            and all(isinstance(v, list) and all(num(x) for x in v) for v in items.values())
            and len({len(v) for v in items.values()}) == 1, where,
            "y_true and y_pred (and p_pred), or nll and tokens: lists of numbers of one length", name)


def _check_decision(d, name: str) -> None:
    """A bundle's decision record (optional; bundles before decision records have none)."""
    _expect(isinstance(d, dict), "decision", "a mapping", name)
    _expect(isinstance(d.get("question"), str) and d["question"].strip(), "decision.question", "a non-empty string", name)
    _expect(isinstance(d.get("constraints", {}), dict), "decision.constraints", "a mapping", name)
    try:
        check_constraints(d.get("constraints") or {})
    except HeadStartError as e:
        raise HeadStartError(f"{name} is not a valid Head Start bundle: decision.constraints: {e}") from None
    for key in ("created_at", "updated_at"):
        _expect(num(d.get(key, 0.0)), f"decision.{key}", "a number", name)
    _expect(d.get("signoff_by") is None or isinstance(d["signoff_by"], str), "decision.signoff_by", "a string", name)
    _expect(d.get("signoff_at") is None or num(d["signoff_at"]), "decision.signoff_at", "a number", name)
    _expect(d.get("signed") is None or isinstance(d["signed"], dict), "decision.signed", "a mapping", name)
    comments = d.get("comments", [])
    _expect(isinstance(comments, list), "decision.comments", "a list", name)
    for i, c in enumerate(comments):
        _expect(isinstance(c, dict) and isinstance(c.get("author"), str) and isinstance(c.get("body"), str)
                and num(c.get("at")), f"decision.comments[{i}]", "a mapping with author, body and at", name)


def bundle_digest(bundle: dict) -> str:
    return hashlib.sha256(json.dumps(bundle["experiment"], sort_keys=True).encode()
                          + json.dumps(bundle["runs"], sort_keys=True).encode()).hexdigest()[:16]


def import_bundle(store: Store, bundle: dict, owner: str = "local") -> str:
    """Insert a bundle as a new experiment (new ids) in one transaction; returns its id. Importing the
    same bundle for the same owner twice returns the first copy."""
    digest = bundle_digest(bundle)
    for e in store.experiments():
        if e.owner == owner and e.info.get("bundle") == digest:
            return e.id
    exp = bundle["experiment"]
    cfg = ExperimentConfig.from_dict(exp["config"])
    exp_id = new_id("e")
    ids = {r["id"]: new_id("r") for r in bundle["runs"]}
    info = dict(exp.get("info") or {}, bundle=digest, imported_from=exp["id"])
    info["lr_search"] = {label: _renamed(search, ids) for label, search in (info.get("lr_search") or {}).items()}
    runs = []
    for r in bundle["runs"]:
        unfinished = r["status"] in ("queued", "running", "interrupted")
        runs.append({**{k: r[k] for k in RUN_FIELDS}, "id": ids[r["id"]],
                     "depends_on": ",".join(ids[d] for d in r["depends_on"].split(",")) if r["depends_on"] else None,
                     "status": "cancelled" if unfinished else r["status"], "error": RECORD_NOTE if unfinished else r["error"]})
    store.experiment_dir(exp_id).mkdir(parents=True)
    try:
        cfg.save(store.experiment_dir(exp_id) / "config.yaml")
        store.insert_record(exp_id, exp["name"], cfg, exp["created_at"], owner, info, runs,
                            [[ids[m[0]], *m[1:]] for m in bundle["metrics"]], [[ids[e[0]], *e[1:]] for e in bundle["events"]],
                            bundle.get("decision"))
    except BaseException:
        shutil.rmtree(store.experiment_dir(exp_id), ignore_errors=True)
        raise
    return exp_id


def gallery_bundles() -> list[Path]:
    folder = load_settings().gallery or GALLERY
    return sorted(folder.glob("*.json.gz")) if folder.is_dir() else []
