/*
 * db_pg.c — the PostgreSQL driver of the database seam (db.h), over libpq: the only file that
 * includes libpq-fe.h. In: a postgresql:// URL, statements already in PostgreSQL's dialect
 * (db_dialect.c) with their ids, values bound as text (blobs as binary). Out: a row cursor
 * that reads like sqlite3_step/sqlite3_column_*, rows changed, the id of RETURNING id, and
 * every error sorted into a class (retry the transaction, reconnect, conflict, other).
 * Statements are prepared once per connection (PQprepare, named s<id>) and again after a
 * reconnect; one connection belongs to one thread.
 */
#include "bidmail.h"
#include "db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_MAX_PARAMS 64
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

struct db_stmt {
	struct db_head head;
	struct db *db;
	int id;
	char *sql;
	int returns_id;
	unsigned prepared_gen;		/* the connection generation it was prepared on; 0: never */
	int nparams;
	char *values[DB_MAX_PARAMS];
	int lengths[DB_MAX_PARAMS];
	int formats[DB_MAX_PARAMS];
	PGresult *res;
	int ran, row;
	unsigned char *blob;		/* the unescaped bytea of blob_col in the current row */
	size_t blob_len;
	int blob_col;
};

struct db {
	struct db_head head;
	PGconn *conn;
	char *url;
	struct db_limits lim;
	unsigned gen;
	struct db_stmt *stmts[DB_MAX_STMTS];
	int changes;
	int64_t last_id;
	char errmsg[512];
	char sqlstate[6];
	enum db_error cls;
};

static const struct db_driver pg_driver;

enum db_error db_pg_classify(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return DB_ERR_RECONNECT;
	/* a serialization failure, a deadlock, a lock or statement timeout, resources short (53xxx:
	 * disk full, out of memory), or the aborted transaction after one of them: the message is
	 * tried again (SQLite's BUSY, FULL and NOMEM are transient too), never set aside */
	if (!strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01") ||
	    !strcmp(sqlstate, "55P03") || !strcmp(sqlstate, "57014") ||
	    !strncmp(sqlstate, "53", 2) || !strcmp(sqlstate, "25P02"))
		return DB_ERR_RETRY;
	if (!strncmp(sqlstate, "08", 2) || !strcmp(sqlstate, "57P01") ||
	    !strcmp(sqlstate, "57P02") || !strcmp(sqlstate, "57P03") || !strcmp(sqlstate, "25006"))
		return DB_ERR_RECONNECT;
	if (!strcmp(sqlstate, "23505"))
		return DB_ERR_CONFLICT;
	return DB_ERR_OTHER;
}

static void error_clear(struct db *db)
{
	db->errmsg[0] = 0;
	db->sqlstate[0] = 0;
	db->cls = DB_ERR_NONE;
}

/* Records the error of res (or of the connection when res has none); always -1. Only the
 * errors of connecting are logged here: the caller logs the others once, knowing the message
 * they concern, and an expected conflict is not an error to log at all. */
static int error_set(struct db *db, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = db->conn ? PQerrorMessage(db->conn) : "no connection";
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	snprintf(db->errmsg, sizeof db->errmsg, "%s", msg);
	for (char *c = db->errmsg; *c; c++)	/* libpq's lines (one per host) on one line */
		if (*c == '\r' || *c == '\n' || *c == '\t')
			*c = ' ';
	for (size_t n = strlen(db->errmsg); n > 0 && db->errmsg[n - 1] == ' '; n--)
		db->errmsg[n - 1] = 0;
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD)
		db->cls = DB_ERR_RECONNECT;
	else
		db->cls = state ? db_pg_classify(state) : DB_ERR_OTHER;
	if (strcmp(what, "connect") && strcmp(what, "reconnect"))
		return -1;
	log_err("stage=store backend=postgresql op=%s sqlstate=%s error=\"%s\"", what,
		db->sqlstate[0] ? db->sqlstate : "-", db->errmsg);
	return -1;
}

static void ms_text(char *out, size_t n, int ms, int fallback)
{
	snprintf(out, n, "%d", ms > 0 ? ms : fallback);
}

/* The server's notices (a DROP that cascades, a ROLLBACK outside a transaction) are not the
 * program's errors: dropped, where libpq would print them on stderr. */
