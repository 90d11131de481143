"""The coordinator's read-only HTTP API (DESIGN §4): listings of graded providers, one provider's
view with its signed report, the coordinator's identity, health and Prometheus metrics.

A thin adapter over :class:`~coordinator.registry.Registry`: every route reads the clock once,
calls the registry (synchronous SQLite, fast; the server is single-threaded trio) and shapes the
answer. Routes are ``async def`` so that they run on the server's trio thread, never in a worker
thread (the SQLite connection is not shared across threads). Every failure is a JSON body ``{"error": code, "message": text}`` — never an HTML page,
and never a 500 for bad input (malformed query or path parameters answer 422).

Routes::

    GET /v1/providers            listed providers (filters: include_expired, grade, min_ch_per_hour)
    GET /v1/providers/{peer_id}  one provider's view plus its embedded benchmark report and audits
    GET /v1/info                 the coordinator's peer id, multiaddrs, reference profile, version
    GET /healthz                 liveness
    GET /metrics                 Prometheus text format of the registry's metrics
    GET /openapi.json            the OpenAPI document (served by FastAPI)
    /v1/jobs...                  the job book (coordinator.jobs.api; docs/jobs-api.md)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from gcx import __version__

from .body_limit import BodyLimit
from .exchange.api import install_exchange
from .exchange.service import ExchangeService
from .jobs.api import install_jobs, jobs_body_limit
from .jobs.service import JobBook
from .registry.core import Registry
from .registry.metrics import Metrics

log = logging.getLogger("gcx.coordinator.http")

API_TITLE = "GCX coordinator"
PerformanceLetter = Literal["A", "B", "C", "D"]

# -- response models (they document the wire shape in /openapi.json) ------------------------------


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(_View):
    """Every error answer."""

    error: str = Field(description="machine-readable code, e.g. unknown_provider, invalid_request")
    message: str = Field(description="what went wrong, for a human")


class Grades(_View):
    performance: str = Field(
        description="A–D from the CH rate (reference profile thresholds); ? while the provider's "
        "claim is not verified by a capacity audit (see `verified`)"
    )
    reliability: str = Field(description="1–4 from uptime measured by this coordinator; ? while unknown")
    energy: str = Field(description="X–Z from joules per CH; ? when the node reports no energy")


class AuditSummary(_View):
    """Where a provider stands with the coordinator's capacity audits (docs/audits.md)."""

    last_verdict: str | None = Field(
        description="verdict of the latest audit (passed, late, wrong_row, bad_proof, bad_signature, "
        "wrong_root_format, no_answer); null before the first"
    )
    last_at: int | None = Field(description="unix seconds when the latest audit ended; null before the first")
    next_at: int = Field(description="unix seconds when the next audit is due (random intervals)")
    claimed_ops_per_s: int = Field(description="int8 GEMM rate (ops/s) the current report claims")
    audited_ops_per_s: int = Field(description="the claim the latest audit was sized to; 0 before the first")
    consecutive_failures: int = Field(description="failed audits in a row (a pass resets it)")
    audits: int = Field(description="audits run on this provider")
    failures: int = Field(description="audits it failed")
    slashable: bool = Field(
        description="true after `[audit] failures_to_flag` failures in a row: the stored records "
        "(`audits` in GET /v1/providers/{peer_id}) are the evidence for slashing its stake"
    )


class AuditEntry(_View):
    """One stored audit record, with its evidence."""

    time: int = Field(description="unix seconds when the audit ended")
    verdict: str = Field(
        description="passed, late, wrong_row, bad_proof, bad_signature, wrong_root_format, no_answer"
    )
    passed: bool
    detail: str = Field(description="one-line reason")
    claimed_ops_per_s: int = Field(description="the int8 GEMM rate (ops/s) the challenge was sized to")
    measured_s: float | None = Field(
        description="seconds from the challenge to the signed root, on the coordinator's clock; null: none came"
    )
    deadline_s: float = Field(description="seconds the provider had for the root")
    challenge_id: str = Field(description="0x-keccak of the signed challenge")
    recheckable: bool = Field(
        description="the verdict is re-derived from the evidence alone by gcx.audit.recheck (wrong_row, "
        "bad_proof, bad_signature, wrong_root_format); late and no_answer rest on the coordinator's clock"
    )
    record: str = Field(
        description="0x-hex of the canonical gcx.audit.record v1 bytes (signed challenge, signed answer, "
        "opened rows with proofs): decode with gcx.audit.decode_record, re-check with gcx.audit.recheck"
    )


