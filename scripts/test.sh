#!/usr/bin/env bash
# The whole test suite: fast tests with tiny models, then the slow set on the real bundle.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The suite includes the app's browser tests: install chromium (and fonts) for them.
export PARLA_BROWSER_TESTS=1
source "$ROOT/scripts/install.sh"
cd "$ROOT"
printf '\n==> parla setup (offline model bundle)\n' >&2
parla setup
printf '\n==> pytest\n' >&2
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure of the suite, not a pass.
exit $rc
