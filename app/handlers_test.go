package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/api"
	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/domain/user"
	"github.com/ordo-platform/ordo/eventstore/postgres"
	"github.com/ordo-platform/ordo/internal/auth"
	"github.com/ordo-platform/ordo/internal/testenv"
)

// newHandlerEnv is an Env whose schema also has the API's tables (user_emails,
// product_skus).
func newHandlerEnv(t *testing.T) (*app.Env, *auth.Hasher) {
	t.Helper()
	pool := testenv.PostgresSchema(t, postgres.Migrations(), api.Migrations())
	s, err := postgres.New(context.Background(), pool)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	h, err := auth.NewHasher(auth.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	return app.NewEnv(s), h
}

const pw = "correct horse battery staple"

var admin = app.Actor{UserID: domain.MustParseID("0193a1c2-0000-7000-8000-0000000000ad"), Role: user.RoleAdmin}

func TestEmailsAreUniqueWithoutRegardToCase(t *testing.T) {
	t.Parallel()
	env, h := newHandlerEnv(t)
	reg := app.NewRegisterUser(env, h)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			email := "Zoe@Example.com"
			if i%2 == 1 {
				email = strings.ToUpper(email)
			}
			_, _, errs[i] = reg.Handle(context.Background(), app.RegisterUserCommand{Email: email, Name: "Zoe", Password: pw, Role: user.RoleCustomer})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.True(t, domain.HasCode(err, app.CodeEmailTaken), "%v", err)
	}
	require.Equal(t, 1, ok)
	var users int
	require.NoError(t, env.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = 'user.registered'`).Scan(&users))
	require.Equal(t, 1, users, "no user without their address, no address without a user")

	who, err := app.NewLogin(env, h).Handle(context.Background(), app.LoginQuery{Email: "zoe@EXAMPLE.com", Password: pw})
	require.NoError(t, err)
	require.Equal(t, user.RoleCustomer, who.Role)
	_, err = app.NewLogin(env, h).Handle(context.Background(), app.LoginQuery{Email: "zoe@example.com", Password: pw + "!"})
	require.ErrorIs(t, err, app.ErrInvalidCredentials)
}

func TestPlaceOrderPricesFromTheCatalogue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, _ := newHandlerEnv(t)
	create := app.NewCreateProduct(env)
	mug, _, err := create.Handle(ctx, app.CreateProductCommand{SKU: "MUG", Name: "Mug", PriceCents: 1299, Currency: "EUR", Actor: admin})
	require.NoError(t, err)
	_, _, err = create.Handle(ctx, app.CreateProductCommand{SKU: "mug", Name: "Other", PriceCents: 1, Currency: "EUR", Actor: admin})
	require.True(t, domain.HasCode(err, app.CodeSKUTaken), "%v", err)
	_, _, err = create.Handle(ctx, app.CreateProductCommand{SKU: "CUP", Name: "Cup", PriceCents: 1, Currency: "EUR", Actor: app.Actor{UserID: admin.UserID, Role: user.RoleCustomer}})
	require.True(t, domain.HasCode(err, user.CodeAdminRequired), "handlers check roles too")

	customer := app.Actor{UserID: domain.MustParseID("0193a1c2-0000-7000-8000-000000000c01"), Role: user.RoleCustomer}
	v, res, err := app.NewPlaceOrder(env).Handle(ctx, app.PlaceOrderCommand{
		Customer: customer, Items: []app.OrderLine{{ProductID: mug.ID, Quantity: 3}}, PaymentToken: "tok_visa",
	})
	require.NoError(t, err)
	require.Equal(t, order.StatusPending, v.Status)
	require.Equal(t, domain.Money{Cents: 3897, Currency: "EUR"}, v.Total)
	require.Equal(t, "MUG", v.Items[0].SKU)
	require.EqualValues(t, 1, res.Version)
	require.Positive(t, res.Position)

	missing := domain.MustParseID("0193a1c2-0000-7000-8000-00000000ffff")
	_, _, err = app.NewPlaceOrder(env).Handle(ctx, app.PlaceOrderCommand{
		Customer: customer, Items: []app.OrderLine{{ProductID: mug.ID, Quantity: 1}, {ProductID: missing, Quantity: 1}}, PaymentToken: "tok_visa",
	})
	e, ok := domain.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, product.CodeProductNotFound, e.Code)
	require.Contains(t, e.Fields, "items[1].product_id")

	// Others see nothing; the owner and admins see and may cancel it.
	stranger := app.Actor{UserID: domain.MustParseID("0193a1c2-0000-7000-8000-000000000c02"), Role: user.RoleCustomer}
	_, err = app.NewGetOrder(env).Handle(ctx, app.GetOrderQuery{OrderID: v.ID, Actor: stranger})
	require.True(t, domain.HasCode(err, order.CodeOrderNotFound))
	_, _, err = app.NewCancelOrder(env).Handle(ctx, app.CancelOrderCommand{OrderID: v.ID, Actor: stranger})
	require.True(t, domain.HasCode(err, order.CodeOrderNotFound))
	got, err := app.NewGetOrder(env).Handle(ctx, app.GetOrderQuery{OrderID: v.ID, Actor: admin})
	require.NoError(t, err)
	require.Equal(t, v.ID, got.ID)
	c, _, err := app.NewCancelOrder(env).Handle(ctx, app.CancelOrderCommand{OrderID: v.ID, Actor: customer})
	require.NoError(t, err)
	require.Equal(t, order.StatusCancelled, c.Status)
	require.Equal(t, order.ReasonCancelledByUser, c.StatusReason)
}

func TestAdjustStockAndGetProduct(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, _ := newHandlerEnv(t)
	p, _, err := app.NewCreateProduct(env).Handle(ctx, app.CreateProductCommand{SKU: "TEA", Name: "Tea", PriceCents: 450, Currency: "EUR", Actor: admin})
	require.NoError(t, err)
	lvl, _, err := app.NewAdjustStock(env).Handle(ctx, app.AdjustStockCommand{ProductID: p.ID, Delta: 7, Reason: "delivery", Actor: admin})
	require.NoError(t, err)
	require.EqualValues(t, 7, lvl.Available)
	_, _, err = app.NewAdjustStock(env).Handle(ctx, app.AdjustStockCommand{ProductID: p.ID, Delta: -8, Reason: "loss", Actor: admin})
	require.True(t, domain.HasCode(err, product.CodeInsufficientStock))
	_, _, err = app.NewAdjustStock(env).Handle(ctx, app.AdjustStockCommand{ProductID: domain.MustParseID("0193a1c2-0000-7000-8000-00000000eeee"), Delta: 1, Reason: "x", Actor: admin})
	require.True(t, domain.HasCode(err, product.CodeProductNotFound))

	v, err := app.NewGetProduct(env).Handle(ctx, app.GetProductQuery{ProductID: p.ID})
	require.NoError(t, err)
	require.EqualValues(t, 7, v.StockAvailable)
	require.EqualValues(t, 1, v.Version)
	require.EqualValues(t, 1, v.StockVersion)
}

func TestReadStreamEventsPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, _ := newHandlerEnv(t)
	p, _, err := app.NewCreateProduct(env).Handle(ctx, app.CreateProductCommand{SKU: "PEN", Name: "Pen", PriceCents: 100, Currency: "EUR", Actor: admin})
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, _, err := app.NewAdjustStock(env).Handle(ctx, app.AdjustStockCommand{ProductID: p.ID, Delta: 1, Reason: fmt.Sprint("delivery ", i), Actor: admin})
		require.NoError(t, err)
	}
	read := app.NewReadStreamEvents(env)
	var versions []int64
	for from := int64(1); from != 0; {
		page, err := read.Handle(ctx, app.ReadStreamEventsQuery{StreamID: product.InventoryStreamID(p.ID), FromVersion: from, Limit: 2, Actor: admin})
		require.NoError(t, err)
		for _, e := range page.Events {
			versions = append(versions, e.Version)
			require.Contains(t, string(e.Data), `"delta":1`)
			require.Equal(t, admin.String(), e.Metadata.Actor)
		}
		from = page.NextFromVersion
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, versions)

	_, err = read.Handle(ctx, app.ReadStreamEventsQuery{StreamID: product.InventoryStreamID(p.ID), Actor: app.Actor{}})
	require.True(t, domain.HasCode(err, user.CodeAdminRequired))
	_, err = read.Handle(ctx, app.ReadStreamEventsQuery{StreamID: "order-" + p.ID.String(), Actor: admin})
	require.True(t, domain.HasCode(err, app.CodeStreamNotFound))
	var derr *domain.Error
	_, err = read.Handle(ctx, app.ReadStreamEventsQuery{StreamID: "x", Limit: -1, Actor: admin})
	require.True(t, errors.As(err, &derr))
	require.Contains(t, derr.Fields, "stream")
	require.Contains(t, derr.Fields, "limit")
}
