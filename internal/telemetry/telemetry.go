// Package telemetry sets up OpenTelemetry tracing for an Ordo process and ties logs to
// traces. Traces are always made (so trace ids appear in logs and travel in events and
// Kafka headers, and one order can be followed across roles by its trace id); they are
// exported over OTLP/HTTP only when an endpoint is configured.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// Config configures tracing.
type Config struct {
	// Endpoint is the OTLP/HTTP collector URL ("http://otel-collector:4318"); empty
	// means traces are made but not exported.
	Endpoint string
	// SampleRatio is the share of new traces sampled (0..1); a trace started upstream
	// keeps its parent's decision.
	SampleRatio float64
	// Service names the process ("ordo-serve").
	Service string
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ORDO_OTEL_EXPORTER_OTLP_ENDPOINT %q: want http(s)://host:port", c.Endpoint))
		}
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("ORDO_OTEL_SAMPLE_RATIO %v: want 0..1", c.SampleRatio))
	}
	return errors.Join(errs...)
}

// Setup installs the global tracer provider and W3C propagators and returns a function
// that flushes and stops them. Extra span processors (tests: an in-memory exporter) are
// added as given.
func Setup(ctx context.Context, cfg Config, extra ...sdktrace.SpanProcessor) (func(context.Context) error, error) {
	sampler := sdktrace.TraceIDRatioBased(cfg.SampleRatio)
	if cfg.Endpoint == "" && len(extra) == 0 {
		// Spans would go nowhere: record none of this process' own (they cost 5–10% of a
		// busy worker's CPU). IDs are still made and passed on, for the logs and the
		// events' traceparent, and a parent sampled upstream is still followed.
		sampler = sdktrace.NeverSample()
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sampler)),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(cfg.Service))),
	}
	if cfg.Endpoint != "" {
		u, _ := url.Parse(cfg.Endpoint)
		eopts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host)}
		if u.Scheme == "http" {
			eopts = append(eopts, otlptracehttp.WithInsecure())
		}
		if p := strings.TrimSuffix(u.Path, "/"); p != "" {
			eopts = append(eopts, otlptracehttp.WithURLPath(p+"/v1/traces"))
		}
		exp, err := otlptracehttp.New(ctx, eopts...)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	return tp.Shutdown, nil
}

// Propagator is W3C trace context plus baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Tracer returns the named tracer of the global provider. It looks the provider up at
// each span, so package-level tracers made before Setup (or before a later Setup, in
// tests that start several processes' worth of roles) use the current one.
func Tracer(name string) trace.Tracer {
	return lazyTracer{name: "github.com/ordo-platform/ordo/" + name}
}

type lazyTracer struct {
	embedded.Tracer
	name string
}

func (l lazyTracer) Start(ctx context.Context, span string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return otel.GetTracerProvider().Tracer(l.name).Start(ctx, span, opts...)
}

// TraceParent returns the W3C traceparent of ctx's span ("" when there is none).
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx carrying the remote span context of a W3C traceparent.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// LogHandler wraps h so that records logged with a context carry trace_id and span_id.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}
func (l logHandler) WithGroup(n string) slog.Handler { return logHandler{l.Handler.WithGroup(n)} }
