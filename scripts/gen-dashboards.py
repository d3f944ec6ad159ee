#!/usr/bin/env python3
"""Generates the Grafana dashboards in dashboards/ (one overview + one per source).

The JSON files are committed; edit this script and run it again (`python3 scripts/gen-dashboards.py`)
rather than editing the JSON by hand, so all dashboards keep the same layout conventions:
a `datasource` template variable (no `__inputs`, so the files import as they are or provision from
disk), `target` variables from label_values, units and thresholds on every panel, and PromQL that
uses only the metric names of METRICS.md and the recording rules of deploy/prometheus/recordings.yml.
`python3 scripts/gen-dashboards.py --check` fails when a committed file differs from the output.

Alerts and panels point at each other: a panel built with `alerts=[...]` gets a panel link to each
alert's section of docs/runbooks.md (RUNBOOK_BASE + "#" + lower-case name, the same URL as the
rule's runbook_url), and each rule in deploy/prometheus/alerts.yml has a `dashboard_url`
annotation (`/d/<uid>?viewPanel=<id>`) naming one of the panels that link to it. Panel ids are
assigned in order, so adding a panel in the middle of a dashboard moves the ids after it: the test
tests/it/runbooks.rs fails until the dashboard_url annotations are updated.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
# Where docs/runbooks.md is read; the same base as the runbook_url annotations of alerts.yml
# (docs/runbooks.md says how to point both somewhere else).
RUNBOOK_BASE = "https://github.com/usage-exporter/usage_exporter/blob/main/docs/runbooks.md"


def thresholds(*steps):
    """steps: (value or None, color) — the first step's value must be None (base)."""
    return {
        "mode": "absolute",
        "steps": [{"color": c, "value": v} for v, c in steps],
    }


GREEN = thresholds((None, "green"))
BAD_IF_ANY = thresholds((None, "green"), (1, "red"))
GOOD_IF_ONE = thresholds((None, "red"), (1, "green"))


def target(expr, legend="", instant=False, fmt=None, ref="A"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if instant:
        t["instant"] = True
        t["range"] = False
    else:
        t["range"] = True
    if fmt:
        t["format"] = fmt
    return t


class Board:
    def __init__(self, uid, title, tags, description):
        self.uid = uid
        self.title = title
        self.tags = tags
        self.description = description
        self.panels = []
        self.variables = [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
            }
        ]
        self.y = 0
        self.x = 0
        self.row_h = 0

    def var(self, name, query, label=None, multi=True, include_all=True):
        self.variables.append(
            {
                "name": name,
                "label": label or name,
                "type": "query",
                "datasource": DS,
                "definition": query,
                "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "refresh": 2,
                "multi": multi,
                "includeAll": include_all,
                "allValue": ".*" if include_all else None,
                "current": {},
                "options": [],
                "sort": 1,
                "hide": 0,
                "regex": "",
            }
        )

    def row(self, title):
        self.newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "id": len(self.panels) + 1,
                "panels": [],
            }
        )
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def panel(self, kind, title, targets, w=12, h=8, unit="short", th=GREEN, desc="",
              options=None, field=None, overrides=None, transformations=None, mappings=None,
              repeat=None, alerts=()):
        if self.x + w > 24:
            self.newline()
        defaults = {"unit": unit, "thresholds": th, "mappings": mappings or []}
        if kind in ("timeseries",):
            defaults["color"] = {"mode": "palette-classic"}
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                  "showPoints": "never", "spanNulls": False}
        elif kind in ("stat", "gauge", "bargauge", "state-timeline"):
            defaults["color"] = {"mode": "thresholds"}
        if field:
            defaults.update(field)
        p = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": desc,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {},
        }
        if transformations:
            p["transformations"] = transformations
        if repeat:
            p["repeat"] = repeat
            p["repeatDirection"] = "h"
            p["maxPerRow"] = 2
        if alerts:
            p["links"] = [{"title": f"Runbook: {name}", "url": f"{RUNBOOK_BASE}#{name.lower()}",
                           "targetBlank": True} for name in alerts]
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)
        return p

    # Common panel shapes -------------------------------------------------------------------

    def ts(self, title, targets, unit="short", **kw):
        kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "bottom",
                                             "calcs": ["lastNotNull", "max"]},
                                  "tooltip": {"mode": "multi", "sort": "desc"}})
        return self.panel("timeseries", title, targets, unit=unit, **kw)

    def stat(self, title, targets, unit="short", w=6, h=4, **kw):
        kw.setdefault("options", {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                    "values": False},
                                  "colorMode": "background", "graphMode": "none",
                                  "textMode": "auto", "justifyMode": "auto"})
        return self.panel("stat", title, targets, unit=unit, w=w, h=h, **kw)

    def table(self, title, targets, unit="short", sort=None, hide=(), rename=None, **kw):
        organize = {"excludeByName": {"Time": True, "__name__": True, "job": True,
                                      "instance": True, **{k: True for k in hide}},
                    "renameByName": rename or {}}
        trans = [{"id": "merge", "options": {}}, {"id": "organize", "options": organize}]
        if sort:
            # sortBy runs after organize, so it names the column as renamed.
            field = (rename or {}).get(sort[0], sort[0])
            trans.append({"id": "sortBy", "options": {"sort": [{"field": field, "desc": sort[1]}]}})
        kw.setdefault("options", {"showHeader": True, "cellHeight": "sm",
                                  "footer": {"show": False, "reducer": ["sum"], "fields": ""}})
        kw.setdefault("field", {"custom": {"align": "auto", "cellOptions": {"type": "color-text"},
                                           "filterable": True}})
        return self.panel("table", title, targets, unit=unit, transformations=trans, **kw)

    def render(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["usage_exporter"] + self.tags,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "refresh": "1m",
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "usage_exporter", "type": "dashboards", "tags": ["usage_exporter"],
                       "asDropdown": True, "includeVars": True, "keepTime": True}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def sel(*extra, t="target"):
    """A label selector with the target variable and extra matchers."""
    parts = [f'{t}=~"$target"'] + list(extra)
    return "{" + ", ".join(parts) + "}"


