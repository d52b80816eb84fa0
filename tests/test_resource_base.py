"""High-level client objects tested in memory, with a fake resource (no sockets)."""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import logging
import random
import threading

import pytest

from katcp_sync import compat, inspecting_client
from katcp_sync.backoff import ExponentialRandomBackoff
from katcp_sync.client_base import MAX_TIMEOUT_HINT
from katcp_sync.errors import FailReply

from katcp_sync.errors import (
    KATCPResourceInactive, KATCPSensorError, KatcpTimeoutError, SensorTimeoutError, TimeoutException,
)
from katcp_sync.inspecting_client import InspectingClient, RequestInfo, SensorInfo, all_done, chain_future
from katcp_sync.message import Message
from katcp_sync.resource_base import value_parser
from katcp_sync.resource_base import (
    AttrDict, KATCPClientResourceRequest, KATCPDummyRequest, KATCPReply, KATCPRequest, KATCPSensor,
    KATCPSensorReading, escape_name,
    normalize_strategy_parameters,
)
from katcp_sync.sensor import Sensor

from ordering_support import Gate, hammer, late_notification


class FakeManager(object):
    """Just enough of KATCPClientResource for requests and sensors."""

    name = "fake"

    def __init__(self, allowed=True):
        self.allowed = allowed
        self.strategies = {}
        self.sent = []
        self.wrapped = []

    def is_request_allowed(self):
        return self.allowed

    def request_future(self, name, args, timeout, mid, timeout_hint):
        self.sent.append((name, args, timeout, mid, timeout_hint))
        future = concurrent.futures.Future()
        future.set_result(KATCPReply(Message.reply(name, "ok", *args), []))
        return future

    def wrapped_request(self, name, *args, **kwargs):
        self.wrapped.append((name, args, kwargs))
        return self.request_future(name, args, kwargs.get("timeout"), kwargs.get("mid"), None).result()

    def wait_bound(self, timeout, hint):
        return 1.0

    def wait_future(self, future, timeout, what):
        return future.result(timeout)

    def check_may_block(self, what):
        pass

    def get_sampling_strategy(self, name):
        return self.strategies.get(name, ("none",))

    def set_sensor_strategy(self, name, strategy, timeout):
        self.strategies[name] = normalize_strategy_parameters(strategy)
        return self.strategies[name]


def make_sensor(manager=None, type_name="float", params=()):
    return KATCPSensor("fruit.result", "Last result.", "kg", type_name, params,
                       value_parser(type_name, 5), manager or FakeManager())


def test_escape_name():
    assert escape_name("pick-fruit") == "pick_fruit"
    assert escape_name("fruit.result") == "fruit_result"


@pytest.mark.parametrize("given, expected", [
    ("event", ("event",)),
    ("period 1", ("period", "1.0")),
    (("period", 0.5), ("period", "0.5")),
    (["differential-rate", 1, "2", 3.5], ("differential-rate", "1.0", "2.0", "3.5")),
])
def test_normalize_strategy_parameters(given, expected):
    assert normalize_strategy_parameters(given) == expected


def test_normalize_empty_strategy_is_an_error():
    with pytest.raises(KATCPSensorError):
        normalize_strategy_parameters("")


def test_attrdict_attribute_and_original_name_lookup():
    ns = AttrDict({"pick_fruit": 1}, what="request")
    assert ns.pick_fruit == 1
    assert ns["pick-fruit"] == 1
    with pytest.raises(AttributeError, match="no request 'nothing' .*pick_fruit"):
        ns.nothing
    assert "pick_fruit" in dir(ns)


def test_attrdict_missing_factory():
    ns = AttrDict(what="request", missing=lambda name: "dummy " + name)
    assert ns.whatever == "dummy whatever"


def test_reply_truthiness_messages_and_str():
    inform = Message.inform("help", "add", "Add two numbers")
    ok = KATCPReply(Message.reply("help", "ok", 1), [inform])
    assert ok and ok.succeeded
    assert ok.messages == [ok.reply, inform]
    # katcp-python's forms: wire lines reply first; repr readable, without ids
    assert str(ok) == "!help ok 1\n#help add Add\\_two\\_numbers"
    assert repr(ok) == "!help ok 1\n#help add Add two numbers"
    with_id = KATCPReply(Message.reply("help", "this", "is a test", mid=123), [])
    assert str(with_id) == "!help[123] this is\\_a\\_test"
    assert repr(with_id) == "!help this is a test"
    failed = KATCPReply(Message.reply("add", "fail", "bad"), [])
    assert not failed and not failed.succeeded


