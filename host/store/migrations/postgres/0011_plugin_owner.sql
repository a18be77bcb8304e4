-- Plugins belong to the operator (tenant_id NULL: usable in every chain) or to one tenant (usable only in that
-- tenant's chains), so a tenant's upload can never shadow another's or a built-in.
-- Keep in step with ../sqlite/0011_plugin_owner.sql.
ALTER TABLE plugins ADD COLUMN tenant_id BIGINT;
ALTER TABLE plugins DROP CONSTRAINT plugins_name_version_key;
CREATE UNIQUE INDEX plugins_owner_name_version ON plugins (COALESCE(tenant_id, 0), name, version);
