"""Typed settings: defaults < TOML file < environment overrides.

The file is ``--config FILE``, else ``$GCX_CONFIG``, else ``$GCX_HOME/config.toml`` when it
exists (``configs/gcx.toml`` documents every key). Environment overrides are written
``GCX_<SECTION>__<KEY>=value`` (double underscore between levels), e.g.
``GCX_BENCH__REPEATS=20``. An override of a text setting (a string, a path or one of a few
words) is that text as written — ``GCX_EXCHANGE__VERIFYING_CONTRACT=0x19F2…`` is a string, not a
hexadecimal TOML integer — unless it is written as a quoted TOML string (``'"0x19F2…"'``), which
is unquoted. Any other override is read as a TOML value (``20``, ``true``, ``["a", "b"]``) when
it parses as one, else as a string. Unknown keys and bad values are errors that name the key and
where it came from.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .paths import gcx_home
from .tomlfiles import read_toml
from .validation import describe_validation_error

CONFIG_ENV = "GCX_CONFIG"
ENV_PREFIX = "GCX_"
ENV_SEPARATOR = "__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, Field(gt=0, le=86_400)]


class NodeSettings(_Section):
    key: Annotated[str, Field(min_length=1, max_length=64)] = "node"
    backend: Literal["auto", "cupy", "numpy"] = "auto"
    device_index: Annotated[int, Field(ge=0, le=63)] = 0
    market_class: str | None = None  # None: the reference profile's default class
    # The daemon (`gcx node run`):
    bench_mode: Literal["full", "quick"] = "full"  # quick: devnets and CI only
    report_max_age_s: Annotated[int, Field(ge=0)] = 7 * 86_400  # reuse a cached report this young
    price_per_ch: Annotated[int, Field(ge=0, lt=2**64)] = 500_000  # micro-units of the quote currency
    hours: Annotated[int, Field(ge=0, le=24 * 366)] = 24  # hours of capacity offered
    stake_address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = (
        None  # default: node address
    )
    advert_interval_s: Seconds = 30.0
    advert_ttl_s: Annotated[int, Field(ge=10, le=3600)] = 120
    heartbeat_interval_s: Seconds = 5.0
    # Jobs (`/gcx/job/1`, docs/jobs.md):
    max_jobs: Annotated[int, Field(ge=1, le=256)] = 4  # jobs accepted and not yet submitted, at most
    job_store: Path | None = None  # default: $GCX_HOME/node/data (inputs, outputs, proofs)
    job_store_max_bytes: Annotated[int, Field(ge=1 << 20)] = 8 << 30
    job_retention_s: Annotated[int, Field(ge=0)] = 3600  # keep a job's tensors this long after it ends


class FaultSettings(_Section):
    """Deliberate misbehaviour of a node, for tests and demos only (docs/jobs.md, "Faults")."""

    wrong_result_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # share of jobs with a corrupted op
    wrong_op: Annotated[int, Field(ge=0)] | None = None  # corrupt this op's output in every job
    slow_factor: Annotated[float, Field(ge=1.0, le=1000.0)] = 1.0  # stretch each job's run time
    withhold_data: bool = False  # refuse to serve own results' rows and proofs on /gcx/data/1


def _parse_multiaddr(addr: str) -> Any:
    import multiaddr  # a dependency of libp2p; imported only when there is an address to check

    try:
        return multiaddr.Multiaddr(addr)
    except Exception as exc:  # multiaddr raises several unrelated types for bad input
        raise ValueError(f"{addr!r} is not a valid multiaddr ({exc})") from None


class NetworkSettings(_Section):
    listen: Annotated[list[str], Field(min_length=1, max_length=8)] = ["/ip4/127.0.0.1/tcp/0"]
    bootstrap: Annotated[list[str], Field(max_length=64)] = []  # multiaddrs ending in /p2p/<peer id>
    dial_timeout_s: Seconds = 5.0
    request_timeout_s: Seconds = 10.0
    coordinator_api: str | None = (
        None  # e.g. "http://127.0.0.1:8600"; `gcx node doctor` checks the clock against it
    )

    @field_validator("listen")
    @classmethod
    def _listen_addresses_parse(cls, value: list[str]) -> list[str]:
        for addr in value:
            _parse_multiaddr(addr)
        return value

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_peers_are_dialable(cls, value: list[str]) -> list[str]:
        for addr in value:
            protocols = _parse_multiaddr(addr).protocols()
            if not protocols or protocols[-1].name != "p2p":
                raise ValueError(
                    f"{addr!r} does not end in /p2p/<peer id>: give the peer's full address, "
                    "as `gcx coordinator run` prints it"
                )
        return value


class CoordinatorSettings(_Section):
    key: Annotated[str, Field(min_length=1, max_length=64)] = "coordinator"
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8600
    database: Path | None = None  # default: $GCX_HOME/coordinator/registry.sqlite
    uptime_slot_s: Annotated[int, Field(ge=1, le=3600)] = 10
    uptime_window_s: Annotated[int, Field(ge=60, le=30 * 86_400)] = 3600
    max_advert_ttl_s: Annotated[int, Field(ge=10, le=86_400)] = 3600
    max_clock_skew_s: Annotated[int, Field(ge=0, le=3600)] = 30
    adverts_per_peer_per_s: Annotated[float, Field(gt=0, le=1000)] = 2.0


class JobsSettings(_Section):
    """The coordinator's job book (docs/jobs.md)."""

    enabled: bool = True  # take jobs (needs a chain: payment is escrowed in JobEscrow)
    database: Path | None = None  # default: $GCX_HOME/coordinator/jobs.sqlite
    store: Path | None = None  # default: $GCX_HOME/coordinator/data (buyers' inputs, on /gcx/data/1)
    store_max_bytes: Annotated[int, Field(ge=1 << 20)] = 8 << 30
    max_job_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 64 << 20  # a submitted job file, at most
    challenge_window_s: Annotated[int, Field(ge=1, le=30 * 86_400)] = 600
    min_submit_s: Annotated[int, Field(ge=1, le=86_400)] = 120  # submit deadline: at least this far out
    submit_slack: Annotated[float, Field(ge=1.0, le=1000.0)] = 10.0  # × the job's reference run time
    quote_ttl_s: Annotated[int, Field(ge=1, le=86_400)] = 300
    provider_timeout_s: Seconds = 30.0  # no heartbeat this long: a provider's open jobs are re-offered
    follow_s: Seconds = 2.0  # how often the chain's JobEscrow events are read


