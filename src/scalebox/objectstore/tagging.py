"""Object and bucket tag sets: the `<Tagging>` document, the `x-amz-tagging` header, and their rules.

Limits, as S3's: 10 tags per object, 50 per bucket, keys of 1-128 and values of 0-256 Unicode letters,
numbers, separators and `_ . : / = + - @`; no `aws:` keys; a 128 KiB document.

Also owns the small safe-XML toolkit the other configuration documents (CORS, lifecycle) share:
parsing with defusedxml (no DTDs, entities or external references), a byte and depth limit, and
rendering with the S3 namespace and an XML declaration. Request XML may omit the namespace.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

from scalebox.objectstore.errors import InvalidArgumentError, InvalidTagError
from scalebox.objectstore.xmldoc import parse_xml, render_xml, xml_children, xml_required_text

OBJECT_TAGS_MAX = 10
BUCKET_TAGS_MAX = 50
TAG_KEY_LENGTH_MAX = 128
TAG_VALUE_LENGTH_MAX = 256
# 50 tags of 4-byte characters at their longest, plus markup
TAGGING_BYTES_MAX = 128 * 1024

_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_DIGITS = re.compile(r"[0-9]+")
_HEADER_INVALID = (
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters "
    "without tag name duplicates."
)


# -- tag rules ----------------------------------------------------------------------------------


def validate_tags(pairs: Iterable[tuple[str, str]], *, tags_max: int) -> dict[str, str]:
    """Check a tag set against S3's rules and return it as a dict in the order given.

    Raises InvalidTagError for a bad key or value, a duplicate key, a reserved `aws:` key or more
    than `tags_max` tags.
    """
    tags: dict[str, str] = {}
    for key, value in pairs:
        if len(tags) == tags_max:
            raise InvalidTagError(f"Tag count cannot be greater than {tags_max}.")
        _check_tag(key, value)
        if key in tags:
            raise InvalidTagError(f"Cannot provide multiple Tags with the same key: {key!r}.")
        tags[key] = value
    return tags


def _check_tag(key: str, value: str) -> None:
    if not 1 <= len(key) <= TAG_KEY_LENGTH_MAX:
        raise InvalidTagError(
            f"The TagKey you have provided is invalid: it must be 1 to {TAG_KEY_LENGTH_MAX} characters long."
        )
    if len(value) > TAG_VALUE_LENGTH_MAX:
        raise InvalidTagError(
            f"The TagValue you have provided is too long: at most {TAG_VALUE_LENGTH_MAX} characters."
        )
    if key.lower().startswith("aws:"):
        raise InvalidTagError(f"Your TagKey cannot be prefixed with aws: {key!r}.")
    for name, text in (("TagKey", key), ("TagValue", value)):
        bad = next((char for char in text if not _tag_character(char)), None)
        if bad is not None:
            raise InvalidTagError(
                f"The {name} you have provided is invalid: {bad!r} is not allowed "
                "(use letters, digits, spaces and _ . : / = + - @)."
            )


def _tag_character(char: str) -> bool:
    # S3's pattern is ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$: any Unicode letter, separator or number.
    return unicodedata.category(char)[0] in "LZN" or char in _TAG_PUNCTUATION


# -- the <Tagging> document and the x-amz-tagging header ----------------------------------------


def parse_tagging(body: bytes, *, tags_max: int) -> dict[str, str]:
    """Parse a PutObjectTagging / PutBucketTagging body (`<Tagging><TagSet><Tag>...`).

    Raises MalformedXmlError for hostile or misshapen XML and InvalidTagError for a tag S3 refuses.
    """
    root = parse_xml(body, root="Tagging", bytes_max=TAGGING_BYTES_MAX)
    (tag_set,) = xml_children(root, {"TagSet"}, count_min=1, count_max=1)
    elements = xml_children(tag_set, {"Tag"})
    return validate_tags((parse_tag_element(element) for element in elements), tags_max=tags_max)


def parse_tag_element(element: ET.Element) -> tuple[str, str]:
    """The key and value of one `<Tag><Key/><Value/></Tag>` element, both required."""
    xml_children(element, {"Key", "Value"})
    return xml_required_text(element, "Key"), xml_required_text(element, "Value")


def render_tagging(tags: Mapping[str, str]) -> bytes:
    """The GetObjectTagging / GetBucketTagging response body."""
    root = ET.Element("Tagging")
    append_tag_set(ET.SubElement(root, "TagSet"), tags)
    return render_xml(root)


def append_tag_set(parent: ET.Element, tags: Mapping[str, str]) -> None:
    """Append one `<Tag><Key/><Value/></Tag>` per tag to `parent`."""
    for key, value in tags.items():
        tag = ET.SubElement(parent, "Tag")
        ET.SubElement(tag, "Key").text = key
        ET.SubElement(tag, "Value").text = value


def parse_tagging_header(value: str, *, tags_max: int) -> dict[str, str]:
    """Parse the `x-amz-tagging` header: a URL-encoded query string `k1=v1&k2=v2`.

    A key without `=` has the empty value. Raises InvalidArgumentError for bad encoding or a duplicate
    key (as S3 does for this header) and InvalidTagError for a tag S3 refuses.
    """
    fields = [field for field in value.split("&") if field]
    if len(fields) > tags_max:
        raise InvalidTagError(f"Tag count cannot be greater than {tags_max}.")
    pairs: list[tuple[str, str]] = []
    for field in fields:
        raw_key, _, raw_value = field.partition("=")
        try:
            pair = unquote_plus(raw_key, errors="strict"), unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidArgumentError(_HEADER_INVALID, ArgumentName="x-amz-tagging") from exc
        pairs.append(pair)
    if len({key for key, _ in pairs}) != len(pairs):
        raise InvalidArgumentError(_HEADER_INVALID, ArgumentName="x-amz-tagging")
    return validate_tags(pairs, tags_max=tags_max)
