#!/usr/bin/env bash
# Set up Starling and analyse a bundled sample capture (Argus flows of a real
# infected host scanning 81/tcp and 23/tcp, from Stratosphere Lab), then show
# what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
for pkg in build-essential python3-dev libgmp-dev; do  # py-libp2p builds fastecdsa
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
out=starling-output/demo
rm -rf "$out"
.venv/bin/starling analyze samples/test4-malicious.binetflow -o "$out"
echo
echo "== $out/alerts.log"
cat "$out/alerts.log"
