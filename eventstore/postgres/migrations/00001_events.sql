-- +goose Up
-- The event store: append-only, never updated, deleted or truncated.
--
-- Global order without gaps or late arrivals (see doc.go for the proof):
--   position = (top-level transaction id << 16) + index of the event within its transaction
-- so positions are unique and sort first by the appending transaction. A reader asks only
-- for positions below (pg_snapshot_xmin(pg_current_snapshot()) << 16): every transaction
-- with a smaller id has finished, so no event below that bound can still appear. Writers
-- never wait for each other (apart from the unique index on one stream), and a long
-- transaction delays readers, never other writers.
CREATE TABLE events (
    position           bigint      NOT NULL,
    id                 uuid        NOT NULL,
    stream_id          text        NOT NULL,
    stream_type        text        NOT NULL,
    version            bigint      NOT NULL,
    type               text        NOT NULL,
    schema_version     integer     NOT NULL,
    schema_fingerprint bytea       NOT NULL,
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    correlation_id     uuid,
    causation_id       uuid,
    actor              text        NOT NULL DEFAULT '',
    traceparent        text        NOT NULL DEFAULT '',
    payload            bytea       NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (position),
    CONSTRAINT events_id_key UNIQUE (id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_version_positive CHECK (version >= 1),
    CONSTRAINT events_position_positive CHECK (position > 0)
);

CREATE INDEX events_correlation_idx ON events (correlation_id);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- +goose Down
DROP TABLE events;
DROP FUNCTION events_append_only();
