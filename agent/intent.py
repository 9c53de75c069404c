"""Intent classification: one fine-tuned multilingual encoder, calibrated, honest when unsure.

The network (:class:`IntentNetwork`) is the encoder's mean-pooled sentence vector, dropout and a
linear layer. Mean pooling, not the first token: multilingual-e5 was trained to put a sentence's
meaning in the mean of its token vectors, and its ``<s>`` output is the same vector for every
input (cosine 1.000 between unrelated sentences), so a first-token head has to be taught from
nothing and barely moves in a short CPU fine-tune. A folder written by ``parla finetune intent``
is a standard ``transformers`` encoder folder (``AutoModel`` and ``AutoTokenizer`` load it)
plus ``intent_head.safetensors`` (the linear layer), ``parla_intent.json``
(:class:`IntentModelCard`: labels, the temperature fitted on validation, the out-of-scope
threshold, the token limit) and ``prototypes.npy`` (the mean sentence vector of each intent).

:class:`IntentClassifier` turns a text into an :class:`~agent.messages.Intent`: the calibrated
probabilities, ``out_of_scope`` when the best in-scope intent falls under the threshold, and
the runners-up as alternatives.

New intents can be added without retraining, from a few examples or a one-line description
(:meth:`IntentClassifier.add_intent`): they are served from embedding prototypes, compared
with the trained intents' prototypes in the same vector space, and reported with
``Intent.source == "prototype"`` until the next fine-tune learns them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from agent.config import IntentConfig
from agent.errors import ParlaError
from agent.messages import Intent, IntentScore
from agent.precision import inference_dtype

logger = logging.getLogger(__name__)

CARD_FILE = "parla_intent.json"
HEAD_FILE = "intent_head.safetensors"
PROTOTYPES_FILE = "prototypes.npy"
LEGACY_FLOOR = 0.80  # an added intent's minimum cosine for cards without a calibrated one
MEMORY_VECTORS_FILE = "memory_vectors.npy"  # sentence vectors of the training examples
MEMORY_LABELS_FILE = "memory_labels.npy"  # their label ids
CARD_FORMAT = 1
OUT_OF_SCOPE = "out_of_scope"
MAX_INPUT_CHARS = 2_000  # longer text is cut before tokenising (the token limit cuts it anyway)
ALTERNATIVES = 3  # runners-up reported with each intent
BATCH_SIZE = 32  # texts per forward pass in classify_batch


@dataclass(frozen=True)
class IntentModelCard:
    """What a fine-tuned intent folder needs besides its weights."""

    labels: tuple[str, ...]
    """Class names in the model's output order."""
    temperature: float = 1.0
    """Logits are divided by it before the softmax (fitted on validation: calibration)."""
    oos_threshold: float = 0.0
    """A best in-scope probability under this becomes ``out_of_scope``."""
    max_length: int = 64
    """Tokens the model was trained with; longer input is truncated."""
    prefix: str = ""
    """Prepended to every text (``query: `` for e5 models, as in their training)."""
    knn_k: int = 0
    """Nearest training examples that vote (0: no memory)."""
    knn_weight: float = 0.0
    """Share of the vote in the final probabilities (the classifier has the rest)."""
    knn_temperature: float = 0.05
    """Softmax temperature turning the neighbours' cosines into vote weights."""
    learned_out_of_scope: bool = False
    """True when ``out_of_scope`` was a training class (else only the threshold finds it)."""
    base: str = ""
    """The model it was fine-tuned from."""
    languages: tuple[str, ...] = ()
    """Languages of the training data (from its ``lang`` field)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Validation metrics at the saved weights."""
    training: dict[str, Any] = field(default_factory=dict)
    """Training settings and timings, for the record."""
    prototype_min_similarity: float | None = None
    """Cosine an added intent's centroid needs: fitted on validation (``few_shot_floor``);
    None in cards written before it was."""
    data_fingerprint: str = ""
    """Hash of the training data (the demo model is rebuilt when its data changes)."""
    settings_fingerprint: str = ""
    """Hash of the training settings (...or when the way it is trained changes)."""
    format: int = CARD_FORMAT

    def save(self, folder: Path) -> None:
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False)
        (folder / CARD_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> IntentModelCard:
        path = folder / CARD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ParlaError(
                f"{folder} is not a Parla intent model (no {CARD_FILE}): "
                "train one with `parla finetune intent`"
            ) from None
        except ValueError as exc:
            raise ParlaError(f"{path} is damaged ({exc}): train the model again") from None
        if data.get("format") != CARD_FORMAT:
            raise ParlaError(f"{path} has format {data.get('format')}; retrain the model")
        data["labels"] = tuple(data["labels"])
        data["languages"] = tuple(data.get("languages", ()))
        return cls(**data)


@dataclass
class IntentOutput:
    """What :class:`IntentNetwork` returns (the training loop reads ``loss`` and ``logits``)."""

    logits: torch.Tensor
    pooled: torch.Tensor  # (batch, hidden) mean of the token vectors, before dropout
    loss: torch.Tensor | None = None


class IntentNetwork(nn.Module):
    """Encoder -> mean of the token vectors -> dropout -> linear layer over the intents."""

    def __init__(self, encoder: Any, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), num_labels)
        self.label_smoothing = 0.0  # training only: share of the target spread over all labels

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None, **extra: torch.Tensor,
    ) -> IntentOutput:  # fmt: skip
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
        weights = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
        pooled = (hidden.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return IntentOutput(logits=logits, pooled=pooled, loss=loss)

    def get_input_embeddings(self) -> nn.Module:
        module: nn.Module = self.encoder.get_input_embeddings()
        return module

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(folder)
        head = {name: t.detach().contiguous() for name, t in self.head.state_dict().items()}
        save_file(head, str(folder / HEAD_FILE))

    @classmethod
    def load(cls, folder: Path) -> IntentNetwork:
        from safetensors.torch import load_file
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(folder, add_pooling_layer=False)
        head = load_file(str(folder / HEAD_FILE))
        network = cls(encoder, int(head["weight"].shape[0]))
        network.head.load_state_dict(head)
        return network.eval()


class KnnMemory:
    """The training examples' sentence vectors: the nearest ones vote for their intent.

    Mixed with the classifier's probabilities it recovers what a few epochs of fine-tuning do
    not: on the demo data it adds about two points of test accuracy (see the issue's note).
    """

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, num_labels: int) -> None:
        self.vectors = _unit(vectors.astype(np.float32))
        self.labels = labels.astype(np.int64)
        self.num_labels = num_labels

    def vote(self, queries: np.ndarray, k: int, temperature: float) -> np.ndarray:
        """(queries, num_labels) vote shares from each query's ``k`` nearest examples."""
        k = min(k, len(self.labels))
        sims = queries @ self.vectors.T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, nearest, axis=1)
        weights = np.exp((top - top.max(axis=1, keepdims=True)) / temperature)
        votes = np.zeros((len(queries), self.num_labels), np.float32)
        np.add.at(votes, (np.arange(len(queries))[:, None], self.labels[nearest]), weights)
        return votes / votes.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        np.save(folder / MEMORY_VECTORS_FILE, self.vectors.astype(np.float16), allow_pickle=False)
        np.save(folder / MEMORY_LABELS_FILE, self.labels.astype(np.int32), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, num_labels: int) -> KnnMemory | None:
        vectors, labels = folder / MEMORY_VECTORS_FILE, folder / MEMORY_LABELS_FILE
        if not (vectors.exists() and labels.exists()):
            return None
        return cls(np.load(vectors, allow_pickle=False), np.load(labels, allow_pickle=False),
                   num_labels)  # fmt: skip


