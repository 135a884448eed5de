/*
 * send.c — delivers the outbox through the configured transport.
 * File transport (smarthost empty, the embedded default): one complete message per file in
 * SPOOL/outgoing/, named NNNNNNNNNN-TOKEN.eml by outbox id so files sort in sending order; a
 * batch is staged, made durable by one syncfs, given its names, the folder fsynced, then marked
 * sent in one transaction. A crash between the names and the commit rewrites the same names with
 * the same bytes: never a double.
 * SMTP (smtp.c): each row is marked the moment the server has answered the end of DATA (a line
 * in the sent journal SPOOL/sent-journal, folded into the database per batch), so a crash can at
 * worst resend the one message in flight per connection. 4xx,
 * timeouts and dropped connections re-queue with exponential back-off and jitter until
 * max_queue_age; 5xx fails at once. The envelope sender is the signed VERP address
 * bounce+m-ID-MAC@DOMAIN, so a bounce names its outbox row exactly.
 * Concurrent senders (the daemon and a cron job, two hosts) never send a row twice: each
 * claims its batch first (a lease with its owner token and an expiry longer than the pass can
 * last), and its marks are fenced on that lease. A lease outlives its owner only until it
 * expires, or at once when the owner was a process of this host that no longer runs.
 * In: queued outbox rows. Out: delivered mail, rows marked sent / re-queued / failed.
 */
#include "bidmail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEND_BATCH 256	/* at most the number of files spool_stage can hold */
#define SMTP_BATCH 2000
#define SHARED_BATCH_PER_CONNECTION 50	/* on a shared database: rows claimed per connection,
					 * so that the hosts' senders share the queue */
#define SEND_PASS_SECONDS 60	/* a pass starts no SMTP transaction after this */
#define LEASE_MARGIN 60		/* seconds a lease outlasts the longest pass */
/* An SMTP lease lasts smtp_time_bound(): the pass's time, plus 4 smtp_timeout (connect,
 * greeting, each command and QUIT may each take that long), plus the largest message at the
 * slowest rate accepted, plus LEASE_MARGIN: longer than the longest SMTP timeout can hold a
 * row, so that no live sender's row is ever taken over. On PostgreSQL its start is the
 * database's clock (store.c), so hosts whose clocks differ agree on when it ends. */
#define FILE_LEASE 600		/* seconds: a file batch is written in far less */
#define MAX_OWNERS 64		/* other senders' leases looked at per pass */

/* This process's owner token, HOST_ID:PID:RANDOM (host_id has no ':'); the same for all its
 * passes while host_id stays the same. */
static const char *send_owner(const struct config *c)
{
	static char owner[128];
	static pid_t pid;
	size_t hl = strlen(c->host_id);
	if (pid != getpid() || strncmp(owner, c->host_id, hl) || owner[hl] != ':') {
		char rnd[17];
		hash_random_hex(rnd, 8);
		pid = getpid();
		snprintf(owner, sizeof owner, "%s:%ld:%s", c->host_id, (long)pid, rnd);
	}
	return owner;
}

/* The reaper: re-queues the rows whose lease expired (their owner, on any host, died or was
 * cut off), so that they are counted as queued and sent once by whoever claims them next. */
static void send_reap(struct store *s, const char *now)
{
	int n = store_outbox_reap(s, now);
	if (n > 0)
		log_info("stage=send result=reaped rows=%d", n);
}

/* Frees the leases of senders of this host that no longer run (a crash, a kill -9): their
 * rows need not wait for the expiry. A process that runs, or of another host, keeps its. */
static void send_reclaim_dead(const struct config *c, struct store *s, const char *now)
{
	char *owners[MAX_OWNERS];
	int n = store_outbox_lease_owners(s, now, owners, MAX_OWNERS);
	const char *me = send_owner(c);
	size_t hl = strcspn(me, ":");
	for (int i = 0; i < n; i++) {
		const char *o = owners[i];
		char *end = NULL;
		long pid = strncmp(o, me, hl + 1) ? 0 : strtol(o + hl + 1, &end, 10);
		int dead = 0;
		if (pid > 0 && end && *end == ':' && strcmp(o, me))
			/* our own pid with another token: its former holder is gone */
			dead = pid == (long)getpid() || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
		if (dead && store_outbox_release(s, o) == 0)
			log_info("stage=send result=reclaimed owner=%s", o);
		free(owners[i]);
	}
}

