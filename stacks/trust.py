"""The trust model's names, in one place: which GitHub job may become which AWS identity of a stack.

Bootstrap creates the identities from these names, the workflows (through `ops.gate`) find them by
these names, and the program derives the permissions boundary of its roles from them. Each environment
is its own account; inside one account, stacks are kept apart by their permissions boundaries and keys.

GitHub's OIDC subject is customised per repository to `repo`, `context` and `job_workflow_ref`, so a
role can trust one workflow file at one ref in one GitHub environment, not just "a job of the repo".
Standard library only: `ops.gate` imports it before the project's dependencies are installed.
"""

from __future__ import annotations

PROJECT = "eks-platform"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
SUBJECT_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")
MAIN = "refs/heads/main"
DEPLOY_WORKFLOWS = ("pulumi-up.yml", "first-deploy.yml", "destroy.yml")
PULL_REQUEST_WORKFLOW = "pull-request.yml"
PREVIEW_ON_MAIN_WORKFLOW = "pulumi-up.yml"
DEPLOY_RUNNER_WORKFLOWS = ("deploy", "destroy")  # workflow names whose jobs run on a stack's deploy runner
PREVIEW_RUNNER_WORKFLOWS = ("pull-request",)
APPROVED_DEPLOYS = ("staging", "prod")  # environments whose deploys wait for a reviewer
APPROVED_PREVIEWS = ("prod",)  # environments whose previews read secrets only after a reviewer approves
CI_ROLE_PREFIXES = (f"{PROJECT}-deploy-", f"{PROJECT}-preview")
ADMIN_LIKE_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def deploy_role_name(stack: str) -> str:
    return f"{PROJECT}-deploy-{stack}"


AUTOMATIC_PREVIEW_ROLE = f"{PROJECT}-preview"


def preview_role_name(stack: str, environment: str) -> str:
    """The role a preview of `stack` runs as: the account's automatic preview role, or for an environment
    whose previews need approval, a role of the stack's own."""
    return f"{AUTOMATIC_PREVIEW_ROLE}-{stack}" if environment in APPROVED_PREVIEWS else AUTOMATIC_PREVIEW_ROLE


def preview_environment(stack: str, environment: str) -> str:
    """The GitHub environment a preview of `stack` runs in ('' for none: it runs at once)."""
    return f"{stack}-preview" if environment in APPROVED_PREVIEWS else ""


def boundary_name(stack: str) -> str:
    return f"{PROJECT}-boundary-{stack}"


def secrets_key_alias(stack: str) -> str:
    return f"alias/{PROJECT}-secrets-{stack}"


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def role_arn(account: str, name: str, partition_: str = "aws") -> str:
    return f"arn:{partition_}:iam::{account}:role/{name}"


def deploy_role_arn(account: str, stack: str, region: str) -> str:
    return role_arn(account, deploy_role_name(stack), partition(region))


def preview_role_arn(account: str, stack: str, environment: str, region: str) -> str:
    return role_arn(account, preview_role_name(stack, environment), partition(region))


def boundary_arn(account: str, stack: str, partition_: str = "aws") -> str:
    return f"arn:{partition_}:iam::{account}:policy/{boundary_name(stack)}"


def _workflow_ref(repo: str, workflow: str, ref: str) -> str:
    return f"{repo}/.github/workflows/{workflow}@{ref}"


def deploy_subjects(repo: str, stack: str) -> list[str]:
    """The only OIDC subjects a stack's deploy role accepts: its GitHub environment, a deploy workflow, main."""
    return [f"repo:{repo}:environment:{stack}:job_workflow_ref:{_workflow_ref(repo, w, MAIN)}"
            for w in DEPLOY_WORKFLOWS]


def automatic_preview_subjects(repo: str) -> list[str]:
    """Pull-request previews (the pull request's own workflow: untrusted, hence a role that reads no data)
    and the preview main runs before a deploy's approval."""
    return [f"repo:{repo}:pull_request:job_workflow_ref:{_workflow_ref(repo, PULL_REQUEST_WORKFLOW, 'refs/pull/*/merge')}",
            f"repo:{repo}:ref:{MAIN}:job_workflow_ref:{_workflow_ref(repo, PREVIEW_ON_MAIN_WORKFLOW, MAIN)}"]


def approved_preview_subjects(repo: str, stack: str) -> list[str]:
    """A preview of a stack whose previews need approval: only from its `<stack>-preview` GitHub environment."""
    environment = f"{stack}-preview"
    return [f"repo:{repo}:environment:{environment}:job_workflow_ref:"
            f"{_workflow_ref(repo, PULL_REQUEST_WORKFLOW, 'refs/pull/*/merge')}",
            f"repo:{repo}:environment:{environment}:job_workflow_ref:"
            f"{_workflow_ref(repo, PREVIEW_ON_MAIN_WORKFLOW, MAIN)}"]


def state_bucket(account: str, region: str) -> str:
    """The Pulumi state bucket bootstrap creates in an account and region unless told another name."""
    return f"{PROJECT}-state-{account}-{region}"


def backend_url(bucket: str, region: str) -> str:
    return f"s3://{bucket}?region={region}&awssdk=v2"
