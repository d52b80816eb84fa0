"""The tutorial's examples exactly as printed -- Python 2 ``print`` statements
and all -- run under Python 2.7 (issue 13): server, blocking client, callback
client and custom client (``examples/py2/``), against each other.

The scripts differ from the tutorial's text only in ``katcp`` ->
``katcp_sync`` and their host (``localhost``); checked against
``shared/reference/seed-tutorial.txt`` where that is found. They listen on
and talk to port 5000, as printed: the tests run copies that use a free
port instead, changing nothing else.

They run under the Python 2.7 interpreter of the test run when it is one;
otherwise under ``$KATCP_SYNC_PY27`` (``.ci/run`` sets it) or a
``python2.7``/``python2`` on the PATH that can import katcp_sync's
dependencies; without one these tests skip, saying so.
"""

from __future__ import absolute_import, division, print_function

import io
import os
import re
import sys

import pytest

from katcp_sync.message import Message

from script_support import ROOT, communicate, free_port, run_script, serving_script

PY2_EXAMPLES = os.path.join(ROOT, "examples", "py2")
SCRIPTS = ["server.py", "blocking_client.py", "callback_client.py", "custom_client.py"]
TIMEOUT = 30.0
#: What the Python 2 interpreter must import: katcp_sync's dependencies there.
_DEPENDENCIES = "import six, wrapt, concurrent.futures, selectors34, typing"


def _find_python27():
    """(path of a usable Python 2.7, why there is none)."""
    if sys.version_info[:2] == (2, 7):
        return sys.executable, ""
    candidates = [os.environ.get("KATCP_SYNC_PY27", "")] + [
        os.path.join(folder, name) for name in ("python2.7", "python2")
        for folder in os.environ.get("PATH", "").split(os.pathsep) if folder]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            code, _, _, _ = run_script([path, "-c", _DEPENDENCIES], 30)
            if code == 0:
                return path, ""
    return None, ("no Python 2.7 that imports katcp_sync's dependencies (%s): run the "
                  "suite under 2.7 or set KATCP_SYNC_PY27 (.ci/run does)" % _DEPENDENCIES)


PYTHON27, WHY_NOT = _find_python27()
needs_python27 = pytest.mark.skipif(PYTHON27 is None, reason=WHY_NOT or "-")


def _read(name):
    with io.open(os.path.join(PY2_EXAMPLES, name), encoding="utf-8") as f:
        return f.read()


def _seed_tutorial():
    for path in (os.environ.get("KATCP_SYNC_SEED_TUTORIAL", ""),
                 os.path.join(ROOT, "..", "shared", "reference", "seed-tutorial.txt"),
                 "/work/shared/reference/seed-tutorial.txt"):
        if path and os.path.isfile(path):
            with io.open(path, encoding="utf-8") as f:
                return f.read()
    return None


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_the_tutorials_text(name):
    """Word for word the tutorial's (its text has its line breaks folded),
    but for the package name and the host."""
    seed = _seed_tutorial()
    if seed is None:
        pytest.skip("shared/reference/seed-tutorial.txt not found next to the checkout")
    original_host = '""' if name == "server.py" else '"www.example.com"'
    text = _read(name).replace("katcp_sync", "katcp").replace('"localhost"', original_host)
    assert " ".join(text.split()) in " ".join(seed.split())


def _on_port(name, port, tmp_path):
    """A copy of ``examples/py2/<name>`` that uses ``port`` instead of 5000."""
    text = _read(name)
    pattern = r"^(server_port|device_port) = 5000$"
    assert len(re.findall(pattern, text, re.M)) == 1, name
    path = os.path.join(str(tmp_path), name)
    with io.open(path, "w", encoding="utf-8") as f:
        f.write(re.sub(pattern, r"\1 = %d" % port, text, flags=re.M))
    return path


@pytest.fixture
def py2_server(tmp_path):
    """The tutorial's server running under Python 2.7 on a free port; a
    BlockingClient (this interpreter) connected to it."""
    port = free_port()
    with serving_script([PYTHON27, _on_port("server.py", port, tmp_path)], port,
                        TIMEOUT) as (client, proc):
        yield port, client, proc


def _run_client(name, port, tmp_path):
    code, out, err, timed_out = run_script([PYTHON27, _on_port(name, port, tmp_path)], TIMEOUT)
    out, err = out.decode("utf-8"), err.decode("utf-8")
    assert not timed_out, "%s did not finish within %s s:\n%s%s" % (name, TIMEOUT, out, err)
    assert code == 0 and "Traceback" not in err, out + err
    return out


@needs_python27
def test_python2_server_answers_then_halts(py2_server):
    """The server's handlers (typed, raw, async ?pick-fruit through its
    ioloop) and ``server.join()`` returning after ``?halt``."""
    port, client, proc = py2_server
    reply, informs = client.blocking_request(Message.request("help"))
    assert reply.reply_ok() and {m.arguments[0] for m in informs} >= {
        b"add", b"time", b"eval", b"pick-fruit", b"raw-reverse"}
    reply, _ = client.blocking_request(Message.request("add", 3, 6))
    assert reply.arguments[0] == b"ok" and float(reply.arguments[1]) == 9.0
    reply, _ = client.blocking_request(Message.request("raw-reverse", "a", "b", "c"))
    assert reply.arguments == [b"ok", b"c", b"b", b"a"]
    reply, _ = client.blocking_request(Message.request("eval", "6 * 7"))
    assert reply.arguments == [b"ok", b"42"]
    # The fruit comes after 1 to 4 s, or "No fruit." at once (random).
    reply, informs = client.blocking_request(Message.request("pick-fruit"), timeout=10)
    if reply.arguments[0] == b"ok":
        assert reply.arguments[1] in (b"apple", b"banana", b"pear", b"kiwi")
        assert informs and informs[0].arguments[0].startswith(b"Picking will take")
    else:
        assert reply.arguments == [b"fail", b"No fruit."]
    client.auto_reconnect = False
    reply, _ = client.blocking_request(Message.request("halt"))
    assert reply.reply_ok()
    out, err, timed_out = communicate(proc, TIMEOUT)
    assert not timed_out and proc.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()


@needs_python27
def test_python2_blocking_client(py2_server, tmp_path):
    out = _run_client("blocking_client.py", py2_server[0], tmp_path)
    assert re.search(r"^!help(\[\d+\])? ok \d+$", out, re.M), out
    assert re.search(r"^#help(\[\d+\])? add Add\\_two\\_numbers$", out, re.M), out


@needs_python27
def test_python2_callback_client(py2_server, tmp_path):
    out = _run_client("callback_client.py", py2_server[0], tmp_path)
    assert re.search(r"^Reply: !help(\[\d+\])? ok \d+$", out, re.M), out
    assert re.search(r"^Inform: #help(\[\d+\])? add ", out, re.M), out


@needs_python27
def test_python2_custom_client(py2_server, tmp_path):
    out = _run_client("custom_client.py", py2_server[0], tmp_path)
    assert "--------- add ---------\n\nAdd two numbers\n" in out, out
    assert re.search(r"^help \['ok', '\d+'\]$", out, re.M), out
    assert "Unhandled reply watchdog" in out, out
