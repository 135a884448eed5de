/*
 * db.h — the database driver seam: what store.c uses of a SQL engine, behind one interface, and
 * the SQL dialect step that turns store.c's SQLite statements into PostgreSQL's.
 * In: a `postgresql://` URL, statement ids with their SQL text, values to bind.
 * Out: rows, read column by column, and errors sorted into classes that say what to do next.
 * Two drivers: db_sqlite.c (the only file that includes sqlite3.h) and db_pg.c (the only file
 * that includes libpq-fe.h); store.c uses only the db_* calls at the end of this file, which
 * reach the driver of the connection through one table of functions (struct db_driver).
 * Statements are always given in SQLite's text: the PostgreSQL driver translates them with
 * the dialect (db_dialect.c, pure C) when it prepares them.
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

/* A flag (a daemon's SIGTERM, set atomically) that, once set, ends every reconnect's waiting:
 * no attempt is begun after it, so that a daemon cut off from its database stops at once
 * (its mail waits in the spool). Set once, before any thread uses a connection; NULL: none. */
void db_set_stop_flag(volatile int *flag);

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

/* The PostgreSQL driver's side of the seam (db_pg.c): its connection as a seam connection,
 * the statement of the seam (SQLite text, translated on first use), and the migrations. */
struct db *db_pg_connect(const char *url);
struct db_stmt *db_pg_prepare_sqlite(struct db *db, int id, const char *sqlite_sql);
int db_pg_migrate(struct db *db, const char *const *migrations, int n);

/* ---------------------------------------------------------------- the seam, both drivers */

/* The first member of every driver's struct db and struct db_stmt: the driver's functions.
 * A pointer to a struct is a pointer to its first member, so the calls below reach them
 * without knowing either driver's struct. */
struct db_driver;
struct db_head {
	const struct db_driver *drv;
};

/* What a driver does; every entry is set. Text columns are borrowed until the next step or
 * reset; text and blob bindings are copied. */
struct db_driver {
	const char *name;			/* "sqlite", "postgresql" */
	struct db *(*close)(struct db *db);
	struct db_stmt *(*prepare)(struct db *db, int id, const char *sqlite_sql);
	int (*bind_int64)(struct db_stmt *st, int i, int64_t v);
	int (*bind_int)(struct db_stmt *st, int i, int v);
	int (*bind_double)(struct db_stmt *st, int i, double v);
	int (*bind_text)(struct db_stmt *st, int i, const char *v);
	int (*bind_blob)(struct db_stmt *st, int i, const void *v, size_t n);
	int (*bind_null)(struct db_stmt *st, int i);
	int (*step)(struct db_stmt *st);
	void (*reset)(struct db_stmt *st);
	int (*column_type)(struct db_stmt *st, int col);
	int64_t (*column_int64)(struct db_stmt *st, int col);
	int (*column_int)(struct db_stmt *st, int col);
	double (*column_double)(struct db_stmt *st, int col);
	const char *(*column_text)(struct db_stmt *st, int col);
	const void *(*column_blob)(struct db_stmt *st, int col);
	int (*column_bytes)(struct db_stmt *st, int col);
	int (*changes)(struct db *db);
	int64_t (*last_insert_id)(struct db *db);
	int (*exec)(struct db *db, const char *sql);
	int (*begin)(struct db *db, int serializable);
	int (*commit)(struct db *db);
	int (*rollback)(struct db *db);
	int (*savepoint)(struct db *db, const char *name);
	int (*release)(struct db *db, const char *name);
	int (*rollback_to)(struct db *db, const char *name);
	int (*in_transaction)(struct db *db);
	const char *(*errmsg)(struct db *db);
	enum db_error (*error_class)(struct db *db);
	int (*reconnect)(struct db *db, int max_wait_ms);
	int (*migrate)(struct db *db, const char *const *migrations, int n);
	int (*schema_version)(struct db *db);
	int (*set_durability)(struct db *db, int fast);
	int (*check)(struct db *db);
	int (*backup)(struct db *db, const char *path);
};

/* Opens a SQLite file (db_sqlite.c; create: make it when missing) with its durability and
 * busy timeout set, or connects to a postgresql:// URL (db_pg.c). NULL with the reason logged. */
struct db *db_sqlite_open(const char *path, int create);

#define DB_DRV_(x) (((const struct db_head *)(const void *)(x))->drv)

static inline const char *db_backend(struct db *db) { return DB_DRV_(db)->name; }
static inline struct db *db_close(struct db *db) { return db ? DB_DRV_(db)->close(db) : NULL; }
/* The statement id of this connection, prepared from sqlite_sql on first use (and again after
 * a reconnect), reset with its bindings cleared. NULL on error (db_errmsg says why). */
