# -*- coding: utf-8 -*-
"""A device server written for katcp-python 0.9's threaded DeviceServer.

It uses the API the way public telescope servers of that era do (the corr2
instrument and hardware servlets, katcbfsim, katsdpcontroller's and
mpikat's master controllers, a collectd-to-KATCP bridge), in this
project's own words: ``sock``-named first arguments, one-element ``('ok',)``
tuples, ``Str(multiple=True)``, optional and defaulted parameters,
``include_msg``, ``sock.inform``, the server's ``inform``/``reply``/
``reply_inform`` called with the handler's ``req``, ``AsyncReply``
answered from ``ioloop.add_callback`` and from a timer thread, sensors made
from a Python type, a ``Sensor`` subclass with its own ``set``, and
``remove_sensor`` guarded by ``except KeyError``, the message hooks
overridden (``handle_inform``, ``handle_reply``,
``create_exception_reply_and_log``) with ``inform_*``/``reply_*`` methods
behind them, and ``SUPPORTED_PROTOCOL_MAJOR_VERSIONS`` narrowed. Only the import lines name
``katcp_sync``; ``tests/test_ported_servers.py`` also runs it under
katcp-python 0.9.3 with them changed back.

Usage: ``python instrument_server.py`` prints the port, serves until a line
arrives on stdin, then stops.
"""

from __future__ import print_function

import logging
import sys
import threading
import time

import katcp_sync as katcp
from katcp_sync import AsyncReply, FailReply, Message, Sensor
from katcp_sync.kattypes import Discrete, Float, Int, Str, request, return_reply

logging.basicConfig(level=logging.CRITICAL)

T0 = 1500000000.5


class RackSensor(Sensor):
    """A sensor subclass that skips unchanged readings and dashes names."""

    @classmethod
    def integer(cls, name, description=None, unit='', params=None,
                default=None, initial_status=None):
        return cls(cls.INTEGER, name, description, unit, params, default,
                   initial_status)

    def __init__(self, sensor_type, name, description=None, units='',
                 params=None, default=None, initial_status=None):
        super(RackSensor, self).__init__(sensor_type, name.replace('_', '-'),
                                         description, units, params, default,
                                         initial_status)
        self.writes = 0

    def set(self, timestamp=None, status=None, value=None):
        if timestamp is None:
            timestamp = time.time()
        if status is None:
            status = Sensor.NOMINAL
        _, old_status, old_value = self.read()
        if (old_status, old_value) == (status, value):
            return
        self.writes += 1
        super(RackSensor, self).set(timestamp, status, value)


