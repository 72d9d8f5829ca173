"""Every lesson runs in a fresh process, passes its own asserts, prints what it teaches and draws its pictures.

Each lesson checks its claims with asserts, so exit status 0 (with assertions enabled) is most
of the test. The lines below are facts a lesson can only print after computing them: a lesson
that stopped early, skipped a part or computed something else would not print them.
"""
import os
import pathlib
import re
import resource
import subprocess
import sys
import time

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

LESSON_DIR = pathlib.Path(__file__).parent.parent / "lessons"
pytestmark = pytest.mark.cpu_only("the lessons teach with NumPy arrays on the CPU")
CPU_SECONDS = 60  # 30 s on 2 cores; CPU time, since a busy machine stretches the wall clock

# lesson -> (patterns its output must contain (regular expressions), files it writes into --out)
EXPECTED = {
    "01_autograd.py": ([r"by hand:    dL/dw = -0\.31079948   dL/db = -0\.62159897",
                        r"by engine:  dL/dw = -0\.31079948   dL/db = -0\.62159897",
                        r"over every element of W and v: passed",
                        r"one Jacobian row, compared entry by entry with the central\s+differences of each of the 12 \+ 20 input elements",
                        r"a second loss\.backward\(\) is refused \(RuntimeError\)",
                        r"dL/dw = -0\.62159897 = 2 x -0\.31079948"], []),
    "02_residual_block.py": ([r"changes by x[\d.]+e-0[5-9] \(plain\), x[\d.]+e\+0[45] \(residual\), "
                              r"x[\d.]+e\+00 \(residual\+BN\)",
                              r"\n\s+40(\s+[\d.]+e[-+]\d\d){3}\n"], []),
    "03_temporal_skip.py": ([r"identity\s+Eq\. 2\s+0\s", r"linear\s+Eq\. 3\s+256\s", r"nonlinear\s+Eq\. 4\s+288\s",
                             r"1 temporal skip\(s\) at \['layer4\.1'\]: frames \[3, 4\] of 1\.\.4",
                             r"3 temporal skip\(s\) at .*: frames \[1, 2, 3, 4\] of 1\.\.4",
                             r"frames 3 and 4 swapped: .* the larger gradient moves with the picture"],
                            ["fig3_unrolled.png"]),
    "04_im2col.py": ([r"6480 multiply-adds", r"the column matrix has shape \(60, 27\)",
                      r"12   112   212      13   113   213      14   114   214",
                      r"tinyrrn\.functional\.conv\.im2col gives exactly our column matrix: yes",
                      r"equal the engine's gradients from F\.conv2d\(\.\.\.\)\.backward\(g\) \(to 1e-12\): yes",
                      r"stride 2: it maps g \(2, 4, 3, 3\) to \(2, 3, 5, 6\) \(output_padding \(0, 1\)\) and equals "
                      r"dL/dx of F\.conv2d \(to 1e-12\): yes",
                      r"copies 24\.5 MiB from NCHW memory and 0\.0 MiB channels-last",
                      r"at stride 1, dL/dx is also conv2d\(g, W turned 180 degrees .*\): equal \(to 1e-12\)",
                      r"on such a layer \(2, 128, 14, 14\) it gives the one-copy im2col's numbers .*: yes"],
                     ["im2col.png"]),
    "05_batch_norm.py": ([r"F\.batch_norm\(training=True\) gives the same output \(float64, to 1e-12\): yes",
                          r"\(a\) its gradients for x, gamma and beta equal our derivation",
                          r"\(b\) BN assembled from primitive ops, differentiated by autograd, gives the same",
                          r"\(c\) tinyrrn\.gradcheck .*: passed", r"num_batches_tracked = 100",
                          r"x_hat is -1 or \+1: \[(\s*-?1\.){6}\]"], []),
    "06_training_loop.py": ([r"cut into 50 chunks of T = 2 frames", r"roughly 89,500 training chunks, so 1% is 895 chunks",
                             r"13 mini-batches, 4 Adam steps = ceil\(50 chunks / 16\) = 4",
                             r"relative difference \d\.\de-(0[6-9]|1\d) -- the same gradient",
                             r"def train_one_epoch\(", r"train_one_epoch took 4 steps \(ours 4\)",
                             r"\((bit for bit identical|float32 rounding)\); update losses equal: True",
                             r"60 epochs, 240 updates \(4 per epoch\)"],
                            ["training_loss.png"]),
    "07_pretrained_weights.py": ([r"resnet50\(\) has 320 entries and 25,557,032 parameters",
                                  r"BINPERSID", r"read_pth gives back all 98 arrays",
                                  r"seven_classes\.pth: ValueError", r"missing \['fc\.bias'\], unexpected \[\]",
                                  r"pickle\.loads on a pickle of 80 bytes printed", r"read_pth refuses it",
                                  r"the command never ran",
                                  r"every weight but fc comes from the file, fc keeps its fresh values: yes"],
                                 ["resnet_small.pth", "missing_fc_bias.pth", "seven_classes.pth", "crafted.pth"]),
    "08_unrolled_rrn.py": ([r"Step-by-step loop and RecurrentResNet give the same logits \(8, 5\)",
                            r"layer3\.1  \[1, 2, 3\]            4        3",
                            r"layer4\.2  \[3\]                  4        1",
                            r"level evaluations per clip: loop 36, batched 26",
                            r"T=2, block2 .* loop  36, pruned  25"],
                           ["fig3_computed_steps.png"]),
    "09_video_to_prediction.py": ([r"17 sampled frames make 8 chunks of T = 2",
                                   r"predicted    Brighten Brighten Brighten Brighten Brighten Brighten   Darken   Darken",
                                   r"-> Brighten\n",
                                   r"tinyrrn\.predict\.predict .* gives the same 8 chunks and probabilities: yes"],
                                  ["brighten_then_darken.avi", "video_prediction.png"]),
}


