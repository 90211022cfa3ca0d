-- Ordo analytics, version 1: the raw events table, the typed fact tables the sink writes,
-- the per-entity state tables and rollups that materialized views keep, and the views
-- analysts query. docs/analytics.md explains every table and column.
--
-- Rules of this directory (the runner in analytics/migrate.go enforces the first two):
--   * every statement is idempotent (IF NOT EXISTS), so a migration interrupted half way
--     is simply run again from its start, and two `ordo migrate` at once converge;
--   * statements end with ';' at the end of a line;
--   * only SQL that runs on ClickHouse 18.16 and on current ClickHouse: the new
--     ENGINE = X PARTITION BY ... ORDER BY ... syntax, DateTime('UTC') plus an Int64 of
--     microseconds (no DateTime64), no LowCardinality, no JSONExtract*, no window functions;
--   * aliases never repeat a column name the same SELECT reads (18.16 resolves the alias
--     first and reports an aggregate inside an aggregate);
--   * every materialized view writes only idempotent aggregate states (argMin, argMax,
--     min, max, uniqExact and their -If forms), never sum or count: a redelivered batch
--     passes through the views again, and only idempotent states make that harmless.

-- Raw: one row per stored event. Deduplicated on (stream_id, version), which the event
-- store keeps unique; stream_type is a function of stream_id and only adds locality.
CREATE TABLE IF NOT EXISTS events
(
    event_id           UUID,
    stream_type        String,
    stream_id          String,
    version            UInt64,
    position           UInt64,
    event_type         String,
    schema_version     UInt16,
    schema_fingerprint String,
    occurred_at        DateTime('UTC'),
    occurred_at_us     Int64,
    recorded_at        DateTime('UTC'),
    recorded_at_us     Int64,
    correlation_id     UUID,
    causation_id       UUID,
    actor              String,
    traceparent        String,
    payload            String,
    ingested_at        DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (stream_type, stream_id, version);

-- Typed order events (order.placed, order.confirmed, order.cancelled), one row each.
CREATE TABLE IF NOT EXISTS order_events
(
    order_id       UUID,
    version        UInt64,
    event_id       UUID,
    event_type     String,
    status         String,
    customer_id    UUID,
    currency       String,
    total_cents    Int64,
    item_count     UInt32,
    unit_count     Int64,
    cancel_reason  String,
    cancel_detail  String,
    occurred_at    DateTime('UTC'),
    occurred_at_us Int64,
    position       UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (order_id, version);

-- Order lines, one row per line of every placed order.
CREATE TABLE IF NOT EXISTS order_items
(
    order_id         UUID,
    line_no          UInt16,
    product_id       UUID,
    sku              String,
    name             String,
    unit_price_cents Int64,
    quantity         Int64,
    line_total_cents Int64,
    currency         String,
    customer_id      UUID,
    placed_at        DateTime('UTC'),
    placed_at_us     Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(placed_at)
ORDER BY (product_id, order_id, line_no);

-- Typed payment events, one row each.
CREATE TABLE IF NOT EXISTS payment_events
(
    order_id           UUID,
    version            UInt64,
    event_id           UUID,
    event_type         String,
    status             String,
    amount_cents       Int64,
    currency           String,
    provider           String,
    provider_reference String,
    decline_reason     String,
    provider_code      String,
    fraud_score        Int32,
    fraud_reasons      Array(String),
    occurred_at        DateTime('UTC'),
    occurred_at_us     Int64,
    position           UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (order_id, version);

-- Inventory movements, one row per inventory event, with signed deltas.
CREATE TABLE IF NOT EXISTS inventory_movements
(
    product_id      UUID,
    version         UInt64,
    event_id        UUID,
    event_type      String,
    movement        String,
    order_id        UUID,
    quantity        Int64,
    on_hand_delta   Int64,
    reserved_delta  Int64,
    available_delta Int64,
    reason          String,
    occurred_at     DateTime('UTC'),
    occurred_at_us  Int64,
    position        UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (product_id, version);

-- Latest state of every order, folded by a materialized view from order_events with
-- idempotent states: fields of order.placed (version 1) by argMin on the version, the
-- status by argMax, times of the outcome events by maxIf.
CREATE TABLE IF NOT EXISTS orders_state
(
    order_id              UUID,
    customer_id_state     AggregateFunction(argMin, UUID, UInt64),
    currency_state        AggregateFunction(argMin, String, UInt64),
    total_cents_state     AggregateFunction(argMin, Int64, UInt64),
    item_count_state      AggregateFunction(argMin, UInt32, UInt64),
    unit_count_state      AggregateFunction(argMin, Int64, UInt64),
    status_state          AggregateFunction(argMax, String, UInt64),
    cancel_reason_state   AggregateFunction(max, String),
    cancel_detail_state   AggregateFunction(max, String),
    placed_at_us_state    AggregateFunction(minIf, Int64, UInt8),
    confirmed_at_us_state AggregateFunction(maxIf, Int64, UInt8),
    cancelled_at_us_state AggregateFunction(maxIf, Int64, UInt8),
    updated_at_us_state   AggregateFunction(max, Int64),
    version_state         AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY order_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS orders_state_mv TO orders_state AS
SELECT
    order_id,
    argMinState(customer_id, version)                                       AS customer_id_state,
    argMinState(currency, version)                                          AS currency_state,
    argMinState(total_cents, version)                                       AS total_cents_state,
    argMinState(item_count, version)                                        AS item_count_state,
    argMinState(unit_count, version)                                        AS unit_count_state,
    argMaxState(status, version)                                            AS status_state,
    maxState(cancel_reason)                                                 AS cancel_reason_state,
    maxState(cancel_detail)                                                 AS cancel_detail_state,
    minIfState(occurred_at_us, event_type = 'order.placed')                 AS placed_at_us_state,
    maxIfState(occurred_at_us, event_type = 'order.confirmed')              AS confirmed_at_us_state,
    maxIfState(occurred_at_us, event_type = 'order.cancelled')              AS cancelled_at_us_state,
    maxState(occurred_at_us)                                                AS updated_at_us_state,
    maxState(version)                                                       AS version_state
FROM order_events
GROUP BY order_id;

CREATE VIEW IF NOT EXISTS orders AS
SELECT
    order_id,
    argMinMerge(customer_id_state)     AS customer_id,
    argMaxMerge(status_state)          AS status,
    maxMerge(cancel_reason_state)      AS cancel_reason,
    maxMerge(cancel_detail_state)      AS cancel_detail,
    argMinMerge(currency_state)        AS currency,
    argMinMerge(total_cents_state)     AS total_cents,
    argMinMerge(item_count_state)      AS item_count,
    argMinMerge(unit_count_state)      AS unit_count,
    minIfMerge(placed_at_us_state)     AS placed_at_us,
    toDateTime(intDiv(placed_at_us, 1000000), 'UTC') AS placed_at,
    maxIfMerge(confirmed_at_us_state)  AS confirmed_at_us,
    if(confirmed_at_us = 0, NULL, toDateTime(intDiv(confirmed_at_us, 1000000), 'UTC')) AS confirmed_at,
    maxIfMerge(cancelled_at_us_state)  AS cancelled_at_us,
    if(cancelled_at_us = 0, NULL, toDateTime(intDiv(cancelled_at_us, 1000000), 'UTC')) AS cancelled_at,
    maxMerge(updated_at_us_state)      AS updated_at_us,
    maxMerge(version_state)            AS version
FROM orders_state
GROUP BY order_id;

-- Latest state of every payment (one per order), folded like orders.
CREATE TABLE IF NOT EXISTS payments_state
(
    order_id                   UUID,
    status_state               AggregateFunction(argMax, String, UInt64),
    currency_state             AggregateFunction(max, String),
    provider_state             AggregateFunction(max, String),
    authorization_ref_state    AggregateFunction(maxIf, String, UInt8),
    authorized_cents_state     AggregateFunction(maxIf, Int64, UInt8),
    captured_cents_state       AggregateFunction(maxIf, Int64, UInt8),
    refunded_cents_state       AggregateFunction(maxIf, Int64, UInt8),
    decline_reason_state       AggregateFunction(max, String),
    provider_code_state        AggregateFunction(max, String),
    fraud_score_state          AggregateFunction(max, Int32),
    first_at_us_state          AggregateFunction(min, Int64),
    updated_at_us_state        AggregateFunction(max, Int64),
    version_state              AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY order_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS payments_state_mv TO payments_state AS
SELECT
    order_id,
    argMaxState(status, version)                                              AS status_state,
    maxState(currency)                                                        AS currency_state,
    maxState(provider)                                                        AS provider_state,
    maxIfState(provider_reference, event_type = 'payment.authorized')         AS authorization_ref_state,
    maxIfState(amount_cents, event_type = 'payment.authorized')               AS authorized_cents_state,
    maxIfState(amount_cents, event_type = 'payment.captured')                 AS captured_cents_state,
    maxIfState(amount_cents, event_type = 'payment.refunded')                 AS refunded_cents_state,
    maxState(decline_reason)                                                  AS decline_reason_state,
    maxState(provider_code)                                                   AS provider_code_state,
    maxState(fraud_score)                                                     AS fraud_score_state,
    minState(occurred_at_us)                                                  AS first_at_us_state,
    maxState(occurred_at_us)                                                  AS updated_at_us_state,
    maxState(version)                                                         AS version_state
FROM payment_events
GROUP BY order_id;

CREATE VIEW IF NOT EXISTS payments AS
SELECT
    order_id,
    argMaxMerge(status_state)              AS status,
    maxMerge(currency_state)               AS currency,
    maxMerge(provider_state)               AS provider,
    maxIfMerge(authorization_ref_state)    AS authorization_reference,
    maxIfMerge(authorized_cents_state)     AS authorized_cents,
    maxIfMerge(captured_cents_state)       AS captured_cents,
    maxIfMerge(refunded_cents_state)       AS refunded_cents,
    maxMerge(decline_reason_state)         AS decline_reason,
    maxMerge(provider_code_state)          AS provider_code,
    maxMerge(fraud_score_state)            AS fraud_score,
    minMerge(first_at_us_state)            AS first_at_us,
    maxMerge(updated_at_us_state)          AS updated_at_us,
    maxMerge(version_state)                AS version
FROM payments_state
GROUP BY order_id;

-- Order outcomes per day (UTC) of the outcome event, by cancellation reason.
CREATE TABLE IF NOT EXISTS order_outcomes_daily_state
(
    day          Date,
    outcome      String,
    reason       String,
    orders_state AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, outcome, reason);

CREATE MATERIALIZED VIEW IF NOT EXISTS order_outcomes_daily_mv TO order_outcomes_daily_state AS
SELECT
    toDate(occurred_at)      AS day,
    status                   AS outcome,
    cancel_reason            AS reason,
    uniqExactState(order_id) AS orders_state
FROM order_events
WHERE event_type IN ('order.confirmed', 'order.cancelled')
GROUP BY day, outcome, reason;

CREATE VIEW IF NOT EXISTS order_outcomes_daily AS
SELECT day, outcome, reason, uniqExactMerge(orders_state) AS orders
FROM order_outcomes_daily_state
GROUP BY day, outcome, reason;

-- Payment outcomes per day (UTC): every payment ends authorized, declined or refused as
-- fraud exactly once, so attempts = authorized + declined + fraud_suspected.
CREATE TABLE IF NOT EXISTS payment_outcomes_daily_state
(
    day                   Date,
    attempts_state        AggregateFunction(uniqExactIf, UUID, UInt8),
    authorized_state      AggregateFunction(uniqExactIf, UUID, UInt8),
    declined_state        AggregateFunction(uniqExactIf, UUID, UInt8),
    fraud_suspected_state AggregateFunction(uniqExactIf, UUID, UInt8),
    captured_state        AggregateFunction(uniqExactIf, UUID, UInt8),
    refunded_state        AggregateFunction(uniqExactIf, UUID, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS payment_outcomes_daily_mv TO payment_outcomes_daily_state AS
SELECT
    toDate(occurred_at) AS day,
    uniqExactIfState(order_id, event_type IN ('payment.authorized', 'payment.declined', 'payment.fraud_suspected')) AS attempts_state,
    uniqExactIfState(order_id, event_type = 'payment.authorized')      AS authorized_state,
    uniqExactIfState(order_id, event_type = 'payment.declined')        AS declined_state,
    uniqExactIfState(order_id, event_type = 'payment.fraud_suspected') AS fraud_suspected_state,
    uniqExactIfState(order_id, event_type = 'payment.captured')        AS captured_state,
    uniqExactIfState(order_id, event_type = 'payment.refunded')        AS refunded_state
FROM payment_events
GROUP BY day;

CREATE VIEW IF NOT EXISTS payment_outcomes_daily AS
SELECT
    day,
    uniqExactIfMerge(attempts_state)        AS attempts,
    uniqExactIfMerge(authorized_state)      AS authorized,
    uniqExactIfMerge(declined_state)        AS declined,
    uniqExactIfMerge(fraud_suspected_state) AS fraud_suspected,
    uniqExactIfMerge(captured_state)        AS captured,
    uniqExactIfMerge(refunded_state)        AS refunded,
    if(attempts = 0, 0, declined / attempts)        AS decline_rate,
    if(attempts = 0, 0, fraud_suspected / attempts) AS fraud_rate
FROM payment_outcomes_daily_state
GROUP BY day;

-- Sales by the hour and the day (UTC) the orders were placed. Revenue counts the orders
-- that are confirmed now (a confirmed order the customer cancelled later is not revenue).
CREATE VIEW IF NOT EXISTS sales_hourly AS
SELECT
    toStartOfHour(placed_at)                 AS hour,
    currency,
    count()                                  AS orders_placed,
    countIf(status = 'confirmed')            AS orders_confirmed,
    countIf(status = 'cancelled')            AS orders_cancelled,
    countIf(status = 'pending')              AS orders_pending,
    sumIf(total_cents, status = 'confirmed') AS revenue_cents
FROM orders
GROUP BY hour, currency;

CREATE VIEW IF NOT EXISTS sales_daily AS
SELECT
    toDate(placed_at)                        AS day,
    currency,
    count()                                  AS orders_placed,
    countIf(status = 'confirmed')            AS orders_confirmed,
    countIf(status = 'cancelled')            AS orders_cancelled,
    countIf(status = 'pending')              AS orders_pending,
    sumIf(total_cents, status = 'confirmed') AS revenue_cents
FROM orders
GROUP BY day, currency;

-- Revenue by product over the confirmed orders; sku and name as of the latest order.
CREATE VIEW IF NOT EXISTS revenue_by_product AS
SELECT
    product_id,
    argMax(item_sku, placed_at_us)  AS sku,
    argMax(item_name, placed_at_us) AS name,
    currency,
    uniqExact(order_id)             AS orders,
    sum(quantity)                   AS units,
    sum(line_total_cents)           AS revenue_cents
FROM
(
    SELECT product_id, sku AS item_sku, name AS item_name, currency, order_id, quantity, line_total_cents, placed_at_us
    FROM order_items FINAL
    WHERE order_id IN (SELECT order_id FROM orders WHERE status = 'confirmed')
)
GROUP BY product_id, currency;

-- Stock per product: the sum of the movements.
CREATE VIEW IF NOT EXISTS stock_levels AS
SELECT
    product_id,
    sum(on_hand_delta)  AS on_hand,
    sum(reserved_delta) AS reserved,
    on_hand - reserved  AS available,
    max(version)        AS last_version,
    max(occurred_at)    AS updated_at
FROM inventory_movements FINAL
GROUP BY product_id;
