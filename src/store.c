/*
 * store.c — every SQL statement of the program, through the database seam (db.h): SQLite
 * (db_sqlite.c) or PostgreSQL (db_pg.c, the statements translated by db_dialect.c).
 * In: the project's structs. Out: rows, as the project's structs. Schema changes are numbered
 * migrations applied in order by the driver (db_migrate: PRAGMA user_version, or PostgreSQL's
 * schema_version table), so an older database upgrades in place. Values only ever reach SQL
 * through db_bind_*; every statement is a fixed text of the table stmt_sql[], in SQLite's
 * dialect, prepared once per connection and cached by the driver (what is not a statement of
 * this table, the engine's own features, is a driver call: durability, check, backup).
 * Times come from the callers (`now` arguments): the store reads no clock.
 */
#include "bidmail.h"
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const migrations[] = {
	/* 1: ingest log, projects, outbox */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE ingested(key TEXT PRIMARY KEY, spool_name TEXT NOT NULL,"
	" sha256 TEXT NOT NULL, message_id TEXT, kind TEXT NOT NULL, result TEXT NOT NULL,"
	" at TEXT NOT NULL);"
	"CREATE TABLE projects(id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,"
	" description TEXT NOT NULL, poster TEXT NOT NULL, poster_name TEXT,"
	" language TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', created TEXT NOT NULL,"
	" updated TEXT NOT NULL, message_id TEXT, budget_min REAL, budget_max REAL,"
	" currency TEXT, tax TEXT, unit TEXT, deadline_days INTEGER,"
	" skills TEXT NOT NULL DEFAULT '[]', location TEXT, flags TEXT NOT NULL DEFAULT '[]');"
	"INSERT INTO sqlite_sequence(name, seq) VALUES('projects', 1000);"
	"CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
	" rcpt TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL, token TEXT NOT NULL,"
	" message BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'queued',"
	" attempts INTEGER NOT NULL DEFAULT 0, next_attempt TEXT, last_error TEXT,"
	" created TEXT NOT NULL, sent TEXT);"
	"CREATE INDEX outbox_state ON outbox(state, id);",
	/* 2: bounce scores of addresses, and what came back for each outbox message */
	"CREATE TABLE addresses(address TEXT PRIMARY KEY COLLATE NOCASE, score REAL NOT NULL"
	" DEFAULT 0, hard INTEGER NOT NULL DEFAULT 0, soft INTEGER NOT NULL DEFAULT 0,"
	" disabled INTEGER NOT NULL DEFAULT 0, last_bounce TEXT, last_scored_day TEXT);"
	"ALTER TABLE outbox ADD COLUMN bounce_status TEXT;",
	/* 3: message bytes in their own table, so that marking a row does not rewrite them */
	"CREATE TABLE outbox_message(id INTEGER PRIMARY KEY, message BLOB NOT NULL);"
	"INSERT INTO outbox_message(id, message) SELECT id, message FROM outbox;"
	"ALTER TABLE outbox DROP COLUMN message;",
	/* 4: subscribers, their patterns, pending confirmations, digests claimed per period */
	"CREATE TABLE subscribers(id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE"
	" COLLATE NOCASE, name TEXT, status TEXT NOT NULL DEFAULT 'pending',"
	" language TEXT NOT NULL DEFAULT 'fr', frequency TEXT NOT NULL DEFAULT 'weekly',"
	" day INTEGER NOT NULL DEFAULT 1, remote_only INTEGER NOT NULL DEFAULT 0,"
	" budget_min REAL, budget_currency TEXT, languages TEXT NOT NULL DEFAULT '',"
	" created TEXT NOT NULL, confirmed TEXT, last_digest TEXT, last_activity TEXT);"
	"CREATE TABLE patterns(id INTEGER PRIMARY KEY, subscriber INTEGER NOT NULL"
	" REFERENCES subscribers(id) ON DELETE CASCADE, kind TEXT NOT NULL, source TEXT NOT NULL,"
	" created TEXT NOT NULL);"
	"CREATE INDEX patterns_subscriber ON patterns(subscriber);"
	"CREATE TABLE confirmations(id INTEGER PRIMARY KEY, address TEXT NOT NULL COLLATE NOCASE,"
	" subscriber INTEGER, action TEXT NOT NULL, payload TEXT, created TEXT NOT NULL,"
	" expires TEXT NOT NULL, used TEXT);"
	"CREATE INDEX confirmations_address ON confirmations(address, created);"
	"CREATE TABLE digests(subscriber INTEGER NOT NULL, period TEXT NOT NULL,"
	" claimed TEXT NOT NULL, projects INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(subscriber, period));",
	/* 5: a pattern that hit a matching limit is reported to its owner once */
	"ALTER TABLE patterns ADD COLUMN limit_reported TEXT;",
	/* 6: bids */
	"CREATE TABLE bids(id INTEGER PRIMARY KEY, project INTEGER NOT NULL REFERENCES projects(id),"
	" subscriber INTEGER NOT NULL, address TEXT, amount REAL, currency TEXT, tax TEXT, unit TEXT,"
	" delivery_days INTEGER, milestones TEXT, followup_days INTEGER, message TEXT, why TEXT,"
	" status TEXT NOT NULL DEFAULT 'active', created TEXT NOT NULL, message_id TEXT);"
	"CREATE INDEX bids_project ON bids(project, status);",
	/* 7: posters who proved their address */
	"CREATE TABLE posters(address TEXT PRIMARY KEY COLLATE NOCASE, confirmed TEXT NOT NULL);",
	/* 8: notices sent once (expiry, reminders, rating requests), ratings, client answers */
	"CREATE TABLE notices(kind TEXT NOT NULL, ref INTEGER NOT NULL, sent TEXT NOT NULL,"
	" PRIMARY KEY(kind, ref));"
	"CREATE TABLE ratings(bid INTEGER PRIMARY KEY, subscriber INTEGER NOT NULL,"
	" score INTEGER NOT NULL, comment TEXT, created TEXT NOT NULL);"
	"ALTER TABLE projects ADD COLUMN client_answered TEXT;",
	/* 9: flood control, per sender address and fixed window */
	("CREATE TABLE sender_rates(address TEXT PRIMARY KEY COLLATE NOCASE,"
	 " window_start TEXT NOT NULL, count INTEGER NOT NULL, told TEXT);"),
	/* 10: the two tables written for every message keyed by their text key alone
	 * (WITHOUT ROWID: one B-tree, not a table plus its unique index); counts restart */
	("CREATE TABLE ingested_keyed(key TEXT PRIMARY KEY, spool_name TEXT NOT NULL,"
	 " sha256 TEXT NOT NULL, message_id TEXT, kind TEXT NOT NULL, result TEXT NOT NULL,"
	 " at TEXT NOT NULL) WITHOUT ROWID;"
	 "INSERT INTO ingested_keyed SELECT key, spool_name, sha256, message_id, kind, result, at"
	 " FROM ingested;"
	 "DROP TABLE ingested;"
	 "ALTER TABLE ingested_keyed RENAME TO ingested;"
	 "DROP TABLE sender_rates;"
	 "CREATE TABLE sender_rates(address TEXT PRIMARY KEY COLLATE NOCASE,"
	 " window_start TEXT NOT NULL, count INTEGER NOT NULL, told TEXT) WITHOUT ROWID;"),
	/* 11: messages fetched from a mailbox (fetch.c), by origin: never downloaded twice */
	("CREATE TABLE fetched(origin TEXT PRIMARY KEY, spooled TEXT NOT NULL) WITHOUT ROWID;"),
	/* 12: the fetch ledger by identity: the origin and the message's identity (its size and
	 * a digest of its Message-ID), so that another message under a reused UID or UIDL is
	 * fetched; the rows from before have the identity '' and stand for the first message
	 * seen there */
	("CREATE TABLE fetched_ident(origin TEXT NOT NULL, ident TEXT NOT NULL,"
	 " spooled TEXT NOT NULL, PRIMARY KEY(origin, ident)) WITHOUT ROWID;"
	 "INSERT INTO fetched_ident SELECT origin, '', spooled FROM fetched;"
	 "DROP TABLE fetched;"
	 "ALTER TABLE fetched_ident RENAME TO fetched;"),
	/* 13: published-time: when a project first became open (a confirmed or approved post is
	 * published later than it was created); the digest windows are cut on it */
	("ALTER TABLE projects ADD COLUMN published TEXT;"
	 "UPDATE projects SET published = created WHERE status NOT IN ('pending_confirmation',"
	 " 'held');"),
	/* 14: outbox leases: a sender claims rows (owner, expiry) before it sends them, so that two
	 * senders never send one row twice */
	("ALTER TABLE outbox ADD COLUMN lease_owner TEXT;"
	 "ALTER TABLE outbox ADD COLUMN lease_until TEXT;"),
	/* 15: relayed texts: what the board sent in each quote's conversation (quote.c tells a
	 * command the client wrote from one quoted back from these) */
	("CREATE TABLE IF NOT EXISTS relayed(id INTEGER PRIMARY KEY, bid INTEGER NOT NULL,"
	 " body TEXT NOT NULL, created TEXT NOT NULL);"
	 "CREATE INDEX IF NOT EXISTS relayed_bid ON relayed(bid, id);"),
	/* 16: held bids counted per sender, projects selected by status (the loop's steps), and
	 * unconfirmed posts and held bids purged by age */
	("CREATE INDEX IF NOT EXISTS bids_address ON bids(address, status);"
	 "CREATE INDEX IF NOT EXISTS projects_status ON projects(status, created);"),
	/* 17: the projects each selection listed, in order, by its Message-ID: a reply to a
	 * selection that names no project is read against them (robot.c) */
	("CREATE TABLE selections(id INTEGER PRIMARY KEY, subscriber INTEGER NOT NULL,"
	 " message_id TEXT NOT NULL, position INTEGER NOT NULL, project INTEGER NOT NULL,"
	 " created TEXT NOT NULL);"
	 "CREATE INDEX selections_message ON selections(subscriber, message_id);"),
	/* 18: outbox rows by token (their Message-ID): a reply to one of our mails is trimmed
	 * knowing the text we sent (ingest.c, extract_reply_known) */
	"CREATE INDEX IF NOT EXISTS outbox_token ON outbox(token);",
	/* 19: whether a subscriber chose their language with `language`; until then
	 * the robot answers in the language they write in. The subscribers from before keep the
	 * language they have. */
	("ALTER TABLE subscribers ADD COLUMN language_chosen INTEGER NOT NULL DEFAULT 0;"
	 "UPDATE subscribers SET language_chosen = 1;"),
	/* 20: deadlines and deliveries are days (YYYY-MM-DD), the days left being counted when a
	 * mail or a page is made; the day counts of earlier rows become the day they pointed to,
	 * counted from the row's creation */
	("ALTER TABLE projects ADD COLUMN deadline TEXT;"
	 "UPDATE projects SET deadline = date(created, '+' || deadline_days || ' days')"
	 " WHERE deadline_days IS NOT NULL;"
	 "ALTER TABLE bids ADD COLUMN delivery TEXT;"
	 "UPDATE bids SET delivery = date(created, '+' || delivery_days || ' days')"
	 " WHERE delivery_days IS NOT NULL;"),
	/* 21: work proportional to news (digest.c). next_due: when a weekly or daily subscriber's
	 * next selection may be due, '' meaning "to be computed by the next pass", NULL for the
	 * others; triggers keep it right whatever changes status, frequency or day (a row inserted
	 * or edited directly too). The instant alerts' watermark (digest_marks), the active
	 * instant subscribers by id, and the open projects by publication time, all indexed. */
	("ALTER TABLE subscribers ADD COLUMN next_due TEXT;"
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
	 " AND NEW.frequency IN ('weekly', 'daily') THEN '' ELSE NULL END WHERE id = NEW.id; END;"),
	/* 22: follow-ups by due time: followups(project, due) says when followup.c must look at a
	 * project again ('' as soon as it can; no row: never), written by followup.c after each
	 * look; a new project, a change of its status or award time, a bid placed or moved
	 * (state, delivery or follow-up date) asks for a look in the same statement (the
	 * triggers), so that nothing due is missed. Held bids and selections purged by indexed
	 * age. Every statement may run again on a database that has them. */
	("CREATE TABLE IF NOT EXISTS followups(project INTEGER PRIMARY KEY, due TEXT NOT NULL);"
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
	 " INSERT OR REPLACE INTO followups(project, due) VALUES(NEW.project, ''); END;"),
	/* 23: not used (a number kept for a branch of the same session) */
	"SELECT 1;",
	/* 24: the replay key (spool.c spool_replay_key: recipient, Message-ID and the bytes
	 * without trace headers), unique, so that one message delivered through two hosts is
	 * one; and the host_id of the host that took each message. Rows from before have none. */
	("ALTER TABLE ingested ADD COLUMN replay_key TEXT;"
	 "ALTER TABLE ingested ADD COLUMN host TEXT;"
	 "CREATE UNIQUE INDEX IF NOT EXISTS ingested_replay_key ON ingested(replay_key);"),
	/* 25: the weekly run in shards (digest.c): a host claims (period, shard) with a lease
	 * before it reads that shard's due subscribers, so that three hosts share one run and a
	 * killed host's shard is taken over when its lease expires */
	("CREATE TABLE IF NOT EXISTS digest_shards(period TEXT NOT NULL, shard INTEGER NOT NULL,"
	 " owner TEXT, lease_until TEXT, done TEXT, PRIMARY KEY(period, shard));"),
	/* 26: the patterns by text (issue 15, the alert pass at a million profiles): each
	 * distinct pattern text once, with the number of pattern rows that hold it, kept by
	 * triggers whatever writes the patterns; and the patterns by text, so that the owners
	 * of a text that matched a new project are found by an indexed read */
	("CREATE TABLE IF NOT EXISTS pattern_texts(id INTEGER PRIMARY KEY,"
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
	 " ON CONFLICT(source) DO UPDATE SET refs = refs + 1; END;"),
	/* 27: the hourly purges (issue 16) find what is old by index, not by a scan of every
	 * ingest key and every sent row each hour */
	"CREATE INDEX IF NOT EXISTS ingested_at ON ingested(at);"
	"CREATE INDEX IF NOT EXISTS outbox_sent ON outbox(state, sent);",
	/* 28: mails that share most of their text (the instant alerts of one project in one
	 * language) store it once: outbox_message.message is then packed (outbox_pack.c)
	 * against the outbox_part it names */
	"CREATE TABLE IF NOT EXISTS outbox_part(id INTEGER PRIMARY KEY, body BLOB NOT NULL,"
	" created TEXT NOT NULL);"
	"ALTER TABLE outbox_message ADD COLUMN part INTEGER REFERENCES outbox_part(id);"
	"CREATE INDEX IF NOT EXISTS outbox_message_part ON outbox_message(part)"
	" WHERE part IS NOT NULL;",
};
#define N_MIGRATIONS (int)(sizeof migrations / sizeof migrations[0])

#define BID_COLUMNS "id, project, subscriber, amount, currency, tax, unit, delivery_days," \
		    " milestones, followup_days, message, status, why, created, delivery"

#define SUBSCRIBER_COLUMNS "id, address, name, status, language, frequency, day, remote_only," \
	" budget_min, budget_currency, languages, created, confirmed, last_digest, last_activity," \
	" next_due"

#define PROJECT_SELECT "SELECT id, title, CASE WHEN ?4 THEN description END, poster," \
	" poster_name, language, status, created, message_id, budget_min, budget_max, currency, tax," \
	" unit, deadline_days, skills, location, flags, (SELECT count(*) FROM bids b" \
	" WHERE b.project = projects.id AND b.status = 'active'), updated, published, deadline" \
	" FROM projects WHERE "
/* lists are read in pages of rows by id: those after ?6, at most ?7 */
#define PROJECT_PAGE " AND id > ?6 ORDER BY id LIMIT ?7"
/* The subscribers as the lists read them: an address disabled by bounces shows as `disabled` */
#define SUBSCRIBER_LIST_SELECT "SELECT s.id, s.address, s.name, CASE WHEN a.disabled <> 0 THEN" \
	" 'disabled' ELSE s.status END, s.language, s.frequency, s.day," \
	" s.remote_only, s.budget_min, s.budget_currency, s.languages," \
	" s.created, s.confirmed, s.last_digest, s.last_activity, s.next_due FROM subscribers s" \
	" LEFT JOIN addresses a ON a.address = s.address"

/* The rows a list function reads at once: a list of any length is read in pages (page_all). */
#define STORE_PAGE 512

enum stmt_id {
	ST_INGEST_SEEN, ST_INGEST_RECORD, ST_INGEST_REPLAY_SEEN, ST_INGEST_RECORD_ONCE, ST_PROJECT_INSERT, ST_OUTBOX_INSERT, ST_OUTBOX_MARK,
	ST_OUTBOX_RETRY, ST_OUTBOX_SENT, ST_OUTBOX_MESSAGE, ST_OUTBOX_CLAIM, ST_OUTBOX_ROW,
	ST_OUTBOX_RELEASE,
	ST_SENDER_HIT, ST_SENDER_TOLD, ST_FETCHED_SEEN, ST_FETCHED_ADOPT, ST_FETCHED_ADD, ST_FETCHED_ALL,
	ST_USER_VERSION, ST_PROJECT_SAMPLE, ST_OUTBOX_LIST, ST_OUTBOX_OWNERS, ST_OUTBOX_RECIPIENT,
	ST_OUTBOX_BOUNCE, ST_ADDRESS_INSERT, ST_ADDRESS_BOUNCE, ST_ADDRESS_DISABLE,
	ST_ADDRESS_DISABLED, ST_PATTERNS_LOAD, ST_SUBSCRIBER_INSERT, ST_SUBSCRIBER_TOUCH,
	ST_CONFIRMATION_LATEST, ST_SUBSCRIBER_PROFILE, ST_SUBSCRIBER_STATUS, ST_SUBSCRIBER_CONFIRM,
	ST_SUBSCRIBER_DIGEST, ST_PATTERN_ADD, ST_PATTERNS_CLEAR, ST_SUBSCRIBER_LIST,
	ST_CONFIRMATION_INSERT, ST_CONFIRMATION_GET, ST_CONFIRMATION_USE, ST_CONFIRMATIONS_RECENT,
	ST_DIGEST_CLAIM, ST_DIGEST_CLAIMED, ST_SUBSCRIBER_DUE_PAGE, ST_SUBSCRIBER_DUE_OLDEST,
	ST_SUBSCRIBER_NEXT_DUE, ST_SUBSCRIBER_INSTANT_PAGE, ST_ALERT_MARK_GET, ST_ALERT_MARK_SET,
	ST_PROJECT_NEWS, ST_SELECTION_ADD, ST_SELECTION_OF, ST_SELECTION_LATEST,
	ST_SELECTION_PURGE,
	ST_PATTERN_LIMIT_REPORT, ST_BID_COUNT, ST_BID_REPLACE, ST_BID_INSERT,
	ST_BID_GET, ST_BID_STATUS, ST_BID_ACTIVATE_REPLACE, ST_BID_ACTIVATE, ST_BID_HELD_COUNT,
	ST_BID_SELECT, ST_BID_CURRENT, ST_RELAYED_ADD, ST_RELAYED_LIST, ST_PROJECT_DELETE_PENDING,
	ST_PROJECT_UNASKED, ST_POSTER_CONFIRMED, ST_POSTER_CONFIRM, ST_PROJECT_STATUS,
	ST_NOTICE_CLAIM, ST_PROJECT_ANSWERED, ST_PROJECT_MARK_ANSWERED,
	ST_RATING_INSERT, ST_FREELANCER_RECORD, ST_PROJECT_UPDATE, ST_PROJECT_RETITLE,
	ST_ADDRESSES_DISABLED,
	ST_PROJECT_BY_ID, ST_PROJECT_PENDING_OF, ST_PROJECT_BY_STATUS_SINCE, ST_PROJECT_BY_STATUS,
	ST_PROJECT_SINCE, ST_PROJECT_ALL, ST_SUBSCRIBER_BY_ADDRESS, ST_SUBSCRIBER_BY_ID,
	ST_PURGE_HELD_BIDS, ST_PURGE_PENDING_BIDS, ST_PURGE_PENDING_POSTS, ST_PROJECTS_VERSION,
	ST_PROJECT_FOLLOWUP_DUE, ST_PROJECT_FOLLOWUP_SET, ST_PROJECT_FOLLOWUP_CLEAR,
	ST_FOLLOWUP_CONFIG_GET,
	ST_FOLLOWUP_CONFIG_SET, ST_FOLLOWUP_RESCHEDULE,
	ST_COUNT_PROJECTS, ST_COUNT_OUTBOX, ST_COUNT_INGESTED, ST_COUNT_SUBSCRIBERS,
	ST_STATUS_QUEUED, ST_STATUS_FAILED, ST_STATUS_SENT, ST_STATUS_OLDEST_QUEUED,
	ST_STATUS_LAST_DIGEST, ST_STATUS_PENDING_POSTS, ST_STATUS_HELD_POSTS,
	ST_STATUS_PENDING_SUBSCRIBERS, ST_QUICK_CHECK,
	ST_OUTBOX_BY_TOKEN,
	ST_LANGUAGE_CHOSEN_GET, ST_LANGUAGE_CHOSEN_SET,
	/* W2B (issue 15): instant profiles with their patterns in one range read */
	ST_PATTERNS_INSTANT_RANGE,
	/* H16a (issue 16): leases on the database's clock, the reaper, the weekly run's shards */
	ST_OUTBOX_REAP, ST_SHARD_ENSURE, ST_SHARD_CLAIM, ST_SHARD_RENEW, ST_SHARD_RELEASE,
	ST_SHARD_OWNER, ST_SUBSCRIBER_DUE_SHARD, ST_PROJECT_LOCK,
	/* H4 (issue 16): the hourly purges (block at the end of this file) */
	ST_SHARD_PURGE, ST_RELAYED_PURGE, ST_INGEST_PURGE, ST_OUTBOX_PURGE_MESSAGE, ST_OUTBOX_PURGE,
	/* H3 (issue 15): the alert pass reads pattern texts, then only the owners of those matched */
	ST_PATTERN_TEXTS_PAGE, ST_PATTERN_OWNERS_INSTANT, ST_SUBSCRIBER_INSTANT_ONE,
	/* migration 28: shared texts of the outbox */
	ST_OUTBOX_PART_INSERT, ST_OUTBOX_MESSAGE_PACKED, ST_OUTBOX_PART_PURGE, ST_COUNT_OUTBOX_PART,
	ST_SUBSCRIBER_ALERTABLE,
	ST_BEGIN, ST_BEGIN_READ, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO, ST_COUNT_
};
static const char *const stmt_sql[ST_COUNT_] = {
	[ST_LANGUAGE_CHOSEN_GET] = "SELECT language_chosen FROM subscribers WHERE id = ?1",
	[ST_LANGUAGE_CHOSEN_SET] = "UPDATE subscribers SET language = ?2, language_chosen = 1"
				   " WHERE id = ?1",
	[ST_INGEST_SEEN] = "SELECT 1 FROM ingested WHERE key = ?1",
	[ST_INGEST_RECORD] = "INSERT INTO ingested(key, spool_name, sha256, message_id, kind,"
			     " result, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_INGEST_REPLAY_SEEN] = "SELECT 1 FROM ingested WHERE replay_key = ?1",
	[ST_INGEST_RECORD_ONCE] = "INSERT OR IGNORE INTO ingested(key, spool_name, sha256,"
				  " message_id, kind, result, at, replay_key, host)"
				  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_PROJECT_INSERT] = "INSERT INTO projects(title, description, poster, poster_name,"
			      " language, status, created, updated, message_id, budget_min,"
			      " budget_max, currency, tax, unit, deadline_days, skills, location,"
			      " flags, published, deadline) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8,"
			      " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
			      " CASE WHEN ?6 = 'open' THEN ?7 END, ?18)",
	[ST_OUTBOX_INSERT] = "INSERT INTO outbox(kind, rcpt, sender, subject, token, created)"
			     " VALUES(?1, ?2, ?3, ?4, ?5, ?7)",
	[ST_OUTBOX_MESSAGE] = "INSERT INTO outbox_message(id, message) VALUES(?1, ?2)",
	/* marks and retries are fenced on the lease: a sender whose lease was taken over
	 * changes nothing */
	[ST_OUTBOX_MARK] = "UPDATE outbox SET state = ?2, last_error = ?3,"
			   " attempts = attempts + 1, sent = CASE WHEN ?2 = 'sent' THEN ?4 END,"
			   " lease_owner = NULL, lease_until = NULL"
			   " WHERE id = ?1 AND lease_owner = ?5 AND state = 'queued'",
	/* a fact, whoever holds the lease: the server accepted the mail (the sent journal of a
	 * crashed sender is folded in by the next one) */
	[ST_OUTBOX_SENT] = "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent = ?2,"
			  " last_error = NULL, lease_owner = NULL, lease_until = NULL"
			  " WHERE id = ?1 AND state <> 'sent'",
	[ST_OUTBOX_RETRY] = "UPDATE outbox SET last_error = ?3, attempts = attempts + 1,"
			    " next_attempt = ?2, lease_owner = NULL, lease_until = NULL"
			    " WHERE id = ?1 AND lease_owner = ?4 AND state = 'queued'",
	/* ISO UTC strings compare as times; ?3 NULL: due or not */
	[ST_OUTBOX_CLAIM] = "UPDATE outbox SET lease_owner = ?1, lease_until = ?2 WHERE id IN"
			    " (SELECT id FROM outbox WHERE state = 'queued' AND (?3 IS NULL OR"
			    " next_attempt IS NULL OR next_attempt <= ?3) AND (lease_until IS NULL"
			    " OR lease_until < ?4) ORDER BY id LIMIT ?5) RETURNING id",
	[ST_OUTBOX_ROW] = "SELECT o.id, rcpt, sender, subject, kind, state, attempts, last_error,"
			  " o.created, token, m.message, next_attempt, p.body"
			  " FROM outbox o JOIN outbox_message m ON m.id = o.id"
			  " LEFT JOIN outbox_part p ON p.id = m.part WHERE o.id = ?1",
	[ST_OUTBOX_RELEASE] = "UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
			      " WHERE lease_owner = ?1 AND state = 'queued'",
	/* a new window when none is open; ISO UTC strings compare as times */
	[ST_SENDER_HIT] = "INSERT INTO sender_rates(address, window_start, count) VALUES(?1, ?2, 1)"
			  " ON CONFLICT(address) DO UPDATE SET"
			  " count = CASE WHEN window_start <= ?3 THEN 1 ELSE count + 1 END,"
			  " told = CASE WHEN window_start <= ?3 THEN NULL ELSE told END,"
			  " window_start = CASE WHEN window_start <= ?3 THEN ?2 ELSE window_start END"
			  " RETURNING count, told",
	[ST_SENDER_TOLD] = "UPDATE sender_rates SET told = ?2 WHERE address = ?1",
	[ST_FETCHED_SEEN] = "SELECT 1 FROM fetched WHERE origin = ?1 AND ident = ?2",
	[ST_FETCHED_ADOPT] = "UPDATE fetched SET ident = ?2 WHERE origin = ?1 AND ident = ''",
	[ST_FETCHED_ADD] = "INSERT OR IGNORE INTO fetched(origin, ident, spooled) VALUES(?1, ?2, ?3)",
	[ST_FETCHED_ALL] = "SELECT origin, ident, spooled FROM fetched ORDER BY origin, ident",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT msg",
	[ST_RELEASE] = "RELEASE msg",
	[ST_ROLLBACK_TO] = "ROLLBACK TO msg",
	[ST_USER_VERSION] = "PRAGMA user_version",
	[ST_PROJECT_SAMPLE] = "SELECT title || char(10) || substr(description, 1, 8000) ||"
		" char(10) || skills FROM projects WHERE status = 'open'"
		" ORDER BY id DESC LIMIT ?1",
	[ST_OUTBOX_LIST] = "SELECT o.id, rcpt, sender, subject, kind, state, attempts, last_error,"
		" o.created, token, CASE WHEN ?2 THEN m.message END, next_attempt,"
		" CASE WHEN ?2 THEN p.body END"
		" FROM outbox o LEFT JOIN outbox_message m ON m.id = o.id"
		" LEFT JOIN outbox_part p ON p.id = m.part"
		" WHERE (?1 IS NULL OR state = ?1) AND o.id > ?3 ORDER BY o.id LIMIT ?4",
	[ST_OUTBOX_OWNERS] = "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'queued' AND"
		" lease_owner IS NOT NULL AND lease_until >= ?1 LIMIT ?2",
	[ST_OUTBOX_RECIPIENT] = "SELECT rcpt FROM outbox WHERE id = ?1",
	[ST_OUTBOX_BOUNCE] = "UPDATE outbox SET bounce_status = ?2 WHERE id = ?1",
	[ST_ADDRESS_INSERT] = "INSERT INTO addresses(address) VALUES(?1) ON CONFLICT DO NOTHING",
	[ST_ADDRESS_BOUNCE] = "UPDATE addresses SET score = score + CASE WHEN ?2 THEN 1.0 ELSE 0.5 END,"
		" hard = hard + (?2 != 0), soft = soft + (?2 = 0), last_bounce = ?3,"
		" last_scored_day = ?3 WHERE address = ?1 AND"
		" (last_scored_day IS NULL OR last_scored_day <> ?3)"
		" RETURNING score >= ?4 AND disabled = 0",
	[ST_ADDRESS_DISABLE] = "UPDATE addresses SET disabled = 1 WHERE address = ?1",
	[ST_ADDRESS_DISABLED] = "SELECT disabled FROM addresses WHERE address = ?1",
	[ST_PATTERNS_LOAD] = "SELECT kind, source FROM patterns WHERE subscriber = ?1"
		" ORDER BY id",
	[ST_SUBSCRIBER_INSERT] = "INSERT INTO subscribers(address, name, language, created)"
		" VALUES(?1, ?2, ?3, ?4)",
	[ST_SUBSCRIBER_TOUCH] = "UPDATE subscribers SET last_activity = ?2 WHERE id = ?1",
	[ST_CONFIRMATION_LATEST] = "SELECT max(created) FROM confirmations WHERE address = ?1"
		" AND action = ?2",
	/* an active subscriber leaving instant alerts (which do not move last_digest) starts
	 * the window of its first selection where the alerts stopped: the alerts' watermark,
	 * or now if that is later (a project at the mark may come twice, none is lost) */
	[ST_SUBSCRIBER_PROFILE] = "UPDATE subscribers SET name = ?2, language = ?3, frequency = ?4,"
		" day = ?5, remote_only = ?6, budget_min = ?7, budget_currency = ?8,"
		" languages = ?9, last_digest = CASE WHEN frequency = 'instant' AND"
		" ?4 <> 'instant' AND status = 'active' THEN coalesce(min((SELECT at FROM"
		" digest_marks WHERE name = 'alerts'), ?10), ?10) ELSE last_digest END WHERE id = ?1",
	[ST_SUBSCRIBER_STATUS] = "UPDATE subscribers SET status = ?3 WHERE id = ?1 AND"
		" (?2 IS NULL OR status = ?2) AND status <> ?3",
	[ST_SUBSCRIBER_CONFIRM] = "UPDATE subscribers SET status = 'active', confirmed = ?3"
		" WHERE id = ?1 AND status = ?2",
	[ST_SUBSCRIBER_DIGEST] = "UPDATE subscribers SET last_digest = ?2 WHERE id = ?1 AND"
		" status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
		" WHERE a.address = subscribers.address AND a.disabled)",
	[ST_PATTERN_ADD] = "INSERT INTO patterns(subscriber, kind, source, created)"
		" VALUES(?1, ?2, ?3, ?4)",
	[ST_PATTERNS_CLEAR] = "DELETE FROM patterns WHERE subscriber = ?1 AND kind = ?2",
	[ST_SUBSCRIBER_LIST] = SUBSCRIBER_LIST_SELECT " WHERE s.id > ?1 ORDER BY s.id LIMIT ?2",
	[ST_CONFIRMATION_INSERT] = "INSERT INTO confirmations(address, subscriber, action,"
		" payload, created, expires) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_CONFIRMATION_GET] = "SELECT address, subscriber, action, payload, expires, used"
		" FROM confirmations WHERE id = ?1",
	[ST_CONFIRMATION_USE] = "UPDATE confirmations SET used = ?2 WHERE id = ?1 AND used IS NULL",
	[ST_CONFIRMATIONS_RECENT] = "SELECT count(*) FROM confirmations WHERE address = ?1"
		" AND created > ?2 AND used IS NULL",
	[ST_DIGEST_CLAIM] = "INSERT OR IGNORE INTO digests(subscriber, period, claimed,"
		" projects) VALUES(?1, ?2, ?3, ?4)",
	[ST_DIGEST_CLAIMED] = "SELECT 1 FROM digests WHERE subscriber = ?1 AND period = ?2",
	[ST_SUBSCRIBER_DUE_PAGE] = SUBSCRIBER_LIST_SELECT " WHERE s.next_due <= ?3"
		" AND (s.next_due, s.id) > (?4, ?1) ORDER BY s.next_due, s.id LIMIT ?2",
	[ST_SUBSCRIBER_DUE_OLDEST] = "SELECT min(coalesce(last_digest, confirmed, created))"
		" FROM subscribers WHERE next_due <= ?1",
	[ST_SUBSCRIBER_NEXT_DUE] = "UPDATE subscribers SET next_due = ?2 WHERE id = ?1"
		" AND next_due IS NOT DISTINCT FROM ?3",
	[ST_SUBSCRIBER_INSTANT_PAGE] = SUBSCRIBER_LIST_SELECT " WHERE s.status = 'active'"
		" AND s.frequency = 'instant' AND s.id > ?1 ORDER BY s.id LIMIT ?2",
	[ST_ALERT_MARK_GET] = "SELECT at, project FROM digest_marks WHERE name = 'alerts'",
	[ST_ALERT_MARK_SET] = "INSERT OR REPLACE INTO digest_marks(name, at, project)"
		" VALUES('alerts', ?1, ?2)",
	[ST_PROJECT_NEWS] = "SELECT 1 FROM projects WHERE status = 'open' AND"
		" coalesce(published, created) >= ?1 AND (coalesce(published, created) > ?1"
		" OR id > ?2) LIMIT 1",
	[ST_SELECTION_ADD] = "INSERT INTO selections(subscriber, message_id, position, project,"
		" created) VALUES(?1, ?2, ?3, ?4, ?5)",
	[ST_SELECTION_OF] = "SELECT project FROM selections WHERE subscriber = ?1 AND"
		" message_id = ?2 ORDER BY position LIMIT ?3",
	[ST_SELECTION_PURGE] = "DELETE FROM selections WHERE id IN (SELECT id FROM selections"
		" INDEXED BY selections_created WHERE created < ?1 LIMIT 10000)",
	[ST_SELECTION_LATEST] = "SELECT project FROM selections WHERE subscriber = ?1 AND"
		" message_id = (SELECT message_id FROM selections WHERE subscriber = ?1"
		" ORDER BY id DESC LIMIT 1) ORDER BY position LIMIT ?2",
	[ST_PATTERN_LIMIT_REPORT] = "UPDATE patterns SET limit_reported = ?3 WHERE subscriber = ?1"
		" AND source = ?2 AND limit_reported IS NULL",
	[ST_BID_COUNT] = "SELECT count(*) FROM bids WHERE project = ?1 AND"
		" status = 'active' AND subscriber <> ?2",
	[ST_BID_REPLACE] = "UPDATE bids SET status = 'replaced' WHERE project = ?1"
		" AND subscriber = ?2 AND status = 'active'",
	[ST_BID_INSERT] = "INSERT INTO bids(project, subscriber, address, amount, currency,"
		" tax, unit, delivery_days, milestones, followup_days, message, why,"
		" status, created, message_id, delivery) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
		" ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	[ST_BID_GET] = "SELECT "
		BID_COLUMNS
		" FROM bids WHERE id = ?1",
	[ST_BID_STATUS] = "UPDATE bids SET status = ?3 WHERE id = ?1 AND status = ?2",
	[ST_BID_ACTIVATE_REPLACE] = "UPDATE bids SET status = 'replaced' WHERE status = 'active'"
		" AND id <> ?1 AND (project, subscriber) = (SELECT project,"
		" subscriber FROM bids WHERE id = ?1 AND status = 'held')",
	[ST_BID_ACTIVATE] = "UPDATE bids SET status = 'active' WHERE id = ?1 AND"
		" status = 'held'",
	[ST_BID_HELD_COUNT] = "SELECT (SELECT count(*) FROM bids WHERE project = ?1 AND"
		" status = 'held' AND created >= ?3), (SELECT count(*) FROM bids"
		" WHERE address = ?2 AND status = 'held' AND created >= ?3)",
	[ST_BID_SELECT] = "SELECT "
		BID_COLUMNS
		" FROM bids WHERE project = ?1 AND"
		" (?2 IS NULL OR status = ?2) AND id > ?3 ORDER BY id LIMIT ?4",
	[ST_BID_CURRENT] = "SELECT id FROM bids WHERE project = ?1 AND subscriber = ?2"
		" AND status = 'active' ORDER BY id DESC LIMIT 1",
	[ST_RELAYED_ADD] = "INSERT INTO relayed(bid, body, created) VALUES(?1, ?2, ?3)",
	[ST_RELAYED_LIST] = "SELECT body FROM relayed WHERE bid = ?1 ORDER BY id DESC"
		" LIMIT ?2",
	[ST_PROJECT_DELETE_PENDING] = "DELETE FROM projects WHERE status = 'pending_confirmation'"
		" AND poster = ?1 COLLATE NOCASE",
	[ST_PROJECT_UNASKED] = "SELECT min(id) FROM projects p WHERE status ="
		" 'pending_confirmation' AND NOT EXISTS (SELECT 1 FROM"
		" confirmations c WHERE c.address = p.poster AND c.action = 'post'"
		" AND (c.used IS NULL OR c.payload = CAST(p.id AS TEXT)))"
		" GROUP BY poster COLLATE NOCASE ORDER BY 1 LIMIT ?1",
	[ST_POSTER_CONFIRMED] = "SELECT 1 FROM posters WHERE address = ?1",
	[ST_POSTER_CONFIRM] = "INSERT OR IGNORE INTO posters(address, confirmed) VALUES(?1, ?2)",
	[ST_PROJECT_STATUS] = "UPDATE projects SET status = ?3, updated = ?4, published ="
		" CASE WHEN ?3 = 'open' THEN coalesce(published, ?4) ELSE published"
		" END WHERE id = ?1 AND status = ?2",
	[ST_NOTICE_CLAIM] = "INSERT OR IGNORE INTO notices(kind, ref, sent) VALUES(?1, ?2, ?3)",
	[ST_PROJECT_ANSWERED] = "SELECT client_answered IS NOT NULL FROM projects WHERE id = ?1",
	[ST_PROJECT_MARK_ANSWERED] = "UPDATE projects SET client_answered = ?2 WHERE id = ?1",
	[ST_RATING_INSERT] = "INSERT OR IGNORE INTO ratings(bid, subscriber, score, comment,"
		" created) VALUES(?1, ?2, ?3, ?4, ?5)",
	[ST_FREELANCER_RECORD] = "SELECT (SELECT avg(score) FROM ratings WHERE subscriber = ?1),"
		" (SELECT count(*) FROM ratings WHERE subscriber = ?1),"
		" (SELECT count(*) FROM bids WHERE subscriber = ?1 AND"
		" status = 'accepted')",
	[ST_PROJECT_UPDATE] = "UPDATE projects SET description = ?2, budget_min = ?3,"
		" budget_max = ?4, currency = ?5, tax = ?6, unit = ?7,"
		" deadline_days = ?8, skills = ?9, location = ?10, updated = ?11,"
		" flags = ?12, deadline = ?13 WHERE id = ?1",
	[ST_PROJECT_RETITLE] = "UPDATE projects SET title = ?2, updated = ?3 WHERE id = ?1",
	[ST_ADDRESSES_DISABLED] = "SELECT address FROM addresses WHERE disabled ORDER BY address",
	[ST_PROJECT_BY_ID] = PROJECT_SELECT "id = ?1" PROJECT_PAGE,
	[ST_PROJECT_PENDING_OF] = PROJECT_SELECT "status = 'pending_confirmation' AND"
		" poster = ?5 COLLATE NOCASE" PROJECT_PAGE,
	[ST_PROJECT_BY_STATUS_SINCE] = PROJECT_SELECT "status = ?2 AND"
		" coalesce(published, created) >= ?3" PROJECT_PAGE,
	[ST_PROJECT_BY_STATUS] = PROJECT_SELECT "status = ?2" PROJECT_PAGE,
	[ST_PROJECT_SINCE] = PROJECT_SELECT "created >= ?3" PROJECT_PAGE,
	[ST_PROJECT_ALL] = PROJECT_SELECT "1" PROJECT_PAGE,
	[ST_SUBSCRIBER_BY_ADDRESS] = "SELECT " SUBSCRIBER_COLUMNS " FROM subscribers WHERE address = ?1",
	[ST_SUBSCRIBER_BY_ID] = "SELECT " SUBSCRIBER_COLUMNS " FROM subscribers WHERE id = ?2",
	/* the projects due for a follow-up look (followups_due), by id */
	[ST_PROJECT_FOLLOWUP_DUE] = PROJECT_SELECT "id IN (SELECT project FROM followups"
		" WHERE due <= ?3)" PROJECT_PAGE,
	[ST_PROJECT_FOLLOWUP_SET] = "INSERT OR REPLACE INTO followups(project, due)"
		" VALUES(?1, ?2)",
	[ST_PROJECT_FOLLOWUP_CLEAR] = "DELETE FROM followups WHERE project = ?1",
	[ST_FOLLOWUP_CONFIG_GET] = "SELECT value FROM meta WHERE key = 'followup_config'",
	[ST_FOLLOWUP_CONFIG_SET] = "INSERT OR REPLACE INTO meta(key, value)"
		" VALUES('followup_config', ?1)",
	[ST_FOLLOWUP_RESCHEDULE] = "INSERT OR REPLACE INTO followups(project, due)"
		" SELECT id, '' FROM projects WHERE status IN ('open', 'awarded')",
	/* purges read their rows by index (bids_status, projects_status) */
	[ST_PURGE_HELD_BIDS] = "DELETE FROM bids WHERE status = 'held' AND created < ?2",
	[ST_PURGE_PENDING_BIDS] = "DELETE FROM bids WHERE project IN (SELECT id FROM projects WHERE"
		" status = 'pending_confirmation' AND created < ?1)",
	[ST_PURGE_PENDING_POSTS] = "DELETE FROM projects WHERE status = 'pending_confirmation' AND"
		" created < ?1",
	/* the open set (its size and the sum of its ids) catches a publication or a closing
	 * in the same second as the last update; only open rows are read (projects_status), so
	 * unconfirmed or held posts cost nothing here, and bids are counted from their index */
	[ST_PROJECTS_VERSION] = "SELECT count(*) || ':' || coalesce(max(updated), '') || ':' ||"
		" total(id) || ':' || (SELECT count(*) || ':' || coalesce(max(id), 0) ||"
		" ':' || total(status = 'active') FROM bids INDEXED BY bids_project)"
		" FROM projects WHERE status = 'open'",
	[ST_COUNT_PROJECTS] = "SELECT count(*) FROM projects",
	[ST_COUNT_OUTBOX] = "SELECT count(*) FROM outbox",
	[ST_COUNT_INGESTED] = "SELECT count(*) FROM ingested",
	[ST_COUNT_SUBSCRIBERS] = "SELECT count(*) FROM subscribers",
	[ST_STATUS_QUEUED] = "SELECT count(*) FROM outbox WHERE state = 'queued'",
	[ST_STATUS_FAILED] = "SELECT count(*) FROM outbox WHERE state = 'failed'",
	[ST_STATUS_SENT] = "SELECT count(*) FROM outbox WHERE state = 'sent'",
	[ST_STATUS_OLDEST_QUEUED] = "SELECT min(created) FROM outbox WHERE state = 'queued'",
	[ST_OUTBOX_BY_TOKEN] = "SELECT m.message, p.body FROM outbox o JOIN outbox_message m"
			       " ON m.id = o.id LEFT JOIN outbox_part p ON p.id = m.part"
			       " WHERE o.token = ?1 ORDER BY o.id DESC LIMIT 1",
	[ST_STATUS_LAST_DIGEST] = "SELECT max(claimed) FROM digests",
	[ST_STATUS_PENDING_POSTS] = "SELECT count(*) FROM projects WHERE status = 'pending_confirmation'",
	[ST_STATUS_HELD_POSTS] = "SELECT count(*) FROM projects WHERE status = 'held'",
	[ST_STATUS_PENDING_SUBSCRIBERS] = "SELECT count(*) FROM subscribers WHERE status = 'pending'",
	[ST_QUICK_CHECK] = "PRAGMA quick_check",
	/* W2B (issue 15): the patterns of the active instant subscribers in (?1, ?2], by
	 * subscriber then pattern id (the patterns_subscriber index, no sort) */
	[ST_PATTERNS_INSTANT_RANGE] = "SELECT p.subscriber, p.kind, p.source FROM patterns p"
		" JOIN subscribers s ON s.id = p.subscriber WHERE p.subscriber > ?1"
		" AND p.subscriber <= ?2 AND s.status = 'active' AND s.frequency = 'instant'"
		" ORDER BY p.subscriber, p.id",
	/* H16a (issue 16): on PostgreSQL every lease time below is the database's clock
	 * (db_dialect_overrides.h): ?N "now" is the host's, kept by SQLite only */
	[ST_OUTBOX_REAP] = "UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
		" WHERE state = 'queued' AND lease_until < ?1",
	[ST_SHARD_ENSURE] = "INSERT OR IGNORE INTO digest_shards(period, shard) VALUES(?1, ?2)",
	[ST_SHARD_CLAIM] = "UPDATE digest_shards SET owner = ?3, lease_until = ?4"
		" WHERE period = ?1 AND shard = ?2 AND (lease_until IS NULL OR lease_until < ?5)"
		" RETURNING shard",
	[ST_SHARD_RENEW] = "UPDATE digest_shards SET lease_until = max(?4, ?5)"
		" WHERE period = ?1 AND shard = ?2 AND owner = ?3",
	[ST_SHARD_RELEASE] = "UPDATE digest_shards SET owner = NULL, lease_until = NULL, done = ?4"
		" WHERE period = ?1 AND shard = ?2 AND owner = ?3",
	[ST_SHARD_OWNER] = "SELECT owner FROM digest_shards WHERE period = ?1 AND shard = ?2"
		" AND owner IS NOT NULL",
	[ST_SUBSCRIBER_DUE_SHARD] = SUBSCRIBER_LIST_SELECT " WHERE s.next_due <= ?3"
		" AND (s.next_due, s.id) > (?4, ?1) AND s.id % ?5 = ?6"
		" ORDER BY s.next_due, s.id LIMIT ?2",
	/* the parent row of a check-then-act (the bid cap): FOR UPDATE on PostgreSQL, so that
	 * under READ COMMITTED the count that follows sees every bid committed before it */
	[ST_PROJECT_LOCK] = "SELECT id FROM projects WHERE id = ?1",
	/* H4 (issue 16): the hourly purges, each bounded to 10,000 rows a call. A shard's period
	 * begins with its run's day (digest.c: YYYY-MM-DD/n): compared as text with a day. */
	[ST_SHARD_PURGE] = "DELETE FROM digest_shards WHERE period < ?1",
	[ST_RELAYED_PURGE] = "DELETE FROM relayed WHERE id IN (SELECT r.id FROM relayed r"
		" WHERE r.created < ?1 AND NOT EXISTS (SELECT 1 FROM bids b JOIN projects p"
		" ON p.id = b.project WHERE b.id = r.bid AND p.status = 'open') LIMIT 10000)",
	[ST_INGEST_PURGE] = "DELETE FROM ingested WHERE key IN (SELECT key FROM ingested"
		" WHERE at < ?1 LIMIT 10000)",
	/* the same 10,000 oldest sent rows, their message first (the outbox_state index, in id
	 * order: the oldest first) */
	[ST_OUTBOX_PURGE_MESSAGE] = "DELETE FROM outbox_message WHERE id IN (SELECT id FROM outbox"
		" WHERE state = 'sent' AND sent < ?1 ORDER BY id LIMIT 10000)",
	[ST_OUTBOX_PURGE] = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
		" WHERE state = 'sent' AND sent < ?1 ORDER BY id LIMIT 10000)",
	/* H3 (issue 15): the distinct pattern texts by id, in pages (migration 26) */
	[ST_PATTERN_TEXTS_PAGE] = "SELECT id, source FROM pattern_texts WHERE id > ?1"
		" ORDER BY id LIMIT ?2",
	/* the active instant subscribers with a pattern of text ?1 (not an exclude unless ?2) */
	[ST_PATTERN_OWNERS_INSTANT] = "SELECT DISTINCT p.subscriber FROM patterns p"
		" JOIN subscribers s ON s.id = p.subscriber WHERE p.source = ?1"
		" AND (p.kind <> 'exclude' OR ?2 <> 0) AND s.status = 'active'"
		" AND s.frequency = 'instant'",
	[ST_SUBSCRIBER_INSTANT_ONE] = SUBSCRIBER_LIST_SELECT " WHERE s.id = ?1"
		" AND s.status = 'active' AND s.frequency = 'instant'",
	[ST_OUTBOX_PART_INSERT] = "INSERT INTO outbox_part(body, created) VALUES(?1, ?2)",
	/* whether an instant alert may still go: read, not written (an UPDATE of every
	 * alerted subscriber's row dirtied a page of the table per alert); locked FOR SHARE on
	 * PostgreSQL, so that an unsubscribe waits for the alert's commit or is seen by it */
	[ST_SUBSCRIBER_ALERTABLE] = "SELECT 1 FROM subscribers WHERE id = ?1 AND"
		" status = 'active' AND NOT EXISTS (SELECT 1 FROM addresses a"
		" WHERE a.address = subscribers.address AND a.disabled)",
	[ST_COUNT_OUTBOX_PART] = "SELECT count(*) FROM outbox_part",
	[ST_OUTBOX_MESSAGE_PACKED] = "INSERT INTO outbox_message(id, message, part)"
		" VALUES(?1, ?2, ?3)",
	/* the shared texts no message names any more (their messages purged) */
	[ST_OUTBOX_PART_PURGE] = "DELETE FROM outbox_part WHERE id IN (SELECT p.id FROM"
		" outbox_part p WHERE p.created < ?1 AND NOT EXISTS (SELECT 1 FROM outbox_message m"
		" WHERE m.part = p.id) LIMIT 10000)",
};

