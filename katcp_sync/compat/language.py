"""The language and its standard library across Pythons.

``PY2``; keyword-only parameters (``kwonly_pop``/``kwonly_done``) and
``raise X from Y`` (``chained``) in Python 2 syntax; typing's ``Protocol``,
``get_origin`` and ``get_args``; handler signatures
(``positional_parameters``, ``function_of``); dict order, rounding and
``isfinite``; ``SimpleNamespace``; the standard modules that moved or
were backported (``selectors``, ``queue``, ``collections_abc``); and names
imported when first used (``lazy_names``, where ``MODULE_GETATTR``).
"""
from __future__ import absolute_import, division, print_function

import collections
import importlib
import math
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type  # noqa: F401

import six

PY2 = six.PY2

try:
    import selectors  # noqa: F401
except ImportError:  # Python 2: the PyPI backport of the 3.4 stdlib module (PSF licence)
    import selectors34 as selectors  # type: ignore  # noqa: F401

if PY2:
    import collections as collections_abc  # type: ignore  # noqa: F401
else:
    import collections.abc as collections_abc  # noqa: F401

queue = six.moves.queue

#: A module may define ``__getattr__`` for the names it lacks (PEP 562, 3.7+).
MODULE_GETATTR = sys.version_info >= (3, 7)


def lazy_names(module_name, package, names):
    # type: (str, Optional[str], Dict[str, str]) -> Callable[[str], Any]
    """A module ``__getattr__`` (PEP 562) that imports a name's module when
    the name is first used, for names whose module is slow to import.

    Args:
        module_name: the module that assigns the result to its ``__getattr__``.
        package: the package the relative module names are in (``__package__``).
        names: ``{name: module}``, e.g. ``{"ThreadingHTTPServer": ".http_server"}``;
            a name that is its module's own (``{"resource": ".resource"}``)
            gives the module.

    Returns:
        the ``__getattr__`` function; it keeps each name it loads in the
        module, so it runs once per name, and raises AttributeError for
        other names. Any thread (the import lock serialises the import).
    """
    def __getattr__(name):
        # type: (str) -> Any
        try:
            module = names[name]
        except KeyError:
            raise AttributeError("module %r has no attribute %r" % (module_name, name))
        loaded = importlib.import_module(module, package)
        value = loaded if module.rpartition(".")[2] == name else getattr(loaded, name)
        setattr(sys.modules[module_name], name, value)
        return value
    return __getattr__


# ------------------------------------------------------------------ exceptions and arguments
def chained(exc, cause):
    # type: (BaseException, Optional[BaseException]) -> BaseException
    """``raise chained(X, Y)`` is ``raise X from Y`` (3.x); 2.7 keeps no chain."""
    exc.__cause__ = cause
    exc.__suppress_context__ = True
    return exc


class _Required(object):
    def __repr__(self):
        # type: () -> str
        return "<required>"


REQUIRED = _Required()  # type: Any


def kwonly_pop(kwargs, name, default):
    # type: (Dict[str, Any], str, Any) -> Any
    """Pop keyword-only argument ``name`` (``def f(*args, name=default)`` on 3.x)."""
    try:
        return kwargs.pop(name)
    except KeyError:
        if default is REQUIRED:
            raise TypeError("missing required keyword-only argument %r" % (name,))
        return default


def kwonly_done(func_name, kwargs):
    # type: (str, Dict[str, Any]) -> None
    """Raise the TypeError 3.x raises for an unexpected keyword argument."""
    if kwargs:
        raise TypeError("%s() got an unexpected keyword argument %r"
                        % (func_name, sorted(kwargs)[0]))


# ------------------------------------------------------------------ typing
if TYPE_CHECKING or sys.version_info >= (3, 8):
    from typing import Protocol
else:
    class Protocol(object):
        """Stand-in for ``typing.Protocol`` (3.8+): structural types are for
        the type checker, which runs on a newer Python."""


def get_origin(tp):
    # type: (Any) -> Any
    """typing.get_origin for 3.6-3.7 too (annotated.py)."""
    import typing
    if hasattr(typing, "get_origin"):
        return typing.get_origin(tp)
    origin = getattr(tp, "__origin__", None)
    return {typing.Tuple: tuple, typing.List: list, typing.Dict: dict}.get(origin, origin)


