"""Entity extraction: each type in the six languages, normalisation, conflicts, bad input.

Examples here are new sentences, not the demo annotations (those are measured separately, in
test_demo_annotations and `parla eval entities`).
"""

import datetime as dt
import json

import pytest

from agent.config import EntityConfig
from agent.entities import (
    EntityExtractor,
    ProductFinder,
    load_entity_extractor,
    normalise_number,
    resolve_date,
)
from agent.errors import ParlaError

TODAY = dt.date(2026, 5, 13)  # a Wednesday


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return load_entity_extractor(today=TODAY)


def found(extractor, text, lang):
    return [(e.type, e.text, e.value) for e in extractor.extract(text, lang)]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("My order is Vt-10293847, please check", "en", ("Vt-10293847", "VT-10293847")),
        ("订单号vt 55667788还没到", "zh", ("vt 55667788", "VT-55667788")),
        ("La commande VT99887766 est bloquée", "fr", ("VT99887766", "VT-99887766")),
    ],
)
def test_order_numbers_are_normalised(extractor, text, lang, expected):
    assert ("order_number", *expected) in found(extractor, text, lang)


def test_order_number_needs_exactly_eight_digits(extractor):
    assert found(extractor, "VT-1234567 and VT-123456789", "en") == []


def test_emails_are_lower_cased_even_inside_chinese(extractor):
    assert found(extractor, "请发到Li.Ming@Example.COM，谢谢", "zh") == [
        ("email", "Li.Ming@Example.COM", "li.ming@example.com")
    ]


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("Ring me on +44 20 7946 0958 tonight", "en", "+442079460958"),
        ("Mi número es 612 34 56 78", "es", "612345678"),
        ("Rufen Sie mich unter 089 1234567 an", "de", "0891234567"),
        ("Appelez le 01.23.45.67.89", "fr", "0123456789"),
        ("Liguem para +351 21 123 4567", "pt", "+351211234567"),
        ("电话：18612345678", "zh", "18612345678"),
    ],
)
def test_phones(extractor, text, lang, value):
    phones = [v for t, _, v in found(extractor, text, lang) if t == "phone"]
    assert phones == [value]


@pytest.mark.parametrize(
    "text",
    [
        "The receipt number is 1234 5678 9012",
        "Tracking 9400 1000 0000 0000 0000 00",
        "My postcode is 75011",
        "Model number 55-1234-567",
    ],
)
def test_numbers_that_are_not_phones(extractor, text):
    assert [t for t, _, _ in found(extractor, text, "en")] == []


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("It was €1,049.50 in the end", "en", "1049.50 EUR"),
        ("Pagué 1.049,50 € por él", "es", "1049.50 EUR"),
        ("J'ai payé 1 049,50 € hier", "fr", "1049.50 EUR"),
        ("Das kostet 12 Euro", "de", "12 EUR"),
        ("Custou 80 euros", "pt", "80 EUR"),
        ("一共花了300欧元", "zh", "300 EUR"),
        ("They took £15.99", "en", "15.99 GBP"),
        ("It cost $20 in the US", "en", "20 USD"),
    ],
)
def test_amounts_keep_the_decimals_written(extractor, text, lang, value):
    assert [v for t, _, v in found(extractor, text, lang) if t == "amount"] == [value]


def test_bare_numbers_and_percentages_are_not_money(extractor):
    assert found(extractor, "I want 10% off, I bought 2 of them", "en") == []


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1,299.00", "1299.00"), ("1.299,00", "1299.00"), ("1 299,00", "1299.00"),
     ("2.450", "2450"), ("2,450", "2450"), ("4.99", "4.99"), ("59,99", "59.99"), ("7", "7"),
     ("1\u202f299,00", "1299.00")],
)  # fmt: skip
def test_number_normalisation(raw, value):
    assert normalise_number(raw) == value


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("Delivered on 2 June 2026", "en", "2026-06-02"),
        ("Delivered on June 2nd, 2026", "en", "2026-06-02"),
        ("Lo recibí el 2 de junio de 2026", "es", "2026-06-02"),
        ("Livré le 2 juin 2026", "fr", "2026-06-02"),
        ("Geliefert am 2. Juni 2026", "de", "2026-06-02"),
        ("Entregue a 2 de junho de 2026", "pt", "2026-06-02"),
        ("2026年6月2日送到的", "zh", "2026-06-02"),
        ("Bestellt am 02.06.2026", "de", "2026-06-02"),
        ("Comprado el 02/06/2026", "es", "2026-06-02"),
        ("ordered 2026-06-02", "en", "2026-06-02"),
        ("ordered on 3 March", "en", "2026-03-03"),
    ],
)
def test_absolute_dates(extractor, text, lang, value):
    assert [v for t, _, v in found(extractor, text, lang) if t == "date"] == [value]


def test_an_impossible_date_is_not_a_date(extractor):
    assert found(extractor, "on 31/02/2026", "en") == []


