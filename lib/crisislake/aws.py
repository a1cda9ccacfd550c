"""boto3 clients made one way: standard retry mode, created when asked for, never at import.

Credentials come from the default chain (an IAM role on EMR and EC2); a local stand-in such as
moto is reached with ``endpoint_url`` or the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables.
"""
from __future__ import annotations

from typing import Any, Optional

# botocore's "standard" mode retries throttling, 5xx and connection errors with backoff and a
# retry quota, up to max_attempts calls in all (the legacy default retries fewer error kinds).
RETRIES = {"mode": "standard", "max_attempts": 5}


def client(service: str, region: Optional[str] = None, endpoint_url: Optional[str] = None, session: Any = None) -> Any:
    """A boto3 client for ``service`` with standard retries."""
    import boto3
    from botocore.config import Config as BotoConfig

    session = session or boto3.session.Session()
    return session.client(service, region_name=region or None, endpoint_url=endpoint_url or None,
                          config=BotoConfig(retries=dict(RETRIES)))
