"""The demo help centre (data/demo): schema, languages, split hygiene, grounded answers, counts."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import yaml

from agent.datasets import (
    DEMO_DIR,
    SPLITS,
    demo_catalog,
    demo_dialogues,
    demo_entities,
    read_intent_file,
    read_responder_file,
)

LANGUAGES = ("en", "zh", "es", "fr", "de", "pt")
ACTIONS = {"answer", "ask_slot", "clarify", "decline", "handoff", "small_talk"}
ENTITY_TYPES = {"order_number", "email", "phone", "date", "amount", "product"}
LANGDETECT_CODE = {"zh": "zh-cn"}
LONG_TEXT = 40  # characters: langdetect is unreliable on shorter texts
NEAR_DUPLICATE = 0.7  # character-trigram Jaccard at which two utterances count as one


def article_table() -> dict[str, str]:
    """Article id -> intent, from the fact sheet's table."""
    rows = re.findall(
        r"^\| ([a-z0-9-]+) \| [^|]+ \| ([a-z_]+) \|", (DEMO_DIR / "company.md").read_text(), re.M
    )
    return {article_id: intent for article_id, intent in rows if article_id != "id"}


ARTICLES = article_table()
INTENTS = set(ARTICLES.values()) | {
    "unclear",
    "greeting",
    "thanks",
    "goodbye",
    "request_human",
    "complaint",
    "out_of_scope",
}


@cache
def article(lang: str, article_id: str) -> tuple[dict, str]:
    text = (DEMO_DIR / "kb" / lang / f"{article_id}.md").read_text(encoding="utf-8")
    _, front, body = text.split("---", 2)
    return yaml.safe_load(front), body


def detect(text: str) -> str:
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    return detect(text)


def trigrams(text: str) -> frozenset[str]:
    t = f"  {text.lower()} "
    return frozenset(t[i : i + 3] for i in range(len(t) - 2))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b)


def test_fact_sheet_has_enough_articles_and_intents():
    assert len(ARTICLES) >= 40
    assert len(INTENTS) >= 30 + 6


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_article_exists_with_front_matter_in_its_language(lang):
    files = sorted((DEMO_DIR / "kb" / lang).glob("*.md"))
    assert {f.stem for f in files} == set(ARTICLES)
    for f in files:
        meta, body = article(lang, f.stem)
        assert meta["id"] == f.stem and meta["lang"] == lang and meta["title"] and meta["tags"]
        assert body.strip().startswith("# ")
        assert detect(body) == LANGDETECT_CODE.get(lang, lang), f


@pytest.mark.parametrize("lang", LANGUAGES)
def test_intent_counts_labels_and_languages(lang):
    path = DEMO_DIR / "intents" / f"{lang}.jsonl"
    counts = {s: Counter(e.label for e in read_intent_file(path, split=s)) for s in SPLITS}
    assert set(counts["train"]) == INTENTS
    for split, minimum in (("train", 20), ("valid", 5), ("test", 5)):
        assert min(counts[split][i] for i in INTENTS) >= minimum, split
    wrong = [
        e.text
        for e in read_intent_file(path)
        if e.lang != lang
        or (len(e.text) > LONG_TEXT and detect(e.text) != LANGDETECT_CODE.get(lang, lang))
    ]
    assert wrong == []


def _intent_texts(lang: str, split: str) -> list[str]:
    return [e.text for e in read_intent_file(DEMO_DIR / "intents" / f"{lang}.jsonl", split=split)]


def _responder_questions(lang: str, split: str) -> list[str]:
    path = DEMO_DIR / "responder" / f"{lang}.jsonl"
    return [e.question for e in read_responder_file(path, split=split)]


@pytest.mark.parametrize("texts", [_intent_texts, _responder_questions])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_valid_and_test_do_not_repeat_train(lang, texts):
    held_out = texts(lang, "valid") + texts(lang, "test")
    assert near_duplicates(held_out, texts(lang, "train")) == []


def near_duplicates(held_out: list[str], train: list[str]) -> list[str]:
    """The held-out texts that nearly repeat a training text (character trigrams)."""
    grams = [trigrams(t) for t in train]
    return [t for t in held_out if max(jaccard(trigrams(t), g) for g in grams) >= NEAR_DUPLICATE]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_responder_answers_are_grounded_in_their_article(lang):
    examples = read_responder_file(DEMO_DIR / "responder" / f"{lang}.jsonl")
    per_article = Counter(e.article for e in examples)
    assert set(per_article) == set(ARTICLES) and min(per_article.values()) >= 5
    questions = {s: {e.question for e in examples if _split(e) == s} for s in SPLITS}
    assert not (questions["train"] & (questions["valid"] | questions["test"]))
    for e in examples:
        assert e.lang == lang and e.intent == ARTICLES[e.article]
        _, body = article(lang, e.article)
        missing = [n for n in re.findall(r"\d+", e.answer) if n not in body]
        assert not missing, (e.question, e.answer, missing)
        if len(e.answer) > LONG_TEXT:
            assert detect(e.answer) == LANGDETECT_CODE.get(lang, lang), e.answer


def _split(example) -> str:
    return _SPLIT_OF[(example.lang, example.question)]


_SPLIT_OF = {}
for _lang in LANGUAGES:
    for _s in SPLITS:
        path = DEMO_DIR / "responder" / f"{_lang}.jsonl"
        if path.exists():
            for _e in read_responder_file(path, split=_s):
                _SPLIT_OF[(_lang, _e.question)] = _s


def test_entities_spans_match_and_cover_every_type_and_language():
    catalog = {p["name"] for p in demo_catalog()}
    seen = Counter()
    for row in demo_entities():
        for ent in row["entities"]:
            assert ent["type"] in ENTITY_TYPES
            assert 0 <= ent["start"] < ent["end"] <= len(row["text"])
            if ent["type"] == "order_number":
                assert re.fullmatch(r"VT-\d{8}", ent["value"])
            if ent["type"] == "product":
                assert ent["value"] in catalog
            seen[(row["lang"], ent["type"])] += 1
    assert all(seen[(lang, t)] >= 5 for lang in LANGUAGES for t in ENTITY_TYPES)


def test_dialogues_cover_the_policy():
    dialogues = demo_dialogues()
    assert len(dialogues) >= 30
    actions = Counter()
    for d in dialogues:
        assert 3 <= len(d["turns"]) <= 8, d["id"]
        for turn in d["turns"]:
            assert turn["action"] in ACTIONS and turn["lang"] in LANGUAGES
            assert turn["intent"] is None or turn["intent"] in INTENTS
            actions[turn["action"]] += 1
    assert all(actions[a] > 0 for a in ACTIONS)
    switches = [d for d in dialogues if len({t["lang"] for t in d["turns"]}) > 1]
    assert len(switches) >= 1


def test_data_licence_is_stated():
    assert "CC BY 4.0" in (DEMO_DIR / "LICENSE").read_text()
    assert Path(DEMO_DIR / "README.md").is_file()
