"""A tiny multilingual-e5 look-alike (random BERT + sentencepiece Unigram tokenizer) and a tiny
help centre, so the responder's whole training and answering path runs in seconds."""

from __future__ import annotations

import json
from pathlib import Path

from agent.datasets import ResponderExample
from agent.messages import Passage
from finetune.responder_data import read_kb
from finetune.responder_loop import LoopConfig
from finetune.responder_rewriter import RewriterTraining
from finetune.responder_selector import SelectorTraining

ARTICLES = {
    "en/delivery.md": (
        "Delivery",
        "## Standard delivery\n\nStandard delivery takes 3-5 business days. It costs 4.99 EUR.\n\n"
        "## Express delivery\n\nExpress delivery arrives the next day for 9.99 EUR.\n",
    ),
    "en/returns.md": (
        "Returns",
        "## Return period\n\nYou can return products within 30 days. Returns are free.\n\n"
        "## Not returnable\n\n- opened software;\n- engraved items.\n",
    ),
    "es/delivery.md": (
        "Entrega",
        "## Entrega estándar\n\nLa entrega estándar tarda de 3 a 5 días. Cuesta 4,99 EUR.\n",
    ),
}
DELIVERY = Passage(  # a retrieved passage of the tiny help centre
    "en/delivery.md",
    "Delivery",
    "It takes 3-5 business days. Standard delivery costs 4.99 EUR.",
    "en",
    0.9,
)
QA = [
    (
        "en",
        "How long does standard delivery take?",
        "Standard delivery takes 3-5 business days.",
        "delivery",
    ),
    ("en", "How much is standard delivery?", "Standard delivery costs 4.99 EUR.", "delivery"),
    (
        "en",
        "Is there express delivery?",
        "Express delivery arrives the next day for 9.99 EUR.",
        "delivery",
    ),
    ("en", "How long can I return things?", "You can return products within 30 days.", "returns"),
    ("en", "Do returns cost money?", "Returns are free.", "returns"),
    ("en", "What can't I return?", "Opened software and engraved items.", "returns"),
    ("es", "¿Cuánto tarda la entrega?", "La entrega estándar tarda de 3 a 5 días.", "delivery"),
    ("es", "¿Cuánto cuesta la entrega?", "La entrega estándar cuesta 4,99 EUR.", "delivery"),
]


def write_kb(root: Path) -> Path:
    for rel, (title, body) in ARTICLES.items():
        lang, name = rel.split("/")
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"---\nid: {name[:-3]}\ntitle: {title}\nlang: {lang}\n---\n\n# {title}\n\n{body}",
            encoding="utf-8",
        )
    return root


def examples() -> list[ResponderExample]:
    return [ResponderExample(q, a, lang, "info", article) for lang, q, a, article in QA]


def write_data(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for lang, q, a, article in QA:
            row = {"question": q, "answer": a, "lang": lang, "intent": "info", "article": article}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def build_tiny_encoder(folder: Path, kb_root: Path) -> Path:
    """A random 4-layer BERT (hidden 32) with a Unigram tokenizer over the tiny corpus."""
    import torch
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import BertConfig, BertModel

    texts = [d.text for d in read_kb(kb_root)] + [f"{q} {a}" for _, q, a, _ in QA]
    texts += ["query: passage: intent: history: none info"]
    words = sorted(
        {w for t in texts for w in t.lower().split()} | {w for t in texts for w in t.split()}
    )
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    pieces += [(c, -8.0) for c in chars] + [("▁" + c, -8.5) for c in chars]
    pieces += [("▁" + w, -5.0) for w in words]
    pieces = list(dict((p, s) for p, s in pieces).items())
    tokenizer = Tokenizer(Unigram(pieces, unk_id=3, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(pieces),
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=160,
        pad_token_id=1,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    return folder


def tiny_training():
    from finetune.responder import ResponderTraining

    return ResponderTraining(
        trunk_layers=2,
        selector_layers=1,
        max_tokens=48,
        selector=SelectorTraining(batch_size=4, loop=LoopConfig(epochs=2, lr=1e-3)),
        rewriter=RewriterTraining(
            decoder_layers=1,
            batch_size=4,
            pretrain_pairs=16,
            pretrain=LoopConfig(epochs=1, lr=1e-3),
            finetune=LoopConfig(epochs=2, lr=1e-3),
        ),
        budget_s=120,
    )


def build_tiny_seq2seq(folder: Path, encoder_dir: Path) -> Path:
    """A random one-layer T5 sharing the tiny encoder's tokenizer (a stand-in for a user's
    pretrained t5 / bart)."""
    import torch
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(encoder_dir / "tokenizer.json"),
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
    )
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
