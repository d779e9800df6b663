#!/usr/bin/env bash
# Make sure Debian's Chromium is installed at /usr/bin/chromium for the browser tests.
#
# The browser tests (tests/browser) drive this Chromium with playwright-core; no browser is ever
# downloaded by npm or Playwright. When it is missing and we are root, it is installed from the
# distribution's `chromium` package; otherwise this says what to do and fails.
#
# Also, where possible, the colour emoji font: the dashboard's tier badges and toast titles carry
# 🔥 and ⭐, which are empty boxes in the screenshots without it. Missing it only warns.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
EMOJI_FONT=fonts-noto-color-emoji

have_package() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
if command -v dpkg-query >/dev/null && ! have_package "$EMOJI_FONT"; then
  packages+=("$EMOJI_FONT")
fi
[ ${#packages[@]} -gt 0 ] || exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium.sh: $CHROMIUM is missing (the browser tests need Debian's chromium)." >&2
    if command -v apt-get >/dev/null; then
      echo "  Install it once as root:" >&2
      echo "    sudo apt-get install -y --no-install-recommends chromium $EMOJI_FONT" >&2
    else
      echo "  Install Chromium from your distribution so that $CHROMIUM exists." >&2
    fi
    exit 1
  fi
  echo "install-chromium.sh: warning: $EMOJI_FONT is not installed; emoji in the screenshots" \
    "will be empty boxes (sudo apt-get install -y $EMOJI_FONT)." >&2
  exit 0
fi

echo "==> installing ${packages[*]} from Debian (for the browser tests)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium.sh: the chromium package did not provide $CHROMIUM." >&2
  exit 1
fi
echo "==> $("$CHROMIUM" --version 2>/dev/null || echo chromium) ready"
