#!/bin/sh
# Makes sure `prometheus` and `promtool` are installed (Debian's prometheus package), for the
# end-to-end test tests/it/e2e_prometheus.rs. Never leaves a Prometheus service running: the test
# starts its own on 127.0.0.1 with a temporary data dir.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: prometheus/promtool missing and no apt-get; install Prometheus 2.x yourself" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# Keep the package's service from starting during installation (policy-rc.d: 101 = action forbidden).
policy_created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    policy_created=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
[ -z "$policy_created" ] || $SUDO rm -f /usr/sbin/policy-rc.d
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    $SUDO systemctl disable --now prometheus
fi
prometheus --version 2>&1 | head -1
