package sagas_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/sagas"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

// TestChaos is the chaos test: orders with mixed tokens flow while the saga
// worker process is killed with SIGKILL again and again; afterwards every order is
// terminal, the provider captured exactly the confirmed orders' totals, nothing was
// captured twice, and each product's stock is its initial stock minus the confirmed
// quantities. It takes minutes, so it runs only when ORDO_SAGA_CHAOS is set
// (ORDO_SAGA_CHAOS_ORDERS, default 2000; ORDO_SAGA_CHAOS_KILLS, default 20).
func TestChaos(t *testing.T) {
	if os.Getenv("ORDO_SAGA_CHAOS") == "" {
		t.Skip("set ORDO_SAGA_CHAOS=1 to run the chaos test")
	}
	orders, kills := envInt("ORDO_SAGA_CHAOS_ORDERS", 2000), envInt("ORDO_SAGA_CHAOS_KILLS", 20)
	h := newHarness(t, true)
	const initial = 100_000
	products := make([]domain.ID, 5)
	for i := range products {
		products[i] = h.product(t, initial, 100)
	}
	tokens := []string{pspsim.TokenVisa, pspsim.TokenVisa, pspsim.TokenMastercard, pspsim.TokenChargeDeclined, pspsim.TokenRiskHighest}

	type placed struct {
		id    domain.ID
		lines []line
	}
	var (
		mu  sync.Mutex
		all []placed
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < orders; i += 4 {
				p1, p2 := products[r.IntN(len(products))], products[r.IntN(len(products))]
				lines := []line{{p1, int64(1 + r.IntN(3)), 100}}
				if p2 != p1 && r.IntN(2) == 0 {
					lines = append(lines, line{p2, 1, 100})
				}
				id := h.place(t, newID(), tokens[r.IntN(len(tokens))], lines...)
				mu.Lock()
				all = append(all, placed{id, lines})
				mu.Unlock()
				time.Sleep(time.Duration(r.IntN(4)) * time.Millisecond)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	for k := range kills {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), helperEnv+"=1", helperPostgres+"="+testenv.SchemaURL(t, h.schema), helperTopics+"="+h.names.Prefix)
		require.NoError(t, child.Start())
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
		require.NoError(t, child.Process.Kill())
		_ = child.Wait()
		t.Logf("kill %d of %d", k+1, kills)
	}
	<-done
	h.worker(t, nil, "final")
	// Wait while the backlog drains: fail only when nothing settles for two minutes.
	last, lastChange := -1, time.Now()
	for {
		var settledN int
		require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM order_sagas
			WHERE state IN ('cancelled', 'compensation_failed') OR (state = 'confirmed' AND NOT cancel_requested)`).Scan(&settledN))
		if settledN == len(all) {
			break
		}
		if settledN != last {
			last, lastChange = settledN, time.Now()
		}
		require.Less(t, time.Since(lastChange), 2*time.Minute, "no saga settled for two minutes (%d of %d settled)", settledN, len(all))
		time.Sleep(500 * time.Millisecond)
	}
	ids := make([]domain.ID, len(all))
	for i, p := range all {
		ids[i] = p.id
	}
	final := h.waitSettled(t, ids...)

	sold := map[domain.ID]int64{}
	reasons := map[order.CancelReason]int{}
	var confirmedCents int64
	confirmed := 0
	for _, p := range all {
		o := h.order(t, p.id)
		v := final[p.id]
		switch o.Status() {
		case order.StatusConfirmed:
			require.Equal(t, sagas.StateConfirmed, v.State)
			confirmedCents += o.Total().Cents
			confirmed++
			for _, l := range p.lines {
				sold[l.product] += l.quantity
			}
		case order.StatusCancelled:
			require.Equal(t, sagas.StateCancelled, v.State, "order %s", p.id)
			require.NotEmpty(t, o.CancelReason())
			reasons[o.CancelReason()]++
		default:
			t.Fatalf("order %s is %s", p.id, o.Status())
		}
	}
	captured, refunded, err := h.sim.Totals(context.Background())
	require.NoError(t, err)
	require.Equal(t, confirmedCents, captured-refunded, "the provider holds exactly the confirmed orders' money")
	var twice int
	require.NoError(t, h.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM (SELECT order_id FROM pspsim_operations WHERE operation = 'capture' GROUP BY order_id HAVING count(*) > 1) x`).Scan(&twice))
	require.Zero(t, twice)
	for _, p := range products {
		inv := h.inventory(t, p)
		require.Equal(t, initial-sold[p], inv.OnHand())
		require.Zero(t, inv.Reserved())
	}
	t.Logf("%d orders, %d kills: %d confirmed (%d cents), cancelled %v, refunded %d cents", len(all), kills, confirmed, confirmedCents, reasons, refunded)
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}
