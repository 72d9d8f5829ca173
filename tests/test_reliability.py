"""Nothing lost, nothing mixed up: each test is one way a user (or a hostile file) met a defect.

Resume guards, SIGTERM, non-finite weights, divergence, a dataset-keyed frame cache (and one on a
full disk), a lost best.npz, contained paths, corrupt headers, empty and duplicated lists, careful
weight loading, one-line errors.
"""
import contextlib
import csv
import datetime
import errno
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time
import types

import numpy
import pytest

import devices
from devices import host
from tinyrrn import backend, builders, checkpoint, cli, config as configuration, features, files, reproduce, rundir
from tinyrrn import signals
from tinyrrn import evaluate as evaluation
from tinyrrn import predict as prediction
from tinyrrn import train as training
from tinyrrn.data import UCF101, cache as frame_cache, check as data_check, frame_count, synthetic
from tinyrrn.models import resnet_small
from tinyrrn.weights import WeightsError, load_npz, read_pth, save_npz


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path_factory, monkeypatch):
    """Every test here runs in an empty working directory (subprocesses too) and leaves it empty:
    no ./runs or other output behind."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    yield cwd
    assert os.listdir(cwd) == []


def tiny_args(data, out, *extra):
    return ["--data", data, "--out", str(out), "--cache-dir", str(out / "cache"), "--arch", "resnet_small",
            "--resize", "24", "--crop", "16", "--batch", "4", "--update-every", "8", "--epochs", "1",
            "--workers", "0", "--no-baseline", "--lr", "0.003", "--log-every", "1", "--no-flip", "--val-groups", "1",
            *extra]


def run_dir_of(out, name):
    found = [str(p) for p in out.glob(f"*-{name}") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory):
    """A run directory after one epoch (resume it with --epochs 2 to go on)."""
    out = tmp_path_factory.mktemp("finished")
    assert training.main(tiny_args(tiny_data, out, "--name", "one")) == 0
    return run_dir_of(out, "one")


@pytest.fixture
def run(finished, tmp_path):
    """A private copy of the finished run."""
    copy = str(tmp_path / "run")
    shutil.copytree(finished, copy)
    return copy


def meta(run_dir, name="checkpoint.npz"):
    return checkpoint.load(os.path.join(run_dir, name))[1]


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def cli_run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


# -- 1. a checkpoint only of finite weights; the message tells the truth -------------------
def test_lr_1e39_stops_naming_the_update_and_keeps_the_checkpoint_byte_for_byte(run, capsys):
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("checkpoint.npz", "best.npz")}
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "2", "--lr", "1e39"]) == 1
    line = one_error_line(capsys)
    assert "made" in line and "non-finite" in line and "(epoch 2)" in line
    assert f"{run}/checkpoint.npz (epoch 1, update {meta(run)['updates']}) is kept as it was" in line
    assert line.endswith("try a lower learning rate (--lr)")
    for name, data in before.items():
        assert open(os.path.join(run, name), "rb").read() == data, name


def test_a_run_that_fails_before_any_checkpoint_says_so_and_leaves_no_run_directory(tiny_data, tmp_path, capsys):
    out = tmp_path
    assert training.main(tiny_args(tiny_data, out, "--lr", "1e39", "--name", "huge")) == 1
    line = one_error_line(capsys)
    assert "update 1 (epoch 1) made" in line and re.search(r"no checkpoint was written yet, so \S+-huge is removed", line)
    assert [p.name for p in out.iterdir()] == ["cache"]  # the frame cache (tiny_args puts it there), no run


def test_a_new_run_on_a_missing_dataset_leaves_nothing_but_a_resumed_one_keeps_its_folder(run, tmp_path, capsys):
    assert training.main(["--data", "/nonexistent", "--out", str(tmp_path / "runs")]) == 2
    assert one_error_line(capsys) == "error: /nonexistent: no such dataset folder (--data)"
    assert not (tmp_path / "runs").exists()
    (tmp_path / "empty").mkdir()
    assert training.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    assert one_error_line(capsys).startswith(f"error: {tmp_path / 'empty' / 'ucfTrainTestlist'}: no such folder of "
                                             "split files")
    assert sorted(os.listdir(tmp_path)) == ["empty", "run"]  # the folder the run would go in was there: kept
    data = json.load(open(os.path.join(run, "config.json")))["data"]
    shutil.move(data, data + ".moved")  # a resumed run that fails keeps its run directory
    try:
        assert training.main(["--resume", run, "--epochs", "2"]) == 2
    finally:
        shutil.move(data + ".moved", data)
    assert os.path.isfile(os.path.join(run, "checkpoint.npz")) and "no such dataset folder" in one_error_line(capsys)


def test_a_checkpoint_with_nan_is_not_written(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"model/w": numpy.ones(3)}, {"epoch": 1})
    before = path.read_bytes()
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint.npz: not written: model/v holds NaN"):
        checkpoint.save(path, {"model/w": numpy.ones(3), "model/v": numpy.array([1.0, numpy.nan])}, {"epoch": 2})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["checkpoint.npz"]


def test_a_checkpoint_altered_to_hold_nan_is_refused_when_read(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"model/w": numpy.ones(3)}, {"epoch": 1})
    with numpy.load(path) as archive:
        arrays = dict(archive)
    arrays["model/w"][0] = numpy.nan
    numpy.savez(path, **arrays)
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint.npz: model/w holds NaN or infinite values"):
        checkpoint.load(path)


@pytest.mark.parametrize("line, says", [
    ('flip = "no"', "flip = 'no': expected true or false"),
    ('arch = "foo"', "arch = 'foo': expected one of"),
    ('optimizer = "rmsprop"', "optimizer = 'rmsprop': expected one of ['adam', 'sgd']"),
    ('lr = "fast"', "lr = 'fast': expected a number"),
    ("positions = 2", "positions = 2: expected a list"),
    ("log_every = 0", "log_every = 0: must be an integer of at least 1"),  # out of range
    ("momentum = 1e400", "momentum = inf: must be a finite number of at least 0.0"),
    ('name = ""', "name = '': expected text, not empty"),
    ('data = ""', "data = '': expected text, not empty"),  # never read as the working folder
    ("resize = 24\ncrop = 30", "crop = 30 is larger than resize = 24"),
    ('update_every = "0%"', "update_every = '0%': the percentage must be in (0, 100]"),  # not as a flag never typed
    ("threads = 0", "threads = 0: must be an integer of at least 1"),
])
def test_a_toml_value_of_the_wrong_kind_or_out_of_range_is_refused_naming_the_file_and_key(tmp_path, line, says,
                                                                                            capsys):
    toml = tmp_path / "settings.toml"
    toml.write_text(line + "\n")
    assert training.main(["--config", str(toml)]) == 2
    assert one_error_line(capsys).startswith(f"error: {toml}: {says}")


@pytest.mark.parametrize("make, says", [(os.mkdir, "a folder"), (os.mkfifo, "not a regular file (a device, pipe or socket)"),
                                         (lambda path: None, "no such file")])
def test_a_config_that_is_no_file_says_what_is_there(tmp_path, make, says, capsys):
    """A folder given as --config was 'no such configuration file', though it was there."""
    path = tmp_path / "settings.toml"
    make(path)
    assert training.main(["--config", str(path)]) == 2
    assert one_error_line(capsys) == f"error: {path}: {says}, not a configuration file (--config takes a TOML file)"


def test_a_toml_file_with_a_byte_order_mark_is_read(tmp_path):
    toml = tmp_path / "settings.toml"
    toml.write_bytes(b"\xef\xbb\xbfepochs = 3\r\nlr = 0.01\r\n")  # as some Windows editors save it
    given = configuration.requested(["--config", str(toml)])[0]
    assert (given["epochs"], given["lr"]) == (3, 0.01)


def test_a_run_made_with_a_relative_data_path_resumes_from_another_folder(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(os.path.dirname(tiny_data))
    assert training.main(tiny_args(os.path.basename(tiny_data), tmp_path, "--max-steps", "1", "--name", "rel")) == 0
    run = run_dir_of(tmp_path, "rel")
    assert json.load(open(os.path.join(run, "config.json")))["data"] == str(tiny_data)
    monkeypatch.chdir(tmp_path)
    assert training.main(["--resume", run, "--max-steps", "2"]) == 0


def test_update_every_that_is_no_number_names_the_flag():
    with pytest.raises(ValueError, match=r"--update-every 'abc': expected a number of chunks"):
        training.update_size("abc", 100)


def test_an_unreadable_test_video_is_named_in_the_result_and_the_metrics(tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    test_video = next(line.split()[0] for line in open(root / "ucfTrainTestlist" / "testlist01.txt"))
    (root / test_video).write_bytes(b"")
    assert training.main(tiny_args(str(root), tmp_path, "--max-steps", "1", "--val-groups", "0", "--name", "t")) == 0
    assert "1 unreadable video(s) left out" in capsys.readouterr().out
    metrics = json.load(open(os.path.join(run_dir_of(tmp_path, "t"), "eval-last", "metrics.json")))
    assert [os.path.basename(p) for p in metrics["unreadable_videos"]] == [os.path.basename(test_video)]


def test_a_run_whose_training_videos_are_all_bad_is_refused_naming_its_list(tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    trainlist = root / "ucfTrainTestlist" / "trainlist01.txt"
    for line in trainlist.read_text().splitlines():
        (root / line.split()[0]).write_bytes(b"")
    assert training.main(tiny_args(str(root), tmp_path, "--name", "none")) == 1
    assert re.fullmatch(rf"error: {trainlist}: no training chunks are left: all \d+ videos it lists outside the "
                        r"validation groups are bad \(each named in a warning\)", one_error_line(capsys))
    assert sorted(os.listdir(tmp_path)) == ["cache", "data"]  # no run directory


@pytest.mark.filterwarnings("ignore:skipping bad video")
@pytest.mark.parametrize("bad, says", [
    ("validation", r"trainlist01.txt: all 8 videos of the validation groups g0\d are bad \(each named in a "
                   r"warning\), so no epoch could be selected; replace them, or start a run with --val-groups 0"),
    ("test", r"testlist01.txt: all 8 videos it lists are bad \(each named in a warning\), so the model could not "
             r"be tested"),
])
def test_a_run_whose_validation_or_test_videos_are_all_bad_is_refused_before_training(tiny_data, tmp_path, monkeypatch,
                                                                                     bad, says, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    args = tiny_args(str(root), tmp_path, "--name", "unusable")
    config = configuration.resolve(args)[0]
    validation = bad == "validation"
    for path in builders.build_dataset(config, train=validation, validation=validation).paths:
        open(path, "wb").close()
    monkeypatch.setattr(training, "train_one_epoch", lambda *args: pytest.fail("an epoch was trained"))
    assert training.main(args) == 1
    assert re.search(says, one_error_line(capsys))
    assert sorted(os.listdir(tmp_path)) == ["cache", "data"]  # no run directory


# -- 10. divergence is a warning, in the log and the metrics -----------------------------------
def test_lr_1e6_warns_that_the_run_diverges(tiny_data, tmp_path, capsys):
    assert training.main(tiny_args(tiny_data, tmp_path, "--lr", "1e6", "--max-steps", "3", "--name", "wild")) == 0
    assert re.search(r"warning: the run is diverging at update \d+: .*; try a lower learning rate \(--lr\)\n",
                     capsys.readouterr().err)
    records = [json.loads(line) for line in open(os.path.join(run_dir_of(tmp_path, "wild"), "metrics.jsonl"))]
    assert [r["kind"] for r in records].count("warning") == 1


# -- 2. SIGTERM writes a checkpoint at the current batch, exits 143 ---------------------------
def test_a_run_stopped_by_sigterm_resumes_where_it_stopped(tiny_data, tmp_path):
    args = tiny_args(tiny_data, tmp_path, "--epochs", "50", "--max-steps", "12", "--name", "term",
                     "--val-groups", "0")  # no validation: as short as it can be under the 120 s limits below
    proc = subprocess.Popen([sys.executable, "-m", "tinyrrn.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob("*-term/metrics.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "interrupted (SIGTERM): checkpoint written to" in err and "Traceback" not in err
    run_dir = run_dir_of(tmp_path, "term")
    stopped = meta(run_dir)
    assert 0 < stopped["updates"] < 12 and stopped["loader"]["position"] > 0  # mid-epoch, not the last epoch's end
    resumed = cli_run("tinyrrn.train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert meta(run_dir)["updates"] == 12
    assert re.search(rf"^resuming at update {stopped['updates']} of 12: epoch {stopped['epoch'] + 1}/50 from batch "
                     rf"{stopped['loader']['position'] + 1} of \d+$", resumed.stdout, re.M), resumed.stdout


@pytest.mark.parametrize("during, flags", [("test", []), ("validate", ["--epochs", "2"])],
                         ids=["final evaluation", "last validation"])
def test_sigterm_after_the_last_batch_says_the_checkpoint_is_kept_and_how_to_evaluate_again(run, monkeypatch, during,
                                                                                            flags, capsys):
    evaluate = training.evaluate

    def interrupted(model, dataset, *args, desc, **kwargs):
        if desc.startswith(during):
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(model, dataset, *args, desc=desc, **kwargs)
    monkeypatch.setattr(training, "evaluate", interrupted)
    assert training.main(["--resume", run, *flags]) == 143
    saved = meta(run)
    assert (f"interrupted (SIGTERM): stopped before the final test evaluation ended; {run}/checkpoint.npz (epoch "
            f"{saved['epoch']}, update {saved['updates']}) is kept as it was; python -m tinyrrn.train --resume {run} "
            "runs the evaluation again") in capsys.readouterr().err
    monkeypatch.setattr(training, "evaluate", evaluate)
    assert training.main(["--resume", run]) == 0
    assert json.load(open(os.path.join(run, "eval-last", "metrics.json")))["epoch"] == saved["epoch"]


def test_a_second_signal_stops_at_once():
    with signals.StopSignals(announce=False) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.received == signal.SIGTERM
        with pytest.raises(signals.Interrupted) as again:
            os.kill(os.getpid(), signal.SIGTERM)
    assert again.value.exit_code == 143 and again.value.checkpoint is None


# -- 3. resume compares settings --------------------------------------------------------------
def test_resume_applies_settings_that_may_change_and_records_them(run, capsys):
    updates = meta(run)["updates"]
    assert training.main(["--resume", run, "--epochs", "2", "--lr", "0.001"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^resuming at update {updates} of {2 * updates}: epoch 2/2 from its start, with epochs 1 -> 2, "
                     r"lr 0.003 -> 0.001$", out, re.M), out
    saved = json.load(open(os.path.join(run, "config.json")))
    assert saved["lr"] == 0.001 and saved["epochs"] == 2
    assert saved["changes"] == [{"update": updates, "epoch": 1, "settings": {"epochs": [1, 2], "lr": [0.003, 0.001]}}]
    assert meta(run)["config"]["lr"] == 0.001 and meta(run)["epoch"] == 2


class _Loader:
    """A loader of 34 batches an epoch, ``position`` of them done."""
    def __init__(self, position):
        self.position = position

    def __len__(self):
        return 34


def test_a_resumed_run_says_where_it_goes_on():
    """A resume without changed settings printed its plan as a new run's, with no word of the checkpoint it went on
    from; with changes it said 'resuming at update 78 (epoch 2)': epochs done, read as the epoch it is in."""
    from types import SimpleNamespace
    def trainer(position):
        return SimpleNamespace(updates=78, total_updates=102, epoch=2, config={"epochs": 3}, loader=_Loader(position))
    assert training.resuming_at(trainer(10)) == "resuming at update 78 of 102: epoch 3/3 from batch 11 of 34"
    assert training.resuming_at(trainer(0)) == "resuming at update 78 of 102: epoch 3/3 from its start"


def test_resume_refuses_settings_that_define_the_run_by_name(run, capsys):
    before = open(os.path.join(run, "checkpoint.npz"), "rb").read()
    assert training.main(["--resume", run, "--positions", "block1", "--batch", "8"]) == 2
    line = one_error_line(capsys)
    assert "resuming would change settings that define the run: batch 4 -> 8, positions None -> ['block1']" in line
    saved = json.load(open(os.path.join(run, "config.json")))
    saved["skip"] = "linear"  # an edited config.json
    json.dump(saved, open(os.path.join(run, "config.json"), "w"))
    assert training.main(["--resume", run]) == 2
    assert "skip 'identity' -> 'linear'" in one_error_line(capsys)
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == before


@pytest.mark.parametrize("flags, says", [
    (["--lr", "-1"], "error: --lr -1.0: must be a finite number above 0.0"),
    (["--log-every", "0"], "error: --log-every 0: must be an integer of at least 1"),
    (["--crop", "30"], "error: --crop 30 is larger than --resize 24, the short side of the resized frames: a crop "
                       "must fit in them; use a crop of at most the resize"),
])
def test_resume_checks_the_values_given_as_a_new_run_does_before_writing_anything(run, flags, says, capsys):
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("config.json", "checkpoint.npz")}
    assert training.main(["--resume", run, "--epochs", "2", *flags]) == 2
    assert one_error_line(capsys) == says
    for name, data in before.items():  # so that a later plain --resume goes on as before
        assert open(os.path.join(run, name), "rb").read() == data, name


@pytest.mark.parametrize("damage", [os.remove, lambda path: open(path, "wb").write(b"PK\x03\x04 half a zip")],
                         ids=["missing", "unreadable"])
def test_a_lost_best_npz_is_replaced_on_resume_by_the_checkpoint_of_an_epoch_end(run, damage, capsys):
    best = os.path.join(run, "best.npz")
    damage(best)
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"warning: {best}: [^\n]+; it held the selected epoch 1: the epoch is selected again among "
                     r"epoch 1 \(checkpoint.npz, written to best.npz again\) and the epochs trained from now on", err)
    selected = meta(run, "best.npz")["best_epoch"]
    assert json.load(open(os.path.join(run, "eval", "metrics.json")))["epoch"] == selected


def test_a_lost_best_npz_is_selected_again_when_resuming_mid_epoch(run, sigint_at_batch, capsys):
    disarm = sigint_at_batch(1)
    assert training.main(["--resume", run, "--epochs", "2"]) == 130  # stopped in epoch 2, epoch 1 selected
    disarm()
    os.remove(os.path.join(run, "best.npz"))
    capsys.readouterr()
    assert training.main(["--resume", run]) == 0
    assert "it held the selected epoch 1: the epoch is selected again among the epochs trained from now on" in \
        capsys.readouterr().err
    assert meta(run, "best.npz")["best_epoch"] == 2
    assert json.load(open(os.path.join(run, "eval", "metrics.json")))["epoch"] == 2


def test_resume_refuses_fewer_epochs_than_are_done(run, capsys):
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("config.json", "checkpoint.npz")}
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "1"]) == 2
    assert one_error_line(capsys) == (f"error: {run}/checkpoint.npz: 2 epochs are done already, more than --epochs 1; "
                                      "resume with --epochs 2 or more")
    for name, data in before.items():
        assert open(os.path.join(run, name), "rb").read() == data, name


def test_resume_refuses_a_max_steps_below_the_updates_done(run, capsys):
    done = meta(run)["updates"]
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("config.json", "checkpoint.npz")}
    capsys.readouterr()
    assert training.main(["--resume", run, "--max-steps", str(done - 1)]) == 2
    assert one_error_line(capsys) == (f"error: {run}/checkpoint.npz: {done} updates are done already, more than "
                                      f"--max-steps {done - 1}; resume with --max-steps {done} or more")
    for name, data in before.items():
        assert open(os.path.join(run, name), "rb").read() == data, name


def test_a_stale_best_npz_not_written_again_is_moved_aside_and_the_report_says_its_epochs_were_lost(
        run, sigint_at_batch, capsys):
    """best.npz of an epoch the checkpoint never saw (a run stopped between writing it and checkpoint.npz),
    found when resuming in mid-epoch: a run that then ends before the epoch does must not take it for its
    weights (evaluate RUN, predict) nor say that no epoch was validated."""
    disarm = sigint_at_batch(1)
    assert training.main(["--resume", run, "--epochs", "3"]) == 130  # stopped in epoch 2, epoch 1 selected
    disarm()
    best = os.path.join(run, "best.npz")
    shutil.copy(os.path.join(run, "checkpoint.npz"), best)  # other weights than the selected epoch's
    capsys.readouterr()
    assert training.main(["--resume", run, "--max-steps", str(meta(run)["updates"] + 1)]) == 0
    assert f"it is moved aside to {best}.stale" in capsys.readouterr().err
    assert not os.path.exists(best) and os.path.isfile(best + ".stale")
    assert builders.checkpoint_file(run) == os.path.join(run, "checkpoint.npz")
    report = json.load(open(os.path.join(run, "eval", "metrics.json")))
    assert report["selected_by"].startswith("the last weights (the weights of the validated epochs 1 were lost")


def test_evaluate_keeps_the_protocol_of_a_report_written_before_weights_digests(run, capsys):
    """A report of an older tinyrrn names no digest: it is matched to the checkpoint by its epoch."""
    path = os.path.join(run, "eval", "metrics.json")
    old = {key: value for key, value in json.load(open(path)).items()
           if key not in ("weights_digest", "updates", "checkpoint", "test_videos")}
    files.write_json(path, old)
    assert evaluation.main([run, "--workers", "0"]) == 0
    report = json.load(open(path))
    assert {key: report.get(key) for key in evaluation.PROTOCOL} == {key: old.get(key) for key in evaluation.PROTOCOL}
    files.write_json(path, {**old, "epoch": old["epoch"] + 1})  # an older report of other weights
    assert evaluation.main([run, "--workers", "0"]) == 0
    assert "selected_by" not in json.load(open(path))

# the config.json of a run of python -m tinyrrn.baseline (baseline.run)
BASELINE_RUN_SETTINGS = {"features": "/features", "layer": "avgpool", "model": "avgpool", "znorm": False, "epochs": 3,
                         "lr": 0.01, "batch": 64, "seed": 0, "hidden": 512, "val_groups": 3, "held_out_groups": [2]}


@pytest.mark.parametrize("edit, says", [
    (lambda saved: [], "expected a JSON object of a run's settings, got []"),
    (lambda saved: None, "expected a JSON object of a run's settings, got null"),
    (lambda saved: {}, "not the settings of a run of this version of python -m tinyrrn.train (38 missing: data, "
                       "list_dir, split, arch, weights, ...)"),
    (lambda saved: {"changes": 5}, "expected 'changes' to be a list of the changes made on resuming, got 5"),
    (lambda saved: {**saved, "changes": 5}, "expected 'changes' to be a list of the changes made on resuming, got 5"),
    (lambda saved: {**saved, "epochs": "3"}, "epochs = '3': expected an integer (as --epochs takes)"),
    (lambda saved: {**saved, "lr": -1}, "lr = -1: must be a finite number above 0.0"),  # stored by an older tinyrrn
    (lambda saved: BASELINE_RUN_SETTINGS, "not the settings of a run of this version of python -m "
                                            "tinyrrn.train (34 missing: "),
], ids=["list", "null", "empty", "only changes", "changes", "wrong type", "out of range", "baseline run"])
def test_a_malformed_config_json_on_resume_is_one_line_naming_it(run, edit, says, capsys):
    path = os.path.join(run, "config.json")
    json.dump(edit(json.load(open(path))), open(path, "w"))
    assert training.main(["--resume", run]) == 2
    assert one_error_line(capsys).startswith(f"error: {path}: {says}")


def test_the_settings_an_older_run_lacks_are_not_refused_on_resume(run):
    saved = json.load(open(os.path.join(run, "config.json")))
    older = {k: v for k, v in saved.items() if k not in ("val_groups", "weights_layout", "changes", "run")}
    configuration.check_run_settings("config.json", older)  # builders reads both with their older meaning
    with pytest.raises(cli.UsageError, match="1 missing: lr"):
        configuration.check_run_settings("config.json", {k: v for k, v in older.items() if k != "lr"})


def test_a_run_of_a_newer_version_with_a_setting_this_one_lacks_is_refused_not_resumed_without_it(run, tiny_data,
                                                                                                    capsys):
    """A setting in both config.json and the checkpoint that this version does not know (a newer tinyrrn's, say
    label smoothing) was ignored: the run resumed, and was evaluated, as another model than the one it is."""
    path = os.path.join(run, "checkpoint.npz")
    arrays, saved = checkpoint.load(path)
    checkpoint.save(path, arrays, {**saved, "config": {**saved["config"], "label_smoothing": 0.1}})
    settings = json.load(open(os.path.join(run, "config.json")))
    files.write_json(os.path.join(run, "config.json"), {**settings, "label_smoothing": 0.1})
    before = folder_bytes(run)
    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    for command, named in ((lambda: training.main(["--resume", run, "--epochs", "2"]), "config.json"),
                           (lambda: evaluation.main([path, "--out", os.path.join(run, "eval-x")]), "checkpoint.npz"),
                           (lambda: prediction.main([video, "--checkpoint", path]), "checkpoint.npz")):
        capsys.readouterr()
        assert command() == 2
        line = one_error_line(capsys)
        assert line.startswith(f"error: {run}/{named}: ") and "label_smoothing" in line and "newer" in line, line
    assert folder_bytes(run) == before


def test_every_setting_is_classified_and_an_unclassified_one_is_refused():
    both = set(configuration.DEFINES_RUN) & set(configuration.MAY_CHANGE)
    assert not both and set(configuration.DEFINES_RUN) | set(configuration.MAY_CHANGE) == set(configuration.DEFAULTS)
    assert set(configuration.BOOKKEEPING) <= set(configuration.MAY_CHANGE)
    refused, applied = configuration.resume_changes({"lr": 1, "new_knob": 1}, {"lr": 2, "new_knob": 2})
    assert refused == {"new_knob": (1, 2)} and applied == {"lr": (1, 2)}
    assert "(not classified)" in configuration.describe_changes(refused)


def test_reproduce_reruns_a_row_only_when_its_settings_changed_and_refuses_to_mix(tiny_data, tmp_path, monkeypatch,
                                                                                  capsys):
    out = tmp_path / "grid"
    opts = reproduce.options_from(["--data", tiny_data, "--out", str(out), "--tables", "3", "--epochs", "1"])
    grid = reproduce.Grid(opts)
    row = next(r for r in reproduce.rows([3]) if r["key"] == "table3-linear")
    trained = []

    def fake_train(config, directory, resume=False, **how_to_go_on):
        trained.append((config["skip"], config["epochs"], resume))
        rundir.write_config(directory, config)
        os.makedirs(os.path.join(directory, "eval"), exist_ok=True)
        json.dump({"video_error": 0.5, "selected_by": "the last epoch"},
                  open(os.path.join(directory, "eval", "metrics.json"), "w"))
        return {"video_error": 0.5}, directory
    monkeypatch.setattr(reproduce, "train", fake_train)
    grid.train_row(row, 1)
    assert trained == [("linear", 1, False)]
    grid.train_row(row, 1)  # same settings: finished, skipped
    assert len(trained) == 1 and "finished" in capsys.readouterr().out
    later = reproduce.Grid(reproduce.options_from(["--data", tiny_data, "--out", str(out), "--tables", "3",
                                                   "--epochs", "2"]))
    with pytest.raises(cli.UsageError, match=r"1 finished row\(s\) were trained with other settings than asked now: "
                                              r"split 1 table3-linear \(epochs 1 -> 2\); REPORT.md states one "
                                              r"protocol .* Give another --out"):
        later.check_finished_rows()  # a setting that may change: the report would state it for the row kept
    assert len(trained) == 1
    other = reproduce.Grid(reproduce.options_from(["--data", tiny_data, "--out", str(out), "--tables", "3",
                                                   "--epochs", "1", "--seed", "5"]))
    other.train_row(row, 1)  # a setting that defines the run: moved aside, trained afresh
    assert trained[-1] == ("linear", 1, False) and "seed 0 -> 5" in capsys.readouterr().out
    assert [p.name for p in (out / "split1").iterdir() if ".replaced-" in p.name]


def test_a_run_resumed_with_more_epochs_and_stopped_is_no_finished_row_though_its_old_report_stays(run,
                                                                                                  sigint_at_batch):
    """A finished row (1 epoch) resumed with --epochs 2 and stopped in epoch 2 kept the report of epoch 1 in eval/,
    and its config.json said epochs 2: a grid with --epochs 2 took the row as finished and reported the 1-epoch
    model. The report's settings are compared with config.json's."""
    assert reproduce.finished_result(run)["epochs"] == 1
    sigint_at_batch(2)
    assert training.main(["--resume", run, "--epochs", "2"]) == 130
    assert os.path.isfile(os.path.join(run, "eval", "metrics.json"))  # the old report, of epoch 1
    assert reproduce.finished_result(run) is None
    assert training.main(["--resume", run, "--threads", "1"]) == 0  # epoch 2 finished, then the settings say so
    assert reproduce.finished_result(run)["epochs"] == 2


# -- 4. one process per run directory ------------------------------------------------------------
def test_a_second_process_cannot_resume_a_run_in_use(run):
    with rundir.RunLock(run):
        second = cli_run("tinyrrn.train", "--resume", run, "--epochs", "2")
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"error: {run}: in use by process {os.getpid()} on host" in second.stderr
    assert meta(run)["epoch"] == 1  # nothing trained


def test_two_new_runs_started_in_the_same_second_get_a_folder_each(tmp_path, monkeypatch):
    class SameSecond(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 30, 16, 45, 49)
    monkeypatch.setattr(rundir.datetime, "datetime", SameSecond)
    config = {"out": str(tmp_path / "runs"), "name": "same"}
    first, second = rundir.new_run_dir(config), rundir.new_run_dir(config)  # the second while the first starts
    assert [os.path.basename(path) for path, _ in (first, second)] == ["20261130-164549-same",
                                                                      "20261130-164549-same-2"]
    assert all(os.path.isdir(path) for path, _ in (first, second))
    assert first[1] == str(tmp_path / "runs") and second[1] == second[0]  # what each made, for remove_unfinished


def test_a_stale_lock_is_taken_over_with_a_warning(run, capsys):
    with open(os.path.join(run, "lock"), "w") as f:
        f.write("process 999999 on host elsewhere\n")  # its process died without removing it
    assert training.main(["--resume", run]) == 0
    assert "taking over the lock of process 999999 on host elsewhere" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(run, "lock"))


def test_a_run_directory_deleted_mid_run_reports_the_real_error_not_its_lock(run, monkeypatch, capsys):
    cross_entropy = training.F.cross_entropy

    def deleting(*args):
        shutil.rmtree(run, ignore_errors=True)
        return cross_entropy(*args)
    monkeypatch.setattr(training.F, "cross_entropy", deleting)
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    assert one_error_line(capsys) == f"error: {run}/metrics.jsonl: No such file or directory"
    lock = rundir.RunLock(run)
    lock.acquire()
    shutil.rmtree(run)
    lock.release()  # the lock file went with its folder: nothing to remove


# -- 5. the frame cache is keyed by the video file, not its name ---------------------------------------
def test_two_datasets_with_the_same_names_never_share_cached_frames(tmp_path):
    cache = tmp_path / "cache"
    roots = [synthetic.generate(str(tmp_path / name), seed=seed, classes=2, groups=3, size=(32, 24), frames=(21, 21))
             for name, seed in (("a", 1), ("b", 2))]
    first, second = (UCF101(root, resize=24, crop=16, cache_dir=cache) for root in roots)
    assert first.videos == second.videos  # the same names
    a, b = numpy.array(first.frames(0)), numpy.array(second.frames(0))
    assert not numpy.array_equal(a, b)
    numpy.testing.assert_array_equal(b, numpy.array(UCF101(roots[1], resize=24, crop=16).frames(0)))


def test_a_full_frame_cache_disk_is_warned_about_once_and_training_goes_on(tiny_data, tmp_path, monkeypatch, capsys):
    @contextlib.contextmanager
    def full_disk(path, mode):
        raise OSError(errno.ENOSPC, "No space left on device", path)
        yield
    monkeypatch.setattr(frame_cache, "atomic_write", full_disk)
    assert training.main(tiny_args(tiny_data, tmp_path, "--name", "full")) == 0
    err = capsys.readouterr().err
    folder = tmp_path / "cache" / "every10_short24"
    assert err.count("cannot write frame cache entries") == 1  # once for the training, validation and test videos
    assert (f"warning: {folder}: cannot write frame cache entries (No space left on device); going on without "
            "caching") in err
    assert not list(folder.rglob("*.npy")) and os.path.isfile(os.path.join(run_dir_of(tmp_path, "full"), "eval",
                                                                           "metrics.json"))


@pytest.mark.parametrize("free, says", [(0, "No space left on device (73728 requested and 16256 written)"),
                                        (9, "73728 requested and 16256 written")])
def test_a_short_write_says_whether_the_disk_is_full(tmp_path, monkeypatch, free, says):
    def short(*args, **kwargs):
        raise OSError("73728 requested and 16256 written")  # NumPy's tofile on a full disk: no errno
    monkeypatch.setattr(numpy.lib.format, "write_array", short)
    monkeypatch.setattr(files.os, "statvfs", lambda path: types.SimpleNamespace(f_bavail=free))
    path = tmp_path / "frames.npy"
    with pytest.raises(OSError) as raised:
        with files.atomic_write(path, "wb") as file:
            numpy.save(file, numpy.zeros(3))
    assert (raised.value.filename, raised.value.strerror) == (str(path), says)
    assert os.listdir(tmp_path) == []


def test_a_file_written_over_a_folder_is_named_not_its_temporary_file(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        files.write_text(target, "text")
    assert raised.value.filename == str(target)
    assert os.listdir(tmp_path) == ["out"] and os.listdir(target) == []


# -- 6. paths stay inside their roots -------------------------------------------------------------
def copy_dataset(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def test_a_split_list_that_is_a_pipe_is_refused_not_read_forever(tiny_data, tmp_path):
    """classInd.txt as a named pipe (or a link to /dev/zero) was read forever: the command never ended."""
    root = copy_dataset(tiny_data, tmp_path)
    classes = root / "ucfTrainTestlist" / "classInd.txt"
    classes.unlink()
    os.mkfifo(classes)
    done = cli_run("tinyrrn.data.check", str(root), timeout=30)
    assert done.returncode != 0 and done.stderr == (f"error: {classes}: not a regular file (a device, pipe or "
                                                    "socket), so it is not read\n"), done.stderr


def test_a_split_entry_with_dotdot_is_refused_with_its_line(tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    trainlist = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = trainlist.read_bytes().count(b"\n")
    with open(trainlist, "ab") as f:
        f.write(b"Grow/../../../../elsewhere/v_Grow_g09_c01.avi 1\r\n")
    with pytest.raises(ValueError, match=rf"trainlist01.txt:{lines + 1}: 'Grow/../../../../elsewhere/.*' leaves the "
                                         "dataset folder"):
        UCF101(root, resize=24, crop=16)
    assert data_check.main([str(root)]) == 1
    assert "leaves the dataset folder" in one_error_line(capsys)


def test_evaluate_never_writes_into_a_cache_dir_named_by_a_checkpoint(finished, tmp_path, capsys):
    arrays, saved = checkpoint.load(os.path.join(finished, "best.npz"))
    evil = tmp_path / "elsewhere"
    saved["config"]["cache_dir"] = str(evil)
    path = tmp_path / "crafted.npz"
    checkpoint.save(path, arrays, saved)
    assert evaluation.main([str(path), "--workers", "0", "--cache-dir", str(tmp_path / "mine"),
                                   "--out", str(tmp_path / "eval")]) == 0
    assert not evil.exists() and (tmp_path / "mine").exists()


# -- 7. one corrupt header does not skew the run ------------------------------------------------------
def test_an_avi_header_claiming_2_million_frames_is_checked(tiny_data, tmp_path):
    root = copy_dataset(tiny_data, tmp_path)
    video = root / "Grow" / "v_Grow_g02_c01.avi"
    truth = UCF101(tiny_data, resize=24, crop=16)
    data = bytearray(video.read_bytes())
    struct.pack_into("<I", data, 48, 2_000_000)  # the main header's total-frames field
    video.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"header claims 2000000 frames, more than its \d+ bytes can hold; using .*"):
        patched = UCF101(root, resize=24, crop=16)
    assert list(patched.frame_counts) == list(truth.frame_counts) and len(patched) == len(truth)
    assert training.update_size("1%", len(patched)) == training.update_size("1%", len(truth))


@pytest.mark.filterwarnings("ignore:skipping bad video")
def test_a_video_found_truncated_leaves_the_plan_at_the_next_epoch(tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    video = root / "Grow" / "v_Grow_g02_c01.avi"
    video.write_bytes(video.read_bytes()[:video.stat().st_size // 3])  # the header still promises every frame
    config, _ = configuration.resolve(tiny_args(str(root), tmp_path, "--epochs", "2", "--update-every", "50%",
                                                "--val-groups", "0"))  # g02 trains
    trainer = training.Trainer(config, str(tmp_path / "run"))
    chunks, size = len(trainer.train_set), trainer.update_size
    trainer.run()
    assert "1 video(s) found bad" in capsys.readouterr().out
    saved = meta(str(tmp_path / "run"))
    assert str(video) in saved["dropped"] and saved["loader"]["chunks"] == len(trainer.train_set) < chunks
    assert trainer.update_size < size



@pytest.mark.filterwarnings("ignore:skipping bad video")
@pytest.mark.parametrize("change", ["a line removed", "a bad video's line removed", "two lines swapped"])
def test_a_resumed_run_whose_training_list_changed_names_the_list_not_the_checkpoint(tiny_data, tmp_path, change,
                                                                                     capsys):
    """A split list changed since the run started (a user took out the video found bad) was refused as a damaged
    checkpoint: "its metadata's 'loader' ...; put back a whole copy of the file", which no copy of it fixes."""
    root = copy_dataset(tiny_data, tmp_path)
    bad = root / "Grow" / "v_Grow_g02_c01.avi"
    bad.write_bytes(bad.read_bytes()[:bad.stat().st_size // 3])  # found bad while training (its header is whole)
    assert training.main(tiny_args(str(root), tmp_path, "--name", "r", "--val-groups", "0")) == 0
    run_dir = run_dir_of(tmp_path, "r")
    listed = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = listed.read_text().splitlines()
    if change == "two lines swapped":
        lines[0], lines[1] = lines[1], lines[0]
    else:
        gone = "v_Grow_g02_c01" if change == "a bad video's line removed" else "v_Shrink_g03_c02"
        lines = [line for line in lines if gone not in line]
    listed.write_text("\n".join(lines) + "\n")
    before = open(os.path.join(run_dir, "checkpoint.npz"), "rb").read()
    capsys.readouterr()
    assert training.main(["--resume", run_dir, "--epochs", "2"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {listed}: ") and "changed since the run started" in line, line
    assert "copy of the file" not in line and "metadata" not in line, line
    assert open(os.path.join(run_dir, "checkpoint.npz"), "rb").read() == before


@pytest.fixture(scope="module")
def own_data(tiny_data, tmp_path_factory):
    """(a copy of the tiny dataset, a finished run on it): a test may change the data if it puts it back."""
    root = copy_dataset(tiny_data, tmp_path_factory.mktemp("own"))
    out = tmp_path_factory.mktemp("own-runs")
    assert training.main(tiny_args(str(root), out, "--name", "r")) == 0  # g01 tests, g02 validates
    return root, run_dir_of(out, "r")


@contextlib.contextmanager
def put_back(path):
    """The file ``path`` as it is now (content and times) once the block ends."""
    kept = f"{path}.kept"
    shutil.copy2(path, kept)
    try:
        yield path
    finally:
        os.replace(kept, path)


def refused_resume(own_data, tmp_path, capsys):
    """The error line of resuming a copy of ``own_data``'s run, whose files stay as they were."""
    run_dir = str(tmp_path / "run")
    shutil.copytree(own_data[1], run_dir)
    before = folder_bytes(run_dir)
    capsys.readouterr()
    assert training.main(["--resume", run_dir, "--epochs", "2"]) == 2
    assert folder_bytes(run_dir) == before
    return one_error_line(capsys)


