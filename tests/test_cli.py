"""The katcp-sync command line tool, against the tutorial's example server."""

from __future__ import absolute_import, division, print_function


import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
import six
from six.moves import queue

from katcp_sync import cli, compat
from katcp_sync.cli import format_message, main, parse_endpoint
from katcp_sync.cli import examples
from katcp_sync.cli.monitor import SensorTable, render
from katcp_sync.message import Message
from katcp_sync.testutils import start_server

from conftest import load_example
from script_support import free_port, run, script_env, wait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server_class():
    return load_example("tutorial_server").MyServer


@pytest.fixture
def server(server_class):
    with start_server(server_class) as server:
        yield server


@pytest.fixture
def endpoint(server):
    host, port = server.bind_address[:2]
    return "%s:%d" % (host, port)


_free_port, _env = free_port, script_env


# -- formatting and parsing ----------------------------------------------------------

def test_format_message_readable_and_raw():
    msg = Message.inform("help", "add", "Add two numbers")
    assert format_message(msg, readable=False) == r"#help add Add\_two\_numbers"
    assert format_message(msg) == "#help add Add two numbers"
    multi = Message.inform("help", "halt", "Halt it.\n\nExamples:\n    ?halt")
    assert format_message(multi) == "#help halt Halt it.\n\n    Examples:\n        ?halt"


@pytest.mark.parametrize("args", [
    ("x", ""),              # empty argument stays \@
    ("x", " padded"),       # leading blank stays escaped
    ("x", "a\x1bb c"),      # control character
    ("x", "one"),           # nothing to decode
])
def test_format_message_keeps_escapes_when_decoding_would_hide_something(args):
    msg = Message.reply("x", *args)
    assert format_message(msg) == format_message(msg, readable=False)


def test_format_message_shows_bad_utf8_as_hex():
    assert format_message(Message.reply("x", "ok", b"\xff")) == r"!x ok \xff"


@pytest.mark.parametrize("text, expected", [
    ("localhost:5000", ("localhost", 5000)),
    ("[::1]:7147", ("::1", 7147)),
    (":7147", ("localhost", 7147)),
    ("7147", ("localhost", 7147)),
])
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["host", "host:0", "host:70000", "host:port"])
def test_parse_endpoint_rejects(text):
    with pytest.raises(ValueError):
        parse_endpoint(text)


# -- request -------------------------------------------------------------------

def test_request_ok(endpoint, capsys):
    assert main(["request", endpoint, "add", "3", "6"]) == 0
    out, err = capsys.readouterr()
    assert re.match(r"!add(\[\d+\])? ok 9.0\n\Z", out)
    assert err == ""


def test_request_name_may_start_with_a_question_mark_as_in_the_shell(endpoint, capsys):
    assert main(["request", endpoint, "?add", "3", "6"]) == 0
    assert re.match(r"!add(\[\d+\])? ok 9.0\n\Z", capsys.readouterr().out)
    assert main(["request", endpoint, "??add"]) == 2
    assert "invalid message name '?add'" in capsys.readouterr().err


