/*
 * ingest.c — the daemon's pipeline: for each message in spool/incoming/new: read, check
 * limits, parse, classify, route (route.c), act, commit to SQLite, then move the file to cur/.
 * In: spool files. Out: rows (projects, outbox, the ingest log) and moved files.
 * Acting is one lookup in the route table below ({kind, key, purpose} -> handler): every
 * handler, here or in post.c, bid.c, quote.c, followup.c and robot.c, takes a struct handling.
 * Several waiting messages share one transaction (a savepoint each); the commit comes before
 * any move, and a replayed message whose ingest key is committed is a no-op: a SIGKILL at
 * any instant loses nothing and doubles nothing. Bad input is quarantined with a reason; a
 * message whose parse or handling crashes the process or runs over max_message_time is named
 * in a verdict file and quarantined at the next start; one that gets the process killed from
 * outside is tried alone in a separate process, and set aside if killed there too (the
 * in-flight guard below).
 */
#include "bidmail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct job {
	struct spooled *sp;	/* NULL when the read failed: read_errno says why */
	int read_errno;
	struct message *m;	/* parsed, classified and extracted by prepare() */
	enum kind k;
	enum outcome out;	/* OUT_PERMFAIL already from prepare(): quarantine */
	char *reason;		/* why it is quarantined (PERMFAIL) */
	int committed;		/* in the current transaction: move to cur/ after commit */
	int replay;		/* known by its replay key at record time: its work is undone */
};

/* ------------------------------------------------------------------ the in-flight guard */

/* While a message is prepared (parsed, classified, extracted: the prefetch thread) or acted
 * on (this thread), its spool name sits in a slot (and in the mark file below). A fault in that work (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT: a parser's
 * stack overflow, say), caught on an alternate stack, or a message busy for longer than
 * max_message_time (a watchdog thread measures it) makes the process write a verdict naming
 * the message to spool/tmp/ingest.verdict and stop. The next start quarantines that file
 * with the verdict as its reason and goes on with the others. A kill from outside (SIGKILL:
 * the kernel's out-of-memory killer, an operator) leaves no verdict, but it leaves a mark:
 * each slot's message is named in spool/tmp/ingest.inflight.PID from the moment its work
 * begins until it ends (a pwrite each way, no fsync: a killed process's writes survive it). A start
 * that finds a mark naming a message still in new/ counts a first kill on it and makes it a
 * suspect (spool/tmp/ingest.killed). Before anything else, each suspect is parsed alone in a
 * separate process (a trial: `bidmail ingest-trial`, spawned): if that process is killed too
 * (the out-of-memory killer takes the process that balloons), the message has killed the gateway
 * twice and is set aside in failed/ with that reason, at once. The trial cannot be killed by
 * what killed the daemon by chance (an operator's kill -9 storm names the daemon's pid), so an
 * innocent suspect passes it; it is then processed alone in the daemon, and leaves the list
 * at the end of its work. A suspect whose trial passed and that still gets the daemon killed
 * while it works on it (acting on it, say) is set aside after KILLS_AFTER_TRIAL such kills.
 * A message that kills the board, however fast, stops it twice at most. */
enum { SLOT_PREPARE, SLOT_PROCESS, SLOT_PREPARE_2, N_SLOTS };	/* PREPARE_2: the 2nd parser */
#define KILLS_TO_QUARANTINE 2	/* the daemon's kill and the trial's: set aside */
#define KILLS_AFTER_TRIAL 5	/* kills while working on a suspect whose trial passed */
#define MARK_SIZE 512		/* bytes of spool/tmp/ingest.inflight.PID per slot */
#define MAX_SUSPECTS 64		/* lines kept in spool/tmp/ingest.killed */
#define TRIAL_TRIES 3		/* trials that cannot run before a suspect goes on without one */

/* A message named by a mark at a start: "kills passed name" in spool/tmp/ingest.killed. */
struct suspect {
	char name[256];
	int kills;		/* the daemon's kill, and the trial's */
	int passed;		/* 0 before its trial; then 1 + the kills counted since */
	int untried;		/* trials that could not run, in this process (not saved) */
};

struct slot {
	volatile sig_atomic_t busy;
	char name[256];
	struct timespec start;	/* CLOCK_MONOTONIC */
};

static struct {
	struct slot slot[N_SLOTS];
	char verdict[1024], verdict_tmp[1024];	/* paths, ready for the fault handler */
	char inflight[1024], killed[1024], killed_tmp[1024];
	int mark_fd;		/* spool/tmp/ingest.inflight.PID, locked, or -1 */
	struct suspect suspect[MAX_SUSPECTS];	/* killed while marked: tried and processed alone */
	int n_suspects;
	long budget;
	int stop;
	pthread_t watchdog;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} guard = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .mark_fd = -1 };

static _Thread_local int my_slot = -1;	/* the slot this thread's current work is in */

/* Appends s to b[*at..cap); async-signal-safe. */
static void put_str(char *b, size_t *at, size_t cap, const char *s)
{
	while (*s && *at + 1 < cap)
		b[(*at)++] = *s++;
	b[*at] = '\0';
}

static void put_long(char *b, size_t *at, size_t cap, long v)
{
	char t[24];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && n < 20);
	while (n > 0 && *at + 1 < cap)
		b[(*at)++] = t[--n];
	b[*at] = '\0';
}

/* Writes the verdict on slot k: its file name, then why. Async-signal-safe. */
static void verdict_write(int k, const char *what, long number, const char *unit)
{
	char text[1024];
	size_t n = 0;
	put_str(text, &n, sizeof text, guard.slot[k].name);
	put_str(text, &n, sizeof text, "\n");
	put_str(text, &n, sizeof text, what);
	put_long(text, &n, sizeof text, number);
	put_str(text, &n, sizeof text, unit);
	put_str(text, &n, sizeof text, k != SLOT_PROCESS
		? " while the board was parsing it (MIME, HTML, classification, extraction)"
		: " while the board was acting on it");
	put_str(text, &n, sizeof text, "; it was set aside at the next start so that the "
		"others could go on\n");
	spool_write_file(guard.verdict, guard.verdict_tmp, text, n, 0640, SPOOL_FSYNC);
}

static void on_fault(int sig)
{
	int k = my_slot;
	if (k >= 0 && guard.slot[k].busy)
		verdict_write(k, "the board crashed (signal ", sig, ")");
	signal(sig, SIG_DFL);
	raise(sig);
}

/* An alternate signal stack for the calling thread (a stack overflow is one of the faults
 * caught), and the one it replaces (a sanitizer's, say). */
struct altstack {
	stack_t old;
	void *mem;
};

/* Gives the calling thread its alternate stack; returns it (owned), or NULL. */
static struct altstack *guard_thread_enter(void)
{
	size_t size = 256 * 1024;
	struct altstack *a = xcalloc(1, sizeof *a);
	a->mem = xmalloc(size);
	stack_t ss = { .ss_sp = a->mem, .ss_size = size, .ss_flags = 0 };
	if (sigaltstack(&ss, &a->old) < 0) {
		free(a->mem);
		free(a);
		return NULL;
	}
	return a;
}

/* Puts the thread's previous alternate stack back and frees a. */
static void guard_thread_leave(struct altstack *a)
{
	if (!a)
		return;
	if (a->old.ss_flags & SS_DISABLE) {
		stack_t off = { .ss_flags = SS_DISABLE };
		sigaltstack(&off, NULL);
	} else {
		sigaltstack(&a->old, NULL);
	}
	free(a->mem);
	free(a);
}

/* Slot k's mark in spool/tmp/ingest.inflight.PID: the name of the message whose work begins,
 * or NULL to clear it when the work ends (guard.mu held). Not synced: it has to outlive the
 * process, not the machine. */
static void mark_write(int k, const char *name)
{
	if (guard.mark_fd < 0)
		return;
	char rec[MARK_SIZE] = { 0 };
	if (name)
		snprintf(rec, sizeof rec, "%s\n", name);
	if (pwrite(guard.mark_fd, rec, sizeof rec, (off_t)k * MARK_SIZE) != (ssize_t)sizeof rec)
		log_warn("stage=ingest warning=\"cannot write %s: %s\"", guard.inflight,
			 strerror(errno));
}

/* 1 when name is a plain spool name still waiting in incoming/new. */
static int waiting_in_new(const struct config *c, const char *name)
{
	if (!*name || *name == '.' || strchr(name, '/'))
		return 0;
	char *path = xasprintf("%s/incoming/new/%s", c->spool, name);
	int waiting = access(path, F_OK) == 0;
	free(path);
	return waiting;
}

