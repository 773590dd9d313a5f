"""Bucket policies: the subset of the JSON access policy language this store accepts, and evaluating it.

Subset: Version, Id and Statement (an object or a list); each statement has Sid, Effect, Principal
("*" or {"AWS": ...}), Action and Resource, with `*` and `?` wildcards. NotPrincipal, NotAction,
NotResource and Condition are refused rather than ignored, so a stored policy never grants more than
its author wrote. Every resource must be this bucket or its objects; a missing Version means
"2008-10-17", as in AWS. Limits: 20 KB (S3's),
100 statements, 100 principals, actions or resources per statement.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Literal

from scalebox.objectstore.errors import InvalidArgumentError, MalformedPolicyError

POLICY_BYTES_MAX = 20 * 1024
POLICY_STATEMENTS_MAX = 100
POLICY_VALUES_MAX = 100
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
ARN_PREFIX = "arn:aws:s3:::"

Effect = Literal["Allow", "Deny"]
Decision = Literal["allow", "deny", "none"]
ResourceKind = Literal["bucket", "object"]

# Every action a policy may name, with the kind of resource it applies to.
S3_ACTIONS: dict[str, ResourceKind] = {
    "s3:CreateBucket": "bucket", "s3:DeleteBucket": "bucket", "s3:ListBucket": "bucket",
    "s3:ListBucketVersions": "bucket", "s3:ListBucketMultipartUploads": "bucket",
    "s3:GetBucketLocation": "bucket", "s3:GetBucketVersioning": "bucket", "s3:PutBucketVersioning": "bucket",
    "s3:GetBucketTagging": "bucket", "s3:PutBucketTagging": "bucket",
    "s3:GetBucketCORS": "bucket", "s3:PutBucketCORS": "bucket",
    "s3:GetLifecycleConfiguration": "bucket", "s3:PutLifecycleConfiguration": "bucket",
    "s3:GetBucketPolicy": "bucket", "s3:PutBucketPolicy": "bucket", "s3:DeleteBucketPolicy": "bucket",
    "s3:GetBucketPolicyStatus": "bucket", "s3:GetBucketAcl": "bucket", "s3:PutBucketAcl": "bucket",
    "s3:GetBucketWebsite": "bucket", "s3:PutBucketWebsite": "bucket", "s3:DeleteBucketWebsite": "bucket",
    "s3:GetBucketNotification": "bucket", "s3:PutBucketNotification": "bucket",
    "s3:GetBucketLogging": "bucket", "s3:PutBucketLogging": "bucket",
    "s3:GetEncryptionConfiguration": "bucket", "s3:PutEncryptionConfiguration": "bucket",
    "s3:GetBucketObjectLockConfiguration": "bucket", "s3:PutBucketObjectLockConfiguration": "bucket",
    "s3:GetBucketOwnershipControls": "bucket", "s3:PutBucketOwnershipControls": "bucket",
    "s3:GetBucketPublicAccessBlock": "bucket", "s3:PutBucketPublicAccessBlock": "bucket",
    "s3:GetBucketRequestPayment": "bucket", "s3:PutBucketRequestPayment": "bucket",
    "s3:GetReplicationConfiguration": "bucket", "s3:PutReplicationConfiguration": "bucket",
    "s3:GetObject": "object", "s3:GetObjectVersion": "object", "s3:PutObject": "object",
    "s3:DeleteObject": "object", "s3:DeleteObjectVersion": "object", "s3:RestoreObject": "object",
    "s3:GetObjectAttributes": "object", "s3:GetObjectVersionAttributes": "object",
    "s3:GetObjectTagging": "object", "s3:GetObjectVersionTagging": "object",
    "s3:PutObjectTagging": "object", "s3:PutObjectVersionTagging": "object",
    "s3:DeleteObjectTagging": "object", "s3:DeleteObjectVersionTagging": "object",
    "s3:GetObjectAcl": "object", "s3:GetObjectVersionAcl": "object",
    "s3:PutObjectAcl": "object", "s3:PutObjectVersionAcl": "object",
    "s3:GetObjectRetention": "object", "s3:PutObjectRetention": "object",
    "s3:GetObjectLegalHold": "object", "s3:PutObjectLegalHold": "object",
    "s3:BypassGovernanceRetention": "object",
    "s3:AbortMultipartUpload": "object", "s3:ListMultipartUploadParts": "object",
}  # fmt: skip

_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Principal", "Action", "Resource"})
_UNSUPPORTED_FIELDS = frozenset({"NotPrincipal", "NotAction", "NotResource", "Condition"})


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement; `principals` holds "*" when it applies to everyone, anonymous callers included."""

    sid: str | None
    effect: Effect
    principals: frozenset[str]
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def applies(self, *, principals: frozenset[str], action: str, resource: str) -> bool:
        """Whether this statement covers the caller, the action and the resource ARN."""
        return (
            ("*" in self.principals or not self.principals.isdisjoint(principals))
            and any(_wildcard(pattern, ignore_case=True).fullmatch(action) for pattern in self.actions)
            and any(_wildcard(pattern, ignore_case=False).fullmatch(resource) for pattern in self.resources)
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed bucket policy; `text` is the document as it was put, which GetBucketPolicy returns."""

    text: str
    version: str
    id: str | None
    statements: tuple[Statement, ...]

    def evaluate(self, *, principals: frozenset[str], action: str, resource: str) -> Decision:
        """ "deny" if any statement denies, else "allow" if any allows, else "none" (no opinion).

        `principals` are every identifier the caller is known by (empty for anonymous), `action` an
        S3 action name such as "s3:GetObject", `resource` an ARN such as "arn:aws:s3:::bucket/key".
        """
        effects = {
            statement.effect
            for statement in self.statements
            if statement.applies(principals=principals, action=action, resource=resource)
        }
        if "Deny" in effects:
            return "deny"
        return "allow" if effects else "none"


# -- parsing ------------------------------------------------------------------------------------


def parse_policy(text: str | bytes, *, bucket: str) -> Policy:
    """Parse and validate a PutBucketPolicy document for `bucket`.

    Raises MalformedPolicyError naming what is wrong: invalid JSON, over 20 KB, an unknown or
    unsupported field, an invalid principal, action or resource, or a resource of another bucket.
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass")
    if len(raw) > POLICY_BYTES_MAX:
        raise MalformedPolicyError(f"Policies must be no larger than {POLICY_BYTES_MAX} bytes (20 KB).")
    try:
        source = raw.decode("utf-8")
        document = json.loads(source, object_pairs_hook=_unique_fields, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedPolicyError(f"This policy contains invalid Json: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedPolicyError("This policy contains invalid Json: the policy must be a JSON object.")
    _check_fields(document, allowed=frozenset({"Version", "Id", "Statement"}))
    version = document.get("Version", "2008-10-17")
    if version not in POLICY_VERSIONS:
        raise MalformedPolicyError(
            f"Invalid policy version {version!r}; use one of {', '.join(POLICY_VERSIONS)}."
        )
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyError("Id must be a string.")
    raw_statements = _required(document, "Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not 1 <= len(raw_statements) <= POLICY_STATEMENTS_MAX:
        raise MalformedPolicyError(
            f"Statement must be an object or a list of 1 to {POLICY_STATEMENTS_MAX} objects."
        )
    statements = tuple(_parse_statement(item, bucket) for item in raw_statements)
    sids = [statement.sid for statement in statements if statement.sid is not None]
    if len(set(sids)) != len(sids):
        raise MalformedPolicyError("Statement IDs (SID) in a single policy must be unique.")
    return Policy(text=source, version=version, id=policy_id, statements=statements)


def _unique_fields(pairs: list[tuple[str, object]]) -> dict[str, object]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        duplicated = next(name for name in fields if sum(key == name for key, _ in pairs) > 1)
        raise ValueError(f"the field {duplicated!r} appears more than once in an object")
    return fields


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _check_fields(document: dict[str, object], *, allowed: frozenset[str]) -> None:
    for name in document:
        if name in _UNSUPPORTED_FIELDS:
            raise MalformedPolicyError(
                f"{name} is not supported by this server; write the statement with Principal, "
                "Action and Resource only."
            )
        if name not in allowed:
            raise MalformedPolicyError(f"Unknown field {name}")


def _required(document: dict[str, object], name: str) -> object:
    if name not in document:
        raise MalformedPolicyError(f"Missing required field {name}")
    return document[name]


def _parse_statement(item: object, bucket: str) -> Statement:
    if not isinstance(item, dict):
        raise MalformedPolicyError("Each statement must be a JSON object.")
    _check_fields(item, allowed=_STATEMENT_FIELDS)
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyError("Sid must be a string.")
    effect = _required(item, "Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(f"Invalid effect: {effect!r} (use Allow or Deny).")
    principals = _parse_principal(_required(item, "Principal"))
    actions = _strings(_required(item, "Action"), "Action")
    resources = _strings(_required(item, "Resource"), "Resource")
    for resource in resources:
        if resource != ARN_PREFIX + bucket and not resource.startswith(f"{ARN_PREFIX}{bucket}/"):
            raise MalformedPolicyError(
                f"Policy has invalid resource: {resource!r} is not {ARN_PREFIX}{bucket} or an object in it."
            )
    kinds = {"bucket" if resource == ARN_PREFIX + bucket else "object" for resource in resources}
    for action in actions:
        if kinds.isdisjoint(_action_kinds(action)):
            raise MalformedPolicyError(f"Action does not apply to any resource(s) in statement: {action!r}.")
    return Statement(
        sid=sid,
        effect="Allow" if effect == "Allow" else "Deny",
        principals=principals,
        actions=actions,
        resources=resources,
    )


def _parse_principal(value: object) -> frozenset[str]:
    if value == "*":
        return frozenset({"*"})
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyError('Invalid principal in policy: use "*" or {"AWS": ...}.')
    for name in value:
        if name != "AWS":
            raise MalformedPolicyError(
                f'Invalid principal in policy: principal type {name!r} is not supported (only "AWS").'
            )
    principals = _strings(value["AWS"], "Principal")
    for principal in principals:
        if principal != "*" and ("*" in principal or "?" in principal or not principal.strip()):
            raise MalformedPolicyError(f"Invalid principal in policy: {principal!r}.")
    return frozenset(principals)


def _strings(value: object, name: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not 1 <= len(values) <= POLICY_VALUES_MAX
        or not all(isinstance(item, str) and item for item in values)
    ):
        raise MalformedPolicyError(
            f"{name} must be a non-empty string or a list of 1 to {POLICY_VALUES_MAX} non-empty strings."
        )
    return tuple(values)


def _action_kinds(action: str) -> set[ResourceKind]:
    if action != "*" and not action.lower().startswith("s3:"):
        raise MalformedPolicyError(f"Policy has invalid action: {action!r} is not an S3 action.")
    pattern = _wildcard(action, ignore_case=True)
    kinds = {kind for name, kind in S3_ACTIONS.items() if pattern.fullmatch(name)}
    if not kinds:
        raise MalformedPolicyError(f"Policy has invalid action: {action!r} names no known S3 action.")
    return kinds


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(expression, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


# -- the console's template ---------------------------------------------------------------------


def public_read_policy(bucket: str, prefix: str = "") -> str:
    """The usual policy letting anyone, anonymous included, read the objects under `prefix`."""
    if "*" in prefix or "?" in prefix:
        raise InvalidArgumentError("A public-read prefix cannot contain * or ?.", ArgumentName="prefix")
    statement = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"{ARN_PREFIX}{bucket}/{prefix}*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)
