-- The account (SMTP credential or admin) that submitted an outgoing message, so its bounces count against
-- that account (the compromised-account guard); NULL for incoming mail.
ALTER TABLE queue_messages ADD COLUMN account TEXT;
