package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/projections"
)

// The projections page of the operator console: each read model's versions, position
// and lag, and rebuilds started from the browser. A rebuild is projections.Rebuild (what
// `ordo replay --projection` runs) in a goroutine of this serve process; its live
// progress (rate, ETA) is known to this replica only, while the registry's building
// version (position, events) is visible from every replica and from `ordo replay`.

// Problem code of a second rebuild of the same projection.
const codeRebuildRunning = "rebuild_running"

// Rebuilds runs projection rebuilds in the background of the serve process and keeps
// their progress. It is a lifecycle role: Stop cancels the rebuilds still running
// (which resume from their checkpoint on the next start) and waits for them.
type Rebuilds struct {
	pool  *pgxpool.Pool
	store eventstore.Store
	log   *slog.Logger
	// PageSize is passed to projections.Rebuild (0: its default).
	PageSize int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*RebuildRun
}

// RebuildRun is one rebuild started by this process: running, finished or failed.
type RebuildRun struct {
	Projection string    `json:"projection"`
	Version    int       `json:"version"`
	Phase      string    `json:"phase"`
	State      string    `json:"state"` // running, done, failed
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Position is the store position checkpointed so far; Events the events read by this
	// run; Remaining the estimate of events still to read (-1: unknown).
	Position  int64 `json:"position"`
	Events    int64 `json:"events"`
	Remaining int64 `json:"remaining"`
	// Rate is events per second so far; ETASeconds the estimate of the time left (-1:
	// unknown).
	Rate       float64   `json:"rate"`
	ETASeconds float64   `json:"eta_seconds"`
	Percent    float64   `json:"percent"`
	Resumed    bool      `json:"resumed,omitempty"`
	Previous   int       `json:"previous_version,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`

	cause error // Error as an error, for errors.Is
}

// NewRebuilds returns the runner over the event store and the read models' pool.
func NewRebuilds(pool *pgxpool.Pool, store eventstore.Store, log *slog.Logger) *Rebuilds {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Rebuilds{pool: pool, store: store, log: log, ctx: ctx, cancel: cancel, runs: map[string]*RebuildRun{}}
}

// Name implements lifecycle.Role.
func (r *Rebuilds) Name() string { return "console-rebuilds" }

// Start waits until ctx ends, then stops the rebuilds (see Stop).
func (r *Rebuilds) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-r.ctx.Done():
	}
	r.Stop()
	return nil
}

// Stop cancels running rebuilds and waits for them; safe to call twice or before Start.
func (r *Rebuilds) Stop() {
	r.cancel()
	r.wg.Wait()
}

// Begin starts a rebuild of name in the background and returns once it holds the
// projection's rebuild lock and has registered its version (or failed to): a rebuild
// already running, here or in any other process, is projections.ErrRebuildRunning.
func (r *Rebuilds) Begin(ctx context.Context, name string) (RebuildRun, error) {
	if !slices.Contains(projections.Names(), name) {
		return RebuildRun{}, fmt.Errorf("%w %q", projections.ErrUnknownProjection, name)
	}
	r.mu.Lock()
	if run, ok := r.runs[name]; ok && run.State == "running" {
		r.mu.Unlock()
		return RebuildRun{}, fmt.Errorf("%w: %s (started %s)", projections.ErrRebuildRunning, name, run.StartedAt.Format(time.RFC3339))
	}
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		return RebuildRun{}, errors.New("the server is shutting down")
	}
	now := time.Now().UTC()
	run := &RebuildRun{Projection: name, State: "running", Phase: "starting", StartedAt: now, UpdatedAt: now, Remaining: -1, ETASeconds: -1}
	r.runs[name] = run
	r.mu.Unlock()

	started := make(chan struct{})
	var once sync.Once
	r.wg.Go(func() {
		res, err := projections.Rebuild(r.ctx, r.pool, r.store, name, projections.RebuildOptions{
			PageSize: r.PageSize, Log: r.log,
			Progress: func(p projections.RebuildProgress) {
				r.progress(run, p)
				once.Do(func() { close(started) })
			},
		})
		r.finish(run, res, err)
		once.Do(func() { close(started) })
	})
	select {
	case <-started:
	case <-ctx.Done():
		return r.snapshot(run), nil // it goes on; the caller polls
	}
	got := r.snapshot(run)
	if got.State == "failed" {
		r.mu.Lock()
		cause := run.cause
		r.mu.Unlock()
		if errors.Is(cause, projections.ErrRebuildRunning) {
			// Another process holds the lock: forget this attempt, the registry shows theirs.
			r.mu.Lock()
			if r.runs[name] == run {
				delete(r.runs, name)
			}
			r.mu.Unlock()
		}
		return got, cause
	}
	return got, nil
}

