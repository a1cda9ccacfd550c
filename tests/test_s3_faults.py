"""S3 faults on the loopback S3: throttling, 500s, connection resets and slow answers, injected by
``scripts/s3_fault_proxy.py`` in front of moto; the boto3 and pyarrow (``crisislake.fs``) paths
complete through them by retrying."""
from __future__ import annotations

import contextlib
import uuid

import pytest
from s3_fault_proxy import FaultProxy, Rates

FAULTS = Rates(slowdown=0.15, error=0.1, reset=0.1, reset_after=0.05, delay=0.1, delay_ms=50, max_per_request=1)


@pytest.fixture()
def bucket(s3_endpoint):
    import boto3

    name = f"faults-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture()
def proxy(s3_endpoint, monkeypatch):
    running = FaultProxy(s3_endpoint, FAULTS, seed=7).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", running.endpoint)
    yield running
    running.stop()


def put_around_the_proxy(s3_endpoint: str, bucket: str, key: str, body: bytes) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=body)


@contextlib.contextmanager
def proxied(s3_endpoint: str, rates: Rates, monkeypatch):
    """crisislake.fs through a proxy with ``rates`` for the block."""
    running = FaultProxy(s3_endpoint, rates).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", running.endpoint)
    try:
        yield running
    finally:
        running.stop()
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)


def test_crisislake_fs_writes_lists_and_reads_back_every_object_through_faults(proxy, bucket):
    from crisislake import fs

    # Run records are a few KB; see the next test for objects smaller than an S3 error document.
    uris = {f"s3://{bucket}/_runs/run-{i:02d}.json": f'{{"run": {i}, "steps": "{"x" * 1000}"}}' for i in range(5)}
    for uri, text in uris.items():
        fs.write_text(uri, text)

    listed = fs.list_files(f"s3://{bucket}/_runs")
    read = {uri: fs.read_text(uri) for uri in uris}

    assert sorted(listed) == sorted(uris)
    assert read == uris
    assert all(proxy.counts[k] > 0 for k in ("slowdown", "error", "reset", "reset_after", "delay")), proxy.counts


@pytest.mark.xfail(strict=True, raises=OSError, reason=(
    "pyarrow's S3 reads hand the AWS C++ SDK a buffer the size of the object; a 5xx error document "
    "longer than a small object overflows it and the SDK reports a non-retryable INTERNAL_FAILURE "
    "('Failed to flush response stream') instead of retrying the 503"))
def test_a_small_object_read_retries_a_503(s3_endpoint, bucket, monkeypatch):
    from crisislake import fs

    put_around_the_proxy(s3_endpoint, bucket, "small.json", b'{"ok": 1}')
    with proxied(s3_endpoint, Rates(slowdown=1.0, max_per_request=1), monkeypatch):
        assert fs.read_text(f"s3://{bucket}/small.json") == '{"ok": 1}'


def test_boto3_puts_and_gets_every_object_through_faults(proxy, bucket):
    import boto3

    s3 = boto3.client("s3", endpoint_url=proxy.endpoint, region_name="us-east-1")
    for i in range(10):
        s3.put_object(Bucket=bucket, Key=f"raw/hdx/{i:02d}.csv", Body=f"id,n\n{i},{i * i}\n".encode())

    bodies = {i: s3.get_object(Bucket=bucket, Key=f"raw/hdx/{i:02d}.csv")["Body"].read() for i in range(10)}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="raw/hdx/")["Contents"]]

    assert bodies == {i: f"id,n\n{i},{i * i}\n".encode() for i in range(10)}
    assert keys == [f"raw/hdx/{i:02d}.csv" for i in range(10)]
    assert proxy.counts["slowdown"] + proxy.counts["error"] + proxy.counts["reset"] > 0, proxy.counts


def test_uncapped_throttling_fails_the_read_with_one_clear_error_and_a_retry_succeeds(s3_endpoint, bucket, monkeypatch):
    from crisislake import fs

    put_around_the_proxy(s3_endpoint, bucket, "x.json", b'{"ok": 1}')
    with proxied(s3_endpoint, Rates(slowdown=1.0, max_per_request=0), monkeypatch):
        with pytest.raises(OSError, match="SlowDown|reduce your request rate|503"):
            fs.read_text(f"s3://{bucket}/x.json")
    assert fs.read_text(f"s3://{bucket}/x.json") == '{"ok": 1}'
