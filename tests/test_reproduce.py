"""The reproduction grid: the paper's numbers, row planning, resume, and REPORT.md's format."""
import json
import os
import re
import shutil

import pytest

from tinyrrn import features, reproduce, rundir
from tinyrrn.cli import UsageError
from tinyrrn.models import resnet_small
from tinyrrn.weights import read_weights, save_npz

TINY = ["--set", "arch=resnet_small", "--set", "resize=24", "--set", "crop=16", "--batch", "4",
        "--set", "update_every=8", "--set", "flip=false"]


def options(data, out, *extra):
    return reproduce.options_from(["--data", data, "--out", str(out), "--cache-dir", str(out) + "-cache",
                                   "--workers", "0", "--epochs", "1", "--val-groups", "1", *TINY, *extra])


def test_paper_numbers_as_printed():
    table = {r["key"]: r["paper"] for r in reproduce.rows([1, 2, 3, 4])}
    assert len([k for k in table if k.startswith("table1-")]) == 12
    assert table["table1-layer4-avgpool-znorm"] == 0.236 and table["table1-layer2-gru-raw"] == 0.493
    assert table["table1-layer3-gru-znorm"] == 0.403 and table["table1-layer3-gru-raw"] == 0.325
    assert table["table2-block1-linear"] == 0.265 and table["table2-block4-linear"] == 0.219
    assert table["table2-block4-identity"] is None  # the paper's Table 2 lists convolutional rows only
    assert [table[f"table3-{s}"] for s in ("identity", "linear", "nonlinear")] == [0.197, 0.219, 0.210]
    assert [table[f"table4-context{t}"] for t in (1, 2, 3, 5)] == [0.236, 0.197, 0.194, 0.209]
    table4 = {r["key"]: r for r in reproduce.rows([4])}
    assert table4["table4-context1"]["same_as"] == "table1-layer4-avgpool-znorm"  # the paper's baseline 0.236
    assert table4["table4-finetuned-resnet"]["preset"] == "baseline-resnet50" and table4["table4-finetuned-resnet"]["paper"] is None
    assert [name for name, _ in reproduce.TABLE5_APPEARANCE][0].startswith("Recurrent Residual Networks")
    assert dict(reproduce.TABLE5_APPEARANCE)["Two Stream Architecture (VGG-Net) [25]"] == 0.216
    presets = [r["preset"] for r in reproduce.rows([2, 3, 4]) if "preset" in r]
    from tinyrrn.config import PRESETS
    assert all(p in PRESETS for p in presets)


def test_synthetic_rows_use_the_small_backbone_with_the_rows_skip(tmp_path):
    opts = reproduce.options_from(["--out", str(tmp_path / "g")])
    config = reproduce.row_config("table2-midblock4-linear", opts, 1)
    assert config["arch"] == "resnet_small" and config["skip"] == "linear" and config["positions"] == ["mid_block4"]
    assert config["epochs"] == reproduce.SYNTHETIC_EPOCHS and config["data"] is None and not config["baseline"]
    assert config["val_groups"] == 3 and config["weights_layout"] == "torchvision" and config["normalize"] == "torchvision"
    ucf = reproduce.options_from(["--data", "ucf", "--weights", "w.pth", "--epochs", "3", "--weights-layout", "caffe",
                                  "--val-groups", "0"])
    config = reproduce.row_config("table4-context3", ucf, 2)
    assert (config["arch"], config["context"], config["split"], config["epochs"]) == ("resnet50", 3, 2, 3)
    assert (config["weights_layout"], config["normalize"], config["val_groups"]) == ("caffe", "caffe", 0)
    assert reproduce.options_from(["--splits", "1,2"])["splits"] == [1, 2]  # synthetic data has 3 splits too
    with pytest.raises(ValueError, match="split numbers 1-3"):
        reproduce.options_from(["--splits", "1,4"])


def test_a_set_that_puts_a_row_out_of_range_names_set_and_the_row(tmp_path):
    opts = reproduce.options_from(["--out", str(tmp_path / "g"), "--set", "chunk=1"])
    with pytest.raises(UsageError, match=r"^--set: row table4-context3: --chunk 1 is shorter than --context 3"):
        reproduce.row_config("table4-context3", opts, 1)
    with pytest.raises(UsageError, match=r"^--set: lr = -1: must be a finite number above 0.0$"):
        reproduce.options_from(["--out", str(tmp_path / "g"), "--set", "lr=-1"])


def test_a_mistyped_set_key_suggests_the_key_and_lists_only_keys_set_takes():
    """--set lrr=0.1 listed every config key, data, batch and skip among them (each then refused by --set), and
    suggested none, where --config's typo check suggests lr."""
    with pytest.raises(UsageError) as refused:
        reproduce.parse_overrides(["lrr=0.1"])
    message = str(refused.value)
    assert message.startswith("--set 'lrr=0.1': unknown setting lrr (did you mean lr?)"), message
    listed = re.search(r"\[(.*)\]", message).group(1)
    assert "'lr'" in listed and not any(f"'{key}'" in listed for key in reproduce.ROW_KEYS), message
    with pytest.raises(UsageError, match=r"^--set 'lr': expected KEY=VALUE"):
        reproduce.parse_overrides(["lr"])


