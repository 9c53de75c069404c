from __future__ import annotations

from agent.grounding import GroundednessGuard, common_words

PASSAGE = (
    "Standard delivery takes 3-5 business days and costs 4.99 EUR. It is free from 49 EUR. "
    "You can pay with PayPal or a Voltia gift card."
)
GUARD = GroundednessGuard({"en": ["you", "your", "can", "yes", "the", "and", "our"]})


def test_a_reply_copied_from_the_passage_is_grounded():
    report = GUARD.check("Standard delivery costs 4.99 EUR and is free from 49 EUR.", [PASSAGE])
    assert report.grounded and report.unsupported == ()


def test_an_invented_number_is_not_grounded_even_when_every_word_is():
    report = GUARD.check("Standard delivery costs 5.99 EUR.", [PASSAGE], language="en")
    assert not report.grounded
    assert "5.99" in report.unsupported


def test_a_decimal_comma_matches_a_decimal_point():
    assert GUARD.check("Standard delivery costs 4,99 EUR.", [PASSAGE], language="en").grounded


def test_an_invented_name_is_not_grounded():
    report = GUARD.check("You can pay with Klarna.", [PASSAGE], language="en")
    assert not report.grounded
    assert "Klarna" in report.unsupported


def test_unsupported_content_words_fail_the_reply():
    report = GUARD.check(
        "Express drones deliver overnight within minutes.", [PASSAGE], language="en"
    )
    assert not report.grounded
    assert report.support < 0.5


def test_question_words_and_common_words_count_as_support():
    report = GUARD.check(
        "Yes, your parcel ships in 3-5 business days.", [PASSAGE], "When does my parcel ship?", "en"
    )
    assert report.grounded


def test_chinese_is_checked_on_character_pairs():
    passage = "标准配送 3-5 个工作日送达，运费 4.99 欧元。"
    guard = GroundednessGuard({"zh": ["您可"]})
    assert guard.check("标准配送运费 4.99 欧元。", [passage], language="zh").grounded
    assert not guard.check("快递当天送达，免费退货。", [passage], language="zh").grounded


def test_single_digits_in_chinese_text_are_not_broken_fragments():
    text = "VoltCare 可以为您的设备额外提供 1 年、2 年或 3 年的保障。购买后 30 天内可以取消。"
    assert GUARD.check(text, [text], "", "zh").grounded
    assert not GUARD.check("a b c d e f", ["a b c d e f"], "", "en").grounded


def test_german_nouns_are_not_taken_for_names():
    passage = "Die Rücksendung ist innerhalb von 30 Tagen kostenlos."
    guard = GroundednessGuard({"de": ["sie", "ihre", "können"]})
    assert (
        guard.check(
            "Sie können innerhalb von 30 Tagen kostenlos die Rücksendung machen.",
            [passage],
            language="de",
        ).support
        > 0.8
    )


def test_common_words_are_those_of_several_articles():
    words = common_words({"a": ["you can pay"], "b": ["you can return"], "c": ["you pay"]}, 2)
    assert words == ["can", "pay", "you"]
