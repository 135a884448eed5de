/*
 * spool.c — the on-disk spool, Maildir protocol: incoming/{tmp,new,cur}, failed/ (quarantine,
 * NAME plus NAME.reason), outgoing/ (file transport) and tmp/ for atomic writes elsewhere.
 * In: messages on a file descriptor (deliver) or file names (the daemon).
 * Out: files written tmp -> fsync -> rename -> fsync(dir), so a crash never half-writes one;
 * each message's two keys (ingest key, replay key: the same message through another host).
 */
#include "bidmail.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define ENVELOPE_PREFIX "X-Bidmail-Envelope: "

static char *spool_path(const struct config *c, const char *sub, const char *name)
{
	return name ? xasprintf("%s/%s/%s", c->spool, sub, name) : xasprintf("%s/%s", c->spool, sub);
}

/* The one `mkdir -p`: each missing folder of path is created with mode; the last one decides
 * (an ancestor that cannot be made leaves it missing). */
int spool_mkdirs(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, (mode_t)mode);
		*s = '/';
	}
	int rc = mkdir(p, (mode_t)mode) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

int spool_init(const struct config *c)
{
	static const char *subs[] = { "incoming/tmp", "incoming/new", "incoming/cur", "failed",
				      "outgoing", "tmp" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		char *p = spool_path(c, subs[i], NULL);
		int rc = spool_mkdirs(p, 0750);
		if (rc < 0)
			fprintf(stderr, "bidmail: cannot create %s: %s\n", p, strerror(errno));
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A unique, time-ordered Maildir name: seconds.microseconds.Ppid.Rrandom */
static char *unique_name(void)
{
	struct timeval tv;
	char rnd[17];
	gettimeofday(&tv, NULL);
	hash_random_hex(rnd, 8);
	return xasprintf("%010lld.%06ld.P%d.R%s", (long long)tv.tv_sec, (long)tv.tv_usec,
			 (int)getpid(), rnd);
}

/*
 * The one atomic file writer (spool_stage/spool_publish below are its batched form): tmp is
 * created (mode; with SPOOL_EXCL it must not exist yet), written whole, with SPOOL_FSYNC
 * fsynced, closed, then renamed over path, and with SPOOL_FSYNC_DIR path's folder is fsynced
 * after the rename. Readers see the old file or the new one, never a part. On failure tmp is
 * removed and errno says why. Without SPOOL_FSYNC_DIR it makes system calls only, so a signal
 * handler may use it (ingest.c's verdict on a crash).
 */
int spool_write_file(const char *path, const char *tmp, const void *data, size_t len,
		     unsigned mode, int flags)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | (flags & SPOOL_EXCL ? O_EXCL : O_TRUNC),
		      mode);
	if (fd < 0)
		return -1;
	int rc = -1, err;
	if (write_all(fd, data, len) < 0 || ((flags & SPOOL_FSYNC) && fsync(fd) < 0)) {
		err = errno;
		close(fd);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err = errno;
		goto out;
	}
	if (!(flags & SPOOL_FSYNC_DIR))
		return 0;
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	rc = fsync_dir(dir);
	free(dir);
	return rc;
out:
	unlink(tmp);
	errno = err;
	return rc;
}

int spool_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	char *tmp = xasprintf("%s/.tmp.%s", dir, name);
	char *dst = xasprintf("%s/%s", dir, name);
	int rc = spool_write_file(dst, tmp, data, len, 0640, SPOOL_FSYNC | SPOOL_FSYNC_DIR);
	free(tmp);
	free(dst);
	return rc;
}

int spool_sync_dir(const struct config *c, const char *sub)
{
	char *d = spool_path(c, sub, NULL);
	int rc = fsync_dir(d);
	free(d);
	return rc;
}

int spool_write_atomic_nosync_dir(const char *dir, const char *name, const void *data, size_t len)
{
	char *tmp = xasprintf("%s/.tmp.%s", dir, name);
	char *dst = xasprintf("%s/%s", dir, name);
	int rc = spool_write_file(dst, tmp, data, len, 0640, SPOOL_FSYNC);
	free(tmp);
	free(dst);
	return rc;
}

