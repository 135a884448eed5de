/*
 * lmtp.c — mail in over LMTP (RFC 2033), for an MTA that hands mail to a local delivery agent
 * by socket (Postfix's lmtp:, Exim's lmtp transport, Dovecot-style set-ups): `bidmail lmtp`,
 * and the daemon when lmtp_listen is set (127.0.0.1:2003, or a unix socket path).
 * Each accepted recipient gets its own reply after the data: 250 once its copy is safe in the
 * spool (spool_deliver: fsync, rename), 451 on a transient failure (the MTA retries that
 * recipient only). Like `deliver`, it never refuses a message for what it contains: oversize
 * or unreadable mail is accepted and quarantined (a 5xx would make the MTA bounce it to a
 * possibly forged sender). Only recipients outside the board's domain are refused (550).
 * One thread per connection, at most LMTP_MAX_CONN at once and LMTP_MAX_PER_CLIENT from one
 * client (its address, or its user id on a unix socket); when all are taken, the connection
 * idle the longest is closed to make room. lmtp_timeout bounds the time of a command line and
 * of a message's data in all, not between two bytes; a connection lasts at most
 * LMTP_SESSION_FACTOR times that. End of data is CR LF . CR LF only: a bare LF is data.
 * No TLS, no AUTH: listen on loopback or a unix socket only.
 */
#include "bidmail.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LMTP_MAX_CONN 16
#define LMTP_MAX_PER_CLIENT 8
#define LMTP_MAX_RCPT 100
#define LMTP_LINE 4096		/* command lines; data lines of any length are streamed */
#define LMTP_SESSION_FACTOR 12	/* a connection lasts at most 12 times lmtp_timeout */

struct lmtp_server {
	const struct config *c;
	int fd;
	char *unix_path;
	pthread_t thread;
	volatile int stop;	/* set by lmtp_stop in another thread: atomic loads and store */
	int active;
	struct conn *conns;	/* the open connections, under mu */
	pthread_mutex_t mu;
	pthread_cond_t idle;
};

struct conn {
	struct lmtp_server *srv;
	struct conn *next;
	int fd;
	char client[80];	/* numeric address, or uid:N on a unix socket */
	char in[8192];
	size_t have, off;
	int64_t deadline;	/* of the current command line or data (monotonic ms) */
	int64_t ends;		/* of the connection */
	int64_t idle_since;	/* waiting for a command since then; 0 while busy (under mu) */
	int timed_out, evicted;
};

/* ---------------------------------------------------------------- I/O */

