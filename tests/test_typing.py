"""The package ships ``py.typed``: its type hints must pass mypy.

mypy also catches bugs that tests miss, e.g. a subclass method that
overrides a library method with an incompatible signature.
"""

from __future__ import absolute_import, division, print_function


import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_reports_no_errors():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "katcp_sync", "--ignore-missing-imports"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=240)
    assert result.returncode == 0, "mypy found type errors:\n" + result.stdout
    assert "Success: no issues found" in result.stdout, result.stdout
