-- Only entries that expire are looked up by their expiry (the purge). A classifier's counters never expire,
-- were nearly all of the index's entries, and every lesson rewrote theirs: without them one lesson writes
-- 10-20% fewer pages to the write-ahead log. Keep in step with ../sqlite/0021_kv_expiry_partial.sql.
DROP INDEX plugin_kv_expiry;
CREATE INDEX plugin_kv_expiry ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;
