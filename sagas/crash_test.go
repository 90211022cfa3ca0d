package sagas_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	pgpool "github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
	"github.com/ordo-platform/ordo/internal/topic"
	"github.com/ordo-platform/ordo/sagas"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

// The child process of TestCrashMidSaga reads its installation from these.
const (
	helperEnv      = "ORDO_SAGA_TEST_HELPER"
	helperPostgres = "ORDO_SAGA_TEST_POSTGRES"
	helperTopics   = "ORDO_SAGA_TEST_TOPICS"
)

// runHelperWorker runs one saga worker with a slow provider until the process is killed.
func runHelperWorker() int {
	ctx := context.Background()
	pool, err := pgpool.Open(ctx, os.Getenv(helperPostgres))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, err := postgres.New(ctx, pool)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := testConfig(topic.Names{Prefix: os.Getenv(helperTopics)})
	cfg.WorkerID = "child"
	sim := pspsim.New(pool, pspsim.Options{Latency: 400 * time.Millisecond})
	w := sagas.New(cfg, sagas.Deps{Store: store, TxConns: 4, PSP: sim, NewKafkaClient: kafkaClients, Log: quiet})
	if err := w.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrashMidSaga kills -9 a worker process while its sagas are paying, starts another
// worker, and checks that every order ends confirmed, charged exactly once.
func TestCrashMidSaga(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	p := h.product(t, 100, 1500)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=1", helperPostgres+"="+testenv.SchemaURL(t, h.schema), helperTopics+"="+h.names.Prefix)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	ids := make([]domain.ID, 20)
	for i := range ids {
		ids[i] = h.place(t, newID(), pspsim.TokenVisa, line{p, 1, 1500})
	}
	// Kill it once it has taken every order in and the provider has seen some of them.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var sagasN, auths, settledN int
		require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM order_sagas),
			(SELECT count(*) FROM pspsim_operations WHERE operation = 'authorize'),
			(SELECT count(*) FROM order_sagas WHERE state IN ('confirmed', 'cancelled'))`).Scan(&sagasN, &auths, &settledN))
		if sagasN == len(ids) && auths > 0 {
			require.Less(t, settledN, len(ids), "the child finished everything before the kill; the test proves nothing")
			break
		}
		require.True(t, time.Now().Before(deadline), "the child worker never got going")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, child.Process.Kill()) // SIGKILL: no clean stop, leases left held
	_ = child.Wait()
	killed = true

	t.Log("child killed")
	h.worker(t, nil, "survivor")
	final := h.waitSettled(t, ids...)
	t.Log("all settled")
	for _, id := range ids {
		require.Equal(t, sagas.StateConfirmed, final[id].State)
		require.Equal(t, order.StatusConfirmed, h.order(t, id).Status())
		require.Equal(t, []string{"authorize:authorized", "capture:captured"}, h.ledger(t, id), "charged once")
		require.Equal(t, []string{"payment.authorized", "payment.captured"}, h.payment(t, id))
	}
	captured, _, err := h.sim.Totals(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(len(ids)*1500), captured)
	inv := h.inventory(t, p)
	require.Equal(t, int64(100-len(ids)), inv.OnHand())
	require.Zero(t, inv.Reserved())

	var resumed int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT order_id FROM saga_steps GROUP BY order_id HAVING count(DISTINCT worker) > 1) x`).Scan(&resumed))
	require.Positive(t, resumed, "some sagas were begun by the killed worker and finished by the survivor")
}