def test_reading_status_is_the_name():
    reading = KATCPSensorReading(1.0, 2.0, Sensor.NOMINAL, 3)
    assert reading.status == "nominal"


def make_request(manager, hint=7.0):
    description = {"name": "add", "description": "Add two numbers", "timeout_hint": hint}
    return KATCPClientResourceRequest(description, manager, manager.is_request_allowed)


def test_request_docstring_future_and_blocking_call():
    manager = FakeManager()
    req = make_request(manager)
    assert req.__doc__ == "Add two numbers"
    assert (req.name, req.description, req.timeout_hint) == ("add", "Add two numbers", 7.0)
    future = req.future(3, 6, timeout=2, mid=5)
    assert isinstance(future, concurrent.futures.Future)
    assert manager.sent[-1] == ("add", (3, 6), 2, 5, 7.0)
    reply = req(1, 2)
    assert reply.succeeded and reply.reply.arguments == [b"ok", b"1", b"2"]


def test_request_call_goes_through_wrapped_request_with_the_hint_as_timeout():
    # katcp-python's contract: timeout defaults to the hint; mid only if given
    manager = FakeManager()
    req = make_request(manager)
    req(1, 2)
    req(3, timeout=4, mid=9)
    assert manager.wrapped == [("add", (1, 2), {"timeout": 7.0}),
                               ("add", (3,), {"timeout": 4, "mid": 9})]
    assert isinstance(req, KATCPRequest)


def test_request_base_class_checks_is_active_then_issues():
    # katcp-python's KATCPRequest(description, is_active): subclasses issue
    issued = []

    class Echo(KATCPRequest):
        def issue_request(self, *args, **kwargs):
            issued.append((args, kwargs))
            return "sent"

    active = [False]
    req = Echo({"name": "echo", "description": "Echo.", "timeout_hint": None},
               is_active=lambda: active[0])
    with pytest.raises(KATCPResourceInactive, match=r"\?echo"):
        req(1, timeout=3)
    assert issued == []
    active[0] = True
    assert req(1, timeout=3) == "sent" and issued == [((1,), {"timeout": 3})]
    assert Echo({"name": "x", "description": "", "timeout_hint": None})() == "sent"
    with pytest.raises(ValueError, match="timeout_hint"):
        Echo({"name": "x", "description": ""})
    with pytest.raises(NotImplementedError):
        KATCPRequest({"name": "x", "description": "", "timeout_hint": None})()


def test_request_on_inactive_resource_raises():
    manager = FakeManager(allowed=False)
    req = make_request(manager, hint=None)
    with pytest.raises(KATCPResourceInactive, match="controlled=True"):
        req(1, 2)
    with pytest.raises(KATCPResourceInactive):
        req.future(1, 2)
    assert manager.sent == []


def test_dummy_request_answers_ok_locally():
    manager = FakeManager()
    description = {"name": "nothing", "description": "", "timeout_hint": None}
    dummy = KATCPDummyRequest(description, manager.is_request_allowed)
    reply = dummy()
    assert reply.succeeded and manager.sent == [] and manager.wrapped == []
    assert dummy.future().result(0).succeeded
    manager.allowed = False
    with pytest.raises(KATCPResourceInactive):
        dummy()


def test_sensor_set_formatted_and_listeners():
    sensor = make_sensor()
    seen, seen_readings = [], []
    sensor.register_listener(lambda *args: seen.append(args))
    sensor.register_listener(lambda s, r: seen_readings.append((s, r)), reading=True)
    sensor.set_formatted(b"1234.5", b"warn", b"2.5")
    assert sensor.value == 2.5 and sensor.status == "warn" and sensor.reading.timestamp == 1234.5
    assert seen == [(sensor.reading.received_timestamp, 1234.5, "warn", 2.5)]
    assert seen_readings == [(sensor, sensor.reading)]
    assert sensor.name == "fruit.result" and sensor.normalised_name == "fruit_result"
    assert (sensor.description, sensor.units, sensor.type) == ("Last result.", "kg", "float")


def test_sensor_v4_timestamps_are_milliseconds():
    sensor = make_sensor()
    sensor.set_formatted(b"1234500", b"nominal", b"1.0", major=4)
    assert sensor.reading.timestamp == pytest.approx(1234.5)


@pytest.mark.parametrize("status, value", [(b"bogus", b"1.0"), (b"nominal", b"one")])
def test_sensor_bad_reading_is_refused(status, value):
    sensor = make_sensor()
    with pytest.raises(ValueError):
        sensor.set_formatted(b"1.0", status, value)
    assert sensor.status == "unknown"


