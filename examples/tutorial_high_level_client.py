"""The tutorial's "Using the high-level client API" example, in synchronous form.

It talks to the tutorial's server (``examples/tutorial_server.py``)::

    python examples/tutorial_server.py 5000 &
    python examples/tutorial_high_level_client.py [HOST [PORT]]

What changed from the tornado version: no ioloop and no coroutines. Calls
block and return their result; ``client.req.pick_fruit.future()`` returns a
``concurrent.futures.Future`` where the tornado version did not ``yield``.
The fruit is awaited as a reading newer than the one from before the
request, sampled every 0.1 s, so that the example also reports the right
fruit when run again against the same server (see the tutorial).
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
    # Before we can wait on a sensor, a strategy must be set. 'period' sends
    # a reading every 0.1 s, so a pick of the same fruit as last time, which
    # changes only the timestamp ('event' would not report it), is seen too:
    client.sensor.fruit_result.set_strategy('period', 0.1)
    # The reading before this pick (the server may have picked before)
    before = client.sensor.fruit_result.get_reading()
    # By asking for a future we are not waiting for the response
    pick_response_future = client.req.pick_fruit.future()
    # Instead we wait for a new nominal reading of the fruit.result sensor.
    # If the condition does not occur within the timeout (default 5s), we will
    # get a TimeoutException
    try:
        client.sensor.fruit_result.wait(
            lambda reading: reading.status == 'nominal' and reading.timestamp > before.timestamp)
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
    # are not needed (the wrapper exists and returns the resource itself).
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
