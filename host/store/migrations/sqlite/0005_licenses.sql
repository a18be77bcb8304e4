-- The license pool of each tenant, sqlite dialect. Keep in step with ../postgres/0005_licenses.sql.
-- NULL: no limit (a single company's own install).
ALTER TABLE tenants ADD COLUMN licenses INTEGER;
