-- Instances may keep resolved tokens in memory (`pinlink serve
-- --cache-tokens`). Whatever ends or changes such a token, or changes what
-- is kept of its account — on any instance, by an operator's command, by a
-- cascade from a removed device, application or account — is announced on
-- `pinlink_sessions` when its transaction commits, so every instance
-- forgets what it kept: 't' and the token's hash in base64, 'a' and the
-- account's id, or '*' for everything (a TRUNCATE).
--
-- Only what a kept token can be: tokens that never expire (expiring ones
-- are never kept, so the sweep of expired tokens announces nothing), and
-- the account columns kept with them (not the password or two-step state,
-- which a token check does not read).
CREATE FUNCTION pinlink_announce_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinlink_sessions', 't' || encode(OLD.hash, 'base64'));
    RETURN NULL;
END
$$;
CREATE TRIGGER tokens_announce AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW WHEN (OLD.expires_at IS NULL)
    EXECUTE FUNCTION pinlink_announce_token();

CREATE FUNCTION pinlink_announce_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinlink_sessions', 'a' || OLD.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_announce_change AFTER UPDATE OF username, email, uuid, disabled ON accounts
    FOR EACH ROW EXECUTE FUNCTION pinlink_announce_account();
CREATE TRIGGER accounts_announce_removal AFTER DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION pinlink_announce_account();

CREATE FUNCTION pinlink_announce_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinlink_sessions', '*');
    RETURN NULL;
END
$$;
CREATE TRIGGER tokens_announce_truncate AFTER TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION pinlink_announce_everything();
CREATE TRIGGER accounts_announce_truncate AFTER TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION pinlink_announce_everything();