# --------------------------------------------------------------------------------------------
def overview():
    b = Board("usage-exporter-overview", "usage_exporter / Overview", ["overview"],
              "Health of usage_exporter: background polls, staleness, upstream request cost.")
    b.var("job", "label_values(usage_exporter_build_info, job)", "Job")
    b.var("source", 'label_values(usage_exporter_polls_total{job=~"$job"}, source)', "Source")
    b.var("target", 'label_values(usage_exporter_polls_total{job=~"$job", source=~"$source"}, target)',
          "Target")
    s = 'job=~"$job", source=~"$source", target=~"$target"'
    b.row("Exporter")
    b.stat("Exporter up", [target('min(up{job=~"$job"})', instant=True)], th=GOOD_IF_ONE,
           mappings=[{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                                     "1": {"text": "UP", "color": "green"}}}],
           desc="Whether Prometheus can scrape every selected exporter instance.",
           alerts=["UsageExporterDown"])
    b.stat("Endpoints polled OK", [target(f"avg(usage_exporter_poll_success{{{s}}})", instant=True)],
           unit="percentunit", th=thresholds((None, "red"), (0.9, "orange"), (1, "green")),
           desc="Share of endpoints whose last poll succeeded.")
    b.stat("Stale endpoints", [target(f"sum(usage_exporter_endpoint_stale{{{s}}})", instant=True)],
           th=BAD_IF_ANY, desc="Endpoints whose data was dropped because no poll succeeded within stale_after.")
    b.stat("Config reload", [target('min(usage_exporter_config_last_reload_successful{job=~"$job"})',
                                    instant=True)], th=GOOD_IF_ONE,
           mappings=[{"type": "value", "options": {"0": {"text": "FAILED", "color": "red"},
                                                     "1": {"text": "OK", "color": "green"}}}],
           alerts=["UsageExporterConfigReloadFailed"])
    b.table("Build", [target('usage_exporter_build_info{job=~"$job"}', instant=True, fmt="table")],
            hide=["Value"], w=12, h=5)
    b.ts("Exporter memory", [target('process_resident_memory_bytes{job=~"$job"}', "{{instance}} resident")],
         unit="bytes", w=6, h=5)
    b.ts("Exporter CPU", [target('rate(process_cpu_seconds_total{job=~"$job"}[$__rate_interval])',
                                 "{{instance}}")], unit="percentunit", w=6, h=5)

    b.row("Polls")
    b.ts("Poll success by source", [target(
        f"avg by (source) (usage_exporter_poll_success{{{s}}})", "{{source}}")],
         unit="percentunit", th=thresholds((None, "red"), (0.9, "orange"), (1, "green")),
         field={"min": 0, "max": 1})
    b.ts("Poll duration (last poll)", [target(
        f"max by (source, endpoint) (usage_exporter_poll_duration_seconds{{{s}}})",
        "{{source}}/{{endpoint}}")], unit="s", th=thresholds((None, "green"), (5, "orange"), (10, "red")))
    b.table("Endpoints", [
        target(f"usage_exporter_poll_success{{{s}}}", instant=True, fmt="table"),
        target(f"time() - usage_exporter_last_poll_success_timestamp_seconds{{{s}}}", instant=True,
               fmt="table"),
        target(f"usage_exporter_endpoint_stale{{{s}}}", instant=True, fmt="table"),
        target(f"usage_exporter_endpoint_skipped{{{s}}}", instant=True, fmt="table"),
    ], w=24, h=9, sort=("Value #A", False),
        rename={"Value #A": "last poll OK", "Value #B": "data age", "Value #C": "stale",
                "Value #D": "skipped"},
        desc="One row per polled endpoint. Error texts are on the exporter's landing page (/).",
        alerts=["UsageExporterEndpointFailing", "UsageExporterEndpointStale", "Tr50UsageEndpointFailing",
                "AkanaUsageEndpointFailing", "AvevaUsageEndpointFailing"],
        overrides=[
            {"matcher": {"id": "byName", "options": "data age"},
             "properties": [{"id": "unit", "value": "s"}]},
            {"matcher": {"id": "byName", "options": "last poll OK"},
             "properties": [{"id": "mappings", "value": [{"type": "value", "options": {
                 "0": {"text": "failing", "color": "red"}, "1": {"text": "ok", "color": "green"}}}]}]},
        ])
    b.ts("Data age (since last successful poll)", [target(
        f"max by (source, endpoint) (time() - usage_exporter_last_poll_success_timestamp_seconds{{{s}}})",
        "{{source}}/{{endpoint}}")], unit="s")
    b.ts("Stale and skipped endpoints", [
        target(f"sum by (source) (usage_exporter_endpoint_stale{{{s}}})", "stale {{source}}"),
        target(f"sum by (source) (usage_exporter_endpoint_skipped{{{s}}})", "skipped {{source}}"),
    ], th=BAD_IF_ANY, desc="Skipped on purpose: e.g. master-only SCC APIs on a shadow instance.")
    b.ts("Poll errors by reason", [target(
        f"sum by (source, reason) (increase(usage_exporter_poll_errors_total{{{s}}}[$__rate_interval]))",
        "{{source}} {{reason}}")], unit="short", w=12,
         alerts=["Tr50LoginRejected", "UsageExporterEndpointFailing"])
    b.ts("Polls per minute", [target(
        f"sum by (source) (rate(usage_exporter_polls_total{{{s}}}[$__rate_interval])) * 60",
        "{{source}}")], unit="short", w=12)

    b.row("Upstream requests (cost)")
    b.ts("Upstream request rate by source and status", [target(
        f"sum by (source, status_code) (rate(usage_exporter_upstream_requests_total{{{s}}}[$__rate_interval]))",
        "{{source}} {{status_code}}")], unit="reqps",
        desc="Every upstream HTTP call, logins included. Vendors bill some of these calls; scrapes never cause them.",
        alerts=["TencentApiCallsOverFreeQuota"])
    b.ts("Upstream request rate (5m, recorded)", [target(
        'sum by (source, status_code) (source_status_code:usage_exporter_upstream_requests:rate5m{source=~"$source"})',
        "{{source}} {{status_code}}")], unit="reqps")
    b.table("Upstream requests in the time range", [target(
        f"sum by (source, target, status_code) (increase(usage_exporter_upstream_requests_total{{{s}}}[$__range]))",
        instant=True, fmt="table")], w=24, h=7, sort=("Value", True), rename={"Value": "requests"})

    b.row("Shards")
    b.ts("Targets per shard", [target(
        'sum by (shard, total_shards) (usage_exporter_targets{job=~"$job", owner="this_shard"}'
        ' * on (job, instance) group_left (shard, total_shards) usage_exporter_shard_info{job=~"$job"})',
        "shard {{shard}} of {{total_shards}}")], unit="short", w=24,
         desc="Targets each replica owns and polls (--shard/--total-shards); one line of one shard when not sharded. "
              "Two shard counts at once, or fewer shards than the count, leave targets polled twice or not at all.",
         alerts=["UsageExporterShardCountMismatch", "UsageExporterShardsMissing"])

    b.row("Partial polls and call budgets")
    b.ts("Failed units of partial polls", [target(
        f"max by (source, target, endpoint) (usage_exporter_poll_failed_units{{{s}}})",
        "{{source}}/{{target}}/{{endpoint}}")], th=BAD_IF_ANY, w=12,
        desc="Units (batches, namespaces, pages) that failed in the last poll that delivered data; "
             "the data of the other units is served. The landing page (/) lists the units and their errors.",
        alerts=["UsageExporterPartialPoll"])
    b.ts("Failed units by reason", [target(
        f"sum by (source, reason) (increase(usage_exporter_poll_unit_errors_total{{{s}}}[$__rate_interval]))",
        "{{source}} {{reason}}")], w=12)
    b.ts("Projected upstream calls and call budget", [
        target(f"usage_exporter_target_projected_calls{{{s}}}", "projected {{source}}/{{target}} per {{period}}"),
        target(f"usage_exporter_target_call_budget{{{s}}}", "budget {{source}}/{{target}} per {{period}}"),
    ], w=12, desc="Projected from the configured intervals and the measured calls per poll; "
                  "max_calls_per_day / max_calls_per_month set the budget.")
    b.ts("Interval stretch factor", [target(
        f"usage_exporter_target_interval_stretch_factor{{{s}}}", "{{source}}/{{target}}")],
        th=thresholds((None, "green"), (1.01, "orange")), w=12,
        desc="How many times longer than configured the target's intervals are, to stay within its call budget (1 = as configured).",
        alerts=["UsageExporterCallBudgetStretched"])
    return b


