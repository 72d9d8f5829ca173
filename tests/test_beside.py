"""The main job's two runs side by side (tinyrrn.beside): the same weights as one after the other,
one Ctrl-C or SIGTERM stops both with a checkpoint each, and a failure of the run beside is one error."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy
import pytest

from tinyrrn import checkpoint
from tinyrrn import train as training

pytestmark = pytest.mark.cpu_only("the two runs go side by side on CPU cores; on a GPU they take turns")


def job_args(data, out, *extra):
    """A tiny main job: the temporal-skip model and its no-skip baseline (--baseline)."""
    return ["--data", data, "--out", str(out), "--cache-dir", str(out / "cache"), "--arch", "resnet_small",
            "--resize", "24", "--crop", "16", "--batch", "4", "--update-every", "8", "--epochs", "2",
            "--workers", "0", "--baseline", "--lr", "0.003", "--log-every", "1", "--no-flip", "--val-groups", "1",
            *extra]


def weights(run_dir):
    arrays, meta = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
    return checkpoint.prefixed(arrays, "model"), meta


def the_run(out):
    found = [p for p in out.iterdir() if p.is_dir() and p.name != "cache"]
    assert len(found) == 1, found
    return str(found[0])


def test_side_by_side_gives_the_weights_of_one_after_the_other(tiny_data, tmp_path, capsys):
    assert training.main(job_args(tiny_data, tmp_path / "turn", "--threads", "1")) == 0
    in_turn = capsys.readouterr().out
    assert "one after the other" in in_turn
    assert training.main(job_args(tiny_data, tmp_path / "beside", "--threads", "2")) == 0
    beside = capsys.readouterr().out
    assert "side by side, in two processes" in beside
    turn_dir, beside_dir = the_run(tmp_path / "turn"), the_run(tmp_path / "beside")
    assert "run 2 of 2 (side by side), in " in open(os.path.join(beside_dir, "baseline.log")).read()
    for sub in ("", "baseline"):
        (a, meta_a), (b, meta_b) = weights(os.path.join(turn_dir, sub)), weights(os.path.join(beside_dir, sub))
        assert meta_a["updates"] == meta_b["updates"] > 0 and sorted(a) == sorted(b)
        for name in a:
            numpy.testing.assert_array_equal(a[name], b[name], err_msg=f"{sub or 'skip'}: {name}")
    errors = [line.split()[-5:-4] for line in in_turn.splitlines() if "(epoch" in line]
    assert errors and errors == [line.split()[-5:-4] for line in beside.splitlines() if "(epoch" in line]
    # the baseline is frame-wise: every sampled frame a chunk of its own, in batches and updates of the
    # same frames as the skip model's (chunks of T = 2 frames)
    skip, baseline = (json.load(open(os.path.join(turn_dir, sub, "config.json"))) for sub in ("", "baseline"))
    assert (baseline["context"], baseline["chunk"], baseline["batch"], baseline["update_every"]) == \
        (1, 1, 2 * skip["batch"], str(2 * int(skip["update_every"])))
    frames = [json.load(open(os.path.join(turn_dir, sub, "eval", "metrics.json")))["chunks"] for sub in ("", "baseline")]
    assert frames[1] >= 2 * frames[0], frames  # every test frame, not the last of each chunk of 2 only


@pytest.mark.parametrize("signum, to", [(signal.SIGINT, "group"), (signal.SIGTERM, "parent"),
                                        (signal.SIGTERM, "every process"), (signal.SIGHUP, "every process")])
def test_one_signal_stops_both_runs_with_a_checkpoint_each_and_resume_ends_both(tiny_data, tmp_path, signum, to):
    """SIGINT to the job's process group (a terminal's Ctrl-C; the run beside is in a session of its
    own, so it hears of it once, from the parent), SIGTERM to the parent alone (kill, schedulers), or to every
    process of the job (systemd's control group, Slurm's job step; a terminal closing: SIGHUP), where the run beside
    heard it twice, directly and from the parent, and stopped at once without a checkpoint."""
    args = job_args(tiny_data, tmp_path, "--threads", "2", "--epochs", "50", "--max-steps", "30")
    proc = subprocess.Popen([sys.executable, "-m", "tinyrrn.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob("*/**/metrics.jsonl"))) < 2:
        time.sleep(0.05)
    if to == "group":
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    if to == "every process":
        os.kill(int(next(tmp_path.glob("*/baseline/lock")).read_text().split()[1]), signum)  # "process PID on ..."
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, out
    run_dir = the_run(tmp_path)
    for directory in (run_dir, os.path.join(run_dir, "baseline")):
        assert os.path.isfile(os.path.join(directory, "checkpoint.npz")), out
        assert not os.path.exists(os.path.join(directory, "lock")), f"{directory}: still locked"  # the child ended
    stopped = [line for line in open(os.path.join(run_dir, "baseline.log")) if line.startswith("interrupted")]
    assert stopped and stopped[-1].rstrip().endswith(f"--resume {run_dir}"), stopped  # the job's command, as here
    assert "checkpoint written to" in stopped[-1], stopped  # at the stop, not only the epoch's before it
    resumed = subprocess.run([sys.executable, "-m", "tinyrrn.train", "--resume", run_dir], capture_output=True,
                             text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert weights(run_dir)[1]["updates"] == weights(os.path.join(run_dir, "baseline"))[1]["updates"] == 30
    assert "no skip (context 1)" in resumed.stdout


def test_a_failure_of_the_run_beside_is_one_error_naming_its_log(tiny_data, tmp_path, capsys):
    assert training.main(job_args(tiny_data, tmp_path, "--threads", "2", "--epochs", "1")) == 0
    run_dir = the_run(tmp_path)
    broken = os.path.join(run_dir, "baseline", "checkpoint.npz")
    arrays, meta = checkpoint.load(broken)  # a whole file whose weights no longer fit the model: found as it resumes
    checkpoint.save(broken, {**arrays, "model/backbone.fc.bias": numpy.zeros(99, numpy.float32)}, meta)
    capsys.readouterr()
    assert training.main(["--resume", run_dir, "--threads", "2"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    err = lines[-1]
    assert err.startswith("error: no skip (context 1), trained beside this run, failed: ") and broken in err, err
    assert not [line for line in lines if line.startswith("no skip (context 1): failed")], lines  # said once, here
    assert err.endswith(f"(its output: {os.path.join(run_dir, 'baseline.log')})")


def test_a_run_beside_that_dies_is_said_at_once_and_the_job_ends_in_one_error(tiny_data, tmp_path):
    """kill -9 of the child: a warning between this run's batches, this run finishes, then one error line."""
    args = job_args(tiny_data, tmp_path, "--threads", "2", "--epochs", "50", "--max-steps", "60")
    proc = subprocess.Popen([sys.executable, "-m", "tinyrrn.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob("*/**/metrics.jsonl"))) < 2:
        time.sleep(0.05)
    lock = next(tmp_path.glob("*/baseline/lock")).read_text()  # "process PID on host ..."
    os.kill(int(lock.split()[1]), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    lines = err.strip().splitlines()
    said = "failed: its process ended with exit status -9 (killed: by the system's out-of-memory killer, or by hand)"
    assert "Traceback" not in err and any(line.startswith(f"warning: no skip (context 1), trained beside this run, "
                                                          f"{said}") for line in lines), err
    assert lines[-1].startswith(f"error: no skip (context 1), trained beside this run, {said} (its output: "), err
    assert weights(the_run(tmp_path))[1]["updates"] == 60  # this run went on to its end


def test_a_failure_of_this_run_is_its_own_error_after_the_run_beside_stopped(tiny_data, tmp_path, capsys):
    assert training.main(job_args(tiny_data, tmp_path, "--threads", "2", "--epochs", "1")) == 0
    run_dir = the_run(tmp_path)
    broken = os.path.join(run_dir, "checkpoint.npz")
    with open(broken, "wb") as f:
        f.write(b"not a checkpoint")
    capsys.readouterr()
    assert training.main(["--resume", run_dir, "--threads", "2"]) == 1  # the run beside resumes, then is stopped
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: ") and broken in err, err


def _stops_on_a_signal(checkpoint):
    """A stand-in for a training run in the child: waits for a stop request, then stops 'with a checkpoint'."""
    from tinyrrn import signals
    with signals.StopSignals() as stop:
        print("waiting for a signal", flush=True)
        while not stop.received:
            time.sleep(0.05)
    raise signals.Interrupted(stop.received, checkpoint)


def test_a_signal_while_waiting_for_the_run_beside_stops_it_with_a_checkpoint(tmp_path):
    """This run is done and waits: Ctrl-C is passed on (as signals.PASS_ON), the child stops with its checkpoint,
    and the job is interrupted with 130, naming that checkpoint and the command that continues the job."""
    import multiprocessing
    import threading
    from tinyrrn import signals
    from tinyrrn.beside import RunBeside, SharedClock
    shares = multiprocessing.get_context("spawn").Array("d", 2, lock=False)
    log = str(tmp_path / "beside.log")
    with RunBeside(_stops_on_a_signal, ("/run/baseline/checkpoint.npz",), log, 1, "the other run",
                   "python -m tinyrrn.train --resume /run") as other:
        def interrupt_once_it_waits():
            deadline = time.monotonic() + 60
            def waits():
                return os.path.exists(log) and "waiting for a signal" in open(log).read()
            while time.monotonic() < deadline and not waits():
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt_once_it_waits, daemon=True).start()
        with pytest.raises(signals.Interrupted) as stop:
            other.wait(SharedClock(shares, 0))
    assert stop.value.exit_code == 130 and stop.value.checkpoint == "/run/baseline/checkpoint.npz"
    assert str(stop.value) == ("the other run: checkpoint written to /run/baseline/checkpoint.npz; continue with "
                               "python -m tinyrrn.train --resume /run")
    assert "the job's stop request: finishing this batch" in open(log).read()
    assert not other.process.is_alive()


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_job_killed_before_the_baselines_first_checkpoint_resumes_and_starts_the_baseline_again(tiny_data, tmp_path,
                                                                                                   threads, capsys):
    """kill -9 of the whole job (the OOM killer, a power cut) while the baseline trains its first epoch leaves its
    folder with config.json, val_groups.txt and the first lines of metrics.jsonl, and no checkpoint: --resume trains
    the baseline from its beginning (said once), to the weights of a job never stopped; a baseline whose checkpoint
    was lost after it had results (best.npz, eval/) is still refused, never trained afresh over them."""
    assert training.main(job_args(tiny_data, tmp_path, "--threads", threads, "--epochs", "1")) == 0
    run_dir = the_run(tmp_path)
    baseline = os.path.join(run_dir, "baseline")
    whole, _ = weights(baseline)
    for name in ("checkpoint.npz", "best.npz", "training_curve.png", "eval", "eval-last"):
        subprocess.run(["rm", "-r", os.path.join(baseline, name)], check=True)
    with open(os.path.join(baseline, "metrics.jsonl")) as f:
        first_line = f.readline()
    with open(os.path.join(baseline, "metrics.jsonl"), "w") as f:
        f.write(first_line)
    capsys.readouterr()
    assert training.main(["--resume", run_dir, "--threads", threads]) == 0
    err = capsys.readouterr().err
    assert f"{baseline}: no checkpoint yet (the job was stopped before the baseline's first one): its" in err, err
    again, meta = weights(baseline)
    assert meta["updates"] > 0 and sorted(again) == sorted(whole)
    for name in whole:
        numpy.testing.assert_array_equal(again[name], whole[name], err_msg=name)
    assert all(json.loads(line)["epoch"] == 1 for line in open(os.path.join(baseline, "metrics.jsonl")))
    os.remove(os.path.join(baseline, "checkpoint.npz"))  # lost after the baseline had its results: refused
    assert training.main(["--resume", run_dir, "--threads", threads]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint to resume from" in err and err.strip().splitlines()[-1].endswith(
        f"; or, to train the baseline again from its beginning, remove {baseline} and resume the job"), err
    assert os.path.isfile(os.path.join(baseline, "best.npz"))


def test_a_stop_while_the_baseline_trains_names_the_command_that_continues_the_job(tiny_data, tmp_path,
                                                                                 sigint_at_batch, capsys):
    """In turn (--threads 1, a GPU, MPI), Ctrl-C while the baseline trains: the last line names the job's folder
    for --resume (which continues both runs and prints both errors), not the baseline's (which trains it alone)."""
    sigint_at_batch(14)  # the skip run's epoch is 10 batches: the 4th of the baseline
    assert training.main(job_args(tiny_data, tmp_path, "--threads", "1", "--epochs", "1")) == 130
    run_dir = the_run(tmp_path)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert os.path.join(run_dir, "baseline", "checkpoint.npz") in last, last
    assert last.endswith(f"continue with python -m tinyrrn.train --resume {run_dir}"), last


def test_a_stop_in_the_baselines_final_evaluation_names_the_command_that_continues_the_job(tiny_data, tmp_path,
                                                                                         monkeypatch, capsys):
    """In turn, Ctrl-C during the baseline's final test evaluation: 'runs the evaluation again' names the job's
    --resume, not the baseline's folder (docs10: that message was built from the baseline's own folder)."""
    made, original = [], training.Trainer

    def interrupted_in_the_seconds_evaluation(*args, **kwargs):
        trainer = original(*args, **kwargs)
        made.append(trainer)
        if len(made) == 2:
            evaluate = trainer.final_evaluation

            def then_ctrl_c():
                result = evaluate()
                os.kill(os.getpid(), signal.SIGINT)
                return result
            trainer.final_evaluation = then_ctrl_c
        return trainer
    monkeypatch.setattr(training, "Trainer", interrupted_in_the_seconds_evaluation)
    assert training.main(job_args(tiny_data, tmp_path, "--threads", "1", "--epochs", "1")) == 130
    run_dir = the_run(tmp_path)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith(f"python -m tinyrrn.train --resume {run_dir} runs the evaluation again"), last


def test_a_stop_before_the_baseline_trains_says_how_to_continue_the_job(tiny_data, tmp_path, monkeypatch, capsys):
    """In turn, SIGTERM after the skip run has finished and before the baseline's training loop (its start-up:
    no checkpoint is written) ends in a line that says how to go on, not in 'stopped by SIGTERM' alone."""
    made, original = [], training.Trainer

    def stopped_at_the_second(*args, **kwargs):
        made.append(1)
        if len(made) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)
    monkeypatch.setattr(training, "Trainer", stopped_at_the_second)
    assert training.main(job_args(tiny_data, tmp_path, "--threads", "1", "--epochs", "1")) == 143
    run_dir = the_run(tmp_path)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("interrupted (SIGTERM): stopped by SIGTERM") and \
        last.endswith(f"continue with python -m tinyrrn.train --resume {run_dir}"), last


def test_a_refused_resume_is_one_error_line_before_the_run_beside_starts(tiny_data, tmp_path, capsys):
    """--resume JOB --lr X of a finished job was refused only once the first run resumed: the job had printed its
    plan and started its baseline beside it, then stopped it ('stopped at once, without a checkpoint')."""
    args = job_args(tiny_data, tmp_path, "--epochs", "1", "--max-steps", "2", "--threads", "1")
    assert training.main(args) == 0
    run = the_run(tmp_path)
    capsys.readouterr()
    assert training.main(["--resume", run, "--lr", "0.1", "--threads", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {run}: the run is finished") and len(err.splitlines()) == 1, err
    assert not os.path.exists(os.path.join(run, "baseline.log"))  # no process was started beside