/* The suspects of spool/tmp/ingest.killed still waiting in new/, at most max, into out. */
static int suspects_read(const struct config *c, struct suspect *out, int max)
{
	int n_out = 0;
	char text[MAX_SUSPECTS * 280];
	int fd = open(guard.killed, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	for (char *line = text, *next; *line && n_out < max; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		struct suspect *x = &out[n_out];
		int used = 0;
		memset(x, 0, sizeof *x);
		if (sscanf(line, "%d %d %n", &x->kills, &x->passed, &used) != 2 || !used ||
		    x->kills <= 0 || x->passed < 0 || strlen(line + used) >= sizeof x->name ||
		    !waiting_in_new(c, line + used))
			continue;	/* processed to its end since, gone, or not ours */
		snprintf(x->name, sizeof x->name, "%s", line + used);
		n_out++;
	}
	return n_out;
}

/* Reads spool/tmp/ingest.killed into guard.suspect: the suspects still waiting (each keeps
 * the count of its trials that could not run, which only this process knows). */
static void suspects_load(const struct config *c)
{
	static struct suspect before[MAX_SUSPECTS];
	int n_before = guard.n_suspects;
	memcpy(before, guard.suspect, sizeof before);
	guard.n_suspects = suspects_read(c, guard.suspect, MAX_SUSPECTS);
	for (int k = 0; k < guard.n_suspects; k++)
		for (int i = 0; i < n_before; i++)
			if (!strcmp(before[i].name, guard.suspect[k].name))
				guard.suspect[k].untried = before[i].untried;
}

/* Writes guard.suspect back to spool/tmp/ingest.killed (removed when there is none), with
 * the suspects another ingester recorded there meanwhile (those this one knows are written
 * as it knows them; one processed or set aside has left new/ and is not read back). The
 * caller holds the spool/tmp lock. */
static void suspects_write(const struct config *c)
{
	static struct suspect file[MAX_SUSPECTS];
	int n_file = suspects_read(c, file, MAX_SUSPECTS), n = 0;
	size_t cap = (size_t)(guard.n_suspects + n_file) * 300 + 1, at = 0;
	char *text = xmalloc(cap);
	for (int i = 0; i < guard.n_suspects + n_file; i++) {
		const struct suspect *x = i < guard.n_suspects ? &guard.suspect[i]
						: &file[i - guard.n_suspects];
		int known = 0;
		for (int k = 0; i >= guard.n_suspects && k < guard.n_suspects && !known; k++)
			known = !strcmp(guard.suspect[k].name, x->name);
		if (known || n == MAX_SUSPECTS)
			continue;
		at += (size_t)snprintf(text + at, cap - at, "%d %d %s\n", x->kills, x->passed,
				       x->name);
		n++;
	}
	if (n)
		spool_write_file(guard.killed, guard.killed_tmp, text, at, 0640, SPOOL_FSYNC);
	else
		unlink(guard.killed);
	free(text);
}

/* The spool/tmp folder locked (the ingesters' lock on their shared files); its fd, or -1. */
static int spool_tmp_lock(const struct config *c)
{
	char *dir = xasprintf("%s/tmp", c->spool);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

/* suspects_write under the spool/tmp lock. */
static void suspects_save(const struct config *c)
{
	int lock = spool_tmp_lock(c);
	suspects_write(c);
	if (lock >= 0)
		close(lock);
}

/* Sets suspect i aside in failed/ with the reason why, and drops it from the list. */
static void suspect_quarantine(const struct config *c, int i, const char *why)
{
	const char *name = guard.suspect[i].name;
	if (spool_quarantine(c, name, why) == 0)
		log_warn("stage=ingest spool=%s result=quarantined reason=\"%s\"", name, why);
	else if (errno != ENOENT)
		log_err("stage=ingest spool=%s error=\"cannot quarantine: %s\"", name,
			strerror(errno));
	guard.suspect[i] = guard.suspect[--guard.n_suspects];
}

/* The kills that mark file's records name: a suspect, with its first kill; one whose trial
 * has passed counts the kills since, and is set aside at KILLS_AFTER_TRIAL. */
static void marks_count(const struct config *c, int fd)
{
	char rec[MARK_SIZE * N_SLOTS + 1];
	ssize_t n = pread(fd, rec, sizeof rec - 1, 0);
	for (int k = 0; n > 0 && k < N_SLOTS && (k + 1) * MARK_SIZE <= n; k++) {
		char *name = rec + k * MARK_SIZE;
		name[MARK_SIZE - 1] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (!waiting_in_new(c, name) || strlen(name) >= sizeof guard.suspect[0].name)
			continue;	/* its work had ended, or the file is gone */
		int i = 0;
		while (i < guard.n_suspects && strcmp(guard.suspect[i].name, name))
			i++;
		if (i == guard.n_suspects) {
			if (i == MAX_SUSPECTS)
				continue;
			memset(&guard.suspect[i], 0, sizeof guard.suspect[i]);
			snprintf(guard.suspect[i].name, sizeof guard.suspect[i].name, "%s", name);
			guard.suspect[i].kills = 1;
			guard.n_suspects++;
			log_warn("stage=ingest spool=%s result=suspect (the previous run was killed "
				 "from outside while %s it; it is tried alone in a separate process "
				 "before anything else)", name, k != SLOT_PROCESS ? "parsing" : "acting on");
			continue;
		}
		if (!guard.suspect[i].passed)
			continue;	/* killed while its trial ran: tried again */
		if (++guard.suspect[i].passed <= KILLS_AFTER_TRIAL)
			continue;
		char *why = xasprintf("it killed the gateway %d times: the board was killed from "
				      "outside (out of memory, or by an operator) %d times while %s it "
				      "alone, after a trial parse in a separate process had passed; it "
				      "was set aside at the next start so that the others could go on",
				      guard.suspect[i].passed - 1, guard.suspect[i].passed - 1,
				      k != SLOT_PROCESS ? "parsing" : "acting on");
		suspect_quarantine(c, i, why);
		free(why);
	}
}

/* 1 when a spool/tmp entry is an ingester's mark file: ingest.inflight.PID (or the single
 * ingest.inflight of the versions before per-process marks). */
static int is_mark_file(const char *name)
{
	return !strcmp(name, "ingest.inflight") || !strncmp(name, "ingest.inflight.", 16);
}

/* At a start: every ingester (the daemon, a `bidmail ingest` beside it) keeps its marks in a
 * file of its own, spool/tmp/ingest.inflight.PID, under an exclusive flock for as long as it
 * works. A mark file whose lock can be taken was left by a process that is gone: killed from
 * outside while it worked on what the file names. Those are counted (marks_count) and
 * removed; a live ingester's file is left alone, so a second ingester never takes the
 * message the first is working on for one that killed it. A flock on the spool/tmp folder
 * itself serialises this read-modify-write of ingest.killed between ingesters starting
 * together (no lock file is left behind). */
static void marks_recover(const struct config *c)
{
	char *dir = xasprintf("%s/tmp", c->spool);
	int lock_fd = spool_tmp_lock(c);	/* the folder is the lock */
	suspects_load(c);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		int made = !strncmp(e->d_name, ".ingest.inflight.", 17);	/* being made */
		if (!made && !is_mark_file(e->d_name))
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		/* a lock taken on a file already unlinked: another start has counted it; one left
		 * half made by a process killed as it started names nothing */
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    st.st_nlink > 0) {
			if (!made)
				marks_count(c, fd);
			unlink(path);
		}
		if (fd >= 0)
			close(fd);
		free(path);
	}
	if (d)
		closedir(d);
	suspects_write(c);
	if (lock_fd >= 0)
		close(lock_fd);	/* and its lock */
	free(dir);
}

/* This process's mark file, locked before it takes its name (a starting ingester never sees
 * it unlocked): created as .ingest.inflight.PID, locked, renamed. -1 when it cannot be made
 * (logged: the guard then works without marks). */
static int mark_file_open(void)
{
	char tmp[1100];
	char *slash = strrchr(guard.inflight, '/');
	snprintf(tmp, sizeof tmp, "%.*s/.%s", (int)(slash - guard.inflight), guard.inflight,
		 slash + 1);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	/* link, not rename: a live file of that name (an ingester of the same pid in another
	 * namespace) is never replaced */
	if (fd >= 0 && (flock(fd, LOCK_EX) < 0 || link(tmp, guard.inflight) < 0)) {
		unlink(tmp);
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		unlink(tmp);
	if (fd < 0)
		log_warn("stage=ingest warning=\"cannot make %s: %s\" (the work goes on without "
			 "in-flight marks)", guard.inflight, strerror(errno));
	return fd;
}

static void slot_begin(int k, const char *name)
{
	pthread_mutex_lock(&guard.mu);
	snprintf(guard.slot[k].name, sizeof guard.slot[k].name, "%s", name);
	clock_gettime(CLOCK_MONOTONIC, &guard.slot[k].start);
	mark_write(k, name);
	guard.slot[k].busy = 1;
	my_slot = k;
	pthread_mutex_unlock(&guard.mu);
}

/* Frees slot k; returns the seconds its work took. */
static double slot_end(int k)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&guard.mu);
	guard.slot[k].busy = 0;
	mark_write(k, NULL);
	my_slot = -1;
	double took = (double)(now.tv_sec - guard.slot[k].start.tv_sec) +
		      (double)(now.tv_nsec - guard.slot[k].start.tv_nsec) / 1e9;
	pthread_mutex_unlock(&guard.mu);
	return took;
}