def test_same_model_rows_share_one_run(tmp_path):
    grid = reproduce.Grid(reproduce.options_from(["--out", str(tmp_path / "g"), "--tables", "2,3,4"]))
    dirs = {key: os.path.basename(d) for (split, key), d in grid.run_dirs.items()}
    assert dirs["table3-identity"] == dirs["table4-context2"] == "table2-block4-identity"
    assert dirs["table3-linear"] == "table2-block4-linear" and dirs["table3-nonlinear"] == "table3-nonlinear"
    assert dirs["table4-context1"] == "table1-layer4-avgpool-znorm"  # Table 4's baseline is Table 1's
    assert len({d for key, d in dirs.items() if not d.startswith("table1-")}) == 12


def result(error, last, val, run_dir, epochs=12):
    return {"error": error, "last": last, "val": val, "epoch": 3, "epochs": epochs, "run_dir": run_dir,
            "selected_by": "the lowest validation video error"}


PROTOCOL = {"val_groups": 3, "groups": {1: [9, 12, 20], 2: [1, 17, 22]}, "seed": 0, "epochs": 12, "lr": 3e-3,
            "batch": 16, "resize": 48, "crop": 40, "update_every": "1%", "sample_every": 10, "optimizer": "adam", "weights": None,
            "weights_layout": "torchvision", "normalize": "torchvision", "per_frame_aug": False, "flip": False,
            "baseline_epochs": 60, "baseline_lr": 1e-3, "overrides": {}, "list_dir": "/data/ucf101/ucfTrainTestlist",
            "test_groups": {1: list(range(1, 8)), 2: list(range(8, 15))}}


def test_the_report_describes_the_split_files_it_read(tmp_path):
    """The split files named, and their test groups, are those of --data/--list-dir, read from them: "official"
    only when the test groups are the official ones (probe rel8 C2)."""
    options = {"tables": [3], "splits": [1, 2], "data": "/data/ucf101", "out": str(tmp_path)}
    text = reproduce.report({}, options, PROTOCOL)
    assert ("- **Splits**: 1, 2, the official split files in `/data/ucf101/ucfTrainTestlist` (test groups split 1: "
            "g01-g07; split 2: g08-g14).") in text
    tiny = {**PROTOCOL, "list_dir": "/lists", "test_groups": {1: [1, 2], 2: [3, 4, 6]}}
    text = reproduce.report({}, options, tiny)
    assert "- **Splits**: 1, 2, the split files in `/lists` (test groups split 1: g01-g02; split 2: g03-g04, g06)." in text
    assert "official" not in text.split("## Protocol")[1].split("\n- ")[1]
    # real data without --weights: Table 1's features are of no file (the report said "of `None`")
    assert "on per-frame features of ImageNet weights, which need `--weights` (none was given)," in text


def test_the_protocol_reads_the_test_groups_from_the_split_files(tiny_data, tmp_path):
    grid = reproduce.Grid(reproduce.options_from(["--data", tiny_data, "--out", str(tmp_path / "g"), "--tables", "3",
                                                  "--epochs", "1"]))
    protocol = grid.protocol()
    assert protocol["test_groups"] == {1: [1]} and protocol["list_dir"] == os.path.join(tiny_data, "ucfTrainTestlist")