class ProviderView(_View):
    """One provider as this coordinator sees it: its latest accepted advert plus measured uptime.

    Claims are audited before they are believed: while ``verified`` is false the performance
    letter is ``?`` and ``ch_per_hour``/``ch_per_hour_micro`` are 0; the advertised rate is
    ``claimed_ch_per_hour``."""

    peer_id: str = Field(description="libp2p peer id of the node")
    address: str = Field(description="the node's key address (0x…)")
    grade: str = Field(
        description="performance letter, reliability digit, energy letter, e.g. B2X; the letter is ? "
        "while the claim is not verified"
    )
    grades: Grades
    ch_per_hour: float = Field(
        description="compute hours (CH) delivered per wall-clock hour, once verified by a capacity audit; "
        "0 while unverified (the claim is in claimed_ch_per_hour)"
    )
    ch_per_hour_micro: int = Field(
        description="the same rate in integer micro-CH per hour (0 while unverified)"
    )
    claimed_ch_per_hour: float = Field(description="the CH rate the provider's signed report claims")
    verified: bool = Field(
        description="the latest capacity audit passed and was sized to at least the current claim "
        "(always true when the coordinator runs no audits: claims are then believed)"
    )
    audit: AuditSummary | None = Field(description="capacity audit status; null when audits are off")
    uptime: float | None = Field(
        description="percent of complete slots in the uptime window the node was seen; "
        "null while too few slots are observed"
    )
    last_seen: int = Field(description="unix seconds of the last advert or heartbeat")
    first_seen: int = Field(description="unix seconds of the first accepted advert")
    price: int = Field(description="price per CH in integer micro-units of the quote currency")
    hours: int = Field(description="hours of capacity offered")
    expires_at: int = Field(description="unix seconds when the current advert expires")
    listed: bool = Field(
        description="true while the advert is unexpired and, when the coordinator checks a chain, "
        "the provider's bonded stake covers the minimum"
    )
    staked: bool | None = Field(
        description="bonded provider stake covers the on-chain minimum; null when no chain is configured"
    )
    nonce: int = Field(description="nonce of the latest accepted advert")
    stake_address: str = Field(description="address holding the node's stake")
    report_digest: str = Field(description="0x-keccak of the embedded signed benchmark report")
    listen_addrs: list[str] = Field(description="multiaddrs the node listens on")


class MismatchEntry(_View):
    job_id: str = Field(description="the job whose result a verifier proved wrong")
    verifier: str = Field(description="the verifier's address (0x…)")
    op: int = Field(description="the first wrong op")
    row: int | None = Field(description="the first wrong row of that op's output; null: its header")
    time: int = Field(description="unix seconds when the coordinator verified the evidence")


class ProviderDetail(ProviderView):
    report: dict[str, Any] = Field(description="the signed gcx.bench/1 report embedded in the advert")
    audits: list[AuditEntry] = Field(description="the latest capacity audit records, newest first")
    mismatches: list[MismatchEntry] = Field(
        default_factory=list,
        description="verified job mismatches against this provider, oldest first: a provider with any "
        "is flagged and never selected for jobs again (docs/jobs-api.md); empty without a job book",
    )


class ProviderListing(_View):
    providers: list[ProviderView]
    count: int = Field(description="number of providers in this answer")
    now: int = Field(description="unix seconds at which listing and uptime were evaluated")


class Health(_View):
    ok: bool


