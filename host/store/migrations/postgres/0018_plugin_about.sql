-- What a plugin says about itself (its `moat:about` section: what it does, and help on its configuration),
-- read when it is registered. Keep in step with ../sqlite/0018_plugin_about.sql.
ALTER TABLE plugins ADD COLUMN summary TEXT;
ALTER TABLE plugins ADD COLUMN configuration_help TEXT;
