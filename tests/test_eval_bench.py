"""eval.bench: every benchmark `parla bench` runs is a command its module accepts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eval.bench import BENCHMARKS, QUICK


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_each_benchmark_command_parses(name):
    command = [sys.executable, "-m", *BENCHMARKS[name], *QUICK.get(name, []), "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    usage = done.stdout.split("\n\n")[0]
    assert "{" not in usage, f"{name}: a subcommand is left to choose: {usage}"


def test_quick_options_belong_to_known_benchmarks():
    assert set(QUICK) <= set(BENCHMARKS)
