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
	// Remaining counts the events after Position (measured every few seconds, up to the
	// store's cap: eventstore.Backlogger); -1 when the store cannot say.
	Remaining int64
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

// ETA estimates the time left at the current rate (0 when unknown).
func (p ReplayProgress) ETA() time.Duration {
	r := p.Rate()
	if r <= 0 || p.Remaining <= 0 {
		return 0
	}
	return time.Duration(float64(p.Remaining) / r * float64(time.Second))
}

func (p ReplayProgress) String() string {
	s := fmt.Sprintf("%d events (position %d), %.0f events/s", p.Events, p.Position, p.Rate())
	if p.Skipped > 0 {
		s += fmt.Sprintf(", %d undecodable skipped", p.Skipped)
	}
	switch {
	case p.Done:
		return s + fmt.Sprintf(", done in %s", p.Elapsed.Round(time.Millisecond))
	case p.Remaining >= 0:
		total := p.Events + p.Skipped + p.Remaining
		return s + fmt.Sprintf(", %.1f%% of %d, ETA %s", 100*float64(p.Events+p.Skipped)/float64(max(total, 1)), total, p.ETA().Round(time.Second))
	}
	return s
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
	backlog, _ := store.(eventstore.Backlogger)
	remaining := func(after int64) int64 {
		if backlog == nil {
			return -1
		}
		n, _, err := backlog.Backlog(ctx, after)
		if err != nil {
			return -1
		}
		return n
	}
	p := ReplayProgress{Position: opts.After, Remaining: remaining(opts.After)}
	lastCount := time.Now()
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
		if p.Remaining > 0 {
			p.Remaining = max(0, p.Remaining-int64(len(pg.decoded)+pg.skipped))
		}
		if time.Since(lastReport) >= opts.ProgressEvery {
			if time.Since(lastCount) >= 5*time.Second {
				p.Remaining, lastCount = remaining(p.Position), time.Now() // events appended meanwhile count too
			}
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
	p.Done, p.Remaining = true, 0
	progress(p)
	return p, nil
}