/* Staged files: with O_TMPFILE the file has no name until spool_publish links it (one
 * directory operation instead of create + rename); elsewhere a .tmp.NAME file. */
#define MAX_STAGED 1024
static struct {
	char *dir;
	char *name;
	int fd;		/* O_TMPFILE descriptor, or -1 for a named .tmp file */
} staged[MAX_STAGED];
static size_t n_staged;

int spool_stage(const char *dir, const char *name, const void *data, size_t len)
{
	if (n_staged == MAX_STAGED)
		return -1;
	int fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640);
	char *tmp = NULL;
	if (fd < 0) {
		tmp = xasprintf("%s/.tmp.%s", dir, name);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0) {
			free(tmp);
			return -1;
		}
	}
	if (write_all(fd, data, len) < 0) {
		close(fd);
		if (tmp)
			unlink(tmp);
		free(tmp);
		return -1;
	}
	staged[n_staged].dir = xstrdup(dir);
	staged[n_staged].name = xstrdup(name);
	if (tmp) {
		close(fd);
		staged[n_staged].fd = -1;
		free(tmp);
	} else {
		staged[n_staged].fd = fd;
	}
	n_staged++;
	return 0;
}

/* Gives one staged file its name; 0 or -1. */
static int publish_one(int dfd, size_t i)
{
	int rc;
	if (staged[i].fd >= 0) {
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", staged[i].fd);
		rc = linkat(AT_FDCWD, proc, dfd, staged[i].name, AT_SYMLINK_FOLLOW);
		if (rc < 0 && errno == EEXIST) {
			/* a replay after a crash: the same name holds the same bytes; replace it */
			char *t = xasprintf(".tmp.%s", staged[i].name);
			unlinkat(dfd, t, 0);
			rc = linkat(AT_FDCWD, proc, dfd, t, AT_SYMLINK_FOLLOW);
			if (rc == 0)
				rc = renameat(dfd, t, dfd, staged[i].name);
			free(t);
		}
	} else {
		char *t = xasprintf(".tmp.%s", staged[i].name);
		rc = renameat(dfd, t, dfd, staged[i].name);
		free(t);
	}
	return rc;
}

static void staged_clear(void)
{
	for (size_t i = 0; i < n_staged; i++) {
		if (staged[i].fd >= 0)
			close(staged[i].fd);
		free(staged[i].dir);
		free(staged[i].name);
	}
	n_staged = 0;
}

int spool_publish(const char *dir, int sync)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		staged_clear();
		return -1;
	}
	int rc = 0;
	/* one syncfs makes every staged file durable before any of them gets its name */
	if (sync && n_staged && syncfs(dfd) < 0)
		rc = -1;
	for (size_t i = 0; i < n_staged && rc == 0; i++)
		if (strcmp(staged[i].dir, dir) == 0 && publish_one(dfd, i) < 0)
			rc = -1;
	if (rc == 0 && sync && fsync(dfd) < 0)
		rc = -1;
	close(dfd);
	staged_clear();
	return rc;
}

/* Keeps only the characters of an envelope address that can safely sit in a header line. */
static char *envelope_clean(const char *s)
{
	char *r = xstrdup(s ? s : "");
	char *w = r;
	for (const char *p = r; *p; p++)
		if ((unsigned char)*p > ' ' && *p != '<' && *p != '>' && *p != 0x7f && *p != ';')
			*w++ = *p;
	*w = '\0';
	if (strlen(r) > 512)
		r[512] = '\0';
	return r;
}

/* The ingest key: for fetched mail, its origin in the mailbox (UIDVALIDITY:UID, UIDL), so
 * that a message fetched twice is handled once; else the recipient and the bytes. */
/* The ingest key's hash with the envelope in it: for fetched mail the key is then complete
 * (*done set, out filled, NULL returned); else the message bytes follow. */