static void notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* One connection attempt with the limits; the URL comes last so that its values win. */
static PGconn *connect_once(const char *url, const struct db_limits *l)
{
	char ct[16], tcp[16], options[256];
	int ct_ms = l->connect_timeout_ms > 0 ? l->connect_timeout_ms : 10000;
	snprintf(ct, sizeof ct, "%d", (ct_ms + 999) / 1000);
	ms_text(tcp, sizeof tcp, l->tcp_user_timeout_ms, 30000);
	snprintf(options, sizeof options,
		 "-c statement_timeout=%d -c lock_timeout=%d"
		 " -c idle_in_transaction_session_timeout=%d",
		 l->statement_timeout_ms > 0 ? l->statement_timeout_ms : 30000,
		 l->lock_timeout_ms > 0 ? l->lock_timeout_ms : 10000,
		 l->idle_in_transaction_ms > 0 ? l->idle_in_transaction_ms : 60000);
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       "options", "application_name", "client_encoding", "dbname", NULL };
	const char *values[] = { ct, "1", "30", "10", "3", tcp, options, "bidmail", "UTF8", url,
				 NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn)
		PQsetNoticeProcessor(conn, notice_drop, NULL);
	return conn;
}

struct db *db_pg_open(const char *url, const struct db_limits *limits)
{
	if (strncmp(url, "postgresql://", 13) && strncmp(url, "postgres://", 11)) {
		log_err("stage=store backend=postgresql error=\"not a postgresql:// URL\"");
		return NULL;
	}
	struct db *db = xcalloc(1, sizeof *db);
	db->url = xstrdup(url);
	if (limits)
		db->lim = *limits;
	db->head.drv = &pg_driver;
	db->gen = 1;
	db->conn = connect_once(url, &db->lim);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		error_set(db, NULL, "connect");
		return db_pg_close(db);
	}
	return db;
}

static void stmt_clear_bindings(struct db_stmt *st)
{
	for (int i = 0; i < DB_MAX_PARAMS; i++) {
		free(st->values[i]);
		st->values[i] = NULL;
		st->lengths[i] = 0;
		st->formats[i] = 0;
	}
}

static void stmt_free(struct db_stmt *st)
{
	if (!st)
		return;
	db_pg_reset(st);
	stmt_clear_bindings(st);
	free(st->sql);
	free(st);
}

struct db *db_pg_close(struct db *db)
{
	if (!db)
		return NULL;
	for (int i = 0; i < DB_MAX_STMTS; i++)
		stmt_free(db->stmts[i]);
	if (db->conn)
		PQfinish(db->conn);
	free(db->url);
	free(db);
	return NULL;
}

static volatile int *stop_flag;

void db_set_stop_flag(volatile int *flag)
{
	stop_flag = flag;
}

static int stopping(void)
{
	return stop_flag && __atomic_load_n(stop_flag, __ATOMIC_ACQUIRE);
}

/* Sleeps ms in slices of at most 100 ms, ending early once a stop is asked. */
static void sleep_ms(int ms)
{
	while (ms > 0 && !stopping()) {
		int slice = ms < 100 ? ms : 100;
		struct timespec ts = { 0, (long)slice * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= slice;
	}
}

int db_pg_reconnect(struct db *db, int max_wait_ms)
{
	int waited = 0, delay = 100;
	for (int attempt = 0; attempt < 1000; attempt++) {
		if (stopping()) {
			log_warn("stage=store backend=postgresql op=reconnect result=abandoned "
				 "reason=\"stopping: what was not committed waits in the spool\"");
			break;
		}
		if (db->conn)
			PQfinish(db->conn);
		db->conn = connect_once(db->url, &db->lim);
		if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
			db->gen++;	/* every statement is prepared again on its next use */
			error_clear(db);
			log_info("stage=store backend=postgresql op=reconnect attempts=%d", attempt + 1);
			return 0;
		}
		if (waited >= max_wait_ms)
			break;
		int d = delay < max_wait_ms - waited ? delay : max_wait_ms - waited;
		sleep_ms(d);
		waited += d;
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
	return error_set(db, NULL, "reconnect");
}

/* The highest $N of sql and, in used[], which N appear (outside quotes). */
static int count_params(const char *sql, unsigned char used[DB_MAX_PARAMS + 1])
{
	int max = 0;
	char quote = 0;
	memset(used, 0, DB_MAX_PARAMS + 1);
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
			long n = strtol(p + 1, NULL, 10);
			if (n > DB_MAX_PARAMS)
				return -1;
			used[n] = 1;
			max = n > max ? (int)n : max;
		}
	}
	return max;
}

