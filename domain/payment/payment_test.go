package payment_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/payment"
)

var (
	orderID = domain.MustParseID("0193a1c2-0000-7000-8000-0000000000c1")
	at      = time.Date(2025, 3, 4, 12, 0, 1, 0, time.UTC)
)

func eur(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

func authorize(c int64) payment.Authorize {
	return payment.Authorize{OrderID: orderID, Amount: eur(c), Provider: "simulator", ProviderReference: "auth_1", At: at}
}

var (
	authorized = payment.Authorized{OrderID: orderID, Amount: eur(3948), Provider: "simulator", ProviderReference: "auth_1", AuthorizedAt: at}
	captured   = payment.Captured{OrderID: orderID, Amount: eur(3948), ProviderReference: "cap_1"}
	voided     = payment.Voided{OrderID: orderID}
	refunded   = payment.Refunded{OrderID: orderID, Amount: eur(3948)}
	declined   = payment.Declined{OrderID: orderID, Reason: "card_declined", ProviderCode: "do_not_honor"}
	fraud      = payment.FraudSuspected{OrderID: orderID, Reasons: []string{"velocity", "ip_country_mismatch"}, Score: 97}
)

func history(events ...domain.Event) []domain.Event { return events }

func TestDecide(t *testing.T) {
	t.Parallel()
	type decision = func(*payment.Payment) ([]domain.Event, error)
	auth := func(cmd payment.Authorize) decision {
		return func(p *payment.Payment) ([]domain.Event, error) { return p.DecideAuthorize(cmd) }
	}
	decline := func(cmd payment.Decline) decision {
		return func(p *payment.Payment) ([]domain.Event, error) { return p.DecideDecline(cmd) }
	}
	flag := func(cmd payment.FlagFraud) decision {
		return func(p *payment.Payment) ([]domain.Event, error) { return p.DecideFlagFraud(cmd) }
	}
	capture := func(c int64, ref string) decision {
		return func(p *payment.Payment) ([]domain.Event, error) {
			return p.DecideCapture(payment.Capture{Amount: eur(c), ProviderReference: ref})
		}
	}
	void := func(p *payment.Payment) ([]domain.Event, error) { return p.DecideVoid() }
	authCapture := func(c int64) decision {
		return func(p *payment.Payment) ([]domain.Event, error) {
			before := *p
			evs, err := p.DecideAuthorizeAndCapture(authorize(3948), payment.Capture{Amount: eur(c), ProviderReference: "cap_1"})
			require.Equal(t, before, *p, "decided on a copy: the payment is unchanged")
			return evs, err
		}
	}
	refund := func(m domain.Money) decision {
		return func(p *payment.Payment) ([]domain.Event, error) { return p.DecideRefund(payment.Refund{Amount: m}) }
	}
	declineCmd := payment.Decline{OrderID: orderID, Reason: "card_declined", ProviderCode: "do_not_honor"}
	fraudCmd := payment.FlagFraud{OrderID: orderID, Reasons: []string{"velocity", "ip_country_mismatch"}, Score: 97}

	tests := []struct {
		name     string
		history  []domain.Event
		run      decision
		want     []domain.Event
		wantKind domain.ErrorKind
		wantCode string
	}{
		// authorize
		{name: "authorize", run: auth(authorize(3948)), want: history(authorized)},
		{name: "authorize again identically is a no-op", history: history(authorized), run: auth(authorize(3948))},
		{name: "authorize again differently", history: history(authorized), run: auth(authorize(1)),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentAlreadyRecorded},
		{name: "authorize after decline", history: history(declined), run: auth(authorize(3948)),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentAlreadyRecorded},
		{name: "authorize zero", run: auth(authorize(0)), wantKind: domain.KindValidation, wantCode: payment.CodeInvalidAmount},
		{name: "authorize without provider", run: auth(payment.Authorize{OrderID: orderID, Amount: eur(1), ProviderReference: "r", At: at}),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidProvider},
		{name: "authorize without reference", run: auth(payment.Authorize{OrderID: orderID, Amount: eur(1), Provider: "simulator", At: at}),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidProviderReference},
		{name: "authorize without time", run: auth(payment.Authorize{OrderID: orderID, Amount: eur(1), Provider: "simulator", ProviderReference: "r"}),
			wantKind: domain.KindValidation, wantCode: domain.CodeInvalidTime},
		// decline and fraud
		{name: "decline", run: decline(declineCmd), want: history(declined)},
		{name: "decline again is a no-op", history: history(declined), run: decline(declineCmd)},
		{name: "decline after authorization", history: history(authorized), run: decline(declineCmd),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentAlreadyRecorded},
		{name: "decline with a bad reason", run: decline(payment.Decline{OrderID: orderID, Reason: "Card Declined"}),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidDeclineReason},
		{name: "fraud", run: flag(fraudCmd), want: history(fraud)},
		{name: "fraud again is a no-op", history: history(fraud), run: flag(fraudCmd)},
		{name: "fraud after decline", history: history(declined), run: flag(fraudCmd),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentAlreadyRecorded},
		{name: "fraud without reasons", run: flag(payment.FlagFraud{OrderID: orderID, Score: 50}),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidFraudReasons},
		{name: "fraud score above 100", run: flag(payment.FlagFraud{OrderID: orderID, Reasons: []string{"x"}, Score: 101}),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidFraudScore},
		// capture
		{name: "capture", history: history(authorized), run: capture(3948, "cap_1"), want: history(captured)},
		{name: "partial capture", history: history(authorized), run: capture(1000, "cap_1"),
			want: history(payment.Captured{OrderID: orderID, Amount: eur(1000), ProviderReference: "cap_1"})},
		{name: "no capture without authorization", run: capture(3948, "cap_1"),
			wantKind: domain.KindConflict, wantCode: payment.CodeCaptureWithoutAuthorization},
		{name: "no capture above the authorized amount", history: history(authorized), run: capture(3949, "cap_1"),
			wantKind: domain.KindConflict, wantCode: payment.CodeCaptureExceedsAuthorization},
		{name: "capture in another currency", history: history(authorized),
			run: func(p *payment.Payment) ([]domain.Event, error) {
				return p.DecideCapture(payment.Capture{Amount: domain.Money{Cents: 1, Currency: "USD"}, ProviderReference: "cap_1"})
			},
			wantKind: domain.KindValidation, wantCode: domain.CodeCurrencyMismatch},
		{name: "capture again identically is a no-op", history: history(authorized, captured), run: capture(3948, "cap_1")},
		{name: "second capture", history: history(authorized, captured), run: capture(1, "cap_2"),
			wantKind: domain.KindConflict, wantCode: payment.CodeAlreadyCaptured},
		{name: "no capture after void", history: history(authorized, voided), run: capture(3948, "cap_1"),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentClosed},
		{name: "no capture after decline", history: history(declined), run: capture(3948, "cap_1"),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentClosed},
		{name: "no capture after fraud", history: history(fraud), run: capture(3948, "cap_1"),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentClosed},
		{name: "capture zero", history: history(authorized), run: capture(0, "cap_1"),
			wantKind: domain.KindValidation, wantCode: payment.CodeInvalidAmount},
		// authorize and capture together
		{name: "authorize and capture", run: authCapture(3948), want: history(authorized, captured)},
		{name: "authorize and capture after the authorization", history: history(authorized), run: authCapture(3948), want: history(captured)},
		{name: "authorize and capture again is a no-op", history: history(authorized, captured), run: authCapture(3948)},
		{name: "authorize and capture above the amount", run: authCapture(3949),
			wantKind: domain.KindConflict, wantCode: payment.CodeCaptureExceedsAuthorization},
		{name: "authorize and capture after decline", history: history(declined), run: authCapture(3948),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentAlreadyRecorded},
		// void
		{name: "void", history: history(authorized), run: void, want: history(voided)},
		{name: "void twice is a no-op", history: history(authorized, voided), run: void},
		{name: "no void after capture", history: history(authorized, captured), run: void,
			wantKind: domain.KindConflict, wantCode: payment.CodeVoidAfterCapture},
		{name: "no void without authorization", run: void,
			wantKind: domain.KindConflict, wantCode: payment.CodeVoidWithoutAuthorization},
		{name: "no void after decline", history: history(declined), run: void,
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentClosed},
		// refund
		{name: "refund", history: history(authorized, captured), run: refund(eur(3948)), want: history(refunded)},
		{name: "partial refund", history: history(authorized, captured), run: refund(eur(1)),
			want: history(payment.Refunded{OrderID: orderID, Amount: eur(1)})},
		{name: "refund again identically is a no-op", history: history(authorized, captured, refunded), run: refund(eur(3948))},
		{name: "second, different refund", history: history(authorized, captured, refunded), run: refund(eur(1)),
			wantKind: domain.KindConflict, wantCode: payment.CodeAlreadyRefunded},
		{name: "no refund without capture", history: history(authorized), run: refund(eur(1)),
			wantKind: domain.KindConflict, wantCode: payment.CodeRefundWithoutCapture},
		{name: "no refund of nothing", run: refund(eur(1)),
			wantKind: domain.KindConflict, wantCode: payment.CodeRefundWithoutCapture},
		{name: "no refund above captured", history: history(authorized, captured), run: refund(eur(3949)),
			wantKind: domain.KindConflict, wantCode: payment.CodeRefundExceedsCapture},
		{name: "no refund after fraud", history: history(fraud), run: refund(eur(1)),
			wantKind: domain.KindConflict, wantCode: payment.CodePaymentClosed},
		{name: "refund in another currency", history: history(authorized, captured), run: refund(domain.Money{Cents: 1, Currency: "USD"}),
			wantKind: domain.KindValidation, wantCode: domain.CodeCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := payment.Fold(tt.history)
			require.NoError(t, err)
			got, err := tt.run(p)
			if tt.wantCode != "" {
				require.Error(t, err)
				e, ok := domain.AsError(err)
				require.True(t, ok, "want a *domain.Error, got %v", err)
				require.Equal(t, tt.wantKind, e.Kind, "kind of %v", err)
				require.Equal(t, tt.wantCode, e.Code, "code of %v", err)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	p, err := payment.Fold(history(authorized, captured, refunded))
	require.NoError(t, err)
	require.True(t, p.Exists())
	require.Equal(t, orderID, p.OrderID())
	require.Equal(t, payment.StatusRefunded, p.Status())
	require.Equal(t, eur(3948), p.Authorized())
	require.Equal(t, eur(3948), p.Captured())
	require.Equal(t, eur(3948), p.Refunded())
	require.Equal(t, "simulator", p.Provider())
	require.Equal(t, "auth_1", p.ProviderReference())
	require.Equal(t, "cap_1", p.CaptureReference())
	require.Equal(t, at, p.AuthorizedAt())

	f, err := payment.Fold(history(fraud))
	require.NoError(t, err)
	require.Equal(t, payment.StatusFraudSuspected, f.Status())
	require.Equal(t, fraud.Reasons, f.FraudReasons())
	require.Equal(t, 97, f.FraudScore())

	d, err := payment.Fold(history(declined))
	require.NoError(t, err)
	require.Equal(t, payment.StatusDeclined, d.Status())
	require.Equal(t, "card_declined", d.DeclineReason())
	require.Equal(t, "do_not_honor", d.ProviderCode())

	v, err := payment.Fold(history(authorized, voided))
	require.NoError(t, err)
	require.Equal(t, payment.StatusVoided, v.Status())

	empty, err := payment.Fold(nil)
	require.NoError(t, err)
	require.False(t, empty.Exists())

	_, err = payment.Fold(history(authorized, foreign{}))
	require.ErrorIs(t, err, domain.ErrUnknownEvent)
}

type foreign struct{}

func (foreign) EventType() string { return "order.placed" }

func TestEventsAndStreams(t *testing.T) {
	t.Parallel()
	var types []string
	for _, e := range payment.Events() {
		types = append(types, e.EventType())
	}
	require.Equal(t, []string{
		"payment.authorized", "payment.captured", "payment.declined",
		"payment.voided", "payment.refunded", "payment.fraud_suspected",
	}, types)
	require.Equal(t, "payment-0193a1c2-0000-7000-8000-0000000000c1", payment.StreamID(orderID))
}
