from __future__ import annotations

from agent.rewriter import RewriteRequest, finish_text, memory_segments, seq2seq_input
from agent.sentences import Sentence


def test_chinese_replies_get_their_full_width_punctuation_back():
    # NFKC in the tokenizer turns "，" into ","; times and decimals keep theirs
    assert finish_text("运费 4.99 欧元,16:00 前下单?", "zh") == "运费 4.99 欧元，16:00 前下单？"


def test_a_reply_starts_with_a_capital_and_without_stray_punctuation():
    assert finish_text(": returns are   free.", "en") == "Returns are free."


def test_the_rewriter_reads_question_intent_history_and_sentences_in_order():
    request = RewriteRequest(
        "How much?",
        "en",
        "delivery_options",
        (Sentence("It costs 4.99 EUR.", "Standard delivery"), Sentence("Free from 49 EUR.", "")),
        ("I ordered a TV",),
    )
    segments = memory_segments(request, max_sentences=1)
    assert [s for s, _ in segments] == [0, 1, 2, 3]
    assert segments[1][1] == "intent: delivery options"
    assert segments[3][1] == "passage: Standard delivery: It costs 4.99 EUR."
    text = seq2seq_input(request)
    assert text.index("question:") < text.index("intent:") < text.index("context:")
