-- +goose Up
-- The payment simulator's ledger: what a real provider keeps on its side. One row per
-- successful call, keyed by the caller's idempotency key, so that a retried call gets the
-- first answer back and moves no money twice.
CREATE TABLE pspsim_operations (
    idempotency_key text        PRIMARY KEY,
    operation       text        NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    order_id        uuid        NOT NULL,
    token           text        NOT NULL DEFAULT '',
    amount_cents    bigint      NOT NULL DEFAULT 0,
    currency        text        NOT NULL DEFAULT '',
    -- authorized | declined | fraud | captured | voided | nothing_to_void | refunded
    outcome         text        NOT NULL,
    reference       text        NOT NULL DEFAULT '',
    decline_reason  text        NOT NULL DEFAULT '',
    decline_code    text        NOT NULL DEFAULT '',
    fraud_reasons   text[]      NOT NULL DEFAULT '{}',
    fraud_score     integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX pspsim_operations_order_idx ON pspsim_operations (order_id, created_at);

-- The provider's own invariants, enforced by the database whatever the callers do: per
-- order at most one authorization, one capture, one void and one refund.
CREATE UNIQUE INDEX pspsim_one_authorization ON pspsim_operations (order_id) WHERE operation = 'authorize' AND outcome = 'authorized';
CREATE UNIQUE INDEX pspsim_one_capture ON pspsim_operations (order_id) WHERE operation = 'capture';
CREATE UNIQUE INDEX pspsim_one_void ON pspsim_operations (order_id) WHERE operation = 'void';
CREATE UNIQUE INDEX pspsim_one_refund ON pspsim_operations (order_id) WHERE operation = 'refund';

-- +goose Down
DROP TABLE pspsim_operations;
