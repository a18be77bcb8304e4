-- Which protected domains each logged message was for (a recipient's domain and, for an alias domain, its
-- primary), so a domain admin's view of the log is an exact match on domain ids. It replaced a substring
-- match on the recipients' text, under which the admin of acme.co saw acme.com's mail.
CREATE TABLE message_log_domains (
    log_id    BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    PRIMARY KEY (log_id, domain_id)
);
CREATE INDEX message_log_domains_domain ON message_log_domains(domain_id, log_id);
-- Rows logged before: recipients are stored as "a@x, b@y", so ", " || recipients || "," holds "@NAME,"
-- exactly for each recipient domain NAME.
INSERT INTO message_log_domains (log_id, domain_id)
SELECT DISTINCT m.id, d.id FROM message_log m JOIN domains d
    ON (', ' || LOWER(m.recipients) || ',') LIKE ('%@' || d.name || ',%');
INSERT INTO message_log_domains (log_id, domain_id)
SELECT DISTINCT l.log_id, d.alias_of FROM message_log_domains l JOIN domains d ON d.id = l.domain_id
WHERE d.alias_of IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM message_log_domains x WHERE x.log_id = l.log_id AND x.domain_id = d.alias_of);
-- Branding left behind by domains removed before removal took it along: a new owner of the name must not
-- inherit it.
DELETE FROM branding WHERE scope <> '*' AND scope NOT IN (SELECT name FROM domains);
-- The last TOTP time step an admin signed in with: a code is accepted once (RFC 6238 §5.2).
ALTER TABLE admins ADD COLUMN totp_step BIGINT;
