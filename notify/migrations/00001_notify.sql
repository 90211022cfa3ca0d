-- +goose Up
-- Customers as notifications need them: where to email, and a per-customer sequence that
-- numbers their notifications. The sequence is taken under this row's lock, so a
-- customer's notifications become visible in sequence order: a reconnecting client that
-- asks for everything after the last number it saw never misses one.
CREATE TABLE notify_customers (
    user_id  uuid   PRIMARY KEY,
    email    text,
    name     text,
    last_seq bigint NOT NULL DEFAULT 0
);

-- Which customer placed each order (order.confirmed/cancelled do not say).
CREATE TABLE notify_orders (
    order_id    uuid PRIMARY KEY,
    customer_id uuid NOT NULL
);

-- Every order status change of every customer, for reconnecting clients (`since`).
CREATE TABLE order_notifications (
    customer_id uuid        NOT NULL,
    seq         bigint      NOT NULL,
    event_id    uuid        NOT NULL UNIQUE,
    order_id    uuid        NOT NULL,
    status      text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    detail      text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, seq)
);

-- Emails to send, written in the same transaction as the notification: a replay of the
-- read models never writes here, so it never sends anything.
CREATE TABLE email_outbox (
    id              bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    customer_id     uuid        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        int         NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE email_outbox;
DROP TABLE order_notifications;
DROP TABLE notify_orders;
DROP TABLE notify_customers;