static int files_journal_fold(const struct config *c, struct store *s);
static int files_journal_note(const struct config *c, const int64_t *ids, size_t n);

static int send_files(const struct config *c, struct store *s)
{
	const char *owner = send_owner(c);
	char now[32], until[32];
	clock_format_iso(clock_now(), now);
	clock_format_iso(clock_now() + FILE_LEASE, until);
	/* files published by a pass whose commit was lost (a failover) are sent: marked first */
	if (files_journal_fold(c, s) < 0)
		return -1;
	send_reclaim_dead(c, s, now);
	send_reap(s, now);
	char *dir = xasprintf("%s/outgoing", c->spool);
	char **names = xcalloc(SEND_BATCH, sizeof *names);
	int64_t *ids = xcalloc(SEND_BATCH, sizeof *ids);
	int sent = 0, rc = 0, kept = 0;
	/* a batch at a time: claimed (committed), staged, named, then marked sent; rows that
	 * could not be staged stay claimed until the end of the pass */
	for (int round = 0; round < 100000 && rc == 0; round++) {
		struct outbox_row *rows;
		int n = store_outbox_claim(s, owner, NULL, now, until, SEND_BATCH, &rows);
		if (n < 0) {
			rc = -1;
			break;
		}
		size_t staged = 0;
		if (n > 0 && store_begin(s) < 0)
			rc = -1;
		for (int i = 0; i < n && rc == 0; i++) {
			struct outbox_row *r = &rows[i];
			if (!compose_address_is_safe(r->to)) {
				store_outbox_mark(s, r->id, owner, OUTBOX_FAILED,
						  "recipient is not a plain address", clock_now());
				continue;
			}
			char *name = xasprintf("%010lld-%s.eml", (long long)r->id, r->token);
			char *path = xasprintf("%s/%s", dir, name);
			int written = access(path, F_OK) == 0;
			free(path);
			if (written) {
				/* published by a pass whose commit was lost (a failover): not twice */
				store_outbox_mark(s, r->id, owner, OUTBOX_SENT, NULL, clock_now());
				log_info("stage=send transport=file file=%s result=sent already=yes",
					 name);
				free(name);
				continue;
			}
			if (spool_stage(dir, name, r->data, r->len) < 0) {
				log_err("stage=send outbox=%lld transport=file error=\"%s\" "
					"result=deferred", (long long)r->id, strerror(errno));
				free(name);
				continue;
			}
			ids[staged] = r->id;
			names[staged++] = name;
			store_outbox_mark(s, r->id, owner, OUTBOX_SENT, NULL, clock_now());
		}
		/* the files get their names (durably) before the rows say `sent` */
		if (n > 0 && rc == 0) {
			if (spool_publish(dir, 1) < 0) {
				log_err("stage=send error=\"cannot publish in %s: %s\" result=deferred",
					dir, strerror(errno));
				store_rollback(s);
				rc = -1;
			} else if (store_commit(s) < 0) {
				/* the files are out, their marks lost: the journal says they are sent,
				 * and the leases stay ours until it is folded (no other host takes them) */
				store_rollback(s);
				kept = files_journal_note(c, ids, staged) == 0;
				rc = -1;
			} else {
				for (size_t k = 0; k < staged; k++)
					log_info("stage=send transport=file file=%s result=sent", names[k]);
				sent += (int)staged;
			}
		}
		for (size_t k = 0; k < staged; k++)
			free(names[k]);
		for (int i = 0; i < n; i++)
			outbox_row_clear(&rows[i]);
		free(rows);
		if (n < SEND_BATCH)
			break;
	}
	/* what was not written waits for the next pass, for any sender */
	if (!kept)
		store_outbox_release(s, owner);
	free(ids);
	free(names);
	free(dir);
	return rc < 0 ? -1 : sent;
}

/* The signed VERP envelope sender of a row: bounce+m-ID-MAC@DOMAIN. */
static const char *verp_sender(const struct config *c, const struct outbox_row *r, char *out,
			       size_t len)
{
	int64_t id = r->id;
	char *key = keys_make("m", &id, 1);
	const char *at = strrchr(c->bounce_address, '@');
	snprintf(out, len, "%.*s+%s%s", (int)(at - c->bounce_address), c->bounce_address, key, at);
	free(key);
	return out;
}