static struct hash_ctx *ingest_key_begin(const struct envelope *env, char out[65], int *done)
{
	struct hash_ctx *h = hash_sha256_begin();
	*done = env->origin != NULL;
	if (*done) {
		hash_sha256_update(h, "origin\n", 7);
		hash_sha256_update(h, env->origin, strlen(env->origin));
		hash_sha256_end(h, out);
		return NULL;
	}
	const char *r = env->recipient ? env->recipient : "";
	hash_sha256_update(h, r, strlen(r));
	hash_sha256_update(h, "\n", 1);
	return h;
}

void spool_ingest_key(const struct envelope *env, const void *data, size_t len, char out[65])
{
	int done;
	struct hash_ctx *h = ingest_key_begin(env, out, &done);
	if (done)
		return;
	hash_sha256_update(h, data, len);
	hash_sha256_end(h, out);
}

/* Trace header fields: each host a message passes through adds its own, so two copies of one
 * message delivered to two hosts differ in these and in nothing else. A name ending in '*'
 * is a prefix. DKIM-Signature is one: a relay may add its own signature (a list, an ARC
 * sealer, a forwarding MX that signs what it relays), and a signature is computed from the
 * header fields and the body, which stay in the digest; leaving every signature out thus
 * never makes two different messages one, while keeping them would make a relayed copy
 * another message. */
static const char *const trace_fields[] = {
	"Received", "X-Received", "Received-SPF", "Return-Path", "Delivered-To",
	"X-Original-To", "X-Envelope-*", "Authentication-Results",
	"X-Original-Authentication-Results", "ARC-*", "DKIM-Signature", "X-Spam-*",
	"X-Virus-*", NULL,
};
#define MESSAGE_ID_MAX 998

/* 1 when the header field of this name (len bytes) is a trace field. */
static int trace_field(const char *name, size_t len)
{
	for (const char *const *t = trace_fields; *t; t++) {
		size_t n = strlen(*t);
		if ((*t)[n - 1] == '*' ? len >= n - 1 && !strncasecmp(name, *t, n - 1)
		    : len == n && !strncasecmp(name, *t, n))
			return 1;
	}
	return 0;
}

/* Feeds len bytes to h, a CR before LF left out. */
static void hash_lf(struct hash_ctx *h, const char *p, size_t len)
{
	size_t from = 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			hash_sha256_update(h, p + from, i - from);
			from = i + 1;
		}
	hash_sha256_update(h, p + from, len - from);
}

/* The Message-ID in the field value v (n bytes, folded): what is inside <>, else the value
 * without blanks; "" when none. */
static void message_id_copy(const char *v, size_t n, char out[MESSAGE_ID_MAX + 1])
{
	size_t w = 0;
	const char *lt = memchr(v, '<', n), *gt = lt ? memchr(lt, '>', n - (size_t)(lt - v)) : NULL;
	if (lt && gt) {
		v = lt + 1;
		n = (size_t)(gt - lt - 1);
	}
	for (size_t i = 0; i < n && w < MESSAGE_ID_MAX; i++)
		if ((unsigned char)v[i] > ' ')
			out[w++] = v[i];
	out[w] = '\0';
}

/* Hashes the header fields of data that are not trace fields into h, finds the first
 * Message-ID and whether there is a Date; the offset where the body starts. */
static size_t replay_headers(struct hash_ctx *h, const char *data, size_t len,
			     char mid[MESSAGE_ID_MAX + 1], int *dated)
{
	size_t at = 0;
	mid[0] = '\0';
	*dated = 0;
	while (at < len && data[at] != '\n' && !(data[at] == '\r' && at + 1 < len &&
						 data[at + 1] == '\n')) {
		size_t end = at;	/* the field: its line and the continuation lines */
		do {
			const char *nl = memchr(data + end, '\n', len - end);
			end = nl ? (size_t)(nl - data) + 1 : len;
		} while (end < len && (data[end] == ' ' || data[end] == '\t'));
		const char *colon = memchr(data + at, ':', end - at);
		size_t nlen = colon ? (size_t)(colon - (data + at)) : 0;
		if (!colon || !trace_field(data + at, nlen))
			hash_lf(h, data + at, end - at);
		if (colon && !mid[0] && nlen == 10 && !strncasecmp(data + at, "Message-ID", 10))
			message_id_copy(colon + 1, end - nlen - 1 - at, mid);
		if (colon && nlen == 4 && !strncasecmp(data + at, "Date", 4))
			*dated = 1;
		at = end;
	}
	return at;
}

