"""The README's code runs: every ```python block executes (in an empty working directory), and every
command it names exists."""
import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


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
