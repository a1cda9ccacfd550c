"""The AWS side of ``crisislake emr submit``: preflight, upload, launch, wait, log tail.

boto3 clients are made per call from one :class:`AwsClients` (never at import time). Every AWS
failure leaves here as a one-line :class:`SubmitError`: a missing bucket, a missing role and bad
credentials each name what to fix instead of printing a traceback.
"""
from __future__ import annotations

import gzip
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from crisislake.emr.request import split_s3_uri
from crisislake.errors import CrisislakeError

FAILED_STEP_STATES = ("FAILED", "CANCELLED", "INTERRUPTED")
CREDENTIAL_ERRORS = (
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
    "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure", "InvalidToken",
)

Printer = Callable[[str], None]


class SubmitError(CrisislakeError, RuntimeError):
    """A submission failed for a reason the message states in one line."""


def _print(line: str) -> None:
    print(line, flush=True)


def describe_aws_error(exc: BaseException, doing: str) -> str:
    """One line saying what failed and what to do, for any botocore/boto3 error."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        WaiterError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (f"{doing}: no usable AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or run where an IAM role is attached")
    if isinstance(exc, NoRegionError):
        return f"{doing}: no AWS region configured; set AWS_DEFAULT_REGION or 'region' in emr/cluster.json"
    if isinstance(exc, EndpointConnectionError):
        return f"{doing}: cannot reach the AWS endpoint ({exc})"
    if isinstance(exc, ParamValidationError):
        return f"{doing}: the request is invalid: {' '.join(str(exc).split())}"
    if isinstance(exc, WaiterError):
        return f"{doing}: {exc}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        if code in CREDENTIAL_ERRORS:
            return f"{doing}: AWS rejected the credentials ({code}: {message}); refresh them or pick another AWS_PROFILE"
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            return f"{doing}: access denied ({message or code}); the caller's IAM policy does not allow it"
        if re.search(r"InstanceProfile|\brole\b", message, re.IGNORECASE):
            return (f"{doing}: {message or code} - check the IAM role names in emr/cluster.json "
                    "(`aws emr create-default-roles` creates EMR_DefaultRole and EMR_EC2_DefaultRole)")
        return f"{doing}: {code}: {message}" if message else f"{doing}: {code}"
    return f"{doing}: {type(exc).__name__}: {exc}"


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn botocore errors raised inside the block into a one-line :class:`SubmitError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise SubmitError(describe_aws_error(exc, doing)) from exc


@dataclass
class AwsClients:
    """Creates boto3 clients on demand; ``endpoint_url`` points them at a loopback stand-in."""

    region: Optional[str] = None
    endpoint_url: Optional[str] = None
    session: Any = None
    _clients: Dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from crisislake import aws

            with aws_errors(f"creating the {service} client"):
                self._clients[service] = aws.client(service, self.region, self.endpoint_url, self.session)
        return self._clients[service]


def check_bucket(aws: AwsClients, uri: str) -> None:
    """Fail with one line when the bucket of ``uri`` does not exist or is not reachable."""
    from botocore.exceptions import ClientError

    bucket, _ = split_s3_uri(uri)
    s3 = aws.client("s3")
    with aws_errors(f"checking bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise SubmitError(
                    f"bucket {bucket} does not exist (from {uri}); create it or pass another "
                    "--lake-root/--code-root"
                ) from exc
            raise


def check_roles(aws: AwsClients, service_role: str, instance_profile: str, warn: Printer = _print) -> None:
    """Fail with one line when the EMR service role or the EC2 instance profile does not exist.

    A caller without ``iam:GetRole`` gets a warning and EMR validates the names itself.
    """
    from botocore.exceptions import ClientError

    iam = aws.client("iam")
    checks = (
        ("service role", service_role, lambda: iam.get_role(RoleName=service_role)),
        ("EC2 instance profile", instance_profile, lambda: iam.get_instance_profile(InstanceProfileName=instance_profile)),
    )
    for what, name, call in checks:
        with aws_errors(f"checking IAM {what} {name}"):
            try:
                call()
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code == "NoSuchEntity":
                    raise SubmitError(
                        f"IAM {what} {name} does not exist: create it (`aws emr create-default-roles`) "
                        "or set the role names in emr/cluster.json"
                    ) from exc
                if code in ("AccessDenied", "AccessDeniedException"):
                    warn(f"warning: cannot check IAM {what} {name} (no iam permission); EMR will validate it")
                    continue
                raise


def upload_dist(
    aws: AwsClients, dist_dir: Path, code_uri: str, files: Sequence[str], kms_key_id: str = "",
    say: Printer = _print,
) -> List[str]:
    """Upload ``files`` (relative to ``dist_dir``) under ``code_uri``; returns the S3 URIs written."""
    bucket, prefix = split_s3_uri(code_uri)
    s3 = aws.client("s3")
    extra: Dict[str, str] = {}
    if kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    written = []
    with aws_errors(f"uploading dist/ to {code_uri}"):
        for rel in files:
            key = f"{prefix}/{rel}" if prefix else rel
            s3.upload_file(str(Path(dist_dir) / rel), bucket, key, ExtraArgs=extra or None)
            written.append(f"s3://{bucket}/{key}")
    say(f"uploaded {len(written)} files to {code_uri}/")
    return written


def launch_cluster(aws: AwsClients, request: Dict[str, Any]) -> Tuple[str, List[str]]:
    """Send ``RunJobFlow``; returns the cluster id and the ids of its steps, in order."""
    emr = aws.client("emr")
    with aws_errors("launching the EMR cluster"):
        cluster_id = emr.run_job_flow(**request)["JobFlowId"]
        listed = [s for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id) for s in page["Steps"]]
    # ListSteps lists newest first and same-second steps in no fixed order; step names are
    # unique within one request, so match on them.
    by_name = {step["Name"]: step["Id"] for step in listed}
    return cluster_id, [by_name[step["Name"]] for step in request["Steps"]]


def add_steps(aws: AwsClients, request: Dict[str, Any]) -> List[str]:
    """Send ``AddJobFlowSteps``; returns the new step ids in order."""
    emr = aws.client("emr")
    with aws_errors(f"adding steps to cluster {request['JobFlowId']}"):
        return list(emr.add_job_flow_steps(**request)["StepIds"])


def step_log_uri(log_uri: str, cluster_id: str, step_id: str, name: str = "stderr.gz") -> str:
    """Where EMR puts a step's log: ``<LogUri>/<cluster>/steps/<step>/<name>``.

    >>> step_log_uri("s3://b/emr-logs/", "j-1", "s-2")
    's3://b/emr-logs/j-1/steps/s-2/stderr.gz'
    """
    return f"{log_uri.rstrip('/')}/{cluster_id}/steps/{step_id}/{name}"


def fetch_log_tail(aws: AwsClients, uri: str, lines: int, wait_s: int = 0, poll_s: int = 30) -> Optional[List[str]]:
    """The last ``lines`` lines of a (gzipped) log on S3, waiting up to ``wait_s`` for it to appear.

    EMR copies step logs to S3 every few minutes, so a just-failed step's log may not be there
    yet; returns None when it still is not after the wait.
    """
    from botocore.exceptions import ClientError, WaiterError

    bucket, key = split_s3_uri(uri)
    s3 = aws.client("s3")
    if wait_s > 0:
        delay = max(1, min(poll_s, wait_s))
        try:
            s3.get_waiter("object_exists").wait(
                Bucket=bucket, Key=key, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, wait_s // delay)}
            )
        except WaiterError:
            return None
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            return None
        raise SubmitError(describe_aws_error(exc, f"reading {uri}")) from exc
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    text = body.decode("utf-8", errors="replace").rstrip("\n")
    return text.splitlines()[-lines:] if text else []


class StateTracker:
    """Prints a line whenever a step's or the cluster's state changes.

    It listens to the client's ``after-call`` events, so the boto3 waiters do the polling and
    every response they fetch is seen here.
    """

    def __init__(self, names: Dict[str, str], say: Printer = _print):
        self.names = names
        self.say = say
        self.seen: Dict[str, str] = {}

    def on_describe_step(self, parsed: Dict[str, Any], **_: Any) -> None:
        step = parsed.get("Step") or {}
        status = step.get("Status") or {}
        self._changed(step.get("Id", ""), self.names.get(step.get("Id", ""), step.get("Name", "step")),
                      status.get("State", ""))

    def on_describe_cluster(self, parsed: Dict[str, Any], **_: Any) -> None:
        cluster = parsed.get("Cluster") or {}
        status = cluster.get("Status") or {}
        reason = (status.get("StateChangeReason") or {}).get("Message", "")
        self._changed(cluster.get("Id", ""), f"cluster {cluster.get('Id', '')}", status.get("State", ""), reason)

    def _changed(self, key: str, label: str, state: str, reason: str = "") -> None:
        if state and self.seen.get(key) != state:
            self.seen[key] = state
            self.say(f"{label}: {state}" + (f" ({reason})" if reason else ""))

    def attach(self, emr: Any) -> None:
        emr.meta.events.register("after-call.emr.DescribeStep", self.on_describe_step)
        emr.meta.events.register("after-call.emr.DescribeCluster", self.on_describe_cluster)

    def detach(self, emr: Any) -> None:
        emr.meta.events.unregister("after-call.emr.DescribeStep", self.on_describe_step)
        emr.meta.events.unregister("after-call.emr.DescribeCluster", self.on_describe_cluster)


@dataclass
class WaitSettings:
    poll_s: int = 30
    step_timeout_s: int = 21600
    cluster_timeout_s: int = 3600
    log_wait_s: int = 600
    log_tail_lines: int = 40


def _attempts(timeout_s: int, poll_s: int) -> int:
    return max(1, timeout_s // max(1, poll_s))


def wait_for_cluster_start(aws: AwsClients, cluster_id: str, log_uri: str, wait: WaitSettings,
                           tracker: StateTracker, say: Printer = _print) -> bool:
    """Wait until a new cluster runs its steps; False (with the reason printed) if it died first."""
    from botocore.exceptions import WaiterError

    emr = aws.client("emr")
    try:
        emr.get_waiter("cluster_running").wait(
            ClusterId=cluster_id,
            WaiterConfig={"Delay": wait.poll_s, "MaxAttempts": _attempts(wait.cluster_timeout_s, wait.poll_s)},
        )
        return True
    except WaiterError as exc:
        status = ((exc.last_response or {}).get("Cluster") or {}).get("Status") or {}
        state = status.get("State", "")
        if state == "TERMINATED":
            return True  # finished before we saw it run: the step waiters report each step
        if "Error" in (exc.last_response or {}):
            raise SubmitError(describe_aws_error(exc, f"waiting for cluster {cluster_id}")) from exc
        if state in ("STARTING", "BOOTSTRAPPING"):
            say(f"cluster {cluster_id} still {state} after {wait.cluster_timeout_s}s; stopped waiting")
            return False
        reason = (status.get("StateChangeReason") or {}).get("Message", "no reason given")
        say(f"cluster {cluster_id} {state}: {reason}")
        say(f"bootstrap and node logs: {log_uri.rstrip('/')}/{cluster_id}/node/")
        return False


def report_failed_step(aws: AwsClients, cluster_id: str, step_id: str, name: str, step: Dict[str, Any],
                       log_uri: str, wait: WaitSettings, say: Printer = _print) -> None:
    """Print why a step failed, where its stderr is and the log's last lines."""
    status = step.get("Status") or {}
    details = status.get("FailureDetails") or {}
    reason = "; ".join(v for v in (details.get("Reason"), details.get("Message")) if v)
    say(f"step {name} ({step_id}) {status.get('State', 'FAILED')}" + (f": {reason}" if reason else ""))
    if status.get("State") == "CANCELLED":
        # A step is cancelled when the cluster went away or someone cancelled it; the state
        # tracker prints the cluster's state and reason from this call when it changed.
        with aws_errors(f"describing cluster {cluster_id}"):
            aws.client("emr").describe_cluster(ClusterId=cluster_id)
        return
    uri = step_log_uri(log_uri, cluster_id, step_id)
    say(f"stderr log: {uri}")
    tail = fetch_log_tail(aws, uri, wait.log_tail_lines, wait.log_wait_s, wait.poll_s)
    if tail is None:
        say(f"the log is not on S3 yet (EMR uploads step logs every few minutes); later: "
            f"aws s3 cp {uri} - | zcat | tail -n {wait.log_tail_lines}")
        return
    say(f"--- last {len(tail)} lines of {name} stderr ---")
    for line in tail:
        say(f"  {line}")
    say("---")


