"""Many devices at once: a container of resources, and groups of them.

:class:`KATCPClientResourceContainer` holds one
:class:`~katcp_sync.resource.KATCPClientResource` per device, all sharing a
single :class:`~katcp_sync.reactor.Reactor` thread (one thread for any
number of devices: syncing is done with future callbacks, not threads).
Its ``req`` and ``sensor`` namespaces hold every child's requests and
sensors, prefixed with the child's name: ``container.sensor.dev1_fruit_result``.

:class:`ClientGroup` sends one request to several devices concurrently and
collects a :class:`GroupResults`, or waits for a sensor condition on a
quorum of them.

Everything may be called from any thread except the reactor thread.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import re
import threading
from typing import Any, Dict, Iterable, List, Optional, Set

from . import compat
from .deadline import Deadline
from .errors import KatcpClientError, KATCPSensorError, KatcpTimeoutError
from .formatting import format_seconds
from .inspecting_client import DISCONNECTED, SYNCED, all_done, chain_future, wait_future
from .reactor import Reactor
from .resource import KATCPClientResource
from .resource_types import AttrDict, StrategyLike, escape_name, make_condition

__all__ = ["KATCPClientResourceContainer", "ClientGroup", "GroupResults", "GroupRequest"]

logger = logging.getLogger(__name__)

_WAIT_MARGIN = 2.0


class GroupResults(dict):
    """Results of a group operation, by client name.

    For requests a value is a :class:`~katcp_sync.resource_types.KATCPReply`,
    ``None`` (the client lacks the request) or the exception the request
    failed with (timeout, disconnected). Truthy iff every value succeeded.
    Made whole before it is returned and not changed after: any thread may read it.
    """

    @property
    def succeeded(self):
        # type: () -> bool
        """True iff every client's result is truthy (an ``ok`` reply, a met condition)."""
        return all(v is not None and not isinstance(v, BaseException) and bool(v) for v in self.values())

    def __bool__(self):
        # type: () -> bool
        return self.succeeded

    __nonzero__ = __bool__   # Python 2


class GroupRequest(object):
    """A request sent to every client of a group that has it.

    ``group.req.name(*args, timeout=None, mid=None)`` blocks and returns a
    :class:`GroupResults`; ``.future(...)`` returns a future of it.
    Any thread; the blocking call not from the reactor thread.
    """

    def __init__(self, group, name):
        # type: ("ClientGroup", str) -> None
        self._group = group
        self.name = name
        self.__doc__ = next((c.req[name].description for c in group.clients if name in c.req), "")

    def future(self, *args, **kwargs):
        # type: (*Any, **Any) -> concurrent.futures.Future
        """Send to all clients at once; a future of :class:`GroupResults`."""
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('future', kwargs)
        futures = {}
        results = GroupResults()
        for client in self._group.clients:
            request = client.req.get(self.name)
            if request is None:
                results[client.name] = None
                continue
            try:
                futures[client.name] = request.future(*args, timeout=timeout, mid=mid)
            except Exception as exc:  # e.g. inactive or not started: that client's result
                results[client.name] = exc

        def collect(_f):
            # type: (concurrent.futures.Future) -> GroupResults
            for name, future in futures.items():
                error = future.exception()
                results[name] = future.result() if error is None else error
            return results

        return chain_future(all_done(futures.values()), collect)

    def __call__(self, *args, **kwargs):
        # type: (*Any, **Any) -> GroupResults
        """Send to all clients at once and block until every reply (or error)."""
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('__call__', kwargs)
        self._group._check_may_block()
        clients = self._group.clients
        longest = max([c.default_timeout for c in clients] + [timeout or 0.0]) if clients else 0.0
        hints = [c.req[self.name].timeout_hint or 0.0 for c in clients if self.name in c.req]
        bound = max([longest] + hints) + _WAIT_MARGIN
        return wait_future(self.future(*args, timeout=timeout, mid=mid), bound, "group ?" + self.name)