struct store {
	struct db *db;
	enum db_error err;		/* the class of the last error, DB_ERR_NONE after a success */
	int in_tx;		/* between store_begin and its commit or rollback */
	int tx_lost;		/* the connection was lost in it: no statement until it ends */
	int shared;			/* a database server several hosts may share (PostgreSQL) */
	struct share_cache *share;	/* the shared texts of this connection's outbox inserts */
};

_Static_assert(ST_COUNT_ <= DB_MAX_STMTS, "the driver caches every statement by id");

static void share_forget(struct store *s);

/* Records the class of the driver's last error (a lost PostgreSQL connection is connected
 * again, so that the next unit of work finds it); always -1. */
static int fail(struct store *s, int rc, const char *what)
{
	(void)rc;
	s->err = db_error_class(s->db);
	if (s->err == DB_ERR_NONE)
		s->err = DB_ERR_OTHER;
	log_err("stage=store op=%s error=\"%s\"", what, db_errmsg(s->db));
	if (s->err == DB_ERR_RECONNECT && s->in_tx)
		s->tx_lost = 1;	/* the rest of it would run, committed, on the new connection */
	if (s->err == DB_ERR_RECONNECT)
		share_forget(s);	/* a failover may have lost the shared texts it inserted */
	if (s->err == DB_ERR_RECONNECT && db_reconnect(s->db, 5000) == 0)
		s->err = DB_ERR_RECONNECT;	/* still reported: the transaction was lost */
	return -1;
}

