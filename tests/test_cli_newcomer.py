"""A newcomer's first hour: --help that shows each default once, one-line usage errors with a
suggestion, presets that say they need UCF-101, no half-made run directories, a progress line
for the whole job and an end summary that names the files to open."""
import contextlib
import io
import json
import os
import re
import sys

import pytest

from tinyrrn import backend, cli

# every command of the package with a main, and the arguments that reach its --help
COMMANDS = [("train", []), ("evaluate", []), ("predict", []), ("features", []), ("baseline", []),
            ("reproduce", []), ("weights", []), ("weights", ["convert"]), ("weights", ["info"]),
            ("data.check", []), ("data.synthetic", [])]


def main_of(module):
    return __import__(f"tinyrrn.{module}", fromlist=["main"]).main


def help_text(module, args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main_of(module)([*args, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def flag_blocks(text):
    """{first line of a flag's entry: its whole help} of an argparse --help text."""
    blocks, current = {}, None
    for line in text.splitlines():
        if re.match(r"^  \S", line):
            current = line.strip()
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


@pytest.mark.parametrize("module,args", COMMANDS, ids=[" ".join([m, *a]) for m, a in COMMANDS])
def test_every_help_shows_each_default_once_and_never_none(module, args):
    text = help_text(module, args)
    assert "(default: None)" not in text
    for flag, block in flag_blocks(text).items():
        assert len(re.findall(r"\bdefault\b", block, re.IGNORECASE)) <= 1, block


def test_train_help_states_the_defaults_argparse_cannot_see():
    blocks = {flag.split()[0]: block for flag, block in flag_blocks(help_text("train", [])).items()}
    for flag, says in {"--epochs": "default 30 for the synthetic data, 10 with --data",
                       "--lr": "default 0.003 for the synthetic data, 0.0001 with --data",
                       "--batch": "default 16 for the synthetic data, 8 with --data", "--out": "default runs",
                       "--seed": "default 0", "--workers": "default 2", "--update-every": "default 1%",
                       "--device": "default: TINYRRN_DEVICE, else cpu",
                       "--positions": "default: mid_block4 on the synthetic data with T = 2"}.items():
        assert says in " ".join(blocks[flag].split()), (flag, blocks[flag])


def test_train_help_lists_every_preset_on_one_line():
    from tinyrrn.config import PRESETS
    text = help_text("train", [])
    for name in PRESETS:
        line = next(line for line in text.splitlines() if line.startswith(f"  {name} "))
        assert len(line) <= 80 and re.search(r"Table \d", line), line


@pytest.mark.parametrize("args,says", [
    (["--preset", "tabel3-identity"], "argument --preset: invalid choice: 'tabel3-identity' (did you mean "
                                      "table3-identity?)"),
    (["--arch", "resnet5"], "argument --arch: invalid choice: 'resnet5' (did you mean resnet50?)"),
    (["--epcohs", "3"], "unrecognized argument --epcohs (did you mean --epochs?)"),
])
def test_a_mistyped_choice_or_flag_is_one_line_with_a_suggestion(args, says, capsys):
    assert main_of("train")(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == f"error: {says} (see python -m tinyrrn.train --help)"


def test_a_missing_required_flag_is_one_line(capsys):
    assert main_of("predict")(["video.avi"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == ("error: the following arguments are required: --checkpoint "
                                               "(see python -m tinyrrn.predict --help)")


# -- presets: the paper's rows need UCF-101; train says so, reproduce adapts them ---------------------
def units_of(config):
    from tinyrrn.models import ARCHITECTURES, RecurrentResNet
    model = RecurrentResNet(ARCHITECTURES[config["arch"]](num_classes=2), config["skip"], config["positions"],
                            config["context"])
    return config["arch"], config["skip"], config["context"], model.positions


@pytest.mark.parametrize("preset", ["table3-identity", "table4-context2", "table4-context5", "baseline-resnet50",
                                    "table2-midblock4-linear"])
def test_a_preset_without_data_is_refused_naming_the_synthetic_command_reproduce_runs(preset, tmp_path,
                                                                                       monkeypatch, capsys):
    from tinyrrn import config as configuration, reproduce
    monkeypatch.chdir(tmp_path)
    assert main_of("train")(["--preset", preset]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --preset {preset} is a row of the paper on UCF-101") and "\n" not in err
    command = err.split("on the synthetic data the same model is: python -m tinyrrn.train ")[1]
    suggested, _ = configuration.resolve(command.split())
    options = reproduce.options_from([])
    assert units_of(suggested) == units_of(reproduce.row_config(preset, options, 1))  # the grid's synthetic row
    assert list(tmp_path.iterdir()) == []  # nothing written



def test_a_preset_without_data_is_refused_in_one_line_where_tinyrrn_device_names_no_usable_gpu(
        tmp_path, monkeypatch, capsys):
    """The refusal builds a model only to name its units: on the CPU, whatever the default device."""
    def no_gpu():
        raise RuntimeError("device 'gpu': CuPy is installed but no CUDA device was found")
    monkeypatch.setattr(backend, "_load_cupy", no_gpu)
    monkeypatch.setattr(backend, "_default_device", None)
    monkeypatch.setenv("TINYRRN_DEVICE", "gpu")
    monkeypatch.chdir(tmp_path)
    assert main_of("train")(["--preset", "table3-identity", "--device", "cpu"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --preset table3-identity is a row of the paper on UCF-101") and "\n" not in err

# -- the main job: what it says before, during and after ---------------------------------------------
def test_the_main_job_says_a_baseline_follows_counts_runs_and_ends_with_files_and_a_command(tiny_data, tmp_path,
                                                                                           monkeypatch, capsys):
    from tinyrrn import train as training
    monkeypatch.chdir(tmp_path)
    args = ["--data", tiny_data, "--cache-dir", str(tmp_path / "cache"), "--arch", "resnet_small", "--resize", "24",
            "--crop", "16", "--batch", "4", "--update-every", "6", "--epochs", "1", "--max-steps", "5", "--workers", "0",
            "--val-groups", "1", "--baseline", "--threads", "1"]  # one core: in turn (tests/test_beside.py: side by side)
    assert training.main(args) == 0
    out, err = capsys.readouterr()
    run_dir = os.path.join("runs", next(os.scandir("runs")).name)
    assert out.startswith(f"this job trains 2 models, one after the other: 1. the model with a temporal skip, in "
                          f"{run_dir}; 2. the same backbone without one (context 1), the baseline to compare with, "
                          f"in {run_dir}/baseline")
    assert (f"run 1 of 2, in {run_dir}: resnet_small, identity skip at block4 (layer4.1), T = 2" in out
            and f"run 2 of 2, in {run_dir}/baseline: resnet_small, no temporal skip, T = 1" in out)
    # 6 chunks per update with batches of 4: an update every second batch, gradients accumulated
    assert "an update every 2 batches of 4 chunks, gradients accumulated over 8 chunks (--update-every 6" in out
    assert re.search(r"^run 1 of 2, epoch 1/1 .* \| job: \d\d:\d\d left$", err, re.M), err
    assert re.search(r"^run 2 of 2, epoch 1/1 .* \| job: \d\d:\d\d left$", err, re.M), err
    summary = out[out.index("files to open"):]
    for name in ("training_curve.png", "eval/confusion.png", "eval/metrics.json", "metrics.jsonl", "best.npz",
                 "val_groups.txt"):
        assert f"  {os.path.join(run_dir, name)} " in summary and os.path.isfile(os.path.join(run_dir, name)), name
    command = summary.splitlines()[-1].split("python -m tinyrrn.predict ")[1].split()
    assert os.path.isfile(command[0]) and command[1:] == ["--checkpoint", run_dir]
    assert main_of("predict")(command) == 0


def test_update_wording_says_when_weights_change():
    from tinyrrn.train import describe_updates
    assert describe_updates(7, 16, "1%") == ("an update after every batch of 16 chunks (--update-every 1% = 7 "
                                             "chunks, at most one batch)")
    assert describe_updates(96, 8, "1%") == ("an update every 12 batches of 8 chunks, gradients accumulated over "
                                             "96 chunks (--update-every 1% = 96 chunks)")


def test_positions_are_named_as_the_readme_names_them():
    from tinyrrn.models import describe_positions, resnet50, resnet_small
    assert describe_positions(resnet_small(num_classes=2), ["layer2.0", "layer3.1"]) == "block2 (layer2.0), layer3.1"
    assert describe_positions(resnet50(num_classes=2), ["layer2.3", "layer4.0"]) == ("block2 (layer2.3), "
                                                                                     "mid_block4 (layer4.0)")


def test_the_dataset_generator_counts_videos(tmp_path, capsys):
    assert main_of("data.synthetic")([str(tmp_path / "data"), "--classes", "2", "--groups", "3", "--size", "16x12",
                                      "--frames", "21-21"]) == 0
    err = capsys.readouterr().err
    videos = sum(1 for _ in (tmp_path / "data").glob("*/*.avi"))
    assert videos == 6 and f"generating synthetic videos 100% {videos}/{videos}" in err


def test_python_m_tinyrrn_prints_what_to_run():
    import importlib.util
    import subprocess
    import sys
    from tinyrrn.__main__ import COMMANDS, MORE
    done = subprocess.run([sys.executable, "-m", "tinyrrn"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    for word in ("train", "evaluate", "predict", "reproduce", "lessons", "pytest"):
        assert sum(f" {word}" in line or f".{word}" in line for line in done.stdout.splitlines()) >= 1, word
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for command, _ in COMMANDS:
        words = command.split()
        if words[1] == "-m" and words[2].startswith("tinyrrn."):
            assert importlib.util.find_spec(words[2]) is not None, command
        elif words[1].endswith(".py"):
            assert os.path.isfile(os.path.join(root, words[1])), command
    assert all(importlib.util.find_spec(f"tinyrrn.{name}") for name in MORE)


@pytest.mark.parametrize("args, says", [
    (["train", "--epochs", "3"], "run the command as python -m tinyrrn.train --epochs 3"),
    (["trian"], "('trian' given); the commands are python -m tinyrrn.train, "),
])
def test_python_m_tinyrrn_refuses_arguments_naming_the_command_that_takes_them(args, says, capsys):
    """python -m tinyrrn train printed the menu and exited 0: a script went on as if it had trained."""
    from tinyrrn.__main__ import main
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: python -m tinyrrn takes no arguments") and says in err and len(err.splitlines()) == 1
    assert main(["--help"]) == 0


@pytest.mark.parametrize("classes,texts", [(3, ["2", "1", "3"]), (30, [])])
def test_the_confusion_plot_has_a_colour_bar_and_counts_while_they_are_readable(classes, texts, tmp_path,
                                                                                monkeypatch):
    import matplotlib.pyplot as plt
    import numpy
    from tinyrrn import plots
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    confusion = numpy.zeros((classes, classes), dtype=numpy.int64)
    confusion[0, 0], confusion[0, 1], confusion[2, 2] = 2, 1, 3
    plots.plot_confusion(confusion, [f"c{i}" for i in range(classes)], tmp_path / "confusion.png")
    (figure,) = figures
    matrix, bar = figure.axes
    assert bar.get_ylabel() == "share of the true class's videos"
    assert [t.get_text() for t in matrix.texts] == texts and (tmp_path / "confusion.png").stat().st_size > 0


# -- benchmarks/seeds.py: the README's error range -------------------------------------------------
def load_seeds_script(name="seeds"):
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, says", [("data", "--step-s"), ("profile_ops", "--steps"),
                                         ("synthetic_accuracy", "--seed")])
def test_a_benchmark_flag_mistyped_is_one_line_with_a_suggestion(name, says, capsys, monkeypatch):
    """These benchmarks answered with plain argparse's usage and error (no "did you mean"), unlike the commands."""
    monkeypatch.setattr("sys.argv", [f"benchmarks/{name}.py"])
    with pytest.raises(SystemExit) as done:
        load_seeds_script(name).main(["--stpes", "3"])
    assert done.value.code == cli.EXIT_USAGE
    assert capsys.readouterr().err == (f"error: unrecognized argument --stpes (did you mean {says}?) "
                                       f"(see {name}.py --help)\n")


@pytest.mark.parametrize("args, says", [
    (["--seeds", "0,one"], "argument --seeds: '0,one': must be comma-separated whole numbers, e.g. 0,1,2"),
    (["--seed", "3"], "--seed is set per seed by this script"),
    (["--out", ""], "--out '': an empty value"),
])
def test_seeds_refuses_a_bad_flag_in_one_line(args, says, tmp_path, monkeypatch, capsys):
    """--seeds 0,one was a ValueError traceback, the others argparse's usage and error."""
    monkeypatch.chdir(tmp_path)
    assert load_seeds_script().main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: {says}") and len(err.splitlines()) == 1, err
    assert os.listdir(tmp_path) == []


def test_seeds_ends_with_the_status_of_a_train_that_failed(tmp_path, monkeypatch):
    """A train that failed (its own error line said why) ended seeds.py in a CalledProcessError traceback."""
    import subprocess
    seeds = load_seeds_script()
    monkeypatch.setattr(seeds.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 2))
    with pytest.raises(SystemExit) as done:
        seeds.main(["--seeds", "0", "--out", str(tmp_path), "--epochs", "0"])
    assert done.value.code == 2 and os.listdir(tmp_path) == []


def test_the_seeds_table_gives_each_seed_and_the_mean_and_spread():
    seeds = load_seeds_script()
    made_up = [{"seed": s, "wall_s": w, "cpu_s": c, "skip": {"error": e, "epoch": 20, "epochs": 30, "last": e + 0.1},
                "no skip": {"error": n, "epoch": 5, "epochs": 30, "last": n}}
               for s, w, c, e, n in ((0, 100.0, 190.0, 0.2, 0.7), (1, 120.0, 210.0, 0.4, 0.7))]
    lines = seeds.table(made_up).splitlines()
    assert lines[0] == ("| seed | skip: selected epoch | skip: last epoch | no skip: selected epoch | no skip: last "
                        "epoch | wall s | CPU s |")
    assert lines[2] == "| 0 | 0.200 (epoch 20 of 30) | 0.300 | 0.700 (epoch 5 of 30) | 0.700 | 100 | 190 |"
    assert lines[-1] == ("| mean ± std, population (n=2) | 0.300 ± 0.100 | 0.400 ± 0.100 | 0.700 ± 0.000 | 0.700 ± 0.000 | "
                         "110 ± 10 | 200 ± 10 |")


def test_the_position_table_chooses_by_validation_error_never_by_test(tmp_path, monkeypatch, capsys):
    """benchmarks/synthetic_accuracy.py: the lowest validation error names the setting; the test split
    only reports (made-up errors whose test ranking is the reverse of their validation ranking)."""
    accuracy = load_seeds_script("synthetic_accuracy")
    order = [f"{p}/{s}" for p in accuracy.POSITIONS for s in accuracy.SKIPS]

    def made_up(overrides, out):
        i = order.index(f"{overrides['positions'][0]}/{overrides['skip']}")
        return 0.1 + 0.01 * abs(i - 9), 0.9 - 0.01 * abs(i - 9), 1.0  # validation lowest at block4/identity (9)
    monkeypatch.setattr(accuracy, "run", made_up)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # the script's parse sets it
    accuracy.main(["--json", str(tmp_path / "errors.json")])
    printed = capsys.readouterr().out
    assert printed.strip().endswith("lowest validation error: block4/identity")
    assert "validation video error" in printed and "test video error (reported only)" in printed
    assert json.loads((tmp_path / "errors.json").read_text())["block4/identity"] == {"val_video_error": 0.1,
                                                                                     "video_error": 0.9}


def test_the_seeds_script_runs_the_main_job_per_seed(tiny_data, tmp_path, monkeypatch, capsys):
    seeds = load_seeds_script()
    monkeypatch.chdir(tmp_path)
    assert seeds.main(["--seeds", "3", "--out", "out", "--data", tiny_data, "--cache-dir", "cache", "--arch",
                       "resnet_small", "--resize", "24", "--crop", "16", "--batch", "4", "--epochs", "1",
                       "--max-steps", "2", "--workers", "0", "--val-groups", "1"]) == 0
    (run_dir,) = [d for d in os.listdir("out") if d.endswith("-seed3")]
    assert json.load(open(os.path.join("out", run_dir, "config.json")))["seed"] == 3
    table = open("out/seeds.md").read()
    assert "| 3 | " in table and "mean ± std, population (n=1)" in table and table.strip().endswith("|")
    assert seeds.main(["--seed", "1"]) == cli.EXIT_USAGE


@pytest.mark.parametrize("args, says", [
    (["--positions", "block4", "--context", "3"], "error: --positions ['block4'] --context 3 with --arch 'resnet_small': "
                                                  "context 3 needs at least 2 temporal skips (Fig. 3)"),
    (["--positions", "layer9.0"], "error: --positions ['layer9.0'] --context 2 with --arch 'resnet_small': unknown "
                                  "position 'layer9.0'"),
    (["--context", "9"], "error: --context 9 with --arch 'resnet_small': context 9 needs 8 temporal skips, but the "
                         "backbone has only 6 residual units"),
])
def test_positions_that_do_not_fit_the_context_or_backbone_are_refused_before_anything_starts(args, says, tmp_path,
                                                                                               capsys):
    assert main_of("train")(args + ["--out", str(tmp_path / "runs")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(says) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # no run folder, no baseline process beside it


# -- a path given to train that cannot be used: one error line before the job starts anything -------------
@pytest.mark.parametrize("weights,says", [
    ("missing.npz", "error: {}/missing.npz: no such file (--weights)"),
    ("notes.txt", "error: --weights {}/notes.txt: not a weights file (neither a PyTorch .pth nor a NumPy .npz)"),
    ("resnet18.npz", "error: --weights {}/resnet18.npz: tensors the backbone does not have (24): layer1.1.conv1.weight"),
])
def test_train_refuses_unusable_weights_before_the_job_starts_anything(weights, says, tiny_data, tmp_path, monkeypatch,
                                                                       capsys):
    """--weights was first read as the first model was built: the job had printed its plan and started its baseline
    beside it, then stopped that process (three lines more) and ended in an error that named no flag (exit status 1)."""
    from tinyrrn.models import resnet18
    from tinyrrn.weights import save_npz
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    save_npz(resnet18(num_classes=10), "resnet18.npz")
    args = ["--data", tiny_data, "--arch", "resnet_small", "--cache-dir", "cache", "--baseline", "--threads", "2",
            "--weights", weights]
    assert main_of("train")(args) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith(says.format(tmp_path)), err
    assert not os.path.exists("runs")


def test_train_on_the_synthetic_data_refuses_a_missing_list_dir_before_the_job_starts_anything(tiny_data, tmp_path,
                                                                                               monkeypatch, capsys):
    """Without --data, --list-dir was first read as the first model's dataset was built: the job had printed its
    plan and started its baseline beside it."""
    from tinyrrn.data import synthetic
    monkeypatch.setattr(synthetic, "generated_once", lambda root: tiny_data)  # the built-in dataset, here tiny
    monkeypatch.chdir(tmp_path)
    assert main_of("train")(["--list-dir", "lists", "--cache-dir", "cache", "--threads", "2"]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {tmp_path / 'lists'}: no such folder of split files (classInd.txt, trainlist01.txt, ...): " \
                                "--list-dir\n"
    assert not os.path.exists("runs")


@pytest.mark.parametrize("module", ["train", "features", "reproduce"])
def test_help_names_the_frame_cache_a_command_writes_by_default(module, monkeypatch, tmp_path):
    """features' and reproduce's --cache-dir said only '(default: user cache)', where train names the folder."""
    from tinyrrn import config as configuration
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    blocks = {flag.split()[0]: "".join(block.split()) for flag, block in flag_blocks(help_text(module, [])).items()}
    folder = configuration.fill_defaults(dict(configuration.DEFAULTS))["cache_dir"]
    assert folder == str(tmp_path / "tinyrrn" / "frames")
    assert f"(default{folder})" in blocks["--cache-dir"], blocks["--cache-dir"]  # argparse wraps paths at '-'s


@pytest.mark.parametrize("module", ["train", "evaluate", "predict", "features", "baseline", "reproduce"])
def test_help_says_what_each_device_choice_does(module):
    """--device {cpu,gpu,auto} said what gpu needs but nothing of auto (the GPU only when one works)."""
    blocks = {flag.split()[0]: " ".join(block.split()) for flag, block in flag_blocks(help_text(module, [])).items()}
    assert "auto (the GPU when one works, else the CPU)" in blocks["--device"], blocks["--device"]
    assert "gpu (needs CuPy)" in blocks["--device"] and "default: TINYRRN_DEVICE, else cpu" in blocks["--device"]


@pytest.mark.parametrize("args", [["tinyrrn"], ["tinyrrn.weights", "info", "{weights}"]])
def test_output_into_a_pipe_whose_reader_is_gone_ends_quietly_with_141(args, tmp_path):
    """| head -1 closes the pipe: the next write was "error: [Errno 32] Broken pipe" (exit status 1), or a traceback of
    python -m tinyrrn; now it ends quietly with 128 + SIGPIPE, as a program stopped by SIGPIPE does."""
    import subprocess
    import sys
    import numpy
    from tinyrrn.weightfiles import save_npz
    weights = str(tmp_path / "many.npz")
    save_npz({f"layer{i}.weight": numpy.zeros(3, numpy.float32) for i in range(400)}, weights)  # more than a buffer
    proc = subprocess.Popen([sys.executable, "-m", *[a.format(weights=weights) for a in args]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and err == ""


@pytest.mark.parametrize("video, says", [("missing.avi", "no such video file"), ("folder", "a folder, not a video file")])
def test_predict_refuses_a_video_path_that_names_no_file_as_a_usage_error(video, says, tmp_path, capsys):
    """It was exit status 1 and "cannot read metadata ([Errno 2] No such file or directory: ...)"."""
    from tinyrrn import predict
    from tinyrrn.builders import build_model
    from tinyrrn.checkpoint import save
    from tinyrrn.config import DEFAULTS, fill_defaults
    config = fill_defaults({**DEFAULTS, "arch": "resnet_small"})
    model = build_model(config, 4)
    save(tmp_path / "best.npz", {f"model/{k}": v for k, v in model.state_dict().items()},
         {"config": config, "classes": ["a", "b", "c", "d"]})
    (tmp_path / "folder").mkdir()
    path = str(tmp_path / video)
    assert predict.main([path, "--checkpoint", str(tmp_path / "best.npz")]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == f"error: {path}: {says}\n"


@pytest.mark.parametrize("module, args, says", [
    ("weights", ["info", "{tmp}/none.npz"], "{tmp}/none.npz: No such file or directory"),
    ("weights", ["convert", "{tmp}/none.pth", "{tmp}/out.npz"], "{tmp}/none.pth: No such file or directory"),
    ("weights", ["convert", "{tmp}/w.npz", "{tmp}/folder"], "{tmp}/folder: Is a directory"),
    ("weights", ["convert", "{tmp}/w.npz", "{tmp}/notes.txt/out.npz"],
     "{tmp}/notes.txt/out.npz: not in a folder: {tmp}/notes.txt is a file"),
    ("data.synthetic", ["{tmp}/notes.txt/data"], "{tmp}/notes.txt/data: not in a folder: {tmp}/notes.txt is a file"),
    ("baseline", ["--features", "{tmp}/none"], "--features {tmp}/none: no such feature folder"),
    ("baseline", ["--features", "{tmp}/notes.txt"], "--features {tmp}/notes.txt: a file, not a feature folder"),
    ("baseline", ["--features", "{tmp}/folder"], "--features {tmp}/folder: no index.json"),
])
def test_a_path_given_that_is_missing_or_of_the_wrong_kind_is_a_usage_error(module, args, says, tmp_path, capsys):
    """train, evaluate, predict, features and data.check exit 2 for such a path; these exited 1 (data.synthetic's
    output under a file said only 'File exists')."""
    from tinyrrn.weightfiles import save_npz
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    save_npz({"conv1.weight": __import__("numpy").zeros((2, 3, 1, 1), "float32")}, tmp_path / "w.npz")
    before = sorted(os.listdir(tmp_path))
    assert main_of(module)([a.format(tmp=tmp_path) for a in args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: " + says.format(tmp=tmp_path)) and len(err.splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "folder") == []


def test_a_cache_dir_that_is_a_file_is_a_usage_error_as_a_list_dir_that_is_one(tiny_data, tmp_path, capsys):
    """--cache-dir FILE exited 1, --list-dir FILE 2: both name a folder given that is none."""
    (tmp_path / "notes.txt").write_text("mine")
    notes = str(tmp_path / "notes.txt")
    for flag, says in (("--cache-dir", "not a folder, so it cannot hold the frame cache (--cache-dir)"),
                       ("--list-dir", "a file, not a folder of split files")):
        args = ["--data", tiny_data, "--arch", "resnet_small", "--out", str(tmp_path / "runs"), "--max-steps", "1",
                "--cache-dir", str(tmp_path / "cache"), flag, notes]
        assert main_of("train")(args) == cli.EXIT_USAGE
        assert capsys.readouterr().err.startswith(f"error: {notes}: {says}")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("module,missing", [("train", "trainlist01.txt"), ("train", "classInd.txt"),
                                            ("data.check", "testlist01.txt")])
def test_a_missing_split_file_is_a_usage_error_naming_the_file_and_the_split(module, missing, tiny_data, tmp_path,
                                                                           capsys):
    """A folder of split files without the split's trainlistNN.txt ended in 'error: .../trainlist01.txt: No such
    file or directory', exit status 1 (a failed run), where a missing folder of split files is a usage error."""
    import shutil
    lists = tmp_path / "lists"
    shutil.copytree(os.path.join(tiny_data, "ucfTrainTestlist"), lists)
    (lists / missing).unlink()
    args = ([tiny_data, "--list-dir", str(lists)] if module == "data.check" else
            ["--data", tiny_data, "--list-dir", str(lists), "--out", str(tmp_path / "runs"), "--max-steps", "1"])
    assert main_of(module)(args) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert err == (f"error: {lists / missing}: no such split file (split 1 reads classInd.txt, trainlist01.txt "
                   f"and testlist01.txt from {lists})\n"), err
    assert not (tmp_path / "runs").exists()


def test_evaluate_help_gives_as_other_test_videos_an_example_evaluate_accepts(tmp_path):
    """evaluate --out's help gave '--split 2: RUN_DIR/eval-split2' as its example of other test videos, but a split-1
    run is refused on --split 2 (its test groups are in split 1's training list, on UCF-101 as on the synthetic
    data); the README's example is another dataset, --data /data/other: eval-other."""
    import argparse as arguments

    from tinyrrn import evaluate
    block = " ".join(next(b for f, b in flag_blocks(help_text("evaluate", [])).items() if f.startswith("--out")).split())
    flag, value, folder = re.search(r"e\.g\. (--\S+) (\S+): RUN_DIR/(eval-\S+?)\)", block).groups()
    assert flag != "--split", block
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.npz").write_bytes(b"")
    asked = arguments.Namespace(**{"split": None, "data": None, "list_dir": None, flag[2:].replace("-", "_"): value})
    suffix = evaluate.other_videos(asked, {"split": 1, "data": None, "list_dir": None})
    assert os.path.basename(evaluate.report_folder(str(run), suffix)) == folder


def test_a_folder_of_runs_where_a_run_is_asked_names_its_runs(tmp_path, capsys):
    """evaluate runs and predict --checkpoint runs (the folder train writes run directories into) said
    'runs/checkpoint.npz: no such checkpoint', and train --resume runs 'not a run directory (no config.json)'."""
    from tinyrrn import evaluate, predict, train
    runs = tmp_path / "runs"
    for name in ("20261201-101010-synthetic-identity-T2", "20261202-101010-synthetic-identity-T2"):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.json").write_text("{}")
        (runs / name / "checkpoint.npz").write_bytes(b"")
    says = (f"{runs}: a folder of 2 run directories, not a run directory itself: name one of them, e.g. the newest, "
            f"{runs / '20261202-101010-synthetic-identity-T2'}")
    for main, args, flag in ((evaluate.main, [str(runs)], ""), (predict.main, ["v.avi", "--checkpoint", str(runs)], ""),
                             (train.main, ["--resume", str(runs)], "--resume ")):
        assert main(args) == cli.EXIT_USAGE
        assert capsys.readouterr().err == f"error: {flag}{says}\n"


@pytest.mark.parametrize("module,args", COMMANDS, ids=[" ".join([m, *a]) for m, a in COMMANDS])
def test_a_help_description_is_a_plain_paragraph(module, args):
    """Every wrapped line of a command's description after the first was indented by four spaces ('Train a recurrent
    residual network ... by\\n    video. With no arguments: ...'), as if each were an item of a list; only a list's
    items (indented lines, as train's presets) hang their wrapped lines."""
    text = help_text(module, args)
    description = text.split("\n\n")[1]  # after the usage
    assert not description.startswith(" ") and all(not line.startswith(" ") for line in description.splitlines()), text


def test_classes_that_end_early_are_said_to_end_not_named_none():
    """Evaluating a 12-class run on a 4-class dataset said "first difference at label 5: 'none' where the model has
    'MoveDown'", as if a class were named none."""
    from tinyrrn.builders import check_classes
    model = ["A", "B", "C"]
    for found, says in ((["A", "B"], "(2 vs 3); first difference at label 3: the data has no class 3 (it has 2), "
                                     "where the model has 'C'"),
                        (["A", "B", "C", "D"], "(4 vs 3); first difference at label 4: 'D', where the model has no "
                                               "class 4 (it has 3)"),
                        (["A", "X", "C"], "(3 vs 3); first difference at label 2: 'X', where the model has 'B'")):
        with pytest.raises(cli.UsageError) as refused:
            check_classes(model, found, "classInd.txt")
        assert str(refused.value) == f"classInd.txt: classes differ from the model's {says}"
