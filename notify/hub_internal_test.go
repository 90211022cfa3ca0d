package notify

import (
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// A client that does not drain its buffer is dropped, and nobody else waits for it.
func TestSlowClientIsDroppedWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	h := NewHub(HubConfig{SendBuffer: 3}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	customer := uuid.New()
	slow := &client{customer: customer, send: make(chan Notification, 3), dropped: make(chan struct{})}
	fast := &client{customer: customer, send: make(chan Notification, 100), dropped: make(chan struct{})}
	other := &client{customer: uuid.New(), send: make(chan Notification, 100), dropped: make(chan struct{})}
	h.register(slow)
	h.register(fast)
	h.register(other)
	defer h.unregister(slow)
	defer h.unregister(fast)
	defer h.unregister(other)
	for i := 1; i <= 10; i++ {
		h.dispatch(Notification{Seq: int64(i), CustomerID: customer}) // never blocks
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("the slow client was not dropped")
	}
	require.Len(t, fast.send, 10, "the other client of the customer got everything")
	require.Empty(t, other.send, "another customer got nothing")
}