def test_report_format(tmp_path):
    out = str(tmp_path)
    d = {name: os.path.join(out, "split1", name) for name in ("table2-block4-identity", "table3-linear")}
    results = {(1, "table3-identity"): result(0.25, 0.3, 0.2, d["table2-block4-identity"]),
               (1, "table3-linear"): result(0.1, 0.125, 0.15, d["table3-linear"])}
    options = {"tables": [3, 2], "splits": [1], "data": None, "out": out}
    text = reproduce.report(results, options, PROTOCOL)
    lines = text.splitlines()
    assert lines[0].startswith("# ") and "synthetic" in text and "shown for reference only" in text
    assert text.index("## Protocol") < text.index("## Table 3") < text.index("## Table 2") < text.index(
        "## The best model") < text.index("## Where this differs from the paper")
    assert "split 1: g09, g12, g20" in text and "selects nothing" in text and "12 epochs, Adam with lr 0.003" in text
    header = "| row | paper | split 1 | selected epoch | split 1 - paper | run directory |"
    assert text.count(header) == 2
    assert "| Identity mapping | 0.197 | 0.250 / 0.300 | 3 of 12 | +0.053 | split1/table2-block4-identity |" in lines
    assert "| Conv. linear | 0.219 | 0.100 / 0.125 | 3 of 12 | -0.119 | split1/table3-linear |" in lines
    assert "| Conv. non-linear | 0.210 | n/a | n/a | n/a | not run |" in lines
    assert "| Block4, identity | n/a | n/a | n/a | n/a | not run |" in lines
    assert "Not trained or selected as the protocol" not in text
    # the best model: the paper's best setup and the row with the lowest validation error, beside Table 5
    assert ("| tinyrrn: identity skip at Block4, context 2 (the paper's best setup) | 0.250 / 0.300 | this grid, "
            "split 1 only |") in lines
    assert any(line.startswith("| tinyrrn: Conv. linear (Table 3), the row with the lowest validation error (0.150) "
                               "| 0.100 / 0.125 |") for line in lines)
    assert "| Recurrent Residual Networks (the paper) | 0.198 | Sec. 4.3 (mean over the 3 splits) and Table 5 |" in lines
    assert "| Dynamic Image Networks [1] | 0.231 | the paper's Table 5 |" in lines
    assert "is +16.1% (the paper says 17%)" in text

    # two splits: a mean over splits with its spread; Table 4's baseline row and relative improvements
    results = {}
    for split, (base, best, tuned) in ((1, (0.4, 0.2, 0.5)), (2, (0.3, 0.3, 0.6))):
        def at(name):
            return os.path.join(out, f"split{split}", name)
        results[split, "table1-layer4-avgpool-znorm"] = result(base, base, 0.35, at("table1-layer4-avgpool-znorm"), 60)
        results[split, "table4-context1"] = results[split, "table1-layer4-avgpool-znorm"]
        results[split, "table4-context2"] = results[split, "table3-identity"] = result(best, best + 0.1, 0.1,
                                                                                       at("table2-block4-identity"))
        results[split, "table4-finetuned-resnet"] = result(tuned, tuned, 0.6, at("table4-finetuned-resnet"))
    text = reproduce.report(results, {"tables": [4], "splits": [1, 2], "data": "/data/ucf101", "out": out}, PROTOCOL)
    lines = text.splitlines()
    assert "reference only" not in text and "/data/ucf101" in text
    assert ("| row | paper | split 1 | split 2 | mean over splits | spread (min-max) | selected epoch per split | "
            "split 1 - paper | run directory |") in lines
    assert ("| context 1 (baseline: Table 1's Block4 avg. pool + Z-norm) | 0.236 | 0.400 / 0.400 | 0.300 / 0.300 | "
            "0.350 / 0.350 | 0.300-0.400 | 3 of 60, 3 of 60 | +0.164 | split{1,2}/table1-layer4-avgpool-znorm |") in lines
    assert ("| context 2 (1 temporal skip) | 0.197 | 0.200 / 0.300 | 0.300 / 0.400 | 0.250 / 0.350 | 0.200-0.300 | "
            "3 of 12, 3 of 12 | +0.003 | split{1,2}/table2-block4-identity |") in lines
    assert ("| context 1, the ResNet fine-tuned on single frames (not in the paper) | n/a | 0.500 / 0.500 | "
            "0.600 / 0.600 | 0.550 / 0.550 | 0.500-0.600 | 3 of 12, 3 of 12 | n/a | split{1,2}/table4-finetuned-resnet |") \
        in lines
    assert "| context 3 (2 temporal skips) | 0.194 | n/a | n/a | n/a | n/a | n/a, n/a | n/a | not run |" in lines
    # relative improvements over both baselines: 1 - 0.25/0.35 and 1 - 0.25/0.55
    assert "| context 2 (1 temporal skip) | +16.5% | +28.6% | +54.5% |" in lines
    assert ("| tinyrrn: identity skip at Block4, context 2 (the paper's best setup) | 0.250 / 0.350 | this grid, mean "
            "over splits 1, 2; also the row with the lowest validation error (0.100) |") in lines
    assert "**Weights layout**: torchvision's ResNet-50" in text


def test_a_row_not_trained_or_selected_as_the_protocol_says_is_marked_with_its_rule(tmp_path):
    """--set max_steps=3 stopped a row before its first epoch ended: its report said "the last weights (none was
    validated)", while REPORT.md gave its figures under "12 epochs ... the epoch with the lowest validation video
    error", saying neither its epoch nor how it was chosen."""
    out = str(tmp_path)
    cut = {**result(0.75, 0.75, None, os.path.join(out, "split1", "table3-linear")), "epoch": 1, "epochs": 1,
           "selected_by": "the last weights (--max-steps stopped the run before any epoch ended: none was validated)"}
    short = {**result(0.5, 0.5, 0.25, os.path.join(out, "split1", "table3-nonlinear")), "epochs": 4}
    results = {(1, "table3-identity"): result(0.25, 0.3, 0.2, os.path.join(out, "split1", "table2-block4-identity")),
               (1, "table3-linear"): cut, (1, "table3-nonlinear"): short}
    text = reproduce.report(results, {"tables": [3], "splits": [1], "data": None, "out": out}, PROTOCOL)
    lines = text.splitlines()
    assert "| Identity mapping | 0.197 | 0.250 / 0.300 | 3 of 12 | +0.053 | split1/table2-block4-identity |" in lines
    assert "| Conv. linear | 0.219 | 0.750 / 0.750 | 1 of 1* | +0.531 | split1/table3-linear |" in lines
    assert "| Conv. non-linear | 0.210 | 0.500 / 0.500 | 3 of 4* | +0.290 | split1/table3-nonlinear |" in lines
    assert ("- split 1, Conv. linear: epoch 1 of 1 (the protocol: 12 epochs), selected by the last weights "
            "(--max-steps stopped the run before any epoch ended: none was validated)") in lines
    assert ("- split 1, Conv. non-linear: epoch 3 of 4 (the protocol: 12 epochs), selected by the lowest validation "
            "video error") in lines and not any(line.startswith("- split 1, Identity mapping") for line in lines)