def test_sensor_discrete_values_are_not_checked_against_params():
    sensor = make_sensor(type_name="discrete", params=("apple", "kiwi"))
    sensor.set_formatted(b"1.0", b"nominal", b"banana")
    assert sensor.value == "banana"


def test_listener_errors_are_logged_not_raised(caplog):
    sensor = make_sensor()
    calls = []

    def bad(*args):
        raise RuntimeError("boom")

    sensor.register_listener(bad)
    sensor.register_listener(lambda *a: calls.append(a))
    with caplog.at_level(logging.ERROR):
        sensor.set_value(1.0)
    assert "boom" in caplog.text and len(calls) == 1


def test_unregister_and_clear_listeners():
    sensor = make_sensor()
    calls = []
    listener = calls.append
    sensor.register_listener(lambda *a: calls.append(a))
    sensor.register_listener(listener, reading=False)
    assert sensor.is_listener(listener)
    sensor.unregister_listener(listener)
    assert not sensor.is_listener(listener)
    sensor.clear_listeners()
    sensor.set_value(1.0)
    assert calls == []


def test_wait_without_strategy_is_an_error():
    with pytest.raises(KATCPSensorError, match="no sampling strategy"):
        make_sensor().wait(1.0)


def test_wait_for_value_and_condition_from_another_thread():
    manager = FakeManager()
    sensor = make_sensor(manager)
    sensor.set_strategy("event")
    assert manager.strategies["fruit.result"] == ("event",)
    timer = threading.Timer(0.05, sensor.set_value, args=(3.0,))
    timer.start()
    try:
        assert sensor.wait(3.0, timeout=5) is True
    finally:
        timer.join()
    assert sensor.wait(lambda r: r.status == "nominal", timeout=0)
    assert sensor._listeners == {}


def test_wait_timeout_is_a_timeout_exception():
    sensor = make_sensor()
    sensor.set_sampling_strategy(("period", 1))
    with pytest.raises(TimeoutException) as info:
        sensor.wait(42.0, timeout=0.01)
    assert isinstance(info.value, SensorTimeoutError)
    assert isinstance(info.value, compat.TimeoutError) and isinstance(info.value, RuntimeError)
    assert sensor._listeners == {}


def test_set_strategy_params_forms():
    manager = FakeManager()
    sensor = make_sensor(manager)
    assert sensor.set_strategy("period", 0.5) == ("period", "0.5")
    assert sensor.set_strategy("event-rate", "1 2") == ("event-rate", "1.0", "2.0")
    assert sensor.set_strategy("differential-rate", [1, 2, 3]) == ("differential-rate", "1.0", "2.0", "3.0")
    assert sensor.sampling_strategy == ("differential-rate", "1.0", "2.0", "3.0")


def done_future(result=None, exception=None):
    future = concurrent.futures.Future()
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
    return future


def test_chain_future_and_all_done():
    source = concurrent.futures.Future()
    chained = chain_future(source, lambda x: x * 2)
    assert not chained.done()
    source.set_result(21)
    assert chained.result(0) == 42
    failing = chain_future(done_future(exception=KatcpTimeoutError("late")), lambda x: x)
    with pytest.raises(KatcpTimeoutError):
        failing.result(0)
    pending = [concurrent.futures.Future(), concurrent.futures.Future()]
    both = all_done(pending)
    pending[0].set_result(1)
    assert not both.done()
    pending[1].set_exception(ValueError())
    assert both.result(0) is None
    assert all_done([]).done()


def test_build_model_from_informs():
    futures = {
        "help": done_future((Message.reply("help", "ok", 2), [
            Message.inform("help", "add", "Add two numbers"),
            Message.inform("help", "pick-fruit", "Pick a fruit"),
        ])),
        "sensor-list": done_future((Message.reply("sensor-list", "ok", 1), [
            Message.inform("sensor-list", "fruit.result", "Last", "", "discrete", "apple", "kiwi"),
        ])),
        "request-timeout-hint": done_future((Message.reply("request-timeout-hint", "ok", 2), [
            Message.inform("request-timeout-hint", "pick-fruit", "10.5"),
            Message.inform("request-timeout-hint", "add", "0"),
        ])),
    }
    model = InspectingClient._build_model(futures)
    assert model.requests == {
        "add": RequestInfo("add", "Add two numbers", None),
        "pick-fruit": RequestInfo("pick-fruit", "Pick a fruit", 10.5),
    }
    assert model.sensors == {"fruit.result": SensorInfo("fruit.result", "Last", "", "discrete", ("apple", "kiwi"))}


