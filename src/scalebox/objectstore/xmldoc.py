"""Safe parsing and rendering of S3's small XML request documents (tagging, CORS, lifecycle).

Parsing goes through defusedxml with a size and a depth limit, so entity expansion, external
entities and deep nesting are refused as MalformedXML; the S3 namespace is optional on input and
always written on output.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from scalebox.objectstore.errors import MalformedXmlError

S3_XML_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_DIGITS = re.compile(r"[0-9]+")
XML_DEPTH_MAX = 8  # the deepest document here (lifecycle Filter/And/Tag/Key) is 6 levels
MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema."


def parse_xml(body: bytes, *, root: str, bytes_max: int) -> ET.Element:
    """Parse an S3 request document and return its root element with the S3 namespace removed.

    Raises MalformedXmlError if the body is over `bytes_max`, is not well-formed, declares a DTD or
    entities, nests deeper than XML_DEPTH_MAX, or its root is not `root`.
    """
    if len(body) > bytes_max:
        raise MalformedXmlError(f"{MALFORMED_XML} The document is larger than {bytes_max} bytes.")
    try:
        element = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedXmlError(
            f"{MALFORMED_XML} Document type declarations, entities and external references are not allowed."
        ) from exc
    except ET.ParseError as exc:
        raise MalformedXmlError(f"{MALFORMED_XML} {exc}.") from exc
    _strip_namespace(element)
    if element.tag != root:
        raise MalformedXmlError(f"{MALFORMED_XML} The root element must be <{root}>, not <{element.tag}>.")
    return element


def _strip_namespace(root: ET.Element) -> None:
    prefix = "{" + S3_XML_NAMESPACE + "}"
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > XML_DEPTH_MAX:
            raise MalformedXmlError(f"{MALFORMED_XML} Elements nest deeper than {XML_DEPTH_MAX} levels.")
        if element.tag.startswith(prefix):
            element.tag = element.tag[len(prefix) :]
        stack.extend((child, depth + 1) for child in element)


def xml_children(
    parent: ET.Element, allowed: Collection[str], *, count_min: int = 0, count_max: int | None = None
) -> list[ET.Element]:
    """The children of `parent`, all of which must be named in `allowed`, between the given counts."""
    children = list(parent)
    for child in children:
        if child.tag not in allowed:
            raise MalformedXmlError(f"{MALFORMED_XML} Unexpected element <{child.tag}> in <{parent.tag}>.")
    if len(children) < count_min:
        raise MalformedXmlError(
            f"{MALFORMED_XML} <{parent.tag}> needs at least {count_min} child element(s)."
        )
    if count_max is not None and len(children) > count_max:
        raise MalformedXmlError(
            f"{MALFORMED_XML} <{parent.tag}> allows at most {count_max} child element(s)."
        )
    return children


def xml_text(parent: ET.Element, name: str) -> str | None:
    """The text of the single child `name` of `parent` ("" when empty), or None when it is absent."""
    found = parent.findall(name)
    if len(found) > 1:
        raise MalformedXmlError(f"{MALFORMED_XML} <{name}> appears more than once in <{parent.tag}>.")
    if not found:
        return None
    if len(found[0]):
        raise MalformedXmlError(f"{MALFORMED_XML} <{name}> must contain text, not elements.")
    return found[0].text or ""


def xml_required_text(parent: ET.Element, name: str) -> str:
    """The text of the single child `name` of `parent`, which must be present."""
    text = xml_text(parent, name)
    if text is None:
        raise MalformedXmlError(f"{MALFORMED_XML} <{parent.tag}> is missing <{name}>.")
    return text


def xml_int(parent: ET.Element, name: str) -> int | None:
    """The non-negative integer in the single child `name`, or None when it is absent."""
    text = xml_text(parent, name)
    if text is None:
        return None
    digits = text.strip()
    if not _DIGITS.fullmatch(digits) or len(digits) > 18:
        raise MalformedXmlError(f"{MALFORMED_XML} <{name}> must be a non-negative integer, not {text!r}.")
    return int(digits)


def xml_bool(parent: ET.Element, name: str) -> bool | None:
    """The xs:boolean in the single child `name`, or None when it is absent."""
    text = xml_text(parent, name)
    if text is None:
        return None
    value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip())
    if value is None:
        raise MalformedXmlError(f"{MALFORMED_XML} <{name}> must be true or false, not {text!r}.")
    return value


def render_xml(root: ET.Element) -> bytes:
    """Serialize a response document with the S3 namespace and an XML declaration, as S3 does."""
    root.set("xmlns", S3_XML_NAMESPACE)
    document: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document