def epochs_logged(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f if '"kind": "epoch"' in line]


def test_grid_resumes_finished_and_interrupted_rows(tiny_data, tmp_path):
    out = tmp_path / "grid"
    code, report_path = reproduce.run_grid(options(tiny_data, out, "--tables", "3"))
    assert code == 0
    # rows that are the same model share the run named after the first table that has it
    runs = {name: out / "split1" / folder for name, folder in (("identity", "table2-block4-identity"),
                                                               ("linear", "table2-block4-linear"),
                                                               ("nonlinear", "table3-nonlinear"))}
    stamps = {name: os.stat(d / "eval" / "metrics.json").st_mtime_ns for name, d in runs.items()}
    assert all(epochs_logged(d) == [1] for d in runs.values())
    text = open(report_path).read()
    assert all(f"| split1/{d.name} |" in text for d in runs.values()) and "not run" not in text

    # second run: nothing is retrained
    checkpoint_stamp = os.stat(runs["linear"] / "checkpoint.npz").st_mtime_ns
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3"))[0] == 0
    assert {n: os.stat(d / "eval" / "metrics.json").st_mtime_ns for n, d in runs.items()} == stamps
    assert os.stat(runs["linear"] / "checkpoint.npz").st_mtime_ns == checkpoint_stamp

    # other epochs while rows finished with 1 would stay in the report: refused, naming them, nothing touched
    shutil.rmtree(runs["linear"] / "eval")
    with pytest.raises(UsageError, match=r"2 finished row\(s\) were trained with other settings than asked now: "
                                             r"split 1 table3-identity \(epochs 1 -> 2\); split 1 table3-nonlinear "
                                             r"\(epochs 1 -> 2\); REPORT.md states one protocol"):
        reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--epochs", "2"))
    assert all(epochs_logged(d) == [1] for d in runs.values())
    assert os.stat(runs["identity"] / "eval" / "metrics.json").st_mtime_ns == stamps["identity"]
    # rows without their final evaluation continue from their checkpoints (here for one more epoch)
    for d in ("identity", "nonlinear"):
        shutil.rmtree(runs[d] / "eval")
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--epochs", "2"))[0] == 0
    assert all(epochs_logged(d) == [1, 2] for d in runs.values())  # resumed after epoch 1, not restarted
    assert "**Training rows (Tables 2-4)**: 2 epochs" in open(report_path).read()
    lines = [json.loads(line) for line in open(out / "grid.jsonl")]
    assert [r["row"] for r in lines] == ["table3-identity", "table3-linear", "table3-nonlinear"] * 2


def test_a_grid_stopped_between_a_rows_report_and_its_log_line_writes_the_line_when_run_again(tiny_data, tmp_path,
                                                                                                 monkeypatch):
    """Ctrl-C after a row's training wrote its final report but before grid.jsonl got the row's line: run again, the
    row was finished, skipped, and its line was never written. Now a row found finished without its line gets it
    (seconds unknown), once."""
    def fake_train(config, directory, resume=False, **how_to_go_on):
        rundir.write_config(directory, config)
        os.makedirs(os.path.join(directory, "eval"), exist_ok=True)
        with open(os.path.join(directory, "eval", "metrics.json"), "w") as f:
            json.dump({"video_error": 0.25, "selected_by": "the last epoch", "weights_digest": config["skip"]}, f)
    monkeypatch.setattr(reproduce, "train", fake_train)
    write = reproduce.JsonLog.write

    def stopped_before_the_line(log, record):
        if record["row"] == "table3-linear":
            raise KeyboardInterrupt
        write(log, record)
    monkeypatch.setattr(reproduce.JsonLog, "write", stopped_before_the_line)
    out = tmp_path / "grid"
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3"))[0] == 130
    monkeypatch.setattr(reproduce.JsonLog, "write", write)
    for _ in range(2):
        assert reproduce.run_grid(options(tiny_data, out, "--tables", "3"))[0] == 0
        lines = [json.loads(line) for line in open(out / "grid.jsonl")]
        assert [(r["row"], r["seconds"] is None) for r in lines] == [
            ("table3-identity", False), ("table3-linear", True), ("table3-nonlinear", False)]


