-- A change feed for plugin storage, so a node can keep a namespace (a classifier's tokens) in memory and catch
-- up with other nodes' writes by reading only what changed. Every write stamps its rows with the namespace's
-- next `version`; deletions (which leave no row to read) bump `epoch`, which makes readers reload.
ALTER TABLE plugin_kv ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX plugin_kv_changes ON plugin_kv (namespace, version);
CREATE TABLE plugin_kv_versions (
    namespace  TEXT    PRIMARY KEY,
    version    BIGINT  NOT NULL,
    epoch      BIGINT  NOT NULL
);
INSERT INTO plugin_kv_versions (namespace, version, epoch) SELECT DISTINCT namespace, 0, 0 FROM plugin_kv;
