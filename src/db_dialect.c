/*
 * db_dialect.c — translates store.c's SQL (statements of stmt_sql[] and migrations, written in
 * SQLite's dialect with ?1..?N) into PostgreSQL's, mechanically, token by token; pure C.
 * In: one SQLite text and its kind. Out: the PostgreSQL text, whether the driver must read a
 * `RETURNING id` it appended, notes on what changed, or why the text cannot be translated.
 * What no rule covers is written by hand in the override table below, keyed by the exact
 * SQLite text: a statement changed in store.c no longer matches its override and is reported.
 */
#include "bidmail.h"
#include "db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SQL_MAX (1u << 20)
#define MAX_TOKENS 8192

/* ---------------------------------------------------------------- tables */

/* The tables of the schema: their conflict key (for INSERT OR REPLACE) and whether `id` is an
 * identity column whose value an INSERT gives back (last_insert_rowid). */
static const struct table_key {
	const char *table, *key;
	int identity_id;
} table_keys[] = {
	{ "meta", "key", 0 },			{ "ingested", "key", 0 },
	{ "projects", "id", 1 },		{ "outbox", "id", 1 },
	{ "outbox_message", "id", 0 },		{ "addresses", "address", 0 },
	{ "subscribers", "id", 1 },		{ "patterns", "id", 1 },
	{ "confirmations", "id", 1 },		{ "digests", "subscriber, period", 0 },
	{ "bids", "id", 1 },			{ "posters", "address", 0 },
	{ "notices", "kind, ref", 0 },		{ "ratings", "bid", 0 },
	{ "sender_rates", "address", 0 },	{ "fetched", "origin, ident", 0 },
	{ "relayed", "id", 1 },			{ "selections", "id", 1 },
	{ "followups", "project", 0 },		{ "digest_marks", "name", 0 },
	{ "digest_shards", "period, shard", 0 },
	{ "pattern_texts", "id", 1 },		/* H3 (issue 15), migration 26 */
	{ "outbox_part", "id", 1 },		/* migration 28 */
};

/* Hand translations, keyed by the SQLite text: what the rules cannot see (SQLite's integers
 * used as booleans, total(), date arithmetic, collations of two columns compared). */
static const struct override {
	const char *sqlite, *pg;
	int returns_id;
} overrides[] = {
#include "db_dialect_overrides.h"
};

/* ---------------------------------------------------------------- tokens */

enum tok_type { T_SPACE, T_WORD, T_NUM, T_STRING, T_PARAM, T_PUNCT };

struct tok {
	enum tok_type type;
	const char *s;
	size_t n;
};

struct sql_tokens {
	struct tok *v;
	size_t n;
};

static size_t token_length(const char *p, enum tok_type *type)
{
	const char *q = p;
	if (isspace((unsigned char)*p)) {
		*type = T_SPACE;
		while (isspace((unsigned char)*q))
			q++;
	} else if (isalpha((unsigned char)*p) || *p == '_') {
		*type = T_WORD;
		while (isalnum((unsigned char)*q) || *q == '_')
			q++;
	} else if (isdigit((unsigned char)*p)) {
		*type = T_NUM;
		while (isalnum((unsigned char)*q) || *q == '.')
			q++;
	} else if (*p == '\'' || *p == '"') {
		*type = *p == '\'' ? T_STRING : T_WORD;
		for (q = p + 1; *q; q++)
			if (*q == *p && q[1] != *p)
				break;
			else if (*q == *p)
				q++;
		if (*q)
			q++;
	} else if (*p == '?') {
		*type = T_PARAM;
		for (q = p + 1; isdigit((unsigned char)*q); q++)
			;
	} else {
		*type = T_PUNCT;
		q = p + ((p[0] == '|' && p[1] == '|') || (p[0] == '=' && p[1] == '=') ||
			 (p[0] == '!' && p[1] == '=') || (p[0] == '<' && (p[1] == '>' || p[1] == '=')) ||
			 (p[0] == '>' && p[1] == '=') ? 2 : 1);
	}
	return (size_t)(q - p);
}