/* The sent journal: one line per message the server accepted, appended with a single
 * write() the moment its 250 arrives, then folded into the database once per batch and
 * emptied. A killed sender loses no mark (the kernel has the write); a power cut loses at most
 * what STORE_FAST would. On start, a journal left by a crash is folded in first.
 * Senders share it: each holds a shared flock while it appends, and empties it only when an
 * exclusive flock shows that no other sender has it open (a line is never lost). */
struct smtp_run {
	const struct config *c;
	struct store *s;
	const char *owner;
	time_t now;
	int sent, retried, failed;
	int unrecorded;		/* results the database did not take: their leases are kept */
	int journal;
};

/* In the spool, which is always a folder (the database need not be a file). */
static char *journal_path(const struct config *c)
{
	return xasprintf("%s/sent-journal", c->spool);
}

/* Marks every id of the journal sent (one transaction), then empties it when no other
 * sender has it open; 0 or -1. */
static int journal_fold(struct smtp_run *run)
{
	if (run->journal < 0)
		return 0;
	int alone = flock(run->journal, LOCK_EX | LOCK_NB) == 0;
	int rc = store_begin(run->s);
	char buf[8192];
	size_t have = 0;
	off_t at = 0;
	while (rc == 0) {
		ssize_t n = pread(run->journal, buf + have, sizeof buf - have, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -1;
		if (n <= 0)
			break;
		at += n;
		have += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < have && rc == 0; i++)
			if (buf[i] == '\n') {
				long long id = strtoll(buf + start, NULL, 10);
				if (id > 0 && store_outbox_mark_sent(run->s, id, clock_now()) < 0)
					rc = -1;
				start = i + 1;
			}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof buf)
			have = 0;	/* not a line of ours */
	}
	if (rc == 0 && store_commit(run->s) == 0) {
		if (alone && ftruncate(run->journal, 0) < 0)
			rc = -1;
	} else {
		store_rollback(run->s);
		rc = -1;
	}
	/* back to a shared lock (a conversion may briefly let go of it) */
	flock(run->journal, LOCK_SH);
	return rc;
}

/* The journal that versions before the spool one kept beside the database file: folded like
 * a journal of ours, then removed once emptied by a sender that found no other one holding it
 * (an older sender still appending to it keeps it, and it is folded at the next pass). 0 when
 * there is none (nor a database file) or it is folded, -1 when its marks could not be
 * recorded. */
static int journal_fold_old(const struct smtp_run *run)
{
	char *file = store_database_file(run->c->database);
	if (!file)
		return 0;
	char *path = xasprintf("%s.sent-journal", file);
	free(file);
	int fd = open(path, O_RDWR | O_CLOEXEC), rc = 0;
	if (fd >= 0) {
		flock(fd, LOCK_SH);
		struct smtp_run old = *run;
		old.journal = fd;
		rc = journal_fold(&old);
		struct stat st;
		if (rc == 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    st.st_size == 0 && unlink(path) == 0)
			log_info("stage=send result=folded journal=%s", path);
		close(fd);
	} else if (errno != ENOENT) {
		log_warn("stage=send error=\"cannot open %s: %s\"", path, strerror(errno));
	}
	free(path);
	return rc;
}

/* Seconds before attempt number `attempts` + 1: retry_base doubled each time, at most 6 h,
 * with +-25 % jitter so that a queue does not come back all at once. */
static long backoff(const struct config *c, int attempts)
{
	long d = c->retry_base;
	for (int i = 1; i < attempts && d < 6 * 3600; i++)
		d *= 2;
	if (d > 6 * 3600)
		d = 6 * 3600;
	unsigned r;
	hash_random(&r, sizeof r);
	long jitter = d / 4 > 0 ? (long)(r % (unsigned)(d / 2 + 1)) - d / 4 : 0;
	return d + jitter > 1 ? d + jitter : 1;
}

/* The file transport's use of the sent journal: ids appended (fsynced) when their files were
 * published but the commit of their marks failed. 0 or -1. */