static struct db_stmt *stmt(struct store *s, enum stmt_id id)
{
	if (s->tx_lost && id != ST_BEGIN) {
		s->err = DB_ERR_RECONNECT;
		return NULL;
	}
	struct db_stmt *st = db_prepare(s->db, (int)id, stmt_sql[id]);
	if (!st)
		fail(s, DB_STEP_ERROR, "prepare");
	return st;
}

/* Runs a statement that returns no rows; 0 or -1. */
static int run(struct store *s, struct db_stmt *st, const char *what)
{
	if (!st)
		return -1;
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE && rc != DB_STEP_ROW)
		return fail(s, rc, what);
	s->err = DB_ERR_NONE;
	return 0;
}

static void bind_text(struct db_stmt *st, int i, const char *v)
{
	db_bind_text(st, i, v);
}

/* ---------------------------------------------------------------- the database value */
/* The `database` value names a backend and where its data is:
 *   PATH                     a SQLite file (absolute, or relative to the config file's folder)
 *   sqlite:PATH              the same, written as a URL (sqlite:var/bidmail.db, sqlite:/abs)
 *   sqlite:///ABSOLUTE/PATH  the same (the empty host of a file URL)
 *   postgresql://… postgres://…  a PostgreSQL server (libpq's URL: hosts, port, options)
 * A value is a URL when it starts with a scheme (a letter, then letters, digits, + - .) and a
 * colon before any slash; any other value is a plain path (a file whose name has a colon
 * before its first slash is written ./NAME or sqlite:NAME). A third backend is one more
 * branch here and in store_open, and one more driver behind db.h. */
enum db_backend { DB_SQLITE, DB_POSTGRES, DB_UNKNOWN };

/* The backend of a database value and, for SQLite, its file (*path points into value); for
 * DB_UNKNOWN *path is NULL and *why says what is accepted. */
static enum db_backend database_parse(const char *value, const char **path, const char **why)
{
	size_t n = 0;
	*path = NULL;
	*why = NULL;
	if ((value[0] >= 'a' && value[0] <= 'z') || (value[0] >= 'A' && value[0] <= 'Z'))
		n = strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
	if (n == 0 || value[n] != ':') {
		*path = value;
		return DB_SQLITE;
	}
	const char *rest = value + n + 1;
	if (n == 6 && !strncasecmp(value, "sqlite", 6)) {
		if (!strncmp(rest, "///", 3))
			*path = rest + 2;
		else if (*rest && strncmp(rest, "//", 2))
			*path = rest;
		if (*path)
			return DB_SQLITE;
		*why = "sqlite: takes a file: sqlite:PATH or sqlite:///ABSOLUTE/PATH";
		return DB_UNKNOWN;
	}
	if ((n == 10 && !strncasecmp(value, "postgresql", 10)) ||
	    (n == 8 && !strncasecmp(value, "postgres", 8))) {
		return DB_POSTGRES;
	}
	*why = "unknown scheme; expected PATH, sqlite:PATH or sqlite:///ABSOLUTE/PATH";
	return DB_UNKNOWN;
}

