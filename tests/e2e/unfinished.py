"""Every job an end-to-end test created must end: checked after each test (conftest.py)."""

import time
from datetime import datetime
from typing import Any

import pymongo
from pymongo.collection import Collection

from storage.jobs import JobStatus
from storage.settings import MongoSettings

DATABASE = MongoSettings().database
UNFINISHED = [status.value for status in JobStatus if not status.terminal]


def unfinished_jobs(mongo_url: str, since: datetime, wait_s: float) -> list[dict[str, Any]]:
    """Jobs created since `since` that are still not terminal after up to `wait_s`: a test
    may end before the jobs it submitted do, but they must all end soon after."""
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000) as client:
        jobs: Collection[dict[str, Any]] = client[DATABASE]["jobs"]
        query = {"created_at": {"$gte": since}, "status": {"$in": UNFINISHED}}
        projection = {"status": 1, "batch_id": 1, "updated_at": 1}
        deadline = time.monotonic() + wait_s
        while True:
            found = list(jobs.find(query, projection).limit(20))
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.25)
