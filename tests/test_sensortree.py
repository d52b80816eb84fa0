"""Sensor trees (katcp-python's katcp.sensortree names), in memory."""

from __future__ import absolute_import, division, print_function


import threading

import pytest

from katcp_sync import AggregateSensorTree, BooleanSensorTree, GenericSensorTree, Sensor

from ordering_support import Gate, StoreOrderSensor, hammer, late_notification


def boolean(name, value=False):
    return Sensor(Sensor.BOOLEAN, name, default=value, initial_status=Sensor.NOMINAL)


def integer(name, value=0):
    return Sensor(Sensor.INTEGER, name, params=[-10**9, 10**9], default=value,
                  initial_status=Sensor.NOMINAL)


def total(parent, children):
    parent.set_value(sum(child.value() for child in children))


# -- BooleanSensorTree ----------------------------------------------------------

def test_boolean_parent_is_the_and_of_its_children():
    tree = BooleanSensorTree()
    parent, fan, power = boolean("all-ok"), boolean("fan-ok", True), boolean("power-ok", True)
    tree.add(parent, fan)
    assert parent.value() is True
    tree.add(parent, power)
    fan.set_value(False)
    assert parent.value() is False
    fan.set_value(True)
    assert parent.value() is True
    assert tree.children(parent) == {fan, power} and tree.parents(fan) == {parent}
    tree.remove(parent, power)
    power.set_value(False)                 # no longer a child
    assert parent.value() is True
    assert power not in tree and fan in tree


def test_boolean_tree_chains_and_leaves_no_observer_behind():
    tree = BooleanSensorTree()
    top, middle, leaf = boolean("top"), boolean("middle"), boolean("leaf", True)
    tree.add(top, middle)
    tree.add(middle, leaf)
    assert (top.value(), middle.value()) == (True, True)
    leaf.set_value(False)
    assert (top.value(), middle.value()) == (False, False)
    tree.remove(middle, leaf)
    tree.remove(top, middle)
    assert top.value() is True             # no children left
    for sensor in (top, middle, leaf):
        assert sensor not in tree and tree not in sensor.observers()


def test_boolean_tree_refuses_other_types():
    tree = BooleanSensorTree()
    with pytest.raises(ValueError, match="not boolean"):
        tree.add(boolean("parent"), integer("number"))
    with pytest.raises(ValueError, match="not in tree"):
        tree.children(boolean("stranger"))


# -- AggregateSensorTree ----------------------------------------------------------

def test_aggregate_rule_follows_its_children():
    tree = AggregateSensorTree()
    first, second, agg = integer("first"), integer("second"), integer("sum")
    tree.add(agg, total, (first, second))
    first.set_value(1)
    second.set_value(2)
    assert agg.value() == 3
    assert tree.fetch(agg) == (total, (first, second))
    with pytest.raises(ValueError, match="already has an aggregate rule"):
        tree.add(agg, total, (first,))
    tree.remove(agg)
    first.set_value(100)
    assert agg.value() == 3                # the rule is gone; the value stays
    with pytest.raises(ValueError):
        tree.remove(agg)


def test_aggregate_added_before_its_children_exist():
    tree = AggregateSensorTree()
    agg = integer("sum")
    tree.add_delayed(agg, total, ("first", "second"))
    first = integer("first", 5)
    tree.register_sensor(first)
    assert agg.value() == 0                # still waiting for "second"
    second = integer("second", 3)
    tree.register_sensor(second)
    assert agg.value() == 8
    with pytest.raises(ValueError, match="already registered"):
        tree.register_sensor(integer("second"))
    # Withdrawn: the rule runs once over the remaining children (as in
    # katcp-python), then waits for a "second" again.
    tree.deregister_sensor(second)
    assert agg.value() == 5
    second.set_value(1000)
    first.set_value(6)
    assert agg.value() == 5
    replacement = integer("second", 10)
    tree.register_sensor(replacement)
    assert agg.value() == 16


