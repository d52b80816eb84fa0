"""A legacy threaded katcp-python application runs with only its imports changed.

``tests/legacy_app/`` holds code written for katcp-python -- a
``DeviceServer`` subclass with blocking handlers and a main loop
(``legacy_server.py``), a ``BlockingClient`` script (``legacy_client.py``)
and a unittest suite using ``DeviceTestServer``, ``BlockingTestClient`` and
``TestUtilMixin`` (``legacy_tests.py``) -- in which only the import lines
name ``katcp_sync``. Here they run against katcp_sync and, when the
katcp-python side environment is available, the unittest suite also runs
under katcp-python 0.9.3 with the imports changed back, which shows the
code is katcp-python's.
"""

from __future__ import absolute_import, division, print_function


import io
import os
import re
import signal
import subprocess
import sys

import pytest

from proc_support import run, wait
from _sideenv import SideEnvUnavailable, kp_python, kp_test_deps

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "legacy_app")
REPO = os.path.dirname(HERE)
FILES = ("legacy_server.py", "legacy_client.py", "legacy_tests.py")
TIMEOUT = 60


def _env(*paths):
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1")


def test_only_the_imports_name_katcp_sync():
    for name in FILES:
        with open(os.path.join(APP, name)) as f:
            for line in f:
                if "katcp_sync" in line:
                    assert re.match(r"from katcp_sync(\.\w+)? import ", line), (name, line)


def test_unittest_suite_passes():
    done = run([sys.executable, "-m", "unittest", "-v", "legacy_tests"], cwd=APP,
               env=_env(REPO), timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ran 6 tests" in done.stderr


def test_server_main_and_client_script():
    server = subprocess.Popen([sys.executable, "legacy_server.py", "0"], cwd=APP,
                              env=_env(REPO), stdout=subprocess.PIPE,
                              stderr=open(os.devnull, "wb"), universal_newlines=True)
    try:
        line = server.stdout.readline()
        match = re.match(r"listening on ([\d.]+):(\d+)", line)
        assert match, line
        client = run([sys.executable, "legacy_client.py", match.group(1), match.group(2)],
                     cwd=APP, env=_env(REPO), timeout=TIMEOUT)
        assert client.returncode == 0, client.stderr[-3000:]
        assert client.stdout.splitlines() == [
            "add: 5.0", "items: 3 3", "temperature: 21.5", "later: later",
            "fail-with: fail broken"]
    finally:
        server.send_signal(signal.SIGINT)  # the main loop's KeyboardInterrupt path
        assert wait(server, TIMEOUT) == 0


def test_the_same_suite_passes_under_katcp_python(tmp_path):
    try:
        kp = kp_python()
        deps = kp_test_deps(kp)  # katcp.testutils imports mock
    except SideEnvUnavailable as exc:
        pytest.skip("katcp-python 0.9.3 side environment unavailable: %s" % exc)
    for name in FILES:
        with io.open(os.path.join(APP, name), encoding="utf-8") as f:
            text = f.read()
        with io.open(os.path.join(str(tmp_path), name), "w", encoding="utf-8") as f:
            f.write(text.replace(u"katcp_sync", u"katcp"))
    done = run([kp, "-m", "unittest", "-v", "legacy_tests"], cwd=str(tmp_path),
               env=_env(deps), timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ran 6 tests" in done.stderr
