"""The training loop the responder's models share: AdamW with linear warm-up and decay,
gradient clipping, validation after every epoch with early stopping, a progress bar, and a
checkpoint per epoch so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import os
import random
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    epochs: int = 3  # at most this many passes over the training batches
    lr: float = 5e-5  # peak learning rate
    warmup: float = 0.1  # share of the steps with a rising learning rate
    weight_decay: float = 0.01
    clip: float = 1.0  # gradient norm limit
    patience: int = 1  # epochs without improvement before stopping
    seed: int = 13
    max_seconds: float = math.inf  # stop (mid-epoch if need be) past this much work_clock()


@dataclass
class LoopResult:
    best_score: float
    """Best validation score (higher is better)."""
    epochs: int
    """Epochs run (including resumed ones)."""
    history: list[float] = field(default_factory=list)


def work_clock() -> float:
    """Seconds of work: this process's CPU time divided by its torch threads.

    On a dedicated machine it runs about as fast as the wall clock; on a shared one it does
    not count the time other jobs take, so a time budget trains the same model either way.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) / max(1, torch.get_num_threads())


def seed_everything(seed: int) -> random.Random:
    random.seed(seed)
    torch.manual_seed(seed)
    return random.Random(seed)


def train_loop(
    model: nn.Module,
    batches: Callable[[int], Sequence[Any]],
    loss_fn: Callable[[Any], Tensor],
    evaluate: Callable[[], float],
    config: LoopConfig,
    desc: str,
    checkpoint: Path | None = None,
) -> LoopResult:
    """Train ``model``; keep (and finally load) the weights of the best validation score.

    ``batches(epoch)`` gives one epoch's batches (it may shuffle with the epoch as seed).
    """
    seed_everything(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, config.epochs * len(batches(0)))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_linear(config.warmup, steps))
    state = {"epoch": 0, "best": -math.inf, "best_weights": None, "history": [], "bad": 0}
    if checkpoint is not None and checkpoint.exists():
        state = _resume(checkpoint, model, optimizer, schedule)
        logger.info("%s: resumed after epoch %d from %s", desc, state["epoch"], checkpoint)
    deadline = work_clock() + config.max_seconds
    while state["epoch"] < config.epochs and state["bad"] < config.patience:
        epoch = state["epoch"]
        model.train()
        _run_epoch(
            model, batches(epoch), loss_fn, optimizer, schedule, config, desc, epoch, deadline
        )
        model.eval()
        with torch.no_grad():
            score = float(evaluate())
        state["history"].append(score)
        state["epoch"] = epoch + 1
        if score > state["best"]:
            state["best"], state["bad"] = score, 0
            state["best_weights"] = _trainable(model)
        else:
            state["bad"] += 1
        logger.info(
            "%s: epoch %d validation %.4f (best %.4f)", desc, epoch + 1, score, state["best"]
        )
        if checkpoint is not None:
            _save(checkpoint, model, optimizer, schedule, state)
        if work_clock() > deadline:
            logger.warning("%s: time budget of %.0f s reached, stopping", desc, config.max_seconds)
            break
    if state["best_weights"] is not None:
        _restore(model, state["best_weights"])
    return LoopResult(state["best"], state["epoch"], state["history"])


def _run_epoch(model, batches, loss_fn, optimizer, schedule, config, desc, epoch, deadline):
    params = [p for p in model.parameters() if p.requires_grad]
    bar = tqdm(batches, desc=f"{desc} epoch {epoch + 1}", unit="batch", leave=False)
    running = None
    for batch in bar:
        loss = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.clip)
        optimizer.step()
        schedule.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}")
        if work_clock() > deadline:
            bar.close()
            break


def _trainable(model: nn.Module) -> dict[str, Tensor]:
    """Copies of the trained parameters (frozen ones never change, and may be int8)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _restore(model: nn.Module, weights: dict[str, Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)


def _warmup_linear(warmup: float, steps: int) -> Callable[[int], float]:
    rise = max(1, int(warmup * steps))

    def factor(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return max(0.0, (steps - step) / max(1, steps - rise))

    return factor


def _save(path: Path, model, optimizer, schedule, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": _trainable(model),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "state": state,
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def _resume(path: Path, model, optimizer, schedule) -> dict:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    _restore(model, saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    torch.set_rng_state(saved["torch_rng"])
    return saved["state"]
