"""S3-compatible object store client (SeaweedFS locally, any S3 in production).

Keys of uploaded documents are content-addressed: ``sha256/<hex[:2]>/<hex>``
plus the file's extension, so an upload of the same bytes is a no-op.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ocrstream.errors import ObjectMissing, ObjectTooLarge
from ocrstream.settings import Settings


class ObjectStore:
    """Thin boto3 wrapper with the operations ocrstream needs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> Any:
        s3 = self.settings.s3
        return boto3.client(
            "s3",
            endpoint_url=s3.endpoint,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name=s3.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=3,
                read_timeout=30,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def check_bucket(self, bucket: str) -> None:
        """Raise unless ``bucket`` exists and the credentials can read it."""
        self.client.head_bucket(Bucket=bucket)

    def ensure_bucket(self, bucket: str) -> None:
        try:
            self.check_bucket(bucket)
        except ClientError:
            self.client.create_bucket(Bucket=bucket)

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        """Object bytes; raises :class:`~ocrstream.errors.ObjectMissing` for a missing bucket/key."""
        try:
            resp = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist ({code})") from exc
            raise
        body = resp["Body"]
        if max_bytes is not None and resp.get("ContentLength", 0) > max_bytes:
            body.close()
            raise ObjectTooLarge(f"s3://{bucket}/{key} is {resp['ContentLength']} bytes > limit {max_bytes}")
        return body.read()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def presign_get(self, bucket: str, key: str, expires_s: int = 3600) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )


CONTENT_PREFIX = "sha256/"  # every content-addressed key starts with it (publish and video uploads)


def content_key(sha256_hex: str, suffix: str = "") -> str:
    """Content-addressed object key for bytes with digest ``sha256_hex``."""
    return f"{CONTENT_PREFIX}{sha256_hex[:2]}/{sha256_hex}{suffix.lower()}"
