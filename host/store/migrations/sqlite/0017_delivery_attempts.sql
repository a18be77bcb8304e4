-- Every delivery attempt of a logged message, for its tracking page. Keep in step with ../postgres/0017_delivery_attempts.sql.
-- Written in the settle's own transaction; purged with the log row.
CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY,
    log_id        BIGINT NOT NULL,
    recipient     TEXT   NOT NULL,
    attempted_at  BIGINT NOT NULL,
    node          TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    reply         TEXT   NOT NULL
);
CREATE INDEX delivery_attempts_log ON delivery_attempts(log_id);
