/* db_dialect_overrides.h — the hand translations of db_dialect.c's override table: each row
 * is { SQLite text exactly as in src/store.c, PostgreSQL text, returns_id }, with why no rule
 * does it. Included once, by db_dialect.c. A statement changed in store.c no longer matches
 * its row here: tests/t_pg.py then reports it untranslatable or failing to prepare. */

/* H16a (issue 16): lease times on the database's clock, so that hosts whose clocks differ
 * never take each other's running leases. PG_NOW_ISO is now() as store.c writes times
 * (ISO 8601 UTC, seconds); PG_LEASE_UNTIL(u, n) is now() plus the lease length the host chose
 * (its `until` u minus its `now` n). Everything else keeps the host's time (BIDMAIL_NOW). */
#define PG_NOW_ISO "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define PG_LEASE_UNTIL(u, n) "to_char((now() AT TIME ZONE 'UTC') + (" u "::timestamptz - " n \
	"::timestamptz), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* ST_OUTBOX_CLAIM: a batch claimed with FOR UPDATE SKIP LOCKED in a CTE (issue #16), not IN
 * (subquery LIMIT); the lease compared with and set from the database's clock (?3, when a
 * retry is due, stays the host's) */
{ "UPDATE outbox SET lease_owner = ?1, lease_until = ?2 WHERE id IN"
	  " (SELECT id FROM outbox WHERE state = 'queued' AND (?3 IS NULL OR"
	  " next_attempt IS NULL OR next_attempt <= ?3) AND (lease_until IS NULL"
	  " OR lease_until < ?4) ORDER BY id LIMIT ?5) RETURNING id",
	  "WITH c AS (SELECT id FROM outbox WHERE state = 'queued' AND ($3::text IS NULL OR"
	  " next_attempt IS NULL OR next_attempt <= $3) AND (lease_until IS NULL OR"
	  " lease_until < " PG_NOW_ISO ") ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)"
	  " UPDATE outbox o SET lease_owner = $1, lease_until = " PG_LEASE_UNTIL("$2", "$4")
	  " FROM c WHERE o.id = c.id RETURNING o.id", 0 },

/* ST_OUTBOX_OWNERS: the leases still running by the database's clock ($1 unused) */
{ "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'queued' AND"
	  " lease_owner IS NOT NULL AND lease_until >= ?1 LIMIT ?2",
	  "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'queued' AND"
	  " lease_owner IS NOT NULL AND lease_until >= " PG_NOW_ISO " LIMIT $2", 0 },

/* ST_OUTBOX_REAP: expired by the database's clock ($1, the host's, unused); rows a sender
 * holds locked are skipped, never waited for */
{ "UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
	  " WHERE state = 'queued' AND lease_until < ?1",
	  "WITH c AS (SELECT id FROM outbox WHERE state = 'queued' AND lease_until < " PG_NOW_ISO
	  " FOR UPDATE SKIP LOCKED)"
	  " UPDATE outbox o SET lease_owner = NULL, lease_until = NULL FROM c WHERE o.id = c.id", 0 },

/* ST_SHARD_CLAIM: one shard of the weekly run, SKIP LOCKED, on the database's clock */
{ "UPDATE digest_shards SET owner = ?3, lease_until = ?4"
	  " WHERE period = ?1 AND shard = ?2 AND (lease_until IS NULL OR lease_until < ?5)"
	  " RETURNING shard",
	  "WITH c AS (SELECT period, shard FROM digest_shards WHERE period = $1 AND shard = $2"
	  " AND (lease_until IS NULL OR lease_until < " PG_NOW_ISO ") FOR UPDATE SKIP LOCKED)"
	  " UPDATE digest_shards d SET owner = $3, lease_until = " PG_LEASE_UNTIL("$4", "$5")
	  " FROM c WHERE d.period = c.period AND d.shard = c.shard RETURNING d.shard", 0 },

