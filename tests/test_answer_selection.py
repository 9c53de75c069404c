"""The answer memory of agent.answer_selection: votes, boosts, saving and loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.answer_selection import (
    MEMORY_ANSWERS,
    AnswerMemory,
    MemorySettings,
    load_memory,
    save_memory,
)
from agent.errors import ParlaError
from agent.sentences import Sentence

SETTINGS = MemorySettings(weight=0.5, neighbours=2, temperature=0.05)


def _memory(settings: MemorySettings = SETTINGS) -> AnswerMemory:
    vectors = torch.eye(3)  # three labelled questions, each along its own axis
    answers = (("Refunds take 5 days.",), ("Express costs 9.99 EUR.",), ("Refunds take 5 days.",))
    return AnswerMemory(vectors, answers, settings)


def _sentence(text: str) -> Sentence:
    return Sentence(text, "", "en/doc.md", 0, 0)


def test_the_nearest_labelled_questions_vote_for_their_answers():
    question = torch.nn.functional.normalize(torch.tensor([1.0, 0.2, 0.0]), dim=0)
    votes = _memory().votes(question)
    assert set(votes) == {"Refunds take 5 days.", "Express costs 9.99 EUR."}
    assert votes["Refunds take 5 days."] > 0.9  # the nearest question (axis 0) weighs most
    assert sum(votes.values()) == pytest.approx(1.0)


def test_the_boost_is_the_weighted_vote_and_zero_for_unvoted_sentences():
    question = torch.tensor([0.0, 1.0, 0.0])
    sentences = [_sentence("Express costs 9.99 EUR."), _sentence("We ship to 30 countries.")]
    boost = _memory().boost(question, sentences)
    assert boost[0] == pytest.approx(0.5, abs=0.01) and boost[1] == 0.0


def test_a_zero_weight_turns_the_memory_off():
    off = MemorySettings(weight=0.0, neighbours=2, temperature=0.05)
    assert _memory(off).votes(torch.tensor([1.0, 0.0, 0.0])) == {}


def test_more_neighbours_than_questions_is_fine():
    many = MemorySettings(weight=1.0, neighbours=50, temperature=0.05)
    assert sum(_memory(many).votes(torch.tensor([0.0, 0.0, 1.0])).values()) == pytest.approx(1.0)


def test_an_extended_memory_holds_both_memories_questions_in_order():
    other = AnswerMemory(torch.ones(1, 3), (("Pickup is free.",),), SETTINGS)
    both = _memory().extended(other)
    assert both.answers == (*_memory().answers, ("Pickup is free.",))
    assert torch.equal(both.vectors, torch.cat([torch.eye(3), torch.ones(1, 3)]))


def test_a_saved_memory_loads_back(tmp_path: Path):
    save_memory(_memory(), tmp_path)
    loaded = load_memory(tmp_path, SETTINGS)
    assert loaded is not None
    assert torch.equal(loaded.vectors, torch.eye(3)) and loaded.answers == _memory().answers


def test_a_folder_without_a_memory_loads_none(tmp_path: Path):
    assert load_memory(tmp_path, SETTINGS) is None


def test_a_memory_whose_files_disagree_fails_in_one_line(tmp_path: Path):
    save_memory(_memory(), tmp_path)
    (tmp_path / MEMORY_ANSWERS).write_text('[["only one answer"]]', encoding="utf-8")
    with pytest.raises(ParlaError, match="3 questions, 1 answers"):
        load_memory(tmp_path, SETTINGS)
