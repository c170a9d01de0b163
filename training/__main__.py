"""Command line: `python -m training {presets,run,export}`.

  python -m training presets  |  strategies
  python -m training run quick --store ./store            # a preset name or a YAML/JSON config file
  python -m training run my.yaml --store ./store --set seeds=[0,1] --set model.max_length=64
  python -m training export EXP_ID --store ./store --format csv
  python -m training predict EXP_ID --input texts.txt --store ./store      # every strategy's model answers each text
  python -m training export-model RUN_ID --store ./store --out my-model    # a folder transformers loads, a model card
  python -m training worker --store ./store [--devices cuda:0,cuda:1|cpu] [--slots-per-device K]
  python -m training enqueue quick --store ./store        # store an experiment for the dispatcher
  python -m training cancel RUN_ID --store ./store  |  resume RUN_ID --store ./store
  python -m training report EXP_ID --store ./store --format html --out report.html
  python -m training bundle-export EXP_ID --store ./store --out exp.json.gz  |  bundle-import exp.json.gz --store ./store
  python -m training hash-password                         # a line for [passwords] in .streamlit/secrets.toml
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from pathlib import Path

import yaml

from training.config import ExperimentConfig
from training.errors import ConfigError, HeadStartError


def load_config(name_or_path: str, overrides: list[str]) -> ExperimentConfig:
    from training.presets import PRESETS, get_preset

    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        cfg = ExperimentConfig.load(path)
    elif name_or_path in PRESETS:
        cfg = get_preset(name_or_path)
    else:
        raise ConfigError(f"{name_or_path!r} is neither a preset ({', '.join(PRESETS)}) nor a config file")
    if not overrides:
        return cfg
    d = cfg.to_dict()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set takes KEY=VALUE (e.g. seeds=[0,1]), got {item!r}")
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section of the config")
            node = node[p]
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: {value!r} is not a value (YAML: {str(e).splitlines()[0]}); e.g. "
                              "seeds=[0,1] or budget.steps=300") from None
    return ExperimentConfig.from_dict(d)


# -- commands: each takes the parsed arguments and returns the exit code -----------------------------

def cmd_presets(args) -> int:
    from training.presets import describe_presets

    for p in describe_presets():
        print(f"{p['name']:16} {p['description']}")
        print(f"{'':16} task={p['task']} model={p['model']} data={p['data']}")
        print(f"{'':16} strategies={','.join(p['strategies'])} sizes={p['sizes']} seeds={p['seeds']}")
    return 0


def cmd_strategies(args) -> int:
    from training.core.strategies import STRATEGIES
    from training.tasks import kinds

    for name, cls in STRATEGIES.items():
        d = cls.describe()
        print(f"{name:15} {d['summary']}")
        print(f"{'':15} when: {d['when']}")
        tasks = [k for k in kinds().values() if not k.refusal(name)]
        per_task = "".join(f", {k.default_lrs[name]:g} for {k.name}" for k in tasks if name in k.default_lrs)
        names = ", ".join(k.name for k in tasks)
        print(f"{'':15} default lr {d['default_lr']:g}{per_task} (the centre of its search); tasks {names}"
              + ("; trains until it stops improving" if d["until_plateau"] else "") + ("; CUDA only" if d["needs_cuda"] else ""))
        for option, default in d["options"].items():
            print(f"{'':15} options.{option} = {default!r}: {d['option_docs'].get(option, '')}")
    return 0


def cmd_hash_password(args) -> int:
    import getpass

    from training.service.passwords import hash_password

    first, second = getpass.getpass("Password: "), getpass.getpass("Again: ")
    if not first or first != second:
        raise ConfigError("the two passwords differ (or are empty); nothing printed")
    print(hash_password(first))
    return 0


def cmd_work(args) -> int:
    from training.service.worker import main as work_main

    return work_main(args.store, args.run_id)


def cmd_worker(args) -> int:
    from training.service.runner import Dispatcher, default_devices
    from training.settings import load_settings

    devices = _devices(args.devices, default_devices()) if args.devices is not None else default_devices()
    settings = load_settings()
    owner_cap = args.owner_cap or (settings.demo_concurrent if settings.mode == "demo" else None)
    d = Dispatcher(args.store, devices=devices, slots_per_device=args.slots_per_device,
                   owner_cap=owner_cap, executor=args.executor, address=args.address, warm=not args.cold,
                   **({"host": args.host} if args.host else {}))
    print(f"dispatcher {os.getpid()} serving {args.store} on {','.join(devices)} "
          f"({d.slots_per_device} slot(s) each, executor {args.executor})", flush=True)
    try:
        d.serve(until_idle=args.until_idle)
    finally:
        d.close()
    return 0


def cmd_plan(args) -> int:
    from training.analysis.resolution import resolution
    from training.service.planning import plan_experiment
    from training.service.store import Store
    from training.tasks import task_kind

    cfg = load_config(args.config, args.overrides)
    store = Store(args.store)
    plan = plan_experiment(cfg, store.cache_dir, store)
    config = cfg.to_dict()
    kind = task_kind(cfg.task)
    precision = resolution(kind.metric, plan.info["data"], config, args.margin, classical=kind.classical_references)
    print(json.dumps({"config": config, "runs": plan.runs, "cost": plan.info["cost"], "info": plan.info,
                      "resolution": precision.to_dict()}))
    return 0


def cmd_enqueue(args) -> int:
    from training.service.planning import launch
    from training.service.store import Store

    print(launch(load_config(args.config, args.overrides), Store(args.store), owner=args.owner,
                 launch_key=args.launch_key))
    return 0


def cmd_cancel(args) -> int:
    from training.service.store import Store

    store = Store(args.store)
    status = store.run(args.run_id).status
    if not status.active:
        raise HeadStartError(f"run {args.run_id} is {status.value}, not queued or running: nothing to cancel"
                             + (" (it finished)" if status == "done" else ""))
    print(store.request_cancel(args.run_id))
    return 0


def cmd_resume(args) -> int:
    from training.service.records import Status
    from training.service.store import Store

    store = Store(args.store)
    before = store.run(args.run_id).status
    store.requeue(args.run_id)
    now = store.run(args.run_id).status
    if not before.resumable or now != Status.QUEUED:
        raise HeadStartError(f"run {args.run_id} is {before.value}" + (" (finished): nothing to resume; start a new "
                             "experiment to train it again" if before == Status.DONE else ": nothing to resume"))
    print(now)
    return 0


def cmd_run(args) -> int:
    from training.service.execution import run_experiment
    from training.service.records import Status
    from training.service.store import Store

    cfg = load_config(args.config, args.overrides)
    store = Store(args.store)
    exp_id = run_experiment(cfg, store, progress=True, owner=args.owner)
    failed = [r for r in store.runs(exp_id) if r.status != Status.DONE]
    print(exp_id)
    return 1 if failed else 0


def _out_file(out: str, suffixes: tuple[str, ...]) -> Path:
    """Where --out writes: a file whose folder exists and whose name ends as the format does — checked before any
    work, so a mistyped --out costs nothing and leaves nothing behind."""
    path = Path(out).expanduser()
    example = f"{path / 'out'}{suffixes[0]}"
    if path.is_dir():
        raise HeadStartError(f"--out {out} is a folder; give a file name in it, e.g. {example}")
    if not path.parent.is_dir():
        raise HeadStartError(f"--out {out}: the folder {path.parent} does not exist; create it first")
    if not path.name.endswith(suffixes):
        raise HeadStartError(f"--out {out} must end in {' or '.join(suffixes)}")
    return path


def cmd_bundle_export(args) -> int:
    from training.service.bundle import export_bundle, write_bundle

    out = _out_file(args.out, (".json.gz", ".json"))
    write_bundle(export_bundle(_experiment_store(args), args.experiment_id), out)
    print(args.out)
    return 0


def cmd_bundle_import(args) -> int:
    from training.service.bundle import import_bundle, read_bundle
    from training.service.store import Store

    path = Path(args.bundle)
    # read from the path: only a regular file, read within the cap (bytes read first, /dev/zero filled the memory)
    print(import_bundle(Store(args.store), read_bundle(path, name=args.name or path.name), owner=args.owner))
    return 0


def cmd_report(args) -> int:
    from training.analysis.report import analyse, html_report, markdown_report

    out = _out_file(args.out, (".html", ".htm") if args.format == "html" else (".md", ".markdown", ".txt"))
    a = analyse(_experiment_store(args), args.experiment_id, args.price, checkpoint=args.checkpoint)
    out.write_text(html_report(a) if args.format == "html" else markdown_report(a), encoding="utf-8")
    print(args.out)
    return 0


def cmd_recommend(args) -> int:
    from training.analysis.recommend import rule
    from training.analysis.report import analyse

    a = analyse(_experiment_store(args), args.experiment_id, checkpoint=args.checkpoint, margin=args.margin)
    d = a.recommendation
    if args.format == "json":
        print(json.dumps(d.to_json(), indent=2))
    else:
        print("\n\n".join([*d.sentences, rule(d)] if d.sizes else d.sentences or ["No finished runs yet."]))
    return 0


def cmd_export(args) -> int:
    from training.analysis.results import EXPORT_COLUMNS, run_rows

    rows = run_rows(_experiment_store(args), args.experiment_id)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    return 0


def cmd_predict(args) -> int:
    from itertools import chain

    from training.config import ExperimentConfig
    from training.delivery.inputs import input_batches
    from training.delivery.predict import META, answerers, exported_meta, runs_of, write_predictions
    from training.service.store import Store
    from training.tasks import task_kind

    folder = Path(args.source)
    if (folder / META).is_file():  # an exported model: no store needed
        store, runs = None, None
        cfg = ExperimentConfig.from_dict(exported_meta(folder)["config"])
    else:
        if not args.store:
            raise ConfigError(f"{args.source} is not an exported model folder: give --store to answer with an "
                              "experiment or run")
        store = Store(args.store)
        runs = [r.id for r in runs_of(store, args.source, args.runs.split(",") if args.runs else None)]
        cfg = store.experiment_config(store.run(runs[0]).experiment_id)
    form = task_kind(cfg.task).input_form
    column = args.column or {"text": cfg.data.text_column, "image": cfg.data.image_column,
                             "messages": getattr(cfg.data, "messages_column", "messages")}.get(form)
    batches = input_batches(Path(args.input), column, form)  # read a batch at a time: memory stays one batch's
    first = next(batches)  # a file that is wrong from its start is named before any model loads
    write_predictions(answerers(store, args.source, runs), chain([first], batches), args.format, sys.stdout,
                      Path(args.input).name, "row" if form == "row" else "input")
    return 0


def _predict_args(p):
    p.add_argument("source", help="an experiment id (its grid runs at the largest size and first seed), a run id, or "
                   "a folder export-model wrote")
    p.add_argument("--input", required=True, help="texts: one per line (.txt), a CSV column, or JSON lines")
    p.add_argument("--column", default=None, help="the CSV column or JSON field to read (default: the experiment's "
                   "text column)")
    p.add_argument("--runs", default=None, help="comma-separated run ids of the experiment to answer with")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--store", default=None, help="the store of the experiment or run (not needed for a folder)")


def cmd_export_model(args) -> int:
    from training.delivery.predict import export_model
    from training.service.store import Store

    folder = export_model(Store(args.store), args.run_id, Path(args.out))
    print(folder)
    if args.push_to:
        from training.delivery.hub import push_model

        print(push_model(folder, args.push_to, private=not args.public))
    return 0


def cmd_predictor(args) -> int:
    from training.delivery.predictor import main as predictor_main

    return predictor_main(args.store, args.idle)


def _experiment_store(args):
    from training.service.store import Store

    store = Store(args.store)
    if store.experiment(args.experiment_id) is None:
        raise ConfigError(f"no experiment {args.experiment_id!r} in {args.store}")
    return store


# -- the command table: name, function, help, arguments ---------------------------------------------

MAX_SLOTS = 64
"""Most concurrent runs per device a dispatcher takes (--slots-per-device)."""
MAX_PRICE = 10_000
"""The highest price per device-hour --price takes, in dollars."""
MAX_IDLE_S = 7 * 24 * 3600
"""The longest the predictor waits for a question before it exits (--idle): a week."""


def _store(p):
    p.add_argument("--store", required=True, help="store directory (created if missing), or a postgresql:// URL "
                   "(artifacts then in HEADSTART_ARTIFACTS); HEADSTART_DATABASE_URL puts a directory store's tables there")


def _config(p):
    p.add_argument("config", help="preset name or path to a YAML/JSON experiment config")
    _store(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set seeds=[0,1] (repeatable)")


def _run_id(p):
    p.add_argument("run_id")
    _store(p)


def _experiment(p):
    p.add_argument("experiment_id")
    _store(p)


def _owner(p):
    p.add_argument("--owner", default="local", type=_owner_name,
                   help="who the experiment belongs to: printable, at most 200 characters, not the reserved 'gallery'")


def _owner_name(text: str) -> str:
    from training.service.bundle import GALLERY_OWNER

    if text.strip().lower() == GALLERY_OWNER:
        raise argparse.ArgumentTypeError(f"{text!r} is reserved for the shipped gallery's experiments; choose another owner")
    if not text.strip() or not text.isprintable() or len(text) > 200:
        raise argparse.ArgumentTypeError(f"must be printable text of 1 to 200 characters, got {text!r}")
    return text


def _whole(low: int, high: int):
    """An argparse type: a whole number from `low` to `high` (argparse names the flag and exits 2 otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,}, got {text!r}")
        return value
    return parse


