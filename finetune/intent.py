"""``parla finetune intent``: fine-tune the multilingual encoder into a calibrated intent model.

Full fine-tuning of every transformer layer (the 250k-row word-embedding matrix stays frozen:
96M of e5-small's 118M parameters, most rows never seen by a fine-tuning set) with the generic
loop of :mod:`finetune.training`. Then, on the validation set at the best weights: a
temperature that calibrates the probabilities, and the out-of-scope threshold, the highest that
costs at most ``oos_budget`` of in-scope validation accuracy. With an ``out_of_scope`` class in
the training data the model learns it too; without one the threshold alone finds it.

The output folder is a standard ``transformers`` model (``AutoModelForSequenceClassification``)
plus ``parla_intent.json`` and ``prototypes.npy`` (see :mod:`agent.intent`), written atomically.

    python -m finetune.intent --write-demo-splits DIR   # the demo data as train/valid/test files
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.datasets import (
    DEMO_DIR,
    SPLITS,
    IntentExample,
    demo_intents,
    demo_languages,
    read_intent_file,
    write_jsonl,
)
from agent.errors import ParlaError
from agent.intent import (
    OUT_OF_SCOPE,
    PROTOTYPES_FILE,
    IntentModelCard,
    IntentNetwork,
    KnnMemory,
    out_of_scope_index,
)
from finetune.partial import CachedStates, TopNetwork, can_split, freeze_all_but_top
from finetune.training import (
    TrainingConfig,
    configure_threads,
    copy_config,
    fingerprint,
    fit,
    freeze_input_embeddings,
    length_grouped_batches,
    remove_checkpoint,
    set_seed,
)

logger = logging.getLogger(__name__)

MAX_LENGTH_CAP = 128  # tokens: customer turns longer than this are rare and the end adds little
MIN_LENGTH = 16
KNN_TEMPERATURE = 0.05  # cosine differences of a few hundredths decide between neighbours
EVAL_BATCH = 64


# Measured on the demo data on 2 (shared) cores, see the note: training the top 4
# layers for 4 epochs scores like training all 12 (-0.9 points on validation) in a third of
# the time, and the higher rate suits the fewer weights.
INTENT_TRAINING = TrainingConfig(epochs=4, evals_per_epoch=1, patience=2, learning_rate=2e-4)


@dataclass(frozen=True)
class IntentTrainingSettings:
    """What `parla finetune intent` does beyond the generic loop."""

    base: str = "bundle:e5-small"  # hub id, local folder or bundle: name
    layers: int | None = None  # keep only the first N transformer layers (None: all)
    max_length: int | None = None  # tokens; None: the longest of 99% of the training texts
    dropout: float = 0.1  # hidden, attention and classifier dropout
    oos_budget: float = 0.01  # in-scope validation accuracy the out-of-scope threshold may cost
    freeze_embeddings: bool = True  # the word-embedding matrix (see freeze_input_embeddings)
    probe_init: bool = True  # start the output layer from a linear probe (LP-FT; see below)
    probe_c: float = 0.1  # inverse L2 strength of that logistic regression (soft: see below)
    train_layers: int | None = 4  # train the top N layers (bottom ones cached); None: every one
    prefix: str | None = None  # prepended to every text; None: "query: " for e5 models, else ""
    knn: bool = True  # keep the training examples' vectors: their nearest ones vote (see below)
    label_smoothing: float = 0.0  # share of each target spread over every intent
    # Intents added later from a few examples (agent.intent): the cosine floor they need is the
    # one that keeps `prototype_keep` of an intent's validation texts against a centroid of
    # `prototype_shots` of its training examples (see few_shot_floor).
    prototype_shots: int = 4
    prototype_keep: float = 0.9
    training: TrainingConfig = INTENT_TRAINING  # frozen, so sharing the default is safe


DEMO_SETTINGS = IntentTrainingSettings()  # `parla setup` trains with the command's defaults


# --- data -------------------------------------------------------------------------------------


def load_training_data(
    train_path: str, valid_spec: str, settings: IntentTrainingSettings
) -> tuple[list[IntentExample], list[IntentExample]]:
    """Read --train and --valid (a file, or a fraction of train to hold out, e.g. ``0.1``)."""
    train = read_intent_file(train_path)
    fraction = _as_fraction(valid_spec)
    if fraction is None:
        valid = read_intent_file(valid_spec)
    else:
        train, valid = stratified_split(train, fraction, settings.training.seed)
    check_examples(train, valid)
    return train, valid


def _as_fraction(spec: str) -> float | None:
    try:
        value = float(spec)
    except ValueError:
        return None
    if not 0.0 < value < 1.0:
        raise ParlaError(f"--valid {spec}: a held-out fraction must be between 0 and 1")
    return value


def stratified_split(
    examples: list[IntentExample], fraction: float, seed: int
) -> tuple[list[IntentExample], list[IntentExample]]:
    """Hold out ``fraction`` of each label (at least one example of labels with two or more)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[IntentExample]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example)
    train, valid = [], []
    for label in sorted(by_label):
        items = by_label[label]
        order = rng.permutation(len(items))
        n_valid = 0 if len(items) < 2 else max(1, round(fraction * len(items)))
        valid += [items[i] for i in order[:n_valid]]
        train += [items[i] for i in order[n_valid:]]
    return train, valid