/* ST_SHARD_RENEW: the lease moved on from the database's clock */
{ "UPDATE digest_shards SET lease_until = max(?4, ?5)"
	  " WHERE period = ?1 AND shard = ?2 AND owner = ?3",
	  "UPDATE digest_shards SET lease_until = " PG_LEASE_UNTIL("$4", "$5")
	  " WHERE period = $1 AND shard = $2 AND owner = $3", 0 },

/* ST_PROJECT_LOCK: the row lock on the parent of a check-then-act (the bid cap) */
{ "SELECT id FROM projects WHERE id = ?1",
	  "SELECT id FROM projects WHERE id = $1 FOR UPDATE", 0 },

/* ST_CONFIRMATION_GET: a confirmation is used once: the row is locked when read, so that a
 * second answer handled at the same time on another host waits, then reads it used */
{ "SELECT address, subscriber, action, payload, expires, used"
	  " FROM confirmations WHERE id = ?1",
	  "SELECT address, subscriber, action, payload, expires, used"
	  " FROM confirmations WHERE id = $1 FOR UPDATE", 0 },

/* ST_SENDER_HIT: the existing row named by its table in DO UPDATE (else ambiguous with EXCLUDED) */
{ "INSERT INTO sender_rates(address, window_start, count) VALUES(?1, ?2, 1)"
	  " ON CONFLICT(address) DO UPDATE SET"
	  " count = CASE WHEN window_start <= ?3 THEN 1 ELSE count + 1 END,"
	  " told = CASE WHEN window_start <= ?3 THEN NULL ELSE told END,"
	  " window_start = CASE WHEN window_start <= ?3 THEN ?2 ELSE window_start END"
	  " RETURNING count, told",
	  "INSERT INTO sender_rates(address, window_start, count) VALUES($1, $2, 1)"
	  " ON CONFLICT(address) DO UPDATE SET"
	  " count = CASE WHEN sender_rates.window_start <= $3 THEN 1"
	  " ELSE sender_rates.count + 1 END,"
	  " told = CASE WHEN sender_rates.window_start <= $3 THEN NULL ELSE sender_rates.told END,"
	  " window_start = CASE WHEN sender_rates.window_start <= $3 THEN $2"
	  " ELSE sender_rates.window_start END"
	  " RETURNING count, told", 0 },

/* ST_ADDRESS_BOUNCE: a flag is an integer, not a boolean */
{ "UPDATE addresses SET score = score + CASE WHEN ?2 THEN 1.0 ELSE 0.5 END,"
	  " hard = hard + (?2 != 0), soft = soft + (?2 = 0), last_bounce = ?3,"
	  " last_scored_day = ?3 WHERE address = ?1 AND"
	  " (last_scored_day IS NULL OR last_scored_day <> ?3)"
	  " RETURNING score >= ?4 AND disabled = 0",
	  "UPDATE addresses SET score = score + CASE WHEN $2::int <> 0 THEN 1.0 ELSE 0.5 END,"
	  " hard = hard + ($2::int <> 0)::int, soft = soft + ($2::int = 0)::int, last_bounce = $3,"
	  " last_scored_day = $3 WHERE address = $1 AND"
	  " (last_scored_day IS NULL OR last_scored_day <> $3)"
	  " RETURNING score >= $4 AND disabled = 0", 0 },

/* ST_SUBSCRIBER_DIGEST: a flag is an integer, not a boolean */
{ "UPDATE subscribers SET last_digest = ?2 WHERE id = ?1 AND"
	  " status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
	  " WHERE a.address = subscribers.address AND a.disabled)",
	  "UPDATE subscribers SET last_digest = $2 WHERE id = $1 AND"
	  " status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
	  " WHERE a.address = subscribers.address AND a.disabled <> 0)", 0 },

