package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzRequestBodies sends arbitrary bodies to every route that reads one: whatever the
// bytes, the answer is never a 5xx, and every 4xx is a problem document. The committed
// corpus is in testdata/fuzz/FuzzRequestBodies; grow it with
//
//	go test ./api -run '^$' -fuzz FuzzRequestBodies -fuzztime 60s
func FuzzRequestBodies(f *testing.F) {
	s := newServer(f)
	admin := s.admin(f)
	customer, _ := s.customer(f)
	p := s.product(f, admin, 1000, "EUR")
	s.stock(f, admin, p.ID, 1_000_000)
	o := s.order(f, customer, p.ID, 1)
	routes := []struct{ path, token string }{
		{"/v1/users", ""},
		{"/v1/auth/login", ""},
		{"/v1/auth/refresh", ""},
		{"/v1/products", admin},
		{"/v1/products/" + p.ID + "/stock", admin},
		{"/v1/orders", customer},
		{"/v1/orders/" + o.ID + "/cancel", customer},
	}
	f.Add(uint8(0), []byte(`{"email":"a@example.com","name":"A","password":"correct horse battery"}`))
	f.Add(uint8(3), []byte(`{"sku":"X-1","name":"x","price_cents":1,"currency":"EUR"}`))
	f.Add(uint8(5), []byte(`{"items":[{"product_id":"`+p.ID+`","quantity":1}],"payment_token":"tok_visa"}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		opts := []reqOpt{}
		if rt.token != "" {
			opts = append(opts, bearer(rt.token))
		}
		r := s.do(t, http.MethodPost, rt.path, body, opts...)
		require.Less(t, r.Code, 500, "body: %s", r.Body)
		if r.Code >= 400 {
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			require.True(t, strings.HasPrefix(string(r.Body), `{"type":"https://ordo.dev/problems/`), "body: %s", r.Body)
		}
	})
}