static inline struct db_stmt *db_prepare(struct db *db, int id, const char *sqlite_sql)
{ return DB_DRV_(db)->prepare(db, id, sqlite_sql); }
static inline int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{ return DB_DRV_(st)->bind_int64(st, i, v); }
static inline int db_bind_int(struct db_stmt *st, int i, int v)
{ return DB_DRV_(st)->bind_int(st, i, v); }
static inline int db_bind_double(struct db_stmt *st, int i, double v)
{ return DB_DRV_(st)->bind_double(st, i, v); }
static inline int db_bind_text(struct db_stmt *st, int i, const char *v)
{ return DB_DRV_(st)->bind_text(st, i, v); }
static inline int db_bind_blob(struct db_stmt *st, int i, const void *v, size_t n)
{ return DB_DRV_(st)->bind_blob(st, i, v, n); }
static inline int db_bind_null(struct db_stmt *st, int i) { return DB_DRV_(st)->bind_null(st, i); }
/* DB_STEP_ROW, DB_STEP_DONE or DB_STEP_ERROR (db_error_class says what to do). */
static inline int db_step(struct db_stmt *st) { return DB_DRV_(st)->step(st); }
static inline void db_reset(struct db_stmt *st) { DB_DRV_(st)->reset(st); }
static inline int db_column_type(struct db_stmt *st, int c) { return DB_DRV_(st)->column_type(st, c); }
static inline int64_t db_column_int64(struct db_stmt *st, int c)
{ return DB_DRV_(st)->column_int64(st, c); }
static inline int db_column_int(struct db_stmt *st, int c) { return DB_DRV_(st)->column_int(st, c); }
static inline double db_column_double(struct db_stmt *st, int c)
{ return DB_DRV_(st)->column_double(st, c); }
static inline const char *db_column_text(struct db_stmt *st, int c)
{ return DB_DRV_(st)->column_text(st, c); }
static inline const void *db_column_blob(struct db_stmt *st, int c)
{ return DB_DRV_(st)->column_blob(st, c); }
static inline int db_column_bytes(struct db_stmt *st, int c) { return DB_DRV_(st)->column_bytes(st, c); }
static inline int db_changes(struct db *db) { return DB_DRV_(db)->changes(db); }
static inline int64_t db_last_insert_id(struct db *db) { return DB_DRV_(db)->last_insert_id(db); }
/* A text of statements without parameters, in the driver's own dialect. 0 or -1. */
static inline int db_exec(struct db *db, const char *sql) { return DB_DRV_(db)->exec(db, sql); }
static inline int db_begin(struct db *db, int serializable)
{ return DB_DRV_(db)->begin(db, serializable); }
static inline int db_commit(struct db *db) { return DB_DRV_(db)->commit(db); }
static inline int db_rollback(struct db *db) { return DB_DRV_(db)->rollback(db); }
static inline int db_savepoint(struct db *db, const char *n) { return DB_DRV_(db)->savepoint(db, n); }
static inline int db_release(struct db *db, const char *n) { return DB_DRV_(db)->release(db, n); }
static inline int db_rollback_to(struct db *db, const char *n)
{ return DB_DRV_(db)->rollback_to(db, n); }
/* 1 inside a transaction (sqlite3_get_autocommit's opposite). */
static inline int db_in_transaction(struct db *db) { return DB_DRV_(db)->in_transaction(db); }
static inline const char *db_errmsg(struct db *db) { return DB_DRV_(db)->errmsg(db); }
static inline enum db_error db_error_class(struct db *db) { return DB_DRV_(db)->error_class(db); }
/* After DB_ERR_RECONNECT: connects again (bounded back-off); SQLite: nothing to do. 0 or -1. */
static inline int db_reconnect(struct db *db, int max_wait_ms)
{ return DB_DRV_(db)->reconnect(db, max_wait_ms); }
/* Applies migrations[version .. n-1] (SQLite text), each in a transaction with its version;
 * on PostgreSQL translated, under an advisory lock, after the prelude. 0 or -1 (logged). */
static inline int db_migrate(struct db *db, const char *const *migrations, int n)
{ return DB_DRV_(db)->migrate(db, migrations, n); }
/* The number of migrations applied (PRAGMA user_version, the schema_version table); -1. */
static inline int db_schema_version(struct db *db) { return DB_DRV_(db)->schema_version(db); }
/* fast: SQLite's synchronous=NORMAL (a power cut may lose the last commits, never tear one),
 * else FULL; PostgreSQL: synchronous_commit off / on for this session. 0 or -1. */
static inline int db_set_durability(struct db *db, int fast)
{ return DB_DRV_(db)->set_durability(db, fast); }
/* The structural check: SQLite's quick_check; PostgreSQL: a query over the catalogue and
 * every table. 0 when sound, -1 (logged) when not or when it cannot run. */
static inline int db_check(struct db *db) { return DB_DRV_(db)->check(db); }
/* A checked, self-contained copy at path (SQLite's backup API): its size in pages, or -1;
 * PostgreSQL refuses (logged: pg_dump / pg_basebackup make its copies). */
static inline int db_backup(struct db *db, const char *path) { return DB_DRV_(db)->backup(db, path); }

#endif
