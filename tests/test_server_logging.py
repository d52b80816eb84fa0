"""Device logging: DeviceLogger and LogHandler send #log informs (spec 6, F59-F61)."""

from __future__ import absolute_import, division, print_function


import logging
import time

import pytest

from katcp_sync.logger import DeviceLogger, LogHandler

from server_support import args


def logs(client, wait=0.2):
    found = []
    while not client.no_message(wait):
        msg = client.read_message()
        if msg.name == "log":
            found.append(args(msg))
    return found


def test_device_logger_levels_and_format(server, connect):
    """Spec 6.3: #log level timestamp name message, filtered by the level (default warn)."""
    client = connect(server)
    before = time.time()
    server.log.info("not sent at warn")
    server.log.warn("sent %d", 1)
    server.log.error("named", name="dev.sub")
    server.log.fatal("stamped", timestamp=1000.25)
    got = logs(client)
    assert [(g[0], g[2], g[3]) for g in got] == [
        ("warn", "root", "sent 1"), ("error", "dev.sub", "named"), ("fatal", "root", "stamped")]
    assert before <= float(got[0][1]) <= time.time()
    assert got[2][1] == "1000.250000"


def test_log_level_request_filters_for_all_clients(server, connect):
    """Spec 6: the level is global; every client gets the informs."""
    first = connect(server)
    second = connect(server)
    first.read_message()  # client-connected
    first.request("?log-level trace")
    server.log.trace("fine detail")
    server.log.debug("detail")
    for client in (first, second):
        assert [g[3] for g in logs(client)] == ["fine detail", "detail"]
    first.request("?log-level off")
    server.log.fatal("silenced")
    assert logs(second) == []


def test_device_logger_api():
    logger = DeviceLogger(None)
    assert logger.level_name() == "warn"
    assert logger.level_from_name("debug") == DeviceLogger.DEBUG
    logger.set_log_level_by_name(b"error")
    assert logger.current_level == DeviceLogger.ERROR
    with pytest.raises(ValueError, match="Unknown logging level name 'loud'"):
        logger.set_log_level_by_name("loud")
    with pytest.raises(ValueError):
        logger.set_log_level(99)
    assert DeviceLogger.LEVELS == ["all", "trace", "debug", "info", "warn", "error",
                                   "fatal", "off"]


def test_device_logger_also_logs_to_python(server, caplog):
    with caplog.at_level(logging.INFO, logger="katcp_sync.device"):
        server.log.info("to python too")
    assert "to python too" in caplog.text


def test_log_handler_sends_python_records(server, connect):
    """F61: a logging.Handler that turns records into #log, filtered by ?log-level."""
    client = connect(server)
    handler = LogHandler(server)
    app_logger = logging.getLogger("myapp.module")
    app_logger.addHandler(handler)
    app_logger.setLevel(logging.DEBUG)
    try:
        app_logger.info("below warn")
        app_logger.warning("careful %s", "now")
        got = logs(client)
        client.request("?log-level debug")
        app_logger.debug("debugging")
        got += logs(client)
    finally:
        app_logger.removeHandler(handler)
    assert [(g[0], g[2], g[3]) for g in got] == [
        ("warn", "myapp.module", "careful now"), ("debug", "myapp.module", "debugging")]


def test_log_handler_never_loops(server, connect):
    """Records of katcp_sync's own loggers are not sent (they could feed themselves)."""
    client = connect(server)
    client.request("?log-level all")
    handler = LogHandler(server)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        client.send("not a message")  # the server logs this on katcp_sync.server
        got = logs(client)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert len(got) == 1  # only the #log error to this client, not the Python record
    assert got[0][2] == "root"
