-- +goose Up
-- eventstore_append_refused raises the refusal of an append queued in a transaction's
-- pipeline (Store.QueueAppend): the append then fails in the server, which skips the
-- statements sent after it, COMMIT among them. An append sent on its own reports its
-- refusal in its result row instead.
-- +goose StatementBegin
CREATE FUNCTION eventstore_append_refused(stream text, expected bigint, current_version bigint,
    current_position bigint, base bigint, tx_events bigint, n bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF tx_events + n >= 65536 THEN
        RAISE EXCEPTION 'the transaction already appended % events, at most 65535', tx_events
            USING ERRCODE = 'OR413';
    ELSIF current_position >= base THEN
        RAISE EXCEPTION 'stream % was appended by a younger transaction; retry in a new one', stream
            USING ERRCODE = 'OR410';
    END IF;
    RAISE EXCEPTION 'stream % is at version %, expected %', stream, current_version, expected
        USING ERRCODE = 'OR410';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION eventstore_append_refused(text, bigint, bigint, bigint, bigint, bigint, bigint);