def _number(low: float, high: float, above: bool = False):
    """An argparse type: a finite number from `low` (or above it, `above`) to `high`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"must be a number {'above' if above else 'from'} {low:g} "
                                             f"{'and at most' if above else 'to'} {high:g}, got {text!r}")
        return value
    return parse


def _devices(given: str, here: list[str]) -> list[str]:
    """--devices checked against what this machine has (`cpu`, and `cuda:N` for each GPU nvidia-smi lists)."""
    known = {"cpu", *here, *(["cuda"] if any(d.startswith("cuda") for d in here) else [])}
    devices = [d.strip() for d in given.split(",") if d.strip()]
    for d in devices:
        if d not in known:
            raise HeadStartError(f"--devices: {d!r} is not a device on this machine; devices here: "
                                 f"{', '.join(sorted(known))}")
    if not devices or len(set(devices)) != len(devices):
        raise HeadStartError(f"--devices {given!r}: give each device once, comma-separated (e.g. cuda:0,cuda:1 or cpu)")
    return devices


def _worker_args(p):
    _store(p)
    p.add_argument("--devices", default=None, help="comma-separated devices this machine has, e.g. cuda:0,cuda:1 or "
                   "cpu (default: all GPUs, else cpu)")
    p.add_argument("--slots-per-device", type=_whole(1, MAX_SLOTS), default=None,
                   help=f"concurrent runs per device, 1 to {MAX_SLOTS} (default: 1 per GPU, 2 on a CPU with 2+ cores)")
    p.add_argument("--owner-cap", type=_whole(1, MAX_SLOTS * 64), default=None,
                   help=f"most concurrent runs per owner, 1 to {MAX_SLOTS * 64:,}")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (executor ray)")
    p.add_argument("--until-idle", action="store_true", help="exit when nothing is queued or running")
    p.add_argument("--cold", action="store_true", help="a fresh interpreter per CPU run (default: fork CPU runs "
                   "from a warm starter that imported torch and the task kinds once)")
    p.add_argument("--host", default=None, help="this dispatcher's host name in the store (default: the machine's); "
                   "dispatchers on several hosts may serve one PostgreSQL store, each checking only its own processes")


def _report_args(p):
    _experiment(p)
    p.add_argument("--format", choices=("html", "md"), default="html")
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--price", type=_number(0, MAX_PRICE), default=0.0,
                   help=f"price per device-hour for the cost column, $0 to ${MAX_PRICE:,}")
    p.add_argument("--checkpoint", choices=("final", "best", "end"), default="final",
                   help="score each run's final model (default), its best checkpoint, or its last weights")


def _plan_args(p):
    _config(p)
    p.add_argument("--format", choices=("json",), default="json", help="json (the only format: the plan is data)")
    p.add_argument("--margin", type=_number(0, 1e6, above=True), default=None,
                   help="the equivalence margin `recommend` will use, for `resolution` (default: the metric's)")


def _recommend_args(p):
    _experiment(p)
    p.add_argument("--format", choices=("json", "md"), default="md",
                   help="json: the decision table per size (cells, intervals, the pick); md: its sentences")
    p.add_argument("--checkpoint", choices=("final", "best", "end"), default="final",
                   help="score each run's final model (default), its best checkpoint, or its last weights")
    p.add_argument("--margin", type=_number(0, 1e6, above=True), default=None,
                   help="equivalence margin, above 0: in the metric's units for accuracy/F1 (default 0.01), a fraction for "
                        "perplexity/RMSE (default 0.02 = 2%%)")


COMMANDS = {
    "presets": (cmd_presets, "list the built-in presets", None),
    "strategies": (cmd_strategies, "list the strategies with their options, defaults and docs", None),
    "run": (cmd_run, "run an experiment in this process and print its id", lambda p: (_config(p), _owner(p))),
    "enqueue": (cmd_enqueue, "validate and store an experiment; a dispatcher runs it",
                lambda p: (_config(p), _owner(p), p.add_argument(
                    "--launch-key", help="an idempotency key: enqueueing again with the same key (a retried request) "
                    "stores nothing and prints the experiment the first one made"))),
    "plan": (cmd_plan, "validate an experiment and print its runs, steps, FLOPs, memory and the difference it can "
                       "resolve (`resolution`) as JSON", _plan_args),
    "worker": (cmd_worker, "the dispatcher: start worker processes for queued runs", _worker_args),
    "work": (cmd_work, "train one run in this process (the dispatcher starts these)", _run_id),
    "cancel": (cmd_cancel, "stop a run (it checkpoints first)", _run_id),
    "resume": (cmd_resume, "queue a stopped run again", _run_id),
    "report": (cmd_report, "write the decision report (self-contained HTML or Markdown)", _report_args),
    "recommend": (cmd_recommend, "what to use at each training-set size, by the one decision rule (json or md)",
                  _recommend_args),
    "bundle-export": (cmd_bundle_export, "write an experiment as a bundle (config, runs, metrics; no checkpoints)",
                      lambda p: (_experiment(p), p.add_argument("--out", required=True, help="a .json or .json.gz file"))),
    "bundle-import": (cmd_bundle_import, "add a bundle to a store as a new experiment (a record, never trained)",
                      lambda p: (p.add_argument("bundle"), _store(p), _owner(p),
                                 p.add_argument("--name", default=None, help="the file's name, for messages"))),
    "predict": (cmd_predict, "answer new inputs with finished runs' delivered models, side by side (text "
                "classification)", _predict_args),
    "export-model": (cmd_export_model, "write a finished run's model as a folder transformers loads, with a model card",
                     lambda p: (_run_id(p), p.add_argument("--out", required=True, help="a new folder"),
                                p.add_argument("--push-to", default=None, metavar="USER/NAME",
                                               help="also push the folder to this Hugging Face hub model repository "
                                                    "(needs HF_TOKEN; private unless --public)"),
                                p.add_argument("--public", action="store_true", help="make a new hub repository public"))),
    "predictor": (cmd_predictor, "answer Try it's questions from the store, keeping recent models loaded (the page "
                  "starts it)", lambda p: (_store(p), p.add_argument("--idle", type=_number(0, MAX_IDLE_S, above=True),
                                                                      default=900.0,
                                                                      help="exit after this many seconds without a "
                                                                           f"question, up to {MAX_IDLE_S:,} (default "
                                                                           "900)"))),
    "export": (cmd_export, "one row per run of an experiment",
               lambda p: (_experiment(p), p.add_argument("--format", choices=("csv", "json"), default="csv"))),
    "hash-password": (cmd_hash_password, "hash a password for [passwords] in .streamlit/secrets.toml", None),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description="Head Start: scratch vs fine-tune experiments")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, text, arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=text)
        if arguments:
            arguments(p)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][0](args)
    except HeadStartError as e:
        from training.service.policy import redact

        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 — one error path: never a traceback for a user (HEADSTART_DEBUG=1 shows it)
        from training.settings import load_settings

        try:
            debug = load_settings().debug
        except HeadStartError:
            debug = False
        if debug:
            raise
        from training.service.policy import redact

        first = (str(e).strip().splitlines() or [""])[0][:400]
        print(f"error: {args.command} stopped on something it did not expect ({type(e).__name__}: {redact(first)}). "
              "Run it again with HEADSTART_DEBUG=1 for the details; if the input looks right, report it.",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
