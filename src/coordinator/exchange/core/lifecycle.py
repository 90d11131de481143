"""The order lifecycle as a transition table (STYLE 3).

Theory of operation: an order is born by a place command and is then *working* until it is
filled or cancelled; a rejected place command leaves no order behind, and a refused cancel or
replace leaves a working order as it was. The engine's hot path does not consult this table (a
dict lookup per event would cost a tenth of its budget); it is the specification that
:func:`follow` checks event streams against, in the tests and in any consumer that wants to.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .events import ACCEPTED, CANCELLED, REJECTED, REPLACED, TRADE, Event

__all__ = ["TRANSITIONS", "IllegalTransition", "OrderState", "Transition", "follow"]


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


def _step(
    states: dict[int, tuple[OrderState, int]], order_id: int, transition: Transition, open_qty: int
) -> None:
    state, _ = states.get(order_id, (S.NEW, 0))
    nxt = TRANSITIONS.get((state, transition))
    if nxt is None:
        raise IllegalTransition(f"order {order_id}: {transition.value} in state {state.value}")
    states[order_id] = (nxt, open_qty)


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
