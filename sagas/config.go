package sagas

import (
	"errors"
	"fmt"
	"time"

	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/sagas/fraud"
)

// Group is the consumer group of the saga on the orders topic. It is a constant:
// renaming it would make the saga see every order again (harmless, since intake is
// idempotent, but slow).
const Group = "ordo-saga-orders"

// GroupFor returns the group for a topic naming: Group for Ordo's default topics, and
// "<prefix>.ordo-saga-orders" under another prefix, so that installations (and tests)
// sharing a Kafka cluster under different prefixes never share a group.
func GroupFor(names topic.Names) string {
	if names.Prefix == topic.Default.Prefix {
		return Group
	}
	return names.Prefix + "." + Group
}

// Config configures the saga workers.
type Config struct {
	// Topics names the Kafka topics.
	Topics topic.Names
	// ReserveTimeout, PaymentTimeout (the authorization, fraud check included),
	// CaptureTimeout and ConfirmTimeout bound each forward step, retries included; a
	// step that runs out cancels the order with reason timeout.
	ReserveTimeout time.Duration
	PaymentTimeout time.Duration
	CaptureTimeout time.Duration
	ConfirmTimeout time.Duration
	// CompensationTimeout bounds one attempt of a compensation (a void, a refund).
	CompensationTimeout time.Duration
	// CompensationMaxAttempts is how many times a compensation that fails transiently
	// is tried before the saga parks in compensation_failed.
	CompensationMaxAttempts int
	// ReservationTTL is how long reserved stock is held; it must outlast the forward
	// steps, so the sweeper never races a saga that is still paying.
	ReservationTTL time.Duration
	// Lease is how long a worker owns a saga without renewing; a worker that dies is
	// replaced after at most this long.
	Lease time.Duration
	// PollInterval is how often the timer loop looks for due sagas.
	PollInterval time.Duration
	// SweepInterval is how often the sweeper looks for expired reservations.
	SweepInterval time.Duration
	// MaxInFlight bounds the sagas one worker runs at once.
	MaxInFlight int
	// RetryBackoff and MaxRetryBackoff shape the backoff between attempts of a step
	// that failed transiently (doubling, jittered).
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Fraud are the fraud rules run before the provider is called.
	Fraud fraud.Rules
	// WorkerID names this worker in leases and the step log (default host/pid/random).
	WorkerID string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Topics:                  topic.Default,
		ReserveTimeout:          10 * time.Second,
		PaymentTimeout:          30 * time.Second,
		CaptureTimeout:          30 * time.Second,
		ConfirmTimeout:          10 * time.Second,
		CompensationTimeout:     30 * time.Second,
		CompensationMaxAttempts: 10,
		ReservationTTL:          15 * time.Minute,
		Lease:                   15 * time.Second,
		PollInterval:            500 * time.Millisecond,
		SweepInterval:           30 * time.Second,
		MaxInFlight:             256,
		RetryBackoff:            100 * time.Millisecond,
		MaxRetryBackoff:         30 * time.Second,
		Fraud:                   fraud.DefaultRules(),
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("saga %s %s: want a positive duration", name, d))
		}
	}
	positive("reserve timeout", c.ReserveTimeout)
	positive("payment timeout", c.PaymentTimeout)
	positive("capture timeout", c.CaptureTimeout)
	positive("confirm timeout", c.ConfirmTimeout)
	positive("compensation timeout", c.CompensationTimeout)
	positive("reservation TTL", c.ReservationTTL)
	positive("lease", c.Lease)
	positive("poll interval", c.PollInterval)
	positive("sweep interval", c.SweepInterval)
	positive("retry backoff", c.RetryBackoff)
	if c.MaxRetryBackoff < c.RetryBackoff {
		errs = append(errs, fmt.Errorf("saga max retry backoff %s is below the retry backoff %s", c.MaxRetryBackoff, c.RetryBackoff))
	}
	if c.CompensationMaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("saga compensation attempts %d: want at least 1", c.CompensationMaxAttempts))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("saga max in flight %d: want at least 1", c.MaxInFlight))
	}
	if c.Lease > 0 && c.Lease < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("saga lease %s: want at least 300ms (it is renewed every third of it)", c.Lease))
	}
	if forward := c.ReserveTimeout + c.PaymentTimeout + c.CaptureTimeout + c.ConfirmTimeout + c.Lease; c.ReservationTTL > 0 && c.ReservationTTL <= forward {
		errs = append(errs, fmt.Errorf("saga reservation TTL %s must exceed the forward steps' timeouts plus the lease (%s)", c.ReservationTTL, forward))
	}
	errs = append(errs, c.Topics.Validate(), c.Fraud.Validate())
	return errors.Join(errs...)
}