static void *watchdog_run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&guard.mu);
	while (!guard.stop) {
		struct timespec until, now;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&guard.cv, &guard.mu, &until);
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (int k = 0; k < N_SLOTS && !guard.stop; k++) {
			struct slot *sl = &guard.slot[k];
			long took_ms = (long)(now.tv_sec - sl->start.tv_sec) * 1000 +
				       (now.tv_nsec - sl->start.tv_nsec) / 1000000;
			long took = took_ms / 1000;
			if (!sl->busy || took < guard.budget)
				continue;
			verdict_write(k, "over its time budget: still busy after ", took,
				      " s (limit max_message_time)");
			log_err("stage=ingest spool=%s error=\"over its time budget: %ld s, limit "
				"max_message_time is %ld s\" result=stopping (the next start sets it "
				"aside)", sl->name, took, guard.budget);
			_exit(75);
		}
	}
	pthread_mutex_unlock(&guard.mu);
	return NULL;
}

static void guard_install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Quarantines the message a verdict names, if a previous run left one. */
static void guard_recover(const struct config *c)
{
	int fd = open(guard.verdict, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char text[1024];
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	char *nl = strchr(text, '\n');
	const char *reason = nl ? nl + 1 : "";
	if (nl)
		*nl = '\0';
	char *end = strchr(reason, '\n');
	if (end)
		*end = '\0';
	if (*text && *text != '.' && !strchr(text, '/') && *reason) {
		if (spool_quarantine(c, text, reason) == 0) {
			log_warn("stage=ingest spool=%s result=quarantined reason=\"%s\"", text, reason);
		} else if (errno != ENOENT) {
			log_err("stage=ingest spool=%s error=\"cannot quarantine: %s\"", text,
				strerror(errno));
			return;
		}
	}
	unlink(guard.verdict);
}

/* Sets the guard up for one pass over the spool: handlers, this thread's alternate stack,
 * the watchdog; quarantines what the last run's verdict names. */
static struct altstack *guard_begin(const struct config *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, guard_install_handlers);
	pthread_mutex_lock(&guard.mu);
	snprintf(guard.verdict, sizeof guard.verdict, "%s/tmp/ingest.verdict", c->spool);
	snprintf(guard.verdict_tmp, sizeof guard.verdict_tmp, "%s/tmp/.ingest.verdict", c->spool);
	snprintf(guard.inflight, sizeof guard.inflight, "%s/tmp/ingest.inflight.%ld", c->spool,
		 (long)getpid());
	snprintf(guard.killed, sizeof guard.killed, "%s/tmp/ingest.killed", c->spool);
	snprintf(guard.killed_tmp, sizeof guard.killed_tmp, "%s/tmp/.ingest.killed", c->spool);
	guard.budget = c->max_message_time;
	guard.stop = 0;
	pthread_mutex_unlock(&guard.mu);
	guard_recover(c);
	marks_recover(c);
	pthread_mutex_lock(&guard.mu);
	guard.mark_fd = mark_file_open();
	pthread_mutex_unlock(&guard.mu);
	if (pthread_create(&guard.watchdog, NULL, watchdog_run, NULL) != 0)
		guard.watchdog = 0;
	return guard_thread_enter();
}

static void guard_end(struct altstack *stack)
{
	if (guard.watchdog) {
		pthread_mutex_lock(&guard.mu);
		guard.stop = 1;
		pthread_cond_broadcast(&guard.cv);
		pthread_mutex_unlock(&guard.mu);
		pthread_join(guard.watchdog, NULL);
		guard.watchdog = 0;
	}
	pthread_mutex_lock(&guard.mu);
	if (guard.mark_fd >= 0) {
		unlink(guard.inflight);	/* every message's work has ended */
		close(guard.mark_fd);
		guard.mark_fd = -1;
	}
	pthread_mutex_unlock(&guard.mu);
	guard_thread_leave(stack);
}

/* Queues one mail answering m, to its sender. 0 or -1. */
static int queue_reply(const struct config *c, struct store *s, const struct message *m,
		       const char *kind, const char *lang, const struct vars *v, const char *from)
{
	struct outgoing o = {
		.from_name = c->board_name,
		.from = from,
		.to_name = m->from_name,
		.to = m->from,
		.in_reply_to = m->message_id_made_up ? NULL : m->message_id,
		.auto_submitted = "auto-replied",
	};
	return send_queue(c, s, kind, lang, v, &o);
}

/* A bounce: matched to its outbox row by the VERP key (bounce+m-ID, found by the route), the
 * address's score raised (hard 5.x.x counts 1, soft 0.5, once a day), the address disabled past
 * bounce_threshold with one final notice. Never answered otherwise. */
static enum outcome act_bounce(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	const struct message *m = h->m;
	const struct spooled *sp = h->sp;
	char **result = &h->result;
	int64_t id = h->r->key == ROUTE_KEY_VALID && h->r->purpose == 'm' ? h->r->ids[0] : 0;
	const char *status = m->bounce_status ? m->bounce_status : "";
	if (!id) {
		log_info("msg=%.16s stage=bounce result=unmatched recipient=%s status=%s", sp->key,
			 m->bounce_recipient ? m->bounce_recipient : "-", *status ? status : "-");
		*result = xasprintf("bounce:unmatched:%s", *status ? status : "unknown");
		return OUT_OK;
	}
	char to[320];
	int found = store_outbox_recipient(s, id, to, sizeof to);
	if (found < 0)
		return store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
	if (!found) {
		*result = xasprintf("bounce:outbox-%lld-gone", (long long)id);
		return OUT_OK;
	}
	if (m->bounce_action && !strcmp(m->bounce_action, "delayed")) {
		/* a delay notice is news, not a failure */
		store_outbox_bounce(s, id, "delayed");
		*result = xasprintf("bounce:delayed:outbox-%lld", (long long)id);
		return OUT_OK;
	}
	int hard = status[0] == '5';
	char day[32];
	clock_format_iso(clock_now(), day);
	day[10] = '\0';
	int disabled_now = 0;
	if (store_outbox_bounce(s, id, *status ? status : "unknown") < 0 ||
	    store_address_bounce(s, to, hard, day, c->bounce_threshold, &disabled_now) < 0)
		return store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
	log_info("msg=%.16s stage=bounce outbox=%lld address=%s status=%s kind=%s", sp->key,
		 (long long)id, to, *status ? status : "unknown", hard ? "hard" : "soft");
	if (disabled_now) {
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "address", to);
		vars_set(&v, "robot_address", c->robot_address);
		struct message fake = { 0 };
		fake.from = to;
		fake.message_id_made_up = 1;
		if (queue_reply(c, s, &fake, "address_disabled", c->language, &v, c->robot_address) < 0)
			return store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
		log_warn("stage=bounce address=%s result=disabled threshold=%d", to,
			 c->bounce_threshold);
	}
	*result = xasprintf("bounce:%s:outbox-%lld%s", hard ? "hard" : "soft", (long long)id,
			    disabled_now ? ":disabled" : "");
	return OUT_OK;
}

/* Flood control: 0 when m may be acted on, 1 when it is over its sender's limit (then
 * *result says so and the sender has been told once per window), -1 on a database error. */
static int over_rate(const struct config *c, struct store *s, const struct message *m,
		     const char *msg_key, enum kind k, const char *answer_from, char **result)
{
	if ((k != KIND_POST && k != KIND_BID && k != KIND_COMMAND) || !m->from)
		return 0;
	int hit = store_sender_hit(s, m->from, clock_now(), c->sender_rate_window,
				   c->sender_rate_limit);
	if (hit <= 0)
		return hit;
	if (hit == 1) {
		long w = c->sender_rate_window;
		char limit[16], count[24];
		snprintf(limit, sizeof limit, "%d", c->sender_rate_limit);
		snprintf(count, sizeof count, "%ld", w % 86400 == 0 ? w / 86400
			 : w % 3600 == 0 ? w / 3600 : (w + 59) / 60);
		struct vars wv = { 0 };
		vars_set(&wv, "n", count);
		char *window = catalog_format(c->language, w % 86400 == 0 ? "ingest.window_days"
					      : w % 3600 == 0 ? "ingest.window_hours"
					      : "ingest.window_minutes", &wv);
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "limit", limit);
		vars_set(&v, "window", window);
		vars_set(&v, "subject", "");	/* the From may be forged: nothing of the mail */
		int rc = compose_address_is_safe(m->from) &&
			 queue_reply(c, s, m, "rate_limited", c->language, &v, answer_from) < 0 ? -1 : 0;
		free(window);
		if (rc < 0)
			return -1;
		log_warn("msg=%.16s stage=ingest result=rate-limited limit=%d window=%lds told=yes",
			 msg_key, c->sender_rate_limit, c->sender_rate_window);
	}
	*result = xstrdup(hit == 1 ? "rate-limited:told" : "rate-limited");
	return 1;
}

/* RFC 3834: auto-replies and loops are never answered. */
static enum outcome act_ignore(struct handling *h)
{
	h->result = xasprintf("ignored:%s", kind_name(h->r->kind));
	return OUT_OK;
}

static enum outcome act_unknown(struct handling *h)
{
	h->reason = xstrdup("not addressed to the posting, bid or robot address "
			    "(envelope recipient, Delivered-To, To and Cc checked)");
	return OUT_PERMFAIL;
}

