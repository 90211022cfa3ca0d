package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/internal/postgres"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// The registered map encodes uuid.UUID without its driver.Valuer detour, and what it
// encodes is the same value: as a uuid, in a uuid[] and bound to a text parameter.
func TestRegisterUUID(t *testing.T) {
	m := pgtype.NewMap()
	postgres.RegisterUUID(m)
	u := uuid.MustParse("0193a4b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b")
	plan := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, u)
	require.NotNil(t, plan)
	require.NotContains(t, typeName(plan), "DriverValuer", "uuid.UUID still takes the driver.Valuer path")
	buf, err := plan.Encode(u, nil)
	require.NoError(t, err)
	require.Equal(t, u[:], buf)

	pool := testenv.PostgresSchema(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	postgres.RegisterUUID(conn.Conn().TypeMap())
	var (
		same, inArray bool
		text          string
	)
	other := uuid.New()
	err = conn.QueryRow(ctx, `SELECT $1::uuid = '0193a4b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b'::uuid,
		'0193a4b2-7c1d-7e3f-8a9b-0c1d2e3f4a5b'::uuid = ANY($2::uuid[]), $3::text`,
		u, []uuid.UUID{other, u}, u).Scan(&same, &inArray, &text)
	require.NoError(t, err)
	require.True(t, same)
	require.True(t, inArray)
	require.Equal(t, u.String(), text)
	var back uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid`, u).Scan(&back))
	require.Equal(t, u, back)
	var null *uuid.UUID
	require.NoError(t, conn.QueryRow(ctx, `SELECT $1::uuid`, null).Scan(&null))
	require.Nil(t, null)
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
