// Package fraud is the order saga's own risk check, run before the payment provider is
// called: a small rule engine that scores an order from facts the saga gathers (the
// customer's recent orders, the age of the account) and refuses it above a threshold,
// with the reasons that fired. The provider may still refuse on its own risk check
// (tok_riskLevelHighest); both end as payment.fraud_suspected and an order cancelled
// with reason fraud_suspected.
//
// The engine is pure: Evaluate is a function of the rules, the order and the facts,
// so a retried step decides the same way. Facts are taken relative to the order's
// placement time, not the clock, for the same reason.
package fraud

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Reason codes, as they appear in payment.fraud_suspected.
const (
	ReasonVelocity        = "velocity"
	ReasonAmount          = "amount_over_limit"
	ReasonNewAccountValue = "new_account_high_value"
)

// Rules configures the engine. A rule with a zero limit is off. Amounts are in the
// order currency's minor unit, whatever the currency (Ordo sells in one or a few
// currencies of similar magnitude; per-currency limits would be a map here).
type Rules struct {
	// VelocityWindow and VelocityMaxOrders: more than VelocityMaxOrders other orders
	// by the same customer within VelocityWindow before this one fires the rule.
	VelocityWindow    time.Duration
	VelocityMaxOrders int
	VelocityScore     int
	// MaxAmountCents: an order total above it fires the rule.
	MaxAmountCents int64
	AmountScore    int
	// NewAccountAge and NewAccountMaxCents: an account younger than NewAccountAge
	// ordering more than NewAccountMaxCents fires the rule.
	NewAccountAge      time.Duration
	NewAccountMaxCents int64
	NewAccountScore    int
	// BlockScore: an order whose summed score (capped at 100) reaches it is refused.
	BlockScore int
}

// DefaultRules returns the defaults: more than 10 orders in 10 minutes, more than
// 1,000,000 minor units (10,000.00 EUR), or more than 100,000 (1,000.00 EUR) from an
// account younger than a day; each scores 80 and 70 blocks.
func DefaultRules() Rules {
	return Rules{
		VelocityWindow: 10 * time.Minute, VelocityMaxOrders: 10, VelocityScore: 80,
		MaxAmountCents: 1_000_000, AmountScore: 80,
		NewAccountAge: 24 * time.Hour, NewAccountMaxCents: 100_000, NewAccountScore: 80,
		BlockScore: 70,
	}
}

// Validate reports every problem at once.
func (r Rules) Validate() error {
	var errs []error
	score := func(name string, s int) {
		if s < 0 || s > 100 {
			errs = append(errs, fmt.Errorf("fraud %s score %d: want 0..100", name, s))
		}
	}
	score("velocity", r.VelocityScore)
	score("amount", r.AmountScore)
	score("new account", r.NewAccountScore)
	if r.BlockScore < 1 || r.BlockScore > 100 {
		errs = append(errs, fmt.Errorf("fraud block score %d: want 1..100", r.BlockScore))
	}
	if r.VelocityMaxOrders < 0 || r.MaxAmountCents < 0 || r.NewAccountMaxCents < 0 {
		errs = append(errs, errors.New("fraud limits must not be negative"))
	}
	if r.VelocityMaxOrders > 0 && r.VelocityWindow <= 0 {
		errs = append(errs, errors.New("fraud velocity window must be positive when the velocity rule is on"))
	}
	if r.NewAccountMaxCents > 0 && r.NewAccountAge <= 0 {
		errs = append(errs, errors.New("fraud new-account age must be positive when the new-account rule is on"))
	}
	return errors.Join(errs...)
}

// Order is what the engine knows of the order.
type Order struct {
	OrderID    domain.ID
	CustomerID domain.ID
	Total      domain.Money
	PlacedAt   time.Time
}

// Facts are what the saga looked up about the customer.
type Facts struct {
	// RecentOrders counts the customer's other orders placed within VelocityWindow
	// before this one.
	RecentOrders int
	// AccountCreatedAt is when the customer registered; zero when unknown (then the
	// new-account rule does not apply).
	AccountCreatedAt time.Time
}

// Verdict is the engine's answer.
type Verdict struct {
	// Score is the sum of the fired rules' scores, capped at 100.
	Score int
	// Reasons lists the fired rules, each with its evidence ("velocity: 12 orders in
	// 10m0s"), in a fixed order.
	Reasons []string
	// Blocked is true when Score reached the block score.
	Blocked bool
}

// Evaluate scores an order.
func (r Rules) Evaluate(o Order, f Facts) Verdict {
	var v Verdict
	fire := func(score int, reason string) {
		v.Score += score
		v.Reasons = append(v.Reasons, reason)
	}
	if r.VelocityMaxOrders > 0 && f.RecentOrders > r.VelocityMaxOrders {
		fire(r.VelocityScore, fmt.Sprintf("%s: %d other orders in %s (limit %d)", ReasonVelocity, f.RecentOrders, r.VelocityWindow, r.VelocityMaxOrders))
	}
	if r.MaxAmountCents > 0 && o.Total.Cents > r.MaxAmountCents {
		fire(r.AmountScore, fmt.Sprintf("%s: %s over %d", ReasonAmount, o.Total, r.MaxAmountCents))
	}
	if r.NewAccountMaxCents > 0 && !f.AccountCreatedAt.IsZero() && o.Total.Cents > r.NewAccountMaxCents {
		if age := o.PlacedAt.Sub(f.AccountCreatedAt); age < r.NewAccountAge {
			fire(r.NewAccountScore, fmt.Sprintf("%s: %s from an account %s old", ReasonNewAccountValue, o.Total, age.Round(time.Second)))
		}
	}
	v.Score = min(v.Score, 100)
	v.Blocked = len(v.Reasons) > 0 && v.Score >= r.BlockScore
	v.Reasons = slices.Clip(v.Reasons)
	return v
}