class IntentRecognizer(Protocol):
    """What the agent needs: one text in, one intent out."""

    def classify(self, text: str) -> Intent: ...


@dataclass
class _Prototype:
    label: str
    centroid: np.ndarray  # (dim,) unit mean of the examples' vectors
    description: bool  # built from a description rather than examples


class IntentClassifier:
    """The fine-tuned model, its calibration, and intents added since as prototypes.

    ``model`` is an :class:`IntentNetwork` in eval mode (or anything returning
    :class:`IntentOutput`) and ``tokenizer`` its tokenizer; :func:`load_intent_classifier`
    builds both from a folder.
    Thread-safe for classification; :meth:`add_intent` may run concurrently with it.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        card: IntentModelCard,
        prototypes: np.ndarray | None = None,
        config: IntentConfig | None = None,
        memory: KnnMemory | None = None,
    ) -> None:
        self.model, self.tokenizer, self.card = model, tokenizer, card
        self.memory = memory if card.knn_k > 0 and card.knn_weight > 0 else None
        self.config = config or IntentConfig()
        self.max_length = min(card.max_length, self.config.max_length)
        self.labels = card.labels
        self._oos = out_of_scope_index(self.labels)
        self._trained_prototypes = _unit(prototypes) if prototypes is not None else None
        self.prototype_min_similarity = _first_set(
            self.config.prototype_min_similarity, card.prototype_min_similarity, LEGACY_FLOOR
        )
        self._added: dict[str, _Prototype] = {}
        self._lock = threading.Lock()

    # --- classification -------------------------------------------------------------------

    def classify(self, text: str) -> Intent:
        return self.classify_batch([text])[0]

    def classify_batch(self, texts: Sequence[str]) -> list[Intent]:
        """One intent per text, in order. Empty or whitespace-only text is a ParlaError."""
        if isinstance(texts, str):
            raise TypeError("classify_batch takes a list of texts; use classify for one")
        cleaned = [_clean(t) for t in texts]
        out: list[Intent] = []
        for start in range(0, len(cleaned), BATCH_SIZE):
            chunk = cleaned[start : start + BATCH_SIZE]
            probs, vectors = self._forward(chunk)
            out += [self._decide(p, v) for p, v in zip(probs, vectors, strict=True)]
        return out

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities over ``labels`` (rows: texts), without the decision rules."""
        rows = [self._forward([_clean(t) for t in texts[i : i + BATCH_SIZE]])[0]
                for i in range(0, len(texts), BATCH_SIZE)]  # fmt: skip
        return np.concatenate(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit sentence vectors in the space the prototypes live in."""
        rows = [self._forward([_clean(t) for t in texts[i : i + BATCH_SIZE]])[1]
                for i in range(0, len(texts), BATCH_SIZE)]  # fmt: skip
        return np.concatenate(rows)

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and unit sentence vectors of a batch."""
        batch = self.tokenizer(
            [self.card.prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            output = self.model(**batch)
            probs = torch.softmax(output.logits.float() / self.card.temperature, dim=-1).numpy()
            vectors = _unit(output.pooled.float().numpy())
        if self.memory is not None:
            votes = self.memory.vote(vectors, self.card.knn_k, self.card.knn_temperature)
            probs = (1.0 - self.card.knn_weight) * probs + self.card.knn_weight * votes
        return probs, vectors

    def _decide(self, probs: np.ndarray, vector: np.ndarray) -> Intent:
        with self._lock:
            added = dict(self._added)
        if added and vector.size:
            found = self._prototype_intent(vector, added)
            if found is not None:
                return found
        return self.intent_from_probabilities(probs)

    def intent_from_probabilities(self, probs: np.ndarray) -> Intent:
        """The decision rules on one row of calibrated probabilities (trained intents only).

        A best in-scope probability under the card's threshold gives ``out_of_scope`` with
        confidence ``1 - best``, and every candidate (the best first) as alternatives, so the
        agent can still offer them.
        """
        order = np.argsort(-probs)
        alternatives = tuple(
            IntentScore(self.labels[i], float(probs[i])) for i in order[: ALTERNATIVES + 1]
        )
        best = int(order[0])
        if best == self._oos:
            return Intent(OUT_OF_SCOPE, float(probs[best]), alternatives[1:])
        if probs[best] < self.card.oos_threshold:
            # Unsure between in-scope intents: out of scope, and the candidates stay visible.
            in_scope = 1.0 - float(probs[best])
            return Intent(OUT_OF_SCOPE, in_scope, alternatives[:ALTERNATIVES])
        return Intent(self.labels[best], float(probs[best]), alternatives[1:])

    # --- few-shot and zero-shot intents ---------------------------------------------------

    def add_intent(
        self,
        label: str,
        examples: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        """Serve a new intent from a few example texts, or from a one-line description.

        Replaces an added intent of the same label. A label the model was trained on cannot be
        added (retrain instead). Works until the next fine-tune, which should include it.
        """
        label = (label or "").strip()
        texts = [t for t in (examples or ()) if t and t.strip()]
        if not label:
            raise ParlaError("an added intent needs a label")
        if label in self.labels:
            raise ParlaError(f"intent {label!r} is already trained; add examples and retrain")
        if not texts and not (description and description.strip()):
            raise ParlaError(f"intent {label!r} needs examples or a description")
        if self._trained_prototypes is None:
            raise ParlaError("this intent model has no prototypes.npy: retrain it to add intents")
        vectors = self.embed(texts or [description or ""])
        with self._lock:
            self._added[label] = _Prototype(label, _unit(vectors.mean(axis=0)), not texts)
        logger.info("added intent %s from %d %s", label, len(vectors),
                    "examples" if texts else "description")  # fmt: skip

    def remove_intent(self, label: str) -> None:
        with self._lock:
            self._added.pop(label, None)

    @property
    def added_intents(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._added)

    def _prototype_intent(self, vector: np.ndarray, added: dict[str, _Prototype]) -> Intent | None:
        """The added intent when the text is nearer its centroid than any trained intent's.

        Both sides are centroids in the fine-tuned encoder's space (trained intents: the mean
        of their validation examples, saved at training time), so the comparison is fair.
        """
        assert self._trained_prototypes is not None
        trained = self._trained_prototypes @ vector
        scores = {label: float(p.centroid @ vector) for label, p in added.items()}
        label = max(scores, key=scores.__getitem__)
        margin = self.config.prototype_margin
        if added[label].description:
            margin += self.config.description_margin
        nearest_trained = float(trained.max())
        if scores[label] < self.prototype_min_similarity or (
            scores[label] < nearest_trained + margin
        ):
            return None
        names = list(self.labels) + list(scores)
        sims = np.concatenate([trained, np.array(list(scores.values()), np.float32)])
        weights = np.exp((sims - sims.max()) / self.config.prototype_temperature)
        weights /= weights.sum()
        order = np.argsort(-weights)
        alternatives = tuple(
            IntentScore(names[i], float(weights[i])) for i in order[1 : ALTERNATIVES + 1]
        )
        return Intent(label, float(weights[names.index(label)]), alternatives, source="prototype")


def out_of_scope_index(labels: Sequence[str]) -> int | None:
    """Where ``out_of_scope`` is among ``labels`` (None: not a trained class)."""
    return labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else None


def _first_set(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _clean(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ParlaError("cannot classify an empty text")
    return " ".join(text[:MAX_INPUT_CHARS].split())


# --- loading --------------------------------------------------------------------------------

_CACHE: dict[tuple[str, int], IntentClassifier] = {}
_CACHE_LOCK = threading.Lock()


def load_intent_model_folder(folder: Path, config: IntentConfig) -> IntentClassifier:
    """Build a classifier from a fine-tuned folder (no caching; see load_intent_classifier)."""
    from transformers import AutoTokenizer

    card = IntentModelCard.load(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = IntentNetwork.load(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise ParlaError(f"cannot load the intent model in {folder}: {exc}") from None
    if len(card.labels) != model.head.out_features:
        raise ParlaError(f"{folder}: {CARD_FILE} and {HEAD_FILE} disagree; train it again")
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    if config.quantize:
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    else:
        model = model.to(inference_dtype(config.dtype))
    prototypes_path = folder / PROTOTYPES_FILE
    prototypes = np.load(prototypes_path, allow_pickle=False) if prototypes_path.exists() else None
    memory = KnnMemory.load(folder, len(card.labels))
    if card.knn_k > 0 and memory is None:
        raise ParlaError(f"{folder} lacks {MEMORY_VECTORS_FILE}: train the model again")
    return IntentClassifier(model, tokenizer, card, prototypes, config, memory)


def load_intent_classifier(config: IntentConfig | None = None) -> IntentClassifier:
    """The classifier for ``config.model``, loaded once per process and then shared."""
    config = config or IntentConfig()
    folder = resolve_intent_model(config.model)
    key = (str(folder.resolve()), hash(config))
    with _CACHE_LOCK:
        if key not in _CACHE:
            logger.info("loading intent model from %s", folder)
            _CACHE[key] = load_intent_model_folder(folder, config)
        return _CACHE[key]


def resolve_intent_model(name: str) -> Path:
    """The folder of ``demo:intent``, a local path, a ``bundle:`` entry or a hub id."""
    from agent.models import DEMO_PREFIX, ModelSpec, demo_path

    if name.startswith(DEMO_PREFIX) and not (demo_path(name) / CARD_FILE).exists():
        raise ParlaError(f"the demo intent model is missing ({demo_path(name)}): run `parla setup`")
    return ModelSpec(name).resolve()
