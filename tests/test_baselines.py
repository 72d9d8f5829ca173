"""Table 1 pieces: cached per-frame features, Z-norm with training statistics, avg-pool and GRU baselines."""
import json
import os
import re

import numpy
import pytest

import strict_xp
import tinyrrn
from devices import host, on_device
from test_train import check_recomputed
from tinyrrn import Tensor, baseline, cli, features, rundir
from tinyrrn import config as configuration
from tinyrrn.data.transforms import Normalize, center_crops, crop
from tinyrrn.models import resnet_small
from tinyrrn.weights import save_npz


def write_features(root, train, test, classes=("A", "B")):
    """A feature folder as tinyrrn.features writes it, from lists of (array, label): test videos in
    group g01, training videos spread over g02-g06."""
    videos = []
    for subset, items in (("train", train), ("test", test)):
        for i, (array, label) in enumerate(items):
            group = 2 + i % 5 if subset == "train" else 1
            rel = f"{classes[label]}/v_{classes[label]}_g{group:02d}_c{i:02d}.npy"
            os.makedirs(os.path.join(root, classes[label]), exist_ok=True)
            numpy.save(os.path.join(root, rel), numpy.asarray(array, dtype=numpy.float32))
            videos.append({"video": rel, "file": rel, "label": int(label), "subset": subset, "key": f"k{i}"})
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"complete": True, "layer": "layer4", "classes": list(classes), "videos": videos, "bad": []}, f)
    return str(root)


def order_set(rng, n, dims=4):
    """Sequences whose class is only in frame order: class 1 is class 0 played backwards."""
    items = []
    for i in range(n):
        steps = int(rng.integers(3, 7))
        base = rng.standard_normal(dims) * 0.3
        ramp = numpy.linspace(-1, 1, steps)[:, None] * numpy.ones(dims)
        seq = base + ramp
        label = i % 2
        items.append((seq[::-1] if label else seq, label))
    return items


# -- Z-norm ----------------------------------------------------------------------
def test_znorm_stats_are_per_dimension_over_all_training_frames():
    a = numpy.array([[0.0, 10.0], [2.0, 10.0]])
    b = numpy.array([[4.0, 10.0]])
    mean, std = baseline.znorm_stats([a, b])
    numpy.testing.assert_allclose(mean, [2.0, 10.0])
    numpy.testing.assert_allclose(std, [numpy.std([0, 2, 4]), 1e-6])  # constant dimension: floored, no 0-division
    normed = baseline.apply_znorm([a], (mean, std))[0]
    assert numpy.isfinite(normed).all() and normed[:, 0].tolist() == pytest.approx([-2 / std[0], 0])


def test_znorm_uses_training_statistics_only(tmp_path, monkeypatch, rng):
    train = [(rng.standard_normal((3, 5)) + 1, i % 2) for i in range(6)]
    test = [(rng.standard_normal((4, 5)), i % 2) for i in range(4)]
    seen = []
    real = baseline.apply_znorm
    monkeypatch.setattr(baseline, "apply_znorm", lambda seqs, stats: seen.append(stats) or real(seqs, stats))
    baseline.run(write_features(tmp_path / "a", train, test), "avgpool", znorm=True, epochs=1, val_groups=0)
    shifted = [(x * 100 + 50, y) for x, y in test]  # very different test features
    baseline.run(write_features(tmp_path / "b", train, shifted), "avgpool", znorm=True, epochs=1, val_groups=0)
    expected = baseline.znorm_stats([x for x, _ in train])
    assert len(seen) == 6  # training, validation (none here) and test videos normalised, in both runs
    for mean, std in seen:
        numpy.testing.assert_allclose(mean, expected[0], rtol=1e-6)
        numpy.testing.assert_allclose(std, expected[1], rtol=1e-6)


