package projections

import "github.com/prometheus/client_golang/prometheus"

// Projection-level metrics. Kafka lag per group and partition comes from the consumer
// runtime (ordo_consumer_lag_records{group="ordo-projector-..."}); these say what the
// read models did with what they consumed.
var (
	metricApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "events_applied_total",
		Help: "Events folded into a read model, by projection and source (live, rebuild).",
	}, []string{"projection", "source"})
	metricSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "events_skipped_total",
		Help: "Records or events that changed nothing: below the stored offset (redelivery, zombie), at or below the row's version (duplicate), or not for this read model (ignored).",
	}, []string{"projection", "reason"})
	metricHealed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "events_healed_total",
		Help: "Events read from the event store to fill a gap in a stream (records missing from Kafka).",
	}, []string{"projection"})
	metricDeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "dead_lettered_total",
		Help: "Records sent to the dead-letter topic because they could not be decoded.",
	}, []string{"projection"})
	metricApplySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "apply_duration_seconds",
		Help:    "Time to apply one batch and commit it with its offset.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
	}, []string{"projection"})
	metricPosition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "position",
		Help: "Highest global event-store position this process has applied to the active read model.",
	}, []string{"projection"})
	metricDelay = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "delay_seconds",
		Help: "For the last committed batch: time from its newest event being recorded in the store to the read model committing it (end-to-end projection lag).",
	}, []string{"projection"})
	metricActiveVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "active_version",
		Help: "The read-model version the live projector writes (and queries read).",
	}, []string{"projection"})
	metricRebuildPosition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "projection", Name: "rebuild_position",
		Help: "Store position a running rebuild has checkpointed.",
	}, []string{"projection"})
)

// Collectors are the projections' Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricApplied, metricSkipped, metricHealed, metricDeadLettered, metricApplySeconds,
		metricPosition, metricDelay, metricActiveVersion, metricRebuildPosition}
}

func (st applyStats) record(projection, source string) {
	metricApplied.WithLabelValues(projection, source).Add(float64(st.applied))
	if st.duplicates > 0 {
		metricSkipped.WithLabelValues(projection, "duplicate").Add(float64(st.duplicates))
	}
	if st.ignored > 0 {
		metricSkipped.WithLabelValues(projection, "ignored").Add(float64(st.ignored))
	}
	if st.healed > 0 {
		metricHealed.WithLabelValues(projection).Add(float64(st.healed))
	}
}
