"""Keep a worker alive when its Redis connection is lost.

On a lost broker connection Celery closes the consumer's channel, and kombu's Redis
channel (5.x) then tries to give back its unacknowledged messages through the connection
pool it has just dropped: `_connparams` reads `connection.client`, already None, and the
AttributeError ends the worker ("Unrecoverable error"). Raised as a connection error
instead, kombu ignores it and reconnects; the messages stay in Redis's unacked set, which
kombu restores after `visibility_timeout` (and the reconciler re-enqueues their jobs
sooner).
"""

from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_original_connparams: Callable[..., Any] = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise RedisConnectionError("the broker connection is closed")
    return _original_connparams(self, asynchronous=asynchronous)


def install() -> None:
    """Idempotent."""
    kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]
