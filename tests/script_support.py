"""Running scripts in a subprocess, on Python 2.7 and 3.x alike (Python 2's
subprocess has no timeouts and no ``run``). No tests here."""

from __future__ import absolute_import, division, print_function

import contextlib
import os
import socket
import subprocess
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A loopback port with nothing listening (it was just released)."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script_env():
    """The environment for a script: this checkout first on the path, no colours."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NO_COLOR", None)
    env.pop("PYTHONHOME", None)
    return env


def communicate(proc, timeout):
    """``proc.communicate()`` bounded by ``timeout``: past it the process is
    killed. Returns ``(stdout, stderr, timed_out)``."""
    expired = []

    def kill():
        expired.append(True)
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.name = "script-timeout"
    timer.start()
    try:
        out, err = proc.communicate()
    finally:
        timer.cancel()
        timer.join()
    return out, err, bool(expired)


def run_script(argv, timeout, **kwargs):
    """Run ``argv`` to the end (killed after ``timeout`` s); returns
    ``(returncode, stdout, stderr, timed_out)`` with output as bytes."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=kwargs.pop("env", None) or script_env(), **kwargs)
    out, err, timed_out = communicate(proc, timeout)
    return proc.returncode, out, err, timed_out