# -- models ----------------------------------------------------------------------
def test_gru_baseline_shapes_and_last_real_step(rng):
    model = baseline.build("gru", 5, 3).eval()
    assert model.gru.hidden_size == 128  # the paper's 128 units
    seqs = [rng.standard_normal((n, 5)).astype("float32") for n in (6, 3, 1, 4)]
    x, lengths = baseline.pad(seqs)
    assert x.shape == (4, 6, 5) and lengths.tolist() == [6, 3, 1, 4]
    logits = model(Tensor(on_device(x)), lengths)
    assert logits.shape == (4, 3)
    for i, s in enumerate(seqs):  # padding after a video's end does not change its prediction
        alone = model(Tensor(on_device(s[None])), numpy.array([len(s)]))
        numpy.testing.assert_allclose(host(logits)[i], host(alone)[0], rtol=1e-5, atol=1e-6)
    probs = baseline.predict(model, seqs, batch=3)
    assert probs.shape == (4, 3) and numpy.allclose(probs.sum(axis=1), 1, atol=1e-5)
    softmax = numpy.exp(host(logits) - host(logits).max(1, keepdims=True))
    numpy.testing.assert_allclose(probs, softmax / softmax.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)  # order kept
    avg = baseline.build("avgpool", 5, 3)
    assert avg(Tensor(on_device(x)), lengths).shape == (4, 3)
    numpy.testing.assert_allclose(host(avg(Tensor(on_device(x)), lengths))[1],
                                  host(avg.fc(Tensor(on_device(seqs[1].mean(0)[None]))))[0],
                                  rtol=1e-5, atol=1e-6)  # the mean over real frames only


def test_gru_learns_frame_order_that_average_pooling_cannot(tmp_path, rng):
    items = order_set(rng, 48)
    model = baseline.build("gru", 4, 2, hidden=16)
    losses = baseline.fit(model, [x.astype("float32") for x, _ in items], numpy.array([y for _, y in items]),
                          epochs=25, lr=0.01, batch=8)
    assert losses[-1] < 0.5 * losses[0]
    folder = write_features(tmp_path / "order", order_set(rng, 40), order_set(rng, 16))
    gru = baseline.run(folder, "gru", znorm=True, out_dir=str(tmp_path / "gru"), epochs=25, lr=0.01, batch=8, hidden=16,
                       val_groups=0)
    avg = baseline.run(folder, "avgpool", znorm=True, epochs=25, lr=0.01, batch=8, val_groups=0)
    assert gru["video_error"] <= 0.125 and avg["video_error"] >= 0.25
    assert gru["videos"] == 16 and gru["chunks"] == 16
    written = json.load(open(tmp_path / "gru" / "eval" / "metrics.json"))
    assert written["video_error"] == gru["video_error"] and written["classes"] == ["A", "B"]
    assert len(open(tmp_path / "gru" / "metrics.jsonl").readlines()) == 25


