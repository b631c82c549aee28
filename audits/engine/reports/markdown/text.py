"""Small text helpers of the Markdown reader: markup, ids, titles, fields,
word sets for matching, and the words that classify a heading's area."""

from __future__ import annotations

import re
from functools import lru_cache

from audits.engine.reports.values import (
    GOOD_EMOJI,
    has_severity_word,
    parse_location,
    severity_in_cell,
)
from audits.engine.reports.values import parse_status as _parse_status

MAX_FIELD = 4000

# A report's own finding id: ``CRIT-1``, ``HIGH-ORM-002``, ``SEC_3``,
# ``CVE-2024-1234``, ``КДР-2``. Bare numbers are list numbering, not ids.
_UPPER = "A-Z\u0410-\u042f\u0401"
ID = (
    rf"[{_UPPER}][{_UPPER}0-9]{{0,11}}(?:[-_][{_UPPER}0-9]{{1,12}}){{0,3}}"
    r"[-_]\d{1,5}[a-z]?"
)
_ID_RE = re.compile(rf"^{ID}$")
_NOT_IDS = re.compile(
    r"^(UTF|ISO|SHA|MD|RFC|PEP|IPV|HTTP|TLS|SSL|AES|RSA|X|WCAG|ES|ECMA|BASE)[-_]",
)
# ``CRIT-1: Title``, ``[Security] SEC-01: Title``, ``Finding SEC-1 - Title``.
ID_TITLE = re.compile(
    rf"^\W{{0,6}}(?:\[[^\]]{{1,40}}\]\s*)?(?:(?:finding|issue)\s+)?\[?({ID})\]?"
    r"(?:\s*(?::|\uff1a|\.|\)|\u2014|\u2013|-|\|)\s*|\s+)(.+)$",
)
# ``Issue #3: Title``, ``Finding 3 - Title``, ``Проблема №2: ...``.
NUMBERED_TITLE = re.compile(
    r"^\W{0,6}(?:issue|finding|problem|defect|bug|befund|problema|hallazgo|"
    r"constatation|probl[eè]me|проблема|замечание|问题|发现)\s*(?:#|no\.?|№|nr\.?)?"
    r"\s*(\d{1,4})\s*(?::|\uff1a|\.|\)|\u2014|\u2013|-)\s*(.+)$",
    re.IGNORECASE,
)
NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+(.+)$")
SECTION_NUMBER = re.compile(r"^\d+(?:\.\d+)*\.?\s+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"\*\*|__|~~|`|<br\s*/?>|<[^>]{1,40}>")
REF_MENTION = re.compile(rf"(?<![\w-])({ID})(?![\w-])")
# "#3", "see 3", "(Issue #2)", "siehe 1": a pointer to a numbered finding.
_XREF = re.compile(
    r"(?:(?<![\w&])#\s?|\b(?:see|siehe|voir|ver|vide|см\.?|issue|finding|item|"
    r"befund|problema)\s+#?)(\d{1,4})(?![\w.])",
    re.IGNORECASE,
)
_CHECKBOX = re.compile(r"^\s*(?:\[([ xX])\]|([\u2610\u2611\u2612]))\s*")
_STRIKE = re.compile(r"~~(.+?)~~")

_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """the a an and or of on in to for with from by at is are be no not into
        via per all any its it this that as than then when which was were has
        have use using""",
    )
)

# Field names, in the languages reports are written in, and what they hold.
_ROLE_WORDS: dict[str, str] = {
    "location": """file files location locations path where source file:line datei
        ort fundstelle archivo ubicación fichier emplacement arquivo localização
        local файл расположение место 文件 位置""",
    "severity": """priority severity sev level criticality risk level schweregrad
        priorität kritikalität severidad prioridad gravedad gravité sévérité
        priorité severidade gravidade prioridade критичность серьёзность
        серьезность важность приоритет уровень 严重程度 级别 风险等级 优先级""",
    "risk": "risk risiko riesgo risque risco риск 风险",
    "impact": "impact auswirkung impacto impacte влияние последствия 影响",
    "remediation": """fix remediation recommendation recommended fix suggested fix
        solution mitigation action lösung empfehlung maßnahme behebung solución
        recomendación corrección correctif recommandation solução correção
        recomendação решение исправление рекомендация 修复 建议 解决方案
        修复建议""",
    "status": "status state resolution estado statut état статус состояние 状态",
    "effort": """effort estimate fix estimate time time to fix aufwand esfuerzo
        esforço трудоёмкость трудоемкость оценка 工作量""",
    "description": """issue description problem details finding summary
        beschreibung descripción descrição описание проблема 描述""",
    "object": "object table column index",
}
_MULTIWORD = (
    "risk level",
    "file:line",
    "recommended fix",
    "suggested fix",
    "fix estimate",
    "time to fix",
)


def _terms(text: str) -> list[str]:
    """Return the field names a role's text lists: its phrases, then its words."""
    phrases = [phrase for phrase in _MULTIWORD if phrase in text]
    for phrase in phrases:
        text = text.replace(phrase, " ")
    return phrases + text.split()


def _field_roles() -> dict[str, str]:
    """Return each field name's role; a name two roles list keeps the first."""
    roles: dict[str, str] = {}
    for role, text in _ROLE_WORDS.items():
        for term in _terms(text):
            roles.setdefault(term, role)
    return roles


FIELD_ROLES = _field_roles()
_FIELD = re.compile(
    r"(?:\*\*|__)\s*([^\W\d_][\w /&()'-]{0,40}?)\s*"
    r"(?:[:\uff1a]\s*(?:\*\*|__)|(?:\*\*|__)\s*[:\uff1a])"
)
_PLAIN_FIELD = re.compile(
    r"^\s*(?:[-*]\s+)?([^\W\d_][\w /'-]{0,30}?)\s*[:\uff1a]\s+(.*)$"
)


# A code span (kept as it is) or a backslash escape of ASCII punctuation,
# which Markdown reads as the character itself: ``\_`` is ``_``.
_ESCAPE = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)|\\([!-/:-@\[-`{-~])")
# While markup is taken out, an escaped character stands in the private use
# area, where no markup pattern sees it.
_HIDDEN = 0xE000
_SHOWN = {_HIDDEN + c: chr(c) for c in range(33, 127)}


