"""The scheduled jobs: the purge of old completed todos, and the finishing of bulk
deletes that outgrew their request. What a run does and when it stops.

The store finds eligible todos through a sparse index (no Scan), so a run reads only
what it deletes, plus one query per shard. Each delete is conditional on the todo
still having the completion time the index showed: a todo reopened, completed again
or deleted in between is left alone. A run stops before the Lambda deadline; the next
run simply starts again from the oldest eligible todos, so runs that overlap, repeat
or were killed converge: nothing eligible left, nothing ineligible deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.schema import PURGE_SHARD_NAMES
from chalicelib.store import TodoStore
from chalicelib.todos import FINISHED_JOB_KEPT, purge_cutoff, timestamp

# Stop with this much time left (or a quarter of the run's budget, if that is less):
# a step (one page: a query and one transaction of deletes, with retries) takes far
# less, and the function must return before Lambda ends it.
STOP_MARGIN_MS = 10_000
PAGE_SIZE = 25  # one TransactWriteItems chunk per page keeps each step short


@dataclass
class PurgeReport:
    cutoff: str
    purged: int = 0
    skipped: int = 0  # reopened, completed again or deleted since the index saw them
    left: int = 0  # contended beyond our retries: the next run takes them
    finished: bool = False  # False: stopped at the deadline, the next run continues

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def purge_completed(
    store: TodoStore,
    *,
    now: datetime,
    keep_completed_for: timedelta,
    remaining_ms: Callable[[], int],
) -> PurgeReport:
    report = PurgeReport(cutoff=purge_cutoff(now, keep_completed_for))
    margin = min(STOP_MARGIN_MS, remaining_ms() // 4)
    for shard in PURGE_SHARD_NAMES:
        for candidates in store.purge_candidates(shard, report.cutoff, page_size=PAGE_SIZE):
            if remaining_ms() < margin:
                return report
            outcome = store.purge(candidates)
            report.purged += outcome.deleted
            report.skipped += outcome.skipped
            report.left += outcome.left
    report.finished = True
    return report


@dataclass
class ClearsReport:
    jobs: int = 0  # running when the run began
    deleted: int = 0
    finished_jobs: int = 0
    finished: bool = False  # False: stopped at the deadline, the next run continues

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def finish_clears(
    store: TodoStore, *, now: Callable[[], datetime], remaining_ms: Callable[[], int]
) -> ClearsReport:
    """Delete what each running bulk delete has left, a page at a time, until done or the
    deadline. A run killed midway loses nothing: each page's deletes, the owner's count and
    the job's tally change in one transaction, and the next run queries again what is left
    (todos created after the job's request never match its query). Runs may overlap: the
    deletes are conditional, so a todo is deleted (and counted) once."""
    report = ClearsReport()
    margin = min(STOP_MARGIN_MS, remaining_ms() // 4)
    jobs = store.running_jobs()
    report.jobs = len(jobs)
    for job in jobs:
        cleared = store.clear(
            job.owner,
            completed=job.completed,
            before=job.before,
            allowance=lambda _: PAGE_SIZE if remaining_ms() >= margin else 0,
            job=job.id,
        )
        report.deleted += cleared.deleted
        if not cleared.finished:
            return report
        moment = now()
        store.finish_job(
            job.id, now=timestamp(moment), expires_epoch=int((moment + FINISHED_JOB_KEPT).timestamp())
        )
        report.finished_jobs += 1
    report.finished = True
    return report
