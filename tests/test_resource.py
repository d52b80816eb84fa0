"""The high-level client against the tutorial's server, over real sockets."""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import socket
import threading

import pytest

from katcp_sync import resource_client
from katcp_sync.client_base import TIMEOUT_HINT_MARGIN
from katcp_sync.compat import queue
from katcp_sync.errors import (
    KATCPResourceInactive, KATCPSensorError, KatcpClientError, KatcpTimeoutError,
    KatcpWrapperTimeoutError, TimeoutException,
)
from katcp_sync.ioloop_manager import IOLoopManager, IOLoopThreadWrapper
from katcp_sync.kattypes import request, request_timeout_hint, return_reply
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.resource import KATCPClientResource
from katcp_sync.sensor import Sensor

from conftest import load_example

TIMEOUT = 5.0


@pytest.fixture
def tutorial(monkeypatch):
    """The tutorial server module, with the fruit picking made predictable and quick."""
    module = load_example("tutorial_server")
    monkeypatch.setattr(module.random, "choice", lambda seq: "kiwi")
    monkeypatch.setattr(module.random, "randrange", lambda *args: 1)
    return module


def start_server(server):
    server.start()
    assert server.wait_running(TIMEOUT)
    return server


def stop_server(server):
    server.stop()
    server.join(TIMEOUT)


@pytest.fixture
def server(tutorial):
    srv = start_server(tutorial.MyServer("127.0.0.1", 0))
    yield srv
    stop_server(srv)


def make_resource(server, **spec):
    spec.setdefault("controlled", True)
    res = KATCPClientResource(dict(name="demo", address=server.bind_address, **spec))
    res.start()
    return res


@pytest.fixture
def resource(server):
    res = make_resource(server)
    res.until_synced(TIMEOUT)
    yield res
    res.stop()
    res.join(TIMEOUT)


def test_tutorial_example_runs_against_the_tutorial_server(tutorial, server, capsys):
    example = load_example("tutorial_high_level_client")
    host, port = server.bind_address
    help_response, add_response, fruit, pick_response = example.main(host, port)
    assert help_response.succeeded
    assert {m.arguments[0] for m in help_response.informs} >= {b"add", b"pick-fruit", b"raw-reverse"}
    assert add_response.reply.arguments == [b"ok", b"9.0"]
    assert fruit == "kiwi"
    assert pick_response.succeeded and pick_response.reply.arguments == [b"ok", b"kiwi"]
    assert [m.arguments for m in pick_response.informs] == [[b"Picking will take 1 seconds"]]
    out = capsys.readouterr().out
    assert "Fruit picked:  kiwi" in out and "!add" in out


def test_tutorial_example_without_fruit_says_so_and_shows_none(tutorial, server, monkeypatch,
                                                                capsys):
    example = load_example("tutorial_high_level_client")
    host, port = server.bind_address
    monkeypatch.setattr(tutorial.random, "choice", lambda seq: None)
    _, _, fruit, pick_response = example.main(host, port)
    assert fruit is None and pick_response.reply.arguments == [b"fail", b"No fruit."]
    out = capsys.readouterr().out
    assert "No fruit picked" in out and "Fruit picked" not in out


def test_description_state_and_namespaces(resource, server):
    assert resource.state == "synced" and resource.synced and resource.is_connected()
    assert resource.name == "demo" and resource.address == server.bind_address and resource.controlled
    assert {"add", "pick_fruit", "raw_reverse", "help", "sensor_value"} <= set(resource.req)
    assert set(resource.sensor) == {"add_result", "time_result", "eval_result", "fruit_result"}
    assert resource.req["pick-fruit"] is resource.req.pick_fruit
    assert resource.req.pick_fruit.name == "pick-fruit"
    assert resource.req.add.__doc__ == "Add two numbers"
    fruit = resource.sensor.fruit_result
    assert (fruit.name, fruit.normalised_name, fruit.type) == ("fruit.result", "fruit_result", "discrete")
    assert fruit.description == "Last ?pick-fruit result." and fruit.units == ""
    assert fruit.params == ("apple", "banana", "pear", "kiwi")
    assert resource.sensor.add_result.params == ("-10000.0", "10000.0")
    assert fruit.sampling_strategy == ("none",)
    with pytest.raises(AttributeError, match="no request 'nonexistent'"):
        resource.req.nonexistent


