"""Containers and groups of high-level clients, against tutorial servers."""

from __future__ import absolute_import, division, print_function


import contextlib
import socket
import threading
import time

import pytest

from katcp_sync import compat, resource_client
from katcp_sync.errors import (
    KATCPSensorError, KatcpClientError, KatcpTimeoutError, KatcpWrapperTimeoutError,
)
from katcp_sync.ioloop_manager import IOLoopThreadWrapper
from katcp_sync.resource import KATCPClientResource
from katcp_sync.message import Message
from katcp_sync.reactor import Reactor
from katcp_sync.resource_base import KATCPReply
from katcp_sync.resource_container import GroupResults, KATCPClientResourceContainer

from conftest import load_example

TIMEOUT = 5.0


@pytest.fixture
def tutorial():
    return load_example("tutorial_server")


@contextlib.contextmanager
def running_servers(tutorial, count):
    """``count`` tutorial servers on free ports, stopped on exit."""
    started = []
    try:
        for _ in range(count):
            server = tutorial.MyServer("127.0.0.1", 0)
            server.start()
            assert server.wait_running(TIMEOUT)
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()
            server.join(TIMEOUT)


@pytest.fixture
def servers(tutorial):
    with running_servers(tutorial, 2) as started:
        yield started


def make_container(servers, count, groups=None, **child_spec):
    spec = dict(
        name="array",
        clients={"dev%03d" % i: dict(address=servers[i % len(servers)].bind_address, controlled=True,
                                     **child_spec)
                 for i in range(count)},
        groups=groups or {},
    )
    return KATCPClientResourceContainer(spec)


@pytest.fixture
def container(servers):
    cont = make_container(servers, 4, groups={"even": ["dev000", "dev002"], "all": ["dev000", "dev001"]})
    cont.start()
    cont.until_synced(TIMEOUT)
    yield cont
    cont.stop()
    cont.join(TIMEOUT)


def test_prefixed_namespaces_and_state(container):
    assert container.state == "synced" and container.synced and container.is_connected()
    assert set(container.children) == {"dev000", "dev001", "dev002", "dev003"}
    assert container.children.dev001.parent is container
    assert container.sensor.dev001_add_result is container.children.dev001.sensor.add_result
    assert container.req.dev002_add(2, 3).reply.arguments == [b"ok", b"5.0"]
    assert len(container.sensor) == 4 * 4
    assert [r.python_identifier for r in container.list_sensors("dev00[12]_add")] == \
        ["dev001_add_result", "dev002_add_result"]


def test_container_is_active_follows_set_active(container):
    """katcp-python's KATCPResource.is_active(), on a container too."""
    assert container.is_active()
    container.set_active(False)
    assert not container.is_active() and not any(c.is_active() for c in container.children.values())
    container.set_active(True)
    assert container.is_active()


def test_container_strategies_and_wait(container, servers):
    container.set_sampling_strategy("dev001_add_result", "event")
    assert container.children.dev001.sensor.add_result.sampling_strategy == ("event",)
    container.req.dev001_add(20, 1)
    assert container.wait("dev001_add_result", 21.0, timeout=TIMEOUT)
    results = container.set_sampling_strategies("fruit_result$", "event")
    assert results == {"dev%03d_fruit_result" % i: (True, ("event",)) for i in range(4)}
    with pytest.raises(KATCPSensorError):
        container.set_sampling_strategy("nobody_add_result", "event")


def test_group_requests(container):
    results = container.groups.even.req.add(1, 1)
    assert isinstance(results, GroupResults) and results
    assert set(results) == {"dev000", "dev002"}
    assert all(r.reply.arguments == [b"ok", b"2.0"] for r in results.values())
    failed = container.groups.even.req.add("x", 1)
    assert not failed and not failed.succeeded
    assert container.groups.even.req.add.future(2, 2).result(TIMEOUT)
    assert len(container.groups.even) == 2 and container.groups.even[0].name == "dev000"
    assert container.groups.even.is_connected()


def test_group_results_truthiness():
    ok = KATCPReply(Message.reply("x", "ok"), [])
    fail = KATCPReply(Message.reply("x", "fail"), [])
    assert GroupResults(a=ok, b=ok)
    assert not GroupResults(a=ok, b=fail)
    assert not GroupResults(a=ok, b=None)
    assert not GroupResults(a=ok, b=KatcpTimeoutError("late"))


def test_group_wait_with_quorum(container, servers):
    group = container.groups.all   # dev000 on servers[0], dev001 on servers[1]
    with pytest.raises(KATCPSensorError, match="no sampling strategy"):
        group.wait("add_result", 5.0, timeout=0.1)
    assert group.set_sampling_strategy("add.result", "event")
    servers[0]._add_result.set_value(5.0)
    half = group.wait("add_result", 5.0, timeout=TIMEOUT, quorum=0.5, max_grace_period=0.05)
    assert half and half == {"dev000": True, "dev001": False}
    everyone = group.wait("add_result", 5.0, timeout=0.1)
    assert not everyone and everyone == {"dev000": True, "dev001": False}
    servers[1]._add_result.set_value(5.0)
    assert group.wait("add_result", 5.0, timeout=TIMEOUT, quorum=2)


