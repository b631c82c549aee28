"""Markdown from findings and reports, rendered as HTML that is safe to show.

Finding texts and imported reports come from scanned code and from files
anyone can upload, so the HTML made from them is held to three rules:

- raw HTML in the Markdown is shown as text, never interpreted;
- images are never loaded (a remote image is a tracking pixel): each shows
  as the text ``[image: alt] (address)``;
- only links within this site stay links (``/path`` and ``#anchor``); any
  other link shows as its label followed by the address in brackets, so the
  reader sees where it would have led.

What is left is passed through nh3 with a short list of tags and attributes
as a second line of defence.
"""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
}


def is_internal(href: str) -> bool:
    """Return whether ``href`` stays on this site (a path or an anchor)."""
    href = href.strip()
    if href.startswith("#"):
        return True
    return href.startswith("/") and not href.startswith("//") and "\\" not in href


def _append_text(element: ET.Element, text: str) -> None:
    if len(element):
        last = element[-1]
        last.tail = (last.tail or "") + text
    else:
        element.text = (element.text or "") + text


class _Contain(Treeprocessor):
    """Turn images and off-site links into plain text."""

    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            if element.tag == "img":
                alt = element.get("alt") or ""
                src = element.get("src") or ""
                element.tag = "span"
                element.attrib.clear()
                element.set("class", "md-image")
                label = f"[image: {alt}]" if alt else "[image]"
                element.text = f"{label} ({src})" if src else label
            elif element.tag == "a":
                href = element.get("href") or ""
                if is_internal(href):
                    continue
                element.tag = "span"
                element.attrib.clear()
                element.set("class", "md-link")
                label = "".join(element.itertext()).strip()
                if href and href != label:
                    _append_text(element, f" ({href})")


class SafeMarkdown(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        # Raw HTML is escaped and shown as text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After the inline patterns (priority 20) have made links and images.
        md.treeprocessors.register(_Contain(md), "contain", 5)
        # A backslash before any ASCII punctuation is the character itself,
        # as in CommonMark: the exports and the engine's report escape ``:``,
        # ``<``, ``&``, ``@`` and ``|`` in text from users and reports.
        md.ESCAPED_CHARS = sorted(set(md.ESCAPED_CHARS) | set(string.punctuation))


def render_markdown(text: str) -> str:
    """Return ``text`` (Markdown from a finding or a report) as safe HTML."""
    if not text:
        return ""
    html = markdown.markdown(
        text, extensions=["tables", "fenced_code", "sane_lists", SafeMarkdown()]
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
