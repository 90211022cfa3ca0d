package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordo-platform/ordo/eventstore"
	"github.com/ordo-platform/ordo/schemas"
)

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// After is the global position to start after (0: from the first event).
	After int64
	// ReadBatch is how many events are read from the store at once (default 10000).
	ReadBatch int
	// FlushRows is how many events are inserted into ClickHouse at once (default 50000).
	FlushRows int
	// ProgressEvery is how often progress is reported (default 1 s).
	ProgressEvery time.Duration
}

func (o ReplayOptions) withDefaults() ReplayOptions {
	if o.ReadBatch <= 0 {
		o.ReadBatch = 10_000
	}
	if o.FlushRows <= 0 {
		o.FlushRows = 50_000
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	return o
}

// ReplayProgress is where a replay is.
type ReplayProgress struct {
	// Position is the global position of the last event read.
	Position int64
	// Head is the store's head position when the replay started (positions may have
	// gaps, so Position/Head is an estimate of the fraction done).
	Head int64
	// Events counts the events written, Skipped the events that could not be decoded.
	Events, Skipped int64
	Elapsed         time.Duration
	Done            bool
}

// Rate returns events per second so far.
func (p ReplayProgress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Events+p.Skipped) / p.Elapsed.Seconds()
}

// ETA estimates the time left to reach Head at the current rate.
func (p ReplayProgress) ETA() time.Duration {
	r := p.Rate()
	if r <= 0 || p.Position >= p.Head {
		return 0
	}
	return time.Duration(float64(p.Head-p.Position) / r * float64(time.Second))
}

func (p ReplayProgress) String() string {
	pct := 100.0
	if p.Head > 0 {
		pct = min(100, 100*float64(p.Position)/float64(p.Head))
	}
	s := fmt.Sprintf("position %d of %d (%.1f%%), %d events, %.0f events/s", p.Position, p.Head, pct, p.Events, p.Rate())
	if p.Skipped > 0 {
		s += fmt.Sprintf(", %d undecodable skipped", p.Skipped)
	}
	if p.Done {
		return s + fmt.Sprintf(", done in %s", p.Elapsed.Round(time.Millisecond))
	}
	return s + fmt.Sprintf(", ETA %s", p.ETA().Round(time.Second))
}

type replayPage struct {
	decoded []Decoded
	skipped int
	last    int64
	err     error
}

// Replay re-ingests the event store into ClickHouse through w: every event after
// opts.After, read by global position from the store (not from Kafka, which may have
// dropped old records), until it has caught up with the head. It never deletes anything:
// the rows it writes are duplicates of rows already there, which the tables collapse
// (FINAL, the views), plus whatever was missing (events dead-lettered by an older sink,
// tables added by a newer migration). Reading and decoding run ahead of the inserts.
// Events that cannot be decoded are logged, counted and skipped.
func Replay(ctx context.Context, store eventstore.Store, w *Writer, opts ReplayOptions, log *slog.Logger, progress func(ReplayProgress)) (ReplayProgress, error) {
	opts = opts.withDefaults()
	codec := schemas.Default()
	start := time.Now()
	head, err := store.HeadPosition(ctx)
	if err != nil {
		return ReplayProgress{}, fmt.Errorf("replay: head position: %w", err)
	}
	p := ReplayProgress{Position: opts.After, Head: head}
	if progress == nil {
		progress = func(ReplayProgress) {}
	}

	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan replayPage, 2)
	defer func() {
		cancel()
		for range pages { // wait for the reader to end
		}
	}()
	go func() {
		defer close(pages)
		after := opts.After
		for {
			events, err := store.ReadAll(ctx, after, opts.ReadBatch)
			if err != nil {
				select {
				case pages <- replayPage{err: fmt.Errorf("replay: read after %d: %w", after, err)}:
				case <-ctx.Done():
				}
				return
			}
			if len(events) == 0 {
				return
			}
			pg := replayPage{decoded: make([]Decoded, 0, len(events)), last: events[len(events)-1].Position}
			for _, e := range events {
				d, err := Decode(codec, e)
				if err != nil {
					pg.skipped++
					log.Error("replay: event cannot be decoded; skipped", "event_id", e.ID, "stream", e.StreamID, "version", e.Version, "err", err)
					continue
				}
				pg.decoded = append(pg.decoded, d)
			}
			select {
			case pages <- pg:
			case <-ctx.Done():
				return
			}
			if len(events) < opts.ReadBatch {
				return
			}
			after = pg.last
		}
	}()

	lastReport := time.Now()
	for pg := range pages {
		if pg.err != nil {
			return p, pg.err
		}
		w.Add(pg.decoded...)
		metricUndecodable.WithLabelValues("replay").Add(float64(pg.skipped))
		if w.Len() >= opts.FlushRows {
			if err := w.Flush(ctx); err != nil {
				return p, err
			}
		}
		// Progress counts what was read and decoded; a failed final flush returns an error.
		p.Events += int64(len(pg.decoded))
		p.Skipped += int64(pg.skipped)
		p.Position = pg.last
		p.Elapsed = time.Since(start)
		if time.Since(lastReport) >= opts.ProgressEvery {
			progress(p)
			lastReport = time.Now()
		}
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	if err := w.Flush(ctx); err != nil {
		return p, err
	}
	p.Elapsed = time.Since(start)
	p.Done = true
	progress(p)
	return p, nil
}