def test_add_child_at_run_time(container, servers):
    child = container.add_child_resource_client("late", dict(address=servers[0].bind_address, controlled=True))
    child.until_synced(TIMEOUT)
    assert container.req.late_add(1, 1)
    with pytest.raises(ValueError):
        container.add_child_resource_client("late", dict(address=servers[0].bind_address))


def test_two_hundred_devices_on_one_reactor(tutorial):
    with running_servers(tutorial, 4) as servers:
        names = ["dev%03d" % i for i in range(200)]
        cont = make_container(servers, 200, groups={"all": names})
        started = compat.monotonic()
        cont.start()
        try:
            cont.until_synced(15)
            sync_time = compat.monotonic() - started
            ours = [t.name for t in threading.enumerate() if t.name.startswith(("katcp-client", "katcp-container"))]
            assert ours == ["katcp-container-array"], "one reactor thread for all devices"
            assert len(cont.sensor) == 800 and sync_time < 15
            results = cont.set_sampling_strategies("add_result$", "event")
            assert len(results) == 200 and all(ok for ok, _ in results.values())
            for server in servers:
                server._add_result.set_value(7.0)
            assert cont.groups.all.wait("add_result", 7.0, timeout=10)
            replies = cont.groups.all.req.add(1, 2)
            assert replies and len(replies) == 200
        finally:
            cont.stop()
            cont.join(TIMEOUT)


def test_namespaces_follow_interface_changes(container, servers):
    from katcp_sync.sensor import Sensor

    before = container.sensor
    assert container.sensor is before   # cached while nothing changes
    resynced = threading.Event()
    child = container.children.dev000   # on servers[0]
    child.add_state_callback(lambda state: state == "synced" and resynced.set())
    servers[0].add_sensor(Sensor.integer("extra", "An extra sensor.", ""))
    assert resynced.wait(TIMEOUT)
    assert "dev000_extra" in container.sensor and "dev000_extra" not in before


def test_until_any_child_in_state_with_one_device_down(tutorial):
    with running_servers(tutorial, 1) as servers:
        with contextlib.closing(socket.socket()) as closed:   # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            dead = closed.getsockname()
        cont = KATCPClientResourceContainer(dict(name="mixed", clients={
            "up": dict(address=servers[0].bind_address),
            "down": dict(address=dead)}))
        cont.start()
        try:
            cont.until_any_child_in_state("synced", TIMEOUT)
            assert cont.children["up"].synced and not cont.children["down"].synced
            with pytest.raises(KatcpTimeoutError):
                cont.until_all_children_in_state("synced", 0.2)
            with pytest.raises(KatcpTimeoutError):
                cont.until_any_child_in_state("no-such-state", 0.05)
        finally:
            cont.stop()
            cont.join(TIMEOUT)


def test_set_ioloop_shares_the_owners_reactor(servers):
    """Issue 12: set_reactor / katcp-python's set_ioloop before start(); the
    children run on the given reactor, which the container neither starts nor stops."""
    reactor = Reactor(name="shared")
    reactor.start()
    cont = make_container(servers, 2)
    try:
        cont.set_ioloop(reactor)
        assert cont.reactor is reactor
        cont.start()
        with pytest.raises(KatcpClientError):
            cont.set_reactor(None)
        cont.until_synced(TIMEOUT)
        assert all(child.reactor is reactor for child in cont.children.values())
        cont.stop()
        assert cont.join(TIMEOUT)
        assert reactor.running()
    finally:
        cont.stop()
        cont.join(TIMEOUT)
        reactor.stop()
        assert reactor.join(TIMEOUT)


def test_thread_safe_wrapper_of_a_container_bounds_its_children_and_groups(
        container, tutorial, monkeypatch):
    """katcp-python's wrapper took containers too: children, groups and
    their requests and sensors come back wrapped, their calls bounded by
    default_timeout (here ?pick-fruit, made to take 1 s, against 0.1 s)."""
    monkeypatch.setattr(tutorial.random, "choice", lambda seq: "kiwi")
    monkeypatch.setattr(tutorial.random, "randrange", lambda *args: 1)
    wrapper = IOLoopThreadWrapper()
    wrapper.default_timeout = 0.1
    wrapped = resource_client.ThreadSafeKATCPClientResourceWrapper(container, wrapper)
    assert isinstance(wrapped, KATCPClientResourceContainer) and wrapped.synced
    child = wrapped.children.dev001
    assert isinstance(child, KATCPClientResource) and child.parent.name == "array"
    assert child.req.add(1, 2).succeeded
    with pytest.raises(KatcpWrapperTimeoutError):
        child.req.pick_fruit()
    with pytest.raises(KatcpWrapperTimeoutError):
        wrapped.groups.even.req.pick_fruit()
    assert wrapped.groups.even.req.add(1, 2).succeeded
    with pytest.raises(KatcpWrapperTimeoutError):
        wrapped.until_not_synced()