def test_a_failing_rule_is_logged_and_the_tree_keeps_working(caplog):
    tree = AggregateSensorTree()
    child, agg = integer("child"), integer("agg")

    def picky(parent, children):
        value = children[0].value()
        if value < 0:
            raise ValueError("negative")
        parent.set_value(value)
    tree.add(agg, picky, (child,))
    child.set_value(-1)
    assert "Recalculating sensor 'agg' failed" in caplog.text
    child.set_value(7)
    assert agg.value() == 7


def test_generic_tree_needs_a_recalculate():
    with pytest.raises(NotImplementedError):
        GenericSensorTree().recalculate(integer("x"), ())


def test_updates_from_many_threads_end_on_the_latest_children():
    """Recalculations of one parent never overlap, and none is lost: after
    every thread is done the parent equals the sum of the children's values."""
    tree = AggregateSensorTree()
    children = [integer("c%d" % i) for i in range(8)]
    agg = integer("sum")
    calls = {"running": 0, "overlap": False}
    lock = threading.Lock()

    def checked_total(parent, kids):
        with lock:
            calls["running"] += 1
            calls["overlap"] |= calls["running"] > 1
        total(parent, kids)
        with lock:
            calls["running"] -= 1
    tree.add(agg, checked_total, children)

    def worker(child):
        for value in range(1, 301):
            child.set_value(value)
    threads = [threading.Thread(target=worker, args=(child,)) for child in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not calls["overlap"]
    assert agg.value() == 300 * len(children)


def test_an_update_during_a_recalculation_waits_for_it_then_is_applied():
    tree = AggregateSensorTree()
    first, second, agg = integer("first"), integer("second"), integer("sum")
    entered, go = threading.Event(), threading.Event()
    running = []

    def slow_total(parent, children):
        running.append(threading.current_thread().name)
        if running.count("A") == 1 and running[-1] == "A":   # A's first recalculation
            entered.set()
            assert go.wait(10)
        total(parent, children)
        running.append("done")
    tree.add(agg, slow_total, (first, second))          # call 1, on this thread
    a = threading.Thread(target=first.set_value, args=(1,), name="A")
    a.start()
    assert entered.wait(10)                              # A is inside the rule
    b = threading.Thread(target=second.set_value, args=(2,), name="B")
    b.start()
    b.join(10)                                           # B returns at once...
    assert not b.is_alive() and running[-1] == "A"       # ...without running the rule
    go.set()
    a.join(10)
    assert agg.value() == 3                              # A went round once more
    assert running[2:] == ["A", "done", "A", "done"]      # never B


def test_parent_follows_one_child_set_by_many_threads_in_order():
    """Issue #11: eight threads set one child; a writer may also be held up
    between its store and its notification. The parent's readings follow the
    order the child stored its values, and it ends on the final one."""
    tree = AggregateSensorTree()
    child = StoreOrderSensor(Sensor.INTEGER, "child", default=-10, initial_status=Sensor.NOMINAL)
    gate = Gate(-1)
    child.attach(gate)                  # before the tree: holds up a writer of -1
    parent = integer("parent")
    seen = []

    class Record(object):
        def update(self, sensor, reading):
            seen.append(reading.value)

    tree.add(parent, lambda p, kids: p.set_value(kids[0].value()), (child,))
    parent.attach(Record())
    late_notification(child, gate, -2)
    assert parent.value() == -2
    hammer(child.set_value)
    assert parent.value() == child.value() and seen[-1] == child.value()
    positions = child.positions(seen)
    assert positions == sorted(positions)


def test_generic_tree_passes_the_updated_children_as_a_list():
    """katcp-python's recalculate got a list; overrides may rely on it."""
    calls = []

    class Recording(GenericSensorTree):
        def recalculate(self, parent, updates):
            calls.append(updates)

    tree = Recording()
    parent, child = integer("parent"), integer("child")
    tree.add_links(parent, [child])
    child.set_value(2)
    assert calls == [[child], [child]]
