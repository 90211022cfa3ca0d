package schemas

import (
	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/payment"
)

// ordo.payment.PaymentAuthorized
type paymentAuthorized struct {
	OrderID           string    `avro:"order_id" json:"order_id"`
	AmountCents       int64     `avro:"amount_cents" json:"amount_cents"`
	Currency          string    `avro:"currency" json:"currency"`
	Provider          string    `avro:"provider" json:"provider"`
	ProviderReference string    `avro:"provider_reference" json:"provider_reference"`
	AuthorizedAt      timestamp `avro:"authorized_at" json:"authorized_at"`
}

func paymentAuthorizedRecord(e payment.Authorized) paymentAuthorized {
	return paymentAuthorized{
		OrderID: e.OrderID.String(), AmountCents: e.Amount.Cents, Currency: e.Amount.Currency,
		Provider: e.Provider, ProviderReference: e.ProviderReference, AuthorizedAt: timestamp(e.AuthorizedAt),
	}
}

func paymentAuthorizedEvent(r *paymentAuthorized) (payment.Authorized, error) {
	var f fields
	e := payment.Authorized{
		OrderID: f.id("order_id", r.OrderID), Amount: domain.Money{Cents: r.AmountCents, Currency: r.Currency},
		Provider: r.Provider, ProviderReference: r.ProviderReference, AuthorizedAt: f.time("authorized_at", r.AuthorizedAt),
	}
	return e, f.err
}

// ordo.payment.PaymentCaptured
type paymentCaptured struct {
	OrderID           string `avro:"order_id" json:"order_id"`
	AmountCents       int64  `avro:"amount_cents" json:"amount_cents"`
	Currency          string `avro:"currency" json:"currency"`
	ProviderReference string `avro:"provider_reference" json:"provider_reference"`
}

func paymentCapturedRecord(e payment.Captured) paymentCaptured {
	return paymentCaptured{
		OrderID: e.OrderID.String(), AmountCents: e.Amount.Cents, Currency: e.Amount.Currency, ProviderReference: e.ProviderReference,
	}
}

func paymentCapturedEvent(r *paymentCaptured) (payment.Captured, error) {
	var f fields
	e := payment.Captured{
		OrderID: f.id("order_id", r.OrderID), Amount: domain.Money{Cents: r.AmountCents, Currency: r.Currency},
		ProviderReference: r.ProviderReference,
	}
	return e, f.err
}

// ordo.payment.PaymentDeclined
type paymentDeclined struct {
	OrderID      string `avro:"order_id" json:"order_id"`
	Reason       string `avro:"reason" json:"reason"`
	ProviderCode string `avro:"provider_code" json:"provider_code"`
}

func paymentDeclinedRecord(e payment.Declined) paymentDeclined {
	return paymentDeclined{OrderID: e.OrderID.String(), Reason: e.Reason, ProviderCode: e.ProviderCode}
}

func paymentDeclinedEvent(r *paymentDeclined) (payment.Declined, error) {
	var f fields
	e := payment.Declined{OrderID: f.id("order_id", r.OrderID), Reason: r.Reason, ProviderCode: r.ProviderCode}
	return e, f.err
}

// ordo.payment.PaymentVoided
type paymentVoided struct {
	OrderID string `avro:"order_id" json:"order_id"`
}

func paymentVoidedRecord(e payment.Voided) paymentVoided {
	return paymentVoided{OrderID: e.OrderID.String()}
}

func paymentVoidedEvent(r *paymentVoided) (payment.Voided, error) {
	var f fields
	e := payment.Voided{OrderID: f.id("order_id", r.OrderID)}
	return e, f.err
}

// ordo.payment.PaymentRefunded
type paymentRefunded struct {
	OrderID     string `avro:"order_id" json:"order_id"`
	AmountCents int64  `avro:"amount_cents" json:"amount_cents"`
	Currency    string `avro:"currency" json:"currency"`
}

func paymentRefundedRecord(e payment.Refunded) paymentRefunded {
	return paymentRefunded{OrderID: e.OrderID.String(), AmountCents: e.Amount.Cents, Currency: e.Amount.Currency}
}

func paymentRefundedEvent(r *paymentRefunded) (payment.Refunded, error) {
	var f fields
	e := payment.Refunded{OrderID: f.id("order_id", r.OrderID), Amount: domain.Money{Cents: r.AmountCents, Currency: r.Currency}}
	return e, f.err
}

// ordo.payment.PaymentFraudSuspected
type paymentFraudSuspected struct {
	OrderID string   `avro:"order_id" json:"order_id"`
	Reasons []string `avro:"reasons" json:"reasons"`
	Score   int32    `avro:"score" json:"score"`
}

func paymentFraudSuspectedRecord(e payment.FraudSuspected) paymentFraudSuspected {
	reasons := e.Reasons
	if reasons == nil {
		reasons = []string{} // JSON [] rather than null
	}
	return paymentFraudSuspected{OrderID: e.OrderID.String(), Reasons: reasons, Score: int32(e.Score)}
}

func paymentFraudSuspectedEvent(r *paymentFraudSuspected) (payment.FraudSuspected, error) {
	var f fields
	var reasons []string
	if len(r.Reasons) > 0 {
		reasons = r.Reasons
	}
	e := payment.FraudSuspected{OrderID: f.id("order_id", r.OrderID), Reasons: reasons, Score: int(r.Score)}
	return e, f.err
}
