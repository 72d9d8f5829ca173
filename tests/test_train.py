"""Training, evaluation, checkpoints and resume, on a tiny synthetic dataset."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

import tinyrrn
from tinyrrn import Tensor, checkpoint, config as configuration, signals
from tinyrrn import functional as F
from tinyrrn import train as training

from tinyrrn.cli import UsageError
from tinyrrn.evaluate import video_metrics
from tinyrrn.optim import SGD, Adam, learning_rate


def tiny_args(data, out, *extra):
    return ["--data", data, "--out", str(out), "--cache-dir", str(out / "cache"), "--arch", "resnet_small",
            "--resize", "24", "--crop", "16", "--batch", "4", "--update-every", "8", "--epochs", "2",
            "--workers", "0", "--no-baseline", "--lr", "0.003", "--log-every", "1", "--no-flip", "--val-groups", "1",
            *extra]


def tiny_config(data, out, *extra):
    config, _ = configuration.resolve(tiny_args(data, out, *extra))
    return config


# -- pieces ------------------------------------------------------------------
def test_update_size_from_chunks_or_percentage():
    assert training.update_size("1%", 9537) == 96
    assert training.update_size("64", 100) == 64
    assert training.update_size(5, 100) == 5
    with pytest.raises(ValueError, match="percentage"):
        training.update_size("150%", 100)
    with pytest.raises(ValueError, match="at least 1"):
        training.update_size("0", 100)


def test_learning_rate_schedules():
    assert learning_rate("constant", 0.1, 50, 100) == 0.1
    assert learning_rate("step", 0.1, 50, 100, step_every=20) == pytest.approx(0.001)
    assert learning_rate("cosine", 0.1, 100, 100) == pytest.approx(0.0)
    assert learning_rate("cosine", 0.1, 0, 100, warmup=10) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        learning_rate("cyclic", 0.1, 0, 1)


@pytest.mark.parametrize("total", [2, 3, 4, 5, 7, 10, 11, 100])
def test_step_schedule_takes_three_stages_one_per_third_of_the_updates(total):
    """--schedule step, as its help says: x0.1 after each third of the updates, so lr, lr/10 and lr/100 (the
    length of a third was rounded down to whole updates before: 10 updates gave a fourth stage, lr/1000, at the
    last update, and 5 updates five stages)."""
    rates = [learning_rate("step", 1.0, t, total) for t in range(total)]
    assert rates == pytest.approx([0.1 ** (3 * t // total) for t in range(total)], rel=1e-12)  # update t: third 3t/T
    assert min(rates) == pytest.approx(0.01 if total >= 3 else 0.1)
    # with a warm-up the thirds are those of the updates after it, as cosine's decay: the warm-up ends at lr,
    # not at lr/10 (a warm-up of half the updates ended after the first third had passed)
    warmup = total // 2
    rates = [learning_rate("step", 1.0, t, total + warmup, warmup=warmup) for t in range(total + warmup)]
    assert rates[warmup:] == pytest.approx([0.1 ** (3 * t // total) for t in range(total)], rel=1e-12)
    assert rates[:warmup] == pytest.approx([(t + 1) / warmup for t in range(warmup)], rel=1e-12)


@pytest.mark.parametrize("total, warmup", [(1, 0), (7, 0), (30, 0), (7, 1), (7, 3), (30, 5)])
def test_cosine_and_step_schedules_give_torchs_learning_rates(torch, total, warmup):
    """cosine is torch's CosineAnnealingLR over the updates after the warm-up, which is torch's LinearLR from
    lr / warmup up to lr; step with step_every is torch's StepLR."""
    schedulers = torch.optim.lr_scheduler

    def torch_rates(make):
        optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        scheduler, rates = make(optimiser), []
        for _ in range(total):
            rates.append(optimiser.param_groups[0]["lr"])
            optimiser.step()
            scheduler.step()
        return rates

    def cosine(optimiser):
        decay = schedulers.CosineAnnealingLR(optimiser, T_max=total - warmup)
        if not warmup:
            return decay
        ramp = schedulers.LinearLR(optimiser, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        return schedulers.SequentialLR(optimiser, [ramp, decay], milestones=[warmup])

    rates = [learning_rate("cosine", 1.0, t, total, warmup=warmup) for t in range(total)]
    assert rates == pytest.approx(torch_rates(cosine), rel=1e-12, abs=1e-15)
    rates = [learning_rate("step", 1.0, t, total, step_every=warmup + 2) for t in range(total)]
    assert rates == pytest.approx(torch_rates(lambda o: schedulers.StepLR(o, step_size=warmup + 2)), rel=1e-12)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_optimisers_match_torch(rng, name, torch):
    start = rng.standard_normal((5, 3)).astype("float32")
    grads = [rng.standard_normal((5, 3)).astype("float32") for _ in range(5)]
    ours = Tensor(start.copy(), requires_grad=True)
    theirs = torch.tensor(start.copy(), requires_grad=True)
    if name == "adam":
        opt, topt = Adam([ours], lr=0.01, weight_decay=0.01), torch.optim.Adam([theirs], lr=0.01, weight_decay=0.01)
    else:
        opt, topt = SGD([ours], lr=0.1, momentum=0.9), torch.optim.SGD([theirs], lr=0.1, momentum=0.9)
    for g in grads:
        ours.grad = Tensor(g.copy())
        theirs.grad = torch.tensor(g)
        opt.step()
        topt.step()
    numpy.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_video_metrics_average_chunk_probabilities():
    probs = numpy.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0],   # video 0 (label 1): mean [.35 .65 0] -> right
                         [0.2, 0.3, 0.5], [0.2, 0.3, 0.5],   # video 1 (label 0): -> class 2, wrong
                         [0.9, 0.05, 0.05]])                  # video 2 (label 0): right
    labels, videos = numpy.array([1, 1, 0, 0, 0]), numpy.array([0, 0, 1, 1, 2])
    m = video_metrics(probs, labels, videos, 3)
    assert m["video_error"] == pytest.approx(1 / 3) and m["top1"] == pytest.approx(2 / 3)
    assert m["clip_accuracy"] == pytest.approx(2 / 5)
    assert m["mean_class_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["confusion"] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert m["top5"] == 1.0 and "mean of the softmax probabilities" in m["averaging"]


def test_top5_of_fewer_than_5_classes_is_said_to_hold_them_all():
    """With 3 classes every video is in the 'top 5' (torch.topk(k=5) refuses 3 classes; clamped to 3 it counts so):
    evaluate reported 'top-5 1.0000' as if it measured something. The report says the top-5 took every class."""
    from tinyrrn.evaluate import summary
    probs, labels, videos = numpy.eye(3)[[2, 0, 1]], numpy.array([0, 1, 2]), numpy.arange(3)
    m = video_metrics(probs, labels, videos, 3)
    assert m["top1"] == 0.0 and m["top5"] == 1.0 and m["top5_k"] == 3
    assert "| top-5 1.0000 (of 3 classes: all of them) | mean class acc" in summary(m)
    assert video_metrics(numpy.eye(6)[:3], labels, videos, 6)["top5_k"] == 5
    assert "all of them" not in summary(video_metrics(numpy.eye(6)[:3], labels, videos, 6))


def check_recomputed(report_dir):
    """Every figure of a report's metrics.json equals its recomputation from its predictions.csv alone."""
    import csv
    with open(os.path.join(report_dir, "predictions.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    classes = json.load(open(os.path.join(report_dir, "metrics.json")))["classes"]
    confusion = numpy.zeros((len(classes), len(classes)), dtype=int)
    for r in rows:
        confusion[classes.index(r["true_class"]), classes.index(r["predicted_class"])] += 1
    totals = confusion.sum(axis=1)
    correct = [r["true_class"] == r["predicted_class"] for r in rows]
    saved = json.load(open(os.path.join(report_dir, "metrics.json")))
    assert saved["predictions"] == "predictions.csv" and saved["confusion"] == confusion.tolist()
    assert (saved["videos"], saved["chunks"]) == (len(rows), sum(int(r["chunks"]) for r in rows))
    assert saved["video_error"] == pytest.approx(1 - numpy.mean(correct))
    assert saved["top1"] == pytest.approx(numpy.mean(correct))
    assert saved["top5"] == pytest.approx(numpy.mean([r["true_class"] in r["top5"].split("|") for r in rows]))
    assert saved["clip_accuracy"] == pytest.approx(sum(int(r["chunks_correct"]) for r in rows) / saved["chunks"])
    assert saved["mean_class_accuracy"] == pytest.approx(numpy.mean(numpy.diag(confusion)[totals > 0]
                                                                    / totals[totals > 0]))


def test_every_figure_of_a_report_is_recomputable_from_its_per_video_predictions(tmp_path):
    """A report named no per-video prediction: its video error, top-5, mean class accuracy and confusion matrix
    could not be checked or recomputed from what it saved (Sec. 3.3: a video's prediction is its mean chunk
    probability)."""
    from tinyrrn.evaluate import write_report
    probs = numpy.array([[0.6, 0.4, 0.0], [0.1, 0.9, 0.0], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    labels, videos = numpy.array([1, 1, 0, 0, 0]), numpy.array([0, 0, 1, 1, 2])
    names, classes = ["B/v_B_g01_c01.avi", "A/v_A_g01_c01.avi", "A/v_A_g01_c02.avi"], ["A", "B", "C"]
    metrics = video_metrics(probs, labels, videos, 3, names=names)
    write_report(metrics, classes, str(tmp_path))
    check_recomputed(str(tmp_path))
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("video,true_class,predicted_class,probability,top5,chunks,chunks_correct")
    assert rows[1].startswith("B/v_B_g01_c01.avi,B,B,0.65,B|A|C,2,1")
    assert rows[2].startswith("A/v_A_g01_c01.avi,A,C,0.5,C|B|A,2,0")


def test_top5_holds_the_top1_prediction_when_probabilities_tie():
    """Tied probabilities (more than 5 classes at the maximum): the top-1 class (argmax: the first of the tied)
    is among the top 5, so top5 >= top1 always; an unstable sort put 5 other tied classes there."""
    probs = numpy.full((1, 101), 0.005)
    probs[0, [32, 39, 41, 43, 46, 63, 70, 80, 90, 95, 99]] = 0.05  # 11 classes tied at the maximum
    m = video_metrics(probs / probs.sum(), numpy.array([32]), numpy.array([0]), 101)
    assert m["top1"] == 1.0 and m["top5"] == 1.0


def test_config_precedence_presets_and_toml(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('skip = "linear"\nlr = 0.5\npositions = ["block2"]\n')
    config, resume = configuration.resolve(["--preset", "table3-identity", "--config", str(toml), "--lr", "0.25"])
    assert config["skip"] == "linear" and config["positions"] == ["block2"] and config["lr"] == 0.25
    assert config["arch"] == "resnet50" and config["sample_every"] == 10 and resume is None
    (tmp_path / "bad.toml").write_text("learning_rate = 3\n")
    with pytest.raises(ValueError, match=r"bad.toml: unknown settings \['learning_rate'\]"):
        configuration.resolve(["--config", str(tmp_path / "bad.toml")])


def test_a_mistyped_toml_setting_is_refused_with_a_suggestion_as_a_mistyped_flag_is(tmp_path):
    """A flag's typo (--epcohs) gets "did you mean --epochs?"; the same typo in a --config file got only the list of
    every known setting."""
    (tmp_path / "run.toml").write_text("epcohs = 3\nlrr = 0.1\n")
    with pytest.raises(UsageError, match=r"run.toml: unknown settings \['epcohs', 'lrr'\] \(did you mean epochs\?\); "
                                         r"known: \['arch', "):
        configuration.resolve(["--config", str(tmp_path / "run.toml")])
    (tmp_path / "other.toml").write_text("colour = 3\n")
    with pytest.raises(UsageError, match=r"other.toml: unknown settings \['colour'\]; known: "):
        configuration.resolve(["--config", str(tmp_path / "other.toml")])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"model/w": numpy.ones(3)}, {"epoch": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(numpy.lib.format, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"model/w": numpy.zeros(3)}, {"epoch": 2})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["checkpoint.npz"]
    arrays, meta = checkpoint.load(path)
    assert meta == {"epoch": 1} and arrays["model/w"].tolist() == [1, 1, 1]
    path.write_bytes(before[:100])
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.npz: not a readable checkpoint"):
        checkpoint.load(path)


# -- whole runs --------------------------------------------------------------
def final_weights(run_dir):
    arrays, meta = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
    return checkpoint.prefixed(arrays, "model"), meta


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tiny_data, tmp_path, sigint_at_batch):
    config = tiny_config(tiny_data, tmp_path)
    metrics, straight = training.train(config, str(tmp_path / "straight"))
    assert metrics["videos"] == 8

    disarm = sigint_at_batch(5)  # mid-accumulation: updates come every 2 batches
    stopped = str(tmp_path / "stopped")
    with pytest.raises(signals.Interrupted) as stop:
        training.train(config, stopped)
    assert stop.value.exit_code == 130 and stop.value.checkpoint == os.path.join(stopped, "checkpoint.npz")
    _, meta = final_weights(stopped)
    assert meta["observed"] == 4 and meta["loader"]["position"] == 5  # saved with a gradient half-accumulated
    disarm()
    resumed_metrics, _ = training.train(config, stopped, resume=True)

    a, meta_a = final_weights(straight)
    b, meta_b = final_weights(stopped)
    assert meta_a["updates"] == meta_b["updates"] and meta_a["epoch"] == meta_b["epoch"] == 2
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert resumed_metrics["video_error"] == metrics["video_error"]


def test_run_directory_contents(tiny_data, tmp_path):
    config = tiny_config(tiny_data, tmp_path, "--epochs", "1")
    _, run_dir = training.train(config, str(tmp_path / "run"))
    names = set(os.listdir(run_dir))
    assert {"config.json", "metrics.jsonl", "checkpoint.npz", "best.npz", "training_curve.png", "eval", "eval-last",
            "val_groups.txt"} <= names
    assert {"metrics.json", "confusion.csv", "confusion.png", "per_class.csv", "predictions.csv"} <= \
        set(os.listdir(os.path.join(run_dir, "eval")))
    for report in ("eval", "eval-last"):  # the test videos' figures, recomputed from their predictions
        check_recomputed(os.path.join(run_dir, report))
    records = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    step = next(r for r in records if r["kind"] == "step")
    assert {"loss", "lr", "clips_per_s", "data_wait", "peak_rss_mb"} <= set(step)
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1]
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    assert saved["update_every"] == "8" and saved["skip"] == "identity"


def test_a_runs_reports_name_the_command_code_version_settings_and_data_that_made_them(tiny_data, tmp_path):
    """A report named its checkpoint and weights digest but not the command line, the code version (git commit),
    the settings or the data it was made with: nothing in it said how to make it again."""
    import shlex
    from tinyrrn import builders
    args = tiny_args(tiny_data, tmp_path, "--epochs", "1", "--max-steps", "1", "--name", "made")
    assert training.main(args) == 0
    run_dir = next(str(p) for p in tmp_path.iterdir() if p.name.endswith("-made"))
    head = subprocess.run(["git", "-C", os.path.dirname(training.__file__), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    saved = {k: v for k, v in json.load(open(os.path.join(run_dir, "config.json"))).items() if k != "run"}
    for report in ("eval", "eval-last"):
        metrics = json.load(open(os.path.join(run_dir, report, "metrics.json")))
        made = metrics["made_by"]
        assert made["command"] == shlex.join(["python", "-m", "tinyrrn.train", *args])
        assert made["tinyrrn"] == tinyrrn.__version__ and made["git_commit"] == (head or None)
        assert isinstance(made["git_modified"], bool) or made["git_commit"] is None
        assert {k: metrics["settings"][k] for k in saved} == saved
        assert sorted(metrics["data_digests"]) == ["test", "training", "validation"]
        assert metrics["data_digests"]["test"] == builders.build_dataset(saved, train=False).digest()
    assert os.environ.get("TINYRRN_COMMAND") is None  # only while the command runs


# -- the protocol: select on held-out training groups, test the selected and the last epoch -----------
def spy_on_evaluations(monkeypatch, validation_errors=()):
    """Record which subset every evaluation of a run reads; validation errors replaced by ``validation_errors``."""
    calls, errors, real = [], iter(validation_errors), training.evaluate

    def spy(model, dataset, *args, **kwargs):
        metrics = real(model, dataset, *args, **kwargs)
        calls.append("validation" if dataset.validation else "train" if dataset.train else "test")
        return {**metrics, "video_error": next(errors)} if dataset.validation and validation_errors else metrics
    monkeypatch.setattr(training, "evaluate", spy)
    return calls


def test_the_epoch_is_selected_on_validation_groups_and_the_test_split_is_read_only_at_the_end(
        tiny_data, tmp_path, monkeypatch):
    calls = spy_on_evaluations(monkeypatch, [0.5, 0.25, 0.75])
    config = tiny_config(tiny_data, tmp_path, "--epochs", "3")
    metrics, run_dir = training.train(config, str(tmp_path / "run"))
    assert calls == ["validation"] * 3 + ["test", "test"]  # the selected epoch and the last, once each
    assert (metrics["epoch"], metrics["epochs"], metrics["val_video_error"]) == (2, 3, 0.25)
    assert metrics["val_groups"] == [2] and "lowest validation video error (0.2500) on groups g02" in metrics["selected_by"]
    assert metrics["last"]["epoch"] == 3 and metrics["last"]["val_video_error"] == 0.75
    assert checkpoint.load(os.path.join(run_dir, "best.npz"))[1]["epoch"] == 2
    records = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["val_video_error"] for r in epochs] == [0.5, 0.25, 0.75] and not any("video_error" in r for r in epochs)
    saved = json.load(open(os.path.join(run_dir, "eval", "metrics.json")))
    last = json.load(open(os.path.join(run_dir, "eval-last", "metrics.json")))
    assert saved["epoch"] == 2 and saved["split"] == "test" and last["epoch"] == 3
    assert saved["last"]["video_error"] == last["video_error"]
    # eval/ is the test error of best.npz's weights (epoch 2), eval-last/ of checkpoint.npz's (epoch 3)
    from tinyrrn import builders
    from tinyrrn.evaluate import evaluate
    test_set = builders.build_dataset(config, train=False)
    for name, report in (("best.npz", saved), ("checkpoint.npz", last)):
        model, _ = builders.model_from_checkpoint(os.path.join(run_dir, name))
        assert evaluate(model, test_set, 4, 0)["video_error"] == report["video_error"], name
    lines = open(os.path.join(run_dir, "val_groups.txt")).read().splitlines()
    assert lines[0].startswith("# whole groups of trainlist01.txt held out") and lines[1:] == ["g02"]


def test_validation_videos_are_whole_training_groups_never_trained_on(tiny_data, tmp_path):
    from tinyrrn import builders
    config = tiny_config(tiny_data, tmp_path, "--val-groups", "2", "--seed", "3")
    groups = builders.held_out_groups(config)
    train, val = builders.build_dataset(config, train=True), builders.build_dataset(config, train=True, validation=True)
    full = builders.build_dataset({**config, "val_groups": 0}, train=True)
    group = {rel: int(rel.split("_g")[1][:2]) for rel, _ in full.videos}
    assert len(groups) == 2 and set(groups) <= {2, 3, 4, 5}  # split 1 tests g01
    assert {group[rel] for rel, _ in val.videos} == set(groups) and not {group[rel] for rel, _ in train.videos} & set(groups)
    assert sorted(train.videos + val.videos) == sorted(full.videos)
    assert train.train and not val.train and val.validation  # validation reads like the test list: centre crops
    numpy.testing.assert_array_equal(val.get(0, numpy.random.default_rng(1))[0], val.get(0, numpy.random.default_rng(2))[0])
    assert builders.held_out_groups(config) == groups  # fixed by the seed
    with pytest.raises(ValueError, match=r"trainlist01.txt: --val-groups 4: the training list has 4 groups"):
        builders.held_out_groups({**config, "val_groups": 4})


def test_val_groups_0_trains_on_the_whole_list_and_reports_the_last_epoch(tiny_data, tmp_path, monkeypatch):
    calls = spy_on_evaluations(monkeypatch)
    config = tiny_config(tiny_data, tmp_path, "--epochs", "1", "--val-groups", "0", "--max-steps", "2")
    metrics, run_dir = training.train(config, str(tmp_path / "run"))
    assert calls == ["test"]
    assert metrics["epoch"] == metrics["last"]["epoch"] == 1 and "--val-groups 0" in metrics["selected_by"]
    assert metrics["val_groups"] == [] and metrics["val_video_error"] is None
    assert not os.path.exists(os.path.join(run_dir, "best.npz"))
    assert not os.path.exists(os.path.join(run_dir, "val_groups.txt"))
    _, meta = final_weights(run_dir)
    assert meta["val_groups"] == [] and meta["config"]["val_groups"] == 0
    with pytest.raises(ValueError, match=r"settings that define the run: val_groups 0 -> 1"):
        training.train({**config, "val_groups": 1}, run_dir, resume=True)
    # a run from before --val-groups (it chose its epoch on the test split) is refused by name
    arrays, meta = checkpoint.load(os.path.join(run_dir, "checkpoint.npz"))
    old = {k: v for k, v in meta["config"].items() if k not in ("val_groups", "weights_layout")}
    checkpoint.save(os.path.join(run_dir, "checkpoint.npz"), arrays, {**meta, "config": old})
    with pytest.raises(ValueError, match=r"written by an older tinyrrn, before the setting\(s\) weights_layout, "
                                         "val_groups existed"):
        training.train(old, run_dir, resume=True)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    config = tiny_config(tiny_data, tmp_path, "--epochs", "1")
    run_dir = str(tmp_path / "nan")
    training.train(config, run_dir)
    before = open(os.path.join(run_dir, "checkpoint.npz"), "rb").read()
    original = F.cross_entropy
    monkeypatch.setattr(training.F, "cross_entropy", lambda logits, target: original(logits, target) * float("nan"))
    with pytest.raises(training.TrainingError, match=r"non-finite loss \(nan\) at update 6, epoch 2"):
        training.train({**config, "epochs": 2}, run_dir, resume=True)
    assert open(os.path.join(run_dir, "checkpoint.npz"), "rb").read() == before


def run_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


def test_command_line_smoke_train_interrupt_resume_evaluate_predict(tiny_data, tmp_path):
    """What CI's smoke run does: a few steps, Ctrl-C, resume, evaluate, predict."""
    args = tiny_args(tiny_data, tmp_path, "--epochs", "50", "--max-steps", "30", "--name", "smoke")
    proc = subprocess.Popen([sys.executable, "-m", "tinyrrn.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob("*-smoke/metrics.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "--resume" in out
    run_dir = str(next(tmp_path.glob("*-smoke")))
    resumed = run_cli("tinyrrn.train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final_weights(run_dir)[1]["updates"] == 30
    assert "video-level error on the test split, of the epoch selected by the lowest validation video error" in resumed.stdout
    assert "last epoch" in resumed.stdout

    evaluated = run_cli("tinyrrn.evaluate", run_dir, "--workers", "0")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "video error" in evaluated.stdout and f"wrote {run_dir}/eval/metrics.json" in evaluated.stdout
    assert sorted(p.name for p in Path(run_dir).glob("eval*")) == ["eval", "eval-last"]  # training's folders
    report = json.load(open(os.path.join(run_dir, "eval", "metrics.json")))
    assert report["epoch"] == final_weights(run_dir)[1]["best_epoch"] and "selected_by" in report  # training's, kept
    same = run_cli("tinyrrn.evaluate", run_dir, "--split", "1", "--data", tiny_data, "--workers", "0")
    assert same.returncode == 0 and f"wrote {run_dir}/eval/metrics.json" in same.stdout, same.stderr  # the run's own
    assert json.load(open(os.path.join(run_dir, "eval", "metrics.json")))["selected_by"] == report["selected_by"]
    other = run_cli("tinyrrn.evaluate", os.path.join(run_dir, "checkpoint.npz"), "--split", "2", "--workers", "0")
    assert other.returncode == 2 and "error: --split 2: 4 of its test groups are in the training list of split 1" \
        in other.stderr, other.stderr  # split 2 tests g02, which split 1 trains on: no test

    video = os.path.join(tiny_data, "Grow", "v_Grow_g01_c01.avi")
    predicted = run_cli("tinyrrn.predict", video, "--checkpoint", run_dir)
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.strip().splitlines()
    assert len(lines) == 5 and lines[1].startswith("1. ")  # header + top-4 of 4 classes
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    failed = run_cli("tinyrrn.predict", str(broken), "--checkpoint", run_dir)
    assert failed.returncode == 1 and "broken.avi" in failed.stderr


@pytest.mark.parametrize("steps, val_groups, says", [
    ("3", "1", "(epoch 1 of 1, selected by the last weights (--max-steps stopped the run before any epoch ended: none "
               "was validated), cut short by --max-steps 3 at update 3, after batch 6 of 10 of epoch 1)"),
    ("9", "0", "(epoch 2 of 2, cut short by --max-steps 9 at update 9, after batch ")])
def test_the_jobs_summary_says_when_a_run_departs_from_the_rule_it_names(tiny_data, tmp_path, capsys, steps,
                                                                         val_groups, says):
    """The summary named one rule, "the epoch selected by the lowest validation video error", also for a run that
    --max-steps stopped before any epoch was validated (its test figures are of its last, cut-short weights)."""
    assert training.main(tiny_args(tiny_data, tmp_path, "--epochs", "3", "--max-steps", steps, "--val-groups",
                                   val_groups)) == 0
    summary = capsys.readouterr().out.split("video-level error on the test split")[1]
    assert says in summary.splitlines()[1]


def test_equal_validation_errors_keep_the_earliest_epoch_as_documented(tiny_data, tmp_path, monkeypatch):
    """On a few held-out videos validation errors often tie: which epoch is kept was said nowhere."""
    real = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda model, dataset, *args, **kwargs: {
        **real(model, dataset, *args, **kwargs), **({"video_error": 0.5} if dataset.validation else {})})
    run_dir = str(tmp_path / "tie")
    selected, _ = training.train(tiny_config(tiny_data, tmp_path, "--epochs", "3"), run_dir)
    assert selected["epoch"] == checkpoint.load(os.path.join(run_dir, "best.npz"))[1]["epoch"] == 1
    from tinyrrn import baseline
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    for text in (readme, training.__doc__, baseline.__doc__):
        assert "(the earliest of equal ones" in " ".join(text.split())


def test_help_explains_every_flag():
    out = run_cli("tinyrrn.train", "--help").stdout
    for flag in ("--data", "--split", "--arch", "--weights", "--skip", "--positions", "--context",
                 "--sample-every", "--chunk", "--epochs", "--lr", "--update-every", "--batch", "--workers",
                 "--seed", "--device", "--out", "--resume", "--preset", "--config", "--freeze-bn"):
        assert flag in out, flag


@pytest.mark.parametrize("every, drawn", [(0.0, [1, 2, 3]), (1e9, [1, 3])])
def test_the_training_curve_is_redrawn_at_most_every_so_often_and_after_the_last_epoch(tiny_data, tmp_path,
                                                                                       monkeypatch, every, drawn):
    epochs = []
    monkeypatch.setattr(training.Trainer, "PLOT_EVERY_SECONDS", every)
    monkeypatch.setattr(training, "plot_training_curve",
                        lambda log, path: epochs.append(sum('"kind": "epoch"' in line for line in open(log))))
    training.train(tiny_config(tiny_data, tmp_path, "--epochs", "3"), str(tmp_path / "run"))
    assert epochs == drawn
