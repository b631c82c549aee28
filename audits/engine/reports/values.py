"""Read the small values reports write by hand: severities, statuses, efforts,
locations, and the Plumbline check an item describes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from audits.engine.issues import Dimension, Effort, Severity

from .types import ItemStatus

# --- severities -----------------------------------------------------------

_WORD_SEVERITY: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "blocker": Severity.CRITICAL,
    "urgent": Severity.CRITICAL,
    "severe": Severity.CRITICAL,
    "high": Severity.HIGH,
    "highest": Severity.HIGH,
    "major": Severity.HIGH,
    "important": Severity.HIGH,
    "required": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "med": Severity.MEDIUM,
    "recommended": Severity.MEDIUM,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "optional": Severity.LOW,
    "trivial": Severity.LOW,
    "nice to have": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
}
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
_WORDS = "|".join(
    sorted((w.replace(" ", r"[\s_-]+") for w in _WORD_SEVERITY), key=len, reverse=True)
)
_ANY_WORD = re.compile(rf"(?<![\w-])({_WORDS})(?![\w])", re.IGNORECASE)
_P_LEVEL = re.compile(r"(?<![\w.])P([0-4])(?![\w.])")
_PRIORITY_NUMBER = re.compile(r"\bpriority\s*[:#=]?\s*([0-4])\b", re.IGNORECASE)
_BRACKETED = re.compile(
    rf"[\[(]\s*(?:priority\s*[:=]?\s*)?({_WORDS})(?:\s+(?:priority|severity|risk))?"
    r"\s*[\])]",
    re.IGNORECASE,
)
_LABELLED = re.compile(
    rf"\b(?:priority|severity|sev|risk|level)\s*[:=]?\s*[*_]*\s*({_WORDS})\b",
    re.IGNORECASE,
)
_LEADING = re.compile(
    rf"^[\W\d_]*?({_WORDS})(?:\s+(?:priority|severity|risk))?\s*(?:[:)\]\u2014\u2013-]|$)",
    re.IGNORECASE,
)
_LEADING_HEADING = re.compile(rf"^[\W\d_]*?({_WORDS})\b", re.IGNORECASE)
_TRAILING = re.compile(
    rf"[\u2014\u2013-]\s*({_WORDS})(?:\s+priority)?\W*$", re.IGNORECASE
)


def _word(text: str) -> Severity:
    return _WORD_SEVERITY[re.sub(r"[\s_-]+", " ", text.lower())]


def _emoji(text: str) -> Severity | None:
    for ch in text:
        if ch in _EMOJI_SEVERITY:
            return _EMOJI_SEVERITY[ch]
    return None


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
        candidates.append((match.start(), _word(match.group(1))))
    if not candidates:
        stripped = text.strip(" *_`")
        if stripped in _P_SCALE:
            return _P_SCALE[stripped]
        return None
    return min(candidates, key=lambda c: c[0])[1]


def severity_tag(text: str, *, heading: bool = False) -> Severity | None:
    """Return the severity ``text`` declares as a tag, never from prose.

    Tags are an emoji, a P0-P4 level, ``[High]``/``(critical)``,
    ``Priority: low``, a leading ``Critical:`` or a trailing ``- optional``.
    A heading may also simply start with the word ("Critical Findings").
    """
    found = _emoji(text)
    if found:
        return found
    match = _P_LEVEL.search(text) or _PRIORITY_NUMBER.search(text)
    if match:
        return _P_SCALE[match.group(1)]
    for pattern in (_BRACKETED, _LABELLED, _LEADING, _TRAILING):
        match = pattern.search(text)
        if match:
            return _word(match.group(1))
    if heading:
        match = _LEADING_HEADING.search(text)
        if match:
            return _word(match.group(1))
    return None


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
            r"in[\s_-]*progress|\bwip\b|ongoing|underway|partial(ly)?\b|\U0001f6a7",
            re.IGNORECASE,
        ),
    ),
    (
        "fixed",
        re.compile(
            r"\b(fixed|resolved|done|closed|mitigated|addressed|implemented|"
            r"complete[d]?)\b|\u2705|\u2714|\u2611|\[x\]",
            re.IGNORECASE,
        ),
    ),
    (
        "documented",
        re.compile(
            r"\b(documented|accepted|acknowledged|known|deferred|won'?t[\s_-]*fix|"
            r"wontfix|by design|risk accepted)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "open",
        re.compile(
            r"\b(open|todo|to do|pending|new|not started|unresolved|outstanding)\b|"
            r"\u274c|\u2b1c|\[ \]",
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


# --- checks ---------------------------------------------------------------

_CHECK_RULES: tuple[tuple[str, Dimension, str], ...] = (
    (
        "fk-conflicting-declarations",
        Dimension.SCHEMA,
        r"conflicting.*\b(fk|foreign key)",
    ),
    (
        "fk-conflicting-declarations",
        Dimension.SCHEMA,
        r"\b(fk|foreign key)s?\b.*conflict",
    ),
    ("sqlite-busy-timeout-missing", Dimension.OPERATIONS, r"busy[_\s-]?timeout"),
    (
        "cleanup-never-called",
        Dimension.OPERATIONS,
        r"(clean[\s-]?up|purge|prune|expir\w*)\b.*\bnever\s+(called|invoked|run|scheduled)",
    ),
    (
        "index-missing-soft-delete",
        Dimension.PERFORMANCE,
        r"(deleted_at|soft[\s-]?delete)\b.*\bindex",
    ),
    (
        "index-missing-soft-delete",
        Dimension.PERFORMANCE,
        r"\bindex\b.*\b(deleted_at|soft[\s-]?delete)",
    ),
    (
        "fk-missing-index",
        Dimension.PERFORMANCE,
        r"\b(fk|foreign[\s-]key)s?\b.*\b(without|no|missing|lacks?)\b.*\bindex",
    ),
    (
        "fk-missing-index",
        Dimension.PERFORMANCE,
        r"\b(missing|no)\b.*\bindex(es)?\b.*\b(fk|foreign[\s-]key)",
    ),
    (
        "txn-lost-update",
        Dimension.INTEGRITY,
        r"\brace\b|lost[\s-]update|toctou|check.{0,30}\bnot atomic",
    ),
    (
        "txn-not-atomic",
        Dimension.INTEGRITY,
        r"not (transactional|atomic)|non[\s-]?atomic|partial (data|write)s?",
    ),
    ("query-n-plus-one", Dimension.PERFORMANCE, r"\bn\s*\+\s*1\b"),
    (
        "query-aggregation-in-app",
        Dimension.PERFORMANCE,
        r"aggregat\w*\b.*\b(in (python|the app\w*|code)|not (in )?sql)",
    ),
    ("check-incomplete-enum", Dimension.SCHEMA, r"\bcheck\b.*\bmissing\s+['\"`]"),
    (
        "check-missing-enum",
        Dimension.SCHEMA,
        r"missing check|no check constraint|without (a )?check",
    ),
    (
        "fk-no-on-delete",
        Dimension.SCHEMA,
        r"\bno on delete\b|without on delete|missing on delete",
    ),
    (
        "fk-missing",
        Dimension.SCHEMA,
        r"\b(has no|no|missing|without( an?)?)\s+(fk|foreign[\s-]key)\b",
    ),
    ("backup-missing", Dimension.OPERATIONS, r"\b(no|missing|without)\b.*\bbackups?\b"),
    ("index-duplicate", Dimension.PERFORMANCE, r"duplicate ind(ex|ices|exes)"),
    ("index-redundant", Dimension.PERFORMANCE, r"redundant ind(ex|ices|exes)"),
    (
        "migrations-unversioned",
        Dimension.OPERATIONS,
        r"migration\w*\s+versioning|unversioned migration|no migration (tool|version)",
    ),
    (
        "naming-inconsistent-timestamp",
        Dimension.SCHEMA,
        r"(created|updated|timestamp)\w*\b.*naming|naming\b.*(created|timestamp)",
    ),
    (
        "default-divergence",
        Dimension.SCHEMA,
        r"default\w*\s+(divergen|differ|mismatch)",
    ),
    (
        "connection-leak-prone",
        Dimension.OPERATIONS,
        r"caller\w* to close|connection leak|must close",
    ),
    (
        "empty-credential-stored",
        Dimension.SECURITY,
        r"empty (string|value)\b.*\b(password|secret|credential)|empty (password|credential)",
    ),
    (
        "unique-missing-natural-key",
        Dimension.SCHEMA,
        r"missing unique|no unique|without unique",
    ),
    (
        "sqlite-synchronous-normal",
        Dimension.INTEGRITY,
        r"synchronous\s*=?\s*(full|normal)",
    ),
    (
        "connection-per-operation",
        Dimension.PERFORMANCE,
        r"per[\s-]connection|connection per (write|statement|operation|query)|new connection (for|per) (each|every)",
    ),
    (
        "tenant-scope-missing",
        Dimension.ISOLATION,
        r"skip\w* (user|tenant|team)_id|without (user|tenant|team)_id|tenant scop",
    ),
    (
        "orm-boolean-comparison",
        Dimension.PERFORMANCE,
        r"boolean comparison|==\s*(true|false|none)",
    ),
    (
        "orm-column-type-unset",
        Dimension.SCHEMA,
        r"type_\s*=\s*none|column type (unset|missing)",
    ),
    (
        "commit-without-rollback",
        Dimension.INTEGRITY,
        r"missing error handling|without rollback|no rollback|commit\w* without (try|error)",
    ),
    (
        "commit-ownership-unclear",
        Dimension.INTEGRITY,
        r"double commit|commit ownership|auto[\s-]?commit",
    ),
    (
        "sqlite-foreign-keys-off",
        Dimension.INTEGRITY,
        r"foreign_keys\s*(=\s*)?(on|off)?\b.*\b(not|never|missing|off)|foreign keys? (are )?(not enforced|off|disabled)",
    ),
    (
        "tenant-scope-missing",
        Dimension.ISOLATION,
        r"(skip|miss|lack|without)\w*\b.*\b(tenant|site|team|org|workspace|account)"
        r"\b.*\b(filter|scope|check)",
    ),
    (
        "pool-health-check-missing",
        Dimension.OPERATIONS,
        r"pre[\s-]?ping|pool\b.*\b(health[\s-]?check|recycle)",
    ),
    (
        "sql-injection",
        Dimension.SECURITY,
        r"(query|sql)\b.*\b(string (formatting|concatenation)|f-strings?|concatenat)",
    ),
    (
        "sql-dynamic-identifier",
        Dimension.SECURITY,
        r"dynamic (order by|column|table|identifier|sort)",
    ),
    (
        "timestamp-without-time-zone",
        Dimension.SCHEMA,
        r"timestamps?\b.*\bwithout time[\s-]?zone",
    ),
    (
        "naming-inconsistent-timestamp",
        Dimension.SCHEMA,
        r"\b(created|updated|modified)\b.*\b(created|updated)_at\b",
    ),
    (
        "sqlite-foreign-keys-off",
        Dimension.INTEGRITY,
        r"(turn on|enable|enforce)\b.*foreign[\s_-]?keys?",
    ),
    (
        "sqlite-wal-disabled",
        Dimension.OPERATIONS,
        r"\bwal\b.*\b(disabled|not enabled|off|missing)|(enable|turn on)\b.*\bwal\b",
    ),
    ("sql-injection", Dimension.SECURITY, r"sql[\s-]injection"),
    (
        "secret-stored-plaintext",
        Dimension.SECURITY,
        r"(plain[\s-]?text|unhashed|unencrypted)\b.*\b(password|secret|token|key)|(password|secret|token|api key)s?\b.*\b(plain[\s-]?text|unhashed|unencrypted)",
    ),
    (
        "table-unbounded-growth",
        Dimension.OPERATIONS,
        r"unbounded (table )?growth|no (cleanup|retention)|grows? without|unbounded tables?|"
        r"retention (window|period|policy)",
    ),
    (
        "query-unbounded",
        Dimension.PERFORMANCE,
        r"no limit|without (a )?limit|unbounded quer|missing pagination|no pagination",
    ),
    (
        "maintenance-missing",
        Dimension.OPERATIONS,
        r"\b(no|never|missing)\b.*\b(vacuum|analyze)\b",
    ),
    (
        "updated-at-not-maintained",
        Dimension.SCHEMA,
        r"updated_at\b.*\b(never|not) (updated|maintained|set)",
    ),
    (
        "table-no-primary-key",
        Dimension.SCHEMA,
        r"(no|missing|without( a)?) primary key",
    ),
    (
        "line-endings-mixed",
        Dimension.OPERATIONS,
        r"(mixed|inconsistent) (crlf|line endings)",
    ),
)
_COMPILED_RULES = tuple(
    (check, dimension, re.compile(pattern, re.IGNORECASE))
    for check, dimension, pattern in _CHECK_RULES
)


def match_check(*texts: str) -> tuple[str, Dimension | None]:
    """Return the Plumbline check id and dimension the texts describe.

    Texts are tried in order (the title first), so a title decides before
    a longer description can; return ("", None) when nothing matches.
    """
    for text in texts:
        if not text:
            continue
        flat = text.replace("`", "").replace("*", "")
        for check, dimension, pattern in _COMPILED_RULES:
            if pattern.search(flat):
                return check, dimension
    return "", None