def check_examples(train: list[IntentExample], valid: list[IntentExample]) -> list[str]:
    """The labels, or a one-line ParlaError for data that would train a wrong model."""
    for name, rows in (("train", train), ("valid", valid)):
        empty = [i for i, e in enumerate(rows, 1) if not e.text.strip()]
        if empty:
            raise ParlaError(
                f"{name}: {len(empty)} example(s) with empty text (first: example {empty[0]})"
            )
    counts = Counter(e.label for e in train)
    labels = sorted(counts)
    if len(labels) < 2:
        raise ParlaError(
            f"train has a single intent ({labels[0]!r}): a classifier needs at least two "
            f"(add {OUT_OF_SCOPE!r} examples to learn what is not {labels[0]!r})"
        )
    unseen = sorted({e.label for e in valid} - set(labels))
    if unseen:
        raise ParlaError(f"valid has labels that train lacks: {', '.join(unseen[:5])}")
    rare = [label for label in labels if counts[label] < 3]
    if rare:
        logger.warning("intents with fewer than 3 training examples: %s", ", ".join(rare))
    return labels


def data_fingerprint(*example_sets: Sequence[IntentExample]) -> str:
    digest = hashlib.sha256()
    for examples in example_sets:
        for e in examples:
            digest.update(f"{e.label}\t{e.lang}\t{e.text}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()[:16]


# --- model ------------------------------------------------------------------------------------


def load_base(base: str, labels: list[str], settings: IntentTrainingSettings) -> tuple[Any, Any]:
    """Tokenizer and a fresh :class:`IntentNetwork` on the base encoder."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from agent.models import ModelSpec

    folder = ModelSpec(base).resolve()
    extra: dict[str, Any] = {}
    if settings.layers is not None:
        extra["num_hidden_layers"] = settings.layers
    hf_logging.set_verbosity_error()  # unused-weight reports are expected when trimming layers
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        encoder = AutoModel.from_pretrained(
            folder,
            add_pooling_layer=False,
            hidden_dropout_prob=settings.dropout,
            attention_probs_dropout_prob=settings.dropout,
            **extra,
        )
    except (OSError, ValueError, TypeError) as exc:
        raise ParlaError(f"cannot load base model {base!r} as an encoder: {exc}") from None
    return tokenizer, IntentNetwork(encoder, len(labels), settings.dropout)


def choose_max_length(token_lengths: Sequence[int], requested: int | None) -> int:
    """The longest of 99% of the training texts (a few longer ones get truncated)."""
    if requested is not None:
        return max(4, requested)
    p99 = int(np.percentile(token_lengths, 99)) if token_lengths else MIN_LENGTH
    return int(min(MAX_LENGTH_CAP, max(MIN_LENGTH, p99)))


class Encoded:
    """Token ids of a set of examples (no padding), and their label ids."""

    def __init__(
        self,
        tokenizer: Any,
        examples: list[IntentExample],
        labels: list[str],
        max_length: int,
        prefix: str = "",
    ):
        index = {label: i for i, label in enumerate(labels)}
        self.ids: list[list[int]] = tokenizer(
            [prefix + e.text for e in examples], truncation=True, max_length=max_length
        )["input_ids"]
        self.labels = np.array([index.get(e.label, -1) for e in examples])
        self.lengths = [len(ids) for ids in self.ids]
        self.pad_id = tokenizer.pad_token_id or 0

    def batch(self, rows: np.ndarray) -> dict[str, Any]:
        import torch

        width = max(self.lengths[i] for i in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, : self.lengths[i]] = torch.tensor(self.ids[i])
            mask[r, : self.lengths[i]] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(self.labels[rows])}


def predict(model: Any, data: Any, unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Logits and mean-pooled sentence vectors (unit length) for every example, in order.

    ``data`` is :class:`Encoded` for the whole network, or cached states for the top layers.
    """
    import torch

    model.eval()
    order = np.argsort(data.lengths)
    logits = np.zeros((len(order), model.head.out_features), np.float32)
    pooled = np.zeros((len(order), model.head.in_features), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), EVAL_BATCH):
            rows = order[start : start + EVAL_BATCH]
            batch = data.batch(rows)
            batch.pop("labels")
            out = model(**batch)
            logits[rows] = out.logits.float().numpy()
            pooled[rows] = out.pooled.float().numpy()
    if unit:
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return logits, pooled


