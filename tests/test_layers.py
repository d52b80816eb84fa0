"""The package's shape (docs/internals.rst): layers, no import cycles, small modules.

Every module of katcp_sync has a layer below; a module may import only
from its own layer or a lower one, and the import graph has no cycle. A new
module must be given its layer here -- which is the point: the layering is
decided, not discovered. Imports under ``if TYPE_CHECKING:`` (annotations
only) do not count.
"""

from __future__ import absolute_import, division, print_function


import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "katcp_sync"

#: Longest module, in lines (the architecture issue said "about 600").
MAX_LINES = 680  # 650 of Python 3 code; keyword-only emulation adds lines

#: Layer of each module (name inside katcp_sync); a subpackage's modules
#: take the layer of the subpackage unless listed themselves.
LAYERS = {
    # L0: no katcp_sync imports but these.
    "errors": 0, "version": 0, "deadline": 0, "futures": 0, "linebuffer": 0,
    "regex_guard": 0, "compat": 0, "lifecycle": 0, "formatting": 0, "backoff": 0,
    # L1: the sans-IO core.
    "message": 1, "escaping": 1, "protocol": 1, "strategies": 1, "argtypes": 1,
    "arguments": 1, "observers": 1, "sensor": 1, "sampling_params": 1, "sampling": 1,
    "scheduler": 1, "sensortree": 1, "events": 1,
    # L1.5: handler decorators and katcp-python's faces over the core.
    "handlers": 1.5, "annotated": 1.5, "_annotated": 1.5, "kattypes": 1.5, "metaclass": 1.5, "logger": 1.5,
    # L2: I/O.
    "reactor": 2, "tcp": 2, "borrow": 2, "read_limits": 2, "connection_writes": 2, "connection": 2, "workers": 2,
    # L3: server and client.
    "server": 3, "server_connection": 3, "server_dispatch": 3, "server_readahead": 3, "server_handlers": 3,
    "server_lifecycle": 3, "server_replies": 3, "server_request": 3, "server_requests": 3,
    "server_sampling": 3, "server_sensors": 3, "server_services": 3, "server_turn": 3,
    "client": 3, "client_base": 3, "client_dispatch": 3, "client_requests": 3,
    # L4: built on servers and clients.
    "inspecting_client": 4, "resource": 4, "resource_base": 4, "resource_client": 4,
    "resource_container": 4, "resource_sampling": 4, "resource_spec": 4,
    "resource_types": 4, "sensor_watcher": 4, "testing": 4, "testutils": 4,
    "testfixtures": 4, "fake_clients": 4, "ioloop_manager": 4, "core": 4,
    # L5: tools.
    "display": 5, "cli": 5, "web": 5, "__main__": 5,
    # The package face imports from everywhere and is imported by no module.
    "": 9,
}


def _modules():
    """{dotted name inside the package ("" for the package): (path, its package)}."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = (path, name if is_package else name.rpartition(".")[0])
    return modules


def _graph():
    """{module: the package modules it imports}, at any depth of the code
    (inside functions too), except under ``if TYPE_CHECKING:``; and the
    modules that import the package by absolute name."""
    modules = _modules()
    graph = {}
    absolute = set()
    for name, (path, home) in modules.items():
        deps = set()
        todo = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                todo.extend(node.orelse)
                continue
            if isinstance(node, ast.ImportFrom):
                if not node.level and (node.module or "").startswith("katcp_sync"):
                    absolute.add(name)
                parts = home.split(".") if home else []
                base = parts[:len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [".".join(filter(None, [target, alias.name])) for alias in node.names]
                submodules = [n for n in names if n in modules]
                deps.update(submodules)
                if target in modules and len(submodules) < len(names):
                    deps.add(target)   # names taken from the module itself
            elif isinstance(node, ast.Import):
                if any(alias.name.startswith("katcp_sync") for alias in node.names):
                    absolute.add(name)
            todo.extend(ast.iter_child_nodes(node))
        deps.discard(name)
        graph[name] = deps
    return graph, absolute


def _layer(name):
    while True:
        if name in LAYERS:
            return LAYERS[name]
        if not name:
            return None
        name = name.rpartition(".")[0]


MODULES = _modules()
GRAPH, ABSOLUTE = _graph()


def test_one_import_style():
    """Inside the package, package modules are imported relatively."""
    assert not ABSOLUTE, "absolute katcp_sync imports in: %s" % sorted(ABSOLUTE)


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if _layer(m) is None)
    assert not missing, "give these modules a layer in tests/test_layers.py: %s" % missing


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_go_down(name):
    mine = _layer(name)
    upward = sorted(m for m in GRAPH[name] if _layer(m) is not None and _layer(m) > mine)
    assert not upward, "%s (layer %s) imports from higher layers: %s" % (name, mine, upward)


def test_no_import_cycles():
    """No module imports, directly or not, one that imports it back (the
    command line tool's modules and the web view used to)."""
    assert {"cli", "cli.common", "web.view"} <= set(GRAPH)
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: %s"
                                     % " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    # A signature's type comment (Python 2 syntax) is part of the def, not a line of its own.
    lines = sum(1 for line in MODULES[name][0].read_text(encoding="utf-8").splitlines()
                if not line.lstrip().startswith(("# type: (", "from __future__ ")))
    assert lines <= MAX_LINES, "%s has %d lines (at most %d): split it by job" % (
        name, lines, MAX_LINES)
