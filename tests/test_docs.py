"""The documentation builds cleanly, and its code examples are valid.

The Sphinx build is the one of the docs' own instructions
(``python3 -m sphinx -W --keep-going -b html docs docs/_build/html``), into a
temporary directory: any warning -- a malformed table, a broken reference,
a docstring that is not valid reStructuredText -- fails the test.
"""

from __future__ import absolute_import, division, print_function


import ast
import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def literal_blocks(name):
    """The ``::`` literal blocks and Python code blocks of ``docs/<name>``, dedented."""
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        text = f.read()
    blocks = []
    pattern = r"(?:::|\.\. code-block:: python)\n\n((?:[ \t]+\S.*\n|[ \t]*\n)+)"
    for match in re.finditer(pattern, text):
        blocks.append(textwrap.dedent(match.group(1)).strip() + "\n")
    return blocks


def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), DOCS, str(tmp_path / "html")],
        capture_output=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")
    assert (tmp_path / "html" / "index.html").exists()


@pytest.mark.parametrize("name", ["tutorial.rst", "migration.rst", "testing.rst",
                                  "high_level_client.rst"])
def test_python_examples_compile(name):
    blocks = [b for b in literal_blocks(name)
              if re.search(r"^(from|import|def|class) |^\w+ = ", b, re.M)]
    assert blocks, "no Python examples found in %s" % name
    for block in blocks:
        try:
            ast.parse(block)
        except SyntaxError as exc:
            pytest.fail("%s: example does not compile: %s\n%s" % (name, exc, block))


def test_testing_guide_examples_pass(tmp_path):
    """The pytest and unittest examples of testing.rst, run as written."""
    blocks = literal_blocks("testing.rst")
    pytest_example = next(b for b in blocks if "def test_add(client)" in b)
    unittest_example = next(b for b in blocks if "class TestAdder" in b)
    path = tmp_path / "test_guide_example.py"
    path.write_text(pytest_example + "\n\n" + unittest_example)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True, timeout=120, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 0, output
    assert "4 passed" in output, output


def test_testing_guide_unittest_example_runs_on_its_own(tmp_path):
    """The unittest example of testing.rst is a complete file (issue 15)."""
    block = next(b for b in literal_blocks("testing.rst") if "class TestAdder" in b)
    path = tmp_path / "test_adder.py"
    path.write_text(block)
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, timeout=120, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 0, output
    assert re.search(r"Ran 1 test.*\n\nOK", output, re.S), output


def _read(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


def test_logging_page_names_every_logger():
    """docs/logging.rst lists every logger katcp_sync logs to (issue 15),
    subpackages included."""
    package = os.path.join(ROOT, "katcp_sync")
    names = set()
    for folder, _, filenames in os.walk(package):
        for filename in filenames:
            if not filename.endswith(".py"):
                continue
            with open(os.path.join(folder, filename), encoding="utf-8") as f:
                source = f.read()
            module = os.path.relpath(os.path.join(folder, filename[:-3]), ROOT)
            module = module.replace(os.sep, ".").replace(".__init__", "")
            names.update(re.findall(r'getLogger\("(katcp_sync[\w.]*)"\)', source))
            if "getLogger(__name__)" in source:
                names.add(module)
            names.update(re.findall(r'^\w+_LOGGER = "(katcp_sync[\w.]*)"', source, re.M))
    assert {"katcp_sync.client", "katcp_sync.server", "katcp_sync.device"} <= names
    page = _read("logging.rst")
    missing = sorted(name for name in names if "``%s``" % name not in page)
    assert not missing, missing


def test_tutorial_clone_does_not_shadow_the_package():
    """A clone named katcp_sync would be imported instead of the package
    when Python runs from its parent (``python -m katcp_sync`` fails)."""
    clone = re.search(r"git clone \S+ URL> (\S+)\n\s+\$ cd (\S+)", _read("tutorial.rst"))
    assert clone and clone.group(1) == clone.group(2)
    assert not clone.group(1).isidentifier(), clone.group(1)


def test_security_notes_and_exit_statuses_are_documented():
    cli_page, tutorial = _read("cli.rst"), _read("tutorial.rst")
    assert "--unsafe-eval" in tutorial and "--unsafe-eval" in cli_page
    assert "listens on\n``127.0.0.1`` by default" in cli_page
    assert ".. warning::" in tutorial and "``localhost`` only" in tutorial
    from katcp_sync import cli
    table = re.search(r"Exit status\n-+\n\n(=+ =+\n[\s\S]+?\n=+ =+\n)", cli_page).group(1)
    statuses = [int(n) for n in re.findall(r"^(\d) ", table, re.M)]
    assert statuses == [cli.EXIT_OK, cli.EXIT_CONNECTION, cli.EXIT_USAGE, cli.EXIT_FAILED]


def test_readme_says_where_the_side_environment_goes_and_how_to_skip_it():
    with open(os.path.join(ROOT, "README.rst"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(ROOT, "tests", "_sideenv.py"), encoding="utf-8") as f:
        sideenv = f.read()
    for text in ("~/.cache/katcp_sync/kp39", "KATCP_SYNC_NO_SIDE_ENV=1", "KATCP_SYNC_KP_VENV"):
        assert text in readme, text
    assert '"KATCP_SYNC_NO_SIDE_ENV"' in sideenv and '"kp39"' in sideenv


def test_public_classes_say_which_threads_may_use_them():
    """The guide's docstring rule ("which thread may call it"): every public
    class (in a module's ``__all__``) says so, itself or through a base
    class of the package, or says it is immutable. Exceptions are exempt."""
    import importlib
    import inspect
    import pkgutil

    import katcp_sync

    missing = []
    seen = set()
    for info in pkgutil.walk_packages(katcp_sync.__path__, "katcp_sync."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if (not inspect.isclass(obj) or obj.__module__ != module.__name__ or obj in seen
                    or issubclass(obj, BaseException)):
                continue
            seen.add(obj)
            if obj.__name__ == "Reading":
                continue    # a namedtuple: documented by its "#:" comment (immutable)
            docs = [cls.__doc__ or "" for cls in obj.__mro__
                    if cls.__module__.startswith("katcp_sync")]
            if not any(re.search(r"thread|\bimmutable\b", doc, re.I) for doc in docs):
                missing.append("%s.%s" % (module.__name__, name))
    assert missing == []
