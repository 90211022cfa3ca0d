package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/lifecycle"
)

// Consumer lag over time for the operator console. Each serve replica samples the lag of
// Ordo's consumer groups (kadm: committed offsets against the partitions' end offsets)
// every Interval and keeps the last Window in memory; GET /v1/admin/consumers returns
// the series. The series belong to the replica that answers (they start when it
// started): behind a load balancer two requests may show different histories of the
// same groups. Prometheus's ordo_consumer_lag_records is the durable record.

// ConsumerLagConfig configures the sampler.
type ConsumerLagConfig struct {
	// Groups are the consumer groups to sample.
	Groups []string
	// Interval between samples (10 s); Window how long samples are kept (1 h).
	Interval, Window time.Duration
	// Timeout bounds one sample's Kafka requests (5 s).
	Timeout time.Duration
}

// DefaultConsumerLagConfig returns the defaults, without groups.
func DefaultConsumerLagConfig() ConsumerLagConfig {
	return ConsumerLagConfig{Interval: 10 * time.Second, Window: time.Hour, Timeout: 5 * time.Second}
}

// Validate reports every problem at once.
func (c ConsumerLagConfig) Validate() error {
	var errs []error
	if len(c.Groups) == 0 {
		errs = append(errs, errors.New("consumer lag: no groups to sample"))
	}
	if c.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("ORDO_CONSUMER_LAG_INTERVAL %s: want at least 100ms", c.Interval))
	}
	if c.Window < c.Interval {
		errs = append(errs, fmt.Errorf("ORDO_CONSUMER_LAG_WINDOW %s: want at least the interval (%s)", c.Window, c.Interval))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("consumer lag: timeout must be positive"))
	}
	return errors.Join(errs...)
}

// noOffsets is the state shown for a group Kafka has no offsets of: its role has not
// run yet, or so long ago that the offsets expired.
const noOffsets = "no committed offsets"

// ConsumerLag samples the lag of consumer groups; a lifecycle role.
type ConsumerLag struct {
	cfg     ConsumerLagConfig
	adm     *kadm.Client
	log     *slog.Logger
	replica string
	start   time.Time

	lifecycle.Stopper

	mu     sync.Mutex
	series map[string]*groupSeries
}

type groupSeries struct {
	points []LagPoint // oldest first, at most Window/Interval+1
	latest groupState
}

// LagPoint is one sample: the group's total lag in records (-1 when it could not be
// measured).
type LagPoint struct {
	At  time.Time `json:"at"`
	Lag int64     `json:"lag"`
}

type groupState struct {
	State   string
	Members int
	Topics  map[string]int64
	Err     string
}

// NewConsumerLag returns a sampler over cl (which it does not close).
func NewConsumerLag(cfg ConsumerLagConfig, cl *kgo.Client, log *slog.Logger) *ConsumerLag {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	replica, _ := os.Hostname()
	l := &ConsumerLag{cfg: cfg, adm: kadm.NewClient(cl), log: log, replica: replica, start: time.Now().UTC(),
		series: map[string]*groupSeries{}}
	for _, g := range cfg.Groups {
		l.series[g] = &groupSeries{}
	}
	return l
}

// Name implements lifecycle.Role.
func (l *ConsumerLag) Name() string { return "console-consumer-lag" }

// Start samples at once and then every Interval until ctx ends or Stop is called.
func (l *ConsumerLag) Start(ctx context.Context) error {
	ctx, done := l.Begin(ctx)
	defer done()
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	for {
		l.Sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample measures every group once and appends the result to its series.
func (l *ConsumerLag) Sample(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	now := time.Now().UTC()
	// A copy: kadm's Lag reuses its variadic slice as scratch space (and would reorder
	// and duplicate our groups).
	lags, err := l.adm.Lag(sctx, slices.Clone(l.cfg.Groups)...)
	if ctx.Err() != nil {
		return // stopping: not a measurement
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.cfg.Groups {
		s := l.series[g]
		st := groupState{}
		lag := int64(-1)
		switch {
		case err != nil:
			st.Err = err.Error()
		default:
			dl, ok := lags[g]
			switch {
			case !ok:
				st.Err = "not described"
			case errors.Is(dl.Error(), kerr.GroupIDNotFound):
				st.State = noOffsets // Kafka 4 answers so for a group it does not know
			case dl.Error() != nil:
				st.Err = dl.Error().Error()
			default:
				st.State, st.Members = dl.State, len(dl.Members)
				if dl.State == "Dead" || (len(dl.Lag) == 0 && len(dl.Members) == 0) {
					st.State = noOffsets // never consumed, or its offsets expired
					break
				}
				st.Topics = map[string]int64{}
				for t, tl := range dl.Lag.TotalByTopic() {
					st.Topics[t] = tl.Lag
				}
				lag = dl.Lag.Total()
			}
		}
		s.latest = st
		s.points = append(s.points, LagPoint{At: now, Lag: lag})
		keep := int(l.cfg.Window/l.cfg.Interval) + 1
		if len(s.points) > keep {
			s.points = slices.Delete(s.points, 0, len(s.points)-keep)
		}
	}
	if err != nil {
		l.log.Warn("consumer lag sample failed", "err", err)
	}
}

type consumersResponse struct {
	// Replica is the host name of the serve process that sampled: the series are its own.
	Replica         string          `json:"replica"`
	Since           time.Time       `json:"since"`
	IntervalSeconds float64         `json:"interval_seconds"`
	WindowSeconds   float64         `json:"window_seconds"`
	Groups          []consumerGroup `json:"groups"`
}

type consumerGroup struct {
	Group string `json:"group"`
	// State is Kafka's group state (Stable, Empty, PreparingRebalance, ...).
	State   string `json:"state,omitempty"`
	Members int    `json:"members"`
	// Lag is the latest total lag in records (-1: unknown); Topics the latest per topic.
	Lag    int64            `json:"lag"`
	Topics map[string]int64 `json:"topics,omitempty"`
	Error  string           `json:"error,omitempty"`
	Series []LagPoint       `json:"series"`
}

// Snapshot returns every group's series.
func (l *ConsumerLag) snapshot() consumersResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := consumersResponse{Replica: l.replica, Since: l.start, IntervalSeconds: l.cfg.Interval.Seconds(),
		WindowSeconds: l.cfg.Window.Seconds(), Groups: make([]consumerGroup, 0, len(l.cfg.Groups))}
	for _, g := range l.cfg.Groups {
		s := l.series[g]
		cg := consumerGroup{Group: g, State: s.latest.State, Members: s.latest.Members, Topics: s.latest.Topics,
			Error: s.latest.Err, Lag: -1, Series: slices.Clone(s.points)}
		if cg.Series == nil {
			cg.Series = []LagPoint{}
		}
		if n := len(s.points); n > 0 {
			cg.Lag = s.points[n-1].Lag
		}
		out.Groups = append(out.Groups, cg)
	}
	return out
}

// handleAdminConsumers: GET /v1/admin/consumers (admin) → each group's lag series, as
// sampled by this replica.
func (s *Server) handleAdminConsumers(c echo.Context) error {
	l := s.deps.Admin.ConsumerLag
	if l == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "consumer lag is not sampled by this process")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, l.snapshot())
}