static int files_journal_note(const struct config *c, const int64_t *ids, size_t n)
{
	char *jp = journal_path(c);
	int fd = open(jp, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	int rc = fd < 0 ? -1 : 0;
	if (fd >= 0)
		flock(fd, LOCK_SH);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char line[32];
		int len = snprintf(line, sizeof line, "%lld\n", (long long)ids[i]);
		rc = write(fd, line, (size_t)len) == len ? 0 : -1;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -1;
	if (rc < 0)
		log_err("stage=send error=\"cannot note %zu published files in %s: %s\"", n, jp,
			strerror(errno));
	else
		log_warn("stage=send transport=file result=journaled files=%zu reason=\"their marks "
			 "were not committed\"", n);
	if (fd >= 0)
		close(fd);
	free(jp);
	return rc;
}

/* Folds the sent journal before a file pass (as send_smtp does). 0 or -1. */
static int files_journal_fold(const struct config *c, struct store *s)
{
	struct smtp_run run = { .c = c, .s = s, .owner = send_owner(c), .now = clock_now() };
	char *jp = journal_path(c);
	run.journal = open(jp, O_RDWR | O_APPEND | O_CLOEXEC);
	free(jp);
	if (run.journal < 0)
		return 0;	/* no journal: nothing was noted in it */
	flock(run.journal, LOCK_SH);
	int rc = journal_fold(&run);
	close(run.journal);
	return rc;
}

static void smtp_done(void *arg, struct outbox_row *row, enum smtp_result r, const char *why)
{
	struct smtp_run *run = arg;
	int rc;
	if (r == SMTP_SENT) {
		char line[32];
		int n = snprintf(line, sizeof line, "%lld\n", (long long)row->id);
		rc = run->journal >= 0 && write(run->journal, line, (size_t)n) == n ? 0 : -1;
		if (rc < 0)	/* no journal: the mark goes straight to the database */
			rc = store_outbox_mark_sent(run->s, row->id, clock_now());
		run->sent++;
		log_info("stage=send outbox=%lld transport=smtp kind=%s result=sent", (long long)row->id,
			 row->kind);
	} else if (r == SMTP_RETRY) {
		time_t created = clock_parse_iso(row->created);
		if (created != (time_t)-1 && run->now - created >= run->c->max_queue_age) {
			char *e = xasprintf("%s; given up after %ld s in the queue", why,
					    run->c->max_queue_age);
			rc = store_outbox_mark(run->s, row->id, run->owner, OUTBOX_FAILED, e, clock_now());
			log_warn("stage=send outbox=%lld result=failed reason=\"%s\"", (long long)row->id, e);
			free(e);
			run->failed++;
		} else {
			char when[32];
			clock_format_iso(run->now + backoff(run->c, row->attempts + 1), when);
			rc = store_outbox_retry(run->s, row->id, run->owner, when, why);
			log_warn("stage=send outbox=%lld result=deferred next=%s reason=\"%s\"",
				 (long long)row->id, when, why);
			run->retried++;
		}
	} else {
		rc = store_outbox_mark(run->s, row->id, run->owner, OUTBOX_FAILED, why, clock_now());
		log_warn("stage=send outbox=%lld result=failed reason=\"%s\"", (long long)row->id, why);
		run->failed++;
	}
	if (rc < 0) {
		run->unrecorded++;
		log_err("stage=send outbox=%lld error=\"cannot record the result: %s\"",
			(long long)row->id, store_errmsg(run->s));
	}
}

static int send_smtp(const struct config *c, struct store *s)
{
	struct smtp_run run = { .c = c, .s = s, .owner = send_owner(c), .now = clock_now() };
	char now[32];
	clock_format_iso(run.now, now);
	char *jp = journal_path(c);
	run.journal = open(jp, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (run.journal < 0)
		log_warn("stage=send error=\"cannot open %s: %s; marking in the database\"", jp,
			 strerror(errno));
	else
		flock(run.journal, LOCK_SH);
	free(jp);
	/* a journal left by a crash first: those mails were accepted, never send them again */
	if (journal_fold_old(&run) < 0 || journal_fold(&run) < 0) {
		if (run.journal >= 0)
			close(run.journal);
		return -1;
	}
	send_reclaim_dead(c, s, now);
	send_reap(s, now);
	/* on a shared database another host may take this sender's leases over, and it cannot
	 * read this host's journal: each acceptance is marked in the database at once, so that
	 * a takeover resends at most the mails in flight */
	if (store_is_shared(s) && run.journal >= 0) {
		close(run.journal);
		run.journal = -1;
	}
	/* retries and failures are their own commits, written to the OS at once */
	store_durability(s, STORE_FAST);
	long long end = (clock_mono_ms() / 1000) + SEND_PASS_SECONDS;
	int batch = store_is_shared(s) ? SHARED_BATCH_PER_CONNECTION * c->smtp_connections : SMTP_BATCH;
	if (batch > SMTP_BATCH || batch < 1)
		batch = SMTP_BATCH;
	for (int round = 0; round < 1000; round++) {
		int left = (int)(end - (clock_mono_ms() / 1000));
		if (left <= 0)
			break;
		/* the lease outlasts anything this batch can cost (a hostile smarthost included) */
		char lease_now[32], until[32];
		time_t t = clock_now();
		clock_format_iso(t, lease_now);
		clock_format_iso(t + smtp_time_bound(c, left) + LEASE_MARGIN, until);
		struct outbox_row *rows;
		int n = store_outbox_claim(s, run.owner, now, lease_now, until, batch, &rows);
		if (n <= 0) {
			free(rows);
			break;
		}
		int before = run.sent + run.retried + run.failed;
		smtp_deliver(c, rows, n, left, verp_sender, smtp_done, &run);
		/* rows not started (the pass's time is over) go back to the queue, once every
		 * accepted one is marked sent */
		if (journal_fold(&run) == 0 && !run.unrecorded)
			store_outbox_release(s, run.owner);
		for (int i = 0; i < n; i++)
			outbox_row_clear(&rows[i]);
		free(rows);
		if (run.sent + run.retried + run.failed == before || n < batch)
			break;
	}
	store_durability(s, STORE_DURABLE);
	if (run.journal >= 0)
		close(run.journal);
	if (run.retried || run.failed)
		log_info("stage=send transport=smtp sent=%d deferred=%d failed=%d", run.sent,
			 run.retried, run.failed);
	return run.sent;
}

int send_queue(const struct config *c, struct store *s, const char *kind, const char *lang,
	       const struct vars *v, struct outgoing *o)
{
	return send_queue_as(c, s, kind, kind, lang, v, o);
}

int send_make(const struct config *c, const char *tmpl, const char *lang, const struct vars *v,
	      const struct outgoing *o, struct made_mail *m)
{
	memset(m, 0, sizeof *m);
	struct rendered r;
	if (render_mail(c, tmpl, lang, v, &r) < 0)
		return -1;
	struct outgoing with = *o;
	with.body = &r;
	m->data = compose_message(c, &with, m->token, &m->len);
	m->subject = r.subject;
	r.subject = NULL;
	rendered_clear(&r);
	return 0;
}

int send_queue_made(const struct config *c, struct store *s, const char *kind,
		    const struct made_mail *m, struct outgoing *o)
{
	snprintf(o->token, sizeof o->token, "%s", m->token);
	int64_t id = 0;
	int rc = store_outbox_insert(s, kind, o->to, c->bounce_address, m->subject, m->token,
				     m->data, m->len, o->share, &id, clock_now());
	/* while a message is handled, this line carries its msg=: the answer is traceable (the
	 * alert pass says the range of its rows once instead) */
	o->outbox_id = rc == 0 ? id : 0;
	if (rc == 0 && !o->quiet)
		log_info("stage=queue outbox=%lld kind=%s", (long long)id, kind);
	return rc;
}

void made_mail_clear(struct made_mail *m)
{
	free(m->data);
	free(m->subject);
	memset(m, 0, sizeof *m);
}

int send_queue_as(const struct config *c, struct store *s, const char *tmpl, const char *kind,
		  const char *lang, const struct vars *v, struct outgoing *o)
{
	struct made_mail m;
	if (send_make(c, tmpl, lang, v, o, &m) < 0)
		return -1;
	int rc = send_queue_made(c, s, kind, &m, o);
	made_mail_clear(&m);
	return rc;
}

int send_outbox_flush(const struct config *c, struct store *s)
{
	return *c->smarthost ? send_smtp(c, s) : send_files(c, s);
}
