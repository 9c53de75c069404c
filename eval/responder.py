"""``parla eval responder --model DIR --test F``: answer quality and groundedness.

Each test question goes through retrieval (the demo index, ``--index DIR``, or the passages
given in the test line) and the responder. Reported, overall and per language: ROUGE-L against
the reference reply (characters for Chinese); ``grounded_rate``, replies whose numbers, names
and content words the passages support, re-checked here whatever path wrote them;
``language_match``, replies in the question's language by a language detector; which path
wrote the replies (generated / extractive / no_answer) and why the rewriter was not used
(``fallbacks``); latency; and the same metrics for the extractive answerer alone, the
baseline the rewriter must beat, with its answer-sentence accuracy (the share of questions
whose extractive answer holds the answer sentence: the sentence of the reference article, or of
the line's own passages, that best matches the reference reply; demo test lines only when the
passages come from retrieval). With ``--report DIR``: every reply as JSONL and a Markdown
summary.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.config import ResponderConfig
from agent.datasets import ResponderExample, read_responder_file, write_jsonl
from agent.errors import ParlaError
from agent.messages import Passage, Reply
from agent.responder import Responder, load_responder
from agent.text import cjk_share, rouge_l

logger = logging.getLogger(__name__)

LATIN_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl")
SAMPLES_PER_LANGUAGE = 3
PassageSource = Callable[[ResponderExample], tuple[tuple[Passage, ...], bool]]


def detect_language(text: str, candidates: Sequence[str]) -> str:
    """The most likely of ``candidates`` for ``text`` (Chinese by script, others by langdetect)."""
    if cjk_share(text) > 0.3:
        return "zh" if "zh" in candidates else "ja"
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect is random otherwise
    try:
        ranked = detect_langs(text)
    except LangDetectException:
        return ""
    for guess in ranked:
        code = guess.lang.split("-")[0]
        if code in candidates:
            return code
    return ranked[0].lang.split("-")[0] if ranked else ""


def cmd_eval_responder(args: Any) -> dict[str, Any]:
    import torch

    torch.set_num_threads(2)
    examples = read_test(args.test, getattr(args, "split", None) or "test")
    if getattr(args, "limit", None):
        examples = first_per_language(examples, args.limit)
    config = ResponderConfig(model=args.model, use_rewriter=not getattr(args, "no_rewriter", False))
    responder = load_responder(config)
    source = passage_source(examples, getattr(args, "index", None), getattr(args, "passages", None))
    gold = answer_sentences(examples, demo=args.test == "demo")
    result, rows = evaluate_responder(responder, examples, source, gold)
    if getattr(args, "report", None):
        write_report(Path(args.report), result, rows)
    return result


def first_per_language(examples: Sequence[ResponderExample], n: int) -> list[ResponderExample]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for e in examples:
        seen[e.lang] += 1
        if seen[e.lang] <= n:
            out.append(e)
    return out


def read_test(path: str, split: str) -> list[ResponderExample]:
    """A responder JSONL file, ``demo`` (the demo's test lines) or a folder of JSONL files."""
    if path == "demo":
        from agent.datasets import demo_responder

        return demo_responder(split)
    folder = Path(path)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else [folder]
    examples = [e for f in files for e in read_responder_file(f, split=split)]
    if not examples:
        raise ParlaError(f"{path} holds no responder examples")
    return examples


def passage_source(
    examples: Sequence[ResponderExample], index: str | None, mode: str | None
) -> PassageSource:
    """Where each question's passages come from: its own, its article, or retrieval."""
    if mode == "article":
        return _article_passages()
    if mode == "given" or (all(e.passages for e in examples) and mode != "retrieval"):
        return lambda e: (
            tuple(Passage(f"passage-{i}", "", t, e.lang, 1.0) for i, t in enumerate(e.passages)),
            True,
        )
    from eval.responder_retrieval import load_search

    search = load_search(index)

    def retrieve(e: ResponderExample) -> tuple[tuple[Passage, ...], bool]:
        result = search(e.question, e.lang)
        return tuple(result.passages), bool(result.relevant)

    return retrieve


def _article_passages() -> PassageSource:
    """The whole reference article as the only passage (retrieval taken out of the loop)."""
    from agent.datasets import demo_kb_dir
    from finetune.responder_data import read_kb

    docs = {(d.language, d.article): d for d in read_kb(demo_kb_dir())}

    def article(e: ResponderExample) -> tuple[tuple[Passage, ...], bool]:
        doc = docs.get((e.lang, e.article or ""))
        if doc is None:
            return (), False
        return (Passage(doc.doc_id, doc.title, doc.text, doc.language, 1.0),), True

    return article


def answer_sentences(examples: Sequence[ResponderExample], demo: bool) -> dict[str, str]:
    """Question -> its answer sentence, where one is known (see the module's docstring)."""
    from agent.datasets import demo_kb_dir
    from finetune.responder_data import read_kb, selection_examples

    known = [e for e in examples if e.passages or (demo and e.article)]
    kb = read_kb(demo_kb_dir()) if demo else []
    found = selection_examples(known, kb) if known else []
    return {ex.question: ex.candidates[ex.gold[0]].text for ex in found}


def evaluate_responder(
    responder: Responder,
    examples: Sequence[ResponderExample],
    source: PassageSource,
    gold: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics (overall, per language, extractive baseline) and one row per example; ``gold``
    maps questions to their answer sentence (``answer_sentences``)."""
    from tqdm import tqdm

    extractive = Responder(
        responder.selector,
        None,
        responder.guard,
        dataclasses.replace(responder.config, use_rewriter=False),
    )
    languages = sorted({e.lang for e in examples})
    rows = []
    for e in tqdm(examples, desc="answering", unit="question"):
        passages, relevant = source(e)
        used = passages if relevant else ()
        started = time.perf_counter()
        reply = responder.generate(e.question, e.lang, e.intent, used)
        latency = 1000 * (time.perf_counter() - started)
        base = extractive.generate(e.question, e.lang, e.intent, used)
        row = _row(e, reply, base, latency, languages, passages, relevant)
        row["grounded"] = is_grounded(responder.guard, reply, used)
        answer = (gold or {}).get(e.question)
        row["extractive_answer_sentence"] = None if answer is None else answer in base.text
        rows.append(row)
    return summarise(rows), rows


def is_grounded(guard, reply: Reply, passages: Sequence[Passage]) -> bool:
    """Checked again here, against the passages alone (not the question), whatever the path."""
    if reply.path == "no_answer":
        return True  # it states no fact
    evidence = [p.evidence for p in passages]
    return guard.check(reply.text, evidence, "", reply.language).grounded


def _row(e, reply: Reply, base: Reply, latency, languages, passages, relevant) -> dict[str, Any]:
    return {
        "lang": e.lang,
        "question": e.question,
        "reference": e.answer,
        "reply": reply.text,
        "path": reply.path,
        "fallback": any(n.startswith(("guard:", "rewriter:")) for n in reply.notes),
        "guard_rejected": any(n.startswith("guard:") for n in reply.notes),
        "rouge_l": rouge_l(reply.text, e.answer),
        "language_match": detect_language(reply.text, languages) == e.lang,
        "extractive": base.text,
        "extractive_rouge_l": rouge_l(base.text, e.answer),
        "extractive_language_match": detect_language(base.text, languages) == e.lang,
        "latency_ms": round(latency, 1),
        "relevant": relevant,
        "retrieved": [p.doc_id for p in passages],
        "article_retrieved": bool(e.article)
        and any(p.doc_id.endswith(f"/{e.article}.md") for p in passages),
        "notes": list(reply.notes),
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out = _metrics(rows)
    by_language: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_language[r["lang"]].append(r)
    out["per_language"] = {lang: _metrics(rs) for lang, rs in sorted(by_language.items())}
    out["samples"] = [
        {k: r[k] for k in ("lang", "question", "reference", "reply", "path", "extractive")}
        for rs in by_language.values()
        for r in rs[:SAMPLES_PER_LANGUAGE]
    ]
    return out


def _metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)

    def mean(key: str) -> float:
        return round(sum(float(r[key]) for r in rows) / max(1, n), 4)

    def share(path: str) -> float:
        return round(sum(r["path"] == path for r in rows) / max(1, n), 4)

    attempts = sum(r["path"] == "generated" or r["fallback"] for r in rows)
    known = [r["extractive_answer_sentence"] for r in rows]
    known = [k for k in known if k is not None]
    latencies = sorted(r["latency_ms"] for r in rows)
    return {
        "n": n,
        "rouge_l": mean("rouge_l"),
        "grounded_rate": mean("grounded"),
        "language_match": mean("language_match"),
        "generated": share("generated"),
        "extractive": share("extractive"),
        "no_answer": share("no_answer"),
        "fallbacks": round(sum(r["fallback"] for r in rows) / max(1, n), 4),
        "guard_rejections": round(sum(r["guard_rejected"] for r in rows) / max(1, n), 4),
        "fallback_of_attempts": round(sum(r["fallback"] for r in rows) / max(1, attempts), 4),
        "article_retrieved": mean("article_retrieved"),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else 0.0,
        "latency_ms_p90": round(latencies[int(0.9 * (n - 1))], 1) if latencies else 0.0,
        "extractive_baseline": {
            "rouge_l": mean("extractive_rouge_l"),
            "language_match": mean("extractive_language_match"),
            "answer_sentence_accuracy": round(sum(known) / len(known), 4) if known else None,
        },
    }


def write_report(folder: Path, result: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "replies.jsonl", list(rows))
    (folder / "summary.md").write_text(markdown_table(result), encoding="utf-8")


def markdown_table(result: dict[str, Any]) -> str:
    lines = [
        "| lang | n | ROUGE-L | extractive ROUGE-L | extractive answer sentence | grounded "
        "| language match | generated | fallbacks | no answer | p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [*result["per_language"].items(), ("all", result)]
    for lang, m in rows:
        base = m["extractive_baseline"]
        found = base["answer_sentence_accuracy"]
        found_text = "-" if found is None else f"{found:.3f}"
        lines.append(
            f"| {lang} | {m['n']} | {m['rouge_l']:.3f} | {base['rouge_l']:.3f} | {found_text} "
            f"| {m['grounded_rate']:.3f} | {m['language_match']:.3f} | {m['generated']:.2f} "
            f"| {m['fallbacks']:.2f} | {m['no_answer']:.2f} | {m['latency_ms_p50']:.0f} |"
        )
    return "\n".join(lines) + "\n"
