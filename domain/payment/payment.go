package payment

import (
	"fmt"
	"slices"
	"time"

	"github.com/ordo-platform/ordo/domain"
)

// Status is where a payment is. The zero value means no outcome recorded.
type Status string

// Statuses.
const (
	StatusAuthorized     Status = "authorized"
	StatusCaptured       Status = "captured"
	StatusVoided         Status = "voided"
	StatusRefunded       Status = "refunded"
	StatusDeclined       Status = "declined"
	StatusFraudSuspected Status = "fraud_suspected"
)

// Limits of recorded provider data.
const (
	MaxFraudReasons = 20
	MaxFraudScore   = 100
)

// Payment is the payment aggregate. The zero value is a payment with no
// recorded outcome.
type Payment struct {
	orderID           domain.ID
	status            Status
	authorized        domain.Money
	captured          domain.Money
	refunded          domain.Money
	provider          string
	providerReference string
	captureReference  string
	authorizedAt      time.Time
	declineReason     string
	providerCode      string
	fraudReasons      []string
	fraudScore        int
}

// Fold rebuilds a payment from its stream's events, oldest first. It fails
// only on an event of another aggregate.
func Fold(events []domain.Event) (*Payment, error) {
	p := &Payment{}
	for _, e := range events {
		if err := p.Evolve(e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Evolve applies one event without checking invariants.
func (p *Payment) Evolve(e domain.Event) error {
	switch e := e.(type) {
	case Authorized:
		p.orderID = e.OrderID
		p.status = StatusAuthorized
		p.authorized = e.Amount
		p.provider = e.Provider
		p.providerReference = e.ProviderReference
		p.authorizedAt = e.AuthorizedAt
	case Captured:
		p.status = StatusCaptured
		p.captured = e.Amount
		p.captureReference = e.ProviderReference
	case Declined:
		p.orderID = e.OrderID
		p.status = StatusDeclined
		p.declineReason = e.Reason
		p.providerCode = e.ProviderCode
	case Voided:
		p.status = StatusVoided
	case Refunded:
		p.status = StatusRefunded
		p.refunded = e.Amount
	case FraudSuspected:
		p.orderID = e.OrderID
		p.status = StatusFraudSuspected
		p.fraudReasons = slices.Clone(e.Reasons)
		p.fraudScore = e.Score
	default:
		return fmt.Errorf("payment: apply %T: %w", e, domain.ErrUnknownEvent)
	}
	return nil
}

// Exists reports whether an outcome was recorded.
func (p *Payment) Exists() bool { return p.status != "" }

// OrderID returns the order (and payment) id.
func (p *Payment) OrderID() domain.ID { return p.orderID }

// Status returns the payment's status ("" when nothing was recorded).
func (p *Payment) Status() Status { return p.status }

// Authorized returns the authorized amount (zero if never authorized).
func (p *Payment) Authorized() domain.Money { return p.authorized }

// Captured returns the captured amount (zero if never captured).
func (p *Payment) Captured() domain.Money { return p.captured }

// Refunded returns the refunded amount (zero if never refunded).
func (p *Payment) Refunded() domain.Money { return p.refunded }

// Provider returns the provider that authorized the payment.
func (p *Payment) Provider() string { return p.provider }

// ProviderReference returns the provider's reference of the authorization.
func (p *Payment) ProviderReference() string { return p.providerReference }

// CaptureReference returns the provider's reference of the capture.
func (p *Payment) CaptureReference() string { return p.captureReference }

// AuthorizedAt returns when the payment was authorized.
func (p *Payment) AuthorizedAt() time.Time { return p.authorizedAt }

// DeclineReason returns why the provider declined ("" unless declined).
func (p *Payment) DeclineReason() string { return p.declineReason }

// ProviderCode returns the provider's decline code.
func (p *Payment) ProviderCode() string { return p.providerCode }

// FraudReasons returns a copy of the provider's fraud reasons.
func (p *Payment) FraudReasons() []string { return slices.Clone(p.fraudReasons) }

// FraudScore returns the provider's risk score.
func (p *Payment) FraudScore() int { return p.fraudScore }

// Authorize records a successful authorization.
type Authorize struct {
	OrderID           domain.ID
	Amount            domain.Money
	Provider          string
	ProviderReference string
	At                time.Time
}

// DecideAuthorize returns Authorized. The same authorization recorded again
// returns nothing; any other outcome already recorded is a conflict.
func (p *Payment) DecideAuthorize(cmd Authorize) ([]domain.Event, error) {
	amount, errAmount := positive("amount_cents", cmd.Amount)
	at, errAt := domain.Time("authorized_at", cmd.At)
	if err := domain.JoinValidation(
		domain.RequireID("order_id", cmd.OrderID), errAmount,
		domain.Token(CodeInvalidProvider, "provider", cmd.Provider),
		reference("provider_reference", cmd.ProviderReference), errAt,
	); err != nil {
		return nil, err
	}
	if p.Exists() {
		if p.status == StatusAuthorized && p.authorized == amount && p.provider == cmd.Provider &&
			p.providerReference == cmd.ProviderReference {
			return nil, nil
		}
		return nil, domain.Conflict(CodePaymentAlreadyRecorded,
			fmt.Sprintf("payment of order %s is already %s", p.orderID, p.status))
	}
	return []domain.Event{Authorized{
		OrderID: cmd.OrderID, Amount: amount, Provider: cmd.Provider,
		ProviderReference: cmd.ProviderReference, AuthorizedAt: at,
	}}, nil
}

// Decline records that the provider refused to authorize.
type Decline struct {
	OrderID      domain.ID
	Reason       string
	ProviderCode string
}

// DecideDecline returns Declined. The same decline recorded again returns
// nothing; a decline after any other outcome is a conflict.
func (p *Payment) DecideDecline(cmd Decline) ([]domain.Event, error) {
	code, errCode := domain.Text(CodeInvalidProviderCode, "provider_code", cmd.ProviderCode, 0, 64, false)
	if err := domain.JoinValidation(
		domain.RequireID("order_id", cmd.OrderID),
		domain.Token(CodeInvalidDeclineReason, "reason", cmd.Reason), errCode,
	); err != nil {
		return nil, err
	}
	if p.Exists() {
		if p.status == StatusDeclined && p.declineReason == cmd.Reason && p.providerCode == code {
			return nil, nil
		}
		return nil, domain.Conflict(CodePaymentAlreadyRecorded,
			fmt.Sprintf("payment of order %s is already %s", p.orderID, p.status))
	}
	return []domain.Event{Declined{OrderID: cmd.OrderID, Reason: cmd.Reason, ProviderCode: code}}, nil
}

// FlagFraud records that the provider's risk check refused the payment.
type FlagFraud struct {
	OrderID domain.ID
	Reasons []string
	Score   int
}

// DecideFlagFraud returns FraudSuspected. The same verdict recorded again
// returns nothing; after any other outcome it is a conflict.
func (p *Payment) DecideFlagFraud(cmd FlagFraud) ([]domain.Event, error) {
	reasons, errReasons := fraudReasons(cmd.Reasons)
	var errScore error
	if cmd.Score < 0 || cmd.Score > MaxFraudScore {
		errScore = domain.Invalid(CodeInvalidFraudScore, "score", fmt.Sprintf("score must be between 0 and %d", MaxFraudScore))
	}
	if err := domain.JoinValidation(domain.RequireID("order_id", cmd.OrderID), errReasons, errScore); err != nil {
		return nil, err
	}
	if p.Exists() {
		if p.status == StatusFraudSuspected && p.fraudScore == cmd.Score && slices.Equal(p.fraudReasons, reasons) {
			return nil, nil
		}
		return nil, domain.Conflict(CodePaymentAlreadyRecorded,
			fmt.Sprintf("payment of order %s is already %s", p.orderID, p.status))
	}
	return []domain.Event{FraudSuspected{OrderID: cmd.OrderID, Reasons: reasons, Score: cmd.Score}}, nil
}

// Capture records that the provider captured Amount of the authorization.
type Capture struct {
	Amount            domain.Money
	ProviderReference string
}

// DecideCapture returns Captured. Only an authorized payment can be
// captured, for at most the authorized amount, once; the same capture
// recorded again returns nothing.
func (p *Payment) DecideCapture(cmd Capture) ([]domain.Event, error) {
	amount, errAmount := positive("amount_cents", cmd.Amount)
	if err := domain.JoinValidation(errAmount, reference("provider_reference", cmd.ProviderReference)); err != nil {
		return nil, err
	}
	switch p.status {
	case "":
		return nil, domain.Conflict(CodeCaptureWithoutAuthorization, "the payment was never authorized; nothing to capture")
	case StatusAuthorized:
	case StatusCaptured, StatusRefunded:
		if p.captured == amount && p.captureReference == cmd.ProviderReference {
			return nil, nil
		}
		return nil, domain.Conflict(CodeAlreadyCaptured,
			fmt.Sprintf("the payment was already captured (%s)", p.captured))
	default:
		return nil, p.closed("captured")
	}
	if amount.Currency != p.authorized.Currency {
		return nil, domain.Invalid(domain.CodeCurrencyMismatch, "currency",
			fmt.Sprintf("capture in %s of an authorization in %s", amount.Currency, p.authorized.Currency))
	}
	if amount.Cents > p.authorized.Cents {
		return nil, domain.Conflict(CodeCaptureExceedsAuthorization,
			fmt.Sprintf("cannot capture %s: only %s was authorized", amount, p.authorized))
	}
	return []domain.Event{Captured{OrderID: p.orderID, Amount: amount, ProviderReference: cmd.ProviderReference}}, nil
}

// DecideAuthorizeAndCapture returns Authorized and Captured together, for a provider
// that captured right after authorizing: what DecideAuthorize and then DecideCapture
// on the authorized payment return. Either one already recorded returns nothing for it.
func (p *Payment) DecideAuthorizeAndCapture(auth Authorize, capture Capture) ([]domain.Event, error) {
	q := *p // decided on a copy: the caller applies the events it appends
	var authorized []domain.Event
	if done := q.status == StatusCaptured || q.status == StatusRefunded; !done || q.providerReference != auth.ProviderReference {
		var err error
		if authorized, err = q.DecideAuthorize(auth); err != nil {
			return nil, err
		}
	}
	for _, e := range authorized {
		if err := q.Evolve(e); err != nil {
			return nil, err
		}
	}
	captured, err := q.DecideCapture(capture)
	if err != nil {
		return nil, err
	}
	return append(authorized, captured...), nil
}

// DecideVoid returns Voided for an authorized payment and nothing for a
// voided one. A captured payment cannot be voided: refund it.
func (p *Payment) DecideVoid() ([]domain.Event, error) {
	switch p.status {
	case "":
		return nil, domain.Conflict(CodeVoidWithoutAuthorization, "the payment was never authorized; nothing to void")
	case StatusAuthorized:
		return []domain.Event{Voided{OrderID: p.orderID}}, nil
	case StatusVoided:
		return nil, nil
	case StatusCaptured, StatusRefunded:
		return nil, domain.Conflict(CodeVoidAfterCapture, "the payment was captured; refund it instead of voiding")
	default:
		return nil, p.closed("voided")
	}
}

// Refund records that the provider refunded Amount of the capture.
type Refund struct {
	Amount domain.Money
}

// DecideRefund returns Refunded. Only a captured payment can be refunded,
// for at most the captured amount, once; the same refund recorded again
// returns nothing.
func (p *Payment) DecideRefund(cmd Refund) ([]domain.Event, error) {
	amount, err := positive("amount_cents", cmd.Amount)
	if err != nil {
		return nil, err
	}
	switch p.status {
	case "", StatusAuthorized, StatusVoided:
		return nil, domain.Conflict(CodeRefundWithoutCapture, "the payment was never captured; nothing to refund")
	case StatusCaptured:
	case StatusRefunded:
		if p.refunded == amount {
			return nil, nil
		}
		return nil, domain.Conflict(CodeAlreadyRefunded, fmt.Sprintf("the payment was already refunded (%s)", p.refunded))
	default:
		return nil, p.closed("refunded")
	}
	if amount.Currency != p.captured.Currency {
		return nil, domain.Invalid(domain.CodeCurrencyMismatch, "currency",
			fmt.Sprintf("refund in %s of a capture in %s", amount.Currency, p.captured.Currency))
	}
	if amount.Cents > p.captured.Cents {
		return nil, domain.Conflict(CodeRefundExceedsCapture,
			fmt.Sprintf("cannot refund %s: only %s was captured", amount, p.captured))
	}
	return []domain.Event{Refunded{OrderID: p.orderID, Amount: amount}}, nil
}

func (p *Payment) closed(verb string) error {
	return domain.Conflict(CodePaymentClosed,
		fmt.Sprintf("the payment is %s and cannot be %s", p.status, verb))
}

func positive(field string, m domain.Money) (domain.Money, error) {
	amount, err := domain.NewMoney(m.Cents, m.Currency)
	if err != nil {
		return domain.Money{}, err
	}
	if !amount.IsPositive() {
		return domain.Money{}, domain.Invalid(CodeInvalidAmount, field, "amount must be greater than zero")
	}
	return amount, nil
}

func reference(field, ref string) error {
	_, err := domain.Text(CodeInvalidProviderReference, field, ref, 1, 255, false)
	if err == nil && ref != "" && (ref[0] == ' ' || ref[len(ref)-1] == ' ') {
		err = domain.Invalid(CodeInvalidProviderReference, field, field+" must not start or end with a space")
	}
	return err
}

func fraudReasons(in []string) ([]string, error) {
	if len(in) == 0 || len(in) > MaxFraudReasons {
		return nil, domain.Invalid(CodeInvalidFraudReasons, "reasons",
			fmt.Sprintf("reasons must list 1 to %d reasons", MaxFraudReasons))
	}
	out := make([]string, len(in))
	for i, r := range in {
		v, err := domain.Text(CodeInvalidFraudReasons, fmt.Sprintf("reasons[%d]", i), r, 1, 200, false)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
