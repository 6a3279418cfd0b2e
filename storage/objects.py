"""Original image bytes in an S3-compatible store, keyed by tenant and SHA-256.

Identical bytes of one tenant share one object; tenants never share objects, so deleting
one tenant's data cannot touch another's.

The `minio` client is synchronous: the gateway calls it from a worker thread.
"""

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from storage.errors import ErrorCode, PermanentError
from storage.jobs import ImageRef
from storage.settings import ObjectStoreSettings


def image_key(tenant_id: str, sha256: str) -> str:
    # A level of hash prefix keeps listings of a bucket with millions of images browsable.
    return f"images/{tenant_id}/{sha256[:2]}/{sha256}"


def explanation_key(tenant_id: str, job_id: str, model_version: str, index: int) -> str:
    """Where one face's overlay of an explanation lies (see storage.explanation_repository)."""
    return f"explanations/{tenant_id}/{job_id}/{model_version or '_'}/{index}.png"


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

    def put_image(self, content: bytes, content_type: str | None, tenant_id: str) -> ImageRef:
        """Store the bytes under their hash; storing the same bytes twice is harmless."""
        sha256 = hashlib.sha256(content).hexdigest()
        key = image_key(tenant_id, sha256)
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
        return self._read(image.object_key, ErrorCode.IMAGE_MISSING, "the stored image")

    def put_explanation(self, key: str, png: bytes) -> None:
        self._client.put_object(
            self.bucket, key, io.BytesIO(png), length=len(png), content_type="image/png"
        )

    def get_explanation(self, key: str) -> bytes:
        """An overlay's PNG bytes; PermanentError `explanation_not_found` if it is gone."""
        return self._read(key, ErrorCode.EXPLANATION_NOT_FOUND, "the explanation image")

    def _read(self, key: str, missing: ErrorCode, what: str) -> bytes:
        """The object's bytes; PermanentError `missing` when there is none."""
        try:
            response = self._client.get_object(self.bucket, key)
        except S3Error as error:
            if error.code == "NoSuchKey":
                raise PermanentError(missing, f"{what} no longer exists") from error
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def put_batch_file(self, tenant_id: str, batch_id: str, stream: BinaryIO, length: int) -> str:
        """Store a batch's submitted rows (streamed, never held whole); their key."""
        key = f"batches/{tenant_id}/{batch_id}"
        self._client.put_object(
            self.bucket, key, stream, length=length, content_type="application/octet-stream"
        )
        return key

    @contextmanager
    def open_chunks(self, object_key: str) -> Iterator[Iterator[bytes]]:
        """The object's bytes in chunks, read from the network as they are consumed."""
        response = self._client.get_object(self.bucket, object_key)
        try:
            yield response.stream(64 * 1024)
        finally:
            response.close()
            response.release_conn()

    def delete_image(self, object_key: str) -> None:
        """Remove the object; one already gone is not an error."""
        self._client.remove_object(self.bucket, object_key)

    def delete_images(self, object_keys: list[str]) -> None:
        """Remove many objects, a thousand per request; ones already gone are fine."""
        for start in range(0, len(object_keys), 1000):
            batch = [DeleteObject(key) for key in object_keys[start : start + 1000]]
            # Lazy: the requests happen as the errors are read.
            errors = list(self._client.remove_objects(self.bucket, batch))
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} objects: {errors[0]}")
