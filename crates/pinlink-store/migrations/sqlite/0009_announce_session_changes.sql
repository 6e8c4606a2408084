-- PostgreSQL's 0009 announces token and account changes to the other
-- instances. SQLite has no other instances (an operator's command tells
-- the server through the `-changes` file), so nothing changes here; the
-- number is kept so that both backends are at the same schema version.
SELECT 1;
