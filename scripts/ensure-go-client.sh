#!/usr/bin/env bash
# Builds benches/golang/main.go, the client_golang exporter that the benchmark harness
# (benches/harness.rs) compares usage_exporter with, to the path given as the first argument
# (default target/go-client-golang/exporter). Installs Debian's Go toolchain and Prometheus Go
# libraries first when they are missing, then builds offline in GOPATH mode against
# /usr/share/gocode (Debian's Go library packages install their sources there; no module proxy,
# no network). Skips the build when the binary is newer than the source. Idempotent. Prints one
# line on stdout, the Go and client_golang versions; messages go to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/target/go-client-golang/exporter}"
src="$repo/benches/golang/main.go"
gocode=/usr/share/gocode
die() {
    echo "ensure-go-client: $*" >&2
    exit 1
}

have_all() {
    command -v go >/dev/null 2>&1 \
        && [ -d "$gocode/src/github.com/prometheus/client_golang/prometheus/promhttp" ] \
        && [ -d "$gocode/src/github.com/prometheus/common/expfmt" ] \
        && [ -d "$gocode/src/github.com/prometheus/client_model/go" ]
}

if ! have_all; then
    command -v apt-get >/dev/null 2>&1 \
        || die "Go or Debian's Prometheus Go libraries are missing and there is no apt-get; install golang-go, golang-github-prometheus-client-golang-dev and golang-github-prometheus-common-dev (or their equivalents) yourself"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "ensure-go-client: installing golang-go and Debian's Prometheus Go libraries" >&2
    $SUDO apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        golang-go golang-github-prometheus-client-golang-dev golang-github-prometheus-common-dev \
        golang-github-prometheus-client-model-dev >/dev/null \
        || die "apt-get install of golang-go and the Prometheus Go libraries failed"
    have_all || die "installed the packages, but go or $gocode/src/github.com/prometheus/... is still missing"
fi

[ -f "$src" ] || die "no $src"
# What was built with, on stdout (the only stdout line): the harness prints it in its notes.
versions() {
    echo "$(go env GOVERSION), client_golang $(dpkg-query -W -f='${Version}' golang-github-prometheus-client-golang-dev 2>/dev/null || echo '(version unknown)')"
}
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
    versions
    exit 0
fi
mkdir -p "$(dirname "$out")"
# GOPATH mode (GO111MODULE=off) resolves imports under $GOPATH/src, which is exactly how Debian
# lays its packages out; GOPROXY=off and GOFLAGS= make sure nothing tries the network. The build
# cache goes beside the binary unless the caller has one (CI may run without a HOME).
export GO111MODULE=off GOPATH="$gocode" GOPROXY=off GOFLAGS=
export GOCACHE="${GOCACHE:-$(dirname "$out")/gocache}"
go build -o "$out.tmp" "$src" || die "go build of $src failed ($(go env GOVERSION))"
mv "$out.tmp" "$out"
echo "ensure-go-client: built $out" >&2
versions
