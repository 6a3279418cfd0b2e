"""The object store against a real S3-protocol server."""

import hashlib
from typing import Any

import pytest

from storage.errors import ErrorCode, PermanentError
from storage.jobs import ImageRef
from storage.objects import ObjectStore
from storage.settings import ObjectStoreSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def objects(s3_server: Any) -> ObjectStore:
    store = ObjectStore(ObjectStoreSettings(endpoint=s3_server.endpoint, bucket="test-objects"))
    store.ensure_bucket()
    store.ensure_bucket()  # a second start-up finds it and carries on
    return store


def test_images_are_stored_under_their_hash(objects: ObjectStore) -> None:
    content = b"\xff\xd8\xff" + b"pretend jpeg" * 100
    first = objects.put_image(content, "image/jpeg", "acme")
    again = objects.put_image(content, "image/jpeg", "acme")
    assert first == again
    assert first.sha256 == hashlib.sha256(content).hexdigest()
    assert first.object_key.endswith(first.sha256)
    assert objects.get_image(first) == content
    objects.ping()


def test_a_missing_image_is_a_permanent_error(objects: ObjectStore) -> None:
    missing = ImageRef(sha256="00" * 32, object_key="images/00/none", size_bytes=1)
    with pytest.raises(PermanentError) as caught:
        objects.get_image(missing)
    assert caught.value.code is ErrorCode.IMAGE_MISSING


def test_tenants_never_share_an_object(objects: ObjectStore) -> None:
    content = b"\x89PNG" + b"same bytes" * 10
    ours = objects.put_image(content, "image/png", "acme")
    theirs = objects.put_image(content, "image/png", "globex")
    assert ours.sha256 == theirs.sha256
    assert ours.object_key != theirs.object_key
    objects.delete_image(ours.object_key)
    objects.delete_image(ours.object_key)  # already gone: fine
    assert objects.get_image(theirs) == content
    with pytest.raises(PermanentError):
        objects.get_image(ours)
