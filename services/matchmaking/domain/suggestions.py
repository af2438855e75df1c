"""Reciprocal partner suggestions. Pure: profiles in, ranked (participant, score, reasons) out.

Each direction A→B scores how well B answers A: B's offers against A's requests (same type, and text
similarity), NACE Rev. 2 hierarchy similarity, keyword similarity (TF-IDF cosine over the activity's
participants, so rare words weigh more), plus a cross-border bonus. The pair's score is the harmonic mean of
both directions: a suggestion only ranks high when it is good for both sides.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Activities whose point is to meet other ecosystems: no suggestions inside one's own cluster there.
TRANSNATIONAL_KINDS = frozenset({"mission", "study_visit", "learning_tandem"})
WEIGHTS = {"needs": 0.45, "sectors": 0.25, "keywords": 0.30}
CROSS_BORDER_BONUS = 0.10
STOPWORDS = frozenset(
    "and the for with from into our your their are was were this that these those have has had not but all any "
    "can will who what which when where how per via its also more most other some such than then them they".split()
)
_WORD = re.compile(r"[a-z0-9][a-z0-9+-]{2,}")


@dataclass(frozen=True)
class Need:
    type: str
    text: str


@dataclass(frozen=True)
class Candidate:
    participant_id: str
    cluster_id: str
    name: str
    country: str
    sectors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    offers: tuple[Need, ...] = ()
    requests: tuple[Need, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    participant_id: str
    score: float
    reasons: tuple[str, ...] = field(default=())


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _stem(word: str) -> str:
    """Plural "pilots" matches "pilot": the only inflection common enough in short profile texts to matter."""
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def nace_levels(code: str) -> tuple[str, ...]:
    """J62.01 → (J, J62, J62.0, J62.01): section, division, group, class."""
    code = code.strip().upper()
    levels = [code[:1]]
    digits = code[1:].replace(".", "")
    if len(digits) >= 2:
        levels.append(code[:1] + digits[:2])
    if len(digits) >= 3:
        levels.append(f"{code[:1]}{digits[:2]}.{digits[2]}")
    if len(digits) >= 4:
        levels.append(f"{code[:1]}{digits[:2]}.{digits[2:4]}")
    return tuple(levels)


LEVEL_NAMES = ("section", "division", "group", "class")


def nace_similarity(a: Iterable[str], b: Iterable[str]) -> tuple[float, str | None]:
    """Deepest shared level of the hierarchy, as a fraction of four levels, and which code it is."""
    best, shared = 0.0, None
    for x in a:
        lx = nace_levels(x)
        for y in b:
            ly = nace_levels(y)
            depth = 0
            while depth < min(len(lx), len(ly)) and lx[depth] == ly[depth]:
                depth += 1
            if depth / 4 > best:
                best, shared = depth / 4, f"{LEVEL_NAMES[depth - 1]} {lx[depth - 1]}"
    return best, shared


class Tfidf:
    """TF-IDF vectors over a small corpus (one document per participant), cosine similarity."""

    def __init__(self, documents: Sequence[list[str]]) -> None:
        df = Counter(w for doc in documents for w in set(doc))
        n = max(len(documents), 1)
        self.idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}

    def vector(self, words: list[str]) -> dict[str, float]:
        tf = Counter(words)
        v = {w: c * self.idf.get(w, 1.0) for w, c in tf.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {w: x / norm for w, x in v.items()}

    @staticmethod
    def cosine(a: dict[str, float], b: dict[str, float]) -> float:
        if len(a) > len(b):
            a, b = b, a
        return sum(x * b.get(w, 0.0) for w, x in a.items())


def _profile_words(c: Candidate) -> list[str]:
    return [t for k in c.keywords for t in tokens(k)] + [t for n in (*c.offers, *c.requests) for t in tokens(n.text)]


def excluded(me: Candidate, other: Candidate, *, transnational: bool, declined: set[str]) -> str | None:
    """Why ``other`` must not be suggested to ``me`` (a hard filter), or None."""
    if other.participant_id == me.participant_id:
        return "self"
    if other.name.strip().casefold() == me.name.strip().casefold():
        return "same organisation"
    if transnational and other.cluster_id == me.cluster_id:
        return "same cluster on a transnational activity"
    if other.participant_id in declined:
        return "a meeting request between them was declined"
    return None


def suggest(
    me: Candidate, pool: Sequence[Candidate], *, transnational: bool = False, declined: Iterable[str] = (),
    limit: int = 10,
) -> list[Suggestion]:
    declined = set(declined)
    everyone = [me, *[c for c in pool if c.participant_id != me.participant_id]]
    tfidf = Tfidf([_profile_words(c) for c in everyone])
    vec = {c.participant_id: tfidf.vector(_profile_words(c)) for c in everyone}
    need_vec = {
        c.participant_id: (
            tfidf.vector([t for n in c.requests for t in tokens(n.text)]),
            tfidf.vector([t for n in c.offers for t in tokens(n.text)]),
        )
        for c in everyone
    }
    out = []
    for other in everyone[1:]:
        if excluded(me, other, transnational=transnational, declined=declined):
            continue
        forward, why_f = _direction(me, other, tfidf, vec, need_vec, "you")
        backward, why_b = _direction(other, me, tfidf, vec, need_vec, "they")
        if forward <= 0 or backward <= 0:
            continue
        score = 2 * forward * backward / (forward + backward)
        reasons = list(dict.fromkeys([*why_f, *why_b]))
        if me.country != other.country:
            reasons.append(f"cross-border: {me.country} ↔ {other.country}")
        out.append(Suggestion(other.participant_id, round(score, 4), tuple(reasons)))
    out.sort(key=lambda s: (-s.score, s.participant_id))
    return out[:limit]


def _direction(a: Candidate, b: Candidate, tfidf: Tfidf, vec, need_vec, whose: str) -> tuple[float, list[str]]:
    """How well b answers a, with the reasons in words."""
    reasons = []
    needs = 0.0
    if a.requests:
        offered = {o.type for o in b.offers}
        met = [r for r in a.requests if r.type in offered]
        text = Tfidf.cosine(need_vec[a.participant_id][0], need_vec[b.participant_id][1])
        needs = min(1.0, 0.7 * len(met) / len(a.requests) + 0.3 * min(1.0, 2 * text))
        if met:
            subject = "they offer" if whose == "you" else "you offer"
            wanted = "you request" if whose == "you" else "they request"
            reasons.append(f"{subject} {', '.join(sorted({r.type for r in met}))} that {wanted}")
    sectors, shared = nace_similarity(a.sectors, b.sectors)
    if shared:
        reasons.append(f"same NACE {shared}")
    words = Tfidf.cosine(vec[a.participant_id], vec[b.participant_id])
    common = sorted(set(_profile_words(a)) & set(_profile_words(b)), key=lambda w: -tfidf.idf.get(w, 0))[:3]
    if common and words > 0.05:
        reasons.append(f"shared keywords: {', '.join(common)}")
    score = WEIGHTS["needs"] * needs + WEIGHTS["sectors"] * sectors + WEIGHTS["keywords"] * min(1.0, words)
    if score > 0 and a.country != b.country:
        score += CROSS_BORDER_BONUS
    return score / (1 + CROSS_BORDER_BONUS), reasons  # in [0, 1] without clipping away differences
