"""The buyer's local records of its jobs (``$GCX_HOME/buyer/jobs``): each submitted job's file and
a small JSON record, written *before* the escrow is opened, so that results can be scored later
and :meth:`gcx.sdk.jobs.JobsClient.resume` can finish a submission that crashed between ``open``
and ``POST /v1/jobs``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gcx.files import write_atomic
from gcx.paths import gcx_home

from .errors import (
    ResultError,
)
from .jobs_checks import _job_id_bytes

if TYPE_CHECKING:
    pass

__all__ = [
    "BuyerStore",
    "LocalJob",
]


@dataclass(frozen=True, slots=True)
class LocalJob:
    """The buyer's own record of one job (``$GCX_HOME/buyer/jobs/<job_id>.json``).

    ``stage``: ``opening`` (written before the escrow transaction), ``escrowed`` (``open`` went
    through), ``posted`` (the coordinator has it), ``abandoned`` (never escrowed and no longer
    can be). ``reoffered_by`` names the job that replaced this one after a refund.
    """

    job_id: str
    nonce: int
    api: str
    grade: str
    max_price: int
    provider: str | None
    exclude: tuple[str, ...]
    quote: dict[str, Any]
    stage: str
    created: int
    reoffer_of: str | None = None
    reoffered_by: str | None = None

    def to_json(self) -> bytes:
        d = asdict(self)
        d["exclude"] = list(self.exclude)
        return (json.dumps(d, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, path: Path) -> LocalJob:
        try:
            d = json.loads(data)
            d["exclude"] = tuple(d["exclude"])
            return cls(**d)
        except (ValueError, TypeError, KeyError) as exc:
            raise ResultError(f"the local job record {path} is unreadable: {exc}") from None


class BuyerStore:
    """The folder of local job files and records (default ``$GCX_HOME/buyer/jobs``)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or gcx_home() / "buyer" / "jobs"

    def job_path(self, job_id: str) -> Path:
        _job_id_bytes(job_id)
        return self.directory / f"{job_id}.gcxjob"

    def record_path(self, job_id: str) -> Path:
        _job_id_bytes(job_id)
        return self.directory / f"{job_id}.json"

    def save(self, record: LocalJob, job_bytes: bytes | None = None) -> None:
        """Write the record (and the job file, when given) crash-safely."""
        if job_bytes is not None:
            write_atomic(self.job_path(record.job_id), job_bytes)
        write_atomic(self.record_path(record.job_id), record.to_json())

    def load(self, job_id: str) -> LocalJob | None:
        path = self.record_path(job_id)
        try:
            return LocalJob.from_json(path.read_bytes(), path)
        except FileNotFoundError:
            return None

    def job_bytes(self, job_id: str) -> bytes | None:
        try:
            return self.job_path(job_id).read_bytes()
        except FileNotFoundError:
            return None

    def records(self) -> list[LocalJob]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("0x*.json")):
            out.append(LocalJob.from_json(path.read_bytes(), path))
        return out
