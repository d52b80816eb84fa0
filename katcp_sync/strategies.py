"""The table of KATCP sampling strategies (spec 7.1, Table 9).

One definition of what each strategy is: its constant, its name, its
parameters, the first protocol version that has it and the sensor types it
is valid for. :mod:`katcp_sync.sampling` (the strategies themselves),
:mod:`katcp_sync.sampling_params` (their parameters) and
:mod:`katcp_sync.protocol` (``STRATEGIES_V4``/``STRATEGIES_V5``,
``ProtocolFlags.strategy_allowed``) read it from here. It imports nothing
from the package, so that the protocol module can. Constant data; any thread.
"""

from __future__ import absolute_import, division, print_function

from typing import Dict, FrozenSet, NamedTuple, Optional, Tuple, Union

import six

from . import compat
from .errors import KatcpValueError

__all__ = [
    "StrategyInfo",
    "STRATEGY_TABLE",
    "STRATEGY_BY_CODE",
    "STRATEGY_BY_NAME",
    "SAMPLING_LOOKUP",
    "SAMPLING_LOOKUP_REV",
    "STRATEGIES_V4",
    "STRATEGIES_V5",
    "strategy_info",
]

NONE, AUTO, PERIOD, EVENT, DIFFERENTIAL, EVENT_RATE, DIFFERENTIAL_RATE = range(7)

#: The sensor types the differential strategies are valid for (Table 9:
#: they "may only be implemented for float and integer sensors").
_NUMERIC = frozenset(["integer", "float"])


class StrategyInfo(NamedTuple('StrategyInfo', [('code', int), ('name', str), ('params', Tuple[str, ...]), ('since_major', int), ('stypes', Optional[FrozenSet[str]])])):
    """One row of the strategy table. Immutable: any thread may read it."""
    __slots__ = ()


#: Every strategy, in constant order (spec 7.1, Table 9).
STRATEGY_TABLE = (
    StrategyInfo(NONE, "none", (), 4, None),
    StrategyInfo(AUTO, "auto", (), 4, None),
    StrategyInfo(PERIOD, "period", ("period",), 4, None),
    StrategyInfo(EVENT, "event", (), 4, None),
    StrategyInfo(DIFFERENTIAL, "differential", ("difference",), 4, _NUMERIC),
    StrategyInfo(EVENT_RATE, "event-rate", ("shortest-period", "longest-period"), 5, None),
    StrategyInfo(DIFFERENTIAL_RATE, "differential-rate",
                 ("difference", "shortest-period", "longest-period"), 5, _NUMERIC),
)
#: Constant -> row.
STRATEGY_BY_CODE = {row.code: row for row in STRATEGY_TABLE}  # type: Dict[int, StrategyInfo]
#: Name -> row.
STRATEGY_BY_NAME = {row.name: row for row in STRATEGY_TABLE}  # type: Dict[str, StrategyInfo]
#: Constant -> KATCP name.
SAMPLING_LOOKUP = {row.code: row.name for row in STRATEGY_TABLE}  # type: Dict[int, str]
#: KATCP name -> constant.
SAMPLING_LOOKUP_REV = {row.name: row.code for row in STRATEGY_TABLE}  # type: Dict[str, int]
#: Sampling strategies of protocol v4.
STRATEGIES_V4 = frozenset(row.name for row in STRATEGY_TABLE if row.since_major <= 4)
#: Sampling strategies of protocol v5: v4's plus the rate-limited ones.
STRATEGIES_V5 = frozenset(row.name for row in STRATEGY_TABLE)


def strategy_info(strategy):
    # type: (Union[int, bytes, str]) -> StrategyInfo
    """The row of a strategy given as a constant or a name (``"event-rate"``).

    Raises:
        KatcpValueError: not a strategy.
    """
    row = None  # type: Optional[StrategyInfo]
    if isinstance(strategy, six.integer_types):
        row = STRATEGY_BY_CODE.get(strategy)
    elif isinstance(strategy, bytes):
        row = STRATEGY_BY_NAME.get(compat.wire_text(strategy))
    elif isinstance(strategy, six.text_type):
        row = STRATEGY_BY_NAME.get(strategy)  # (unicode equals str on 2.7)
    if row is None:
        raise KatcpValueError("Unknown strategy: %r" % (strategy,))
    return row
