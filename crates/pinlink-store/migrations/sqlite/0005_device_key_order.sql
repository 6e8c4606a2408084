-- A device keeps its newest few keys (pinlink-core store.rs,
-- MAX_KEYS_PER_DEVICE): the order they were registered in, per device, so
-- that keys registered within one second are told apart.
ALTER TABLE device_keys ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