void spool_replay_key(const char *recipient, const char *data, size_t len, char out[65])
{
	char mid[MESSAGE_ID_MAX + 1], digest[65];
	int dated;
	struct hash_ctx *h = hash_sha256_begin();
	size_t body = replay_headers(h, data, len, mid, &dated);
	size_t end = len;	/* a host may add or drop blank lines at the end */
	while (end > body && strchr(" \t\r\n", data[end - 1]))
		end--;
	hash_lf(h, data + body, end - body);
	hash_sha256_end(h, digest);
	if (!mid[0] && !dated) {
		out[0] = '\0';	/* a repetition could not be told from a replay */
		return;
	}
	h = hash_sha256_begin();
	hash_sha256_update(h, "replay\n", 7);
	for (const char *r = recipient ? recipient : ""; *r; r++) {
		char lower = (char)tolower((unsigned char)*r);
		hash_sha256_update(h, &lower, 1);
	}
	hash_sha256_update(h, mid[0] ? "\nmessage-id\n" : "\nno-message-id\n", mid[0] ? 12 : 15);
	hash_sha256_update(h, mid, strlen(mid));
	hash_sha256_update(h, "\n", 1);
	hash_sha256_update(h, digest, 64);
	hash_sha256_end(h, out);
}

enum outcome spool_deliver(const struct config *c, int in, const char *sender,
			   const char *recipient, const char *origin)
{
	enum outcome rc = OUT_TEMPFAIL;
	char *name = unique_name();
	char *tmp = spool_path(c, "incoming/tmp", name);
	char *s = envelope_clean(sender), *r = envelope_clean(recipient);
	char *buffer = xmalloc(65536);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	size_t total = 0, kept = 0;
	char now[32];
	struct hash_ctx *kh = NULL;
	char key[65] = "";

	if (fd < 0) {
		log_err("stage=deliver error=\"cannot create %s: %s\"", tmp, strerror(errno));
		goto out;
	}
	clock_format_iso(clock_now(), now);
	char *o = origin ? envelope_clean(origin) : NULL;
	/* the ingest key, computed as the bytes go by, names the message in the log from here
	 * on (run computes the same from the file) */
	struct envelope kenv = { .recipient = r, .origin = o };
	int key_done;
	kh = ingest_key_begin(&kenv, key, &key_done);
	char *env = xasprintf(ENVELOPE_PREFIX "sender=<%s> recipient=<%s> received=%s%s%s%s\n", s, r,
			      now, o ? " origin=<" : "", o ? o : "", o ? ">" : "");
	free(o);
	int wrc = write_all(fd, env, strlen(env));
	free(env);
	if (wrc < 0)
		goto io_error;
	for (;;) {
		ssize_t n = read(in, buffer, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto io_error;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (kept < c->max_message_size) {
			size_t take = (size_t)n;
			if (take > c->max_message_size - kept)
				take = c->max_message_size - kept;
			if (write_all(fd, buffer, take) < 0)
				goto io_error;
			if (kh)
				hash_sha256_update(kh, buffer, take);
			kept += take;
		}
	}
	if (kh) {
		hash_sha256_end(kh, key);
		kh = NULL;
	}
	if (fsync(fd) < 0)
		goto io_error;
	if (close(fd) < 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (total > c->max_message_size) {
		/* Oversize mail is accepted and quarantined, never refused: a bounce of hostile
		 * mail would go to a forged sender. Its first max_message_size bytes are kept. */
		char *why = xasprintf("oversize: message is %zu bytes, limit max_message_size is "
				      "%zu; the first %zu bytes are kept\nsender=<%s> recipient=<%s>\n",
				      total, c->max_message_size, kept, s, r);
		char *fdir = spool_path(c, "failed", NULL);
		char *rname = xasprintf("%s.reason", name);
		char *dst = spool_path(c, "failed", name);
		int ok = spool_write_atomic(fdir, rname, why, strlen(why)) == 0 &&
			 rename(tmp, dst) == 0 && fsync_dir(fdir) == 0;
		if (ok)
			log_warn("msg=%.16s stage=deliver spool=%s result=quarantined reason=oversize "
				 "size=%zu", key, name, total);
		free(why);
		free(fdir);
		free(rname);
		free(dst);
		if (!ok)
			goto io_error;
		rc = OUT_OK;
		goto out;
	}
	char *dst = spool_path(c, "incoming/new", name);
	char *ndir = spool_path(c, "incoming/new", NULL);
	int ok = rename(tmp, dst) == 0 && fsync_dir(ndir) == 0;
	free(dst);
	free(ndir);
	if (!ok)
		goto io_error;
	log_info("msg=%.16s stage=deliver spool=%s size=%zu result=queued", key, name, total);
	rc = OUT_OK;
	goto out;
io_error:
	log_err("stage=deliver spool=%s error=\"%s\" result=tempfail", name, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	if (kh) {
		char dropped[65];
		hash_sha256_end(kh, dropped);
	}
	free(buffer);
	free(name);
	free(tmp);
	free(s);
	free(r);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int spool_list_new(const struct config *c, struct strlist *names, size_t max)
{
	char *dir = spool_path(c, "incoming/new", NULL);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		strlist_add(names, e->d_name);
	}
	closedir(d);
	if (names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, name_cmp);
	while (names->n > max)
		free(names->v[--names->n]);
	return 0;
}

/* Parses "X-Bidmail-Envelope: sender=<a> recipient=<b> received=T" into env. */
static void envelope_parse(const char *line, size_t len, struct envelope *env)
{
	char *l = xstrndup(line, len);
	const char *keys[] = { "sender=<", "recipient=<", "received=", "origin=<" };
	char **dst[] = { &env->sender, &env->recipient, &env->received, &env->origin };
	for (int i = 0; i < 4; i++) {
		char *p = strstr(l, keys[i]);
		if (!p)
			continue;
		p += strlen(keys[i]);
		size_t n = i != 2 ? strcspn(p, ">") : strcspn(p, " \r\n");
		*dst[i] = xstrndup(p, n);
	}
	free(l);
}

static struct spooled *spool_read_in(const struct config *c, const char *sub, const char *name)
{
	char *path = spool_path(c, sub, name);
	/* only a regular file is mail: a symlink is not followed, a FIFO does not block the
	 * open, and anything that is not a regular file is reported as ENOMSG */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENXIO || errno == EISDIR)
			errno = ENOMSG;
		free(path);
		return NULL;
	}
	struct stat st;
	int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? ENOMSG : 0;
	if (bad) {
		int e = bad;
		close(fd);
		free(path);
		errno = e;
		return NULL;
	}
	/* Read at most the size limit plus room for the envelope line: a larger file is
	 * quarantined by the caller from full_len, without ever being held whole in memory. */
	size_t cap = c->max_message_size + 4096;
	size_t want = (size_t)st.st_size < cap ? (size_t)st.st_size : cap;
	char *data = xmalloc(want + 1);
	size_t got = 0;
	while (got < want) {
		ssize_t n = read(fd, data + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			free(data);
			free(path);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	struct spooled *s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	s->path = path;
	size_t skip = 0;
	if (got > strlen(ENVELOPE_PREFIX) && !memcmp(data, ENVELOPE_PREFIX, strlen(ENVELOPE_PREFIX))) {
		const char *nl = memchr(data, '\n', got < 2048 ? got : 2048);
		if (nl) {
			envelope_parse(data, (size_t)(nl - data), &s->env);
			skip = (size_t)(nl - data) + 1;
		}
	}
	s->len = got - skip;
	s->full_len = (size_t)st.st_size - skip;
	memmove(data, data + skip, s->len + 1);	/* the bytes after the envelope line, and the NUL */
	s->data = data;
	hash_sha256_hex(s->data, s->len, s->sha256);
	spool_ingest_key(&s->env, s->data, s->len, s->key);
	spool_replay_key(s->env.recipient, s->data, s->len, s->replay_key);
	return s;
}

struct spooled *spool_read(const struct config *c, const char *name)
{
	return spool_read_in(c, "incoming/new", name);
}

struct spooled *spool_read_cur(const struct config *c, const char *name)
{
	return spool_read_in(c, "incoming/cur", name);
}

int spool_list_cur(const struct config *c, time_t since, struct strlist *names, size_t max)
{
	char *dir = spool_path(c, "incoming/cur", NULL);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return -1;
	struct dirent *e;
	struct stat st;
	while ((e = readdir(d)) != NULL && names->n < max) {
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || (since && st.st_mtime < since))
			continue;
		strlist_add(names, e->d_name);
	}
	closedir(d);
	if (names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, name_cmp);
	return 0;
}

int spool_reoffer(const struct config *c, const char *name)
{
	size_t n = strcspn(name, ":");	/* NAME:2,S as spool_done names it */
	char *src = spool_path(c, "incoming/cur", name);
	char *dst = xasprintf("%s/incoming/new/%.*s", c->spool, (int)n, name);
	struct stat st;
	int rc = -1;
	if (n == 0 || lstat(dst, &st) == 0)
		errno = EEXIST;
	else if (rename(src, dst) == 0)
		rc = 0;
	free(src);
	free(dst);
	return rc;
}

struct spooled *spooled_free(struct spooled *s)
{
	if (!s)
		return NULL;
	free(s->name);
	free(s->path);
	free(s->data);
	free(s->env.sender);
	free(s->env.recipient);
	free(s->env.received);
	free(s->env.origin);
	free(s);
	return NULL;
}

int spool_done(const struct config *c, const char *name)
{
	char *src = spool_path(c, "incoming/new", name);
	char *dst = xasprintf("%s/incoming/cur/%s:2,S", c->spool, name);
	int rc = rename(src, dst) == 0 ? 0 : -1;
	free(src);
	free(dst);
	return rc;
}

int spool_quarantine(const struct config *c, const char *name, const char *reason)
{
	char *fdir = spool_path(c, "failed", NULL);
	char *rname = xasprintf("%s.reason", name);
	char *src = spool_path(c, "incoming/new", name);
	char *dst = spool_path(c, "failed", name);
	char *text = xasprintf("%s\n", reason);
	int rc = -1;
	if (spool_write_atomic(fdir, rname, text, strlen(text)) < 0)
		goto out;
	if (rename(src, dst) < 0 || fsync_dir(fdir) < 0)
		goto out;
	rc = 0;
out:
	free(fdir);
	free(rname);
	free(src);
	free(dst);
	free(text);
	return rc;
}

int spool_set_aside(const struct config *c, const char *name, char **why)
{
	char *path = spool_path(c, "incoming/new", name);
	struct stat st;
	const char *what = "not a regular file";
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			what = "a directory";
		else if (S_ISLNK(st.st_mode))
			what = "a symbolic link (never followed)";
		else if (S_ISFIFO(st.st_mode))
			what = "a FIFO";
		else if (S_ISSOCK(st.st_mode))
			what = "a socket";
		else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			what = "a device";
	}
	free(path);
	*why = xasprintf("not mail: %s in incoming/new (only regular files are read); moved aside",
			 what);
	return spool_quarantine(c, name, *why);
}

int spool_count(const struct config *c, const char *sub, time_t *oldest)
{
	char *dir = spool_path(c, sub, NULL);
	DIR *d = opendir(dir);
	if (!d) {
		free(dir);
		return -1;
	}
	int n = 0;
	if (oldest)
		*oldest = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || (len > 7 && !strcmp(e->d_name + len - 7, ".reason")))
			continue;
		n++;
		struct stat sb;
		if (oldest && fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
		    (!*oldest || sb.st_mtime < *oldest))
			*oldest = sb.st_mtime;
	}
	closedir(d);
	free(dir);
	return n;
}
