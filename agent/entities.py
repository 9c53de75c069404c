"""Entities: the order numbers, emails, phones, dates, amounts and products in a turn, normalised.

Rules, not a model: the six types have regular shapes, the catalogue is a closed list, and rules
are exact, fast (well under a millisecond a turn) and explainable in the trace. One small finder
per type; the extractor runs them in priority order and a character claimed by one entity is
not offered to the next finder, so ``VT 83920417`` is an order number and never a phone.

Values follow ``data/demo/README.md``: ``VT-20481736``; e-mails lower-cased; phones as digits
with a leading ``+`` where given; absolute dates as ISO ``YYYY-MM-DD`` (a date without a year
takes the reference date's year); relative ones as ``relative:<english word>``
(``relative:yesterday``, ``relative:monday``, ``relative:next_week``; :func:`resolve_date`
turns them into calendar dates); amounts as ``<number> <ISO currency>`` with the decimals the
user wrote (``1299.00 EUR``); products by their catalogue name.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent.config import EntityConfig
from agent.errors import ParlaError
from agent.messages import Entity

logger = logging.getLogger(__name__)

ENTITY_TYPES = ("order_number", "email", "phone", "date", "amount", "product")
MAX_CHARS = 10_000  # longer turns are searched in their first MAX_CHARS characters only
_MASK = "\x00"  # replaces characters already claimed by an entity (never matched by a finder)


class EntityFinder(Protocol):
    """Finds the entities of one type."""

    @property
    def type(self) -> str: ...

    def find(self, text: str, language: str) -> Iterator[Entity]: ...


# --- order numbers and e-mails ----------------------------------------------------------------


@dataclass(frozen=True)
class OrderNumberFinder:
    """``VT-`` and 8 digits, also written ``vt 20481736`` or ``VT20481736``."""

    type: str = "order_number"
    prefix: str = "VT"
    digits: int = 8

    def find(self, text: str, language: str) -> Iterator[Entity]:
        pattern = rf"(?<![A-Za-z0-9]){self.prefix}[\s\-]?(\d{{{self.digits}}})(?!\d)"
        for m in re.finditer(pattern, text, re.IGNORECASE):
            yield Entity(self.type, m.group(0), f"{self.prefix}-{m.group(1)}", m.start(), m.end())


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
)


@dataclass(frozen=True)
class EmailFinder:
    type: str = "email"

    def find(self, text: str, language: str) -> Iterator[Entity]:
        for m in _EMAIL.finditer(text):
            yield Entity(self.type, m.group(0), m.group(0).lower(), m.start(), m.end())


# --- products -----------------------------------------------------------------------------------


class ProductFinder:
    """Catalogue names, longest first, in any case, with flexible spaces ("nuvo phone12")."""

    type = "product"

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        self._canonical = {self._key(n): n for n in self.names}
        parts = [r"[\s\-]*".join(map(re.escape, n.split())) for n in self.names]
        self._pattern = (
            re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(parts)})(?![A-Za-z0-9])", re.IGNORECASE)
            if parts
            else None
        )

    @staticmethod
    def _key(name: str) -> str:
        return re.sub(r"[\s\-]+", "", name).lower()

    def find(self, text: str, language: str) -> Iterator[Entity]:
        if self._pattern is None:
            return
        for m in self._pattern.finditer(text):
            name = self._canonical.get(self._key(m.group(0)), m.group(0))
            yield Entity(self.type, m.group(0), name, m.start(), m.end())


# --- amounts ------------------------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
CURRENCY_WORDS: dict[str, str] = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "欧元": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "libras": "GBP", "英镑": "GBP",
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "dólares": "USD", "美元": "USD",
    "r$": "BRL", "reais": "BRL", "chf": "CHF", "franken": "CHF", "francs": "CHF",
    "人民币": "CNY", "rmb": "CNY", "cny": "CNY",
}  # fmt: skip
_SYMBOLS = r"R\$|[€£$]"
_AFTER = "|".join(
    sorted(
        (re.escape(w) for w in CURRENCY_WORDS if not re.search(r"[€£$]", w)), key=len, reverse=True
    )
)
_AMOUNT = re.compile(
    rf"(?P<pre>{_SYMBOLS})\s?(?P<num1>{_NUMBER})(?!\d)"
    rf"|(?<![\d.,])(?P<num2>{_NUMBER})\s?(?P<post>{_SYMBOLS}|(?:{_AFTER})(?![A-Za-z]))",
    re.IGNORECASE,
)


def normalise_number(raw: str) -> str:
    """``1.299,00`` / ``1,299.00`` / ``1 299,00`` -> ``1299.00``; ``2.450`` -> ``2450``."""
    s = re.sub(r"[\s\u00a0\u202f]", "", raw)
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        return s.replace(thousands, "").replace(decimal, ".")
    for sep in (",", "."):
        if sep in s:
            groups = s.split(sep)
            if len(groups) > 2 or len(groups[-1]) == 3:
                return s.replace(sep, "")  # a thousands separator
            return s.replace(sep, ".")
    return s


@dataclass(frozen=True)
class AmountFinder:
    """A number with a currency sign or word before or after it; bare numbers are not money."""

    type: str = "amount"

    def find(self, text: str, language: str) -> Iterator[Entity]:
        for m in _AMOUNT.finditer(text):
            number = m.group("num1") or m.group("num2")
            currency = CURRENCY_WORDS[(m.group("pre") or m.group("post")).lower()]
            value = f"{normalise_number(number)} {currency}"
            yield Entity(self.type, m.group(0), value, m.start(), m.end())


# --- phones -------------------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![A-Za-z0-9+(])(?<![A-Za-z]-)(?:\+|00|\()?\d[\d\s.\-/()]{5,}\d(?![A-Za-z0-9])"
)
# Numbers introduced by these words are receipts, tracking or model numbers, not phones.
NOT_PHONE_CONTEXT = (
    "receipt", "ticket", "tique", "talão", "talao", "小票", "tracking", "seguimiento",
    "seguimento", "suivi", "sendung", "单号", "model", "modelo", "modèle", "modell", "serial",
    "série", "serie", "code", "código", "codigo", "iban", "card", "tarjeta", "cartão", "carte",
    "karte", "卡号", "invoice", "factura", "fatura", "facture", "rechnung", "nif", "vat",
)  # fmt: skip


@dataclass(frozen=True)
class PhoneFinder:
    """9 to 15 digits in groups (8 to 15 after a ``+``), unless the words before say otherwise."""

    type: str = "phone"
    min_digits: int = 9
    max_digits: int = 15
    context_chars: int = 30  # how far back NOT_PHONE_CONTEXT words are looked for

    def find(self, text: str, language: str) -> Iterator[Entity]:
        for m in _PHONE.finditer(text):
            raw = m.group(0).rstrip(" .-/(")
            digits = re.sub(r"\D", "", raw)
            plus = raw.startswith("+")
            if not (self.min_digits - plus <= len(digits) <= self.max_digits):
                continue
            before = text[max(0, m.start() - self.context_chars) : m.start()].lower()
            if any(word in before for word in NOT_PHONE_CONTEXT):
                continue
            yield Entity(
                self.type, raw, ("+" if plus else "") + digits, m.start(), m.start() + len(raw)
            )


# --- dates --------------------------------------------------------------------------------------

MONTHS: dict[str, int] = {}
for _names in (
    "january february march april may june july august september october november december",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "januar februar märz april mai juni juli august september oktober november dezember",
    "jan feb mar apr may jun jul aug sep oct nov dec",
):
    for _i, _name in enumerate(_names.split(), 1):
        MONTHS.setdefault(_name, _i)
MONTHS.update({"sept": 9, "setiembre": 9, "marco": 3, "fevrier": 2, "aout": 8, "decembre": 12,
               "maerz": 3, "jänner": 1})  # fmt: skip
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|er|º|°|\.)?"
_ABSOLUTE_DATES = (
    re.compile(
        rf"(?<!\d)(?P<d>\d{{1,2}}){_ORD}\s*(?:de\s+|of\s+)?(?P<m>{_MONTH})(?![^\W\d_])\.?"
        rf"(?:,?\s*(?:de\s+)?(?P<y>\d{{4}})(?!\d))?",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?<![^\W\d_])(?P<m>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"
        rf"(?:,?\s*(?P<y>\d{{4}})(?!\d))?",
        re.IGNORECASE,
    ),
    re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
    re.compile(
        r"(?<![\d.,])(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<y>\d{4}|\d{2})(?!\d|[./-]\d)"
    ),  # not the start of a longer dotted number such as the phone 01.23.45.67.89
    re.compile(r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"),
)


@dataclass(frozen=True)
class RelativeDate:
    """A phrase pattern (per language) and the english word of its value."""

    pattern: str
    value: str


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {
    "en": WEEKDAYS,
    "es": ("lunes", "martes", "mi[ée]rcoles", "jueves", "viernes", "s[áa]bado", "domingo"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "de": ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag|sonnabend",
           "sonntag"),
    "pt": ("segunda(?:-|\\s)feira", "ter[çc]a(?:-|\\s)feira", "quarta(?:-|\\s)feira",
           "quinta(?:-|\\s)feira", "sexta(?:-|\\s)feira", "s[áa]bado", "domingo"),
    "zh": ("(?:周|星期|礼拜)一", "(?:周|星期|礼拜)二", "(?:周|星期|礼拜)三", "(?:周|星期|礼拜)四",
           "(?:周|星期|礼拜)五", "(?:周|星期|礼拜)六", "(?:周|星期|礼拜)[日天]"),
}  # fmt: skip
_DAY_PREFIX = {"es": "(?:el\\s+|este\\s+)?"}  # Spanish annotations keep the article
# "next monday", "el lunes pasado", "下周一": ``{d}`` stands for a weekday name.
_DAY_MODIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("next {d}", "next_"), ("last {d}", "last_")),
    "es": (("el pr[óo]ximo {d}|el {d} que viene", "next_"), ("el {d} pasado", "last_")),
    "fr": (("{d} prochain", "next_"), ("{d} dernier", "last_")),
    "de": (("n[äa]chsten {d}|kommenden {d}", "next_"), ("letzten {d}|vergangenen {d}", "last_")),
    "pt": (("pr[óo]xim[ao] {d}|{d} que vem", "next_"), ("{d} passad[ao]", "last_")),
    "zh": (("下(?:个)?{d}", "next_"), ("上(?:个)?{d}", "last_")),
}
_RELATIVE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("the day before yesterday", "day_before_yesterday"),
           ("the day after tomorrow", "day_after_tomorrow"), ("today|tonight", "today"),
           ("yesterday", "yesterday"), ("tomorrow", "tomorrow"), ("next week", "next_week"),
           ("last week", "last_week"), ("this week", "this_week"), ("next month", "next_month"),
           ("last month", "last_month")),
    "es": (("anteayer|antes de ayer", "day_before_yesterday"),
           ("pasado mañana", "day_after_tomorrow"), ("hoy", "today"), ("ayer", "yesterday"),
           ("(?<!la )(?<!esta )mañana", "tomorrow"),
           ("la semana que viene|la pr[óo]xima semana", "next_week"),
           ("la semana pasada", "last_week"), ("esta semana", "this_week"),
           ("el mes que viene|el pr[óo]ximo mes", "next_month"), ("el mes pasado", "last_month")),
    "fr": (("avant-hier", "day_before_yesterday"), ("après-demain", "day_after_tomorrow"),
           ("aujourd['’]hui", "today"), ("hier", "yesterday"), ("demain", "tomorrow"),
           ("la semaine prochaine", "next_week"), ("la semaine derni[èe]re", "last_week"),
           ("cette semaine", "this_week"), ("le mois prochain", "next_month"),
           ("le mois dernier", "last_month")),
    "de": (("vorgestern", "day_before_yesterday"), ("übermorgen", "day_after_tomorrow"),
           ("heute", "today"), ("gestern", "yesterday"),
           ("(?<!guten )(?<!am )(?<!jeden )(?<!heute )morgen", "tomorrow"),
           ("n[äa]chste woche", "next_week"), ("letzte woche|vergangene woche", "last_week"),
           ("diese woche", "this_week"), ("n[äa]chsten monat", "next_month"),
           ("letzten monat", "last_month")),
    "pt": (("anteontem", "day_before_yesterday"), ("depois de amanhã", "day_after_tomorrow"),
           ("hoje", "today"), ("ontem", "yesterday"), ("amanhã", "tomorrow"),
           ("pr[óo]xima semana|semana que vem", "next_week"), ("semana passada", "last_week"),
           ("esta semana", "this_week"), ("pr[óo]ximo m[êe]s", "next_month"),
           ("m[êe]s passado", "last_month")),
    "zh": (("大前天", "day_before_yesterday"), ("前天", "day_before_yesterday"),
           ("大后天", "day_after_tomorrow"), ("后天", "day_after_tomorrow"),
           ("今天|今日|今晚", "today"), ("昨天|昨日|昨晚", "yesterday"),
           ("明天|明日|明晚", "tomorrow"),
           ("下(?:个)?(?:周|星期|礼拜)(?![一二三四五六日天])", "next_week"),
           ("上(?:个)?(?:周|星期|礼拜)(?![一二三四五六日天])", "last_week"),
           ("(?:这|本)(?:个)?(?:周|星期)(?![一二三四五六日天])", "this_week"),
           ("下(?:个)?月", "next_month"), ("上(?:个)?月", "last_month")),
}  # fmt: skip


def _relative_patterns(language: str) -> tuple[list[re.Pattern[str]], list[str]]:
    """One alternation per language, longest phrases first; each group named by its value."""
    days = list(zip(_DAY_NAMES.get(language, ()), WEEKDAYS, strict=True))
    phrases = [
        (template.replace("{d}", f"(?:{name})"), modifier + day)
        for templates, modifier in _DAY_MODIFIERS.get(language, ())
        for template in templates.split("|")
        for name, day in days
    ]
    phrases += list(_RELATIVE_WORDS.get(language, ()))
    prefix = _DAY_PREFIX.get(language, "")
    phrases += [(prefix + f"(?:{name})", day) for name, day in days]
    edge_l, edge_r = ("", "") if language == "zh" else (r"(?<![^\W\d_])", r"(?![^\W\d_])")
    return [
        re.compile(f"{edge_l}(?:{pattern}){edge_r}", re.IGNORECASE) for pattern, _ in phrases
    ], [value for _, value in phrases]


@dataclass
class DateFinder:
    """Absolute dates in the six languages' usual forms, and relative words and weekdays."""

    today: dt.date | None = None  # reference date for dates written without a year
    day_first: bool = True  # 03/04/2026 is 3 April unless the first number cannot be a month
    type: str = "date"
    _relative: dict[str, tuple[list[re.Pattern[str]], list[str]]] = field(default_factory=dict)

    def find(self, text: str, language: str) -> Iterator[Entity]:
        claimed: list[tuple[int, int]] = []
        for entity in [*self._absolute(text), *self._relatives(text, language)]:
            if all(entity.end <= s or entity.start >= e for s, e in claimed):
                claimed.append((entity.start, entity.end))
                yield entity

    def _absolute(self, text: str) -> Iterator[Entity]:
        year_now = (self.today or dt.date.today()).year
        for pattern in _ABSOLUTE_DATES:
            for m in pattern.finditer(text):
                parsed = self._parse(m.groupdict(), year_now)
                if parsed is not None:
                    span = m.group(0).rstrip(". ")
                    yield Entity(
                        self.type, span, parsed.isoformat(), m.start(), m.start() + len(span)
                    )

    def _parse(self, groups: dict[str, str | None], year_now: int) -> dt.date | None:
        year = int(groups.get("y") or year_now)
        year += 2000 if year < 100 else 0
        if groups.get("a"):
            a, b = int(groups.get("a") or 0), int(groups.get("b") or 0)
            day, month = (a, b) if (self.day_first and b <= 12) or a > 12 else (b, a)
        else:
            raw_month = (groups["m"] or "").lower()
            month = int(raw_month) if raw_month.isdigit() else MONTHS.get(raw_month, 0)
            day = int(groups["d"] or 0)
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None

    def _relatives(self, text: str, language: str) -> Iterator[Entity]:
        if language not in self._relative:
            self._relative[language] = _relative_patterns(language)
        patterns, values = self._relative[language]
        for pattern, value in zip(patterns, values, strict=True):
            for m in pattern.finditer(text):
                yield Entity(self.type, m.group(0), f"relative:{value}", m.start(), m.end())


