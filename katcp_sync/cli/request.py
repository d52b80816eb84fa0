"""``katcp-sync request HOST:PORT NAME [ARGS...]``: send one request, print its informs and reply."""

from __future__ import absolute_import, division, print_function

import argparse
import sys

from ..display import format_message
from ..errors import KatcpClientError, KatcpSyntaxError
from ..message import Message
from .common import EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, die, open_client, reply_error

__all__ = ["run"]


def run(args):
    # type: (argparse.Namespace) -> int
    host, port = args.endpoint
    # "?help" as typed in the shell (and as the spec writes requests).
    name = args.name[1:] if args.name.startswith("?") else args.name
    try:
        msg = Message.request(name, *args.arguments)
    except KatcpSyntaxError as exc:
        die(EXIT_USAGE, str(exc))
    with open_client(host, port, args.timeout) as client:
        try:
            reply, informs = client.blocking_request(msg, timeout=args.request_timeout)
        except KatcpClientError as exc:
            die(EXIT_CONNECTION, str(exc))
    for msg in informs + [reply]:
        print(format_message(msg, readable=not args.raw))
    sys.stdout.flush()
    if not reply.reply_ok():
        die(EXIT_FAILED, reply_error(reply))
    return EXIT_OK