static int say(struct conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(struct conn *k, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	for (int done = 0; done < n;) {
		ssize_t w = send(k->fd, line + done, (size_t)(n - done), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (int)w;
	}
	return 0;
}

/* The next byte from the client: 0..255, or -1 (closed, past the deadline, stop). */
static int next_byte(struct conn *k)
{
	if (k->off < k->have)
		return (unsigned char)k->in[k->off++];
	for (;;) {
		int64_t now = clock_mono_ms();
		if (now >= k->deadline || now >= k->ends) {
			k->timed_out = 1;
			return -1;
		}
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		int r = poll(&p, 1, 1000);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0) {
			ssize_t n = recv(k->fd, k->in, sizeof k->in, 0);
			if (n <= 0)
				return -1;
			k->have = (size_t)n;
			k->off = 1;
			return (unsigned char)k->in[0];
		}
		if (__atomic_load_n(&k->srv->stop, __ATOMIC_ACQUIRE))
			return -1;
	}
	return -1;
}

/* One line (without CR LF) into out, at most max bytes kept: 1, 0 when it was longer than
 * max (the rest is read and dropped), -1 when the connection is gone. */
static int read_line(struct conn *k, char *out, size_t max)
{
	size_t n = 0;
	int whole = 1, ch;
	while ((ch = next_byte(k)) >= 0 && ch != '\n') {
		if (n + 1 < max)
			out[n++] = (char)ch;
		else
			whole = 0;
	}
	if (ch < 0)
		return -1;
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return whole;
}

/* ---------------------------------------------------------------- the dialogue */

/* The address inside "FROM:<addr> params" / "TO:<addr>"; NULL when malformed. */
static char *path_of(const char *arg)
{
	const char *lt = strchr(arg, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt)
		return NULL;
	return xstrndup(lt + 1, (size_t)(gt - lt - 1));
}

static int ours(const struct config *c, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	return at && at != rcpt && !strcasecmp(at + 1, c->domain) && compose_address_is_safe(rcpt);
}

/* Appends one byte of data to the chunk, writing the chunk out when full; only the first
 * cap bytes are kept. */
static void data_put(int mf, char *chunk, size_t *cn, size_t *kept, size_t cap, size_t *total,
		     int *ok, char ch)
{
	chunk[(*cn)++] = ch;
	(*total)++;
	if (*cn < 8192)
		return;
	size_t take = *kept + *cn <= cap ? *cn : cap - *kept;
	if (take && write(mf, chunk, take) != (ssize_t)take)
		*ok = 0;
	*kept += take;
	*cn = 0;
}

/* Reads the data into a memory file: its descriptor with *total bytes seen (only the first
 * max_message_size + 1 are kept: enough for spool_deliver to quarantine an oversize message),
 * -1 when the connection is gone or past lmtp_timeout, -2 when the memory file failed.
 * Only CR LF "." CR LF ends the data (RFC 5321 4.1.1.4): a bare LF is data, never a line end,
 * so "<LF>.<LF>" cannot end a message early and smuggle a second one in. A dot that starts a
 * line (after CR LF) is unstuffed; CR LF is stored as LF, a lone CR as it is. */
static int read_data(struct conn *k, const struct config *c, size_t *total)
{
	enum { D_START, D_LINE, D_CR, D_DOT, D_DOTCR } st = D_START;
	int mf = memfd_create("bidmail-lmtp", MFD_CLOEXEC);
	if (mf < 0)
		return -1;
	size_t cap = c->max_message_size + 1, kept = 0, cn = 0;
	char chunk[8192];
	int ok = 1, ch, end = 0;
	*total = 0;
	k->deadline = clock_mono_ms() + c->lmtp_timeout * 1000LL;	/* the whole data, not each byte */
	while (!end && (ch = next_byte(k)) >= 0) {
		switch (st) {
		case D_DOTCR:
			if (ch == '\n') {
				end = 1;	/* CR LF . CR LF */
				continue;
			}
			/* ".<CR>x": the stuffed dot goes, the CR is data */
			st = D_CR;
			/* fall through */
		case D_CR:
			if (ch == '\n') {
				data_put(mf, chunk, &cn, &kept, cap, total, &ok, '\n');
				st = D_START;
				continue;
			}
			data_put(mf, chunk, &cn, &kept, cap, total, &ok, '\r');
			st = D_LINE;
			break;
		case D_START:
			if (ch == '.') {
				st = D_DOT;
				continue;
			}
			st = D_LINE;
			break;
		case D_DOT:
			if (ch == '\r') {
				st = D_DOTCR;
				continue;
			}
			st = D_LINE;	/* ".x": a stuffed dot, dropped; x is data */
			break;
		case D_LINE:
			break;
		}
		if (ch == '\r') {
			st = D_CR;
			continue;
		}
		data_put(mf, chunk, &cn, &kept, cap, total, &ok, (char)ch);
	}
	if (!end) {
		close(mf);
		return -1;
	}
	size_t take = kept + cn <= cap ? cn : cap - kept;
	if (take && write(mf, chunk, take) != (ssize_t)take)
		ok = 0;
	if (!ok) {
		close(mf);
		errno = EIO;
		return -2;
	}
	return mf;
}

/* Marks k as waiting for a command with nothing pending (1), or busy (0). */
static void set_idle(struct conn *k, int idle)
{
	pthread_mutex_lock(&k->srv->mu);
	k->idle_since = idle ? clock_mono_ms() : 0;
	pthread_mutex_unlock(&k->srv->mu);
}

static void session(struct conn *k)
{
	const struct config *c = k->srv->c;
	char line[LMTP_LINE];
	char *from = NULL;
	struct strlist rcpts = { 0 };
	int lhlo = 0;
	if (say(k, "220 %s LMTP bidmail ready", c->domain) < 0)
		return;
	for (;;) {
		if (__atomic_load_n(&k->srv->stop, __ATOMIC_ACQUIRE)) {
			say(k, "421 4.3.2 %s shutting down, try again later", c->domain);
			break;
		}
		k->deadline = clock_mono_ms() + c->lmtp_timeout * 1000LL;	/* the whole line, not each byte */
		set_idle(k, k->off >= k->have);
		int r = read_line(k, line, sizeof line);
		set_idle(k, 0);
		if (r < 0)
			break;
		if (r == 0) {
			if (say(k, "500 5.5.2 line too long") < 0)
				break;
			continue;
		}
		if (!strncasecmp(line, "LHLO", 4) && (line[4] == ' ' || !line[4])) {
			lhlo = 1;
			free(from);
			from = NULL;
			strlist_clear(&rcpts);
			r = say(k, "250-%s", c->domain);
			if (r == 0)
				r = say(k, "250-PIPELINING");
			if (r == 0)
				r = say(k, "250-ENHANCEDSTATUSCODES");
			if (r == 0)
				r = say(k, "250 8BITMIME");
		} else if (!strncasecmp(line, "HELO", 4) || !strncasecmp(line, "EHLO", 4)) {
			r = say(k, "500 5.5.1 this is LMTP: say LHLO");
		} else if (!strncasecmp(line, "MAIL FROM:", 10)) {
			char *p = lhlo && !from ? path_of(line + 10) : NULL;
			if (!lhlo || from)
				r = say(k, "503 5.5.1 %s", !lhlo ? "LHLO first" : "nested MAIL");
			else if (!p)
				r = say(k, "501 5.1.7 want MAIL FROM:<address>");
			else {
				from = p;
				r = say(k, "250 2.1.0 sender ok");
			}
		} else if (!strncasecmp(line, "RCPT TO:", 8)) {
			char *p = from ? path_of(line + 8) : NULL;
			if (!from)
				r = say(k, "503 5.5.1 MAIL first");
			else if (!p)
				r = say(k, "501 5.1.3 want RCPT TO:<address>");
			else if (rcpts.n >= LMTP_MAX_RCPT)
				r = say(k, "452 4.5.3 too many recipients, send the rest again");
			else if (!ours(c, p))
				r = say(k, "550 5.1.1 <%.200s>: not an address of %s", p, c->domain);
			else {
				strlist_add(&rcpts, p);
				r = say(k, "250 2.1.5 recipient ok");
			}
			free(p);
		} else if (!strcasecmp(line, "DATA")) {
			if (!rcpts.n) {
				r = say(k, "503 5.5.1 no valid recipient");
			} else if ((r = say(k, "354 go ahead, end with <CR><LF>.<CR><LF>")) == 0) {
				size_t total;
				int mf = read_data(k, c, &total);
				if (mf == -1)
					break;
				/* one reply per recipient, in order (RFC 2033 4.2) */
				for (size_t i = 0; i < rcpts.n && r == 0; i++) {
					enum outcome o = OUT_TEMPFAIL;
					if (mf >= 0 && lseek(mf, 0, SEEK_SET) == 0)
						o = spool_deliver(c, mf, from, rcpts.v[i], NULL);
					r = o == OUT_OK ? say(k, "250 2.0.0 <%.200s> safe in the spool",
							      rcpts.v[i])
							: say(k, "451 4.3.0 <%.200s> temporary failure, "
							      "try again later", rcpts.v[i]);
					log_info("stage=lmtp recipient=%s size=%zu result=%s", rcpts.v[i],
						 total, o == OUT_OK ? "queued" : "tempfail");
				}
				if (mf >= 0)
					close(mf);
				free(from);
				from = NULL;
				strlist_clear(&rcpts);
			}
		} else if (!strcasecmp(line, "RSET")) {
			free(from);
			from = NULL;
			strlist_clear(&rcpts);
			r = say(k, "250 2.0.0 reset");
		} else if (!strcasecmp(line, "NOOP")) {
			r = say(k, "250 2.0.0 ok");
		} else if (!strncasecmp(line, "VRFY", 4)) {
			r = say(k, "252 2.1.5 send some mail, I will try");
		} else if (!strcasecmp(line, "QUIT")) {
			say(k, "221 2.0.0 bye");
			break;
		} else {
			r = say(k, "502 5.5.2 command not understood");
		}
		if (r < 0)
			break;
	}
	if (k->evicted)
		say(k, "421 4.4.2 %s idle too long, closing to make room", c->domain);
	else if (k->timed_out)
		say(k, "421 4.4.2 %s too slow (%d s for a line or a message), closing", c->domain,
		    c->lmtp_timeout);
	free(from);
	strlist_clear(&rcpts);
}

static void *conn_run(void *arg)
{
	struct conn *k = arg;
	struct lmtp_server *srv = k->srv;
	session(k);
	pthread_mutex_lock(&srv->mu);
	for (struct conn **pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	close(k->fd);	/* under mu: the accept thread never shuts a reused descriptor */
	free(k);
	srv->active--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

/* Who is at the other end of fd: its numeric address, or uid:N on a unix socket. */
static void client_of(int fd, char *out, size_t len)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	snprintf(out, len, "?");
	if (getpeername(fd, (struct sockaddr *)&sa, &sl) < 0)
		return;
	if (sa.ss_family == AF_UNIX) {
		struct ucred cr;
		socklen_t cl = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
			snprintf(out, len, "uid:%u", (unsigned)cr.uid);
		return;
	}
	if (getnameinfo((struct sockaddr *)&sa, sl, out, (socklen_t)len, NULL, 0, NI_NUMERICHOST))
		snprintf(out, len, "?");
}

/* Under mu: whether a new connection from client may open, closing the connection idle the
 * longest when all are taken. NULL when it may, else the reason to refuse it. */
static const char *admit(struct lmtp_server *srv, const char *client)
{
	int same = 0;
	struct conn *oldest = NULL;
	for (struct conn *k = srv->conns; k; k = k->next) {
		same += !strcmp(k->client, client);
		if (k->idle_since && !k->evicted && (!oldest || k->idle_since < oldest->idle_since))
			oldest = k;
	}
	if (same >= LMTP_MAX_PER_CLIENT)
		return "421 4.3.2 too many connections from you, try again later\r\n";
	if (srv->active < LMTP_MAX_CONN)
		return NULL;
	if (!oldest)
		return "421 4.3.2 too many connections, try again later\r\n";
	/* its session sees end of input, says 421 and ends; the slot is taken over now */
	oldest->evicted = 1;
	shutdown(oldest->fd, SHUT_RD);
	log_info("stage=lmtp client=%s result=closed reason=\"idle, to make room\"", oldest->client);
	return NULL;
}

static void *accept_run(void *arg)
{
	struct lmtp_server *srv = arg;
	while (!__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = srv->fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct conn *k = xcalloc(1, sizeof *k);
		k->srv = srv;
		k->fd = fd;
		client_of(fd, k->client, sizeof k->client);
		k->ends = clock_mono_ms() + srv->c->lmtp_timeout * 1000LL * LMTP_SESSION_FACTOR;
		pthread_mutex_lock(&srv->mu);
		const char *refused = admit(srv, k->client);
		if (!refused) {
			srv->active++;
			k->next = srv->conns;
			srv->conns = k;
		}
		pthread_mutex_unlock(&srv->mu);
		if (refused) {
			log_warn("stage=lmtp client=%s result=refused reason=\"%.*s\"", k->client,
				 (int)strlen(refused) - 12, refused + 10);
			if (send(fd, refused, strlen(refused), MSG_NOSIGNAL) < 0) {
				/* the client is gone already */
			}
			close(fd);
			free(k);
			continue;
		}
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_run, k) != 0) {
			pthread_mutex_lock(&srv->mu);
			for (struct conn **pp = &srv->conns; *pp; pp = &(*pp)->next)
				if (*pp == k) {
					*pp = k->next;
					break;
				}
			srv->active--;
			close(fd);
			pthread_mutex_unlock(&srv->mu);
			free(k);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

/* ---------------------------------------------------------------- start, stop */

static int listen_on(const char *where, char **unix_path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct addrinfo *ai = NULL;
	const struct sockaddr *addr;
	socklen_t len;
	int family;
	if (where[0] == '/') {
		size_t n = strlen(where);
		if (n >= sizeof sun.sun_path) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun.sun_path, where, n + 1);
		unlink(where);	/* a socket left by a previous run */
		addr = (const struct sockaddr *)&sun;
		len = sizeof sun;
		family = AF_UNIX;
	} else {
		if (config_listen_address(where, &ai) < 0) {
			errno = EINVAL;
			return -1;
		}
		addr = ai->ai_addr;
		len = ai->ai_addrlen;
		family = ai->ai_family;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	int ok = fd >= 0 &&
		 (family == AF_UNIX || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0) &&
		 bind(fd, addr, len) == 0 && (family != AF_UNIX || chmod(where, 0660) == 0) &&
		 listen(fd, 64) == 0;
	int e = errno;
	if (ai)
		freeaddrinfo(ai);
	if (!ok) {
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	if (family == AF_UNIX)
		*unix_path = xstrdup(where);
	return fd;
}

struct lmtp_server *lmtp_start(const struct config *c, const char *where)
{
	char *unix_path = NULL;
	int fd = listen_on(where, &unix_path);
	if (fd < 0) {
		log_err("stage=lmtp listen=%s error=\"cannot listen: %s (want HOST:PORT, e.g. "
			"127.0.0.1:2003, or a unix socket path)\"", where, strerror(errno));
		return NULL;
	}
	struct lmtp_server *srv = xcalloc(1, sizeof *srv);
	srv->c = c;
	srv->fd = fd;
	srv->unix_path = unix_path;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->idle, NULL);
	if (pthread_create(&srv->thread, NULL, accept_run, srv) != 0) {
		close(fd);
		free(unix_path);
		free(srv);
		return NULL;
	}
	log_info("stage=lmtp listen=%s result=started", where);
	return srv;
}

void lmtp_stop(struct lmtp_server *srv)
{
	if (!srv)
		return;
	__atomic_store_n(&srv->stop, 1, __ATOMIC_RELEASE);
	pthread_join(srv->thread, NULL);
	close(srv->fd);
	/* sessions see stop within a second: a message being stored is finished first */
	pthread_mutex_lock(&srv->mu);
	while (srv->active > 0)
		pthread_cond_wait(&srv->idle, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
	if (srv->unix_path)
		unlink(srv->unix_path);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->idle);
	free(srv->unix_path);
	free(srv);
}
