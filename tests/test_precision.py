"""agent.precision: the weights' number format at inference."""

from __future__ import annotations

import pytest
import torch

from agent import precision
from agent.errors import ParlaError


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_takes_bfloat16_only_where_the_cpu_computes_it(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bfloat16", lambda: native)
    assert precision.inference_dtype("auto") is expected


def test_named_types_are_taken_as_they_are(monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    assert precision.inference_dtype("bfloat16") is torch.bfloat16
    assert precision.inference_dtype("float32") is torch.float32


def test_an_unknown_type_names_the_choices():
    with pytest.raises(ParlaError, match="auto, float32, bfloat16"):
        precision.inference_dtype("half")


def test_the_cpu_check_answers_a_plain_bool():
    assert precision.native_bfloat16() in (True, False)