def test_build_model_skips_malformed_informs(caplog):
    """One malformed inform of the device's is logged and skipped; the rest of
    the model is built (it failed the whole inspection, retried for ever)."""
    futures = {
        "help": done_future((Message.reply("help", "ok", 2), [
            Message.inform("help"), Message.inform("help", "add", "Add two numbers")])),
        "sensor-list": done_future((Message.reply("sensor-list", "ok", 2), [
            Message.inform("sensor-list", "short", "desc", "units"),
            Message.inform("sensor-list", "temp", "Temperature", "C", "float", "-10", "50")])),
        "request-timeout-hint": done_future((Message.reply("request-timeout-hint", "ok", 3), [
            Message.inform("request-timeout-hint", "add"),
            Message.inform("request-timeout-hint", "add", "soon"),
            Message.inform("request-timeout-hint", "add", "inf")])),
    }
    with caplog.at_level(logging.WARNING, logger="katcp_sync.inspecting_client"):
        model = InspectingClient._build_model(futures, "dev")
    assert model.requests == {"add": RequestInfo("add", "Add two numbers", MAX_TIMEOUT_HINT)}
    assert list(model.sensors) == ["temp"]
    for what in ("dev: #help inform without a request name", "dev: short #sensor-list inform",
                 "got ['add']", "timeout hint 'soon' for ?add is not a number"):
        assert what in caplog.text


def test_build_model_fails_on_a_failed_inspection_request():
    futures = {
        "help": done_future((Message.reply("help", "fail", "nope"), [])),
        "sensor-list": done_future((Message.reply("sensor-list", "ok", 0), [])),
    }
    with pytest.raises(FailReply, match=r"\?help failed"):
        InspectingClient._build_model(futures)


class FakeTimer(object):
    def cancel(self):
        pass


class FakeReactor(object):
    """Records timers instead of running them."""

    def __init__(self):
        self.timers = []

    def call_later(self, delay, fn, *args):
        self.timers.append((delay, fn, args))
        return FakeTimer()


class FakeClient(object):
    """Keeps inspection requests pending until answer() is called; no sockets."""

    def __init__(self):
        self.callbacks = {}
        self.reactor = FakeReactor()
        self.protocol_flags = type("Flags", (), {"request_timeout_hints": False, "major": 5})()
        self.connected = True
        self.pending = []

    def add_connected_callback(self, cb):
        self.callbacks["connected"] = cb

    def add_disconnected_callback(self, cb):
        self.callbacks["disconnected"] = cb

    def add_inform_callback(self, name, cb):
        self.callbacks[name] = cb

    def is_connected(self):
        return self.connected

    def future_request(self, msg, timeout=None):
        future = concurrent.futures.Future()
        self.pending.append((msg.name, future))
        return future

    def answer(self, ok=True):
        """Answer every pending request (ok, with no informs, or fail)."""
        pending, self.pending = self.pending, []
        for name, future in pending:
            future.set_result((Message.reply(name, "ok" if ok else "fail"), []))


def test_inspecting_client_retries_and_ignores_stale_rounds():
    client = FakeClient()
    models, states = [], []
    inspector = InspectingClient(client, lambda model: models.append(model), retry_delay=0.1)
    inspector.add_state_callback(states.append)
    client.callbacks["connected"]()
    assert inspector.state == "syncing"
    client.answer(ok=False)
    assert inspector.state == "syncing" and len(client.reactor.timers) == 1
    delay, retry, args = client.reactor.timers.pop()
    assert 0.05 <= delay <= 0.1
    retry(*args)
    # An interface change starts a newer round: the older one is abandoned.
    old = client.pending
    client.pending = []
    client.callbacks["interface-changed"](Message.inform("interface-changed"))
    for name, future in old:
        future.set_result((Message.reply(name, "ok"), []))
    assert models == [] and inspector.state == "syncing"
    client.answer()
    assert inspector.state == "synced" and len(models) == 1
    client.callbacks["disconnected"]()
    assert states == ["syncing", "syncing", "syncing", "synced", "disconnected"]
    with pytest.raises(KatcpTimeoutError):
        inspector.until_state("synced", timeout=0.01)


