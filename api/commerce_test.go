package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestProducts(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)

	r := s.do(t, http.MethodPost, "/v1/products", map[string]any{
		"sku": " mug-blue ", "name": "Blue mug", "description": "Holds tea.\nAnd coffee.", "price_cents": 1299, "currency": "eur",
	}, bearer(admin))
	require.Equal(t, http.StatusCreated, r.Code, "body: %s", r.Body)
	var p productBody
	r.decode(t, &p)
	require.Equal(t, "/v1/products/"+p.ID, r.Header.Get("Location"))
	require.Equal(t, "MUG-BLUE", p.SKU)
	require.Equal(t, "EUR", p.Currency)
	require.EqualValues(t, 1299, p.PriceCents)
	require.Zero(t, p.StockAvailable)
	require.EqualValues(t, 1, p.Version)
	require.Positive(t, p.Position)

	// Anyone reads it; the ETag changes with the stock, and If-None-Match answers 304.
	r = s.do(t, http.MethodGet, "/v1/products/"+p.ID, nil)
	require.Equal(t, http.StatusOK, r.Code)
	etag := r.Header.Get("ETag")
	require.NotEmpty(t, etag)
	r = s.do(t, http.MethodGet, "/v1/products/"+p.ID, nil, header("If-None-Match", etag))
	require.Equal(t, http.StatusNotModified, r.Code)
	require.Empty(t, r.Body)
	require.Equal(t, etag, r.Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, s.do(t, http.MethodGet, "/v1/products/"+p.ID, nil, header("If-None-Match", `"x", W/`+etag)).Code)

	r = s.do(t, http.MethodPost, "/v1/products/"+p.ID+"/stock", map[string]any{"delta": 25, "reason": "delivery"}, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var lvl struct {
		ProductID string `json:"product_id"`
		OnHand    int64  `json:"on_hand"`
		Reserved  int64  `json:"reserved"`
		Available int64  `json:"available"`
		Version   int64  `json:"version"`
		Position  int64  `json:"position"`
	}
	r.decode(t, &lvl)
	require.Equal(t, p.ID, lvl.ProductID)
	require.EqualValues(t, 25, lvl.OnHand)
	require.EqualValues(t, 25, lvl.Available)
	require.EqualValues(t, 1, lvl.Version)
	require.Greater(t, lvl.Position, p.Position)

	r = s.do(t, http.MethodGet, "/v1/products/"+p.ID, nil, header("If-None-Match", etag))
	require.Equal(t, http.StatusOK, r.Code, "the stock changed")
	require.NotEqual(t, etag, r.Header.Get("ETag"))
	var got productBody
	r.decode(t, &got)
	require.EqualValues(t, 25, got.StockAvailable)

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"stock below zero", http.MethodPost, "/v1/products/" + p.ID + "/stock", map[string]any{"delta": -26, "reason": "write-off"}, 409, "insufficient_stock", ""},
		{"zero delta", http.MethodPost, "/v1/products/" + p.ID + "/stock", map[string]any{"delta": 0, "reason": "x"}, 422, "invalid_delta", "delta"},
		{"delta not an integer", http.MethodPost, "/v1/products/" + p.ID + "/stock", `{"delta":1.5,"reason":"x"}`, 400, "invalid_json", "delta"},
		{"stock of unknown product", http.MethodPost, "/v1/products/" + uuid.NewString() + "/stock", map[string]any{"delta": 1, "reason": "x"}, 404, "product_not_found", ""},
		{"stock of malformed id", http.MethodPost, "/v1/products/nope/stock", map[string]any{"delta": 1, "reason": "x"}, 404, "product_not_found", ""},
		{"unknown product", http.MethodGet, "/v1/products/" + uuid.NewString(), nil, 404, "product_not_found", ""},
		{"malformed id", http.MethodGet, "/v1/products/" + strings.Repeat("z", 100), nil, 404, "product_not_found", ""},
		{"sku taken", http.MethodPost, "/v1/products", map[string]any{"sku": "MUG-BLUE", "name": "x", "price_cents": 1, "currency": "EUR"}, 409, "sku_taken", ""},
		{"bad price", http.MethodPost, "/v1/products", map[string]any{"sku": "X-2", "name": "x", "price_cents": 0, "currency": "EUR"}, 422, "invalid_price", "price_cents"},
		{"bad currency", http.MethodPost, "/v1/products", map[string]any{"sku": "X-3", "name": "x", "price_cents": 1, "currency": "EURO"}, 422, "invalid_currency", "currency"},
		{"several problems", http.MethodPost, "/v1/products", map[string]any{"sku": "-", "name": "", "price_cents": -1, "currency": "EUR"}, 422, "invalid_input", "sku"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.headPosition(t)
			pr := s.do(t, tt.method, tt.path, tt.body, bearer(admin)).problem(t, tt.status, tt.code)
			if tt.field != "" {
				require.Contains(t, pr.Fields, tt.field)
			}
			require.Equal(t, before, s.headPosition(t))
		})
	}
}