/* ST_SUBSCRIBER_PROFILE: least() (PostgreSQL's two-argument min, NULLs ignored) */
{ "UPDATE subscribers SET name = ?2, language = ?3, frequency = ?4,"
	  " day = ?5, remote_only = ?6, budget_min = ?7, budget_currency = ?8,"
	  " languages = ?9, last_digest = CASE WHEN frequency = 'instant' AND"
	  " ?4 <> 'instant' AND status = 'active' THEN coalesce(min((SELECT at FROM"
	  " digest_marks WHERE name = 'alerts'), ?10), ?10) ELSE last_digest END WHERE id = ?1",
	  "UPDATE subscribers SET name = $2, language = $3, frequency = $4,"
	  " day = $5, remote_only = $6, budget_min = $7, budget_currency = $8,"
	  " languages = $9, last_digest = CASE WHEN frequency = 'instant' AND"
	  " $4 <> 'instant' AND status = 'active' THEN least((SELECT at FROM"
	  " digest_marks WHERE name = 'alerts'), $10) ELSE last_digest END WHERE id = $1", 0 },

/* ST_SUBSCRIBER_ALERTABLE: the row locked FOR SHARE (an unsubscribe on another host waits
 * for the alert's commit, or is seen by it); a flag is an integer, not a boolean */
{ "SELECT 1 FROM subscribers WHERE id = ?1 AND"
	  " status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
	  " WHERE a.address = subscribers.address AND a.disabled)",
	  "SELECT 1 FROM subscribers WHERE id = $1 AND"
	  " status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
	  " WHERE a.address = subscribers.address AND a.disabled <> 0)"
	  " FOR SHARE OF subscribers", 0 },

/* ST_ADDRESSES_DISABLED: a flag is an integer, not a boolean */
{ "SELECT address FROM addresses WHERE disabled ORDER BY address",
	  "SELECT address FROM addresses WHERE disabled <> 0 ORDER BY address", 0 },

/* ST_PROJECTS_VERSION: total() and a boolean summed; INDEXED BY has no equivalent (the planner chooses) */
{ "SELECT count(*) || ':' || coalesce(max(updated), '') || ':' ||"
	  " total(id) || ':' || (SELECT count(*) || ':' || coalesce(max(id), 0) ||"
	  " ':' || total(status = 'active') FROM bids INDEXED BY bids_project)"
	  " FROM projects WHERE status = 'open'",
	  "SELECT count(*) || ':' || coalesce(max(updated), '') || ':' ||"
	  " coalesce(sum(id), 0) || ':' || (SELECT count(*) || ':' || coalesce(max(id), 0) ||"
	  " ':' || count(*) FILTER (WHERE status = 'active') FROM bids)"
	  " FROM projects WHERE status = 'open'", 0 },

/* migration 20: date(x, '+' || n || ' days') is date arithmetic on ISO days */
{ "ALTER TABLE projects ADD COLUMN deadline TEXT;"
	  "UPDATE projects SET deadline = date(created, '+' || deadline_days || ' days')"
	  " WHERE deadline_days IS NOT NULL;"
	  "ALTER TABLE bids ADD COLUMN delivery TEXT;"
	  "UPDATE bids SET delivery = date(created, '+' || delivery_days || ' days')"
	  " WHERE delivery_days IS NOT NULL;",
	  "ALTER TABLE projects ADD COLUMN deadline text;"
	  "UPDATE projects SET deadline = to_char(left(created, 10)::date + deadline_days::int,"
	  " 'YYYY-MM-DD') WHERE deadline_days IS NOT NULL;"
	  "ALTER TABLE bids ADD COLUMN delivery text;"
	  "UPDATE bids SET delivery = to_char(left(created, 10)::date + delivery_days::int,"
	  " 'YYYY-MM-DD') WHERE delivery_days IS NOT NULL", 0 },

