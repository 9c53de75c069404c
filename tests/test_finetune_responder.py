"""`parla finetune responder` / `parla eval responder` on a tiny model, the training loop's
checkpoints, and the demo responder's idempotence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from agent.cli import main
from finetune import responder as finetune_responder
from finetune.responder_loop import LoopConfig, train_loop
from tests.tiny_responder import (
    DELIVERY,
    build_tiny_encoder,
    examples,
    tiny_training,
    write_data,
    write_kb,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and much faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("finetune")
    kb = write_kb(root / "kb")
    return {
        "kb": kb,
        "encoder": build_tiny_encoder(root / "encoder", kb),
        "data": write_data(root / "data.jsonl"),
        "root": root,
    }


def test_finetune_and_eval_from_the_command_line(tiny, capsys):
    out = tiny["root"] / "responder"
    code = main(
        [
            "finetune",
            "responder",
            "--train",
            str(tiny["data"]),
            "--valid",
            str(tiny["data"]),
            "--out",
            str(out),
            "--base",
            str(tiny["encoder"]),
            "--kb",
            str(tiny["kb"]),
            "--budget",
            "60",
            "--pretrain-pairs",
            "8",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"out", "best_valid_loss", "epochs", "seconds"} <= set(result)
    assert (out / "responder.json").exists()

    test = tiny["root"] / "test.jsonl"
    rows = [json.loads(line) for line in tiny["data"].read_text().splitlines()]
    passages = ["Standard delivery takes 3-5 business days. It costs 4.99 EUR."]
    test.write_text("".join(json.dumps(r | {"passages": passages}) + "\n" for r in rows))
    code = main(
        [
            "eval",
            "responder",
            "--model",
            str(out),
            "--test",
            str(test),
            "--json",
            "--report",
            str(tiny["root"] / "report"),
        ]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"n", "rouge_l", "grounded_rate", "language_match"} <= set(metrics)
    assert metrics["n"] == len(rows)
    assert metrics["grounded_rate"] == 1.0
    assert set(metrics["per_language"]) == {"en", "es"}
    assert "rouge_l" in metrics["extractive_baseline"]
    assert 0 <= metrics["extractive_baseline"]["answer_sentence_accuracy"] <= 1
    replies = (tiny["root"] / "report" / "replies.jsonl").read_text().splitlines()
    found = [json.loads(line)["extractive_answer_sentence"] for line in replies]
    assert all(f in (True, False, None) for f in found) and any(f is not None for f in found)


@pytest.mark.parametrize(
    "argv",
    [
        [
            "finetune",
            "responder",
            "--train",
            "/missing.jsonl",
            "--valid",
            "/missing.jsonl",
            "--out",
            "/tmp/never",
        ],
        ["eval", "responder", "--model", "/missing/responder", "--test", "demo"],
    ],
)
def test_bad_input_is_a_one_line_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("parla: error:")


def test_examples_without_passages_or_knowledge_base_are_refused(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q?", "answer": "a.", "lang": "en"}) + "\n")
    assert (
        main(
            [
                "finetune",
                "responder",
                "--train",
                str(data),
                "--valid",
                str(data),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "--kb" in capsys.readouterr().err


def test_training_resumes_from_its_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    data = [(torch.randn(8, 2), torch.randn(8, 1)) for _ in range(3)]

    def loss(batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y)

    checkpoint = tmp_path / "ckpt.pt"
    first = train_loop(
        model,
        lambda e: data,
        loss,
        lambda: -float(loss(data[0])),
        LoopConfig(epochs=1, patience=5),
        "test",
        checkpoint,
    )
    assert first.epochs == 1 and checkpoint.exists()
    second = train_loop(
        model,
        lambda e: data,
        loss,
        lambda: -float(loss(data[0])),
        LoopConfig(epochs=3, patience=5),
        "test",
        checkpoint,
    )
    assert second.epochs == 3
    assert second.history[0] == first.history[0]  # epoch 1 was not run again


def test_past_its_deadline_the_rewriter_gives_way_and_stays_off(tiny):
    """`parla setup` on a slow machine: no pre-training, no calibration, the selector served."""
    from agent.config import ResponderConfig
    from agent.responder import load_responder
    from finetune.responder_data import read_kb

    out = tiny["root"] / "late"
    data = examples()
    kb = read_kb(tiny["kb"])
    late = time.time() - 1.0
    result = finetune_responder.train_responder(
        data, data, kb, out, str(tiny["encoder"]), tiny_training(), deadline=late
    )
    meta = json.loads((out / "responder.json").read_text())
    assert meta["rewriter_training"]["pretrain_pairs"] == 0
    assert meta["calibration"] == "skipped: out of time"
    assert meta["rewriter_min_confidence"] is None and result["epochs"] >= 1
    responder = load_responder(ResponderConfig(model=str(out)))
    reply = responder.generate("How much is standard delivery?", "en", "info", [DELIVERY])
    assert reply.path == "extractive" and reply.grounded
    assert reply.text in DELIVERY.text  # a sentence of the passage, as it stands


def test_a_deadline_far_away_changes_nothing(tiny):
    from finetune.responder_data import read_kb

    out = tiny["root"] / "early"
    data = examples()
    far = time.time() + 3600.0
    finetune_responder.train_responder(
        data, data, read_kb(tiny["kb"]), out, str(tiny["encoder"]), tiny_training(), deadline=far
    )
    meta = json.loads((out / "responder.json").read_text())
    assert meta["rewriter_training"]["pretrain_pairs"] > 0 and "calibration" not in meta
    assert "valid_rouge_l" in meta


def _fake_training(calls: list):
    def fake_train(train, valid, kb, out, base, settings, data_fingerprint=None, deadline=None):
        calls.append(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"format": finetune_responder.FORMAT_VERSION, "data": data_fingerprint}
        (out / "responder.json").write_text(json.dumps(meta))
        return {}

    return fake_train


def test_the_demo_responder_is_trained_once(parla_home, monkeypatch):
    calls: list = []
    monkeypatch.setattr(finetune_responder, "train_responder", _fake_training(calls))
    first = finetune_responder.ensure_demo_responder(parla_home)
    second = finetune_responder.ensure_demo_responder(parla_home)
    assert first == second == parla_home / "demo" / "responder"
    assert len(calls) == 1


def test_the_demo_responder_is_trained_again_when_the_demo_data_changes(parla_home, monkeypatch):
    calls: list = []
    monkeypatch.setattr(finetune_responder, "train_responder", _fake_training(calls))
    finetune_responder.ensure_demo_responder(parla_home)
    monkeypatch.setattr(finetune_responder, "demo_fingerprint", lambda *data: "new data")
    finetune_responder.ensure_demo_responder(parla_home)
    finetune_responder.ensure_demo_responder(parla_home)
    assert len(calls) == 2