@pytest.mark.parametrize("video", ["MoveLeft/v_MoveLeft_g04_c02.avi", "MoveLeft/v_MoveLeft_g02_c02.avi",
                                   "MoveLeft/v_MoveLeft_g01_c01.avi"], ids=["training", "validation", "test"])
def test_a_video_replaced_by_another_of_as_many_frames_is_named_on_resume(own_data, tmp_path, video, capsys):
    """A video replaced since the run started by another of the same frame count (here of the same size too: the
    other member of its pair) resumed silently, training, selecting or testing on other frames than the run's."""
    with put_back(own_data[0] / video) as replaced:
        shutil.copyfile(str(replaced).replace("MoveLeft", "MoveRight"), replaced)
        line = refused_resume(own_data, tmp_path, capsys)
    assert line.startswith(f"error: {replaced}: changed since the run started") and "nothing was changed" in line


def test_a_video_replaced_by_another_of_the_same_size_and_mtime_is_named_on_resume(own_data, tmp_path, capsys):
    """A video replaced by another of the same size and the same modification time (cp -p of a file made in the same
    instant, an archive extracted again with other content) resumed silently: only size and mtime were compared."""
    video = own_data[0] / "MoveLeft" / "v_MoveLeft_g04_c02.avi"
    with put_back(video) as replaced:
        times = replaced.stat()
        shutil.copyfile(str(replaced).replace("MoveLeft", "MoveRight"), replaced)
        os.utime(replaced, ns=(times.st_atime_ns, times.st_mtime_ns))
        line = refused_resume(own_data, tmp_path, capsys)
    assert line.startswith(f"error: {replaced}: changed since the run started") and "nothing was changed" in line