def test_requests_and_sensors_before_the_first_sync_say_why_none_is_known(server):
    """A forgotten start() or until_synced() is the likely cause, not a typo."""
    res = KATCPClientResource(dict(name="demo", address=server.bind_address, controlled=True))
    hint = r"\(known: none: the resource has not synced yet \(start\(\), then until_synced\(\)\)\)"
    with pytest.raises(AttributeError, match=r"no request 'help' " + hint):
        res.req.help
    with pytest.raises(AttributeError, match=r"no sensor 'add_result' " + hint):
        res.sensor.add_result
    res.start()
    try:
        res.until_synced(TIMEOUT)
        assert res.req.help().succeeded
        with pytest.raises(AttributeError, match=r"no sensor 'nothing' \(known: add_result, "):
            res.sensor.nothing
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_requests_block_or_return_futures(resource):
    reply = resource.req.add(3, 6)
    assert isinstance(reply, resource_client.KATCPReply) and reply and reply.reply.arguments[1] == b"9.0"
    assert resource.req.raw_reverse("a", "b").reply.arguments == [b"ok", b"b", b"a"]
    assert resource.req.add(1, 2, mid=42).reply.mid == b"42"
    future = resource.req.pick_fruit.future()
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(TIMEOUT).reply.arguments == [b"ok", b"kiwi"]
    failed = resource.req.add("x", 1)
    assert not failed and not failed.succeeded and b"could not parse" in failed.reply.arguments[1]


def test_versions_and_last_connect_time_as_katcp_python(server, resource):
    """katcp-python's resource properties, read from its client."""
    assert resource.versions["katcp-protocol"][0].startswith("5.")
    assert resource.versions == resource.client.versions
    assert resource.last_connect_time == resource.client.last_connect_time > 0
    assert resource.dummy_unknown_requests is False
    idle = KATCPClientResource(dict(name="idle", address=server.bind_address,
                                    dummy_unknown_requests=True))
    assert idle.dummy_unknown_requests is True
    with pytest.raises(RuntimeError, match="not started"):   # katcp-python: RuntimeError
        idle.versions
    with pytest.raises(RuntimeError, match="not started"):
        idle.last_connect_time


def test_request_timeout(resource):
    """The client's own timeout error comes through with its reason: on
    Python 3.11+ ``concurrent.futures.TimeoutError`` is the built-in
    ``TimeoutError``, which KatcpTimeoutError subclasses, and the blocking
    wait took it for its own (longer) wait running out."""
    with pytest.raises(KatcpTimeoutError, match=r"^Request pick-fruit timed out after 0\.1 seconds\.$"):
        resource.req.pick_fruit(timeout=0.1)


def test_uncontrolled_or_inactive_resource_refuses_requests(server):
    res = make_resource(server, controlled=False, always_allowed_requests=["help"])
    try:
        res.until_synced(TIMEOUT)
        with pytest.raises(KATCPResourceInactive, match="not controlled"):
            res.req.add(1, 2)
        assert res.req.help().succeeded
        res.set_active(False)
        with pytest.raises(KATCPResourceInactive):
            res.req.help()
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_excluded_and_dummy_requests(server):
    res = make_resource(server, always_excluded_requests=["raw-reverse"], dummy_unknown_requests=True,
                        auto_reconnect_delay=0.1)
    try:
        res.until_synced(TIMEOUT)
        assert "raw_reverse" not in res.req
        assert res.req.no_such_request().succeeded
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_not_started_resource():
    res = KATCPClientResource(dict(name="idle", address=("127.0.0.1", 1)))
    assert res.state == "disconnected" and not res.is_connected()
    with pytest.raises(KATCPResourceInactive, match="start"):
        res.until_synced(0.1)
    res.stop()
    res.join(0.1)


