-- A number that moves whenever the directory (domains, their downstream hosts, mailboxes, aliases) changes,
-- so a node can keep recipients and routes in memory and notice edits made anywhere, by any path, with one
-- cheap read. Triggers rather than the store's code bump it: no write path can forget to. Once per statement,
-- so an import of a thousand users locks the counter's row once. Keep in step with
-- ../sqlite/0020_directory_version.sql.
CREATE TABLE directory_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT  NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER domains_changed AFTER INSERT OR UPDATE OR DELETE ON domains
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER downstream_hosts_changed AFTER INSERT OR UPDATE OR DELETE ON downstream_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER mailboxes_changed AFTER INSERT OR UPDATE OR DELETE ON mailboxes
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
CREATE TRIGGER aliases_changed AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH STATEMENT EXECUTE FUNCTION directory_changed();