func TestOrders(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	alice, aliceID := s.customer(t)
	bob, _ := s.customer(t)
	mug := s.product(t, admin, 1299, "EUR")
	tea := s.product(t, admin, 450, "EUR")
	dollar := s.product(t, admin, 100, "USD")

	r := s.do(t, http.MethodPost, "/v1/orders", map[string]any{
		"items":         []map[string]any{{"product_id": mug.ID, "quantity": 2}, {"product_id": tea.ID, "quantity": 3}},
		"payment_token": "tok_visa",
	}, bearer(alice))
	require.Equal(t, http.StatusAccepted, r.Code, "body: %s", r.Body)
	var placed struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Version  int64  `json:"version"`
		Position int64  `json:"position"`
	}
	r.decode(t, &placed)
	require.Equal(t, "pending", placed.Status)
	require.Equal(t, "/v1/orders/"+placed.ID, r.Header.Get("Location"))
	require.EqualValues(t, 1, placed.Version)
	require.Positive(t, placed.Position)
	id, err := uuid.Parse(placed.ID)
	require.NoError(t, err)
	require.EqualValues(t, 7, id.Version(), "order ids are UUIDv7")

	// A price change later does not touch the order: it keeps the price of its moment.
	r = s.do(t, http.MethodGet, "/v1/orders/"+placed.ID, nil, bearer(alice))
	require.Equal(t, http.StatusOK, r.Code)
	var o orderBody
	r.decode(t, &o)
	require.Equal(t, aliceID, o.CustomerID)
	require.Equal(t, "pending", o.Status)
	require.Nil(t, o.StatusReason)
	require.Len(t, o.Items, 2)
	require.Equal(t, mug.SKU, o.Items[0].SKU)
	require.EqualValues(t, 2598, o.Items[0].LineTotalCents)
	require.EqualValues(t, 2*1299+3*450, o.TotalCents)
	require.Equal(t, "EUR", o.Currency)
	require.NotEmpty(t, o.PlacedAt)

	// Bob cannot see or cancel Alice's order: 404, as if it did not exist.
	s.do(t, http.MethodGet, "/v1/orders/"+placed.ID, nil, bearer(bob)).problem(t, http.StatusNotFound, "order_not_found")
	s.do(t, http.MethodPost, "/v1/orders/"+placed.ID+"/cancel", nil, bearer(bob)).problem(t, http.StatusNotFound, "order_not_found")
	// Admins see every order.
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/v1/orders/"+placed.ID, nil, bearer(admin)).Code)

	// Alice cancels; again is a no-op that succeeds.
	r = s.do(t, http.MethodPost, "/v1/orders/"+placed.ID+"/cancel", `{"detail":"changed my mind"}`, bearer(alice))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	r.decode(t, &o)
	require.Equal(t, "cancelled", o.Status)
	require.Equal(t, "cancelled_by_user", *o.StatusReason)
	require.EqualValues(t, 2, o.Version)
	r = s.do(t, http.MethodPost, "/v1/orders/"+placed.ID+"/cancel", nil, bearer(alice))
	require.Equal(t, http.StatusOK, r.Code)
	r.decode(t, &o)
	require.EqualValues(t, 2, o.Version)

	// An admin may cancel anyone's order.
	other := s.order(t, bob, mug.ID, 1)
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/orders/"+other.ID+"/cancel", nil, bearer(admin)).Code)

	line := func(id string, q int) map[string]any { return map[string]any{"product_id": id, "quantity": q} }
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"no items", map[string]any{"items": []any{}, "payment_token": "tok_visa"}, 422, "no_items", "items"},
		{"unknown product", map[string]any{"items": []any{line(uuid.NewString(), 1)}, "payment_token": "tok_visa"}, 422, "product_not_found", "items[0].product_id"},
		{"malformed product id", map[string]any{"items": []any{line(mug.ID, 1), line("mug", 1)}, "payment_token": "tok_visa"}, 422, "invalid_id", "items[1].product_id"},
		{"mixed currencies", map[string]any{"items": []any{line(mug.ID, 1), line(dollar.ID, 1)}, "payment_token": "tok_visa"}, 422, "mixed_currencies", "items[1].currency"},
		{"zero quantity", map[string]any{"items": []any{line(mug.ID, 0)}, "payment_token": "tok_visa"}, 422, "invalid_quantity", "items[0].quantity"},
		{"same product twice", map[string]any{"items": []any{line(mug.ID, 1), line(mug.ID, 1)}, "payment_token": "tok_visa"}, 422, "duplicate_product", "items[1].product_id"},
		{"no payment token", map[string]any{"items": []any{line(mug.ID, 1)}}, 422, "invalid_payment_token", "payment_token"},
		{"unknown field in an item", `{"items":[{"product_id":"` + mug.ID + `","quantity":1,"price_cents":1}],"payment_token":"tok_visa"}`, 400, "unknown_field", "items[0].price_cents"},
		{"quantity not a number", `{"items":[{"product_id":"` + mug.ID + `","quantity":"1"}],"payment_token":"tok_visa"}`, 400, "invalid_json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.headPosition(t)
			p := s.do(t, http.MethodPost, "/v1/orders", tt.body, bearer(alice)).problem(t, tt.status, tt.code)
			if tt.field != "" {
				require.Contains(t, p.Fields, tt.field, "fields: %v", p.Fields)
			}
			require.Equal(t, before, s.headPosition(t))
		})
	}
	t.Run("unknown and malformed order ids", func(t *testing.T) {
		s.do(t, http.MethodGet, "/v1/orders/"+uuid.NewString(), nil, bearer(alice)).problem(t, 404, "order_not_found")
		s.do(t, http.MethodGet, "/v1/orders/x", nil, bearer(alice)).problem(t, 404, "order_not_found")
		s.do(t, http.MethodPost, "/v1/orders/"+uuid.NewString()+"/cancel", nil, bearer(alice)).problem(t, 404, "order_not_found")
		s.do(t, http.MethodPost, "/v1/orders/"+placed.ID+"/cancel", `{"reason":"x"}`, bearer(alice)).problem(t, 400, "unknown_field")
		s.do(t, http.MethodPost, "/v1/orders/"+placed.ID+"/cancel", `{"detail":"x"}`, bearer(alice), header("Content-Type", "text/plain")).
			problem(t, 415, "unsupported_media_type")
	})
}