def test_until_synced_times_out_without_a_device():
    res = KATCPClientResource(dict(name="nowhere", address=("127.0.0.1", 1)))
    res.start()
    try:
        with pytest.raises(KatcpTimeoutError, match="disconnected"):
            res.until_synced(0.2)
        assert not res.wait_connected(0.05)
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_polling_sensors(resource):
    seen = []
    resource.sensor.add_result.register_listener(lambda *args: seen.append(args))
    resource.req.add(3, 6)
    assert resource.sensor.add_result.get_value() == 9.0
    assert resource.sensor.add_result.get_status() == "nominal"
    reading = resource.sensor.add_result.get_reading()
    assert reading.status == "nominal" and reading.value == 9.0 and reading.timestamp > 0
    assert len(seen) == 3 and seen[-1][2:] == ("nominal", 9.0)


def test_strategy_keeps_readings_current_and_wait(resource):
    sensor = resource.sensor.add_result
    with pytest.raises(KATCPSensorError, match="no sampling strategy"):
        sensor.wait(3.0)
    readings = []
    sensor.register_listener(lambda s, r: readings.append(r), reading=True)
    assert sensor.set_strategy("event") == ("event",)
    assert sensor.sampling_strategy == ("event",)
    resource.req.add(1, 2)
    assert sensor.wait(3.0, timeout=TIMEOUT)
    assert sensor.value == 3.0 and sensor.status == "nominal" and sensor.reading.status == "nominal"
    assert readings[-1].value == 3.0
    with pytest.raises(TimeoutException):
        sensor.wait(-1.0, timeout=0.05)
    assert resource.wait("add.result", 3.0, timeout=0.1) is True
    assert resource.wait("add_result", -1.0, timeout=0.05) is False


def test_refused_strategy_raises_and_is_forgotten(resource):
    sensor = resource.sensor.fruit_result
    with pytest.raises(KATCPSensorError, match="refused"):
        sensor.set_strategy("bogus")
    assert sensor.sampling_strategy == ("none",)
    result = resource.set_sampling_strategy("fruit.result", "differential 1")
    assert result["fruit_result"][0] is False
    assert sensor.sampling_strategy == ("none",)


def test_drop_sampling_strategy(resource):
    sensor = resource.sensor.add_result
    sensor.set_sampling_strategy("event")
    sensor.drop_sampling_strategy()
    assert sensor.sampling_strategy == ("none",)
    assert resource.list_sensors(strategy=True) == []


def test_list_sensors(resource):
    resource.sensor.add_result.set_strategy("event")
    names = [r.name for r in resource.list_sensors("result")]
    assert names == ["add.result", "eval.result", "fruit.result", "time.result"]
    assert [r.python_identifier for r in resource.list_sensors("^add")] == ["add_result"]
    assert [r.name for r in resource.list_sensors(strategy=True)] == ["add.result"]
    assert [r.name for r in resource.list_sensors("add.result", use_python_identifiers=False)] == ["add.result"]
    resource.req.add(2, 2)
    refreshed = resource.list_sensors("add_result", refresh=True, status="nominal")
    assert refreshed[0].reading.value == 4.0 and refreshed[0].object is resource.sensor.add_result
    assert resource.list_sensors("add_result", tuple=True)[0][0] == "add.result"


def test_blocking_on_the_reactor_thread_is_refused(resource):
    errors = []
    done = threading.Event()

    def listener(*args):
        try:
            resource.req.add(1, 1)
        except KatcpClientError as exc:
            errors.append(exc)
        done.set()

    resource.sensor.add_result.register_listener(listener)
    resource.sensor.add_result.set_strategy("event")   # sends the current value at once
    assert done.wait(TIMEOUT)
    assert errors and "reactor thread" in str(errors[0])


def test_reconnect_keeps_strategies_and_listeners(tutorial, server, resource):
    sensor = resource.sensor.add_result
    sensor.set_strategy("event")
    values = []
    sensor.register_listener(lambda s, r: values.append(r.value), reading=True)
    port = server.bind_address[1]
    stop_server(server)
    resource.until_state("disconnected", TIMEOUT)
    replacement = start_server(tutorial.MyServer("127.0.0.1", port))
    try:
        resource.until_synced(10)
        assert resource.sensor.add_result is sensor
        assert sensor.sampling_strategy == ("event",)
        replacement._add_result.set_value(42.0)
        assert sensor.wait(42.0, timeout=TIMEOUT)
        assert values[-1] == 42.0
    finally:
        resource.stop()
        stop_server(replacement)


