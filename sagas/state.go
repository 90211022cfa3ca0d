package sagas

import (
	"time"

	"github.com/google/uuid"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
)

// State is where a saga is. See the package comment for the machine.
type State string

// States.
const (
	// StateReserving: the order was accepted; its stock is to be reserved.
	StateReserving State = "reserving"
	// StateAuthorizing: stock is reserved; the fraud check and the authorization are next.
	StateAuthorizing State = "authorizing"
	// StateCapturing: the payment is authorized; the capture is next.
	StateCapturing State = "capturing"
	// StateConfirming: the payment is captured; the order is to be confirmed and its
	// reservations committed.
	StateConfirming State = "confirming"
	// StateConfirmed: done. A customer's cancellation reopens it (refund, restock).
	StateConfirmed State = "confirmed"
	// StateCompensating: the order is being cancelled; what was done is undone.
	StateCompensating State = "compensating"
	// StateCancelled: terminal; the order is cancelled and everything was undone.
	StateCancelled State = "cancelled"
	// StateCompensationFailed: a compensation failed for good. The order is cancelled,
	// but money or stock needs an operator (docs/saga.md). Never dropped: listed by
	// the admin query and counted by the ordo_saga_compensation_failed gauge.
	StateCompensationFailed State = "compensation_failed"
)

// States lists every state.
func States() []State {
	return []State{StateReserving, StateAuthorizing, StateCapturing, StateConfirming, StateConfirmed,
		StateCompensating, StateCancelled, StateCompensationFailed}
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, x := range States() {
		if s == x {
			return true
		}
	}
	return false
}

// forward reports whether the state is on the way to confirmation.
func (s State) forward() bool {
	return s == StateReserving || s == StateAuthorizing || s == StateCapturing || s == StateConfirming
}

// Step names an action of the saga: the steps of the step log and the idempotency keys
// of provider calls.
type Step string

// Steps.
const (
	StepReserve        Step = "reserve"
	StepFraudCheck     Step = "fraud_check"
	StepAuthorize      Step = "authorize"
	StepCapture        Step = "capture"
	StepConfirm        Step = "confirm"
	StepCancelRequest  Step = "cancel_request"
	StepCompensate     Step = "compensate_stock_and_order"
	StepVoid           Step = "void"
	StepRefund         Step = "refund"
	StepFinish         Step = "finish"
	StepReleaseExpired Step = "release_expired"
)

// StockState is what the saga holds of the order's stock.
type StockState string

// Stock states.
const (
	StockNone      StockState = "none"
	StockReserved  StockState = "reserved"
	StockCommitted StockState = "committed"
	StockReleased  StockState = "released"
	// StockRestocked: committed stock of a confirmed order the customer cancelled was
	// put back on hand (there is no shipping; the goods never left).
	StockRestocked StockState = "restocked"
)

// PaymentState is what the saga knows of the order's payment at the provider.
type PaymentState string

// Payment states.
const (
	PaymentNone PaymentState = "none"
	// PaymentUnknown: an authorization was asked for and not answered (timeout,
	// interrupted): the provider may hold one, so compensation voids by order id.
	PaymentUnknown    PaymentState = "unknown"
	PaymentAuthorized PaymentState = "authorized"
	PaymentCaptured   PaymentState = "captured"
	PaymentDeclined   PaymentState = "declined"
	PaymentFraud      PaymentState = "fraud"
	PaymentVoided     PaymentState = "voided"
	PaymentRefunded   PaymentState = "refunded"
)

// Item is one order line as the saga needs it.
type Item struct {
	ProductID domain.ID `json:"product_id"`
	Quantity  int64     `json:"quantity"`
}

// Saga is the persisted state of one order's saga: a row of order_sagas.
type Saga struct {
	OrderID      domain.ID
	CustomerID   domain.ID
	Items        []Item
	Total        domain.Money
	PaymentToken string
	PlacedAt     time.Time
	// CorrelationID and CausationID are put on every event the saga appends: the
	// order.placed event's correlation id (or the order id) and its event id.
	CorrelationID uuid.UUID
	CausationID   uuid.UUID
	// TraceParent is the order.placed event's W3C traceparent: the saga's steps run in
	// the trace of the request that placed the order.
	TraceParent string

	State State
	// Step is the step in progress or next, Attempt its failed attempts so far, and
	// Deadline when it times out.
	Step     Step
	Attempt  int
	Deadline time.Time
	// Reason and Detail say why the order is being (was) cancelled.
	Reason order.CancelReason
	Detail string
	// CancelRequested is set when an order.cancelled that the saga did not cause
	// arrives (a customer's cancellation).
	CancelRequested      bool
	Stock                StockState
	ReservationExpiresAt time.Time
	Payment              PaymentState
	AuthorizationRef     string
	CaptureRef           string
	// OrderStatus is the order's status as the saga left it.
	OrderStatus order.Status
	LastError   string

	// Owner and WakeAt are the lease: a worker owns the saga until WakeAt; a saga
	// whose WakeAt has passed is due (a timer, a retry, or an owner that died).
	Owner   string
	WakeAt  time.Time
	Version int64

	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// Action is what a saga must do next.
type Action string

// Actions, as Next returns them.
const (
	ActNone          Action = "none"
	ActReserve       Action = "reserve"
	ActAuthorize     Action = "authorize"
	ActCapture       Action = "capture"
	ActConfirm       Action = "confirm"
	ActCancelRequest Action = "cancel_request"
	ActCompensate    Action = "compensate"
	ActVoid          Action = "void"
	ActRefund        Action = "refund"
	ActFinish        Action = "finish"
)

// Next decides the saga's next action from its state alone: a pure function, so a
// worker that takes over after a crash does exactly what the previous one would have.
func (s *Saga) Next() Action {
	switch {
	case (s.State.forward() || s.State == StateConfirmed) && s.CancelRequested:
		return ActCancelRequest
	case s.State == StateReserving:
		return ActReserve
	case s.State == StateAuthorizing:
		return ActAuthorize
	case s.State == StateCapturing:
		return ActCapture
	case s.State == StateConfirming:
		return ActConfirm
	case s.State != StateCompensating:
		return ActNone
	case s.Stock == StockReserved || s.Stock == StockCommitted || s.OrderStatus != order.StatusCancelled:
		return ActCompensate
	case s.Payment == PaymentAuthorized || s.Payment == PaymentUnknown:
		return ActVoid
	case s.Payment == PaymentCaptured:
		return ActRefund
	default:
		return ActFinish
	}
}

// compensate moves a forward (or confirmed) saga to compensating with a reason. A
// saga already compensating keeps its first reason.
func (s *Saga) compensate(reason order.CancelReason, detail string) {
	if s.State == StateCompensating {
		return
	}
	s.State = StateCompensating
	s.Reason = reason
	s.Detail = truncate(detail, 500)
	s.Step = StepCompensate
	s.Attempt = 0
	s.Deadline = time.Time{}
}

// advance moves the saga to the next forward state with the step's deadline.
func (s *Saga) advance(to State, step Step, deadline time.Time) {
	s.State = to
	s.Step = step
	s.Attempt = 0
	s.Deadline = deadline
	s.LastError = ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
