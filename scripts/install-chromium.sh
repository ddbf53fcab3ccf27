#!/usr/bin/env bash
# Install Debian's headless-capable Chromium and its WebDriver for the relabel browser test.
#
# Idempotent: runs apt-get only when `chromium` or `chromedriver` is missing from PATH, then
# prints both versions. Needs root (or sudo) on Debian/Ubuntu; the project's CI calls it.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "chromium and chromedriver already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends chromium chromium-driver
fi

chromium --version
chromedriver --version
