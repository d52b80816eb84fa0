"""The tutorial's client examples, run as scripts against real devices.

Each example in examples/ is the tutorial's code with only the import and
print() changed; it takes the device's HOST PORT on the command line. They
run against our tutorial server (5.0-MI), its v4 variant and aiokatcp's
server (5.1-MIB).
"""

from __future__ import absolute_import, division, print_function


import os
import re
import sys

import pytest

from conftest import load_example
from client_support import AioServerThread
from proc_support import run

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture(params=["tutorial_server", "tutorial_server_v4", "aiokatcp"])
def device(request):
    """(host, port, uses_mids) of a running device."""
    if request.param == "aiokatcp":
        server = AioServerThread()
        yield "127.0.0.1", server.port, True
        server.close()
        return
    server = load_example(request.param).MyServer("127.0.0.1", 0)
    server.start()
    assert server.wait_running(5)
    yield "127.0.0.1", server.bind_address[1], request.param == "tutorial_server"
    server.stop()
    server.join(5)


def run_example(name, host, port):
    done = run([sys.executable, os.path.join(EXAMPLES, name + ".py"), host, str(port)],
               timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def help_reply(line, uses_mids):
    match = re.match(r"!help(\[\d+\])? ok (\d+)$", line)
    assert match, line
    assert bool(match.group(1)) == uses_mids
    return int(match.group(2))


def test_blocking_client_example(device):
    host, port, uses_mids = device
    lines = run_example("tutorial_blocking_client", host, port)
    count = help_reply(lines[0], uses_mids)
    assert count == len(lines) - 1 > 3
    assert all(line.startswith("#help") for line in lines[1:])
    assert any(line.startswith(("#help watchdog", "#help[1] watchdog")) for line in lines)


def test_callback_client_example(device):
    host, port, uses_mids = device
    lines = run_example("tutorial_callback_client", host, port)
    assert lines[-1].startswith("Reply: ")
    count = help_reply(lines[-1][len("Reply: "):], uses_mids)
    assert count == len(lines) - 1
    assert all(line.startswith("Inform: #help") for line in lines[:-1])


def test_custom_client_example(device):
    host, port, _ = device
    lines = run_example("tutorial_custom_client", host, port)
    # The arguments are bytes: printed b'...' on Python 3, '...' (in a list) or bare on 2.
    match = [line for line in lines if re.match(r"help \[b?'ok'", line)]
    assert len(match) == 1
    count = int(re.search(r"b?'(\d+)'", match[0]).group(1))
    assert sum(line.startswith("--------- ") for line in lines) == count
    assert "Unhandled reply watchdog" in lines
