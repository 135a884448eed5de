/*
 * db_sqlite.c — the SQLite driver of the database seam (db.h): the only file that includes
 * sqlite3.h. In: a file path, statements in SQLite's text with their ids, values to bind.
 * Out: rows, errors sorted into the seam's classes, and SQLite's own features behind calls
 * named for what they do: durability (PRAGMA synchronous), the structural check (PRAGMA
 * quick_check), the schema version (PRAGMA user_version), a checked copy (the backup API).
 * Statements are prepared once per connection and cached by id.
 */
#include "bidmail.h"
#include "db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct db_stmt {
	struct db_head head;
	struct db *db;
	sqlite3_stmt *st;
};

struct db {
	struct db_head head;
	sqlite3 *conn;
	int last_rc;			/* the last result code of a step, prepare or exec */
	struct db_stmt *stmts[DB_MAX_STMTS];
};

static const struct db_driver sqlite_driver;

/* Records rc as the connection's last result; returns rc. */
static int note_rc(struct db *db, int rc)
{
	db->last_rc = rc;
	return rc;
}

static struct db *lite_close(struct db *db)
{
	if (!db)
		return NULL;
	for (int i = 0; i < DB_MAX_STMTS; i++) {
		if (db->stmts[i]) {
			sqlite3_finalize(db->stmts[i]->st);
			free(db->stmts[i]);
		}
	}
	sqlite3_close(db->conn);
	free(db);
	return NULL;
}

struct db *db_sqlite_open(const char *path, int create)
{
	struct db *db = xcalloc(1, sizeof *db);
	db->head.drv = &sqlite_driver;
	/* a connection is never used by two threads at once (each thread that needs the
	 * database opens its own; the HTTP endpoint's connection is used by microhttpd's one
	 * polling thread, then closed by the main thread once it stopped: no thread pool there),
	 * so SQLite's per-call mutex is not needed */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->conn, flags, NULL) != SQLITE_OK) {
		log_err("stage=store path=%s error=\"%s\"", path,
			db->conn ? sqlite3_errmsg(db->conn) : "cannot open");
		return lite_close(db);
	}
	sqlite3_busy_timeout(db->conn, 10000);
	char *err = NULL;
	/* the WAL is copied back every 10,000 pages (about 40 MB) rather than SQLite's 1,000: a
	 * bulk pass (the alerts, a weekly run) rewrites its indexes' last pages once per 40 MB
	 * instead of ten times */
	if (sqlite3_exec(db->conn, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
				   " PRAGMA wal_autocheckpoint=10000;"
				   "PRAGMA foreign_keys=ON;", NULL, NULL, &err) != SQLITE_OK) {
		log_err("stage=store path=%s error=\"%s\"", path, err ? err : "?");
		sqlite3_free(err);
		return lite_close(db);
	}
	return db;
}

static struct db_stmt *lite_prepare(struct db *db, int id, const char *sql)
{
	if (id < 0 || id >= DB_MAX_STMTS)
		return NULL;
	struct db_stmt *s = db->stmts[id];
	if (!s) {
		sqlite3_stmt *st = NULL;
		if (note_rc(db, sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL)) != SQLITE_OK)
			return NULL;
		s = db->stmts[id] = xcalloc(1, sizeof *s);
		s->head.drv = &sqlite_driver;
		s->db = db;
		s->st = st;
	}
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
	return s;
}

static int bind_rc(int rc)
{
	return rc == SQLITE_OK ? 0 : -1;
}

static int lite_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	return bind_rc(sqlite3_bind_int64(s->st, i, v));
}

static int lite_bind_int(struct db_stmt *s, int i, int v)
{
	return bind_rc(sqlite3_bind_int(s->st, i, v));
}

static int lite_bind_double(struct db_stmt *s, int i, double v)
{
	return bind_rc(sqlite3_bind_double(s->st, i, v));
}

static int lite_bind_text(struct db_stmt *s, int i, const char *v)
{
	if (!v)
		return bind_rc(sqlite3_bind_null(s->st, i));
	return bind_rc(sqlite3_bind_text(s->st, i, v, -1, SQLITE_TRANSIENT));
}

static int lite_bind_blob(struct db_stmt *s, int i, const void *v, size_t n)
{
	if (n > 0x7fffffff)
		return -1;
	return bind_rc(sqlite3_bind_blob(s->st, i, v ? v : "", (int)n, SQLITE_TRANSIENT));
}

static int lite_bind_null(struct db_stmt *s, int i)
{
	return bind_rc(sqlite3_bind_null(s->st, i));
}