def test_request_prints_informs_then_reply(endpoint, capsys):
    assert main(["request", endpoint, "help", "add"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"#help(\[\d+\])? add Add two numbers\Z", lines[0])
    assert re.match(r"!help(\[\d+\])? ok 1\Z", lines[1])
    assert main(["request", "--raw", endpoint, "help", "add"]) == 0
    assert r"Add\_two\_numbers" in capsys.readouterr().out


def test_request_unknown_exits_3_with_one_line_error(endpoint, capsys):
    assert main(["request", endpoint, "no-such-request"]) == 3
    out, err = capsys.readouterr()
    assert "invalid" in out
    assert err.count("\n") == 1 and "Traceback" not in err
    # The reply's text, decoded as the device meant it.
    assert re.match(r"katcp-sync: error: \?no-such-request replied invalid: "
                    r"Unknown request\.?\n\Z", err), err


def test_request_refused_exits_1(capsys):
    start = compat.monotonic()
    assert main(["request", "--timeout", "5", "127.0.0.1:%d" % _free_port(), "help"]) == 1
    assert compat.monotonic() - start < 4.0, "a refused connection must not wait for the timeout"
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "refused" in err.lower()


def test_request_bad_host_exits_1(capsys):
    assert main(["request", "no-such-host.invalid:5000", "help"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-host.invalid" in err


def test_request_bad_name_and_endpoint(capsys, endpoint):
    assert main(["request", endpoint, "bad_name!"]) == 2
    assert "invalid message name" in capsys.readouterr().err
    assert main(["request", "nohostport", "help"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_request_timeout_exits_1(capsys):
    """A device that accepts but never answers: the request times out."""
    import socket
    with contextlib.closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert main(["request", "--timeout", "0.3", "127.0.0.1:%d" % port, "help"]) == 1
    err = capsys.readouterr().err
    assert "timed out" in err and err.count("\n") == 1


def test_reply_error_and_messages_show_bytes_that_are_not_utf8_escaped():
    """Every Python shows the same text (Python 2 cannot decode with
    backslashreplace: compat.readable_text)."""
    from katcp_sync.cli.common import reply_error
    reply = Message.reply("x", "fail", b"caf\xc3\xa9 \xff")
    assert reply_error(reply) == compat.readable_text(b"?x replied fail: caf\xc3\xa9 \\xff")
    assert compat.readable_text(b"a\xffb") == "a\\xffb"


def test_terminal_columns_follow_the_columns_variable(monkeypatch):
    monkeypatch.setenv("COLUMNS", "123")
    assert compat.terminal_columns() == 123


# -- shell -------------------------------------------------------------------------

def test_shell_from_stdin(endpoint, monkeypatch, capsys):
    lines = "\n".join([
        "?sensor-sampling add.result event",
        "add 1 2",          # '?' is optional
        "?no-such-request",
        "!not-a-request",
        "?eval 6\\_*\\_7",  # escapes work
        "",
        "quit",
        "watchdog",         # never sent: quit ends the session
    ]) + "\n"
    monkeypatch.setattr(sys, "stdin", six.StringIO(lines))
    assert main(["shell", endpoint]) == 0
    out = capsys.readouterr().out
    assert re.search(r"#sensor-status \S+ 1 add.result \w+ \S+\n!sensor-sampling", out)
    # The asynchronous #sensor-status of ?add comes before its reply.
    assert re.search(r"#sensor-status \S+ 1 add.result nominal 3.0\n!add(\[\d+\])? ok 3.0", out)
    assert re.search(r"!no-such-request(\[\d+\])? invalid", out)
    assert "only requests can be sent" in out
    assert re.search(r"!eval(\[\d+\])? ok 42", out)
    assert "watchdog" not in out


class _Pty(object):
    """The terminal side of a pty: read until a pattern shows up (bounded)."""

    def __init__(self, fd):
        self.fd = fd
        self.data = b""
        #: Everything read so far (``data`` is what is not consumed yet).
        self.seen = b""

    def expect(self, pattern, timeout=10.0):
        """Wait for ``pattern`` (a bytes regex); consume the output up to its end."""
        deadline = compat.monotonic() + timeout
        while True:
            match = re.search(pattern, self.data)
            if match:
                self.data = self.data[match.end():]
                return match
            remaining = deadline - compat.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for %r; got %r" % (pattern, self.data))
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("pty closed waiting for %r; got %r"
                                         % (pattern, self.data))
                self.data += chunk
                self.seen += chunk

    def send(self, data):
        os.write(self.fd, data)


@contextlib.contextmanager
def _on_a_pty(args, env=None):
    """Run ``python -m katcp_sync ARGS`` on a new pty that is its controlling
    terminal (so that Ctrl-C typed there sends SIGINT); yield ``(proc, term)``
    and kill the process if it is still running at the end."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "katcp_sync"] + list(args),
                            stdin=slave, stdout=slave, stderr=slave, env=env or _env(),
                            close_fds=True, preexec_fn=_controlling_terminal)
    os.close(slave)
    try:
        yield proc, _Pty(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            wait(proc, 10)
        os.close(master)


def _controlling_terminal():
    """In the child: a new session, whose controlling terminal is its stdin, the pty."""
    import fcntl
    import termios
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_shell_on_a_pty(server, endpoint, tmp_path):
    """Readline session: completion, and an inform printed mid-line keeps the typed text."""
    pytest.importorskip("readline")
    env = dict(_env(), HOME=str(tmp_path), TERM="dumb")
    with _on_a_pty(["shell", endpoint], env) as (proc, term):
        prompt = re.escape(endpoint.encode() + b"> ")
        term.expect(br"Connected to [\s\S]*" + prompt)
        term.send(b"?sensor-sampling add.result event\r")
        term.expect(br"!sensor-sampling(\[\d+\])? ok add.result event[\s\S]*" + prompt)
        # Half a line typed, then the device sends an inform.
        term.send(b"?watch")
        term.expect(br"\?watch")
        server._add_result.set_value(12.5)
        term.expect(br"#sensor-status \S+ 1 add.result nominal 12.5\r?\n" + prompt
                    + br"\?watch")
        term.send(b"dog\r")
        term.expect(br"!watchdog(\[\d+\])? ok")
        # Tab completes request names (from ?help), then sensor names.
        term.send(b"?sensor-v\t")
        term.expect(br"sensor-value ")
        term.send(b"add.res\t")
        term.expect(br"add.result ")
        term.send(b"\r")
        term.expect(br"!sensor-value(\[\d+\])? ok 1[\s\S]*" + prompt)
        term.send(b"\x04")      # Ctrl-D
        assert wait(proc, 10) == 0
        assert (tmp_path / ".katcp_sync_history").exists()


# -- monitor -------------------------------------------------------------------------

def test_monitor_once(endpoint, capsys):
    assert main(["monitor", endpoint, "--once"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "VALUE", "STATUS", "TIMESTAMP", "UNITS"]
    assert [line.split()[0] for line in lines[1:]] == [
        "add.result", "eval.result", "fruit.result", "time.result"]
    assert "\x1b[" not in "".join(lines), "no colours when stdout is not a terminal"


def test_monitor_regex_and_updates(endpoint, server, capsys):
    server._add_result.set_value(4.5)
    assert main(["monitor", endpoint, "add|fruit", "--strategy", "period", "0.05",
                 "--count", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NAME")
    assert {line.split()[0] for line in lines[1:]} == {"add.result", "fruit.result"}
    assert len(lines) >= 5          # the table, then update lines
    assert any(line.split()[:3] == ["add.result", "4.5", "nominal"] for line in lines[3:])


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_monitor_on_a_terminal_redraws_in_colour(endpoint):
    with _on_a_pty(["monitor", endpoint, "--strategy", "period", "0.05", "--interval",
                    "0.05", "--count", "3"]) as (proc, term):
        for _ in range(3):
            term.expect(br"\x1b\[H\x1b\[2J" + re.escape(endpoint.encode())
                        + br"  4 sensors  strategy: period 0.05")
            term.expect(br"add.result .*\x1b\[2munknown")
        assert wait(proc, 10) == 0


def test_monitor_errors(endpoint, capsys):
    assert main(["monitor", endpoint, "no-such-sensor"]) == 3
    assert "no sensor" in capsys.readouterr().err
    assert main(["monitor", endpoint, "(", "--once"]) == 2           # a usage error
    assert "regular expression" in capsys.readouterr().err
    assert main(["monitor", endpoint, "--strategy", "bogus", "--once"]) == 3
    assert "sensor-sampling" in capsys.readouterr().err


def test_sensor_table_and_render():
    table = SensorTable({"a": "V", "b": ""})
    table.update_from_inform(Message.inform("sensor-status", "1000.5", 2, "a", "warn", "1.5",
                                            "b", "error", "x y"))
    table.update_from_inform(Message.inform("sensor-status", "1000.5", 1, "zz", "warn", "1"))
    assert [row[:3] for row in table.rows()] == [("a", "1.5", "warn"), ("b", "x y", "error")]
    assert [row[0] for row in table.take_updates()] == ["a", "b"]
    assert table.take_updates() == [] and not table.changed.is_set()
    coloured = render(table.rows(), colour=True)
    assert "\x1b[33mwarn" in coloured and "\x1b[31merror" in coloured
    narrow = render([("a", "x" * 100, "nominal", "-", "")], colour=False, width=40)
    assert all(len(line) <= 40 for line in narrow.splitlines())


# -- serve and demo ----------------------------------------------------------------------

def test_serve_runs_the_example_server_until_sigint(capsys):
    proc = subprocess.Popen(
        [sys.executable, "-m", "katcp_sync", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        line = proc.stdout.readline().decode()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line + proc.stderr.read().decode()
        assert main(["request", "127.0.0.1:" + match.group(1), "add", "3", "6"]) == 0
        assert "ok 9.0" in capsys.readouterr().out
        proc.send_signal(signal.SIGINT)
        assert wait(proc, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            wait(proc, 10)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_port_in_use(server, capsys):
    port = server.bind_address[1]
    assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert "error: cannot listen on 127.0.0.1:%d: Address already in use\n" % port \
        in capsys.readouterr().err


def test_serve_port_out_of_range_is_a_usage_error(capsys):
    """It listened on 99999 - 65536 = 34463 (getaddrinfo wraps the number)."""
    assert main(["serve", "--port", "99999"]) == 2
    assert "argument --port: port must be a number from 0 to 65535, not '99999'" in \
        capsys.readouterr().err


def test_example_found_in_installed_data_dir(tmp_path, monkeypatch):
    installed = tmp_path / "share" / "katcp_sync" / "examples"
    installed.mkdir(parents=True)
    (installed / "tutorial_server.py").write_text(u"MyServer = 'installed copy'\n")
    monkeypatch.setattr(examples, "SOURCE_EXAMPLES_DIR", str(tmp_path / "no-checkout"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert cli.load_example("tutorial_server").MyServer == "installed copy"
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "elsewhere"))
    with pytest.raises(compat.FileNotFoundError):
        cli.load_example("no_such_example")


def test_demo(capsys):
    start = compat.monotonic()
    assert main(["demo"]) == 0
    assert compat.monotonic() - start < 15
    out = capsys.readouterr().out
    for pattern in [r"\?help\n#help(\[\d+\])? add Add two numbers",
                    r"\?watchdog\n!watchdog(\[\d+\])? ok",
                    r"\?add 3 6\n!add(\[\d+\])? ok 9.0",
                    r"!raw-reverse(\[\d+\])? ok three two one",
                    r"#sensor-list(\[\d+\])? fruit.result",
                    r"#sensor-value(\[\d+\])? \S+ 1 add.result nominal 9.0",
                    r"client.req.add\(3, 6\)\n!add(\[\d+\])? ok 9.0",
                    r"get_value\(\)\n'(apple|banana|pear|kiwi)'",
                    r"#pick-fruit(\[\d+\])? Picking will take 1 seconds\n"
                    r"!pick-fruit(\[\d+\])? ok (apple|banana|pear|kiwi)"]:
        assert re.search(pattern, out), pattern
    # ?eval runs a client's code: the demo's server does not offer it.
    assert not re.search(r"^\?eval|^#help(\[\d+\])? eval ", out, re.M)


def test_python_dash_m_and_version():
    result = run([sys.executable, "-m", "katcp_sync", "--version"])
    assert result.returncode == 0 and result.stdout.startswith(b"katcp-sync ")
    result = run([sys.executable, "-m", "katcp_sync", "request",
                  "127.0.0.1:%d" % _free_port(), "help"])
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert result.stderr.count(b"\n") == 1


# -- issue 15: safe defaults, exit statuses, options where users put them -----------------

def _cli(*args, **kwargs):
    """Run ``python -m katcp_sync ARGS`` (the entry point) in a subprocess
    (keyword ``timeout``, default 30 s)."""
    return run([sys.executable, "-m", "katcp_sync"] + list(args), **kwargs)


class _Serve(object):
    """``katcp-sync serve ARGS`` in a subprocess; ``address`` from its first line."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "katcp_sync", "serve", "--port", "0"]
                                     + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=_env())
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        match = re.search(r"serving .* on (\S+):(\d+) ", line)
        if not match:
            self.stop()
            pytest.fail("serve did not start: %r %r" % (line, self.err))
        self.host, self.port = match.group(1), int(match.group(2))
        self.address = "%s:%d" % (self.host, self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            if wait(self.proc, 10) is None:
                self.proc.kill()
                wait(self.proc, 10)
        self.out, self.err = (f.read().decode() for f in (self.proc.stdout, self.proc.stderr))
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def test_serve_listens_on_loopback_without_eval_and_logs_with_v():
    """`serve` defaults to 127.0.0.1, leaves ?eval out, and -v (after the
    command) logs connections and requests."""
    serve = _Serve("-v")
    try:
        assert serve.host == "127.0.0.1"
        result = _cli("request", serve.address, "eval", "__import__('os').getpid()")
        assert result.returncode == 3, result
        assert re.search(br"!eval(\[\d+\])? invalid", result.stdout)
        result = _cli("request", serve.address, "help")
        assert result.returncode == 0 and b"#help" in result.stdout
        assert not re.search(br"#help(\[\d+\])? eval ", result.stdout)
    finally:
        assert serve.stop() == 0
    assert re.search(r"katcp_sync.server INFO 127\.0\.0\.1:\d+: client connected", serve.err)
    assert re.search(r"katcp_sync.server DEBUG 127\.0\.0\.1:\d+: \?help", serve.err)
    assert re.search(r"katcp_sync.server INFO 127\.0\.0\.1:\d+: client disconnected", serve.err)


def test_serve_unsafe_eval_is_explicit_and_loud():
    serve = _Serve("--unsafe-eval")
    try:
        result = _cli("request", serve.address, "eval", "6*7")
        assert result.returncode == 0 and re.search(br"!eval(\[\d+\])? ok 42", result.stdout)
    finally:
        assert serve.stop() == 0
    assert "WARNING: ?eval is enabled" in serve.err and serve.address in serve.err


def test_exit_statuses_are_distinct(endpoint):
    """0 ok, 1 connection failure, 2 usage error, 3 fail/invalid reply (docs/cli.rst)."""
    assert _cli("request", endpoint, "watchdog").returncode == 0
    assert _cli("request", "127.0.0.1:%d" % _free_port(), "help").returncode == 1
    usage = _cli("request", endpoint)                  # NAME missing
    assert usage.returncode == 2 and b"usage:" in usage.stderr
    assert _cli("request", endpoint, "bad_name!").returncode == 2
    assert _cli("monitor", endpoint, "(").returncode == 2
    invalid = _cli("request", endpoint, "no-such-request")
    assert invalid.returncode == 3 and invalid.stderr.count(b"\n") == 1
    failed = _cli("request", endpoint, "add", "1")    # too few arguments: fail
    assert failed.returncode == 3 and b"Traceback" not in failed.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command(endpoint, where):
    args = ["request", endpoint, "watchdog"]
    args = ["-v"] + args if where == "before" else args[:1] + ["-v"] + args[1:]
    result = _cli(*args)
    assert result.returncode == 0
    assert b"katcp_sync.cli.client DEBUG Received from" in result.stderr


@pytest.mark.parametrize("argv, strategy, rest", [
    (["--strategy", "period 1", "h:1"], ["period", "1"], ["h:1"]),
    (["--strategy", "period", "1", "h:1", "x"], ["period", "1"], ["h:1", "x"]),
    (["h:1", "x", "--strategy", "period", "1"], ["period", "1"], ["h:1", "x"]),
    (["--strategy=event-rate", "0.5", "10", "h:1"], ["event-rate", "0.5", "10"], ["h:1"]),
    (["--strategy", "event", "h:1", "7"], ["event"], ["h:1", "7"]),   # event takes none
    (["--strategy", "differential-rate", "1", "2", "3", "h:1"],
     ["differential-rate", "1", "2", "3"], ["h:1"]),
])
def test_monitor_strategy_forms(argv, strategy, rest):
    args = cli.build_parser().parse_args(cli.gather_strategy(["monitor"] + argv))
    assert args.strategy == strategy
    assert [args.endpoint] + ([args.regex] if args.regex else []) == \
        [parse_endpoint(rest[0])] + rest[1:]


def test_gather_strategy_takes_the_parameters_of_the_strategy_table():
    """Issue 12 follow-up: the CLI counts a strategy's parameters from
    katcp_sync.strategies (spec 7.1, Table 9), not from a copy of it."""
    from katcp_sync.strategies import STRATEGY_TABLE
    for row in STRATEGY_TABLE:
        numbers = ["1"] * len(row.params)
        argv = ["--strategy", row.name] + numbers + ["7"]
        assert cli.gather_strategy(argv) == [" ".join(["--strategy=" + row.name] + numbers), "7"]
    assert not hasattr(cli, "_STRATEGY_PARAMS")


def test_monitor_help_example_and_strategy_first_work(endpoint, server):
    """The documented `--strategy 'period 1'` form, and the strategy before HOST:PORT."""
    help_text = _cli("monitor", "--help").stdout.decode()
    assert "--strategy 'period 1'" in help_text
    for argv in (["monitor", endpoint, "add", "--strategy", "period 0.05", "--count", "2"],
                 ["monitor", "--strategy", "period", "0.05", endpoint, "add", "--count", "2"]):
        result = _cli(*argv)
        assert result.returncode == 0, result
        assert result.stdout.decode().splitlines()[1].split()[0] == "add.result"


def test_monitor_plain_rows_stay_aligned(endpoint, server):
    """Without a terminal, update rows line up with the table (issue 15)."""
    server._add_result.set_value(1234567.25)        # wider than anything in the table
    result = _cli("monitor", endpoint, "--strategy", "period", "0.05", "--count", "4")
    assert result.returncode == 0, result
    lines = result.stdout.decode().splitlines()
    header = lines[0]
    columns = [header.index(name) for name in ("STATUS", "TIMESTAMP")]
    for line in lines[1:]:
        for start in columns:       # every row has a status and a timestamp ("-")
            assert line[start - 2:start] == "  " and line[start] != " ", (header, line)
    assert len(lines) > 5
    assert any("1234567.25" in line for line in lines[5:])


def test_request_uses_the_device_timeout_hint_unless_timeout_given():
    """A request without --timeout waits for the device's hint (flag T)."""
    from test_faults import HintServer
    with start_server(HintServer) as server:
        address = "%s:%d" % server.bind_address[:2]
        HintServer.DELAY = 0.5
        result = _cli("request", "--timeout", "0.2", address, "slow-hinted")
        assert result.returncode == 1
        # The --timeout (0.2 s), not the hint: the reply comes after 0.5 s.
        # (The message states the time waited, later than 0.2 s on a busy machine.)
        match = re.match(br"katcp-sync: error: request slow-hinted timed out after "
                         br"(\d+\.\d+) seconds\n\Z", result.stderr)
        assert match and 0.2 <= float(match.group(1)) < 0.5, result.stderr
        result = _cli("request", address, "slow-hinted")
        assert result.returncode == 0, result


# -- the shell on a terminal ------------------------------------------------------------

class SlowServer(object):
    """The tutorial's server plus ?slow (answers when the test calls
    ``reply_slow()``) and ?log-error."""

    @staticmethod
    def make(base):
        from katcp_sync import AsyncReply

        class Slow(base):
            slow_requests = queue.Queue()

            def request_slow(self, req, msg):
                """Send an inform, and answer when the test says so."""
                req.inform("started")
                self.slow_requests.put(req)
                raise AsyncReply()

            def reply_slow(self):
                """Answer the oldest ?slow (any thread)."""
                self.slow_requests.get(timeout=10).reply("ok", "late")

            def request_log_error(self, req, msg):
                """Send an error #log, then reply."""
                self.mass_inform(self.create_log_inform("error", "it broke", "test"))
                return req.make_reply("ok")

        return Slow


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
@pytest.mark.skipif(not compat.READLINE_NUDGE, reason="before Python 3.7 a Ctrl-C that lands on "
                    "another thread (or while readline is busy) acts only when Enter is pressed")
def test_shell_ctrl_c_colours_and_pending_indicator(server_class, tmp_path):
    pytest.importorskip("readline")
    with start_server(SlowServer.make(server_class)) as server:
        endpoint = "%s:%d" % server.bind_address[:2]
        env = dict(_env(), HOME=str(tmp_path), TERM="dumb")
        prompt = re.escape(endpoint.encode() + b"> ")
        with _on_a_pty(["shell", "--timeout", "10", endpoint], env) as (proc, term):
            term.expect(br"Connected to [\s\S]*" + prompt)
            # Ctrl-C on a half-typed line clears it; the session goes on.
            term.send(b"?watchdog-not-this")
            term.expect(br"not-this")
            term.send(b"\x03")
            term.expect(br"\^C\r?\n" + prompt)
            term.send(b"?watchdog\r")
            term.expect(br"!watchdog(\[\d+\])? ok")
            # fail/invalid replies and error #log informs in colour.
            term.send(b"?no-such-request\r")
            term.expect(br"\x1b\[31m!no-such-request(\[\d+\])? invalid")
            term.send(b"?log-error\r")
            term.expect(br"\x1b\[31m#log error \S+ test it broke")
            term.expect(br"!log-error(\[\d+\])? ok")
            # A slow request: its inform at once, the indicator after a
            # second; Ctrl-C abandons it and keeps the session.
            term.send(b"?slow\r")
            term.expect(br"#slow(\[\d+\])? started")
            term.expect(br"\?slow pending for \d+ s \(Ctrl-C abandons it\)")
            term.send(b"\x03")
            term.expect(br"katcp-sync: error: \?slow abandoned")
            term.send(b"?watchdog\r")
            term.expect(br"!watchdog(\[\d+\])? ok[\s\S]*" + prompt)
            # The abandoned reply comes; a round trip after it shows it was
            # not printed.
            server.reply_slow()
            term.send(b"?watchdog\r")
            term.expect(br"!watchdog(\[\d+\])? ok[\s\S]*" + prompt)
            term.send(b"\x04")
            assert wait(proc, 10) == 0
        assert b"late" not in term.seen and b"!slow" not in term.seen


def test_shell_timeout_is_the_shells_error_not_a_made_up_reply(server_class, monkeypatch,
                                                                  capsys):
    with start_server(SlowServer.make(server_class)) as server:
        endpoint = "%s:%d" % server.bind_address[:2]
        monkeypatch.setattr(sys, "stdin", six.StringIO("?slow\n?watchdog\n"))
        assert main(["shell", "--timeout", "0.3", endpoint]) == 0
    out = capsys.readouterr().out
    assert re.search(r"katcp-sync: error: request slow timed out after 0\.3\d? seconds\n", out)
    assert "!slow" not in out
    assert re.search(r"!watchdog(\[\d+\])? ok", out)


def test_ipv6_addresses_are_bracketed_in_messages(capsys):
    """One style for addresses: host:port, IPv6 in brackets (issue 15)."""
    import socket
    try:
        with contextlib.closing(socket.socket(socket.AF_INET6)) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except socket.error:
        pytest.skip("no IPv6 loopback")
    assert main(["request", "[::1]:%d" % port, "help"]) == 1
    err = capsys.readouterr().err
    assert "[::1]:%d" % port in err, err
    serve = _Serve("--host", "::1")
    try:
        assert serve.address.startswith("[::1]:")
        assert _cli("request", serve.address, "watchdog").returncode == 0
    finally:
        assert serve.stop() == 0