# --------------------------------------------------------------------------------------------
def scc():
    b = Board("usage-exporter-scc", "usage_exporter / SAP Cloud Connector", ["scc"],
              "SAP BTP Cloud Connector: health, HA role, tunnels, certificates, memory, backend latency and usage.")
    b.var("target", "label_values(scc_health_check_up, target)", "Cloud Connector")
    b.var("subaccount", 'label_values(scc_subaccount_info{target=~"$target"}, subaccount)', "Subaccount")
    t = sel()
    sa = sel('subaccount=~"$subaccount"')
    connected = sel('state="Connected"', 'subaccount=~"$subaccount"')
    heap = sel('usage=~"used|total"')
    inf = sel('le="+Inf"', 'subaccount=~"$subaccount"')
    total = sel('phase="total"', 'subaccount=~"$subaccount"')
    phases = sel('phase!="total"', 'subaccount=~"$subaccount"')
    b.row("Instance")
    b.stat("Health check", [target(f"scc_health_check_up{t}", "{{target}}", instant=True)],
           th=GOOD_IF_ONE, mappings=[{"type": "value", "options": {
               "0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}],
           alerts=["SccHealthCheckDown", "SccHaGroupMemberDown"])
    b.stat("HA role", [target(f"scc_master_role{t}", "{{target}}", instant=True)],
           th=thresholds((None, "blue"), (1, "green")), mappings=[{"type": "value", "options": {
               "0": {"text": "shadow", "color": "blue"}, "1": {"text": "master", "color": "green"}}}],
           alerts=["SccNoMasterInstance", "SccMultipleMasterInstances"])
    b.stat("Java heap used", [target(f"target:scc_java_heap_used:ratio{t}", "{{target}}", instant=True)],
           unit="percentunit", th=thresholds((None, "green"), (0.8, "orange"), (0.9, "red")),
           alerts=["SccJavaHeapHigh"])
    b.table("Version", [target(f"scc_version_info{t}", instant=True, fmt="table")], hide=["Value"],
            w=6, h=4)

    b.row("Tunnels")
    b.panel("state-timeline", "Tunnel connected", [target(
        f'max by (target, subaccount) (scc_tunnel_state{connected})',
        "{{target}} / {{subaccount}}")], w=24, h=8, th=GOOD_IF_ONE,
        mappings=[{"type": "value", "options": {"0": {"text": "not connected", "color": "red"},
                                                 "1": {"text": "Connected", "color": "green"}}}],
        options={"mergeValues": True, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        desc="1 while the subaccount tunnel is Connected; the current state name is in the table below.",
        alerts=["SccTunnelNotConnected", "SccTunnelDisconnected"])
    b.table("Current tunnel state", [
        target(f"scc_tunnel_state{sa} == 1", instant=True, fmt="table"),
        target(f"scc_tunnel_connections{sa}", instant=True, fmt="table"),
        target(f"time() - scc_tunnel_connected_since_timestamp_seconds{sa}", instant=True, fmt="table"),
    ], w=24, h=7, hide=["Value #A"], rename={"Value #B": "connections", "Value #C": "connected for"},
        overrides=[{"matcher": {"id": "byName", "options": "connected for"},
                    "properties": [{"id": "unit", "value": "dtdurations"}]}],
        alerts=["SccTunnelNotConnected", "SccTunnelDisconnected"])
    b.ts("Tunnel connections", [target(f"scc_tunnel_connections{sa}", "{{target}} / {{subaccount}}")])
    b.ts("Application connections", [target(
        f"sum by (target, subaccount, application) (scc_tunnel_application_connections{sa})",
        "{{subaccount}} / {{application}}")])
    b.ts("Backend connections by state", [target(
        f"sum by (virtual_backend, state) (scc_backend_connections{sa})",
        "{{virtual_backend}} {{state}}")])
    b.ts("Service channel connections", [target(
        f"sum by (target, subaccount, type_name, port) (scc_service_channel_connections{sa})",
        "{{subaccount}} {{type_name}}:{{port}}")])

    b.row("Certificates")
    days = thresholds((None, "red"), (7, "orange"), (30, "green"))
    b.table("Certificates by days left", [target(
        f"sort((scc:certificate_not_after:timestamp_seconds{t} - time()) / 86400)", instant=True,
        fmt="table")],
        unit="d", w=14, h=8, th=days, sort=("Value", False), rename={"Value": "days left"},
        field={"decimals": 1, "custom": {"align": "auto", "cellOptions": {"type": "color-background"},
                                         "filterable": True}},
        desc="Every certificate once, as the certificate alerts see it (a subaccount certificate "
             "from /subaccounts, UI, System and CA certificates from /certificates). Sorted by days "
             "left; red below 7 days (critical alert), orange below 30 (warning).",
        alerts=["SccCertificateExpiringSoon", "SccCertificateExpiringCritical", "SccCertificateExpired"])
    b.table("Subaccount certificates by days left", [target(
        f"sort(scc:subaccount_certificate_remaining:seconds{sa} / 86400)", instant=True, fmt="table")],
        unit="d", w=10, h=8, th=days, sort=("Value", False), rename={"Value": "days left"},
        field={"decimals": 1, "custom": {"align": "auto", "cellOptions": {"type": "color-background"},
                                         "filterable": True}})
    b.ts("Certificates by status", [target(f"scc_certificates{t}", "{{target}} {{status}}")], w=24, h=6)

    b.row("Memory")
    b.ts("Physical memory", [target(f"scc_memory_physical_bytes{t}", "{{target}} {{usage}}")],
         unit="bytes", w=8)
    b.ts("Virtual memory", [target(f"scc_memory_virtual_bytes{t}", "{{target}} {{usage}}")],
         unit="bytes", w=8)
    b.ts("Java heap", [target(f'scc_java_heap_bytes{heap}',
                              "{{target}} {{usage}}")], unit="bytes", w=8,
         alerts=["SccJavaHeapHigh"])
    b.ts("CPU", [target(f"scc_cpu_usage_ratio{t}", "{{target}} {{scope}}")], unit="percentunit",
         th=thresholds((None, "green"), (0.8, "orange"), (0.95, "red")), field={"min": 0, "max": 1},
         w=8, desc="Only on Cloud Connector versions that offer the cpu API.")
    b.ts("Disk", [target(f"scc_disk_bytes{t}", "{{target}} {{usage}}")], unit="bytes", w=8,
         desc="Only on Cloud Connector versions that offer the disk API.")
    b.ts("Alerts", [target(f"scc_alerts{t}", "{{target}} {{type}} {{status}}")], w=8, th=BAD_IF_ANY)

    b.row("Backend performance")
    b.panel("heatmap", "Backend call latency", [target(
        f"sum by (le) (increase(scc_backend_calls_total{sa}[$__rate_interval]))", "{{le}}",
        fmt="heatmap")], unit="s", w=12, h=9,
        options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1,
                 "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5,
                           "fill": "dark-orange", "scale": "exponential"},
                 "rowsFrame": {"layout": "auto"}, "tooltip": {"show": True, "yHistogram": True},
                 "legend": {"show": True}},
        desc="Calls per latency bucket (scc_backend_calls_total by le, de-accumulated by Grafana).")
    b.ts("Backend call latency p95", [target(
        f"histogram_quantile(0.95, sum by (virtual_host, virtual_port, le) (rate(scc_backend_calls_total{sa}[$__rate_interval])))",
        "{{virtual_host}}:{{virtual_port}}")], unit="s",
        th=thresholds((None, "green"), (1, "orange"), (5, "red")), w=12, h=9)
    b.ts("Backend call latency p95 (5m, recorded)", [target(
        f"target_virtual_host:scc_backend_call_duration_seconds:p95_rate5m{sa}",
        "{{virtual_host}}:{{virtual_port}}")], unit="s",
        th=thresholds((None, "green"), (1, "orange"), (5, "red")))
    b.ts("Backend calls per second", [target(
        f'sum by (virtual_host, virtual_port) (rate(scc_backend_calls_total{inf}[$__rate_interval]))',
        "{{virtual_host}}:{{virtual_port}}")], unit="reqps")
    b.table("Top time consumers", [
        target(f'topk(20, max by (virtual_backend, internal_backend, protocol, resource) (scc_top_time_consumer_duration_seconds{total}))',
               instant=True, fmt="table"),
        target(f"max by (virtual_backend, internal_backend, protocol, resource) (scc_top_time_consumer_requests{sa})",
               instant=True, fmt="table"),
        target(f"max by (virtual_backend, internal_backend, protocol, resource) (scc_top_time_consumer_sent_bytes{sa})",
               instant=True, fmt="table"),
        target(f"max by (virtual_backend, internal_backend, protocol, resource) (scc_top_time_consumer_received_bytes{sa})",
               instant=True, fmt="table"),
    ], unit="s", w=24, h=9, sort=("duration", True),
        rename={"Value #A": "duration", "Value #B": "requests", "Value #C": "sent", "Value #D": "received"},
        overrides=[
            {"matcher": {"id": "byName", "options": "requests"}, "properties": [{"id": "unit", "value": "short"}]},
            {"matcher": {"id": "byName", "options": "sent"}, "properties": [{"id": "unit", "value": "bytes"}]},
            {"matcher": {"id": "byName", "options": "received"}, "properties": [{"id": "unit", "value": "bytes"}]},
        ], th=thresholds((None, "green"), (1, "orange"), (5, "red")),
        desc="The slowest requests Cloud Connector recorded (performance/topTimeConsumers).")
    b.ts("Top time consumers: phases of the slowest", [target(
        f'topk(10, max by (virtual_backend, resource, phase) (scc_top_time_consumer_duration_seconds{phases}))',
        "{{virtual_backend}}{{resource}} {{phase}}")], unit="s", w=24)

    b.row("Usage")
    b.ts("Received from backends", [target(
        f"sum by (virtual_host, virtual_port) (rate(scc_backend_received_bytes_total{sa}[$__rate_interval]))",
        "{{virtual_host}}:{{virtual_port}}")], unit="Bps", w=8)
    b.ts("Sent to backends", [target(
        f"sum by (virtual_host, virtual_port) (rate(scc_backend_sent_bytes_total{sa}[$__rate_interval]))",
        "{{virtual_host}}:{{virtual_port}}")], unit="Bps", w=8)
    b.ts("Backend requests", [target(
        f"sum by (virtual_host, virtual_port) (rate(scc_backend_requests_total{sa}[$__rate_interval]))",
        "{{virtual_host}}:{{virtual_port}}")], unit="reqps", w=8)
    b.table("Top resources by requests in the time range", [
        target(f"topk(20, sum by (virtual_host, virtual_port, resource) (increase(scc_resource_requests_total{sa}[$__range])))",
               instant=True, fmt="table"),
        target(f"sum by (virtual_host, virtual_port, resource) (increase(scc_resource_received_bytes_total{sa}[$__range]))",
               instant=True, fmt="table"),
        target(f"sum by (virtual_host, virtual_port, resource) (increase(scc_resource_sent_bytes_total{sa}[$__range]))",
               instant=True, fmt="table"),
    ], w=16, h=8, sort=("requests", True),
        rename={"Value #A": "requests", "Value #B": "received", "Value #C": "sent"},
        overrides=[
            {"matcher": {"id": "byName", "options": "received"}, "properties": [{"id": "unit", "value": "bytes"}]},
            {"matcher": {"id": "byName", "options": "sent"}, "properties": [{"id": "unit", "value": "bytes"}]},
        ])
    b.table("Backends by last access", [target(
        f"time() - scc_backend_last_access_timestamp_seconds{sa}", instant=True, fmt="table")],
        unit="dtdurations", w=8, h=8, sort=("Value", False), rename={"Value": "last access ago"})
    b.ts("Service channel traffic", [
        target(f"sum by (port, type_key) (rate(scc_service_channel_received_bytes_total{sa}[$__rate_interval]))",
               "received {{type_key}}:{{port}}"),
        target(f"sum by (port, type_key) (rate(scc_service_channel_sent_bytes_total{sa}[$__rate_interval]))",
               "sent {{type_key}}:{{port}}"),
    ], unit="Bps", w=24)
    return b


# --------------------------------------------------------------------------------------------
def akana():
    b = Board("usage-exporter-akana", "usage_exporter / Akana API Platform", ["akana"],
              "Akana subscription usage: month-to-date API calls, response time and message sizes, per-day usage.")
    b.var("target", "label_values(akana_metric, target)", "Target")
    b.var("metric_id", 'label_values(akana_api_calls_total{target=~"$target"}, metric_id)', "Usage metric")
    t = sel()
    m = sel('metric_id=~"$metric_id"')
    b.row("Month to date")
    b.stat("API calls, month to date", [target(f"sum by (target) (akana_api_calls_total{m})", "{{target}}",
                                               instant=True)], w=6, th=thresholds((None, "blue")))
    b.stat("Average response time, month to date", [target(
        f"sum by (target) (akana_api_response_time_seconds_total{m}) / sum by (target) (akana_api_calls_total{m} > 0)",
        "{{target}}", instant=True)], unit="s", w=6,
        th=thresholds((None, "green"), (1, "orange"), (5, "red")))
    b.stat("Request bytes, month to date", [target(f"sum by (target) (akana_api_request_bytes_total{m})",
                                                   "{{target}}", instant=True)], unit="bytes", w=6,
           th=thresholds((None, "blue")))
    b.stat("Response bytes, month to date", [target(f"sum by (target) (akana_api_response_bytes_total{m})",
                                                    "{{target}}", instant=True)], unit="bytes", w=6,
           th=thresholds((None, "blue")))
    b.ts("API calls, month to date", [target(f"akana_api_calls_total{m}", "{{target}} {{metric_id}}")],
         desc="Counters reset when a new report period (month) starts.")
    b.ts("API call rate", [target(f"sum by (target, metric_id) (rate(akana_api_calls_total{m}[$__rate_interval]))",
                                  "{{target}} {{metric_id}}")], unit="reqps")
    b.table("Subscription metrics", [target(f"akana_metric{t}", instant=True, fmt="table")], w=12, h=8,
            sort=("metric_id", False), rename={"Value": "value"},
            desc="Counts the platform reports (APIs, apps, users, ...); limits come from the target's "
                 "`limits:` in the exporter config (akana_metric_limit).",
            alerts=["AkanaUsageNearLimit"])
    b.table("Report period", [
        target(f"akana_report_period_start_timestamp_seconds{t} * 1000", instant=True, fmt="table"),
        target(f"akana_report_period_end_timestamp_seconds{t} * 1000", instant=True, fmt="table"),
        target(f"akana_report_generated_timestamp_seconds{t} * 1000", instant=True, fmt="table"),
    ], unit="dateTimeAsIso", w=12, h=8,
        rename={"Value #A": "period start", "Value #B": "period end", "Value #C": "generated"})
    b.stat("Newest daily record age", [target(
        f"time() - akana_usage_latest_day_timestamp_seconds{t}", "{{subscription}}", instant=True)],
        unit="s", w=12, h=8, th=thresholds((None, "green"), (2 * 86400, "orange"), (2.5 * 86400, "red")),
        desc="Age of the start of the newest day with usage in the report; more than 2.5 days means "
             "the platform stopped recording usage although polls succeed.",
        alerts=["AkanaUsageDataLagging"])
    b.row("Per day (current report period)")
    b.panel("barchart", "API calls per day", [target(
        f"sum by (date) (akana_daily_api_calls{m})", "{{date}}", instant=True, fmt="table")],
        w=24, h=8, th=thresholds((None, "blue")),
        options={"xField": "date", "orientation": "vertical", "showValue": "auto",
                 "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"}},
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}},
                         {"id": "sortBy", "options": {"sort": [{"field": "date", "desc": False}]}}],
        alerts=["AkanaUsageNearLimit"])
    b.table("Per-day usage", [
        target(f"sum by (target, metric_id, date) (akana_daily_api_calls{m})", instant=True, fmt="table"),
        target(f"sum by (target, metric_id, date) (akana_daily_api_response_time_seconds{m})", instant=True, fmt="table"),
        target(f"sum by (target, metric_id, date) (akana_daily_api_request_bytes{m})", instant=True, fmt="table"),
        target(f"sum by (target, metric_id, date) (akana_daily_api_response_bytes{m})", instant=True, fmt="table"),
    ], w=24, h=10, sort=("date", True),
        rename={"Value #A": "calls", "Value #B": "response time", "Value #C": "request bytes",
                "Value #D": "response bytes"},
        desc="Newest day first: the platform's own per-day figures for the current report period.",
        overrides=[
            {"matcher": {"id": "byName", "options": "response time"}, "properties": [{"id": "unit", "value": "s"}]},
            {"matcher": {"id": "byName", "options": "request bytes"}, "properties": [{"id": "unit", "value": "bytes"}]},
            {"matcher": {"id": "byName", "options": "response bytes"}, "properties": [{"id": "unit", "value": "bytes"}]},
        ])
    return b


