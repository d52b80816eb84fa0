"""Smoke test: every script in examples/ runs, as a user would run it.

Server scripts are started in a subprocess on a free port, spoken to with a
BlockingClient and shut down the way their docstrings say (``?halt``, or
Ctrl-C for the async server); they must exit with status 0. Every other
script is a client: it is run against the tutorial's server (started in
this process) as ``python script.py HOST PORT`` and must exit with status 0
without a traceback. The examples' owners test their behaviour in detail;
this test only makes sure none of them is broken as shipped.
"""

from __future__ import absolute_import, division, print_function


import errno
import glob
import os
import re
import select
import signal
import socket
import subprocess
import sys

import pytest

from katcp_sync.client import BlockingClient
from katcp_sync.message import Message
from katcp_sync.testutils import start_server

from conftest import EXAMPLES, load_example
from script_support import (communicate, free_port as _free_port, run_script,
                            script_env as _env, serving_script)

SCRIPT_TIMEOUT = 30.0

#: Server scripts -> how they are stopped.
SERVERS = {
    "tutorial_server.py": "halt",
    "tutorial_server_v4.py": "halt",
    "tutorial_async_server.py": "sigint",
    "threaded_app.py": "halt",
}

#: Client scripts -> a pattern their output must contain (others: exit 0 only).
CLIENT_OUTPUT = {
    "tutorial_blocking_client.py": r"!help(\[\d+\])? ok",
    "tutorial_callback_client.py": r"Reply:",
    "tutorial_custom_client.py": r"help",
    "tutorial_high_level_client.py": r"add",
}

SCRIPTS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(EXAMPLES, "*.py")))
CLIENTS = [name for name in SCRIPTS if name not in SERVERS]


def test_examples_exist():
    assert set(SERVERS) <= set(SCRIPTS), "a server example is missing"
    assert CLIENTS, "no client examples"


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_example(name):
    if name not in SCRIPTS:
        pytest.skip("%s not written yet" % name)
    port = _free_port()
    with serving_script([sys.executable, os.path.join(EXAMPLES, name), str(port)], port,
                        SCRIPT_TIMEOUT) as (client, proc):
        reply, informs = client.blocking_request(Message.request("help"))
        assert reply.reply_ok() and informs
        reply, _ = client.blocking_request(Message.request("watchdog"))
        assert reply.reply_ok()
        if name.startswith("tutorial_"):
            reply, _ = client.blocking_request(Message.request("add", 3, 6))
            assert reply.arguments[:1] == [b"ok"] and float(reply.arguments[1]) == 9.0
        client.auto_reconnect = False
        if SERVERS[name] == "halt":
            client.blocking_request(Message.request("halt"))
        else:
            proc.send_signal(signal.SIGINT)
        out, err, timed_out = communicate(proc, SCRIPT_TIMEOUT)
        assert not timed_out and proc.returncode == 0, err.decode()
        assert b"Traceback" not in err, err.decode()


@pytest.fixture(scope="module")
def tutorial_server_class():
    return load_example("tutorial_server").MyServer


@pytest.mark.parametrize("name", CLIENTS)
def test_client_example(name, tutorial_server_class):
    with start_server(tutorial_server_class) as server:
        host, port = server.bind_address[:2]
        code, out, err, _ = run_script([sys.executable, os.path.join(EXAMPLES, name), host,
                                        str(port)], SCRIPT_TIMEOUT)
    out, err = out.decode("utf-8"), err.decode("utf-8")
    assert code == 0, out + err
    assert "Traceback" not in err, err
    if name in CLIENT_OUTPUT:
        assert re.search(CLIENT_OUTPUT[name], out), out


# -- issue 15: defaults a newcomer meets -------------------------------------------------

@pytest.mark.parametrize("name", CLIENTS)
def test_client_example_without_arguments_talks_to_localhost_and_never_hangs_silently(name):
    """Run as ``python script.py``: the device is localhost:5000. Whether or
    not something answers there, within a few seconds the script has either
    finished or said on stderr that it cannot reach localhost:5000 (the
    tutorial's www.example.com made the blocking client hang in silence)."""
    code, out, err, timed_out = run_script([sys.executable, os.path.join(EXAMPLES, name)], 8)
    if timed_out:
        assert b"localhost:5000" in err, (out, err)
        assert b"Failed to connect to localhost:5000" in err
    else:
        assert b"example.com" not in out + err
        assert b"localhost:5000" in out + err or code == 0


def test_high_level_client_example_without_a_device_says_so_without_a_traceback():
    """Nothing listens: after its sync timeout the script exits non-zero with
    one line naming the address, not a traceback."""
    port = _free_port()
    code, _, err, _ = run_script([sys.executable, os.path.join(EXAMPLES, "tutorial_high_level_client.py"),
                                  "localhost", str(port)], SCRIPT_TIMEOUT)
    err = err.decode("utf-8")
    assert code == 1, err
    assert "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("Cannot use the device at localhost:%d: " % port)


def test_blocking_client_example_warns_while_the_device_is_down():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "tutorial_blocking_client.py"),
                             "localhost", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 10)
        assert ready, "no warning within 10 s"
        line = proc.stderr.readline()
        assert ("Failed to connect to localhost:%d" % port).encode() in line
        assert b"(attempt 1)" in line
    finally:
        proc.kill()
        communicate(proc, SCRIPT_TIMEOUT)


def _non_loopback_address():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))       # no packet is sent
        address = probe.getsockname()[0]
    except socket.error:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.parametrize("name", ["tutorial_server.py", "tutorial_server_v4.py"])
def test_server_examples_listen_on_localhost_only(name):
    """The example servers run a client's ?eval: loopback only by default."""
    other = _non_loopback_address()
    if other is None:
        pytest.skip("no non-loopback IPv4 address here")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, name), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    client = BlockingClient("localhost", port, timeout=5.0)
    client.auto_reconnect_delay = 0.05
    client.start()
    try:
        assert client.wait_protocol(SCRIPT_TIMEOUT / 2)
        with pytest.raises(socket.error) as refused:
            socket.create_connection((other, port), timeout=5).close()
        assert refused.value.errno == errno.ECONNREFUSED
    finally:
        client.stop()
        client.join()
        proc.kill()
        communicate(proc, SCRIPT_TIMEOUT)
