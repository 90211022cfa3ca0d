-- +goose Up
-- Tables of the HTTP edge and its command handlers (set "api", version table goose_api).

-- One row per registered e-mail address, lower-cased: the uniqueness the event store
-- cannot give. Written in the transaction that appends user.registered, so a user and
-- their address commit together or not at all. Login finds the user id here.
CREATE TABLE user_emails (
    email_lower text        NOT NULL,
    user_id     uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_emails_pkey PRIMARY KEY (email_lower),
    CONSTRAINT user_emails_user_key UNIQUE (user_id),
    CONSTRAINT user_emails_lower CHECK (email_lower = lower(email_lower))
);

-- One row per product SKU (normalised, upper-case), written with product.created: SKUs
-- are unique across the catalogue.
CREATE TABLE product_skus (
    sku        text        NOT NULL,
    product_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_skus_pkey PRIMARY KEY (sku),
    CONSTRAINT product_skus_product_key UNIQUE (product_id)
);

-- Refresh tokens, stored as the SHA-256 of the token only. A family is one login
-- session: every refresh spends a token (used_at) and adds the next one; presenting a
-- spent token revokes the family (revoked_at on every row).
CREATE TABLE refresh_tokens (
    token_hash bytea       NOT NULL,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_hash_len CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Idempotency-Key records: the first response to a (scope, key), stored in the
-- transaction of the command's events. scope = caller ("user:<id>" or "ip:<addr>"),
-- method and route; request_hash = SHA-256 of the request path and body. Rows older than
-- the retention (24 h) are ignored and deleted periodically.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    content_type text        NOT NULL DEFAULT '',
    location     text        NOT NULL DEFAULT '',
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_key_len CHECK (octet_length(key) BETWEEN 1 AND 255)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE refresh_tokens;
DROP TABLE product_skus;
DROP TABLE user_emails;
