# -*- coding: utf-8 -*-
"""A katcp-python 0.9 device server ports by changing its imports (issue 14).

``tests/ported_servers/instrument_server.py`` uses the threaded
``DeviceServer`` API as public telescope servers written for katcp-python
do (see its docstring). It runs here under katcp_sync and is driven by a
katcp_sync ``BlockingClient`` with good and bad requests, the standard
``?help``/``?sensor-list``/``?sensor-value``/``?sensor-sampling`` included;
when the katcp-python 0.9.3 side environment is available, the same file
with its imports changed back runs under katcp-python and must give the
same transcript, reply for reply and inform for inform (spec 2.2-2.3 ids,
5.1 ``#sensor-list``/``#sensor-value``, Table 8/9 ``?sensor-sampling``).
"""

from __future__ import absolute_import, division, print_function

import io
import os
import re
import subprocess
import sys

import pytest

from katcp_sync import BlockingClient, Message

from proc_support import wait
from _sideenv import SideEnvUnavailable, kp_python

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "ported_servers", "instrument_server.py")
REPO = os.path.dirname(HERE)
TIMEOUT = 10.0

REQUESTS = [
    ["help", "create"], ["help", "nosuch"],
    ["sensor-list"], ["sensor-list", "/rack|n-/"], ["sensor-list", "nosuch"],
    ["sensor-value"], ["sensor-value", "synced"], ["sensor-value", "nosuch"],
    ["sensor-sampling", "rack-temp"], ["sensor-sampling", "n-accs", "event"],
    ["sensor-sampling", "rack-temp", "bogus"], ["sensor-sampling", "nosuch", "event"],
    ["sensor-sampling", "n-accs", "none"],
    ["ping"], ["create"], ["create", "rts.ini"], ["create", "rts.ini", "5"],
    ["input-labels"], ["input-labels", "a"], ["input-labels", "a", "b"], ["input-labels"],
    ["capture-list"], ["capture-list", "baseline-correlation-products"],
    ["accumulation-length"],
    ["frequency-select", "beam"], ["frequency-select", "beam", "-1"],
    ["frequency-select", "beam", "1.284e9"],
    ["product-configure"], ["product-configure", "c856M4k"],
    ["product-configure", "c856M4k", "4096"], ["product-configure", "c856M4k", "0"],
    ["state", "capturing"], ["state", "lost"], ["sensor-value", "state"],
    ["old-capture-status"], ["deferred-sync"],
    ["bridge", "load1", "0.5"], ["sensor-value", "load1"], ["bridge", "load1", "0.75"],
    ["sensor-list", "load1"], ["sensor-value", "load1"],
    ["unbridge", "load1"], ["unbridge", "load1"], ["sensor-value", "load1"],
    ["#station-status", "m000", "ok"], ["#muted", "x"], ["#unknown-inform"],
    ["!handover", "ok", "1"], ["!unasked", "ok"], ["heard"], ["heard"],
    ["crash"], ["divide", "4"], ["divide", "0"],
    ["watchdog"], ["nosuch"],
]


def _transcript(python, script, pythonpath):
    """Run ``script`` under ``python``; the requests' replies and informs, as text."""
    env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONDONTWRITEBYTECODE="1")
    server = subprocess.Popen([python, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=env, cwd=os.path.dirname(script))
    lines = []
    try:
        port = int(server.stdout.readline())
        with BlockingClient("127.0.0.1", port) as client:
            assert client.wait_protocol(TIMEOUT)
            for args in REQUESTS:
                if args[0][0] in "#!":   # sent to the server's inform/reply hooks
                    make = Message.inform if args[0][0] == "#" else Message.reply
                    client.send_message(make(args[0][1:], *args[1:]))
                    lines.append(" ".join(args))
                    continue
                reply, informs = client.blocking_request(Message.request(*args),
                                                         timeout=TIMEOUT)
                lines.append("?" + " ".join(args))
                lines.extend(str(m) for m in informs + [reply])
    finally:
        server.stdin.close()
        assert wait(server, TIMEOUT) == 0
    # the time a sensor without a reading was made differs from run to run
    return [re.sub(r"\b1[5-9]\d{8}\.\d+ 1 (\S+) unknown", r"NOW 1 \1 unknown", line)
            for line in lines]


@pytest.fixture(scope="module")
def ours():
    return _transcript(sys.executable, SERVER, REPO)


def test_only_the_imports_name_katcp_sync():
    with io.open(SERVER, encoding="utf-8") as f:
        code = [line for line in f if "katcp_sync" in line and not line.startswith("``")]
    assert [line.split()[:2] for line in code] == [
        ["import", "katcp_sync"], ["from", "katcp_sync"], ["from", "katcp_sync.kattypes"]]


def test_replies_and_informs(ours):
    text = "\n".join(ours)
    for expected in [
            "!create[15] fail Error\\_in\\_parameter\\_1\\_(config_file):"
            "\\_No\\_value\\_or\\_default\\_given",
            "!create[16] ok rts.ini 100",
            "!input-labels[19] fail need\\_2\\_labels",
            "!input-labels[21] ok a b",
            "#capture-list[22] tied-array-channelised-voltage 239.2.1.30+7:7148",
            "!accumulation-length[24] ok 0.49978",
            "!frequency-select[26] fail frequency\\_must\\_be\\_positive",
            "#product-configure[28] c856M4k idle\n!product-configure[28] ok 1",
            "!product-configure[29] ok c856M4k\\_None",
            "!product-configure[31] fail Error\\_in\\_parameter\\_2\\_(n_channels):"
            "\\_Integer\\_0\\_is\\_lower\\_than\\_minimum\\_1.",
            "#sensor-value[34] 1500000001.500000 1 state nominal capturing",
            "#old-capture-status[35] stream idle\n!old-capture-status[35] ok 1",
            "#deferred-sync[36] armed\n!deferred-sync[36] ok",
            "#sensor-value[41] 1500000002.500000 1 load1 nominal 0.75",
            "!unbridge[42] ok removed", "!unbridge[43] ok absent",
            "#sensor-value[6] 1500000000.500000 1 n-accs nominal 816",
            "#sensor-value[7] 1500000000.500000 1 synced warn 0",
            "!heard[45] ok hook\\_#station-status\\_m000\\_ok station\\_m000\\_ok"
            " hook\\_#muted\\_x hook\\_#unknown-inform hook\\_!handover\\_ok\\_1"
            " handover\\_ok\\_1 hook\\_!unasked\\_ok",
            "!heard[46] ok nothing",
            "!crash[47] fail internal\\_error:\\_no\\_spectra",
            "!divide[48] ok 25",
            "!divide[49] fail internal\\_error:\\_integer\\_division\\_or\\_modulo\\_by\\_zero",
            "!nosuch[51] invalid Unknown\\_request."]:
        assert expected in text


def test_the_same_transcript_under_katcp_python(ours, tmp_path):
    try:
        kp = kp_python()
    except SideEnvUnavailable as exc:
        pytest.skip("katcp-python 0.9.3 side environment unavailable: %s" % exc)
    with io.open(SERVER, encoding="utf-8") as f:
        code = f.read()
    code = code.replace(u"import katcp_sync as katcp", u"import katcp")
    code = code.replace(u"from katcp_sync", u"from katcp")
    script = os.path.join(str(tmp_path), "instrument_server.py")
    with io.open(script, "w", encoding="utf-8") as f:
        f.write(code)
    theirs = _transcript(kp, script, str(tmp_path))
    assert theirs == ours