def _hide_escapes(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(
        lambda m: chr(_HIDDEN + ord(m.group(2))) if m.group(2) else m.group(0), text
    )


@lru_cache(maxsize=8192)
def clean(text: str) -> str:
    """Return ``text`` without Markdown markup, links reduced to labels.

    A backslash-escaped character is the character itself, never markup.
    """
    text = _LINK.sub(lambda m: m.group(1), _hide_escapes(text))
    text = _MARKUP.sub("", text).translate(_SHOWN)
    return re.sub(r"\s+", " ", text).strip()


def drop_checkbox(text: str) -> tuple[str, str]:
    """Return ``text`` without a leading checkbox, and "x", " " or ""."""
    match = _CHECKBOX.match(text)
    if not match:
        return text, ""
    mark = match.group(1) or ("x" if match.group(2) != "\u2610" else " ")
    return text[match.end() :], mark.lower()


def struck(text: str) -> bool:
    """Return whether the headline of ``text`` is struck through."""
    return bool(re.match(r"^\s*(?:\[[ xX]\]\s*)?~~", text))


def unstrike(text: str) -> str:
    """Return ``text`` with strike-through markers removed, words kept."""
    return _STRIKE.sub(lambda m: m.group(1), text).replace("~~", "")


_TAG_EMOJI = (
    "[\U0001f534\U0001f7e0\U0001f7e1\U0001f7e2\U0001f535\U0001f7e5\U0001f7e7"
    "\U0001f7e8\U0001f7e9\u26aa\u2705\u2714\u2611\u274c\U0001f6a7\u26a0\ufe0f\u203c]"
)


def strip_tags(title: str) -> str:
    """Return a title without severity, status or location tags around it."""

    def drop(match: re.Match[str]) -> str:
        inner = match.group(1)
        tagged = severity_in_cell(inner) is not None or _parse_status(inner) is not None
        short = len(re.findall(r"\w+", inner)) <= 3 or re.match(r"\s*fixed\b", inner)
        if tagged and short:
            return " "
        if parse_location(inner).file and match.end() == len(title):
            return " "
        return match.group(0)

    title = re.sub(r"\s*[\[(]([^\])]{1,60})[\])]\s*", drop, title)
    title = re.sub(_TAG_EMOJI, "", title)
    title = re.sub(r"^\s*P[0-4]\s*[:\u2014\u2013-]\s*", "", title)
    title = re.sub(
        r"\s*[\u2014\u2013-]\s*(critical|high|medium|low)(\s+priority)?\s*$",
        "",
        title,
        flags=re.IGNORECASE,
    )
    return title.strip(" :.-\u2014\u2013|\uff1a")


def is_ref(text: str) -> bool:
    """Return whether ``text`` is a report's own finding id."""
    return bool(_ID_RE.match(text)) and not _NOT_IDS.match(text)


def mentions(text: str, own: str = "") -> tuple[str, ...]:
    """Return the finding ids ``text`` mentions, other than ``own``."""
    return tuple(m for m in REF_MENTION.findall(text) if is_ref(m) and m != own)


def xrefs(text: str) -> tuple[str, ...]:
    """Return the finding numbers ``text`` points at ("#3", "see 2")."""
    return tuple(dict.fromkeys(_XREF.findall(text)))


@lru_cache(maxsize=8192)
def tokens(text: str) -> frozenset[str]:
    """Return the stemmed content words of ``text`` for title matching."""
    words: list[str] = []
    for word in re.findall(r"[^\W_]+(?:_[^\W_]+)*", clean(text).lower()):
        parts = [p for p in word.split("_") if p]
        words.extend(parts)
        if len(parts) > 1:
            words.append("_".join(parts))
    return frozenset(_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=8192)
def title_key(text: str) -> str:
    """Return ``text`` reduced to lower-case words, for exact comparison."""
    return " ".join(re.findall(r"[^\W_]+", clean(text).lower()))


_CODE_SUFFIX = re.compile(
    r"\.(py|sql|js|ts|rb|go|java|md|txt|json|ya?ml|toml|cfg|ini|html|php|cs)$"
)
_DOTTED = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)(?![\w.(])")


def object_from(text: str) -> str:
    """Return the ``table.column`` a title names, or ""."""
    for code in re.findall(r"`([^`]{1,80})`", text):
        if re.fullmatch(
            r"[A-Za-z_]\w*\.[A-Za-z_]\w*", code
        ) and not _CODE_SUFFIX.search(code):
            return str(code)
    for dotted in _DOTTED.findall(text):
        if "_" in dotted and not _CODE_SUFFIX.search(dotted):
            return str(dotted)
    return ""


def fields_in(text: str) -> list[tuple[str, str]]:
    """Return the ``**Label:** value`` fields of one line as (role, value)."""
    matches = list(_FIELD.finditer(text))
    found: list[tuple[str, str]] = []
    for k, match in enumerate(matches):
        role = FIELD_ROLES.get(match.group(1).strip().lower())
        if role is None:
            continue
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip().rstrip("|").strip()
        found.append((role, value[:MAX_FIELD]))
    if not matches:
        plain = _PLAIN_FIELD.match(text)
        if plain:
            role = FIELD_ROLES.get(plain.group(1).strip().lower())
            if role and role not in ("description", "object"):
                found.append((role, plain.group(2)[:MAX_FIELD]))
    return found


_LEAD_IN = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*[:\uff1a]?\s*(.*)$")


def split_headline(text: str) -> tuple[str, str, str]:
    """Split a list item into (lead-in label, headline, rest).

    A bold lead-in that only names a severity ("**High:** ...") is a label,
    not the title. A colon ends the headline only when a long explanation
    follows it, so "Event search: the filter is concatenated" stays whole.
    """
    label = ""
    bold = _LEAD_IN.match(text)
    if bold:
        lead = bold.group(2).strip().rstrip(":\uff1a").strip()
        rest = bold.group(3).lstrip(":\u2014\u2013- ").strip()
        if _only_severity(lead) and rest:
            label, text = lead, rest
        else:
            return "", lead, rest
    parts = re.split(r"\s+[\u2014\u2013]\s+|\s+-\s+", text, maxsplit=1)
    if len(parts) == 2:
        return label, parts[0], parts[1]
    colon = re.split(r"[:\uff1a]\s+", text, maxsplit=1)
    if len(colon) == 2 and len(colon[1].split()) > 12:
        return label, colon[0], colon[1]
    return label, text, ""


_QUALIFIERS = frozenset(("priority", "severity", "risk", "issue", "finding", "p0"))


def _only_severity(text: str) -> bool:
    """Return whether a lead-in is only a severity label ("High", "P1 - Critical")."""
    words = [w.lower() for w in re.findall(r"[^\W_]+", text)]
    rest = [
        w
        for w in words
        if not has_severity_word(w)
        and w not in _QUALIFIERS
        and not re.fullmatch(r"p[0-4]", w)
    ]
    return bool(words) and not rest and len(words) <= 3


def join(parts: list[str]) -> str:
    """Return the non-empty parts joined by lines, bounded in size."""
    text = "\n".join(p for p in parts if p).strip()
    return text[: MAX_FIELD * 2]


# --- what a heading says about the blocks under it -------------------------

# Lists under these headings act on or repeat findings stated elsewhere.
_RESTATES = re.compile(
    r"recommendations?\b|action\s*(plan|items?|list)|next\s+steps|checklist|roadmap|"
    r"priorit(y|ies)\s+(matrix|list|order)|matrix|fix\s+order|tech(nical)?\s+debt|"
    r"summary|conclusion|quick\s+wins|to-?do|remediation\s+(plan|checklist|"
    r"roadmap|table|order)|at a glance|рекомендац|итог|сводк|empfehlung|"
    r"maßnahmen|zusammenfassung|recomendac|resumen|resumo|recommandation|"
    r"r[ée]sum[ée]|synth[eè]se|建议|总结|摘要",
    re.IGNORECASE,
)
# Nothing under a heading of the first kind is a problem (tests, statistics,
# praise); a title of the second kind names a test scenario; text of the
# third kind takes its own item back.
_NOT_FINDINGS, _TEST_TITLE, _RETRACTS = (
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^(test\s+)?(scenarios?|test\s+cases?|tests?\s+run)\b|coverage|statistics|"
        r"strengths|what('s| is)\s+(already\s+)?good|positive|passed\s+checks|"
        r"well\s+done|thanks|acknowledg|out\s+of\s+scope|not\s+in\s+scope|"
        r"no\s+issues|methodology|glossary|table\s+of\s+contents|^contents$|^toc$",
        r"^(test\s+)?(scenario|test\s+case|case)\s*#?\s*\d*\s*[:.\u2014\u2013-]",
        r"already\s+(exists?|in\s+place|implemented|handled|present|covered|there)|"
        r"correct\s+as[\s-]is|no\s+(action|change)s?\s+(is\s+)?(needed|required)|"
        r"not\s+an?\s+(issue|problem)|false\s+alarm|works\s+as\s+intended|"
        r"on\s+closer\s+inspection|(?<!not\s)(?<!un)(?<!never\s)\bverified\b",
    )
)


