"""The intent classifier on a tiny fine-tuned model: decisions, prototypes, bad input."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.config import IntentConfig
from agent.errors import ParlaError
from agent.intent import (
    CARD_FILE,
    OUT_OF_SCOPE,
    IntentClassifier,
    IntentModelCard,
    load_intent_classifier,
    load_intent_model_folder,
)
from tests.tiny_intent import WORDS, build_tiny_base, toy_examples


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from finetune.intent import IntentTrainingSettings, train_intent_model
    from finetune.training import TrainingConfig

    root = tmp_path_factory.mktemp("intent")
    base = build_tiny_base(root / "base")
    examples = toy_examples(per_label=24)
    settings = IntentTrainingSettings(
        base=str(base), freeze_embeddings=False,
        training=TrainingConfig(epochs=6, batch_size=8, learning_rate=3e-3, evals_per_epoch=1,
                                patience=3, threads=1),
    )  # fmt: skip
    train_intent_model(examples[:72], examples[72:], root / "model", settings)
    return root / "model"


@pytest.fixture
def classifier(tiny_model) -> IntentClassifier:
    return load_intent_model_folder(tiny_model, IntentConfig(model=str(tiny_model)))


def test_folder_holds_a_standard_encoder_and_the_card(tiny_model):
    from transformers import AutoModel, AutoTokenizer

    AutoModel.from_pretrained(tiny_model)
    AutoTokenizer.from_pretrained(tiny_model)
    card = IntentModelCard.load(tiny_model)
    assert set(card.labels) == set(WORDS)
    assert card.learned_out_of_scope
    assert card.temperature > 0 and 0.0 <= card.oos_threshold < 1.0


def test_classify_returns_a_calibrated_intent_with_alternatives(classifier):
    intent = classifier.classify("where is my parcel")
    assert intent.label == "track_order"
    assert intent.source == "model"
    scores = [intent.confidence] + [a.confidence for a in intent.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert len(intent.alternatives) == 3
    assert intent.label not in {a.label for a in intent.alternatives}


def test_probabilities_sum_to_one(classifier):
    probs = classifier.probabilities(["hello there", "cancel my order"])
    assert probs.shape == (2, len(WORDS))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_batch_matches_one_by_one(classifier):
    texts = ["hola", "weather joke recipe", "cancel my order now", "donde pedido"]
    batch = classifier.classify_batch(texts)
    single = [classifier.classify(t) for t in texts]
    assert [i.label for i in batch] == [i.label for i in single]
    assert [i.confidence for i in batch] == pytest.approx([i.confidence for i in single], abs=1e-4)


def test_learned_out_of_scope(classifier):
    assert classifier.classify("weather football recipe").label == OUT_OF_SCOPE


def test_low_confidence_becomes_out_of_scope_with_the_candidates_kept(classifier):
    unsure = IntentClassifier(
        classifier.model, classifier.tokenizer, replace(classifier.card, oos_threshold=1.01)
    )
    intent = unsure.classify("where is my parcel")
    assert intent.label == OUT_OF_SCOPE
    assert intent.alternatives[0].label == "track_order"
    assert intent.confidence == pytest.approx(1.0 - intent.alternatives[0].confidence)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(classifier, text):
    with pytest.raises(ParlaError, match="empty"):
        classifier.classify(text)


@pytest.mark.parametrize(
    "text",
    ["😀🎉👍", "order " * 10_000, "w" * 50_000, "where is my 订单 VT-12345678 παρακαλώ"],
)
def test_odd_text_is_classified_not_crashed(classifier, text):
    intent = classifier.classify(text)
    assert intent.label in classifier.labels
    assert 0.0 <= intent.confidence <= 1.0


def test_classify_batch_refuses_a_bare_string(classifier):
    with pytest.raises(TypeError):
        classifier.classify_batch("hello")


def test_few_shot_intent_is_served_from_prototypes(classifier):
    classifier.add_intent("refund", ["w1 w2 w3", "w2 w3 w4", "w3 w4 w1", "w4 w1 w2"])
    intent = classifier.classify("w2 w1 w4")
    assert (intent.label, intent.source) == ("refund", "prototype")
    assert classifier.classify("where is my parcel").label == "track_order"
    classifier.remove_intent("refund")
    assert classifier.classify("w2 w1 w4").source == "model"


def test_the_few_shot_floor_comes_from_the_card_unless_configured(tiny_model):
    card = IntentModelCard.load(tiny_model)
    assert card.prototype_min_similarity is not None  # fitted when the model was trained
    default = load_intent_model_folder(tiny_model, IntentConfig(model=str(tiny_model)))
    assert default.prototype_min_similarity == pytest.approx(card.prototype_min_similarity)
    configured = IntentConfig(model=str(tiny_model), prototype_min_similarity=0.99)
    assert load_intent_model_folder(tiny_model, configured).prototype_min_similarity == 0.99


def test_a_card_without_a_fitted_floor_keeps_the_old_one():
    card = IntentModelCard(labels=("a", "b"))
    classifier = IntentClassifier(None, None, card, np.eye(2))
    assert classifier.prototype_min_similarity == 0.80


def test_zero_shot_intent_from_a_description(classifier):
    classifier.add_intent("loyalty", description="w10 w11 w12 w13")
    assert classifier.added_intents == ("loyalty",)
    assert classifier.classify("w10 w11 w12 w13").label == "loyalty"


@pytest.mark.parametrize(
    ("label", "examples", "description", "message"),
    [("", ["x"], None, "label"), ("track_order", ["x"], None, "already trained"),
     ("refund", [], None, "examples or a description"), ("refund", ["  "], " ", "examples")],
)  # fmt: skip
def test_bad_added_intents_are_refused(classifier, label, examples, description, message):
    with pytest.raises(ParlaError, match=message):
        classifier.add_intent(label, examples, description)


def test_loaded_once_per_process(tiny_model):
    config = IntentConfig(model=str(tiny_model))
    assert load_intent_classifier(config) is load_intent_classifier(config)


def test_a_folder_without_a_card_is_a_clear_error(tmp_path):
    with pytest.raises(ParlaError, match=CARD_FILE):
        load_intent_model_folder(tmp_path, IntentConfig())


def test_a_missing_demo_model_says_run_setup(parla_home):
    with pytest.raises(ParlaError, match="parla setup"):
        load_intent_classifier(IntentConfig(model="demo:intent"))


def test_quantised_model_agrees(tiny_model, classifier):
    quantised = load_intent_model_folder(tiny_model, IntentConfig(quantize=True))
    texts = ["where is my parcel", "hola", "cancel my order", "weather joke"]
    assert [i.label for i in quantised.classify_batch(texts)] == [
        i.label for i in classifier.classify_batch(texts)
    ]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_weights_take_the_configured_type_and_agree(tiny_model, dtype):
    import torch

    exact = load_intent_model_folder(tiny_model, IntentConfig(dtype="float32"))
    model = load_intent_model_folder(tiny_model, IntentConfig(dtype=dtype))
    assert {p.dtype for p in model.model.parameters()} == {getattr(torch, dtype)}
    texts = ["where is my parcel", "hola", "cancel my order", "weather joke"]
    assert [i.label for i in model.classify_batch(texts)] == [
        i.label for i in exact.classify_batch(texts)
    ]


def test_an_unknown_weight_type_is_a_clear_error(tiny_model):
    with pytest.raises(ParlaError, match="dtype 'float8'"):
        load_intent_model_folder(tiny_model, IntentConfig(dtype="float8"))


# --- the real demo model (built by `parla setup`; built here if missing) ----------------------


@pytest.fixture(scope="module")
def demo_classifier() -> IntentClassifier:
    from finetune.intent import ensure_demo_intent_model

    folder = ensure_demo_intent_model()
    return load_intent_model_folder(folder, IntentConfig(model=str(folder)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Where is my parcel? I ordered it a week ago", "track_order"),
        ("Quiero cancelar el pedido que hice esta mañana", "cancel_order"),
        ("Comment réinitialiser mon mot de passe ?", "reset_password"),
        ("Ich möchte mit einem Menschen sprechen, nicht mit einem Bot", "request_human"),
        ("Vocês aceitam pagamento com PayPal?", "payment_methods"),
        ("你们周日开门吗？", "store_info"),
        ("Can you recommend a good pasta recipe?", OUT_OF_SCOPE),
    ],
)
def test_demo_model_understands_the_six_languages(demo_classifier, text, label):
    assert demo_classifier.classify(text).label == label


@pytest.mark.slow
def test_demo_model_test_split_accuracy(demo_classifier):
    """A regression floor, not issue #5's target (0.95 per language): setup's model measures
    0.920 overall and 0.884 in its weakest language (fr) on 2026-11-29."""
    from agent.datasets import demo_intents
    from eval.intent import evaluate_intents

    metrics, _ = evaluate_intents(demo_classifier, demo_intents("test"))
    assert metrics["accuracy"] >= 0.9
    assert min(row["accuracy"] for row in metrics["per_language"].values()) >= 0.85


@pytest.mark.slow
def test_demo_model_serves_a_new_intent_from_examples(demo_classifier):
    demo_classifier.add_intent(
        "book_demo_session",
        ["I'd like to book a product demo in store", "Reservar una demostración en tienda",
         "Je veux réserver une démonstration en magasin", "Ich möchte eine Vorführung buchen"],
    )  # fmt: skip
    try:
        intent = demo_classifier.classify("Can I book a demonstration of the laptop in store?")
        assert (intent.label, intent.source) == ("book_demo_session", "prototype")
        assert demo_classifier.classify("Where is my order?").label == "track_order"
    finally:
        demo_classifier.remove_intent("book_demo_session")


def test_knn_memory_votes_for_the_nearest_examples():
    from agent.intent import KnnMemory

    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    memory = KnnMemory(vectors, np.array([0, 0, 1, 1]), num_labels=3)
    votes = memory.vote(np.array([[1.0, 0.05], [0.05, 1.0]]), k=2, temperature=0.05)
    assert votes.shape == (2, 3)
    assert np.allclose(votes.sum(axis=1), 1.0)
    assert votes[0].argmax() == 0 and votes[1].argmax() == 1
    assert votes[:, 2].max() == 0.0  # no example of label 2: no vote


def test_knn_memory_round_trip(tmp_path):
    from agent.intent import KnnMemory

    memory = KnnMemory(np.eye(3), np.array([0, 1, 2]), num_labels=3)
    memory.save(tmp_path)
    again = KnnMemory.load(tmp_path, 3)
    assert again is not None and np.allclose(again.vectors, memory.vectors, atol=1e-3)
    assert KnnMemory.load(tmp_path / "missing", 3) is None


def test_knn_is_only_used_when_it_helps_on_validation():
    from agent.intent import KnnMemory
    from finetune.intent import choose_knn

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    vectors = np.eye(3)[labels] + 0.05 * rng.normal(size=(60, 3))
    memory = KnnMemory(vectors, labels, 3)
    perfect = np.eye(3)[labels]
    assert choose_knn(perfect, vectors, labels, memory) == (0, 0.0)
    useless = np.full((60, 3), 1 / 3) + 0.01 * rng.normal(size=(60, 3))
    k, weight = choose_knn(useless, vectors, labels, memory)
    assert k > 0 and weight > 0
