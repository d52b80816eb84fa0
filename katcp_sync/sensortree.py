"""Sensor trees: sensors whose values are computed from other sensors.

A tree is a directed acyclic graph of :class:`~katcp_sync.sensor.Sensor`
objects in which a *parent* depends on its *children* (katcp-python's
``katcp.sensortree``, same names). The tree observes every sensor in it;
when a child is updated, each of its parents is recalculated, and a parent
that changes notifies its own parents in turn. Cycles are not detected (as
in katcp-python): keep the graph acyclic.

* :class:`BooleanSensorTree`: a parent is the logical AND of its children.
* :class:`AggregateSensorTree`: a parent is computed by a rule function,
  ``rule(parent, children)``, which sets the parent's value; rules may be
  added before their children exist (:meth:`AggregateSensorTree.add_delayed`
  and :meth:`AggregateSensorTree.register_sensor`).
* :class:`GenericSensorTree`: the mechanism, for other rules
  (override :meth:`GenericSensorTree.recalculate`).

Threads. Every method may be called from any thread, and children may be
updated from several threads at once. The graph is guarded by a lock that
is never held while user code runs (rules, ``set_value`` and the parent's
observers). Recalculations of one parent never overlap: an update that
arrives while that parent is being recalculated on another thread makes the
running recalculation go round once more, so the parent always ends on a
value computed from its children's latest readings. On a single thread,
``child.set_value(...)`` returns with every ancestor already updated.
"""

from __future__ import absolute_import, division, print_function

import logging
import threading
from typing import Any, Callable, Dict, Iterable, List, Sequence, Set, Tuple, cast

from . import compat
from .observers import ObservedSensor, Reading
from .sensor import Sensor

__all__ = ["GenericSensorTree", "BooleanSensorTree", "AggregateSensorTree"]

logger = logging.getLogger(__name__)

#: ``rule(parent, children)``: sets ``parent``'s value from ``children``.
RuleFunction = Callable[[Sensor, Any], None]


class _Recalculation(object):
    """Per-parent state that keeps recalculations of one parent from overlapping."""

    __slots__ = ("running", "updates")

    def __init__(self):
        # type: () -> None
        self.running = False
        self.updates = []  # type: List[Sensor]


