"""The README's code runs: every ```python block executes (in an empty working directory), every
command it names exists and takes the flags it is written with, and its recipes work."""
import argparse
import importlib
import importlib.util
import os
import re
import shlex
import sys

import numpy as np
import pytest
from devices import host

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
# the README's command lines: each line of its other code blocks (bash, text), and each `code span` of its prose
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```\n", README, re.S | re.M)  # (language, text), fence by fence
CODE_LINES = ([line for language, block in BLOCKS if language != "python" for line in block.splitlines()]
              + re.findall(r"`([^`\n]+)`", re.sub(r"^```\w*\n.*?^```\n", "", README, flags=re.S | re.M)))
COMMAND = re.compile(r"python -m (tinyrrn(?:\.\w+)*)|python (benchmarks/\w+\.py)")
TINYRRN_COMMANDS = ("train", "evaluate", "predict", "reproduce", "features", "baseline", "weights", "data.check",
                    "data.synthetic")  # python -m tinyrrn lists them (tests/test_cli_newcomer.py)
FORWARDED = {"benchmarks/seeds.py": "tinyrrn.train"}  # a command that hands the flags it does not know on


def test_the_readme_opens_with_the_install_and_test_commands():
    first = re.search(r"^```bash\n(.*?)^```", README, re.S | re.M).group(1).splitlines()
    assert first[0].startswith("pip install . && python -m tinyrrn.train ")
    assert first[1].startswith('pip install ".[test]" && python -m pytest ')


@pytest.mark.cpu_only("the snippets build their inputs with NumPy on the host, as a reader on a CPU does")
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"block{i + 1}" for i in range(len(PYTHON_BLOCKS))])
def test_every_python_block_of_the_readme_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    assert os.listdir(tmp_path) == []


def test_every_command_and_file_the_readme_names_exists():
    assert PYTHON_BLOCKS
    for module in set(re.findall(r"python -m (tinyrrn(?:\.\w+)*)", README)):
        assert importlib.util.find_spec(module) is not None, module
    scripts, pictures = re.findall(r"python ((?:lessons|benchmarks)/\w+\.py)", README), re.findall(r"!\[.*?\]\((.*?)\)", README)
    for path in set(scripts) | set(pictures):
        assert os.path.isfile(os.path.join(ROOT, path)), path
    sources = "".join(open(os.path.join(folder, name)).read() for top in ("tinyrrn", "benchmarks")
                      for folder, _, names in os.walk(os.path.join(ROOT, top)) for name in names if name.endswith(".py"))
    for flag in set(re.findall(r"`(--[a-z][a-z0-9-]*)", README)) - {"--help"}:  # argparse adds --help
        assert f'"{flag}"' in sources, flag  # a flag some command defines


class Parsed(Exception):
    """Raised where a command would parse its arguments: carries the parser it built."""

    def __init__(self, parser):
        super().__init__(parser.prog)
        self.parser = parser


def parser_of(command, monkeypatch):
    """The argparse parser that ``command`` (a module ``tinyrrn.X`` or a script ``benchmarks/X.py``) builds:
    its ``main`` runs until it parses, which here raises instead."""
    def capture(parser, args=None, namespace=None):
        raise Parsed(parser)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
        patch.setattr(sys, "argv", [command])
        if command.endswith(".py"):
            patch.syspath_prepend(os.path.join(ROOT, "benchmarks"))  # the scripts import their neighbours
            spec = importlib.util.spec_from_file_location("readme_" + os.path.basename(command)[:-3],
                                                          os.path.join(ROOT, command))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(command)
        with pytest.raises(Parsed) as parsed:
            module.main()
    return parsed.value.parser


def flags_of(parser, subcommand=None):
    """The option strings ``parser`` accepts; with ``subcommand``, those of that subcommand's parser too
    (None: those of every subcommand)."""
    flags = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if subcommand in (None, name):
                    flags |= set(sub._option_string_actions)
    return flags


def written_commands():
    """(command, words after it) of every command the README writes, a line's comment included (it speaks
    of that command); a line holding several commands is cut at each."""
    commands = []
    for line in CODE_LINES:
        for part in line.split("&&"):
            found = list(COMMAND.finditer(part))
            for match, after in zip(found, found[1:] + [None]):
                words = part[match.end():after.start() if after else None]
                commands.append((match.group(1) or match.group(2), words))
    return commands


