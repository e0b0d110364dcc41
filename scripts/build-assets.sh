#!/usr/bin/env bash
# Build the app's browser assets; with --lint also check every JS file.
#
# - Node and npm come from Debian when `node` is absent (apt-get, as root or via sudo).
# - `npm ci` runs only when node_modules is stale: missing, or older than package.json/package-lock.json.
# - scripts/build-assets.js bundles every dartwing/public/**/*.bundle.{js,css} with esbuild as `bench build`
#   does (socket.io-client imported from npm, bundled): hashed files under dartwing/public/dist/ (gitignored,
#   served at /assets/dartwing/dist/...) and the sites/assets/assets.json manifest that include_script reads.
# - --lint: `node --check` on every JS file under dartwing/ (bundles as ES modules), then ESLint
#   (eslint.config.js).
set -euo pipefail
cd "$(dirname "$0")/.."

lint=0
for arg in "$@"; do
	case "$arg" in
	--lint) lint=1 ;;
	*) echo "usage: $0 [--lint]" >&2; exit 2 ;;
	esac
done

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "Installing Node.js and npm from Debian"
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
	echo "npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/build-assets.js

if [ "$lint" = 1 ]; then
	echo "node --check dartwing/**/*.js"
	find dartwing -name '*.js' -not -name '*.bundle.js' -not -path 'dartwing/public/dist/*' -print0 |
		xargs -0 -n1 node --check
	find dartwing -name '*.bundle.js' -not -path 'dartwing/public/dist/*' -print0 |
		xargs -0 -n1 node --experimental-default-type=module --check
	echo "eslint dartwing/"
	npx --no-install eslint dartwing/
fi