def init_head_from_probe(model: Any, features: np.ndarray, labels: np.ndarray, c: float) -> float:
    """Fit a logistic regression on the frozen encoder's sentence vectors and start the output
    layer from it; returns the probe's training accuracy.

    "Linear probing then fine-tuning" (Kumar et al., ICLR 2022): a random output layer sends
    large, random gradients into the pretrained encoder during the first steps and distorts the
    features the other languages rely on; a probed layer starts near the frozen encoder's best
    (~85% on the demo data). The probe is kept soft (small ``c``): a probe that fits the
    training set perfectly leaves almost no gradient for the encoder to learn from.
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    probe = LogisticRegression(C=c, max_iter=500).fit((features - mean) / scale, labels)
    weight = probe.coef_ / scale  # fold the standardisation back into the layer
    bias = probe.intercept_ - weight @ mean
    if weight.shape[0] != model.head.out_features:  # a class missing from training
        return 0.0
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        model.head.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return float(probe.score((features - mean) / scale, labels))


# --- calibration ------------------------------------------------------------------------------


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation negative log-likelihood (a 1-D grid search)."""
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    if len(labels) == 0:
        return 1.0
    best_t, best_nll = 1.0, np.inf
    # Bounded: a perfectly separated validation set would otherwise drive it towards 0.
    for t in np.exp(np.linspace(np.log(0.25), np.log(20.0), 400)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_oos_threshold(
    probs: np.ndarray, labels: np.ndarray, oos_index: int | None, budget: float
) -> float:
    """The highest threshold on the best in-scope probability that costs at most ``budget`` of
    in-scope validation accuracy (out-of-scope recall only grows with the threshold)."""
    pred = probs.argmax(axis=1)
    in_scope = labels != (oos_index if oos_index is not None else -2)
    correct = in_scope & (pred == labels)
    confident = np.sort(probs.max(axis=1)[correct])
    allowed = int(np.floor(budget * int(in_scope.sum())))
    if len(confident) == 0 or allowed <= 0:
        return 0.0
    # Rejecting `allowed` correct answers at most: the threshold sits at the next one's value.
    return float(confident[min(allowed, len(confident) - 1)])


def evaluate_decisions(
    probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str], threshold: float
) -> dict[str, float]:
    """Accuracy, in-scope accuracy and out-of-scope recall with the threshold applied."""
    oos = label_names.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in label_names else -2
    pred = probs.argmax(axis=1)
    pred = np.where((pred != oos) & (probs.max(axis=1) < threshold), oos, pred)
    is_oos = labels == oos
    metrics = {"accuracy": float(np.mean(pred == labels))}
    if (~is_oos).any():
        metrics["in_scope_accuracy"] = float(np.mean(pred[~is_oos] == labels[~is_oos]))
    if is_oos.any():
        metrics["oos_recall"] = float(np.mean(pred[is_oos] == oos))
    return metrics


# --- the whole run ----------------------------------------------------------------------------


