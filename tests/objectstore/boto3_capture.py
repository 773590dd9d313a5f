"""What boto3 sends and reads, without a server: a client whose requests stop just before the
network (so a test can look at the serialized body), and botocore's own parser for response bodies."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.parsers
import botocore.session
import pytest
from botocore.config import Config

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


class SentError(Exception):
    """Raised in place of sending a request; carries its body."""

    def __init__(self, body: bytes) -> None:
        super().__init__("request captured before sending")
        self.body = body


def capturing_client() -> Any:
    """A boto3 S3 client whose every request raises SentError instead of leaving the process."""
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 0}),
    )

    def capture(request: Any, **_: Any) -> None:
        raise SentError(request.body)

    client.meta.events.register("before-send.s3.*", capture)
    return client


def sent_body(client: Any, operation: str, **params: Any) -> bytes:
    """The body boto3 serializes for `operation` with `params`."""
    with pytest.raises(SentError) as sent:
        getattr(client, operation)(**params)
    return sent.value.body  # type: ignore[no-any-return]


def boto3_reads(operation: str, body: bytes) -> dict[str, Any]:
    """What boto3 makes of a response body for `operation`."""
    shape = botocore.session.get_session().get_service_model("s3").operation_model(operation).output_shape
    assert shape is not None
    parsed: dict[str, Any] = botocore.parsers.create_parser("rest-xml").parse(
        {"body": body, "headers": {}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed
