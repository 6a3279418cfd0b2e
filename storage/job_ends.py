"""Where a job's end is announced: a Redis channel per job, published by the worker that
ended it, listened to by gateways answering `GET /v1/jobs/{id}?wait=`. A lost announcement
costs a waiting client latency only: the gateway also looks in MongoDB every few seconds."""

CHANNEL_PREFIX = "deepfake:job-ended:"
CHANNEL_PATTERN = CHANNEL_PREFIX + "*"


def job_end_channel(job_id: str) -> str:
    return CHANNEL_PREFIX + job_id


def job_id_of(channel: str | bytes) -> str:
    name = channel.decode() if isinstance(channel, bytes) else channel
    return name.removeprefix(CHANNEL_PREFIX)
