package sagas_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/sagas"
)

// TestNext pins the state machine: what a saga does next is a function of its row
// alone, so any worker resuming it does the same.
func TestNext(t *testing.T) {
	t.Parallel()
	type s = sagas.Saga
	tests := []struct {
		name string
		saga s
		want sagas.Action
	}{
		{name: "new saga reserves", saga: s{State: sagas.StateReserving}, want: sagas.ActReserve},
		{name: "reserved authorizes", saga: s{State: sagas.StateAuthorizing, Stock: sagas.StockReserved}, want: sagas.ActAuthorize},
		{name: "authorized captures", saga: s{State: sagas.StateCapturing, Payment: sagas.PaymentAuthorized}, want: sagas.ActCapture},
		{name: "captured confirms", saga: s{State: sagas.StateConfirming, Payment: sagas.PaymentCaptured}, want: sagas.ActConfirm},
		{name: "confirmed rests", saga: s{State: sagas.StateConfirmed, Stock: sagas.StockCommitted, OrderStatus: order.StatusConfirmed}, want: sagas.ActNone},
		{name: "customer cancel while paying", saga: s{State: sagas.StateCapturing, CancelRequested: true}, want: sagas.ActCancelRequest},
		{name: "customer cancel after confirmation", saga: s{State: sagas.StateConfirmed, CancelRequested: true}, want: sagas.ActCancelRequest},
		{name: "compensation releases stock and cancels the order first",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockReserved, Payment: sagas.PaymentAuthorized, OrderStatus: order.StatusPending},
			want: sagas.ActCompensate},
		{name: "compensation restocks a confirmed order",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockCommitted, Payment: sagas.PaymentCaptured, OrderStatus: order.StatusCancelled},
			want: sagas.ActCompensate},
		{name: "out of stock: only the order to cancel",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockNone, Payment: sagas.PaymentNone, OrderStatus: order.StatusPending},
			want: sagas.ActCompensate},
		{name: "then the authorization is voided",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockReleased, Payment: sagas.PaymentAuthorized, OrderStatus: order.StatusCancelled},
			want: sagas.ActVoid},
		{name: "an unanswered authorization is voided by order id",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockReleased, Payment: sagas.PaymentUnknown, OrderStatus: order.StatusCancelled},
			want: sagas.ActVoid},
		{name: "a capture is refunded",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockRestocked, Payment: sagas.PaymentCaptured, OrderStatus: order.StatusCancelled},
			want: sagas.ActRefund},
		{name: "declined: nothing left but to finish",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockReleased, Payment: sagas.PaymentDeclined, OrderStatus: order.StatusCancelled},
			want: sagas.ActFinish},
		{name: "a compensating saga ignores a late cancel request",
			saga: s{State: sagas.StateCompensating, Stock: sagas.StockReleased, Payment: sagas.PaymentVoided, OrderStatus: order.StatusCancelled, CancelRequested: true},
			want: sagas.ActFinish},
		{name: "cancelled is terminal", saga: s{State: sagas.StateCancelled, CancelRequested: true}, want: sagas.ActNone},
		{name: "compensation_failed waits for an operator", saga: s{State: sagas.StateCompensationFailed, Payment: sagas.PaymentAuthorized}, want: sagas.ActNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.saga.Next())
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, sagas.DefaultConfig().Validate())
	cfg := sagas.DefaultConfig()
	cfg.PaymentTimeout = 0
	cfg.ReservationTTL = cfg.ReserveTimeout
	cfg.MaxInFlight = 0
	err := cfg.Validate()
	for _, want := range []string{"payment timeout", "reservation TTL", "max in flight"} {
		require.ErrorContains(t, err, want)
	}
}

func TestWorkerLifecycleWithoutDependencies(t *testing.T) {
	t.Parallel()
	w := sagas.New(sagas.DefaultConfig(), sagas.Deps{})
	w.Stop() // before Start: safe
	err := w.Start(context.Background())
	for _, want := range []string{"no event store", "no payment provider", "no kafka client"} {
		require.ErrorContains(t, err, want)
	}
	w.Stop()
	w.Stop()
	require.Nil(t, w.Assigned())
}
