"""The provider's job path (``/gcx/job/1``): the job table (:mod:`.state`), the executor
(:mod:`.executor`) and the deliberate faults for tests and demos (:mod:`.faults`);
docs/jobs-provider.md."""

from __future__ import annotations

from .executor import JobExecutor, advertised_hours, price_of
from .state import JobRecord, JobStateError, JobTable

__all__ = ["JobExecutor", "JobRecord", "JobStateError", "JobTable", "advertised_hours", "price_of"]
