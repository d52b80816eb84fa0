"""The documentation builds cleanly, and its code examples are valid.

The Sphinx build is the one of the docs' own instructions
(``python3 -m sphinx -W --keep-going -b html docs docs/_build/html``), into a
temporary directory: any warning -- a malformed table, a broken reference,
a docstring that is not valid reStructuredText -- fails the test.
"""

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