def test_a_report_never_shows_rows_trained_with_other_settings_than_its_protocol(tiny_data, tmp_path, monkeypatch):
    """Rows finished under --seed 0, then a grid under --seed 1 stopped before it trained them again (or with
    --only, or with --tables 1, which still shows the best model's row): REPORT.md showed their seed-0
    errors under a protocol saying seed 1."""
    def fake_train(config, directory, resume=False, **how_to_go_on):
        if config["seed"] == 1 and config["skip"] != "identity":
            raise KeyboardInterrupt  # Ctrl-C while the grid trains its second row again
        rundir.write_config(directory, config)
        os.makedirs(os.path.join(directory, "eval"), exist_ok=True)
        with open(os.path.join(directory, "eval", "metrics.json"), "w") as f:
            json.dump({"video_error": 0.125 if config["seed"] == 0 else 0.375, "selected_by": "the last epoch"}, f)
    monkeypatch.setattr(reproduce, "train", fake_train)
    out = tmp_path / "grid"
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3"))[0] == 0
    assert open(out / "REPORT.md").read().count("0.125") == 4  # three rows, and the best model
    code, path = reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--seed", "1"))
    text = open(path).read()
    assert code == 130 and "0.125" not in text and "| Identity mapping | 0.197 | 0.375 / n/a |" in text
    assert "| Conv. linear | 0.219 | n/a |" in text and "| Conv. non-linear | 0.210 | n/a |" in text


def test_other_weights_under_the_grids_weights_path_are_refused(tiny_data, tmp_path, monkeypatch):
    """The grid recorded --weights by path only: weights replaced under that path (converted again from another
    file) trained the rows left to train, and the report set them beside rows trained on the earlier ones."""
    def fake_train(config, directory, resume=False, **how_to_go_on):
        rundir.write_config(directory, config)
        os.makedirs(os.path.join(directory, "eval"), exist_ok=True)
        with open(os.path.join(directory, "eval", "metrics.json"), "w") as f:
            json.dump({"video_error": 0.5, "selected_by": "the last epoch"}, f)
    monkeypatch.setattr(reproduce, "train", fake_train)
    weights, out = str(tmp_path / "w.npz"), tmp_path / "grid"
    save_npz(resnet_small(), weights)
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--weights", weights, "--only",
                                      "table3-linear"))[0] == 0
    save_npz(read_weights(weights), tmp_path / "copy.npz")  # the same weights written again: still this grid's
    os.replace(tmp_path / "copy.npz", weights)
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--weights", weights))[0] == 0
    save_npz(resnet_small(num_classes=7), weights)
    with pytest.raises(ValueError, match=f"^{weights}: holds other weights than this grid's training rows started "
                                         r"from \(digest [0-9a-f]{16}, now [0-9a-f]{16}\): "
                                         r"split1/table2-block4-identity, split1/table2-block4-linear, "
                                         r"split1/table3-nonlinear; use another --out"):
        reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--weights", weights))


def test_grid_table1_with_weights_and_other_data_refused(tiny_data, tmp_path):
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = tmp_path / "t1"
    only = "table1-layer4-avgpool-znorm,table1-layer4-gru-raw"
    code, report_path = reproduce.run_grid(options(tiny_data, out, "--tables", "1", "--weights", weights,
                                                   "--only", only, "--baseline-epochs", "2"))
    assert code == 0
    assert os.path.isfile(out / "split1" / "features-layer4" / "index.json")
    assert not os.path.exists(out / "split1" / "features-layer3")  # only what the chosen rows need
    lines = open(report_path).read().splitlines()
    row = next(line for line in lines if line.startswith("| Block4, Avg. Pool, with Z-norm |"))
    assert row.split("|")[2].strip() == "0.236" and row.endswith("split1/table1-layer4-avgpool-znorm |")
    assert "| Block3, GRU, with Z-norm | 0.403 | n/a | n/a | n/a | not run |" in lines
    # the same rows again with other frames: the features are moved aside and made afresh, the rows rerun
    result = out / "split1" / "table1-layer4-avgpool-znorm" / "eval" / "metrics.json"
    os.utime(result, (1, 1))
    extra = ("--tables", "1", "--weights", weights, "--only", only, "--baseline-epochs", "2", "--set", "resize=28")
    assert reproduce.run_grid(options(tiny_data, out, *extra))[0] == 0
    assert json.load(open(out / "split1" / "features-layer4" / "index.json"))["resize"] == 28
    assert [p.name for p in (out / "split1").iterdir() if p.name.startswith("features-layer4.replaced-")]
    assert os.stat(result).st_mtime > 1  # its classifier trained again, on the new features
    with pytest.raises(ValueError, match="needs --weights"):
        reproduce.run_grid(options(tiny_data, tmp_path / "t1b", "--tables", "1"))
    elsewhere = shutil.copytree(tiny_data, tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="other data"):
        reproduce.run_grid(options(str(elsewhere), out, "--tables", "3"))