class AuditSettings(_Section):
    """Capacity audits the coordinator runs on listed providers (docs/audits.md)."""

    enabled: bool = True
    target_s: Annotated[float, Field(gt=0, le=600)] = 5.0  # each challenge takes about this long
    interval_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = 900.0  # mean time between a provider's audits
    first_within_s: Annotated[float, Field(gt=0, le=86_400)] = 10.0  # a new provider's first audit
    failures_to_flag: Annotated[int, Field(ge=1, le=100)] = 3  # consecutive failures: slashable


class VerifierSettings(_Section):
    """`gcx verifier run` (docs/jobs-verifier.md)."""

    key: Annotated[str, Field(min_length=1, max_length=64)] = "verifier"
    coordinator_api: str | None = None  # default: network.coordinator_api
    sample_ppm: Annotated[int, Field(ge=0, le=1_000_000)] = 100_000  # re-execute this share of jobs
    secret: Path | None = None  # sampling secret; default: $GCX_HOME/verifier/sampling.key (made once)
    state: Path | None = None  # default: $GCX_HOME/verifier/state.sqlite
    backend: Literal["auto", "cupy", "numpy"] = "auto"
    poll_s: Seconds = 2.0  # how often the coordinator's job feed is read
    max_job_elements: Annotated[int, Field(ge=1)] = 1 << 28  # skip re-executing larger jobs
    dispute: bool = True  # open an on-chain dispute on every contradicted result (needs a chain)
    disputes: Path | None = None  # dispute journal; default: $GCX_HOME/verifier/disputes.sqlite


class BenchSettings(_Section):
    repeats: Annotated[int, Field(ge=3, le=1000)] = 10
    quick_repeats: Annotated[int, Field(ge=3, le=1000)] = 5
    target_sample_ms: Annotated[float, Field(gt=0, le=60_000)] = 100.0
    quick_target_sample_ms: Annotated[float, Field(gt=0, le=60_000)] = 20.0


class ReferenceSettings(_Section):
    profile: Path | None = None  # None: the shipped configs/reference.toml


class ChainSettings(_Section):
    rpc_url: str | None = None  # None: no chain (stake is neither posted nor checked)
    deployment: Path | None = None  # default: $GCX_HOME/chain/deployment.json
    stake_refresh_s: Seconds = 5.0  # how often the coordinator re-reads providers' stake
    connect_timeout_s: Seconds = 60.0  # coordinator: wait this long at start for the RPC to answer