static int lite_step(struct db_stmt *s)
{
	int rc = note_rc(s->db, sqlite3_step(s->st));
	if (rc == SQLITE_ROW)
		return DB_STEP_ROW;
	if (rc == SQLITE_DONE)
		return DB_STEP_DONE;
	return DB_STEP_ERROR;
}

static void lite_reset(struct db_stmt *s)
{
	if (s)
		sqlite3_reset(s->st);
}

static int lite_column_type(struct db_stmt *s, int c)
{
	return sqlite3_column_type(s->st, c);	/* SQLite's codes are the seam's */
}

static int64_t lite_column_int64(struct db_stmt *s, int c)
{
	return sqlite3_column_int64(s->st, c);
}

static int lite_column_int(struct db_stmt *s, int c)
{
	return sqlite3_column_int(s->st, c);
}

static double lite_column_double(struct db_stmt *s, int c)
{
	return sqlite3_column_double(s->st, c);
}

static const char *lite_column_text(struct db_stmt *s, int c)
{
	return (const char *)sqlite3_column_text(s->st, c);
}

static const void *lite_column_blob(struct db_stmt *s, int c)
{
	return sqlite3_column_blob(s->st, c);
}

static int lite_column_bytes(struct db_stmt *s, int c)
{
	return sqlite3_column_bytes(s->st, c);
}

static int lite_changes(struct db *db)
{
	return sqlite3_changes(db->conn);
}

static int64_t lite_last_insert_id(struct db *db)
{
	return sqlite3_last_insert_rowid(db->conn);
}

/* A text of statements; the error, if any, is logged by the caller with db_errmsg. */
static int lite_exec(struct db *db, const char *sql)
{
	return note_rc(db, sqlite3_exec(db->conn, sql, NULL, NULL, NULL)) == SQLITE_OK ? 0 : -1;
}

/* SQLite's one writer: a write transaction takes the write lock at once, serializable. */
static int lite_begin(struct db *db, int serializable)
{
	(void)serializable;
	return lite_exec(db, "BEGIN IMMEDIATE");
}

static int lite_commit(struct db *db)
{
	return lite_exec(db, "COMMIT");
}

static int lite_rollback(struct db *db)
{
	return lite_exec(db, "ROLLBACK");
}

/* name is the program's own identifier, never input. */
static int savepoint_op(struct db *db, const char *verb, const char *name)
{
	char sql[96];
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(name) || !*name ||
	    strlen(name) > 63)
		return -1;
	snprintf(sql, sizeof sql, "%s %s", verb, name);
	return lite_exec(db, sql);
}

static int lite_savepoint(struct db *db, const char *name)
{
	return savepoint_op(db, "SAVEPOINT", name);
}

static int lite_release(struct db *db, const char *name)
{
	return savepoint_op(db, "RELEASE", name);
}

static int lite_rollback_to(struct db *db, const char *name)
{
	return savepoint_op(db, "ROLLBACK TO", name);
}

static int lite_in_transaction(struct db *db)
{
	return !sqlite3_get_autocommit(db->conn);
}

static const char *lite_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->conn);
}

/* Busy, locked, full, I/O, memory, open and read-only errors pass: try again later. */
static enum db_error lite_error_class(struct db *db)
{
	int rc = db->last_rc & 0xff;
	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return DB_ERR_NONE;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_FULL ||
	    rc == SQLITE_IOERR || rc == SQLITE_NOMEM || rc == SQLITE_CANTOPEN ||
	    rc == SQLITE_PROTOCOL || rc == SQLITE_READONLY)
		return DB_ERR_RETRY;
	if (rc == SQLITE_CONSTRAINT)
		return DB_ERR_CONFLICT;
	return DB_ERR_OTHER;
}

static int lite_reconnect(struct db *db, int max_wait_ms)
{
	(void)db;
	(void)max_wait_ms;
	return 0;
}