# lessons that compare with PyTorch when it is installed -> (printed without it, printed with it)
WITH_TORCH = {
    "04_im2col.py": ([r"PyTorch is not installed, so the comparison with torch\.nn\.functional\.conv2d is skipped"],
                     [r"torch\.nn\.functional\.conv2d \(torch [^)]+\) agrees too", r"PyTorch's gradients agree too",
                      r"stride 2: .*\n\s+torch\.nn\.functional\.conv_transpose2d agrees too"]),
    "05_batch_norm.py": ([r"PyTorch is not installed; with it"], [r"PyTorch refuses it too: "]),
    "07_pretrained_weights.py": ([r"PyTorch is not installed: with it"],
                                 [r"torch\.load\(weights_only=True\) reads our hand-made file, and read_pth reads "
                                  r"torch\.save's: yes", r"torch\.load\(weights_only=True\) refuses it too"]),
}


def test_every_lesson_has_its_checks_here():
    lessons = sorted(p.name for p in LESSON_DIR.glob("[0-9][0-9]_*.py"))
    assert lessons == sorted(EXPECTED), "add the new lesson's printed facts and files to EXPECTED"


def test_the_readme_names_the_lessons_that_write_nothing():
    """README: "lessons 01, 02 and 05 write none and take no flags": they are the lessons that write no
    file here, none of them parses flags (so --out would be ignored), and every other lesson takes --out."""
    readme = (LESSON_DIR.parent / "README.md").read_text(encoding="utf-8")
    said = re.search(r"lessons ((?:\d\d(?:, | and )?)+) write none and take no\s+flags", readme)
    assert said, "the README must say which lessons write no files"
    silent = {name for name, (_, files) in EXPECTED.items() if not files}
    assert set(re.findall(r"\d\d", said.group(1))) == {name[:2] for name in silent}
    for name in EXPECTED:
        source = (LESSON_DIR / name).read_text(encoding="utf-8")
        assert ('add_argument("--out"' in source) == (name not in silent), name


