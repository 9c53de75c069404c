"""The responder: a short, grounded reply in the user's language from retrieved passages.

1. the passages are cut into sentences (by a stated rule when there are too many or they are
   too long, see ``ResponderConfig``);
2. the answer selector ranks the sentences, helped by the passages' retrieval scores and the
   question's rare words (``with_passage_scores``, ``with_shared_words``), and keeps the best;
3. the rewriter (a fine-tuned seq2seq model) writes a reply from the question, the intent, the
   selected sentences and a short history;
4. the groundedness guard checks the reply against the passages; a reply that fails, or a
   language the rewriter was not trained on, gets the selected sentences themselves
   (``extractive``); no usable passage gets an apology and the offer of a person
   (``no_answer``). ``Reply.path`` tells which.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent.answer_selection import AnswerSelector, MemorySettings, ScoredSentence, load_memory
from agent.config import ResponderConfig
from agent.errors import ParlaError
from agent.grounding import GroundednessGuard
from agent.messages import Passage, Reply
from agent.rewriter import Rewriter, RewriteRequest
from agent.sentences import Sentence, split_passages
from agent.text import words

logger = logging.getLogger(__name__)

NO_ANSWER = {
    "en": "I'm sorry, I couldn't find that in our help articles. Would you like me to put you "
    "in touch with someone from our team?",
    "zh": "抱歉，我在帮助中心没有找到相关信息。需要为您转接人工客服吗？",
    "es": "Lo siento, no he encontrado esa información en nuestros artículos de ayuda. "
    "¿Quiere que le ponga en contacto con una persona de nuestro equipo?",
    "fr": "Désolé, je n'ai pas trouvé cette information dans nos articles d'aide. "
    "Voulez-vous que je vous mette en relation avec un membre de notre équipe ?",
    "de": "Dazu habe ich in unseren Hilfeartikeln leider nichts gefunden. Möchten Sie, dass "
    "ich Sie mit jemandem aus unserem Team verbinde?",
    "pt": "Lamento, não encontrei essa informação nos nossos artigos de ajuda. Quer que o "
    "ponha em contacto com alguém da nossa equipa?",
}
OTHER_LANGUAGE = {  # said before sentences quoted from a passage in another language
    "en": "Our help articles only cover this in another language:",
    "zh": "这方面的信息目前只有其他语言的版本：",
    "es": "Nuestros artículos de ayuda solo tratan este tema en otro idioma:",
    "fr": "Nos articles d'aide ne traitent ce sujet que dans une autre langue :",
    "de": "Dazu gibt es unsere Hilfeartikel nur in einer anderen Sprache:",
    "pt": "Os nossos artigos de ajuda só abordam este tema noutra língua:",
}


@dataclass(frozen=True)
class Prepared:
    """Passages after the truncation rule, cut into candidate sentences."""

    passages: tuple[Passage, ...]
    sentences: tuple[Sentence, ...]
    same_language: bool
    notes: tuple[str, ...]


class Responder:
    """Selection, rewriting and the guard; models are loaded once and shared by all sessions."""

    def __init__(
        self,
        selector: AnswerSelector,
        rewriter: Rewriter | None,
        guard: GroundednessGuard,
        config: ResponderConfig,
        min_confidence: float = float("-inf"),
    ) -> None:
        self.selector = selector
        self.rewriter = rewriter
        self.guard = guard
        self.config = config
        self.min_confidence = min_confidence
        """Rewrites scoring less (mean log-probability per token) are not used."""

    def generate(
        self,
        question: str,
        language: str,
        intent: str | None,
        passages: Sequence[Passage],
        history: Sequence[str] = (),
    ) -> Reply:
        if not question or not question.strip():
            raise ParlaError("the question is empty: there is nothing to answer")
        language = (language or "").strip().lower()
        prepared = prepare(passages, language, self.config)
        if not prepared.sentences:
            return no_answer(language, prepared.notes)
        ranked = with_passage_scores(
            self.selector.rank(question, prepared.sentences),
            prepared.passages,
            self.config.passage_weight,
        )
        ranked = with_shared_words(ranked, question, self.config.shared_words_weight)
        chosen = choose(ranked, self.config)
        if not prepared.same_language:
            return self._extractive(chosen, language, prepared.notes, foreign=True)
        notes = prepared.notes
        if self._can_rewrite(language):
            reply, note = self._rewrite(question, language, intent, ranked, prepared, history)
            if reply is not None:
                return reply
            notes += (note,)
        return self._extractive(chosen, language, notes)

    def _can_rewrite(self, language: str) -> bool:
        return (
            self.config.use_rewriter
            and self.rewriter is not None
            and language in self.rewriter.languages
            and self.min_confidence != float("inf")  # calibration found no rewrite worth it
        )

    def _rewrite(self, question, language, intent, ranked, prepared, history):
        """A generated reply when the guard accepts it, else ``(None, why)``."""
        assert self.rewriter is not None
        sentences = tuple(s.sentence for s in ranked[: self.config.rewriter_sentences])
        window = tuple(history)[-self.config.history_turns :] if self.config.history_turns else ()
        request = RewriteRequest(question.strip(), language, intent, sentences, window)
        rewrite = self.rewriter.rewrite(request)
        if rewrite.confidence < self.min_confidence:
            note = f"rewriter: not confident ({rewrite.confidence:.2f} < {self.min_confidence:.2f})"
            return None, note
        evidence = [p.evidence for p in prepared.passages]
        focus = [s.text for s in sentences]
        report = self.guard.check(rewrite.text, evidence, question, language, focus)
        if rewrite.text and report.grounded:
            reply = Reply(
                rewrite.text, language, _cited(sentences), True, "generated", prepared.notes
            )
            return reply, ""
        note = f"guard: rewritten reply not supported ({', '.join(report.unsupported[:5])})"
        logger.info("%s; answering extractively", note)
        return None, note

    def _extractive(
        self, chosen: Sequence[Sentence], language: str, notes: tuple[str, ...], foreign=False
    ) -> Reply:
        text = " ".join(extractive_text(s) for s in chosen)
        if foreign:
            text = f"{OTHER_LANGUAGE.get(language, OTHER_LANGUAGE['en'])} {text}"
        return Reply(text, language, _cited(chosen), True, "extractive", notes)


def _cited(sentences: Sequence[Sentence]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.doc_id for s in sentences))


SHORT_SENTENCE = 24  # characters: a shorter sentence ("Price: 9.99 EUR.") is said with its heading


def extractive_text(sentence: Sentence) -> str:
    """A selected sentence as a reply; a bare list or a very short sentence gets its heading
    as an introduction ("Express delivery: Price: 9.99 EUR.")."""
    short = len(sentence.text) < SHORT_SENTENCE
    if sentence.heading and (sentence.text[:1].islower() or short):
        joint = " " if sentence.heading[-1] in "?!:.？！：。" else ": "  # "Shipped? refuse it"
        return f"{sentence.heading}{joint}{sentence.text}"
    return sentence.text


def no_answer(language: str, notes: tuple[str, ...] = ()) -> Reply:
    return Reply(NO_ANSWER.get(language, NO_ANSWER["en"]), language, (), True, "no_answer", notes)


def with_passage_scores(
    ranked: Sequence[ScoredSentence], passages: Sequence[Passage], weight: float
) -> list[ScoredSentence]:
    """The selector's ranking, each score plus ``weight`` times its passage's retrieval score
    (retrieval knows which article the question is about; the selector, which sentence)."""
    if not weight:
        return list(ranked)
    rescored = [
        ScoredSentence(s.sentence, s.score + weight * passages[s.sentence.passage].score)
        for s in ranked
    ]
    return sorted(rescored, key=lambda s: -s.score)


def with_shared_words(
    ranked: Sequence[ScoredSentence], question: str, weight: float
) -> list[ScoredSentence]:
    """Each score plus ``weight`` times the share of the question's words that the sentence
    (with its heading) contains, each word weighted by its rarity among these candidates.

    The selector compares meanings, and misses the one rare word that names the case ("Italy",
    "Saturday", "engraved"); a word every candidate has ("order") counts for little. Words
    that no candidate contains do not count at all.
    """
    if not weight or not ranked:
        return list(ranked)
    candidates = [set(words(f"{s.sentence.heading} {s.sentence.text}")) for s in ranked]
    counts = Counter(w for c in candidates for w in c)
    rarity = {w: math.log((len(candidates) + 1) / (n + 1)) for w, n in counts.items()}
    asked = set(words(question)) & rarity.keys()
    total = sum(rarity[w] for w in asked)
    if not total:
        return list(ranked)
    rescored = [
        ScoredSentence(s.sentence, s.score + weight * sum(rarity[w] for w in asked & c) / total)
        for s, c in zip(ranked, candidates, strict=True)
    ]
    return sorted(rescored, key=lambda s: -s.score)


def choose(ranked: Sequence[ScoredSentence], config: ResponderConfig) -> list[Sentence]:
    """The extractive answer: the best sentence, plus the next ones within ``extractive_margin``
    of its score (at most ``extractive_sentences``) from the same article, so one reply never
    mixes the facts of two articles (express and international delivery, say)."""
    if not ranked:
        return []
    best = ranked[0]
    return [
        s.sentence
        for i, s in enumerate(ranked[: config.extractive_sentences])
        if i == 0
        or (best.score - s.score <= config.extractive_margin
            and s.sentence.doc_id == best.sentence.doc_id)
    ]  # fmt: skip


def prepare(passages: Sequence[Passage], language: str, config: ResponderConfig) -> Prepared:
    """Apply the truncation rule and keep the passages in the user's language when any are.

    Rule: the first ``max_passages`` passages (retrieval order, best first) are kept; each is
    cut to ``max_passage_chars`` characters (at a sentence end where possible); at most
    ``max_sentences`` candidate sentences are ranked, taken in passage order. A sentence
    repeated in overlapping chunks is ranked once (its first occurrence).
    """
    notes: list[str] = []
    kept = [p for p in passages if p.text and p.text.strip()]
    same = [p for p in kept if p.language == language]
    if kept and not same:
        notes.append(f"no passage in '{language}': quoting passages in another language")
        kept = [p for p in kept if p.language == kept[0].language]  # the best one's language
    kept = same or kept
    if len(kept) > config.max_passages:
        notes.append(f"kept the first {config.max_passages} of {len(kept)} passages")
        kept = kept[: config.max_passages]
    cut = [_cut_passage(p, config.max_passage_chars) for p in kept]
    if any(c is not p for c, p in zip(cut, kept, strict=True)):
        notes.append(f"passages cut to {config.max_passage_chars} characters")
    sentences = _first_of_each(split_passages(cut))
    if len(sentences) > config.max_sentences:
        notes.append(f"ranked the first {config.max_sentences} of {len(sentences)} sentences")
        sentences = sentences[: config.max_sentences]
    return Prepared(tuple(cut), tuple(sentences), bool(same) or not kept, tuple(notes))


def _first_of_each(sentences: Sequence[Sentence]) -> list[Sentence]:
    seen: set[str] = set()
    out = []
    for s in sentences:
        if s.text not in seen:
            seen.add(s.text)
            out.append(s)
    return out


def _cut_passage(passage: Passage, limit: int) -> Passage:
    if len(passage.text) <= limit:
        return passage
    head = passage.text[:limit]
    end = max(head.rfind(c) for c in ".!?。！？\n")
    text = head[: end + 1] if end > limit // 2 else head
    return replace(passage, text=text)


# --- loading -----------------------------------------------------------------------------------


def resolve_responder_dir(name: str) -> Path:
    """``demo:responder``, a local folder, or (through ``ModelSpec``) anything else."""
    from agent.models import DEMO_PREFIX, ModelSpec, demo_path

    if name.startswith(DEMO_PREFIX) and not (demo_path(name) / "responder.json").exists():
        raise ParlaError(f"{name} is not built yet ({demo_path(name)}): run `parla setup`")
    folder = ModelSpec(name).resolve()
    if not (folder / "responder.json").exists():
        raise ParlaError(
            f"{folder} is not a responder folder (no responder.json): train one with "
            "`parla finetune responder`"
        )
    return folder


def give_up_below(min_confidence: float, factor: float) -> float:
    """The running score under which decoding stops: ``factor`` times the (negative) score a
    rewrite needs. At 1 or more, an abandoned rewrite's score is under that need too, so its
    unfinished text is never used; no threshold, no stopping."""
    if factor and factor < 1:
        raise ParlaError(f"responder.give_up_factor must be 0 (off) or at least 1, not {factor}")
    if not factor or not -math.inf < min_confidence < 0:
        return -math.inf
    return factor * min_confidence


def load_responder(config: ResponderConfig | None = None) -> Responder:
    """Load the selector, rewriter and guard named by ``config.model`` (once per process)."""
    from safetensors.torch import load_file

    from agent.answer_selection import SelectorHead
    from agent.copy_generator import DecodeSettings
    from agent.rewriter import load_rewriter
    from agent.text_encoder import load_text_encoder

    config = config or ResponderConfig()
    folder = resolve_responder_dir(config.model)
    meta = json.loads((folder / "responder.json").read_text())
    quantize = bool(meta.get("quantized", False))  # the same int8 layers as in training
    encoder = load_text_encoder(folder, meta.get("max_tokens", 96), quantize=quantize)
    head = SelectorHead(**meta["selector"])
    head.load_state_dict(load_file(str(folder / "selector.safetensors")))
    if quantize:
        head.quantize_sentence_tower()
    threshold = config.min_confidence
    if threshold is None:  # calibrated on validation when the responder was trained
        threshold = meta.get("rewriter_min_confidence", float("-inf"))
        if threshold is None:  # on validation, no rewrite beat the selected sentences
            threshold = float("inf")
    settings = DecodeSettings(
        num_beams=config.num_beams,
        max_new_tokens=config.max_new_tokens,
        min_new_tokens=config.min_new_tokens,
        no_repeat_ngram=config.no_repeat_ngram,
        give_up_below=give_up_below(threshold, config.give_up_factor),
        give_up_after=config.give_up_after,
    )
    rewriter = load_rewriter(folder, encoder, settings) if config.use_rewriter else None
    common = json.loads((folder / "common_words.json").read_text())
    guard = GroundednessGuard(common, config.min_support, config.min_order)
    logger.info("responder loaded from %s (rewriter: %s)", folder, meta.get("rewriter"))
    memory = load_memory(folder, memory_settings(config))
    selector = AnswerSelector(encoder, head, memory=memory)
    return Responder(selector, rewriter, guard, config, threshold)


def memory_settings(config: ResponderConfig) -> MemorySettings:
    return MemorySettings(config.memory_weight, config.memory_neighbours, config.memory_temperature)