/* Splits s[0..n) into tokens; 0 or -1 (too many). */
static int tokenize(const char *s, size_t n, struct sql_tokens *t)
{
	t->v = xcalloc(MAX_TOKENS, sizeof *t->v);
	t->n = 0;
	for (size_t i = 0; i < n;) {
		if (t->n == MAX_TOKENS)
			return -1;
		enum tok_type type;
		size_t len = token_length(s + i, &type);
		if (len > n - i)
			len = n - i;
		t->v[t->n++] = (struct tok){ type, s + i, len };
		i += len;
	}
	return 0;
}

static int tok_is(const struct tok *k, const char *word)
{
	return strlen(word) == k->n && !strncasecmp(k->s, word, k->n);
}

/* The index of the next token after i that is not a space, or n. */
static size_t next(const struct sql_tokens *t, size_t i)
{
	for (i++; i < t->n && t->v[i].type == T_SPACE; i++)
		;
	return i;
}

/* Whether the words of phrase (separated by single spaces) follow from token i; *end is the
 * last token matched. */
static int phrase_at(const struct sql_tokens *t, size_t i, const char *phrase, size_t *end)
{
	char word[64];
	const char *p = phrase;
	if (i >= t->n || t->v[i].type == T_SPACE)
		return 0;
	for (;;) {
		size_t wn = strcspn(p, " ");
		snprintf(word, sizeof word, "%.*s", (int)wn, p);
		if (i >= t->n || !tok_is(&t->v[i], word))
			return 0;
		*end = i;
		p += wn;
		if (!*p)
			return 1;
		p++;
		i = next(t, i);
	}
}

/* ---------------------------------------------------------------- one statement */

struct tr {
	const struct sql_tokens *t;
	enum db_sql_kind kind;
	struct buf out, notes, why;
	int ddl, insert, ignore, replace, has_returning, returns_id;
	char table[64];
	char columns[1024];	/* the INSERT's column list, as written */
};

static void note(struct buf *b, const char *what)
{
	if (!b->data || !strstr(b->data, what)) {
		if (b->len)
			buf_puts(b, "; ");
		buf_puts(b, what);
	}
}

static const struct table_key *table_find(const char *name)
{
	for (size_t i = 0; i < sizeof table_keys / sizeof table_keys[0]; i++)
		if (!strcasecmp(table_keys[i].table, name))
			return &table_keys[i];
	return NULL;
}

/* Reads INSERT [OR IGNORE|OR REPLACE] INTO name [(cols)]: the table and columns; returns the
 * index of the table name. */
static size_t insert_head(struct tr *r, size_t i)
{
	const struct sql_tokens *t = r->t;
	size_t j = next(t, i), end;
	r->insert = 1;
	if (phrase_at(t, j, "OR IGNORE", &end))
		r->ignore = 1, j = next(t, end);
	else if (phrase_at(t, j, "OR REPLACE", &end))
		r->replace = 1, j = next(t, end);
	if (j < t->n && tok_is(&t->v[j], "INTO"))
		j = next(t, j);
	if (j >= t->n)
		return j;
	snprintf(r->table, sizeof r->table, "%.*s", (int)t->v[j].n, t->v[j].s);
	size_t k = next(t, j);
	if (k < t->n && t->v[k].n == 1 && t->v[k].s[0] == '(') {
		size_t c = 0;
		for (k++; k < t->n && !(t->v[k].n == 1 && t->v[k].s[0] == ')'); k++)
			if (c + t->v[k].n < sizeof r->columns - 1) {
				memcpy(r->columns + c, t->v[k].s, t->v[k].n);
				c += t->v[k].n;
			}
		r->columns[c] = 0;
	}
	return j;
}