/* migration 22: SQLite's triggers are plpgsql trigger functions here; INSERT OR REPLACE is an upsert */
{ "CREATE TABLE IF NOT EXISTS followups(project INTEGER PRIMARY KEY, due TEXT NOT NULL);"
	  "CREATE INDEX IF NOT EXISTS followups_due ON followups(due);"
	  "INSERT OR IGNORE INTO followups(project, due) SELECT id, '' FROM projects"
	  " WHERE status IN ('open', 'awarded');"
	  "CREATE INDEX IF NOT EXISTS bids_status ON bids(status, created);"
	  "CREATE INDEX IF NOT EXISTS selections_created ON selections(created);"
	  "CREATE TRIGGER IF NOT EXISTS projects_followup_new AFTER INSERT ON projects BEGIN"
	  " INSERT OR REPLACE INTO followups(project, due) VALUES(NEW.id, ''); END;"
	  "CREATE TRIGGER IF NOT EXISTS projects_followup_due AFTER UPDATE OF status, updated,"
	  " created ON projects BEGIN INSERT OR REPLACE INTO followups(project, due)"
	  " VALUES(NEW.id, ''); END;"
	  "CREATE TRIGGER IF NOT EXISTS projects_followup_gone AFTER DELETE ON projects BEGIN"
	  " DELETE FROM followups WHERE project = OLD.id; END;"
	  "CREATE TRIGGER IF NOT EXISTS bids_followup_new AFTER INSERT ON bids BEGIN"
	  " INSERT OR REPLACE INTO followups(project, due) VALUES(NEW.project, ''); END;"
	  "CREATE TRIGGER IF NOT EXISTS bids_followup_due AFTER UPDATE OF project, status, created,"
	  " followup_days, delivery_days, delivery ON bids BEGIN"
	  " INSERT OR REPLACE INTO followups(project, due) VALUES(OLD.project, '');"
	  " INSERT OR REPLACE INTO followups(project, due) VALUES(NEW.project, ''); END;",
	  "CREATE TABLE IF NOT EXISTS followups(project bigint PRIMARY KEY, due text NOT NULL);"
	  "CREATE INDEX IF NOT EXISTS followups_due ON followups(due);"
	  "INSERT INTO followups(project, due) SELECT id, '' FROM projects"
	  " WHERE status IN ('open', 'awarded') ON CONFLICT DO NOTHING;"
	  "CREATE INDEX IF NOT EXISTS bids_status ON bids(status, created);"
	  "CREATE INDEX IF NOT EXISTS selections_created ON selections(created);"
	  "CREATE OR REPLACE FUNCTION followup_look(p bigint) RETURNS void LANGUAGE sql AS"
	  " $f$ INSERT INTO followups(project, due) VALUES(p, '')"
	  " ON CONFLICT(project) DO UPDATE SET due = '' $f$;"
	  "CREATE OR REPLACE FUNCTION projects_followup() RETURNS trigger LANGUAGE plpgsql AS"
	  " $f$ BEGIN IF TG_OP = 'DELETE' THEN DELETE FROM followups WHERE project = OLD.id;"
	  " RETURN OLD; END IF; PERFORM followup_look(NEW.id); RETURN NEW; END $f$;"
	  "CREATE OR REPLACE FUNCTION bids_followup() RETURNS trigger LANGUAGE plpgsql AS"
	  " $f$ BEGIN IF TG_OP = 'UPDATE' THEN PERFORM followup_look(OLD.project); END IF;"
	  " PERFORM followup_look(NEW.project); RETURN NEW; END $f$;"
	  "CREATE OR REPLACE TRIGGER projects_followup_new AFTER INSERT ON projects"
	  " FOR EACH ROW EXECUTE FUNCTION projects_followup();"
	  "CREATE OR REPLACE TRIGGER projects_followup_due AFTER UPDATE OF status, updated,"
	  " created ON projects FOR EACH ROW EXECUTE FUNCTION projects_followup();"
	  "CREATE OR REPLACE TRIGGER projects_followup_gone AFTER DELETE ON projects"
	  " FOR EACH ROW EXECUTE FUNCTION projects_followup();"
	  "CREATE OR REPLACE TRIGGER bids_followup_new AFTER INSERT ON bids"
	  " FOR EACH ROW EXECUTE FUNCTION bids_followup();"
	  "CREATE OR REPLACE TRIGGER bids_followup_due AFTER UPDATE OF project, status, created,"
	  " followup_days, delivery_days, delivery ON bids"
	  " FOR EACH ROW EXECUTE FUNCTION bids_followup()", 0 },

