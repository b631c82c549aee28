"""Decide which places in a report are its findings and which only refer to
them, and merge every reference into the finding it names.

A report states each finding once in full (a detailed section, a row of the
table that defines the findings) and then refers back to it in
recommendations, checklists, priority matrices and summaries. The full
statements are the findings; references join the finding they name by id,
by a cross-reference such as "#3", or by sharing most of its words. A
reference that matches nothing becomes a finding only when it describes a
problem with a severity of its own, never when it is an action to take.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from audits.engine.reports.types import ExplainAction, Explanation

from .candidate import Candidate
from .text import is_action, title_key, tokens

_MERGE_THRESHOLD = 0.5


@dataclass
class Group:
    """One finding: its full statements first, then what refers to it."""

    primary: list[Candidate]
    references: list[Candidate] = field(default_factory=list)
    key: int = -1

    @property
    def members(self) -> list[Candidate]:
        return [*self.primary, *self.references]

    @property
    def name(self) -> str:
        first = self.primary[0]
        return first.ref or (f"#{first.number}" if first.number else first.title)


class _Index:
    """Look groups up by id, number and words."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.by_ref: dict[str, Group] = {}
        self.by_number: dict[str, list[Group]] = {}
        self.words: list[frozenset[str]] = []
        self.postings: dict[str, list[int]] = {}

    def add(self, group: Group) -> None:
        group.key = len(self.groups)
        self.groups.append(group)
        self.words.append(frozenset())
        self.note(group, group.primary[0])

    def note(self, group: Group, cand: Candidate) -> None:
        if cand.strong:
            self.by_ref.setdefault(cand.ref.upper(), group)
        if cand.number and cand in group.primary:
            self.by_number.setdefault(cand.number, []).append(group)
        k = group.key
        new = tokens(cand.title) - self.words[k]
        self.words[k] = self.words[k] | new
        for word in new:
            self.postings.setdefault(word, []).append(k)

    def near(self, own: frozenset[str]) -> list[Group]:
        """Return the groups that share a word with ``own``, in order."""
        return [self.groups[k] for k in sorted(self.shared(own))]

    def shared(self, own: frozenset[str]) -> dict[int, int]:
        """Return how many words of ``own`` each group shares, for the groups
        that share one of its rarer words (all words, in a short report)."""
        limit = max(64, len(self.groups) // 8)
        postings = [self.postings.get(word, []) for word in own]
        rare = [p for p in postings if len(p) <= limit]
        keys = {k for p in (rare or postings) for k in p}
        if len(keys) > 4 * limit:
            counted = Counter(k for p in rare for k in p).most_common(limit)
            keys = {k for k, _ in counted}
        return {k: len(own & self.words[k]) for k in keys}

    def only_one_with(self, words: frozenset[str]) -> Group | None:
        """Return the one group whose words include all of ``words``."""
        if len(words) < 2:
            return None
        keys = set.intersection(*(set(self.postings.get(w, ())) for w in words))
        return self.groups[keys.pop()] if len(keys) == 1 else None

    def best(self, own: frozenset[str]) -> Group | None:
        """Return the group whose words ``own`` repeats most, when clear."""
        scored = sorted(
            (
                (count / len(self.words[k]), count, k)
                for k, count in self.shared(own).items()
                if count >= 2 and count / len(self.words[k]) >= _MERGE_THRESHOLD
            ),
            reverse=True,
        )
        if not scored:
            return None
        if len(scored) > 1 and scored[0][0] - scored[1][0] < 0.15:
            return None
        return self.groups[scored[0][2]]


class Resolver:
    """Sort candidates into findings, merged references and skipped items."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        self.index = _Index()
        self.explanations: list[Explanation] = []
        self.by_id = False
        self.home: dict[int, Group] = {}
        self.siblings: dict[tuple[int, str], list[Candidate]] = {}
        # Set when the report is only summaries and lists, so its actions
        # are its findings.
        self.only_lists = False

    def explain(
        self,
        cand: Candidate,
        action: ExplainAction,
        reason: str,
        group: Group | None,
    ) -> None:
        self.explanations.append(
            Explanation(
                action,
                cand.line,
                max(cand.end, cand.line),
                cand.label()[:200],
                reason,
                group.name if group else "",
            )
        )

    def run(self) -> list[Group]:
        live: list[Candidate] = []
        for cand in self.candidates:
            if cand.skip:
                self.explain(cand, "skipped", f"it is not a problem: {cand.skip}", None)
            else:
                live.append(cand)
        primary = self.primaries(live)
        chosen = {id(c) for c in primary}
        for cand in primary:
            self.place_primary(cand)
        unmatched: list[Candidate] = []
        for cand in live:
            if id(cand) in chosen:
                continue
            group, reason = self.target(cand)
            if group is None:
                unmatched.append(cand)
            else:
                self.join(cand, group, reason)
        for cand in unmatched:
            self.place_unmatched(cand, live)
        self.explanations.sort(key=lambda e: (e.line, e.end))
        return self.index.groups

    def primaries(self, live: list[Candidate]) -> list[Candidate]:
        catalogue = [c for c in live if c.strong and c.area != "restates"]
        if not catalogue and not any(c.area != "restates" for c in live):
            catalogue = [c for c in live if c.strong]
        if catalogue:
            self.by_id = True
            return catalogue
        outside = [c for c in live if c.area != "restates"]
        if outside:
            return outside
        self.only_lists = True
        return _fallback(live)

    def place_primary(self, cand: Candidate) -> None:
        group, reason = self.same_as(cand)
        if group is None:
            group = Group([cand])
            self.index.add(group)
            self.explain(cand, "kept", _kept_reason(cand), group)
            return
        group.primary.append(cand)
        self.index.note(group, cand)
        self.explain(cand, "merged", reason, group)

    def same_as(self, cand: Candidate) -> tuple[Group | None, str]:
        if self.by_id:
            group = self.index.by_ref.get(cand.ref.upper())
            return group, f"it has the same id {cand.ref}"
        key = title_key(cand.title)
        own = tokens(cand.title)
        for group in self.index.near(own):
            if any(_apart(cand, other) for other in group.primary):
                continue
            for other in group.primary:
                theirs = tokens(other.title)
                shared = len(own & theirs)
                ratio = shared / max(1, min(len(own), len(theirs)))
                if title_key(other.title) == key or (shared >= 3 and ratio >= 0.8):
                    return group, "it states the same finding in other words"
        return None, ""

    def join(self, cand: Candidate, group: Group, reason: str) -> None:
        group.references.append(cand)
        self.home[id(cand)] = group
        self.index.note(group, cand)
        self.explain(cand, "merged", reason, group)

    def place_unmatched(self, cand: Candidate, live: list[Candidate]) -> None:
        group = self.aligned(cand, live)
        if group is not None:
            self.join(
                cand,
                group,
                "it stands where that finding stands, in a list in the same order",
            )
            return
        if (
            not self.by_id
            and cand.explicit
            and (self.only_lists or not is_action(cand.title))
        ):
            group = Group([cand])
            self.index.add(group)
            self.explain(
                cand,
                "kept",
                "it restates no finding and describes a problem with its own severity",
                group,
            )
            return
        why = (
            "it is an action, not a problem"
            if is_action(cand.title)
            else "it states no severity of its own"
        )
        if self.by_id:
            why = "the report names its findings by id and this is not one of them"
        self.explain(cand, "skipped", f"it refers to no finding found: {why}", None)

    def aligned(self, cand: Candidate, live: list[Candidate]) -> Group | None:
        """Return the finding at ``cand``'s place in a list that follows the
        findings' order, when its other items all do."""
        if cand.block < 0:
            return None
        if not self.siblings:
            for other in live:
                self.siblings.setdefault((other.block, other.source), []).append(other)
        siblings = self.siblings[(cand.block, cand.source)]
        offsets = {
            self.home[id(c)].key - k
            for k, c in enumerate(siblings)
            if id(c) in self.home
        }
        place = siblings.index(cand)
        before = any(id(c) in self.home for c in siblings[:place])
        after = any(id(c) in self.home for c in siblings[place + 1 :])
        # Only a gap between two matched items: a list may stop early.
        if len(offsets) != 1 or not (before and after):
            return None
        key = place + offsets.pop()
        if not 0 <= key < len(self.index.groups):
            return None
        group = self.index.groups[key]
        if any(c.block == cand.block for c in group.references):
            return None
        return group

    def target(self, cand: Candidate) -> tuple[Group | None, str]:
        if cand.strong and cand.ref.upper() in self.index.by_ref:
            return self.index.by_ref[cand.ref.upper()], f"it has the same id {cand.ref}"
        named = {m.upper() for m in cand.mentions if m.upper() in self.index.by_ref}
        if len(named) == 1:
            ref = named.pop()
            return self.index.by_ref[ref], f"it names {ref}"
        pointed = [self.index.by_number.get(n, []) for n in cand.xrefs]
        hits = [groups[0] for groups in pointed if len(groups) == 1]
        if len(hits) == 1:
            return hits[0], f"it points at #{hits[0].primary[0].number}"
        group = self.index.best(tokens(cand.title))
        if group is not None and not _names_another(cand, group):
            return group, "it repeats most of the finding's words"
        subject = re.match(r"^([^:\uff1a]{3,60})[:\uff1a]\s", cand.title)
        if subject:
            group = self.index.only_one_with(tokens(subject.group(1)))
            if group is not None:
                return group, f"its subject {subject.group(1)!r} names the finding"
        return None, ""


def _apart(cand: Candidate, other: Candidate) -> bool:
    """Return whether two full statements are two findings however alike."""
    if cand.block >= 0 and cand.block == other.block:
        return True
    if cand.source == "section" and other.source == "section":
        return True
    # Different numbers, places or objects name different findings.
    return any(
        a and b and a != b
        for a, b in (
            (cand.number, other.number),
            (_place(cand), _place(other)),
            (cand.object.lower(), other.object.lower()),
        )
    )


def _names_another(cand: Candidate, group: Group) -> bool:
    """Return whether ``cand`` is about another object than the finding."""
    own = cand.object.lower()
    return bool(own) and all(
        c.object and c.object.lower() != own for c in group.primary
    )


def _place(cand: Candidate) -> str:
    loc = cand.location
    return f"{loc.file}:{loc.line}" if loc.file else ""


def _kept_reason(cand: Candidate) -> str:
    where = {"section": "a section", "table": "a table row", "list": "a list item"}
    text = f"it is {where.get(cand.source, cand.source)} that states a finding"
    if cand.ref:
        text += f" with the id {cand.ref}"
    return text


def _fallback(live: list[Candidate]) -> list[Candidate]:
    """Return the findings of a report made only of summaries and lists:
    its sections or the one table that defines them, whichever states more
    findings with a severity of their own; else its tagged items."""
    sections = [c for c in live if c.source == "section"]
    explicit: Counter[int] = Counter(
        c.block for c in live if c.source == "table" and c.explicit
    )
    if explicit:
        block = max(explicit, key=lambda b: (explicit[b], -b))
        if explicit[block] > sum(1 for c in sections if c.explicit):
            return [c for c in live if c.source == "table" and c.block == block]
    if sections:
        return sections
    tagged = [c for c in live if c.explicit]
    return tagged or live


def resolve(candidates: list[Candidate]) -> tuple[list[Group], list[Explanation]]:
    """Return the report's findings as groups, and why each place went where."""
    resolver = Resolver(candidates)
    groups = resolver.run()
    return groups, resolver.explanations
