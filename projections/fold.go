package projections

import (
	"context"
	"fmt"
)

// advance brings one stream's part of a row from version cur through e: an event at or
// below cur is a duplicate (redelivery, replay overlap) and changes nothing; an event
// beyond cur+1 means events are missing, which the live path fills from the event store
// (heal) and a rebuild, reading the store in order, treats as a bug. apply is called for
// every event that moves the version, in version order. It returns the new version.
func advance(ctx context.Context, heal healFunc, cur int64, e event, st *applyStats, apply func(event)) (int64, error) {
	if e.Version <= cur {
		st.duplicates++
		return cur, nil
	}
	if e.Version > cur+1 {
		if heal == nil {
			return cur, fmt.Errorf("stream %s: version %d follows %d: events are missing", e.StreamID, e.Version, cur)
		}
		missing, err := heal(ctx, e.StreamID, cur+1, e.Version-1)
		if err != nil {
			return cur, fmt.Errorf("stream %s: fill versions %d..%d from the store: %w", e.StreamID, cur+1, e.Version-1, err)
		}
		for _, m := range missing {
			if m.Version != cur+1 {
				return cur, fmt.Errorf("stream %s: the store returned version %d after %d", e.StreamID, m.Version, cur)
			}
			apply(m)
			cur = m.Version
			st.healed++
		}
		if cur != e.Version-1 {
			return cur, fmt.Errorf("stream %s: versions %d..%d are not in the store yet", e.StreamID, cur+1, e.Version-1)
		}
	}
	apply(e)
	st.applied++
	return e.Version, nil
}
