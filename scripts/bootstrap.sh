#!/usr/bin/env bash
# Create/refresh the project environment on a fresh machine: Debian packages
# (Tesseract, Chromium for the dashboard test, fonts), a Python 3.11 venv in
# .venv with the pinned versions of requirements.lock, and ocrstream itself
# (editable). Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng libtesseract-dev chromium chromium-driver fonts-dejavu-core fonts-liberation)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  echo "==> installing uv (fast pip)"
  "$PY" -m pip install -q --disable-pip-version-check uv==0.13.9
fi
UV="$(command -v uv || echo "$PY -m uv")"

stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> creating .venv with the pinned dependencies (requirements.lock); first run takes a few minutes"
  [ -x .venv/bin/python ] || $UV venv -q .venv --python "$PY"
  VIRTUAL_ENV=.venv $UV pip install -q -c requirements.lock -e '.[dev]'
  rm -f .venv/.installed-*; touch "$stamp"
fi
echo "==> environment ready: .venv ($(.venv/bin/python --version))"