class GenericSensorTree(object):
    """A DAG of sensors; subclasses say how a parent follows its children.

    Every method may be called from any thread; a parent is recalculated on
    the thread that updated a child (see the module's "Threads").
    """

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._child_to_parents = {}  # type: Dict[Sensor, Set[Sensor]]
        self._parent_to_children = {}  # type: Dict[Sensor, Set[Sensor]]
        self._recalculations = {}  # type: Dict[Sensor, _Recalculation]

    # -- the observer interface (called by the sensors, any thread) ------------

    def update(self, sensor, reading):
        # type: (ObservedSensor, Reading) -> None
        """A sensor in the tree was updated: recalculate its parents."""
        child = cast(Sensor, sensor)  # the tree only observes its own Sensors
        with self._lock:
            parents = list(self._child_to_parents.get(child, ()))
        for parent in parents:
            self._recalculate(parent, (child,))

    # -- for subclasses -------------------------------------------------------

    def recalculate(self, parent, updates):
        # type: (Sensor, Sequence[Sensor]) -> None
        """Set ``parent``'s value from its children; override this.

        Called, never concurrently for the same parent and without the
        tree's lock, with a list of the children whose update triggered it (all the
        children just linked or unlinked, after :meth:`add_links` and
        :meth:`remove_links`).
        """
        raise NotImplementedError

    # -- structure ------------------------------------------------------------

    def add_links(self, parent, children):
        # type: (Sensor, Iterable[Sensor]) -> None
        """Make ``parent`` depend on each of ``children``, then recalculate it.

        Sensors new to the tree are added, and observed from now on; links
        that exist already are ignored.
        """
        children = tuple(children)
        new = []
        with self._lock:
            for sensor in (parent,) + children:
                if sensor not in self._parent_to_children:
                    self._parent_to_children[sensor] = set()
                    self._child_to_parents[sensor] = set()
                    new.append(sensor)
            for child in children:
                self._parent_to_children[parent].add(child)
                self._child_to_parents[child].add(parent)
        self._recalculate(parent, children)
        for sensor in new:
            sensor.attach(self)

    def remove_links(self, parent, children):
        # type: (Sensor, Iterable[Sensor]) -> None
        """Remove the links from ``parent`` to ``children``, then recalculate it.

        Sensors left without any link leave the tree and are no longer
        observed; links that do not exist are ignored.
        """
        children = tuple(children)
        gone = []
        with self._lock:
            if parent in self._parent_to_children:
                for child in children:
                    if child not in self._parent_to_children:
                        continue
                    self._parent_to_children[parent].discard(child)
                    self._child_to_parents[child].discard(parent)
                    if self._unlinked(child):
                        gone.append(child)
                if self._unlinked(parent):
                    gone.append(parent)
                for sensor in gone:
                    del self._parent_to_children[sensor]
                    del self._child_to_parents[sensor]
        for sensor in gone:
            sensor.detach(self)
        self._recalculate(parent, children)

    def children(self, parent):
        # type: (Sensor) -> Set[Sensor]
        """The sensors ``parent`` depends on (a copy).

        Raises:
            ValueError: ``parent`` is not in the tree.
        """
        return self._links_of(self._parent_to_children, parent, "Parent")

    def parents(self, child):
        # type: (Sensor) -> Set[Sensor]
        """The sensors that depend on ``child`` (a copy).

        Raises:
            ValueError: ``child`` is not in the tree.
        """
        return self._links_of(self._child_to_parents, child, "Child")

    def __contains__(self, sensor):
        # type: (object) -> bool
        with self._lock:
            return sensor in self._parent_to_children

    # -- internals --------------------------------------------------------------

    def _links_of(self, table, sensor,
                  role):
        # type: (Dict[Sensor, Set[Sensor]], Sensor, str) -> Set[Sensor]
        with self._lock:
            if sensor not in table:
                raise ValueError("%s sensor %r not in tree." % (role, sensor))
            return set(table[sensor])

    def _unlinked(self, sensor):
        # type: (Sensor) -> bool
        return not self._parent_to_children[sensor] and not self._child_to_parents[sensor]

    def _recalculate(self, parent, updates):
        # type: (Sensor, Tuple[Sensor, ...]) -> None
        """Run :meth:`recalculate` for ``parent`` now, or have the thread that
        is running it for ``parent`` go round once more."""
        with self._lock:
            state = self._recalculations.get(parent)
            if state is None:
                state = self._recalculations[parent] = _Recalculation()
            state.updates.extend(updates)
            if state.running:
                return
            state.running = True
        while True:
            with self._lock:
                if not state.updates:
                    # Stop in the same locked step that saw nothing left, so
                    # that an update from another thread is never stranded.
                    state.running = False
                    del self._recalculations[parent]
                    return
                # unique, in order; a list, as katcp-python passed
                batch = list(compat.ordered_dict.fromkeys(state.updates))
                del state.updates[:]
            try:
                self.recalculate(parent, batch)
            except Exception:
                logger.exception("Recalculating sensor %r failed", parent.name)


class BooleanSensorTree(GenericSensorTree):
    """Boolean sensors where each parent is the AND of its children.

    A parent with no children is ``True``. Example::

        tree = BooleanSensorTree()
        tree.add(all_ok, fan_ok)
        tree.add(all_ok, power_ok)
        fan_ok.set_value(False)      # all_ok is now False
    """

    def add(self, parent, child):
        # type: (Sensor, Sensor) -> None
        """Make boolean ``parent`` depend on boolean ``child``.

        Raises:
            ValueError: either sensor is not boolean.
        """
        for sensor, role in ((parent, "Parent"), (child, "Child")):
            if sensor.stype != "boolean":
                raise ValueError("%s sensor %r is not boolean" % (role, sensor))
        self.add_links(parent, (child,))

    def remove(self, parent, child):
        # type: (Sensor, Sensor) -> None
        """Remove the dependency of ``parent`` on ``child``."""
        self.remove_links(parent, (child,))

    def recalculate(self, parent, updates):
        # type: (Sensor, Sequence[Sensor]) -> None
        """Set ``parent`` to the AND of its children's current values."""
        try:
            children = self.children(parent)
        except ValueError:        # left the tree: no children
            children = set()
        parent.set_value(all(child.value() for child in children))