/* The route table: what a mail is for (its kind, from the address it came to, and its key as
 * route.c verified it) decides its handler. The first row that matches is taken; ROUTE_ANY
 * matches any key. fail_reason: the quarantine reason when the handler gives none. */
#define ROBOT_FAIL "the robot could not handle this mail"
#define ROUTE_ANY ((enum route_key)-1)
static const struct route_row {
	enum kind kind;
	enum route_key key;
	char purpose;		/* with ROUTE_KEY_VALID: the key's letter */
	route_handler handler;
	const char *fail_reason;
} route_table[] = {
	{ KIND_POST, ROUTE_KEY_VALID, 'k', post_reply, NULL },
	{ KIND_POST, ROUTE_KEY_BAD, 0, post_refuse_key, NULL },
	{ KIND_POST, ROUTE_KEY_NONE, 0, post_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'q', quote_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'r', quote_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'a', quote_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 't', rating_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'w', reminder_handle, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'p', bid_public, NULL },
	{ KIND_BID, ROUTE_KEY_VALID, 'b', bid_handle, NULL },
	{ KIND_BID, ROUTE_ANY, 0, bid_refuse, NULL },
	{ KIND_COMMAND, ROUTE_KEY_VALID, 'u', robot_unsubscribe, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_VALID, 'c', robot_confirm, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_VALID, 'v', robot_moderate, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_VALID, 'd', robot_selection_reply, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_VALID, 's', robot_commands, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_BAD, 0, robot_bad_key, ROBOT_FAIL },
	{ KIND_COMMAND, ROUTE_KEY_NONE, 0, robot_plain, ROBOT_FAIL },
	{ KIND_BOUNCE, ROUTE_ANY, 0, act_bounce, NULL },
	{ KIND_AUTO_REPLY, ROUTE_ANY, 0, act_ignore, NULL },
	{ KIND_LOOP, ROUTE_ANY, 0, act_ignore, NULL },
	{ KIND_UNKNOWN, ROUTE_ANY, 0, act_unknown, NULL },
};

/* The row of route_table for r (the last, unknown, when none matches). */
static const struct route_row *route_row_of(const struct route *r)
{
	size_t n = sizeof route_table / sizeof route_table[0];
	for (size_t i = 0; i < n; i++) {
		const struct route_row *row = &route_table[i];
		if (row->kind == r->kind && (row->key == ROUTE_ANY || (row->key == r->key &&
		    (r->key != ROUTE_KEY_VALID || row->purpose == r->purpose))))
			return row;
	}
	return &route_table[n - 1];
}

/* Acts on one message through its row of the route table; sets j->out (and j->reason) and
 * *resultp. */
static void dispatch(const struct config *c, struct store *s, struct job *j, struct message *m,
		     enum kind k, char **resultp)
{
	struct route r;
	route_message(c, m, j->sp->env.recipient, k, &r);
	const struct route_row *row = route_row_of(&r);
	struct handling h = { .c = c, .s = s, .m = m, .sp = j->sp, .r = &r };
	j->out = row->handler(&h);
	if (j->out == OUT_PERMFAIL && !h.reason && row->fail_reason)
		h.reason = xstrdup(row->fail_reason);
	if (h.reason) {
		free(j->reason);
		j->reason = h.reason;
	}
	*resultp = h.result;
}

/* The part of a message's handling that needs no database: read, size and structure
 * limits, parse, classify, extract. Runs ahead of the transaction in the prefetch thread. */
static void prepare_message(const struct config *c, struct job *j, const char *name)
{
	char why[256];
	memset(j, 0, sizeof *j);
	j->sp = spool_read(c, name);
	if (!j->sp) {
		j->read_errno = errno;
		return;
	}
	struct spooled *sp = j->sp;
	if (sp->full_len > c->max_message_size) {
		j->reason = xasprintf("oversize: message is %zu bytes, limit max_message_size is %zu",
				      sp->full_len, c->max_message_size);
		j->out = OUT_PERMFAIL;
		return;
	}
	if (mime_check_limits(c, sp->data, sp->len, why, sizeof why) != MIME_LIMITS_OK) {
		j->reason = xstrdup(why);
		j->out = OUT_PERMFAIL;
		return;
	}
	j->m = mime_parse(sp->data, sp->len);
	j->k = classify_message(c, j->m, sp->env.recipient);
	extract_message(c, j->m, j->k);
}

/* prepare_message in the guard's prepare slot `slot` (one per parsing thread), and measured:
 * over max_message_time, the message is quarantined even when it finished. */
static void prepare(const struct config *c, struct job *j, const char *name, int slot)
{
	slot_begin(slot, name);
	prepare_message(c, j, name);
	double took = slot_end(slot);
	if (j->sp && j->out != OUT_PERMFAIL && took >= (double)c->max_message_time) {
		j->reason = xasprintf("over its time budget: parsing it took %.1f s (limit "
				      "max_message_time is %ld s)", took, c->max_message_time);
		j->out = OUT_PERMFAIL;
		j->m = message_free(j->m);
	}
}

static void job_clear(struct job *j)
{
	spooled_free(j->sp);
	message_free(j->m);
	free(j->reason);
	memset(j, 0, sizeof *j);
}

/* The token of a Message-ID the board made ("<token@domain>", domain ours) into tok; 1 or 0. */
static int board_token(const struct config *c, const char *id, char *tok, size_t len)
{
	const char *at = id ? strrchr(id, '@') : NULL;
	const char *start = id && *id == '<' ? id + 1 : id;
	size_t dn = strlen(c->domain);
	if (!at || at <= start || (size_t)(at - start) >= len || strncasecmp(at + 1, c->domain, dn) ||
	    (at[1 + dn] != '>' && at[1 + dn] != '\0'))
		return 0;
	memcpy(tok, start, (size_t)(at - start));
	tok[at - start] = '\0';
	return 1;
}

/* When m answers a mail the board sent (In-Reply-To, else the newest References), its new
 * text is trimmed again knowing our text: the copy of it in the reply goes, quoted or not. */
static void trim_against_sent(const struct config *c, struct store *s, struct message *m)
{
	const char *refs[21];
	int nr = 0;
	if (m->in_reply_to)
		refs[nr++] = m->in_reply_to;
	for (size_t i = m->references.n; i > 0 && nr < 21; i--)
		refs[nr++] = m->references.v[i - 1];
	for (int i = 0; i < nr; i++) {
		char tok[128], *data;
		size_t len;
		if (!board_token(c, refs[i], tok, sizeof tok) ||
		    store_outbox_message_by_token(s, tok, &data, &len) != 1)
			continue;
		struct message *ours = mime_parse(data, len);
		if (ours && ours->text)
			extract_reply_against(m, ours->text);
		message_free(ours);
		free(data);
		return;
	}
}

/* Records the handled message in the ingest log. A row already there with its key or its
 * replay key (another host committed the same message meanwhile: the unique constraints
 * decide, not the look-up before) makes it a replay: j->replay, and its work is rolled back
 * by the caller while the file goes to cur/. */
static void record(const struct config *c, struct store *s, struct job *j,
		   const struct message *m, const char *kind, const char *result)
{
	const struct spooled *sp = j->sp;
	struct ingest_row row = { .key = sp->key,
				  .replay_key = sp->replay_key[0] ? sp->replay_key : NULL,
				  .spool_name = sp->name, .sha256 = sp->sha256,
				  .message_id = m->message_id, .kind = kind, .result = result,
				  .host = c->host_id };
	int r = store_ingest_record_once(s, &row, clock_now());
	if (r < 0)
		j->out = store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
	else
		j->committed = 1;
	j->replay = r == 1;
	if (j->out == OUT_PERMFAIL && !j->reason)
		j->reason = xasprintf("database: %s", store_errmsg(s));
}

/* Handles one prepared message inside the open transaction; sets j->out (and j->reason). */
static void process(const struct config *c, struct store *s, struct job *j)
{
	struct spooled *sp = j->sp;
	char *result = NULL;
	const char *kind = "unknown";
	if (j->out == OUT_PERMFAIL)
		return;
	struct message *m = j->m;
	enum kind k = j->k;
	int seen = store_ingest_seen(s, sp->key);
	int replayed = seen || !sp->replay_key[0] ? 0 : store_ingest_replay_seen(s, sp->replay_key);
	if (seen < 0 || replayed < 0) {
		j->out = OUT_TEMPFAIL;
		return;
	}
	if (seen || replayed) {
		log_info("msg=%.16s stage=ingest spool=%s result=duplicate%s", sp->key, sp->name,
			 replayed ? " (same message through another host)" : "");
		j->out = OUT_OK;
		j->committed = 1;
		return;
	}
	kind = kind_name(k);
	trim_against_sent(c, s, m);
	int limited = over_rate(c, s, m, sp->key, k, k == KIND_POST ? c->post_address :
					 k == KIND_BID ? c->bid_address : c->robot_address, &result);
	if (limited < 0) {
		j->out = OUT_TEMPFAIL;
		return;
	}
	if (limited)
		j->out = OUT_OK;
	else
		dispatch(c, s, j, m, k, &result);
	if (j->out == OUT_OK)
		record(c, s, j, m, kind, result);
	if (j->out == OUT_OK)
		log_info("msg=%.16s stage=ingest spool=%s kind=%s result=%s", sp->key, sp->name,
			 kind, j->replay ? "duplicate (same message through another host)" : result);
	free(result);
	j->m = message_free(m);
}

