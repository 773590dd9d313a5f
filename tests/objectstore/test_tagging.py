"""Tag sets: the <Tagging> document as boto3 sends it, the x-amz-tagging header, S3's rules, hostile XML."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.errors import InvalidArgumentError, InvalidTagError, MalformedXmlError
from scalebox.objectstore.tagging import (
    BUCKET_TAGS_MAX,
    OBJECT_TAGS_MAX,
    TAGGING_BYTES_MAX,
    parse_tagging,
    parse_tagging_header,
    render_tagging,
)
from scalebox.objectstore.xmldoc import XML_DEPTH_MAX
from tests.objectstore.boto3_capture import NS, boto3_reads, capturing_client, sent_body

s3 = pytest.fixture(scope="module", name="s3")(capturing_client)


def tagging_xml(*pairs: tuple[str, str], namespace: str = NS) -> bytes:
    tags = "".join(f"<Tag><Key>{key}</Key><Value>{value}</Value></Tag>" for key, value in pairs)
    return f"<Tagging {namespace}><TagSet>{tags}</TagSet></Tagging>".encode()


tag_characters = st.characters(categories=("L", "N", "Z")) | st.sampled_from("_.:/=+-@")
tag_keys = st.text(tag_characters, min_size=1, max_size=128).filter(
    lambda key: not key.lower().startswith("aws:")
)
tag_values = st.text(tag_characters, max_size=256)
tag_sets = st.dictionaries(tag_keys, tag_values, max_size=OBJECT_TAGS_MAX)


# -- what boto3 sends ---------------------------------------------------------------------------


def test_parse_tagging_reads_put_bucket_tagging_from_boto3(s3) -> None:
    tag_set = [{"Key": "team name", "Value": "Ünïcode 名前"}, {"Key": "a+b=c.d_e:f/g@h-i", "Value": ""}]
    body = sent_body(s3, "put_bucket_tagging", Bucket="b", Tagging={"TagSet": tag_set})

    tags = parse_tagging(body, tags_max=BUCKET_TAGS_MAX)

    assert tags == {"team name": "Ünïcode 名前", "a+b=c.d_e:f/g@h-i": ""}


def test_parse_tagging_reads_empty_put_object_tagging_from_boto3(s3) -> None:
    body = sent_body(s3, "put_object_tagging", Bucket="b", Key="k", Tagging={"TagSet": []})

    assert parse_tagging(body, tags_max=OBJECT_TAGS_MAX) == {}


def test_parse_tagging_accepts_xml_without_namespace_or_with_declaration() -> None:
    plain = tagging_xml(("k", "v"), namespace="")
    declared = b'<?xml version="1.0" encoding="UTF-8"?>\n' + tagging_xml(("k", "v"))

    assert parse_tagging(plain, tags_max=10) == parse_tagging(declared, tags_max=10) == {"k": "v"}


# -- rendering ----------------------------------------------------------------------------------


def test_render_tagging_is_namespaced_xml_with_declaration() -> None:
    assert render_tagging({"a": "1", "b": ""}) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>'
        b"<Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value /></Tag>"
        b"</TagSet></Tagging>"
    )


def test_render_tagging_is_what_boto3_get_object_tagging_reads() -> None:
    parsed = boto3_reads("GetObjectTagging", render_tagging({"k": "v", "名前": "値"}))

    assert parsed["TagSet"] == [{"Key": "k", "Value": "v"}, {"Key": "名前", "Value": "値"}]


@given(tag_sets)
def test_parse_tagging_round_trips_render(tags: dict[str, str]) -> None:
    parsed = parse_tagging(render_tagging(tags), tags_max=OBJECT_TAGS_MAX)

    assert list(parsed.items()) == list(tags.items())


# -- S3's rules ---------------------------------------------------------------------------------


def test_parse_tagging_accepts_the_limits_exactly() -> None:
    tags = {f"k{i}": "v" for i in range(OBJECT_TAGS_MAX - 1)} | {"k" * 128: "v" * 256}

    assert parse_tagging(render_tagging(tags), tags_max=OBJECT_TAGS_MAX) == tags


def test_parse_tagging_accepts_unicode_letters_digits_and_separators() -> None:
    tags = {"日本語": "Ελληνικά", "١٢٣": "ß\u00a0\u3000x", "Ωmega": "٣"}

    assert parse_tagging(render_tagging(tags), tags_max=OBJECT_TAGS_MAX) == tags


@pytest.mark.parametrize(
    ("tags_max", "count"), [(OBJECT_TAGS_MAX, OBJECT_TAGS_MAX + 1), (BUCKET_TAGS_MAX, BUCKET_TAGS_MAX + 1)]
)
def test_parse_tagging_rejects_too_many_tags(tags_max: int, count: int) -> None:
    body = tagging_xml(*((f"k{i}", "v") for i in range(count)))

    with pytest.raises(InvalidTagError, match=f"greater than {tags_max}"):
        parse_tagging(body, tags_max=tags_max)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", "v", "TagKey"),
        ("k" * 129, "v", "TagKey"),
        ("k", "v" * 257, "TagValue"),
        ("aws:createdBy", "v", "aws:"),
        ("AWS:x", "v", "aws:"),
        ("star*", "v", "TagKey"),
        ("k", "a&lt;b", "TagValue"),
        ("k", "semi;colon", "TagValue"),
        ("k", "tab\tinside", "TagValue"),
        ("emoji 😀", "v", "TagKey"),
    ],
)
def test_parse_tagging_rejects_a_tag_s3_refuses(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidTagError, match=message):
        parse_tagging(tagging_xml((key, value)), tags_max=OBJECT_TAGS_MAX)


def test_parse_tagging_rejects_duplicate_keys() -> None:
    with pytest.raises(InvalidTagError, match="same key"):
        parse_tagging(tagging_xml(("k", "1"), ("k", "2")), tags_max=OBJECT_TAGS_MAX)


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Color>red</Color></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key><b>k</b></Key><Value>v</Value></Tag></TagSet></Tagging>",
        b"<Tagging></Tagging>",
        b"<Tagging><TagSet/><TagSet/></Tagging>",
        b"<TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet>",
        b'<Tagging xmlns="urn:other"><TagSet/></Tagging>',
        b"",
        b"not xml",
        b"<Tagging><TagSet>",
    ],
)
def test_parse_tagging_rejects_misshapen_xml(body: bytes) -> None:
    with pytest.raises(MalformedXmlError, match="not well-formed"):
        parse_tagging(body, tags_max=OBJECT_TAGS_MAX)


# -- hostile XML --------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Tagging><TagSet><Tag><Key>k</Key><Value>&lol4;</Value></Tag></TagSet></Tagging>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Tagging><TagSet><Tag><Key>k</Key><Value>&secret;</Value></Tag></TagSet></Tagging>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Tagging SYSTEM "http://127.0.0.1:9/evil.dtd">
<Tagging><TagSet/></Tagging>"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(BILLION_LAUGHS, "entities", id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, "entities", id="external-entity"),
        pytest.param(EXTERNAL_DTD, "Document type declarations", id="external-dtd"),
        pytest.param(
            b"<Tagging>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</Tagging>", "deeper", id="deep-nesting"
        ),
        pytest.param(
            b"<Tagging><TagSet>" + b" " * TAGGING_BYTES_MAX + b"</TagSet></Tagging>",
            "larger than",
            id="oversize",
        ),
        pytest.param(
            b"<Tagging><TagSet>&undeclared;</TagSet></Tagging>", "undefined entity", id="undeclared"
        ),
    ],
)
def test_parse_tagging_refuses_hostile_xml(body: bytes, message: str) -> None:
    with pytest.raises(MalformedXmlError, match=message):
        parse_tagging(body, tags_max=OBJECT_TAGS_MAX)


def test_parse_tagging_refuses_nesting_just_past_the_depth_limit() -> None:
    depth = XML_DEPTH_MAX - 3 + 1  # Tagging/TagSet/Tag is 3 levels
    body = b"<Tagging><TagSet><Tag>" + b"<Key>" * depth + b"</Key>" * depth + b"</Tag></TagSet></Tagging>"

    with pytest.raises(MalformedXmlError, match="deeper"):
        parse_tagging(body, tags_max=OBJECT_TAGS_MAX)


# -- the x-amz-tagging header -------------------------------------------------------------------


def test_parse_tagging_header_decodes_a_url_encoded_query() -> None:
    header = "project=blue%20moon&owner=alice+smith&empty=&bare&%E5%90%8D=%E5%80%A4"

    assert parse_tagging_header(header, tags_max=OBJECT_TAGS_MAX) == {
        "project": "blue moon",
        "owner": "alice smith",
        "empty": "",
        "bare": "",
        "名": "値",
    }


def test_parse_tagging_header_of_empty_value_is_no_tags() -> None:
    assert parse_tagging_header("", tags_max=OBJECT_TAGS_MAX) == {}


@given(tag_sets)
def test_parse_tagging_header_round_trips_urlencode(tags: dict[str, str]) -> None:
    header = urlencode(tags, quote_via=quote)

    assert parse_tagging_header(header, tags_max=OBJECT_TAGS_MAX) == tags


@pytest.mark.parametrize("header", ["k=1&k=2", "k=%FF", "%C3=v"])
def test_parse_tagging_header_rejects_duplicates_and_bad_encoding(header: str) -> None:
    with pytest.raises(InvalidArgumentError, match="x-amz-tagging"):
        parse_tagging_header(header, tags_max=OBJECT_TAGS_MAX)


@pytest.mark.parametrize(
    "header",
    ["&".join(f"k{i}=v" for i in range(OBJECT_TAGS_MAX + 1)), "aws%3Akey=v", "k=" + "v" * 257, "a%2Ab=v"],
)
def test_parse_tagging_header_applies_the_tag_rules(header: str) -> None:
    with pytest.raises(InvalidTagError):
        parse_tagging_header(header, tags_max=OBJECT_TAGS_MAX)