/* The ON CONFLICT clause an INSERT OR IGNORE / OR REPLACE gets; 0 or -1 (no key known). */
static int conflict_clause(struct tr *r)
{
	if (r->ignore)
		return buf_puts(&r->out, " ON CONFLICT DO NOTHING") < 0 ? -1 : 0;
	const struct table_key *k = table_find(r->table);
	if (!k || !r->columns[0]) {
		buf_printf(&r->why, "INSERT OR REPLACE into %s: no key in table_keys[] or no column"
			   " list (known: meta, ingested, addresses, digests, posters, notices,"
			   " ratings, sender_rates, fetched and the id tables)", r->table);
		return -1;
	}
	buf_printf(&r->out, " ON CONFLICT (%s) DO UPDATE SET ", k->key);
	char keys[160], *cols = xstrdup(r->columns), *save = NULL;
	snprintf(keys, sizeof keys, ", %s,", k->key);
	int first = 1;
	for (char *c = strtok_r(cols, ", ", &save); c; c = strtok_r(NULL, ", ", &save)) {
		char pad[80];
		snprintf(pad, sizeof pad, ", %s,", c);
		if (strstr(keys, pad))
			continue;
		buf_printf(&r->out, "%s%s = EXCLUDED.%s", first ? "" : ", ", c, c);
		first = 0;
	}
	free(cols);
	return 0;
}

/* The SQLite strftime format as to_char's; NULL when a conversion is unknown. */
static char *strftime_format(const char *f, size_t n)
{
	static const char *const map[][2] = {
		{ "%Y", "YYYY" }, { "%m", "MM" }, { "%d", "DD" }, { "%H", "HH24" },
		{ "%M", "MI" }, { "%S", "SS" }, { "%j", "DDD" }, { "%%", "%" },
	};
	struct buf b;
	buf_init(&b, 256);
	for (size_t i = 0; i < n; i++) {
		if (f[i] != '%') {
			if (isalpha((unsigned char)f[i]))
				buf_printf(&b, "\"%c\"", f[i]);
			else
				buf_putc(&b, f[i]);
			continue;
		}
		size_t m = 0;
		while (m < sizeof map / sizeof map[0] && (i + 1 >= n || strncmp(f + i, map[m][0], 2)))
			m++;
		if (m == sizeof map / sizeof map[0]) {
			buf_free(&b);
			return NULL;
		}
		buf_puts(&b, map[m][1]);
		i++;
	}
	return buf_steal(&b);
}

#define NOW_UTC "(now() AT TIME ZONE 'UTC')"

/* date('now'), datetime('now'), strftime(FMT, 'now'), julianday('now'): the index of the
 * closing parenthesis, or 0 when the call is not one of those (then it is untranslatable). */
static size_t time_function(struct tr *r, size_t i)
{
	const struct sql_tokens *t = r->t;
	size_t a = next(t, next(t, i)), b = next(t, a), c = next(t, b), d = next(t, c);
	const struct tok *fn = &t->v[i];
	if (a >= t->n || t->v[a].type != T_STRING)
		return 0;
	int now_only = tok_is(&t->v[a], "'now'") && b < t->n && t->v[b].s[0] == ')';
	if (now_only && tok_is(fn, "date"))
		buf_puts(&r->out, "to_char(" NOW_UTC ", 'YYYY-MM-DD')");
	else if (now_only && tok_is(fn, "datetime"))
		buf_puts(&r->out, "to_char(" NOW_UTC ", 'YYYY-MM-DD HH24:MI:SS')");
	else if (now_only && tok_is(fn, "julianday"))
		buf_puts(&r->out, "(extract(epoch FROM now()) / 86400.0 + 2440587.5)");
	else if (tok_is(fn, "strftime") && b < t->n && t->v[b].s[0] == ',' && c < t->n &&
		 tok_is(&t->v[c], "'now'") && d < t->n && t->v[d].s[0] == ')') {
		char *f = strftime_format(t->v[a].s + 1, t->v[a].n - 2);
		if (!f)
			return 0;
		buf_printf(&r->out, "to_char(" NOW_UTC ", '%s')", f);
		free(f);
		return d;
	} else
		return 0;
	return b;
}

static int untranslatable(struct tr *r, const char *what)
{
	if (r->why.len)
		buf_puts(&r->why, "; ");
	buf_puts(&r->why, what);
	return -1;
}

/* Function calls that change with the dialect: 1 when k (followed by '(') was one, *last
 * being the last token used. */