def resolve_date(value: str, today: dt.date) -> dt.date | None:
    """A calendar date for a date entity's value (weekdays: the nearest one, past or coming)."""
    if not value.startswith("relative:"):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    word = value.split(":", 1)[1]
    offsets = {"today": 0, "yesterday": -1, "tomorrow": 1, "day_before_yesterday": -2,
               "day_after_tomorrow": 2, "next_week": 7, "last_week": -7,
               "this_week": 0}  # fmt: skip
    if word in offsets:
        return today + dt.timedelta(days=offsets[word])
    modifier, _, day = (
        word.rpartition("_") if word.startswith(("next_", "last_")) else ("", "", word)
    )
    if day in WEEKDAYS:
        if modifier:  # that weekday in the next or the previous calendar week
            monday = today - dt.timedelta(days=today.weekday())
            week = 7 if modifier == "next" else -7
            return monday + dt.timedelta(days=week + WEEKDAYS.index(day))
        delta = (WEEKDAYS.index(day) - today.weekday()) % 7
        return today + dt.timedelta(days=delta - 7 if delta > 3 else delta)
    return None


# --- the extractor ------------------------------------------------------------------------------


class EntityExtractor:
    """Runs the finders in priority order; the first to claim a character keeps it."""

    def __init__(self, finders: Sequence[EntityFinder]) -> None:
        self.finders = tuple(finders)

    def extract(self, text: str, language: str) -> tuple[Entity, ...]:
        """Entities in order of appearance. ``language`` picks the relative-date words."""
        text = (text or "")[:MAX_CHARS]
        masked = text
        found: list[Entity] = []
        for finder in self.finders:
            for entity in finder.find(masked, language):
                if _MASK in masked[entity.start : entity.end]:
                    continue  # overlaps an entity found by an earlier finder
                entity = Entity(entity.type, text[entity.start : entity.end], entity.value,
                                entity.start, entity.end)  # fmt: skip
                found.append(entity)
                masked = (
                    masked[: entity.start]
                    + _MASK * (entity.end - entity.start)
                    + masked[entity.end :]
                )
        return tuple(sorted(found, key=lambda e: e.start))


