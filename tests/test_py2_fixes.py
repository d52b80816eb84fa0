"""Text, bytes and method identity the same on Python 2.7 and 3 (issue 13).

Each test here failed on Python 2.7 before its fix (on Python 3 they held
already): byte values compared as ints, parsed names decoded to ``unicode``,
sensor names refused as native ``str``, and ``Sub.meth is Base.meth``, which
is always False on 2.7 (every class attribute access makes a new unbound
method). Run on 2.7 with ``python2.7 -m pytest tests/test_py2_fixes.py``.
"""

from __future__ import absolute_import, division, print_function

from katcp_sync import BlockingClient, DeviceServer, Sensor, compat
from katcp_sync.linebuffer import LineSplitter
from katcp_sync.message import Message, parse

import pytest
from katcp_sync.errors import KatcpSyntaxError


def test_parsed_name_is_a_native_str_and_replies_to_it_build():
    # spec 2.1: names are ASCII; on 2.7 the parsed name was unicode, and
    # building a reply or inform to the request then raised KatcpTypeError
    req = parse(b"?help[7] bench-echo")
    assert type(req.name) is str and req.name == "help"
    assert Message.reply_inform(req, "x").encode() == b"#help[7] x\n"
    assert Message.reply_to_request(req, "ok").encode() == b"!help[7] ok\n"


def test_names_given_as_unicode_or_native_str_are_native_str():
    for name in (u"watchdog", "watchdog", b"watchdog"):
        assert type(Message.request(name).name) is str
    with pytest.raises(KatcpSyntaxError, match="invalid message name"):
        Message.request(u"caf\u00e9")


def test_unicode_arguments_are_sent_as_utf8():
    # on 2.7, str(u"\u00e9") raised UnicodeEncodeError
    assert Message.request("x", u"caf\u00e9").encode() == b"?x caf\xc3\xa9\n"


def test_byte_checks_of_the_fast_paths():
    # int needles (92 in line) raise TypeError on 2.7 and data[i] == 93 is never true
    assert parse(b"?x a\\_b").arguments == [b"a b"]               # escape: slow path
    assert parse(b"?x[12] a").mid == b"12"                        # "]" check
    assert Message.request("x", b"a b", b"").encode() == b"?x a\\_b \\@\n"
    with pytest.raises(KatcpSyntaxError):
        parse(b" ?x")                                             # leading blank (spec 2.1)
    assert LineSplitter().feed(b"?a\r?b\r\n  \n") == [b"?a", b"?b"]


def test_sensor_names_as_unicode_or_native_str():
    for name in (u"bench.counter", "bench.counter"):
        sensor = Sensor.integer(name, "Counter", "", [0, 10])
        assert type(sensor.name) is str and sensor.name == "bench.counter"


def test_function_of_sees_through_unbound_methods():
    class Sub(DeviceServer):
        pass

    assert compat.function_of(Sub.handle_message) is compat.function_of(
        DeviceServer.handle_message)
    assert compat.function_of(len) is len


class _Plain(DeviceServer):
    VERSION_INFO = ("plain", 1, 0)
    BUILD_INFO = ("plain", 1, 0, "")


class _Hooked(_Plain):
    def handle_message(self, client_conn, msg):
        super(_Hooked, self).handle_message(client_conn, msg)


def test_server_takes_the_hook_path_only_when_handle_message_is_overridden():
    # on 2.7 every server took the hooked (slower) path
    assert _Plain("127.0.0.1", 0).dispatcher._hooked is False
    assert _Hooked("127.0.0.1", 0).dispatcher._hooked is True


def test_client_borrows_reads_unless_a_hook_is_overridden():
    class Custom(BlockingClient):
        def handle_inform(self, msg):
            pass

    # on 2.7 no client borrowed its reply reads
    assert BlockingClient("127.0.0.1", 1)._may_borrow is True
    assert Custom("127.0.0.1", 1)._may_borrow is False