char *store_database_resolve(const char *value, const char *dir, const char **why)
{
	const char *path;
	enum db_backend backend = database_parse(value, &path, why);
	if (backend == DB_POSTGRES)
		return xstrdup(value);	/* a URL: nothing relative in it */
	if (backend != DB_SQLITE)
		return NULL;
	if (!*path || path[0] == '/')
		return xstrdup(value);
	/* relative: against dir, the URL form kept */
	return xasprintf("%.*s%s/%s", (int)(path - value), value, dir, path);
}

char *store_database_file(const char *database)
{
	const char *path, *why;
	if (database_parse(database, &path, &why) != DB_SQLITE || !*path)
		return NULL;
	return xstrdup(path);
}

int store_prepare(const char *database)
{
	char *file = store_database_file(database);
	char *slash = file ? strrchr(file, '/') : NULL;
	int rc = 0;
	if (slash && slash != file) {
		*slash = '\0';
		rc = spool_mkdirs(file, 0750);
	}
	free(file);
	return rc;
}

void store_set_stop_flag(volatile int *flag)
{
	db_set_stop_flag(flag);
}

struct store *store_open(const char *database, int create)
{
	const char *path, *why;
	enum db_backend backend = database_parse(database, &path, &why);
	if (backend == DB_UNKNOWN) {
		log_err("stage=store database=%s error=\"%s\"", database, why);
		return NULL;
	}
	struct db *db = backend == DB_SQLITE ? db_sqlite_open(path, create) : db_pg_connect(database);
	if (!db)
		return NULL;
	struct store *s = xcalloc(1, sizeof *s);
	s->db = db;
	s->shared = backend == DB_POSTGRES;
	if (db_migrate(s->db, migrations, N_MIGRATIONS) < 0)
		return store_close(s);
	return s;
}

struct store *store_close(struct store *s)
{
	if (!s)
		return NULL;
	share_forget(s);
	db_close(s->db);
	free(s);
	return NULL;
}

int store_begin(struct store *s)
{
	s->tx_lost = 0;
	int rc = run(s, stmt(s, ST_BEGIN), "begin");
	s->in_tx = rc == 0;
	return rc;
}

/* A transaction whose connection was lost fails to commit (none of it was kept). */
int store_commit(struct store *s)
{
	int rc = s->tx_lost ? -1 : run(s, stmt(s, ST_COMMIT), "commit");
	if (rc < 0)
		share_forget(s);
	if (rc == 0 || s->tx_lost)
		s->tx_lost = s->in_tx = 0;
	return rc;
}
int store_savepoint(struct store *s) { return run(s, stmt(s, ST_SAVEPOINT), "savepoint"); }
int store_savepoint_release(struct store *s) { return run(s, stmt(s, ST_RELEASE), "release"); }

int store_rollback(struct store *s)
{
	share_forget(s);	/* the parts it inserted may be gone */
	int lost = s->tx_lost;
	s->tx_lost = s->in_tx = 0;
	if (lost || !db_in_transaction(s->db))
		return 0;
	return run(s, stmt(s, ST_ROLLBACK), "rollback");
}

int store_savepoint_rollback(struct store *s)
{
	share_forget(s);
	if (run(s, stmt(s, ST_ROLLBACK_TO), "rollback-to") < 0)
		return -1;
	return store_savepoint_release(s);
}

enum store_error store_error_kind(const struct store *s)
{
	switch (s->err) {
	case DB_ERR_NONE:
		return STORE_ERR_NONE;
	case DB_ERR_RETRY:
	case DB_ERR_RECONNECT:
		return STORE_ERR_TRANSIENT;
	case DB_ERR_CONFLICT:
		return STORE_ERR_CONFLICT;
	default:
		return STORE_ERR_FATAL;
	}
}

int store_error_is_transient(const struct store *s)
{
	return store_error_kind(s) == STORE_ERR_TRANSIENT;
}

const char *store_errmsg(const struct store *s)
{
	return db_errmsg(s->db);
}

int store_schema_version(struct store *s)
{
	return db_schema_version(s->db);
}

/* 1 when the cached statement id finds a row for key, 0 when not, -1 on error. */
static int row_exists(struct store *s, enum stmt_id id, const char *key, const char *what)
{
	struct db_stmt *st = stmt(s, id);
	if (!st)
		return -1;
	bind_text(st, 1, key);
	int rc = db_step(st);
	db_reset(st);
	if (rc == DB_STEP_ROW)
		return 1;
	if (rc == DB_STEP_DONE)
		return 0;
	return fail(s, rc, what);
}

int store_ingest_seen(struct store *s, const char *key)
{
	return row_exists(s, ST_INGEST_SEEN, key, "ingest-seen");
}

int store_ingest_replay_seen(struct store *s, const char *replay_key)
{
	return row_exists(s, ST_INGEST_REPLAY_SEEN, replay_key, "ingest-replay-seen");
}

int store_fetched_seen(struct store *s, const char *origin, const char *ident)
{
	struct db_stmt *st = stmt(s, ST_FETCHED_SEEN);
	if (!st)
		return -1;
	bind_text(st, 1, origin);
	bind_text(st, 2, ident);
	int rc = db_step(st);
	db_reset(st);
	if (rc == DB_STEP_ROW)
		return 1;
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "fetched-seen");
	/* a row written before identities were recorded: the message seen there first */
	st = stmt(s, ST_FETCHED_ADOPT);
	if (!st)
		return -1;
	bind_text(st, 1, origin);
	bind_text(st, 2, ident);
	if (run(s, st, "fetched-adopt") < 0)
		return -1;
	return db_changes(s->db) > 0;
}

int store_fetched_add(struct store *s, const char *origin, const char *ident, time_t now)
{
	struct db_stmt *st = stmt(s, ST_FETCHED_ADD);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, origin);
	bind_text(st, 2, ident);
	bind_text(st, 3, at);
	return run(s, st, "fetched-add");
}

static char *col_text(struct db_stmt *st, int i);

int store_fetched_each(struct store *s,
		       int (*fn)(const char *origin, const char *ident, const char *spooled, void *arg),
		       void *arg)
{
	struct db_stmt *st = stmt(s, ST_FETCHED_ALL);
	if (!st)
		return -1;
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		char *origin = col_text(st, 0), *ident = col_text(st, 1), *at = col_text(st, 2);
		int r = fn(origin ? origin : "", ident ? ident : "", at ? at : "", arg);
		free(origin);
		free(ident);
		free(at);
		if (r < 0) {
			db_reset(st);
			return -1;
		}
		n++;
	}
	db_reset(st);
	return rc == DB_STEP_DONE ? n : fail(s, rc, "fetched-each");
}

int store_ingest_record(struct store *s, const char *key, const char *spool_name,
			const char *sha256, const char *message_id, const char *kind,
			const char *result, time_t now)
{
	struct db_stmt *st = stmt(s, ST_INGEST_RECORD);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, key);
	bind_text(st, 2, spool_name);
	bind_text(st, 3, sha256);
	bind_text(st, 4, message_id);
	bind_text(st, 5, kind);
	bind_text(st, 6, result);
	bind_text(st, 7, at);
	return run(s, st, "ingest-record");
}

int store_ingest_record_once(struct store *s, const struct ingest_row *r, time_t now)
{
	struct db_stmt *st = stmt(s, ST_INGEST_RECORD_ONCE);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, r->key);
	bind_text(st, 2, r->spool_name);
	bind_text(st, 3, r->sha256);
	bind_text(st, 4, r->message_id);
	bind_text(st, 5, r->kind);
	bind_text(st, 6, r->result);
	bind_text(st, 7, at);
	bind_text(st, 8, r->replay_key);
	bind_text(st, 9, r->host);
	if (run(s, st, "ingest-record-once") < 0)
		return -1;
	return db_changes(s->db) > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- states */
/* The text of each state in the database, indexed by the enum (bidmail.h), and the moves the
 * program makes: a pair absent from a table is refused by the entity's state_set function. */
static const char *const project_names[] = {
	[PROJECT_PENDING_CONFIRMATION] = "pending_confirmation", [PROJECT_HELD] = "held",
	[PROJECT_OPEN] = "open", [PROJECT_AWARDED] = "awarded", [PROJECT_CLOSED] = "closed",
	[PROJECT_EXPIRED] = "expired", [PROJECT_REJECTED] = "rejected",
};
static const char *const bid_names[] = {
	[BID_ACTIVE] = "active", [BID_HELD] = "held", [BID_REPLACED] = "replaced",
	[BID_CANCELLED] = "cancelled", [BID_CLOSED] = "closed", [BID_ACCEPTED] = "accepted",
	[BID_DECLINED] = "declined",
};
static const char *const sub_names[] = {
	[SUB_PENDING] = "pending", [SUB_ACTIVE] = "active", [SUB_PAUSED] = "paused",
	[SUB_UNSUBSCRIBED] = "unsubscribed", [SUB_DISABLED] = "disabled",
};
static const char *const outbox_names[] = {
	[OUTBOX_QUEUED] = "queued", [OUTBOX_SENT] = "sent", [OUTBOX_FAILED] = "failed",
};

struct move { int from, to; };
static const struct move project_moves[] = {
	{ PROJECT_PENDING_CONFIRMATION, PROJECT_OPEN },	/* the poster confirmed */
	{ PROJECT_PENDING_CONFIRMATION, PROJECT_HELD },	/* ... a suspected scam */
	{ PROJECT_HELD, PROJECT_OPEN },			/* a moderator approved */
	{ PROJECT_HELD, PROJECT_REJECTED },		/* ... or rejected */
	{ PROJECT_OPEN, PROJECT_AWARDED },		/* the client accepted a quote */
	{ PROJECT_OPEN, PROJECT_CLOSED },		/* the client closed it */
	{ PROJECT_OPEN, PROJECT_EXPIRED },		/* project_ttl passed */
	{ PROJECT_OPEN, PROJECT_HELD },			/* a correction scored as a scam */
};
static const struct move bid_moves[] = {
	{ BID_HELD, BID_ACTIVE },		/* the freelancer confirmed */
	{ BID_HELD, BID_CANCELLED },		/* ... or said no */
	{ BID_ACTIVE, BID_REPLACED },		/* a newer bid of the same freelancer */
	{ BID_ACTIVE, BID_ACCEPTED },		/* the client awarded it */
	{ BID_ACTIVE, BID_DECLINED },		/* ... or declined it */
	{ BID_ACTIVE, BID_CLOSED },		/* the project closed, or went to another */
	{ BID_ACTIVE, BID_CANCELLED },		/* the freelancer withdrew it (`retirer`) */
};
static const struct move sub_moves[] = {
	{ SUB_PENDING, SUB_ACTIVE },		/* double opt-in answered */
	{ SUB_ACTIVE, SUB_PAUSED },		/* `pause`, or no sign of life */
	{ SUB_PAUSED, SUB_ACTIVE },		/* `resume`, or a confirmed subscribe-and-bid */
	{ SUB_UNSUBSCRIBED, SUB_PENDING },	/* subscribes again: a new opt-in */
	{ SUB_UNSUBSCRIBED, SUB_ACTIVE },	/* a confirmed subscribe-and-bid */
	{ SUB_STATE_ANY, SUB_UNSUBSCRIBED },	/* `unsubscribe`, the one-click link */
};
static const struct move outbox_moves[] = {
	{ OUTBOX_QUEUED, OUTBOX_SENT },
	{ OUTBOX_QUEUED, OUTBOX_FAILED },
	{ OUTBOX_FAILED, OUTBOX_SENT },		/* the SMTP journal replayed after a crash */
};

/* The name of state st in names (n of them); "unknown" past them. */
static const char *state_name(const char *const *names, size_t n, int st)
{
	return st >= 0 && (size_t)st < n && names[st] ? names[st] : "unknown";
}

/* The state whose name is column i (unknown: n, the _UNKNOWN value of every enum). */
static int col_state(struct db_stmt *st, int i, const char *const *names, size_t n)
{
	const char *t = (const char *)db_column_text(st, i);
	for (size_t k = 0; t && k < n; k++)
		if (names[k] && !strcmp(t, names[k]))
			return (int)k;
	log_warn("stage=store column=%d state=\"%s\" error=\"unknown state\"", i, t ? t : "NULL");
	return (int)n;
}

/* 1 when moves (n of them) list from -> to; a move from "any" (any_value) allows every from. */
static int state_legal(const struct move *moves, size_t n, int any_value, int from, int to)
{
	for (size_t k = 0; k < n; k++)
		if (moves[k].to == to && (moves[k].from == from || moves[k].from == any_value))
			return 1;
	return 0;
}

/* Refuses an illegal move of entity what (logged with the reason); -1. */
static int state_refuse(struct store *s, const char *what, int64_t id, const char *from,
			const char *to)
{
	s->err = DB_ERR_CONFLICT;
	log_warn("stage=store %s=%lld from=%s to=%s result=refused reason=\"illegal transition\"",
		 what, (long long)id, from, to);
	return -1;
}

_Static_assert(sizeof project_names / sizeof *project_names == PROJECT_STATE_UNKNOWN, "names");
_Static_assert(sizeof bid_names / sizeof *bid_names == BID_STATE_UNKNOWN, "names");
_Static_assert(sizeof sub_names / sizeof *sub_names == SUB_STATE_UNKNOWN, "names");
_Static_assert(sizeof outbox_names / sizeof *outbox_names == OUTBOX_STATE_UNKNOWN, "names");

#define NAMES(v) v, sizeof v / sizeof v[0]
#define MOVES(v) v, sizeof v / sizeof v[0]

const char *store_project_state_name(enum project_state st)
{
	return state_name(NAMES(project_names), (int)st);
}

const char *store_bid_state_name(enum bid_state st)
{
	return state_name(NAMES(bid_names), (int)st);
}

const char *store_sub_state_name(enum sub_state st)
{
	return state_name(NAMES(sub_names), (int)st);
}

const char *store_outbox_state_name(enum outbox_state st)
{
	return state_name(NAMES(outbox_names), (int)st);
}

int store_project_state_legal(enum project_state from, enum project_state to)
{
	return state_legal(MOVES(project_moves), PROJECT_STATE_ANY, (int)from, (int)to);
}

int store_bid_state_legal(enum bid_state from, enum bid_state to)
{
	return state_legal(MOVES(bid_moves), BID_STATE_ANY, (int)from, (int)to);
}

int store_sub_state_legal(enum sub_state from, enum sub_state to)
{
	return state_legal(MOVES(sub_moves), SUB_STATE_ANY, (int)from, (int)to);
}

int store_outbox_state_legal(enum outbox_state from, enum outbox_state to)
{
	return state_legal(MOVES(outbox_moves), OUTBOX_STATE_ANY, (int)from, (int)to);
}

int store_project_insert(struct store *s, struct project *p)
{
	if (p->status != PROJECT_PENDING_CONFIRMATION && p->status != PROJECT_HELD &&
	    p->status != PROJECT_OPEN)
		return state_refuse(s, "project", 0, "new", store_project_state_name(p->status));
	struct db_stmt *st = stmt(s, ST_PROJECT_INSERT);
	if (!st)
		return -1;
	bind_text(st, 1, p->title);
	bind_text(st, 2, p->description);
	bind_text(st, 3, p->poster);
	bind_text(st, 4, p->poster_name);
	bind_text(st, 5, p->language);
	bind_text(st, 6, store_project_state_name(p->status));
	bind_text(st, 7, p->created);
	bind_text(st, 8, p->message_id);
	if (p->has_budget) {
		if (p->budget.min >= 0)
			db_bind_double(st, 9, p->budget.min);
		db_bind_double(st, 10, p->budget.max);
	}
	bind_text(st, 11, p->budget.currency[0] ? p->budget.currency : NULL);
	bind_text(st, 12, p->budget.tax[0] ? p->budget.tax : NULL);
	bind_text(st, 13, p->budget.unit[0] ? p->budget.unit : NULL);
	if (p->deadline_days >= 0)
		db_bind_int(st, 14, p->deadline_days);
	bind_text(st, 15, p->skills_json ? p->skills_json : "[]");
	bind_text(st, 16, p->location);
	bind_text(st, 17, p->flags_json ? p->flags_json : "[]");
	bind_text(st, 18, p->deadline[0] ? p->deadline : NULL);
	if (run(s, st, "project-insert") < 0)
		return -1;
	p->id = db_last_insert_id(s->db);
	return 0;
}

static char *col_text(struct db_stmt *st, int i)
{
	const char *t = db_column_text(st, i);
	return t ? xstrdup((const char *)t) : NULL;
}

/* Column i copied into a fixed field of a struct money ("" for NULL, cut at len). */
static void col_copy(struct db_stmt *st, int i, char *to, size_t len)
{
	const char *t = db_column_text(st, i);
	snprintf(to, len, "%s", t ? (const char *)t : "");
}

/* One page of a list: at most limit rows of sel with an id above after, by id, into a new
 * array (*out); the count or -1. */
typedef int (*page_fn)(struct store *s, const void *sel, int64_t after, int limit, void **out);

/* Every row of a list, read page after page (ids are positive, and each row's struct starts
 * with its int64_t id), into one new array (NULL for none, as the lists always gave); the
 * count or -1 (what was read is cleared). For a caller that needs the whole list at once. */
static int page_all(struct store *s, page_fn page, const void *sel, size_t size,
		    void (*clear)(void *row), void **out)
{
	char *all = NULL;
	int n = 0;
	int64_t after = 0;
	for (;;) {
		void *v = NULL;
		int got = page(s, sel, after, STORE_PAGE, &v);
		if (got < 0) {
			while (n > 0)
				clear(all + (size_t)--n * size);
			free(all);
			*out = NULL;
			return -1;
		}
		if (got > 0) {
			all = xrealloc(all, ((size_t)n + (size_t)got) * size);
			memcpy(all + (size_t)n * size, v, (size_t)got * size);
		}
		free(v);
		n += got;
		if (got < STORE_PAGE)
			break;
		memcpy(&after, all + (size_t)(n - 1) * size, sizeof after);
	}
	*out = all;
	return n;
}

/* A selection of projects (project_rows): by id (only >= 0), a poster's unconfirmed ones, or
 * by status and time. */
struct project_sel {
	int64_t only;
	const char *poster, *status, *since;
	int with_text;
};
/* only: not an id but the projects whose follow-up time (followups) has come by since */
#define PROJECT_SEL_DUE (-2)

static int project_rows(struct store *s, const struct project_sel *q, int64_t after, int limit,
			struct project **out);

static int project_page(struct store *s, const void *sel, int64_t after, int limit, void **out)
{
	struct project *v = NULL;
	int n = project_rows(s, sel, after, limit, &v);
	*out = v;
	return n;
}

static void project_clear_row(void *row)
{
	project_clear(row);
}