class ExchangeSettings(_Section):
    enabled: bool = True  # serve the exchange (order API, market data) from `gcx coordinator run`
    instruments: Path | None = None  # None: the shipped configs/instruments.toml
    journal: Path | None = None  # default: $GCX_HOME/coordinator/exchange.sqlite
    synchronous: Literal["FULL", "NORMAL"] = "FULL"  # NORMAL can lose acknowledged orders on power loss
    snapshot_every: Annotated[int, Field(ge=1)] = 50_000  # journaled commands between state snapshots
    snapshot_in_child: bool = True  # encode snapshots in a forked child, not on the event loop
    max_batch: Annotated[int, Field(ge=1, le=65_536)] = 4096  # commands per journal commit at most
    credit_limit: Annotated[int, Field(ge=0)] = 10**12  # micro-USDC of open-order notional per account
    history_limit: Annotated[int, Field(ge=1, le=1_000_000)] = 1000  # fills and events kept per account
    feed_buffer: Annotated[int, Field(ge=16, le=1_000_000)] = 10_000  # messages a slow subscriber may lag
    # processes checking the signatures of batched orders; 0: in the event loop; None: one per
    # core beyond two, at most 8 (none on a 2-core host, where they only compete for the CPU)
    verify_workers: Annotated[int, Field(ge=0, le=64)] | None = None
    chain_id: Annotated[int, Field(gt=0)] = 31337  # EIP-712 domain when no chain deployment is read
    verifying_contract: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] = "0x" + "0" * 40


class Settings(_Section):
    node: NodeSettings = NodeSettings()
    bench: BenchSettings = BenchSettings()
    reference: ReferenceSettings = ReferenceSettings()
    network: NetworkSettings = NetworkSettings()
    coordinator: CoordinatorSettings = CoordinatorSettings()
    chain: ChainSettings = ChainSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    jobs: JobsSettings = JobsSettings()
    audit: AuditSettings = AuditSettings()
    verifier: VerifierSettings = VerifierSettings()
    fault: FaultSettings = FaultSettings()


def _annotation_at(path: list[str]) -> Any:
    """The type annotation of the setting at ``path`` (section, key), or None if there is none."""
    current: Any = Settings
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return current


def _is_text_type(annotation: Any) -> bool:
    """True for ``str``, paths, string literals, ``Annotated`` forms of them and their unions
    (with ``None``): types whose environment override is taken as written."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_text_type(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(members) and all(_is_text_type(a) for a in members)
    if origin is Literal:
        return all(isinstance(v, str) for v in typing.get_args(annotation))
    return annotation is str or (isinstance(annotation, type) and issubclass(annotation, PurePath))


def _env_value(path: list[str], raw: str) -> Any:
    """The value of one environment override: text for text settings, else a TOML literal."""
    try:
        parsed: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    if _is_text_type(_annotation_at(path)):
        return parsed if isinstance(parsed, str) else raw  # a quoted TOML string is unquoted
    return parsed


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    tree: dict[str, Any] = {}
    names = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR)]
        if not all(path):
            raise ConfigError(f"environment variable {name}: empty key segment")
        value = _env_value(path, raw)
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
            node = child
        node[path[-1]] = value
        names.append(name)
    return tree, names


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_path(explicit: Path | None = None) -> Path | None:
    """The settings file in effect, or None for built-in defaults."""
    if explicit is not None:
        return explicit
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    home_file = gcx_home() / "config.toml"
    return home_file if home_file.is_file() else None


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load and validate settings; :class:`ConfigError` names each bad key and its source."""
    file = config_path(path)
    data = read_toml(file, "settings file") if file is not None else {}
    overrides, env_names = _env_overrides(dict(os.environ if environ is None else environ))
    try:
        return Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        source = str(file) if file else "defaults"
        if env_names:
            source += " + environment (" + ", ".join(env_names) + ")"
        raise ConfigError("invalid settings:\n" + describe_validation_error(exc, Settings, source)) from None


def with_overrides(settings: Settings, overrides: dict[str, dict[str, Any]], source: str) -> Settings:
    """``settings`` with ``overrides`` (``{section: {key: value}}``, e.g. from command-line options)
    applied and validated like a settings file: :class:`ConfigError` names ``source`` and the key.

    Use this rather than pydantic's ``model_copy(update=…)``, which does not validate.
    """
    try:
        return Settings.model_validate(_merge(settings.model_dump(), overrides))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, Settings, source)) from None
