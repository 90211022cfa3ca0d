package analytics

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	got := splitStatements(`-- a comment
CREATE TABLE IF NOT EXISTS a
(
    x UInt8 -- trailing comments stay
)
ENGINE = MergeTree ORDER BY x;

CREATE VIEW IF NOT EXISTS b AS SELECT ';' AS s FROM a;
`)
	require.Equal(t, []string{
		"CREATE TABLE IF NOT EXISTS a\n(\n    x UInt8 -- trailing comments stay\n)\nENGINE = MergeTree ORDER BY x",
		"CREATE VIEW IF NOT EXISTS b AS SELECT ';' AS s FROM a",
	}, got)
}

func TestMigrationsMustBeIdempotentAndGapless(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		files fstest.MapFS
		err   string
	}{
		"not idempotent": {fstest.MapFS{"m/00001_a.sql": {Data: []byte("CREATE TABLE a (x UInt8) ENGINE = Memory;")}}, "not idempotent"},
		"gap":            {fstest.MapFS{"m/00002_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory;")}}, "00001 is missing"},
		"bad name":       {fstest.MapFS{"m/1_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory;")}}, "NNNNN_name.sql"},
		"backfill ok": {fstest.MapFS{
			"m/00001_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory;\nINSERT INTO a_state SELECT x FROM a;")},
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseMigrations(tc.files, "m")
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	ms, err := Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
}