def test_baselines_select_their_epoch_on_held_out_training_groups(tmp_path, rng, monkeypatch):
    """Table 1 follows the training protocol: whole groups of the training videos held out (those a
    training run with the same seed holds out), the epoch chosen on them, the test split read at the end."""
    from tinyrrn.data.splits import validation_groups
    folder = write_features(tmp_path / "f", order_set(rng, 50), order_set(rng, 16))
    index, subsets = baseline.load_features(folder)
    expected = validation_groups([(name, 0) for name in subsets["train"][2]], 2, seed=4)
    seen, stats = [], []
    real_predict, real_stats = baseline.predict, baseline.znorm_stats
    monkeypatch.setattr(baseline, "predict", lambda model, seqs, batch=64: seen.append(len(seqs)) or real_predict(model, seqs))
    monkeypatch.setattr(baseline, "znorm_stats", lambda seqs: stats.append(len(seqs)) or real_stats(seqs))
    out = tmp_path / "run"
    metrics = baseline.run(folder, "gru", znorm=True, out_dir=str(out), epochs=6, lr=0.01, batch=8, hidden=8,
                           seed=4, val_groups=2)
    assert metrics["val_groups"] == expected and json.load(open(out / "config.json"))["held_out_groups"] == expected
    assert stats == [30]  # Z-norm statistics of the 30 videos trained on, not the 20 held out
    validation = [r["val_video_error"] for r in map(json.loads, open(out / "metrics.jsonl"))]
    assert len(validation) == 6 and metrics["epoch"] == 1 + validation.index(min(validation))
    assert metrics["val_video_error"] == min(validation) and metrics["last"]["epoch"] == 6
    assert seen[:6] == [20] * 6 and seen[6:] == [16] * (1 if metrics["epoch"] == 6 else 2)  # test: at the end only
    assert json.load(open(out / "eval" / "metrics.json"))["epoch"] == metrics["epoch"]
    assert json.load(open(out / "eval-last" / "metrics.json"))["video_error"] == metrics["last"]["video_error"]
    for report in ("eval", "eval-last"):  # one prediction per test video, from which its figures are recomputed
        check_recomputed(str(out / report))
        written = json.load(open(out / report / "metrics.json"))  # and what made it: code, settings, features
        assert written["made_by"]["tinyrrn"] == tinyrrn.__version__ and "command" in written["made_by"]
        assert written["settings"] == json.load(open(out / "config.json"))
    whole = baseline.run(folder, "avgpool", epochs=2, val_groups=0)
    assert whole["epoch"] == 2 and whole["val_groups"] == [] and "--val-groups 0" in whole["selected_by"]


def test_incomplete_features_are_refused(tmp_path, rng):
    folder = write_features(tmp_path / "f", order_set(rng, 4), order_set(rng, 2))
    index = json.load(open(os.path.join(folder, "index.json")))
    index["complete"] = False
    json.dump(index, open(os.path.join(folder, "index.json"), "w"))
    with pytest.raises(ValueError, match="not finished"):
        baseline.run(folder, "avgpool", epochs=1)
    assert baseline.main(["--features", str(tmp_path / "nothing")]) == 2


def test_damaged_feature_files_are_refused_naming_the_file(tmp_path, rng):
    """A NaN (a result from it said nothing), a file of another width, one that is no array."""
    nan, wide, text = order_set(rng, 4), order_set(rng, 4), order_set(rng, 4)
    nan[0] = (numpy.full((3, 4), numpy.nan), 0)
    wide[1] = (numpy.ones((3, 5)), 1)
    for items, says in ((nan, "holds NaN or infinite values"), (wide, "features \\[4, 5\\] wide in one folder")):
        folder = write_features(tmp_path / says[:4], items, order_set(rng, 2))
        with pytest.raises(ValueError, match=f"v_.*npy: {says}"):
            baseline.load_features(folder)
    folder = write_features(tmp_path / "text", text, order_set(rng, 2))
    first = json.load(open(os.path.join(folder, "index.json")))["videos"][0]["file"]
    open(os.path.join(folder, first), "w").write("not an array")
    with pytest.raises(ValueError, match="not a readable feature file"):
        baseline.load_features(folder)
    open(os.path.join(folder, first), "w").close()  # empty (a disk that filled up): NumPy's EOFError was a traceback
    with pytest.raises(ValueError, match=f"{first}: not a readable feature file"):
        baseline.load_features(folder)


def test_zero_frame_feature_files_are_refused_naming_the_file(tmp_path, rng):
    """A (0, C) array would average to NaN probabilities, counted as class 0."""
    items = order_set(rng, 4)
    items[2] = (numpy.zeros((0, 4)), 0)
    folder = write_features(tmp_path / "f", items, order_set(rng, 2))
    with pytest.raises(ValueError, match=r"v_\S*npy: features of shape \(0, 4\) .* at least one frame"):
        baseline.load_features(folder)