def test_every_flag_the_readme_writes_with_a_command_is_one_that_command_takes(monkeypatch):
    """`python -m tinyrrn.X --flag` and `python benchmarks/X.py --flag` in the README: X's own parser
    accepts --flag (a flag some other command defines does not count)."""
    commands = written_commands()
    assert {"tinyrrn.train", "tinyrrn.weights", "benchmarks/resnet.py", "benchmarks/seeds.py"} <= {c for c, _ in commands}
    parsers = {}
    for command, words in commands:
        flags = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", words)
        if not flags:
            continue
        if command not in parsers:
            parsers[command] = parser_of(command, monkeypatch)
        first_word = next((w for w in words.split() if not w.startswith(("-", "[", "#", "("))), None)
        known = flags_of(parsers[command], first_word)
        if command in FORWARDED:
            known |= flags_of(parser_of(FORWARDED[command], monkeypatch))
        unknown = [flag for flag in flags if flag not in known]
        assert not unknown, f"README: {command}{words}: {command} does not take {unknown}"


def commands_named_in(text):
    """The commands of a list such as (`train`, `evaluate`, ...)."""
    return set(re.findall(r"`([\w.]+)`", text))


def test_the_readme_says_which_commands_take_the_shared_flags(monkeypatch):
    """The commands the README lists as taking --threads and --device are exactly those whose parser has
    them, and the one it names without --debug is the only one without it."""
    parsers = {name: parser_of(f"tinyrrn.{name}", monkeypatch) for name in TINYRRN_COMMANDS}
    computing = {name for name, parser in parsers.items() if {"--threads", "--device"} <= flags_of(parser)}
    lists = re.findall(r"that comput\w+(?: \(|: )((?:`[\w.]+`(?:, )?)+)", README)
    assert lists, "the README must say which commands take --threads (not every command does)"
    for listed in lists:
        assert commands_named_in(listed) == computing
    assert not {name for name in TINYRRN_COMMANDS if "--threads" in flags_of(parsers[name])} - computing
    without_debug = re.search(r"`--debug` on all but ((?:`[\w.]+`(?:,| and)? ?)+)", README)
    assert without_debug, "the README must say which commands lack --debug"
    assert commands_named_in(without_debug.group(1)) == {name for name, parser in parsers.items()
                                                         if "--debug" not in flags_of(parser)}


def test_the_readme_recipe_converts_imagenet_weights_and_loads_them(tmp_path, monkeypatch):
    """The UCF-101 section's `python -m tinyrrn.weights convert ... --num-classes 101`, then the model
    block's `load_npz(...)`, on a tiny ResNet: every weight but fc is loaded, fc keeps its fresh values.
    The source is a .npz under the README's .pth name (convert tells the formats apart by their content;
    tests/test_weights.py tests the .pth reader)."""
    import tinyrrn.weights
    from tinyrrn.models import resnet_small
    line = next(line for line in CODE_LINES if "python -m tinyrrn.weights convert" in line)
    words = shlex.split(line.split("#")[0])[3:]  # after `python -m tinyrrn.weights`
    assert words[0] == "convert" and "--num-classes" in words
    source_name, converted_name = words[1], words[2]
    load = re.search(r"# ImageNet weights: (tinyrrn\.weights\.load_npz\(backbone, \"(.*?)\".*\))$",
                     PYTHON_BLOCKS[0], re.M)
    assert load and load.group(2) == converted_name, "the model block loads the file the recipe converts"
    monkeypatch.chdir(tmp_path)
    source = resnet_small(num_classes=1000).state_dict()  # an "ImageNet" file: 1000 classes
    tinyrrn.weights.save_npz(source, source_name)
    assert tinyrrn.weights.main(words) == 0
    backbone = resnet_small(num_classes=101)
    fresh_fc = backbone.fc.weight.data.copy()
    exec(compile(load.group(1), "README.md", "exec"), {"tinyrrn": tinyrrn, "backbone": backbone})
    loaded = backbone.state_dict()
    assert set(source) - set(loaded) == set()
    for name, value in source.items():
        if not name.startswith("fc."):
            np.testing.assert_array_equal(host(loaded[name]), host(value), err_msg=name)
    np.testing.assert_array_equal(host(backbone.fc.weight.data), host(fresh_fc))


