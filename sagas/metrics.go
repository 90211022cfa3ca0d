package sagas

import "github.com/prometheus/client_golang/prometheus"

var (
	metricOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "outcomes_total",
		Help: "Sagas that reached an outcome: confirmed, or cancelled with the order's reason. A confirmed order cancelled later by its customer counts once for each.",
	}, []string{"outcome", "reason"})
	metricStepSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "step_duration_seconds",
		Help:    "Duration of one attempt of a saga step, by step and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
	}, []string{"step", "outcome"})
	metricPaymentCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "payment_calls_total",
		Help: "Calls to the payment provider, by provider, operation and result.",
	}, []string{"provider", "operation", "result"})
	metricPaymentSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "payment_call_duration_seconds",
		Help:    "Duration of calls to the payment provider, by provider and operation.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
	}, []string{"provider", "operation"})
	metricCompensationFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "compensation_failures_total",
		Help: "Sagas that entered compensation_failed.",
	})
	metricCompensationFailed = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "compensation_failed",
		Help: "Sagas in compensation_failed now, all workers together (counted in Postgres by every worker's timer loop; alert on max() > 0).",
	})
	metricOldestPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "oldest_pending_seconds",
		Help: "Age of the oldest saga not yet confirmed, cancelled or parked in compensation_failed (0 when none), all workers together (measured in Postgres by every worker's timer loop; alert on max()).",
	})
	metricTimeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "timeouts_total",
		Help: "Saga steps that ran out of time and cancelled their order (reason timeout), by step.",
	}, []string{"step"})
	metricRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "step_retries_total",
		Help: "Saga step attempts that failed transiently and were retried, by step.",
	}, []string{"step"})
	metricFraud = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "fraud_rules_fired_total",
		Help: "Fraud rules that fired, by rule (whether or not the order was refused).",
	}, []string{"rule"})
	metricInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "in_flight",
		Help: "Sagas this worker is running now.",
	})
	metricExpiredReleased = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "expired_reservations_released_total",
		Help: "Expired reservations of orders no longer pending that the sweeper released.",
	})
	metricLeaseLost = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ordo", Subsystem: "saga", Name: "leases_lost_total",
		Help: "Times a worker found that another had taken over a saga it was running (its writes were refused).",
	})
)

// Collectors are the saga's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricOutcomes, metricStepSeconds, metricPaymentCalls, metricPaymentSeconds,
		metricCompensationFailures, metricCompensationFailed, metricOldestPending, metricTimeouts, metricRetries, metricFraud, metricInFlight,
		metricExpiredReleased, metricLeaseLost}
}
