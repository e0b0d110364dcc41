#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (Playwright drives it with
# executable_path; `playwright install` is never used because it downloads its own browser).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
	exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "Installing Chromium from Debian for the browser tests"
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
