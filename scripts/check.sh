#!/usr/bin/env bash
# Set up and run every check: system packages, virtualenv, ruff, mypy --strict,
# import-linter contracts, and the whole pytest suite (real redis-server, real nfdump,
# real nftables/iptables in network namespaces: run as root).
# Usage: bash scripts/check.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v nfdump >/dev/null || need+=(nfdump)
# Blocking tests run nft, iptables/ipset, ip and ping inside network namespaces (root).
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
command -v ping >/dev/null || need+=(iputils-ping)
# Dashboard tests: Playwright drives Debian's chromium (no browser download).
command -v chromium >/dev/null || need+=(chromium)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# py-libp2p builds fastecdsa from source: a C compiler, Python headers and GMP.
for pkg in build-essential python3-dev libgmp-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff";          .venv/bin/ruff check src tests bench
echo "== ruff format";   .venv/bin/ruff format --check src tests bench
echo "== mypy --strict"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest";        .venv/bin/python -m pytest "$@"
