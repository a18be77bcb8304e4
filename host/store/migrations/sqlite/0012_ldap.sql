-- A tenant's directory (LDAP / Active Directory) that signs users up: for every domain of the tenant
-- (domain_id NULL) or one domain. `settings` is JSON the directory crate reads (its bind password sealed).
-- domains.signup gains 'ldap'.
CREATE TABLE ldap_settings (
    id            INTEGER PRIMARY KEY,
    tenant_id     BIGINT  NOT NULL,
    domain_id     BIGINT,
    settings      TEXT    NOT NULL,
    last_sync_at  BIGINT,
    updated_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX ldap_settings_scope ON ldap_settings (tenant_id, COALESCE(domain_id, 0));
