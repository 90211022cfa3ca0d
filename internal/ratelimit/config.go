package ratelimit

import (
	"errors"

	"golang.org/x/time/rate"
)

// Config shapes the HTTP API's buckets.
type Config struct {
	// User is the bucket of each authenticated user, on every route.
	User Bucket
	// IP is the bucket of each client IP on requests without a valid access token.
	IP Bucket
	// Auth is the stricter bucket of each client IP on login and registration, taken on
	// top of IP: it bounds password guessing.
	Auth Bucket
	// Disabled turns limiting off (benchmarks, tests of other things).
	Disabled bool
}

// DefaultConfig returns the defaults: 20 requests/s per user (burst 40), 10/s per
// anonymous IP (burst 20), and 10 logins or registrations per minute per IP.
func DefaultConfig() Config {
	return Config{
		User: Bucket{Rate: 20, Burst: 40},
		IP:   Bucket{Rate: 10, Burst: 20},
		Auth: PerMinute(10),
	}
}

// PerMinute is a bucket of n requests per minute with a burst of n.
func PerMinute(n int) Bucket {
	return Bucket{Rate: rate.Limit(float64(n) / 60), Burst: n}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	if c.Disabled {
		return nil
	}
	return errors.Join(
		c.User.Validate("ORDO_RATE_USER_RPS/ORDO_RATE_USER_BURST"),
		c.IP.Validate("ORDO_RATE_IP_RPS/ORDO_RATE_IP_BURST"),
		c.Auth.Validate("ORDO_RATE_AUTH_PER_MIN"),
	)
}