/* H16a (issue 16): on PostgreSQL a deadlock (40P01) or a serialization failure (40001) undoes
 * the message's work, and the whole transaction runs again: its savepoint is rolled back, the
 * messages before it in the batch (before[0..n_before)) are committed, so that no lock or
 * snapshot of theirs is held, and the message runs again, from its spool file, in a new
 * transaction, at most PROCESS_TRIES times with a short growing pause, before it is left in
 * the spool (TEMPFAIL). Returns 0, or -1 when no transaction could be opened again: then none
 * is open and the messages before it are no longer counted committed (they stay in new/, and
 * replaying the ones whose commit went through is a no-op). */
#define PROCESS_TRIES 4

static int process_retrying(const struct config *c, struct store *s, struct job *j,
			    struct job *before, int n_before)
{
	for (int attempt = 1;; attempt++) {
		process(c, s, j);
		if (j->out != OUT_TEMPFAIL || !store_error_is_retry(s) || attempt >= PROCESS_TRIES)
			return 0;
		log_warn("msg=%.16s stage=ingest spool=%s result=retry attempt=%d reason=\"%s\" "
			 "(the transaction runs again)", j->sp->key, j->sp->name, attempt,
			 store_errmsg(s));
		if (store_savepoint_rollback(s) < 0 || store_commit(s) < 0 || store_begin(s) < 0) {
			store_rollback(s);
			for (int i = 0; i < n_before; i++)
				before[i].committed = 0;
			j->out = OUT_TEMPFAIL;
			return -1;
		}
		if (store_savepoint(s) < 0) {
			j->out = OUT_TEMPFAIL;
			return 0;
		}
		char *name = xstrdup(j->sp->name);
		job_clear(j);
		unsigned r;
		hash_random(&r, sizeof r);
		struct timespec pause = { 0, (long)(attempt * 20 + (int)(r % 30)) * 1000000L };
		nanosleep(&pause, NULL);
		prepare_message(c, j, name);
		free(name);
		if (!j->sp) {
			j->out = OUT_TEMPFAIL;
			return 0;
		}
	}
}

static void quarantine(const struct config *c, struct job *j)
{
	if (spool_quarantine(c, j->sp->name, j->reason) == 0)
		log_warn("msg=%.16s stage=ingest spool=%s result=quarantined reason=\"%s\"",
			 j->sp->key, j->sp->name, j->reason);
	else
		log_err("msg=%.16s stage=ingest spool=%s error=\"cannot quarantine: %s\"",
			j->sp->key, j->sp->name, strerror(errno));
}

/* The prefetch stage: parsing threads read and prepare the waiting messages while this one
 * acts and commits (parsing and extraction are most of a message's CPU time; the machine has
 * more than one core). With a backlog (more messages than the ring holds) a second parsing
 * thread joins: each thread claims the next message in spool order, and the ring hands them
 * over in that order whatever order they finish in, so the messages are acted on in spool
 * order as with one thread. Each thread has its own slot in the in-flight guard. Bounded in
 * messages and bytes. Nothing it does is durable: a message prepared and not taken stays
 * in new/ for the next run. */
#define PREFETCH_BYTES (32u << 20)
#define PREFETCH_THREADS 2

/* 1 once *stop (a signal flag, or NULL for none) is set; atomic, as a signal handler in any
 * thread sets it. */
static int stop_asked(volatile int *stop)
{
	return stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE);
}

