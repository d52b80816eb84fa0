"""Shared fixtures: thread-leak checking and loading of example scripts."""

from __future__ import absolute_import, division, print_function


import os
import threading
import types

import pytest

# Fixtures shared by many test files (make_server, server, connect, make_client).
from client_support import make_client  # noqa: E402,F401
from katcp_sync import compat
from server_support import connect, make_server, server  # noqa: E402,F401

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "examples")

#: Threads that belong to the test tooling, not to katcp_sync.
_IGNORED_THREAD_PREFIXES = ("pytest_timeout", "asyncio_", "ThreadPoolExecutor-")


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
        exec(compile(source.read(), path, "exec"), module.__dict__)
    return module