static int function_rule(struct tr *r, size_t i, size_t *last)
{
	const struct tok *k = &r->t->v[i];
	static const char *const renamed[][2] = { { "char", "chr" }, { "ifnull", "coalesce" },
						  { "instr", "strpos" } };
	static const char *const refused[] = { "total", "last_insert_rowid", "changes",
					       "group_concat", "printf", "randomblob", "typeof",
					       "glob" };
	*last = i;
	for (size_t n = 0; n < sizeof renamed / sizeof renamed[0]; n++)
		if (tok_is(k, renamed[n][0]))
			return buf_puts(&r->out, renamed[n][1]), 1;
	if (tok_is(k, "date") || tok_is(k, "datetime") || tok_is(k, "strftime") ||
	    tok_is(k, "julianday") || tok_is(k, "time")) {
		size_t e = time_function(r, i);
		if (!e)
			untranslatable(r, "a date function on something else than 'now'");
		*last = e ? e : i;
		return 1;
	}
	for (size_t n = 0; n < sizeof refused / sizeof refused[0]; n++)
		if (tok_is(k, refused[n])) {
			char w[96];
			snprintf(w, sizeof w, "%s() has no mechanical equivalent", refused[n]);
			untranslatable(r, w);
			return 1;
		}
	return 0;
}

/* Column types of DDL and clauses that change or go; 1 when one was at i (*last: its end). */
static int clause_rule(struct tr *r, size_t i, size_t *last)
{
	const struct sql_tokens *t = r->t;
	const struct tok *k = &t->v[i];
	size_t end;
	*last = i;
	if (r->ddl && phrase_at(t, i, "INTEGER PRIMARY KEY", &end)) {
		size_t a = next(t, end);
		*last = a < t->n && tok_is(&t->v[a], "AUTOINCREMENT") ? a : end;
		return buf_puts(&r->out, "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"), 1;
	}
	if (r->ddl && (tok_is(k, "INTEGER") || tok_is(k, "INT")))
		return buf_puts(&r->out, "bigint"), 1;
	if (r->ddl && tok_is(k, "REAL"))
		return buf_puts(&r->out, "double precision"), 1;
	if (r->ddl && tok_is(k, "BLOB"))
		return buf_puts(&r->out, "bytea"), 1;
	if (phrase_at(t, i, "WITHOUT ROWID", last))
		return note(&r->notes, "WITHOUT ROWID dropped"), 1;
	if (phrase_at(t, i, "COLLATE NOCASE", last)) {
		note(&r->notes, "COLLATE NOCASE -> COLLATE nocase (ICU, case-insensitive)");
		return buf_puts(&r->out, "COLLATE nocase"), 1;
	}
	if (phrase_at(t, i, "INDEXED BY", &end) && next(t, end) < t->n) {
		*last = next(t, end);
		return note(&r->notes, "INDEXED BY dropped"), 1;
	}
	if (phrase_at(t, i, "NOT INDEXED", last))
		return note(&r->notes, "NOT INDEXED dropped"), 1;
	return 0;
}

/* Words that change with the dialect wherever they stand; the index of the last token used. */
static size_t word_rule(struct tr *r, size_t i)
{
	const struct sql_tokens *t = r->t;
	const struct tok *k = &t->v[i];
	size_t last, paren = next(t, i);
	int call = paren < t->n && t->v[paren].n == 1 && t->v[paren].s[0] == '(';
	if (clause_rule(r, i, &last) || (call && function_rule(r, i, &last)))
		return last;
	if (tok_is(k, "WHERE") && paren < t->n && t->v[paren].type == T_NUM &&
	    (tok_is(&t->v[paren], "1") || tok_is(&t->v[paren], "0"))) {
		buf_printf(&r->out, "WHERE %s", t->v[paren].s[0] == '1' ? "true" : "false");
		return paren;
	}
	if (tok_is(k, "RETURNING") && r->insert && (r->ignore || r->replace)) {
		if (conflict_clause(r) < 0)
			return i;
		buf_putc(&r->out, ' ');
	}
	if (tok_is(k, "RETURNING"))
		r->has_returning = 1;
	buf_append(&r->out, k->s, k->n);
	return i;
}

/* Statements that become another statement as a whole; 1 when handled, 0 when not, -1 when
 * it cannot be translated. */
