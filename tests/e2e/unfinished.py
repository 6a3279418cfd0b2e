"""Every job and every explanation an end-to-end test created must end: checked after each
test (conftest.py)."""

import time
from datetime import datetime
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

from storage.explanation_repository import ExplanationStatus
from storage.jobs import JobStatus
from storage.settings import MongoSettings

DATABASE = MongoSettings().database
UNFINISHED = [status.value for status in JobStatus if not status.terminal]


def unfinished_jobs(mongo_url: str, since: datetime, wait_s: float) -> list[dict[str, Any]]:
    """Jobs created since `since` that are still not terminal after up to `wait_s`: a test
    may end before the jobs it submitted do, but they must all end soon after."""
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000) as client:
        database: Database[dict[str, Any]] = client[DATABASE]
        jobs: Collection[dict[str, Any]] = database["jobs"]
        explanations: Collection[dict[str, Any]] = database["explanations"]
        query = {"created_at": {"$gte": since}, "status": {"$in": UNFINISHED}}
        pending = {"created_at": {"$gte": since}, "status": ExplanationStatus.PENDING.value}
        projection = {"status": 1, "batch_id": 1, "job_id": 1, "updated_at": 1}
        deadline = time.monotonic() + wait_s
        while True:
            found = list(jobs.find(query, projection).limit(20))
            found += [
                {**explanation, "explanation": True}
                for explanation in explanations.find(pending, projection).limit(20)
            ]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.25)
