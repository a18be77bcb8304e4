-- The license pool of each tenant, postgres dialect. Keep in step with ../sqlite/0005_licenses.sql.
-- NULL: no limit (a single company's own install).
ALTER TABLE tenants ADD COLUMN licenses BIGINT;
