-- How a domain's users come to exist in Moat, postgres dialect. Keep in step with ../sqlite/0008_signup.sql.
-- 'manual': added by admins (console, API, CLI, import). 'smtp': also signed up on their first message, when
-- the domain's own server accepts them (recipient callout).
ALTER TABLE domains ADD COLUMN signup TEXT NOT NULL DEFAULT 'manual';