class InstrumentServer(katcp.DeviceServer):

    VERSION_INFO = ('instrument-api', 2, 1)
    BUILD_INFO = ('instrument', 0, 3, 'beta')
    STATES = ['idle', 'configured', 'capturing']
    SUPPORTED_PROTOCOL_MAJOR_VERSIONS = (5,)

    def __init__(self, *args, **kwargs):
        super(InstrumentServer, self).__init__(*args, **kwargs)
        self.labels = ['inp0', 'inp1']
        self.bridged = {}
        self.heard = []

    def handle_inform(self, connection, msg):
        self.heard.append('hook ' + str(msg))
        if msg.name != 'muted':
            super(InstrumentServer, self).handle_inform(connection, msg)

    def handle_reply(self, connection, msg):
        self.heard.append('hook ' + str(msg))
        super(InstrumentServer, self).handle_reply(connection, msg)

    def inform_station_status(self, sock, msg):
        """A downstream station reports in."""
        self.heard.append('station ' + ' '.join(a.decode() for a in msg.arguments))

    def reply_handover(self, sock, msg):
        """A client answers a handover we asked for."""
        self.heard.append('handover ' + ' '.join(a.decode() for a in msg.arguments))

    def create_exception_reply_and_log(self, req_msg, exc_info):
        return Message.reply(req_msg.name, 'fail', 'internal error: %s' % (exc_info[1],))

    def setup_sensors(self):
        self._state = Sensor.discrete('state', description='Instrument state',
                                      params=self.STATES, default='idle')
        self.add_sensor(self._state)
        self._state.set_value('idle', timestamp=T0)
        temp = Sensor.float('rack-temp', 'Rack temperature', 'degC', [-10.0, 60.0])
        self.add_sensor(temp)
        temp.set_value(24.25, Sensor.NOMINAL, T0)
        self._n_accs = RackSensor.integer('n_accs', 'Spectra per dump',
                                          initial_status=Sensor.NOMINAL)
        self.add_sensor(self._n_accs)
        self._n_accs.set(T0, Sensor.NOMINAL, 816)
        self._n_accs.set(T0 + 5, Sensor.NOMINAL, 816)      # unchanged: skipped
        ok = Sensor(Sensor.BOOLEAN, 'synced', 'Digitisers synchronised', '', None,
                    False, Sensor.NOMINAL)
        self.add_sensor(ok)
        ok.set(T0, Sensor.WARN, False)

    @request()
    @return_reply()
    def request_ping(self, sock):
        """Check the servlet answers."""
        return 'ok',

    @request(Str(), Int(default=100))
    @return_reply(Str(), Int())
    def request_create(self, sock, config_file, log_len):
        """Create the instrument from a config file."""
        return 'ok', config_file, log_len

    @request(Str(default='', multiple=True))
    @return_reply(Str(multiple=True))
    def request_input_labels(self, sock, *labels):
        """Query or set the input labels."""
        if labels and labels != ('',):
            if len(labels) != len(self.labels):
                return 'fail', 'need %d labels' % len(self.labels)
            self.labels = list(labels)
        return ('ok',) + tuple(self.labels)

    @request(Str(default=''))
    @return_reply()
    def request_capture_list(self, sock, stream):
        """List the capture destinations with informs."""
        for name in ('baseline-correlation-products', 'tied-array-channelised-voltage'):
            if stream in ('', name):
                sock.inform(name, '239.2.1.%d+7:7148' % len(name))
        return 'ok',

    @request()
    @return_reply(Float())
    def request_accumulation_length(self, sock):
        """The dump period."""
        return 'ok', 0.49978

    @request(Str(), Float())
    @return_reply()
    def request_frequency_select(self, sock, stream, frequency):
        """Select a centre frequency."""
        if frequency <= 0:
            raise FailReply('frequency must be positive')
        return 'ok',

    @request(Str(optional=True), Int(min=1, max=65535, optional=True), include_msg=True)
    @return_reply(Str())
    def request_product_configure(self, req, req_msg, product, n_channels):
        """List products without arguments, else configure one."""
        if not req_msg.arguments:
            req.inform('c856M4k', 'idle')
            return 'ok', '1'
        return 'ok', '%s %r' % (product, n_channels)

    @request(Discrete(STATES))
    @return_reply()
    def request_state(self, req, state):
        """Set the state, later on the ioloop."""
        def apply():
            self._state.set_value(state, timestamp=T0 + 1)
            req.reply('ok')
        self.ioloop.add_callback(apply)
        raise AsyncReply()

    def request_old_capture_status(self, sock, msg):
        """Send informs through the server, as pre-0.6 handlers do."""
        self.reply_inform(sock, Message.inform('old-capture-status', 'stream', 'idle'), msg)
        return Message.reply('old-capture-status', 'ok', '1')

    def request_deferred_sync(self, sock, msg):
        """Reply from a timer thread through the server."""
        def finish():
            self.reply_inform(sock, Message.inform('deferred-sync', 'armed'), msg)
            self.reply(sock, Message.reply('deferred-sync', 'ok'), msg)
        threading.Timer(0.01, finish).start()
        raise AsyncReply()

    @request(Str(), Float())
    @return_reply()
    def request_bridge(self, sock, name, value):
        """Publish an external metric as a sensor (made from the value's type)."""
        if name not in self.bridged:
            sensor = Sensor(type(value), name, 'bridged metric', '', None)
            self.bridged[name] = sensor
            self.add_sensor(sensor)
        self.bridged[name].set(T0 + 2, Sensor.NOMINAL, value)
        return 'ok',

    @request(Str())
    @return_reply(Str())
    def request_unbridge(self, sock, name):
        """Stop publishing a metric; a missing one is not an error."""
        try:
            self.remove_sensor(name)
        except KeyError:
            return 'ok', 'absent'
        del self.bridged[name]
        return 'ok', 'removed'

    @request()
    @return_reply(Str(multiple=True))
    def request_heard(self, sock):
        """What the inform and reply hooks saw, oldest first."""
        heard, self.heard[:] = list(self.heard), []
        return ('ok',) + tuple(heard or ['nothing'])

    def request_crash(self, sock, msg):
        """Fail with an unexpected exception."""
        raise ZeroDivisionError('no spectra')

    @request(Int())
    @return_reply(Int())
    def request_divide(self, sock, n):
        """Divide 100 by n (n = 0: an unexpected exception, in a decorated handler)."""
        return 'ok', 100 // n

    def request_halt(self, req, msg):
        return super(InstrumentServer, self).request_halt(req, msg)
    request_halt.__doc__ = katcp.DeviceServer.request_halt.__doc__


def main():
    server = InstrumentServer('127.0.0.1', 0)
    server.start(timeout=10)
    print(server.bind_address[1])
    sys.stdout.flush()
    sys.stdin.readline()
    server.stop()
    server.join(timeout=10)


if __name__ == '__main__':
    main()