def test_the_readme_describes_the_main_jobs_frame_wise_baseline():
    """"every sampled frame is a chunk of its own (N one-frame chunks, in batches of 32 frames, where the model
    with the skip has M chunks of 2 frames in batches of 16)": the job's defaults and train.frame_wise give
    those chunk lengths and batches, and the example output shows the skip model's batch."""
    from tinyrrn import config, train
    said = re.search(r"every\s+sampled frame is a chunk of its own \((\d+) one-frame chunks, in batches of (\d+) frames, "
                     r"where the model\s+with the skip has (\d+) chunks of (\d+) frames in batches of (\d+)\)", README)
    assert said, "the README must say how the baseline's chunks and batches differ from the skip model's"
    baseline_chunks, baseline_batch, chunks, chunk, batch = map(int, said.groups())
    skip_config, _ = config.resolve([])
    baseline = train.frame_wise(skip_config)
    assert (skip_config["chunk"], skip_config["batch"]) == (chunk, batch)
    assert (baseline["chunk"], baseline["context"], baseline["batch"]) == (1, 1, baseline_batch)
    assert baseline_chunks >= chunk * chunks  # every sampled frame: those of the chunks, and the few left over
    assert f"{chunks} training chunks of 180 videos; an update after every batch of {batch} chunks" in README


def test_the_readme_names_the_folders_evaluate_writes_by_default(tmp_path):
    """"`python -m tinyrrn.evaluate RUN_DIR` writes into the same `eval/` (`eval-last/` for `RUN_DIR/checkpoint.npz`;
    other test videos, e.g. `--data /data/other`, go to `eval-other/`": evaluate's default report folders."""
    import argparse as arguments

    from tinyrrn import evaluate
    said = re.search(r"`python -m tinyrrn\.evaluate RUN_DIR` writes into the\s+same `(eval)/` \(`(eval-last)/` for "
                     r"`RUN_DIR/checkpoint\.npz`; other test videos, e\.g\. `--data (\S+)`,\s+go to `(eval-\S+)/`", README)
    assert said, "the README must say where evaluate writes by default"
    best, last, other_data, other = said.groups()
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.npz").write_bytes(b"")
    trained = {"split": 1, "data": None, "list_dir": None}  # a run on the built-in synthetic data
    asked = arguments.Namespace(split=None, data=None, list_dir=None)
    assert os.path.basename(evaluate.report_folder(str(run), evaluate.other_videos(asked, trained))) == best
    assert os.path.basename(evaluate.report_folder(str(run / "checkpoint.npz"), "")) == last
    asked.data = other_data
    assert os.path.basename(evaluate.report_folder(str(run), evaluate.other_videos(asked, trained))) == other


@pytest.mark.parametrize("op", ["mul", "matmul", "linear"])
def test_the_readme_says_which_inputs_mul_matmul_and_linear_save(op):
    """"mul, matmul and linear count an input as saved only where the other input takes a gradient": changing
    in place the input whose gradient needs nothing (the other input takes none) leaves backward() running;
    changing the other one is refused."""
    import tinyrrn
    from tinyrrn import Tensor
    from tinyrrn import functional as F
    assert "mul, matmul and linear count an input as saved only where the other input takes a gradient" in \
        " ".join(README.split())
    apply = {"mul": lambda h, w: h * w, "matmul": lambda h, w: h @ w.transpose(0, 1),
             "linear": lambda h, w: F.linear(h, w)}[op]
    for changed, refused in (("h", False), ("w", True)):
        x = Tensor(np.ones((3, 3)), requires_grad=True)
        h, w = x * 1.0, Tensor(np.full((3, 3), 2.0))  # h takes a gradient, w does not
        y = apply(h, w)
        with tinyrrn.no_grad():
            {"h": h, "w": w}[changed].__iadd__(1)
        if refused:
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                y.sum().backward()
        else:
            y.sum().backward()
            assert x.grad is not None
