package api

import "github.com/prometheus/client_golang/prometheus"

var (
	metricRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordo_http_requests_total",
		Help: "HTTP requests by method, route and status.",
	}, []string{"method", "route", "status"})
	metricDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ordo_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"method", "route"})
	metricRateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordo_http_rate_limited_total",
		Help: "Requests refused with 429, by bucket (user, ip, auth).",
	}, []string{"bucket"})
	metricIdempotentReplays = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordo_http_idempotent_replays_total",
		Help: "Requests answered with the stored response of their Idempotency-Key.",
	})
)

// Collectors are the HTTP edge's Prometheus metrics.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{metricRequests, metricDuration, metricRateLimited, metricIdempotentReplays}
}
