-- +goose Up
-- One row per order saga: a versioned state row. Every write checks and bumps version
-- (optimistic concurrency), so a worker that lost its lease (a zombie) cannot overwrite
-- the saga. owner/wake_at are the lease and the durable timer: a saga is due when
-- wake_at has passed (a retry, a deadline, or an owner that died), and the timer loop of
-- any worker claims due sagas with FOR UPDATE SKIP LOCKED.
CREATE TABLE order_sagas (
    order_id               uuid        PRIMARY KEY,
    customer_id            uuid        NOT NULL,
    items                  jsonb       NOT NULL,
    total_cents            bigint      NOT NULL,
    currency               text        NOT NULL,
    payment_token          text        NOT NULL,
    placed_at              timestamptz NOT NULL,
    correlation_id         uuid        NOT NULL,
    causation_id           uuid        NOT NULL,
    state                  text        NOT NULL,
    step                   text        NOT NULL DEFAULT '',
    attempt                integer     NOT NULL DEFAULT 0,
    deadline               timestamptz,
    reason                 text        NOT NULL DEFAULT '',
    detail                 text        NOT NULL DEFAULT '',
    cancel_requested       boolean     NOT NULL DEFAULT false,
    stock                  text        NOT NULL DEFAULT 'none',
    reservation_expires_at timestamptz,
    payment                text        NOT NULL DEFAULT 'none',
    authorization_ref      text        NOT NULL DEFAULT '',
    capture_ref            text        NOT NULL DEFAULT '',
    order_status           text        NOT NULL DEFAULT 'pending',
    last_error             text        NOT NULL DEFAULT '',
    owner                  text,
    wake_at                timestamptz,
    version                bigint      NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    finished_at            timestamptz,
    CONSTRAINT order_sagas_state_check CHECK (state IN ('reserving', 'authorizing', 'capturing', 'confirming',
        'confirmed', 'compensating', 'cancelled', 'compensation_failed')),
    CONSTRAINT order_sagas_stock_check CHECK (stock IN ('none', 'reserved', 'committed', 'released', 'restocked')),
    CONSTRAINT order_sagas_payment_check CHECK (payment IN ('none', 'unknown', 'authorized', 'captured', 'declined',
        'fraud', 'voided', 'refunded'))
);

-- The timer loop: due sagas, oldest first.
CREATE INDEX order_sagas_wake_idx ON order_sagas (wake_at) WHERE wake_at IS NOT NULL;
-- The admin list (GET /v1/admin/sagas?state=...), newest first.
CREATE INDEX order_sagas_state_idx ON order_sagas (state, created_at DESC, order_id DESC);
-- The fraud velocity rule: a customer's recent orders.
CREATE INDEX order_sagas_customer_idx ON order_sagas (customer_id, placed_at);
-- The reservation sweeper.
CREATE INDEX order_sagas_reservation_idx ON order_sagas (reservation_expires_at) WHERE stock = 'reserved';

-- The step log: one row per step attempt, for the order timeline and for operators.
CREATE TABLE saga_steps (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid        NOT NULL,
    step        text        NOT NULL,
    attempt     integer     NOT NULL,
    outcome     text        NOT NULL,
    detail      text        NOT NULL DEFAULT '',
    worker      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL
);

CREATE INDEX saga_steps_order_idx ON saga_steps (order_id, id);

-- The saga's Kafka offsets, written in the same transaction as the saga rows the records
-- created (internal/consumer Config.Offsets): intake is exactly-once.
CREATE TABLE saga_offsets (
    group_name  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, topic, partition)
);

-- +goose Down
DROP TABLE saga_offsets;
DROP TABLE saga_steps;
DROP TABLE order_sagas;
