"""The answer memory's contents (``agent.answer_selection.AnswerMemory``): every labelled
question with the sentences that answer it, in its own language and in the others.

A help centre's articles say the same things in every language, so a question labelled in one
language also tells which sentence answers it in the others: its answer sentence's counterpart
in the same article of another language is the sentence the selector's (multilingual) sentence
vectors find most alike. A German question's nearest labelled questions then include Spanish
and French ones, and their votes land on the German sentences. On the demo validation split
(retrieval in the loop, extractive ROUGE-L) a memory of the training questions scored 0.511
with answers in their own language only and 0.529 with the counterparts (0.533 with 20
neighbours instead of 10; keeping only counterparts with a cosine of 0.9 or more: 0.524).
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.answer_selection import AnswerMemory, AnswerSelector, build_memory, sentence_text
from agent.config import ResponderConfig
from agent.responder import memory_settings
from finetune.responder_data import KBDocument, SelectionExample, document_sentences


def answer_memory(
    selector: AnswerSelector,
    examples: Sequence[SelectionExample],
    kb: Sequence[KBDocument],
) -> AnswerMemory:
    """A memory of ``examples``' questions, with the serving defaults' settings."""
    answers = memory_answers(selector, examples, kb)
    settings = memory_settings(ResponderConfig())
    return build_memory(selector, [ex.question for ex in examples], answers, settings)


def memory_answers(
    selector: AnswerSelector,
    examples: Sequence[SelectionExample],
    kb: Sequence[KBDocument],
) -> list[list[str]]:
    """Each example's answer sentences, then their counterparts in the other languages."""
    sentences = {d.doc_id: found for d in kb if (found := document_sentences(d))}
    vectors = {
        doc_id: selector.vectors([sentence_text(s) for s in found])
        for doc_id, found in sentences.items()
    }
    versions: dict[str, list[str]] = {}  # article -> its documents (one per language)
    for d in kb:
        if d.doc_id in sentences:
            versions.setdefault(d.article, []).append(d.doc_id)
    article_of = {d.doc_id: d.article for d in kb}
    out = []
    for ex in examples:
        answers = []
        for sentence in (ex.candidates[i] for i in ex.gold):
            answers.append(sentence.text)
            if sentence.doc_id not in sentences:  # an example's own passages, not the KB
                continue
            mine = vectors[sentence.doc_id][sentence.position]
            for other in versions[article_of[sentence.doc_id]]:  # its own document too
                best = int((vectors[other] @ mine).argmax())  # the most alike: its counterpart
                answers.append(sentences[other][best].text)
        out.append(list(dict.fromkeys(answers)))
    return out