/* Every project of a selection, by id, into a new array; the count or -1. */
static int project_all(struct store *s, const struct project_sel *q, struct project **out)
{
	void *v = NULL;
	int n = page_all(s, project_page, q, sizeof **out, project_clear_row, &v);
	*out = v;
	return n;
}

int store_project_list(struct store *s, struct project **out)
{
	const struct project_sel q = { -1, NULL, NULL, NULL, 1 };
	return project_all(s, &q, out);
}

int store_project_select(struct store *s, enum project_state status, const char *since,
			 int with_text, struct project **out)
{
	const struct project_sel q = { -1, NULL, status == PROJECT_STATE_ANY ? NULL
				       : store_project_state_name(status), since, with_text };
	return project_all(s, &q, out);
}

int store_project_page(struct store *s, enum project_state status, const char *since,
		       int with_text, int64_t after, int limit, struct project **out)
{
	const struct project_sel q = { -1, NULL, status == PROJECT_STATE_ANY ? NULL
				       : store_project_state_name(status), since, with_text };
	return project_rows(s, &q, after, limit, out);
}

int store_project_open_awarded(struct store *s, const char *open_since, const char *awarded_since,
			       int with_text, struct project **out)
{
	struct project *open, *awarded;
	const struct project_sel qo = { -1, NULL, "open", open_since, with_text };
	const struct project_sel qa = { -1, NULL, "awarded", awarded_since, with_text };
	int no = project_all(s, &qo, &open);
	if (no < 0)
		return -1;
	int na = project_all(s, &qa, &awarded);
	if (na < 0) {
		for (int i = 0; i < no; i++)
			project_clear(&open[i]);
		free(open);
		return -1;
	}
	/* both lists are by id: merged, so is the result */
	struct project *v = xmalloc(((size_t)no + (size_t)na + 1) * sizeof *v);
	int i = 0, j = 0, k = 0;
	while (i < no || j < na)
		v[k++] = j >= na || (i < no && open[i].id < awarded[j].id) ? open[i++] : awarded[j++];
	free(open);
	free(awarded);
	*out = v;
	return k;
}

int store_project_followup_due(struct store *s, const char *now, int64_t after, int limit,
			       struct project **out)
{
	const struct project_sel q = { PROJECT_SEL_DUE, NULL, NULL, now, 0 };
	return project_rows(s, &q, after, limit, out);
}

int store_project_followup_set(struct store *s, int64_t id, const char *next)
{
	struct db_stmt *st = stmt(s, next ? ST_PROJECT_FOLLOWUP_SET : ST_PROJECT_FOLLOWUP_CLEAR);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	if (next)
		bind_text(st, 2, next);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "followup-set");
}

int store_followup_config(struct store *s, const char *fingerprint)
{
	struct db_stmt *st = stmt(s, ST_FOLLOWUP_CONFIG_GET);
	if (!st)
		return -1;
	int rc = db_step(st), same = rc == DB_STEP_ROW &&
		 !strcmp((const char *)db_column_text(st, 0) ? (const char *)
			 db_column_text(st, 0) : "", fingerprint);
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "followup-config");
	if (same)
		return 0;
	if (store_begin(s) < 0)
		return -1;
	struct db_stmt *up = stmt(s, ST_FOLLOWUP_RESCHEDULE), *set = stmt(s, ST_FOLLOWUP_CONFIG_SET);
	rc = up && set ? db_step(up) : DB_STEP_ERROR;
	if (up)
		db_reset(up);
	if (rc == DB_STEP_DONE) {
		bind_text(set, 1, fingerprint);
		rc = db_step(set);
		db_reset(set);
	}
	if (rc != DB_STEP_DONE) {
		if (up && set)
			fail(s, rc, "followup-reschedule");
		store_rollback(s);
		return -1;
	}
	return store_commit(s) < 0 ? -1 : 1;
}

int store_project_pending_of(struct store *s, const char *poster, struct project **out)
{
	const struct project_sel q = { -1, poster, NULL, NULL, 0 };
	return project_all(s, &q, out);
}

int store_project_sample(struct store *s, int n, struct strlist *out)
{
	/* the text the digest matches (title, description, skills), 8,000 characters at most */
	struct db_stmt *st = stmt(s, ST_PROJECT_SAMPLE);
	if (!st)
		return -1;
	db_bind_int(st, 1, n);
	int rc;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		char *t = col_text(st, 0);
		if (t)
			strlist_add_owned(out, t);
	}
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "project-sample");
}

int store_project_get(struct store *s, int64_t id, struct project *p)
{
	struct project *v;
	const struct project_sel q = { id, NULL, NULL, NULL, 1 };
	int n = project_rows(s, &q, 0, 1, &v);
	if (n < 0)
		return -1;
	if (n == 1)
		*p = v[0];
	free(v);
	return n == 1;
}

/* One page (ids above after, at most limit) of projects by id (only >= 0), a poster's
 * unconfirmed ones, or by status and publication time (its creation time for rows that never
 * opened; NULL: any) or creation time alone; the WHERE clause is one of fixed texts, so that
 * SQLite uses an index. */
static int project_rows(struct store *s, const struct project_sel *q, int64_t after, int limit,
			struct project **out)
{
	*out = NULL;
	enum stmt_id id = q->only >= 0 ? ST_PROJECT_BY_ID
			  : q->only == PROJECT_SEL_DUE ? ST_PROJECT_FOLLOWUP_DUE
			  : q->poster ? ST_PROJECT_PENDING_OF
			  : q->status && q->since ? ST_PROJECT_BY_STATUS_SINCE
			  : q->status ? ST_PROJECT_BY_STATUS
			  : q->since ? ST_PROJECT_SINCE : ST_PROJECT_ALL;
	struct db_stmt *st = stmt(s, id);
	if (!st)
		return -1;
	db_bind_int64(st, 1, q->only);
	bind_text(st, 2, q->status);
	bind_text(st, 3, q->since);
	db_bind_int(st, 4, q->with_text);
	bind_text(st, 5, q->poster);
	db_bind_int64(st, 6, after);
	db_bind_int(st, 7, limit);
	int n = 0, cap = 0, rc;
	struct project *v = NULL;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, (size_t)cap * sizeof *v);
		}
		struct project *p = &v[n++];
		memset(p, 0, sizeof *p);
		p->id = db_column_int64(st, 0);
		p->title = col_text(st, 1);
		p->description = col_text(st, 2);
		p->poster = col_text(st, 3);
		p->poster_name = col_text(st, 4);
		p->language = col_text(st, 5);
		p->status = col_state(st, 6, NAMES(project_names));
		p->created = col_text(st, 7);
		p->message_id = col_text(st, 8);
		p->has_budget = db_column_type(st, 10) != DB_TYPE_NULL;
		p->budget.min = db_column_type(st, 9) != DB_TYPE_NULL
				? db_column_double(st, 9) : -1;
		p->budget.max = db_column_double(st, 10);
		col_copy(st, 11, p->budget.currency, sizeof p->budget.currency);
		col_copy(st, 12, p->budget.tax, sizeof p->budget.tax);
		col_copy(st, 13, p->budget.unit, sizeof p->budget.unit);
		p->deadline_days = db_column_type(st, 14) != DB_TYPE_NULL
				   ? db_column_int(st, 14) : -1;
		p->skills_json = col_text(st, 15);
		p->location = col_text(st, 16);
		p->flags_json = col_text(st, 17);
		p->bids = db_column_int(st, 18);
		p->updated = col_text(st, 19);
		p->published = col_text(st, 20);
		col_copy(st, 21, p->deadline, sizeof p->deadline);
	}
	db_reset(st);
	if (rc != DB_STEP_DONE) {
		for (int i = 0; i < n; i++)
			project_clear(&v[i]);
		free(v);
		return fail(s, rc, "project-list");
	}
	*out = v;
	return n;
}

void project_clear(struct project *p)
{
	free(p->title);
	free(p->description);
	free(p->poster);
	free(p->poster_name);
	free(p->language);
	free(p->created);
	free(p->message_id);
	free(p->skills_json);
	free(p->location);
	free(p->flags_json);
	free(p->updated);
	free(p->published);
	memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------ migration 28: the outbox's shared texts
 * The first mail queued under a share key (an alert's project and language) is stored whole
 * as an outbox_part, the reference; it and every later one under that key are packed against
 * it (outbox_pack.c). The references of this connection are kept here, SHARE_SLOTS at most
 * (the least recently used goes); a rollback forgets them all, as the parts it inserted may
 * be gone with it. */
#define SHARE_SLOTS 16
#define SHARE_FOR 3600	/* far inside any purge horizon: a reference never outlives its part */

struct share_entry {
	char key[96];
	int64_t part;
	char *body;
	size_t len;
	struct pack_index *ix;
	unsigned long used;
	time_t made;		/* CLOCK_MONOTONIC seconds: a reference serves SHARE_FOR at most */
};

struct share_cache {
	struct share_entry e[SHARE_SLOTS];
	unsigned long clock;
};

static void share_forget(struct store *s)
{
	if (!s->share)
		return;
	for (int i = 0; i < SHARE_SLOTS; i++) {
		free(s->share->e[i].body);
		pack_index_free(s->share->e[i].ix);
	}
	free(s->share);
	s->share = NULL;
}

/* The reference of share key `key`, inserting data as the key's reference when it has none
 * yet; NULL when the mail is not to be packed (*err 0) or the insert failed (*err 1). */
static struct share_entry *share_get(struct store *s, const char *key, const char *data,
				     size_t len, const char *at, int *err)
{
	*err = 0;
	if (strlen(key) >= sizeof s->share->e[0].key)
		return NULL;
	if (!s->share)
		s->share = xcalloc(1, sizeof *s->share);
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	struct share_entry *e = NULL, *oldest = &s->share->e[0];
	for (int i = 0; i < SHARE_SLOTS && !e; i++) {
		struct share_entry *x = &s->share->e[i];
		if (x->ix && !strcmp(x->key, key) && mono.tv_sec - x->made < SHARE_FOR)
			e = x;
		else if (x->used < oldest->used)
			oldest = x;
	}
	if (!e) {
		struct db_stmt *st = stmt(s, ST_OUTBOX_PART_INSERT);
		if (st) {
			db_bind_blob(st, 1, data, len);
			bind_text(st, 2, at);
		}
		if (run(s, st, "outbox-part") < 0) {
			*err = 1;
			return NULL;
		}
		e = oldest;
		free(e->body);
		pack_index_free(e->ix);
		snprintf(e->key, sizeof e->key, "%s", key);
		e->part = db_last_insert_id(s->db);
		e->body = xmalloc(len + 1);
		memcpy(e->body, data, len);
		e->len = len;
		e->ix = pack_index_new(e->body, len);
		e->made = mono.tv_sec;
	}
	e->used = ++s->share->clock;
	return e->ix ? e : NULL;
}

/* The mail that column col of st's row stands for (whole, or packed against the shared text
 * in column ref_col): a NUL-terminated copy in *out, its length in *out_len; 0. A pack that
 * does not unpack (its part gone, a damaged row) is logged, gives an empty text and -1: never
 * sent (store_outbox_claim fails its row). The packed bytes are copied before the shared text
 * is read: a driver may keep one blob per row. */
static int message_read(struct db_stmt *st, int col, int ref_col, int64_t id, char **out,
			size_t *out_len)
{
	size_t n = (size_t)db_column_bytes(st, col);
	const void *b = db_column_blob(st, col);
	*out = xmalloc(n + 1);
	if (b && n)
		memcpy(*out, b, n);
	(*out)[n] = '\0';
	*out_len = n;
	if (!pack_is_packed(*out, n))
		return 0;
	char *packed = *out;
	size_t rn = (size_t)db_column_bytes(st, ref_col);
	*out = pack_decode(packed, n, db_column_blob(st, ref_col), rn, out_len);
	free(packed);
	if (*out)
		return 0;
	log_err("stage=store op=outbox-unpack outbox=%lld error=\"its shared text is missing or "
		"damaged\"", (long long)id);
	*out = xstrdup("");
	*out_len = 0;
	return -1;
}

/* Inserts outbox row rowid's message, packed when share names a reference it shares lines
 * with. 0 or -1. */
static int outbox_message_insert(struct store *s, int64_t rowid, const char *data, size_t len,
				 const char *share, const char *at)
{
	int err = 0;
	struct share_entry *e = share && *share ? share_get(s, share, data, len, at, &err) : NULL;
	if (err)
		return -1;
	size_t plen = 0;
	char *packed = e ? pack_encode(e->ix, data, len, &plen) : NULL;
	if (packed && plen >= len) {	/* nothing shared after all */
		free(packed);
		packed = NULL;
	}
	struct db_stmt *st = stmt(s, packed ? ST_OUTBOX_MESSAGE_PACKED : ST_OUTBOX_MESSAGE);
	if (st) {
		db_bind_int64(st, 1, rowid);
		db_bind_blob(st, 2, packed ? packed : data, packed ? plen : len);
		if (packed)
			db_bind_int64(st, 3, e->part);
	}
	int rc = run(s, st, "outbox-message");
	free(packed);
	return rc < 0 ? -1 : 0;
}

int store_outbox_insert(struct store *s, const char *kind, const char *to, const char *sender,
			const char *subject, const char *token, const char *data, size_t len,
			const char *share, int64_t *id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_INSERT);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, kind);
	bind_text(st, 2, to);
	bind_text(st, 3, sender);
	bind_text(st, 4, subject);
	bind_text(st, 5, token);
	bind_text(st, 7, at);
	if (run(s, st, "outbox-insert") < 0)
		return -1;
	int64_t rowid = db_last_insert_id(s->db);
	if (outbox_message_insert(s, rowid, data, len, share, at) < 0)
		return -1;
	if (id)
		*id = rowid;
	return 0;
}

static int outbox_rows(struct store *s, struct db_stmt *st, int with_data, struct outbox_row **out);

int store_outbox_page(struct store *s, enum outbox_state state, int with_data, int64_t after,
		      int limit, struct outbox_row **out)
{
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_OUTBOX_LIST);
	if (!st)
		return -1;
	bind_text(st, 1, state == OUTBOX_STATE_ANY ? NULL : store_outbox_state_name(state));
	db_bind_int(st, 2, with_data);
	db_bind_int64(st, 3, after);
	db_bind_int(st, 4, limit);
	return outbox_rows(s, st, with_data, out);
}

/* The selection of store_outbox_list, for page_all. */
struct outbox_sel {
	enum outbox_state state;
	int with_data;
};

static int outbox_page(struct store *s, const void *sel, int64_t after, int limit, void **out)
{
	const struct outbox_sel *q = sel;
	struct outbox_row *v = NULL;
	int n = store_outbox_page(s, q->state, q->with_data, after, limit, &v);
	*out = v;
	return n;
}

static void outbox_clear_row(void *row)
{
	outbox_row_clear(row);
}

int store_outbox_list(struct store *s, enum outbox_state state, int with_data,
		      struct outbox_row **out)
{
	const struct outbox_sel q = { state, with_data };
	void *v = NULL;
	int n = page_all(s, outbox_page, &q, sizeof **out, outbox_clear_row, &v);
	*out = v;
	return n;
}

static int64_t *outbox_claim_ids(struct store *s, const char *owner, const char *due,
				 const char *now, const char *until, int limit, int *n)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_CLAIM);
	*n = 0;
	if (!st)
		return NULL;
	bind_text(st, 1, owner);
	bind_text(st, 2, until);
	bind_text(st, 3, due);
	bind_text(st, 4, now);
	db_bind_int(st, 5, limit);
	int64_t *ids = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *ids);
	int rc;
	while ((rc = db_step(st)) == DB_STEP_ROW)
		if (*n < limit)
			ids[(*n)++] = db_column_int64(st, 0);
	db_reset(st);
	if (rc != DB_STEP_DONE) {
		fail(s, rc, "outbox-claim");
		free(ids);
		return NULL;
	}
	return ids;
}

static int outbox_row_read(struct db_stmt *st, int with_data, struct outbox_row *r);

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int store_outbox_claim(struct store *s, const char *owner, const char *due, const char *now,
		       const char *until, int limit, struct outbox_row **out)
{
	*out = NULL;
	int n = 0;
	if (store_begin(s) < 0)
		return -1;
	int64_t *ids = outbox_claim_ids(s, owner, due, now, until, limit, &n);
	if (!ids || store_commit(s) < 0) {
		store_rollback(s);
		free(ids);
		return -1;
	}
	qsort(ids, (size_t)n, sizeof *ids, cmp_id);
	struct outbox_row *v = xcalloc((size_t)(n > 0 ? n : 1), sizeof *v);
	int got = 0;
	for (int i = 0; i < n; i++) {
		struct db_stmt *st = stmt(s, ST_OUTBOX_ROW);
		if (!st)
			break;
		db_bind_int64(st, 1, ids[i]);
		int rc = db_step(st), unreadable = 0;
		if (rc == DB_STEP_ROW && outbox_row_read(st, 1, &v[got++]) < 0) {
			outbox_row_clear(&v[--got]);
			unreadable = 1;
		}
		db_reset(st);
		if (unreadable)	/* never sent empty: failed, with why */
			store_outbox_mark(s, ids[i], owner, OUTBOX_FAILED, "its stored text cannot be "
					  "read back (its shared part is missing or damaged)",
					  clock_now());
		if (rc != DB_STEP_ROW && rc != DB_STEP_DONE) {
			fail(s, rc, "outbox-row");
			break;
		}
	}
	free(ids);
	*out = v;
	/* rows that could not be read stay leased until their expiry */
	return got;
}

int store_outbox_release(struct store *s, const char *owner)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_RELEASE);
	if (!st)
		return -1;
	bind_text(st, 1, owner);
	return run(s, st, "outbox-release");
}

int store_outbox_lease_owners(struct store *s, const char *now, char **owners, int max)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_OWNERS);
	if (!st)
		return -1;
	bind_text(st, 1, now);
	db_bind_int(st, 2, max);
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_STEP_ROW && n < max)
		owners[n++] = col_text(st, 0);
	db_reset(st);
	if (rc != DB_STEP_DONE && rc != DB_STEP_ROW) {
		while (n > 0)
			free(owners[--n]);
		return fail(s, rc, "outbox-owners");
	}
	return n;
}

/* Reads one outbox row; 0, or -1 when its mail cannot be read back (message_read). */
static int outbox_row_read(struct db_stmt *st, int with_data, struct outbox_row *r)
{
	memset(r, 0, sizeof *r);
	r->id = db_column_int64(st, 0);
	r->to = col_text(st, 1);
	r->sender = col_text(st, 2);
	r->subject = col_text(st, 3);
	r->kind = col_text(st, 4);
	r->state = col_state(st, 5, NAMES(outbox_names));
	r->attempts = db_column_int(st, 6);
	r->last_error = col_text(st, 7);
	r->created = col_text(st, 8);
	r->token = col_text(st, 9);
	int rc = with_data ? message_read(st, 10, 12, r->id, &r->data, &r->len) : 0;
	r->next_attempt = col_text(st, 11);
	return rc;
}