def test_videos_given_other_permissions_resume_as_before(own_data, tmp_path):
    """A chmod changes a video's change time, which no one can set back, and nothing of its content: the resume check
    takes its size and mtime only, so the run resumes (the frame cache's key, which takes the ctime too, decodes it
    again, which costs nothing wrong)."""
    video = own_data[0] / "MoveLeft" / "v_MoveLeft_g04_c02.avi"
    mode = video.stat().st_mode
    run_dir = str(tmp_path / "run")
    shutil.copytree(own_data[1], run_dir)
    try:
        video.chmod(mode & 0o700)
        assert training.main(["--resume", run_dir, "--epochs", "2"]) == 0
    finally:
        video.chmod(mode)


@pytest.mark.parametrize("listed", ["testlist01.txt", "trainlist01.txt"])
def test_a_resumed_run_whose_test_or_validation_videos_are_listed_otherwise_names_the_list(own_data, tmp_path, listed,
                                                                                           capsys):
    """A test list, or the validation groups' lines of the training list, changed since the run started: the run went
    on, its epochs validated (or its test report) on other videos than before."""
    with put_back(own_data[0] / "ucfTrainTestlist" / listed) as path:
        path.write_text("".join(line for line in path.read_text().splitlines(True)
                                if "v_Grow_g01_c01" not in line and "v_Grow_g02_c01" not in line))  # test, validation
        line = refused_resume(own_data, tmp_path, capsys)
    assert line.startswith(f"error: {path}: changed since the run started") and "nothing was changed" in line


# -- 8. empty and duplicated lists, other classes -----------------------------------------------------
def test_an_empty_testlist_and_a_duplicated_line_are_refused(tiny_data, tmp_path):
    root = copy_dataset(tiny_data, tmp_path)
    lists = root / "ucfTrainTestlist"
    first = (lists / "trainlist01.txt").read_bytes().split(b"\r\n")[0]
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(first + b"\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:\d+: .* is listed twice \(first on line 1\)"):
        UCF101(root, resize=24, crop=16)
    (lists / "trainlist01.txt").write_bytes(first + b"\r\n")
    (lists / "testlist01.txt").write_bytes(b"\r\n")
    with pytest.raises(ValueError, match=r"testlist01.txt: lists no videos"):
        UCF101(root, train=False, resize=24, crop=16)


