"""`parla finetune intent` and `parla eval intent`: data checks, calibration, the commands."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.cli import main
from agent.datasets import IntentExample, write_jsonl
from agent.errors import ParlaError
from finetune import intent as ft
from finetune.intent import (
    check_examples,
    choose_max_length,
    fit_oos_threshold,
    fit_temperature,
    load_training_data,
    softmax,
    stratified_split,
)
from finetune.training import TrainingConfig
from tests.tiny_intent import build_tiny_base, toy_examples


def rows(examples):
    return [{"text": e.text, "label": e.label, "lang": e.lang} for e in examples]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    examples = toy_examples(per_label=24)
    write_jsonl(root / "train.jsonl", rows(examples[:72]))
    write_jsonl(root / "valid.jsonl", rows(examples[72:]))
    build_tiny_base(root / "base")
    return root


# --- bad input: one clear line each -----------------------------------------------------------


def bad_input(tmp_path, train_rows, valid_rows=None, name="train.jsonl"):
    train = tmp_path / name
    if name.endswith(".csv"):
        train.write_text(train_rows)
    else:
        write_jsonl(train, train_rows)
    valid = tmp_path / "valid.jsonl"
    write_jsonl(valid, valid_rows or [{"text": "hello", "label": "greeting"}])
    return str(train), str(valid)


@pytest.mark.parametrize(
    ("train_rows", "valid_rows", "message"),
    [
        ([{"utterance": "hi", "intent": "greeting"}], None, "needs a text and a label"),
        ("utterance,intent\nhi,greeting\n", None, "must name text and label"),
        ([{"text": "hi", "label": "greeting"}] * 5, None, "single intent"),
        ([{"text": "hi", "label": "greeting"}, {"text": " ", "label": "bye"}], None, "empty text"),
        ([{"text": "hi", "label": "greeting"}, {"text": "bye", "label": ""}], None, "label"),
        ([{"text": "hi", "label": "greeting"}, {"text": "bye", "label": "goodbye"}],
         [{"text": "thanks", "label": "thanks"}], "labels that train lacks"),
    ],
)  # fmt: skip
def test_bad_training_data_is_refused(tmp_path, train_rows, valid_rows, message):
    name = "train.csv" if isinstance(train_rows, str) else "train.jsonl"
    train, valid = bad_input(tmp_path, train_rows, valid_rows, name)
    with pytest.raises(ParlaError, match=message):
        load_training_data(train, valid, ft.IntentTrainingSettings())


def test_bad_input_is_one_line_on_the_command_line(tmp_path):
    train, valid = bad_input(tmp_path, [{"text": "hi", "label": "greeting"}] * 3)
    result = run_cli("finetune", "intent", "--train", train, "--valid", valid,
                     "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.returncode != 0 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("parla: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr


def test_csv_with_a_category_column_is_read(tmp_path):
    train, valid = bad_input(tmp_path, "text,category\nhi,greeting\nbye,goodbye\nhey,greeting\n",
                             name="train.csv")  # fmt: skip
    examples, _ = load_training_data(train, valid, ft.IntentTrainingSettings())
    assert {e.label for e in examples} == {"greeting", "goodbye"}


def test_valid_can_be_a_held_out_fraction(toy_files):
    train, valid = load_training_data(str(toy_files / "train.jsonl"), "0.25",
                                      ft.IntentTrainingSettings())  # fmt: skip
    assert len(train) + len(valid) == 72
    assert {e.label for e in valid} == {e.label for e in train}


@pytest.mark.parametrize("spec", ["0", "1.5", "-0.1"])
def test_a_bad_fraction_is_refused(toy_files, spec):
    with pytest.raises(ParlaError, match="fraction"):
        load_training_data(str(toy_files / "train.jsonl"), spec, ft.IntentTrainingSettings())


def test_stratified_split_keeps_every_label():
    examples = [IntentExample(f"t{i}", f"l{i % 3}") for i in range(30)]
    train, valid = stratified_split(examples, 0.2, seed=1)
    assert len(valid) == 6 and {e.label for e in valid} == {"l0", "l1", "l2"}
    assert not {e.text for e in train} & {e.text for e in valid}


def test_without_out_of_scope_in_training_only_the_threshold_finds_it():
    labels = check_examples([IntentExample("a", "x"), IntentExample("b", "y")], [])
    assert labels == ["x", "y"]


# --- calibration ------------------------------------------------------------------------------


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=2000)
    true_logits = rng.normal(size=(2000, 4)) + 2.0 * np.eye(4)[labels]
    sampled = np.array([rng.choice(4, p=p) for p in softmax(true_logits)])
    t = fit_temperature(3.0 * true_logits, sampled)  # a model three times too sure
    assert t == pytest.approx(3.0, rel=0.15)


def test_oos_threshold_costs_at_most_the_budget():
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(size=(500, 5)) * 3)
    labels = probs.argmax(axis=1)
    labels[:50] = 4  # label 4 is out_of_scope
    threshold = fit_oos_threshold(probs, labels, oos_index=4, budget=0.02)
    in_scope = labels != 4
    correct = in_scope & (probs.argmax(1) == labels)
    lost = int((correct & (probs.max(1) < threshold)).sum())
    assert 0 < threshold < 1 and lost <= 0.02 * in_scope.sum()


def test_max_length_from_the_data():
    assert choose_max_length([10] * 99 + [500], None) == 16
    assert choose_max_length(list(range(1, 61)), None) == 59
    assert choose_max_length([1000] * 10, None) == ft.MAX_LENGTH_CAP
    assert choose_max_length([10], 40) == 40


# --- the commands on a tiny model -------------------------------------------------------------


def test_finetune_then_eval_on_the_command_line(toy_files, tmp_path, capsys):
    out = tmp_path / "model"
    code = main(["finetune", "intent", "--train", str(toy_files / "train.jsonl"),
                 "--valid", str(toy_files / "valid.jsonl"), "--out", str(out),
                 "--base", str(toy_files / "base"), "--epochs", "3", "--lr", "3e-3",
                 "--batch-size", "8", "--threads", "1", "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"out", "best_valid_accuracy", "epochs", "seconds"} <= set(result)
    assert Path(result["out"]) == out and (out / "parla_intent.json").exists()
    assert not out.with_name("model.checkpoint").exists()

    report = tmp_path / "report"
    code = main(["eval", "intent", "--model", str(out), "--test", str(toy_files / "valid.jsonl"),
                 "--report", str(report), "--json"])  # fmt: skip
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"n", "accuracy", "macro_f1", "oos_recall", "in_scope_accuracy"} <= set(metrics)
    assert set(metrics["per_language"]) == {"en", "es"}
    assert (report / "confusion_matrix.png").stat().st_size > 1000
    assert "precision" in (report / "classification_report.txt").read_text()


def test_eval_of_a_folder_that_is_not_a_model_is_one_line(tmp_path, toy_files):
    result = run_cli("eval", "intent", "--model", str(tmp_path), "--test",
                     str(toy_files / "valid.jsonl"))  # fmt: skip
    assert result.returncode != 0 and "parla: error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_write_demo_splits(tmp_path):
    paths = ft.write_demo_splits(tmp_path)
    assert set(paths) == {"train", "valid", "test"}
    first = json.loads(Path(paths["test"]).read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"text", "label", "lang"}


def test_ensure_demo_intent_model_is_idempotent(toy_files, tmp_path, monkeypatch):
    examples = toy_examples(per_label=16)
    monkeypatch.setattr(ft, "demo_split", lambda split: examples[:48] if split == "train"
                        else examples[48:])  # fmt: skip
    settings = ft.IntentTrainingSettings(
        base=str(toy_files / "base"), freeze_embeddings=False,
        training=TrainingConfig(epochs=2, batch_size=8, learning_rate=3e-3, threads=1),
    )  # fmt: skip
    monkeypatch.setattr(ft, "DEMO_SETTINGS", settings)
    calls = []
    real = ft.train_intent_model
    monkeypatch.setattr(ft, "train_intent_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = ft.ensure_demo_intent_model(tmp_path)
    assert first == tmp_path / "demo" / "intent" and (first / "parla_intent.json").exists()
    assert ft.ensure_demo_intent_model(tmp_path) == first
    assert len(calls) == 1
    # New demo data means a new model.
    monkeypatch.setattr(ft, "demo_split", lambda split: examples[:40] if split == "train"
                        else examples[40:])  # fmt: skip
    ft.ensure_demo_intent_model(tmp_path)
    assert len(calls) == 2


def test_training_only_the_top_layers_leaves_the_rest_untouched(toy_files, tmp_path):
    import torch
    from transformers import AutoModel

    settings = ft.IntentTrainingSettings(
        base=str(toy_files / "base"), train_layers=1, freeze_embeddings=False,
        training=TrainingConfig(epochs=4, batch_size=8, learning_rate=3e-3, threads=1),
    )  # fmt: skip
    examples = toy_examples(per_label=24)
    result = ft.train_intent_model(examples[:72], examples[72:], tmp_path / "m", settings)
    assert result["best_valid_accuracy"] >= 0.5
    before = AutoModel.from_pretrained(toy_files / "base").state_dict()
    after = AutoModel.from_pretrained(tmp_path / "m").state_dict()
    assert torch.equal(before["encoder.layer.0.output.dense.weight"],
                       after["encoder.layer.0.output.dense.weight"])  # fmt: skip
    assert torch.equal(before["embeddings.word_embeddings.weight"],
                       after["embeddings.word_embeddings.weight"])  # fmt: skip
    assert not torch.equal(before["encoder.layer.1.output.dense.weight"],
                           after["encoder.layer.1.output.dense.weight"])  # fmt: skip


def test_the_prefix_is_recorded_and_applied(toy_files, tmp_path):
    from agent.config import IntentConfig
    from agent.intent import load_intent_model_folder

    settings = ft.IntentTrainingSettings(
        base=str(toy_files / "base"), prefix="hello ", freeze_embeddings=False,
        training=TrainingConfig(epochs=1, batch_size=8, learning_rate=3e-3, threads=1),
    )  # fmt: skip
    examples = toy_examples(per_label=8)
    ft.train_intent_model(examples[:24], examples[24:], tmp_path / "m", settings)
    classifier = load_intent_model_folder(tmp_path / "m", IntentConfig())
    assert classifier.card.prefix == "hello "
    assert ft.text_prefix(ft.IntentTrainingSettings()) == "query: "  # the e5 default


def test_the_few_shot_floor_keeps_the_asked_share_of_an_intents_texts():
    rng = np.random.default_rng(0)
    centres = np.eye(3)
    vectors, labels = [], []
    for label in range(3):
        points = centres[label] + 0.3 * rng.standard_normal((40, 3))
        vectors.append(points / np.linalg.norm(points, axis=1, keepdims=True))
        labels += [label] * 40
    vectors_all, labels_all = np.concatenate(vectors), np.array(labels)
    train, valid = np.arange(120) % 2 == 0, np.arange(120) % 2 == 1
    settings = ft.IntentTrainingSettings(prototype_shots=4, prototype_keep=0.9)
    floor = ft.few_shot_floor(
        vectors_all[train], labels_all[train], vectors_all[valid], labels_all[valid], settings
    )
    cosines = []
    for label in range(3):
        own = vectors_all[valid][labels_all[valid] == label]
        centre = vectors_all[train][labels_all[train] == label].mean(axis=0)
        cosines += list(own @ (centre / np.linalg.norm(centre)))
    assert 0.5 < floor < np.median(cosines)  # a low share of own texts falls under it
    stricter = ft.few_shot_floor(
        vectors_all[train], labels_all[train], vectors_all[valid], labels_all[valid],
        ft.IntentTrainingSettings(prototype_shots=4, prototype_keep=0.5),
    )  # fmt: skip
    assert stricter > floor


def test_no_floor_without_enough_examples_of_any_intent():
    settings = ft.IntentTrainingSettings(prototype_shots=4)
    vectors, labels = np.eye(3), np.array([0, 1, 2])
    assert ft.few_shot_floor(vectors, labels, vectors, labels, settings) is None
