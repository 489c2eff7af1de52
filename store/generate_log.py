"""A week of connection-log rows for one planned organisation: routine exports at the
profile's rate and its incidents, with plausible document numbers, ids and error kinds.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import time
from collections.abc import Iterator

from store.enums import Level
from store.generate_plan import WEEK_HOURS, PlannedOrg, random_uuid
from store.kb import Classifier
from store.sample import PLACEHOLDER

# Routine rows of a working integration: (weight, level, template).
INFO_TEMPLATES: tuple[tuple[int, str], ...] = (
    (40, "Exported Sales Invoice {SI} to Xero (InvoiceID {uuid})"),
    (15, "Synced customer {CUST}"),
    (12, "Exported Bill for Purchase Order {PO} to Xero (InvoiceID {uuid})"),
    (12, "Exported Sales Journal {SO} to Xero"),
    (6, "Exported Credit Note {SC} to Xero (CreditNoteID {uuid})"),
    (5, "Exported Stock Adjustment {SA} journal to Xero"),
    (5, "Synced supplier {SUPP}"),
    (3, "Purchase Cost {PO} exported as Draft; approve in Xero"),
    (1, "Imported {n} accounts from Xero"),
    (1, "Exported Supplier Return {SR} to Xero (CreditNoteID {uuid})"),
)
INFO_CUM_WEIGHTS = tuple(itertools.accumulate(w for w, _ in INFO_TEMPLATES))
DOC_PREFIX = {"SI": "SI-", "PO": "PO-", "SC": "SC-", "SO": "SO-", "SA": "SA-", "SR": "SR-"}
DOCUMENT_PLACEHOLDERS = frozenset([*DOC_PREFIX, "CUST", "SUPP"])


@functools.lru_cache(maxsize=64)
def _day(days: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(days * 86400))


# "HH:" for each hour and "MM:SSZ" for each second of an hour (not a string per second of the
# day: 86,400 of them held 5 MB through the whole build).
_HOURS = tuple(f"{h:02d}:" for h in range(24))
_MINUTES_SECONDS = tuple(f"{s // 60:02d}:{s % 60:02d}Z" for s in range(3600))


def iso_fast(ts: float) -> str:
    """An ISO time for the build's half a million queue times: strftime once per day, table
    lookups for the time of day."""
    days, seconds = divmod(int(ts), 86400)
    hours, rest = divmod(seconds, 3600)
    return _day(days) + _HOURS[hours] + _MINUTES_SECONDS[rest]


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> tuple[str, tuple[str, ...], int | None]:
    """A template split once: a str.format pattern with its placeholders as {} (the text
    around them escaped), their names, and which of them is the document (the first document
    placeholder), so a row is one format call, not a replace per placeholder."""
    split = PLACEHOLDER.split(template)
    names = tuple(split[1::2])
    first_doc = next((i for i, n in enumerate(names) if n in DOCUMENT_PLACEHOLDERS), None)
    escaped = (text.replace("{", "{{").replace("}", "}}") for text in split[::2])
    return "{}".join(escaped), names, first_doc


class _Renderer:
    """Fills a log template's placeholders with plausible document numbers and ids."""

    def __init__(self, rng: random.Random, org: PlannedOrg) -> None:
        self.rng = rng
        self.org = org
        base = rng.randint(100, 9000)
        self.counters = {k: base * (i + 1) for i, k in enumerate(DOC_PREFIX)}
        stem = "".join(ch for ch in org.code if ch.isalpha())[:4] or "CUST"
        self.customers = [f"{stem}{n:03d}" for n in range(1, 9)]
        self.suppliers = [f"SUP-{w}" for w in ("BEANCO", "GLASSWORKS", "PACKRITE", "FREIGHTCO")]

    def render(self, template: str) -> tuple[str, str | None]:
        """The message and the document it names (the first document number, if any)."""
        pattern, names, first_doc = _compiled(template)
        if not names:
            return template, None
        value = self._value
        values = [value(name) for name in names]  # in the template's order (the same draws)
        return pattern.format(*values), None if first_doc is None else values[first_doc]

    def _value(self, name: str) -> str:
        rng = self.rng
        if name in DOC_PREFIX:
            self.counters[name] += 1
            return f"{DOC_PREFIX[name]}{self.counters[name]:08d}"
        if name == "CUST":
            return rng.choice(self.customers)
        if name == "SUPP":
            return rng.choice(self.suppliers)
        if name == "uuid":
            return random_uuid(rng)
        if name == "n":
            return str(rng.randint(5, 59))
        if name == "tenant":
            return self.org.tenant.id
        if name == "previous_tenant":
            return self.org.previous_tenant.id if self.org.previous_tenant else random_uuid(rng)
        raise ValueError(name)


def _counts(rng: random.Random, expected: float) -> int:
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def log_rows_for(
    org: PlannedOrg, rng: random.Random, now: float, classify: Classifier
) -> Iterator[tuple[float, int, str, str | None, str, str | None, str | None]]:
    """(time, org id, level, document, message, kind, correlation id) for one organisation."""
    p, render = org.profile, _Renderer(rng, org)
    templates = [t for _, t in INFO_TEMPLATES]
    kinds = classify.memo
    keys = [Level.INFO + "|" + t for t in templates]  # _kind's cache keys
    start = now - WEEK_HOURS * 3600
    info_end = now - p.until_hours * 3600
    # random.choices(templates, cum_weights=...) and rng.uniform(start, info_end) spelled out
    # (the same draws and arithmetic, so a seed gives the same store): a million rows spent
    # a third of their time in those two calls.
    draw, total, last = rng.random, INFO_CUM_WEIGHTS[-1] + 0.0, len(templates) - 1
    span, org_id, info = info_end - start, org.id, Level.INFO
    for _ in range(_counts(rng, p.info_per_day * (info_end - start) / 86400 * org.scale)):
        pick = bisect.bisect_right(INFO_CUM_WEIGHTS, draw() * total, 0, last)
        template = templates[pick]
        message, document = render.render(template)
        key = keys[pick]
        kind = kinds[key] if key in kinds else _kind(kinds, classify, template, message, info)
        yield start + span * draw(), org_id, info, document, message, kind, None
    for inc in p.incidents:
        lo, hi = now - inc.since_hours * 3600, now - inc.until_hours * 3600
        n = (
            inc.count
            if inc.count is not None
            else _counts(rng, inc.per_day * (hi - lo) / 86400 * org.scale)
        )
        for _ in range(n):
            message, document = render.render(inc.message)
            kind = _kind(kinds, classify, inc.message, message, inc.level)
            corr = (
                random_uuid(rng)
                if inc.level == Level.ERROR
                and message.startswith(
                    ("Xero API", "Sales", "Credit", "Purchase", "Customer CUST", "Stock")
                )
                else None
            )
            yield rng.uniform(lo, hi), org.id, inc.level, document, message, kind, corr


def _kind(
    cache: dict[str, str | None], classify: Classifier, template: str, message: str, level: str
) -> str | None:
    # Classify once per template (its first rendering), not per row: a million regex scans
    # would dominate the build, and a template's kind does not depend on its placeholders.
    key = level + "|" + template
    if key not in cache:
        cache[key] = classify.classify(message, level)
    return cache[key]
