"""Run a child process with a timeout on every Python (2.7 has no subprocess.run).

No tests here; test modules that run scripts import :func:`run`.
"""

from __future__ import absolute_import, division, print_function

import subprocess
import threading

import six


class Completed(object):
    """What :func:`run` returns: ``returncode``, ``stdout`` and ``stderr`` (text)."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class TimeoutExpired(Exception):
    """The child ran longer than the timeout (it has been killed)."""


def _text(data):
    if data is None or isinstance(data, six.text_type):
        return data
    return data.decode("utf-8", "replace")


def run(args, timeout, input=None, check=False, text=True, **popen_kwargs):
    """Run ``args``, capture stdout and stderr, kill it after ``timeout`` seconds.

    As ``subprocess.run(args, capture_output=True, text=text, timeout=timeout)``:
    ``input`` (text or bytes) goes to its stdin; ``check`` raises
    :class:`subprocess.CalledProcessError` on a non-zero exit. Raises
    :class:`TimeoutExpired` after killing a child that outlived ``timeout``.
    """
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs)
    if isinstance(input, six.text_type):
        input = input.encode("utf-8")
    expired = []

    def kill():
        expired.append(True)
        try:
            proc.kill()
        except OSError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        out, err = proc.communicate(input)
    finally:
        timer.cancel()
        timer.join()
    if expired:
        raise TimeoutExpired("%r ran longer than %s s" % (args, timeout))
    if text:
        out, err = _text(out), _text(err)
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return Completed(args, proc.returncode, out, err)


def wait(proc, timeout):
    """``proc.wait(timeout)`` (2.7's takes none): the exit code, or
    :class:`TimeoutExpired` (the child is left running)."""
    import time
    deadline = time.time() + timeout
    while proc.poll() is None:
        if time.time() > deadline:
            raise TimeoutExpired("%r still running after %s s" % (proc, timeout))
        time.sleep(0.01)
    return proc.returncode