# --------------------------------------------------------------------------------------------
def tr50():
    b = Board("usage-exporter-tr50", "usage_exporter / TR50 (deviceWISE)", ["tr50"],
              "TR50 API calls per service from usage.api.history.")
    b.var("target", "label_values(tr50_api_calls_window_all_services, target)", "Target")
    b.var("service", 'label_values(tr50_api_calls_window{target=~"$target"}, service)', "Service")
    t = sel()
    s = sel('service=~"$service"')
    b.stat("API calls in the polled window (all services)", [target(
        f"sum by (target) (tr50_api_calls_window_all_services{t})", "{{target}}", instant=True)],
        w=8, th=thresholds((None, "blue")))
    b.stat("Newest usage bucket age", [target(
        f"time() - tr50_usage_latest_bucket_timestamp_seconds{t}", "{{target}}", instant=True)],
        unit="s", w=8, th=thresholds((None, "green"), (7200, "orange"), (14400, "red")),
        desc="Usage arrives in hourly buckets; older than two hours means history is not advancing.",
        alerts=["Tr50UsageDataLagging"])
    b.stat("API calls in the time range", [target(
        f"sum(increase(tr50_api_calls_total{s}[$__range]))", instant=True)], w=8,
        th=thresholds((None, "blue")))
    b.ts("API calls per hour by service", [target(
        f"sum by (service) (rate(tr50_api_calls_total{s}[$__rate_interval])) * 3600", "{{service}}")],
        unit="short", w=24, desc="tr50_api_calls_total rises as hourly buckets fill.",
        alerts=["Tr50ApiCallsSpike", "Tr50ApiCallsDrop"])
    b.panel("bargauge", "API calls in the polled window by service", [target(
        f"sort_desc(sum by (service) (tr50_api_calls_window{s}))", "{{service}}", instant=True)],
        w=12, h=10, th=thresholds((None, "blue")),
        options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.table("API calls in the time range by service", [target(
        f"sort_desc(sum by (target, service) (increase(tr50_api_calls_total{s}[$__range])))",
        instant=True, fmt="table")], w=12, h=10, sort=("Value", True), rename={"Value": "calls"})
    return b


# --------------------------------------------------------------------------------------------
def tencent():
    b = Board("usage-exporter-tencent", "usage_exporter / Tencent Cloud Monitor", ["tencent"],
              "Tencent Cloud Monitor metrics (qce_*) per instance, and the ingest lag of each metric.")
    b.var("target", "label_values(qce_datapoint_timestamp_seconds, target)", "Target")
    b.var("namespace", 'label_values(qce_datapoint_timestamp_seconds{target=~"$target"}, namespace)',
          "Namespace")
    b.var("metric", 'label_values(qce_datapoint_timestamp_seconds{target=~"$target", namespace=~"$namespace"}, metric)',
          "Metric")
    lag = sel('namespace=~"$namespace"', 'metric=~"$metric"')
    b.row("Metrics")
    # One panel per selected metric: series names are qce_<product>_<metric lower-case>_<stat>,
    # so the metric variable is matched case-insensitively inside the name.
    b.ts("$metric", [target(
        '{__name__=~"(?i)qce_.+_${metric}_[a-z0-9]+", __name__!~"qce_datapoint_timestamp_seconds|qce_metric_info", target=~"$target"}',
        "{{instance_id}}{{un_instance_id}}{{vip}} {{__name__}}")], w=12, h=8, repeat="metric",
        desc="Newest non-empty datapoint per instance (and statistic); see qce_metric_info for the unit.")
    b.row("Ingest")
    b.ts("Datapoint lag", [target(f"max by (namespace, metric) (qce:datapoint_lag:seconds{lag})",
                                  "{{namespace}} {{metric}}")], unit="s",
         th=thresholds((None, "green"), (900, "orange"), (1800, "red")),
         desc="Now minus the time of the datapoint served: Cloud Monitor publishes a period's value a few minutes late.",
         alerts=["TencentDatapointLagging"])
    b.table("Datapoint lag per instance", [target(
        f"sort_desc(time() - qce_datapoint_timestamp_seconds{lag})", instant=True, fmt="table")],
        unit="s", sort=("Value", True), rename={"Value": "lag"},
        th=thresholds((None, "green"), (900, "orange"), (1800, "red")),
        desc="Normal lag is one to two periods (1-2 h for hourly metrics) plus a few minutes; "
             "TencentDatapointLagging fires past three periods and ten minutes.",
        alerts=["TencentDatapointLagging"])
    b.table("Metric catalogue", [target(
        'qce_metric_info{target=~"$target", namespace=~"$namespace"}', instant=True, fmt="table")],
        w=24, h=8, hide=["Value"])
    b.row("Cost")
    b.ts("Cloud Monitor API calls per month (projected from the last hour)", [target(
        'sum by (target) (rate(usage_exporter_upstream_requests_total{source="tencent", target=~"$target"}[1h])) * 30 * 86400',
        "{{target}}")], w=24, h=7, th=thresholds((None, "green"), (800000, "orange"), (1000000, "red")),
        field={"custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                          "spanNulls": False, "thresholdsStyle": {"mode": "line"}}},
        desc="The exporter's own calls at the rate of the last hour, times 30 days. Cloud Monitor "
             "bills calls beyond 1,000,000 a month per account; targets of one account add up.",
        alerts=["TencentApiCallsOverFreeQuota"])
    return b


# --------------------------------------------------------------------------------------------
def aveva():
    b = Board("usage-exporter-aveva", "usage_exporter / AVEVA CONNECT data services", ["aveva"],
              "AVEVA CONNECT data services: billing-cycle usage against entitlements, per-day usage.")
    b.var("target", "label_values(aveva_cds_streams, target)", "Target")
    b.var("tenant_id", 'label_values(aveva_cds_streams{target=~"$target"}, tenant_id)', "Tenant")
    t = sel('tenant_id=~"$tenant_id"')
    ratio = thresholds((None, "green"), (0.8, "orange"), (0.9, "red"))
    b.row("Entitlements")
    b.panel("gauge", "Streams vs entitlement", [target(
        f"tenant:aveva_cds_streams_entitlement:ratio{t}", "{{tenant_id}}", instant=True)],
        unit="percentunit", th=ratio, w=6, h=6, field={"min": 0, "max": 1},
        alerts=["AvevaStreamsNearEntitlement"],
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "showThresholdMarkers": True})
    b.panel("gauge", "Namespaces vs entitlement", [target(
        f"tenant:aveva_cds_namespaces_entitlement:ratio{t}", "{{tenant_id}}", instant=True)],
        unit="percentunit", th=ratio, w=6, h=6, field={"min": 0, "max": 1},
        alerts=["AvevaNamespacesNearEntitlement"],
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "showThresholdMarkers": True})
    b.ts("Streams and namespaces", [
        target(f"aveva_cds_streams{t}", "streams {{tenant_id}}"),
        target(f"aveva_cds_streams_entitled{t}", "streams entitled {{tenant_id}}"),
        target(f"aveva_cds_namespaces{t}", "namespaces {{tenant_id}}"),
        target(f"aveva_cds_namespaces_entitled{t}", "namespaces entitled {{tenant_id}}"),
    ], w=12, h=6)
    b.row("Billing cycle to date")
    b.stat("Days left in billing cycle", [target(
        f"(aveva_cds_billing_cycle_end_timestamp_seconds{t} - time()) / 86400", "{{tenant_id}}",
        instant=True)], unit="d", w=6, th=thresholds((None, "blue")), field={"decimals": 1})
    b.stat("Ingress events", [target(f"sum(aveva_cds_ingress_events_total{t})", instant=True)], w=6,
           th=thresholds((None, "blue")))
    b.stat("Egress events", [target(f"sum(aveva_cds_egress_events_total{t})", instant=True)], w=6,
           th=thresholds((None, "blue")))
    b.stat("Stream accesses per day entitled", [target(
        f"sum(aveva_cds_stream_accesses_entitled_per_day{t})", instant=True)], w=6,
        th=thresholds((None, "blue")))
    b.ts("Usage, cycle to date", [
        target(f"sum by (tenant_id) (aveva_cds_ingress_events_total{t})", "ingress events {{tenant_id}}"),
        target(f"sum by (tenant_id) (aveva_cds_egress_events_total{t})", "egress events {{tenant_id}}"),
        target(f"sum by (tenant_id) (aveva_cds_ingress_streams_accessed_total{t})", "ingress streams accessed {{tenant_id}}"),
        target(f"sum by (tenant_id) (aveva_cds_egress_streams_accessed_total{t})", "egress streams accessed {{tenant_id}}"),
    ], w=12, desc="Counters start again with each billing cycle.")
    b.ts("Daily stream accesses vs entitlement", [
        target(f"max by (tenant_id) (aveva_cds_daily_ingress_streams_accessed{t})",
               "max daily ingress streams accessed {{tenant_id}}"),
        target(f"max by (tenant_id) (aveva_cds_daily_egress_streams_accessed{t})",
               "max daily egress streams accessed {{tenant_id}}"),
        target(f"max by (tenant_id) (aveva_cds_stream_accesses_entitled_per_day{t})", "entitled per day {{tenant_id}}"),
        target(f"max by (tenant_id) (tenant:aveva_cds_daily_stream_accesses:avg{t})",
               "average per day this cycle {{tenant_id}}"),
    ], w=12, desc="The entitlement is an average per day: AvevaStreamAccessesNearEntitlement compares "
                  "the cycle's average per day of the larger of streams written and streams read with it.",
        alerts=["AvevaStreamAccessesNearEntitlement"])
    b.row("Per day (current billing cycle)")
    b.stat("Newest daily record age", [target(
        f"time() - aveva_cds_usage_latest_day_timestamp_seconds{t}", "{{tenant_id}}", instant=True)],
        unit="s", w=24, h=4, th=thresholds((None, "green"), (2 * 86400, "orange"), (2.5 * 86400, "red")),
        desc="Age of the start (00:00 UTC) of the newest day the tenant usage holds a record for; "
             "today's record is partial and may not exist yet, so up to two days is normal.",
        alerts=["AvevaUsageDataLagging"])
    b.table("Per-day tenant usage", [
        target(f"sum by (target, tenant_id, date) (aveva_cds_daily_ingress_events{t})", instant=True, fmt="table"),
        target(f"sum by (target, tenant_id, date) (aveva_cds_daily_ingress_streams_accessed{t})", instant=True, fmt="table"),
        target(f"sum by (target, tenant_id, date) (aveva_cds_daily_egress_events{t})", instant=True, fmt="table"),
        target(f"sum by (target, tenant_id, date) (aveva_cds_daily_egress_streams_accessed{t})", instant=True, fmt="table"),
    ], w=24, h=10, sort=("date", True),
        rename={"Value #A": "ingress events", "Value #B": "ingress streams accessed",
                "Value #C": "egress events", "Value #D": "egress streams accessed"},
        desc="Newest day first; daily records are cut at 00:00 UTC, today's is partial.")
    b.table("Per-day community egress", [target(
        f"sum by (community_id, source, caller_tenant_id, callee_tenant_id, date) (aveva_cds_community_daily_egress_events{t})",
        instant=True, fmt="table")], w=24, h=8, sort=("date", True), rename={"Value": "egress events"})
    return b


BOARDS = {"overview": overview, "scc": scc, "akana": akana, "tr50": tr50, "tencent": tencent,
          "aveva": aveva}


def main():
    check = "--check" in sys.argv[1:]
    OUT.mkdir(exist_ok=True)
    stale = []
    for name, build in BOARDS.items():
        text = json.dumps(build().render(), indent=2, ensure_ascii=False) + "\n"
        path = OUT / f"{name}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.exit("out of date (run python3 scripts/gen-dashboards.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
