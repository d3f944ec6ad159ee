// Command exporter serves, through the official Prometheus Go client (client_golang), the
// families of a text exposition (format 0.0.4) read once at start. The benchmark harness
// (benches/harness.rs) gives it usage_exporter's own series and scrapes both the same way, so
// the table compares the two exporters on the same data.
//
//	exporter --listen 127.0.0.1:9300 --input metrics.txt
//
// Built offline against Debian's Go packages by scripts/ensure-go-client.sh.
package main

import (
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9300", "address to serve /metrics on")
	input := flag.String("input", "", "text exposition (format 0.0.4) whose families to serve")
	flag.Parse()
	if *input == "" {
		fail("--input FILE is required")
	}
	file, err := os.Open(*input)
	if err != nil {
		fail("cannot read the input: %v", err)
	}
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(file)
	file.Close()
	if err != nil {
		fail("cannot parse %s as text format 0.0.4: %v", *input, err)
	}
	if len(families) == 0 {
		fail("%s holds no metric family", *input)
	}

	// A fresh registry: no Go runtime or process collectors, so the series are the input's only.
	reg := prometheus.NewRegistry()
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	consts := 0
	for _, name := range names {
		c := collectorFor(families[name])
		if _, ok := c.(*constCollector); ok {
			consts++
		}
		if err := reg.Register(c); err != nil {
			fail("cannot register %s: %v", name, err)
		}
	}
	// Gather once so that an inconsistent family fails here, not at the first scrape.
	if _, err := reg.Gather(); err != nil {
		fail("the registry does not gather: %v", err)
	}

	// client_golang's own handler: its content negotiation (OpenMetrics only when enabled, as an
	// exporter that wants it sets) and its gzip.
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("cannot listen on %s: %v", *listen, err)
	}
	fmt.Printf("serving %d families (%d as vectors, %d as const metrics) on http://%s/metrics\n",
		len(families), len(families)-consts, consts, listener.Addr())
	fail("server stopped: %v", http.Serve(listener, nil))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "client_golang exporter: "+format+"\n", args...)
	os.Exit(1)
}

// collectorFor returns what a Go exporter would register for the family.
//
// Gauges and counters whose samples all have the same label names and no timestamp become real
// GaugeVec / CounterVec, set once: the scrape path is then that of most Go exporters. Anything
// else becomes a collector of const metrics built once (MustNewConstMetric,
// MustNewConstHistogram, MustNewConstSummary): untyped families (no vector exists for them),
// histograms and summaries (their vectors only observe, they cannot be set to given counts),
// samples with a timestamp, and families whose samples differ in label names (usage_exporter
// has a few: a vector has one fixed set of label names).
func collectorFor(mf *dto.MetricFamily) prometheus.Collector {
	name, help := mf.GetName(), mf.GetHelp()
	labels, uniform := commonLabelNames(mf)
	if uniform && !anyTimestamp(mf) {
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
			for _, m := range mf.GetMetric() {
				vec.With(labelMap(m)).Set(m.GetGauge().GetValue())
			}
			return vec
		case dto.MetricType_COUNTER:
			vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
			for _, m := range mf.GetMetric() {
				vec.With(labelMap(m)).Add(m.GetCounter().GetValue())
			}
			return vec
		}
	}
	return newConstCollector(mf)
}

// constCollector serves metrics built once. Its Describe sends nothing, which makes it an
// "unchecked" collector: the registry then accepts descs of one name with differing label names
// (at gather time it still checks that each series is unique and that help and type agree).
type constCollector struct {
	metrics []prometheus.Metric
}

func (c *constCollector) Describe(chan<- *prometheus.Desc) {}

func (c *constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}

func newConstCollector(mf *dto.MetricFamily) *constCollector {
	name, help := mf.GetName(), mf.GetHelp()
	descs := map[string]*prometheus.Desc{}
	c := &constCollector{}
	for _, m := range mf.GetMetric() {
		labels, values := labelNamesValues(m)
		key := strings.Join(labels, ",")
		desc, ok := descs[key]
		if !ok {
			desc = prometheus.NewDesc(name, help, labels, nil)
			descs[key] = desc
		}
		var metric prometheus.Metric
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			metric = prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
		case dto.MetricType_COUNTER:
			metric = prometheus.MustNewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
		case dto.MetricType_HISTOGRAM:
			h := m.GetHistogram()
			buckets := map[float64]uint64{}
			for _, b := range h.GetBucket() {
				// The +Inf bucket is implied by the count; client_golang writes it itself.
				if !math.IsInf(b.GetUpperBound(), +1) {
					buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			metric = prometheus.MustNewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			quantiles := map[float64]float64{}
			for _, q := range s.GetQuantile() {
				quantiles[q.GetQuantile()] = q.GetValue()
			}
			metric = prometheus.MustNewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), quantiles, values...)
		default:
			metric = prometheus.MustNewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
		}
		if m.TimestampMs != nil {
			metric = prometheus.NewMetricWithTimestamp(time.UnixMilli(m.GetTimestampMs()), metric)
		}
		c.metrics = append(c.metrics, metric)
	}
	return c
}

// commonLabelNames returns the label names of the family's first sample, and whether every
// sample has exactly those.
func commonLabelNames(mf *dto.MetricFamily) ([]string, bool) {
	metrics := mf.GetMetric()
	if len(metrics) == 0 {
		return nil, true
	}
	first, _ := labelNamesValues(metrics[0])
	key := strings.Join(first, ",")
	for _, m := range metrics[1:] {
		names, _ := labelNamesValues(m)
		if strings.Join(names, ",") != key {
			return first, false
		}
	}
	return first, true
}

func anyTimestamp(mf *dto.MetricFamily) bool {
	for _, m := range mf.GetMetric() {
		if m.TimestampMs != nil {
			return true
		}
	}
	return false
}

// labelNamesValues returns the sample's label names, sorted, and their values in that order.
func labelNamesValues(m *dto.Metric) ([]string, []string) {
	pairs := append([]*dto.LabelPair(nil), m.GetLabel()...)
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].GetName() < pairs[j].GetName() })
	names := make([]string, len(pairs))
	values := make([]string, len(pairs))
	for i, p := range pairs {
		names[i], values[i] = p.GetName(), p.GetValue()
	}
	return names, values
}

func labelMap(m *dto.Metric) prometheus.Labels {
	labels := prometheus.Labels{}
	for _, p := range m.GetLabel() {
		labels[p.GetName()] = p.GetValue()
	}
	return labels
}
