"""Reach the libraries we compare against, without making them dependencies.

* aiokatcp (and its compiled ``katcp_codec``) is imported from the running
  Python when installed: :func:`import_optional`.
* katcp-python 0.9.3 only runs on old Pythons (tornado 4), so it lives in a
  cached virtual environment made with ``python3.9`` on first use (shared
  with the interop tests: see ``tests/_sideenv.py``). :func:`run_katcp_python` runs a snippet there and returns the
  JSON it prints.
* Python 2.7: :func:`py27_env` returns the interpreter of a cached
  virtualenv made from pyenv's 2.7.18 on first use, either with katcp 0.9.3
  (``"kp27"``) or with katcp_sync's Python 2 dependencies (``"sync27"``,
  katcp_sync itself coming from ``PYTHONPATH``).

Every failure becomes a :class:`Skipped` carrying the reason, so a bench can
print ``skipped: <reason>`` for that column instead of failing.
"""

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import _sideenv  # noqa: E402  (tests/_sideenv.py: the one katcp-python venv)


#: Set by ``run.py --against``: every peer is skipped, only katcp_sync is measured.
ONLY_OURS_ENV = "KATCP_SYNC_BENCH_ONLY_OURS"


class Skipped(Exception):
    """A comparison cannot run here; ``str(exc)`` says why."""


def import_optional(name: str) -> Any:
    """Import module ``name`` or raise :class:`Skipped`."""
    if os.environ.get(ONLY_OURS_ENV):
        raise Skipped("left out of an A/B run (--against)")
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install
        raise Skipped("%s not importable: %s" % (name, exc)) from None


class AiokatcpClient:
    """aiokatcp's ``Client`` on a private asyncio loop, driven from the calling thread.

    ``run(coro)`` runs a coroutine on that loop to completion; ``client`` is
    the connected ``aiokatcp.Client``; ``close()`` closes both.

    Raises:
        Skipped: aiokatcp is not importable.
    """

    def __init__(self, port: int, **kwargs: Any) -> None:
        aiokatcp = import_optional("aiokatcp")
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(
            aiokatcp.Client.connect("127.0.0.1", port, **kwargs))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.client.close()
        self.loop.run_until_complete(self.client.wait_closed())
        self.loop.close()


def end_process(proc: "subprocess.Popen[Any]", timeout: float = 30) -> None:
    """Close a helper process's stdin (its signal to finish) and reap it,
    killing it if it has not ended within ``timeout`` seconds."""
    proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def katcp_python_env() -> str:
    """Return the path of a Python with katcp 0.9.3, creating the venv if needed.

    The environment is the one the interop tests use (``tests/_sideenv.py``),
    so benches and tests share one cached install.

    Raises:
        Skipped: no python3.9, or the venv or the install failed.
    """
    if os.environ.get(ONLY_OURS_ENV):
        raise Skipped("left out of an A/B run (--against)")
    try:
        return _sideenv.kp_python()
    except _sideenv.SideEnvUnavailable as exc:
        raise Skipped(str(exc)) from None


