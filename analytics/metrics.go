package analytics

import "github.com/prometheus/client_golang/prometheus"

var (
	metricInsertRows = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "insert_rows",
		Help:    "Rows per ClickHouse INSERT (batch size), by table.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 11),
	}, []string{"table"})
	metricInsertSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "insert_duration_seconds",
		Help:    "Time from preparing a ClickHouse INSERT to ClickHouse acknowledging it, by table.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"table"})
	metricInsertErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "insert_errors_total",
		Help: "ClickHouse INSERTs that failed (and will be retried), by table.",
	}, []string{"table"})
	metricRowsInserted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "rows_inserted_total",
		Help: "Rows ClickHouse acknowledged, by table (redeliveries included: tables deduplicate).",
	}, []string{"table"})
	metricVisibility = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "visibility_delay_seconds",
		Help:    "Time from the newest event of a flush being recorded in the event store to ClickHouse acknowledging it.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
	metricBuffered = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "buffered_events",
		Help: "Events decoded and waiting for the next flush.",
	})
	metricUndecodable = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "analytics", Name: "undecodable_events_total",
		Help: "Events that could not be decoded: sent to the dead-letter topic by the sink (source=kafka) or skipped by a replay (source=replay).",
	}, []string{"source"})
)

// Collectors are the analytics sink's Prometheus metrics (dead-lettered records are also
// counted by the consumer runtime, ordo_consumer_dead_lettered_records_total).
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricInsertRows, metricInsertSeconds, metricInsertErrors, metricRowsInserted,
		metricVisibility, metricBuffered, metricUndecodable}
}
