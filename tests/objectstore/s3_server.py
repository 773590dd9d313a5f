"""A real `scalebox objectstore serve` process and boto3 clients for it, for integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.servers import HOST, ServerProcess, free_port, scalebox_argv, scalebox_env, start_server

ROOT_ACCESS_KEY = "scalebox-root"
ROOT_SECRET_KEY = "root-secret-for-tests-only"
REGION = "us-east-1"


def start_objectstore(data_dir: Path, log_path: Path, **extra_env: str) -> ServerProcess:
    """The object store on free loopback ports (S3 API and console port), with a root key, healthy by
    its health path. The ports are chosen here: the server logs two "Uvicorn running" lines."""
    port = free_port()
    argv = scalebox_argv("objectstore", "serve", "--host", HOST, "--port", str(port))
    env = scalebox_env(
        data_dir,
        SCALEBOX_OBJECTSTORE_CONSOLE_PORT=str(free_port()),
        SCALEBOX_OBJECTSTORE_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY,
        SCALEBOX_OBJECTSTORE_ROOT_SECRET_KEY=ROOT_SECRET_KEY,
        SCALEBOX_OBJECTSTORE_FSYNC="false",
        SCALEBOX_OBJECTSTORE_DOMAIN="s3.localhost",
        **extra_env,
    )
    return start_server("objectstore", argv, env=env, log_path=log_path, port=port, health_path="/_health")


def s3_client(
    url: str,
    access_key: str = ROOT_ACCESS_KEY,
    secret_key: str = ROOT_SECRET_KEY,
    *,
    addressing_style: str = "path",
    **config: Any,
) -> Any:
    """boto3's S3 client for our server, with boto3's default checksum settings unless overridden;
    `config` adds to (or replaces) these botocore Config options."""
    options: dict[str, Any] = {
        "s3": {"addressing_style": addressing_style},
        "signature_version": "s3v4",
        "retries": {"total_max_attempts": 1},
        **config,
    }
    return boto3.session.Session().client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(**options),
    )