# -- the app --------------------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorBody, "description": "Invalid request"}}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(
    registry: Registry,
    *,
    info: dict[str, Any],
    clock: Callable[[], float] = time.time,
    exchange: ExchangeService | None = None,
    registry_metrics: Metrics | None = None,
    jobs: JobBook | None = None,
) -> FastAPI:
    """The coordinator's FastAPI app over ``registry`` (and ``exchange``'s routes when given).

    ``info`` is returned verbatim by ``GET /v1/info`` (the coordinator's ``peer_id``,
    ``multiaddrs``, ``reference`` profile ident and ``version``). ``clock`` gives unix seconds.
    ``registry_metrics`` (the registry's observer) is served by ``GET /metrics`` (all zero when
    not given). ``jobs`` serves the ``/v1/jobs`` routes (without it they answer 503
    ``jobs_unavailable``; docs/jobs-api.md).
    """
    served = registry_metrics if registry_metrics is not None else Metrics()
    app = FastAPI(
        title=API_TITLE,
        version=__version__,
        description="Registry of graded GPU compute providers and the compute-hour exchange (GCX).",
        docs_url=None,
        redoc_url=None,
    )
    info = dict(info)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        answer = _error(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))
        answer.headers.update(exc.headers or {})
        return answer

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "the coordinator failed to answer; see its log")

    @app.get("/v1/providers", response_model=ProviderListing, responses=_ERRORS, tags=["providers"])
    async def list_providers(
        include_expired: Annotated[
            bool, Query(description="also list providers whose advert has expired")
        ] = False,
        grade: Annotated[
            PerformanceLetter | None, Query(description="only providers of this performance letter")
        ] = None,
        min_ch_per_hour: Annotated[
            float | None, Query(ge=0, allow_inf_nan=False, description="only providers at least this fast")
        ] = None,
    ) -> dict[str, Any]:
        """Known providers, listed (unexpired) ones unless ``include_expired``, by peer id."""
        now = clock()
        views = registry.listing(now=now, include_expired=include_expired)
        if grade is not None:
            views = [v for v in views if v["grades"]["performance"] == grade]
        if min_ch_per_hour is not None:
            views = [v for v in views if v["ch_per_hour"] >= min_ch_per_hour]
        return {"providers": views, "count": len(views), "now": int(now)}

    @app.get(
        "/v1/providers/{peer_id}",
        response_model=ProviderDetail,
        responses={404: {"model": ErrorBody, "description": "Unknown provider"}, **_ERRORS},
        tags=["providers"],
    )
    async def get_provider(
        peer_id: Annotated[str, Path(min_length=1, max_length=128, description="libp2p peer id")],
        audits: Annotated[
            int, Query(ge=0, le=100, description="how many of the latest audit records to include")
        ] = 10,
    ) -> dict[str, Any] | JSONResponse:
        """One provider (listed or not) with the signed report embedded in its latest advert and
        its latest capacity audits with their evidence."""
        view = registry.provider(peer_id, now=clock(), audits_limit=audits)
        if view is None:
            return _error(404, "unknown_provider", f"no provider with peer id {peer_id!r} is known")
        view["mismatches"] = [] if jobs is None else jobs.flagged(view["address"])
        return view

    @app.get("/v1/info", tags=["coordinator"])
    async def get_info() -> dict[str, Any]:
        """The coordinator's identity: peer id, multiaddrs, reference profile ident, version."""
        return info

    @app.get("/healthz", response_model=Health, tags=["coordinator"])
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus metrics"}},
        tags=["coordinator"],
    )
    async def metrics() -> Response:
        """The registry's metrics in the Prometheus text exposition format."""
        return Response(generate_latest(served.registry), media_type=CONTENT_TYPE_LATEST)

    if exchange is not None:
        install_exchange(app, exchange)
    install_jobs(app, jobs)
    app.add_middleware(BodyLimit, limit_for=jobs_body_limit(jobs))
    return app
