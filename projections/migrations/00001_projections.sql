-- +goose Up
-- The registry of read-model versions. Each projection (orders, products) has at most one
-- active version (the one queries read, through the view read_<name>) and at most one
-- building version (a rebuild in progress, `ordo replay`). A version's tables are
-- read_<name>_v<version>; they are created by the projections package, not here, because
-- a rebuild creates them at run time.
CREATE TABLE projection_versions (
    name         text        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    state        text        NOT NULL CHECK (state IN ('building', 'active', 'retired')),
    -- building: the store position the rebuild has applied up to (its checkpoint);
    -- active/retired: the position the rebuild had reached when it was switched on.
    position     bigint      NOT NULL DEFAULT 0,
    -- events the rebuild read from the store (all stream types), for progress and rates.
    events       bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    retired_at   timestamptz,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX projection_versions_one_active ON projection_versions (name) WHERE state = 'active';
CREATE UNIQUE INDEX projection_versions_one_building ON projection_versions (name) WHERE state = 'building';

-- Where the live projector of each version is in each Kafka partition. A batch locks its
-- partition's row, skips records below next_offset, applies the rest and moves
-- next_offset, all in one transaction with the read-model rows. position is the highest
-- global position applied from the partition (used by the switch-over of a rebuild).
CREATE TABLE projection_offsets (
    name        text        NOT NULL,
    version     integer     NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL DEFAULT 0,
    position    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, topic, partition)
);

-- +goose Down
DROP TABLE projection_offsets;
DROP TABLE projection_versions;