func (r *Rebuilds) progress(run *RebuildRun, p projections.RebuildProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run.Version, run.Phase, run.Position, run.Events, run.Remaining = p.Version, p.Phase, p.Position, p.RunEvents, p.Remaining
	run.UpdatedAt = time.Now().UTC()
	run.Rate = float64(p.RunEvents) / max(p.Elapsed.Seconds(), 1e-3)
	run.ETASeconds, run.Percent = -1, 0
	if p.Remaining >= 0 {
		if total := p.RunEvents + p.Remaining; total > 0 {
			run.Percent = 100 * float64(p.RunEvents) / float64(total)
		} else {
			run.Percent = 100
		}
		if run.Rate > 0 {
			run.ETASeconds = float64(p.Remaining) / run.Rate
		}
	}
}

func (r *Rebuilds) finish(run *RebuildRun, res projections.RebuildResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	run.UpdatedAt, run.FinishedAt = now, now
	if err != nil {
		run.State, run.Error, run.cause = "failed", err.Error(), err
		if errors.Is(err, context.Canceled) {
			run.Error = "interrupted (the server stopped); start it again to resume from its checkpoint"
		}
		r.log.Error("console rebuild failed", "projection", run.Projection, "err", err)
		return
	}
	run.State, run.Phase, run.Version, run.Previous, run.Resumed = "done", projections.PhaseDone, res.Version, res.Previous, res.Resumed
	run.Position, run.Events, run.Remaining, run.Rate, run.ETASeconds, run.Percent = res.Position, res.Events, 0, res.Rate(), 0, 100
}

func (r *Rebuilds) snapshot(run *RebuildRun) RebuildRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *run
	c.cause = nil
	return c
}

// Runs returns the latest rebuild this process started for each projection.
func (r *Rebuilds) Runs() map[string]RebuildRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]RebuildRun, len(r.runs))
	for k, v := range r.runs {
		c := *v
		c.cause = nil
		out[k] = c
	}
	return out
}

type projectionsResponse struct {
	Projections []projectionStatus `json:"projections"`
	// Head is the event store's head position; lag is measured against it.
	Head int64 `json:"head"`
	// KafkaError says why Kafka lag is missing (null when it is there).
	KafkaError string `json:"kafka_error,omitempty"`
}

type projectionStatus struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// Active is the serving version (null before the first Setup).
	Active   *projectionVersion  `json:"active"`
	Building *projectionVersion  `json:"building,omitempty"`
	Versions []projectionVersion `json:"versions"`
	// LagEvents counts the store's events after the active version's position (every
	// stream type, capped at 1,000,000); LagRecords the records on its Kafka partitions
	// not yet applied (null when Kafka did not answer or nothing was consumed yet).
	LagEvents  int64  `json:"lag_events"`
	LagRecords *int64 `json:"lag_records"`
	// Rebuild is the latest rebuild started from this serve replica, with its rate and
	// ETA (absent when none was).
	Rebuild *RebuildRun `json:"rebuild,omitempty"`
}

