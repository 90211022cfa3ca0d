package api_test

import (
	"net/http"
	"testing"
)

// Every route of the operator console is for admins: 401 without a token, 403 for a
// customer, before any work is done.
func TestAdminRoutesNeedTheAdminRole(t *testing.T) {
	t.Parallel()
	s := newAdminServer(t, adminOpts{})
	customer, _ := s.customer(t)
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/v1/admin/events", nil},
		{http.MethodGet, "/v1/admin/events?after=0&type=order.placed", nil},
		{http.MethodGet, "/v1/admin/projections", nil},
		{http.MethodPost, "/v1/admin/projections/orders/rebuild", nil},
		{http.MethodGet, "/v1/admin/dlq", nil},
		{http.MethodPost, "/v1/admin/dlq/redrive", map[string]any{"all": true}},
		{http.MethodGet, "/v1/admin/consumers", nil},
		{http.MethodGet, "/v1/analytics/sales", nil},
	}
	t.Run("routes", func(t *testing.T) { // returns when every parallel subtest has
		for _, r := range routes {
			t.Run(r.method+" "+r.path, func(t *testing.T) {
				t.Parallel()
				s.do(t, r.method, r.path, r.body).problem(t, http.StatusUnauthorized, "authentication_required")
				s.do(t, r.method, r.path, r.body, bearer("not.a.token")).problem(t, http.StatusUnauthorized, "invalid_token")
				s.do(t, r.method, r.path, r.body, bearer(customer)).problem(t, http.StatusForbidden, "admin_required")
			})
		}
	})
	// The customer's click started nothing.
	var b projectionsBody
	s.getJSON(t, "/v1/admin/projections", s.admin(t), &b)
	for _, p := range b.Projections {
		if p.Rebuild != nil || len(p.Versions) != 1 {
			t.Fatalf("projection %s changed: %+v", p.Name, p)
		}
	}
}