struct prefetch {
	const struct config *c;
	const struct strlist *names;
	volatile int *stop;
	struct job *ring;	/* cap slots; job i (in names order) lives at i % cap */
	char *done;		/* ring[i % cap] holds job i, prepared (i >= tail: out of order) */
	size_t cap, head, tail;	/* [head, tail): prepared, in order, not yet taken */
	size_t next;		/* the next job a parsing thread claims; [tail, next): claimed */
	size_t bytes;		/* message bytes held in the ring */
	int cancel, finished, threads, running;
	pthread_t thread[PREFETCH_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct prefetch_worker {
	struct prefetch *pf;
	int slot;		/* its slot in the in-flight guard */
};

/* Claims the next job for a parsing thread (pf->mu held): its index, or SIZE_MAX when the
 * stage is over (all claimed, cancelled, or a stop asked). Waits for room in the ring. */
static size_t prefetch_claim(struct prefetch *pf)
{
	while (!pf->cancel && (pf->next - pf->head == pf->cap ||
			       (pf->bytes >= PREFETCH_BYTES && pf->next > pf->head)))
		pthread_cond_wait(&pf->cv, &pf->mu);
	if (pf->cancel || stop_asked(pf->stop) || pf->next >= pf->names->n)
		return SIZE_MAX;
	return pf->next++;
}

/* Puts prepared job i in the ring (pf->mu held) and moves tail over the jobs now in order. */
static void prefetch_put(struct prefetch *pf, size_t i, const struct job *j)
{
	pf->ring[i % pf->cap] = *j;
	pf->done[i % pf->cap] = 1;
	pf->bytes += j->sp ? j->sp->len : 0;
	while (pf->tail < pf->next && pf->done[pf->tail % pf->cap]) {
		pf->done[pf->tail % pf->cap] = 0;
		pf->tail++;
	}
	pthread_cond_broadcast(&pf->cv);
}

static void *prefetch_run(void *arg)
{
	struct prefetch_worker *w = arg;
	struct prefetch *pf = w->pf;
	struct altstack *altstack = guard_thread_enter();
	pthread_mutex_lock(&pf->mu);
	for (size_t i; (i = prefetch_claim(pf)) != SIZE_MAX;) {
		pthread_mutex_unlock(&pf->mu);
		struct job j;
		prepare(pf->c, &j, pf->names->v[i], w->slot);
		pthread_mutex_lock(&pf->mu);
		prefetch_put(pf, i, &j);
	}
	/* every job claimed is in the ring: the last thread out ends the stage */
	if (--pf->running == 0)
		pf->finished = 1;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	guard_thread_leave(altstack);
	free(w);
	return NULL;
}

/* Starts parsing thread number k; 1, or 0 when it could not start. */
static int prefetch_spawn(struct prefetch *pf, int k)
{
	static const int slots[PREFETCH_THREADS] = { SLOT_PREPARE, SLOT_PREPARE_2 };
	static const char *const names[PREFETCH_THREADS] = { "bidmail-prep", "bidmail-prep2" };
	struct prefetch_worker *w = xcalloc(1, sizeof *w);
	w->pf = pf;
	w->slot = slots[k];
	pthread_mutex_lock(&pf->mu);
	pf->running++;
	pthread_mutex_unlock(&pf->mu);
	if (pthread_create(&pf->thread[k], NULL, prefetch_run, w) != 0) {
		pthread_mutex_lock(&pf->mu);
		pf->running--;
		pthread_mutex_unlock(&pf->mu);
		free(w);
		return 0;
	}
	pthread_setname_np(pf->thread[k], names[k]);	/* for top -H, and the tests */
	return 1;
}

static void prefetch_start(struct prefetch *pf, const struct config *c, const struct strlist *names,
			   volatile int *stop, int alone)
{
	memset(pf, 0, sizeof *pf);
	pf->c = c;
	pf->names = names;
	pf->stop = stop;
	pf->cap = 2 * (size_t)c->batch_size;
	pf->ring = xcalloc(pf->cap, sizeof *pf->ring);
	pf->done = xcalloc(pf->cap, 1);
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	/* one message: no thread to start (but a suspect is parsed in the parsing thread, as
	 * when it was marked); a thread that cannot start: the same work inline; the second
	 * parser only for a backlog longer than the ring */
	if (names->n <= 1 && !alone)
		return;
	int want = names->n > pf->cap ? PREFETCH_THREADS : 1;
	while (pf->threads < want && prefetch_spawn(pf, pf->threads))
		pf->threads++;
}

/* Takes the next prepared message into *j: 1, or 0 when there is none left. */
static int prefetch_take(struct prefetch *pf, struct job *j)
{
	if (!pf->threads) {
		if (pf->head >= pf->names->n)
			return 0;
		prepare(pf->c, j, pf->names->v[pf->head++], SLOT_PREPARE);
		return 1;
	}
	pthread_mutex_lock(&pf->mu);
	while (pf->head == pf->tail && !pf->finished)
		pthread_cond_wait(&pf->cv, &pf->mu);
	int got = pf->head < pf->tail;
	if (got) {
		*j = pf->ring[pf->head % pf->cap];
		pf->head++;
		pf->bytes -= j->sp ? j->sp->len : 0;
		pthread_cond_broadcast(&pf->cv);
	}
	pthread_mutex_unlock(&pf->mu);
	return got;
}

/* 1 when prefetch_take would not wait for a parse: with a transaction open, the next
 * message is taken only then (a parse never runs while the write lock is held). */
static int prefetch_ready(struct prefetch *pf)
{
	if (!pf->threads)
		return pf->head >= pf->names->n;	/* inline, the parse would run now */
	pthread_mutex_lock(&pf->mu);
	int ready = pf->head < pf->tail || pf->finished;
	pthread_mutex_unlock(&pf->mu);
	return ready;
}

/* Waits, with no transaction open, until want messages are prepared (or the stage has
 * finished or holds its byte bound), at most 20 ms: batches stay large when parsing keeps up. */
static void prefetch_wait(struct prefetch *pf, size_t want)
{
	if (!pf->threads)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 20 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pf->mu);
	while (pf->tail - pf->head < want && !pf->finished && pf->bytes < PREFETCH_BYTES &&
	       pf->tail - pf->head < pf->cap)
		if (pthread_cond_timedwait(&pf->cv, &pf->mu, &until) != 0)
			break;
	pthread_mutex_unlock(&pf->mu);
}

/* Stops the thread and drops what it prepared and nobody took (still in new/). */
static void prefetch_end(struct prefetch *pf)
{
	if (pf->threads) {
		pthread_mutex_lock(&pf->mu);
		pf->cancel = 1;
		pthread_cond_broadcast(&pf->cv);
		pthread_mutex_unlock(&pf->mu);
		for (int k = 0; k < pf->threads; k++)
			pthread_join(pf->thread[k], NULL);
		for (size_t i = pf->head; i < pf->tail; i++)
			job_clear(&pf->ring[i % pf->cap]);
	}
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	free(pf->ring);
	free(pf->done);
}

/* Sets aside an entry of incoming/new that is not a regular file. */
static void set_aside(const struct config *c, const char *name)
{
	char *why = NULL;
	if (spool_set_aside(c, name, &why) == 0)
		log_warn("stage=ingest spool=%s result=quarantined reason=\"%s\"", name, why);
	else
		log_err("stage=ingest spool=%s error=\"cannot move aside (%s): %s\"", name, why,
			strerror(errno));
	free(why);
}

/* Processes up to batch_size messages in one transaction, opened once the first message is
 * prepared and committed before waiting for a parse. Returns the number handled, 0 when
 * nothing could progress, -1 on a transient failure; *taken counts the messages taken from
 * the prefetch stage. */
static int run_batch(const struct config *c, struct store *s, struct prefetch *pf, size_t *taken,
		     volatile int *stop)
{
	struct job *jobs = xcalloc((size_t)c->batch_size, sizeof *jobs);
	int n = 0, handled = 0, tempfail = 0, open = 0;
	prefetch_wait(pf, (size_t)c->batch_size);
	while (n < c->batch_size && !stop_asked(stop)) {
		struct job *j = &jobs[n];
		if (open && !prefetch_ready(pf))
			break;	/* the next message is being parsed: commit first */
		if (!prefetch_take(pf, j))
			break;
		(*taken)++;
		if (!j->sp) {
			const char *name = pf->names->v[*taken - 1];
			if (j->read_errno == ENOMSG) {
				set_aside(c, name);
				handled++;
				continue;
			}
			if (j->read_errno != ENOENT) {
				log_err("stage=ingest spool=%s error=\"%s\"", name,
					strerror(j->read_errno));
				tempfail = 1;
				break;
			}
			continue;	/* taken by another process */
		}
		if (!open && store_begin(s) < 0) {
			job_clear(j);
			tempfail = 1;
			break;
		}
		open = 1;
		n++;
		if (store_savepoint(s) < 0) {
			j->out = OUT_TEMPFAIL;
			tempfail = 1;
			break;
		}
		log_set_message(j->sp->key);
		slot_begin(SLOT_PROCESS, j->sp->name);
		int renewed = process_retrying(c, s, j, jobs, n - 1);
		slot_end(SLOT_PROCESS);
		log_set_message(NULL);
		if (renewed < 0) {	/* no transaction open: nothing of this batch is moved */
			j->committed = 0;
			open = 0;
			tempfail = 1;
			break;
		}
		if (!j->sp) {		/* gone from the spool while it was retried */
			store_savepoint_rollback(s);
			tempfail = 1;
			break;
		}
		if (j->out == OUT_OK && j->replay) {
			store_savepoint_rollback(s);	/* its work done once already */
		} else if (j->out == OUT_OK) {
			store_savepoint_release(s);
		} else {
			store_savepoint_rollback(s);
			j->committed = 0;
			if (j->out == OUT_TEMPFAIL) {
				tempfail = 1;
				break;
			}
		}
	}
	if (open && store_commit(s) < 0) {
		store_rollback(s);
		for (int i = 0; i < n; i++)
			job_clear(&jobs[i]);
		free(jobs);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		if (j->committed) {
			if (spool_done(c, j->sp->name) < 0)
				log_err("msg=%.16s stage=ingest spool=%s error=\"cannot move to cur: "
					"%s\" (replay will be a no-op)", j->sp->key, j->sp->name,
					strerror(errno));
			handled++;
		} else if (j->out == OUT_PERMFAIL) {
			quarantine(c, j);
			handled++;
		}
		job_clear(j);
	}
	if (handled)
		spool_sync_dir(c, "incoming/cur");
	free(jobs);
	return tempfail ? -1 : handled;
}

/* `bidmail ingest-trial NAME`: the trial's own process, started by suspect_try. Prepares
 * spool/incoming/new/NAME as the daemon would (read, limits, parse, classify, extract) and
 * writes nothing; 0 once that work has ended, whatever it found. */
int ingest_trial(const struct config *c, const char *name)
{
	/* a stop or a reload aimed at every bidmail process is not this message's doing: the
	 * daemon decides (it kills its trial when it stops), and the trial dies with it */
	signal(SIGHUP, SIG_IGN);	/* held since its start (suspect_try): dropped now */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	sigset_t held;
	sigemptyset(&held);
	sigaddset(&held, SIGHUP);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &held, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct job j;
	prepare_message(c, &j, name);
	int read = j.sp != NULL;
	job_clear(&j);
	return read ? 0 : 1;	/* unreadable: no trial (the spool it was asked for is not ours) */
}

/* 1 for the signals a message can bring on its trial: a crash of the parser, or SIGKILL (the
 * out-of-memory killer takes the process that balloons). A stop or a reload sent to every
 * bidmail process (SIGTERM, SIGHUP, ...) is no verdict on the message. */
static int trial_killer(int sig)
{
	return sig == SIGKILL || sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT ||
	       sig == SIGFPE || sig == SIGILL;
}

/* Waits for the trial process pid, at most limit_ms or until a stop is asked (then it is
 * killed, *over set when it was the time); its wait status, or -1 when waitpid failed. */
static int trial_wait(pid_t pid, long limit_ms, volatile int *stop, int *over)
{
	int status = 0;
	long waited_ms = 0;
	pid_t got;
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && waited_ms < limit_ms &&
	       !stop_asked(stop)) {
		struct timespec t = { 0, 10 * 1000 * 1000 };
		nanosleep(&t, NULL);
		waited_ms += 10;
	}
	*over = got == 0 && !stop_asked(stop);
	if (got == 0) {
		kill(pid, SIGKILL);
		while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	return got < 0 ? -1 : status;
}

/* The trial of a suspect: `bidmail ingest-trial NAME` run from this very executable
 * (/proc/self/exe, spawned: a fresh process of its own size, not a copy of the threaded
 * daemon, which a fork would make, with its memory counted twice and its locks possibly held
 * by threads that are not there), waited for at most max_message_time + 5 s. Returns the
 * signal that killed it, 0 when it ended its work, -2 when it was still parsing after
 * max_message_time + 5 s (it is then killed; taken as passed), or -1 when there was no trial
 * (why says what: it could not start, it ended without its work, a stop asked). */
static int suspect_try(const struct config *c, const char *name, volatile int *stop,
		       char *why, size_t why_len)
{
	char *argv[6];
	int n = 0;
	argv[n++] = "bidmail";
	if (c->file) {
		argv[n++] = "--config";
		argv[n++] = c->file;
	}
	argv[n++] = "ingest-trial";
	argv[n++] = (char *)name;
	argv[n] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	/* its own process group (a signal to the daemon's is not for it), and a stop or reload
	 * held back until it ignores them (ingest_trial) */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t held;
	sigemptyset(&held);
	sigaddset(&held, SIGHUP);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGTERM);
	posix_spawnattr_setsigmask(&at, &held);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	pid_t pid;
	int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		snprintf(why, why_len, "cannot start the trial process: %s", strerror(rc));
		return -1;
	}
	int over = 0;
	int status = trial_wait(pid, (c->max_message_time + 5) * 1000L, stop, &over);
	if (over)
		return -2;	/* a slow parse, a loaded or sanitizer build: no kill; processed
				 * alone, its own max_message_time watchdog decides */
	if (status < 0 || stop_asked(stop)) {
		snprintf(why, why_len, "%s", status < 0 ? strerror(errno) : "a stop was asked");
		return -1;
	}
	if (WIFSIGNALED(status) && trial_killer(WTERMSIG(status)))
		return WTERMSIG(status);
	if (WIFSIGNALED(status)) {
		snprintf(why, why_len, "the trial process was stopped by signal %d, which is not the "
			 "message's doing", WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(why, why_len, "the trial process ended with status %d before its work "
			 "(its configuration or data files could not be read)", WEXITSTATUS(status));
		return -1;
	}
	return 0;
}