static int outbox_rows(struct store *s, struct db_stmt *st, int with_data, struct outbox_row **out)
{
	int n = 0, cap = 0, rc;
	struct outbox_row *v = NULL;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, (size_t)cap * sizeof *v);
		}
		outbox_row_read(st, with_data, &v[n++]);
	}
	db_reset(st);
	if (rc != DB_STEP_DONE) {
		for (int i = 0; i < n; i++)
			outbox_row_clear(&v[i]);
		free(v);
		return fail(s, rc, "outbox-list");
	}
	*out = v;
	return n;
}

int store_outbox_mark(struct store *s, int64_t id, const char *owner, enum outbox_state state,
		      const char *error, time_t now)
{
	if (!store_outbox_state_legal(OUTBOX_QUEUED, state))
		return state_refuse(s, "outbox", id, "queued", store_outbox_state_name(state));
	struct db_stmt *st = stmt(s, ST_OUTBOX_MARK);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, store_outbox_state_name(state));
	bind_text(st, 3, error);
	bind_text(st, 4, at);
	bind_text(st, 5, owner);
	if (run(s, st, "outbox-mark") < 0)
		return -1;
	if (db_changes(s->db) > 0)
		return 1;
	log_warn("stage=store outbox=%lld owner=%s result=stale reason=\"no longer queued under "
		 "this lease\"", (long long)id, owner);
	return 0;
}

int store_outbox_retry(struct store *s, int64_t id, const char *owner, const char *next_attempt,
		       const char *error)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_RETRY);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, next_attempt);
	bind_text(st, 3, error);
	bind_text(st, 4, owner);
	return run(s, st, "outbox-retry");
}

/* STORE_FAST lets the last commits be lost on a power cut (never torn); see db_set_durability. */
int store_durability(struct store *s, enum store_durability d)
{
	return db_set_durability(s->db, d == STORE_FAST);
}

void outbox_row_clear(struct outbox_row *r)
{
	free(r->to);
	free(r->sender);
	free(r->subject);
	free(r->kind);
	free(r->last_error);
	free(r->created);
	free(r->token);
	free(r->data);
	free(r->next_attempt);
	memset(r, 0, sizeof *r);
}

static int scalar_int(struct store *s, enum stmt_id id);
static char *scalar_text(struct store *s, enum stmt_id id);

int store_count(struct store *s, const char *table)
{
	static const char *const allowed[] = { "projects", "outbox", "ingested", "subscribers",
					       "outbox_part", NULL };
	static const enum stmt_id counts[] = { ST_COUNT_PROJECTS, ST_COUNT_OUTBOX, ST_COUNT_INGESTED,
					       ST_COUNT_SUBSCRIBERS, ST_COUNT_OUTBOX_PART };
	for (int i = 0; allowed[i]; i++)
		if (!strcmp(table, allowed[i]))
			return scalar_int(s, counts[i]);
	return -1;
}

int store_outbox_recipient(struct store *s, int64_t id, char *to, size_t len)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_RECIPIENT);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		snprintf(to, len, "%s", (const char *)db_column_text(st, 0));
		found = 1;
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "outbox-recipient");
	return found;
}

int store_outbox_bounce(struct store *s, int64_t id, const char *status)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_BOUNCE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, status);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "outbox-bounce");
}

int store_address_bounce(struct store *s, const char *address, int hard, const char *day,
			 int threshold, int *disabled_now)
{
	*disabled_now = 0;
	struct db_stmt *st = stmt(s, ST_ADDRESS_INSERT);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "address-insert");
	/* one bounce a day counts: a burst of copies of one failure is one failure */
	if (!(st = stmt(s, ST_ADDRESS_BOUNCE)))
		return -1;
	bind_text(st, 1, address);
	db_bind_int(st, 2, hard);
	bind_text(st, 3, day);
	db_bind_int(st, 4, threshold);
	rc = db_step(st);
	int reach = rc == DB_STEP_ROW && db_column_int(st, 0);
	while (rc == DB_STEP_ROW)
		rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "address-bounce");
	if (reach) {
		if (!(st = stmt(s, ST_ADDRESS_DISABLE)))
			return -1;
		bind_text(st, 1, address);
		rc = db_step(st);
		db_reset(st);
		if (rc != DB_STEP_DONE)
			return fail(s, rc, "address-disable");
		*disabled_now = 1;
	}
	return 0;
}

int store_address_disabled(struct store *s, const char *address)
{
	struct db_stmt *st = stmt(s, ST_ADDRESS_DISABLED);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	int rc = db_step(st);
	int d = rc == DB_STEP_ROW ? db_column_int(st, 0) : 0;
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "address-disabled");
	return d;
}

int store_outbox_mark_sent(struct store *s, int64_t id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_SENT);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	return run(s, st, "outbox-sent");
}

/* ---------------------------------------------------------------- subscribers */

static void subscriber_read(struct db_stmt *st, struct subscriber *sub)
{
	memset(sub, 0, sizeof *sub);
	sub->id = db_column_int64(st, 0);
	sub->address = col_text(st, 1);
	sub->name = col_text(st, 2);
	sub->status = col_state(st, 3, NAMES(sub_names));
	sub->language = col_text(st, 4);
	sub->frequency = col_text(st, 5);
	sub->day = db_column_int(st, 6);
	sub->remote_only = db_column_int(st, 7);
	sub->budget_min = db_column_type(st, 8) == DB_TYPE_NULL ? -1 : db_column_double(st, 8);
	sub->budget_currency = col_text(st, 9);
	sub->languages = col_text(st, 10);
	sub->created = col_text(st, 11);
	sub->confirmed = col_text(st, 12);
	sub->last_digest = col_text(st, 13);
	sub->last_activity = col_text(st, 14);
	sub->next_due = col_text(st, 15);
}

static int patterns_load(struct store *s, struct subscriber *sub)
{
	struct db_stmt *st = stmt(s, ST_PATTERNS_LOAD);
	if (!st)
		return -1;
	db_bind_int64(st, 1, sub->id);
	int rc;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		const char *kind = (const char *)db_column_text(st, 0);
		strlist_add(!strcmp(kind, "exclude") ? &sub->excludes : &sub->skills,
			    (const char *)db_column_text(st, 1));
	}
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "patterns");
}

int store_subscriber_find(struct store *s, const char *address, int64_t id, struct subscriber *sub)
{
	struct db_stmt *st = stmt(s, address ? ST_SUBSCRIBER_BY_ADDRESS : ST_SUBSCRIBER_BY_ID);
	if (!st)
		return -1;
	if (address)
		bind_text(st, 1, address);
	else
		db_bind_int64(st, 2, id);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		subscriber_read(st, sub);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "subscriber-find");
	if (found && patterns_load(s, sub) < 0)
		return -1;
	return found;
}

int store_subscriber_insert(struct store *s, const char *address, const char *name,
			    const char *language, int64_t *id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_INSERT);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, address);
	bind_text(st, 2, name);
	bind_text(st, 3, language);
	bind_text(st, 4, at);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "subscriber-insert");
	*id = db_last_insert_id(s->db);
	return 0;
}

int store_subscriber_touch(struct store *s, int64_t id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_TOUCH);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "subscriber-touch");
}

int store_confirmation_latest(struct store *s, const char *address, const char *action,
			      char *created, size_t len)
{
	struct db_stmt *st = stmt(s, ST_CONFIRMATION_LATEST);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	bind_text(st, 2, action);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW && db_column_type(st, 0) != DB_TYPE_NULL) {
		snprintf(created, len, "%s", (const char *)db_column_text(st, 0));
		found = 1;
	}
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? found : fail(s, rc, "confirmation-latest");
}

/* The columns a command mail edits, never status or confirmed (last_digest only when an
 * active subscriber leaves instant alerts: ST_SUBSCRIBER_PROFILE): a profile saved
 * after a concurrent unsubscribe must not undo it. */
int store_subscriber_profile_save(struct store *s, const struct subscriber *sub)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_PROFILE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, sub->id);
	bind_text(st, 2, sub->name);
	bind_text(st, 3, sub->language);
	bind_text(st, 4, sub->frequency);
	db_bind_int(st, 5, sub->day);
	db_bind_int(st, 6, sub->remote_only);
	if (sub->budget_min >= 0)
		db_bind_double(st, 7, sub->budget_min);
	bind_text(st, 8, sub->budget_currency);
	bind_text(st, 9, sub->languages ? sub->languages : "");
	char now[32];
	clock_format_iso(clock_now(), now);
	bind_text(st, 10, now);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "subscriber-profile");
}

/* Runs an UPDATE of one subscriber row; 1 when the row changed, 0 when its state did not
 * match the condition, -1 on error. */
static int subscriber_change(struct store *s, struct db_stmt *st, const char *what)
{
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, what);
	return db_changes(s->db) > 0;
}

int store_subscriber_status_set(struct store *s, int64_t id, enum sub_state from,
				enum sub_state to)
{
	if (from == to)
		return 0;	/* already there: nothing moves */
	if (!store_sub_state_legal(from, to))
		return state_refuse(s, "subscriber", id, from == SUB_STATE_ANY ? "any"
				    : store_sub_state_name(from), store_sub_state_name(to));
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_STATUS);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, from == SUB_STATE_ANY ? NULL : store_sub_state_name(from));
	bind_text(st, 3, store_sub_state_name(to));
	return subscriber_change(s, st, "subscriber-status");
}

int store_subscriber_confirm(struct store *s, int64_t id, enum sub_state from, const char *at)
{
	/* an active subscriber answering an older request is confirmed again, nothing moves */
	if (from != SUB_ACTIVE && !store_sub_state_legal(from, SUB_ACTIVE))
		return state_refuse(s, "subscriber", id, store_sub_state_name(from), "active");
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_CONFIRM);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, store_sub_state_name(from));
	bind_text(st, 3, at);
	return subscriber_change(s, st, "subscriber-confirm");
}

int store_subscriber_digest_mark(struct store *s, int64_t id, const char *at)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_DIGEST);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	return subscriber_change(s, st, "subscriber-digest");
}

int store_subscriber_alertable(struct store *s, int64_t id)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_ALERTABLE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "subscriber-alertable");
	return rc == DB_STEP_ROW;
}

int store_pattern_add(struct store *s, int64_t subscriber, const char *kind, const char *source,
		      time_t now)
{
	struct db_stmt *st = stmt(s, ST_PATTERN_ADD);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, subscriber);
	bind_text(st, 2, kind);
	bind_text(st, 3, source);
	bind_text(st, 4, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "pattern-add");
}

int store_patterns_clear(struct store *s, int64_t subscriber, const char *kind)
{
	struct db_stmt *st = stmt(s, ST_PATTERNS_CLEAR);
	if (!st)
		return -1;
	db_bind_int64(st, 1, subscriber);
	bind_text(st, 2, kind);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "patterns-clear");
}

/* The subscribers statement st reads (its parameters bound), with their patterns, into a new
 * array; the count or -1. */
static int subscriber_rows(struct store *s, struct db_stmt *st, struct subscriber **out);

int store_subscriber_page(struct store *s, int64_t after, int limit, struct subscriber **out)
{
	*out = NULL;
	/* an address disabled by bounces shows as `disabled` whatever the subscriber chose */
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_LIST);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	return subscriber_rows(s, st, out);
}

int store_subscriber_due_page(struct store *s, const char *now, const char *after_due,
			      int64_t after, int limit, struct subscriber **out)
{
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_DUE_PAGE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	bind_text(st, 3, now);
	bind_text(st, 4, after_due ? after_due : "");
	return subscriber_rows(s, st, out);
}

int store_subscriber_instant_page(struct store *s, int64_t after, int limit,
				  struct subscriber **out)
{
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_INSTANT_PAGE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	return subscriber_rows(s, st, out);
}

int store_subscriber_due_oldest(struct store *s, const char *now, char *out, size_t len)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_DUE_OLDEST);
	if (!st)
		return -1;
	bind_text(st, 1, now);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW && db_column_type(st, 0) != DB_TYPE_NULL) {
		snprintf(out, len, "%s", (const char *)db_column_text(st, 0));
		found = 1;
	}
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? found : fail(s, rc, "subscriber-due-oldest");
}

int store_subscriber_next_due_set(struct store *s, int64_t id, const char *at, const char *was)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_NEXT_DUE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	bind_text(st, 3, was);
	return subscriber_change(s, st, "subscriber-next-due");
}

int store_alert_mark_get(struct store *s, char *at, size_t len, int64_t *project)
{
	struct db_stmt *st = stmt(s, ST_ALERT_MARK_GET);
	if (!st)
		return -1;
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		snprintf(at, len, "%s", (const char *)db_column_text(st, 0));
		*project = db_column_int64(st, 1);
		found = 1;
	}
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? found : fail(s, rc, "alert-mark-get");
}

int store_alert_mark_set(struct store *s, const char *at, int64_t project)
{
	struct db_stmt *st = stmt(s, ST_ALERT_MARK_SET);
	if (!st)
		return -1;
	bind_text(st, 1, at);
	db_bind_int64(st, 2, project);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "alert-mark-set");
}

int store_project_news(struct store *s, const char *at, int64_t project)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_NEWS);
	if (!st)
		return -1;
	bind_text(st, 1, at);
	db_bind_int64(st, 2, project);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_ROW ? 1 : rc == DB_STEP_DONE ? 0 : fail(s, rc, "project-news");
}

static int subscriber_rows_read(struct store *s, struct db_stmt *st, int64_t after,
				struct subscriber **out);

/* A page and its patterns (read by reader; after: the id the page starts after) are read in
 * one read transaction (one lock, one snapshot) when the caller holds none: thousands of
 * pattern reads otherwise take the file lock each. */
static int subscriber_rows_with(struct store *s, struct db_stmt *st, int64_t after,
				int (*reader)(struct store *, struct db_stmt *, int64_t,
					      struct subscriber **),
				struct subscriber **out)
{
	int outer = !db_in_transaction(s->db);
	if (outer && run(s, stmt(s, ST_BEGIN_READ), "begin-read") < 0) {
		db_reset(st);
		return -1;
	}
	int n = reader(s, st, after, out);
	if (outer && store_commit(s) < 0) {
		for (int i = 0; i < n; i++)
			subscriber_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		return -1;
	}
	return n;
}

static int subscriber_rows(struct store *s, struct db_stmt *st, struct subscriber **out)
{
	return subscriber_rows_with(s, st, 0, subscriber_rows_read, out);
}

/* Frees the n subscribers of v; -1. */
static int subscribers_drop(struct subscriber *v, int n)
{
	for (int i = 0; i < n; i++)
		subscriber_clear(&v[i]);
	free(v);
	return -1;
}

/* The rows of statement st (bound) as subscribers, without their patterns, in *v: their count,
 * or -1 (what names the failure). */
static int subscriber_rows_fetch(struct store *s, struct db_stmt *st, struct subscriber **v,
				 const char *what)
{
	int n = 0, cap = 0, rc;
	*v = NULL;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*v = xrealloc(*v, (size_t)cap * sizeof **v);
		}
		subscriber_read(st, &(*v)[n++]);
	}
	db_reset(st);
	if (rc != DB_STEP_DONE) {
		subscribers_drop(*v, n);
		*v = NULL;
		return fail(s, rc, what);
	}
	return n;
}

static int subscriber_rows_read(struct store *s, struct db_stmt *st, int64_t after,
				struct subscriber **out)
{
	(void)after;
	struct subscriber *v;
	*out = NULL;
	int n = subscriber_rows_fetch(s, st, &v, "subscriber-list");
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (patterns_load(s, &v[i]) < 0)
			return subscribers_drop(v, n);
	*out = v;
	return n;
}

static int subscriber_page(struct store *s, const void *sel, int64_t after, int limit, void **out)
{
	(void)sel;
	struct subscriber *v = NULL;
	int n = store_subscriber_page(s, after, limit, &v);
	*out = v;
	return n;
}

static void subscriber_clear_row(void *row)
{
	subscriber_clear(row);
}

int store_subscriber_list(struct store *s, struct subscriber **out)
{
	void *v = NULL;
	int n = page_all(s, subscriber_page, NULL, sizeof **out, subscriber_clear_row, &v);
	*out = v;
	return n;
}

void subscriber_clear(struct subscriber *sub)
{
	free(sub->address);
	free(sub->name);
	free(sub->language);
	free(sub->frequency);
	free(sub->budget_currency);
	free(sub->languages);
	free(sub->created);
	free(sub->confirmed);
	free(sub->last_digest);
	free(sub->last_activity);
	free(sub->next_due);
	strlist_clear(&sub->skills);
	strlist_clear(&sub->excludes);
	memset(sub, 0, sizeof *sub);
}

int store_confirmation_insert(struct store *s, const char *address, int64_t subscriber,
			      const char *action, const char *payload, long ttl, int64_t *id,
			      time_t now)
{
	struct db_stmt *st = stmt(s, ST_CONFIRMATION_INSERT);
	if (!st)
		return -1;
	char at[32], exp[32];
	clock_format_iso(now, at);
	clock_format_iso(now + ttl, exp);
	bind_text(st, 1, address);
	if (subscriber > 0)
		db_bind_int64(st, 2, subscriber);
	bind_text(st, 3, action);
	bind_text(st, 4, payload);
	bind_text(st, 5, at);
	bind_text(st, 6, exp);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "confirmation-insert");
	*id = db_last_insert_id(s->db);
	return 0;
}

int store_confirmation_get(struct store *s, int64_t id, struct confirmation *cf)
{
	memset(cf, 0, sizeof *cf);
	struct db_stmt *st = stmt(s, ST_CONFIRMATION_GET);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		cf->id = id;
		cf->address = col_text(st, 0);
		cf->subscriber = db_column_int64(st, 1);
		cf->action = col_text(st, 2);
		cf->payload = col_text(st, 3);
		cf->expires = col_text(st, 4);
		cf->used = col_text(st, 5);
		found = 1;
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "confirmation-get");
	return found;
}

int store_confirmation_use(struct store *s, int64_t id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_CONFIRMATION_USE);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? db_changes(s->db) : fail(s, rc, "confirmation-use");
}

