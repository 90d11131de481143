# Cython declarations for the compiled build of engine.py (see native.py): the C types of the
# Engine's attributes and of its hot-path locals. engine.py itself stays plain Python, the
# reference; a name not declared here stays a Python object in the compiled build too.
#
# Typed: prices, order quantities, sides, counters (all bounded by EngineConfig: prices by
# max_price <= 2**26, quantities by max_qty <= 2**62, so no sum below can overflow int64).
# Left as Python integers on purpose: per-level totals (a sum of many orders), the traded
# volume, the band and reference price (compared with price +/- band), ids and accounts.

import cython

# Module constants as C values (in engine.py they are plain module globals).
cdef int _BUY, _SELL, _IOC, _FOK, _POST, _MARKET, _STP_RESTING, _STP_TAKER
cdef int _R_BAD, _R_BAND, _R_SIZE, _R_POST, _R_FOK, _R_DUP, _R_UNKNOWN, _R_OWNER, _R_STP
cdef int _R_BALANCE, _R_NOLIQ, _R_PRICE, _C_USER, _C_IOC, _C_MARKET, _C_SELF
cdef long long _COMPACT_AT, _NO_ASK
cdef int ACCEPTED, BOOK_DELTA, CANCELLED, REJECTED, REPLACED, TRADE

cdef class Engine:
    cdef object _band, _ref0
    cdef long long _min_qty, _max_qty, _max_price, _lo, _top
    cdef int _stp
    cdef object _check
    cdef bint _guarded
    cdef readonly list _levels
    cdef list _qtys
    cdef readonly dict _orders
    cdef list _dead
    cdef public long long best_bid, best_ask, last_price, seq
    cdef public object volume
    cdef public list out

    @cython.locals(row=tuple, kind=object)
    cpdef execute(self, object rows)

    @cython.locals(band=object, ref=object)
    cdef int _precheck(self, object account, object order_id, int side, long long price, long long qty,
                       long long min_price) except -1

    @cython.locals(reason=cython.int, order=list, queue=object)
    cpdef place_limit(self, object account, object order_id, int side, long long price, long long qty,
                      int order_type=*)

    @cython.locals(reason=cython.int)
    cpdef place_market(self, object account, object order_id, int side, long long qty)

    @cython.locals(order=list, qty=cython.longlong, price=cython.longlong, count=cython.longlong,
                   side=cython.int)
    cpdef cancel(self, object account, object order_id)

    @cython.locals(price=cython.longlong, qty=cython.longlong, side=cython.int)
    cdef _unlink(self, list order)

    @cython.locals(dead=cython.longlong)
    cdef _bury(self, object queue, long long price)

    @cython.locals(reason=cython.int, order=list, side=cython.int, old_price=cython.longlong,
                   remaining=cython.longlong, crosses=cython.bint)
    cpdef replace(self, object account, object order_id, long long price, long long qty)

    @cython.locals(side=cython.int, price=cython.longlong)
    cdef _rest(self, list order)

    @cython.locals(price=cython.longlong, start=cython.longlong, last=cython.longlong,
                   blocked=cython.bint, maker=list, maker_qty=cython.longlong, stp=cython.int)
    cdef long long _take_asks(self, list out, object taker_id, object account, long long qty,
                              long long limit) except -1

    @cython.locals(price=cython.longlong, start=cython.longlong, last=cython.longlong,
                   blocked=cython.bint, maker=list, maker_qty=cython.longlong, stp=cython.int)
    cdef long long _take_bids(self, list out, object taker_id, object account, long long qty,
                              long long limit) except -1

    @cython.locals(price=cython.longlong, step=cython.int, top=cython.longlong, stp=cython.int)
    cdef int _fok_reason(self, object account, int side, long long limit, long long qty) except -1

    @cython.locals(old_top=object, top=object)
    cdef _grow(self, long long price)
