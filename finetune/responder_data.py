"""Training material for the responder: which sentences answer each question, and the
self-supervised rewriting pairs made from the knowledge base itself.

Responder data says what a good reply is, not which knowledge-base sentences it comes from, so
each example's answer sentences are found by overlap (ROUGE-L) with the reply among the
sentences of its article (the demo's ``article`` field), of its own ``passages``, or, failing
both, of the knowledge-base document that holds the best-matching sentence.
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.datasets import ResponderExample
from agent.errors import ParlaError
from agent.messages import Passage
from agent.sentences import Sentence, split_passages, split_text, strip_front_matter
from agent.text import rouge_l, words

logger = logging.getLogger(__name__)

SECOND_SENTENCE_GAIN = 0.05  # ROUGE-L a second sentence must add to count as answer sentence
KB_SUFFIXES = (".md", ".markdown", ".txt")
_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


@dataclass(frozen=True)
class KBDocument:
    doc_id: str
    """Path relative to the knowledge-base root."""
    title: str
    language: str
    text: str
    article: str = ""
    """The ``id`` of the front matter (same article in every language), else the file stem."""


@dataclass(frozen=True)
class SelectionExample:
    """A question with the sentences it was answered from."""

    question: str
    answer: str
    language: str
    intent: str | None
    candidates: tuple[Sentence, ...]
    """The sentences of its article or passages."""
    gold: tuple[int, ...]
    """Indices into ``candidates`` of the answer sentences, best first."""


def read_kb(root: Path, languages: Sequence[str] | None = None) -> list[KBDocument]:
    """Markdown / text documents under ``root``, language from front matter or the folder name."""
    if not root.exists():
        raise ParlaError(f"knowledge base {root} does not exist")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    docs = []
    for path in files:
        if path.suffix.lower() not in KB_SUFFIXES:
            continue
        raw = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        meta = _front_matter(raw)
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        lang = meta.get("lang") or (rel.split("/")[0] if "/" in rel else "")
        if languages and lang not in languages:
            continue
        title = meta.get("title") or path.stem.replace("-", " ")
        docs.append(
            KBDocument(rel, title, lang, strip_front_matter(raw), meta.get("id", path.stem))
        )
    return docs


def _front_matter(raw: str) -> dict[str, str]:
    match = _FRONT.match(raw)
    if not match:
        return {}
    meta = {}
    for line in match.group(1).splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip().strip("\"'")
    return meta


def document_sentences(doc: KBDocument) -> tuple[Sentence, ...]:
    return tuple(
        Sentence(text, heading, doc.doc_id, 0, position)
        for position, (heading, text) in enumerate(split_text(doc.text, doc.title))
    )


def gold_sentences(answer: str, candidates: Sequence[Sentence]) -> tuple[int, ...]:
    """The best-matching sentence, plus a second one when it adds to the overlap."""
    scores = [rouge_l(s.text, answer) for s in candidates]
    if not scores or max(scores) == 0:
        return ()
    best = max(range(len(scores)), key=scores.__getitem__)
    second, gain = None, SECOND_SENTENCE_GAIN
    for i, s in enumerate(candidates):
        if i != best:
            pair = rouge_l(f"{candidates[best].text} {s.text}", answer) - scores[best]
            if pair > gain:
                second, gain = i, pair
    return (best,) if second is None else (best, second)


def selection_examples(
    examples: Sequence[ResponderExample], kb: Sequence[KBDocument]
) -> list[SelectionExample]:
    """Each example with its candidate sentences and answer sentences (skipped if none)."""
    by_article = {(d.language, d.article): d for d in kb}
    sentences_of = {d.doc_id: document_sentences(d) for d in kb}
    by_language: dict[str, list[KBDocument]] = defaultdict(list)
    for d in kb:
        by_language[d.language].append(d)
    out, skipped = [], 0
    for ex in examples:
        if ex.passages:
            passages = [
                Passage(f"passage-{i}", "", t, ex.lang, 1.0) for i, t in enumerate(ex.passages)
            ]
            candidates = tuple(split_passages(passages))
        elif (ex.lang, ex.article) in by_article:
            candidates = sentences_of[by_article[(ex.lang, ex.article)].doc_id]
        else:
            candidates = _best_document(ex.answer, by_language.get(ex.lang, []), sentences_of)
        gold = gold_sentences(ex.answer, candidates)
        if not gold:
            skipped += 1
            continue
        out.append(SelectionExample(ex.question, ex.answer, ex.lang, ex.intent, candidates, gold))
    if skipped:
        logger.warning("%d examples have no sentence overlapping their answer: skipped", skipped)
    return out


def _best_document(
    answer: str, docs: Sequence[KBDocument], sentences_of: dict[str, tuple[Sentence, ...]]
) -> tuple[Sentence, ...]:
    answer_words = set(words(answer))
    best, best_overlap = (), 0
    for d in docs:
        for s in sentences_of[d.doc_id]:
            overlap = len(answer_words & set(words(s.text)))
            if overlap > best_overlap:
                best, best_overlap = sentences_of[d.doc_id], overlap
    return best


# --- self-supervised rewriting pairs ---------------------------------------------------------


def pseudo_question(sentence: str, rng: random.Random, keep: float = 0.5) -> str:
    """A question-like corruption of ``sentence``: a shuffled subset of its words.

    The rewriter then learns to find, among several sentences, the one a partial description
    points to, and to write it out in full: copying facts, not inventing them.
    """
    chunks = _chunks(sentence)
    if len(chunks) <= 2:
        return sentence
    kept = [c for c in chunks if rng.random() < keep] or [rng.choice(chunks)]
    window = 3  # words move at most this far: the fragment keeps some of its order
    order = sorted(range(len(kept)), key=lambda i: i + rng.uniform(0, window))
    joiner = "" if _is_cjk(sentence) else " "
    text = joiner.join(kept[i] for i in order).strip(" ,.;:，。；：")
    return text + ("？" if _is_cjk(sentence) else "?")


def _chunks(sentence: str) -> list[str]:
    if _is_cjk(sentence):
        return re.findall(r".{1,3}", re.sub(r"\s+", "", sentence))  # 1-3 characters per piece
    return sentence.split()


def _is_cjk(text: str) -> bool:
    return sum(1 for c in text if "\u4e00" <= c <= "\u9fff") > len(text) / 4