int store_confirmations_recent(struct store *s, const char *address, time_t now)
{
	char since[32];
	clock_format_iso(now - 86400, since);
	struct db_stmt *st = stmt(s, ST_CONFIRMATIONS_RECENT);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	bind_text(st, 2, since);
	int rc = db_step(st);
	int n = rc == DB_STEP_ROW ? db_column_int(st, 0) : -1;
	db_reset(st);
	return n < 0 ? fail(s, rc, "confirmations-recent") : n;
}

void confirmation_clear(struct confirmation *cf)
{
	free(cf->address);
	free(cf->action);
	free(cf->payload);
	free(cf->expires);
	free(cf->used);
	memset(cf, 0, sizeof *cf);
}

int store_digest_claim(struct store *s, int64_t subscriber, const char *period, int projects,
		       time_t now)
{
	struct db_stmt *st = stmt(s, ST_DIGEST_CLAIM);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, subscriber);
	bind_text(st, 2, period);
	bind_text(st, 3, at);
	db_bind_int(st, 4, projects);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "digest-claim");
	return db_changes(s->db) == 1 ? 1 : 0;
}

int store_digest_claimed(struct store *s, int64_t subscriber, const char *period)
{
	struct db_stmt *st = stmt(s, ST_DIGEST_CLAIMED);
	if (!st)
		return -1;
	db_bind_int64(st, 1, subscriber);
	bind_text(st, 2, period);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "digest-claimed");
	return rc == DB_STEP_ROW;
}

int store_selection_record(struct store *s, int64_t subscriber, const char *message_id,
			   const int64_t *projects, int n, time_t now)
{
	struct db_stmt *st = stmt(s, ST_SELECTION_ADD);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	for (int i = 0; i < n; i++) {
		db_bind_int64(st, 1, subscriber);
		bind_text(st, 2, message_id);
		db_bind_int(st, 3, i);
		db_bind_int64(st, 4, projects[i]);
		bind_text(st, 5, at);
		int rc = db_step(st);
		db_reset(st);
		if (rc != DB_STEP_DONE)
			return fail(s, rc, "selection-add");
	}
	return 0;
}

/* The projects of statement st (bound), at most max into out; the count or -1. */
static int selection_read(struct store *s, struct db_stmt *st, int64_t *out, int max)
{
	int n = 0, rc;
	while (n < max && (rc = db_step(st)) == DB_STEP_ROW)
		out[n++] = db_column_int64(st, 0);
	if (n < max && rc != DB_STEP_DONE) {
		db_reset(st);
		return fail(s, rc, "selection-read");
	}
	db_reset(st);
	return n;
}

int store_selection_projects(struct store *s, int64_t subscriber, const char *const *ids,
			     int nids, int64_t *out, int max)
{
	struct db_stmt *st = stmt(s, ST_SELECTION_OF);
	if (!st)
		return -1;
	/* the last reference is the most recent message of the thread */
	for (int i = nids - 1; i >= 0; i--) {
		if (!ids[i])
			continue;
		db_bind_int64(st, 1, subscriber);
		bind_text(st, 2, ids[i]);
		db_bind_int(st, 3, max);
		int n = selection_read(s, st, out, max);
		if (n != 0)
			return n;
	}
	st = stmt(s, ST_SELECTION_LATEST);
	if (!st)
		return -1;
	db_bind_int64(st, 1, subscriber);
	db_bind_int(st, 2, max);
	return selection_read(s, st, out, max);
}

int store_selection_purge(struct store *s, const char *before)
{
	struct db_stmt *st = stmt(s, ST_SELECTION_PURGE);
	if (!st)
		return -1;
	bind_text(st, 1, before);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? db_changes(s->db) : fail(s, rc, "selection-purge");
}

int store_pattern_limit_report(struct store *s, int64_t subscriber, const char *source, time_t now)
{
	struct db_stmt *st = stmt(s, ST_PATTERN_LIMIT_REPORT);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, subscriber);
	bind_text(st, 2, source);
	bind_text(st, 3, at);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "pattern-limit");
	return db_changes(s->db) > 0;
}

/* ---------------------------------------------------------------- bids */

int store_bid_count(struct store *s, int64_t project, int64_t except_subscriber)
{
	if (store_project_lock(s, project) < 0)
		return -1;
	struct db_stmt *st = stmt(s, ST_BID_COUNT);
	if (!st)
		return -1;
	db_bind_int64(st, 1, project);
	db_bind_int64(st, 2, except_subscriber);
	int rc = db_step(st);
	int n = rc == DB_STEP_ROW ? db_column_int(st, 0) : -1;
	db_reset(st);
	return n < 0 ? fail(s, rc, "bid-count") : n;
}

int store_bid_insert(struct store *s, int64_t project, int64_t subscriber, const char *address,
		     const struct bid_info *bi, const char *text, enum bid_state status,
		     const char *message_id, int64_t *id, int *replaced, time_t now)
{
	struct db_stmt *st;
	int rc;
	*replaced = 0;
	if (status != BID_ACTIVE && status != BID_HELD)
		return state_refuse(s, "bid", 0, "new", store_bid_state_name(status));
	/* a held bid changes nothing until it is confirmed (store_bid_activate) */
	if (status == BID_ACTIVE) {
		if (!(st = stmt(s, ST_BID_REPLACE)))
			return -1;
		db_bind_int64(st, 1, project);
		db_bind_int64(st, 2, subscriber);
		rc = db_step(st);
		db_reset(st);
		if (rc != DB_STEP_DONE)
			return fail(s, rc, "bid-replace");
		*replaced = db_changes(s->db) > 0;
	}
	if (!(st = stmt(s, ST_BID_INSERT)))
		return -1;
	char at[32], ms[64] = "";
	clock_format_iso(now, at);
	for (int i = 0; i < bi->n_milestones; i++) {
		size_t l = strlen(ms);
		snprintf(ms + l, sizeof ms - l, "%s%d", i ? "," : "", bi->milestones[i]);
	}
	db_bind_int64(st, 1, project);
	db_bind_int64(st, 2, subscriber);
	bind_text(st, 3, address);
	db_bind_double(st, 4, bi->amount.max);
	bind_text(st, 5, bi->amount.currency[0] ? bi->amount.currency : NULL);
	bind_text(st, 6, bi->amount.tax[0] ? bi->amount.tax : NULL);
	bind_text(st, 7, bi->amount.unit[0] ? bi->amount.unit : NULL);
	if (bi->delivery_days >= 0)
		db_bind_int(st, 8, bi->delivery_days);
	bind_text(st, 9, *ms ? ms : NULL);
	if (bi->followup_days >= 0)
		db_bind_int(st, 10, bi->followup_days);
	bind_text(st, 11, text);
	bind_text(st, 12, bi->why);
	bind_text(st, 13, store_bid_state_name(status));
	bind_text(st, 14, at);
	bind_text(st, 15, message_id);
	bind_text(st, 16, bi->delivery[0] ? bi->delivery : NULL);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "bid-insert");
	*id = db_last_insert_id(s->db);
	return 0;
}

/* One row of BID_COLUMNS into b. */
static void bid_read(struct db_stmt *st, struct bid_row *b)
{
	memset(b, 0, sizeof *b);
	b->id = db_column_int64(st, 0);
	b->project = db_column_int64(st, 1);
	b->subscriber = db_column_int64(st, 2);
	b->info.has_amount = db_column_type(st, 3) != DB_TYPE_NULL;
	b->info.amount.max = db_column_double(st, 3);
	b->info.amount.min = -1;
	const char *t;
	if ((t = (const char *)db_column_text(st, 4)))
		snprintf(b->info.amount.currency, sizeof b->info.amount.currency, "%s", t);
	if ((t = (const char *)db_column_text(st, 5)))
		snprintf(b->info.amount.tax, sizeof b->info.amount.tax, "%s", t);
	if ((t = (const char *)db_column_text(st, 6)))
		snprintf(b->info.amount.unit, sizeof b->info.amount.unit, "%s", t);
	b->info.delivery_days = db_column_type(st, 7) == DB_TYPE_NULL ? -1
				: db_column_int(st, 7);
	if ((t = (const char *)db_column_text(st, 8))) {
		const char *p = t;
		while (*p && b->info.n_milestones < 8) {
			b->info.milestones[b->info.n_milestones++] = atoi(p);
			p += strcspn(p, ",");
			if (*p)
				p++;
		}
	}
	b->info.followup_days = db_column_type(st, 9) == DB_TYPE_NULL ? -1
				: db_column_int(st, 9);
	b->message = col_text(st, 10);
	b->status = col_state(st, 11, NAMES(bid_names));
	b->info.why = col_text(st, 12);
	b->created = col_text(st, 13);
	if ((t = (const char *)db_column_text(st, 14)))
		snprintf(b->info.delivery, sizeof b->info.delivery, "%s", t);
}

int store_bid_get(struct store *s, int64_t id, struct bid_row *b)
{
	memset(b, 0, sizeof *b);
	struct db_stmt *st = stmt(s, ST_BID_GET);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		found = 1;
		bid_read(st, b);
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "bid-get");
	return found;
}

int store_bid_state_set(struct store *s, int64_t id, enum bid_state from, enum bid_state to)
{
	/* held -> active is legal, but only store_bid_activate makes it: it also replaces the
	 * freelancer's active bid, which a bare state change would leave beside it */
	if (!store_bid_state_legal(from, to) || (from == BID_HELD && to == BID_ACTIVE))
		return state_refuse(s, "bid", id, store_bid_state_name(from),
				    store_bid_state_name(to));
	struct db_stmt *st = stmt(s, ST_BID_STATUS);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, store_bid_state_name(from));
	bind_text(st, 3, store_bid_state_name(to));
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "bid-status");
	return db_changes(s->db) > 0;
}

int store_bid_activate(struct store *s, int64_t id, int *replaced)
{
	*replaced = 0;
	struct db_stmt *st = stmt(s, ST_BID_ACTIVATE_REPLACE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "bid-activate");
	*replaced = db_changes(s->db) > 0;
	if (!(st = stmt(s, ST_BID_ACTIVATE)))
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "bid-activate");
	return db_changes(s->db) > 0;
}

int store_bid_held_count(struct store *s, int64_t project, const char *address, const char *since,
			 int *on_project, int *by_sender)
{
	struct db_stmt *st = stmt(s, ST_BID_HELD_COUNT);
	if (!st)
		return -1;
	db_bind_int64(st, 1, project);
	bind_text(st, 2, address);
	bind_text(st, 3, since);
	int rc = db_step(st);
	if (rc == DB_STEP_ROW) {
		*on_project = db_column_int(st, 0);
		*by_sender = db_column_int(st, 1);
	}
	db_reset(st);
	return rc == DB_STEP_ROW ? 0 : fail(s, rc, "bid-held-count");
}

int store_bid_page(struct store *s, int64_t project, enum bid_state state, int64_t after,
		   int limit, struct bid_row **out)
{
	const char *status = state == BID_STATE_ANY ? NULL : store_bid_state_name(state);
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_BID_SELECT);
	if (!st)
		return -1;
	db_bind_int64(st, 1, project);
	bind_text(st, 2, status);
	db_bind_int64(st, 3, after);
	db_bind_int(st, 4, limit);
	int n = 0, cap = 0, rc;
	struct bid_row *v = xcalloc(1, sizeof *v);	/* allocated even for no bid */
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, (size_t)cap * sizeof *v);
		}
		bid_read(st, &v[n++]);
	}
	db_reset(st);
	if (rc != DB_STEP_DONE) {
		for (int i = 0; i < n; i++)
			bid_row_clear(&v[i]);
		free(v);
		return fail(s, rc, "bid-list");
	}
	*out = v;
	return n;
}

/* The selection of store_bid_select, for page_all. */
struct bid_sel {
	int64_t project;
	enum bid_state status;
};

static int bid_page(struct store *s, const void *sel, int64_t after, int limit, void **out)
{
	const struct bid_sel *q = sel;
	struct bid_row *v = NULL;
	int n = store_bid_page(s, q->project, q->status, after, limit, &v);
	*out = v;
	return n;
}

static void bid_clear_row(void *row)
{
	bid_row_clear(row);
}

int store_bid_select(struct store *s, int64_t project, enum bid_state status,
		     struct bid_row **out)
{
	const struct bid_sel q = { project, status };
	void *v = NULL;
	int n = page_all(s, bid_page, &q, sizeof **out, bid_clear_row, &v);
	*out = n == 0 ? xcalloc(1, sizeof **out) : v;	/* allocated even for no bid */
	return n;
}

int store_bid_current(struct store *s, int64_t project, int64_t subscriber, int64_t *id)
{
	struct db_stmt *st = stmt(s, ST_BID_CURRENT);
	if (!st)
		return -1;
	db_bind_int64(st, 1, project);
	db_bind_int64(st, 2, subscriber);
	int rc = db_step(st);
	if (rc == DB_STEP_ROW)
		*id = db_column_int64(st, 0);
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "bid-current");
	return rc == DB_STEP_ROW;
}

/* Runs statement which with ?1 = id, ?2 = text and ?3 = now (ISO): 0, or -1 (logged as
 * what). */
static int exec_id_text_at(struct store *s, enum stmt_id which, int64_t id, const char *text,
			   time_t now, const char *what)
{
	struct db_stmt *st = stmt(s, which);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, text);
	bind_text(st, 3, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, what);
}

int store_relayed_add(struct store *s, int64_t bid, const char *body, time_t now)
{
	return exec_id_text_at(s, ST_RELAYED_ADD, bid, body, now, "relayed-add");
}

int store_relayed_list(struct store *s, int64_t bid, int max, size_t max_bytes,
		       struct strlist *out)
{
	struct db_stmt *st = stmt(s, ST_RELAYED_LIST);
	if (!st)
		return -1;
	db_bind_int64(st, 1, bid);
	db_bind_int(st, 2, max);
	size_t total = 0;
	int rc;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		const char *t = (const char *)db_column_text(st, 0);
		size_t n = (size_t)db_column_bytes(st, 0);
		if (!t || total + n > max_bytes)
			break;
		total += n;
		strlist_add(out, t);
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "relayed-list");
	return (int)out->n;
}

int store_bid_list(struct store *s, int64_t project, struct bid_row **out)
{
	return store_bid_select(s, project, BID_STATE_ANY, out);
}

int store_purge_expired(struct store *s, const char *posts_before, const char *bids_before)
{
	static const enum stmt_id purge[] = { ST_PURGE_HELD_BIDS, ST_PURGE_PENDING_BIDS,
					      ST_PURGE_PENDING_POSTS };
	int n = 0;
	for (size_t i = 0; i < sizeof purge / sizeof purge[0]; i++) {
		struct db_stmt *st = stmt(s, purge[i]);
		if (!st)
			return -1;
		bind_text(st, 1, posts_before);
		bind_text(st, 2, bids_before);
		int rc = db_step(st);
		db_reset(st);
		if (rc != DB_STEP_DONE)
			return fail(s, rc, "purge");
		if (i != 1)
			n += db_changes(s->db);
	}
	return n;
}

int store_project_delete_pending(struct store *s, const char *poster)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_DELETE_PENDING);
	if (!st)
		return -1;
	bind_text(st, 1, poster);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? db_changes(s->db) : fail(s, rc, "project-delete");
}

int store_project_unasked(struct store *s, int64_t *ids, int max)
{
	/* the oldest unconfirmed post of each address that was never asked about, when no post
	 * request to that address waits for an answer (answering it asks about the next) */
	struct db_stmt *st = stmt(s, ST_PROJECT_UNASKED);
	if (!st)
		return -1;
	db_bind_int(st, 1, max);
	int n = 0, rc;
	while ((rc = db_step(st)) == DB_STEP_ROW && n < max)
		ids[n++] = db_column_int64(st, 0);
	db_reset(st);
	return rc == DB_STEP_DONE || rc == DB_STEP_ROW ? n : fail(s, rc, "project-unasked");
}

void bid_row_clear(struct bid_row *b)
{
	free(b->message);
	free(b->info.why);
	free(b->created);
	memset(b, 0, sizeof *b);
}

int store_poster_confirmed(struct store *s, const char *address)
{
	struct db_stmt *st = stmt(s, ST_POSTER_CONFIRMED);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	int rc = db_step(st);
	db_reset(st);
	if (rc == DB_STEP_ROW)
		return 1;
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "poster");
}

int store_poster_confirm(struct store *s, const char *address, time_t now)
{
	struct db_stmt *st = stmt(s, ST_POSTER_CONFIRM);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, address);
	bind_text(st, 2, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "poster-confirm");
}

int store_project_state_set(struct store *s, int64_t id, enum project_state from,
			    enum project_state to, time_t now)
{
	if (!store_project_state_legal(from, to))
		return state_refuse(s, "project", id, store_project_state_name(from),
				    store_project_state_name(to));
	/* the first time it opens is its publication */
	struct db_stmt *st = stmt(s, ST_PROJECT_STATUS);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, store_project_state_name(from));
	bind_text(st, 3, store_project_state_name(to));
	bind_text(st, 4, at);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "project-status");
	return db_changes(s->db) > 0;
}

int store_notice_claim(struct store *s, const char *kind, int64_t ref, time_t now)
{
	struct db_stmt *st = stmt(s, ST_NOTICE_CLAIM);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	bind_text(st, 1, kind);
	db_bind_int64(st, 2, ref);
	bind_text(st, 3, at);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "notice-claim");
	return db_changes(s->db) == 1 ? 1 : 0;
}

int store_project_answered(struct store *s, int64_t id)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_ANSWERED);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	int v = rc == DB_STEP_ROW ? db_column_int(st, 0) : 0;
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? v : fail(s, rc, "project-answered");
}

int store_project_mark_answered(struct store *s, int64_t id, time_t now)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_MARK_ANSWERED);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, at);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "project-mark-answered");
}

int store_rating_insert(struct store *s, int64_t bid, int64_t subscriber, int score,
			const char *comment, time_t now)
{
	struct db_stmt *st = stmt(s, ST_RATING_INSERT);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, bid);
	db_bind_int64(st, 2, subscriber);
	db_bind_int(st, 3, score);
	bind_text(st, 4, comment);
	bind_text(st, 5, at);
	int rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "rating");
	return db_changes(s->db) == 1 ? 1 : 0;
}

int store_freelancer_record(struct store *s, int64_t subscriber, double *avg, int *ratings,
			    int *completed)
{
	struct db_stmt *st = stmt(s, ST_FREELANCER_RECORD);
	if (!st)
		return -1;
	db_bind_int64(st, 1, subscriber);
	int rc = db_step(st);
	if (rc == DB_STEP_ROW) {
		*avg = db_column_double(st, 0);
		*ratings = db_column_int(st, 1);
		*completed = db_column_int(st, 2);
	}
	db_reset(st);
	return rc == DB_STEP_ROW ? 0 : fail(s, rc, "freelancer-record");
}

