#!/bin/sh
# Makes sure `prometheus`, `promtool` (Debian's prometheus package) and `prometheus-alertmanager`
# (Debian's prometheus-alertmanager package) are installed, for the end-to-end tests
# tests/it/e2e_prometheus.rs and tests/it/e2e_alerts.rs. Never leaves a Prometheus or
# Alertmanager service running: the tests start their own on 127.0.0.1 with temporary data dirs.
# Also `systemd-socket-activate` (Debian's systemd package), for the socket-activation test in
# tests/it/web_limits.rs, and headless Chromium (Debian's chromium) for tests/it/pages.rs.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
    && command -v prometheus-alertmanager >/dev/null 2>&1 \
    && command -v systemd-socket-activate >/dev/null 2>&1 \
    && command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: prometheus/promtool/prometheus-alertmanager missing and no apt-get; install Prometheus 2.x and Alertmanager 0.2x yourself" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# Keep the packages' services from starting during installation (policy-rc.d: 101 = action forbidden).
policy_created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    policy_created=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager systemd chromium fonts-dejavu-core >/dev/null
[ -z "$policy_created" ] || $SUDO rm -f /usr/sbin/policy-rc.d
for service in prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        $SUDO systemctl disable --now "$service"
    fi
done
prometheus --version 2>&1 | head -1
prometheus-alertmanager --version 2>&1 | head -1
