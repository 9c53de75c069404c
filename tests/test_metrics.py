"""speech.metrics: one normaliser, pooled WER/CER, Chinese scored by character."""

import pytest

from speech.metrics import error_rates, normalise


def test_normaliser_ignores_case_punctuation_and_spacing():
    assert normalise("  Hello,   World!  ") == "hello world"
    assert normalise("«Bonjour» — ça va ?") == "bonjour ça va"
    assert normalise("您好，世界。") == "您好 世界"


def test_identical_texts_score_zero():
    r = error_rates(
        ["Ask not what your country can do."], ["ask not what your country can do"], ["en"]
    )
    assert r == {"wer": 0.0, "cer": 0.0}


def test_one_wrong_word_in_four():
    assert error_rates(["one two three four"], ["one two tree four"], ["en"])["wer"] == 0.25


def test_rates_are_pooled_over_clips():
    r = error_rates(["a b c d", "e f"], ["a b c d", ""], ["en", "en"])
    assert r["wer"] == pytest.approx(2 / 6)


def test_chinese_wer_is_by_character():
    r = error_rates(["我的订单"], ["我的定单"], ["zh"])
    assert r["wer"] == r["cer"] == 0.25


def test_chinese_is_compared_in_simplified_characters():
    assert error_rates(["购买会员"], ["購買會員"], ["zh"])["cer"] == 0.0
    assert error_rates(["購買"], ["购买"], ["en"])["cer"] == 1.0  # only Chinese is converted


def test_empty_hypothesis_counts_every_reference_word():
    assert error_rates(["hello there"], [""], ["en"])["wer"] == 1.0


def test_no_reference_words_scores_zero():
    assert error_rates([""], ["anything"], ["en"]) == {"wer": 0.0, "cer": 0.0}
