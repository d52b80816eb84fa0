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


class Completed(object):
    """What :func:`run` returns: subprocess.CompletedProcess's fields."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr

    def __repr__(self):
        return "Completed(args=%r, returncode=%r, stdout=%r, stderr=%r)" % (
            self.args, self.returncode, self.stdout, self.stderr)


def run(argv, timeout=30, **kwargs):
    """subprocess.run(argv, capture_output=True, timeout=timeout) on 2.7 too,
    with :func:`script_env` by default; AssertionError if it timed out."""
    code, out, err, timed_out = run_script(argv, timeout, **kwargs)
    assert not timed_out, "%r did not finish within %s s:\n%r\n%r" % (argv, timeout, out, err)
    return Completed(argv, code, out, err)


def wait(proc, timeout):
    """``proc.wait(timeout)`` on 2.7 too: the exit status, or None if the
    process still runs after ``timeout`` seconds."""
    try:
        return proc.wait(timeout)
    except TypeError:   # Python 2: no timeout; wait on a helper thread
        pass
    except subprocess.TimeoutExpired:
        return None
    waiter = threading.Thread(target=proc.wait, name="script-wait")
    waiter.daemon = True
    waiter.start()
    waiter.join(timeout)
    return None if waiter.is_alive() else proc.returncode


@contextlib.contextmanager
def serving_script(argv, port, timeout=30.0, host="127.0.0.1"):
    """Run the server script ``argv``, which listens on ``port``; yield
    ``(client, proc)`` once a :class:`BlockingClient` has connected to it
    (pytest.fail with the script's stderr if it does not serve within
    ``timeout / 2``). Afterwards the client stops and the script is killed
    if it still runs."""
    import pytest
    from katcp_sync.client import BlockingClient

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=script_env())
    client = BlockingClient(host, port, timeout=10.0)
    client.auto_reconnect_delay = 0.05
    client.auto_reconnect_max_delay = 0.2
    client.start()
    try:
        if not client.wait_protocol(timeout / 2):
            proc.kill()
            _, err, _ = communicate(proc, timeout)
            pytest.fail("%s did not serve on port %d:\n%s" % (argv, port, err.decode()))
        yield client, proc
    finally:
        client.stop()
        client.join()
        if proc.poll() is None:
            proc.kill()
            communicate(proc, timeout)