def train_intent_model(
    train: list[IntentExample],
    valid: list[IntentExample],
    out: Path,
    settings: IntentTrainingSettings,
    desc: str = "intent fine-tuning",
) -> dict[str, Any]:
    """Fine-tune, calibrate and save; returns the command's JSON result."""
    started = time.monotonic()
    labels = check_examples(train, valid)
    configure_threads(settings.training.threads)
    set_seed(settings.training.seed)
    tokenizer, model = load_base(settings.base, labels, settings)
    prefix = text_prefix(settings)
    lengths = tokenizer([prefix + e.text for e in train])["input_ids"]
    max_length = choose_max_length([len(x) for x in lengths], settings.max_length)
    train_data = Encoded(tokenizer, train, labels, max_length, prefix)
    valid_data = Encoded(tokenizer, valid, labels, max_length, prefix)
    logger.info(
        "%d train / %d valid examples, %d intents, max_length %d, prefix %r",
        len(train), len(valid), len(labels), max_length, prefix,
    )  # fmt: skip
    model.label_smoothing = settings.label_smoothing
    trainee, train_source, valid_source = _prepare(model, train_data, valid_data, settings)
    result = _fit(trainee, train_source, valid_source, out, settings, labels, desc)
    _, train_vectors = predict(trainee, train_source)  # the cached path gives the same vectors
    logits, vectors = predict(model, valid_data)
    memory = KnnMemory(train_vectors, train_data.labels, len(labels)) if settings.knn else None
    card = _calibrate(logits, vectors, valid_data.labels, labels, settings, memory)
    prototypes = class_centroids(
        np.concatenate([train_vectors, vectors]),
        np.concatenate([train_data.labels, valid_data.labels]),
        len(labels),
    )
    floor = few_shot_floor(
        train_vectors,
        train_data.labels,
        vectors,
        valid_data.labels,
        settings,
        skip=out_of_scope_index(labels),
    )
    shown = "the default" if floor is None else f"{floor:.3f}"
    logger.info(
        "an intent added from %d examples needs a cosine of %s", settings.prototype_shots, shown
    )
    card = replace(
        card,
        prototype_min_similarity=floor,
        max_length=max_length,
        prefix=prefix,
        base=settings.base,
        languages=tuple(sorted({e.lang for e in train if e.lang})),
        training={**asdict(settings.training), "layers": settings.layers,
                  "train_layers": settings.train_layers, "dropout": settings.dropout,
                  "train_examples": len(train), "valid_examples": len(valid), **asdict(result),
                  "total_seconds": round(time.monotonic() - started, 1)},
        data_fingerprint=data_fingerprint(train, valid),
        settings_fingerprint=fingerprint(settings=asdict(settings)),
    )  # fmt: skip
    _save(out, model, tokenizer, prototypes, card, memory)
    return {
        "out": str(out),
        "best_valid_accuracy": round(result.best_metric, 4),
        "epochs": result.epochs,
        "seconds": round(time.monotonic() - started, 1),
        "train_seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "stopped": result.stopped,
        "max_length": max_length,
        "temperature": round(card.temperature, 4),
        "oos_threshold": round(card.oos_threshold, 4),
        "valid": card.metrics,
    }


def text_prefix(settings: IntentTrainingSettings) -> str:
    """e5 models were trained with "query: " in front of questions; others with nothing."""
    if settings.prefix is not None:
        return settings.prefix
    return "query: " if "e5" in settings.base.lower() else ""


def _prepare(model, train_data, valid_data, settings):  # type: ignore[no-untyped-def]
    """What the loop trains and feeds it: the whole network, or its top layers from a cache."""
    k = settings.train_layers
    n_layers = len(getattr(getattr(model.encoder, "encoder", None), "layer", ()))
    if k is not None and 0 < k < n_layers and can_split(model.encoder):
        trainable = freeze_all_but_top(model.encoder, k)
        logger.info(
            "training the top %d of %d layers (%.1fM weights)", k, n_layers, trainable / 1e6
        )
        train_source = CachedStates(model.encoder, train_data, k, "caching train")
        valid_source = CachedStates(model.encoder, valid_data, k, "caching valid")
        if settings.probe_init:
            accuracy = init_head_from_probe(
                model, train_source.features, train_data.labels, settings.probe_c
            )
            logger.info("output layer from a linear probe (train accuracy %.3f)", accuracy)
        return TopNetwork(model, k), train_source, valid_source
    if k is not None and k < n_layers:
        logger.warning("cannot train only the top layers of this encoder: training all of them")
    frozen = freeze_input_embeddings(model) if settings.freeze_embeddings else 0
    logger.info("training every layer (%.1fM word-embedding weights frozen)", frozen / 1e6)
    if settings.probe_init:
        _, features = predict(model, train_data, unit=False)
        accuracy = init_head_from_probe(model, features, train_data.labels, settings.probe_c)
        logger.info("output layer from a linear probe (train accuracy %.3f)", accuracy)
    return model, train_data, valid_data


