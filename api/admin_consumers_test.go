package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/testenv"
)

type consumersBody struct {
	Replica         string  `json:"replica"`
	IntervalSeconds float64 `json:"interval_seconds"`
	WindowSeconds   float64 `json:"window_seconds"`
	Groups          []struct {
		Group   string           `json:"group"`
		State   string           `json:"state"`
		Members int              `json:"members"`
		Lag     int64            `json:"lag"`
		Topics  map[string]int64 `json:"topics"`
		Error   string           `json:"error"`
		Series  []struct {
			At  time.Time `json:"at"`
			Lag int64     `json:"lag"`
		} `json:"series"`
	} `json:"groups"`
}

func TestAdminConsumersLagOverTime(t *testing.T) {
	t.Parallel()
	var s *adminServer
	group := "lag-test-" + fmt.Sprint(time.Now().UnixNano())
	s = newAdminServer(t, adminOpts{kafka: true, lagGroups: []string{group, group + "-never"}})
	admin := s.admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	orders, err := s.names.ForStreamType("order")
	require.NoError(t, err)

	// 10 records on one partition, 4 consumed and committed by the group.
	for i := 0; i < 10; i++ {
		require.NoError(t, s.kafka.ProduceSync(ctx, &kgo.Record{Topic: orders, Partition: 0, Key: []byte("k"), Value: []byte(fmt.Sprint(i))}).FirstErr())
	}
	cl := testenv.KafkaClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(orders), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var took []*kgo.Record
	for len(took) < 4 && ctx.Err() == nil {
		cl.PollRecords(ctx, 4-len(took)).EachRecord(func(r *kgo.Record) { took = append(took, r) })
	}
	require.NoError(t, cl.CommitRecords(ctx, took...))
	cl.Close()

	// The sampler runs in the background; the series grows every interval.
	go func() { _ = s.deps.ConsumerLag.Start(ctx) }()
	var body consumersBody
	eventually(t, 20*time.Second, "three samples", func() bool {
		body = consumersBody{}
		s.getJSON(t, "/v1/admin/consumers", admin, &body)
		return len(body.Groups[0].Series) >= 3
	})
	require.InDelta(t, 0.1, body.IntervalSeconds, 1e-9)
	require.InDelta(t, 60, body.WindowSeconds, 1e-9)
	require.NotEmpty(t, body.Replica)
	g := body.Groups[0]
	require.Equal(t, group, g.Group)
	require.Empty(t, g.Error)
	require.Equal(t, "Empty", g.State, "its consumer has left")
	require.EqualValues(t, 6, g.Lag)
	require.EqualValues(t, 6, g.Topics[orders])
	for _, p := range g.Series {
		require.EqualValues(t, 6, p.Lag)
	}
	for i := 1; i < len(g.Series); i++ {
		require.True(t, g.Series[i].At.After(g.Series[i-1].At), "%v", g.Series)
	}
	never := body.Groups[1]
	require.Equal(t, group+"-never", never.Group)
	require.EqualValues(t, -1, never.Lag, "a group without offsets has no lag to show")
	require.Equal(t, "no committed offsets", never.State, "error: %s", never.Error)

	// The window bounds the series: Window/Interval + 1 samples.
	s.deps.ConsumerLag.Stop()
	for i := 0; i < 700; i++ {
		s.deps.ConsumerLag.Sample(ctx)
	}
	body = consumersBody{}
	s.getJSON(t, "/v1/admin/consumers", admin, &body)
	require.Len(t, body.Groups[0].Series, 601)
}