def run_katcp_python(snippet: str, args: Optional[List[str]] = None, timeout: float = 600) -> Any:
    """Run ``snippet`` with katcp 0.9.3 and return the JSON it printed last.

    The snippet must ``print(json.dumps(...))`` as its last line of output;
    ``args`` become its ``sys.argv[1:]``.

    Raises:
        Skipped: the environment is unavailable or the snippet failed.
    """
    python = katcp_python_env()
    try:
        done = subprocess.run([python, "-c", textwrap.dedent(snippet)] + list(args or []),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Skipped("katcp-python snippet timed out after %ss" % timeout) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise Skipped("katcp-python snippet failed: %s" % " ".join(tail))
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        raise Skipped("katcp-python snippet printed nothing")
    return json.loads(lines[-1])


# -- Python 2.7 side environments ------------------------------------------------------------

#: What each Python 2.7 environment holds: katcp-python 0.9.3 (tornado 4), or
#: katcp_sync's Python 2 dependencies (setup.cfg's ``python_version < "3"``
#: backports; katcp_sync itself is imported from the tree via ``PYTHONPATH``).
PY27_ENVS: Dict[str, Tuple[str, ...]] = {
    "kp27": ("katcp==0.9.3", "tornado<5"),
    "sync27": ("six", "wrapt", "futures", "selectors34", "typing"),
}
#: What proves an environment is ready.
_PY27_PROBES = {
    "kp27": "import katcp, sys; sys.exit(katcp.__version__ != '0.9.3')",
    "sync27": "import six, wrapt, concurrent.futures, selectors34, typing",
}
#: Where Python 2.7 is looked for: ``$KATCP_SYNC_PY27``, pyenv's, then PATH.
_PY27_CANDIDATES = (os.environ.get("KATCP_SYNC_PY27"),
                    os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python"),
                    shutil.which("python2.7"))
#: virtualenv 20.21 is the last that creates Python 2.7 environments.
_VIRTUALENV = "virtualenv>=20,<20.22"
_SETUP_TIMEOUT = 600
_py27_lock = threading.Lock()
_py27_cached: Dict[str, Any] = {}


def _cache_dir() -> str:
    cache = os.path.join(os.path.expanduser("~"), ".cache", "katcp_sync")
    os.makedirs(cache, exist_ok=True)
    return cache


def _setup_step(argv: List[str], env: Optional[Dict[str, str]] = None) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env,
                              timeout=_SETUP_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Skipped("%s failed: %s" % (" ".join(argv[:4]), exc)) from None
    if done.returncode != 0:
        raise Skipped("%s failed (exit %d): %s" % (" ".join(argv[:4]), done.returncode,
                                                   done.stderr.strip()[-300:]))


def _probe(python: str, code: str) -> bool:
    try:
        return subprocess.run([python, "-c", code], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _create_py27(venv: str, requirements: Tuple[str, ...]) -> None:
    python27 = next((c for c in _PY27_CANDIDATES if c and _probe(
        c, "import sys; sys.exit(sys.version_info[:2] != (2, 7))")), None)
    if python27 is None:
        raise Skipped("no Python 2.7 (pyenv 2.7.18, python2.7 or $KATCP_SYNC_PY27)")
    tool = os.path.join(_cache_dir(), "virtualenv")  # virtualenv for this Python 3
    tool_env = dict(os.environ, PYTHONPATH=tool)
    if not _probe(sys.executable, "import sys; sys.path.insert(0, %r); import virtualenv"
                  % tool):
        _setup_step([sys.executable, "-m", "pip", "install", "--quiet",
                     "--disable-pip-version-check", "--target", tool, _VIRTUALENV])
    print("creating %s with %s (once)" % (venv, " ".join(requirements)), file=sys.stderr)
    _setup_step([sys.executable, "-m", "virtualenv", "--quiet", "--clear", "-p", python27, venv],
                env=tool_env)
    _setup_step([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", *requirements])


def py27_env(name: str) -> str:
    """Return the interpreter of Python 2.7 side environment ``name`` (a key of
    :data:`PY27_ENVS`), creating it under ``~/.cache/katcp_sync/<name>`` on first
    use (virtualenv from Python 2.7, then pip; about 20 s, needs the package
    index). The outcome is remembered for the rest of the process.

    Raises:
        Skipped: no Python 2.7, creating the environment failed, or ``"kp27"``
            in an A/B run (which measures katcp_sync only).
    """
    if name == "kp27" and os.environ.get(ONLY_OURS_ENV):
        raise Skipped("left out of an A/B run (--against)")
    with _py27_lock:
        if name not in _py27_cached:
            venv = os.path.join(_cache_dir(), name)
            python = os.path.join(venv, "bin", "python")
            try:
                if not _probe(python, _PY27_PROBES[name]):
                    _create_py27(venv, PY27_ENVS[name])
                    if not _probe(python, _PY27_PROBES[name]):
                        raise Skipped("%s: packages not importable after install" % venv)
                _py27_cached[name] = python
            except Skipped as exc:
                _py27_cached[name] = exc
        result = _py27_cached[name]
    if isinstance(result, Skipped):
        raise result
    return result
