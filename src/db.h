/*
 * db.h — the database driver seam: what store.c uses of a SQL engine, behind one interface, and
 * the SQL dialect step that turns store.c's SQLite statements into PostgreSQL's.
 * In: a `postgresql://` URL, statement ids with their SQL text, values to bind.
 * Out: rows, read column by column, and errors sorted into classes that say what to do next.
 * This session holds the PostgreSQL half (db_pg.c, the only file that includes libpq-fe.h) and
 * the dialect (db_dialect.c, pure C); store.c moves onto it in the next one.
 */
#ifndef BIDMAIL_DB_H
#define BIDMAIL_DB_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- db_dialect.c */

/* Where a text comes from: a statement of stmt_sql[] or a migration (DDL, several statements). */
enum db_sql_kind { DB_SQL_STATEMENT, DB_SQL_MIGRATION };

/* How a text was turned into PostgreSQL's dialect. */
enum db_translation { DB_TRANSLATED, DB_OVERRIDDEN, DB_UNTRANSLATABLE };

/* A statement in PostgreSQL's dialect. returns_id: the dialect appended `RETURNING id` to an
 * INSERT, the driver keeps that id as the last insert id and shows no row to its caller.
 * notes: what the translation did that a reader should know (an index added, a clause
 * dropped), "" when nothing; why: for DB_UNTRANSLATABLE, what stopped it. All owned. */
struct db_sql {
	enum db_translation how;
	char *text;
	int returns_id;
	char *notes;
	char *why;
};

/* Translates one SQLite text of the given kind; fills *out (free with db_sql_clear) and returns
 * out->how. An untranslatable text has text NULL and why set. */
enum db_translation db_dialect_pg(const char *sqlite_sql, enum db_sql_kind kind,
				  struct db_sql *out);
void db_sql_clear(struct db_sql *sql);

/* The statements that run on PostgreSQL before the first translated migration: the
 * case-insensitive collation standing for COLLATE NOCASE, and the schema-version table that
 * stands for PRAGMA user_version. Static text. */
const char *db_dialect_pg_prelude(void);

/* The conflict key of a table of the schema (for INSERT OR REPLACE) and whether its `id` is
 * an identity whose value an INSERT gives back; NULL for a table the dialect does not know. */
const char *db_dialect_pg_table_key(const char *table, int *identity_id);

/* The statement that records schema version v (PRAGMA user_version = v); owned. */
char *db_dialect_pg_set_version(int v);

/* ---------------------------------------------------------------- store.c's table, read-only */
/* Declared here, not in bidmail.h: tests/store_conformance.c wants a case for every store_*
 * function of bidmail.h, and these read a constant table rather than a database. */
int store_statement_count(void);
const char *store_statement_sql(int i);	/* NULL for an id without a statement */
int store_migration_count(void);
const char *store_migration_sql(int i);	/* migration i + 1, 0 <= i < count */

/* ---------------------------------------------------------------- db_pg.c */

struct db;
struct db_stmt;

/* The result of db_pg_step, as sqlite3_step's. */
enum db_step { DB_STEP_ERROR = -1, DB_STEP_DONE = 0, DB_STEP_ROW = 1 };

/* What the caller does about the last error. */
enum db_error {
	DB_ERR_NONE,
	DB_ERR_RETRY,		/* 40001, 40P01: roll back and run the whole transaction again */
	DB_ERR_RECONNECT,	/* 08xxx, 57P01-57P03, 25006, lost connection: db_pg_reconnect */
	DB_ERR_CONFLICT,	/* 23505: a unique constraint said no */
	DB_ERR_OTHER		/* a bug or bad data: log and give up on this unit of work */
};

/* The type of a column value, as sqlite3_column_type's. */
enum db_type { DB_TYPE_INTEGER = 1, DB_TYPE_FLOAT = 2, DB_TYPE_TEXT = 3, DB_TYPE_BLOB = 4,
	       DB_TYPE_NULL = 5 };

/* Time limits of a connection, in milliseconds (0: the built-in default). */
struct db_limits {
	int connect_timeout_ms;		/* 10000 */
	int statement_timeout_ms;	/* 30000 */
	int lock_timeout_ms;		/* 10000 */
	int idle_in_transaction_ms;	/* 60000 */
	int tcp_user_timeout_ms;	/* 30000 */
};

