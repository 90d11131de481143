"""The versioned reference profile that defines one Compute Hour (DESIGN §2, seed §7.2).

A profile names the reference system, one sustained figure per benchmark (each with its
provenance), the market classes with their benchmark weights, which benchmarks may stand in for
others, and the grade thresholds. Everything a verifier needs to recompute a CH rate and a
grade is in the profile, so reports name the profile (name, version, digest) they used.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from eth_hash.auto import keccak
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import units
from .errors import ConfigError
from .paths import default_reference_path
from .tomlfiles import read_toml
from .validation import describe_validation_error
from .wire import canonical_bytes

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProfileMeta(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    version: Annotated[int, Field(ge=1)]
    description: str = ""
    system: str = ""
    default_class: Name
    power_w: Positive
    power_provenance: str


class Figure(_Strict):
    value: Positive
    unit: str
    provenance: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _unit_known(self) -> Figure:
        try:
            units.parse_unit(self.unit)
        except ConfigError as exc:  # pydantic reports ValueErrors with the key's location
            raise ValueError(str(exc)) from None
        return self


class MarketClass(_Strict):
    description: str = ""
    weights: dict[Name, Annotated[float, Field(ge=0, allow_inf_nan=False)]]


class PerformanceThresholds(_Strict):
    """Minimum CH per wall hour for each grade; below ``C`` is ``D``."""

    A: Positive
    B: Positive
    C: Positive


class ReliabilityThresholds(_Strict):
    """Uptime in percent: grade 1 above ``g1``, 2 from ``g2``, 3 from ``g3``, else 4."""

    g1: Annotated[float, Field(gt=0, le=100)]
    g2: Annotated[float, Field(gt=0, le=100)]
    g3: Annotated[float, Field(gt=0, le=100)]


class EnergyThresholds(_Strict):
    """Joules per CH relative to the reference's: X up to ``X``, Y up to ``Y``, else Z."""

    X: Positive
    Y: Positive


class Grades(_Strict):
    performance: PerformanceThresholds
    reliability: ReliabilityThresholds
    energy: EnergyThresholds


class ReferenceProfile(_Strict):
    """A parsed, validated reference profile. Build with :func:`load_profile`."""

    profile: ProfileMeta
    benchmarks: dict[Name, Figure]
    substitutes: dict[Name, list[Name]] = {}
    classes: dict[Name, MarketClass]
    grades: Grades

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceProfile:
        if self.profile.default_class not in self.classes:
            raise ValueError(f"profile.default_class {self.profile.default_class!r} is not a class")
        for cname, cls in self.classes.items():
            for bench in cls.weights:
                if bench not in self.benchmarks:
                    raise ValueError(
                        f"classes.{cname}.weights names {bench!r}, which has no benchmark figure"
                    )
            if not math.fsum(cls.weights.values()) > 0:
                raise ValueError(f"classes.{cname}.weights must have a positive sum")
        for bench, subs in self.substitutes.items():
            if bench not in self.benchmarks:
                raise ValueError(f"substitutes.{bench} names an unknown benchmark")
            if bench in subs:
                raise ValueError(f"substitutes.{bench} lists itself")
            unknown = [s for s in subs if s not in self.benchmarks]
            if unknown:
                raise ValueError(f"substitutes.{bench} names unknown benchmarks: {', '.join(unknown)}")
        p, r, e = self.grades.performance, self.grades.reliability, self.grades.energy
        if not p.A > p.B > p.C:
            raise ValueError("grades.performance must satisfy A > B > C")
        if not r.g1 > r.g2 > r.g3:
            raise ValueError("grades.reliability must satisfy g1 > g2 > g3")
        if not e.X < e.Y:
            raise ValueError("grades.energy must satisfy X < Y")
        return self

    @cached_property
    def digest(self) -> str:
        """``0x``-keccak of the canonical encoding of the parsed profile (formatting-independent)."""
        return "0x" + keccak(canonical_bytes(self.model_dump(mode="python"))).hex()

    @property
    def reference_j_per_ch(self) -> float:
        """Joules the reference system spends for one CH: its power over one hour."""
        return self.profile.power_w * 3600.0

    def ident(self) -> dict[str, Any]:
        """How a report names this profile."""
        return {"name": self.profile.name, "version": self.profile.version, "digest": self.digest}


def parse_profile(data: dict[str, Any], source: str) -> ReferenceProfile:
    """Validate a profile already read from TOML; errors name ``source`` and the bad key."""
    try:
        return ReferenceProfile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "invalid reference profile:\n" + describe_validation_error(exc, ReferenceProfile, source)
        ) from None


def load_profile(path: Path | None = None) -> ReferenceProfile:
    """Load the profile at ``path`` (default: the built-in ``configs/reference.toml``)."""
    path = path or default_reference_path()
    return parse_profile(read_toml(path, "reference profile"), str(path))