def get_args(tp):
    # type: (Any) -> Tuple[Any, ...]
    """typing.get_args for 3.6-3.7 too (annotated.py)."""
    import typing
    if hasattr(typing, "get_args"):
        return typing.get_args(tp)
    return tuple(getattr(tp, "__args__", None) or ())


# ------------------------------------------------------------------ functions and methods
def positional_parameters(func):
    # type: (Callable[..., Any]) -> List[str]
    """Names of ``func``'s positional parameters, then its ``*args`` name if any.

    As ``inspect.signature`` sees them: wrappers are followed through
    ``__wrapped__`` (wrapt, functools.wraps) and a bound method has no ``self``.
    """
    return [name for name, _ in _positional_defaults(func)]


#: :func:`parameter_default` of a parameter that has no default.
NO_DEFAULT = object()


def parameter_default(func, name):
    # type: (Callable[..., Any], str) -> Optional[Tuple[int, Any]]
    """``(position, default)`` of ``func``'s positional parameter ``name``
    (counted as :func:`positional_parameters` does; the default is
    :data:`NO_DEFAULT` if it has none), or None if ``func`` has no such
    positional parameter."""
    for position, (param, default) in enumerate(_positional_defaults(func)):
        if param == name:
            return position, default
    return None


def _positional_defaults(func):
    # type: (Callable[..., Any]) -> List[Tuple[str, Any]]
    import inspect
    if hasattr(inspect, "signature"):
        params = []
        for param in inspect.signature(func).parameters.values():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                params.append((param.name, NO_DEFAULT if param.default is param.empty
                               else param.default))
            elif param.kind is param.VAR_POSITIONAL:
                params.append((param.name, NO_DEFAULT))
                break
            else:
                break
        return params
    # Python 2: getargspec, on the innermost wrapped function
    bound = False
    while True:
        if inspect.ismethod(func):
            bound = bound or func.__self__ is not None
            func = func.__func__
        elif hasattr(func, "__wrapped__"):
            func = func.__wrapped__  # type: ignore[attr-defined]
        else:
            break
    spec = inspect.getargspec(func)  # type: ignore[attr-defined]
    defaults = list(spec.defaults or ())
    params = [(arg, NO_DEFAULT) for arg in spec.args[:len(spec.args) - len(defaults)]]
    params.extend(zip(spec.args[len(spec.args) - len(defaults):], defaults))
    if bound:
        del params[:1]
    if spec.varargs:
        params.append((spec.varargs, NO_DEFAULT))
    return params


def function_of(method):
    # type: (Any) -> Any
    """The plain function behind a method looked up on a class.

    Python 2 makes a new unbound method at every class attribute access, so
    ``Sub.meth is Base.meth`` is always False there; compare
    ``function_of(Sub.meth) is function_of(Base.meth)`` instead.
    """
    return getattr(method, "__func__", method)


# ------------------------------------------------------------------ values
#: A dict that keeps insertion order (dict itself from 3.6 on, CPython).
ordered_dict = collections.OrderedDict if PY2 else dict  # type: Type[Dict[Any, Any]]

if PY2:
    def round_int(value):
        # type: (float) -> int
        """``round(value)`` as Python 3 does it: an int, ties to even
        (Python 2's round returns a float and rounds ties away from zero)."""
        floor = math.floor(value)
        diff = value - floor
        result = int(floor)
        if diff > 0.5 or (diff == 0.5 and result % 2):
            result += 1
        return result
else:
    round_int = round  # type: ignore[assignment]

try:
    from math import isfinite
except ImportError:  # Python 2
    def isfinite(number):  # type: ignore[misc]
        # type: (float) -> bool
        """math.isfinite (3.2+): neither infinite nor NaN."""
        return not (math.isinf(number) or math.isnan(number))

try:
    from types import SimpleNamespace  # noqa: F401
except ImportError:  # Python 2
    class SimpleNamespace(object):  # type: ignore[no-redef]
        """Python 3's types.SimpleNamespace: attributes from keyword arguments."""

        def __init__(self, **kwargs):
            # type: (**Any) -> None
            self.__dict__.update(kwargs)
