"""The generic fine-tuning loop: batching, schedule, early stopping, best weights, resuming."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from finetune.training import (
    TrainingConfig,
    build_optimizer,
    copy_config,
    fit,
    length_grouped_batches,
    warmup_linear_decay,
)


@dataclass
class Out:
    loss: torch.Tensor
    logits: torch.Tensor


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> Out:
        logits = self.layer(x)
        return Out(torch.nn.functional.cross_entropy(logits, labels), logits)


def toy_problem(n: int = 96):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=gen)
    y = x[:, :3].argmax(dim=1)
    return x, y


def batches_fn(x, y, batch_size=16):
    def batches(epoch: int):
        rows = length_grouped_batches([1] * len(x), batch_size, seed=epoch)
        return [{"x": x[r], "labels": y[r]} for r in rows]

    return batches


def accuracy_fn(model, x, y):
    def evaluate() -> float:
        with torch.no_grad():
            return float((model.layer(x).argmax(1) == y).float().mean())

    return evaluate


CONFIG = TrainingConfig(epochs=6, batch_size=16, learning_rate=0.05, evals_per_epoch=2,
                        patience=100, threads=1)  # fmt: skip


def test_length_grouped_batches_cover_every_row_once_and_are_deterministic():
    lengths = list(np.random.default_rng(0).integers(1, 40, size=203))
    batches = length_grouped_batches(lengths, 16, seed=3)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(203))
    again = length_grouped_batches(lengths, 16, seed=3)
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))
    # Similar lengths share a batch: much less padding than a random split.
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 1.3 * sum(lengths)


def test_warmup_then_linear_decay():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = warmup_linear_decay(opt, warmup_steps=4, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] > lrs[5] > lrs[9] >= 0.0


def test_no_weight_decay_on_biases_and_a_separate_head_rate():
    model = Linear()
    opt = build_optimizer(model, CONFIG, head=[model.layer.bias])
    groups = {len(g["params"]): g for g in opt.param_groups}
    assert len(opt.param_groups) == 3
    assert opt.param_groups[2]["lr"] == CONFIG.head_learning_rate
    assert groups[1]["weight_decay"] in (0.0, CONFIG.weight_decay)


def test_fit_learns_and_keeps_the_best_weights():
    x, y = toy_problem()
    model = Linear()
    result = fit(model, batches_fn(x, y), accuracy_fn(model, x, y), CONFIG)
    assert result.best_metric >= 0.9
    assert accuracy_fn(model, x, y)() == pytest.approx(result.best_metric)
    assert result.stopped == "epochs" and result.epochs == 6


def test_early_stopping_ends_a_run_that_stops_improving():
    x, y = toy_problem()
    model = Linear()
    config = copy_config(CONFIG, patience=2, epochs=50)
    result = fit(model, batches_fn(x, y), lambda: 0.5, config)
    assert result.stopped == "early_stopping"
    assert result.epochs < 50


def test_lower_is_better_metrics():
    x, y = toy_problem()
    model = Linear()
    values = iter([3.0, 2.0, 2.5, 2.6, 2.7] + [9.0] * 20)
    result = fit(model, batches_fn(x, y), lambda: next(values), copy_config(CONFIG, patience=3),
                 higher_is_better=False)  # fmt: skip
    assert result.best_metric == 2.0
    assert result.stopped == "early_stopping"


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    x, y = toy_problem()
    reference = Linear()
    fit(reference, batches_fn(x, y), accuracy_fn(reference, x, y), CONFIG)

    model = Linear()
    calls = {"n": 0}
    evaluate = accuracy_fn(model, x, y)

    def interrupted() -> float:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return evaluate()

    with pytest.raises(KeyboardInterrupt):
        fit(model, batches_fn(x, y), interrupted, CONFIG, tmp_path, run_id="r1")
    resumed = Linear()  # a fresh process: fresh weights, state from the checkpoint
    result = fit(resumed, batches_fn(x, y), accuracy_fn(resumed, x, y), CONFIG, tmp_path, "r1")
    assert result.epochs == 6
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path):
    x, y = toy_problem()
    fit(Linear(), batches_fn(x, y), lambda: 0.5, copy_config(CONFIG, epochs=1), tmp_path, "a")
    model = Linear()
    result = fit(model, batches_fn(x, y), accuracy_fn(model, x, y), CONFIG, tmp_path, "b")
    assert result.steps == 6 * 6


def test_time_budget_stops_at_the_next_validation():
    x, y = toy_problem()
    model = Linear()
    result = fit(model, batches_fn(x, y), lambda: 0.5, copy_config(CONFIG, max_minutes=0.0))
    assert result.stopped == "time_budget"
    assert result.steps == 3  # the first validation, half-way through epoch 1