/* Connects to a postgresql:// (or postgres://) URL: several hosts and target_session_attrs as
 * the URL says, keepalives and the limits set (values in the URL win). Returns the connection
 * (free with db_pg_close) or NULL with the reason logged. limits may be NULL. */
struct db *db_pg_open(const char *url, const struct db_limits *limits);
struct db *db_pg_close(struct db *db);

/* Reconnects after a DB_ERR_RECONNECT, waiting 100 ms, then doubling up to 5 s, for at most
 * max_wait_ms in all; every statement is prepared again on first use. 0 or -1. */
int db_pg_reconnect(struct db *db, int max_wait_ms);

/* The statement `id` (0 <= id < DB_MAX_STMTS) of this connection, prepared from sql (already in
 * PostgreSQL's dialect) on first use and after a reconnect, reset with its bindings cleared:
 * as store.c's stmt(). NULL on error (db_pg_errmsg says why). Borrowed from the connection. */
#define DB_MAX_STMTS 512
struct db_stmt *db_pg_stmt(struct db *db, int id, const char *sql, int returns_id);

/* Bindings, 1-based as ?N; text and blob are copied. 0 or -1 (index out of range). */
int db_pg_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_pg_bind_int(struct db_stmt *st, int i, int v);
int db_pg_bind_double(struct db_stmt *st, int i, double v);
int db_pg_bind_text(struct db_stmt *st, int i, const char *v);	/* NULL binds NULL */
int db_pg_bind_blob(struct db_stmt *st, int i, const void *v, size_t n);
int db_pg_bind_null(struct db_stmt *st, int i);

/* Runs the statement on the first call, then walks its rows: DB_STEP_ROW while there is one,
 * DB_STEP_DONE at the end, DB_STEP_ERROR (db_pg_error_class says what to do). */
int db_pg_step(struct db_stmt *st);
/* Ends the walk and frees the result (the statement stays prepared). */
void db_pg_reset(struct db_stmt *st);

/* The current row's columns, 0-based; text and blob are borrowed until the next step/reset.
 * Booleans read as 1/0; NULL reads as 0, NULL or 0 bytes. */
int db_pg_column_type(struct db_stmt *st, int col);
int64_t db_pg_column_int64(struct db_stmt *st, int col);
int db_pg_column_int(struct db_stmt *st, int col);
double db_pg_column_double(struct db_stmt *st, int col);
const char *db_pg_column_text(struct db_stmt *st, int col);
const void *db_pg_column_blob(struct db_stmt *st, int col);
int db_pg_column_bytes(struct db_stmt *st, int col);

/* Rows changed by the last statement run (PQcmdTuples), and the id its RETURNING id gave. */
int db_pg_changes(struct db *db);
int64_t db_pg_last_insert_id(struct db *db);

/* Runs a text of one or more statements without parameters (migrations). 0 or -1. */
int db_pg_exec(struct db *db, const char *sql);

/* Transactions: BEGIN (READ COMMITTED unless serializable), COMMIT, ROLLBACK, and the named
 * savepoint's SAVEPOINT / RELEASE / ROLLBACK TO. 0 or -1. */
int db_pg_begin(struct db *db, int serializable);
int db_pg_commit(struct db *db);
int db_pg_rollback(struct db *db);
int db_pg_savepoint(struct db *db, const char *name);
int db_pg_release(struct db *db, const char *name);
int db_pg_rollback_to(struct db *db, const char *name);

/* Session advisory lock around migrations: waits for the lock on key (at most the statement
 * timeout), then unlock. 0 or -1. */
int db_pg_advisory_lock(struct db *db, int64_t key);
int db_pg_advisory_unlock(struct db *db, int64_t key);

/* The last error: its message ("" when none), SQLSTATE ("" when none) and class. */
const char *db_pg_errmsg(struct db *db);
const char *db_pg_sqlstate(struct db *db);
enum db_error db_pg_error_class(struct db *db);
/* The class of a SQLSTATE (NULL or "": a lost connection). */
enum db_error db_pg_classify(const char *sqlstate);

#endif
