-- Every 4-character create counts the server's live, unlinked short codes
-- (the cap that keeps guessing hopeless). The index of 0002 held every
-- short code by expiry alone, so the count read each one's row to leave
-- out linked ones: up to 512 row lookups per create, and per refusal at the
-- cap. This one holds only the unlinked ones, with the columns the count
-- tests, so the count reads the index alone (SQLite: a covering index).
DROP INDEX pins_live_link_codes;
CREATE INDEX pins_live_link_codes ON pins (expires_at, strong, token_sealed)
    WHERE NOT strong AND token_sealed IS NULL;
