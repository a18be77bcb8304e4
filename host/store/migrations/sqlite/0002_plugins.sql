-- Filter plugins (WebAssembly components), validated at upload. Keep in step with ../postgres/0002_plugins.sql.
CREATE TABLE plugins (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    wit_version  TEXT    NOT NULL,
    bytes        BLOB    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    UNIQUE (name, version)
);
