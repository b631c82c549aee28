"""Read the small values reports write by hand: severities, statuses, efforts,
locations, and the Plumbline check an item describes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from audits.engine.issues import Effort, Severity

from .types import ItemStatus

# --- severities -----------------------------------------------------------

# Severity words as reports write them, as regular-expression fragments (stems
# for the inflected languages). Words that rank work rather than problems
# ("recommended", "optional", "important") are deliberately absent.
_SEVERITY_TERMS: tuple[tuple[str, Severity], ...] = (
    # English
    (r"critical|crit|blocker|urgent|severe", Severity.CRITICAL),
    (r"high|highest|major", Severity.HIGH),
    (r"medium|moderate|med", Severity.MEDIUM),
    (r"low|minor|trivial|nice[\s_-]+to[\s_-]+have", Severity.LOW),
    (r"info|informational", Severity.INFO),
    # Russian
    (r"критическ\w*|критичн\w*|блокирующ\w*", Severity.CRITICAL),
    (r"высок\w*|серь[её]зн\w*", Severity.HIGH),
    (r"средн\w*|умеренн\w*", Severity.MEDIUM),
    (r"низк\w*|незначительн\w*", Severity.LOW),
    (r"информационн\w*", Severity.INFO),
    # German
    (r"kritisch\w*", Severity.CRITICAL),
    (r"hoch|hohe[rsn]?|schwerwiegend\w*", Severity.HIGH),
    (r"mittel|mittlere[rsn]?", Severity.MEDIUM),
    (r"niedrig\w*|gering\w*", Severity.LOW),
    (r"hinweis", Severity.INFO),
    # Spanish and Portuguese
    (r"cr[ií]tic[oa]s?", Severity.CRITICAL),
    (r"alt[oa]s?|grave", Severity.HIGH),
    (r"m[eé]di[oa]s?", Severity.MEDIUM),
    (r"baj[oa]s?|baix[oa]s?", Severity.LOW),
    (r"informativ[oa]", Severity.INFO),
    # French
    (r"critiques?", Severity.CRITICAL),
    (r"[ée]lev[ée]e?s?|hautes?", Severity.HIGH),
    (r"moyen(?:ne)?s?", Severity.MEDIUM),
    (r"faibles?|basses?", Severity.LOW),
    # Chinese: written without spaces, so these also stand alone in a cell.
    (r"严重(?!程度|性)|致命|紧急", Severity.CRITICAL),
    (r"高危|高风险|高", Severity.HIGH),
    (r"中危|中风险|中等|中", Severity.MEDIUM),
    (r"低危|低风险|低", Severity.LOW),
    (r"提示|信息", Severity.INFO),
)
_TERM_PATTERNS = tuple(
    (re.compile(term, re.IGNORECASE), severity) for term, severity in _SEVERITY_TERMS
)
_P_SCALE = {
    "0": Severity.CRITICAL,
    "1": Severity.HIGH,
    "2": Severity.MEDIUM,
    "3": Severity.LOW,
    "4": Severity.INFO,
}
_EMOJI_SEVERITY = {
    "\U0001f534": Severity.CRITICAL,  # red circle
    "\U0001f7e5": Severity.CRITICAL,  # red square
    "\u203c": Severity.CRITICAL,
    "\U0001f7e0": Severity.HIGH,  # orange circle
    "\U0001f7e7": Severity.HIGH,
    "\U0001f7e1": Severity.MEDIUM,  # yellow circle
    "\U0001f7e8": Severity.MEDIUM,
    "\U0001f7e2": Severity.LOW,  # green circle
    "\U0001f7e9": Severity.LOW,
    "\U0001f535": Severity.INFO,  # blue circle
    "\u26aa": Severity.INFO,
}
# Emoji that mean "all good" when no severity word stands beside them.
GOOD_EMOJI = "\U0001f7e2\U0001f7e9\u2705\u2714\u2611"
WORDS = "|".join(term for term, _ in _SEVERITY_TERMS)
_ANY_WORD = re.compile(rf"(?<![\w-])({WORDS})(?![\w])", re.IGNORECASE)
_P_LEVEL = re.compile(r"(?<![\w.])P([0-4])(?![\w.])")
_PRIORITY_NUMBER = re.compile(r"\bpriority\s*[:#=]?\s*([0-4])\b", re.IGNORECASE)
_QUALIFIER = r"(?:\s+(?:priority|severity|risk))?"
# Tags, tried in this order: "[High]" or "(critical)", "Severity: low",
# a leading "Critical:" and a trailing "- low".
_TAG_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"[\[(]\s*(?:priority\s*[:=]?\s*)?({WORDS}){_QUALIFIER}\s*[\])]",
        rf"\b(?:priority|severity|sev|risk|level)\s*[:=]?\s*[*_]*\s*({WORDS})(?![\w])",
        rf"^[\W\d_]*?({WORDS}){_QUALIFIER}\s*(?:[:)\]\u2014\u2013-]|$)",
        rf"[\u2014\u2013-]\s*({WORDS})(?:\s+priority)?\W*$",
    )
)
_LEADING_HEADING = re.compile(rf"^[\W\d_]*?({WORDS})(?![\w])", re.IGNORECASE)
_NON_PROBLEM = re.compile(
    r"^\W*(pass(ed)?|ok(ay)?|excellent|good|fine|healthy|clean|compliant|n/?a|"
    r"none(\s+(found|detected|identified))?|no\s+(issues?|problems?|findings?)"
    r"(\s+(found|detected))?|not\s+applicable)(?![\w])",
    re.IGNORECASE,
)


def word_severity(text: str) -> Severity:
    """Return the severity of one severity word as the patterns above match it."""
    for pattern, severity in _TERM_PATTERNS:
        if pattern.fullmatch(text):
            return severity
    return Severity.MEDIUM


def _emoji(text: str) -> Severity | None:
    for ch in text:
        if ch in _EMOJI_SEVERITY:
            return _EMOJI_SEVERITY[ch]
    return None


def is_non_problem(text: str) -> bool:
    """Return whether a severity or status value says there is no problem."""
    return bool(_NON_PROBLEM.match(text.replace("*", "").replace("`", "")))


def severity_in_cell(text: str) -> Severity | None:
    """Return the severity a severity or priority cell states, if any.

    The cell is dedicated to severity, so the earliest severity word, P0-P4
    level or coloured-circle emoji anywhere in it counts.
    """
    found = _emoji(text)
    if found:
        return found
    candidates: list[tuple[int, Severity]] = []
    for pattern in (_P_LEVEL, _PRIORITY_NUMBER):
        match = pattern.search(text)
        if match:
            candidates.append((match.start(), _P_SCALE[match.group(1)]))
    match = _ANY_WORD.search(text)
    if match:
        candidates.append((match.start(), word_severity(match.group(1))))
    if not candidates:
        stripped = text.strip(" *_`")
        if stripped in _P_SCALE:
            return _P_SCALE[stripped]
        return None
    return min(candidates, key=lambda c: c[0])[1]


def severity_tag(text: str, *, heading: bool = False) -> Severity | None:
    """Return the severity ``text`` declares as a tag, never from prose.

    Tags are an emoji, a P0-P4 level, ``[High]``/``(critical)``,
    ``Priority: low``, a leading ``Critical:`` or a trailing ``- low``.
    A heading may also simply start with the word ("Critical Findings").
    """
    found = _emoji(text)
    if found:
        return found
    match = _P_LEVEL.search(text) or _PRIORITY_NUMBER.search(text)
    if match:
        return _P_SCALE[match.group(1)]
    for pattern in _TAG_PATTERNS:
        match = pattern.search(text)
        if match:
            return word_severity(match.group(1))
    if heading:
        match = _LEADING_HEADING.search(text)
        if match:
            return word_severity(match.group(1))
    return None


def has_severity_word(text: str) -> bool:
    """Return whether ``text`` contains a severity word anywhere."""
    return bool(_ANY_WORD.search(text))


_REF_PREFIX_SEVERITY = {
    "CRIT": Severity.CRITICAL,
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "HI": Severity.HIGH,
    "MED": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "MOD": Severity.MEDIUM,
    "LOW": Severity.LOW,
    "LO": Severity.LOW,
    "INFO": Severity.INFO,
    "P0": Severity.CRITICAL,
    "P1": Severity.HIGH,
    "P2": Severity.MEDIUM,
    "P3": Severity.LOW,
    "P4": Severity.INFO,
}


def severity_from_ref(ref: str) -> Severity | None:
    """Return the severity an id such as ``CRIT-2`` or ``MED-TX-1`` encodes."""
    prefix = re.split(r"[-_]", ref, maxsplit=1)[0].upper()
    return _REF_PREFIX_SEVERITY.get(prefix)


# --- statuses -------------------------------------------------------------

_STATUS_PATTERNS: tuple[tuple[ItemStatus, re.Pattern[str]], ...] = (
    (
        "false_positive",
        re.compile(r"false[\s_-]*positive|not an issue|invalid\b", re.IGNORECASE),
    ),
    (
        "in_progress",
        re.compile(
            r"in[\s_-]*progress|\bwip\b|ongoing|underway|partial(ly)?\b|\U0001f6a7|"
            r"в работе|in arbeit|en (curso|cours)|em andamento|进行中|处理中",
            re.IGNORECASE,
        ),
    ),
    (
        "fixed",
        re.compile(
            r"\b(fixed|resolved|done|closed|mitigated|addressed|implemented|"
            r"complete[d]?|исправлен\w*|устранен\w*|behoben|erledigt|"
            r"corregid[oa]|resuelt[oa]|corrig[ée]e?|r[ée]solue?|corrigid[oa]|"
            r"resolvid[oa])(?![\w])|\u2705|\u2714|\u2611|\[x\]|已修复|已解决|已完成",
            re.IGNORECASE,
        ),
    ),
    (
        "documented",
        re.compile(
            r"\b(documented|accepted|acknowledged|known|deferred|won'?t[\s_-]*fix|"
            r"wontfix|by design|risk accepted|принят\w*|akzeptiert|aceptad[oa]|"
            r"accept[ée]e?|aceit[oa])(?![\w])|已接受",
            re.IGNORECASE,
        ),
    ),
    (
        "open",
        re.compile(
            r"\b(open|todo|to do|pending|new|not started|unresolved|outstanding|"
            r"не исправлен\w*|открыт\w*|offen|abiert[oa]|pendiente|ouvert|"
            r"abert[oa]|pendente)(?![\w])|\u274c|\u2b1c|\[ \]|未修复|待修复|未解决|待处理",
            re.IGNORECASE,
        ),
    ),
)

STATUS_RANK: dict[ItemStatus, int] = {
    "open": 0,
    "in_progress": 1,
    "documented": 2,
    "false_positive": 3,
    "fixed": 4,
}


def parse_status(text: str) -> ItemStatus | None:
    """Return the status ``text`` states, or None when it states none."""
    best: tuple[int, ItemStatus] | None = None
    for status, pattern in _STATUS_PATTERNS:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), status)
    return best[1] if best else None


# --- efforts --------------------------------------------------------------

_EFFORT = re.compile(
    r"(\d+(?:[.,]\d+)?|\u00bd|an?|one|half(?:\s+an?)?)"
    r"(?:\s*(?:-|\u2013|\u2014|to)\s*(\d+(?:[.,]\d+)?))?\s*"
    r"(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|sprints?)(?![a-z])",
    re.IGNORECASE,
)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 8 * 60, "w": 5 * 8 * 60, "s": 10 * 8 * 60}
_WORKING_DAY = 8 * 60


def _amount(token: str) -> float:
    token = token.lower().replace(",", ".")
    if token in ("\u00bd",) or token.startswith("half"):
        return 0.5
    if token in ("a", "an", "one"):
        return 1.0
    return float(token)


def parse_effort(text: str) -> tuple[int | None, Effort | None]:
    """Return the minutes an effort string means (upper bound) and its bucket.

    "5 min", "1-2h", "2-3 hours", "1 day", "30m" and "half a day" are
    understood; a working day is eight hours. Return (None, None) otherwise.
    """
    match = _EFFORT.search(text)
    if not match:
        return None, None
    amount = _amount(match.group(2) or match.group(1))
    unit = match.group(3).lower()
    minutes = round(amount * _UNIT_MINUTES[unit[0]])
    return minutes, effort_bucket(minutes)


def effort_bucket(minutes: int) -> Effort:
    """Return the effort bucket for ``minutes`` of work."""
    if minutes < 60:
        return Effort.MINUTES
    if minutes < _WORKING_DAY:
        return Effort.HOURS
    return Effort.DAYS


# --- locations ------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_GITHUB_BLOB = re.compile(r"^https?://[^/]+/[^/]+/[^/]+/(?:blob|tree)/[^/]+/")
_FILE = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,7})"
    r"(?:(?::|#L|,?\s+lines?\s+)(\d+))?(?![\w/])"
)
_FOLDER = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+)(?=\s|$|[,;)])")
_LINE_AFTER = re.compile(r"\blines?\s+(\d+)", re.IGNORECASE)
_NO_LOCATION = re.compile(
    r"^\W*(n/?a|none|various|multiple|all\b.*|several.*|many.*|-+|\u2014|tbd|"
    r"unknown)\W*$",
    re.IGNORECASE,
)
# Dotted names that look like files but are domain words or numbers.
_NOT_EXTENSIONS = frozenset({"e.g", "i.e", "etc", "vs", "no", "approx"})


@dataclass(frozen=True)
class Location:
    """A file and the first line a report points at."""

    file: str = ""
    line: int | None = None

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Return a sort key: a line beats none, a deeper path a shallower."""
        return (
            1 if self.file else 0,
            1 if self.line is not None else 0,
            self.file.count("/"),
        )


