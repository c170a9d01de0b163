"""One text answered by the quick demo's four models, after the first load (issue 26's "Try it" target: ≤ 1 s on 2
CPU cores), and what the first load costs.

    python bench/predict_time.py                                  # runs the quick preset into a temp store first
    python bench/predict_time.py --store DIR --experiment EXP_ID   # an experiment you have

Prints each model's load time, then the wall time of one text through all of them (median and slowest of 20, each a
new text), and the same for a batch of 32 texts (the per-text cost when a page sends a column). Then the same question
as Try it asks it — through the store to a predictor process (`python -m training predictor`) and back: the first
question (which loads the models) and the median and slowest of 20 after it, each the page's whole wait.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store")
    ap.add_argument("--experiment")
    args = ap.parse_args()
    tmp = None
    if not args.store:
        tmp = tempfile.TemporaryDirectory()
        args.store = tmp.name
        out = subprocess.run([sys.executable, "-m", "training", "run", "quick", "--store", args.store],
                             capture_output=True, text=True, check=True)
        args.experiment = out.stdout.strip().splitlines()[-1]

    from training.delivery.predict import load, runs_of
    from training.service.store import Store
    from training.tasks import task_kind

    store = Store(args.store)
    cfg = store.experiment_config(args.experiment)
    kind, labels = task_kind(cfg.task), store.experiment(args.experiment).info["label_names"]
    models = []
    for run in runs_of(store, args.experiment):
        t0 = time.perf_counter()
        loaded = load(store, run.id)
        print(f"load {run.strategy:8s} N={run.n_train}: {time.perf_counter() - t0:.2f} s ({loaded.weights} weights)")
        models.append(loaded)

    def answer(texts):
        t0 = time.perf_counter()
        for m in models:
            kind.predict(m.model, m.processor, texts, cfg, labels)
        return time.perf_counter() - t0

    answer(["warm up"])
    one = [answer([f"Return the {i}th element of the array, or raise IndexError"]) for i in range(20)]
    batch = [answer([f"Parse the {i}-{j} header of an HTTP request" for j in range(32)]) for i in range(5)]
    print(f"one text through {len(models)} models: median {statistics.median(one):.3f} s, slowest {max(one):.3f} s "
          f"(target ≤ 1 s)")
    print(f"32 texts through {len(models)} models: median {statistics.median(batch):.3f} s "
          f"({statistics.median(batch) / 32 * 1000:.1f} ms per text)")
    models.clear()  # the predictor process loads its own
    service(store, args.experiment)
    store.close()
    if tmp:
        tmp.cleanup()


def service(store, exp: str) -> None:
    """Try it's path: ask through the store, a predictor process answers; the page's wall time per question."""
    import os
    import signal

    from training.delivery.predict import runs_of
    from training.delivery.predictor import ask

    runs = [r.id for r in runs_of(store, exp)]
    proc = subprocess.Popen([sys.executable, "-m", "training", "predictor", "--store", store.spec, "--idle", "300"],
                            start_new_session=True)

    def wait(texts):
        t0 = time.perf_counter()
        qid = ask(store, exp, runs, texts, "local")
        while (q := store.prediction(qid))["status"] in ("queued", "working"):
            time.sleep(0.02)
        assert q["status"] == "answered", q["error"]
        return time.perf_counter() - t0

    try:
        first = wait(["the first question loads the models"])
        waits = [wait([f"Return the {i}th element of the array, or raise IndexError"]) for i in range(20)]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"Try it through the store and the predictor process: first question {first:.2f} s (loads {len(runs)} "
          f"models); then one text through {len(runs)} models: median {statistics.median(waits):.3f} s, slowest "
          f"{max(waits):.3f} s (target ≤ 1 s)")


if __name__ == "__main__":
    main()