type projectionVersion struct {
	Version     int        `json:"version"`
	State       string     `json:"state"`
	Position    int64      `json:"position"`
	Events      int64      `json:"events"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

func toProjectionVersion(v projections.VersionStatus) projectionVersion {
	return projectionVersion{Version: v.Version, State: v.State, Position: v.Position, Events: v.Events,
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(), ActivatedAt: utcPtr(v.ActivatedAt)}
}

// handleAdminProjections: GET /v1/admin/projections (admin).
func (s *Server) handleAdminProjections(c echo.Context) error {
	if s.deps.App == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the read models are not served by this process")
	}
	ctx := c.Request().Context()
	store := s.deps.App.Store
	// This replica's rebuilds first: one seen done here has switched over before the
	// registry is read, so the answer never shows a finished rebuild beside its
	// building version.
	var runs map[string]RebuildRun
	if s.deps.Admin.Rebuilds != nil {
		runs = s.deps.Admin.Rebuilds.Runs()
	}
	sts, err := projections.List(ctx, store.Pool())
	if err != nil {
		return err
	}
	head, err := store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	out := projectionsResponse{Head: head, Projections: make([]projectionStatus, 0, len(sts))}
	ends, kerr := s.endOffsets(ctx, sts)
	if kerr != nil {
		out.KafkaError = kerr.Error()
	}
	for _, st := range sts {
		ps := projectionStatus{Name: st.Name, Group: st.Group, Versions: make([]projectionVersion, 0, len(st.Versions))}
		for _, v := range st.Versions {
			ps.Versions = append(ps.Versions, toProjectionVersion(v))
		}
		if a, ok := st.Active(); ok {
			pv := toProjectionVersion(a)
			ps.Active = &pv
			if n, _, err := store.Backlog(ctx, a.Position); err == nil {
				ps.LagEvents = n
			}
			if ends != nil && len(a.Offsets) > 0 {
				var n int64
				for _, o := range a.Offsets {
					if end, ok := ends.Lookup(o.Topic, o.Partition); ok && end.Err == nil {
						n += max(0, end.Offset-o.NextOffset)
					}
				}
				ps.LagRecords = &n
			}
		}
		if b, ok := st.Building(); ok {
			pv := toProjectionVersion(b)
			ps.Building = &pv
		}
		if run, ok := runs[st.Name]; ok {
			ps.Rebuild = &run
		}
		out.Projections = append(out.Projections, ps)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// endOffsets lists the end offsets of the topics the active versions consume (nil
// without Kafka).
func (s *Server) endOffsets(ctx context.Context, sts []projections.Status) (kadm.ListedOffsets, error) {
	if s.deps.Admin.Kafka == nil {
		return nil, errors.New("this process has no Kafka client")
	}
	var topics []string
	for _, st := range sts {
		if a, ok := st.Active(); ok {
			for _, o := range a.Offsets {
				topics = append(topics, o.Topic)
			}
		}
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if len(topics) == 0 {
		return kadm.ListedOffsets{}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(s.deps.Admin.Kafka).ListEndOffsets(lctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	return ends, nil
}

// handleAdminRebuild: POST /v1/admin/projections/{name}/rebuild (admin) → 202 with the
// rebuild's first progress; 409 while one runs; 404 for an unknown projection.
func (s *Server) handleAdminRebuild(c echo.Context) error {
	r := s.deps.Admin.Rebuilds
	if r == nil {
		return newProblem(http.StatusServiceUnavailable, codeUnavailable, "rebuilds are not run by this process")
	}
	name := c.Param("name")
	if !slices.Contains(projections.Names(), name) {
		return newProblem(http.StatusNotFound, codeNotFound, fmt.Sprintf("no projection is called %q (known: %v)", truncateParam(name), projections.Names()))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	run, err := r.Begin(ctx, name)
	if errors.Is(err, projections.ErrRebuildRunning) {
		return newProblem(http.StatusConflict, codeRebuildRunning,
			fmt.Sprintf("a rebuild of %s is already running; watch GET /v1/admin/projections", name))
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/admin/projections")
	return c.JSON(http.StatusAccepted, run)
}

func truncateParam(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
