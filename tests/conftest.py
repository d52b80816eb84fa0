"""Shared fixtures: thread-leak checking and loading of example scripts."""

from __future__ import absolute_import, division, print_function


import os
import signal
import sys
import threading
import types

import pytest

# Fixtures shared by many test files (make_server, server, connect, make_client).
from client_support import make_client  # noqa: E402,F401
from katcp_sync import compat
from server_support import connect, make_server, server  # noqa: E402,F401

# A shell that starts the suite in the background (nohup, `cmd &`) leaves
# SIGINT ignored, and child processes inherit an ignored signal: the tests
# that press Ctrl-C in a child need it delivered (a handler is not inherited).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: Test modules not collected on this Python, with the reason (printed in
#: the report header and the summary, so that a green run says what it left out).
PYTHON_ONLY = [
    ((3,), "annotated_request reads annotations: Python 3 only",
     ["test_annotated.py"]),
    ((3,), "static checks of the source (layers, module sizes) run on Python 3",
     ["test_layers.py"]),
    ((3, 8), "aiokatcp needs Python 3.8+",
     ["test_interop_aiokatcp.py", "test_server_interop.py", "aio_support.py"]),
    ((3, 8), "the docs build (Sphinx) runs on Python 3.8+", ["test_docs.py"]),
    ((3, 8), "mypy runs on Python 3.8+ (and checks the Python 2 type comments there)",
     ["test_typing.py"]),
]
SKIPPED_MODULES = [(name, reason) for version, reason, names in PYTHON_ONLY
                   if sys.version_info < version for name in names]
collect_ignore = [name for name, _ in SKIPPED_MODULES]

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "examples")

#: Threads that belong to the test tooling, not to katcp_sync.
_IGNORED_THREAD_PREFIXES = ("pytest_timeout", "asyncio_", "ThreadPoolExecutor-")


def _skipped_modules_lines():
    python = "Python %d.%d" % sys.version_info[:2]
    return ["not collected on %s: %s (%s)" % (python, name, reason)
            for name, reason in SKIPPED_MODULES]


def pytest_report_header(config):
    return _skipped_modules_lines()


def pytest_terminal_summary(terminalreporter):
    for line in _skipped_modules_lines():
        terminalreporter.write_line(line)


def pytest_configure(config):
    # An exception nobody could catch (in __del__, a thread) fails the test;
    # pytest < 6.2 (the one of Python 2.7/3.6) has no such warning category.
    if hasattr(pytest, "PytestUnraisableExceptionWarning"):
        config.addinivalue_line("filterwarnings", "error::pytest.PytestUnraisableExceptionWarning")


def _our_threads():
    return {
        t for t in threading.enumerate()
        if t is not compat.main_thread()
        and not t.name.startswith(_IGNORED_THREAD_PREFIXES)
    }


@pytest.fixture(autouse=True)
def no_thread_leak():
    """Fail a test that leaves threads running after it finished.

    Threads get a short grace period to end, since stop() may return just
    before a thread's last instructions run.
    """
    before = _our_threads()
    yield
    deadline = compat.monotonic() + 5.0
    leaked = _our_threads() - before
    for thread in leaked:
        thread.join(max(0.0, deadline - compat.monotonic()))
    leaked = {t for t in leaked if t.is_alive()}
    assert not leaked, "threads leaked: %s" % sorted(t.name for t in leaked)


@pytest.fixture
def reactor():
    """A started :class:`~katcp_sync.reactor.Reactor`, stopped after the test."""
    from katcp_sync.reactor import Reactor

    running = Reactor()
    running.start()
    yield running
    running.stop(5.0)
    assert not running.running()


def load_example(name):
    """Import ``examples/<name>.py`` as a module and return it."""
    path = os.path.join(EXAMPLES, name + ".py")
    module = types.ModuleType("example_" + name)
    module.__file__ = path
    with open(path, "rb") as source:
        exec(compile(source.read(), path, "exec", dont_inherit=True), module.__dict__)
    _LOADED_EXAMPLES.append(module)   # Python 2 clears a freed module's globals
    return module


_LOADED_EXAMPLES = []
