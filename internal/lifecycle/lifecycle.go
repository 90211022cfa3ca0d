// Package lifecycle runs Ordo's background roles (relay, projectors, saga, analytics,
// notifications, the HTTP server) side by side with one shared shape: Start(ctx) blocks
// until the role stops or fails, Stop asks it to stop. A Group starts several and stops
// them all when the first one fails or the context ends.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Role is one background worker.
type Role interface {
	// Name is a short constant name used in logs ("relay", "projector").
	Name() string
	// Start runs the role until ctx ends or Stop is called, and returns nil after a
	// clean stop. It returns an error when the role cannot go on.
	Start(ctx context.Context) error
	// Stop asks a running role to stop and waits for it. Calling it twice, or before
	// Start, is safe.
	Stop()
}

// Run starts every role and blocks until ctx ends or one role fails; then it stops
// all of them and returns the first failure (nil after a clean shutdown).
func Run(ctx context.Context, log *slog.Logger, roles ...Role) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, r := range roles {
		wg.Go(func() {
			log.Info("role starting", "role", r.Name())
			err := r.Start(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("role failed", "role", r.Name(), "err", err)
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", r.Name(), err)
				}
				mu.Unlock()
			} else {
				log.Info("role stopped", "role", r.Name())
			}
			cancel()
		})
	}
	<-ctx.Done()
	for _, r := range roles {
		r.Stop()
	}
	wg.Wait()
	return firstErr
}

// Stopper is the Stop half of a role: it cancels the context Start runs under and waits
// for Start to return. Embed it and call Begin at the top of Start.
type Stopper struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Begin derives the context Start runs under. The returned func must be deferred by
// Start; it marks the role as stopped.
func (s *Stopper) Begin(ctx context.Context) (context.Context, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, s.cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	s.done = done
	return ctx, func() { close(done) }
}

// Stop cancels the running Start and waits until it has returned.
func (s *Stopper) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
