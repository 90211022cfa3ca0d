package testenv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-platform/ordo/internal/testenv"
)

// These prove the helpers against the real services of the local stack.

func TestPostgresSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	pool := testenv.PostgresSchema(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO notes VALUES (1, 'hello')`)
	require.NoError(t, err)
	var body, schema string
	require.NoError(t, pool.QueryRow(ctx, `SELECT body, current_schema() FROM notes WHERE id = 1`).Scan(&body, &schema))
	require.Equal(t, "hello", body)
	require.Regexp(t, `^t_[0-9a-f]{12}$`, schema, "each test has a schema of its own")
}

func TestKafkaConsumerGroupCommitsOffsets(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	topicName, err := names.ForStreamType("order")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := testenv.KafkaClient(t)
	for i := 0; i < 10; i++ {
		require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: topicName, Key: []byte("k"), Value: []byte(fmt.Sprint(i))}).FirstErr())
	}
	group := "testenv-" + names.Prefix
	consume := func(want int) []string {
		cl := testenv.KafkaClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topicName), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		var got []string
		for len(got) < want && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			require.NoError(t, cl.CommitUncommittedOffsets(ctx))
		}
		return got
	}
	require.Len(t, consume(10), 10)
	// A new member of the group starts after the committed offset.
	require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: topicName, Key: []byte("k"), Value: []byte("after")}).FirstErr())
	require.Equal(t, []string{"after"}, consume(1))
}

func TestKafkaTransactionsAndReadCommitted(t *testing.T) {
	t.Parallel()
	names := testenv.KafkaTopics(t)
	topicName, err := names.ForStreamType("order")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tx := testenv.KafkaClient(t, kgo.TransactionalID("testenv-"+names.Prefix))
	for _, commit := range []bool{true, false} {
		require.NoError(t, tx.BeginTransaction())
		for i := 0; i < 3; i++ {
			tx.Produce(ctx, &kgo.Record{Topic: topicName, Key: []byte("k"), Value: []byte(fmt.Sprintf("%v-%d", commit, i))}, nil)
		}
		require.NoError(t, tx.Flush(ctx))
		require.NoError(t, tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
	}
	// A marker record after both transactions, so the reader knows when it has seen all. Every
	// record has the same key, so all land on one partition and are read back in order.
	require.NoError(t, testenv.KafkaClient(t).ProduceSync(ctx, &kgo.Record{Topic: topicName, Key: []byte("k"), Value: []byte("end")}).FirstErr())

	cl := testenv.KafkaClient(t, kgo.ConsumeTopics(topicName), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for ctx.Err() == nil && (len(got) == 0 || got[len(got)-1] != "end") {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	require.Equal(t, []string{"true-0", "true-1", "true-2", "end"}, got, "only the committed transaction is visible")
}

func TestClickHouseBatchInsertAndSelect(t *testing.T) {
	t.Parallel()
	conn, db := testenv.ClickHouseDatabase(t)
	ctx := context.Background()
	require.NoError(t, conn.Exec(ctx, `CREATE TABLE `+db+`.t (id UInt64, name String) ENGINE = MergeTree ORDER BY id`))
	batch, err := conn.PrepareBatch(ctx, `INSERT INTO `+db+`.t (id, name)`)
	require.NoError(t, err)
	for i := uint64(1); i <= 1000; i++ {
		require.NoError(t, batch.Append(i, fmt.Sprint("n", i)))
	}
	require.NoError(t, batch.Send())
	var n, sum uint64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(), sum(id) FROM `+db+`.t`).Scan(&n, &sum))
	require.EqualValues(t, 1000, n)
	require.EqualValues(t, 500500, sum)
}
