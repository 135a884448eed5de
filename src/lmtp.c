/*
 * lmtp.c — mail in over LMTP (RFC 2033), for an MTA that hands mail to a local delivery agent
 * by socket (Postfix's lmtp:, Exim's lmtp transport, Dovecot-style set-ups): `bidmail lmtp`,
 * and the daemon when lmtp_listen is set (127.0.0.1:2003, or a unix socket path).
 * Each accepted recipient gets its own reply after the data: 250 once its copy is safe in the
 * spool (spool_deliver: fsync, rename), 451 on a transient failure (the MTA retries that
 * recipient only). Like `deliver`, it never refuses a message for what it contains: oversize
 * or unreadable mail is accepted and quarantined (a 5xx would make the MTA bounce it to a
 * possibly forged sender). Only recipients outside the board's domain are refused (550).
 * One thread per connection, at most LMTP_MAX_CONN at once; no TLS, no AUTH: listen on
 * loopback or a unix socket only.
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
#include <unistd.h>

#define LMTP_MAX_CONN 16
#define LMTP_MAX_RCPT 100
#define LMTP_LINE 4096		/* command lines; data lines of any length are streamed */
#define LMTP_IDLE 300		/* seconds a client may stay silent */

struct lmtp_server {
	const struct config *c;
	int fd;
	char *unix_path;
	pthread_t thread;
	volatile int stop;
	int active;
	pthread_mutex_t mu;
	pthread_cond_t idle;
};

struct conn {
	struct lmtp_server *srv;
	int fd;
	char in[8192];
	size_t have, off;
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

/* The next byte from the client: 0..255, or -1 (closed, timeout, stop). */
static int next_byte(struct conn *k)
{
	if (k->off < k->have)
		return (unsigned char)k->in[k->off++];
	for (int waited = 0; waited < LMTP_IDLE; waited++) {
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
		if (k->srv->stop)
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

/* Reads the data (dot-unstuffed, CR LF as LF) into a memory file: its descriptor with
 * *total bytes seen (only the first max_message_size + 1 are kept: enough for spool_deliver
 * to quarantine an oversize message), or -1 when the connection is gone. */
static int read_data(struct conn *k, const struct config *c, size_t *total)
{
	int mf = memfd_create("bidmail-lmtp", MFD_CLOEXEC);
	if (mf < 0)
		return -1;
	size_t cap = c->max_message_size + 1, kept = 0;
	char chunk[8192];
	size_t cn = 0;
	int at_line_start = 1, ch, state = 0;	/* state 1: a lone "." seen at a line start */
	int ok = 1;
	*total = 0;
	while ((ch = next_byte(k)) >= 0) {
		if (state == 1) {
			if (ch == '\r')
				continue;
			if (ch == '\n')
				break;		/* "." CR LF: the end */
			state = 0;	/* ".x": a stuffed dot, dropped; x is data */
		} else if (at_line_start && ch == '.') {
			state = 1;
			at_line_start = 0;
			continue;
		}
		if (ch == '\r') {
			/* kept only when not followed by LF */
			int nx = next_byte(k);
			if (nx < 0) {
				ch = -1;
				break;
			}
			if (nx != '\n') {
				chunk[cn++] = '\r';
				(*total)++;
				ch = nx;
			} else {
				ch = '\n';
			}
		}
		at_line_start = ch == '\n';
		chunk[cn++] = (char)ch;
		(*total)++;
		if (cn >= sizeof chunk - 2) {
			size_t take = kept + cn <= cap ? cn : cap - kept;
			if (take && write(mf, chunk, take) != (ssize_t)take)
				ok = 0;
			kept += take;
			cn = 0;
		}
	}
	if (ch < 0) {
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
		if (k->srv->stop) {
			say(k, "421 4.3.2 %s shutting down, try again later", c->domain);
			break;
		}
		int r = read_line(k, line, sizeof line);
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
	free(from);
	strlist_clear(&rcpts);
}

static void *conn_run(void *arg)
{
	struct conn *k = arg;
	struct lmtp_server *srv = k->srv;
	session(k);
	close(k->fd);
	free(k);
	pthread_mutex_lock(&srv->mu);
	srv->active--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

static void *accept_run(void *arg)
{
	struct lmtp_server *srv = arg;
	while (!srv->stop) {
		struct pollfd p = { .fd = srv->fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&srv->mu);
		int busy = srv->active >= LMTP_MAX_CONN;
		if (!busy)
			srv->active++;
		pthread_mutex_unlock(&srv->mu);
		if (busy) {
			static const char msg[] = "421 4.3.2 too many connections, try again later\r\n";
			if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) < 0) {
				/* the client is gone already */
			}
			close(fd);
			continue;
		}
		struct conn *k = xcalloc(1, sizeof *k);
		k->srv = srv;
		k->fd = fd;
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, conn_run, k) != 0) {
			close(fd);
			free(k);
			pthread_mutex_lock(&srv->mu);
			srv->active--;
			pthread_mutex_unlock(&srv->mu);
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
	srv->stop = 1;
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
