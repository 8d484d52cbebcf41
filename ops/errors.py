"""The one error boundary of the operator commands: an AWS, Kubernetes or network failure becomes one line
naming the cause and the fix, never a traceback (`--debug` shows it)."""

from __future__ import annotations

import os

from botocore import exceptions as aws

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
INVALID = {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "AuthFailure", "InvalidSignatureException"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "AuthorizationError",
          "UnauthorizedException"}
THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
             "SlowDown", "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException"}
MISSING = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchBucket", "NoSuchKey", "NotFoundException", "NotFound",
           "NoSuchHostedZone"}


def _profile() -> str:
    return f"profile '{os.environ['AWS_PROFILE']}'" if os.environ.get("AWS_PROFILE") else "the default credentials"


def _client_error(error: aws.ClientError) -> str:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    operation = error.operation_name
    if code in EXPIRED:
        return (f"the AWS credentials of {_profile()} have expired ({operation}): renew them "
                "(`aws sso login --profile <profile>`, or fresh keys) and run again")
    if code in INVALID:
        return (f"AWS does not know the credentials of {_profile()} ({code} on {operation}): check AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if code in DENIED:
        return (f"access denied to {operation} for {_profile()} ({message}): use an identity with that permission "
                "(AWS_PROFILE=<profile of an admin of the stack's account>)")
    if code in THROTTLED:
        return (f"AWS throttled {operation} ({code}): wait a minute and run again, or let botocore retry "
                "longer (AWS_RETRY_MODE=adaptive AWS_MAX_ATTEMPTS=10)")
    if code in MISSING or code.endswith(("NotFound", "NotFoundException")):
        return (f"not found: {message} ({operation}); is the stack deployed (`pulumi up`) and "
                "bootstrapped (`python -m ops bootstrap --stack <stack>`), and is AWS_PROFILE the stack's account?")
    return f"AWS refused {operation}: {code}: {message}"


def explain(error: BaseException) -> str | None:
    """The one line for a failure of the world outside the program, or None for anything else (a bug)."""
    if isinstance(error, aws.ClientError):
        return _client_error(error)
    if isinstance(error, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return ("no AWS credentials: set AWS_PROFILE to a profile of the stack's account (`aws configure sso`, "
                "then `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if isinstance(error, (aws.SSOTokenLoadError, aws.UnauthorizedSSOTokenError, aws.TokenRetrievalError)):
        return f"the AWS SSO session of {_profile()} has expired: `aws sso login --profile <profile>`, then run again"
    if isinstance(error, aws.ProfileNotFound):
        return f"{error}: AWS_PROFILE must name a profile of ~/.aws/config (`aws configure list-profiles`)"
    if isinstance(error, aws.NoRegionError):
        return "no AWS region: set AWS_REGION (the stack's region is in its stack file, aws:region)"
    if isinstance(error, (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError,
                          aws.ConnectionClosedError, aws.ProxyConnectionError)):
        return (f"cannot reach AWS ({error}): check the network, HTTPS_PROXY, and AWS_ENDPOINT_URL if it is set")
    kubernetes = _kubernetes(error)
    if kubernetes:
        return kubernetes
    if isinstance(error, (ConnectionError, TimeoutError)):
        return f"cannot reach {error}: check the network and the endpoint"
    return None


def _kubernetes(error: BaseException) -> str | None:
    try:
        from kubernetes.client import ApiException
        from kubernetes.config import ConfigException
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - both are runtime dependencies
        return None
    if isinstance(error, ConfigException):
        return (f"the kubeconfig cannot reach the stack's cluster ({error}): `kubectl config get-contexts` lists "
                "its contexts; a local stack names its own in eks-platform:kubeconfig.context (`python -m ops local "
                "up` creates kind-eks-platform)")
    if isinstance(error, ApiException):
        if error.status in (401, 403):
            return (f"the cluster's API refused {_profile()} ({error.status} {error.reason}): on EKS that identity "
                    "needs an access entry (eks-platform:adminRoleArns) or a role that has one; on a local cluster, "
                    "the kubeconfig context's user must be its admin")
        return f"the cluster's API answered {error.status} {error.reason}"
    if isinstance(error, HTTPError):
        return (f"cannot reach the cluster's API ({str(error).splitlines()[0]}): on EKS run from a host that reaches "
                "the endpoint (the in-VPC runner, or eks-platform:endpoint.publicAccessCidrs); a local cluster must "
                "be running (`python -m ops local status`)")
    return None