/* Suspect i's trial, when it has not passed one: 1 when it is to be processed alone now
 * (passed, now or before), 0 when not (set aside: *total counts it; or its trial could not
 * run: it waits, untouched, for the next pass; or a stop was asked). */
static int suspect_judge(const struct config *c, int i, volatile int *stop, int *total)
{
	struct suspect *x = &guard.suspect[i];
	if (x->passed)
		return 1;
	log_info("stage=ingest spool=%s result=trying-alone (suspect: parsed in a separate "
		 "process first)", x->name);
	char why[256] = "";
	int sig = suspect_try(c, x->name, stop, why, sizeof why);
	if (stop_asked(stop))
		return 0;
	if (sig == -1 && ++x->untried < TRIAL_TRIES) {
		/* no trial (it could not start: memory is short, say): not taken as passed, and
		 * not processed (drop_suspects leaves it waiting); tried again at the next pass */
		log_err("stage=ingest spool=%s result=trial-failed error=\"%s\" (tried again at "
			"the next pass; the other messages go on)", x->name, why);
		return 0;
	}
	if (sig == -1)	/* no trial can run here (no /proc, a policy): the mail is not left */
		log_err("stage=ingest spool=%s result=trial-failed error=\"%s\" (%d times: "
			"processed alone without a trial)", x->name, why, x->untried);
	if (sig > 0) {
		char *reason = xasprintf("it killed the gateway twice: the board was killed while "
					 "it worked on it, and the separate process that then "
					 "parsed it alone was killed too (signal %d); it was set "
					 "aside so that the others could go on", sig);
		suspect_quarantine(c, i, reason);
		free(reason);
		suspects_save(c);
		(*total)++;
		return 0;
	}
	x->passed = 1;	/* from now on its kills count towards KILLS_AFTER_TRIAL */
	suspects_save(c);
	return 1;
}

/* The suspects (guard.suspect), before the others: each tried in a separate process (killed
 * there too: set aside), then processed alone, its own parse and its own transaction, so that
 * a kill during its work is counted on it only. Adds the number handled to *handled; returns
 * 0, or -1 on a transient failure (the others then wait: the suspects go first). */
static int ingest_suspects(const struct config *c, struct store *s, volatile int *stop,
			   int *handled)
{
	int total = 0, r = 0;
	for (int i = 0; i < guard.n_suspects && r >= 0 && !stop_asked(stop); i++) {
		int n = guard.n_suspects;
		if (!waiting_in_new(c, guard.suspect[i].name) || !suspect_judge(c, i, stop, &total)) {
			if (guard.n_suspects < n)
				i--;	/* set aside: the last one took its place */
			continue;
		}
		struct strlist one = { 0 };
		strlist_add(&one, guard.suspect[i].name);
		log_info("stage=ingest spool=%s result=processing-alone (suspect)", one.v[0]);
		struct prefetch pf;
		prefetch_start(&pf, c, &one, stop, 1);
		size_t taken = 0;
		r = run_batch(c, s, &pf, &taken, stop);
		prefetch_end(&pf);
		strlist_clear(&one);
		if (r > 0)
			total += r;
	}
	suspects_load(c);	/* those processed to their end leave the list */
	suspects_save(c);
	*handled += total;
	return r < 0 ? -1 : 0;
}

/* Drops from names the suspects still on the list after ingest_suspects: those whose trial
 * could not run, or whose turn a stop cut short. They wait, untouched, for their trial at the
 * next pass, rather than being parsed in a batch with the others. */
static void drop_suspects(struct strlist *names)
{
	size_t kept = 0;
	for (size_t i = 0; i < names->n; i++) {
		int suspect = 0;
		for (int k = 0; k < guard.n_suspects && !suspect; k++)
			suspect = !strcmp(names->v[i], guard.suspect[k].name);
		if (suspect)
			free(names->v[i]);
		else
			names->v[kept++] = names->v[i];
	}
	names->n = kept;
}

/* ingest_run_once inside the guard. */
static int ingest_spool(const struct config *c, struct store *s, volatile int *stop)
{
	int total = 0;
	if (guard.n_suspects && ingest_suspects(c, s, stop, &total) < 0)
		return total ? total : -1;
	for (;;) {
		struct strlist names = { 0 };
		if (spool_list_new(c, &names, 100000) < 0) {
			log_err("stage=ingest error=\"cannot list %s/incoming/new: %s\"", c->spool,
				strerror(errno));
			return -1;
		}
		drop_suspects(&names);
		if (names.n == 0) {
			strlist_clear(&names);
			return total;
		}
		struct prefetch pf;
		prefetch_start(&pf, c, &names, stop, 0);
		/* a backlog longer than the ring, answered through files: each batch's answers
		 * are written (committed rows only, send.c) while the parsing threads go on, not
		 * all at the end with the parsers idle */
		int send_between = !*c->smarthost && names.n > pf.cap;
		size_t taken = 0;
		int r = 0;
		while (taken < names.n && !stop_asked(stop)) {
			size_t before = taken;
			r = run_batch(c, s, &pf, &taken, stop);
			if (r < 0)
				break;
			total += r;
			progress("spool", taken, names.n);
			if (taken == before)
				break;	/* the prefetch stage stopped early */
			if (send_between && r > 0)
				send_outbox_flush(c, s);
		}
		prefetch_end(&pf);
		strlist_clear(&names);
		if (r < 0)
			return total ? total : -1;
		progress_end("spool: %d message%s processed", total, total == 1 ? "" : "s");
		if (stop_asked(stop))
			return total;
	}
}

int ingest_run_once(const struct config *c, struct store *s, volatile int *stop)
{
	struct altstack *altstack = guard_begin(c);
	int total = ingest_spool(c, s, stop);
	guard_end(altstack);
	return total;
}

static volatile int got_term, got_hup;
static int wake_pipe[2] = { -1, -1 };

/* The handler may run in any thread and the flags are read in others (the prefetch thread
 * reads got_term): lock-free atomic stores and loads, safe in a handler. A byte in the wake
 * pipe ends the main loop's wait, whichever thread took the signal and however close to the
 * wait it came (a flag alone is missed when it is set just before poll starts). */
static void on_signal(int sig)
{
	__atomic_store_n(sig == SIGHUP ? &got_hup : &got_term, 1, __ATOMIC_RELEASE);
	int saved = errno;
	if (wake_pipe[1] >= 0) {
		ssize_t w = write(wake_pipe[1], "", 1);	/* full: a wake-up already waits */
		(void)w;
	}
	errno = saved;
}

/* The marketplace page (export_dir): rewritten when a project or a bid changed since the
 * last export, when the day changed (and at start); a failure is logged and tried again on
 * the next change. */
static void export_if_changed(const struct config *c, struct store *s, char **last)
{
	if (!*c->export_dir)
		return;
	time_t now = clock_now();
	char *rows = store_projects_version(s);
	/* and every day: the pages count the days left to each deadline */
	char *v = rows ? xasprintf("%s@%ld", rows, date_day_of(now)) : NULL;
	free(rows);
	if (!v || (*last && !strcmp(v, *last))) {
		free(v);
		return;
	}
	export_run(c, s, c->export_dir, EXPORT_HTML | EXPORT_ATOM | EXPORT_JSON, now);
	free(*last);
	*last = v;
}

/* H4 (issue 16): what the tables keep. The weekly run's shard claims serve only the run of
 * their day: kept SHARD_KEEP. A relayed text serves the reading of replies in its quote's
 * conversation, which can come as long as the project lives (project_ttl) and a little after:
 * kept project_ttl + RELAY_MARGIN once its project is no longer open. An ingest key makes a
 * replay a no-op: of a spool file between its commit and its move (seconds), of the same mail
 * through another MX (an MTA retries for 5 days at most: Postfix's maximal_queue_lifetime,
 * Exim's and sendmail's are shorter or equal), and of a cur/ file re-offered by reconcile
 * (which looks no further back than the same horizon): kept project_ttl + RELAY_MARGIN too,
 * 37 days by default, seven times the longest retry. A sent outbox row (and its message)
 * serves the trimming of replies to it (trim_against_sent: the board's own text, found by the
 * reply's In-Reply-To or References) and the matching of its bounces (VERP, within an MTA's
 * 5 days): replies come while the project lives, so it is kept to the same horizon. A reply
 * later than that is trimmed by the generic quote rules only. */
#define PURGE_EVERY 3600
#define SHARD_KEEP (28 * 86400L)
#define RELAY_MARGIN (7 * 86400L)

/* The first instant whose relayed texts and ingest keys are still kept. */
static time_t keep_horizon(const struct config *c, time_t now)
{
	return now - c->project_ttl - RELAY_MARGIN;
}

