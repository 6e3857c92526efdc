#!/usr/bin/env bash
# One-time setup on a fresh machine: Debian packages (Fashion-MNIST, OpenBLAS for the native matmul
# path, fonts, Chromium), npm dependencies from the lock file, and the TypeScript build. Safe to rerun.
# Usage: bash scripts/setup.sh [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts: text in the report's PNGs; chromium: the explorer's browser test.
APT_PACKAGES=(dataset-fashion-mnist libopenblas-dev libopenblas0-pthread fonts-dejavu-core chromium)
# --bench: also the PyTorch CPU reference that `npm run bench` compares against.
if [ "${1:-}" = "--bench" ]; then APT_PACKAGES+=(python3-torch); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
      apt-get update >/dev/null
      apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    }
  else
    echo "setup: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

npm ci --no-audit --no-fund
npm run build --silent