int store_project_update(struct store *s, int64_t id, const char *description,
			 const struct money *budget, int deadline_days, const char *deadline,
			 const char *skills_json, const char *location, const char *flags_json,
			 time_t now)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_UPDATE);
	if (!st)
		return -1;
	char at[32];
	clock_format_iso(now, at);
	db_bind_int64(st, 1, id);
	bind_text(st, 2, description);
	if (budget) {
		if (budget->min >= 0)
			db_bind_double(st, 3, budget->min);
		db_bind_double(st, 4, budget->max);
		bind_text(st, 5, budget->currency[0] ? budget->currency : NULL);
		bind_text(st, 6, budget->tax[0] ? budget->tax : NULL);
		bind_text(st, 7, budget->unit[0] ? budget->unit : NULL);
	}
	if (deadline_days >= 0)
		db_bind_int(st, 8, deadline_days);
	bind_text(st, 9, skills_json);
	bind_text(st, 10, location);
	bind_text(st, 11, at);
	bind_text(st, 12, flags_json ? flags_json : "[]");
	bind_text(st, 13, deadline && *deadline ? deadline : NULL);
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "project-update");
}

int store_project_retitle(struct store *s, int64_t id, const char *title, time_t now)
{
	return exec_id_text_at(s, ST_PROJECT_RETITLE, id, title, now, "project-retitle");
}

int store_check(struct store *s)
{
	return db_check(s->db);
}

int store_backup(struct store *s, const char *path)
{
	return db_backup(s->db, path);
}

char *store_projects_version(struct store *s)
{
	/* the open set (its size and the sum of its ids) catches a publication or a closing
	 * in the same second as the last update; only open rows are read (projects_status), so
	 * unconfirmed or held posts cost nothing here, and bids are counted from their index */
	return scalar_text(s, ST_PROJECTS_VERSION);
}

static char *scalar_text(struct store *s, enum stmt_id id)
{
	struct db_stmt *st = stmt(s, id);
	if (!st)
		return NULL;
	char *v = db_step(st) == DB_STEP_ROW ? col_text(st, 0) : NULL;
	db_reset(st);
	return v;
}

static int scalar_int(struct store *s, enum stmt_id id)
{
	struct db_stmt *st = stmt(s, id);
	if (!st)
		return -1;
	int n = db_step(st) == DB_STEP_ROW ? db_column_int(st, 0) : -1;
	db_reset(st);
	return n;
}

int store_status(struct store *s, struct store_status *st)
{
	memset(st, 0, sizeof *st);
	st->outbox_queued = scalar_int(s, ST_STATUS_QUEUED);
	st->outbox_failed = scalar_int(s, ST_STATUS_FAILED);
	st->outbox_sent = scalar_int(s, ST_STATUS_SENT);
	st->oldest_queued = scalar_text(s, ST_STATUS_OLDEST_QUEUED);
	st->last_digest = scalar_text(s, ST_STATUS_LAST_DIGEST);
	st->pending_posts = scalar_int(s, ST_STATUS_PENDING_POSTS);
	st->held_posts = scalar_int(s, ST_STATUS_HELD_POSTS);
	st->pending_subscribers = scalar_int(s, ST_STATUS_PENDING_SUBSCRIBERS);
	struct db_stmt *q = stmt(s, ST_ADDRESSES_DISABLED);
	if (!q)
		return -1;
	int rc;
	while ((rc = db_step(q)) == DB_STEP_ROW)
		strlist_add_owned(&st->disabled, col_text(q, 0));
	db_reset(q);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "status");
}

void store_status_clear(struct store_status *st)
{
	free(st->oldest_queued);
	free(st->last_digest);
	strlist_clear(&st->disabled);
	memset(st, 0, sizeof *st);
}

int store_sender_hit(struct store *s, const char *address, time_t now, long window, int limit)
{
	char nows[32], starts[32];
	clock_format_iso(now, nows);
	clock_format_iso(now - window, starts);
	struct db_stmt *st = stmt(s, ST_SENDER_HIT);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	bind_text(st, 2, nows);
	bind_text(st, 3, starts);
	int rc = db_step(st);
	if (rc != DB_STEP_ROW) {
		db_reset(st);
		return fail(s, rc, "sender rate");
	}
	int count = db_column_int(st, 0);
	int told = db_column_type(st, 1) != DB_TYPE_NULL;
	/* RETURNING: the row is written when the statement runs to its end */
	while ((rc = db_step(st)) == DB_STEP_ROW)
		;
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "sender rate");
	if (count <= limit)
		return 0;
	if (told)
		return 2;
	st = stmt(s, ST_SENDER_TOLD);
	if (!st)
		return -1;
	bind_text(st, 1, address);
	bind_text(st, 2, nows);
	return run(s, st, "sender rate") < 0 ? -1 : 1;
}

int store_outbox_message_by_token(struct store *s, const char *token, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	struct db_stmt *st = stmt(s, ST_OUTBOX_BY_TOKEN);
	if (!st)
		return -1;
	bind_text(st, 1, token);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		found = message_read(st, 0, 1, 0, data, len) == 0;
	}
	db_reset(st);
	if (rc != DB_STEP_ROW && rc != DB_STEP_DONE)
		return fail(s, rc, "outbox-by-token");
	return found;
}

int store_subscriber_language_chosen(struct store *s, int64_t id)
{
	struct db_stmt *st = stmt(s, ST_LANGUAGE_CHOSEN_GET);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	int chosen = rc == DB_STEP_ROW ? db_column_int(st, 0) != 0 : 0;
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? chosen : fail(s, rc, "language-chosen");
}

int store_subscriber_language_choose(struct store *s, int64_t id, const char *language)
{
	struct db_stmt *st = stmt(s, ST_LANGUAGE_CHOSEN_SET);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	bind_text(st, 2, language);
	return run(s, st, "language-choose") < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- the table, read-only */
/* For the dialect check (tests/pg_dialect.c, declared in db.h): the statement texts by id
 * (NULL for an id without one) and the migrations in order; static text. */
int store_statement_count(void)
{
	return ST_COUNT_;
}

const char *store_statement_sql(int i)
{
	return i >= 0 && i < ST_COUNT_ ? stmt_sql[i] : NULL;
}

int store_migration_count(void)
{
	return N_MIGRATIONS;
}

const char *store_migration_sql(int i)
{
	return i >= 0 && i < N_MIGRATIONS ? migrations[i] : NULL;
}

/* ---------------------------------------------------------------- instant profiles, by page */
/* (issue 15) The patterns of the page v[0..n) (ids ascending) from one range read, each
 * subscriber's in id order as patterns_load reads them. 0 or -1. */
static int patterns_range_load(struct store *s, struct subscriber *v, int n, int64_t after)
{
	struct db_stmt *st = stmt(s, ST_PATTERNS_INSTANT_RANGE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int64(st, 2, v[n - 1].id);
	int rc, i = 0;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		int64_t id = db_column_int64(st, 0);
		while (i < n && v[i].id < id)
			i++;
		if (i == n)
			break;
		if (v[i].id != id)
			continue;	/* became instant since the page was read: not in it */
		const char *kind = (const char *)db_column_text(st, 1);
		strlist_add(!strcmp(kind, "exclude") ? &v[i].excludes : &v[i].skills,
			    (const char *)db_column_text(st, 2));
	}
	db_reset(st);
	return rc == DB_STEP_DONE || rc == DB_STEP_ROW ? 0 : fail(s, rc, "patterns-range");
}

/* The page's rows (statement st, bound), then their patterns in one range read. */
static int instant_rows_read(struct store *s, struct db_stmt *st, int64_t after,
			     struct subscriber **out)
{
	struct subscriber *v;
	*out = NULL;
	int n = subscriber_rows_fetch(s, st, &v, "subscriber-instant");
	if (n < 0)
		return -1;
	if (n && patterns_range_load(s, v, n, after) < 0)
		return subscribers_drop(v, n);
	*out = v;
	return n;
}

int store_subscriber_instant_batch(struct store *s, int64_t after, int limit,
				   struct subscriber **out)
{
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_INSTANT_PAGE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	return subscriber_rows_with(s, st, after, instant_rows_read, out);
}

/* ------------------------------------------------------------------ H16a (issue 16): leases
 * that hold across hosts. On PostgreSQL the lease times are the database's clock (the
 * overrides of db_dialect_overrides.h read now() and keep only the length of a lease from the
 * host's `until` minus its `now`); SQLite, one host, keeps the times it is given. */

int store_is_shared(const struct store *s)
{
	return s->shared;
}

int store_error_is_retry(const struct store *s)
{
	return s->err == DB_ERR_RETRY;
}

int store_project_lock(struct store *s, int64_t id)
{
	struct db_stmt *st = stmt(s, ST_PROJECT_LOCK);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st), found = rc == DB_STEP_ROW;
	while (rc == DB_STEP_ROW)
		rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "project-lock");
	s->err = DB_ERR_NONE;
	return found;
}

int store_outbox_reap(struct store *s, const char *now)
{
	struct db_stmt *st = stmt(s, ST_OUTBOX_REAP);
	if (!st)
		return -1;
	bind_text(st, 1, now);
	if (run(s, st, "outbox-reap") < 0)
		return -1;
	return (int)db_changes(s->db);
}

int store_shard_claim(struct store *s, const char *period, int shard, const char *owner,
		      const char *now, const char *until)
{
	struct db_stmt *st = stmt(s, ST_SHARD_ENSURE);
	if (!st)
		return -1;
	bind_text(st, 1, period);
	db_bind_int(st, 2, shard);
	if (run(s, st, "shard-ensure") < 0 || !(st = stmt(s, ST_SHARD_CLAIM)))
		return -1;
	bind_text(st, 1, period);
	db_bind_int(st, 2, shard);
	bind_text(st, 3, owner);
	bind_text(st, 4, until);
	bind_text(st, 5, now);
	int rc = db_step(st), got = rc == DB_STEP_ROW;
	while (rc == DB_STEP_ROW)
		rc = db_step(st);
	db_reset(st);
	if (rc != DB_STEP_DONE)
		return fail(s, rc, "shard-claim");
	s->err = DB_ERR_NONE;
	return got;
}

int store_shard_renew(struct store *s, const char *period, int shard, const char *owner,
		      const char *now, const char *until)
{
	struct db_stmt *st = stmt(s, ST_SHARD_RENEW);
	if (!st)
		return -1;
	bind_text(st, 1, period);
	db_bind_int(st, 2, shard);
	bind_text(st, 3, owner);
	bind_text(st, 4, until);
	bind_text(st, 5, now);
	if (run(s, st, "shard-renew") < 0)
		return -1;
	return db_changes(s->db) > 0;
}

int store_shard_release(struct store *s, const char *period, int shard, const char *owner,
			const char *done)
{
	struct db_stmt *st = stmt(s, ST_SHARD_RELEASE);
	if (!st)
		return -1;
	bind_text(st, 1, period);
	db_bind_int(st, 2, shard);
	bind_text(st, 3, owner);
	bind_text(st, 4, done);
	if (run(s, st, "shard-release") < 0)
		return -1;
	return db_changes(s->db) > 0;
}

int store_shard_owner(struct store *s, const char *period, int shard, char *out, size_t len)
{
	struct db_stmt *st = stmt(s, ST_SHARD_OWNER);
	if (!st)
		return -1;
	bind_text(st, 1, period);
	db_bind_int(st, 2, shard);
	int rc = db_step(st), found = 0;
	if (rc == DB_STEP_ROW) {
		snprintf(out, len, "%s", (const char *)db_column_text(st, 0));
		found = 1;
	}
	db_reset(st);
	return rc == DB_STEP_ROW || rc == DB_STEP_DONE ? found : fail(s, rc, "shard-owner");
}

int store_subscriber_due_shard(struct store *s, const char *now, const char *after_due,
			       int64_t after, int shards, int shard, int limit,
			       struct subscriber **out)
{
	*out = NULL;
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_DUE_SHARD);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	bind_text(st, 3, now);
	bind_text(st, 4, after_due ? after_due : "");
	db_bind_int(st, 5, shards);
	db_bind_int(st, 6, shard);
	return subscriber_rows(s, st, out);
}

/* ------------------------------------------------------------------ H4 (issue 16): purges */

/* One call of purge statement which with before bound as ?1: the rows deleted, or -1
 * (logged). */
static int purge_once(struct store *s, enum stmt_id which, const char *before, const char *what)
{
	struct db_stmt *st = stmt(s, which);
	if (st)
		bind_text(st, 1, before);
	return run(s, st, what) < 0 ? -1 : db_changes(s->db);
}

/* A purge round: statement which, then statement then when it is not ST_COUNT_ (the outbox
 * bodies, then their rows), committed on its own when the caller has no transaction open, so
 * that a long purge holds the write lock for one round at a time, never for its whole run.
 * The rows the last statement deleted, or -1 (logged, the round rolled back). */
static int purge_round(struct store *s, enum stmt_id which, enum stmt_id then,
		       const char *before, const char *what)
{
	int own = !s->in_tx;
	if (own && store_begin(s) < 0)
		return -1;
	int n = purge_once(s, which, before, what);
	if (n >= 0 && then != ST_COUNT_)
		n = purge_once(s, then, before, what);
	if (own && (n < 0 || store_commit(s) < 0)) {
		store_rollback(s);
		return -1;
	}
	return n;
}

/* Runs purge rounds until one deletes fewer than a batch (10,000) or 100 rounds (once for the
 * statement without a batch limit); returns the rows deleted, or -1 (logged). */
static int purge_rows(struct store *s, enum stmt_id which, enum stmt_id then, const char *before,
		      const char *what)
{
	int total = 0;
	for (int round = 0; round < 100; round++) {
		int n = purge_round(s, which, then, before, what);
		if (n < 0)
			return -1;
		total += n;
		if (n < 10000 || which == ST_SHARD_PURGE)
			break;
	}
	return total;
}

int store_shard_purge(struct store *s, const char *before_day)
{
	return purge_rows(s, ST_SHARD_PURGE, ST_COUNT_, before_day, "shard-purge");
}

int store_relayed_purge(struct store *s, const char *before, int *ingest_keys)
{
	int relayed = purge_rows(s, ST_RELAYED_PURGE, ST_COUNT_, before, "relayed-purge");
	int keys = relayed < 0 ? -1 : purge_rows(s, ST_INGEST_PURGE, ST_COUNT_, before,
						   "ingest-purge");
	if (ingest_keys)
		*ingest_keys = keys;
	return keys < 0 ? -1 : relayed;
}

/* The bodies of the batch of sent rows first (their rows name them), then the rows: one
 * round, so that no row outlives its body. */
int store_outbox_purge(struct store *s, const char *before)
{
	int n = purge_rows(s, ST_OUTBOX_PURGE_MESSAGE, ST_OUTBOX_PURGE, before, "outbox-purge");
	/* then the shared texts no message names any more (migration 28), which this
	 * connection's references then no longer name either */
	int parts = n < 0 ? -1 : purge_rows(s, ST_OUTBOX_PART_PURGE, ST_COUNT_, before,
					    "outbox-part-purge");
	if (parts != 0)
		share_forget(s);
	return parts < 0 ? -1 : n;
}

/* ------------------------------------------------------- H3 (issue 15): alerts by pattern text
 * The alert pass matches each distinct pattern text once (pattern_texts, migration 26, kept
 * by triggers), then reads only the active instant subscribers owning a text that matched:
 * an alert pass costs its hits, not the board's profiles. */
int store_pattern_texts_page(struct store *s, int64_t after, int limit, int64_t *ids,
			     char **texts)
{
	struct db_stmt *st = stmt(s, ST_PATTERN_TEXTS_PAGE);
	if (!st)
		return -1;
	db_bind_int64(st, 1, after);
	db_bind_int(st, 2, limit);
	int n = 0, rc;
	while (n < limit && (rc = db_step(st)) == DB_STEP_ROW) {
		ids[n] = db_column_int64(st, 0);
		texts[n++] = xstrdup((const char *)db_column_text(st, 1));
	}
	db_reset(st);
	if (n < limit && rc != DB_STEP_DONE) {
		for (int i = 0; i < n; i++)
			free(texts[i]);
		return fail(s, rc, "pattern-texts");
	}
	return n;
}

int store_pattern_owners_instant(struct store *s, const char *text, int any_kind,
				 int64_t **ids, int *n, int *cap)
{
	struct db_stmt *st = stmt(s, ST_PATTERN_OWNERS_INSTANT);
	if (!st)
		return -1;
	bind_text(st, 1, text);
	db_bind_int(st, 2, any_kind);
	int rc;
	while ((rc = db_step(st)) == DB_STEP_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 1024;
			*ids = xrealloc(*ids, (size_t)*cap * sizeof **ids);
		}
		(*ids)[(*n)++] = db_column_int64(st, 0);
	}
	db_reset(st);
	return rc == DB_STEP_DONE ? 0 : fail(s, rc, "pattern-owners");
}

/* The subscribers ids[0..n) that are still active and instant, with their patterns. */
static int instant_ids_read(struct store *s, const int64_t *ids, int n, struct subscriber **out)
{
	struct db_stmt *st = stmt(s, ST_SUBSCRIBER_INSTANT_ONE);
	if (!st)
		return -1;
	struct subscriber *v = xcalloc((size_t)n + 1, sizeof *v);
	int got = 0;
	for (int i = 0; i < n; i++) {
		db_bind_int64(st, 1, ids[i]);
		int rc = db_step(st);
		if (rc == DB_STEP_ROW)
			subscriber_read(st, &v[got]);
		db_reset(st);
		if (rc != DB_STEP_ROW && rc != DB_STEP_DONE) {
			fail(s, rc, "subscriber-instant-one");
			return subscribers_drop(v, got);
		}
		if (rc == DB_STEP_ROW && patterns_load(s, &v[got++]) < 0)
			return subscribers_drop(v, got);
	}
	if (!got) {
		free(v);	/* every owner gone inactive since the texts were read: no page */
		v = NULL;
	}
	*out = v;
	return got;
}

int store_subscriber_instant_ids(struct store *s, const int64_t *ids, int n,
				 struct subscriber **out)
{
	*out = NULL;
	int outer = !db_in_transaction(s->db);
	if (outer && run(s, stmt(s, ST_BEGIN_READ), "begin-read") < 0)
		return -1;
	int got = instant_ids_read(s, ids, n, out);
	if (outer && store_commit(s) < 0) {
		if (got > 0)
			subscribers_drop(*out, got);
		*out = NULL;
		return -1;
	}
	return got;
}