def test_a_rerun_leaves_no_result_of_the_previous_run_under_its_settings(tmp_path, rng, monkeypatch):
    """An interrupted rerun with other settings: config.json names them, and no older eval/ or model
    beside it claims to be their result."""
    folder = write_features(tmp_path / "f", order_set(rng, 8), order_set(rng, 4))
    out = tmp_path / "run"
    baseline.run(folder, "avgpool", out_dir=str(out), epochs=2, val_groups=0)
    assert {"eval", "eval-last", "model.npz"} <= set(os.listdir(out))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(baseline, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        baseline.run(folder, "avgpool", out_dir=str(out), epochs=5, val_groups=0)
    assert json.load(open(out / "config.json"))["epochs"] == 5
    assert not {"eval", "eval-last", "model.npz"} & set(os.listdir(out))


@pytest.mark.parametrize("damage,says", [
    (lambda index: index["videos"][0].update(label=7),
     r"videos\[0\] \(\S+\): label 7 is not one of 0-1 \(2 classes\)"),
    (lambda index: index["videos"][1].pop("subset") and None, r"videos\[1\] has no 'subset'"),
    (lambda index: [], r"expected a JSON object \(a feature index\), got \[\]"),
    (lambda index: {**index, "classes": None}, r"'classes' is null, expected a list of class names"),
    (lambda index: index["videos"][2].update(file="../../etc/passwd"),
     r"videos\[2\]: video \S+, file '../../etc/passwd': expected a name and a path inside"),
    (lambda index: "{not json", r"not valid JSON"),
], ids=["label out of range", "no subset", "a list", "no classes", "file outside", "not JSON"])
def test_a_damaged_feature_index_is_one_error_line_naming_it(tmp_path, rng, capsys, damage, says):
    folder = write_features(tmp_path / "f", order_set(rng, 4), order_set(rng, 2))
    path = os.path.join(folder, "index.json")
    index = json.load(open(path))
    damaged = damage(index)
    with open(path, "w") as f:
        f.write(damaged if isinstance(damaged, str) else json.dumps(index if damaged is None else damaged))
    assert baseline.main(["--features", folder, "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.match(f"error: {re.escape(path)}: {says}", err), err


# -- extraction ------------------------------------------------------------------
def tiny_config(data, tmp_path):
    return configuration.fill_defaults({**configuration.DEFAULTS, "data": data, "arch": "resnet_small",
                                        "resize": 24, "crop": 16, "cache_dir": str(tmp_path / "cache")})


def test_the_weights_digest_is_the_same_on_every_device(strict_gpu, monkeypatch):
    """A GPU adds up in another order than NumPy: the digest comes from host copies, so that features made
    on the CPU are not refused (nor made again by reproduce) on a GPU, and the reverse."""
    tinyrrn.manual_seed(0)
    backbone = resnet_small(num_classes=4)
    on_cpu = features.weights_digest(backbone)
    backbone.to("gpu")
    # the stand-in's sums then differ in their last bits, as a GPU's may
    monkeypatch.setattr(strict_xp.StrictArray, "sum", lambda self, *args, **kwargs: strict_xp.asarray(
        self._a.sum(*args, **kwargs) * (1 + 2.0 ** -50)), raising=False)
    assert features.weights_digest(backbone) == on_cpu


def test_the_weights_digest_leaves_out_the_classifier(tmp_path):
    """A weights file whose fc does not fit leaves fc random: the digest of its features' weights is the
    same on every load (else reproduce would never find Table 1 finished)."""
    from tinyrrn.builders import load_backbone
    weights = str(tmp_path / "w.npz")
    save_npz(resnet_small(num_classes=4), weights)  # fc of 4 classes, loaded into a 1000-class backbone
    first, second = (load_backbone(weights, "resnet_small")[0] for _ in range(2))
    assert not numpy.array_equal(host(first.fc.weight), host(second.fc.weight))
    assert features.weights_digest(first) == features.weights_digest(second)
    second.layer4[1].conv2.weight.data[0] += 1
    assert features.weights_digest(first) != features.weights_digest(second)


def test_extraction_writes_one_array_per_video_and_resumes(tiny_data, tmp_path):
    out = str(tmp_path / "features")
    backbone = resnet_small(num_classes=4)
    config = tiny_config(tiny_data, tmp_path)
    index = features.extract(config, backbone, "layer3", out, "random", batch=16)
    assert index["complete"] and index["layer"] == "layer3" and len(index["videos"]) == 40
    assert {v["subset"] for v in index["videos"]} == {"train", "test"}
    first = index["videos"][0]
    array = numpy.load(os.path.join(out, first["file"]))
    assert first["file"].endswith(".npy") and array.dtype == numpy.float32 and array.shape[1] == 32  # layer3 width
    # the same numbers as running the backbone on the dataset's centre crops
    from tinyrrn.builders import build_dataset
    dataset = build_dataset({**config, "chunk": 1, "val_groups": 0}, train=first["subset"] == "train")
    frames = dataset.frames([v for v, _ in dataset.videos].index(first["video"]))
    x = Normalize("torchvision")(crop(frames, *center_crops(frames, 16), 16))
    expected = host(backbone.eval().features(Tensor(on_device(x)), "layer3"))
    numpy.testing.assert_allclose(array, expected, rtol=1e-4, atol=1e-5)
    # resume: only missing videos are extracted again
    kept, removed = index["videos"][1]["file"], index["videos"][2]["file"]
    os.utime(os.path.join(out, kept), (1, 1))
    os.remove(os.path.join(out, removed))
    features.extract(config, backbone, "layer3", out, "random", batch=16)
    assert os.stat(os.path.join(out, kept)).st_mtime == 1 and os.path.isfile(os.path.join(out, removed))
    assert not [f for _, _, files in os.walk(out) for f in files if ".tmp" in f]
    with pytest.raises(ValueError, match="other settings"):
        features.extract(config, backbone, "layer4", out, "random")
    # the same label (a path) holding other weights since: refused, not mixed into the folder
    os.remove(os.path.join(out, removed))
    with pytest.raises(features.OtherSettings, match=r"other settings \(weights_digest"):
        features.extract(config, resnet_small(num_classes=4), "layer3", out, "random", batch=16)


def test_features_command_line_with_a_weights_file(tiny_data, tmp_path, capsys):
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = str(tmp_path / "cli")
    assert features.main(["--data", tiny_data, "--weights", weights, "--arch", "resnet_small", "--resize", "24",
                          "--crop", "16", "--layer", "layer4", "--out", out,
                          "--cache-dir", str(tmp_path / "cache")]) == 0
    index = features.read_index(out)
    assert index["complete"] and index["weights"] == os.path.abspath(weights)
    before, _ = open(os.path.join(out, "index.json")).read(), capsys.readouterr()
    # an --out of features made otherwise: a usage error naming it (exit status 2, as evaluate's --out of another
    # report), the folder kept as it was (it was exit status 1)
    assert features.main(features_args(tiny_data, out, weights, tmp_path) + ["--layer", "layer3"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {out} holds features made with other settings (layer: ")
    assert open(os.path.join(out, "index.json")).read() == before
    assert baseline.main(["--features", out, "--model", "gru", "--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert os.path.isfile(tmp_path / "b" / "eval" / "metrics.json")


def test_feature_files_without_an_index_are_refused(tiny_data, tmp_path):
    """Files of a folder without index.json may be of other weights: none is trusted, nor overwritten."""
    out = str(tmp_path / "features")
    config = tiny_config(tiny_data, tmp_path)
    backbone = resnet_small(num_classes=4)
    first = features.extract(config, backbone, "layer4", out, "random", batch=64)["videos"][0]["file"]
    os.remove(os.path.join(out, "index.json"))
    with pytest.raises(cli.UsageError, match=r"holds another command's output \(other files\)"):
        features.extract(config, backbone, "layer4", out, "random", batch=64)
    assert os.path.isfile(os.path.join(out, first)) and not os.path.exists(os.path.join(out, "index.json"))


@pytest.mark.parametrize("index,says", [([1], r"expected a JSON object \(a feature index\), got \[1\]"),
                                        ("{", "not valid JSON")], ids=["a list", "not JSON"])
def test_a_damaged_index_in_the_output_folder_is_one_error_line(tiny_data, tmp_path, capsys, index, says):
    weights, out = str(tmp_path / "small.npz"), tmp_path / "features"
    save_npz(resnet_small(), weights)
    out.mkdir()
    (out / "index.json").write_text(index if isinstance(index, str) else json.dumps(index))
    assert features.main(["--data", tiny_data, "--weights", weights, "--arch", "resnet_small", "--resize", "24",
                          "--crop", "16", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.match(f"error: {re.escape(str(out / 'index.json'))}: {says}", err), err


@pytest.mark.parametrize("make, found", [
    (lambda out: (out / "config.json").write_text('{"arch": "resnet_small"}'), "training run"),
    (lambda out: (out / "metrics.json").write_text("{}"), "evaluation report"),
    (lambda out: (out / "index.json").write_text("{}"), "feature folder"),
    (lambda out: (out / "notes.txt").write_text("mine"), "other files"),
])
def test_baseline_refuses_an_out_folder_of_another_command_and_touches_nothing(tmp_path, rng, make, found, capsys):
    folder = write_features(tmp_path / "f", order_set(rng, 8), order_set(rng, 4))
    out = tmp_path / "run"
    out.mkdir()
    make(out)
    (out / "metrics.jsonl").write_text('{"epoch": 1}\n')
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert baseline.main(["--features", folder, "--out", str(out), "--epochs", "1", "--val-groups", "0"]) == 2
    assert f"error: --out {out}: holds another command's output ({found})" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_more_val_groups_than_the_training_list_allows_is_a_usage_error_that_keeps_the_run(tmp_path, rng, capsys):
    """--val-groups N with N at least the training list's groups names the flag (exit status 2, as train's), and
    the earlier run in --out is kept whole (it was exit status 1, a failure at run time)."""
    folder = write_features(tmp_path / "f", order_set(rng, 8), order_set(rng, 4))
    out = str(tmp_path / "run")
    baseline.run(folder, "avgpool", out_dir=out, epochs=1, val_groups=0)
    before, _ = sorted(os.listdir(out)), capsys.readouterr()
    assert baseline.main(["--features", folder, "--out", out, "--epochs", "1", "--val-groups", "99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--val-groups 99: the training list has" in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(out)) == before and json.load(open(os.path.join(out, "config.json")))["val_groups"] == 0


def test_running_out_of_memory_is_one_error_line_and_leaves_no_new_folder(tmp_path, rng, monkeypatch, capsys):
    """--model gru --hidden 10000000000 asks NumPy for 14 TiB: a MemoryError traceback, now one line (status 1)."""
    folder = write_features(tmp_path / "f", order_set(rng, 8), order_set(rng, 4))

    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 14.0 TiB for an array with shape (30000000000, 64) and data type float64")
    monkeypatch.setattr(baseline, "fit", too_large)
    out = tmp_path / "run"
    assert baseline.main(["--features", folder, "--out", str(out), "--val-groups", "0"]) == 1
    assert capsys.readouterr().err == ("error: out of memory: Unable to allocate 14.0 TiB for an array with shape "
                                       "(30000000000, 64) and data type float64\n")
    assert not out.exists()


def test_a_baseline_folder_in_use_is_refused_and_a_failed_new_one_is_removed(tmp_path, rng):
    folder = write_features(tmp_path / "f", order_set(rng, 8), order_set(rng, 4))
    out = str(tmp_path / "run")
    baseline.run(folder, "avgpool", out_dir=out, epochs=1, val_groups=0)
    with rundir.RunLock(out):  # another baseline writing here
        with pytest.raises(cli.Failure, match=r"run: in use by process \d+"):
            baseline.run(folder, "gru", out_dir=out, epochs=1, val_groups=0)
    assert json.load(open(os.path.join(out, "config.json")))["model"] == "avgpool"
    with pytest.raises(ValueError, match=r"needs training and test videos"):
        baseline.run(write_features(tmp_path / "g", order_set(rng, 8), []), "avgpool", out_dir=str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()


def features_args(data, out, weights, tmp_path):
    return ["--data", data, "--weights", weights, "--arch", "resnet_small", "--resize", "24", "--crop", "16",
            "--out", str(out), "--cache-dir", str(tmp_path / "cache")]


def test_a_feature_folder_in_use_is_refused(tiny_data, tmp_path, capsys):
    """Two extractions into one folder would both say they wrote it, while it holds one's files (or a mix)."""
    weights, out = str(tmp_path / "small.npz"), tmp_path / "features"
    save_npz(resnet_small(), weights)
    with rundir.RunLock(str(out)):  # another features process writing here
        assert features.main(features_args(tiny_data, out, weights, tmp_path)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"error: {out}: in use by process {os.getpid()} on host"), err
    assert os.listdir(out) == []


def test_a_new_feature_folder_whose_extraction_cannot_start_is_removed(tiny_data, tmp_path, capsys):
    """Data refused before the first feature (no split files) left the new --out folder behind, empty."""
    weights, out = str(tmp_path / "small.npz"), tmp_path / "new" / "features"
    save_npz(resnet_small(), weights)
    assert features.main([*features_args(tiny_data, out, weights, tmp_path), "--list-dir", str(tmp_path / "no")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'no'}: no such folder of split files")
    assert sorted(os.listdir(tmp_path)) == ["small.npz"]


def test_baseline_given_a_file_as_features_says_so_and_makes_no_folder(tmp_path, capsys):
    """It said '.../index.json/avgpool: Not a directory', of the default --out it tried to make in the file."""
    (tmp_path / "index.json").write_text("{}")
    assert baseline.main(["--features", str(tmp_path / "index.json")]) == 2
    assert capsys.readouterr().err == (f"error: --features {tmp_path / 'index.json'}: a file, not a feature folder "
                                       "(written by python -m tinyrrn.features)\n")
    assert os.listdir(tmp_path) == ["index.json"]


@pytest.mark.parametrize("make, found", [
    (lambda out: (out / "config.json").write_text('{"arch": "resnet_small"}'), "training run"),
    (lambda out: (out / "metrics.json").write_text("{}"), "evaluation report"),
    (lambda out: (out / "grid.json").write_text("{}"), "reproduce grid"),
])
def test_features_refuse_an_out_folder_of_another_command_and_touch_nothing(tiny_data, tmp_path, make, found, capsys):
    weights, out = str(tmp_path / "small.npz"), tmp_path / "run"
    save_npz(resnet_small(), weights)
    out.mkdir()
    make(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert features.main(features_args(tiny_data, out, weights, tmp_path)) == 2
    assert f"error: --out {out}: holds another command's output ({found})" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_killed_extractions_temporary_files_are_removed_by_the_next(tiny_data, tmp_path):
    out = tmp_path / "features"
    config, backbone = tiny_config(tiny_data, tmp_path), resnet_small(num_classes=4)
    index = features.extract(config, backbone, "layer4", str(out), "random", batch=64)
    left = out / os.path.dirname(index["videos"][0]["file"]) / ".v_x.npy.abc123.tmp"  # as atomic_write leaves it
    left.write_bytes(b"half an array")
    features.extract(config, backbone, "layer4", str(out), "random", batch=64)
    assert not left.exists()


# -- probe rel8: features of changed videos, and every video left out listed -------------------------------
def copy_data(tiny_data, tmp_path):
    import shutil
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def test_a_video_changed_since_its_features_were_written_is_extracted_again(tiny_data, tmp_path):
    """Features are kept on resuming only for videos whose content key (the frame cache's) is unchanged."""
    root = copy_data(tiny_data, tmp_path)
    out = str(tmp_path / "features")
    config, backbone = tiny_config(str(root), tmp_path), resnet_small(num_classes=4)
    index = features.extract(config, backbone, "layer4", out, "random", batch=64)
    assert all(v["key"] for v in index["videos"]) and not features.changed_videos(index)
    one, other = index["videos"][0], index["videos"][-1]
    kept = index["videos"][1]["file"]
    os.utime(os.path.join(out, kept), (1, 1))
    (root / one["video"]).write_bytes((root / other["video"]).read_bytes())  # replaced by another video
    assert features.changed_videos(index) == [one["video"]]
    again = features.extract(config, backbone, "layer4", out, "random", batch=64)
    assert not features.changed_videos(again)
    numpy.testing.assert_allclose(numpy.load(os.path.join(out, one["file"])),  # batched otherwise: BLAS rounding
                                  numpy.load(os.path.join(out, other["file"])), rtol=1e-4, atol=1e-5)
    assert os.stat(os.path.join(out, kept)).st_mtime == 1  # the unchanged videos' features are kept
    # a folder of an older tinyrrn (no keys): refused by the baseline, made again by features (saying so)
    older = {**again, "videos": [{k: v for k, v in video.items() if k != "key"} for video in again["videos"]]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(older, f)
    with pytest.raises(ValueError, match=r"written by an older tinyrrn, .* run python -m tinyrrn.features again"):
        baseline.load_features(out)
    with pytest.warns(UserWarning, match="records no key of each video's content .* every video is extracted again"):
        features.extract(config, backbone, "layer4", out, "random", batch=64)
    assert os.stat(os.path.join(out, kept)).st_mtime != 1


def test_every_video_left_out_is_in_the_feature_index_and_the_baselines_report(tiny_data, tmp_path, capsys):
    root = copy_data(tiny_data, tmp_path)
    tests = [line.split()[0] for line in open(root / "ucfTrainTestlist" / "testlist01.txt") if line.strip()]
    (root / tests[0]).write_bytes(b"")                      # its metadata cannot be read
    data = (root / tests[1]).read_bytes()
    (root / tests[1]).write_bytes(data[:len(data) // 10])   # its metadata reads, no frame decodes
    weights, out = str(tmp_path / "small.npz"), str(tmp_path / "features")
    save_npz(resnet_small(), weights)
    assert features.main(["--data", str(root), "--weights", weights, "--arch", "resnet_small", "--resize", "24",
                          "--crop", "16", "--out", out, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "(2 bad)" in capsys.readouterr().out
    index = features.read_index(out)
    assert sorted(b["video"] for b in index["bad"]) == sorted(tests[:2])
    assert all(b["subset"] == "test" and b["reason"] for b in index["bad"])
    assert len(index["videos"]) + 2 == 40
    assert baseline.main(["--features", out, "--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert "2 unreadable video(s) left out" in capsys.readouterr().out
    metrics = json.load(open(tmp_path / "b" / "eval" / "metrics.json"))
    assert metrics["unreadable_videos"] == sorted(tests[:2]) and metrics["videos"] + 2 == len(tests)
    assert metrics["averaging"].startswith("none: one prediction per video") and "mean of its frame" in \
        metrics["averaging"]
    # each report names the features its numbers come from: the folder, and the backbone weights and settings
    for report in ("eval", "eval-last"):
        written = json.load(open(tmp_path / "b" / report / "metrics.json"))
        assert written["features"] == os.path.abspath(out) and written["features_made_with"]["weights"] == \
            os.path.abspath(weights) and written["features_made_with"]["weights_digest"] == index["weights_digest"]
