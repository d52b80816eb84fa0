"""The tutorial's "Using the high-level client API" example, in synchronous form.

It talks to the tutorial's server (``examples/tutorial_server.py``)::

    python examples/tutorial_server.py 5000 &
    python examples/tutorial_high_level_client.py [HOST [PORT]]

What changed from the tornado version: no ioloop and no coroutines. Calls
block and return their result; ``client.req.pick_fruit.future()`` returns a
``concurrent.futures.Future`` where the tornado version did not ``yield``.
When no fruit is picked it says so, where the tornado version stopped
with the TimeoutException. Like the tutorial's, run again against a server
that picked before, it may show that pick's fruit (see the tutorial).
"""

from __future__ import print_function  # print() on Python 2.7 too

import sys

from katcp_sync import resource_client
from katcp_sync.errors import KatcpTimeoutError, TimeoutException


def demo(client):
    """Run the tutorial's demo on a started client; return what it printed."""
    # Wait until the client has finished inspecting the device
    client.until_synced(timeout=10)
    help_response = client.req.help()
    print("device help:\n ", help_response)
    add_response = client.req.add(3, 6)
    print("3 + 6 response:\n", add_response)
    # By asking for a future we are not waiting for the response
    pick_response_future = client.req.pick_fruit.future()
    # Instead we wait for the fruit.result sensor status to change to
    # nominal. Before we can wait on a sensor, a strategy must be set:
    client.sensor.fruit_result.set_strategy('event')
    # If the condition does not occur within the timeout (default 5s), we will
    # get a TimeoutException
    try:
        client.sensor.fruit_result.wait(lambda reading: reading.status == 'nominal')
    except TimeoutException:
        fruit = None
        print("No fruit picked (the server sometimes has none).")
    else:
        fruit = client.sensor.fruit_result.get_value()
        print('Fruit picked: ', fruit)
    # And see how the ?pick-fruit request responded by waiting on its future
    pick_response = pick_response_future.result(timeout=10)
    print('pick response: \n', pick_response)
    return help_response, add_response, fruit, pick_response


def main(host="localhost", port=5000):
    client = resource_client.KATCPClientResource(dict(
        name='demo-client',
        address=(host, port),
        controlled=True))
    # Note: katcp_sync resources are already thread-safe and blocking, so
    # katcp-python's ThreadSafeKATCPClientResourceWrapper and IOLoopManager
    # are not needed (the wrapper exists, for ported code: it bounds calls by
    # its ioloop wrapper's default_timeout, as katcp-python's did).
    client.start()
    try:
        return demo(client)
    finally:
        # stop() ends the client's background thread; join() waits for it
        client.stop()
        client.join()


if __name__ == "__main__":
    args = sys.argv[1:]
    host, port = args[0] if args else "localhost", int(args[1]) if len(args) > 1 else 5000
    try:
        main(host, port)
    except KatcpTimeoutError as error:   # e.g. no device at host:port
        sys.exit("Cannot use the device at %s:%d: %s" % (host, port, error))