/* migration 21: SQLite's AFTER triggers that rewrite the row are BEFORE triggers here, setting NEW.next_due */
{ "ALTER TABLE subscribers ADD COLUMN next_due TEXT;"
	  "UPDATE subscribers SET next_due = '' WHERE status = 'active'"
	  " AND frequency IN ('weekly', 'daily');"
	  "CREATE INDEX subscribers_next_due ON subscribers(next_due, id);"
	  "CREATE INDEX subscribers_instant ON subscribers(id) WHERE status = 'active'"
	  " AND frequency = 'instant';"
	  "CREATE INDEX projects_published ON projects(status, coalesce(published, created));"
	  "CREATE TABLE digest_marks(name TEXT PRIMARY KEY, at TEXT NOT NULL,"
	  " project INTEGER NOT NULL);"
	  "CREATE TRIGGER subscribers_due_insert AFTER INSERT ON subscribers"
	  " WHEN NEW.status = 'active' AND NEW.frequency IN ('weekly', 'daily')"
	  " AND NEW.next_due IS NULL BEGIN"
	  " UPDATE subscribers SET next_due = '' WHERE id = NEW.id; END;"
	  "CREATE TRIGGER subscribers_due_update AFTER UPDATE OF status, frequency, day"
	  " ON subscribers WHEN OLD.status IS NOT NEW.status OR OLD.frequency IS NOT NEW.frequency"
	  " OR OLD.day IS NOT NEW.day BEGIN"
	  " UPDATE subscribers SET next_due = CASE WHEN NEW.status = 'active'"
	  " AND NEW.frequency IN ('weekly', 'daily') THEN '' ELSE NULL END WHERE id = NEW.id; END;",
	  "ALTER TABLE subscribers ADD COLUMN next_due text;"
	  "UPDATE subscribers SET next_due = '' WHERE status = 'active'"
	  " AND frequency IN ('weekly', 'daily');"
	  "CREATE INDEX subscribers_next_due ON subscribers(next_due, id);"
	  "CREATE INDEX subscribers_instant ON subscribers(id) WHERE status = 'active'"
	  " AND frequency = 'instant';"
	  "CREATE INDEX projects_published ON projects(status, coalesce(published, created));"
	  "CREATE TABLE digest_marks(name text PRIMARY KEY, at text NOT NULL,"
	  " project bigint NOT NULL);"
	  "CREATE OR REPLACE FUNCTION subscribers_due() RETURNS trigger LANGUAGE plpgsql AS"
	  " $f$ BEGIN IF TG_OP = 'INSERT' THEN IF NEW.status = 'active' AND NEW.frequency IN"
	  " ('weekly', 'daily') AND NEW.next_due IS NULL THEN NEW.next_due := ''; END IF;"
	  " ELSE NEW.next_due := CASE WHEN NEW.status = 'active' AND NEW.frequency IN"
	  " ('weekly', 'daily') THEN '' ELSE NULL END; END IF; RETURN NEW; END $f$;"
	  "CREATE OR REPLACE TRIGGER subscribers_due_insert BEFORE INSERT ON subscribers"
	  " FOR EACH ROW EXECUTE FUNCTION subscribers_due();"
	  "CREATE OR REPLACE TRIGGER subscribers_due_update BEFORE UPDATE OF status, frequency, day"
	  " ON subscribers FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR"
	  " OLD.frequency IS DISTINCT FROM NEW.frequency OR OLD.day IS DISTINCT FROM NEW.day)"
	  " EXECUTE FUNCTION subscribers_due()", 0 },

