-- Instances may keep resolved tokens in memory (`pinlink serve
-- --cache-tokens`). Whatever ends or changes a token or an account — on
-- any instance, by an operator's command, by a cascade from a removed
-- device, application or account — announces it on `pinlink_sessions`
-- when its transaction commits, so every instance forgets what it kept:
-- 't' and the token's hash in base64, or 'a' and the account's id.
CREATE FUNCTION pinlink_announce_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinlink_sessions', 't' || encode(OLD.hash, 'base64'));
    RETURN NULL;
END
$$;
CREATE TRIGGER tokens_announce AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION pinlink_announce_token();

CREATE FUNCTION pinlink_announce_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinlink_sessions', 'a' || OLD.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_announce AFTER UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION pinlink_announce_account();