def test_two_split_grid_table4_baseline_is_table1s_and_rows_are_selected_on_validation_groups(tiny_data, tmp_path):
    """The issue's "done when", small: Table 4's context-1 row comes from Table 1's Block4 avg. pool + Z-norm
    baseline, every row's epoch is selected on held-out training groups, and two splits give a mean."""
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = tmp_path / "grid"
    code, report_path = reproduce.run_grid(options(tiny_data, out, "--tables", "4", "--splits", "1,2", "--weights",
                                                   weights, "--only", "table4-context1,table4-context2",
                                                   "--baseline-epochs", "2", "--epochs", "2"))
    assert code == 0
    text = open(report_path).read()
    lines = text.splitlines()
    for split, test_group in ((1, 1), (2, 2)):
        baseline_dir = out / f"split{split}" / "table1-layer4-avgpool-znorm"
        row_dir = out / f"split{split}" / "table2-block4-identity"
        baseline_metrics = json.load(open(baseline_dir / "eval" / "metrics.json"))
        row_metrics = json.load(open(row_dir / "eval" / "metrics.json"))
        groups = row_metrics["val_groups"]
        assert len(groups) == 1 and test_group not in groups and baseline_metrics["val_groups"] == groups
        assert open(row_dir / "val_groups.txt").read().splitlines()[1:] == [f"g{groups[0]:02d}"]
        assert f"split {split}: g{groups[0]:02d}" in text
        for metrics in (baseline_metrics, row_metrics):
            assert "validation video error" in metrics["selected_by"] and metrics["split"] == "test"
            assert metrics["last"]["epoch"] == 2
        cells = {1: baseline_metrics, 2: row_metrics}
        for context, metrics in cells.items():
            row = next(line for line in lines if line.startswith(f"| context {context} ("))
            assert row.split(" | ")[1 + split] == f"{metrics['video_error']:.3f} / {metrics['last']['video_error']:.3f}"
    row = next(line for line in lines if line.startswith("| context 1 (baseline: Table 1's Block4 avg. pool + Z-norm)"))
    assert row.endswith("| split{1,2}/table1-layer4-avgpool-znorm |")
    assert "| row | paper | split 1 | split 2 | mean over splits | spread (min-max) |" in text
    assert not (out / "split1" / "table4-finetuned-resnet").exists()  # --only: the extra row was not asked for
    assert "| Recurrent Residual Networks (the paper) | 0.198 |" in text and "## Where this differs" in text


T1_ROW = "table1-layer4-avgpool-znorm"


def table1_grid(tiny_data, out, weights, *extra):
    """Run one Table 1 row on features of ``weights``; returns its eval/metrics.json path."""
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "1", "--weights", weights, "--only", T1_ROW,
                                      "--baseline-epochs", "2", *extra))[0] == 0
    return out / "split1" / T1_ROW / "eval" / "metrics.json"


def test_a_table1_result_counts_only_for_the_settings_it_was_made_with(tiny_data, tmp_path):
    """An older tinyrrn's rerun, interrupted, left its predecessor's eval/ under the new config.json:
    that result (2 epochs) is not reported as the 3-epoch row's."""
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = tmp_path / "grid"
    result = table1_grid(tiny_data, out, weights)
    config_path = out / "split1" / T1_ROW / "config.json"
    config = json.load(open(config_path))
    json.dump({**config, "epochs": 3}, open(config_path, "w"))
    table1_grid(tiny_data, out, weights, "--baseline-epochs", "3")
    assert json.load(open(result))["epochs"] == 3 and json.load(open(result))["last"]["epoch"] == 3


def test_table1_is_made_again_when_the_weights_under_its_path_changed(tiny_data, tmp_path):
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = tmp_path / "grid"
    result = table1_grid(tiny_data, out, weights)
    os.utime(result, (1, 1))
    save_npz(resnet_small(), weights)  # other random weights, the same path
    table1_grid(tiny_data, out, weights)
    assert os.stat(result).st_mtime > 1  # the classifier trained again
    assert [p.name for p in (out / "split1").iterdir() if p.name.startswith("features-layer4.replaced-")]
    index = json.load(open(out / "split1" / "features-layer4" / "index.json"))
    from tinyrrn.builders import load_backbone
    assert index["weights_digest"] == features.weights_digest(load_backbone(weights, "resnet_small")[0])


def test_a_second_process_on_one_output_folder_is_refused(tiny_data, tmp_path, capsys):
    out = tmp_path / "grid"
    with rundir.RunLock(str(out)):  # as a first reproduce process holds it
        assert reproduce.main(["--data", tiny_data, "--out", str(out), "--tables", "3", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {out}: in use by process {os.getpid()} on host")
    assert os.listdir(out) == []  # nothing written, and the lock file gone with its holder


@pytest.mark.parametrize("text, says", [
    ("", "not valid JSON"), ("[1, 2]", r"expected a JSON object \(a row's report\), got \[1, 2\]"),
    ('{"top1": 0.5}', "'video_error' is null, expected a number"),
    ('{"video_error": 0.5, "last": 3}', "'last' is 3, expected an object"),
    ('{"video_error": "x"}', "'video_error' is \"x\", expected a number"),
    ('{"video_error": 0.5, "last": {"video_error": [1]}}', r"'last.video_error' is \[1\], expected a number"),
])
def test_a_damaged_row_report_is_an_error_naming_the_file_and_key(tmp_path, text, says):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text(text)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'eval' / 'metrics.json'}: {says}"):
        reproduce.finished_result(str(tmp_path))


def test_a_row_evaluated_by_evaluate_before_its_training_ended_is_not_finished(tmp_path):
    """evaluate RUN_DIR of a row stopped in mid-training writes the row's eval/ too (best.npz's test figures,
    without the protocol): the grid took the row for finished, reported those figures and never trained it on."""
    (tmp_path / "eval").mkdir()
    report = {"video_error": 0.5, "top1": 0.5, "checkpoint": str(tmp_path / "best.npz"), "updates": 5}
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps(report))
    assert reproduce.finished_result(str(tmp_path)) is None
    protocol = {"epoch": 1, "epochs": 2, "selected_by": "the lowest validation video error", "last": {"video_error": 0.4}}
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps({**report, **protocol}))
    assert reproduce.finished_result(str(tmp_path))["epochs"] == 2


