-- +goose Up
-- Dead-letter records re-driven from the operator console (POST /v1/admin/dlq/redrive):
-- one row per record of the dead-letter topic, keyed by where it sits there. The row is
-- inserted in the transaction that re-produces the record and committed after Kafka
-- acknowledged it, so a second click (or a concurrent one, which waits on the row) finds
-- it and re-drives nothing.
CREATE TABLE dlq_redrives (
    topic            text        NOT NULL,
    "partition"      integer     NOT NULL,
    "offset"         bigint      NOT NULL,
    target_topic     text        NOT NULL,
    target_partition integer,
    target_offset    bigint,
    redriven_by      uuid        NOT NULL,
    redriven_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dlq_redrives_pkey PRIMARY KEY (topic, "partition", "offset")
);

-- +goose Down
DROP TABLE dlq_redrives;