@pytest.mark.parametrize("args, status, says", [
    (["--help"], 0, "usage: 01_autograd.py [-h]"),
    (["--out", "x"], 2, "error: unrecognized arguments: --out x (see 01_autograd.py --help)"),
])
def test_a_lesson_without_flags_answers_help_and_refuses_a_flag(args, status, says, tmp_path):
    """Lessons 01, 02 and 05 ignored every argument: --help or a mistyped flag ran the whole lesson."""
    done = subprocess.run([sys.executable, str(LESSON_DIR / "01_autograd.py"), *args], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == status and (done.stdout + done.stderr).startswith(says), done.stdout + done.stderr
    assert "dL/dw" not in done.stdout and len(done.stderr.splitlines()) == status // 2  # the lesson did not run


def test_a_lesson_flag_mistyped_is_one_line_with_a_suggestion(capsys, monkeypatch):
    """The lessons' flags were plain argparse's: the usage and an error, no "did you mean", unlike the commands."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # parse_script_args sets it
    from tinyrrn.cli import ArgumentParser, parse_script_args
    parser = ArgumentParser(prog="03_temporal_skip.py")
    parser.add_argument("--out", default="out")
    with pytest.raises(SystemExit) as done:
        parse_script_args(parser, ["--outt", "x"])
    assert done.value.code == 2
    assert capsys.readouterr().err == ("error: unrecognized argument --outt (did you mean --out?) "
                                       "(see 03_temporal_skip.py --help)\n")
    assert parse_script_args(parser, ["--out", "x"]).out == "x"


@pytest.mark.parametrize("out", ["notes.txt", "notes.txt/out"])
def test_a_lesson_out_that_is_a_file_is_one_line_before_the_lesson_runs(out, tmp_path, monkeypatch, capsys):
    """--out naming a file ended the lesson in a traceback of os.makedirs (lesson 03: after all its work)."""
    from tinyrrn.cli import ArgumentParser, folder_to_write, parse_script_args
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # parse_script_args sets it
    (tmp_path / "notes.txt").write_text("mine")
    parser = ArgumentParser(prog="03_temporal_skip.py")
    parser.add_argument("--out", type=folder_to_write, default="out")
    with pytest.raises(SystemExit) as done:
        parse_script_args(parser, ["--out", out])
    assert done.value.code == 2 and capsys.readouterr().err == (
        f"error: argument --out: '{out}': notes.txt is a file (or a link to nothing), not a folder "
        "(see 03_temporal_skip.py --help)\n")
    assert parse_script_args(parser, ["--out", "new/out"]).out == "new/out" and os.listdir() == ["notes.txt"]
    for name in EXPECTED:  # every lesson that writes takes its --out so
        source = (LESSON_DIR / name).read_text(encoding="utf-8")
        assert ('add_argument("--out", type=folder_to_write' in source) == bool(EXPECTED[name][1]), name


def test_a_lesson_stopped_by_ctrl_c_says_so_in_one_line(monkeypatch, capsys):
    """A Ctrl-C of a lesson or benchmark was a KeyboardInterrupt traceback through whatever line it stopped."""
    from tinyrrn.cli import ArgumentParser, interrupted_script, parse_script_args
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    parse_script_args(ArgumentParser(), [])
    assert sys.excepthook is interrupted_script
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert capsys.readouterr().err == "\ninterrupted (Ctrl-C)\n"


def run_lesson(name, folder, hide_torch):
    """Run a lesson as a learner would (assertions on), writing into folder/out; return its output,
    wall and CPU seconds. hide_torch: make `import torch` fail, as after the README's install."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONOPTIMIZE"}  # -O would strip the asserts
    if hide_torch:
        blocker = folder / "no_torch"
        blocker.mkdir()
        (blocker / "torch.py").write_text('raise ImportError("hidden by tests/test_lessons.py")\n')
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker), env.get("PYTHONPATH")]))
    out = folder / "out"
    out.mkdir()
    command = [sys.executable, str(LESSON_DIR / name)] + (["--out", str(out)] if EXPECTED[name][1] else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=folder, env=env)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, out, wall, cpu


def assert_printed(name, stdout, patterns):
    for pattern in patterns:
        assert re.search(pattern, stdout), f"{name} did not print {pattern!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lesson(name, tmp_path):
    """The lesson without PyTorch (the README's install): its asserts pass, its facts and files appear."""
    stdout, out, wall, cpu = run_lesson(name, tmp_path, hide_torch=True)
    patterns, files = EXPECTED[name]
    assert_printed(name, stdout, patterns + WITH_TORCH.get(name, ([], []))[0])
    assert "\nWhat to remember" in stdout, f"{name} has no 'What to remember' section"
    assert cpu < CPU_SECONDS, f"{name} used {cpu:.1f} CPU seconds (wall {wall:.1f} s)"
    for file in files:
        path = out / file
        assert path.is_file() and path.stat().st_size > 500, f"{name} did not write {file}"
        if file.endswith(".png"):
            image = matplotlib.image.imread(path)
            assert image.ndim == 3 and min(image.shape[:2]) > 300, f"{file}: {image.shape}"
            assert image[..., :3].std() > 0.05, f"{file} is nearly blank"
    if name == "07_pretrained_weights.py":
        assert not (out / "the_crafted_file_ran_a_command").exists()


@pytest.mark.parametrize("name", sorted(WITH_TORCH))
def test_lesson_agrees_with_pytorch(name, tmp_path, torch):
    """With PyTorch installed the lesson also compares with it, and says so."""
    stdout, _, _, _ = run_lesson(name, tmp_path, hide_torch=False)
    assert_printed(name, stdout, EXPECTED[name][0] + WITH_TORCH[name][1])