@pytest.mark.parametrize("text, says", [("{", "not valid JSON"), ("[]", r"expected a JSON object .*, got \[\]")])
def test_a_damaged_grid_json_is_one_error_line_naming_it(tiny_data, tmp_path, capsys, text, says):
    out = tmp_path / "grid"
    out.mkdir()
    (out / "grid.json").write_text(text)
    assert reproduce.main(["--data", tiny_data, "--out", str(out), "--tables", "3", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.match(f"error: {re.escape(str(out / 'grid.json'))}: {says}", err), err


def test_a_new_grid_refused_before_its_first_row_leaves_no_folder(tmp_path, capsys):
    """Data that is no dataset (refused at the first row) left the new --out with grid.json and a REPORT.md of
    nothing; weights refused before anything was written left it empty."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.npz").write_bytes(b"")
    for extra in (["--data", str(tmp_path / "empty")], ["--weights", str(tmp_path / "empty.npz")]):
        assert reproduce.main([*extra, "--out", str(tmp_path / "new" / "grid"), "--tables", "3"]) != 0
        assert len([line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]) == 1
        assert sorted(os.listdir(tmp_path)) == ["empty", "empty.npz"]


@pytest.mark.parametrize("weights, says", [("missing.npz", "no such file (--weights)"),
                                           ("empty.npz", "not a readable .npz file (empty)"),
                                           ("notes.json", "not a weights file")])
def test_unusable_weights_are_a_usage_error_naming_the_flag_as_train_says(weights, says, tmp_path, capsys):
    """--weights /missing.npz said '/missing.npz: No such file or directory' and exited 1, naming no flag; train
    and features say which flag names the file, with exit status 2."""
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "notes.json").write_text("{}")
    path = str(tmp_path / weights)
    assert reproduce.main(["--weights", path, "--out", str(tmp_path / "grid"), "--tables", "3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith("error: ") and "--weights" in captured.err and f"{path}: {says}" in captured.err
    assert not (tmp_path / "grid").exists()


@pytest.mark.parametrize("flag", ["--data", "--list-dir"])
def test_a_missing_dataset_or_list_folder_is_refused_before_the_grid_says_anything(flag, tiny_data, tmp_path, capsys):
    """A mistyped --data or --list-dir was first read by the first row: the grid had printed that row's 'training
    in ...' and 'wrote OUT/REPORT.md' (a report then removed with the new folder) before the error."""
    out = tmp_path / "grid"
    args = ["--data", tiny_data, flag, str(tmp_path / "nowhere"), "--out", str(out), "--tables", "3"]
    assert reproduce.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"error: {tmp_path / 'nowhere'}: no such ")
    assert len(captured.err.splitlines()) == 1 and flag in captured.err and not out.exists()


def test_reproduce_refuses_an_out_folder_of_another_command_and_touches_nothing(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # a training run's report folder
    assert reproduce.main(["--data", tiny_data, "--out", str(out), "--tables", "3", "--epochs", "1"]) == 2
    assert f"error: --out {out}: holds another command's output (evaluation report)" in capsys.readouterr().err
    assert os.listdir(out) == ["metrics.json"]


def test_a_diverging_row_names_the_setting_as_reproduce_takes_it(tiny_data, tmp_path, capsys):
    """A row whose weights went non-finite said 'try a lower --lr', a flag reproduce does not have, and to continue
    with python -m tinyrrn.train: the hint is --set lr=..., and running the grid again goes on."""
    out = tmp_path / "grid"
    args = ["--data", tiny_data, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--workers", "0",
            "--epochs", "1", "--val-groups", "1", *TINY, "--tables", "3", "--only", "table3-identity"]
    assert reproduce.main([*args, "--set", "lr=1e39"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].endswith("try a lower learning rate (--set lr=VALUE)") and "--lr" not in lines[0], lines[0]


def test_table1_without_weights_on_real_data_is_refused_before_the_report_is_rewritten(tiny_data, tmp_path, capsys):
    """--tables 1 on real data without --weights was refused only once the grid ran: its REPORT.md was then
    rewritten with Table 1 alone, 'not run', the rows reported before gone from it."""
    out = tmp_path / "grid"
    out.mkdir()
    (out / "grid.json").write_text(json.dumps({"data": tiny_data, "weights": None, "weights_layout": "torchvision",
                                               "weights_digest": None}))
    (out / "REPORT.md").write_text("the rows finished so far\n")
    assert reproduce.main(["--data", tiny_data, "--out", str(out), "--tables", "1"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "needs --weights" in captured.err, captured.err
    assert "wrote" not in captured.out
    assert (out / "REPORT.md").read_text() == "the rows finished so far\n"
    assert sorted(os.listdir(out)) == ["REPORT.md", "grid.json"]


@pytest.mark.parametrize("change", ["weights", "resize"])
def test_a_table1_row_is_never_reported_on_features_it_was_not_trained_on(tiny_data, tmp_path, change):
    """Row A trained on features of weights W1 (or of resize 24); then --only another row of the same layer made
    the features again from other weights under the same path (or with --set resize=28): A's result, trained on
    the earlier features, was reported under the new ones (only the videos its features were of were checked)."""
    weights = str(tmp_path / "small.npz")
    save_npz(resnet_small(), weights)
    out = tmp_path / "grid"
    table1_grid(tiny_data, out, weights)
    other = ("--set", "resize=28") if change == "resize" else ()
    if change == "weights":
        save_npz(resnet_small(), weights)  # other random weights, the same path
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "1", "--weights", weights, "--only",
                                      "table1-layer4-gru-raw", "--baseline-epochs", "2", *other))[0] == 0
    assert [p.name for p in (out / "split1").iterdir() if p.name.startswith("features-layer4.replaced-")]
    lines = open(out / "REPORT.md").read().splitlines()
    assert "| Block4, Avg. Pool, with Z-norm | 0.236 | n/a | n/a | n/a | not run |" in lines
    assert not any(line.startswith("| Block4, GRU, without Z-norm |") and "not run" in line for line in lines)


def test_the_report_names_the_command_code_weights_and_data_that_made_it(tmp_path, monkeypatch):
    """REPORT.md named neither the command line, the code version (git commit), the weights' digest nor the
    data's: it could not be made again, or checked to be of the weights and videos it claims."""
    monkeypatch.setattr(reproduce, "made_by", lambda: {"command": "python -m tinyrrn.reproduce --tables 3",
                                                       "tinyrrn": "0.1.0", "git_commit": "abc123", "git_modified": True})
    out = str(tmp_path)
    digests = {"training": "d1", "validation": "d2", "test": "d3"}
    results = {(1, "table3-identity"): {**result(0.25, 0.3, 0.2, os.path.join(out, "split1", "table2-block4-identity")),
                                        "data_digests": digests}}
    protocol = {**PROTOCOL, "weights": "/w/resnet50.npz", "weights_digest": "feedbeef"}
    text = reproduce.report(results, {"tables": [3], "splits": [1], "data": "/data/ucf101", "out": out}, protocol)
    made = text.split("## How to make this report again")[1]
    assert "- **Command**: `python -m tinyrrn.reproduce --tables 3`" in made
    assert "- **Code**: tinyrrn 0.1.0, git commit abc123 (with changes to tracked files not committed)" in made
    assert "- **Weights**: `/w/resnet50.npz`, digest feedbeef" in made
    assert "- **Data** (digests of the videos' listed paths, labels and sizes): split 1: training d1, validation d2, " \
           "test d3" in made


def test_the_report_says_how_many_seeds_its_figures_are_of(tmp_path):
    """REPORT.md gave one figure per row without saying it was of a single seed, nor that no spread over seeds
    stands behind it."""
    text = reproduce.report({}, {"tables": [3], "splits": [1], "data": None, "out": str(tmp_path)}, PROTOCOL)
    protocol = text.split("## Protocol")[1].split("\n## ")[0]
    assert ("- **Seeds**: 1 (seed 0): each figure is one training run; no mean or spread over seeds is given, so "
            "differences between rows may be within seed-to-seed noise") in protocol


def test_the_report_lists_every_setting_the_paper_does_not_give_as_this_projects_choice(tmp_path):
    """Frame size and crop, the test-time crop, the batch, W_s's initialisation and what happens to the frames
    that do not fill a chunk were set by tinyrrn, as was reading the paper's tables as split 1, but REPORT.md's
    list of differences named none of them."""
    text = reproduce.report({}, {"tables": [3], "splits": [1], "data": "/data/ucf101", "out": str(tmp_path)},
                            {**PROTOCOL, "resize": 256, "crop": 224, "batch": 8})
    differences = text.split("## Where this differs from the paper")[1].split("\n## ")[0]
    assert ("- **Settings the paper does not give, this project's choices**: frames resized to a short side of 256 "
            "and cropped to 224x224 (a random crop in training, the centre crop at test), batches of 8 chunks, W_s "
            "(Eq. 3 and 4) initialised as PyTorch's Conv2d (its batch norm as 1 and 0), and a video's last sampled "
            "frames that do not fill a chunk left out (a video shorter than one chunk repeats its last frame).") \
        in differences
    assert ("- **Splits**: the paper does not name the split of its Tables 1-4; this project reads them as split 1 "
            "(\"we further evaluate our best model on all three splits\", Sec. 4.3)") in differences