def clean_path(path: str) -> str:
    """Return ``path`` without URL scheme, host, anchors or leading ``./``."""
    path = unquote(path.strip().strip("`'\""))
    path = _GITHUB_BLOB.sub("", path)
    if path.startswith("file://"):
        path = path[len("file://") :]
        if path.startswith("localhost/"):
            path = path[len("localhost") :]
    path = path.split("#", 1)[0].split("?", 1)[0]
    while path.startswith("./"):
        path = path[2:]
    return path


def parse_location(text: str) -> Location:
    """Return the first file and line a location cell or line names.

    Understands ``db.py:295-306``, ``path/x.py#L12-L34``, Markdown links
    ``[label](path#L12-L34)`` and "x.py, lines 4-9"; "Various" or "N/A"
    give an empty location.
    """
    text = text.strip()
    if not text or _NO_LOCATION.match(text.replace("`", "").replace("*", "")):
        return Location()
    for match in _LINK.finditer(text):
        label, target = match.group(1), match.group(2)
        if target.startswith(("#", "mailto:")):
            continue
        line = None
        anchor = re.search(r"#L(\d+)", target)
        if anchor:
            line = int(anchor.group(1))
        path = clean_path(target)
        if line is None:
            inner = _file_in(label)
            line = inner.line
        if path and not path.startswith(("http://", "https://")):
            return Location(path, line)
        inner = _file_in(label)
        if inner.file:
            return inner
    plain = _LINK.sub(lambda m: m.group(1), text)
    found = _file_in(plain)
    if found.file:
        return found
    folder = _FOLDER.search(plain.replace("`", " "))
    if folder:
        return Location(clean_path(folder.group(1)), None)
    return Location()


def _file_in(text: str) -> Location:
    for match in _FILE.finditer(text.replace("`", " ")):
        path = match.group(1)
        if path.lower() in _NOT_EXTENSIONS or re.fullmatch(r"[\d.]+", path):
            continue
        if re.search(r"\.\d", path) and "/" not in path:
            continue
        line: int | None = int(match.group(2)) if match.group(2) else None
        if line is None:
            after = _LINE_AFTER.search(text, match.end())
            if after and after.start() - match.end() < 12:
                line = int(after.group(1))
        return Location(clean_path(path), line)
    return Location()