def synced_again(resource):
    """An Event set when the resource next reaches "synced"."""
    event = threading.Event()

    def callback(state):
        if state == "synced":
            event.set()

    resource.add_state_callback(callback)
    return event


def test_interface_changes_are_picked_up(resource, server):
    def handler(req, msg):
        """Do a new thing."""
        return req.make_reply("ok", "new")

    resynced = synced_again(resource)
    server.add_request("new-thing", handler)
    assert resynced.wait(TIMEOUT)
    assert resource.req.new_thing.__doc__ == "Do a new thing."
    assert resource.req.new_thing().reply.arguments == [b"ok", b"new"]

    resynced = synced_again(resource)
    server.remove_request("new-thing")
    assert resynced.wait(TIMEOUT)
    assert "new_thing" not in resource.req


def test_strategy_for_a_sensor_that_appears_later(resource, server):
    assert resource.set_sampling_strategy("late.sensor", "event") == {"late_sensor": (True, ("event",))}
    seen = []
    resource.set_sensor_listener("late.sensor", lambda *args: seen.append(args))
    late = Sensor.integer("late.sensor", "Appears later.", "")
    resynced = synced_again(resource)
    server.add_sensor(late)
    assert resynced.wait(TIMEOUT)
    late.set_value(5)
    assert resource.sensor.late_sensor.wait(5, timeout=TIMEOUT)
    assert seen and seen[-1][3] == 5


@pytest.fixture
def hint_resource(tutorial):
    """A resource synced with a server whose ``?slow`` has a 12.5 s timeout hint."""
    class HintServer(tutorial.MyServer):
        PROTOCOL_INFO = ProtocolFlags(5, 1, "MIBT")

        @request_timeout_hint(12.5)
        @request()
        @return_reply()
        def request_slow(self, req):
            """A slow request."""
            return ("ok",)

    srv = start_server(HintServer("127.0.0.1", 0))
    res = make_resource(srv)
    try:
        res.until_synced(TIMEOUT)
        yield res
    finally:
        res.stop()
        res.join(TIMEOUT)
        stop_server(srv)


def test_thread_safe_wrapper_passes_everything_through(resource):
    """Through katcp-python's wrapper a resource looked the same (isinstance,
    attributes, calls); katcp_sync's proxy adds only the default_timeout bound."""
    wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(resource, IOLoopThreadWrapper())
    assert isinstance(wrapped, KATCPClientResource) and wrapped.__wrapped__ is resource
    assert wrapped.name == "demo" and wrapped.synced and wrapped.is_connected()
    assert wrapped.req.add(1, 2).reply.arguments == [b"ok", b"3.0"]
    assert wrapped.req.add.name == "add" and "add" in wrapped.req
    assert wrapped.sensor.add_result.get_value() == 3.0
    assert resource_client.ThreadSafeKATCPClientResourceWrapper(resource) is resource