def wait_for_steps(aws: AwsClients, cluster_id: str, steps: Sequence[Tuple[str, str]], log_uri: str,
                   wait: WaitSettings, new_cluster: bool = False, say: Printer = _print) -> int:
    """Wait for ``steps`` (``(name, step_id)``) in order with the ``step_complete`` waiter.

    Prints each state change; on a failed step prints its log location and tail and returns 1.
    Returns 0 when every step completed, 3 when waiting timed out.
    """
    from botocore.exceptions import WaiterError

    emr = aws.client("emr")
    tracker = StateTracker({step_id: name for name, step_id in steps}, say)
    tracker.attach(emr)
    try:
        if new_cluster and not wait_for_cluster_start(aws, cluster_id, log_uri, wait, tracker, say):
            return 1
        waiter = emr.get_waiter("step_complete")
        for name, step_id in steps:
            try:
                waiter.wait(
                    ClusterId=cluster_id, StepId=step_id,
                    WaiterConfig={"Delay": wait.poll_s, "MaxAttempts": _attempts(wait.step_timeout_s, wait.poll_s)},
                )
            except WaiterError as exc:
                last = exc.last_response or {}
                if "Error" in last:
                    raise SubmitError(describe_aws_error(exc, f"waiting for step {name}")) from exc
                step = last.get("Step") or {}
                state = (step.get("Status") or {}).get("State", "")
                if state in FAILED_STEP_STATES:
                    report_failed_step(aws, cluster_id, step_id, name, step, log_uri, wait, say)
                    return 1
                say(f"step {name} ({step_id}) still {state or 'unknown'} after {wait.step_timeout_s}s; "
                    f"follow it with: aws emr describe-step --cluster-id {cluster_id} --step-id {step_id}")
                return 3
        return 0
    finally:
        tracker.detach(emr)


def eprint(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