static int lite_schema_version(struct db *db)
{
	sqlite3_stmt *st = NULL;
	if (note_rc(db, sqlite3_prepare_v2(db->conn, "PRAGMA user_version", -1, &st, NULL)) !=
	    SQLITE_OK)
		return -1;
	int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

static int lite_migrate(struct db *db, const char *const *migrations, int n)
{
	int version = lite_schema_version(db);
	if (version < 0)
		return -1;
	if (version > n) {
		log_err("stage=store error=\"database schema %d is newer than this program (%d)\"",
			version, n);
		return -1;
	}
	for (int v = version; v < n; v++) {
		char *err = NULL;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
		if (sqlite3_exec(db->conn, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db->conn, migrations[v], NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db->conn, pragma, NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(db->conn, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
			log_err("stage=store migration=%d error=\"%s\"", v + 1, err ? err : "?");
			sqlite3_free(err);
			sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		log_info("stage=store migration=%d result=applied", v + 1);
	}
	return 0;
}

/* A pragma that sets a value acts when it is prepared, not when it runs: never cached. In WAL
 * mode NORMAL writes each commit to the OS and fsyncs at checkpoints (a power cut may lose the
 * last commits, never tear one); FULL fsyncs every commit. */
static int lite_set_durability(struct db *db, int fast)
{
	char *err = NULL;
	if (sqlite3_exec(db->conn, fast ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
			 NULL, NULL, &err) != SQLITE_OK) {
		log_err("stage=store op=durability error=\"%s\"", err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* quick_check on a connection: 0 when it answers "ok", -1 when it finds damage or cannot run. */
static int quick_check(sqlite3 *conn)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(conn, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK)
		return -1;
	const unsigned char *t = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
	int ok = t && !strcmp((const char *)t, "ok");
	sqlite3_finalize(q);
	return ok ? 0 : -1;
}

static int lite_check(struct db *db)
{
	if (quick_check(db->conn) < 0) {
		log_err("stage=store op=check error=\"the database fails quick_check\"");
		return -1;
	}
	return 0;
}

/* Copies src into dst in steps, so that the daemon's writers are never held up for the whole
 * copy; a write between steps restarts the copy, which the bounded loop turns into an error.
 * The copy's size in pages, or -1 (logged). */
static int copy_pages(sqlite3 *src, sqlite3 *dst, const char *tmp)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		log_err("stage=backup path=%s error=\"%s\"", tmp, sqlite3_errmsg(dst));
		return -1;
	}
	int rc = SQLITE_OK;
	for (int round = 0; round < 100000 && (rc == SQLITE_OK || rc == SQLITE_BUSY ||
					       rc == SQLITE_LOCKED); round++) {
		rc = sqlite3_backup_step(b, 256);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(20);
	}
	int pages = sqlite3_backup_pagecount(b);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		log_err("stage=backup path=%s error=\"%s\"", tmp, sqlite3_errstr(rc));
		return -1;
	}
	if (quick_check(dst) < 0) {
		log_err("stage=backup path=%s error=\"the copy fails quick_check\"", tmp);
		return -1;
	}
	/* a self-contained file: no -wal beside it */
	if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	return pages;
}

static int lite_backup(struct db *db, const char *path)
{
	size_t len = strlen(path);
	char *tmp = xmalloc(len + 8);
	snprintf(tmp, len + 8, "%s.tmp", path);
	unlink(tmp);
	sqlite3 *dst = NULL;
	int pages = -1;
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		log_err("stage=backup path=%s error=\"%s\"", tmp, dst ? sqlite3_errmsg(dst) : "cannot open");
	else
		pages = copy_pages(db->conn, dst, tmp);
	if (dst && sqlite3_close(dst) != SQLITE_OK)
		pages = -1;
	if (pages >= 0 && rename(tmp, path) < 0) {
		log_err("stage=backup path=%s error=\"%s\"", path, strerror(errno));
		pages = -1;
	}
	if (pages < 0)
		unlink(tmp);
	free(tmp);
	return pages;
}

static const struct db_driver sqlite_driver = {
	.name = "sqlite",
	.close = lite_close,
	.prepare = lite_prepare,
	.bind_int64 = lite_bind_int64,
	.bind_int = lite_bind_int,
	.bind_double = lite_bind_double,
	.bind_text = lite_bind_text,
	.bind_blob = lite_bind_blob,
	.bind_null = lite_bind_null,
	.step = lite_step,
	.reset = lite_reset,
	.column_type = lite_column_type,
	.column_int64 = lite_column_int64,
	.column_int = lite_column_int,
	.column_double = lite_column_double,
	.column_text = lite_column_text,
	.column_blob = lite_column_blob,
	.column_bytes = lite_column_bytes,
	.changes = lite_changes,
	.last_insert_id = lite_last_insert_id,
	.exec = lite_exec,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.savepoint = lite_savepoint,
	.release = lite_release,
	.rollback_to = lite_rollback_to,
	.in_transaction = lite_in_transaction,
	.errmsg = lite_errmsg,
	.error_class = lite_error_class,
	.reconnect = lite_reconnect,
	.migrate = lite_migrate,
	.schema_version = lite_schema_version,
	.set_durability = lite_set_durability,
	.check = lite_check,
	.backup = lite_backup,
};
