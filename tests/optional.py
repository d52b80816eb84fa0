"""Optional peers of the test suite (aiokatcp, numpy, ...).

A missing peer skips only the tests that use it, with the reason printed in
the summary (``-rs`` is in the pytest options): the rest of the suite
collects and runs without it.
"""

from __future__ import absolute_import, division, print_function


import importlib

import pytest


def optional_import(name, purpose):
    """Import module ``name`` if installed.

    Returns:
        ``(module, needs)``: the module or None, and a ``skipif`` marker for
        the tests that need it (``purpose`` says what for, in the reason).
    """
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return None, pytest.mark.skipif(
            True, reason="%s is not installed (needed for %s): %s" % (name, purpose, exc))
    return module, pytest.mark.skipif(False, reason="")


def skip_without(module, name, purpose):
    """Skip the calling test or fixture now if ``module`` is None."""
    if module is None:
        pytest.skip("%s is not installed (needed for %s)" % (name, purpose))
