/*
 * fetch_ledger.c — what fetch.c has already put in the spool, kept beside the spool and not in
 * the database, so that fetching goes on while the database is away (mail waits in the spool).
 * One file per host, SPOOL/fetch/ledger: a line "ORIGIN<TAB>IDENTITY<TAB>SPOOLED" per message,
 * appended under flock and fsynced before the message is flagged or deleted on the server,
 * read back whole at open, compacted (rewritten, then renamed) when most of its lines are dead.
 * At an upgrade, the rows of the old `fetched` table are imported once ("#imported" line).
 */
#include "fetch_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_LINE_MAX 8192	/* an origin is at most a few hundred bytes */
#define LEDGER_COMPACT_MIN 1024	/* dead lines before a compaction is worth it */

static char tombstone[1];	/* a removed key in the table */

struct fetch_ledger {
	char *path;
	int fd;
	off_t read_to;		/* bytes of the file already in the table */
	int imported;		/* the old table's rows are in (or there were none) */
	size_t lines, live;	/* lines in the file, keys in the table */
	char **keys;		/* "ORIGIN\tIDENT", open addressing */
	size_t cap, used;	/* slots, slots not NULL (tombstones included) */
	char err[256];
};

static uint64_t key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

/* The slot of key, or the first free one where it would go. */
static size_t slot_of(const struct fetch_ledger *l, const char *key)
{
	size_t i = key_hash(key) & (l->cap - 1), free_at = SIZE_MAX;
	for (; l->keys[i]; i = (i + 1) & (l->cap - 1)) {
		if (l->keys[i] == tombstone) {
			if (free_at == SIZE_MAX)
				free_at = i;
		} else if (!strcmp(l->keys[i], key)) {
			return i;
		}
	}
	return free_at != SIZE_MAX ? free_at : i;
}

static int table_has(const struct fetch_ledger *l, const char *key)
{
	size_t i = slot_of(l, key);
	return l->keys[i] && l->keys[i] != tombstone;
}

static void table_grow(struct fetch_ledger *l)
{
	char **old = l->keys;
	size_t old_cap = l->cap;
	l->cap = old_cap ? old_cap * 2 : 1024;
	l->keys = xcalloc(l->cap, sizeof *l->keys);
	l->used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] && old[i] != tombstone) {
			l->keys[slot_of(l, old[i])] = old[i];
			l->used++;
		}
	free(old);
}

/* Adds key (copied); 1 when it was new, 0 when already there. */
static int table_add(struct fetch_ledger *l, const char *key)
{
	if ((l->used + 1) * 2 > l->cap)
		table_grow(l);
	size_t i = slot_of(l, key);
	if (l->keys[i] && l->keys[i] != tombstone)
		return 0;
	if (!l->keys[i])
		l->used++;
	l->keys[i] = xstrdup(key);
	l->live++;
	return 1;
}

static void table_remove(struct fetch_ledger *l, const char *key)
{
	size_t i = slot_of(l, key);
	if (!l->keys[i] || l->keys[i] == tombstone)
		return;
	free(l->keys[i]);
	l->keys[i] = tombstone;
	l->live--;
}

/* The key of a message that came before identities were recorded: ORIGIN and "". */
static char *legacy_key(const char *origin)
{
	return xasprintf("%s\t", origin);
}

/* A line of the file into the table (n bytes, without its newline). A known message of an
 * origin once seen without identity takes that origin's place: the old row is adopted. */
static void line_take(struct fetch_ledger *l, const char *line, size_t n)
{
	l->lines++;
	if (n == 9 && !memcmp(line, "#imported", 9)) {
		l->imported = 1;
		return;
	}
	const char *t1 = memchr(line, '\t', n);
	const char *t2 = t1 ? memchr(t1 + 1, '\t', n - (size_t)(t1 + 1 - line)) : NULL;
	if (!t1 || !t2 || t1 == line || memchr(line, '\0', n))
		return;	/* not a line of ours: a dead line, dropped at the next compaction */
	char *key = xstrndup(line, (size_t)(t2 - line));
	if (t2 > t1 + 1) {
		char *old = xstrndup(line, (size_t)(t1 + 1 - line));
		table_remove(l, old);
		free(old);
	}
	table_add(l, key);
	free(key);
}

/* Reads what was appended since the last read (by this process or another of the host), with
 * the lock held. A last line without its newline (a crash while appending) is cut off. */
static int ledger_catch_up(struct fetch_ledger *l)
{
	struct stat st;
	if (fstat(l->fd, &st) < 0)
		goto fail;
	if (st.st_size < l->read_to)	/* compacted by another process: read it all again */
		l->read_to = 0;
	if (st.st_size == l->read_to)
		return 0;
	size_t len = (size_t)(st.st_size - l->read_to);
	char *data = xmalloc(len);
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(l->fd, data + got, len - got, l->read_to + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(data);
			goto fail;
		}
		got += (size_t)r;
	}
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i - start < LEDGER_LINE_MAX)
			line_take(l, data + start, i - start);
		start = i + 1;
	}
	free(data);
	l->read_to += (off_t)start;
	if (start < len && ftruncate(l->fd, l->read_to) < 0)
		goto fail;
	return 0;
