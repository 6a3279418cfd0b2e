"""Announcing that a job ended, for gateways holding `GET /v1/jobs/{id}?wait=` requests."""

import logging

from redis.exceptions import RedisError

from storage.job_ends import job_end_channel
from worker.runtime import Runtime

logger = logging.getLogger(__name__)


def announce_end(runtime: Runtime, job_id: str) -> None:
    """Publish the job's end; never raises (a waiting gateway also rereads the job)."""
    try:
        runtime.redis.publish(job_end_channel(job_id), "1")
    except (RedisError, OSError) as error:
        logger.info("job %s: its end was not announced: %s", job_id, error)


def announce_ends(runtime: Runtime, job_ids: list[str]) -> None:
    """Publish many jobs' ends in one round trip; never raises."""
    if not job_ids:
        return
    try:
        with runtime.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.publish(job_end_channel(job_id), "1")
            pipe.execute()
    except (RedisError, OSError) as error:
        logger.info("%d jobs: their ends were not announced: %s", len(job_ids), error)
