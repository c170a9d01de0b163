"""Issue 39, item 10: every command-line bound is stated in --help and checked — a bad value is refused with the flag or
field named and exit code 2 (argparse's), before anything runs or is written."""
import pytest

from training.__main__ import main
from training.service.store import Store
from training.testing import make_finished_experiment

BAD = [  # (arguments after the command's own, what the error names)
    (["worker", "--slots-per-device", "-3"], "--slots-per-device"),  # the dispatcher then waited forever
    (["worker", "--slots-per-device", "0"], "--slots-per-device"),  # became the default
    (["worker", "--owner-cap", "-1"], "--owner-cap"),  # the dispatcher then waited forever
    (["worker", "--owner-cap", "0"], "--owner-cap"),
    (["worker", "--devices", "tpu"], "'tpu' is not a device on this machine; devices here: cpu"),
    (["worker", "--devices", "cuda:9"], "'cuda:9' is not a device on this machine"),
    (["worker", "--devices", "cpu,cpu"], "give each device once"),
    (["worker", "--devices", ""], "--devices '': give each device once"),  # served on the default devices (exit 0)
    (["report", "EXP", "--out", "r.html", "--price", "nan"], "--price"),  # reached the report
    (["report", "EXP", "--out", "r.html", "--price", "-5"], "--price"),
    (["recommend", "EXP", "--margin", "nan"], "--margin"),
    (["predictor", "--idle", "nan"], "--idle"),  # exited at once
    (["predictor", "--idle", "0"], "--idle"),
    (["enqueue", "quick", "--owner", "gallery"], "reserved"),
    (["plan", "quick", "--set", "train.evals_per_run=1000000"], "train.evals_per_run must be a whole number from 1 to"),
    (["plan", "quick", "--set", "lr_sweep.factors=[1,1,1]"], "lr_sweep.factors lists a factor twice"),
    (["plan", "quick", "--set", "lr_sweep.budget=5"], "lr_sweep.budget must be a share of the grid's FLOPs in (0, 1]"),
    (["resume", "DONE_RUN"], "is done (finished): nothing to resume"),  # returned 0
    (["cancel", "DONE_RUN"], "is done, not queued or running: nothing to cancel"),  # returned 0
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("cli") / "store")
    exp = make_finished_experiment(store, seeds=(0,), sizes=(50,))
    done = next(r for r in store.runs(exp) if r.status == "done" and r.role == "grid")
    return store, exp, done.id


@pytest.mark.parametrize("args, named", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_cli_input_is_refused_with_the_flag_named_and_exit_2(args, named, finished, capsys, monkeypatch,
                                                                  tmp_path):
    store, exp, run = finished
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("training.service.runner.default_devices", lambda: ["cpu"])  # this machine: no GPU
    argv = [run if a == "DONE_RUN" else exp if a == "EXP" else a for a in args]
    argv[2 if argv[0] in ("report", "recommend", "enqueue", "plan", "resume", "cancel") else 1:0] = ["--store",
                                                                                                     str(store.root)]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err and "Traceback" not in err
    assert store.run(run).status == "done" and not list(tmp_path.iterdir())  # nothing changed, nothing written


def test_the_bounds_are_stated_in_help(capsys):
    for command, words in (("worker", ["1 to 64", "devices this machine has"]), ("report", ["$0 to $10,000"]),
                           ("predictor", ["up to 604,800"]), ("enqueue", ["reserved 'gallery'"])):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert all(w in out for w in words), (command, out)
