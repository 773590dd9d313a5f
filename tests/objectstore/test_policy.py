"""Bucket policies: parsing the supported subset, refusing the rest explicitly, and evaluating access."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.errors import InvalidArgumentError, MalformedPolicyError
from scalebox.objectstore.policy import (
    POLICY_BYTES_MAX,
    POLICY_STATEMENTS_MAX,
    S3_ACTIONS,
    Policy,
    Statement,
    parse_policy,
    public_read_policy,
)

BUCKET = "photos"
ALICE = frozenset({"AKIAALICE", "arn:aws:iam::000000000000:user/alice"})
BOB = frozenset({"AKIABOB", "arn:aws:iam::000000000000:user/bob"})
ANONYMOUS: frozenset[str] = frozenset()


def make_statement(**overrides: Any) -> dict[str, Any]:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    return statement | overrides


def make_policy(*statements: dict[str, Any], **fields: Any) -> Policy:
    document = {"Version": "2012-10-17", "Statement": list(statements or [make_statement()])} | fields
    return parse_policy(json.dumps(document), bucket=BUCKET)


def decide(policy: Policy, principals: frozenset[str], action: str, key: str | None = "a.jpg") -> str:
    resource = f"arn:aws:s3:::{BUCKET}" if key is None else f"arn:aws:s3:::{BUCKET}/{key}"
    return policy.evaluate(principals=principals, action=action, resource=resource)


# -- parsing ------------------------------------------------------------------------------------


def test_parse_policy_reads_the_supported_subset_and_keeps_the_text() -> None:
    text = """{
      "Version": "2012-10-17",
      "Id": "PhotosPolicy",
      "Statement": [
        {"Sid": "Read", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::000000000000:user/alice", "AKIABOB"]},
         "Action": ["s3:GetObject", "s3:List*"],
         "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
        {"Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::photos/keep/*"}
      ]
    }"""

    policy = parse_policy(text, bucket=BUCKET)

    assert policy == Policy(
        text=text,
        version="2012-10-17",
        id="PhotosPolicy",
        statements=(
            Statement(
                sid="Read",
                effect="Allow",
                principals=frozenset({"arn:aws:iam::000000000000:user/alice", "AKIABOB"}),
                actions=("s3:GetObject", "s3:List*"),
                resources=("arn:aws:s3:::photos", "arn:aws:s3:::photos/*"),
            ),
            Statement(
                sid=None,
                effect="Deny",
                principals=frozenset({"*"}),
                actions=("s3:DeleteObject",),
                resources=("arn:aws:s3:::photos/keep/*",),
            ),
        ),
    )


def test_parse_policy_accepts_bytes_a_single_statement_object_and_the_old_version() -> None:
    text = json.dumps({"Version": "2008-10-17", "Statement": make_statement()}, indent=4)

    policy = parse_policy(text.encode(), bucket=BUCKET)

    assert policy.text == text
    assert policy.version == "2008-10-17"
    assert len(policy.statements) == 1


def test_parse_policy_accepts_the_size_and_statement_limits_exactly() -> None:
    statements = [make_statement(Sid=f"s{i}") for i in range(POLICY_STATEMENTS_MAX)]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    text += " " * (POLICY_BYTES_MAX - len(text))

    assert len(parse_policy(text, bucket=BUCKET).statements) == POLICY_STATEMENTS_MAX


actions = st.sampled_from(sorted(S3_ACTIONS)) | st.sampled_from(["s3:*", "*", "s3:Get*", "s3:?utObject"])
resources = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
    lambda key: f"arn:aws:s3:::{BUCKET}/{key}"
) | st.just(f"arn:aws:s3:::{BUCKET}")
principals = st.just("*") | st.builds(
    lambda names: {"AWS": names},
    st.lists(
        st.sampled_from(["*", "AKIAALICE", "arn:aws:iam::000000000000:user/bob"]), min_size=1, max_size=3
    ),
)
statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Principal": principals,
        "Action": st.lists(actions, min_size=1, max_size=3),
        "Resource": st.lists(resources, min_size=1, max_size=3),
    }
)


@given(st.lists(statements, min_size=1, max_size=5))
def test_parse_policy_reads_back_what_json_dumps_wrote(items: list[dict[str, Any]]) -> None:
    items = [  # only keep statements S3 would accept: every object action needs an object resource
        item | {"Resource": [*item["Resource"], f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}
        for item in items
    ]

    policy = parse_policy(json.dumps({"Statement": items}), bucket=BUCKET)

    assert [statement.effect for statement in policy.statements] == [item["Effect"] for item in items]
    assert [statement.actions for statement in policy.statements] == [tuple(item["Action"]) for item in items]
    assert [statement.resources for statement in policy.statements] == [
        tuple(item["Resource"]) for item in items
    ]


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Resource": "arn:aws:s3:::other/*"}, "invalid resource"),
        ({"Resource": "arn:aws:s3:::photos-backup/*"}, "invalid resource"),
        ({"Resource": "arn:aws:s3:::photo*"}, "invalid resource"),
        ({"Resource": "*"}, "invalid resource"),
        ({"Resource": ["arn:aws:s3:::photos/*", "arn:aws:s3:::other"]}, "invalid resource"),
        ({"Action": "s3:GetObjectt"}, "invalid action"),
        ({"Action": "iam:PassRole"}, "invalid action"),
        ({"Action": "s3:Frobnicate*"}, "invalid action"),
        ({"Action": "s3:ListBucket"}, "Action does not apply to any resource"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos"}, "Action does not apply"),
        ({"Effect": "allow"}, "Invalid effect"),
        ({"Principal": {"Service": "lambda.amazonaws.com"}}, "principal type 'Service' is not supported"),
        ({"Principal": {"AWS": "arn:aws:iam::*:root"}}, "Invalid principal"),
        ({"Principal": {"AWS": []}}, "Principal must be"),
        ({"Principal": {}}, "Invalid principal"),
        ({"Principal": "alice"}, "Invalid principal"),
        ({"Action": []}, "Action must be"),
        ({"Action": ["s3:GetObject", 7]}, "Action must be"),
        ({"Resource": ["arn:aws:s3:::photos/*"] * 101}, "Resource must be"),
        ({"Sid": 1}, "Sid must be a string"),
        ({"Extra": 1}, "Unknown field Extra"),
    ],
)
def test_parse_policy_rejects_an_invalid_statement(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedPolicyError, match=message):
        make_policy(make_statement(**change))


@pytest.mark.parametrize("field", ["Effect", "Principal", "Action", "Resource"])
def test_parse_policy_requires_each_statement_field(field: str) -> None:
    statement = make_statement()
    del statement[field]

    with pytest.raises(MalformedPolicyError, match=f"Missing required field {field}"):
        make_policy(statement)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("NotPrincipal", {"AWS": "AKIAALICE"}),
        ("NotAction", "s3:DeleteObject"),
        ("NotResource", "arn:aws:s3:::photos/private/*"),
        ("Condition", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ],
)
def test_parse_policy_says_unsupported_elements_are_not_supported(field: str, value: object) -> None:
    with pytest.raises(MalformedPolicyError, match=f"{field} is not supported by this server"):
        make_policy(make_statement(**{field: value}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid Json"),
        ("", "invalid Json"),
        ("[]", "must be a JSON object"),
        ('{"Statement": [], "Statement": []}', "appears more than once"),
        ('{"Version": NaN}', "NaN is not valid JSON"),
        ("[" * 5000 + "]" * 5000, "invalid Json"),
        (b"\xff\xfe{}", "invalid Json"),
        ('{"Version": "2012-10-17"}', "Missing required field Statement"),
        ('{"Version": "2012-10-17", "Statement": []}', "Statement must be"),
        ('{"Version": "2012-10-17", "Statement": "s"}', "Statement must be"),
        ('{"Version": "2012-10-17", "Statement": ["s"]}', "must be a JSON object"),
        ('{"Version": "2012-10-18", "Statement": {}}', "Invalid policy version"),
        ('{"Id": 5, "Statement": {}}', "Id must be a string"),
        ('{"Statment": {}}', "Unknown field Statment"),
    ],
)
def test_parse_policy_rejects_an_invalid_document(text: str | bytes, message: str) -> None:
    with pytest.raises(MalformedPolicyError, match=message):
        parse_policy(text, bucket=BUCKET)


def test_parse_policy_rejects_more_than_20_kb() -> None:
    text = json.dumps({"Statement": make_statement()})
    text += " " * (POLICY_BYTES_MAX + 1 - len(text))

    with pytest.raises(MalformedPolicyError, match="20 KB"):
        parse_policy(text, bucket=BUCKET)


def test_parse_policy_rejects_too_many_statements() -> None:
    with pytest.raises(MalformedPolicyError, match="Statement must be"):
        make_policy(*[make_statement()] * (POLICY_STATEMENTS_MAX + 1))


def test_parse_policy_rejects_duplicate_sids() -> None:
    with pytest.raises(MalformedPolicyError, match="SID"):
        make_policy(make_statement(Sid="a"), make_statement(Sid="a"))


# -- evaluation ---------------------------------------------------------------------------------


def test_evaluate_explicit_deny_wins_over_allow() -> None:
    policy = make_policy(
        make_statement(Principal={"AWS": sorted(ALICE)}, Action="s3:*"),
        make_statement(
            Effect="Deny", Principal="*", Action="s3:DeleteObject", Resource="arn:aws:s3:::photos/keep/*"
        ),
    )

    assert decide(policy, ALICE, "s3:DeleteObject", "keep/a.jpg") == "deny"
    assert decide(policy, ALICE, "s3:DeleteObject", "tmp/a.jpg") == "allow"
    assert decide(policy, ALICE, "s3:GetObject", "keep/a.jpg") == "allow"


def test_evaluate_anonymous_matches_only_everyone() -> None:
    named = make_policy(make_statement(Principal={"AWS": "AKIAALICE"}))
    starred = make_policy(make_statement(Principal={"AWS": "*"}))
    star = make_policy(make_statement(Principal="*"))

    assert decide(named, ANONYMOUS, "s3:GetObject") == "none"
    assert decide(starred, ANONYMOUS, "s3:GetObject") == "allow"
    assert decide(star, ANONYMOUS, "s3:GetObject") == "allow"


def test_evaluate_principal_matches_any_identifier_the_caller_is_known_by() -> None:
    policy = make_policy(make_statement(Principal={"AWS": ["arn:aws:iam::000000000000:user/alice"]}))

    assert decide(policy, ALICE, "s3:GetObject") == "allow"
    assert decide(policy, BOB, "s3:GetObject") == "none"


def test_evaluate_resource_prefixes_and_wildcards_are_case_sensitive() -> None:
    policy = make_policy(
        make_statement(Resource=["arn:aws:s3:::photos/public/*", "arn:aws:s3:::photos/img-?.png"])
    )

    assert decide(policy, BOB, "s3:GetObject", "public/2024/a.jpg") == "allow"
    assert decide(policy, BOB, "s3:GetObject", "public/") == "allow"
    assert decide(policy, BOB, "s3:GetObject", "Public/a.jpg") == "none"
    assert decide(policy, BOB, "s3:GetObject", "private/a.jpg") == "none"
    assert decide(policy, BOB, "s3:GetObject", "img-1.png") == "allow"
    assert decide(policy, BOB, "s3:GetObject", "img-10.png") == "none"


def test_evaluate_bucket_resource_covers_the_bucket_not_its_objects() -> None:
    policy = make_policy(make_statement(Action="s3:ListBucket", Resource="arn:aws:s3:::photos"))

    assert decide(policy, BOB, "s3:ListBucket", key=None) == "allow"
    assert decide(policy, BOB, "s3:ListBucket", key="a") == "none"


def test_evaluate_action_wildcards_match_case_insensitively() -> None:
    policy = make_policy(make_statement(Action="s3:Get*"))

    assert decide(policy, BOB, "s3:GetObject") == "allow"
    assert decide(policy, BOB, "s3:GetObjectTagging") == "allow"
    assert decide(policy, BOB, "S3:GETOBJECT") == "allow"
    assert decide(policy, BOB, "s3:PutObject") == "none"


def test_evaluate_action_names_in_the_policy_are_case_insensitive() -> None:
    policy = make_policy(make_statement(Action=["S3:getobject", "s3:?utObject"]))

    assert decide(policy, BOB, "s3:GetObject") == "allow"
    assert decide(policy, BOB, "s3:PutObject") == "allow"
    assert decide(policy, BOB, "s3:DeleteObject") == "none"


def test_evaluate_star_action_allows_everything_on_the_resources() -> None:
    policy = make_policy(
        make_statement(Action="*", Resource=["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"])
    )

    assert decide(policy, ANONYMOUS, "s3:DeleteBucket", key=None) == "allow"
    assert decide(policy, ANONYMOUS, "s3:PutObject") == "allow"


def test_evaluate_is_none_for_another_bucket() -> None:
    policy = make_policy(make_statement(Action="s3:*"))

    assert (
        policy.evaluate(principals=BOB, action="s3:GetObject", resource="arn:aws:s3:::other/a.jpg") == "none"
    )


# -- the public-read template -------------------------------------------------------------------


def test_public_read_policy_lets_anyone_read_under_the_prefix_only() -> None:
    policy = parse_policy(public_read_policy(BUCKET, "public/"), bucket=BUCKET)

    assert decide(policy, ANONYMOUS, "s3:GetObject", "public/a.jpg") == "allow"
    assert decide(policy, ANONYMOUS, "s3:GetObject", "private/a.jpg") == "none"
    assert decide(policy, ANONYMOUS, "s3:PutObject", "public/a.jpg") == "none"
    assert decide(policy, ANONYMOUS, "s3:ListBucket", key=None) == "none"


def test_public_read_policy_without_prefix_covers_the_whole_bucket() -> None:
    policy = parse_policy(public_read_policy(BUCKET), bucket=BUCKET)

    assert json.loads(policy.text)["Statement"][0]["Resource"] == ["arn:aws:s3:::photos/*"]
    assert decide(policy, ANONYMOUS, "s3:GetObject", "any/key") == "allow"


def test_public_read_policy_refuses_a_wildcard_prefix() -> None:
    with pytest.raises(InvalidArgumentError):
        public_read_policy(BUCKET, "a*")