@lru_cache(maxsize=8192)
def heading_area(text: str) -> str:
    """Return "restates", "none" or "" for what a heading's blocks hold."""
    bare = SECTION_NUMBER.sub("", text).strip()
    if _NOT_FINDINGS.search(bare):
        return "none"
    if _RESTATES.search(bare) and not re.search(
        r"\b(findings?|issues?|problems?)\b", bare, re.IGNORECASE
    ):
        return "restates"
    return ""


def is_test_title(text: str) -> bool:
    """Return whether a heading or title names a test scenario."""
    return bool(_TEST_TITLE.match(text))


def retracts(text: str) -> bool:
    """Return whether ``text`` takes its own item back ("already exists")."""
    return bool(_RETRACTS.search(text))


def is_status_heading(text: str) -> bool:
    """Return whether a heading is a green "all good" mark, not a problem."""
    return any(ch in GOOD_EMOJI for ch in text) and not has_severity_word(text)


_ACTIONS = frozenset(
    re.findall(
        r"\w+",
        """add fix use enable disable remove drop create implement wrap set move
        replace rename document write schedule review consider introduce migrate
        switch update upgrade configure index lock stream run call combine batch
        re ensure make turn keep avoid bind encrypt hash convert split limit
        paginate validate monitor test delete purge archive clean adopt refactor
        standardize standardise normalize normalise restrict apply investigate
        evaluate plan backfill tighten cache reduce increase raise lower define
        establish automate audit""",
    )
)


def is_action(title: str) -> bool:
    """Return whether ``title`` starts with a verb telling what to do."""
    first = re.match(r"\W*([A-Za-z]+)", title)
    return first is not None and first.group(1).lower() in _ACTIONS


def clear_caches() -> None:
    """Forget memoised words and headings (benchmarks time a cold parse)."""
    clean.cache_clear()
    tokens.cache_clear()
    title_key.cache_clear()
    heading_area.cache_clear()