def _save(
    out: Path, model: Any, tokenizer: Any, prototypes: np.ndarray, card: Any, memory: Any
) -> None:
    from agent.models import atomic_dir

    with atomic_dir(out) as tmp:
        model.save(tmp)
        tokenizer.save_pretrained(tmp)
        np.save(tmp / PROTOTYPES_FILE, prototypes, allow_pickle=False)
        if memory is not None and card.knn_k > 0:
            memory.save(tmp)
        card.save(tmp)
    remove_checkpoint(_checkpoint_dir(out))


def _checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint")


def _fit(model, train_data, valid_data, out, settings, labels, desc):  # type: ignore[no-untyped-def]
    config = settings.training

    def batches_for_epoch(epoch: int) -> list[dict[str, Any]]:
        rows = length_grouped_batches(train_data.lengths, config.batch_size, config.seed + epoch)
        return [train_data.batch(r) for r in rows]

    def evaluate() -> float:
        logits, _ = predict(model, valid_data)
        return float(np.mean(logits.argmax(axis=1) == valid_data.labels))

    run_id = fingerprint(
        settings=asdict(settings),
        labels=labels,
        lengths=list(train_data.lengths),
        y=train_data.labels.tolist(),
    )
    head = list(model.head.parameters())
    return fit(
        model,
        batches_for_epoch,
        evaluate,
        config,
        _checkpoint_dir(out),
        run_id,
        desc=desc,
        head=head,
    )


KNN_GRID = ((5, 10, 20), (0.25, 0.5, 0.75))  # neighbours, and the vote's share


def choose_knn(
    probs: np.ndarray, vectors: np.ndarray, labels: np.ndarray, memory: KnnMemory | None
) -> tuple[int, float]:
    """The (k, weight) whose mix is most accurate on validation; (0, 0.0) if none helps."""
    best = (float(np.mean(probs.argmax(1) == labels)), 0, 0.0)
    if memory is None:
        return 0, 0.0
    for k in KNN_GRID[0]:
        votes = memory.vote(vectors, k, KNN_TEMPERATURE)
        for weight in KNN_GRID[1]:
            accuracy = float(np.mean(((1 - weight) * probs + weight * votes).argmax(1) == labels))
            if accuracy > best[0] + 1e-9:
                best = (accuracy, k, weight)
    return best[1], best[2]


def few_shot_floor(
    train_vectors: np.ndarray,
    train_labels: np.ndarray,
    valid_vectors: np.ndarray,
    valid_labels: np.ndarray,
    settings: IntentTrainingSettings,
    skip: int | None = None,
    draws: int = 3,
) -> float | None:
    """The cosine an intent added from a few examples should need, in this model's space.

    Each trained intent (but ``skip``) plays a new one: ``draws`` times, the centroid of
    ``prototype_shots`` of its training vectors, against its validation vectors. The floor
    keeps ``prototype_keep`` of those cosines. A fine-tuned space has its own scale (demo
    model: median 0.60, where the raw encoder's cosines run over 0.8), so no fixed floor fits.
    """
    rng = np.random.default_rng(settings.training.seed)
    cosines: list[np.ndarray] = []
    for label in np.unique(valid_labels):
        pool = np.flatnonzero(train_labels == label)
        if label == skip or len(pool) < settings.prototype_shots:
            continue
        own = valid_vectors[valid_labels == label]
        for _ in range(draws):
            mean = train_vectors[rng.choice(pool, settings.prototype_shots, replace=False)].mean(0)
            cosines.append(own @ (mean / max(1e-12, float(np.linalg.norm(mean)))))
    if not cosines:
        return None  # no intent has enough examples: the classifier's default floor applies
    return float(np.quantile(np.concatenate(cosines), 1.0 - settings.prototype_keep))


