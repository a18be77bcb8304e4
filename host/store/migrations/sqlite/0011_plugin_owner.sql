-- Plugins belong to the operator (tenant_id NULL: usable in every chain) or to one tenant (usable only in that
-- tenant's chains), so a tenant's upload can never shadow another's or a built-in. sqlite cannot drop the old
-- UNIQUE (name, version), so the table is rebuilt. Keep in step with ../postgres/0011_plugin_owner.sql.
CREATE TABLE plugins_owned (
    id           INTEGER PRIMARY KEY,
    tenant_id    BIGINT,
    name         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    wit_version  TEXT    NOT NULL,
    bytes        BLOB    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    uploaded_at  INTEGER NOT NULL
);
INSERT INTO plugins_owned (id, tenant_id, name, version, sha256, wit_version, bytes, uploaded_by, uploaded_at)
SELECT id, NULL, name, version, sha256, wit_version, bytes, uploaded_by, uploaded_at FROM plugins;
DROP TABLE plugins;
ALTER TABLE plugins_owned RENAME TO plugins;
CREATE UNIQUE INDEX plugins_owner_name_version ON plugins (COALESCE(tenant_id, 0), name, version);
