package eventstore

import (
	"context"
	"errors"
	"time"
)

// SubscribeOptions tune a catch-up subscription.
type SubscribeOptions struct {
	// BatchSize is the most events handed to the handler at once (default 500).
	BatchSize int
	// PollInterval is how long to wait for new events when the store cannot notify, and
	// the longest wait between reads when it can (default 1 s).
	PollInterval time.Duration
	// Linger, when set, spaces reads under a steady stream: after a read that found
	// events but not a full page, the next read waits until Linger has passed since that
	// one began, so events appended meanwhile come in one read instead of one read each.
	// An idle subscription still reads as soon as it is notified.
	Linger time.Duration
}

func (o SubscribeOptions) withDefaults() SubscribeOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	return o
}

// Handler handles a batch of events in position order. Returning an error ends the
// subscription with that error; the caller decides where to resume.
type Handler func(ctx context.Context, events []Event) error

// Subscribe reads every event after position `after`, then follows new ones as they are
// appended, handing them to handle in global position order, until ctx ends (then it
// returns ctx's error) or handle fails. It uses the store's Notifier when it has one.
func Subscribe(ctx context.Context, store Store, after int64, opts SubscribeOptions, handle Handler) error {
	opts = opts.withDefaults()
	notifier, _ := store.(Notifier)
	for {
		var appended <-chan struct{}
		if notifier != nil {
			appended = notifier.Appended()
		}
		readAt := time.Now()
		events, err := store.ReadAll(ctx, after, opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if len(events) > 0 {
			if err := handle(ctx, events); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
			after = events[len(events)-1].Position
			if len(events) == opts.BatchSize {
				continue // more is waiting; do not sleep
			}
			if rest := time.Until(readAt.Add(opts.Linger)); rest > 0 {
				if err := waitForMore(ctx, nil, rest); err != nil { // nil: only the linger's end wakes it
					return err
				}
			}
		}
		if err := waitForMore(ctx, appended, opts.PollInterval); err != nil {
			return err
		}
	}
}

func waitForMore(ctx context.Context, appended <-chan struct{}, poll time.Duration) error {
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-appended: // nil when the store cannot notify: then only the timer wakes us
		return nil
	case <-t.C:
		return nil
	}
}

// ErrStop can be returned by a Handler to end a subscription cleanly: Subscribe then
// returns nil.
var ErrStop = errors.New("eventstore: stop subscription")
