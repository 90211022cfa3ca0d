package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-platform/ordo/internal/telemetry"
)

// Without an exporter or a processor, spans go nowhere: none is recorded, but each has
// an id to pass on, and a parent sampled upstream is still followed. With a processor,
// spans are recorded at the sample ratio.
func TestSpansAreRecordedOnlyWhenTheyGoSomewhere(t *testing.T) {
	ctx := context.Background()
	stop, err := telemetry.Setup(ctx, telemetry.Config{SampleRatio: 1, Service: "test"})
	require.NoError(t, err)
	_, span := telemetry.Tracer("test").Start(ctx, "unexported")
	require.False(t, span.IsRecording())
	require.True(t, span.SpanContext().IsValid(), "an id to pass on")
	span.End()

	upstream := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1},
		TraceFlags: trace.FlagsSampled, Remote: true})
	_, span = telemetry.Tracer("test").Start(trace.ContextWithRemoteSpanContext(ctx, upstream), "sampled upstream")
	require.True(t, span.IsRecording())
	require.Equal(t, upstream.TraceID(), span.SpanContext().TraceID())
	span.End()
	require.NoError(t, stop(ctx))

	rec := tracetest.NewSpanRecorder()
	stop, err = telemetry.Setup(ctx, telemetry.Config{SampleRatio: 1, Service: "test"}, sdktrace.SpanProcessor(rec))
	require.NoError(t, err)
	_, span = telemetry.Tracer("test").Start(ctx, "recorded")
	require.True(t, span.IsRecording())
	span.End()
	require.Len(t, rec.Ended(), 1)
	require.NoError(t, stop(ctx))
}