fail:
	snprintf(l->err, sizeof l->err, "%s: %s", l->path, strerror(errno ? errno : EIO));
	return -1;
}

/* Appends text (whole lines) and fsyncs it, with the lock held. 0 or -1. */
static int ledger_append(struct fetch_ledger *l, const char *text, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(l->fd, text + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(l->err, sizeof l->err, "%s: %s", l->path,
				 strerror(w < 0 ? errno : ENOSPC));
			return -1;
		}
		done += (size_t)w;
	}
	if (fsync(l->fd) < 0) {
		snprintf(l->err, sizeof l->err, "%s: fsync: %s", l->path, strerror(errno));
		return -1;
	}
	l->read_to += (off_t)n;
	return 0;
}

static int ledger_lock(struct fetch_ledger *l, int how)
{
	while (flock(l->fd, how) < 0) {
		if (errno != EINTR) {
			snprintf(l->err, sizeof l->err, "%s: flock: %s", l->path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Opens (or reopens after a compaction) the file, O_APPEND. 0 or -1. */
static int ledger_open_file(struct fetch_ledger *l)
{
	l->fd = open(l->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		snprintf(l->err, sizeof l->err, "%s: %s", l->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Rewrites the file with its live lines when most are dead: written beside, fsynced, renamed,
 * the folder fsynced. With the lock held; a failure leaves the old file, which is as good. */
static void ledger_compact(struct fetch_ledger *l)
{
	if (l->lines < LEDGER_COMPACT_MIN || l->lines < 2 * (l->live + 1))
		return;
	char *tmp = xasprintf("%s.new", l->path);
	struct buf b;
	buf_init(&b, SIZE_MAX / 2);
	for (size_t i = 0; i < l->cap; i++)
		if (l->keys[i] && l->keys[i] != tombstone)
			buf_printf(&b, "%s\t-\n", l->keys[i]);
	if (l->imported)
		buf_printf(&b, "#imported\n");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	int ok = fd >= 0 && write(fd, b.data ? b.data : "", b.len) == (ssize_t)b.len &&
		 fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	/* the new file is locked before it replaces the old one: no append falls between */
	int nfd = ok ? open(tmp, O_RDWR | O_APPEND | O_CLOEXEC) : -1;
	if (nfd >= 0 && flock(nfd, LOCK_EX) == 0 && rename(tmp, l->path) == 0) {
		fsync_dir_of(l->path);
		close(l->fd);	/* releases the old file's lock: its waiters find it renamed over */
		l->fd = nfd;
		l->read_to = (off_t)b.len;
		l->lines = l->live + (size_t)l->imported;
		log_info("stage=fetch ledger=%s result=compacted lines=%zu", l->path, l->lines);
	} else {
		if (nfd >= 0)
			close(nfd);
		unlink(tmp);
		log_err("stage=fetch ledger=%s error=\"compaction failed: %s\" (the file stays)",
			l->path, strerror(errno));
	}
	buf_free(&b);
	free(tmp);
}

/* Takes the lock on the file the path names now (another process may have compacted it). */
static int ledger_lock_current(struct fetch_ledger *l)
{
	for (int tries = 0; tries < 100; tries++) {
		if (ledger_lock(l, LOCK_EX) < 0)
			return -1;
		struct stat a, b;
		if (fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			return 0;
		close(l->fd);	/* replaced: the new file, read from its start */
		l->read_to = 0;
		if (ledger_open_file(l) < 0)
			return -1;
	}
	snprintf(l->err, sizeof l->err, "%s: replaced again and again", l->path);
	return -1;
}

static void ledger_unlock(struct fetch_ledger *l)
{
	flock(l->fd, LOCK_UN);
}

/* A rebuild from the file, when it was replaced under this process: the table read anew. */
static void table_clear(struct fetch_ledger *l)
{
	for (size_t i = 0; i < l->cap; i++)
		if (l->keys[i] != tombstone)
			free(l->keys[i]);
	free(l->keys);
	l->keys = NULL;
	l->cap = l->used = l->live = l->lines = 0;
	table_grow(l);
}

static int ledger_refresh(struct fetch_ledger *l)
{
	off_t before = l->read_to;
	if (ledger_lock_current(l) < 0)
		return -1;
	if (l->read_to == 0 && before > 0)
		table_clear(l);
	return 0;
}

struct import {
	struct fetch_ledger *l;
	struct buf lines;
	int n;
};

static int import_row(const char *origin, const char *ident, const char *spooled, void *arg)
{
	struct import *im = arg;
	if (strpbrk(origin, "\t\n") || strpbrk(ident, "\t\n") || !*origin)
		return 0;
	char *key = xasprintf("%s\t%s", origin, ident);
	if (table_add(im->l, key)) {
		buf_printf(&im->lines, "%s\t%s\n", key, *spooled ? spooled : "-");
		im->l->lines++;
		im->n++;
	}
	free(key);
	return 0;
}

/* The rows of the old `fetched` table, once: s, or the database opened for this alone. */
static void ledger_import(struct fetch_ledger *l, const struct config *c, struct store *s)
{
	struct store *own = s ? NULL : store_open(c->database, 0);
	if (!s && !own) {
		log_err("stage=fetch ledger=%s error=\"the database is away: the rows of its old "
			"ledger are imported at the next start\"", l->path);
		return;
	}
	struct import im = { .l = l };
	buf_init(&im.lines, SIZE_MAX / 2);
	int n = store_fetched_each(s ? s : own, import_row, &im);
	if (n < 0) {
		log_err("stage=fetch ledger=%s error=\"cannot read the old ledger: %s\"", l->path,
			store_errmsg(s ? s : own));
	} else {
		buf_printf(&im.lines, "#imported\n");
		l->lines++;
		if (ledger_append(l, im.lines.data, im.lines.len) == 0) {
			l->imported = 1;
			log_info("stage=fetch ledger=%s result=imported rows=%d", l->path, im.n);
		} else {
			log_err("stage=fetch ledger=%s error=\"%s\"", l->path, l->err);
		}
	}
	buf_free(&im.lines);
	if (own)
		store_close(own);
}

struct fetch_ledger *fetch_ledger_open(const struct config *c, struct store *s)
{
	struct fetch_ledger *l = xcalloc(1, sizeof *l);
	char *dir = xasprintf("%s/fetch", c->spool);
	l->path = xasprintf("%s/ledger", dir);
	l->fd = -1;
	table_grow(l);
	if (spool_mkdirs(dir, 0750) < 0) {
		log_err("stage=fetch ledger=%s error=\"%s\"", dir, strerror(errno));
		free(dir);
		return fetch_ledger_free(l);
	}
	free(dir);
	if (ledger_open_file(l) < 0 || ledger_lock_current(l) < 0 || ledger_catch_up(l) < 0) {
		log_err("stage=fetch error=\"ledger: %s\"", l->err);
		return fetch_ledger_free(l);
	}
	if (!l->imported)
		ledger_import(l, c, s);
	ledger_compact(l);
	ledger_unlock(l);
	return l;
}

int fetch_ledger_seen(struct fetch_ledger *l, const char *origin, const char *ident)
{
	char *key = xasprintf("%s\t%s", origin, ident);
	int r = table_has(l, key);
	if (!r) {	/* another process of the host may have fetched it meanwhile */
		r = ledger_refresh(l) < 0 || ledger_catch_up(l) < 0 ? -1 : table_has(l, key);
		char *old = r == 0 && *ident ? legacy_key(origin) : NULL;
		if (old && table_has(l, old)) {
			/* a row from before identities: the first message asked about is it */
			char *line = xasprintf("%s\t-\n", key);
			r = ledger_append(l, line, strlen(line)) < 0 ? -1 : 1;
			if (r == 1) {
				l->lines++;
				table_remove(l, old);
				table_add(l, key);
			}
			free(line);
		}
		free(old);
		ledger_unlock(l);
	}
	free(key);
	return r;
}

int fetch_ledger_add(struct fetch_ledger *l, const char *origin, const char *ident, time_t now)
{
	if (strpbrk(origin, "\t\n") || strpbrk(ident, "\t\n")) {
		snprintf(l->err, sizeof l->err, "an origin or identity with a tab or newline");
		return -1;
	}
	char at[32];
	clock_format_iso(now, at);
	char *key = xasprintf("%s\t%s", origin, ident);
	int rc = ledger_refresh(l) < 0 || ledger_catch_up(l) < 0 ? -1 : 0;
	if (rc == 0 && !table_has(l, key)) {
		char *line = xasprintf("%s\t%s\n", key, at);
		rc = ledger_append(l, line, strlen(line));
		if (rc == 0) {
			l->lines++;
			table_add(l, key);
		}
		free(line);
	}
	if (rc == 0)
		ledger_compact(l);
	ledger_unlock(l);
	free(key);
	return rc;
}

const char *fetch_ledger_error(const struct fetch_ledger *l)
{
	return l->err;
}

struct fetch_ledger *fetch_ledger_free(struct fetch_ledger *l)
{
	if (!l)
		return NULL;
	if (l->fd >= 0)
		close(l->fd);
	for (size_t i = 0; i < l->cap; i++)
		if (l->keys[i] != tombstone)
			free(l->keys[i]);
	free(l->keys);
	free(l->path);
	free(l);
	return NULL;
}
