"""Tradeable instruments, read from ``configs/instruments.toml`` and validated with pydantic.

Every instrument trades in integer ticks and lots (STYLE 5): ``tick_size`` is the price step in
micro-USDC per compute hour (CH), ``lot_size`` the quantity step in milli-CH. Its limits —
``price_band_ticks`` (how far a limit price may be from the last trade, or from
``reference_price_ticks`` before the first), ``min_lots`` and ``max_lots``, and
``max_price_ticks`` (the highest limit price; default 1,000,000) — configure its engine (:meth:`Instrument.engine_config`); the engine itself does not care about the kind.

Kinds (``kind = ...`` in each ``[instruments.<SYMBOL>]`` table):

* ``spot``: compute hours of one performance grade class (``grade``), e.g. ``CH-A-SPOT``;
* ``future``: a grade's CH delivered over ``delivery_start`` .. ``delivery_end``, trading until
  ``expiry`` (at or before the delivery start); ``tenor`` is daily, weekly, monthly or quarterly;
* ``option``: a call or put on a future (``underlying``, which must be a future of the file),
  ``strike_ticks`` in the underlying's ticks, expiring at or before the underlying;
* ``perpetual``: a grade's CH with no expiry, funded every ``funding_interval_s`` against the
  index ``index``.

Errors name the file and the key (``instruments.CH-A-F-2027Q1.expiry: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gcx.errors import ConfigError
from gcx.validation import describe_validation_error

from .engine_config import MAX_PRICE, EngineConfig

__all__ = ["Future", "Instrument", "Instruments", "Option", "Perpetual", "Spot", "parse_instruments"]

PositiveInt = Annotated[int, Field(gt=0)]
MAX_LOTS = 1 << 40  # an order's size limit: room for 2**23 maximal trades before volume passes int64
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,47}$")]
Grade = Literal["A", "B", "C", "D"]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: str = ""
    tick_size: PositiveInt  # micro-USDC per CH
    lot_size: PositiveInt  # milli-CH
    price_band_ticks: Annotated[int, Field(ge=0)] | None = None
    reference_price_ticks: PositiveInt | None = None
    min_lots: PositiveInt = 1
    max_lots: Annotated[int, Field(gt=0, le=MAX_LOTS)] = 1_000_000
    max_price_ticks: Annotated[int, Field(gt=0, le=MAX_PRICE)] = 1_000_000

    @model_validator(mode="after")
    def _sizes(self) -> _Base:
        if self.min_lots > self.max_lots:
            raise ValueError(f"min_lots {self.min_lots} is above max_lots {self.max_lots}")
        ref = self.reference_price_ticks
        if ref is not None and ref > self.max_price_ticks:
            raise ValueError(f"reference_price_ticks {ref} is above max_price_ticks {self.max_price_ticks}")
        return self

    def engine_config(self) -> EngineConfig:
        """The engine limits of this instrument."""
        return EngineConfig(
            band_ticks=self.price_band_ticks,
            reference_price=self.reference_price_ticks,
            min_qty=self.min_lots,
            max_qty=self.max_lots,
            max_price=self.max_price_ticks,
        )

    def price_to_ticks(self, micro_usdc: int) -> int | None:
        """A price in micro-USDC per CH as ticks, or None if it is not a positive multiple."""
        ticks, rest = divmod(micro_usdc, self.tick_size)
        return ticks if rest == 0 and ticks > 0 else None

    def qty_to_lots(self, milli_ch: int) -> int | None:
        """A quantity in milli-CH as lots, or None if it is not a positive multiple."""
        lots, rest = divmod(milli_ch, self.lot_size)
        return lots if rest == 0 and lots > 0 else None


class Spot(_Base):
    kind: Literal["spot"]
    grade: Grade


class Future(_Base):
    kind: Literal["future"]
    grade: Grade
    tenor: Literal["daily", "weekly", "monthly", "quarterly"]
    expiry: datetime
    delivery_start: datetime
    delivery_end: datetime

    @model_validator(mode="after")
    def _dates(self) -> Future:
        if (
            self.expiry.tzinfo is None
            or self.delivery_start.tzinfo is None
            or self.delivery_end.tzinfo is None
        ):
            raise ValueError("expiry and delivery window need a UTC offset (e.g. 2026-07-01T00:00:00Z)")
        if not self.expiry <= self.delivery_start < self.delivery_end:
            raise ValueError("need expiry <= delivery_start < delivery_end")
        return self


class Option(_Base):
    kind: Literal["option"]
    underlying: Symbol
    strike_ticks: PositiveInt
    right: Literal["call", "put"]
    expiry: datetime


class Perpetual(_Base):
    kind: Literal["perpetual"]
    grade: Grade
    funding_interval_s: PositiveInt
    index: Annotated[str, Field(min_length=1)]


Instrument = Annotated[Spot | Future | Option | Perpetual, Field(discriminator="kind")]


class Instruments(BaseModel):
    """The whole file: ``[instruments.<SYMBOL>]`` tables."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    instruments: dict[Symbol, Instrument]

    @model_validator(mode="after")
    def _options_on_futures(self) -> Instruments:
        for symbol, inst in self.instruments.items():
            if not isinstance(inst, Option):
                continue
            under = self.instruments.get(inst.underlying)
            if not isinstance(under, Future):
                raise ValueError(
                    f"instruments.{symbol}.underlying: {inst.underlying!r} is not a future of this file"
                )
            if inst.expiry > under.expiry:
                raise ValueError(f"instruments.{symbol}.expiry: after its underlying's expiry {under.expiry}")
        return self


def parse_instruments(data: Mapping[str, Any], source: str) -> dict[str, Spot | Future | Option | Perpetual]:
    """The instruments of a parsed instruments file by symbol; :class:`ConfigError` names the
    bad key (``source`` says where ``data`` came from)."""
    try:
        return dict(Instruments.model_validate(data, strict=False).instruments)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, Instruments, source)) from None
