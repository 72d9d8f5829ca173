"""The reproduction grid: the paper's numbers, row planning, resume, and REPORT.md's format."""
import json
import os
import shutil

import pytest

from tinyrrn import reproduce
from tinyrrn.models import resnet_small
from tinyrrn.weights import save_npz

TINY = ["--set", "arch=resnet_small", "--set", "resize=24", "--set", "crop=16", "--set", "batch=4",
        "--set", "update_every=8", "--set", "flip=false"]


def options(data, out, *extra):
    return reproduce.options_from(["--data", data, "--out", str(out), "--cache-dir", str(out) + "-cache",
                                   "--workers", "0", "--epochs", "1", *TINY, *extra])


def test_paper_numbers_as_printed():
    table = {r["key"]: r["paper"] for r in reproduce.rows([1, 2, 3, 4])}
    assert len([k for k in table if k.startswith("table1-")]) == 12
    assert table["table1-layer4-avgpool-znorm"] == 0.236 and table["table1-layer2-gru-raw"] == 0.493
    assert table["table1-layer3-gru-znorm"] == 0.403 and table["table1-layer3-gru-raw"] == 0.325
    assert table["table2-block1-linear"] == 0.265 and table["table2-block4-linear"] == 0.219
    assert table["table2-block4-identity"] is None  # the paper's Table 2 lists convolutional rows only
    assert [table[f"table3-{s}"] for s in ("identity", "linear", "nonlinear")] == [0.197, 0.219, 0.210]
    assert [table[f"table4-context{t}"] for t in (1, 2, 3, 5)] == [0.236, 0.197, 0.194, 0.209]
    presets = [r["preset"] for r in reproduce.rows([2, 3, 4])]
    from tinyrrn.config import PRESETS
    assert all(p in PRESETS for p in presets)


def test_synthetic_rows_use_the_small_backbone_with_the_rows_skip(tmp_path):
    opts = reproduce.options_from(["--out", str(tmp_path / "g")])
    config = reproduce.row_config("table2-midblock4-linear", opts, 1)
    assert config["arch"] == "resnet_small" and config["skip"] == "linear" and config["positions"] == ["mid_block4"]
    assert config["epochs"] == reproduce.SYNTHETIC_EPOCHS and config["data"] is None and not config["baseline"]
    ucf = reproduce.options_from(["--data", "ucf", "--weights", "w.pth", "--epochs", "3"])
    config = reproduce.row_config("table4-context3", ucf, 2)
    assert (config["arch"], config["context"], config["split"], config["epochs"]) == ("resnet50", 3, 2, 3)
    assert reproduce.options_from(["--splits", "1,2"])["splits"] == [1, 2]  # synthetic data has 3 splits too
    with pytest.raises(ValueError, match="split numbers 1-3"):
        reproduce.options_from(["--splits", "1,4"])


def test_same_model_rows_share_one_run(tmp_path):
    grid = reproduce.Grid(reproduce.options_from(["--out", str(tmp_path / "g"), "--tables", "2,3,4"]))
    dirs = {key: os.path.basename(d) for (split, key), d in grid.run_dirs.items()}
    assert dirs["table3-identity"] == dirs["table4-context2"] == "table2-block4-identity"
    assert dirs["table3-linear"] == "table2-block4-linear" and dirs["table3-nonlinear"] == "table3-nonlinear"
    assert len(set(dirs.values())) == 12


def test_report_format(tmp_path):
    out = str(tmp_path)
    results = {(1, "table3-identity"): (0.25, os.path.join(out, "split1", "table2-block4-identity")),
               (1, "table3-linear"): (0.1, os.path.join(out, "split1", "table3-linear"))}
    text = reproduce.report(results, [3, 2], [1], None, out)
    lines = text.splitlines()
    assert lines[0].startswith("# ") and "synthetic" in text and "shown for reference only" in text
    assert "## Table 3" in text and "## Table 2" in text and text.index("## Table 3") < text.index("## Table 2")
    header = "| row | paper error | tinyrrn error | difference | run directory |"
    assert text.count(header) == 2
    assert "| Identity mapping | 0.197 | 0.250 | +0.053 | split1/table2-block4-identity |" in lines
    assert "| Conv. linear | 0.219 | 0.100 | -0.119 | split1/table3-linear |" in lines
    assert "| Conv. non-linear | 0.210 | n/a | n/a | not run |" in lines
    assert "| Block4, identity | n/a | n/a | n/a | not run |" in lines
    ucf = reproduce.report(results, [3], [1, 2], "/data/ucf101", out)
    assert "reference only" not in ucf and "/data/ucf101" in ucf
    assert "| Identity mapping (split 2) | n/a | n/a | n/a | not run |" in ucf.splitlines()


def epochs_logged(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f if '"kind": "epoch"' in line]


def test_grid_resumes_finished_and_interrupted_rows(tiny_data, tmp_path):
    out = tmp_path / "grid"
    code, report_path = reproduce.run_grid(options(tiny_data, out, "--tables", "3"))
    assert code == 0
    runs = {name: out / "split1" / f"table3-{name}" for name in ("identity", "linear", "nonlinear")}
    stamps = {name: os.stat(d / "eval" / "metrics.json").st_mtime_ns for name, d in runs.items()}
    assert all(epochs_logged(d) == [1] for d in runs.values())
    text = open(report_path).read()
    assert text.count("| split1/table3-") == 3 and "not run" not in text

    # second run: nothing is retrained
    checkpoint_stamp = os.stat(runs["linear"] / "checkpoint.npz").st_mtime_ns
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3"))[0] == 0
    assert {n: os.stat(d / "eval" / "metrics.json").st_mtime_ns for n, d in runs.items()} == stamps
    assert os.stat(runs["linear"] / "checkpoint.npz").st_mtime_ns == checkpoint_stamp

    # a row without its final evaluation continues from its checkpoint (here for one more epoch)
    shutil.rmtree(runs["linear"] / "eval")
    assert reproduce.run_grid(options(tiny_data, out, "--tables", "3", "--epochs", "2"))[0] == 0
    assert epochs_logged(runs["linear"]) == [1, 2]  # resumed after epoch 1, not restarted
    assert os.path.isfile(runs["linear"] / "eval" / "metrics.json")
    assert epochs_logged(runs["identity"]) == [1]  # finished rows untouched
    assert os.stat(runs["identity"] / "eval" / "metrics.json").st_mtime_ns == stamps["identity"]
    lines = [json.loads(line) for line in open(out / "grid.jsonl")]
    assert [r["row"] for r in lines] == ["table3-identity", "table3-linear", "table3-nonlinear", "table3-linear"]


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
    assert "| Block3, GRU, with Z-norm | 0.403 | n/a | n/a | not run |" in lines
    with pytest.raises(ValueError, match="needs --weights"):
        reproduce.run_grid(options(tiny_data, tmp_path / "t1b", "--tables", "1"))
    with pytest.raises(ValueError, match="other data"):
        reproduce.run_grid(options(tiny_data + "-elsewhere", out, "--tables", "3"))