def read_catalog(source: str) -> list[str]:
    """Product names from ``"demo"`` or a JSON file holding ``[{"name": ...}]`` or ``[name]``."""
    if source == "demo":
        from agent.datasets import demo_catalog

        rows = demo_catalog()
    else:
        try:
            rows = json.loads(Path(source).expanduser().read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ParlaError(f"product catalogue not found: {source}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParlaError(f"product catalogue {source} is not valid JSON ({exc})") from None
    if not isinstance(rows, list):
        raise ParlaError(f"product catalogue {source} must be a JSON list")
    names = [row.get("name") if isinstance(row, dict) else row for row in rows]
    if not all(isinstance(n, str) for n in names):
        raise ParlaError(f"product catalogue {source}: every entry needs a string name")
    return [str(n) for n in names]


def load_entity_extractor(
    config: EntityConfig | None = None, today: dt.date | None = None
) -> EntityExtractor:
    """The default finders, in priority order, restricted to ``config.types``."""
    config = config or EntityConfig()
    unknown = set(config.types) - set(ENTITY_TYPES)
    if unknown:
        raise ParlaError(
            f"unknown entity type(s) {', '.join(sorted(unknown))}; known: {', '.join(ENTITY_TYPES)}"
        )
    finders: list[EntityFinder] = [
        OrderNumberFinder(),
        EmailFinder(),
        ProductFinder(read_catalog(config.catalog) if "product" in config.types else ()),
        AmountFinder(),
        DateFinder(today=today, day_first=config.day_first),
        PhoneFinder(),
    ]
    return EntityExtractor([f for f in finders if f.type in config.types])