static int stmt_prepare(struct db_stmt *st)
{
	struct db *db = st->db;
	unsigned char used[DB_MAX_PARAMS + 1];
	Oid types[DB_MAX_PARAMS];
	char name[16];
	st->nparams = count_params(st->sql, used);
	if (st->nparams < 0) {
		snprintf(db->errmsg, sizeof db->errmsg, "more than %d parameters", DB_MAX_PARAMS);
		db->cls = DB_ERR_OTHER;
		return -1;
	}
	/* a number the text skips is typed text, so that the server does not ask what it is */
	for (int i = 0; i < st->nparams; i++)
		types[i] = used[i + 1] ? 0 : OID_TEXT;
	snprintf(name, sizeof name, "s%d", st->id);
	PGresult *res = PQprepare(db->conn, name, st->sql, st->nparams, types);
	int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		error_set(db, res, "prepare");
	PQclear(res);
	if (ok)
		st->prepared_gen = db->gen;
	return ok ? 0 : -1;
}

struct db_stmt *db_pg_stmt(struct db *db, int id, const char *sql, int returns_id)
{
	if (id < 0 || id >= DB_MAX_STMTS || !db->conn)
		return NULL;
	struct db_stmt *st = db->stmts[id];
	if (!st) {
		st = db->stmts[id] = xcalloc(1, sizeof *st);
		st->head.drv = &pg_driver;
		st->db = db;
		st->id = id;
		st->sql = xstrdup(sql);
		st->returns_id = returns_id;
		st->blob_col = -1;
	}
	db_pg_reset(st);
	stmt_clear_bindings(st);
	if (st->prepared_gen != db->gen && stmt_prepare(st) < 0)
		return NULL;
	return st;
}

static int bind_raw(struct db_stmt *st, int i, const void *v, size_t n, int format)
{
	if (i < 1 || i > DB_MAX_PARAMS || n > 0x7fffffff)
		return -1;
	free(st->values[i - 1]);
	st->values[i - 1] = NULL;
	if (v) {
		st->values[i - 1] = xmalloc(n + 1);
		memcpy(st->values[i - 1], v, n);
		st->values[i - 1][n] = 0;
	}
	st->lengths[i - 1] = (int)n;
	st->formats[i - 1] = format;
	return 0;
}

int db_pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%lld", (long long)v);
	return bind_raw(st, i, t, (size_t)n, 0);
}

int db_pg_bind_int(struct db_stmt *st, int i, int v)
{
	return db_pg_bind_int64(st, i, v);
}

int db_pg_bind_double(struct db_stmt *st, int i, double v)
{
	char t[40];
	int n = snprintf(t, sizeof t, "%.17g", v);
	return bind_raw(st, i, t, (size_t)n, 0);
}

int db_pg_bind_text(struct db_stmt *st, int i, const char *v)
{
	return bind_raw(st, i, v, v ? strlen(v) : 0, 0);
}

int db_pg_bind_blob(struct db_stmt *st, int i, const void *v, size_t n)
{
	return bind_raw(st, i, v ? v : "", n, 1);
}

int db_pg_bind_null(struct db_stmt *st, int i)
{
	return bind_raw(st, i, NULL, 0, 0);
}

static void blob_drop(struct db_stmt *st)
{
	if (st->blob)
		PQfreemem(st->blob);
	st->blob = NULL;
	st->blob_len = 0;
	st->blob_col = -1;
}

void db_pg_reset(struct db_stmt *st)
{
	if (!st)
		return;
	blob_drop(st);
	PQclear(st->res);
	st->res = NULL;
	st->ran = 0;
	st->row = -1;
}

/* Executes the prepared statement with its bindings; 0 or -1. */
static int stmt_execute(struct db_stmt *st)
{
	struct db *db = st->db;
	char name[16];
	const char *values[DB_MAX_PARAMS];
	for (int i = 0; i < st->nparams; i++)
		values[i] = st->values[i];
	snprintf(name, sizeof name, "s%d", st->id);
	st->res = PQexecPrepared(db->conn, name, st->nparams, values, st->lengths, st->formats, 0);
	ExecStatusType status = st->res ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
		return error_set(db, st->res, "step");
	error_clear(db);
	const char *n = PQcmdTuples(st->res);
	db->changes = n && *n ? atoi(n) : 0;
	if (st->returns_id && PQntuples(st->res) > 0 && !PQgetisnull(st->res, 0, 0))
		db->last_id = strtoll(PQgetvalue(st->res, 0, 0), NULL, 10);
	return 0;
}