class ClientGroup(object):
    """A named group of resources, addressed together.

    Iterable, indexable and sized like the tuple of its clients.

    Args:
        name: the group's name.
        clients: the :class:`KATCPClientResource` objects.

    Every method may be called from any thread; those that block (``req``
    calls, ``set_sampling_*``, :meth:`wait`) not from the reactor thread.
    """

    def __init__(self, name, clients):
        # type: (str, Iterable[KATCPClientResource]) -> None
        self.name = name
        self.clients = tuple(clients)

    def __iter__(self):
        return iter(self.clients)

    def __getitem__(self, index):
        # type: (int) -> KATCPClientResource
        return self.clients[index]

    def __len__(self):
        # type: () -> int
        return len(self.clients)

    def _check_may_block(self):
        # type: () -> None
        for client in self.clients:
            client.check_may_block("group %s" % self.name)

    @property
    def req(self):
        # type: () -> AttrDict
        """Every request any client has, as a :class:`GroupRequest`, by escaped name."""
        names = set()  # type: Set[str]
        for client in self.clients:
            names.update(client.req)
        return AttrDict({name: GroupRequest(self, name) for name in sorted(names)}, what="group request")

    def is_connected(self):
        # type: () -> bool
        """True if every client is connected."""
        return all(client.is_connected() for client in self.clients)

    def client_updated(self, client):
        # type: (KATCPClientResource) -> None
        """Kept for katcp-python compatibility; namespaces are computed on access."""

    def set_sampling_strategy(self, sensor_name, strategy_and_params,
                              timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> GroupResults
        """Set a strategy on ``sensor_name`` of every client (concurrently).

        Returns:
            ``{client_name: {normalised_name: (success, info)}}``.
        """
        return self.set_sampling_strategies(
            "^%s$" % re.escape(escape_name(sensor_name)), strategy_and_params, timeout)

    def set_sampling_strategies(self, filter, strategy_and_params,
                                timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> GroupResults
        """Set a strategy on the matching sensors of every client (concurrently)."""
        selection = {client: [r.name for r in client.list_sensors(filter)] for client in self.clients}
        results = _set_strategies(selection, strategy_and_params, timeout)
        return GroupResults((client.name, per_sensor) for client, per_sensor in results.items())

    def wait(self, sensor_name, condition_or_value, timeout=5,
             quorum=None, max_grace_period=1.0):
        # type: (str, Any, Optional[float], Any, float) -> GroupResults
        """Wait for a sensor condition on (a quorum of) the clients.

        Args:
            sensor_name: the sensor, on every client.
            condition_or_value: as for :meth:`KATCPSensor.wait`.
            timeout: seconds to wait for the quorum.
            quorum: how many clients must satisfy it: an ``int`` count, a
                ``float`` fraction in (0, 1], or ``None`` for all.
            max_grace_period: once the quorum is met, how long to keep
                waiting for the others (never past ``timeout``).

        Returns:
            :class:`GroupResults` of ``{client_name: bool}``; truthy iff the
            quorum was met (unlike a sensor's ``wait``, no exception on timeout).

        Raises:
            KATCPSensorError: a client lacks the sensor or has no strategy on it.
        """
        self._check_may_block()
        total = len(self.clients)
        if quorum is None:
            needed = total
        elif isinstance(quorum, float):
            needed = max(1, int(-(-quorum * total // 1)))  # ceiling
        else:
            needed = int(quorum)
        condition = make_condition(condition_or_value)
        cond = compat.Condition()
        satisfied = GroupResults((client.name, False) for client in self.clients)
        sensors = []
        for client in self.clients:
            sensor = client.sensor.get(escape_name(sensor_name))
            if sensor is None:
                raise KATCPSensorError("client %s of group %s has no sensor %r" % (client.name, self.name, sensor_name))
            if sensor.sampling_strategy[0] == "none":
                raise KATCPSensorError("sensor %s of %s has no sampling strategy" % (sensor.name, client.name))
            sensors.append((client.name, sensor))

        def listener_for(name):
            # type: (str) -> Any
            def check(_sensor, reading):
                # type: (Any, Any) -> None
                if condition(reading):
                    with cond:
                        satisfied[name] = True
                        cond.notify_all()
            return check

        listeners = [(sensor, listener_for(name)) for name, sensor in sensors]
        for sensor, listener in listeners:
            sensor.register_listener(listener, reading=True)
        try:
            for sensor, listener in listeners:
                listener(sensor, sensor.reading)
            deadline = Deadline(timeout)
            with cond:
                cond.wait_for(lambda: sum(satisfied.values()) >= needed, deadline.remaining())
                if sum(satisfied.values()) >= needed and needed < total:
                    left = deadline.remaining()   # the grace period ends by the deadline
                    grace = max_grace_period if left is None else min(max_grace_period, left)
                    cond.wait_for(lambda: all(satisfied.values()), grace)
                met = sum(satisfied.values()) >= needed
        finally:
            for sensor, listener in listeners:
                sensor.unregister_listener(listener)
        return _QuorumResults(satisfied, met)

    def __repr__(self):
        # type: () -> str
        return "<ClientGroup %s: %s>" % (self.name, ", ".join(c.name for c in self.clients))


class _QuorumResults(GroupResults):
    """Group wait results: ``{client: bool}``, truthy iff the quorum was met."""

    def __init__(self, results, met):
        # type: (Dict[str, bool], bool) -> None
        super(_QuorumResults, self).__init__(results)
        self.quorum_met = met

    @property
    def succeeded(self):
        # type: () -> bool
        return self.quorum_met


def _set_strategies(selection, strategy_and_params,
                    timeout):
    # type: (Dict[KATCPClientResource, List[str]], StrategyLike, Optional[float]) -> Dict[KATCPClientResource, Dict[str, Any]]
    """Set one strategy on the selected sensors of many clients at once and wait.

    Returns ``{client: {normalised_name: (success, info)}}``.
    """
    futures = {client: client.set_strategies_future(names, strategy_and_params, timeout)
               for client, names in selection.items() if names}
    bound = max([c.default_timeout for c in futures] + [timeout or 0.0]) + _WAIT_MARGIN
    wait_future(all_done(futures.values()), bound, "?sensor-sampling on %d devices" % len(futures))
    return {client: future.result() for client, future in futures.items()}


class KATCPClientResourceContainer(object):
    """A set of device resources sharing one reactor thread.

    Args:
        resources_spec: a dict with keys ``name``, ``description`` (optional),
            ``clients`` (``{child_name: resource_spec}``; each child spec as
            for :class:`KATCPClientResource`, its ``name`` is the key) and
            ``groups`` (optional, ``{group_name: [child names]}``).
        logger: where to log.
        reactor: a started reactor to share; by default the container makes
            one in :meth:`start` and stops it in :meth:`stop`.

    Every public method may be called from any thread (blocking ones not from
    the reactor thread).
    """

    def __init__(self, resources_spec, logger=logger,
                 reactor=None):
        # type: (Dict[str, Any], logging.Logger, Optional[Reactor]) -> None
        spec = dict(resources_spec)
        self._name = str(spec["name"])
        self._description = spec.get("description", "")
        self._logger = logger
        self._reactor = reactor
        self._own_reactor = reactor is None
        self._lock = threading.Lock()
        self._started = False
        self._children = {}  # type: Dict[str, KATCPClientResource]
        self._groups = {}  # type: Dict[str, ClientGroup]
        self._namespace_cache = {}  # type: Dict[str, Any]
        for child_name, child_spec in spec.get("clients", {}).items():
            self.add_child_resource_client(child_name, child_spec)
        for group_name, members in spec.get("groups", {}).items():
            self.add_group(group_name, members)

    # -- description and children --------------------------------------------

    @property
    def name(self):
        # type: () -> str
        """The container's name (from the spec)."""
        return self._name

    @property
    def description(self):
        # type: () -> str
        """The container's description (from the spec)."""
        return self._description

    @property
    def address(self):
        # type: () -> None
        """None: a container is not one device."""
        return None

    @property
    def parent(self):
        # type: () -> None
        """None: containers are not nested."""
        return None

    @property
    def children(self):
        # type: () -> AttrDict
        """The child resources, by escaped name."""
        return AttrDict(self._children, what="child")

    @property
    def groups(self):
        # type: () -> AttrDict
        """The :class:`ClientGroup` objects, by name."""
        return AttrDict(self._groups, what="group")

    def add_child_resource_client(self, name, spec):
        # type: (str, Dict[str, Any]) -> KATCPClientResource
        """Add a device; it is started at once if the container is running."""
        child_spec = dict(spec, name=name)
        child = KATCPClientResource(child_spec, parent=self, logger=self._logger)
        with self._lock:
            key = escape_name(name)
            if key in self._children:
                raise ValueError("container %s already has a child %r" % (self._name, name))
            self._children[key] = child
            started = self._started
        if started:
            child.set_reactor(self._reactor)
            child.start()
        return child

    def add_group(self, name, client_names):
        # type: (str, Iterable[str]) -> ClientGroup
        """Define a group of children by name."""
        members = [self._children[escape_name(n)] for n in client_names]
        group = ClientGroup(name, members)
        with self._lock:
            self._groups[name] = group
        return group

    def _prefixed(self, attr):
        # type: (str) -> AttrDict
        """The union of the children's ``req`` or ``sensor``, with prefixed names.

        Cached until a child re-syncs (which replaces its namespace object),
        so that attribute access stays cheap with hundreds of children.
        """
        with self._lock:
            children = list(self._children.items())
        sources = tuple(getattr(child, attr) for _, child in children)
        cached = self._namespace_cache.get(attr)
        if cached is not None and len(cached[0]) == len(sources) and all(
                a is b for a, b in zip(cached[0], sources)):
            return cached[1]
        out = AttrDict(what="request" if attr == "req" else "sensor")
        for (child_name, _child), namespace in zip(children, sources):
            for key, item in namespace.items():
                out["%s_%s" % (child_name, key)] = item
        self._namespace_cache[attr] = (sources, out)
        return out

    @property
    def req(self):
        # type: () -> AttrDict
        """Every child's requests, as ``<child>_<request>``."""
        return self._prefixed("req")

    @property
    def sensor(self):
        # type: () -> AttrDict
        """Every child's sensors, as ``<child>_<sensor>``."""
        return self._prefixed("sensor")

    sensors = sensor

    # -- life cycle ------------------------------------------------------------

    @property
    def reactor(self):
        # type: () -> Optional[Reactor]
        """The reactor the children share (None before :meth:`start` unless one was given)."""
        return self._reactor

    def set_reactor(self, reactor):
        # type: (Optional[Reactor]) -> None
        """Share ``reactor`` (started and stopped by its owner) among the children;
        None: the container makes and runs its own. Call before :meth:`start`.

        Raises:
            KatcpClientError: already started.
        """
        with self._lock:
            if self._started:
                raise KatcpClientError("container %s: set_reactor() must come before start()"
                                       % self._name)
            self._reactor = reactor
            self._own_reactor = reactor is None

    def set_ioloop(self, ioloop=None):
        # type: (Optional[Reactor]) -> None
        """katcp-python's name of :meth:`set_reactor`."""
        self.set_reactor(ioloop)

    def start(self):
        # type: () -> None
        """Start the shared reactor (if owned) and every child."""
        with self._lock:
            if self._started:
                raise KatcpClientError("container %s was already started" % self._name)
            self._started = True
            if self._reactor is None:
                self._reactor = Reactor(name="katcp-container-%s" % self._name)
            children = list(self._children.values())
        if self._own_reactor:
            self._reactor.start()
        for child in children:
            child.set_reactor(self._reactor)
            child.start()

    def stop(self):
        # type: () -> None
        """Stop every child, then the reactor if the container owns it."""
        for child in list(self._children.values()):
            child.stop()
        if self._own_reactor and self._reactor is not None:
            self._reactor.stop()

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait for the children's clients and the owned reactor to finish.

        Returns True if every thread they started has ended, False if
        ``timeout`` passed first."""
        deadline = Deadline(timeout)
        ended = True
        for child in list(self._children.values()):
            ended = child.join(deadline.remaining()) and ended
        if self._own_reactor and self._reactor is not None:
            ended = self._reactor.join(deadline.remaining()) and ended
        return ended

    until_stopped = join

    def is_connected(self):
        # type: () -> bool
        """True if every child is connected."""
        return all(child.is_connected() for child in self._children.values())

    def until_all_children_in_state(self, state, timeout=None):
        # type: (str, Optional[float]) -> None
        """Block until every child is in ``state`` (KatcpTimeoutError otherwise)."""
        deadline = Deadline(timeout)
        for child in list(self._children.values()):
            child.until_state(state, deadline.remaining())

    def until_any_child_in_state(self, state, timeout=None):
        # type: (str, Optional[float]) -> None
        """Block until at least one child is in ``state``.

        Raises:
            KatcpTimeoutError: no child got there within ``timeout`` seconds.
        """
        reached = compat.Event()

        def check(new_state):
            # type: (str) -> None
            if new_state == state:
                reached.set()
        children = list(self._children.values())
        for child in children:
            child.add_state_callback(check)
        try:
            if not (any(child.state == state for child in children) or reached.wait(timeout)):
                raise KatcpTimeoutError("No child of %s was %s within %s seconds"
                                        % (self.name, state, format_seconds(timeout)))
        finally:
            for child in children:
                child.remove_state_callback(check)

    def until_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until every child is synced."""
        self.until_all_children_in_state(SYNCED, timeout)

    def until_not_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until every child has left the synced state."""
        deadline = Deadline(timeout)
        for child in list(self._children.values()):
            child.until_not_synced(deadline.remaining())

    @property
    def synced(self):
        # type: () -> bool
        """True if every child is synced."""
        return all(child.synced for child in self._children.values())

    @property
    def state(self):
        # type: () -> str
        """``"synced"`` if all children are, ``"disconnected"`` if all are, else ``"syncing"``."""
        states = {child.state for child in self._children.values()}
        if states <= {SYNCED}:
            return SYNCED
        return DISCONNECTED if states == {DISCONNECTED} else "syncing"

    def set_active(self, active):
        # type: (bool) -> None
        """Allow (True) or refuse (False) requests on every child."""
        for child in self._children.values():
            child.set_active(active)

    def is_active(self):
        # type: () -> bool
        """True unless :meth:`set_active` (False) made every child inactive."""
        return any(child.is_active() for child in self._children.values()) or not self._children

    # -- sensors ---------------------------------------------------------------

    def _split(self, prefixed):
        # type: (str) -> Any
        """``"dev1_fruit_result"`` -> (child, ``"fruit_result"``)."""
        key = escape_name(prefixed)
        for child_name in sorted(self._children, key=len, reverse=True):
            if key.startswith(child_name + "_"):
                return self._children[child_name], key[len(child_name) + 1:]
        raise KATCPSensorError("container %s: %r does not start with a child's name" % (self._name, prefixed))

    def list_sensors(self, filter="", strategy=False, status="",
                     use_python_identifiers=True, tuple=False, refresh=False):
        # type: (str, bool, str, bool, bool, bool) -> list
        """Sensors of all children matching ``filter`` (on the prefixed names).

        As :meth:`KATCPClientResource.list_sensors`; ``python_identifier`` is
        the prefixed name used in :attr:`sensor`.
        """
        pattern = re.compile(filter)
        found = []
        for child_name, child in self._children.items():
            for r in child.list_sensors("", strategy, status, use_python_identifiers):
                identifier = "%s_%s" % (child_name, r.python_identifier)
                name = identifier if use_python_identifiers else "%s.%s" % (child.name, r.name)
                if pattern.search(name):
                    found.append(r._replace(python_identifier=identifier))
        if refresh and found:
            futures = [r.object.get_reading_future() for r in found]
            wait_future(all_done(futures), max(c.default_timeout for c in self._children.values()) + _WAIT_MARGIN,
                        "?sensor-value")
            found = [r._replace(reading=r.object.reading) for r in found]
        found.sort(key=lambda r: r.python_identifier)
        return [r[1:] for r in found] if tuple else found

    def set_sampling_strategies(self, filter, strategy_and_params,
                                timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> GroupResults
        """Set a strategy on every matching sensor of every child, concurrently.

        Returns ``{prefixed_name: (success, info)}``.
        """
        selection = {}  # type: Dict[KATCPClientResource, List[str]]
        for r in self.list_sensors(filter):
            selection.setdefault(r.object.parent, []).append(r.name)
        results = _set_strategies(selection, strategy_and_params, timeout)
        return GroupResults(("%s_%s" % (escape_name(client.name), key), outcome)
                            for client, per_sensor in results.items() for key, outcome in per_sensor.items())

    def set_sampling_strategy(self, sensor_name, strategy_and_params,
                              timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> Dict[str, Any]
        """Set one prefixed sensor's strategy (remembered across reconnects)."""
        child, key = self._split(sensor_name)
        return {escape_name(sensor_name): child.set_sampling_strategy(key, strategy_and_params, timeout)[key]}

    def set_sensor_listener(self, sensor_name, listener, reading=False):
        # type: (str, Any, bool) -> None
        """Register a listener on a prefixed sensor name."""
        child, key = self._split(sensor_name)
        child.set_sensor_listener(key, listener, reading)

    def wait(self, sensor_name, condition_or_value, timeout=5):
        # type: (str, Any, Optional[float]) -> bool
        """Wait for a prefixed sensor's condition; True, or False on timeout."""
        child, key = self._split(sensor_name)
        return child.wait(key, condition_or_value, timeout)

    def __repr__(self):
        # type: () -> str
        return "<KATCPClientResourceContainer %s: %d children>" % (self._name, len(self._children))
