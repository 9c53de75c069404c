from __future__ import annotations

import pytest

from agent.text import cjk_share, numbers, rouge_l, words


def test_words_split_chinese_into_characters_and_keep_latin_words():
    assert words("标准配送满 49 欧元 VT-1234") == [
        "标",
        "准",
        "配",
        "送",
        "满",
        "49",
        "欧",
        "元",
        "vt",
        "1234",
    ]


def test_words_drop_punctuation_and_lower_case():
    assert words("Returns are FREE, within 30 days!") == [
        "returns",
        "are",
        "free",
        "within",
        "30",
        "days",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4,99 EUR", ["4.99"]),
        ("4.99 EUR", ["4.99"]),
        ("3,000 EUR", ["3000"]),
        ("3.000 €", ["3000"]),
        ("before 16:00", ["16:00"]),
        ("ＶＴ－２０４８", ["2048"]),  # full-width digits
    ],
)
def test_numbers_are_written_one_way(text, expected):
    assert numbers(text) == expected


def test_rouge_l_is_one_for_identical_text_and_zero_for_disjoint():
    assert rouge_l("Returns are free.", "returns are free") == 1.0
    assert rouge_l("cats", "dogs") == 0.0
    assert rouge_l("", "dogs") == 0.0


def test_rouge_l_counts_the_longest_common_subsequence():
    # "the cat sat" is a subsequence of 4 reference words: P = 1, R = 3/4
    assert rouge_l("the cat sat", "the cat sat down") == pytest.approx(2 * 0.75 / 1.75)


def test_rouge_l_on_chinese_uses_characters():
    # 5 tokens, all in the 6-token reference: P = 1, R = 5/6
    assert rouge_l("运费 4.99 欧元", "运费是 4.99 欧元") == pytest.approx(10 / 11)


def test_cjk_share():
    assert cjk_share("订单 order") == pytest.approx(2 / 7)
    assert cjk_share("123") == 0.0