def class_centroids(vectors: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    centroids = np.zeros((n, vectors.shape[1]), np.float32)
    for i in range(n):
        if (labels == i).any():
            centroids[i] = vectors[labels == i].mean(axis=0)
    return centroids


def _calibrate(logits, vectors, valid_labels, labels, settings, memory):  # type: ignore[no-untyped-def]
    """Temperature, the neighbours' vote, then the out-of-scope threshold, all on validation."""
    temperature = fit_temperature(logits, valid_labels)
    probs = softmax(logits, temperature)
    k, weight = choose_knn(probs, vectors, valid_labels, memory)
    if k:
        probs = (1 - weight) * probs + weight * memory.vote(vectors, k, KNN_TEMPERATURE)
    oos_index = out_of_scope_index(labels)
    threshold = fit_oos_threshold(probs, valid_labels, oos_index, settings.oos_budget)
    metrics = evaluate_decisions(probs, valid_labels, labels, threshold)
    metrics["accuracy_without_threshold"] = float(np.mean(probs.argmax(1) == valid_labels))
    metrics["classifier_only_accuracy"] = float(np.mean(logits.argmax(1) == valid_labels))
    card = IntentModelCard(
        labels=tuple(labels),
        temperature=temperature,
        oos_threshold=threshold,
        learned_out_of_scope=oos_index is not None,
        knn_k=k,
        knn_weight=weight,
        knn_temperature=KNN_TEMPERATURE,
        metrics={k: round(v, 4) for k, v in metrics.items()},
    )
    logger.info("temperature %.3f, %d-NN vote weight %.2f, out-of-scope threshold %.3f, valid %s",
                temperature, k, weight, threshold, card.metrics)  # fmt: skip
    return card


# --- command line -----------------------------------------------------------------------------


def settings_from_args(args: argparse.Namespace) -> IntentTrainingSettings:
    base = IntentTrainingSettings()
    training = copy_config(
        base.training,
        epochs=getattr(args, "epochs", None),
        batch_size=getattr(args, "batch_size", None),
        learning_rate=getattr(args, "lr", None),
        seed=getattr(args, "seed", None),
        threads=getattr(args, "threads", None),
        max_minutes=getattr(args, "max_minutes", None),
    )
    return IntentTrainingSettings(
        base=args.base or base.base,
        layers=getattr(args, "layers", None),
        train_layers=_train_layers(getattr(args, "train_layers", None), base.train_layers),
        max_length=getattr(args, "max_length", None),
        training=training,
    )


def _train_layers(flag: int | None, default: int | None) -> int | None:
    """``--train-layers 0`` trains every layer (full fine-tuning); unset keeps the default."""
    if flag is None:
        return default
    if flag < 0:
        raise ParlaError("--train-layers must be 0 (every layer) or a positive number")
    return flag or None


def cmd_finetune_intent(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_from_args(args)
    train, valid = load_training_data(args.train, args.valid, settings)
    return train_intent_model(train, valid, Path(args.out).expanduser(), settings)


def demo_split(split: str) -> list[IntentExample]:
    return demo_intents(split, demo_languages())


def ensure_demo_intent_model(home: Path | None = None) -> Path:
    """The demo intent model in ``demo_dir(home)/intent``, fine-tuned first if missing or stale.

    Trained on the demo data's train split in every language present (valid split: early
    stopping and calibration). Idempotent: a model trained on the same data with the same
    settings is reused.
    """
    from agent.models import demo_dir

    final = demo_dir(home) / "intent"
    train, valid = demo_split("train"), demo_split("valid")
    wanted = data_fingerprint(train, valid)
    try:
        card = IntentModelCard.load(final)
        same_recipe = card.settings_fingerprint == fingerprint(settings=asdict(DEMO_SETTINGS))
        if card.data_fingerprint == wanted and same_recipe:
            return final
        logger.info("demo intent data or settings changed since %s was trained: retraining", final)
    except ParlaError:
        pass
    result = train_intent_model(train, valid, final, DEMO_SETTINGS, desc="demo intent model")
    logger.info("demo intent model: %s", result)
    return final


def write_demo_splits(folder: Path) -> dict[str, str]:
    """The demo intents as contract-format files: ``train``, ``valid``, ``test`` ``.jsonl``."""
    paths = {}
    for split in SPLITS:
        rows = [{"text": e.text, "label": e.label, "lang": e.lang} for e in demo_split(split)]
        path = folder / f"{split}.jsonl"
        write_jsonl(path, rows)
        paths[split] = str(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.intent", description=__doc__)
    parser.add_argument(
        "--write-demo-splits",
        metavar="DIR",
        required=True,
        help=f"write the demo intents of {DEMO_DIR / 'intents'} as split files",
    )
    args = parser.parse_args(argv)
    try:
        for split, path in write_demo_splits(Path(args.write_demo_splits)).items():
            print(f"{split}: {path}")
    except ParlaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
