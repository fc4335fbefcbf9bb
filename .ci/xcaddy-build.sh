#!/usr/bin/env bash
# Runs the xcaddy build documented in docs/configuration.md ("From a local
# checkout"), taken from the page itself, against this checkout, and checks
# that the resulting Caddy lists tokengate's modules. Keeps the documented
# command true.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

XCADDY_VERSION=v0.4.5
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
if ! xcaddy version 2>/dev/null | grep -q "^${XCADDY_VERSION}\b"; then
	echo "installing xcaddy ${XCADDY_VERSION}"
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
fi

# The documented command: from the `xcaddy build` line of the page through its
# continuation lines, with the placeholder path replaced by this checkout.
cmd=$(awk '/^xcaddy build v[0-9]/ { on = 1 } on { print; if ($0 !~ /\\$/) exit }' docs/configuration.md)
case "$cmd" in
*"--replace github.com/tokengate/tokengate=/path/to/tokengate"*) ;;
*)
	echo "docs/configuration.md: no 'xcaddy build ... --replace github.com/tokengate/tokengate=/path/to/tokengate' command found" >&2
	exit 1
	;;
esac
cmd=${cmd//\/path\/to\/tokengate/$repo}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The local module is not published, so Go must never ask a proxy for it:
# with --replace it falls back to the checkout when the proxy says the
# module has no versions (proxy.golang.org answers 404). Some proxies answer
# 403 instead, which Go treats as fatal; a first, local proxy that lists no
# versions for our two module paths makes every machine behave like the
# first case. Every other module comes from the configured proxy.
for m in github.com/tokengate/tokengate github.com/tokengate/tokengate/caddymodule; do
	mkdir -p "$work/proxy/$m/@v"
	: >"$work/proxy/$m/@v/list"
done
export GOPROXY="file://$work/proxy,$(go env GOPROXY)"

# Compile as `go build ./cmd/caddy` does (the tests built it just before), so
# that every package already compiled comes from the build cache instead of
# being compiled a third time: xcaddy's default flags (-trimpath, tags) and
# CGO_ENABLED=0 would change every cache key. Which modules and versions are
# resolved, the part that can break, does not depend on these.
export CGO_ENABLED="$(go env CGO_ENABLED)"
export XCADDY_GO_BUILD_FLAGS="${XCADDY_GO_BUILD_FLAGS:--ldflags='-w -s'}"

echo "+ $cmd"
(cd "$work" && eval "$cmd") >"$work/build.log" 2>&1 || {
	tail -40 "$work/build.log" >&2
	echo "the documented xcaddy build failed" >&2
	exit 1
}

modules=$("$work/caddy" list-modules)
missing=0
for m in tokengate http.handlers.tokengate_echo http.handlers.tokengate_edi http.handlers.tokengate_edi_admin \
	http.handlers.tokengate_edi_protect http.handlers.tokengate_folio http.handlers.tokengate_jwks \
	http.handlers.tokengate_manage http.handlers.tokengate_oauth http.handlers.tokengate_protect; do
	if ! grep -qx "$m" <<<"$modules"; then
		echo "the xcaddy-built caddy does not list $m" >&2
		missing=1
	fi
done
[ "$missing" = 0 ]
echo "xcaddy build: ok ($(grep -c tokengate <<<"$modules") tokengate modules)"
