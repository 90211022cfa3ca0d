package product_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/product"
)

var (
	productID = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000f1")
	otherID   = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000f2")
	orderA    = domain.MustParseID("0193a1c2-0000-7000-8000-00000000000a")
	orderB    = domain.MustParseID("0193a1c2-0000-7000-8000-00000000000b")
)

func eur(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

func created() product.Created {
	return product.Created{ProductID: productID, SKU: "MUG-BLUE-01", Name: "Blue mug", Description: "A mug.\nBlue.", Price: eur(1299)}
}

// requireOutcome checks a decision: either the wanted events, or an error of
// the wanted kind and code.
func requireOutcome(t *testing.T, got []domain.Event, err error, want []domain.Event, wantKind domain.ErrorKind, wantCode string) {
	t.Helper()
	if wantCode != "" {
		require.Error(t, err)
		e, ok := domain.AsError(err)
		require.True(t, ok, "want a *domain.Error, got %v", err)
		require.Equal(t, wantKind, e.Kind, "kind of %v", err)
		require.Equal(t, wantCode, e.Code, "code of %v", err)
		require.Empty(t, got)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestDecideCreate(t *testing.T) {
	t.Parallel()
	valid := product.Create{ProductID: productID, SKU: " mug-blue-01 ", Name: " Blue mug ", Description: " A mug.\nBlue. ", Price: domain.Money{Cents: 1299, Currency: "eur"}}
	with := func(f func(*product.Create)) product.Create { c := valid; f(&c); return c }
	tests := []struct {
		name     string
		history  []domain.Event
		cmd      product.Create
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "creates with normalised fields", cmd: valid, want: []domain.Event{created()}},
		{name: "empty description is fine", cmd: with(func(c *product.Create) { c.Description = "" }),
			want: []domain.Event{func() product.Created { e := created(); e.Description = ""; return e }()}},
		{name: "already exists", history: []domain.Event{created()}, cmd: valid, wantKind: domain.KindConflict, wantCode: product.CodeProductAlreadyExists},
		{name: "sku with space", cmd: with(func(c *product.Create) { c.SKU = "MUG BLUE" }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidSKU},
		{name: "sku too short", cmd: with(func(c *product.Create) { c.SKU = "M" }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidSKU},
		{name: "sku starting with hyphen", cmd: with(func(c *product.Create) { c.SKU = "-MUG" }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidSKU},
		{name: "sku too long", cmd: with(func(c *product.Create) { c.SKU = strings.Repeat("A", 65) }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidSKU},
		{name: "empty name", cmd: with(func(c *product.Create) { c.Name = "" }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidName},
		{name: "name of 201 characters", cmd: with(func(c *product.Create) { c.Name = strings.Repeat("é", 201) }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidName},
		{name: "description too long", cmd: with(func(c *product.Create) { c.Description = strings.Repeat("d", 5001) }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidDescription},
		{name: "zero price", cmd: with(func(c *product.Create) { c.Price = eur(0) }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidPrice},
		{name: "negative price", cmd: with(func(c *product.Create) { c.Price = eur(-1) }), wantKind: domain.KindValidation, wantCode: product.CodeInvalidPrice},
		{name: "bad currency", cmd: with(func(c *product.Create) { c.Price = domain.Money{Cents: 1, Currency: "EURO"} }), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidCurrency},
		{name: "nil id", cmd: with(func(c *product.Create) { c.ProductID = domain.ID{} }), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidID},
		{name: "several problems", cmd: with(func(c *product.Create) { c.SKU = ""; c.Name = "" }), wantKind: domain.KindValidation, wantCode: domain.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := product.Fold(tt.history)
			require.NoError(t, err)
			got, err := p.DecideCreate(tt.cmd)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestProductChanges(t *testing.T) {
	t.Parallel()
	active := []domain.Event{created()}
	discontinued := []domain.Event{created(), product.Discontinued{ProductID: productID}}
	rename := func(n string) func(*product.Product) ([]domain.Event, error) {
		return func(p *product.Product) ([]domain.Event, error) { return p.DecideRename(product.Rename{Name: n}) }
	}
	reprice := func(m domain.Money) func(*product.Product) ([]domain.Event, error) {
		return func(p *product.Product) ([]domain.Event, error) { return p.DecideReprice(product.Reprice{Price: m}) }
	}
	discontinue := func(p *product.Product) ([]domain.Event, error) { return p.DecideDiscontinue() }
	tests := []struct {
		name     string
		history  []domain.Event
		run      func(*product.Product) ([]domain.Event, error)
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		{name: "rename", history: active, run: rename(" Big blue mug "), want: []domain.Event{product.Renamed{ProductID: productID, Name: "Big blue mug"}}},
		{name: "rename to the same name is a no-op", history: active, run: rename("Blue mug ")},
		{name: "rename to empty", history: active, run: rename(""), wantKind: domain.KindValidation, wantCode: product.CodeInvalidName},
		{name: "rename unknown product", run: rename("X"), wantKind: domain.KindNotFound, wantCode: product.CodeProductNotFound},
		{name: "rename discontinued", history: discontinued, run: rename("X"), wantKind: domain.KindConflict, wantCode: product.CodeProductDiscontinued},
		{name: "reprice", history: active, run: reprice(eur(999)), want: []domain.Event{product.Repriced{ProductID: productID, Price: eur(999)}}},
		{name: "reprice normalises currency", history: active, run: reprice(domain.Money{Cents: 999, Currency: "eur"}), want: []domain.Event{product.Repriced{ProductID: productID, Price: eur(999)}}},
		{name: "same price is a no-op", history: active, run: reprice(eur(1299))},
		{name: "reprice to zero", history: active, run: reprice(eur(0)), wantKind: domain.KindValidation, wantCode: product.CodeInvalidPrice},
		{name: "reprice in another currency", history: active, run: reprice(domain.Money{Cents: 999, Currency: "USD"}), wantKind: domain.KindConflict, wantCode: product.CodeCurrencyChange},
		{name: "reprice discontinued", history: discontinued, run: reprice(eur(1)), wantKind: domain.KindConflict, wantCode: product.CodeProductDiscontinued},
		{name: "discontinue", history: active, run: discontinue, want: []domain.Event{product.Discontinued{ProductID: productID}}},
		{name: "discontinue twice is a no-op", history: discontinued, run: discontinue},
		{name: "discontinue unknown product", run: discontinue, wantKind: domain.KindNotFound, wantCode: product.CodeProductNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := product.Fold(tt.history)
			require.NoError(t, err)
			got, err := tt.run(p)
			requireOutcome(t, got, err, tt.want, tt.wantKind, tt.wantCode)
		})
	}
}

func TestFoldProduct(t *testing.T) {
	t.Parallel()
	p, err := product.Fold([]domain.Event{
		created(),
		product.Renamed{ProductID: productID, Name: "Mug"},
		product.Repriced{ProductID: productID, Price: eur(1500)},
	})
	require.NoError(t, err)
	require.True(t, p.Exists())
	require.Equal(t, productID, p.ID())
	require.Equal(t, "MUG-BLUE-01", p.SKU())
	require.Equal(t, "Mug", p.Name())
	require.Equal(t, "A mug.\nBlue.", p.Description())
	require.Equal(t, eur(1500), p.Price())
	require.False(t, p.Discontinued())

	require.NoError(t, p.Evolve(product.Discontinued{ProductID: productID}))
	require.True(t, p.Discontinued())

	_, err = product.Fold([]domain.Event{created(), product.StockAdjusted{}})
	require.ErrorIs(t, err, domain.ErrUnknownEvent, "inventory events do not belong to the product stream")
}

func TestNormalizeSKU(t *testing.T) {
	t.Parallel()
	padded := "\tx-1 " // surrounding whitespace is trimmed
	for in, want := range map[string]string{"ab": "AB", padded: "X-1", "9-": "9-", strings.Repeat("a", 64): strings.Repeat("A", 64)} {
		got, err := product.NormalizeSKU(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "a", "-A", "A_B", "A.B", "ÄB", strings.Repeat("a", 65)} {
		_, err := product.NormalizeSKU(bad)
		require.True(t, domain.HasCode(err, product.CodeInvalidSKU), bad)
	}
}

func TestEventsAndStreams(t *testing.T) {
	t.Parallel()
	var types []string
	for _, e := range product.Events() {
		types = append(types, e.EventType())
	}
	require.Equal(t, []string{
		"product.created", "product.renamed", "product.repriced", "product.discontinued",
		"inventory.stock_adjusted", "inventory.reserved", "inventory.released", "inventory.committed",
	}, types)
	require.Equal(t, "product-0193a1c2-0000-7000-8000-0000000000f1", product.StreamID(productID))
	require.Equal(t, "inventory-0193a1c2-0000-7000-8000-0000000000f1", product.InventoryStreamID(productID))
}
