-- A number that moves whenever the directory (domains, their downstream hosts, mailboxes, aliases) changes,
-- so a node can keep recipients and routes in memory and notice edits made anywhere, by any path, with one
-- cheap read. Triggers rather than the store's code bump it: no write path can forget to. Keep in step with
-- ../postgres/0020_directory_version.sql.
CREATE TABLE directory_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT  NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE TRIGGER domains_inserted AFTER INSERT ON domains BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER domains_updated AFTER UPDATE ON domains BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER domains_deleted AFTER DELETE ON domains BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER downstream_hosts_inserted AFTER INSERT ON downstream_hosts BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER downstream_hosts_updated AFTER UPDATE ON downstream_hosts BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER downstream_hosts_deleted AFTER DELETE ON downstream_hosts BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER mailboxes_inserted AFTER INSERT ON mailboxes BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER mailboxes_updated AFTER UPDATE ON mailboxes BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER mailboxes_deleted AFTER DELETE ON mailboxes BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER aliases_inserted AFTER INSERT ON aliases BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER aliases_updated AFTER UPDATE ON aliases BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER aliases_deleted AFTER DELETE ON aliases BEGIN UPDATE directory_version SET version = version + 1; END;