int db_pg_step(struct db_stmt *st)
{
	if (!st->ran) {
		st->ran = 1;
		if (stmt_execute(st) < 0)
			return DB_STEP_ERROR;
		if (st->returns_id)
			return DB_STEP_DONE;	/* the id the dialect asked for is not the caller's row */
	}
	blob_drop(st);
	if (!st->res || st->row + 1 >= PQntuples(st->res))
		return DB_STEP_DONE;
	st->row++;
	return DB_STEP_ROW;
}

static int has_value(struct db_stmt *st, int col)
{
	return st->res && st->row >= 0 && st->row < PQntuples(st->res) && col >= 0 &&
	       col < PQnfields(st->res) && !PQgetisnull(st->res, st->row, col);
}

int db_pg_column_type(struct db_stmt *st, int col)
{
	if (!has_value(st, col))
		return DB_TYPE_NULL;
	switch (PQftype(st->res, col)) {
	case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8:
		return DB_TYPE_INTEGER;
	case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
		return DB_TYPE_FLOAT;
	case OID_BYTEA:
		return DB_TYPE_BLOB;
	default:
		return DB_TYPE_TEXT;
	}
}

int64_t db_pg_column_int64(struct db_stmt *st, int col)
{
	if (!has_value(st, col))
		return 0;
	const char *v = PQgetvalue(st->res, st->row, col);
	if (PQftype(st->res, col) == OID_BOOL)
		return v[0] == 't';
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E')
		return (int64_t)strtod(v, NULL);
	return n;
}

int db_pg_column_int(struct db_stmt *st, int col)
{
	return (int)db_pg_column_int64(st, col);
}

double db_pg_column_double(struct db_stmt *st, int col)
{
	if (!has_value(st, col))
		return 0;
	if (PQftype(st->res, col) == OID_BOOL)
		return PQgetvalue(st->res, st->row, col)[0] == 't';
	return strtod(PQgetvalue(st->res, st->row, col), NULL);
}

const char *db_pg_column_text(struct db_stmt *st, int col)
{
	return has_value(st, col) ? PQgetvalue(st->res, st->row, col) : NULL;
}

/* Unescapes the bytea of col in the current row into st->blob, once per row and column. */
static int blob_load(struct db_stmt *st, int col)
{
	if (st->blob_col == col)
		return 0;
	blob_drop(st);
	st->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, col),
				   &st->blob_len);
	if (!st->blob)
		return -1;
	st->blob_col = col;
	return 0;
}

const void *db_pg_column_blob(struct db_stmt *st, int col)
{
	if (!has_value(st, col))
		return NULL;
	if (PQftype(st->res, col) != OID_BYTEA)
		return PQgetvalue(st->res, st->row, col);
	return blob_load(st, col) < 0 ? NULL : st->blob;
}

int db_pg_column_bytes(struct db_stmt *st, int col)
{
	if (!has_value(st, col))
		return 0;
	if (PQftype(st->res, col) != OID_BYTEA)
		return PQgetlength(st->res, st->row, col);
	return blob_load(st, col) < 0 ? 0 : (int)st->blob_len;
}

int db_pg_changes(struct db *db)
{
	return db->changes;
}

int64_t db_pg_last_insert_id(struct db *db)
{
	return db->last_id;
}

/* Runs a text without parameters; what names the operation in the log. */
static int exec_text(struct db *db, const char *sql, const char *what)
{
	if (!db->conn)
		return error_set(db, NULL, what);
	PGresult *res = PQexec(db->conn, sql);
	ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
	if (ok) {
		error_clear(db);
		const char *n = PQcmdTuples(res);
		db->changes = n && *n ? atoi(n) : 0;
	} else {
		error_set(db, res, what);
	}
	PQclear(res);
	return ok ? 0 : -1;
}

int db_pg_exec(struct db *db, const char *sql)
{
	return exec_text(db, sql, "exec");
}

int db_pg_begin(struct db *db, int serializable)
{
	return exec_text(db, serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
					  : "BEGIN ISOLATION LEVEL READ COMMITTED", "begin");
}

