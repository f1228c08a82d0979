#!/usr/bin/env bash
# Install Debian's chromium for the report's browser tests (tests/adapters/test_report_browser.py).
# Idempotent, and never fails its caller: without root or apt it explains why and exits 0, and the
# browser tests skip with a reason.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium missing and not running as root: skipped (run as root to install it)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium missing and apt-get unavailable: skipped"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may be empty (fresh container) or stale: refresh them only when needed.
if ! apt-cache show chromium >/dev/null 2>&1; then
    echo "chromium not in the package lists: running apt-get update"
    if ! apt-get update -q; then
        echo "apt-get update failed: chromium not installed"
        exit 0
    fi
fi
echo "installing chromium with apt-get"
if ! apt-get install -y -q --no-install-recommends chromium; then
    echo "apt-get install chromium failed: chromium not installed"
    exit 0
fi
if [ -x "$CHROMIUM" ]; then
    echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
    echo "apt-get finished but $CHROMIUM is still missing"
fi
exit 0
