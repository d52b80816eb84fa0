"""Locate or create the katcp-python 0.9.3 side environment for interop tests.

katcp-python 0.9.3 runs on tornado 4, which needs an old Python, so its
interop tests run helper scripts (``tests/interop_kp/``) in a separate
virtual environment made with ``python3.9``. The environment is created once
and cached outside the repository, in ``$KATCP_SYNC_KP_VENV`` if set, else
``~/.cache/katcp_sync/kp39`` (or ``<tempdir>/katcp_sync-kp39`` when the home
directory is not writable). Creating it takes about 30 seconds and needs PyPI.
Set ``KATCP_SYNC_NO_SIDE_ENV=1`` to neither create nor use it: the tests
that need katcp-python are then skipped.

:func:`kp_python` returns the environment's interpreter or raises
:class:`SideEnvUnavailable` with a reason the tests turn into a skip.
"""

from __future__ import absolute_import, division, print_function

from katcp_sync import compat

import os
import shutil
import subprocess
import sys
import tempfile
import threading

from proc_support import TimeoutExpired, run

KP_REQUIREMENTS = ("katcp==0.9.3", "tornado<5")
_PYENV_39 = "/root/.pyenv/versions/3.9.18/bin/python"
_PROBE = "import katcp, sys; sys.exit(katcp.__version__ != '0.9.3')"
_SETUP_TIMEOUT = 600.0
#: Environment variable: set (not "0") to skip the side environment.
NO_SIDE_ENV = "KATCP_SYNC_NO_SIDE_ENV"

_lock = threading.Lock()
_cached = {}  # type: "dict"


class SideEnvUnavailable(Exception):
    """The katcp-python environment cannot be used here; ``str()`` says why."""


def _venv_dir():
    # type: () -> str
    configured = os.environ.get("KATCP_SYNC_KP_VENV")
    if configured:
        return configured
    cache = os.path.join(os.path.expanduser("~"), ".cache", "katcp_sync")
    try:
        if not os.path.isdir(cache):
            os.makedirs(cache)
        if os.access(cache, os.W_OK):
            return os.path.join(cache, "kp39")
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), "katcp_sync-kp39")


def _which(name):
    # type: (str) -> "str | None"
    which = getattr(shutil, "which", None)
    if which is None:   # Python 2
        from distutils.spawn import find_executable as which
    return which(name)


#: What a failed child process raises here.
_RUN_ERRORS = (OSError, TimeoutExpired, subprocess.CalledProcessError)


def _find_python39():
    # type: () -> "str | None"
    for candidate in (_which("python3.9"), _PYENV_39):
        if not candidate:
            continue
        try:
            run([candidate, "-c", "import venv, ensurepip"], check=True, timeout=60)
        except _RUN_ERRORS:
            continue
        return candidate
    return None


def _venv_python(venv):
    # type: (str) -> str
    return os.path.join(venv, "bin", "python")


def _ready(python):
    # type: (str) -> bool
    if not os.path.exists(python):
        return False
    try:
        probe = run([python, "-c", _PROBE], timeout=120)
    except _RUN_ERRORS:
        return False
    return probe.returncode == 0


def _create(venv):
    # type: (str) -> str
    python39 = _find_python39()
    if python39 is None:
        raise SideEnvUnavailable("python3.9 not found (katcp-python 0.9.3 needs it)")
    print("creating %s with %s (once)" % (venv, " ".join(KP_REQUIREMENTS)), file=sys.stderr)
    steps = [
        [python39, "-m", "venv", "--clear", venv],
        [_venv_python(venv), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check"] + list(KP_REQUIREMENTS),
    ]
    for step in steps:
        try:
            done = run(step, timeout=_SETUP_TIMEOUT)
        except _RUN_ERRORS as exc:
            raise compat.chained(SideEnvUnavailable("%s failed: %s" % (" ".join(step[:4]), exc)), None)
        if done.returncode != 0:
            raise SideEnvUnavailable("%s failed (exit %d): %s" % (
                " ".join(step[:4]), done.returncode, done.stderr.strip()[-500:]))
    python = _venv_python(venv)
    if not _ready(python):
        raise SideEnvUnavailable("katcp 0.9.3 not importable in %s after install" % venv)
    return python


def kp_python():
    # type: () -> str
    """Return the path of a Python interpreter that imports katcp 0.9.3.

    The first call may create the environment (about 30 s); the outcome,
    success or failure, is remembered for the rest of the process.

    Raises:
        SideEnvUnavailable: ``KATCP_SYNC_NO_SIDE_ENV`` is set, no python3.9,
            or creating the environment failed.
    """
    with _lock:
        if "python" not in _cached:
            venv = _venv_dir()
            try:
                if os.environ.get(NO_SIDE_ENV, "") not in ("", "0"):
                    raise SideEnvUnavailable("%s is set: katcp-python side environment "
                                             "not used" % NO_SIDE_ENV)
                python = _venv_python(venv)
                _cached["python"] = python if _ready(python) else _create(venv)
            except SideEnvUnavailable as exc:
                _cached["python"] = exc
        result = _cached["python"]
    if isinstance(result, SideEnvUnavailable):
        raise result
    return result


#: What katcp-python's own tests and testutils import besides the side
#: environment's packages (``mock``), plus katcp_sync's dependencies (``wrapt``, ``six``).
KP_TEST_DEPS = ("mock>=3", "wrapt>=1.14.1", "six>=1.12")


def kp_pip(python, *args):
    # type: (str, *str) -> None
    """Run ``python -m pip args...`` quietly.

    Raises:
        SideEnvUnavailable: pip failed or could not run (e.g. no registry).
    """
    cmd = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"] + list(args)
    try:
        done = run(cmd, timeout=_SETUP_TIMEOUT)
    except _RUN_ERRORS as exc:
        raise compat.chained(SideEnvUnavailable("pip %s: %s" % (args[0], exc)), None)
    if done.returncode != 0:
        raise SideEnvUnavailable("pip %s failed: %s" % (args[0], done.stderr.strip()[-400:]))


def kp_test_deps(python):
    # type: (str) -> str
    """Return a directory holding :data:`KP_TEST_DEPS` for the side environment.

    Installed there once (``pip install --target``), next to the environment.

    Raises:
        SideEnvUnavailable: they cannot be installed.
    """
    with _lock:
        deps = os.path.join(os.path.dirname(_venv_dir()), "kp-suite-deps")
        env = dict(os.environ, PYTHONPATH=deps)
        probe = run([python, "-c", "import mock, wrapt, six"], env=env, timeout=120)
        if probe.returncode != 0:
            kp_pip(python, *(["install", "--target", deps] + list(KP_TEST_DEPS)))
        return deps


if __name__ == "__main__":
    print(kp_python())
