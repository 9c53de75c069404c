"""speech.speakable: numbers, ids, prices and addresses read sensibly; replies cut in pieces."""

import pytest

from speech.speakable import pieces, sentences, speakable, spell_digits, strip_symbols, truncate


def test_order_number_is_spelled_digit_by_digit():
    assert speakable("Order VT-20481736 shipped.", "en") == "Order V T, 2 0 4 8, 1 7 3 6 shipped."


def test_order_number_inside_chinese_text():
    assert "V T, 2 0 4 8, 1 7 3 6" in speakable("您的订单VT-20481736已发货。", "zh")


@pytest.mark.parametrize(
    ("text", "lang", "spoken"),
    [
        ("Delivery costs 4.99 EUR.", "en", "Delivery costs 4 euros 99."),
        ("Die Lieferung kostet 4,99 EUR.", "de", "Die Lieferung kostet 4 Euro 99."),
        ("Livraison 9.99 € ce soir.", "fr", "Livraison 9 euros 99 ce soir."),
        ("El envío cuesta 9,99 EUR.", "es", "El envío cuesta 9 euros con 99."),
        ("O envio custa 19,99 EUR.", "pt", "O envio custa 19 euros e 99."),
        ("Free from 49 EUR.", "en", "Free from 49 euros."),
        ("Orders up to 3,000 EUR.", "en", "Orders up to 3000 euros."),
        ("运费4.99 EUR。", "zh", "运费4点99欧元。"),
    ],
)
def test_prices_are_read_with_the_currency_word(text, lang, spoken):
    assert speakable(text, lang) == spoken


def test_phone_email_range_and_menu_path():
    out = speakable(
        "Call +33 4 72 10 20 30 or write to support@voltia.example. 3-5 days. "
        "Go to My Orders > Cancel order.",
        "en",
    )
    assert "plus 3 3, 4, 7 2, 1 0, 2 0, 3 0" in out
    assert "support at voltia dot example" in out
    assert "3 to 5 days" in out
    assert "My Orders, Cancel order" in out


def test_decimal_comma_for_languages_that_write_it():
    assert speakable("Financement à 4.9% par an.", "fr") == "Financement à 4,9% par an."
    assert speakable("Financing at 4.9% a year.", "en") == "Financing at 4.9% a year."


def test_emoji_and_markdown_are_not_read_aloud():
    assert strip_symbols("**Great** news 🎉👍 [see here](http://x.example)") == (
        "Great news see here"
    )
    assert speakable("Shipped 🚚!", "en") == "Shipped!"


def test_spell_digits_groups():
    assert spell_digits("418207") == "4 1 8 2, 0 7"


def test_sentences_do_not_split_inside_numbers():
    assert sentences("It costs 4.99 EUR. Then 2 days. 好的。谢谢！") == [
        "It costs 4.99 EUR.",
        "Then 2 days.",
        "好的。",
        "谢谢！",
    ]


def test_first_piece_is_short_for_fast_first_audio():
    text = (
        "Your parcel left our warehouse this morning, it travels with the express carrier, "
        "and it should reach you tomorrow before noon. Thanks for waiting."
    )
    parts = pieces(text, first_chars=40, chunk_chars=250)
    assert len(parts[0]) <= 40
    assert " ".join(parts).replace("  ", " ") == text
    assert parts[-1] == "Thanks for waiting."


def test_long_reply_is_chunked_within_limits():
    text = ("This sentence is about forty characters. " * 125).strip()  # ~5,000 characters
    parts = pieces(text, 60, 250)
    assert len(parts) >= 100
    assert max(len(p) for p in parts) <= 250


def test_unbroken_chinese_is_cut_by_characters():
    parts = pieces("很" * 600, 60, 250)
    assert [len(p) for p in parts] == [60, 250, 250, 40]


def test_truncate_cuts_at_a_sentence_boundary():
    text = "One two three. Four five six. Seven eight nine."
    assert truncate(text, 30) == ("One two three. Four five six.", True)
    assert truncate(text, 1000) == (text, False)


def test_punctuation_only_pieces_are_dropped():
    assert pieces("... !!! 。", 60, 250) == []
