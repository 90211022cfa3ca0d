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

	mu    sync.Mutex
	buf   *rowSet
	spare *rowSet // a flushed buffer kept for its capacity
}

// NewWriter returns a writer inserting through conn.
func NewWriter(conn driver.Conn) *Writer {
	return &Writer{conn: conn, now: time.Now, buf: &rowSet{}}
}

// Add buffers events.
func (w *Writer) Add(ds ...Decoded) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := w.now().UTC()
	for _, d := range ds {
		w.buf.add(d, at)
	}
	w.buf.pending += len(ds)
	metricBuffered.Set(float64(w.buf.pending))
}

// Len returns how many events are buffered and not yet flushed.
func (w *Writer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.pending
}

// Flush inserts every buffered row and returns once ClickHouse acknowledged all of them.
// When some inserts fail, the tables that were acknowledged are not sent again by the
// next Flush; the others are.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.insert(ctx, w.buf); err != nil {
		return err
	}
	w.buf.reset()
	metricBuffered.Set(0)
	return nil
}

// detach takes the buffered rows out of the writer, to be inserted with insert while
// new events are buffered; give the set back with release once it is inserted.
func (w *Writer) detach() *rowSet {
	w.mu.Lock()
	defer w.mu.Unlock()
	rs := w.buf
	if w.buf = w.spare; w.buf == nil {
		w.buf = &rowSet{}
		w.buf.reserveLike(rs)
	}
	w.spare = nil
	metricBuffered.Set(0)
	return rs
}

func (w *Writer) release(rs *rowSet) {
	rs.reset()
	w.mu.Lock()
	w.spare = rs
	w.mu.Unlock()
}

// insert sends rs, one INSERT per non-empty table, the tables in parallel, and returns
// once ClickHouse acknowledged all of them. Acknowledged tables are emptied, so that a
// retry sends only what failed.
func (w *Writer) insert(ctx context.Context, rs *rowSet) error {
	var todo []table
	for _, t := range rs.tables() {
		if t.len() > 0 {
			todo = append(todo, t)
		}
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, t := range todo {
		wg.Go(func() { errs[i] = w.insertTable(ctx, t) })
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
	if !rs.newest.IsZero() {
		metricVisibility.Observe(max(0, time.Since(rs.newest).Seconds()))
	}
	return nil
}

func (w *Writer) insertTable(ctx context.Context, t table) (err error) {
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
