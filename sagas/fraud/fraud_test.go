package fraud_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/sagas/fraud"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	placed := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	order := func(cents int64) fraud.Order {
		return fraud.Order{OrderID: domain.ID{1}, CustomerID: domain.ID{2}, Total: domain.Money{Cents: cents, Currency: "EUR"}, PlacedAt: placed}
	}
	rules := fraud.DefaultRules()
	tests := []struct {
		name    string
		rules   fraud.Rules
		order   fraud.Order
		facts   fraud.Facts
		blocked bool
		score   int
		reasons []string // prefixes
	}{
		{name: "ordinary order", rules: rules, order: order(5000), facts: fraud.Facts{RecentOrders: 2, AccountCreatedAt: placed.AddDate(-1, 0, 0)}},
		{name: "velocity at the limit passes", rules: rules, order: order(5000), facts: fraud.Facts{RecentOrders: 10}},
		{name: "velocity over the limit", rules: rules, order: order(5000), facts: fraud.Facts{RecentOrders: 11},
			blocked: true, score: 80, reasons: []string{fraud.ReasonVelocity}},
		{name: "amount over the limit", rules: rules, order: order(1_000_001),
			blocked: true, score: 80, reasons: []string{fraud.ReasonAmount}},
		{name: "new account, high value", rules: rules, order: order(150_000), facts: fraud.Facts{AccountCreatedAt: placed.Add(-time.Hour)},
			blocked: true, score: 80, reasons: []string{fraud.ReasonNewAccountValue}},
		{name: "old account, high value", rules: rules, order: order(150_000), facts: fraud.Facts{AccountCreatedAt: placed.Add(-48 * time.Hour)}},
		{name: "unknown account age does not fire", rules: rules, order: order(150_000)},
		{name: "scores add up and cap at 100", rules: rules, order: order(2_000_000), facts: fraud.Facts{RecentOrders: 50, AccountCreatedAt: placed.Add(-time.Minute)},
			blocked: true, score: 100, reasons: []string{fraud.ReasonVelocity, fraud.ReasonAmount, fraud.ReasonNewAccountValue}},
		{name: "a rule below the block score only reports", rules: func() fraud.Rules { r := rules; r.AmountScore = 30; return r }(),
			order: order(2_000_000), score: 30, reasons: []string{fraud.ReasonAmount}},
		{name: "rules with zero limits are off", rules: fraud.Rules{BlockScore: 70}, order: order(1 << 40), facts: fraud.Facts{RecentOrders: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.rules.Evaluate(tt.order, tt.facts)
			require.Equal(t, tt.blocked, v.Blocked)
			require.Equal(t, tt.score, v.Score)
			require.Len(t, v.Reasons, len(tt.reasons))
			for i, p := range tt.reasons {
				require.Contains(t, v.Reasons[i], p+":")
				require.LessOrEqual(t, len(v.Reasons[i]), 200, "fits payment.fraud_suspected")
			}
			require.Equal(t, v, tt.rules.Evaluate(tt.order, tt.facts), "deterministic")
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, fraud.DefaultRules().Validate())
	bad := fraud.Rules{VelocityMaxOrders: 5, VelocityScore: 120, BlockScore: 0, NewAccountMaxCents: 10, MaxAmountCents: -1}
	err := bad.Validate()
	require.Error(t, err)
	for _, want := range []string{"velocity score", "block score", "velocity window", "new-account age", "negative"} {
		require.ErrorContains(t, err, want)
	}
}
