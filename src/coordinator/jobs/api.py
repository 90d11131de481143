"""The job book's HTTP routes (docs/jobs-api.md), mounted on the coordinator's FastAPI app by
:func:`install_jobs`. A thin adapter over :class:`~.service.JobBook`: every refusal is a
:class:`~.core.JobsError` answered as ``{"error": code, "message": text}``; without a job book
(jobs disabled, or no chain configured) every route answers 503 ``jobs_unavailable``.
Routes run on the server's trio thread, where the book's SQLite connection lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .core import JobsError
from .service import JobBook

JobState = Literal["open", "delivered", "submitted", "finalized", "refunded", "lost", "challenged"]
JobIdParam = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="0x + 64 hex digits")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteRequest(_Body):
    job: str = Field(description="the job file, base64")
    grade: Literal["A", "B", "C", "D"] = Field(description="the worst performance letter accepted")
    max_price: int = Field(ge=1, le=2**96 - 1, description="the most the whole job may cost, micro-USDC")
    provider: str | None = Field(default=None, max_length=128, description="exactly this provider (peer id)")
    exclude: list[str] = Field(default_factory=list, max_length=1000, description="peer ids not to choose")


class SubmitRequest(_Body):
    quote_id: str = Field(max_length=64)
    job_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    job: str = Field(description="the job file, base64 (the one quoted)")


class MismatchRequest(_Body):
    evidence: str = Field(description="base64 of Mismatch.encode()")
    verifier: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    signature: str = Field(max_length=200, description="hex EIP-191 signature")


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobProvider(_View):
    peer_id: str
    address: str
    listen_addrs: list[str]


class QuoteProvider(JobProvider):
    price_per_ch: int
    grade: str


class Quote(_View):
    quote_id: str
    job_digest: str
    program_digest: str
    micro_ch: int
    amount: int
    provider: QuoteProvider
    challenge_window_s: int
    submit_deadline: int
    escrow: str
    token: str
    chain_id: int
    expires_at: int


class MismatchEntry(_View):
    verifier: str
    op: int
    row: int | None
    time: int


class HistoryEntry(_View):
    time: int
    event: str
    detail: str | None


class JobView(_View):
    job_id: str
    buyer: str
    provider: JobProvider
    state: JobState
    reoffer: bool
    micro_ch: int
    amount: int
    program_digest: str
    job_digest: str
    submit_deadline: int
    challenge_deadline: int | None
    result_root: str | None
    leaves: list[str] | None
    outputs: dict[str, str | None] | None
    mismatches: list[MismatchEntry]
    reoffer_of: str | None
    history: list[HistoryEntry]
    created: int


class JobList(_View):
    jobs: list[JobView]


class FeedEvent(_View):
    seq: int
    time: int
    kind: Literal["submitted", "finalized", "refunded", "mismatch", "lost"]
    job_id: str
    provider: JobProvider
    program_digest: str
    result_root: str | None
    micro_ch: int


class Feed(_View):
    events: list[FeedEvent]
    last_seq: int


class MismatchAccepted(_View):
    accepted: bool
    provider_flagged: bool


def _error(exc: JobsError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"error": exc.code, "message": exc.message})


_UNAVAILABLE = JobsError(
    503, "jobs_unavailable", "this coordinator takes no jobs (jobs disabled or no chain)"
)


def jobs_body_limit(book: JobBook | None) -> Callable[[str], int | None]:
    """The request body limit of the job routes that carry a job file (its base64 and 64 KiB
    of JSON around it); other paths keep the app's limit."""
    size = 4 * (book.settings.max_job_bytes // 3 + 1) + 64 * 1024 if book is not None else None

    def limit_for(path: str) -> int | None:
        if path in ("/v1/jobs", "/v1/jobs/quote") or (
            path.startswith("/v1/jobs/") and path.endswith("/mismatch")
        ):
            return size
        return None

    return limit_for


def install_jobs(app: FastAPI, book: JobBook | None) -> None:
    """Add the ``/v1/jobs`` routes to ``app`` (answering 503 without a ``book``)."""

    def need() -> JobBook:
        if book is None:
            raise _UNAVAILABLE
        return book

    tags: list[str | Any] = ["jobs"]

    @app.post("/v1/jobs/quote", response_model=Quote, tags=tags)
    async def quote(body: QuoteRequest) -> Any:
        """Meter a job, choose a provider and price it."""
        try:
            return await need().quote(
                body.job,
                grade=body.grade,
                max_price=body.max_price,
                provider=body.provider,
                exclude=body.exclude,
            )
        except JobsError as exc:
            return _error(exc)

    @app.post("/v1/jobs", response_model=JobView, status_code=201, tags=tags)
    async def submit(body: SubmitRequest) -> Any:
        """Take an escrowed job and deliver it (idempotent by job id: 200 with the view)."""
        try:
            created, view = await need().submit(body.quote_id, body.job_id.lower(), body.job)
        except JobsError as exc:
            return _error(exc)
        return view if created else JSONResponse(status_code=200, content=JobView(**view).model_dump())

    @app.get("/v1/jobs/feed", response_model=Feed, tags=tags)
    async def feed(
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Feed events after ``after``, oldest first."""
        try:
            return need().feed(after, limit)
        except JobsError as exc:
            return _error(exc)

    @app.get("/v1/jobs", response_model=JobList, tags=tags)
    async def list_jobs(
        buyer: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
        state: Annotated[JobState | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Jobs newest first."""
        try:
            return {"jobs": need().jobs(buyer=buyer, state=state, limit=limit)}
        except JobsError as exc:
            return _error(exc)

    @app.get("/v1/jobs/{job_id}", response_model=JobView, tags=tags)
    async def get_job(job_id: JobIdParam) -> Any:
        """One job's view."""
        try:
            return need().view(job_id)
        except JobsError as exc:
            return _error(exc)

    @app.get(
        "/v1/jobs/{job_id}/spec",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
        tags=tags,
    )
    async def job_spec(job_id: JobIdParam) -> Response:
        """The job file without its evaluation (what verifiers re-execute)."""
        try:
            return Response(await need().spec(job_id), media_type="application/octet-stream")
        except JobsError as exc:
            return _error(exc)

    @app.post("/v1/jobs/{job_id}/mismatch", response_model=MismatchAccepted, status_code=202, tags=tags)
    async def mismatch(job_id: JobIdParam, body: Annotated[MismatchRequest, Body()]) -> Any:
        """A verifier's evidence that a submitted result is wrong."""
        try:
            return await need().mismatch(job_id, body.evidence, body.verifier, body.signature)
        except JobsError as exc:
            return _error(exc)
