"""The tutorial's server examples, run against katcp_sync over real sockets."""

from __future__ import absolute_import, division, print_function

import contextlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from katcp_sync import compat

from conftest import load_example
from server_support import TIMEOUT, LineClient, args, wait_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tutorial():
    module = load_example("tutorial_server")
    server = module.MyServer("127.0.0.1", 0)
    server.start()
    yield server
    server.stop(TIMEOUT)


def test_protocol_info_from_class(tutorial, connect):
    """PROTOCOL_INFO 5.0-IM is what #version-connect announces (spec 4.2)."""
    client = connect(tutorial)
    assert args(client.connect_informs[0]) == ["katcp-protocol", "5.0-IM"]
    assert args(client.connect_informs[2]) == [
        "katcp-device", "example-api-1.0", "example-implementation-0.1"]


def test_add(tutorial, connect):
    client = connect(tutorial)
    assert client.request("?add[1] 2.5 4")[1].encode() == b"!add[1] ok 6.5\n"
    assert tutorial.get_sensor("add.result").value() == 6.5
    reply = client.request("?add 1")[1]
    assert args(reply)[0] == "fail"


def test_time(tutorial, connect):
    client = connect(tutorial)
    before = time.time()
    reply = client.request("?time")[1]
    assert args(reply)[0] == "ok"
    assert before <= float(args(reply)[1]) <= time.time()


def test_eval(tutorial, connect):
    client = connect(tutorial)
    assert args(client.request("?eval 6*7")[1]) == ["ok", "42"]
    reply = client.request("?eval 1/0")[1]
    assert args(reply)[0] == "fail" and "ZeroDivisionError" in args(reply)[1]


def test_pick_fruit_replies_later(tutorial, connect, monkeypatch):
    """?pick-fruit: an inform now, the reply from a reactor timer (AsyncReply)."""
    monkeypatch.setattr(random, "choice", lambda options: "kiwi")
    monkeypatch.setattr(random, "randrange", lambda start, stop: start)
    client = connect(tutorial)
    client.send("?pick-fruit[5]", "?watchdog[6]")
    messages = client.read_until(lambda m: m.name == "pick-fruit" and m.mtype == 1)
    names = [(m.name, m.mid) for m in messages]
    assert names[0] == ("pick-fruit", b"5")  # the inform
    assert args(messages[0]) == ["Picking will take 1 seconds"]
    assert messages[-1].encode() == b"!pick-fruit[5] ok kiwi\n"
    assert names[1] == ("watchdog", b"6")  # AsyncReply freed the turn
    assert tutorial.get_sensor("fruit.result").value() == "kiwi"


def test_pick_fruit_no_fruit(tutorial, connect, monkeypatch):
    monkeypatch.setattr(random, "choice", lambda options: None)
    client = connect(tutorial)
    assert args(client.request("?pick-fruit")[1]) == ["fail", "No fruit."]


def test_raw_reverse(tutorial, connect):
    client = connect(tutorial)
    assert client.request("?raw-reverse[3] a b c")[1].encode() == b"!raw-reverse[3] ok c b a\n"


def test_sensor_sampling_on_tutorial_sensor(tutorial, connect):
    client = connect(tutorial)
    client.request("?sensor-sampling add.result event")
    client.send("?add 1 2")
    status, reply = client.read_until(lambda m: m.name == "add")
    assert status.name == "sensor-status"  # set_value() ran before the reply
    assert args(status)[2:] == ["add.result", "nominal", "3.0"]


def test_v4_tutorial_server(connect):
    """Spec 4.2.1 / F166-F169: #version and #build-state, ms timestamps, v4 strategies."""
    module = load_example("tutorial_server_v4")
    server = module.MyServer("127.0.0.1", 0)
    server.start()
    try:
        client = connect(server)
        assert [(m.name, args(m)) for m in client.connect_informs] == [
            ("version", ["example-api-1.0"]),
            ("build-state", ["example-implementation-0.1"])]
        client.send("?time")
        reply = client.read_message()
        stamp = float(args(reply)[1])
        assert stamp > time.time() * 100  # milliseconds
        client.send("?watchdog[3]")  # no message ids in v4
        assert client.read_message().encode() == b"!watchdog ok\n"
        assert "version-list" not in server._request_handlers
        reply = client.request("?sensor-sampling add.result event-rate 1 2")[1]
        assert args(reply)[0] == "fail"
        informs, reply = client.request("?sensor-sampling time.result period 50")
        assert args(reply) == ["ok", "time.result", "period", "50"]
        status = client.read_until(lambda m: m.name == "sensor-status")[-1]
        assert float(args(status)[0]) > time.time() * 100
        client.request("?log-level debug")
        server.log.info("hello v4")
        log = client.read_until(lambda m: m.name == "log")[-1]
        assert float(args(log)[1]) > time.time() * 100
        assert float(args(log)[1]) == int(args(log)[1])
    finally:
        server.stop(TIMEOUT)


def _run_example(name, port):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "examples", name + ".py"), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def _connect_retry(port):
    deadline = compat.monotonic() + 15
    while True:
        try:
            return LineClient(("127.0.0.1", port))
        except compat.SOCKET_ERRORS:
            if compat.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _free_port():
    import socket
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("name", ["tutorial_server", "tutorial_async_server"])
def test_example_scripts_run(name):
    """The scripts run as in the tutorial; the async one shuts down on SIGINT."""
    port = _free_port()
    proc = _run_example(name, port)
    try:
        client = _connect_retry(port)
        client.read_connect_informs()
        assert client.request("?add 1 2")[1].encode() == b"!add ok 3.0\n"
        if name == "tutorial_async_server":
            proc.send_signal(signal.SIGINT)
            assert client.read_all_until_closed()[-1].name == "disconnect"
            assert wait_child(proc, TIMEOUT) == 0
            assert b"Shutting down" in proc.stdout.read()
        else:
            client.send("?halt")
            assert [m.name for m in client.read_all_until_closed()] == ["halt", "disconnect"]
            assert wait_child(proc, TIMEOUT) == 0
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_threaded_app_model_thread(connect):
    """examples/threaded_app.py: a model thread updates sensors; handlers block on it."""
    module = load_example("threaded_app")
    server = module.HeaterServer("127.0.0.1", 0)
    server.model._step = 0.01
    server.model.start()
    server.start()
    try:
        client = connect(server)
        monitor = connect(server)
        client.read_message()  # #client-connected
        monitor.request("?sensor-sampling heater.temperature period 0.05")
        assert args(client.request("?set-target 60")[1]) == ["ok"]
        assert args(client.request("?wait-stable 5")[1]) == ["ok", "1"]
        statuses = monitor.read_until(
            lambda m: m.name == "sensor-status" and float(args(m)[4]) > 59)
        assert len(statuses) >= 2
    finally:
        server.stop(TIMEOUT)
        server.model.stop()
        server.model.join(TIMEOUT)
