"""Request handlers typed by annotations (aiokatcp's style, F134)."""

import concurrent.futures
import enum
from typing import Optional, Tuple

import pytest

from katcp_sync.annotated import annotated_request
from katcp_sync.errors import FailReply
from katcp_sync.message import Message
from katcp_sync.server import DeviceServer
from katcp_sync.testutils import BlockingTestClient, handle_mock_req, mock_req, start_server

WAIT = 5.0


class Fruit(enum.Enum):
    APPLE = 1
    BLOOD_ORANGE = 2


class Typed(DeviceServer):
    VERSION_INFO = ("typed", 1, 0)
    BUILD_INFO = ("typed", 1, 0, "")

    @annotated_request
    def request_add(self, req, x: float, y: float) -> float:
        """Add two numbers."""
        return x + y

    @annotated_request
    def request_split(self, req, text: str, count: int = 2) -> Tuple[str, int]:
        """Repeat text; say how long it was."""
        return text * count, len(text)

    @annotated_request
    def request_pick(self, req, fruit: Fruit, ripe: Optional[bool]) -> Fruit:
        """Echo a fruit (a discrete argument)."""
        if ripe is False:
            raise FailReply("not ripe")
        return fruit

    @annotated_request
    def request_raw(self, req, *chunks: bytes) -> int:
        """Count the bytes of every argument, undecoded."""
        return sum(len(chunk) for chunk in chunks)

    @annotated_request
    def request_nothing(self, req) -> None:
        """Reply a bare ok."""

    @annotated_request
    def request_later(self, req, value: int) -> int:
        """Reply through a future."""
        future = concurrent.futures.Future()
        future.set_result(value + 1)
        return future


def reply_of(name, *args):
    server = Typed("127.0.0.1", 0)
    reply, _ = handle_mock_req(server, mock_req(name, *args)).result(WAIT)
    return [arg.decode() for arg in reply.arguments]


@pytest.mark.parametrize("request_args, expected", [
    (("add", 3, 6), ["ok", "9.0"]),
    (("split", "ab"), ["ok", "abab", "2"]),
    (("split", "ab", 3), ["ok", "ababab", "2"]),
    (("pick", "blood-orange"), ["ok", "blood-orange"]),
    (("pick", "apple", 1), ["ok", "apple"]),
    (("raw", "ab", "cde"), ["ok", "5"]),
    (("nothing",), ["ok"]),
    (("later", 41), ["ok", "42"]),
])
def test_annotations_become_argument_and_reply_types(request_args, expected):
    assert reply_of(*request_args) == expected


@pytest.mark.parametrize("request_args, code, text", [
    (("add", "x", 1), "fail", "x"),                     # not a float
    (("add", 1), "fail", "y"),                          # missing argument
    (("pick", "banana"), "fail", "banana"),             # not a member
    (("pick", "apple", 0), "fail", "not ripe"),         # FailReply as usual
])
def test_bad_arguments_fail_as_with_the_decorators(request_args, code, text):
    reply = reply_of(*request_args)
    assert reply[0] == code and text in reply[1]


def test_help_and_the_wire():
    with start_server(Typed) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            client.assert_request_succeeds("add", 1, 2, args_equal=["3.0"])
            reply, informs = client.blocking_request(Message.request("help", "add"))
            assert reply.reply_ok() and informs[0].arguments == [b"add", b"Add two numbers."]


def test_unsupported_annotations_are_refused_at_decoration_time():
    with pytest.raises(TypeError, match="needs a type annotation"):
        @annotated_request
        def request_bare(self, req, x):
            """No annotation."""
    with pytest.raises(TypeError, match="not supported"):
        @annotated_request
        def request_odd(self, req, x: list):
            """A list is not a KATCP type."""
    with pytest.raises(ValueError, match="request_"):
        @annotated_request
        def add(self, req, x: int):
            """Not a request handler name."""
