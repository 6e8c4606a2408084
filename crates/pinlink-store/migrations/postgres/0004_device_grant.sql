-- RFC 8628 device grants. Applications (OAuth clients) registered with
-- `pinlink client add`; a confidential one's secret only as a keyed hash.
CREATE TABLE oauth_clients (
    client_id   TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BYTEA,
    created_at  BIGINT  NOT NULL
);

-- A device grant is a pin with an application, the keyed hash of its device
-- code, the scope asked for, and whether the person denied it (the device is
-- told so; a plex.tv pin is deleted instead). Removing the application
-- removes its pending grants and the devices linked through it.
ALTER TABLE pins ADD COLUMN oauth_client TEXT REFERENCES oauth_clients (client_id) ON DELETE CASCADE;
ALTER TABLE pins ADD COLUMN application_name TEXT NOT NULL DEFAULT '';
ALTER TABLE pins ADD COLUMN device_code_hash BYTEA;
ALTER TABLE pins ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE pins ADD COLUMN denied BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN oauth_client TEXT REFERENCES oauth_clients (client_id) ON DELETE CASCADE;
CREATE INDEX pins_oauth_client ON pins (oauth_client);
CREATE INDEX devices_oauth_client ON devices (oauth_client);