def test_evaluate_refuses_data_whose_classes_differ_from_the_checkpoint(finished, tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    classind = root / "ucfTrainTestlist" / "classInd.txt"
    names = [line.split()[1] for line in classind.read_text().splitlines()]
    names[0], names[1] = names[1], names[0]  # a reordered classInd.txt
    classind.write_bytes("".join(f"{i} {n}\r\n" for i, n in enumerate(names, 1)).encode())
    lists = root / "ucfTrainTestlist" / "trainlist01.txt"  # its labels follow classInd.txt
    lists.write_bytes(b"".join(f"{line.split()[0]} {names.index(line.split('/')[0]) + 1}\r\n".encode()
                               for line in lists.read_text().splitlines()))
    capsys.readouterr()
    assert evaluation.main([finished, "--data", str(root), "--workers", "0"]) == 2
    line = one_error_line(capsys)
    assert "classInd.txt: classes differ from the model's (4 vs 4); first difference at label 1" in line


def test_evaluate_never_mixes_up_reports(finished, tiny_data, tmp_path, capsys):
    """Two datasets of one name do not share eval-NAME; a file is no report folder; a training report of
    another epoch lends the new figures none of its fields."""
    for name in ("a", "b"):
        shutil.copytree(tiny_data, tmp_path / name / "data")
    run = str(tmp_path / "run")
    shutil.copytree(finished, run)
    assert evaluation.main([run, "--data", str(tmp_path / "a" / "data"), "--workers", "0"]) == 0
    capsys.readouterr()
    assert evaluation.main([run, "--data", str(tmp_path / "b" / "data"), "--workers", "0"]) == 2
    assert "holds the report of other test videos" in one_error_line(capsys)
    assert evaluation.main([run, "--out", os.path.join(run, "config.json"), "--workers", "0"]) == 2
    assert "config.json: is a file, not a folder for the report" in one_error_line(capsys)
    report = os.path.join(run, "eval-last", "metrics.json")
    written = json.load(open(report))
    json.dump({**written, "epoch": 99, "selected_by": "stale", "weights_digest": "0" * 16},  # as if of older weights
              open(report, "w"))
    assert evaluation.main([os.path.join(run, "checkpoint.npz"), "--workers", "0"]) == 0
    rewritten = json.load(open(report))
    assert "selected_by" not in rewritten and rewritten.get("epoch") != 99


def test_evaluate_of_a_run_reproduces_its_training_report_bit_for_bit(finished, tmp_path):
    """Without --batch, a run is evaluated in batches of its training --batch, as training evaluated it: a
    chunk's probabilities depend on the batch's size in their last bits (with 16 they differed)."""
    out = str(tmp_path / "again")
    assert evaluation.main([finished, "--out", out, "--workers", "0"]) == 0
    for name in ("predictions.csv", "per_class.csv", "confusion.csv"):
        assert open(os.path.join(out, name)).read() == open(os.path.join(finished, "eval", name)).read(), name
    again, trained = (json.load(open(os.path.join(folder, "metrics.json"))) for folder in (out, os.path.join(finished, "eval")))
    assert {k: again[k] for k in ("video_error", "top1", "top5", "clip_accuracy", "weights_digest")} == \
        {k: trained[k] for k in ("video_error", "top1", "top5", "clip_accuracy", "weights_digest")}


def test_predict_names_its_checkpoint_and_digest_and_agrees_with_the_runs_predictions(finished, tiny_data, capsys):
    """Of a run directory, predict says which checkpoint it read (best.npz) and its weights' digest, that of the
    run's report; on each test video its class is the one of the report's predictions.csv."""
    report = json.load(open(os.path.join(finished, "eval", "metrics.json")))
    with open(os.path.join(finished, "eval", "predictions.csv"), newline="") as rows:
        for row in list(csv.DictReader(rows))[:2]:
            assert prediction.main([os.path.join(tiny_data, row["video"]), "--checkpoint", finished, "--top", "1"]) == 0
            header, top = capsys.readouterr().out.splitlines()
            assert header.endswith(f"checkpoint {os.path.join(finished, 'best.npz')} "
                                   f"(weights digest {report['weights_digest']})"), header
            assert top.split()[1] == row["predicted_class"]


@pytest.mark.parametrize("change, says", [
    (lambda arrays, saved: ({**arrays, "model/backbone.fc.bias": arrays["model/backbone.fc.bias"] + 1}, saved),
     r"its model's weights \(digest \w+\) are not those it was written with \(digest \w+\)"),
    (lambda arrays, saved: (arrays, {**saved, "classes": [saved["classes"][0]] * len(saved["classes"])}),
     r"its metadata's 'classes' names '\w+' twice")], ids=["weights changed", "a class named twice"])
def test_a_checkpoint_changed_since_it_was_written_is_refused_not_used(finished, tiny_data, tmp_path, change, says,
                                                                       capsys):
    """Its weights no longer those its digest records, or a class named twice: predict answered with them."""
    path = str(tmp_path / "changed.npz")
    checkpoint.save(path, *change(*checkpoint.load(os.path.join(finished, "best.npz"))))
    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    assert prediction.main([video, "--checkpoint", path]) == 1
    assert re.fullmatch(rf"error: {re.escape(path)}: {says}.*", one_error_line(capsys))


# -- 9. weights: check everything, then assign ----------------------------------------------------------
def test_an_unexpected_key_leaves_the_backbone_unchanged(tmp_path):
    state = resnet_small(num_classes=4).state_dict()
    state["extra.weight"] = numpy.zeros(3, numpy.float32)
    save_npz(state, tmp_path / "w.npz")
    backbone = resnet_small(num_classes=4)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(ValueError, match="tensors the backbone does not have \\(1\\): extra.weight"):
        builders.load_backbone_weights(backbone, str(tmp_path / "w.npz"))
    for key, value in backbone.state_dict().items():
        numpy.testing.assert_array_equal(host(value), host(before[key]), err_msg=key)


def test_training_starts_from_the_backbone_of_a_tinyrrn_checkpoint(finished):
    arrays, meta = checkpoint.load(os.path.join(finished, "best.npz"))
    config = {**meta["config"], "weights": finished}  # a run directory: its best.npz
    backbone = builders.build_model(config, len(meta["classes"])).backbone.state_dict()
    for name, value in checkpoint.prefixed(arrays, "model").items():
        if name.startswith("backbone."):
            numpy.testing.assert_array_equal(host(backbone[name[len("backbone."):]]), value, err_msg=name)
    with pytest.raises(cli.UsageError, match=r"best.npz: a tinyrrn checkpoint of resnet_small \(torchvision layout\), "
                                             r"not of resnet18 \(torchvision layout\): start from its backbone with "
                                             r"--arch resnet_small --weights-layout torchvision$"):
        builders.build_model({**config, "arch": "resnet18"}, len(meta["classes"]))


def test_a_checkpoint_as_weights_is_refused_for_frames_normalised_otherwise_than_it_was_trained_on(finished, tiny_data,
                                                                                                  tmp_path, capsys):
    """train --weights RUN --normalize caffe started from a backbone trained on torchvision's frames, in silence
    (features refuses it): the first features were wrong and the run never said so."""
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--weights", finished, "--normalize", "caffe")) == 2
    assert one_error_line(capsys).endswith("best.npz: a tinyrrn checkpoint trained on frames of --normalize "
                                           "torchvision, not caffe: start from its backbone with --normalize torchvision")
    assert not (tmp_path / "runs").exists()  # no run folder


@pytest.mark.parametrize("name, data", [("config.json", b"{}\n"), ("video.avi", b"RIFF\0\0\0\0AVI LIST")])
def test_a_file_that_is_no_npz_archive_is_refused_as_a_checkpoint_saying_what_is_expected(tmp_path, name, data, capsys):
    path = tmp_path / name
    path.write_bytes(data)
    for main, args in ((prediction.main, [str(tmp_path / "video.avi"), "--checkpoint", str(path)]),
                       (evaluation.main, [str(path)])):
        assert main(args) == cli.EXIT_USAGE  # the path given names no checkpoint, as train --resume/--weights says
        assert one_error_line(capsys) == (f"error: {path}: not a tinyrrn checkpoint (not a .npz archive); expected "
                                          "a run directory or its best.npz or checkpoint.npz")


def test_a_file_of_weights_alone_given_as_a_checkpoint_says_where_weights_go(tmp_path, capsys):
    """It said only 'no __meta__ entry', a name the user never met."""
    path = tmp_path / "resnet_small.npz"
    save_npz(resnet_small(num_classes=4), path)
    assert prediction.main([str(tmp_path / "video.avi"), "--checkpoint", str(path)]) == cli.EXIT_USAGE
    assert one_error_line(capsys) == (f"error: {path}: not a tinyrrn checkpoint (no __meta__ entry): a file of weights "
                                      "alone? a checkpoint is a run's best.npz or checkpoint.npz; weights start a run "
                                      "with python -m tinyrrn.train --weights FILE")


def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    state = resnet_small(num_classes=4).state_dict()
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"].clone()
    state["layer1.0.conv1.weight"][0, 0, 1, 0] = numpy.nan
    save_npz(state, tmp_path / "nan.npz")
    for load in (builders.load_backbone_weights, load_npz):
        with pytest.raises(WeightsError, match=r"nan.npz: layer1.0.conv1.weight holds 1 NaN or infinite value"):
            load(resnet_small(num_classes=4), str(tmp_path / "nan.npz"))


def test_a_pipe_or_device_in_a_run_folder_is_refused_never_read_forever(run):
    """A config.json, log, lock or report that is a named pipe (or a link to /dev/zero, read until memory ran out)
    was opened by the look at what a folder holds, or written or read: the command never ended. Each is one error
    line naming the file, and the checkpoint is kept."""
    def pipe(name):
        path = os.path.join(run, name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.mkfifo(path)
        return path

    before = open(os.path.join(run, "checkpoint.npz"), "rb").read()
    for name, command in (("metrics.jsonl", ["tinyrrn.train", "--resume", run, "--epochs", "2"]),
                          ("lock", ["tinyrrn.evaluate", run, "--workers", "0"]),
                          ("config.json", ["tinyrrn.train", "--resume", run, "--epochs", "2"])):
        path = pipe(name)
        done = cli_run(*command, timeout=30)
        assert done.returncode != 0 and re.search(rf"^error: {re.escape(path)}: not a (regular )?file", done.stderr,
                                                  re.M), done.stderr
        assert len([line for line in done.stderr.splitlines() if line.startswith("error: ")]) == 1, done.stderr
        if name != "config.json":
            os.remove(path)
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == before


def test_a_lock_file_that_is_a_link_is_refused_and_what_it_links_to_is_kept(run, tmp_path, capsys):
    """RUN/lock as a link to another file: the lock was taken through it, the file's content truncated and replaced by
    "process N on host H", and the file then unlinked from the run: lost."""
    precious = tmp_path / "notes.txt"
    precious.write_text("precious notes\n")
    lock = os.path.join(run, "lock")
    os.symlink(precious, lock)
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    assert one_error_line(capsys).startswith(f"error: {lock}: a link (to {precious}), not the lock file of {run}")
    assert precious.read_text() == "precious notes\n" and os.path.islink(lock)


def test_a_pipe_given_as_weights_or_video_or_met_as_bad_videos_txt_is_refused_never_read_forever(finished, tiny_data,
                                                                                                     tmp_path, capsys):
    """--weights, predict's video, a run's bad_videos.txt (read and appended to when a video fails in training)
    and the log of the run beside, each a named pipe, were opened and waited on forever (SIGTERM too: open()
    resumes after the handler). Each is refused naming it, unread."""
    from tinyrrn.beside import RunBeside
    from tinyrrn.data.loader import ChunkLoader
    pipe = str(tmp_path / "pipe")
    os.mkfifo(pipe)
    says = f"error: {pipe}: not a regular file (a device, pipe or socket), so it is not "
    assert prediction.main([pipe, "--checkpoint", finished]) == 1
    assert one_error_line(capsys).startswith(says + "read")
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--weights", pipe)) == 2  # checked before the run
    assert one_error_line(capsys).startswith(says.replace("error: ", "error: --weights ") + "read")
    assert not (tmp_path / "runs").exists()  # no run folder
    loader = types.SimpleNamespace(bad_videos=[], bad_videos_path=pipe)
    with pytest.raises(OSError, match=re.escape(f"so it is not read or appended to: '{pipe}'")):
        ChunkLoader.mark_bad(loader, "v.avi", "truncated", warn=False)
    with pytest.raises(OSError, match="so it is not written"):
        RunBeside(print, (), pipe, 1, "baseline", "")


def strict_json(text):
    """``text`` parsed as JSON proper, which has no NaN or Infinity (Python's json module reads them)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_files_and_logs_stay_valid_json_with_nan_and_infinite_values(tmp_path):
    """metrics.json, config.json, metrics.jsonl, ... were written with Python's NaN and Infinity, which JSON has not:
    jq, JavaScript and most JSON readers refuse the whole file. A value that is no finite number is null there, as a
    report's per-class accuracy of a class without videos already was."""
    record = {"loss": float("nan"), "lr": float("inf"), "nested": [{"x": -float("inf")}, 1.5], "ok": 2}
    files.write_json(tmp_path / "metrics.json", record)
    log = files.JsonLog(tmp_path / "metrics.jsonl")
    log.write(record)
    expected = {"loss": None, "lr": None, "nested": [{"x": None}, 1.5], "ok": 2}
    assert strict_json((tmp_path / "metrics.json").read_text()) == expected
    [line] = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert {k: v for k, v in strict_json(line).items() if k != "time"} == expected


def test_a_line_appended_on_a_full_disk_is_named_and_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    """A write of bad_videos.txt that failed on a full disk said only '[Errno 28] No space left on device'; and a
    line of metrics.jsonl, grid.jsonl or bad_videos.txt written in part before the disk filled stayed in part, a
    damaged line (a video path cut short: another path)."""
    from tinyrrn.data.loader import ChunkLoader
    log, bad = tmp_path / "metrics.jsonl", tmp_path / "bad_videos.txt"
    log.write_text('{"kind": "step"}\n')
    bad.write_text("a.avi\n")
    write = os.write

    def filling(fd, data):  # the disk fills part-way through each line: some bytes written, then no room
        if len(data) > 4:
            return write(fd, data[:4])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", filling)
    with pytest.raises(OSError, match="No space left") as raised:
        files.JsonLog(log).write({"kind": "epoch"})
    assert raised.value.filename == str(log) and log.read_text() == '{"kind": "step"}\n'
    with pytest.raises(OSError, match="No space left") as raised:
        ChunkLoader.mark_bad(types.SimpleNamespace(bad_videos=[], bad_videos_path=str(bad)), "b.avi", "bad", warn=False)
    assert raised.value.filename == str(bad) and bad.read_text() == "a.avi\n"


def test_a_dataset_moved_since_training_is_named_as_recorded_not_as_a_flag_not_given(run, tmp_path, capsys):
    """evaluate RUN and --resume RUN said '/old/ucf: no such dataset folder (--data)' of a --data never given."""
    moved = str(tmp_path / "moved" / "ucf")
    for name in ("checkpoint.npz", "best.npz"):
        arrays, saved = checkpoint.load(os.path.join(run, name))
        checkpoint.save(os.path.join(run, name), arrays, {**saved, "config": {**saved["config"], "data": moved}})
    files.write_json(os.path.join(run, "config.json"), {**json.load(open(os.path.join(run, "config.json"))),
                                                       "data": moved})
    assert evaluation.main([run, "--workers", "0"]) == 2
    assert one_error_line(capsys) == (f"error: {moved}: no such dataset folder, where {run}/best.npz was trained "
                                      "(moved since?); give --data where it is now")
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    assert one_error_line(capsys) == (f"error: {moved}: no such dataset folder, where {run}/config.json was trained "
                                      "(moved since?); a run's data cannot change: put it back there (or a link to "
                                      "it) to resume the run")


def test_an_output_folder_under_a_file_names_the_file(tiny_data, tmp_path, capsys):
    """--out FILE said 'FILE/<date>-NAME: Not a directory'; features added that the features written so far were
    kept (none was)."""
    notes, weights = tmp_path / "notes.txt", str(tmp_path / "small.npz")
    notes.write_text("mine")
    save_npz(resnet_small(), weights)
    args = ["--data", tiny_data, "--cache-dir", str(tmp_path / "cache"), "--arch", "resnet_small"]
    assert training.main([*args, "--name", "x", "--out", str(notes)]) == 2  # --out a file: a usage error
    assert re.fullmatch(rf"error: {re.escape(str(notes))}/\d{{8}}-\d{{6}}-x: not in a folder: {re.escape(str(notes))} "
                        "is a file", one_error_line(capsys))
    for main, extra, out in ((training.main, [], notes / "runs"), (features.main, ["--weights", weights], notes / "f")):
        assert main([*args, *extra, "--out", str(out)]) == 2
        assert one_error_line(capsys) == f"error: {out}: not in a folder: {notes} is a file"
    assert notes.read_text() == "mine"


def test_an_empty_weights_file_is_one_error_line_naming_it(tiny_data, tmp_path, capsys):
    """A 0-byte .npz (a copy cut off by a full disk) ended train --weights and features --weights in NumPy's
    EOFError traceback."""
    (tmp_path / "empty.npz").write_bytes(b"")
    weights = str(tmp_path / "empty.npz")
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--weights", weights)) == 2  # checked before the run
    assert one_error_line(capsys) == f"error: --weights {weights}: not a readable .npz file (empty)"
    assert features.main(["--data", tiny_data, "--weights", weights, "--out", str(tmp_path / "f")]) == 2  # as train
    assert one_error_line(capsys) == f"error: --weights {weights}: not a readable .npz file (empty)"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "f").exists()  # no run, no feature folder


@pytest.mark.parametrize("weights, says", [("missing.npz", "{weights}: no such file (--weights)"),
                                           ("notes.txt", "--weights {weights}: not a weights file (neither a PyTorch "
                                                         ".pth nor a NumPy .npz)")])
def test_features_refuses_unusable_weights_as_train_does(weights, says, tiny_data, tmp_path, capsys):
    """features --weights of a missing or no weights file exited 1, naming no flag, where train exits 2 (a usage
    error) naming --weights."""
    (tmp_path / "notes.txt").write_text("mine")
    weights = str(tmp_path / weights)
    for main, out in ((training.main, "--out"), (features.main, "--out")):
        args = ["--data", tiny_data, "--weights", weights, out, str(tmp_path / "out")]
        assert main(args) == cli.EXIT_USAGE
        assert one_error_line(capsys) == "error: " + says.format(weights=weights)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("files, kind", [
    ({"config.json": '{"features": "/f", "model": "avgpool"}', "model.npz": ""}, "baseline run"),
    ({"index.json": "{}"}, "feature folder"),
    ({"grid.json": "{}"}, "reproduce grid"),
])
def test_a_folder_of_another_command_is_named_as_such_where_a_training_run_is_asked(tmp_path, files, kind, capsys):
    """--resume of a baseline run said '34 settings missing' of its config.json; evaluate, predict and features
    --weights of one said 'checkpoint.npz: no such checkpoint'."""
    folder = tmp_path / "other"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    says = f"{folder}: holds another command's output ({kind}), not a training run; name the folder of a run of " \
           "python -m tinyrrn.train, or its checkpoint"
    assert training.main(["--resume", str(folder)]) == 2
    assert one_error_line(capsys) == f"error: --resume {says}"
    assert evaluation.main([str(folder)]) == 2
    assert one_error_line(capsys) == f"error: {says}"
    assert prediction.main(["v.avi", "--checkpoint", str(folder)]) == 2
    assert one_error_line(capsys) == f"error: {says}"
    assert sorted(os.listdir(folder)) == sorted(files)


@pytest.mark.parametrize("files", [{}, {"notes.txt": "mine"}], ids=["empty", "other files"])
def test_a_folder_holding_no_run_is_named_as_given_not_as_a_checkpoint_inside_it(tiny_data, tmp_path, files, capsys):
    """evaluate, predict, train --weights and features --weights of a folder holding no run said
    'FOLDER/checkpoint.npz: no such checkpoint': a file the user never named."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    says = f"{folder}: a folder holding no checkpoint (best.npz or checkpoint.npz), not a training run"
    assert evaluation.main([str(folder)]) == 2
    assert one_error_line(capsys).startswith(f"error: {says}")
    assert prediction.main(["v.avi", "--checkpoint", str(folder)]) == 2
    assert one_error_line(capsys).startswith(f"error: {says}")
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--weights", str(folder))) == 2
    assert one_error_line(capsys).startswith(f"error: --weights {says}")
    assert features.main(["--weights", str(folder), "--data", tiny_data, "--out", str(tmp_path / "f")]) == 2
    assert one_error_line(capsys).startswith(f"error: --weights {says}")
    assert sorted(os.listdir(folder)) == sorted(files) and sorted(os.listdir(tmp_path)) == ["folder"]


def test_a_tiny_pth_that_expands_to_gigabytes_is_refused(tmp_path):
    header = b"".join(pickle.dumps(obj, protocol=2) for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n((Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nI1\ntQ"
              b"I0\n(I2000\nI2000\nt(I0\nI0\ntI00\nccollections\nOrderedDict\n)RtR")
    payload = b"ccollections\nOrderedDict\n)R(Vw\n" + tensor + b"u."
    path = tmp_path / "stride0.pth"
    path.write_bytes(header + payload + pickle.dumps(["0"], protocol=2) + struct.pack("<q", 1)
                     + numpy.float32(7).tobytes())
    assert path.stat().st_size < 1000
    with pytest.raises(WeightsError, match=r"tensor 'w' of shape \(2000, 2000\) and stride \(0, 0\) would take 15 MB "
                                           r"from a storage of 4 bytes; refused"):
        read_pth(path)
    assert read_pth(path, allow_expand=True)["w"].shape == (2000, 2000)


# -- 10./11. one wrapper: one line, a documented exit code --------------------------------------------
@pytest.mark.parametrize("module,args,code,says", [
    ("train", ["--data", "/nonexistent"], 2, "error: /nonexistent: no such dataset folder (--data)"),
    ("evaluate", ["/nonexistent.npz"], 2, "error: /nonexistent.npz: no such checkpoint"),
    ("predict", ["video.avi", "--checkpoint", "/nonexistent"], 2, "error: /nonexistent: no such checkpoint"),
    ("features", ["--weights", "/nonexistent.npz"], 2, "error: /nonexistent.npz: no such file (--weights)"),
    ("baseline", ["--features", "/nonexistent"], 2, "error: --features /nonexistent: no such feature folder"),
    ("reproduce", ["--splits", "1,4"], 2, "error: --splits 1,4: expected split numbers 1-3"),
    ("reproduce", ["--tables", "9"], 2, "error: --tables 9: expected table numbers 1-4, comma-separated"),
    ("reproduce", ["--tables", "3", "--only", "table3-identiy"], 2,
     "error: --only table3-identiy: not a row of tables 3 (did you mean table3-identity?)"),
    ("reproduce", ["--batch", "0"], 2, "error: argument --batch: '0': must be an integer of at least 1"),
    ("reproduce", ["--set", "epochs=abc"], 2, "error: --set 'epochs=abc': epochs is reproduce's own flag: use --epochs"),
    ("reproduce", ["--set", "split=2"], 2, "error: --set 'split=2': split is reproduce's own flag: use --splits"),
    ("reproduce", ["--set", "skip=linear"], 2, "error: --set 'skip=linear': skip defines a row of the paper's tables"),
    ("reproduce", ["--set", "flip=no"], 2, "error: --set: flip = 'no': expected true or false"),
    ("reproduce", ["--set", "lr=abc"], 2, "error: --set: lr = 'abc': expected a number"),
    ("reproduce", ["--set", "lr=-1"], 2, "error: --set: lr = -1: must be a finite number above 0.0"),
    ("reproduce", ["--set", "chunk=0"], 2, "error: --set: chunk = 0: must be an integer of at least 1"),
    ("reproduce", ["--baseline-epochs", "0"], 2, "error: argument --baseline-epochs: '0': must be an integer of at least 1"),
    ("reproduce", ["--feature-batch", "0"], 2, "error: argument --feature-batch: '0': must be an integer of at least 1"),
    ("baseline", ["--features", "f", "--epochs", "0"], 2, "error: argument --epochs: '0': must be an integer of at least 1"),
    ("baseline", ["--features", "f", "--lr", "nan"], 2, "error: argument --lr: 'nan': must be a finite number above 0"),
    ("baseline", ["--features", "f", "--hidden", "0"], 2, "error: argument --hidden: '0': must be an integer of at least 1"),
    ("train", ["--epochs", "0"], 2, "error: --epochs 0: must be an integer of at least 1"),
    ("train", ["--batch", "-3"], 2, "error: --batch -3: must be an integer of at least 1"),
    ("train", ["--log-every", "0"], 2, "error: --log-every 0: must be an integer of at least 1"),
    ("train", ["--workers", "-1"], 2, "error: --workers -1: must be an integer of at least 0"),
    ("train", ["--seed", "-1"], 2, "error: --seed -1: must be an integer of at least 0"),
    # beyond NumPy's int64: --sample-every 10**20 was an OverflowError traceback, --seed 2**64 'manual_seed: ...'
    ("train", ["--sample-every", str(10 ** 20)], 2,
     f"error: --sample-every {10 ** 20}: must be an integer of at most 2**63 - 1"),
    ("train", ["--seed", str(2 ** 64)], 2, f"error: --seed {2 ** 64}: must be an integer of at most 2**63 - 1"),
    ("reproduce", ["--set", f"sample_every={2 ** 63}"], 2,
     f"error: --set: sample_every = {2 ** 63}: must be an integer of at most 2**63 - 1"),
    ("baseline", ["--features", "f", "--seed", str(2 ** 64)], 2,
     f"error: argument --seed: '{2 ** 64}': must be an integer of at most 2**63 - 1"),
    ("evaluate", ["run", "--batch", "0"], 2, "error: argument --batch: '0': must be an integer of at least 1"),
    ("predict", ["v.avi", "--checkpoint", "run", "--top=-2"], 2,
     "error: argument --top: '-2': must be an integer of at least 1"),
    ("weights", ["info", "/nonexistent.npz"], 2, "error: /nonexistent.npz: No such file or directory"),
    ("data.check", ["/nonexistent"], 2, "error: /nonexistent: no such dataset folder"),
    ("data.synthetic", ["/tmp/never", "--classes", "3"], 2, "error: --classes 3: classes must be even"),
    ("data.synthetic", ["/tmp/never", "--size", "0x0"], 2, "error: argument --size: --size '0x0': both numbers must be at least 1"),
    ("data.check", ["/nonexistent", "--every", "0"], 2, "error: --every 0: must be at least 1"),
    ("train", ["--lr", "-0.003"], 2, "error: --lr -0.003: must be a finite number above 0.0"),
    ("train", ["--lr", "nan"], 2, "error: --lr nan: must be a finite number above 0.0"),
    ("train", ["--weight-decay", "-1"], 2, "error: --weight-decay -1.0: must be a finite number of at least 0.0"),
    ("train", ["--optimizer", "sgd", "--momentum", "-1"], 2, "error: --momentum -1.0: must be a finite number of at least 0.0"),
    # SGD's momentum with Adam was ignored in silence
    ("train", ["--momentum", "0.5"], 2, "error: --momentum 0.5: acts only with --optimizer sgd, and this run's "
     "--optimizer is adam, which would ignore it"),
    ("reproduce", ["--set", "momentum=0.5"], 2, "error: --set: row table2-block1-identity: momentum 0.5: acts only with optimizer sgd"),
    ("train", ["--chunk", "1", "--context", "2"], 2, "error: --chunk 1 is shorter than --context 2"),
    ("train", ["--chunk", "4", "--context", "2"], 2, "error: --chunk 4 is longer than --context 2"),
    ("train", ["--resize", "24", "--crop", "30"], 2, "error: --crop 30 is larger than --resize 24"),
    ("train", ["--update-every", "abc", "--max-steps", "1"], 2, "error: --update-every 'abc': expected a number of chunks"),
    ("train", ["--name", "../../escape"], 2, "error: --name '../../escape': must be a plain file name"),
    ("train", ["--name", ""], 2, "error: --name '': an empty value"),
    ("train", ["--resume", ""], 2, "error: --resume '': an empty value (an unset shell variable?)"),
    ("train", ["--config", ""], 2, "error: --config '': an empty value"),
    ("train", ["--data", "", "--max-steps", "1"], 2, "error: --data '': an empty value"),
    ("train", ["--positions", "block2", ""], 2, "error: --positions '': an empty value"),
    ("evaluate", [""], 2, "error: checkpoint '': an empty value"),
    ("evaluate", ["run", "--out", ""], 2, "error: --out '': an empty value"),
    ("predict", ["v.avi", "--checkpoint", ""], 2, "error: --checkpoint '': an empty value"),
    ("baseline", ["--features", ""], 2, "error: --features '': an empty value"),
    ("features", ["--weights", "w.npz", "--out", ""], 2, "error: --out '': an empty value"),
    ("reproduce", ["--cache-dir", ""], 2, "error: --cache-dir '': an empty value"),
    ("weights", ["info", ""], 2, "error: file '': an empty value"),
    ("data.synthetic", [""], 2, "error: out_dir '': an empty value"),
    ("weights", ["convert", "in.npz", "out.npz", "--num-classes", "0"], 2,
     "error: argument --num-classes: '0': must be an integer of at least 1"),
])
def test_every_command_ends_an_expected_failure_in_one_line(module, args, code, says, capsys):
    main = __import__(f"tinyrrn.{module}", fromlist=["main"]).main
    assert main(args) == code
    assert one_error_line(capsys).startswith(says)


def test_a_file_where_a_dataset_or_split_folder_is_expected_is_named_as_a_file(tiny_data, tmp_path, capsys):
    """--data FILE, --list-dir FILE and python -m tinyrrn.data.check FILE said 'no such dataset folder' of a file that
    is there: the user looked for a typo. Each says it is a file, and what is expected; a path through a file names
    the file."""
    video = os.path.join(tiny_data, "MoveLeft", "v_MoveLeft_g01_c01.avi")
    out = str(tmp_path / "runs")
    assert training.main(["--data", video, "--out", out]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: {video}: a file, not a dataset folder (--data")
    assert training.main(["--data", video + "/UCF", "--out", out]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: {video}/UCF: no such dataset folder ({video} is a file) (--data")
    assert training.main(["--data", tiny_data, "--list-dir", video, "--out", out]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: {video}: a file, not a folder of split files")
    assert data_check.main([video]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: {video}: a file, not a dataset folder")
    with pytest.raises(NotADirectoryError, match="a file, not a dataset folder"):
        UCF101(video)
    assert not os.path.exists(out)


def test_a_gpu_without_cupy_is_one_line_and_debug_shows_the_traceback(tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import fails, as where CuPy is not installed
    monkeypatch.setattr(backend, "_load_cupy", devices.real_load_cupy)  # not the stand-in (TINYRRN_TEST_STANDIN)
    monkeypatch.delenv("TINYRRN_DEVICE", raising=False)  # the flag, not the variable, asks for the GPU here
    args = tiny_args(tiny_data, tmp_path, "--device", "gpu")
    assert training.main(args) == 2
    assert "error: --device gpu: device 'gpu' needs CuPy, which is not installed" in one_error_line(capsys)
    assert training.main(args + ["--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("key, value, says", [("threads", 100000, "100000 threads: more than "),
                                              ("device", "gpu", "device 'gpu' needs CuPy")])
def test_a_device_or_thread_count_recorded_by_a_run_that_this_machine_lacks_names_the_config_json(
        run, monkeypatch, key, value, says, capsys):
    """A run started with --threads 16 or --device gpu, resumed on a machine of 2 cores or without a GPU, was refused
    as '--threads: ...' or '--device gpu: ...': a flag the user did not give. The error names the file and key the
    value came from, and says that the flag sets another one."""
    monkeypatch.setitem(sys.modules, "cupy", None)  # import fails, as where CuPy is not installed
    monkeypatch.setattr(backend, "_load_cupy", devices.real_load_cupy)  # not the stand-in (TINYRRN_TEST_STANDIN)
    monkeypatch.delenv("TINYRRN_DEVICE", raising=False)
    config = os.path.join(run, "config.json")
    files.write_json(config, {**json.load(open(config)), key: value})
    before = folder_bytes(run)
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {config}: {key} = {value!r}: {says}") and line.endswith(f"; --{key} sets another")
    assert folder_bytes(run) == before


@pytest.mark.parametrize("key, value, says", [("threads", 100000, "100000 threads: more than "),
                                              ("device", "gpu", "device 'gpu' needs CuPy")])
def test_a_device_or_thread_count_of_a_config_file_that_this_machine_lacks_names_the_file_and_key(
        tiny_data, tmp_path, monkeypatch, key, value, says, capsys):
    """threads = 100000 (or device = "gpu" without CuPy) in a --config file was refused as '--threads: ...' (or
    '--device gpu: ...'), a flag not given, without the file: now as the file's other bad values are."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_load_cupy", devices.real_load_cupy)
    monkeypatch.delenv("TINYRRN_DEVICE", raising=False)
    toml = tmp_path / "settings.toml"
    toml.write_text(f"{key} = {json.dumps(value)}\n")
    out = tmp_path / "out"
    assert training.main(tiny_args(tiny_data, out, "--config", str(toml))) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {toml}: {key} = {value!r}: {says}") and line.endswith(f"; --{key} sets another")
    assert not out.exists()
    assert training.main(tiny_args(tiny_data, out, "--config", str(toml), f"--{key}", str(value))) == 2
    assert one_error_line(capsys).startswith(f"error: --{key}")  # the flag's value: the flag is named


def test_tinyrrn_device_is_the_default_of_every_device_flag(monkeypatch):
    monkeypatch.setenv("TINYRRN_DEVICE", "auto")
    assert configuration.resolve([])[0]["device"] == "auto"
    assert cli.default_device() == "auto"


def test_a_command_line_failure_is_one_line_without_a_traceback(tmp_path):
    lists = tmp_path / "data" / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes(b"1 A\r\n")
    (lists / "trainlist01.txt").write_bytes(b"A/v_A_g08_c01.avi \xff\r\n")
    (lists / "testlist01.txt").write_bytes(b"A/v_A_g01_c01.avi\r\n")
    done = cli_run("tinyrrn.data.check", str(tmp_path / "data"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {lists / 'trainlist01.txt'}:1: not UTF-8 text (byte 0xff)"


def test_unreadable_checkpoint_metadata_names_the_file(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save_npz({"__meta__": numpy.frombuffer(b"\xff\xfe{", numpy.uint8), "model/w": numpy.ones(2)}, path)
    with pytest.raises(checkpoint.CheckpointError, match=rf"{path}: its metadata is not readable JSON"):
        checkpoint.load(path)


def test_a_full_disk_names_the_file(run, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(numpy.lib.format, "write_array", full)
    before = open(os.path.join(run, "checkpoint.npz"), "rb").read()
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    assert re.fullmatch(rf"error: /\S+\.npz: No space left on device; {run}/checkpoint.npz \(epoch 1, update \d+\) is "
                        rf"kept as it was; once fixed, continue with python -m tinyrrn.train --resume {run}",
                        one_error_line(capsys))
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == before


def test_resume_cleans_leftovers_of_a_killed_process_and_its_duplicate_log_lines(run):
    leftover = os.path.join(run, ".checkpoint.npz.abc123.tmp")
    open(leftover, "wb").write(b"half a checkpoint")
    log = os.path.join(run, "metrics.jsonl")
    lines = open(log).readlines()
    with open(log, "a") as f:  # records written after the checkpoint by a process that was then killed
        f.writelines(lines[-2:])
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    assert not os.path.exists(leftover)
    records = [json.loads(line) for line in open(log)]
    keys = [(r["kind"], r.get("update"), r.get("epoch")) for r in records]
    assert len(keys) == len(set(keys)) and [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2]


KILLED_AFTER_FIRST_SAVE = """
import os, signal, sys
from tinyrrn import checkpoint, train
save = checkpoint.save

def save_then_die(path, *args):  # SIGKILL right after the first file written into the folder named in argv[1]
    save(path, *args)
    if os.path.dirname(os.fspath(path)).endswith(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save = save_then_die
sys.exit(train.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("folder", ["-r", "baseline"], ids=["run", "job's baseline"])
def test_a_run_killed_between_the_files_of_its_first_epoch_end_resumes(tiny_data, tmp_path, folder):
    """kill -9 between best.npz and checkpoint.npz of epoch 1 (best.npz was written first) left a run with its
    selected weights but no checkpoint: --resume refused it as stopped before its first checkpoint, and a job whose
    baseline it was refused to go on ("remove the baseline and resume the job"), which README says it does."""
    args = tiny_args(tiny_data, tmp_path, "--name", "r", "--threads", "1",
                     *(["--baseline", "--epochs", "1"] if folder == "baseline" else ["--epochs", "2"]))
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_FIRST_SAVE, folder, *args], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = run_dir_of(tmp_path, "r")
    resumed = cli_run("tinyrrn.train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert os.path.isfile(os.path.join(run_dir, "eval", "metrics.json"))


def test_best_npz_on_a_full_disk_after_the_first_checkpoint_says_the_checkpoint_is_kept(tiny_data, tmp_path, monkeypatch,
                                                                                      capsys):
    save = checkpoint.save

    def full_for_best(path, *args):
        if os.path.basename(path) == "best.npz":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return save(path, *args)
    monkeypatch.setattr(checkpoint, "save", full_for_best)
    assert training.main(tiny_args(tiny_data, tmp_path, "--name", "r")) == 1
    run_dir = run_dir_of(tmp_path, "r")
    assert one_error_line(capsys) == (f"error: {run_dir}/best.npz: No space left on device; {run_dir}/checkpoint.npz "
                                      f"(epoch 1, update {meta(run_dir)['updates']}) is kept as it was; once fixed, "
                                      f"continue with python -m tinyrrn.train --resume {run_dir}")


def test_no_video_evaluated_names_the_list_and_for_validation_the_way_out():
    """Videos that fail only while decoding (their frame counts looked fine) can still leave a set empty."""
    from types import SimpleNamespace
    from tinyrrn.evaluate import no_video_evaluated
    common = {"list_file": "L/trainlist01.txt", "paths": ["a.avi", "b.avi"], "bad_videos": []}
    left_out = ["a.avi: truncated"]  # found bad when decoded: not in the dataset's bad_videos
    assert no_video_evaluated(SimpleNamespace(validation=True, **common), left_out) == (
        "L/trainlist01.txt: no video could be evaluated: all 2 videos of the validation groups are bad (a.avi: "
        "truncated, ...); replace them, or start a run with --val-groups 0 (no validation: the last epoch is reported)")
    assert no_video_evaluated(SimpleNamespace(validation=False, **common), left_out).endswith("all 2 videos are bad (a.avi: "
                                                                                    "truncated, ...)")


# -- 12. a folder is one run's; weights and reports are tied by digest (probe rel4) ---------------------------
def folder_bytes(folder):
    """{relative path: bytes} of every file under ``folder``."""
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def model_digest_of(arrays):
    """The digest a checkpoint of ``arrays`` records for its model's weights."""
    return checkpoint.weights_digest(checkpoint.prefixed(arrays, "model"))


def model_digest(path):
    return model_digest_of(checkpoint.load(path)[0])


def test_resume_of_a_run_without_its_checkpoint_is_refused_and_touches_nothing(run, capsys):
    os.remove(os.path.join(run, "checkpoint.npz"))
    before = folder_bytes(run)
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "3", "--seed", "1"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {run}/checkpoint.npz: no checkpoint to resume from") and "start a new run" in line
    assert folder_bytes(run) == before


def test_resume_of_a_run_that_lost_its_config_json_names_it_not_the_folder_as_no_run(run, capsys):
    """A run folder whose config.json was lost beside its checkpoint was 'not a run directory'."""
    os.remove(os.path.join(run, "config.json"))
    before = open(os.path.join(run, "checkpoint.npz"), "rb").read()
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    assert one_error_line(capsys).startswith(f"error: {os.path.join(run, 'config.json')}: missing beside the run's "
                                             "checkpoint.npz (lost or moved); nothing was changed")
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == before
    assert evaluation.main([run, "--out", os.path.join(run, "again"), "--workers", "0"]) == 0


def test_a_run_folder_is_never_trained_afresh_in_place(run, capsys):
    config = rundir.read_config(run)[0]
    with pytest.raises(cli.UsageError, match=r"holds a run already \(its checkpoint.npz\): resume it"):
        training.train(config, run, resume=False)
    os.remove(os.path.join(run, "checkpoint.npz"))
    with pytest.raises(cli.UsageError, match=r"no checkpoint to resume from"):  # the job's baseline folder too
        training.train_in_turn([("model", config, run)], training.parallel.Communicator())


def test_evaluate_refuses_an_out_folder_of_another_run_or_checkpoint(finished, tiny_data, tmp_path, capsys):
    other = str(tmp_path / "other")
    shutil.copytree(finished, other)
    assert evaluation.main([other, "--workers", "0"]) == 0  # its own report, naming other/best.npz
    before = folder_bytes(other)
    for out, says in ((os.path.join(other, "eval"), f"holds a report of {other}/best.npz, not of {finished}/best.npz"),
                      (other, "holds another command's output (training run), not evaluation reports")):
        capsys.readouterr()
        assert evaluation.main([finished, "--out", out, "--workers", "0"]) == 2
        assert says in one_error_line(capsys)
    assert folder_bytes(other) == before


def test_a_stale_best_npz_is_detected_by_its_digest_and_written_again(run, capsys):
    """A crash between best.npz and checkpoint.npz leaves best.npz of weights the checkpoint never saw."""
    best = os.path.join(run, "best.npz")
    arrays, saved = checkpoint.load(best)
    name = next(k for k in arrays if k.startswith("model/") and arrays[k].dtype.kind == "f")
    arrays[name] = arrays[name] + 1  # another trajectory's epoch 2
    checkpoint.save(best, arrays, {**saved, "epoch": 2, "digest": model_digest_of(arrays)})
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "2", "--lr", "0.0003"]) == 0
    assert re.search(rf"warning: {best}: holds the weights of epoch 2 \(update \d+\), not those of the selected epoch "
                     r"1 that checkpoint.npz records", capsys.readouterr().err)
    report = json.load(open(os.path.join(run, "eval", "metrics.json")))
    assert report["weights_digest"] == model_digest(best) == meta_digest(run, "best.npz")
    assert report["checkpoint"] == best and report["epoch"] == meta(run)["best_epoch"]
    last = json.load(open(os.path.join(run, "eval-last", "metrics.json")))
    assert last["weights_digest"] == model_digest(os.path.join(run, "checkpoint.npz"))
    assert last["test_videos"]["split"] == 1  # the split is recorded with the figures


def test_evaluate_and_predict_refuse_a_best_npz_its_run_did_not_select(run, tiny_data, capsys):
    """A run killed between checkpoint.npz and best.npz of an epoch it selected (or whose best.npz was replaced) has a
    best.npz of other weights than checkpoint.npz records as selected: evaluate and predict of the run took it, and
    reported an epoch nobody selected as the run's (into RUN/eval, where the selected epoch's report goes)."""
    best = os.path.join(run, "best.npz")
    arrays, saved = checkpoint.load(best)
    name = next(k for k in arrays if k.startswith("model/") and arrays[k].dtype.kind == "f")
    arrays[name] = arrays[name] + 1  # another epoch's best.npz, written whole
    checkpoint.save(best, arrays, {**saved, "epoch": 2, "digest": model_digest_of(arrays)})
    before = folder_bytes(run)
    says = (f"error: {best}: holds other weights than the selected epoch 1 that {run}/checkpoint.npz records (left "
            f"by a run stopped between writing the two, or replaced since); resume the run, which selects its epoch "
            f"again (python -m tinyrrn.train --resume {run}), or name {run}/checkpoint.npz")
    assert evaluation.main([run, "--workers", "0"]) == 1
    assert one_error_line(capsys) == says
    video = os.path.join(tiny_data, "MoveRight", "v_MoveRight_g01_c01.avi")
    for given in (run, best):
        assert prediction.main([video, "--checkpoint", given]) == 1
        assert one_error_line(capsys) == says
    assert folder_bytes(run) == before
    assert prediction.main([video, "--checkpoint", os.path.join(run, "checkpoint.npz")]) == 0


def meta_digest(run_dir, name):
    return meta(run_dir, name)["digest"]


def test_evaluate_of_a_mid_epoch_checkpoint_borrows_no_figures_of_an_epoch(run, sigint_at_batch, capsys):
    disarm = sigint_at_batch(2)
    assert training.main(["--resume", run, "--epochs", "2"]) == 130  # stopped in epoch 2; eval-last/ is epoch 1's
    disarm()
    path = os.path.join(run, "checkpoint.npz")
    assert evaluation.main([path, "--workers", "0"]) == 0
    report = json.load(open(os.path.join(run, "eval-last", "metrics.json")))
    assert not {"epoch", "val_video_error", "selected_by"} & set(report)
    assert report["weights_digest"] == model_digest(path) and report["updates"] == meta(run)["updates"]


def test_a_run_capped_in_mid_epoch_resumes_there_bit_for_bit(tiny_data, tmp_path):
    """--max-steps 7 stops in epoch 2 (5 updates an epoch); resumed without a cap it ends as a run never capped."""
    common = ("--epochs", "3")  # (a schedule other than constant is fitted to the cap: then it is another run)
    assert training.main(tiny_args(tiny_data, tmp_path, *common, "--max-steps", "7", "--name", "capped")) == 0
    capped = run_dir_of(tmp_path, "capped")
    saved = meta(capped)
    assert (saved["epoch"], saved["updates"]) == (1, 7) and 0 < saved["loader"]["position"]
    last = json.load(open(os.path.join(capped, "eval-last", "metrics.json")))
    assert last["epoch"] == 2 and last["stopped_by"].startswith("--max-steps 7 at update 7, after batch ")
    assert evaluation.main([os.path.join(capped, "checkpoint.npz"), "--workers", "0"]) == 0  # evaluated again:
    again = json.load(open(os.path.join(capped, "eval-last", "metrics.json")))  # still says it was cut short
    assert again["epoch"] == 2 and again["stopped_by"] == last["stopped_by"]
    assert training.main(["--resume", capped, "--max-steps", "100"]) == 0
    assert training.main(tiny_args(tiny_data, tmp_path, *common, "--name", "straight")) == 0
    a, b = (checkpoint.load(os.path.join(d, "checkpoint.npz")) for d in (capped, run_dir_of(tmp_path, "straight")))
    assert a[1]["updates"] == b[1]["updates"] == 15 and sorted(a[0]) == sorted(b[0])
    for name in a[0]:
        numpy.testing.assert_array_equal(a[0][name], b[0][name], err_msg=name)


def test_the_selected_report_of_a_run_cut_short_without_validation_says_so(tiny_data, tmp_path):
    """--val-groups 0 --max-steps 9 (6-7 updates an epoch): eval/ reports the last weights, those of epoch 2 cut
    short, and said "epoch 2 of 2, the last epoch" as of a whole epoch; eval-last/ said it was cut short."""
    assert training.main(tiny_args(tiny_data, tmp_path, "--epochs", "3", "--max-steps", "9", "--val-groups", "0",
                                   "--name", "cut")) == 0
    run_dir = run_dir_of(tmp_path, "cut")
    selected, last = (json.load(open(os.path.join(run_dir, name, "metrics.json"))) for name in ("eval", "eval-last"))
    assert selected["epoch"] == last["epoch"] == 2 and selected["weights_digest"] == last["weights_digest"]
    assert selected["stopped_by"] == last["stopped_by"] and selected["stopped_by"].startswith("--max-steps 9 at ")


def test_a_resumed_run_does_not_need_its_initial_weights_file(finished, tiny_data, tmp_path):
    initial = tmp_path / "init.npz"
    save_npz({k[len("model/backbone."):]: v for k, v in checkpoint.load(os.path.join(finished, "best.npz"))[0].items()
              if k.startswith("model/backbone.")}, str(initial))
    assert training.main(tiny_args(tiny_data, tmp_path, "--weights", str(initial), "--name", "w")) == 0
    initial.rename(tmp_path / "moved.npz")
    assert training.main(["--resume", run_dir_of(tmp_path, "w"), "--epochs", "2"]) == 0


@pytest.mark.parametrize("edit, says", [
    (lambda m: m.pop("loader"), "its metadata has no 'loader'"),
    (lambda m: m["loader"].pop("seed"), "its metadata's 'loader' has no 'seed'"),
    (lambda m: m.update(epoch="two"), "its metadata's 'epoch' is \"two\", not int"),
    (lambda m: m["config"].pop("average_logits"), "average_logits"),
    (lambda m: m["config"].update(crop="big"), "crop = 'big': expected an integer"),
])
def test_malformed_checkpoint_metadata_is_one_line_naming_the_file_and_key(run, tiny_data, edit, says, capsys):
    path = os.path.join(run, "checkpoint.npz")
    arrays, saved = checkpoint.load(path)
    edit(saved)
    checkpoint.save(path, arrays, saved)
    shutil.copy(path, os.path.join(run, "best.npz"))
    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    for command in (lambda: training.main(["--resume", run, "--epochs", "2"]),
                    lambda: evaluation.main([run, "--out", os.path.join(run, "eval-x"), "--workers", "0"]),
                    lambda: prediction.main([video, "--checkpoint", run])):
        capsys.readouterr()
        if command() != 0:  # evaluate and predict need only the model's settings
            line = one_error_line(capsys)
            assert line.startswith(f"error: {run}/") and says in line, line
        else:
            assert "loader" in says or "epoch" in says


@pytest.mark.parametrize("edit, says", [
    (lambda m: m["history"][0].pop("update"), "its metadata's 'history' holds {\"kind\": \"epoch\", \"epoch\": 1, "),
    (lambda m: m.update(history=[3]), "its metadata's 'history' holds 3, not an epoch's record"),
    (lambda m: m["history"][0].update(val_video_error="x"), "its metadata's 'history' holds {"),
    (lambda m: m.update(dropped=["/nowhere.avi"]), "its metadata's 'dropped' names '/nowhere.avi', not a video of "),
    (lambda m: m.update(dropped=[1]), "its metadata's 'dropped' names 1, not a video of "),
    (lambda m: m.update(epoch=-1), "its metadata's 'epoch' is -1, not a count (0 or more)"),
    (lambda m: m.update(observed=-1), "its metadata's 'observed' is -1, not a count (0 or more)"),
    (lambda m: m.update(log_bytes=-1), "its metadata's 'log_bytes' is -1, not a count (0 or more)"),
    (lambda m: m.update(best_epoch=7), "its metadata's 'best_epoch' is 7, not an epoch done (1 to 1) or null"),
    (lambda m: m.update(first_loss=float("nan")), "its metadata's 'first_loss' is NaN, not a finite number or null"),
    (lambda m: m.update(warnings=[3]), "its metadata's 'warnings' is [3], not a list of texts"),
    (lambda m: m["videos"].update(test=[3]), "its metadata's 'videos' is not the signatures of the run's training, "
                                             "validation, test videos"),
], ids=["history record", "history number", "history error", "dropped path", "dropped number", "epoch", "observed",
        "log bytes", "best epoch", "first loss", "warnings", "videos"])
def test_checkpoint_metadata_of_values_no_run_has_is_one_line_on_resume(run, edit, says, capsys):
    """Types were checked, values not: a history record without its update, or a dropped video the list does not
    have, ended in a traceback (KeyError, TypeError); a negative count in 'expected non-negative integer' or
    'metrics.jsonl: Invalid argument'; others resumed a run that was not the one saved, in silence."""
    path = os.path.join(run, "checkpoint.npz")
    arrays, saved = checkpoint.load(path)
    edit(saved)
    checkpoint.save(path, arrays, saved)
    before = open(path, "rb").read()
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: {says}") and "nothing was changed" in line, line
    assert open(path, "rb").read() == before


def test_a_checkpoint_that_lost_optimiser_arrays_is_refused_on_resume(run, capsys):
    """Without a parameter's Adam moments (optim/0/...) the run resumed from fresh ones, in silence: another
    trajectory than the one saved, as without the gradients accumulated towards the next update; the state of a
    parameter the model does not have was a KeyError traceback."""
    path = os.path.join(run, "checkpoint.npz")
    arrays, saved = checkpoint.load(path)
    for damaged, says in (
            ({k: v for k, v in arrays.items() if not k.startswith("optim/0/")},
             f"holds no optimiser state of parameter 0 (optim/0/...), which took {saved['updates']} update(s)"),
            ({**arrays, "optim/999/exp_avg": arrays["optim/0/exp_avg"]},
             "holds optim/999/exp_avg, the optimiser state of no parameter of the model (it has "),
            ({k: v for k, v in arrays.items() if not k.startswith("rank0/grad/")},
             "holds no accumulated gradients (rank0/grad/...), though 3 chunk(s) were observed since the last update")):
        checkpoint.save(path, damaged, {**saved, "observed": 3} if "rank0" in says else saved)
        before = open(path, "rb").read()
        assert training.main(["--resume", run, "--epochs", "2"]) == 1
        line = one_error_line(capsys)
        assert line.startswith(f"error: {path}: {says}") and line.endswith("nothing was changed: put back a whole "
                                                                           "copy of the file to resume the run"), line
        assert open(path, "rb").read() == before


def test_checkpoint_metadata_that_is_no_object_is_refused_naming_the_file(tmp_path):
    path = str(tmp_path / "list.npz")
    save_npz({"w": numpy.zeros(2, numpy.float32), checkpoint.META_KEY: numpy.frombuffer(b"[1, 2]", numpy.uint8)}, path)
    with pytest.raises(checkpoint.CheckpointError, match=r"list.npz: its metadata is \[1, 2\], not a JSON object"):
        checkpoint.load(path)


def test_a_negative_running_variance_or_non_finite_probabilities_are_refused(finished, tiny_data, tmp_path, capsys):
    arrays, saved = checkpoint.load(os.path.join(finished, "best.npz"))
    negative = {**arrays, "model/backbone.bn1.running_var": -arrays["model/backbone.bn1.running_var"]}
    checkpoint.save(str(tmp_path / "negative.npz"), negative, saved)
    with pytest.raises(checkpoint.CheckpointError, match=r"backbone.bn1.running_var holds negative values"):
        checkpoint.load(str(tmp_path / "negative.npz"))
    huge = {**arrays, "model/backbone.fc.weight": numpy.full_like(arrays["model/backbone.fc.weight"], 3e38)}
    path = str(tmp_path / "huge.npz")
    checkpoint.save(path, huge, {**saved, "digest": model_digest_of(huge)})  # as written by a run that diverged
    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    for command in (lambda: prediction.main([video, "--checkpoint", path]),
                    lambda: evaluation.main([path, "--workers", "0"])):
        capsys.readouterr()
        assert command() == 1
        assert one_error_line(capsys).startswith(f"error: {path}: its weights or batch-norm statistics give "
                                                 "non-finite (NaN or infinite) probabilities")
    assert not (tmp_path / "eval-huge").exists()


def test_a_dataset_under_a_folder_whose_name_is_not_utf8_trains(tiny_data, tmp_path):
    root = os.path.join(os.fsdecode(bytes(tmp_path) + b"/d\xffata"))
    shutil.copytree(tiny_data, root)
    assert training.main(tiny_args(root, tmp_path, "--max-steps", "1", "--name", "bytes")) == 0


# -- rel7: evaluate locks its folder; resume records settings once applied; pictures written atomically ----
def test_evaluate_is_refused_while_its_run_is_in_use_and_its_report_is_kept(run, capsys):
    report = open(os.path.join(run, "eval", "metrics.json"), "rb").read()
    with rundir.RunLock(run):  # as while the run trains (and writes eval/ at its end)
        capsys.readouterr()
        assert evaluation.main([run, "--workers", "0"]) == 1
    assert one_error_line(capsys).startswith(f"error: {run}: in use by process {os.getpid()} on host")
    assert open(os.path.join(run, "eval", "metrics.json"), "rb").read() == report


def test_a_second_evaluation_into_one_out_folder_is_refused(finished, tmp_path, capsys):
    out = str(tmp_path / "report")
    with rundir.RunLock(out):  # a first evaluation writing there
        capsys.readouterr()
        assert evaluation.main([os.path.join(finished, "checkpoint.npz"), "--out", out, "--workers", "0"]) == 1
        assert one_error_line(capsys).startswith(f"error: {out}: in use by process {os.getpid()} on host")
        assert os.listdir(out) == ["lock"]  # nothing written beside the first one's files
    argv = [os.path.join(finished, "checkpoint.npz"), "--out", out, "--workers", "0"]
    assert evaluation.main(argv) == 0
    assert sorted(os.listdir(out)) == ["confusion.csv", "confusion.png", "metrics.json", "per_class.csv", "predictions.csv"]
    report = json.load(open(os.path.join(out, "metrics.json")))  # what made it: the command, settings and videos
    assert report["made_by"]["command"] == shlex.join(["python", "-m", "tinyrrn.evaluate", *argv])
    assert report["settings"]["skip"] == "identity" and list(report["data_digests"]) == ["test"]


@pytest.mark.parametrize("left", ["a temporary file", "a report without its metrics.json"])
def test_a_report_folder_left_by_an_evaluation_killed_mid_write_is_written_again(run, left, capsys):
    """kill -9 (or a full disk) in the middle of evaluate's first files of RUN/eval-last, or before its metrics.json,
    left a folder that every later evaluation of the run refused as "another command's output (other files)"."""
    out = os.path.join(run, "eval-last")
    if left == "a temporary file":
        shutil.rmtree(out)
        os.mkdir(out)
        open(os.path.join(out, ".confusion.png.abc123.tmp"), "wb").write(b"half a picture")
    else:
        os.remove(os.path.join(out, "metrics.json"))
    capsys.readouterr()
    assert evaluation.main([os.path.join(run, "checkpoint.npz"), "--workers", "0"]) == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["confusion.csv", "confusion.png", "metrics.json", "per_class.csv", "predictions.csv"]
    assert rundir.folder_kind(str(run)) == "training run"


def test_a_final_evaluation_stopped_between_its_reports_leaves_no_eval_folder_that_says_finished(run, monkeypatch):
    """eval/ (whose metrics.json reproduce and the README take for a run's end) was written before eval-last/: a
    stop between the two left a finished-looking run without its last epoch's report, which nothing wrote again."""
    for name in ("eval", "eval-last"):
        shutil.rmtree(os.path.join(run, name))
    calls, write_report = [], training.write_report

    def stopped_at_the_second(*args):
        calls.append(args[-1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        write_report(*args)
    monkeypatch.setattr(training, "write_report", stopped_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        training.train(rundir.read_config(run)[0], run, resume=True)
    assert calls == [os.path.join(run, "eval-last"), os.path.join(run, "eval")]
    assert not os.path.exists(os.path.join(run, "eval", "metrics.json"))


def test_evaluate_reports_the_best_npz_there_once_it_holds_the_run(run, monkeypatch):
    """best.npz replaced (by the run's training) after evaluate read it, before it took the run's lock: the report
    into the run is of the weights best.npz holds, never of those read before."""
    arrays, saved = checkpoint.load(os.path.join(run, "best.npz"))
    newer = {**arrays, "model/backbone.fc.bias": arrays["model/backbone.fc.bias"] + 0.5}
    acquire = rundir.RunLock.acquire

    def training_wrote_best_first(lock):
        if lock.run_dir == run and not os.path.exists(os.path.join(run, "newer")):  # as training: checkpoint.npz first
            last, last_meta = checkpoint.load(os.path.join(run, "checkpoint.npz"))
            digest = model_digest_of(newer)
            checkpoint.save(os.path.join(run, "checkpoint.npz"), last, {**last_meta, "best_digest": digest})
            checkpoint.save(os.path.join(run, "best.npz"), newer, {**saved, "digest": digest})
            open(os.path.join(run, "newer"), "w").close()
        acquire(lock)
    monkeypatch.setattr(rundir.RunLock, "acquire", training_wrote_best_first)
    assert evaluation.main([run, "--workers", "0"]) == 0
    written = json.load(open(os.path.join(run, "eval", "metrics.json")))
    assert written["weights_digest"] == checkpoint.weights_digest(checkpoint.prefixed(newer, "model"))
    os.remove(os.path.join(run, "newer"))


def test_a_resume_that_fails_leaves_config_json_as_it_was_and_paths_are_recorded_whole(run, tmp_path, monkeypatch,
                                                                                       capsys):
    config = open(os.path.join(run, "config.json"), "rb").read()
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("a file")
    assert training.main(["--resume", run, "--epochs", "2", "--lr", "0.05", "--cache-dir", str(not_a_folder)]) == 2  # a path given that is no folder: a usage error
    assert open(os.path.join(run, "config.json"), "rb").read() == config  # a plain --resume goes on as before
    monkeypatch.chdir(tmp_path)
    assert training.main(["--resume", run, "--epochs", "2", "--cache-dir", "cache"]) == 0
    saved = json.load(open(os.path.join(run, "config.json")))
    assert saved["cache_dir"] == str(tmp_path / "cache") and [list(c["settings"]) for c in saved["changes"]] == \
        [["cache_dir", "epochs"]]


def test_resuming_a_finished_run_refuses_training_settings_and_records_nothing(run, capsys):
    config, weights = (open(os.path.join(run, name), "rb").read() for name in ("config.json", "checkpoint.npz"))
    assert training.main(["--resume", run, "--lr", "0.1", "--schedule", "cosine"]) == 2
    line = one_error_line(capsys)
    assert f"error: {run}: the run is finished (epoch 1 of 1, update {meta(run)['updates']}): lr 0.003 -> 0.1, " \
           "schedule 'constant' -> 'cosine' would change nothing" in line
    assert training.main(["--resume", run, "--log-every", "2"]) == 0  # evaluates again, on these settings
    assert "not recorded in config.json" in capsys.readouterr().out
    assert open(os.path.join(run, "config.json"), "rb").read() == config
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == weights


def test_resuming_a_finished_run_says_nothing_is_left_to_train_and_trains_nothing(run, capsys):
    """It printed the run's plan ('5 updates in 1 epochs') and a test result, never that the run was done."""
    before = open(os.path.join(run, "checkpoint.npz"), "rb").read()
    capsys.readouterr()
    assert training.main(["--resume", run]) == 0
    assert (f"the run is finished (epoch 1 of 1, update {meta(run)['updates']}): nothing is left to train; its "
            "test evaluation runs again") in capsys.readouterr().out
    assert open(os.path.join(run, "checkpoint.npz"), "rb").read() == before


@pytest.fixture
def pictures_fail(monkeypatch):
    """Every picture fails part-way, as on a full disk (or past ``ulimit -f``): some bytes written, then an error."""
    import matplotlib.figure

    def half_written(figure, target, *args, **kwargs):
        file = open(target, "wb") if isinstance(target, (str, os.PathLike)) else target
        file.write(b"\x89PNG half a picture")
        file.flush()
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)


def test_a_picture_that_cannot_be_written_is_named_and_the_previous_one_kept(run, pictures_fail, capsys):
    kept = {name: open(os.path.join(run, name), "rb").read()
            for name in ("eval/confusion.png", "eval/metrics.json", "training_curve.png")}
    assert evaluation.main([run, "--workers", "0"]) == 1
    assert one_error_line(capsys) == f"error: {run}/eval/confusion.png: {os.strerror(errno.EFBIG)}"
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    assert one_error_line(capsys) == (
        f"error: {run}/training_curve.png: {os.strerror(errno.EFBIG)}; {run}/checkpoint.npz (epoch 2, update "
        f"{meta(run)['updates']}) is kept as it was; once fixed, continue with python -m tinyrrn.train --resume {run}")
    for name, data in kept.items():  # metrics.json too: it is written last, after the picture
        assert open(os.path.join(run, name), "rb").read() == data, name
    assert not [name for name in os.listdir(run) if name.endswith(files.TEMPORARY_SUFFIX)]


@pytest.mark.parametrize("dtype", [numpy.complex64, numpy.bool_, "U12", [("a", "f4")], "datetime64[s]", numpy.int32])
def test_weights_of_no_real_float_dtype_are_refused_naming_file_key_and_dtype(finished, tmp_path, dtype):
    arrays, saved = checkpoint.load(os.path.join(finished, "best.npz"))
    key = "model/backbone.conv1.weight"
    odd = numpy.zeros(arrays[key].shape, dtype)
    path = str(tmp_path / "odd.npz")
    save_npz({**arrays, key: odd, checkpoint.META_KEY: numpy.frombuffer(json.dumps(saved).encode(), numpy.uint8)},
             path)
    with pytest.raises(checkpoint.CheckpointError, match=rf"{path}: {key} is a tensor of {re.escape(str(odd.dtype))}, "
                                                         "not of real floating-point numbers"):
        builders.model_from_checkpoint(path)  # evaluate's and predict's
    plain = str(tmp_path / "plain.npz")
    state = {name[len("backbone."):]: value for name, value in checkpoint.prefixed(arrays, "model").items()
             if name.startswith("backbone.")}
    save_npz({**state, "conv1.weight": odd}, plain)
    backbone = resnet_small(num_classes=len(saved["classes"]))
    with pytest.raises(WeightsError, match=rf"{plain}: conv1.weight is a tensor of {re.escape(str(odd.dtype))}"):
        builders.load_backbone_weights(backbone, plain)  # train --weights
    with pytest.raises(WeightsError, match=r"conv1.weight is a tensor of"):
        load_npz(backbone, plain, strict=False)
    save_npz(state, tmp_path / "good.npz")  # its integer num_batches_tracked is no odd dtype
    load_npz(backbone, str(tmp_path / "good.npz"))


def test_a_side_by_side_job_on_a_run_in_use_says_only_that(run, monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("the run beside was started")
    monkeypatch.setattr(training, "RunBeside", started)
    config = meta(run)["config"]
    runs = [("temporal skip", config, run), ("no skip (context 1)", config, os.path.join(run, "baseline"))]
    with rundir.RunLock(run), pytest.raises(cli.Failure, match=rf"{run}: in use by process {os.getpid()}"):
        training.train_side_by_side(runs, run, None)


def test_a_run_beside_stopped_by_this_process_before_it_could_answer_has_not_failed():
    from tinyrrn import beside
    stopped = beside.RunBeside.__new__(beside.RunBeside)
    stopped.outcome, stopped.received = None, signal.SIGINT
    stopped.process = types.SimpleNamespace(exitcode=-signals.PASS_ON)  # killed by the pass-on while starting
    assert stopped._died() == ("interrupted", signals.PASS_ON, None)
    assert "failed" not in beside.RunBeside._kept(stopped.outcome)


# -- 20. every video left out is listed; predict refuses a truncated video (probe rel8) -----------------------
def truncate(path, fraction):
    """Keep the first ``fraction`` of a video's bytes (its metadata still reads)."""
    data = open(path, "rb").read()
    open(path, "wb").write(data[:int(len(data) * fraction)])


def test_a_test_video_that_fails_only_when_decoded_is_listed_with_the_unreadable_ones(finished, tiny_data, tmp_path,
                                                                                        capsys):
    root = copy_dataset(tiny_data, tmp_path)
    listed = [line.split()[0] for line in open(root / "ucfTrainTestlist" / "testlist01.txt") if line.strip()]
    (root / listed[0]).write_bytes(b"")              # its metadata cannot be read
    truncate(root / listed[1], 0.1)                  # its metadata reads, no frame decodes
    assert data_check.check_video(str(root / listed[1])) is not None
    out = tmp_path / "eval"
    assert evaluation.main([finished, "--data", str(root), "--out", str(out), "--workers", "0",
                            "--cache-dir", str(tmp_path / "cache")]) == 0
    metrics = json.load(open(out / "metrics.json"))
    assert sorted(os.path.basename(p) for p in metrics["unreadable_videos"]) == sorted(
        os.path.basename(rel) for rel in listed[:2])
    assert metrics["videos"] + len(metrics["unreadable_videos"]) == len(listed)
    assert "2 unreadable video(s) left out" in capsys.readouterr().out


def test_predict_refuses_a_truncated_video_as_data_check_does(finished, tiny_data, tmp_path, capsys):
    root = copy_dataset(tiny_data, tmp_path)
    listed = [str(root / line.split()[0]) for line in open(root / "ucfTrainTestlist" / "testlist01.txt")]
    video = max(listed, key=frame_count)
    truncate(video, 0.5)  # its first half decodes
    every = json.load(open(os.path.join(finished, "config.json")))["sample_every"]
    assert data_check.check_video(video, every).startswith("truncated: ")
    assert prediction.main([video, "--checkpoint", finished]) == 1
    assert one_error_line(capsys).startswith(f"error: {video}: truncated: decoded ")


def test_a_report_rewritten_on_a_full_disk_leaves_no_old_figures_beside_new_tables(tmp_path, monkeypatch):
    # evaluate RUN again after the run trained on: a table's write fails (a full disk) after other new files are
    # in place; the old metrics.json (of other weights) must not stay to mark the folder a report
    classes = ["A", "B"]
    old = {"confusion": [[1, 0], [0, 1]], "per_class_accuracy": [1.0, 1.0], "checkpoint": "run/best.npz"}
    evaluation.write_report(old, classes, str(tmp_path))
    new = {"confusion": [[0, 1], [1, 0]], "per_class_accuracy": [0.0, 0.0], "checkpoint": "run/best.npz"}
    real_atomic_write = evaluation.atomic_write

    def full(path, *args, **kwargs):
        if path.endswith("per_class.csv"):
            raise OSError(errno.EFBIG, "File too large", path)
        return real_atomic_write(path, *args, **kwargs)
    monkeypatch.setattr(evaluation, "atomic_write", full)
    with pytest.raises(OSError, match="File too large"):
        evaluation.write_report(new, classes, str(tmp_path))
    assert "A,0,1" in (tmp_path / "confusion.csv").read_text()   # a new table is in place ...
    assert not (tmp_path / "metrics.json").exists() and evaluation.read_report(str(tmp_path)) is None  # ... no report


@pytest.mark.parametrize("value", ["abc", "0", "1.5", "-2", "\u00b2"])  # '²'.isdigit(), but int('²') failed unnamed
def test_a_bad_tinyrrn_threads_is_one_line_naming_the_variable_not_a_flag_never_given(value, monkeypatch, capsys):
    monkeypatch.setenv("TINYRRN_THREADS", value)
    assert prediction.main(["v.avi", "--checkpoint", "run"]) == cli.EXIT_USAGE
    assert one_error_line(capsys) == f"error: TINYRRN_THREADS={value!r}: expected a positive whole number of threads"


def test_a_thread_count_far_beyond_the_cores_is_refused_naming_the_flag_or_variable(tmp_path, monkeypatch, capsys):
    """--threads 100000 (or TINYRRN_THREADS=100000) was taken: work worth sharing was cut into a multiple of the
    thread count, a block per row, on thousands of threads, far slower than on the cores there are."""
    from tinyrrn import threads
    most = threads.MAX_THREADS_PER_CORE * threads.available_cores()
    assert training.main(["--out", str(tmp_path), "--threads", "100000"]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: --threads: 100000 threads: more than {most} ")
    assert prediction.main(["v.avi", "--checkpoint", "run", "--threads", str(most + 1)]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: --threads: {most + 1} threads: more than {most} ")
    monkeypatch.setenv("TINYRRN_THREADS", "100000")
    assert prediction.main(["v.avi", "--checkpoint", "run"]) == cli.EXIT_USAGE
    assert one_error_line(capsys).startswith(f"error: TINYRRN_THREADS='100000': more than {most} ")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flags, says", [(["--out", "elsewhere"], "--out names"), (["--name", "other"], "--name names"),
                                         (["--out", "o", "--name", "n"], "--out and --name name")])
def test_resume_refuses_out_and_name_which_would_record_a_folder_the_run_is_not_in(flags, says, tmp_path, capsys):
    # they were taken silently: the run went on in RUN_DIR while its config.json said "out": "elsewhere"
    run = str(tmp_path / "run")
    assert training.main(["--resume", run, "--epochs", "2", *flags]) == cli.EXIT_USAGE
    assert one_error_line(capsys) == (f"error: --resume {run}: the run goes on in its own folder; {says} the "
                                      f"folder of a new run: leave {'them' if ' and ' in says else 'it'} out")
    assert not os.path.exists(run)
    toml = tmp_path / "settings.toml"
    toml.write_text('out = "elsewhere"\n')
    assert training.main(["--resume", run, "--config", str(toml)]) == cli.EXIT_USAGE
    assert f"{toml}: out names the folder of a new run" in one_error_line(capsys)


def test_a_preset_given_with_resume_keeps_the_runs_own_name(tmp_path):
    # docs10: --preset set "name" also when resuming, and config.json then recorded another run's name
    preset = sorted(configuration.PRESETS)[0]
    given, resume = configuration.requested(["--resume", str(tmp_path / "run"), "--preset", preset])[:2]
    assert resume == str(tmp_path / "run") and "name" not in given
    assert configuration.requested(["--preset", preset, "--data", str(tmp_path)])[0]["name"] == preset


def test_text_files_keep_path_bytes_that_are_not_utf8(tmp_path):
    """Linux file names may hold bytes that are not UTF-8 (os.fsdecode keeps them as surrogates). A text file that
    names such a path (reproduce's REPORT.md names every row's run folder) is written with those bytes and read
    back to the same str; it was refused with "'utf-8' codec can't encode characters ...", naming no file."""
    folder = os.fsdecode(b"data-\xff\xfe")
    target = tmp_path / "REPORT.md"
    files.write_text(target, f"run folder: {folder}\n")
    assert target.read_bytes() == b"run folder: data-\xff\xfe\n"
    assert reproduce.read_report(target) == f"run folder: {folder}\n"


def test_commands_print_path_bytes_that_are_not_utf8(tmp_path):
    """Under a locale whose stdout is strict UTF-8 (en_US.UTF-8; PYTHONIOENCODING stands in for it), a command that
    prints a path with bytes that are not UTF-8 printed "error: 'utf-8' codec can't encode ..." after its work, and
    an error line naming such a path showed '\\udcff' escapes: both now carry the path's own bytes, as ls prints it."""
    folder = tmp_path / os.fsdecode(b"run-\xff")
    script = ("import sys; from tinyrrn import cli\n"
              "@cli.command\n"
              "def main(argv):\n"
              "    print('wrote', argv[0]); raise ValueError(argv[0] + ': no such run directory')\n"
              "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONUTF8": "0"}
    done = subprocess.run([sys.executable, "-c", script, os.fsencode(folder)], capture_output=True, env=env)
    assert done.stdout == b"wrote " + os.fsencode(folder) + b"\n"
    assert done.stderr == b"error: " + os.fsencode(folder) + b": no such run directory\n"


# -- rel12: defects of the twelfth reliability probe ------------------------------------------------
def test_a_run_folder_that_cannot_be_made_leaves_none_of_its_parents(tmp_path):
    with pytest.raises(OSError):
        rundir.create(str(tmp_path / "new" / "deeper" / ("n" * 300)))  # a name too long, below two new folders
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("module", [evaluation, prediction])
def test_an_empty_npz_as_a_checkpoint_is_named_and_said_to_hold_no_tensors(module, tiny_data, tmp_path, capsys):
    path = tmp_path / "empty.npz"
    numpy.savez(path)
    args = [str(path)] if module is evaluation else [os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi"),
                                                     "--checkpoint", str(path)]
    assert module.main(args) == cli.EXIT_USAGE
    assert one_error_line(capsys) == f"error: {path}: holds no tensors (an empty .npz), not a tinyrrn checkpoint"


def test_a_folder_where_a_checkpoint_file_is_expected_is_named(run, tmp_path, capsys):
    (tmp_path / "last.npz").mkdir()
    assert evaluation.main([str(tmp_path / "last.npz")]) == cli.EXIT_USAGE
    assert one_error_line(capsys) == f"error: {tmp_path / 'last.npz'}: a folder, not a checkpoint file"
    for main, args in ((evaluation.main, [str(tmp_path / "none.npz")]),
                       (prediction.main, ["v.avi", "--checkpoint", str(tmp_path / "none.npz")])):
        assert main(args) == cli.EXIT_USAGE  # missing: a usage error, as train --resume of no run directory
        assert one_error_line(capsys) == f"error: {tmp_path / 'none.npz'}: no such checkpoint"
    os.remove(os.path.join(run, "checkpoint.npz"))
    os.mkdir(os.path.join(run, "checkpoint.npz"))
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    assert one_error_line(capsys).startswith(f"error: {run}/checkpoint.npz: not a file (a folder")
    os.remove(os.path.join(run, "config.json"))
    os.mkdir(os.path.join(run, "config.json"))
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    assert one_error_line(capsys).startswith(f"error: {run}/config.json: not a file (a folder")


def test_a_lock_file_that_cannot_be_written_is_one_line_naming_the_run_folder(tiny_data, tmp_path, monkeypatch, capsys):
    class FullDisk:  # the lock file on a full disk: opened, but its first write fails
        def __init__(self, *args):
            self.file = open(*args)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def flush(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rundir, "open", FullDisk, raising=False)
    assert training.main(tiny_args(tiny_data, tmp_path, "--name", "full")) == 1
    line = one_error_line(capsys)
    assert re.fullmatch(rf"error: {tmp_path}/\S+-full: cannot write its lock file \S+/lock \(No space left on "
                        r"device\); nothing else was written there", line), line
    assert [p.name for p in tmp_path.iterdir()] == []  # the run folder made for it is gone
    from tinyrrn import baseline
    assert baseline.main(["--features", str(tmp_path), "--out", str(tmp_path / "new" / "b")]) == 1
    assert one_error_line(capsys).startswith(f"error: {tmp_path}/new/b: cannot write its lock file")
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_lock_file_on_a_full_disk_is_one_line_naming_the_run_and_is_not_left_behind(run, monkeypatch, capsys):
    """On a disk with no room left the lock file's close flushes its text again and fails again: the run ended in
    'error: [Errno 28] No space left on device', naming nothing, and left an empty lock file in the run folder."""
    class FullDisk:  # as a buffered file on a full disk: every flush fails, close's too
        def __init__(self, file):
            self.file = file

        def __getattr__(self, name):
            return getattr(self.file, name)

        def flush(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self):
            self.file.close()
            self.flush()

    def opened(path, mode="r", *args):
        file = open(path, mode, *args)
        return FullDisk(file) if mode == "a+" else file
    monkeypatch.setattr(rundir, "open", opened, raising=False)
    before = folder_bytes(run)
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    assert one_error_line(capsys) == (f"error: {run}: cannot write its lock file {run}/lock (No space left on "
                                      "device); nothing else was written there")
    assert folder_bytes(run) == before


def test_resuming_from_a_truncated_checkpoint_names_it_and_says_nothing_was_changed(run, capsys):
    path = os.path.join(run, "checkpoint.npz")
    os.truncate(path, os.path.getsize(path) // 2)
    before = folder_bytes(run)
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: not a readable checkpoint") and "nothing was changed" in line, line
    assert folder_bytes(run) == before


def test_a_name_too_long_for_a_folder_name_is_refused_before_anything_is_made(tiny_data, tmp_path, capsys):
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--name", "é" * 120)) == 2  # 240 bytes
    line = one_error_line(capsys)
    assert "240 bytes, longer than a folder name may be" in line and line.startswith("error: --name 'éé"), line
    assert list(tmp_path.iterdir()) == []
    configuration.check_ranges({"name": "n" * configuration.MAX_NAME_BYTES})  # the longest that fits


def test_predict_ranks_tied_classes_as_argmax_does():
    ties = numpy.array([1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 1, 2, 2, 1, 1, 1, 2, 0] * 5, numpy.float32)
    ranked = prediction.top_classes(ties, 5)
    assert ranked[0] == ties.argmax() and list(ranked) == [8, 10, 13, 14, 18]


def test_features_refuses_an_arch_other_than_its_checkpoints_before_writing(finished, tmp_path, capsys):
    from tinyrrn import features
    assert features.main(["--weights", finished, "--arch", "resnet18", "--out", str(tmp_path / "f")]) == 2
    assert one_error_line(capsys) == (f"error: --arch resnet18: --weights {finished} is a tinyrrn checkpoint of "
                                      "resnet_small; leave --arch out to use its backbone, or give weights of resnet18")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag, value", [("--weights-layout", "caffe"), ("--normalize", "caffe")])
def test_features_refuses_an_input_convention_other_than_its_checkpoints(finished, tmp_path, flag, value, capsys):
    from tinyrrn import features
    assert features.main(["--weights", finished, flag, value, "--out", str(tmp_path / "f")]) == 2
    assert one_error_line(capsys).startswith(f"error: {flag} {value}: --weights {finished} is a tinyrrn checkpoint "
                                             "trained with ")
    assert list(tmp_path.iterdir()) == []


def test_features_of_a_checkpoint_take_its_input_convention(finished, tmp_path, monkeypatch):
    """A run's own normalisation and layout, not the flags' defaults: features of a model trained on
    caffe-normalised frames from torchvision-normalised ones would be wrong in silence."""
    from tinyrrn import features
    seen = {}
    monkeypatch.setattr(features, "extract", lambda config, *rest: seen.update(config) or {"videos": [], "bad": []})
    saved = rundir.read_config(finished)[0]
    monkeypatch.setitem(saved, "normalize", "caffe")  # as a run of --normalize caffe recorded it
    monkeypatch.setattr(features, "model_from_checkpoint",
                        lambda path, real=features.model_from_checkpoint: (real(path)[0], saved))
    assert features.main(["--weights", finished, "--out", str(tmp_path / "f")]) == 0
    assert (seen["normalize"], seen["weights_layout"], seen["arch"]) == ("caffe", saved["weights_layout"], saved["arch"])


@pytest.mark.parametrize("flag, value", [("--name", "-x"), ("--lr", "-1e-3"), ("--positions", "-x")])
def test_a_value_starting_with_a_dash_is_explained_with_the_form_that_works(flag, value, capsys):
    assert training.main([flag, value]) == 2
    assert f"({flag} {value}: a value starting with '-' is read as another flag; write {flag}={value})" in \
        one_error_line(capsys)


@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"),
                                               (signal.SIGHUP, 129, "SIGHUP")], ids=["Ctrl-C", "SIGTERM", "SIGHUP"])
def test_a_signal_while_a_command_is_still_importing_is_one_line_and_its_exit_status(tmp_path, signum, code, said):
    """SIGTERM (a scheduler's, a test's) or SIGHUP in the second a command imports killed it in silence, by the
    signal (a parent saw -15, not the 143 it gets once the command runs)."""
    (tmp_path / "sitecustomize.py").write_text(  # the signal as the package imports its modules
        "import os, signal, sys\n"
        "class Signal:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tinyrrn.operators':\n"
        f"            os.kill(os.getpid(), {int(signum)})\n"
        "sys.meta_path.insert(0, Signal())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run([sys.executable, "-m", "tinyrrn.train", "--help"], capture_output=True, text=True,
                            env=env, timeout=60,  # not ignored (a shell's background job ignores Ctrl-C)
                            preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    assert result.returncode == code and result.stderr.strip() == f"interrupted ({said}) while starting", \
        (result.returncode, result.stderr)


def test_evaluate_reads_frames_from_the_runs_own_frame_cache(finished, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    cache = json.load(open(os.path.join(finished, "config.json")))["cache_dir"]
    assert os.path.isfile(os.path.join(cache, "frame_counts.json"))
    assert evaluation.main([finished, "--workers", "0", "--out", str(tmp_path / "eval")]) == 0
    assert not (tmp_path / "user").exists()  # nothing decoded again into the default cache


def test_evaluate_reads_the_frame_cache_a_resumed_run_moved_to(run, tmp_path, monkeypatch):
    settings = json.load(open(os.path.join(run, "config.json")))
    moved = str(tmp_path / "moved")
    shutil.copytree(settings["cache_dir"], moved)
    files.write_json(os.path.join(run, "config.json"), {**settings, "cache_dir": moved})  # as resume records it
    built, build = [], evaluation.build_dataset
    monkeypatch.setattr(evaluation, "build_dataset", lambda config, **kw: built.append(config["cache_dir"]) or
                        build(config, **kw))
    assert evaluation.main([run, "--workers", "0", "--out", str(tmp_path / "eval")]) == 0
    assert built == [moved]


@pytest.fixture
def read_only(monkeypatch):
    """Folders under the returned set's paths cannot be written (as a read-only mount; tests may run as root)."""
    folders, makedirs, real_open = set(), os.makedirs, open

    def refused(path):
        path = os.path.abspath(os.fspath(path))
        if any((path + os.sep).startswith(folder + os.sep) for folder in folders):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    def checked_makedirs(path, *args, **kwargs):
        if not os.path.isdir(path):
            refused(path)
        return makedirs(path, *args, **kwargs)

    def checked_open(path, mode="r", *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and set(mode) & set("wax+"):
            refused(path)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", checked_makedirs)
    monkeypatch.setattr(rundir, "open", checked_open, raising=False)
    return folders


def test_a_read_only_output_folder_is_one_line_suggesting_out(run, tiny_data, tmp_path, read_only, capsys):
    read_only.update({run, str(tmp_path / "runs")})
    before = folder_bytes(run)
    assert evaluation.main([run, "--workers", "0"]) == 1
    assert one_error_line(capsys) == (f"error: {run}/lock: Read-only file system: {run} cannot be written into; "
                                      "write elsewhere with --out DIR")
    assert folder_bytes(run) == before
    assert training.main(tiny_args(tiny_data, tmp_path / "runs")) == 1
    assert one_error_line(capsys).endswith(f": {tmp_path / 'runs'} cannot be written into; write elsewhere with "
                                           "--out DIR")
    assert training.main(["--resume", run, "--epochs", "2"]) == 1
    assert one_error_line(capsys) == (f"error: {run}/lock: Read-only file system: {run} cannot be written into; "
                                      "write elsewhere by resuming a copy of the run folder (cp -r RUN NEW; python -m "
                                      "tinyrrn.train --resume NEW)")
    assert folder_bytes(run) == before
    from tinyrrn import baseline
    (tmp_path / "features").mkdir()  # baseline refuses --features of no folder first
    read_only.add(str(tmp_path / "features"))
    for module, args in ((reproduce, ["--tables", "1"]), (baseline, ["--features", str(tmp_path / "features")])):
        out = tmp_path / "features" / "out"
        assert module.main([*args, "--out", str(out)]) == 1
        assert one_error_line(capsys).endswith(f"{out}: Read-only file system: {out} cannot be written into; "
                                               "write elsewhere with --out DIR")


def test_printed_commands_paste_into_a_shell_when_paths_hold_spaces_or_quotes(finished, tmp_path):
    import shlex
    run = str(tmp_path / "my runs" / "it's")
    shutil.copytree(finished, run)
    assert shlex.split(training.continue_command(run))[-1] == run
    config = json.load(open(os.path.join(run, "config.json")))
    words = shlex.split(training.files_to_open(run, config).splitlines()[-1].split(": ", 1)[1])
    assert words[3:] == [training.example_video(config), "--checkpoint", run] and os.path.isfile(words[3])


def test_a_frame_cache_that_cannot_be_read_is_warned_about_once_not_once_a_video(finished, tiny_data, tmp_path,
                                                                                 monkeypatch, capsys):
    from tinyrrn import features
    cache = tmp_path / "cache"
    args = ["--data", tiny_data, "--weights", finished, "--cache-dir", str(cache), "--resize", "24", "--crop", "16",
            "--batch", "4"]
    assert features.main([*args, "--out", str(tmp_path / "first")]) == 0  # every video cached
    capsys.readouterr()

    load = numpy.load

    def unreadable(path, *args, **kwargs):  # an I/O error on the cache's disk
        if str(path).startswith(str(cache)):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return load(path, *args, **kwargs)

    monkeypatch.setattr(numpy, "load", unreadable)
    assert features.main([*args, "--out", str(tmp_path / "second")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "cannot read frame cache entries (Input/output error" in warned[0], warned


def test_a_cache_dir_that_is_a_link_to_nothing_is_refused_as_a_file_is(tiny_data, tmp_path, capsys):
    os.symlink("loop", tmp_path / "loop")
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--cache-dir", str(tmp_path / "loop"))) == 2  # a path given that is no folder: a usage error
    assert one_error_line(capsys) == (f"error: {tmp_path / 'loop'}: not a folder, so it cannot hold the frame "
                                      "cache (--cache-dir)")


def test_resume_of_a_checkpoint_file_names_the_run_directory_holding_it(run, capsys):
    assert training.main(["--resume", os.path.join(run, "checkpoint.npz")]) == 2
    assert one_error_line(capsys) == (f"error: {run}/checkpoint.npz: a file, not a run directory; the run directory "
                                      f"holding it is {run}")


@pytest.mark.parametrize("module", ["reproduce", "features", "baseline"])
def test_an_output_folder_that_is_a_file_is_named_as_a_file(module, finished, tmp_path, capsys):
    import importlib
    (tmp_path / "afile").write_text("kept")
    args = {"reproduce": ["--tables", "1"], "features": ["--weights", finished],
            "baseline": ["--features", str(tmp_path)]}[module]
    assert importlib.import_module(f"tinyrrn.{module}").main([*args, "--out", str(tmp_path / "afile")]) in (1, 2)
    assert one_error_line(capsys).startswith(f"error: {tmp_path / 'afile'}: a file (or a link to nothing), not a "
                                             "folder to write into")
    assert (tmp_path / "afile").read_text() == "kept"


def test_a_damaged_line_of_the_log_leaves_the_training_curve_and_the_run_goes_on(run, capsys):
    log = os.path.join(run, "metrics.jsonl")
    lines = open(log, "rb").read().splitlines(keepends=True)
    damaged = [lines[0][:15] + b"\xff\n", b"[1, 2]\n", b'{"kind": "step"}\n']
    with open(log, "wb") as f:
        f.writelines(damaged + lines[1:])
    path = os.path.join(run, "checkpoint.npz")
    arrays, saved = checkpoint.load(path)
    checkpoint.save(path, arrays, {**saved, "log_bytes": os.path.getsize(log)})  # resume keeps the log as it is
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ")[1] for line in warned] == [f"{log}:{n}" for n in (1, 2, 3)], warned
    assert meta(run)["epoch"] == 2


def test_a_record_logged_after_a_line_a_crash_left_unfinished_is_a_line_of_its_own(run, tmp_path):
    """The log is appended to, not synced with the checkpoint: after a crash it may end in part of a line (and be
    shorter than the checkpoint records). The resumed run's first record was glued to that part: both were one
    damaged line, left out of the training curve, and a grid.jsonl's record of a finished row the same."""
    log = os.path.join(run, "metrics.jsonl")
    os.truncate(log, os.path.getsize(log) - 30)  # the last record (epoch 1's) cut in the middle
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    lines = open(log).read().splitlines()
    whole = [json.loads(line) for line in lines if line.endswith("}")]
    assert len(whole) == len(lines) - 1 and [r["epoch"] for r in whole if r["kind"] == "epoch"] == [2]
    updates = meta(run)["updates"]  # 2 epochs of as many updates each
    assert [r["update"] for r in whole if r["kind"] == "step" and r["epoch"] == 2] == list(range(updates // 2 + 1,
                                                                                                  updates + 1))
    grid = files.JsonLog(tmp_path / "grid.jsonl")
    (tmp_path / "grid.jsonl").write_text('{"row": "a"}\n{"row": "b", "err')
    grid.write({"row": "c"})
    lines = open(tmp_path / "grid.jsonl").read().splitlines()
    assert lines[:2] == ['{"row": "a"}', '{"row": "b", "err'] and json.loads(lines[2])["row"] == "c"


@pytest.mark.parametrize("loss", ["removed", "cut"])
def test_a_run_whose_log_was_lost_resumes_saying_so_and_keeps_its_training_curve(run, loss, capsys):
    """Resuming a finished run whose metrics.jsonl was lost failed at its end, drawing the training curve:
    'error: RUN/metrics.jsonl: No such file or directory; ... once fixed, continue with ...', a fix nobody could
    make; and a log shorter than the checkpoint records (records lost) was resumed without a word."""
    log = os.path.join(run, "metrics.jsonl")
    size = os.path.getsize(log)
    os.remove(log) if loss == "removed" else os.truncate(log, size // 2)
    curve = open(os.path.join(run, "training_curve.png"), "rb").read()
    capsys.readouterr()
    assert training.main(["--resume", run]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert warned[0].startswith(f"warning: {log}: holds {0 if loss == 'removed' else size // 2} bytes of the "
                                f"{size} that {run}/checkpoint.npz records"), warned
    if loss == "removed":  # nothing to draw: the picture of the lost records stays
        assert open(os.path.join(run, "training_curve.png"), "rb").read() == curve


def test_a_home_relative_out_in_a_toml_file_is_under_home_not_a_folder_named_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "run.toml").write_text('out = "~/runs"\ncache_dir = "~/cache"\n')
    given = configuration.requested(["--config", str(tmp_path / "run.toml")])[0]
    assert (given["out"], given["cache_dir"]) == (str(tmp_path / "home" / "runs"), str(tmp_path / "home" / "cache"))


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "bell\x07"])
def test_a_name_with_control_characters_is_refused(name, tiny_data, tmp_path, capsys):
    assert training.main(tiny_args(tiny_data, tmp_path / "runs", "--name", name)) == 2
    assert "must be a plain file name, without control characters" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop, code, says", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), 1, "error: {file}: No space left on device; "),
    (KeyboardInterrupt(), 130, "interrupted (Ctrl-C): stopped; ")])
def test_features_stopped_part_way_says_what_is_kept_and_the_same_command_goes_on(stop, code, says, finished, tiny_data,
                                                                                  tmp_path, monkeypatch, capsys):
    from tinyrrn import features
    args = ["--data", tiny_data, "--weights", finished, "--cache-dir", str(tmp_path / "cache"), "--resize", "24",
            "--crop", "16", "--batch", "4", "--out", str(tmp_path / "f")]
    save, written = features._save_features, []

    def stopping(path, array):
        if len(written) == 5:
            if isinstance(stop, OSError):
                stop.filename = path
            raise stop
        written.append(path)
        save(path, array)
    monkeypatch.setattr(features, "_save_features", stopping)
    assert features.main(args) == code
    err = capsys.readouterr().err
    assert says.format(file=stop.filename if isinstance(stop, OSError) else "") + "the features written so far " \
        "are kept: run the same command again to go on" in err and "Traceback" not in err, err
    monkeypatch.setattr(features, "_save_features", save)
    assert features.main(args) == 0 and len(json.load(open(tmp_path / "f" / "index.json"))["videos"]) == 40


def test_a_checkpoint_copied_in_from_another_run_is_refused_and_the_run_kept(run, tiny_data, tmp_path, capsys):
    """A checkpoint.npz of another run of the same settings, copied into a run's folder, resumed without a word:
    the run's log was cut to the other run's length and its best.npz replaced. A copy of a whole run (cp -r)
    resumes, as before."""
    other = tmp_path / "other"
    assert training.main(tiny_args(tiny_data, other, "--name", "one")) == 0
    shutil.copy(os.path.join(run_dir_of(other, "one"), "checkpoint.npz"), os.path.join(run, "checkpoint.npz"))
    before = {name: open(os.path.join(run, name), "rb").read() for name in os.listdir(run)
              if os.path.isfile(os.path.join(run, name))}
    capsys.readouterr()
    assert training.main(["--resume", run, "--epochs", "2"]) == 2
    line = one_error_line(capsys)
    assert f"{run}/checkpoint.npz: the checkpoint of another run than {run}/config.json's" in line
    assert before == {name: open(os.path.join(run, name), "rb").read() for name in before}
    whole = str(tmp_path / "whole")
    shutil.copytree(run_dir_of(other, "one"), whole)
    assert training.main(["--resume", whole, "--epochs", "2"]) == 0


def test_the_log_is_on_the_disk_before_a_checkpoint_counts_its_bytes(run, monkeypatch):
    """A checkpoint records how many bytes of metrics.jsonl it covers, but the log was never synced: after a power
    cut the checkpoint could count records the disk did not hold. Each checkpoint now syncs the log first."""
    synced, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, target, *args, **kwargs):
        synced.append(("replaced", os.path.basename(target)))
        real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    assert training.main(["--resume", run, "--epochs", "2"]) == 0
    first_checkpoint = synced.index(("replaced", "checkpoint.npz"))
    assert "metrics.jsonl" in synced[:first_checkpoint], synced
