package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/sagas"
	"github.com/ordo-platform/ordo/sagas/psp"
	"github.com/ordo-platform/ordo/sagas/psp/pspsim"
)

func init() {
	registerMigrations(sagas.Migrations())
	registerMigrations(pspsim.Migrations())
	registerCollectors(sagas.Collectors()...)
	registerRole(roleSpec{
		Name: "saga", Short: "Run the order saga: stock reservation, fraud check, payment, compensation, timeouts", InAll: true, Order: 30,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			cfg, txConns, provider, err := sagaConfig(d)
			if err != nil {
				return nil, err
			}
			return []lifecycle.Role{sagas.New(cfg, sagas.Deps{
				Store:          d.store,
				TxConns:        txConns,
				PSP:            provider,
				NewKafkaClient: d.kafkaClients("saga"),
				Log:            d.log,
			})}, nil
		},
	})
}

// sagaConfig reads the saga's settings (ORDO_SAGA_*, ORDO_FRAUD_*, ORDO_PSP*) and
// reports every bad one at once.
//
//	ORDO_SAGA_RESERVE_TIMEOUT       10s   reserving the stock of all items
//	ORDO_SAGA_PAYMENT_TIMEOUT       30s   fraud check + authorization
//	ORDO_SAGA_CAPTURE_TIMEOUT       30s
//	ORDO_SAGA_CONFIRM_TIMEOUT       10s
//	ORDO_SAGA_COMPENSATION_TIMEOUT  30s   one void or refund attempt
//	ORDO_SAGA_COMPENSATION_ATTEMPTS 10    before compensation_failed
//	ORDO_SAGA_RESERVATION_TTL       15m   must exceed the forward timeouts + the lease
//	ORDO_SAGA_LEASE                 15s   a dead worker's sagas resume after at most this
//	ORDO_SAGA_MAX_IN_FLIGHT         256   sagas one worker runs at once
//	ORDO_SAGA_TX_CONNS              32    the saga's own Postgres pool for step transactions
//	ORDO_FRAUD_VELOCITY_WINDOW      10m   with ORDO_FRAUD_VELOCITY_MAX_ORDERS 10 (0: off)
//	ORDO_FRAUD_MAX_AMOUNT_CENTS     1000000 (0: off)
//	ORDO_FRAUD_NEW_ACCOUNT_AGE      24h   with ORDO_FRAUD_NEW_ACCOUNT_MAX_CENTS 100000 (0: off)
//	ORDO_FRAUD_BLOCK_SCORE          70    each rule scores 80
//	ORDO_PSP                        simulator (the only built-in provider)
//	ORDO_PSP_SIMULATOR_LATENCY      0s    added to every simulated call
func sagaConfig(d *deps) (sagas.Config, int32, psp.Provider, error) {
	var errs []error
	cfg := sagas.DefaultConfig()
	cfg.Topics = d.env.TopicNames
	cfg.ReserveTimeout = sagaDuration(&errs, "ORDO_SAGA_RESERVE_TIMEOUT", cfg.ReserveTimeout)
	cfg.PaymentTimeout = sagaDuration(&errs, "ORDO_SAGA_PAYMENT_TIMEOUT", cfg.PaymentTimeout)
	cfg.CaptureTimeout = sagaDuration(&errs, "ORDO_SAGA_CAPTURE_TIMEOUT", cfg.CaptureTimeout)
	cfg.ConfirmTimeout = sagaDuration(&errs, "ORDO_SAGA_CONFIRM_TIMEOUT", cfg.ConfirmTimeout)
	cfg.CompensationTimeout = sagaDuration(&errs, "ORDO_SAGA_COMPENSATION_TIMEOUT", cfg.CompensationTimeout)
	cfg.CompensationMaxAttempts = int(getInt(&errs, "ORDO_SAGA_COMPENSATION_ATTEMPTS", int64(cfg.CompensationMaxAttempts)))
	cfg.ReservationTTL = sagaDuration(&errs, "ORDO_SAGA_RESERVATION_TTL", cfg.ReservationTTL)
	cfg.Lease = sagaDuration(&errs, "ORDO_SAGA_LEASE", cfg.Lease)
	cfg.MaxInFlight = int(getInt(&errs, "ORDO_SAGA_MAX_IN_FLIGHT", int64(cfg.MaxInFlight)))
	txConns := getInt(&errs, "ORDO_SAGA_TX_CONNS", 32)
	if txConns < 1 || txConns > 1000 {
		errs = append(errs, fmt.Errorf("ORDO_SAGA_TX_CONNS %d: want 1..1000", txConns))
	}
	cfg.Fraud.VelocityWindow = sagaDuration(&errs, "ORDO_FRAUD_VELOCITY_WINDOW", cfg.Fraud.VelocityWindow)
	cfg.Fraud.VelocityMaxOrders = int(getInt(&errs, "ORDO_FRAUD_VELOCITY_MAX_ORDERS", int64(cfg.Fraud.VelocityMaxOrders)))
	cfg.Fraud.MaxAmountCents = getInt(&errs, "ORDO_FRAUD_MAX_AMOUNT_CENTS", cfg.Fraud.MaxAmountCents)
	cfg.Fraud.NewAccountAge = sagaDuration(&errs, "ORDO_FRAUD_NEW_ACCOUNT_AGE", cfg.Fraud.NewAccountAge)
	cfg.Fraud.NewAccountMaxCents = getInt(&errs, "ORDO_FRAUD_NEW_ACCOUNT_MAX_CENTS", cfg.Fraud.NewAccountMaxCents)
	cfg.Fraud.BlockScore = int(getInt(&errs, "ORDO_FRAUD_BLOCK_SCORE", int64(cfg.Fraud.BlockScore)))
	latency := sagaDuration(&errs, "ORDO_PSP_SIMULATOR_LATENCY", 0)

	var provider psp.Provider
	switch name := getenv("ORDO_PSP", pspsim.Name); name {
	case pspsim.Name:
		provider = pspsim.New(d.pool, pspsim.Options{Latency: latency})
	default:
		errs = append(errs, fmt.Errorf("ORDO_PSP %q: want %s (real providers plug in behind sagas/psp; see docs/saga.md)", name, pspsim.Name))
	}
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return cfg, 0, nil, fmt.Errorf("saga configuration:\n%w", err)
	}
	return cfg, int32(txConns), provider, nil
}

// sagaDuration reads a Go duration setting ("30s", "15m"), recording a problem when
// it is not one.
func sagaDuration(errs *[]error, key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a duration such as 30s or 15m", key, v))
		return def
	}
	return d
}