int db_pg_commit(struct db *db)
{
	return exec_text(db, "COMMIT", "commit");
}

int db_pg_rollback(struct db *db)
{
	return exec_text(db, "ROLLBACK", "rollback");
}

/* name is the program's own identifier (letters, digits, _), never input. */
static int savepoint_op(struct db *db, const char *verb, const char *name)
{
	char sql[96];
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(name) || !*name ||
	    strlen(name) > 63) {
		snprintf(db->errmsg, sizeof db->errmsg, "bad savepoint name");
		db->cls = DB_ERR_OTHER;
		return -1;
	}
	snprintf(sql, sizeof sql, "%s %s", verb, name);
	return exec_text(db, sql, "savepoint");
}

int db_pg_savepoint(struct db *db, const char *name)
{
	return savepoint_op(db, "SAVEPOINT", name);
}

int db_pg_release(struct db *db, const char *name)
{
	return savepoint_op(db, "RELEASE SAVEPOINT", name);
}

int db_pg_rollback_to(struct db *db, const char *name)
{
	return savepoint_op(db, "ROLLBACK TO SAVEPOINT", name);
}

static int advisory(struct db *db, const char *sql, int64_t key)
{
	char k[24];
	snprintf(k, sizeof k, "%lld", (long long)key);
	const char *values[1] = { k };
	if (!db->conn)
		return error_set(db, NULL, "advisory-lock");
	PGresult *res = PQexecParams(db->conn, sql, 1, NULL, values, NULL, NULL, 0);
	int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	if (ok)
		error_clear(db);
	else
		error_set(db, res, "advisory-lock");
	PQclear(res);
	return ok ? 0 : -1;
}

int db_pg_advisory_lock(struct db *db, int64_t key)
{
	return advisory(db, "SELECT pg_advisory_lock($1::bigint)", key);
}

int db_pg_advisory_unlock(struct db *db, int64_t key)
{
	return advisory(db, "SELECT pg_advisory_unlock($1::bigint)", key);
}

const char *db_pg_errmsg(struct db *db)
{
	return db->errmsg;
}

const char *db_pg_sqlstate(struct db *db)
{
	return db->sqlstate;
}

enum db_error db_pg_error_class(struct db *db)
{
	return db->cls;
}

/* ---------------------------------------------------------------- the seam's side */

struct db *db_pg_connect(const char *url)
{
	return db_pg_open(url, NULL);
}

struct db_stmt *db_pg_prepare_sqlite(struct db *db, int id, const char *sqlite_sql)
{
	if (id < 0 || id >= DB_MAX_STMTS)
		return NULL;
	if (db->stmts[id])	/* translated and kept on first use */
		return db_pg_stmt(db, id, NULL, 0);
	struct db_sql t;
	if (db_dialect_pg(sqlite_sql, DB_SQL_STATEMENT, &t) == DB_UNTRANSLATABLE) {
		snprintf(db->errmsg, sizeof db->errmsg, "statement %d untranslatable: %s", id,
			 t.why ? t.why : "?");
		db->cls = DB_ERR_OTHER;
		db_sql_clear(&t);
		return NULL;
	}
	struct db_stmt *st = db_pg_stmt(db, id, t.text, t.returns_id);
	db_sql_clear(&t);
	return st;
}

#define MIGRATION_LOCK 0x6269646d61696c	/* "bidmail" */

static int pg_schema_version(struct db *db)
{
	PGresult *res = db->conn ? PQexec(db->conn, "SELECT coalesce(max(version), 0) FROM"
					  " schema_version") : NULL;
	int v = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
		? atoi(PQgetvalue(res, 0, 0)) : -1;
	if (v < 0)
		error_set(db, res, "schema-version");
	PQclear(res);
	return v;
}