static int whole_statement(struct tr *r, size_t i)
{
	const struct sql_tokens *t = r->t;
	size_t end;
	if (phrase_at(t, i, "PRAGMA user_version", &end) && next(t, end) >= t->n)
		return buf_puts(&r->out, "SELECT coalesce(max(version), 0) FROM schema_version"), 1;
	if (phrase_at(t, i, "PRAGMA quick_check", &end) && next(t, end) >= t->n)
		return note(&r->notes, "quick_check: the server checks its own pages"),
		       buf_puts(&r->out, "SELECT 'ok'"), 1;
	if (tok_is(&t->v[i], "PRAGMA"))
		return untranslatable(r, "a PRAGMA other than user_version or quick_check");
	if (phrase_at(t, i, "BEGIN IMMEDIATE", &end) || phrase_at(t, i, "BEGIN EXCLUSIVE", &end) ||
	    phrase_at(t, i, "BEGIN DEFERRED", &end))
		return buf_puts(&r->out, "BEGIN"), 1;
	if (phrase_at(t, i, "INSERT INTO sqlite_sequence", &end)) {
		/* INSERT INTO sqlite_sequence(name, seq) VALUES('T', N): T's ids go on from N + 1 */
		const struct tok *name = NULL, *seq = NULL;
		for (size_t j = end; j < t->n; j++)
			if (t->v[j].type == T_STRING && !name)
				name = &t->v[j];
			else if (t->v[j].type == T_NUM && name)
				seq = &t->v[j];
		if (!name || !seq || name->n < 3)
			return untranslatable(r, "sqlite_sequence without a table and a number");
		buf_printf(&r->out, "ALTER TABLE %.*s ALTER COLUMN id RESTART WITH %lld",
			   (int)name->n - 2, name->s + 1, strtoll(seq->s, NULL, 10) + 1);
		note(&r->notes, "sqlite_sequence -> identity RESTART");
		return 1;
	}
	return 0;
}

/* Translates the tokens of one statement into r->out; 0 or -1 (r->why says why). */
static int translate_statement(struct tr *r)
{
	const struct sql_tokens *t = r->t;
	size_t first = t->n && t->v[0].type == T_SPACE ? next(t, 0) : 0;
	if (first >= t->n)
		return 0;
	int whole = whole_statement(r, first);
	if (whole)
		return whole < 0 ? -1 : 0;
	r->ddl = tok_is(&t->v[first], "CREATE") || tok_is(&t->v[first], "ALTER");
	size_t table_at = tok_is(&t->v[first], "INSERT") ? insert_head(r, first) : t->n;
	for (size_t i = 0; i < t->n; i++) {
		const struct tok *k = &t->v[i];
		if (r->insert && i == first) {
			buf_puts(&r->out, "INSERT INTO ");
			i = table_at - 1;
		} else if (k->type == T_PARAM) {
			if (k->n < 2)
				return untranslatable(r, "a bare ? parameter (number them ?1..?N)");
			buf_printf(&r->out, "$%.*s", (int)k->n - 1, k->s + 1);
			size_t end;
			/* `?N IS NULL` alone does not tell the server the parameter's type */
			if (phrase_at(t, next(t, i), "IS NULL", &end) ||
			    phrase_at(t, next(t, i), "IS NOT NULL", &end)) {
				buf_puts(&r->out, "::text");
				note(&r->notes, "?N IS NULL -> $N::text IS NULL");
			}
		} else if (k->type == T_PUNCT && k->n == 2 && !strncmp(k->s, "==", 2)) {
			buf_puts(&r->out, "=");
		} else if (k->type == T_WORD) {
			i = word_rule(r, i);
		} else {
			buf_append(&r->out, k->s, k->n);
		}
	}
	if (r->insert && (r->ignore || r->replace) && !r->has_returning && conflict_clause(r) < 0)
		return -1;
	const struct table_key *tk = r->insert ? table_find(r->table) : NULL;
	if (r->kind == DB_SQL_STATEMENT && tk && tk->identity_id && !r->has_returning) {
		char pad[1040];
		snprintf(pad, sizeof pad, ",%s,", r->columns);
		for (char *c = pad; *c; c++)
			if (*c == ' ')
				memmove(c, c + 1, strlen(c));
		if (!strstr(pad, ",id,")) {
			buf_puts(&r->out, " RETURNING id");
			r->returns_id = 1;
		}
	}
	return r->why.len ? -1 : 0;
}

