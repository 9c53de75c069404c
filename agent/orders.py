"""Order lookup: where a company plugs in its order system. The demo reads a JSONL file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.datasets import DEMO_DIR, iter_jsonl

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Order:
    number: str
    status: str
    """Preparing, Shipped, Out for delivery or Delivered."""
    eta: str | None = None
    """Expected delivery date (ISO), while not delivered."""


class OrderLookup(Protocol):
    def find(self, number: str) -> Order | None: ...


class JsonlOrders:
    """Orders from a JSONL file of ``{"order", "status", "eta"?}`` lines (the demo's backend)."""

    def __init__(self, path: Path = DEMO_DIR / "orders.jsonl") -> None:
        self._orders = {
            row["order"]: Order(row["order"], row["status"], row.get("eta"))
            for row in iter_jsonl(path)
        }

    def find(self, number: str) -> Order | None:
        return self._orders.get(number.upper())