def _down_resource():
    """A resource of a device that is down (nothing listens on its port)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()
    res = KATCPClientResource(dict(name="down", address=address, controlled=True))
    res.start()
    return res


@pytest.mark.parametrize("method, args", [("until_synced", ()), ("until_state", ("synced",)),
                                          ("wait_connected", ()), ("until_synced", (None,)),
                                          ("join", ()), ("until_stopped", ())])
def test_thread_safe_wrapper_bounds_calls_without_timeout_by_default_timeout(method, args):
    """katcp-python's wrapper (checked against katcp 0.9.3) bounded each call
    made without timeout= by IOLoopThreadWrapper.default_timeout and raised
    concurrent.futures.TimeoutError: with the device down, until_synced()
    raised after default_timeout, where katcp_sync waited for ever. A wait
    that answers False on timeout (wait_connected, join) raises too."""
    res = _down_resource()
    wrapper = IOLoopThreadWrapper()
    wrapper.default_timeout = 0.05
    wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(res, wrapper)
    outcome = queue.Queue()

    def run():
        try:
            outcome.put(getattr(wrapped, method)(*args))    # a timeout of None is none given
        except Exception as exc:
            outcome.put(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        error = outcome.get(timeout=TIMEOUT)
    finally:
        res.stop()      # ends an unbounded wait (the old code's)
        thread.join(TIMEOUT)
        res.join(TIMEOUT)
    assert isinstance(error, KatcpWrapperTimeoutError), error
    assert isinstance(error, concurrent.futures.TimeoutError)
    assert isinstance(error, KatcpTimeoutError)
    assert "default_timeout (0.05 s)" in str(error)


def test_thread_safe_wrapper_leaves_calls_with_a_timeout_or_quick_ones_alone():
    """A call given a timeout (by keyword, or by position: katcp-python's
    wrapper saw only the keyword) keeps it; a call without one that takes
    none is made as it is; default_timeout is read at each call."""
    res = _down_resource()
    wrapper = IOLoopThreadWrapper()
    wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(res, wrapper)
    try:
        wrapper.default_timeout = 0.01
        for call in (lambda: wrapped.until_synced(timeout=0.1), lambda: wrapped.until_synced(0.1)):
            with pytest.raises(KatcpTimeoutError) as info:
                call()
            assert not isinstance(info.value, KatcpWrapperTimeoutError)
        assert wrapped.is_connected() is False
        assert wrapped.wait_connected(timeout=0.01) is False
        wrapper.default_timeout = None
        assert wrapped.join(0.01) is False
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_thread_safe_wrapper_bounds_a_slow_request_unless_its_own_timeout_is_shorter(server):
    """?pick-fruit replies after 1 s (the tutorial server, fruit and delay
    made predictable). Through the wrapper, without timeout=, it fails
    after default_timeout if that is the shorter; with a shorter timeout of
    its own (0.1 s given) that one applies, as a plain KatcpTimeoutError."""
    res = make_resource(server)
    wrapper = IOLoopThreadWrapper()
    wrapper.default_timeout = 0.1
    wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(res, wrapper)
    try:
        wrapped.until_synced(TIMEOUT)
        with pytest.raises(KatcpWrapperTimeoutError, match=r"\?pick-fruit did not finish "
                           r"within the ioloop wrapper's default_timeout \(0\.1 s\)"):
            wrapped.req.pick_fruit()
        with pytest.raises(KatcpTimeoutError) as info:
            wrapped.req.pick_fruit(timeout=0.05)
        assert not isinstance(info.value, KatcpWrapperTimeoutError)
        assert wrapped.req.add(2, 3).succeeded
        wrapper.default_timeout = 10.0
        assert wrapped.req.pick_fruit().succeeded
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_ioloop_wrapper_timeout_is_katcp_pythons_error():
    manager = IOLoopManager()
    manager.start()
    try:
        wrapper = IOLoopThreadWrapper(manager.get_ioloop())
        wrapper.default_timeout = 0.01
        with pytest.raises(concurrent.futures.TimeoutError) as info:
            wrapper.call_in_ioloop(concurrent.futures.Future)
        assert isinstance(info.value, KatcpWrapperTimeoutError)
    finally:
        manager.stop(TIMEOUT)
        manager.join(TIMEOUT)


def test_timeout_hints_and_bulk_strategies(hint_resource):
    res = hint_resource
    assert res.req.slow.timeout_hint == 12.5 and res.req.add.timeout_hint is None
    assert res.req.slow().succeeded
    results = res.set_sampling_strategies("result$", ("period", 10))
    assert results == {name: (True, ("period", "10.0")) for name in
                       ["add_result", "eval_result", "fruit_result", "time_result"]}
    assert res.sensor.time_result.sampling_strategy == ("period", "10.0")


def test_requests_are_katcp_python_request_objects_sent_by_wrapped_request(hint_resource, monkeypatch):
    """``req.<name>`` is katcp-python's KATCPClientResourceRequest: its call
    passes the hint as ``timeout`` to the resource's ``wrapped_request``,
    where the hint still gets its margin (TIMEOUT_HINT_MARGIN)."""
    res = hint_resource
    slow = res.req.slow
    assert isinstance(slow, resource_client.KATCPClientResourceRequest)
    assert isinstance(slow, resource_client.KATCPRequest) and slow.is_active()
    timeouts = []
    send = res.client.future_request

    def spy(msg, timeout=None, **kwargs):
        timeouts.append(timeout)
        return send(msg, timeout=timeout, **kwargs)

    monkeypatch.setattr(res.client, "future_request", spy)
    assert slow().succeeded and res.wrapped_request("slow").succeeded
    assert res.wrapped_request("slow", timeout=3).succeeded and res.req.add(1, 2, timeout=4).succeeded
    assert res.wrapped_request("add", 1, 2).succeeded
    assert timeouts == [12.5 + TIMEOUT_HINT_MARGIN] * 2 + [3, 4, res.default_timeout]


def test_thread_safe_wrapper_comes_after_a_queued_start(server):
    """ska-sa/kattelmod's KATCPComponent queues ``ioloop.add_callback(
    client.start)``, wraps the resource and calls ``until_synced()`` at
    once: through katcp-python's wrapper that call ran after the start.
    Here the reactor is held while the start is queued, so without the
    wrapper's wait until_synced() would find the resource not started."""
    manager = IOLoopManager()
    ioloop = manager.get_ioloop()
    manager.start()
    res = KATCPClientResource(dict(name="demo", address=server.bind_address, controlled=True))
    res.set_ioloop(ioloop)
    gate = threading.Event()
    ioloop.add_callback(gate.wait, TIMEOUT)
    ioloop.add_callback(res.start)
    releaser = threading.Timer(0.05, gate.set)
    releaser.start()
    try:
        wrapper = IOLoopThreadWrapper(ioloop)
        wrapper.default_timeout = TIMEOUT
        wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(res, wrapper)
        assert wrapped.__wrapped__ is res
        wrapped.until_synced(TIMEOUT)
        assert wrapped.req.add(1, 2).succeeded
    finally:
        gate.set()
        releaser.join(TIMEOUT)
        res.stop()
        res.join(TIMEOUT)
        manager.stop(TIMEOUT)
        manager.join(TIMEOUT)