def test_inspection_retries_back_off_exponentially_with_jitter(monkeypatch):
    """Delays double from retry_delay up to max_retry_delay, each scaled by a
    random 0.5 to 1; a sync starts them again (ExponentialRandomBackoff)."""
    monkeypatch.setattr(random, "random", lambda: 1.0)
    client = FakeClient()
    inspector = InspectingClient(client, lambda model: None, retry_delay=0.1, max_retry_delay=0.5)
    client.callbacks["connected"]()

    def fail_once():
        client.answer(ok=False)
        delay, retry, args = client.reactor.timers.pop()
        retry(*args)
        return delay

    assert [fail_once() for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    client.answer()
    assert inspector.state == "synced"
    client.callbacks["interface-changed"](Message.inform("interface-changed"))
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert fail_once() == pytest.approx(0.1)   # drawn at the sync (random was 1.0)
    assert fail_once() == pytest.approx(0.1)   # 0.2 halved


def test_exponential_random_backoff(monkeypatch):
    """katcp-python's ExponentialRandomBackoff: delay = base * (1 - r + r * random());
    the base grows by exp_fac per failure up to delay_max, resets on success."""
    monkeypatch.setattr(random, "random", lambda: 0.5)
    backoff = ExponentialRandomBackoff(delay_initial=2.0, delay_max=20.0, exp_fac=3.0, randomicity=0.4)
    assert backoff.delay == pytest.approx(2.0 * 0.8)
    delays = []
    for _ in range(4):
        backoff.failed()
        delays.append(backoff.delay)
    assert delays == pytest.approx([6.0 * 0.8, 18.0 * 0.8, 20.0 * 0.8, 20.0 * 0.8])
    backoff.success()
    assert backoff.delay == pytest.approx(1.6)
    assert ExponentialRandomBackoff(1.0, 5.0, 2.0, 0.0).delay == 1.0
    for bad in [dict(delay_initial=3.0, delay_max=2.0), dict(randomicity=1.5), dict(exp_fac=1.0)]:
        with pytest.raises(ValueError):
            ExponentialRandomBackoff(**bad)
    assert inspecting_client.ExponentialRandomBackoff is ExponentialRandomBackoff
    assert inspecting_client.random is random   # katcp-python's tests patch it there


def test_inspecting_client_async_is_importable_but_not_provided():
    """So that modules importing katcp-python's tornado client still load."""
    with pytest.raises(NotImplementedError, match="KATCPClientResource"):
        inspecting_client.InspectingClientAsync("127.0.0.1", 7147)


# -- reading order (issue #11, point 1) -------------------------------------------


def test_a_poll_never_replaces_a_newer_sample_nor_a_sample_a_newer_poll():
    """?sensor-value replies and #sensor-status informs race: the device may read
    a poll's reading before a sample it sends first, or a sample before a poll
    it answers first. The older one (by timestamp) must not stay cached."""
    sensor = make_sensor()
    seen = []
    sensor.register_listener(lambda s, r: seen.append(r.value), reading=True)
    sensor.set_formatted(b"20.0", b"nominal", b"2.0")                # sample
    sensor.set_formatted(b"10.0", b"nominal", b"1.0", polled=True)   # older poll: dropped
    assert sensor.value == 2.0
    sensor.set_formatted(b"20.0", b"nominal", b"2.0", polled=True)   # same age: stored
    sensor.set_formatted(b"30.0", b"nominal", b"3.0", polled=True)
    sensor.set_formatted(b"25.0", b"nominal", b"2.5")                # older sample: dropped
    assert sensor.value == 3.0
    # Samples are otherwise stored in arrival order, whatever their timestamps
    # (a device clock stepping back must not freeze the cache).
    sensor.set_formatted(b"5.0", b"nominal", b"0.5")
    sensor.set_formatted(b"4.0", b"nominal", b"0.4")
    assert sensor.value == 0.4
    assert seen == [2.0, 2.0, 3.0, 0.5, 0.4]


def test_listeners_never_see_an_older_reading_after_a_newer_one():
    """A thread held up in the listeners (the reactor storing a sample while a
    poll's reading is stored on the polling thread) must not deliver its older
    reading after a newer one; the newer one is delivered after it."""
    sensor = make_sensor()
    gate = Gate(1.0)
    seen = []
    sensor.register_listener(gate.update, reading=True)   # first: holds up 1.0
    sensor.register_listener(lambda s, r: seen.append(r.value), reading=True)
    late_notification(sensor, gate, 2.0)
    assert seen == [1.0, 2.0]
    assert sensor.value == 2.0
    sensor.set_value(3.0)       # the delivering thread is done: delivered here again
    assert seen == [1.0, 2.0, 3.0]


def test_listeners_end_on_the_final_reading_under_concurrent_writers():
    sensor = make_sensor(type_name="integer")
    seen = []
    sensor.register_listener(lambda s, r: seen.append(r.value), reading=True)
    hammer(sensor.set_value)
    assert seen[-1] == sensor.value
    for writer in range(8):     # each writer's values arrive in its order
        mine = [v for v in seen if v // 10 % 8 == writer]
        assert mine == sorted(mine)
