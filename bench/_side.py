"""Reach the libraries we compare against, without making them dependencies.

* aiokatcp (and its compiled ``katcp_codec``) is imported from the running
  Python when installed: :func:`import_optional`.
* katcp-python 0.9.3 only runs on old Pythons (tornado 4), so it lives in a
  cached virtual environment made with ``python3.9`` on first use (shared
  with the interop tests: see ``tests/_sideenv.py``). :func:`run_katcp_python` runs a snippet there and returns the
  JSON it prints.

Every failure becomes a :class:`Skipped` carrying the reason, so a bench can
print ``skipped: <reason>`` for that column instead of failing.
"""

import asyncio
import importlib
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, List, Optional

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
