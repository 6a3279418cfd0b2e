"""The periodic pass that deletes what has outlived the retention settings."""

import logging
from datetime import timedelta

from pymongo.errors import PyMongoError

from storage.jobs import TaskName
from storage.retention import PurgeCounts, Purger
from worker.celery_app import app
from worker.runtime import Runtime, get_runtime
from worker.settings import RetentionSettings, get_settings

logger = logging.getLogger(__name__)


def _days(days: float) -> timedelta | None:
    return None if days == 0 else timedelta(days=days)


def purge(runtime: Runtime, settings: RetentionSettings) -> PurgeCounts:
    async def delete_objects(keys: list[str]) -> None:
        runtime.objects.delete_images(keys)

    purger = Purger(runtime.mongo[runtime.settings.mongo.database], delete_objects)
    results_after = _days(settings.results_days)
    images_after = _days(settings.images_days)
    if results_after is not None and images_after is not None:
        images_after = min(images_after, results_after)
    return runtime.run(
        purger.purge_expired(
            results_after=results_after, images_after=images_after, limit=settings.batch_limit
        )
    )


@app.task(name=TaskName.PURGE_EXPIRED.value)  # type: ignore[untyped-decorator]
def purge_expired() -> None:
    settings = get_settings()
    try:
        counts = purge(get_runtime(settings), settings.retention)
    except (PyMongoError, OSError, RuntimeError) as error:
        # The next pass tries again.
        logger.warning("retention pass failed: %s", error)
        return
    if counts != PurgeCounts():
        logger.info("retention: deleted %s", counts)