def test_v4_device(monkeypatch):
    v4 = load_example("tutorial_server_v4")
    srv = start_server(v4.MyServer("127.0.0.1", 0))
    res = make_resource(srv)
    try:
        res.until_synced(TIMEOUT)
        assert res.client.protocol_flags.major == 4
        assert res.req.add(3, 6).succeeded
        reading = res.sensor.add_result.get_reading()
        assert reading.value == 9.0 and abs(reading.timestamp - reading.received_timestamp) < 60
        res.sensor.add_result.set_strategy("event")
        res.req.add(1, 1)
        assert res.sensor.add_result.wait(2.0, timeout=TIMEOUT)
    finally:
        res.stop()
        res.join(TIMEOUT)
        stop_server(srv)


def test_bulk_strategy_refused_for_one_sensor_still_sets_the_others(tutorial):
    class BulkServer(tutorial.MyServer):
        PROTOCOL_INFO = ProtocolFlags(5, 1, "MIB")

    srv = start_server(BulkServer("127.0.0.1", 0))
    res = make_resource(srv)
    try:
        res.until_synced(TIMEOUT)
        # differential is for numeric sensors only: fruit.result refuses it
        results = res.set_sampling_strategies("^(add|fruit)_result$", "differential 1")
        assert results["add_result"] == (True, ("differential", "1.0"))
        assert results["fruit_result"][0] is False
        assert res.sensor.add_result.sampling_strategy == ("differential", "1.0")
        assert res.sensor.fruit_result.sampling_strategy == ("none",)
    finally:
        res.stop()
        res.join(TIMEOUT)
        stop_server(srv)


def test_preset_protocol_flags(server):
    res = make_resource(server, preset_protocol_flags=ProtocolFlags(5, 0, "MI"))
    try:
        res.until_synced(TIMEOUT)
        assert str(res.client.protocol_flags) == str(ProtocolFlags(5, 0, "MI"))
        assert res.req.add(1, 1).succeeded
    finally:
        res.stop()
        res.join(TIMEOUT)