/* ---------------------------------------------------------------- texts */

static const struct override *override_find(const char *sql)
{
	for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++)
		if (overrides[i].sqlite && !strcmp(overrides[i].sqlite, sql))
			return &overrides[i];
	return NULL;
}

/* The end of the statement that starts at p: its ';' outside quotes, or the text's end. */
static const char *statement_end(const char *p)
{
	char quote = 0;
	for (; *p; p++) {
		if (quote && *p == quote)
			quote = 0;
		else if (!quote && (*p == '\'' || *p == '"'))
			quote = *p;
		else if (!quote && *p == ';')
			return p;
	}
	return p;
}

/* Translates each statement of src into out (joined by ";\n"); 0 or -1. */
static int translate_text(const char *src, enum db_sql_kind kind, struct db_sql *out,
			  struct buf *text, struct buf *notes, struct buf *why)
{
	for (const char *p = src; *p;) {
		const char *e = statement_end(p);
		struct sql_tokens t;
		struct tr r = { .t = &t, .kind = kind };
		buf_init(&r.out, SQL_MAX);
		buf_init(&r.notes, 4096);
		buf_init(&r.why, 4096);
		int rc = tokenize(p, (size_t)(e - p), &t) < 0 ? untranslatable(&r, "too long")
							   : translate_statement(&r);
		if (rc == 0 && r.out.len) {
			if (text->len)
				buf_puts(text, ";\n");
			buf_puts(text, r.out.data);
		}
		char *save = NULL;
		for (char *n = r.notes.len ? strtok_r(r.notes.data, ";", &save) : NULL; n;
		     n = strtok_r(NULL, ";", &save))
			note(notes, n + strspn(n, " "));
		if (r.why.len)
			note(why, r.why.data);
		out->returns_id |= r.returns_id;
		free(t.v);
		buf_free(&r.out);
		buf_free(&r.notes);
		buf_free(&r.why);
		p = *e ? e + 1 : e;
	}
	return why->len ? -1 : 0;
}

enum db_translation db_dialect_pg(const char *sqlite_sql, enum db_sql_kind kind,
				  struct db_sql *out)
{
	memset(out, 0, sizeof *out);
	const struct override *o = override_find(sqlite_sql);
	if (o) {
		out->how = DB_OVERRIDDEN;
		out->text = xstrdup(o->pg);
		out->returns_id = o->returns_id;
		out->notes = xstrdup("hand translation (db_dialect_overrides.h)");
		out->why = xstrdup("");
		return out->how;
	}
	struct buf text, notes, why;
	buf_init(&text, SQL_MAX);
	buf_init(&notes, 8192);
	buf_init(&why, 8192);
	int rc = translate_text(sqlite_sql, kind, out, &text, &notes, &why);
	out->how = rc < 0 ? DB_UNTRANSLATABLE : DB_TRANSLATED;
	out->text = rc < 0 ? (buf_free(&text), NULL) : buf_steal(&text);
	out->notes = buf_steal(&notes);
	out->why = buf_steal(&why);
	return out->how;
}

void db_sql_clear(struct db_sql *sql)
{
	free(sql->text);
	free(sql->notes);
	free(sql->why);
	memset(sql, 0, sizeof *sql);
}

const char *db_dialect_pg_prelude(void)
{
	return "CREATE COLLATION IF NOT EXISTS nocase (provider = icu,"
	       " locale = 'und-u-ks-level2', deterministic = false);\n"
	       "CREATE TABLE IF NOT EXISTS schema_version(version integer PRIMARY KEY,"
	       " applied timestamptz NOT NULL DEFAULT now())";
}

const char *db_dialect_pg_table_key(const char *table, int *identity_id)
{
	const struct table_key *k = table_find(table);
	*identity_id = k ? k->identity_id : 0;
	return k ? k->key : NULL;
}

char *db_dialect_pg_set_version(int v)
{
	return xasprintf("INSERT INTO schema_version(version) VALUES(%d)", v);
}
