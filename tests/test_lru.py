"""The least-recently-used cache the responder's encoder and selector share across turns."""

from __future__ import annotations

import threading

import pytest

from agent.lru import LruCache


def test_found_returns_only_cached_keys_and_marks_them_used():
    cache: LruCache[int] = LruCache(2)
    cache.add([("a", 1), ("b", 2)])
    assert cache.found(["a", "x"]) == {"a": 1}
    cache.add([("c", 3)])  # "b" is now the least recently used
    assert cache.found(["a", "b", "c"]) == {"a": 1, "c": 3}
    assert len(cache) == 2


def test_adding_a_key_again_refreshes_it():
    cache: LruCache[int] = LruCache(2)
    cache.add([("a", 1), ("b", 2), ("a", 10), ("c", 3)])
    assert cache.found(["a", "b", "c"]) == {"a": 10, "c": 3}


def test_values_computes_only_the_missing_keys_in_ordered_batches():
    cache: LruCache[str] = LruCache(10)
    cache.add([("bb", "cached")])
    calls: list[list[str]] = []

    def compute(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [k.upper() for k in keys]

    out = cache.values(["cccc", "bb", "a", "cccc", "ddd"], compute, batch=2, order=len)
    assert out == ["CCCC", "cached", "A", "CCCC", "DDD"]
    assert calls == [["a", "ddd"], ["cccc"]]
    assert cache.values(["a"], compute, batch=2) == ["A"] and len(calls) == 2


def test_values_answers_a_request_bigger_than_the_cache():
    cache: LruCache[int] = LruCache(1)
    cache.add([("a", 1)])
    assert cache.values(["a", "b", "c"], lambda keys: [ord(k) for k in keys], batch=1) == [
        1,
        ord("b"),
        ord("c"),
    ]
    assert len(cache) == 1


def test_a_cache_needs_room_for_one_entry():
    with pytest.raises(ValueError, match="at least one"):
        LruCache(0)


def test_threads_sharing_a_small_cache_never_fail():
    cache: LruCache[str] = LruCache(3)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(2_000):
                keys = [f"k{(i + offset + j) % 7}" for j in range(3)]
                found = cache.found(keys)
                cache.add((k, k.upper()) for k in keys if k not in found)
                assert all(v == k.upper() for k, v in found.items())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) <= 3