func TestStreamEvents(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := s.admin(t)
	customer, customerID := s.customer(t)
	p := s.product(t, admin, 700, "EUR")
	o := s.order(t, customer, p.ID, 1)
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/orders/"+o.ID+"/cancel", nil, bearer(customer)).Code)

	type page struct {
		Stream string `json:"stream"`
		Events []struct {
			ID            string          `json:"id"`
			Type          string          `json:"type"`
			Version       int64           `json:"version"`
			Position      int64           `json:"position"`
			SchemaVersion int             `json:"schema_version"`
			CorrelationID string          `json:"correlation_id"`
			Actor         string          `json:"actor"`
			Data          json.RawMessage `json:"data"`
		} `json:"events"`
		NextFromVersion int64 `json:"next_from_version"`
	}
	r := s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events", nil, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code, "body: %s", r.Body)
	var pg page
	r.decode(t, &pg)
	require.Equal(t, "order-"+o.ID, pg.Stream)
	require.Len(t, pg.Events, 2)
	require.Equal(t, "order.placed", pg.Events[0].Type)
	require.Equal(t, "order.cancelled", pg.Events[1].Type)
	require.Equal(t, "user:"+customerID, pg.Events[0].Actor)
	require.NotEmpty(t, pg.Events[0].CorrelationID)
	require.Contains(t, string(pg.Events[0].Data), `"payment_token"`)
	require.Zero(t, pg.NextFromVersion)

	r = s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events?limit=1", nil, bearer(admin))
	pg = page{}
	r.decode(t, &pg)
	require.Len(t, pg.Events, 1)
	require.EqualValues(t, 2, pg.NextFromVersion)
	r = s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events?limit=1&from_version=2", nil, bearer(admin))
	pg = page{}
	r.decode(t, &pg)
	require.Len(t, pg.Events, 1)
	require.Equal(t, "order.cancelled", pg.Events[0].Type)
	require.Zero(t, pg.NextFromVersion)

	// The user stream's password hash is redacted.
	r = s.do(t, http.MethodGet, "/v1/streams/user-"+customerID+"/events", nil, bearer(admin))
	require.Equal(t, http.StatusOK, r.Code)
	require.NotContains(t, string(r.Body), "argon2id")

	s.do(t, http.MethodGet, "/v1/streams/order-"+uuid.NewString()+"/events", nil, bearer(admin)).problem(t, 404, "stream_not_found")
	s.do(t, http.MethodGet, "/v1/streams/nonsense/events", nil, bearer(admin)).problem(t, 422, "invalid_stream_id")
	s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events?limit=abc", nil, bearer(admin)).problem(t, 400, "invalid_query")
	s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events?limit=5000", nil, bearer(admin)).problem(t, 422, "invalid_input")
	s.do(t, http.MethodGet, "/v1/streams/order-"+o.ID+"/events?from_version=-1", nil, bearer(admin)).problem(t, 422, "invalid_input")
}