@pytest.mark.parametrize(
    ("text", "lang", "span", "value"),
    [
        ("It came yesterday", "en", "yesterday", "relative:yesterday"),
        ("Llegó anteayer", "es", "anteayer", "relative:day_before_yesterday"),
        ("Lo quiero el jueves", "es", "el jueves", "relative:thursday"),
        ("Livraison après-demain", "fr", "après-demain", "relative:day_after_tomorrow"),
        ("Kommt das übermorgen?", "de", "übermorgen", "relative:day_after_tomorrow"),
        ("Chega na quarta-feira", "pt", "quarta-feira", "relative:wednesday"),
        ("星期三能到吗", "zh", "星期三", "relative:wednesday"),
        ("I'll send it next Friday", "en", "next Friday", "relative:next_friday"),
        ("下周三能到吗", "zh", "下周三", "relative:next_wednesday"),
    ],
)
def test_relative_dates(extractor, text, lang, span, value):
    assert ("date", span, value) in found(extractor, text, lang)


@pytest.mark.parametrize(
    ("text", "lang"),
    [("Guten Morgen!", "de"), ("Esta mañana no estaba en casa", "es"), ("Good morning", "en")],
)
def test_morning_is_not_tomorrow(extractor, text, lang):
    assert found(extractor, text, lang) == []


@pytest.mark.parametrize(
    ("value", "date"),
    [("relative:yesterday", "2026-05-12"), ("relative:tomorrow", "2026-05-14"),
     ("relative:monday", "2026-05-11"), ("relative:friday", "2026-05-15"),
     ("relative:next_monday", "2026-05-18"), ("relative:last_friday", "2026-05-08"),
     ("2026-02-01", "2026-02-01")],
)  # fmt: skip
def test_resolve_date(value, date):
    assert resolve_date(value, TODAY) == dt.date.fromisoformat(date)


def test_resolve_date_of_nonsense_is_none():
    assert resolve_date("relative:someday", TODAY) is None
    assert resolve_date("not a date", TODAY) is None


def test_products_longest_name_first_any_case(extractor):
    assert found(extractor, "Is the nuvo phone 12 pro better than the Nuvo Phone 12?", "en") == [
        ("product", "nuvo phone 12 pro", "Nuvo Phone 12 Pro"),
        ("product", "Nuvo Phone 12", "Nuvo Phone 12"),
    ]


def test_products_inside_chinese_text(extractor):
    assert ("product", "Sonora Max", "Sonora Max") in found(extractor, "Sonora Max坏了", "zh")


def test_product_names_need_word_boundaries():
    finder = ProductFinder(["Kestrel S"])
    assert list(finder.find("Kestrel Super is not in the catalogue", "en")) == []


def test_an_order_number_is_never_also_a_phone(extractor):
    entities = extractor.extract("VT 83920417 0612345678", "fr")
    assert [e.type for e in entities] == ["order_number", "phone"]


def test_offsets_point_at_the_text(extractor):
    text = "Salut, commande VT-12345678, 49,90 € le 3 mai 2026, tél. 06 11 22 33 44"
    for entity in extractor.extract(text, "fr"):
        assert text[entity.start : entity.end] == entity.text


@pytest.mark.parametrize("text", ["", "   ", "😀🎉👍", "x" * 50_000, "VT-12345678 " * 5_000])
def test_odd_input_does_not_crash(extractor, text):
    assert isinstance(extractor.extract(text, "en"), tuple)


def test_catalog_from_a_file(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{"name": "Zeta Blender 9"}, "Omega Toaster"]))
    extractor = load_entity_extractor(EntityConfig(catalog=str(path)))
    assert [e.value for e in extractor.extract("my zeta blender 9 and Omega Toaster", "en")] == [
        "Zeta Blender 9",
        "Omega Toaster",
    ]


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"name": "x"}), json.dumps([{"n": 1}])]
)
def test_bad_catalog_is_a_clear_error(tmp_path, content):
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(ParlaError):
        load_entity_extractor(EntityConfig(catalog=str(path)))


def test_missing_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(ParlaError, match="not found"):
        load_entity_extractor(EntityConfig(catalog=str(tmp_path / "nope.json")))


def test_types_can_be_restricted_and_unknown_types_are_refused(extractor):
    only_email = load_entity_extractor(EntityConfig(types=("email",)))
    assert [e.type for e in only_email.extract("a@b.example VT-12345678", "en")] == ["email"]
    with pytest.raises(ParlaError, match="unknown entity type"):
        load_entity_extractor(EntityConfig(types=("email", "iban")))


def test_demo_annotations_f1():
    from eval.entities import evaluate_entities, read_annotations

    result = evaluate_entities(load_entity_extractor(), read_annotations(None))
    assert result["f1"] >= 0.9
    assert set(result["per_language"]) >= {"en", "zh", "es", "fr", "de", "pt"}


def test_eval_entities_command(tmp_path, capsys):
    from agent.cli import main

    data = tmp_path / "gold.jsonl"
    data.write_text(
        json.dumps(
            {
                "text": "Call +33 6 12 34 56 78 about VT-12345678",
                "lang": "en",
                "entities": [
                    {"type": "phone", "start": 5, "end": 22, "value": "+33612345678"},
                    {"type": "order_number", "start": 29, "end": 40, "value": "VT-12345678"},
                ],
            }
        )
        + "\n"  # fmt: skip
    )
    assert main(["eval", "entities", "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["f1"] == 1.0 and result["n"] == 1


def test_eval_entities_refuses_rows_without_annotations(tmp_path):
    from eval.entities import read_annotations

    data = tmp_path / "gold.jsonl"
    data.write_text(json.dumps({"text": "hello"}) + "\n")
    with pytest.raises(ParlaError, match="needs text and entities"):
        read_annotations(str(data))
