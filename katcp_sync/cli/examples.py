"""The example scripts (``examples/*.py``) for ``katcp-sync serve`` and ``demo``.

Found in the source checkout or where a wheel installs them as data files
(``share/katcp_sync/examples``), and run as new modules without writing
bytecode next to them.
"""

from __future__ import absolute_import, division, print_function

import os
import site
import sys
import sysconfig
import types
from typing import List, Optional

from .. import compat
from .common import EXIT_CONNECTION, die

__all__ = ["example_paths", "load_example", "example_server_class"]

#: The example scripts of a source checkout (the package's sibling directory).
SOURCE_EXAMPLES_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))), "examples")
#: Where the example scripts are installed, relative to a prefix, for when
#: the package is not run from a source checkout (``[options.data_files]``).
EXAMPLES_DATA_DIR = os.path.join("share", "katcp_sync", "examples")
#: Every module :func:`load_example` made. Python 2 sets a module's globals to
#: None when the module object is freed, which would break the classes and
#: functions taken from it (``load_example(name).MyServer``); a few small
#: modules per process are kept instead.
_LOADED = []  # type: List[types.ModuleType]


def example_paths(name):
    # type: (str) -> List[str]
    """Where ``examples/<name>.py`` may be, best first.

    The source checkout (``<repo>/examples``, next to this package) comes
    first, then the copies installed as data files under
    ``share/katcp_sync/examples`` of ``sys.prefix``, the ``data`` path of the
    running interpreter's install scheme and the user base (``pip install
    --user``).
    """
    filename = name + ".py"
    prefixes = [sys.prefix, sysconfig.get_path("data"), getattr(site, "USER_BASE", None)]
    paths = [os.path.join(SOURCE_EXAMPLES_DIR, filename)]
    for prefix in prefixes:
        if prefix:
            path = os.path.join(prefix, EXAMPLES_DATA_DIR, filename)
            if path not in paths:
                paths.append(path)
    return paths


def load_example(name):
    # type: (str) -> types.ModuleType
    """Run the example script ``examples/<name>.py`` as a new module.

    No bytecode is cached next to the script (it may be in an installed,
    read-only ``share/`` folder).

    Raises:
        FileNotFoundError: no copy of it found (see :func:`example_paths`).
    """
    for path in example_paths(name):
        if os.path.isfile(path):
            # Compiled here rather than imported: an import would write a
            # __pycache__ into the installed share/ folder (issue 15).
            with open(path, "rb") as source:
                code = compile(source.read(), path, "exec", dont_inherit=True)
            module = types.ModuleType("katcp_sync_example_" + name)
            module.__file__ = path
            exec(code, module.__dict__)
            _LOADED.append(module)
            return module
    raise compat.FileNotFoundError("example %s.py not found in %s" % (
        name, ", ".join(os.path.dirname(p) for p in example_paths(name))))


def example_server_class(allow_eval=False, module=None):
    # type: (bool, Optional[types.ModuleType]) -> type
    """Return ``MyServer`` from the tutorial's example server script.

    Args:
        allow_eval: keep the example's ``?eval``, which runs any client's
            Python expression; by default it is left out (a subclass
            without it).
        module: the loaded example module (default: load it).
    """
    try:
        server_class = (module or load_example("tutorial_server")).MyServer
    except compat.FileNotFoundError as exc:
        die(EXIT_CONNECTION, str(exc))
    if allow_eval:
        return server_class
    # A request attribute that is not callable is no handler (server.py).
    return type(server_class.__name__, (server_class,), {"request_eval": None})
