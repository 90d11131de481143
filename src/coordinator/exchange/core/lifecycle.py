"""The order lifecycle as a transition table (STYLE 3).

Theory of operation: an order is born by a place command and is then *working* until it is
filled or cancelled; a rejected place command leaves no order behind, and a refused cancel or
replace leaves a working order as it was. The engine's hot path does not consult this table (a
dict lookup per event would cost a tenth of its budget); it is the specification that
:func:`follow` checks event streams against, in the tests and in any consumer that wants to.

The exchange's state (:mod:`.state`) keeps each order's :class:`OrderState` and moves it only by
:func:`advance` through this table, which raises :class:`IllegalTransition` on anything else.
What clients see comes from the state too (:class:`Status`): an order's own status is
:data:`ORDER_STATUS` of its state (a working order is ``resting`` between commands: an IOC or
market remainder is cancelled within its command), and the answer to a request is
:func:`answer_status`.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .events import ACCEPTED, CANCELLED, REJECTED, REPLACED, TRADE, Event

__all__ = [
    "ORDER_STATUS",
    "TRANSITIONS",
    "IllegalTransition",
    "OrderState",
    "Status",
    "Transition",
    "advance",
    "answer_status",
    "follow",
]


class OrderState(Enum):
    NEW = "new"  # a place command not yet answered
    WORKING = "working"  # accepted, with open quantity (taking, or resting)
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Transition(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIAL_FILL = "partial_fill"  # a trade that leaves open quantity
    FILL = "fill"  # a trade that leaves none
    CANCELLED = "cancelled"  # user, IOC or market remainder, self-trade prevention
    REPLACED = "replaced"


S, T = OrderState, Transition
TRANSITIONS: Final[dict[tuple[OrderState, Transition], OrderState]] = {
    (S.NEW, T.ACCEPTED): S.WORKING,
    (S.NEW, T.REJECTED): S.REJECTED,
    (S.WORKING, T.PARTIAL_FILL): S.WORKING,
    (S.WORKING, T.FILL): S.FILLED,
    (S.WORKING, T.CANCELLED): S.CANCELLED,
    (S.WORKING, T.REPLACED): S.WORKING,
    (S.WORKING, T.REJECTED): S.WORKING,  # a refused cancel or replace changes nothing
}
"""Every legal ``(state, transition) -> next state``; anything else is a bug."""


_FINAL: Final = frozenset({S.FILLED, S.CANCELLED, S.REJECTED})


class IllegalTransition(AssertionError):  # noqa: N818 - a broken invariant, like AssertionError
    """An event stream moved an order along a transition the table does not allow."""


def advance(state: OrderState, transition: Transition, order_id: int = 0) -> OrderState:
    """The state ``transition`` takes an order in ``state`` to; :class:`IllegalTransition` if the
    table has no such move (a bug: the engine and the state disagree)."""
    nxt = TRANSITIONS.get((state, transition))
    if nxt is None:
        raise IllegalTransition(f"order {order_id}: {transition.value} in state {state.value}")
    return nxt


class Status(Enum):
    """The statuses clients see (the API's ``status`` fields)."""

    RESTING = "resting"  # working, nothing traded (an order's own status: working)
    PARTIALLY_FILLED = "partially_filled"  # working, some traded (answers only)
    FILLED = "filled"
    CANCELLED = "cancelled"
    REPLACED = "replaced"  # the answer to an accepted replace (answers only)
    REJECTED = "rejected"


ORDER_STATUS: Final[dict[OrderState, Status]] = {
    S.WORKING: Status.RESTING,
    S.FILLED: Status.FILLED,
    S.CANCELLED: Status.CANCELLED,
    S.REJECTED: Status.REJECTED,
}
"""An order's status as clients see it, by state (``NEW`` is never shown: every command ends
with its order accepted or rejected)."""


def answer_status(state: OrderState, filled: int, *, replace: bool = False, refused: bool = False) -> Status:
    """The ``status`` of the answer to a request whose order ends the command in ``state`` with
    ``filled`` lots traded in all: ``rejected`` if the request was refused, ``replaced`` for an
    accepted replace, ``resting`` or ``partially_filled`` for a working order, else the order's
    final status (``filled``, ``cancelled``: a cancel, or an IOC or market remainder)."""
    if refused:
        return Status.REJECTED
    if replace:
        return Status.REPLACED
    if state is S.WORKING:
        return Status.PARTIALLY_FILLED if filled else Status.RESTING
    if state is S.NEW:
        raise IllegalTransition("a command ended with its order neither accepted nor rejected")
    return ORDER_STATUS[state]


def _step(
    states: dict[int, tuple[OrderState, int]], order_id: int, transition: Transition, open_qty: int
) -> None:
    state, _ = states.get(order_id, (S.NEW, 0))
    states[order_id] = (advance(state, transition, order_id), open_qty)


def follow(events: list[Event], states: dict[int, tuple[OrderState, int]]) -> None:
    """Advance ``states`` (order id -> (state, open qty)) through ``events``.

    A place command's events start at ``ACCEPTED`` or ``REJECTED``; a ``REJECTED`` for an id
    already working is a refused cancel/replace. Raises :class:`IllegalTransition`.
    """
    for ev in events:
        kind = ev[0]
        if kind == ACCEPTED:
            if states.get(ev[1], (S.NEW, 0))[0] in _FINAL:
                del states[ev[1]]  # an id is free again once its order is finished
            _step(states, ev[1], T.ACCEPTED, ev[5])
        elif kind == REJECTED:
            state = states.get(ev[1], (S.NEW, 0))[0]
            if state is S.WORKING:
                _step(states, ev[1], T.REJECTED, states[ev[1]][1])
            elif state is S.NEW:
                _step(states, ev[1], T.REJECTED, 0)
            # otherwise: a cancel/replace of a finished order (UNKNOWN_ORDER), or a duplicate id
        elif kind == TRADE:
            for order_id in (ev[1], ev[2]):
                left = states[order_id][1] - ev[4] if order_id in states else -1
                _step(states, order_id, T.FILL if left == 0 else T.PARTIAL_FILL, left)
        elif kind == CANCELLED:
            _step(states, ev[1], T.CANCELLED, 0)
        elif kind == REPLACED:
            _step(states, ev[1], T.REPLACED, ev[5])