def test_reapply_sampling_strategies_restores_what_the_device_forgot(resource, server):
    sensor = resource.sensor.add_result
    assert sensor.set_strategy("event") == ("event",)
    for client in server.get_clients():        # the device drops our strategy
        client.sampling.cancel("add.result")
    resource.reapply_sampling_strategies()
    server._add_result.set_value(42.0)
    assert sensor.wait(42.0, timeout=TIMEOUT)


def _counting_bulk_server(tutorial):
    """A tutorial server with flag B that records each ``?sensor-sampling``'s
    names and refuses any request naming a sensor in its ``refused`` set."""
    from katcp_sync.server_requests import inline

    class CountingServer(tutorial.MyServer):
        PROTOCOL_INFO = ProtocolFlags(5, 1, "MIB")
        sampling_requests = []
        refused = set()

        @inline
        def request_sensor_sampling(self, req, msg):
            """Set a sensor's strategy (counted)."""
            names = msg.arguments[0].decode().split(",") if msg.arguments else []
            if len(msg.arguments) > 1:   # a query has no strategy: not counted
                self.sampling_requests.append(names)
            if self.refused.intersection(names):
                req.reply("fail", "refused for the test")
                return
            return super(CountingServer, self).request_sensor_sampling(req, msg)

    return start_server(CountingServer("127.0.0.1", 0))


def _drop_device_strategies(server):
    for client in server.get_clients():
        for name in ("add.result", "time.result", "fruit.result"):
            client.sampling.cancel(name)


@pytest.fixture
def bulk_device(tutorial):
    """``(server, resource)``: a synced resource on a counting flag-B server."""
    srv = _counting_bulk_server(tutorial)
    res = make_resource(srv)
    try:
        res.until_synced(TIMEOUT)
        yield srv, res
    finally:
        res.stop()
        res.join(TIMEOUT)
        stop_server(srv)


def test_reapply_sends_one_bulk_request_per_strategy(bulk_device):
    """Spec 5.1 ?sensor-sampling: with flag B, sensors sharing a strategy are
    re-applied together, as a sync does (it was one request per sensor)."""
    srv, res = bulk_device
    res.set_sampling_strategies("^(add|time)_result$", "event")
    res.sensor.fruit_result.set_sampling_strategy("period 10")
    _drop_device_strategies(srv)
    del srv.sampling_requests[:]
    res.reapply_sampling_strategies()
    assert sorted(sorted(names) for names in srv.sampling_requests) == [
        ["add.result", "time.result"], ["fruit.result"]]
    srv._add_result.set_value(42.0)
    assert res.sensor.add_result.wait(42.0, timeout=TIMEOUT)


def test_reapply_logs_a_refusal_and_applies_the_rest(bulk_device, caplog):
    """As katcp-python: a strategy the device now refuses is logged, the
    others are re-applied, and reapply returns normally."""
    srv, res = bulk_device
    res.sensor.add_result.set_sampling_strategy("event")
    res.sensor.fruit_result.set_sampling_strategy("event")
    srv.refused.add("fruit.result")     # the bulk request is refused: one by one
    _drop_device_strategies(srv)
    with caplog.at_level("WARNING", logger="katcp_sync"):
        res.reapply_sampling_strategies()
    assert any("fruit.result" in r.getMessage() and "failed" in r.getMessage()
               for r in caplog.records)
    srv._add_result.set_value(43.0)
    assert res.sensor.add_result.wait(43.0, timeout=TIMEOUT)


def test_reapply_on_the_reactor_thread_is_refused(resource):
    raised = concurrent.futures.Future()

    def on_reactor():
        try:
            resource.reapply_sampling_strategies()
        except Exception as exc:
            raised.set_result(exc)
        else:
            raised.set_result(None)

    resource.client.reactor.add_callback(on_reactor)
    assert isinstance(raised.result(TIMEOUT), KatcpClientError)


def test_set_ioloop_is_katcp_pythons_name_of_set_reactor():
    """Issue 12: one name per concept, katcp-python's spelling as an alias."""
    res = KATCPClientResource(dict(name="r", address=("127.0.0.1", 9)))
    assert res.reactor is None
    shared = object()
    res.set_ioloop(shared)
    assert res.reactor is shared
    res.set_ioloop()
    assert res.reactor is None