/* The hourly purge, each round of at most 10,000 rows committed on its own (ingest and
 * the senders wait for one round at most); a failure is logged and the rest tried again next
 * hour (the rounds already committed stay purged). */
static void purge_run(const struct config *c, struct store *s, time_t now)
{
	char day[32], before[32];
	clock_format_iso(now - SHARD_KEEP, day);
	day[10] = '\0';
	clock_format_iso(keep_horizon(c, now), before);
	int keys = 0;
	int shards = store_shard_purge(s, day);
	int relayed = shards < 0 ? -1 : store_relayed_purge(s, before, &keys);
	int sent = relayed < 0 ? -1 : store_outbox_purge(s, before);
	if (sent < 0) {
		log_err("stage=purge error=\"%s\" result=retried (next hour)", store_errmsg(s));
		return;
	}
	log_info("stage=purge shards=%d relayed=%d ingest_keys=%d outbox_sent=%d shards_before=%s "
		 "before=%s", shards, relayed, keys, sent, day, before);
}

/* The daemon's threads that read the configuration. */
struct daemon_threads {
	struct fetcher *fetcher;
	struct lmtp_server *lmtp;
	struct http_server *http;
};

/* SIGHUP: everything read from files (config, data files, templates, key) built whole, then
 * swapped whole with the threads that read the configuration stopped, or not at all. */
static void daemon_reload(struct config *c, const char *config_file, struct daemon_threads *th)
{
	struct runtime *rt = runtime_load(config_file);
	if (!rt) {
		log_err("stage=daemon error=\"reload refused: bad configuration, data file, template "
			"or secret key (reasons above), keeping the old one\"");
		return;
	}
	const struct config *n = runtime_config(rt);
	if (strcmp(n->timezone, c->timezone))
		log_warn("stage=daemon warning=\"timezone change from %s to %s needs a restart: "
			 "keeping %s\"", c->timezone, n->timezone, c->timezone);
	if (strcmp(n->database, c->database))
		log_warn("stage=daemon warning=\"database change from %s to %s needs a restart: "
			 "keeping %s\"", c->database, n->database, c->database);
	if (strcmp(n->spool, c->spool))
		log_warn("stage=daemon warning=\"spool change from %s to %s needs a restart: "
			 "keeping %s\"", c->spool, n->spool, c->spool);
	/* the HTTP server copies its settings at start: restarted when they change, else kept
	 * (it reads only the key, swapped under its lock) */
	int http_again = strcmp(n->http_listen, c->http_listen) ||
			 strcmp(n->board_name, c->board_name) || n->http_rate_limit != c->http_rate_limit;
	fetcher_stop(th->fetcher);
	lmtp_stop(th->lmtp);
	if (http_again)
		th->http = http_stop(th->http);
	runtime_use(rt, c);
	th->fetcher = fetcher_start(c);
	th->lmtp = *c->lmtp_listen ? lmtp_start(c, c->lmtp_listen) : NULL;
	if (http_again && *c->http_listen)
		th->http = http_start(c, c->http_listen);
	log_info("stage=daemon result=reloaded");
}

/* The daemon's store. A SQLite file that cannot be opened will not open by waiting: NULL at once.
 * A PostgreSQL server may be starting, failing over or cut off: tried again with back-off (1 s
 * doubling to 30 s) until it answers or SIGTERM, while mail waits in the spool. */
static struct store *daemon_store_open(const struct config *c)
{
	int pause = 1;
	for (;;) {
		struct store *s = store_open(c->database, 0);
		if (s || strncmp(c->database, "postgres", 8) || stop_asked(&got_term))
			return s;
		log_warn("stage=daemon result=waiting reason=\"database not reached, trying again in "
			 "%d s; mail waits in the spool\"", pause);
		for (int i = 0; i < pause * 10 && !stop_asked(&got_term); i++) {
			struct timespec t = { 0, 100000000L };
			nanosleep(&t, NULL);
		}
		pause = pause < 16 ? pause * 2 : 30;
	}
}

int ingest_daemon(struct config *c, const char *config_file)
{
	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		wake_pipe[0] = wake_pipe[1] = -1;	/* the poll interval bounds the wait then */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	store_set_stop_flag(&got_term);	/* a database away does not hold a stop */
	/* the LMTP listener and the fetcher only write the spool: they start before the database
	 * is reached, so that a database server away at start makes no MTA wait or bounce */
	struct daemon_threads th = { 0 };
	th.fetcher = fetcher_start(c);
	th.lmtp = *c->lmtp_listen ? lmtp_start(c, c->lmtp_listen) : NULL;
	struct store *s = daemon_store_open(c);
	if (!s) {
		fetcher_stop(th.fetcher);
		lmtp_stop(th.lmtp);
		return -1;
	}
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	char *dir = xasprintf("%s/incoming/new", c->spool);
	if (fd >= 0 && inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CREATE) < 0) {
		close(fd);
		fd = -1;
	}
	if (*c->http_listen && !(th.http = http_start(c, c->http_listen))) {
		if (fd >= 0)
			close(fd);
		fetcher_stop(th.fetcher);
		lmtp_stop(th.lmtp);
		store_close(s);
		free(dir);
		return -1;
	}
	log_info("stage=daemon result=started host_id=%s spool=%s database=%s", c->host_id,
		 c->spool, c->database);
	time_t last_digest = 0, last_purge = 0;
	char *export_version = NULL;
	while (!stop_asked(&got_term)) {
		if (__atomic_exchange_n(&got_hup, 0, __ATOMIC_ACQ_REL))
			daemon_reload(c, config_file, &th);
		int r = ingest_run_once(c, s, &got_term);
		/* selections and instant alerts: at most once a minute, and after new projects */
		time_t t = clock_now();
		if (r > 0 || t - last_digest >= 60) {
			digest_run(c, s, t, 0);
			followup_run(c, s, t);
			last_digest = t;
		}
		if (t - last_purge >= PURGE_EVERY) {
			purge_run(c, s, t);
			last_purge = t;
		}
		send_outbox_flush(c, s);
		export_if_changed(c, s, &export_version);
		if (stop_asked(&got_term))
			break;
		if (r > 0)
			continue;
		/* new files (inotify), a signal (the wake pipe), or the poll interval */
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = wake_pipe[0], .events = POLLIN } };
		if (poll(p, 2, c->poll_interval * 1000) > 0) {
			char evbuf[4096];
			while (fd >= 0 && read(fd, evbuf, sizeof evbuf) > 0)
				;
			while (wake_pipe[0] >= 0 && read(wake_pipe[0], evbuf, sizeof evbuf) > 0)
				;
		}
	}
	fetcher_stop(th.fetcher);
	lmtp_stop(th.lmtp);
	http_stop(th.http);
	free(export_version);
	log_info("stage=daemon result=stopped");
	if (fd >= 0)
		close(fd);
	free(dir);
	store_close(s);
	return 0;
}

/* 1 when the database knows the message of this cur/ file by either key (or the file is
 * gone, or is not mail), 0 if not, -1 on an error (logged). */
static int reconcile_known(const struct config *c, struct store *s, const char *name)
{
	struct spooled *sp = spool_read_cur(c, name);
	if (!sp) {
		if (errno == ENOENT || errno == ENOMSG)
			return 1;
		log_err("stage=reconcile spool=%s error=\"%s\"", name, strerror(errno));
		return -1;
	}
	int known = store_ingest_seen(s, sp->key);
	if (known == 0 && sp->replay_key[0])
		known = store_ingest_replay_seen(s, sp->replay_key);
	if (known < 0)
		log_err("msg=%.16s stage=reconcile spool=%s error=\"%s\"", sp->key, name,
			store_errmsg(s));
	spooled_free(sp);
	return known;
}

int ingest_reconcile(const struct config *c, struct store *s, time_t since, int *failed)
{
	struct strlist names = { 0 };
	int n = 0;
	*failed = 0;
	/* older files' keys may have been purged (purge_run): they were committed long ago (the
	 * files' times are the system's clock) */
	time_t horizon = keep_horizon(c, time(NULL));
	if (since < horizon)
		since = horizon;
	if (spool_list_cur(c, since, &names, 10000000) < 0) {
		log_err("stage=reconcile error=\"cannot list %s/incoming/cur: %s\"", c->spool,
			strerror(errno));
		*failed = 1;
		return 0;
	}
	for (size_t i = 0; i < names.n && !*failed; i++) {
		int known = reconcile_known(c, s, names.v[i]);
		if (known < 0)
			*failed = 1;
		if (known != 0)
			continue;
		if (spool_reoffer(c, names.v[i]) < 0) {
			/* EEXIST: a copy already waits in new/, the next run takes it */
			log_warn("stage=reconcile spool=%s error=\"cannot move back to new: %s\"",
				 names.v[i], strerror(errno));
			*failed = errno != EEXIST;
			continue;
		}
		log_info("stage=reconcile spool=%s result=re-offered", names.v[i]);
		n++;
	}
	strlist_clear(&names);
	if (n)
		spool_sync_dir(c, "incoming/new");
	return n;
}
