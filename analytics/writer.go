package analytics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Writer buffers decoded events as rows of every table and inserts them into ClickHouse
// in one batch per table. The sink and the replay share it.
type Writer struct {
	conn driver.Conn
	now  func() time.Time

	mu      sync.Mutex
	buf     rowSet
	pending int // events added since the last complete flush
}

// NewWriter returns a writer inserting through conn.
func NewWriter(conn driver.Conn) *Writer {
	return &Writer{conn: conn, now: time.Now}
}

// Add buffers events.
func (w *Writer) Add(ds ...Decoded) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := w.now().UTC()
	for _, d := range ds {
		w.buf.add(d, at)
	}
	w.pending += len(ds)
	metricBuffered.Set(float64(w.pending))
}

// Len returns how many events are buffered and not yet flushed.
func (w *Writer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Flush inserts every buffered row, one INSERT per table, the tables in parallel, and
// returns once ClickHouse acknowledged all of them. When some inserts fail, the tables
// that were acknowledged are not sent again by the next Flush; the others are.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var todo []table
	for _, t := range w.buf.tables() {
		if t.len() > 0 {
			todo = append(todo, t)
		}
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, t := range todo {
		wg.Go(func() { errs[i] = w.insert(ctx, t) })
	}
	wg.Wait()
	for i, t := range todo {
		if errs[i] == nil {
			reset(t)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !w.buf.newest.IsZero() {
		metricVisibility.Observe(max(0, time.Since(w.buf.newest).Seconds()))
	}
	w.buf.reset()
	w.pending = 0
	metricBuffered.Set(0)
	return nil
}

func (w *Writer) insert(ctx context.Context, t table) (err error) {
	start := time.Now()
	n := t.len()
	defer func() {
		if err != nil {
			metricInsertErrors.WithLabelValues(t.name()).Inc()
			err = fmt.Errorf("clickhouse: insert %d rows into %s: %w", n, t.name(), err)
			return
		}
		metricInsertSeconds.WithLabelValues(t.name()).Observe(time.Since(start).Seconds())
		metricInsertRows.WithLabelValues(t.name()).Observe(float64(n))
		metricRowsInserted.WithLabelValues(t.name()).Add(float64(n))
	}()
	batch, err := w.conn.PrepareBatch(ctx, insertSQL(t))
	if err != nil {
		return err
	}
	defer func() { _ = batch.Close() }()
	for i, c := range t.columns() {
		if err := batch.Column(i).Append(c.data.values()); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return batch.Send()
}