/* Migration m (0-based), translated, in a transaction with its schema_version row. */
static int migrate_one(struct db *db, const char *sqlite_sql, int m)
{
	struct db_sql t;
	if (db_dialect_pg(sqlite_sql, DB_SQL_MIGRATION, &t) == DB_UNTRANSLATABLE) {
		log_err("stage=store backend=postgresql migration=%d error=\"untranslatable: %s\"",
			m + 1, t.why ? t.why : "?");
		db_sql_clear(&t);
		return -1;
	}
	char *set = db_dialect_pg_set_version(m + 1);
	int ok = db_pg_begin(db, 0) == 0 && db_pg_exec(db, t.text) == 0 &&
		 db_pg_exec(db, set) == 0 && db_pg_commit(db) == 0;
	if (!ok) {
		log_err("stage=store backend=postgresql migration=%d error=\"%s\"", m + 1, db->errmsg);
		db_pg_rollback(db);
	} else {
		log_info("stage=store backend=postgresql migration=%d result=applied", m + 1);
	}
	free(set);
	db_sql_clear(&t);
	return ok ? 0 : -1;
}

/* Under the advisory lock, so that hosts starting together run each migration once. */
int db_pg_migrate(struct db *db, const char *const *migrations, int n)
{
	if (db_pg_advisory_lock(db, MIGRATION_LOCK) < 0) {
		log_err("stage=store backend=postgresql op=migrate error=\"%s\"", db->errmsg);
		return -1;
	}
	int rc = 0;
	if (db_pg_exec(db, db_dialect_pg_prelude()) < 0) {
		log_err("stage=store backend=postgresql op=prelude error=\"%s\"", db->errmsg);
		rc = -1;
	}
	int version = rc == 0 ? pg_schema_version(db) : -1;
	if (version > n) {
		log_err("stage=store error=\"database schema %d is newer than this program (%d)\"",
			version, n);
		rc = -1;
	}
	for (int m = version; rc == 0 && m >= 0 && m < n; m++)
		rc = migrate_one(db, migrations[m], m);
	if (version < 0)
		rc = -1;
	db_pg_advisory_unlock(db, MIGRATION_LOCK);
	return rc;
}

static int pg_in_transaction(struct db *db)
{
	return db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE;
}

static int pg_begin_default(struct db *db, int serializable)
{
	return db_pg_begin(db, serializable);
}

static int pg_set_durability(struct db *db, int fast)
{
	return db_pg_exec(db, fast ? "SET synchronous_commit = off" : "SET synchronous_commit = on");
}

/* A real query: the catalogue answers, and every table of the schema can be read through. */
static int pg_check(struct db *db)
{
	static const char *const sql =
		"DO $c$ DECLARE t record; BEGIN"
		" FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP"
		" EXECUTE format('SELECT count(*) FROM %I', t.tablename); END LOOP; END $c$";
	if (exec_text(db, sql, "check") < 0) {
		log_err("stage=store backend=postgresql op=check error=\"%s\"", db->errmsg);
		return -1;
	}
	return 0;
}

static int pg_backup(struct db *db, const char *path)
{
	(void)db;
	log_err("stage=backup backend=postgresql path=%s error=\"a PostgreSQL database is not"
		" copied by bidmail: use pg_dump (a logical copy) or pg_basebackup (a physical one,"
		" with WAL archiving for a point in time)\"", path);
	return -1;
}

static const struct db_driver pg_driver = {
	.name = "postgresql",
	.close = db_pg_close,
	.prepare = db_pg_prepare_sqlite,
	.bind_int64 = db_pg_bind_int64,
	.bind_int = db_pg_bind_int,
	.bind_double = db_pg_bind_double,
	.bind_text = db_pg_bind_text,
	.bind_blob = db_pg_bind_blob,
	.bind_null = db_pg_bind_null,
	.step = db_pg_step,
	.reset = db_pg_reset,
	.column_type = db_pg_column_type,
	.column_int64 = db_pg_column_int64,
	.column_int = db_pg_column_int,
	.column_double = db_pg_column_double,
	.column_text = db_pg_column_text,
	.column_blob = db_pg_column_blob,
	.column_bytes = db_pg_column_bytes,
	.changes = db_pg_changes,
	.last_insert_id = db_pg_last_insert_id,
	.exec = db_pg_exec,
	.begin = pg_begin_default,
	.commit = db_pg_commit,
	.rollback = db_pg_rollback,
	.savepoint = db_pg_savepoint,
	.release = db_pg_release,
	.rollback_to = db_pg_rollback_to,
	.in_transaction = pg_in_transaction,
	.errmsg = db_pg_errmsg,
	.error_class = db_pg_error_class,
	.reconnect = db_pg_reconnect,
	.migrate = db_pg_migrate,
	.schema_version = pg_schema_version,
	.set_durability = pg_set_durability,
	.check = pg_check,
	.backup = pg_backup,
};