/* migration 26 (H3, issue 15): the pattern texts; SQLite's trigger bodies are one plpgsql
 * trigger function here, its upsert naming the table for the row it updates */
{ "CREATE TABLE IF NOT EXISTS pattern_texts(id INTEGER PRIMARY KEY,"
	  " source TEXT NOT NULL UNIQUE, refs INTEGER NOT NULL);"
	  "INSERT OR IGNORE INTO pattern_texts(source, refs)"
	  " SELECT source, count(*) FROM patterns GROUP BY source;"
	  "CREATE INDEX IF NOT EXISTS patterns_source ON patterns(source, subscriber);"
	  "CREATE TRIGGER IF NOT EXISTS patterns_text_new AFTER INSERT ON patterns BEGIN"
	  " INSERT INTO pattern_texts(source, refs) VALUES(NEW.source, 1)"
	  " ON CONFLICT(source) DO UPDATE SET refs = refs + 1; END;"
	  "CREATE TRIGGER IF NOT EXISTS patterns_text_gone AFTER DELETE ON patterns BEGIN"
	  " UPDATE pattern_texts SET refs = refs - 1 WHERE source = OLD.source;"
	  " DELETE FROM pattern_texts WHERE source = OLD.source AND refs <= 0; END;"
	  "CREATE TRIGGER IF NOT EXISTS patterns_text_moved AFTER UPDATE OF source ON patterns"
	  " WHEN OLD.source IS NOT NEW.source BEGIN"
	  " UPDATE pattern_texts SET refs = refs - 1 WHERE source = OLD.source;"
	  " DELETE FROM pattern_texts WHERE source = OLD.source AND refs <= 0;"
	  " INSERT INTO pattern_texts(source, refs) VALUES(NEW.source, 1)"
	  " ON CONFLICT(source) DO UPDATE SET refs = refs + 1; END;",
	  "CREATE TABLE IF NOT EXISTS pattern_texts(id bigint GENERATED BY DEFAULT AS IDENTITY"
	  " PRIMARY KEY,"
	  " source text NOT NULL UNIQUE, refs bigint NOT NULL);"
	  "INSERT INTO pattern_texts(source, refs)"
	  " SELECT source, count(*) FROM patterns GROUP BY source ON CONFLICT DO NOTHING;"
	  "CREATE INDEX IF NOT EXISTS patterns_source ON patterns(source, subscriber);"
	  "CREATE OR REPLACE FUNCTION patterns_text() RETURNS trigger LANGUAGE plpgsql AS"
	  " $f$ BEGIN IF TG_OP IN ('DELETE', 'UPDATE') THEN"
	  " UPDATE pattern_texts SET refs = refs - 1 WHERE source = OLD.source;"
	  " DELETE FROM pattern_texts WHERE source = OLD.source AND refs <= 0; END IF;"
	  " IF TG_OP IN ('INSERT', 'UPDATE') THEN"
	  " INSERT INTO pattern_texts(source, refs) VALUES(NEW.source, 1)"
	  " ON CONFLICT(source) DO UPDATE SET refs = pattern_texts.refs + 1; END IF;"
	  " RETURN NULL; END $f$;"
	  "CREATE OR REPLACE TRIGGER patterns_text_new AFTER INSERT ON patterns"
	  " FOR EACH ROW EXECUTE FUNCTION patterns_text();"
	  "CREATE OR REPLACE TRIGGER patterns_text_gone AFTER DELETE ON patterns"
	  " FOR EACH ROW EXECUTE FUNCTION patterns_text();"
	  "CREATE OR REPLACE TRIGGER patterns_text_moved AFTER UPDATE OF source ON patterns"
	  " FOR EACH ROW WHEN (OLD.source IS DISTINCT FROM NEW.source)"
	  " EXECUTE FUNCTION patterns_text()", 0 },
