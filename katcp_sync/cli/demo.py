"""``katcp-sync demo``: run the tutorial's example server and talk to it.

The example device server (``MyServer`` from ``examples/tutorial_server.py``)
is started on a free loopback port. The blocking client then sends
``?help``, ``?watchdog``, ``?add 3 6``, ``?raw-reverse``,
``?sensor-list`` and ``?sensor-value``, and the high-level client syncs with
the device, calls ``req.add(3, 6)``, samples ``fruit.result`` on ``event``,
starts ``?pick-fruit`` without waiting, waits for the sensor and then for
the reply. Every message is printed as KATCP text: ``?`` requests sent,
``#`` informs and ``!`` replies received. Everything is stopped at the end.
The example's ``?eval``, which runs a client's Python code, is left out (as
by ``katcp-sync serve``).

The example server picks a random fruit after a random delay of 1 to 4
seconds; in the demo that module's random generator always finds a fruit
after one second (the same on every Python, whose seeded generators differ).
"""

from __future__ import absolute_import, division, print_function

import argparse
import random
import sys
from typing import Any, Iterable, Optional

from ..client import BlockingClient
from ..display import format_message
from ..errors import KatcpClientError, KatcpError
from ..formatting import format_address
from ..message import Message
from ..resource import KATCPClientResource
from .common import EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, die
from .examples import example_server_class, load_example

__all__ = ["run", "DEMO_SEED"]

#: Seed of the example module's random generator (:class:`_DemoRandom`).
DEMO_SEED = 1


class _DemoRandom(random.Random):
    """The example's ``random`` in the demo: ``?pick-fruit`` finds a fruit
    (``choice`` skips the ``None`` of "no fruit") after one second (``randrange``
    gives its start), whatever the Python."""

    def choice(self, seq):
        # type: (Any) -> Any
        return random.Random.choice(self, [item for item in seq if item is not None])

    def randrange(self, start, *args, **kwargs):  # type: ignore[override]
        # type: (int, *Any, **Any) -> int
        return start


def _say(text=""):
    # type: (str) -> None
    print(text)
    sys.stdout.flush()


def _show(messages, indent=""):
    # type: (Iterable[Message], str) -> None
    for msg in messages:
        _say(indent + format_message(msg))


def _show_reply(reply):
    # type: (Any) -> None
    """Print a high-level client's KATCPReply as the blocking part prints
    messages (escapes decoded as in :func:`katcp_sync.cli.format_message`)."""
    _show(list(reply.informs) + [reply.reply])


def blocking_client_part(host, port, timeout):
    # type: (str, int, float) -> None
    """Talk to the server with :class:`~katcp_sync.client.BlockingClient`."""
    _say("== The blocking client: client.blocking_request(Message.request(...)) ==")
    with BlockingClient(host, port, timeout=timeout) as client:
        if not client.wait_protocol(timeout):
            die(EXIT_CONNECTION, "the example server did not answer")
        _say("-- connected; the server speaks KATCP %s" % client.protocol_flags)
        for request in (("help",), ("watchdog",), ("add", 3, 6),
                        ("raw-reverse", "one", "two", "three"), ("sensor-list",),
                        ("sensor-value",)):
            msg = Message.request(*request)
            _say()
            _say(format_message(msg))
            reply, informs = client.blocking_request(msg)
            _show(informs + [reply])


def high_level_part(host, port, timeout):
    # type: (str, int, float) -> None
    """Talk to the server with :class:`~katcp_sync.resource.KATCPClientResource`."""
    _say()
    _say("== The high-level client: KATCPClientResource ==")
    resource = KATCPClientResource(dict(name="demo-client", address=(host, port),
                                        controlled=True))
    resource.start()
    try:
        resource.until_synced(timeout=timeout)
        _say("-- synced: %d requests, %d sensors" % (len(resource.req), len(resource.sensor)))
        _say()
        _say(">>> client.req.add(3, 6)")
        _show_reply(resource.req.add(3, 6))
        _say()
        _say(">>> client.sensor.fruit_result.set_strategy('event')")
        resource.sensor.fruit_result.set_strategy("event")
        _say(">>> pick = client.req.pick_fruit.future()")
        pick = resource.req.pick_fruit.future()
        _say(">>> client.sensor.fruit_result.wait(lambda reading: reading.status == 'nominal')")
        try:
            resource.sensor.fruit_result.wait(lambda reading: reading.status == "nominal",
                                              timeout=timeout)
        except KatcpError:
            pass     # the fruit picker failed: the reply below says so
        _say(">>> client.sensor.fruit_result.get_value()")
        _say(repr(resource.sensor.fruit_result.get_value()))
        _say(">>> pick.result()")
        _show_reply(pick.result(timeout))
    finally:
        resource.stop()
        resource.join(timeout)


def run(args=None):
    # type: (Optional[argparse.Namespace]) -> int
    """Run the demo; returns 0 when every step worked."""
    timeout = getattr(args, "timeout", 5.0)
    module = load_example("tutorial_server")  # type: Any
    module.random = _DemoRandom(DEMO_SEED)
    server = example_server_class(module=module)("127.0.0.1", 0)
    server.start()
    try:
        host, port = server.bind_address[:2]
        _say("-- the tutorial's example server (examples/tutorial_server.py) listens on %s"
             % format_address((host, port)))
        _say()
        blocking_client_part(host, port, timeout)
        high_level_part(host, port, timeout)
    except KatcpError as exc:
        die(EXIT_CONNECTION if isinstance(exc, KatcpClientError) else EXIT_FAILED,
            "demo failed: %s" % exc)
    finally:
        server.stop()
        server.join(timeout)
    _say()
    _say("-- done: server and clients stopped")
    return EXIT_OK
