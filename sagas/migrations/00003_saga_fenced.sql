-- +goose Up
-- saga_fenced raises 'OR409' when a step's save finds the saga moved on (another worker
-- saved it since this one read it). The save is sent in one pipeline with the step's
-- COMMIT: an error, unlike an update of no rows, makes the server skip that COMMIT, so
-- the step's events roll back with the refused save.
-- +goose StatementBegin
CREATE FUNCTION saga_fenced(order_id uuid) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'saga % was saved by another worker since this one read it', order_id
        USING ERRCODE = 'OR409';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION saga_fenced(uuid);