class AggregateSensorTree(GenericSensorTree):
    """Sensors computed by rule functions from other sensors.

    ``rule(parent, children)`` is called with the parent and the tuple of its
    children whenever one of them is updated, and sets the parent's value.
    Example::

        def total(parent, children):
            parent.set_value(sum(child.value() for child in children))

        tree = AggregateSensorTree()
        tree.add(sum_sensor, total, (sensor1, sensor2))
    """

    def __init__(self):
        # type: () -> None
        super(AggregateSensorTree, self).__init__()
        # parent -> (rule, children), and parent -> (rule, missing names,
        # sensors found so far) for rules added before their children.
        self._aggregates = {}  # type: Dict[Sensor, Tuple[RuleFunction, Tuple[Sensor, ...]]]
        self._incomplete = {}  # type: Dict[Sensor, Tuple[RuleFunction, Set[str], Set[Sensor]]]
        self._registered = {}  # type: Dict[str, Sensor]

    def add(self, parent, rule_function,
            children):
        # type: (Sensor, RuleFunction, Iterable[Sensor]) -> None
        """Compute ``parent`` with ``rule_function(parent, children)`` from now on.

        Raises:
            ValueError: ``parent`` already has a rule.
        """
        children = tuple(children)
        with self._lock:
            self._check_new_rule(parent)
            self._aggregates[parent] = (rule_function, children)
        self.add_links(parent, children)

    def add_delayed(self, parent, rule_function,
                    child_names):
        # type: (Sensor, RuleFunction, Iterable[str]) -> None
        """Add a rule whose children are named, and may not exist yet.

        The rule becomes active (as with :meth:`add`) once every named
        sensor has been given to :meth:`register_sensor`.

        Raises:
            ValueError: ``parent`` already has a rule.
        """
        with self._lock:
            self._check_new_rule(parent)
            names = set(child_names)
            found = {self._registered[name] for name in names if name in self._registered}
            missing = {name for name in names if name not in self._registered}
            if missing:
                self._incomplete[parent] = (rule_function, missing, found)
                return
        self.add(parent, rule_function, found)

    def register_sensor(self, child):
        # type: (Sensor) -> None
        """Make ``child`` available to rules added with :meth:`add_delayed`.

        Raises:
            ValueError: a sensor of that name is registered already.
        """
        completed = []
        with self._lock:
            if child.name in self._registered:
                raise ValueError("Sensor %r already registered with aggregate tree" % (child,))
            self._registered[child.name] = child
            for parent, (rule, missing, found) in list(self._incomplete.items()):
                if child.name in missing:
                    missing.discard(child.name)
                    found.add(child)
                    if not missing:
                        del self._incomplete[parent]
                        completed.append((parent, rule, found))
        for parent, rule, found in completed:
            self.add(parent, rule, found)

    def deregister_sensor(self, child):
        # type: (Sensor) -> None
        """Withdraw a registered sensor; rules that use it wait for it again.

        Each parent's rule runs once more over its remaining children first,
        as in katcp-python.

        Raises:
            ValueError: ``child`` is not registered.
        """
        with self._lock:
            if self._registered.get(child.name) is not child:
                raise ValueError("Sensor %r not registered with aggregate tree" % (child,))
            del self._registered[child.name]
            waiting = [parent for parent, (_, _, found) in self._incomplete.items()
                       if child in found]
            for parent in waiting:
                rule, missing, found = self._incomplete[parent]
                found.discard(child)
                missing.add(child.name)
            active = [(parent, rule, children)
                      for parent, (rule, children) in self._aggregates.items()
                      if child in children]
        for parent, rule, children in active:
            remaining = tuple(c for c in children if c is not child)
            with self._lock:
                self._aggregates[parent] = (rule, remaining)
            # as katcp-python: the rule runs once more over the remaining
            # children, then waits for the child to come back
            self.remove_links(parent, (child,))
            self.remove(parent)
            with self._lock:
                self._incomplete[parent] = (rule, {child.name}, set(remaining))

    def remove(self, parent):
        # type: (Sensor) -> None
        """Remove the rule of ``parent`` (the parent keeps its last value).

        Raises:
            ValueError: ``parent`` has no active rule.
        """
        with self._lock:
            if parent not in self._aggregates:
                raise ValueError("Sensor %r does not have an aggregate rule associated"
                                 % (parent,))
            children = self._aggregates.pop(parent)[1]
        self.remove_links(parent, children)

    def fetch(self, parent):
        # type: (Sensor) -> Tuple[RuleFunction, Tuple[Sensor, ...]]
        """Return ``(rule_function, children)`` of ``parent``.

        Raises:
            KeyError: ``parent`` has no active rule.
        """
        with self._lock:
            return self._aggregates[parent]

    def recalculate(self, parent, updates):
        # type: (Sensor, Sequence[Sensor]) -> None
        """Call the parent's rule (nothing once the rule was removed)."""
        with self._lock:
            rule = self._aggregates.get(parent)
        if rule is not None:
            rule[0](parent, rule[1])

    def _check_new_rule(self, parent):
        # type: (Sensor) -> None
        if parent in self._aggregates or parent in self._incomplete:
            raise ValueError("Sensor %r already has an aggregate rule associated" % (parent,))

