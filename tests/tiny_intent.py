"""A tiny random BERT classifier base and toy intent data, built inside the tests (seconds)."""

from __future__ import annotations

from pathlib import Path

from agent.datasets import IntentExample

WORDS = {
    "track_order": ["where", "is", "my", "order", "parcel", "track", "donde", "pedido"],
    "cancel_order": ["cancel", "my", "order", "stop", "anular", "pedido", "annuler"],
    "greeting": ["hello", "hi", "hola", "bonjour", "hallo", "there"],
    "out_of_scope": ["weather", "joke", "recipe", "flight", "football", "tiempo"],
}


def toy_examples(per_label: int = 24, seed: int = 0) -> list[IntentExample]:
    """Short texts whose words give their intent away: a tiny model learns them in seconds."""
    import random

    rng = random.Random(seed)
    out = []
    for label, words in WORDS.items():
        for i in range(per_label):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 5)))
            out.append(IntentExample(text, label, "en" if i % 2 else "es"))
    rng.shuffle(out)
    return out


def build_tiny_base(folder: Path, layers: int = 2, hidden: int = 32) -> Path:
    """A random-init BERT with a word-level tokenizer over the toy vocabulary."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = ["<pad>", "<unk>", "<s>", "</s>"] + sorted({w for ws in WORDS.values() for w in ws})
    vocab += [f"w{i}" for i in range(40)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
        eos_token="</s>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64,
        pad_token_id=0,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
