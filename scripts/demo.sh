#!/usr/bin/env bash
# Set up Starling and analyse a bundled sample capture (Argus flows of a real
# infected host scanning 81/tcp and 23/tcp, from Stratosphere Lab), then show
# what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import ensurepip, venv' 2>/dev/null || {
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv >/dev/null
}
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
out=starling-output/demo
rm -rf "$out"
.venv/bin/starling analyze samples/test4-malicious.binetflow -o "$out"
echo
echo "== $out/alerts.log"
cat "$out/alerts.log"
