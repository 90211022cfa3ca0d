-- +goose Up
-- The W3C traceparent of the order.placed event: every step of the saga continues the
-- trace of the request that placed the order.
ALTER TABLE order_sagas ADD COLUMN traceparent text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE order_sagas DROP COLUMN traceparent;
