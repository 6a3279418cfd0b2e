"""Original image bytes in an S3-compatible store, keyed by their SHA-256.

The `minio` client is synchronous: the gateway calls it from a worker thread.
"""

import hashlib
import io

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from storage.errors import ErrorCode, PermanentError
from storage.jobs import ImageRef
from storage.settings import ObjectStoreSettings


def image_key(sha256: str) -> str:
    # Two levels of prefix keep listings of a bucket with millions of images browsable.
    return f"images/{sha256[:2]}/{sha256}"


class ObjectStore:
    def __init__(self, settings: ObjectStoreSettings) -> None:
        self.bucket = settings.bucket
        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=30.0),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503)),
            maxsize=16,
            ca_certs=certifi.where(),
        )
        self._client = Minio(
            settings.endpoint,
            access_key=settings.access_key.get_secret_value(),
            secret_key=settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            http_client=http_client,
        )

    def ensure_bucket(self) -> None:
        if not self._client.bucket_exists(self.bucket):
            try:
                self._client.make_bucket(self.bucket)
            except S3Error as error:
                # Another process created it between our check and our call.
                if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def ping(self) -> None:
        if not self._client.bucket_exists(self.bucket):
            raise RuntimeError(f"bucket {self.bucket!r} does not exist")

    def put_image(self, content: bytes, content_type: str | None) -> ImageRef:
        """Store the bytes under their hash; storing the same bytes twice is harmless."""
        sha256 = hashlib.sha256(content).hexdigest()
        key = image_key(sha256)
        self._client.put_object(
            self.bucket,
            key,
            io.BytesIO(content),
            length=len(content),
            content_type=content_type or "application/octet-stream",
        )
        return ImageRef(
            sha256=sha256, object_key=key, size_bytes=len(content), content_type=content_type
        )

    def get_image(self, image: ImageRef) -> bytes:
        try:
            response = self._client.get_object(self.bucket, image.object_key)
        except S3Error as error:
            if error.code == "NoSuchKey":
                raise PermanentError(
                    ErrorCode.IMAGE_MISSING, "the stored image no longer exists"
                ) from error
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
