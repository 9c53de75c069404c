"""A small, generic fine-tuning loop for CPUs, shared by Parla's fine-tuning commands.

What it gives every model: AdamW (no decay on biases and LayerNorm weights), linear warm-up
then linear decay, gradient clipping, batches grouped by length (little padding: on a CPU every
padded token costs as much as a real one), evaluation a few times per epoch with early stopping
on a validation metric, the best weights kept, a fixed seed, a tqdm bar with loss and accuracy,
a time budget, and resumable checkpoints (an interrupted run continues where it stopped).

The model is any ``torch.nn.Module`` whose forward takes a batch dict and returns an object
with ``.loss`` (and ``.logits``, used for the running accuracy when labels are class ids).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
CHECKPOINT_FILE = "state.pt"


@dataclass(frozen=True)
class TrainingConfig:
    """How to train; the defaults suit a small encoder on a 2-core CPU."""

    epochs: int = 4  # upper bound: early stopping usually ends sooner
    batch_size: int = 32
    learning_rate: float = 1e-4  # small encoders (e5-small) want more than BERT-base's 2e-5
    head_learning_rate: float = 1e-3  # a new output layer (probed or random) moves faster
    weight_decay: float = 0.01  # AdamW's decoupled decay, not on biases or LayerNorm weights
    warmup_ratio: float = 0.06  # share of all steps spent warming the learning rate up
    max_grad_norm: float = 1.0  # gradient clipping
    evals_per_epoch: int = 2  # validation runs per epoch (early stopping, best weights)
    patience: int = 3  # validation runs without improvement before stopping
    min_delta: float = 1e-4  # smaller improvements do not count
    seed: int = 13
    threads: int = 2  # torch intra-op threads: one per physical core is fastest
    max_minutes: float | None = None  # stop at the first validation run after this budget
    checkpoint_every_s: float = 120.0  # also checkpoint between validation runs


@dataclass(frozen=True)
class FitResult:
    best_metric: float
    best_epoch: float  # fractional: 1.5 = half-way through the second epoch
    epochs: float  # epochs actually run
    steps: int
    seconds: float  # wall-clock
    cpu_seconds: float  # process CPU time (all threads): comparable across loaded machines
    stopped: str  # "epochs", "early_stopping" or "time_budget"
    history: tuple[dict[str, float], ...] = ()


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, group: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within groups of ``group`` batches,
    cut into batches, shuffle the batches. Deterministic for a given seed (resumable)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    batches: list[np.ndarray] = []
    span = batch_size * group
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(-lengths_arr[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def freeze_input_embeddings(model: torch.nn.Module) -> int:
    """Freeze the word-embedding matrix (96M of e5-small's 118M parameters); returns its size.

    With a 250k-piece vocabulary the matrix dominates the optimizer's memory and time, and the
    few thousand sentences of a fine-tuning set would only move the rows they happen to use.
    """
    embeddings = model.get_input_embeddings()  # type: ignore[operator]
    embeddings.weight.requires_grad_(False)
    return int(embeddings.weight.numel())


def build_optimizer(
    model: torch.nn.Module, config: TrainingConfig, head: Sequence[torch.nn.Parameter] = ()
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; ``head`` (a new output layer) gets its own rate."""
    head_ids = {id(p) for p in head}
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in head_ids:
            continue
        is_norm_or_bias = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        (no_decay if is_norm_or_bias else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if head_ids:
        groups.append({"params": list(head), "weight_decay": config.weight_decay,
                       "lr": config.head_learning_rate})  # fmt: skip
    # foreach: one fused update per parameter group instead of a Python loop over tensors.
    return torch.optim.AdamW(groups, lr=config.learning_rate, foreach=True)


def warmup_linear_decay(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable parameters only: frozen ones never change."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def restore_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def fingerprint(**parts: Any) -> str:
    """A short hash of what defines a run: a checkpoint from another run is not resumed."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class _Progress:
    """Mutable loop state; what a checkpoint holds besides model and optimizer."""

    step: int = 0
    best_score: float = -math.inf  # the metric, negated when lower is better
    best_step: int = 0
    bad_evals: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class Trainer:
    """Runs :func:`fit`'s loop; one object per run."""

    def __init__(
        self,
        model: torch.nn.Module,
        batches_for_epoch: Callable[[int], list[Batch]],
        evaluate: Callable[[], float],
        config: TrainingConfig,
        checkpoint_dir: Path | None = None,
        run_id: str = "",
        higher_is_better: bool = True,
        desc: str = "fine-tuning",
        head: Sequence[torch.nn.Parameter] = (),
    ) -> None:
        self.model, self.config = model, config
        self.batches_for_epoch, self.evaluate = batches_for_epoch, evaluate
        self.checkpoint_dir, self.run_id = checkpoint_dir, run_id
        self.sign = 1.0 if higher_is_better else -1.0
        self.desc = desc
        self.steps_per_epoch = len(batches_for_epoch(0))
        if self.steps_per_epoch == 0:
            raise ValueError("no training batches")
        self.total_steps = self.steps_per_epoch * config.epochs
        evals = max(1, min(config.evals_per_epoch, self.steps_per_epoch))
        # Positions (1-based, within an epoch) after which validation runs; the last is the end.
        self.eval_points = {
            math.ceil(self.steps_per_epoch * j / evals) for j in range(1, evals + 1)
        }
        self.optimizer = build_optimizer(model, config, head)
        warmup = int(config.warmup_ratio * self.total_steps)
        self.scheduler = warmup_linear_decay(self.optimizer, warmup, self.total_steps)
        self.progress = _Progress()
        self.best_state = trainable_state(model)

    def run(self) -> FitResult:
        self._resume()
        started, cpu_started = time.monotonic(), time.process_time()
        base_s, base_cpu = self.progress.seconds, self.progress.cpu_seconds
        last_checkpoint = time.monotonic()
        stopped = "epochs"
        bar = tqdm(total=self.total_steps, initial=self.progress.step, desc=self.desc, unit="step")
        running: dict[str, float] = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        self.model.train()
        while self.progress.step < self.total_steps and stopped == "epochs":
            epoch, offset = divmod(self.progress.step, self.steps_per_epoch)
            batches = self.batches_for_epoch(epoch)
            for batch in batches[offset:]:
                self._train_step(batch, running)
                bar.update(1)
                bar.set_postfix(self._postfix(running), refresh=False)
                self.progress.seconds = base_s + time.monotonic() - started
                self.progress.cpu_seconds = base_cpu + time.process_time() - cpu_started
                in_epoch = (self.progress.step - 1) % self.steps_per_epoch + 1
                if in_epoch in self.eval_points:
                    stopped = self._validate(running, bar)
                    last_checkpoint = time.monotonic()
                    if stopped != "epochs":
                        break
                elif time.monotonic() - last_checkpoint > self.config.checkpoint_every_s:
                    self._save_checkpoint()
                    last_checkpoint = time.monotonic()
        bar.close()
        restore_state(self.model, self.best_state)
        return self._result(stopped)

    def _train_step(self, batch: Batch, running: dict[str, float]) -> None:
        output = self.model(**batch)
        loss = output.loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.config.max_grad_norm
        )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.step += 1
        running["loss"] += float(loss.detach())
        running["batches"] = running.get("batches", 0.0) + 1
        labels, logits = batch.get("labels"), getattr(output, "logits", None)
        if labels is not None and logits is not None and labels.dim() == 1 and logits.dim() == 2:
            running["correct"] += float((logits.argmax(-1) == labels).sum())
            running["seen"] += float(labels.numel())

    @staticmethod
    def _postfix(running: dict[str, float]) -> dict[str, str]:
        out = {"loss": f"{running['loss'] / max(1.0, running.get('batches', 1.0)):.3f}"}
        if running["seen"]:
            out["acc"] = f"{running['correct'] / running['seen']:.3f}"
        return out

    def _validate(self, running: dict[str, float], bar: tqdm) -> str:
        metric = float(self.evaluate())
        self.model.train()
        progress = self.progress
        epoch = progress.step / self.steps_per_epoch
        train_loss = running["loss"] / max(1.0, running.get("batches", 1.0))
        progress.history.append(
            {"epoch": round(epoch, 3), "valid": metric, "train_loss": train_loss}
        )
        running.update(loss=0.0, correct=0.0, seen=0.0, batches=0.0)
        if self.sign * metric > progress.best_score + self.config.min_delta:
            progress.best_score, progress.best_step, progress.bad_evals = (
                self.sign * metric,
                progress.step,
                0,
            )
            self.best_state = trainable_state(self.model)
        else:
            progress.bad_evals += 1
        best = self.sign * progress.best_score
        # stderr: stdout is reserved for the command's JSON.
        bar.write(f"epoch {epoch:.2f}: valid {metric:.4f} (best {best:.4f})", file=sys.stderr)
        logger.debug("epoch %.2f: valid %.4f (best %.4f)", epoch, metric, best)
        self._save_checkpoint()
        if progress.bad_evals >= self.config.patience:
            return "early_stopping"
        budget = self.config.max_minutes
        if budget is not None and progress.seconds > 60.0 * budget:
            return "time_budget"
        return "epochs"

    def _save_checkpoint(self) -> None:
        if self.checkpoint_dir is None:
            return
        state = {
            "run_id": self.run_id,
            "model": trainable_state(self.model),
            "best": self.best_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "progress": asdict(self.progress),
            "torch_rng": torch.get_rng_state(),
        }
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_dir / (CHECKPOINT_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_dir / CHECKPOINT_FILE)

    def _resume(self) -> None:
        path = self.checkpoint_dir / CHECKPOINT_FILE if self.checkpoint_dir else None
        if path is None or not path.exists():
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint only costs a restart
            logger.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
            return
        if state.get("run_id") != self.run_id:
            logger.warning("checkpoint %s belongs to another run; starting afresh", path)
            return
        restore_state(self.model, state["model"])
        self.best_state = state["best"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.progress = _Progress(**state["progress"])
        torch.set_rng_state(state["torch_rng"])
        logger.info("resuming from %s at step %d", path, self.progress.step)

    def _result(self, stopped: str) -> FitResult:
        p = self.progress
        return FitResult(
            best_metric=self.sign * p.best_score,
            best_epoch=round(p.best_step / self.steps_per_epoch, 3),
            epochs=round(p.step / self.steps_per_epoch, 3),
            steps=p.step,
            seconds=round(p.seconds, 1),
            cpu_seconds=round(p.cpu_seconds, 1),
            stopped=stopped,
            history=tuple(p.history),
        )


def fit(
    model: torch.nn.Module,
    batches_for_epoch: Callable[[int], list[Batch]],
    evaluate: Callable[[], float],
    config: TrainingConfig,
    checkpoint_dir: Path | None = None,
    run_id: str = "",
    higher_is_better: bool = True,
    desc: str = "fine-tuning",
    head: Sequence[torch.nn.Parameter] = (),
) -> FitResult:
    """Train ``model`` in place and leave it holding the best validated weights.

    ``batches_for_epoch(e)`` must return the same batches for the same ``e`` (seed it with
    ``e``): that is what lets a resumed run skip the batches it already trained on.
    ``evaluate()`` returns the validation metric (accuracy, or a loss with
    ``higher_is_better=False``). With ``checkpoint_dir``, state is saved there after every
    validation run and reloaded when a run with the same ``run_id`` starts again. ``head``:
    parameters trained at ``config.head_learning_rate`` (a freshly initialised output layer).
    """
    configure_threads(config.threads)
    trainer = Trainer(
        model,
        batches_for_epoch,
        evaluate,
        config,
        checkpoint_dir,
        run_id,
        higher_is_better,
        desc,
        head,
    )
    return trainer.run()


def remove_checkpoint(checkpoint_dir: Path) -> None:
    shutil.rmtree(checkpoint_dir, ignore_errors=True)


def copy_config(config: TrainingConfig, **changes: Any) -> TrainingConfig:
    """``dataclasses.replace`` that ignores ``None`` values (unset command-line flags)."""
    values = asdict(config)
    values.update({k: v for k, v in changes.items() if v is not None})
    return TrainingConfig(**values)


__all__ = [
    "Batch",
    "FitResult",
    "TrainingConfig",
    "build_optimizer",
    "configure_threads",
    "copy_config",
    "fingerprint",
    "fit",
    "freeze_input_embeddings",
    "length_grouped_batches",
    "remove_checkpoint",
    "restore_state",
    "set_seed",
    "trainable_state",
    "warmup_linear_decay",
]
