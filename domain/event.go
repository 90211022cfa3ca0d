package domain

import (
	"errors"
	"strings"
)

// Event is a fact recorded by an aggregate. EventType returns the event's
// stable name ("order.placed"), a constant of the aggregate package; it is
// what the event store and Kafka headers carry, so it never changes once
// published, whatever happens to the Go type's name.
type Event interface {
	EventType() string
}

// ErrUnknownEvent is returned (wrapped) by an aggregate's Evolve and Fold when
// they are given an event that does not belong to the aggregate: a wiring bug,
// for example reading an order stream into a payment.
var ErrUnknownEvent = errors.New("domain: event does not belong to this aggregate")

// StreamID returns the id of an aggregate's stream: "<stream type>-<uuid>",
// for example "order-0193a1c2-...". The aggregate packages wrap it.
func StreamID(streamType string, id ID) string {
	return streamType + "-" + id.String()
}

// ParseStreamID splits a stream id made by StreamID into its type and id.
func ParseStreamID(streamID string) (streamType string, id ID, err error) {
	const idLen = 36
	if len(streamID) < idLen+2 || streamID[len(streamID)-idLen-1] != '-' {
		return "", ID{}, Invalid(CodeInvalidStreamID, "stream", "stream id must look like <type>-<uuid>")
	}
	streamType = streamID[:len(streamID)-idLen-1]
	if strings.TrimSpace(streamType) != streamType || strings.ContainsAny(streamType, " \t\n") {
		return "", ID{}, Invalid(CodeInvalidStreamID, "stream", "stream type must not contain spaces")
	}
	id, err = ParseID(streamID[len(streamID)-idLen:])
	if err != nil {
		return "", ID{}, Invalid(CodeInvalidStreamID, "stream", "stream id must end with a UUID")
	}
	return streamType, id, nil
}
