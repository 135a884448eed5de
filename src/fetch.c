/*
 * fetch.c — mail in from a mailbox instead of an MTA: `bidmail fetch`, and the daemon when
 * fetch_url is set. Polls an IMAP mailbox (and waits in IDLE when the server offers it) or a
 * POP3 mailbox through libetpan; TLS by default (imaps://, pop3s://, or STARTTLS for imap://
 * and pop3://), the server's certificate chain and name verified with GnuTLS before anything
 * is read over TLS.
 * libetpan reads through a wire of ours (socket, GnuTLS): each exchange bounded in bytes and
 * time, stopped at once by fetcher_stop; POP3 listings are read and checked here.
 * Each message is in the spool (fsynced) before it is marked \Seen or deleted; its origin
 * (UIDVALIDITY:UID or UIDL) and identity (size, Message-ID digest: known before the
 * download) are its ingest key and its line in the host's ledger (fetch_ledger.c, a file of
 * the spool: fetching never needs the database), so that it is fetched once, and another
 * message under a reused UID is fetched too. A cut anywhere loses nothing:
 * stored but not yet in the ledger, it is fetched again, a duplicate that ingest ignores.
 */
#include "bidmail.h"
#include "fetch_ledger.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the URL */

static int hex_digit(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	       ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static char *percent_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *w = out;
	for (size_t i = 0; i < n; i++) {
		int hi = s[i] == '%' && i + 2 < n ? hex_digit(s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
		if (lo >= 0 && (hi || lo)) {
			*w++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return out;
}

void fetch_url_clear(struct fetch_url *u)
{
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->mailbox);
	memset(u, 0, sizeof *u);
}

int fetch_url_parse(const char *url, struct fetch_url *u)
{
	memset(u, 0, sizeof *u);
	const char *p;
	if (!strncmp(url, "imaps://", 8))
		u->imap = 1, u->tls = 1, u->port = 993, p = url + 8;
	else if (!strncmp(url, "imap://", 7))
		u->imap = 1, u->port = 143, p = url + 7;
	else if (!strncmp(url, "pop3s://", 8))
		u->tls = 1, u->port = 995, p = url + 8;
	else if (!strncmp(url, "pop3://", 7))
		u->port = 110, p = url + 7;
	else
		return -1;
	const char *at = strrchr(p, '@');
	const char *slash = strchr(p, '/');
	if (!at || (slash && slash < at) || at == p)
		return -1;
	const char *colon = memchr(p, ':', (size_t)(at - p));
	u->user = percent_decode(p, (size_t)((colon ? colon : at) - p));
	if (colon)
		u->password = percent_decode(colon + 1, (size_t)(at - colon - 1));
	const char *h = at + 1;
	size_t hn = slash ? (size_t)(slash - h) : strlen(h);
	const char *pc = memchr(h, ':', hn);
	if (pc) {
		char *end;
		long port = strtol(pc + 1, &end, 10);
		if (end != h + hn || port < 1 || port > 65535) {
			fetch_url_clear(u);
			return -1;
		}
		u->port = (int)port;
		hn = (size_t)(pc - h);
	}
	if (!hn || !*u->user) {
		fetch_url_clear(u);
		return -1;
	}
	u->host = xstrndup(h, hn);
	u->mailbox = slash && slash[1] ? percent_decode(slash + 1, strlen(slash + 1))
				       : xstrdup("INBOX");
	return 0;
}

int fetch_url_ok(const char *url)
{
	struct fetch_url u;
	if (fetch_url_parse(url, &u) < 0)
		return 0;
	fetch_url_clear(&u);
	return 1;
}

/* The mailbox as the logs name it: never the password. */
char *fetch_url_redacted(const char *url)
{
	struct fetch_url u;
	if (fetch_url_parse(url, &u) < 0)
		return xstrdup("(unusable fetch_url)");
	char *r = xasprintf("%s%s://%s@%s:%d%s%s", u.imap ? "imap" : "pop3", u.tls ? "s" : "", u.user,
			    u.host, u.port, u.imap ? "/" : "", u.imap ? u.mailbox : "");
	fetch_url_clear(&u);
	return r;
}

/* The origin of a message, as it goes in the envelope line and the ledger: printable,
 * without spaces, '<', '>' or ';' (anything else outside [A-Za-z0-9._@:/=+-] as %XX):
 * imap://USER@HOST/MAILBOX/UIDVALIDITY:UID or pop3://USER@HOST/UIDL. */
static char *origin_of(const struct fetch_url *u, const char *id)
{
	/* not the port nor TLS: the same mailbox reached another way is the same mailbox */
	char *raw = u->imap ? xasprintf("imap://%s@%s/%s/%s", u->user, u->host, u->mailbox, id)
			    : xasprintf("pop3://%s@%s/%s", u->user, u->host, id);
	struct buf b;
	buf_init(&b, 8192);
	for (const unsigned char *q = (const unsigned char *)raw; *q; q++) {
		if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		    strchr("._@:/=+-", *q))
			buf_putc(&b, (char)*q);
		else
			buf_printf(&b, "%%%02X", *q);
	}
	free(raw);
	return buf_steal(&b);
}

/* ---------------------------------------------------------------- the wire */

/* The most one answer may bring: a reply (greeting, login, SELECT, a message's size and
 * Message-ID...), a listing (SEARCH, LIST, UIDL), and a message beyond max_message_size
 * (its FETCH envelope, CRLF and dot-stuffing). */
#define REPLY_MAX ((size_t)1024 * 1024)
#define LISTING_MAX ((size_t)4 * 1024 * 1024)
#define MESSAGE_SLACK ((size_t)64 * 1024)
/* The identity of a message: its size, '-', 16 hex digits of its Message-ID's digest. */
#define IDENT_MAX 40

/* The connection under libetpan: our socket, our TLS session, our limits. Each exchange
 * is armed with a byte budget and a deadline; a read past either, fetch_timeout of
 * silence, or the stop descriptor becoming readable fails the read (and libetpan's call). */
struct wire {
	int fd;			/* the socket, -1 when closed */
	int stop_fd;		/* readable once the fetcher must stop; -1 for none */
	int silence_ms;		/* fetch_timeout */
	gnutls_session_t tls;	/* NULL in clear */
	gnutls_certificate_credentials_t cred;
	size_t left, armed;	/* bytes the exchange may still read, of armed */
	long long deadline;	/* its end, CLOCK_MONOTONIC milliseconds */
	long seconds;		/* its length, for the reason */
	int imap;		/* literals are looked for: none may announce more than armed */
	int lit_state;		/* where in "{N}" CRLF the bytes are, 0 outside one */
	unsigned long long lit_n, lit_skip;	/* N as read; literal bytes still to pass */
	char why[160];		/* the limit or failure that ended a read or write, "" for none */
};

/* Starts an exchange: at most bytes read from the server, seconds in all. */
static void wire_arm(struct wire *w, size_t bytes, long seconds)
{
	w->left = w->armed = bytes;
	w->seconds = seconds;
	w->deadline = clock_mono_ms() + seconds * 1000LL;
	w->why[0] = '\0';
}

/* Waits until the socket is ready for events: 0, or -1 with the reason in w->why. */
static int wire_wait(struct wire *w, short events)
{
	for (;;) {
		long long left = w->deadline - clock_mono_ms();
		if (w->fd < 0) {
			snprintf(w->why, sizeof w->why, "the connection is closed");
			return -1;
		}
		if (left <= 0) {
			snprintf(w->why, sizeof w->why, "the answer took longer than fetch_deadline "
				 "(%lds)", w->seconds);
			return -1;
		}
		int ms = left < w->silence_ms ? (int)left : w->silence_ms;
		struct pollfd p[2] = { { .fd = w->fd, .events = events },
				       { .fd = w->stop_fd, .events = POLLIN } };
		int n = poll(p, w->stop_fd >= 0 ? 2 : 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(w->why, sizeof w->why, "poll: %s", strerror(errno));
			return -1;
		}
		if (w->stop_fd >= 0 && p[1].revents) {
			snprintf(w->why, sizeof w->why, "stopped");
			return -1;
		}
		if (n > 0)
			return 0;	/* an error or hangup shows in the read or write */
		if (ms == w->silence_ms) {
			snprintf(w->why, sizeof w->why, "no answer for %ds (fetch_timeout)",
				 w->silence_ms / 1000);
			return -1;
		}
	}
}

/* Follows IMAP literals in what was read: an announced "{N}" larger than the exchange's
 * budget fails at once (libetpan would allocate N bytes before reading them); their
 * contents are passed over unread. 0, or -1 (w->why). */
static int wire_literals(struct wire *w, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w->lit_skip) {
			size_t k = n - i < w->lit_skip ? n - i : (size_t)w->lit_skip;
			w->lit_skip -= k;
			i += k - 1;
			continue;
		}
		unsigned char ch = p[i];
		if (w->lit_state == 1 && ch >= '0' && ch <= '9') {
			w->lit_n = w->lit_n > 1ULL << 40 ? w->lit_n : w->lit_n * 10 + (ch - '0');
		} else if (w->lit_state == 1 && ch == '}') {
			w->lit_state = 2;
		} else if (w->lit_state == 2 && ch == '\r') {
			w->lit_state = 3;
		} else if ((w->lit_state == 2 || w->lit_state == 3) && ch == '\n') {
			if (w->lit_n > w->armed) {
				snprintf(w->why, sizeof w->why, "the server announced %llu bytes, more "
					 "than the %zu of the answer", w->lit_n, w->armed);
				return -1;
			}
			w->lit_skip = w->lit_n;
			w->lit_state = 0;
		} else {
			w->lit_state = ch == '{' ? 1 : 0;
			w->lit_n = 0;
		}
	}
	return 0;
}

/* One read (out 0) or write (out 1) on the wire, through TLS or in clear: the bytes moved (0:
 * the server closed), -2 to try again after a wait, -1 with w->why set. */
static ssize_t wire_move(struct wire *w, void *data, size_t n, int out)
{
	ssize_t r;
	if (w->tls) {
		r = out ? gnutls_record_send(w->tls, data, n) : gnutls_record_recv(w->tls, data, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return -2;
		if (r < 0)
			snprintf(w->why, sizeof w->why, "TLS: %s", gnutls_strerror((int)r));
		return r < 0 ? -1 : r;
	}
	r = out ? send(w->fd, data, n, MSG_NOSIGNAL) : recv(w->fd, data, n, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return -2;
	if (r < 0)
		snprintf(w->why, sizeof w->why, "%s: %s", out ? "write" : "read", strerror(errno));
	return r < 0 ? -1 : r;
}

static ssize_t wire_read(mailstream_low *low, void *data, size_t n)
{
	struct wire *w = low->data;
	if (w->left == 0) {
		snprintf(w->why, sizeof w->why, "the answer is longer than %zu bytes", w->armed);
		return -1;
	}
	if (n > w->left)
		n = w->left;
	for (;;) {
		if ((!w->tls || !gnutls_record_check_pending(w->tls)) && wire_wait(w, POLLIN) < 0)
			return -1;
		ssize_t r = wire_move(w, data, n, 0);
		if (r == -2)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			snprintf(w->why, sizeof w->why, "the server closed the connection");
		w->left -= (size_t)r;
		if (w->imap && wire_literals(w, data, (size_t)r) < 0)
			return -1;
		return r;
	}
}

static ssize_t wire_write(mailstream_low *low, const void *data, size_t n)
{
	struct wire *w = low->data;
	size_t done = 0;
	while (done < n) {
		if (wire_wait(w, POLLOUT) < 0)
			return -1;
		ssize_t r = wire_move(w, (char *)data + done, n - done, 1);
		if (r == -2)
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)n;
}

/* Closes the socket and ends TLS; again is harmless. */
static void wire_shut(struct wire *w)
{
	if (w->tls)
		gnutls_deinit(w->tls);
	if (w->cred)
		gnutls_certificate_free_credentials(w->cred);
	if (w->fd >= 0)
		close(w->fd);
	w->tls = NULL;
	w->cred = NULL;
	w->fd = -1;
}

static int wire_low_close(mailstream_low *low)
{
	wire_shut(low->data);
	return 0;
}

static int wire_low_fd(mailstream_low *low)
{
	return ((struct wire *)low->data)->fd;
}

/* the wire belongs to the session: libetpan frees only its handle */
static void wire_low_free(mailstream_low *low)
{
	free(low);
}

static void wire_low_cancel(mailstream_low *low)
{
	(void)low;
}

static struct mailstream_cancel *wire_low_get_cancel(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static carray *wire_low_chain(mailstream_low *low)
{
	(void)low;
	return NULL;
}

/* -1: IDLE waits are a poll() on the descriptor (imap_wait) */
static int wire_low_idle(mailstream_low *low)
{
	(void)low;
	return -1;
}

static mailstream_low_driver wire_driver = {
	wire_read, wire_write, wire_low_close, wire_low_fd, wire_low_free, wire_low_cancel,
	wire_low_get_cancel, wire_low_chain, wire_low_idle, wire_low_idle, wire_low_idle,
};

/* Connects to host:port within the armed exchange (interrupted by the stop descriptor).
 * 0, or -1 with the reason in err. */
static int wire_connect(struct wire *w, const char *host, int port, char *err, size_t errn)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	int g = getaddrinfo(host, service, &hints, &ai);
	if (g != 0) {
		snprintf(err, errn, "cannot resolve %s: %s", host, gai_strerror(g));
		return -1;
	}
	char why[160] = "no address";
	for (struct addrinfo *a = ai; a && w->fd < 0; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0) {
			snprintf(why, sizeof why, "socket: %s", strerror(errno));
			continue;
		}
		w->fd = fd;
		int e = 0;
		socklen_t el = sizeof e;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			e = errno;
		} else if (wire_wait(w, POLLOUT) < 0) {
			snprintf(why, sizeof why, "%s", w->why);
			e = -1;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0) {
			e = errno;
		}
		if (e == 0)
			break;
		if (e > 0)
			snprintf(why, sizeof why, "%s", strerror(e));
		close(fd);
		w->fd = -1;
		if (!strcmp(why, "stopped"))
			break;
	}
	freeaddrinfo(ai);
	if (w->fd < 0) {
		snprintf(err, errn, "cannot connect to %s:%d: %s", host, port, why);
		return -1;
	}
	return 0;
}

/* Verifies the server's certificate chain (DER, as sent) against fetch_ca_file (or the
 * system's CAs) and its name against the host of the URL. 0, or -1 with the reason in err. */
static int verify_peer(const struct config *c, const gnutls_datum_t *der, unsigned n,
		       const char *host, char *err, size_t errn)
{
	if (!der || n == 0) {
		snprintf(err, errn, "the server sent no certificate");
		return -1;
	}
	gnutls_x509_crt_t *crts = xcalloc(n, sizeof *crts);
	gnutls_x509_trust_list_t tl = NULL;
	int rc = -1;
	unsigned got = 0;
	for (; got < n; got++) {
		if (gnutls_x509_crt_init(&crts[got]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[got], &der[got], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[got]);
			snprintf(err, errn, "certificate %u of the server's chain is not readable", got);
			goto out;
		}
	}
	if (got < n || gnutls_x509_trust_list_init(&tl, 0) < 0) {
		snprintf(err, errn, "out of memory checking the certificate");
		goto out;
	}
	if (*c->fetch_ca_file) {
		if (gnutls_x509_trust_list_add_trust_file(tl, c->fetch_ca_file, NULL,
							  GNUTLS_X509_FMT_PEM, 0, 0) <= 0) {
			snprintf(err, errn, "fetch_ca_file %s holds no readable PEM certificate",
				 c->fetch_ca_file);
			goto out;
		}
	} else if (gnutls_x509_trust_list_add_system_trust(tl, 0, 0) <= 0) {
		snprintf(err, errn, "no system CA certificates (install ca-certificates, or set "
			 "fetch_ca_file)");
		goto out;
	}
	gnutls_typed_vdata_st name = { GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)host, 0 };
	unsigned status = 0;
	if (gnutls_x509_trust_list_verify_crt2(tl, crts, n, &name, 1, 0, &status, NULL) < 0) {
		snprintf(err, errn, "the certificate could not be verified");
		goto out;
	}
	if (status) {
		gnutls_datum_t why = { NULL, 0 };
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		snprintf(err, errn, "certificate of %s refused: %s", host,
			 why.data ? (char *)why.data : "not trusted");
		gnutls_free(why.data);
		goto out;
	}
	rc = 0;
out:
	for (unsigned i = 0; i < got; i++)
		gnutls_x509_crt_deinit(crts[i]);
	free(crts);
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	return rc;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t n)
{
	struct wire *w = p;
	ssize_t r = send(w->fd, data, n, MSG_NOSIGNAL);
	if (r < 0)
		gnutls_transport_set_errno(w->tls, errno);
	return r;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t n)
{
	struct wire *w = p;
	ssize_t r = recv(w->fd, data, n, 0);
	if (r < 0)
		gnutls_transport_set_errno(w->tls, errno);
	return r;
}

/* Starts TLS on the connection within the armed exchange, then verifies the server's
 * certificate: nothing is read from the server in TLS before it is verified. 0, or -1
 * with the reason in err. */
static int wire_tls(struct wire *w, const struct config *c, const char *host, char *err,
		    size_t errn)
{
	unsigned char ip[16];
	if (gnutls_certificate_allocate_credentials(&w->cred) < 0 ||
	    gnutls_init(&w->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0 ||
	    gnutls_set_default_priority(w->tls) < 0 ||
	    gnutls_credentials_set(w->tls, GNUTLS_CRD_CERTIFICATE, w->cred) < 0) {
		snprintf(err, errn, "cannot set up TLS");
		return -1;
	}
	/* no server name for an address (RFC 6066) */
	if (inet_pton(AF_INET, host, ip) != 1 && inet_pton(AF_INET6, host, ip) != 1)
		gnutls_server_name_set(w->tls, GNUTLS_NAME_DNS, host, strlen(host));
	gnutls_transport_set_ptr(w->tls, w);
	gnutls_transport_set_push_function(w->tls, tls_push);
	gnutls_transport_set_pull_function(w->tls, tls_pull);
	for (;;) {
		int r = gnutls_handshake(w->tls);
		if (r == 0)
			break;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(r)) {
			snprintf(err, errn, "TLS with %s failed: %s", host, gnutls_strerror(r));
			return -1;
		}
		if (wire_wait(w, gnutls_record_get_direction(w->tls) ? POLLOUT : POLLIN) < 0) {
			snprintf(err, errn, "TLS with %s failed: %s", host, w->why);
			return -1;
		}
	}
	unsigned n = 0;
	const gnutls_datum_t *der = gnutls_certificate_get_peers(w->tls, &n);
	return verify_peer(c, der, n, host, err, errn);
}

/* ---------------------------------------------------------------- one message */

/* The Return-Path of the raw message, as the envelope sender ("" for <> or none). */
static char *return_path(const char *data, size_t len)
{
	const char *end = memmem(data, len, "\n\n", 2), *end2 = memmem(data, len, "\r\n\r\n", 4);
	size_t head = end2 && (!end || end2 < end) ? (size_t)(end2 - data) :
		      end ? (size_t)(end - data) : len;
	for (size_t i = 0; i + 12 < head; i++) {
		if ((i == 0 || data[i - 1] == '\n') && !strncasecmp(data + i, "Return-Path:", 12)) {
			const char *lt = memchr(data + i, '<', head - i), *nl = memchr(data + i, '\n', head - i);
			if (lt && (!nl || lt < nl)) {
				const char *gt = memchr(lt, '>', head - (size_t)(lt - data));
				if (gt && (!nl || gt < nl))
					return xstrndup(lt + 1, (size_t)(gt - lt - 1));
			}
			return xstrdup("");
		}
	}
	return xstrdup("");
}

/* The identity of a message as the ledger keys it beside its origin, from what the server
 * says before the download: its size and a digest of its Message-ID field (unfolded, without
 * white space; of "" without one), found in head (its header, or the field alone). */
static void ident_of(unsigned long long size, const char *head, size_t len, char out[IDENT_MAX])
{
	struct buf id;
	buf_init(&id, 998);
	for (size_t i = 0; i + 11 <= len; i++) {
		if ((i > 0 && head[i - 1] != '\n') || strncasecmp(head + i, "Message-ID:", 11))
			continue;
		for (size_t j = i + 11; j < len; j++) {
			if (head[j] == '\n' && (j + 1 >= len || (head[j + 1] != ' ' && head[j + 1] != '\t')))
				break;
			if (head[j] != ' ' && head[j] != '\t' && head[j] != '\r' && head[j] != '\n' &&
			    buf_putc(&id, head[j]) < 0)
				break;
		}
		break;
	}
	char hex[65];
	hash_sha256_hex(id.data ? id.data : "", id.len, hex);
	buf_free(&id);
	snprintf(out, IDENT_MAX, "%llu-%.16s", size, hex);
}

/* Stores one downloaded message in the spool, then its origin and identity in the ledger.
 * 0, or -1 (transient). */
static int keep(const struct config *c, struct fetch_ledger *l, const char *origin,
		const char *ident,
		const char *data, size_t len)
{
	char *full = xasprintf("%s/%s", origin, ident);
	int rc = -1;
	int fd = memfd_create("bidmail-fetch", MFD_CLOEXEC);
	if (fd < 0) {
		log_err("stage=fetch origin=%s error=\"memfd: %s\"", full, strerror(errno));
		goto out;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_err("stage=fetch origin=%s error=\"memfd write: %s\"", full,
				strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	char *sender = return_path(data, len);
	enum outcome o = spool_deliver(c, fd, sender, NULL, full);
	free(sender);
	if (o != OUT_OK)
		goto out;
	/* safe on disk: now the ledger, so that it is not downloaded again */
	if (fetch_ledger_add(l, origin, ident, clock_now()) < 0) {
		log_err("stage=fetch origin=%s error=\"ledger: %s\" (a second copy will be a "
			"duplicate)", full, fetch_ledger_error(l));
		goto out;
	}
	log_info("stage=fetch origin=%s size=%zu result=spooled", full, len);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(full);
	return rc;
}

/* ---------------------------------------------------------------- sessions */

struct session {
	const struct config *c;
	struct fetch_ledger *l;
	struct fetch_url u;
	struct wire w;
	mailimap *imap;
	mailpop3 *pop;
	MMAPString *line;	/* POP3: the line being read */
	int idle;		/* the server offers IDLE */
	char err[512];
};

/* Arms the wire for the next exchange: at most bytes, fetch_deadline in all. */
static void arm(struct session *ss, size_t bytes)
{
	wire_arm(&ss->w, bytes, ss->c->fetch_deadline);
}

/* Why the last exchange failed: the wire's limit, else the server's words. */
static const char *said(struct session *ss)
{
	if (ss->w.why[0])
		return ss->w.why;
	if (ss->imap && ss->imap->imap_response)
		return ss->imap->imap_response;
	if (ss->pop && ss->pop->pop3_response)
		return ss->pop->pop3_response;
	return "no reason given";
}

/* Connects the wire (TLS and its check first for imaps:// and pop3s://) and wraps it in a
 * libetpan stream. The stream, or NULL (ss->err). */
static mailstream *session_connect(struct session *ss)
{
	arm(ss, REPLY_MAX);
	if (wire_connect(&ss->w, ss->u.host, ss->u.port, ss->err, sizeof ss->err) < 0 ||
	    (ss->u.tls && wire_tls(&ss->w, ss->c, ss->u.host, ss->err, sizeof ss->err) < 0))
		return NULL;
	mailstream_low *low = mailstream_low_new(&ss->w, &wire_driver);
	mailstream *st = low ? mailstream_new(low, 8192) : NULL;
	if (!st) {
		if (low)
			mailstream_low_free(low);
		snprintf(ss->err, sizeof ss->err, "out of memory");
	}
	return st;
}

/* After STARTTLS or STLS was accepted: TLS on the same connection, refused when the server
 * sent anything more in clear (it would be read as if it came over TLS). 0 or -1. */
static int session_starttls(struct session *ss, mailstream *st)
{
	if (st->read_buffer_len) {
		snprintf(ss->err, sizeof ss->err, "%s:%d sent data in clear after accepting "
			 "STARTTLS (refused)", ss->u.host, ss->u.port);
		return -1;
	}
	arm(ss, REPLY_MAX);
	return wire_tls(&ss->w, ss->c, ss->u.host, ss->err, sizeof ss->err);
}

/* ---------------------------------------------------------------- IMAP */

/* CAPABILITY, sent and read here (libetpan's dereferences an answer without its data):
 * 1 when the server offers IDLE, 0 if not, -1 (the wire says why). */
static int imap_offers_idle(struct session *ss)
{
	static const char cmd[] = "bidmail-cap CAPABILITY\r\n";
	mailstream *st = ss->imap->imap_stream;
	arm(ss, REPLY_MAX);
	if (mailstream_write(st, cmd, sizeof cmd - 1) < 0 || mailstream_flush(st) < 0)
		return -1;
	MMAPString *l = mmap_string_new("");
	int idle = 0, rc = -1;
	while (l && mailstream_read_line_remove_eol(st, l)) {
		if (!strncmp(l->str, "bidmail-cap ", 12)) {
			rc = strncasecmp(l->str + 12, "OK", 2) ? 0 : idle;
			break;
		}
		if (strncasecmp(l->str, "* CAPABILITY ", 13))
			continue;
		for (char *w = l->str + 12; (w = strcasestr(w, " IDLE"));) {
			w += 5;
			if (!*w || *w == ' ')
				idle = 1;
		}
	}
	if (l)
		mmap_string_free(l);
	return rc;
}

static int imap_open(struct session *ss)
{
	const struct config *c = ss->c;
	struct fetch_url *u = &ss->u;
	mailstream *st = session_connect(ss);
	if (!st)
		return -1;
	ss->imap = mailimap_new(0, NULL);
	arm(ss, REPLY_MAX);
	int r = mailimap_connect(ss->imap, st);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		snprintf(ss->err, sizeof ss->err, "no greeting from %s:%d: %s", u->host, u->port,
			 said(ss));
		return -1;
	}
	if (!u->tls && strcmp(c->fetch_tls, "no")) {
		arm(ss, REPLY_MAX);
		if (mailimap_starttls(ss->imap) != MAILIMAP_NO_ERROR) {
			snprintf(ss->err, sizeof ss->err, "STARTTLS refused or failed on %s:%d (fetch_tls"
				 " = required; imaps:// or fetch_tls = no otherwise): %s", u->host,
				 u->port, said(ss));
			return -1;
		}
		if (session_starttls(ss, ss->imap->imap_stream) < 0)
			return -1;
	}
	const char *pass = u->password ? u->password : c->fetch_password;
	arm(ss, REPLY_MAX);
	r = mailimap_login(ss->imap, u->user, pass);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "login as %s refused: %s", u->user, said(ss));
		return ss->w.why[0] ? -1 : -2;
	}
	ss->idle = imap_offers_idle(ss);
	if (ss->idle < 0) {
		snprintf(ss->err, sizeof ss->err, "CAPABILITY failed: %s", said(ss));
		return -1;
	}
	return 0;
}

/* The answer for uid in a FETCH response (by its UID; else the first with no UID). */
static struct mailimap_msg_att *imap_answer_for(clist *fetched, uint32_t uid)
{
	struct mailimap_msg_att *first = NULL;
	for (clistiter *i = clist_begin(fetched); i; i = clist_next(i)) {
		struct mailimap_msg_att *ma = clist_content(i);
		int has_uid = 0;
		for (clistiter *j = clist_begin(ma->att_list); j; j = clist_next(j)) {
			struct mailimap_msg_att_item *it = clist_content(j);
			if (it->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
			    it->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID) {
				if (it->att_data.att_static->att_data.att_uid == uid)
					return ma;
				has_uid = 1;
			}
		}
		if (!has_uid && !first)
			first = ma;
	}
	return first;
}

/* The static item of type in an answer, or NULL. */
static struct mailimap_msg_att_static *imap_item(struct mailimap_msg_att *ma, int type)
{
	for (clistiter *j = ma ? clist_begin(ma->att_list) : NULL; j; j = clist_next(j)) {
		struct mailimap_msg_att_item *it = clist_content(j);
		if (it->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    it->att_data.att_static->att_type == type)
			return it->att_data.att_static;
	}
	return NULL;
}

/* UID FETCH of one message with one attribute, the answer bounded by bytes. 0 (*out to
 * free with mailimap_fetch_list_free), -1 (ss->err). */
static int imap_fetch_one(struct session *ss, uint32_t uid, struct mailimap_fetch_type *ft,
			  size_t bytes, clist **out)
{
	struct mailimap_set *set = mailimap_set_new_single(uid);
	*out = NULL;
	arm(ss, bytes);
	int r = mailimap_uid_fetch(ss->imap, set, ft, out);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "fetch of UID %u failed (libetpan error %d): %s",
			 uid, r, said(ss));
		return -1;
	}
	if (!*out)	/* an answer without FETCH data */
		*out = clist_new();
	return 0;
}

/* The size and Message-ID of a message, before downloading it: 0 with its identity in
 * ident, 1 when it is gone (expunged meanwhile), -1 (ss->err). */
static int imap_probe(struct session *ss, uint32_t uid, uint32_t *size, char ident[IDENT_MAX])
{
	clist *fields = clist_new();
	clist_append(fields, xstrdup("MESSAGE-ID"));
	struct mailimap_section *sec = mailimap_section_new_header_fields(
		mailimap_header_list_new(fields));
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_body_peek_section(sec));
	clist *fetched;
	if (imap_fetch_one(ss, uid, ft, REPLY_MAX, &fetched) < 0)
		return -1;
	struct mailimap_msg_att *ma = imap_answer_for(fetched, uid);
	struct mailimap_msg_att_static *sz = imap_item(ma, MAILIMAP_MSG_ATT_RFC822_SIZE);
	struct mailimap_msg_att_static *hd = imap_item(ma, MAILIMAP_MSG_ATT_BODY_SECTION);
	int rc = 1;
	if (sz) {
		const char *h = hd && hd->att_data.att_body_section->sec_body_part ?
				hd->att_data.att_body_section->sec_body_part : "";
		size_t hl = hd && hd->att_data.att_body_section->sec_body_part ?
			    hd->att_data.att_body_section->sec_length : 0;
		*size = sz->att_data.att_rfc822_size;
		ident_of(*size, h, hl, ident);
		rc = 0;
	}
	mailimap_fetch_list_free(fetched);
	return rc;
}

/* Downloads one message (only its first max_message_size + 1 bytes when it is bigger:
 * the spool quarantines it as oversize) and stores it. 0, 1 when it is gone, -1. */
static int imap_download(struct session *ss, uint32_t uid, uint32_t size, const char *origin,
			 const char *ident)
{
	const struct config *c = ss->c;
	struct mailimap_section *sec = mailimap_section_new(NULL);
	size_t most = c->max_message_size + 1;
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	uint32_t part = most > UINT32_MAX ? UINT32_MAX : (uint32_t)most;
	mailimap_fetch_type_new_fetch_att_list_add(ft, size < most ?
		mailimap_fetch_att_new_body_peek_section(sec) :
		mailimap_fetch_att_new_body_peek_section_partial(sec, 0, part));
	clist *fetched;
	if (imap_fetch_one(ss, uid, ft, most + MESSAGE_SLACK, &fetched) < 0)
		return -1;
	struct mailimap_msg_att_static *b = imap_item(imap_answer_for(fetched, uid),
						      MAILIMAP_MSG_ATT_BODY_SECTION);
	int rc = 1;
	if (b) {
		struct mailimap_msg_att_body_section *bs = b->att_data.att_body_section;
		size_t len = bs->sec_body_part ? bs->sec_length : 0;
		rc = keep(c, ss->l, origin, ident, bs->sec_body_part ? bs->sec_body_part : "",
			  len < most ? len : most);
		if (rc < 0)
			snprintf(ss->err, sizeof ss->err, "cannot store a fetched message (see above)");
	}
	mailimap_fetch_list_free(fetched);
	return rc;
}

static int imap_flag(struct session *ss, uint32_t uid)
{
	int del = !strcmp(ss->c->fetch_after, "delete");
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	mailimap_flag_list_add(fl, del ? mailimap_flag_new_deleted() : mailimap_flag_new_seen());
	struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
	struct mailimap_set *set = mailimap_set_new_single(uid);
	arm(ss, REPLY_MAX);
	int r = mailimap_uid_store(ss->imap, set, sf);
	mailimap_set_free(set);
	mailimap_store_att_flags_free(sf);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "cannot mark UID %u %s: %s", uid,
			 del ? "deleted" : "seen", said(ss));
		return -1;
	}
	return 0;
}

/* One pass over the mailbox: every message not yet stored is spooled, then flagged (and
 * only a message the ledger knows as stored is flagged). The number spooled, or -1
 * (ss->err says why). */
static int imap_pass(struct session *ss, volatile int *stop)
{
	const struct config *c = ss->c;
	int del = !strcmp(c->fetch_after, "delete");
	arm(ss, LISTING_MAX);
	int r = mailimap_select(ss->imap, ss->u.mailbox);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "cannot select %s: %s", ss->u.mailbox, said(ss));
		return -1;
	}
	uint32_t validity = ss->imap->imap_selection_info ?
			    ss->imap->imap_selection_info->sel_uidvalidity : 0;
	struct mailimap_search_key *key = mailimap_search_key_new(
		del ? MAILIMAP_SEARCH_KEY_UNDELETED : MAILIMAP_SEARCH_KEY_UNSEEN, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL,
		NULL, NULL, NULL, 0, NULL, NULL, NULL);
	clist *uids = NULL;
	arm(ss, LISTING_MAX);
	r = mailimap_uid_search(ss->imap, NULL, key, &uids);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "search failed: %s", said(ss));
		return -1;
	}
	if (!uids)	/* an answer without SEARCH data */
		uids = clist_new();
	int spooled = 0, rc = 0, flagged = 0;
	size_t total = (size_t)clist_count(uids), at = 0;
	for (clistiter *it = clist_begin(uids);
	     it && !(stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE)); it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it), size = 0;
		char id[64], ident[IDENT_MAX];
		int gone = imap_probe(ss, uid, &size, ident);
		if (gone < 0) {
			rc = -1;
			break;
		}
		if (gone)	/* expunged by another client meanwhile: nothing to keep */
			continue;
		snprintf(id, sizeof id, "%u:%u", validity, uid);
		char *origin = origin_of(&ss->u, id);
		int seen = fetch_ledger_seen(ss->l, origin, ident);
		if (seen < 0) {
			snprintf(ss->err, sizeof ss->err, "ledger: %s", fetch_ledger_error(ss->l));
			free(origin);
			rc = -1;
			break;
		}
		int k = seen ? 0 : imap_download(ss, uid, size, origin, ident);
		free(origin);
		if (k < 0) {
			rc = -1;
			break;
		}
		if (k > 0)
			continue;
		spooled += !seen;
		if (imap_flag(ss, uid) < 0) {
			rc = -1;
			break;
		}
		flagged++;
		at++;
		if (!stop)	/* `bidmail fetch` on a terminal; never from the daemon's thread */
			progress("fetch", at, total);
	}
	mailimap_search_result_free(uids);
	arm(ss, REPLY_MAX);
	if (rc == 0 && del && flagged && mailimap_expunge(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "expunge failed: %s", said(ss));
		rc = -1;
	}
	return rc < 0 ? -1 : spooled;
}

/* Waits in IDLE until the server says something, the stop descriptor, or fetch_interval:
 * 0, or -1. */
static int imap_wait(struct session *ss)
{
	arm(ss, REPLY_MAX);
	if (mailimap_idle(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "IDLE refused: %s", said(ss));
		return -1;
	}
	/* what the stream or TLS already holds would not wake poll() */
	int ready = ss->imap->imap_stream->read_buffer_len > 0 ||
		    (ss->w.tls && gnutls_record_check_pending(ss->w.tls));
	struct pollfd p[2] = { { .fd = mailimap_idle_get_fd(ss->imap), .events = POLLIN },
			       { .fd = ss->w.stop_fd, .events = POLLIN } };
	long long end = clock_mono_ms() + ss->c->fetch_interval * 1000LL;
	while (!ready) {
		long long left = end - clock_mono_ms();
		if (left <= 0)
			break;
		int n = poll(p, ss->w.stop_fd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && ss->w.stop_fd >= 0 && p[1].revents)
			return 0;
		ready = n > 0;
	}
	arm(ss, REPLY_MAX);
	if (mailimap_idle_done(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "connection lost in IDLE: %s", said(ss));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- POP3 */

/* One message of a POP3 listing, checked: numbers strictly increasing from 1. */
struct pop_msg {
	unsigned long n;
	unsigned long long size;
	char *uidl;
};

/* Sends one command (never the password: USER and PASS go through libetpan) and reads
 * its status line, the exchange bounded by bytes: 0 for +OK, 1 for -ERR, -1 (ss->err). */
static int pop_command(struct session *ss, size_t bytes, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pop_command(struct session *ss, size_t bytes, const char *fmt, ...)
{
	char cmd[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd - 2, fmt, ap);
	va_end(ap);
	size_t n = strlen(cmd);
	mailstream *st = ss->pop->pop3_stream;
	arm(ss, bytes);
	memcpy(cmd + n, "\r\n", 3);
	if (mailstream_write(st, cmd, n + 2) < 0 || mailstream_flush(st) < 0) {
		snprintf(ss->err, sizeof ss->err, "cannot send %.*s: %s", (int)n, cmd, said(ss));
		return -1;
	}
	char *line = mailstream_read_line_remove_eol(st, ss->line);
	if (!line) {
		snprintf(ss->err, sizeof ss->err, "no answer to %.*s: %s", (int)n, cmd, said(ss));
		return -1;
	}
	if (!strncmp(line, "+OK", 3))
		return 0;
	snprintf(ss->err, sizeof ss->err, "%.*s refused: %.200s", (int)n, cmd, line);
	return 1;
}

/* The next line of a multi-line answer, dot-unstuffed: the line (in ss->line, *len its
 * length), or NULL at its end ("." : *len = 0) or on failure (*len = 1, ss->err). */
static const char *pop_line(struct session *ss, size_t *len)
{
	char *line = mailstream_read_line_remove_eol(ss->pop->pop3_stream, ss->line);
	if (!line) {
		snprintf(ss->err, sizeof ss->err, "answer cut: %s", said(ss));
		*len = 1;
		return NULL;
	}
	*len = ss->line->len;
	if (line[0] == '.' && *len == 1) {
		*len = 0;
		return NULL;
	}
	if (line[0] == '.') {
		(*len)--;
		return line + 1;
	}
	return line;
}

/* A decimal number alone from s up to a space or the end: its value, or -1 (none, or past
 * max). *s is left after it. */
static long long pop_number(const char **s, unsigned long long max)
{
	unsigned long long v = 0;
	const char *p = *s;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > max)
			return -1;
	}
	*s = p;
	return (long long)v;
}

static void pop_list_free(struct pop_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].uidl);
	free(m);
}

/* LIST then UIDL, read and checked here: message numbers from 1, strictly increasing (gaps
 * are deleted messages), sizes below 4 GiB, UIDLs of 1 to 70 printable characters for
 * listed numbers only, each message with one. The messages (*n of them; caller frees with
 * pop_list_free), or NULL (ss->err). */
static struct pop_msg *pop_list(struct session *ss, size_t *count)
{
	struct pop_msg *m = NULL;
	size_t n = 0, cap = 0, len;
	const char *l;
	int r = pop_command(ss, LISTING_MAX, "LIST");
	if (r)
		return NULL;
	while ((l = pop_line(ss, &len))) {
		const char *p = l;
		long long num = pop_number(&p, 0xffffffffULL), size = -1;
		if (num > 0 && *p == ' ') {
			p++;
			size = pop_number(&p, 0xffffffffULL);
		}
		if (num <= 0 || size < 0 || (*p && *p != ' ') ||
		    (n && (unsigned long long)num <= m[n - 1].n)) {
			snprintf(ss->err, sizeof ss->err, "the server's LIST is not a listing: "
				 "\"%.60s\"", l);
			pop_list_free(m, n);
			return NULL;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			m = xrealloc(m, cap * sizeof *m);
		}
		m[n++] = (struct pop_msg){ (unsigned long)num, (unsigned long long)size, NULL };
	}
	if (len) {
		pop_list_free(m, n);
		return NULL;
	}
	r = n ? pop_command(ss, LISTING_MAX, "UIDL") : 0;
	if (r == 1)
		snprintf(ss->err, sizeof ss->err, "the server gives no UIDL: without it a message "
			 "cannot be fetched exactly once (use IMAP)");
	while (r == 0 && n && (l = pop_line(ss, &len))) {
		const char *p = l;
		long long num = pop_number(&p, 0xffffffffULL);
		size_t lo = 0, hi = n;
		while (num > 0 && lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (m[mid].n < (unsigned long long)num)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t ul = *p == ' ' ? strlen(p + 1) : 0;
		int ok = num > 0 && lo < n && m[lo].n == (unsigned long long)num && !m[lo].uidl &&
			 ul >= 1 && ul <= 70;
		for (size_t i = 0; ok && i < ul; i++)
			ok = p[1 + i] > 0x20 && p[1 + i] < 0x7f;
		if (!ok) {
			snprintf(ss->err, sizeof ss->err, "the server's UIDL is not a listing of its "
				 "LIST: \"%.60s\"", l);
			r = -1;
			break;
		}
		m[lo].uidl = xstrdup(p + 1);
	}
	if (r == 0 && n && len)
		r = -1;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!m[i].uidl) {
			snprintf(ss->err, sizeof ss->err, "the server gives no UIDL for message %lu: "
				 "without it a message cannot be fetched exactly once", m[i].n);
			r = -1;
		}
	}
	if (r) {
		pop_list_free(m, n);
		return NULL;
	}
	*count = n;
	return m;
}

/* Reads a multi-line answer into b (up to its maximum; the rest is read and dropped):
 * the bytes it had in all, or -1 (ss->err). */
static long long pop_body(struct session *ss, struct buf *b)
{
	unsigned long long total = 0;
	size_t len;
	const char *l;
	while ((l = pop_line(ss, &len))) {
		total += len + 2;
		size_t room = b->max > b->len ? b->max - b->len : 0;
		if (room)
			buf_append(b, l, len + 2 <= room ? len : room);
		if (len + 2 <= room)
			buf_append(b, "\r\n", 2);
	}
	return len ? -1 : (long long)total;
}

/* The identity of message m from its header (TOP m 0; from its size alone when the server
 * has no TOP): 0, or -1 (ss->err). */
static int pop_ident(struct session *ss, const struct pop_msg *m, char ident[IDENT_MAX])
{
	struct buf head;
	buf_init(&head, REPLY_MAX);
	int r = pop_command(ss, ss->c->max_message_size + MESSAGE_SLACK, "TOP %lu 0", m->n);
	if (r < 0 || (r == 0 && pop_body(ss, &head) < 0)) {
		buf_free(&head);
		return -1;
	}
	ident_of(m->size, head.data ? head.data : "", head.len, ident);
	buf_free(&head);
	return 0;
}

/* Downloads message m (keeping max_message_size + 1 bytes of it at most: the spool
 * quarantines it as oversize) and stores it. 0, or -1 (ss->err). */
static int pop_download(struct session *ss, const struct pop_msg *m, const char *origin,
			const char *ident)
{
	const struct config *c = ss->c;
	size_t most = c->max_message_size + 1;
	/* an honest server's message is its LIST size, and CRLF and dot-stuffing */
	size_t bytes = (m->size + m->size / 8 > most ? m->size + m->size / 8 : most) + MESSAGE_SLACK;
	struct buf b;
	buf_init(&b, most);
	int r = pop_command(ss, bytes, "RETR %lu", m->n);
	long long total = r == 0 ? pop_body(ss, &b) : -1;
	if (total >= 0) {
		r = keep(c, ss->l, origin, ident, b.data ? b.data : "", b.len);
		if (r < 0)
			snprintf(ss->err, sizeof ss->err, "cannot store a fetched message (see above)");
	}
	buf_free(&b);
	return total < 0 || r ? -1 : 0;
}

static int pop_open(struct session *ss)
{
	const struct config *c = ss->c;
	struct fetch_url *u = &ss->u;
	mailstream *st = session_connect(ss);
	if (!st)
		return -1;
	ss->pop = mailpop3_new(0, NULL);
	ss->line = mmap_string_new("");
	arm(ss, REPLY_MAX);
	if (mailpop3_connect(ss->pop, st) != MAILPOP3_NO_ERROR) {
		if (!ss->pop->pop3_stream)
			mailstream_close(st);
		snprintf(ss->err, sizeof ss->err, "no greeting from %s:%d: %s", u->host, u->port,
			 said(ss));
		return -1;
	}
	if (!u->tls && strcmp(c->fetch_tls, "no")) {
		arm(ss, REPLY_MAX);
		if (mailpop3_stls(ss->pop) != MAILPOP3_NO_ERROR) {
			snprintf(ss->err, sizeof ss->err, "STLS refused or failed on %s:%d (fetch_tls = "
				 "required; pop3s:// or fetch_tls = no otherwise): %s", u->host, u->port,
				 said(ss));
			return -1;
		}
		if (session_starttls(ss, ss->pop->pop3_stream) < 0)
			return -1;
	}
	const char *pass = u->password ? u->password : c->fetch_password;
	arm(ss, REPLY_MAX);
	if (mailpop3_user(ss->pop, u->user) != MAILPOP3_NO_ERROR ||
	    (arm(ss, REPLY_MAX), mailpop3_pass(ss->pop, pass)) != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "login as %s refused: %s", u->user, said(ss));
		return ss->w.why[0] ? -1 : -2;
	}
	return 0;
}

/* One pass over the mailbox, as imap_pass, then QUIT. */
static int pop_pass(struct session *ss, volatile int *stop)
{
	int del = !strcmp(ss->c->fetch_after, "delete");
	size_t total = 0;
	struct pop_msg *msgs = pop_list(ss, &total);
	if (!msgs && *ss->err)
		return -1;
	int spooled = 0, rc = 0;
	for (size_t i = 0; i < total && !(stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE)); i++) {
		char ident[IDENT_MAX];
		if (pop_ident(ss, &msgs[i], ident) < 0) {
			rc = -1;
			break;
		}
		char *origin = origin_of(&ss->u, msgs[i].uidl);
		int seen = fetch_ledger_seen(ss->l, origin, ident);
		if (seen < 0)
			snprintf(ss->err, sizeof ss->err, "ledger: %s", fetch_ledger_error(ss->l));
		int k = seen < 0 ? -1 : seen ? 0 : pop_download(ss, &msgs[i], origin, ident);
		free(origin);
		if (k < 0) {
			rc = -1;
			break;
		}
		spooled += !seen;
		/* POP3 has no \Seen: kept messages stay, and the ledger skips them next time */
		if (del && pop_command(ss, REPLY_MAX, "DELE %lu", msgs[i].n)) {
			rc = -1;
			break;
		}
		if (!stop)
			progress("fetch", i + 1, total);
	}
	pop_list_free(msgs, total);
	/* deletions take effect at QUIT; a cut before it leaves them, and the ledger skips them */
	if (rc == 0 && pop_command(ss, REPLY_MAX, "QUIT"))
		rc = -1;
	return rc < 0 ? -1 : spooled;
}

/* ---------------------------------------------------------------- sessions */

static int session_open(struct session *ss, const struct config *c, struct fetch_ledger *l,
			int stop_fd)
{
	memset(ss, 0, sizeof *ss);
	ss->c = c;
	ss->l = l;
	ss->w.fd = -1;
	ss->w.stop_fd = stop_fd;
	ss->w.silence_ms = c->fetch_timeout * 1000;
	if (fetch_url_parse(c->fetch_url, &ss->u) < 0) {
		snprintf(ss->err, sizeof ss->err, "fetch_url is not usable: %s", c->fetch_url);
		return -2;
	}
	ss->w.imap = ss->u.imap;
	return ss->u.imap ? imap_open(ss) : pop_open(ss);
}

/* Ends the session (with LOGOUT when polite, within one reply's limits); whatever libetpan
 * still says on the way out fails at once. */
static void session_close(struct session *ss, int polite)
{
	if (ss->imap) {
		if (polite) {
			wire_arm(&ss->w, REPLY_MAX, ss->c->fetch_timeout);
			mailimap_logout(ss->imap);
		}
		wire_arm(&ss->w, 0, 0);
		mailimap_free(ss->imap);
	}
	if (ss->pop) {
		wire_arm(&ss->w, 0, 0);
		mailpop3_free(ss->pop);
	}
	if (ss->line)
		mmap_string_free(ss->line);
	wire_shut(&ss->w);
	fetch_url_clear(&ss->u);
	ss->imap = NULL;
	ss->pop = NULL;
	ss->line = NULL;
}

/* The reason as the log line quotes it: no quote, backslash or control character. */
static void err_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
			*s = '?';
}

int fetch_once(const struct config *c, struct store *s)
{
	if (!*c->fetch_url) {
		log_err("stage=fetch error=\"fetch_url is not set\"");
		return -2;
	}
	struct fetch_ledger *l = fetch_ledger_open(c, s);
	if (!l)
		return -1;
	struct session ss;
	char *where = fetch_url_redacted(c->fetch_url);
	int r = session_open(&ss, c, l, -1);
	if (r == 0)
		r = ss.u.imap ? imap_pass(&ss, NULL) : pop_pass(&ss, NULL);
	if (r < 0) {
		err_clean(ss.err);
		log_err("stage=fetch mailbox=%s error=\"%s\"", where, ss.err);
	} else {
		log_info("stage=fetch mailbox=%s spooled=%d", where, r);
		progress_end("fetch: %d message%s stored in the spool", r, r == 1 ? "" : "s");
	}
	free(where);
	session_close(&ss, r >= 0 && !ss.pop);
	fetch_ledger_free(l);
	return r;
}

/* ---------------------------------------------------------------- in the daemon */

struct fetcher {
	const struct config *c;
	struct fetch_ledger *l;
	char *where;
	pthread_t thread;
	volatile int stop;	/* set by fetcher_stop in another thread: atomic loads and store */
	int stop_pipe[2];	/* written once by fetcher_stop: every wait of the thread wakes */
};

static int stopping(struct fetcher *f)
{
	return __atomic_load_n(&f->stop, __ATOMIC_ACQUIRE);
}

/* Sleeps up to seconds, or until the fetcher is stopped. */
static void nap(struct fetcher *f, long seconds)
{
	struct pollfd p = { .fd = f->stop_pipe[0], .events = POLLIN };
	long long end = clock_mono_ms() + seconds * 1000LL;
	for (long long left; !stopping(f) && (left = end - clock_mono_ms()) > 0;)
		poll(&p, 1, left > 60000 ? 60000 : (int)left);
}

static void *fetcher_run(void *arg)
{
	struct fetcher *f = arg;
	long backoff = 1;
	while (!stopping(f)) {
		struct session ss;
		int r = session_open(&ss, f->c, f->l, f->stop_pipe[0]);
		while (r == 0 && !stopping(f)) {
			int n = ss.u.imap ? imap_pass(&ss, &f->stop) : pop_pass(&ss, &f->stop);
			if (n < 0) {
				r = -1;
				break;
			}
			if (n > 0)
				log_info("stage=fetch mailbox=%s spooled=%d", f->where, n);
			backoff = 1;
			if (ss.imap && ss.idle) {
				if (imap_wait(&ss) < 0)
					r = -1;
			} else {
				/* POP3 ended its session with QUIT; IMAP without IDLE polls */
				if (ss.pop) {
					session_close(&ss, 1);
					nap(f, f->c->fetch_interval);
					if (!stopping(f))
						r = session_open(&ss, f->c, f->l, f->stop_pipe[0]);
					continue;
				}
				nap(f, f->c->fetch_interval);
			}
		}
		if (r < 0 && !stopping(f)) {
			err_clean(ss.err);
			log_err("stage=fetch mailbox=%s error=\"%s\" retry_in=%lds", f->where,
				ss.err, backoff);
		}
		session_close(&ss, r == 0 && !stopping(f));
		if (!stopping(f) && r < 0) {
			nap(f, backoff);
			backoff = backoff * 2 > f->c->fetch_interval ? f->c->fetch_interval : backoff * 2;
		}
	}
	return NULL;
}

struct fetcher *fetcher_start(const struct config *c)
{
	if (!*c->fetch_url)
		return NULL;
	struct fetcher *f = xcalloc(1, sizeof *f);
	f->c = c;
	if (pipe2(f->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_err("stage=fetch error=\"pipe: %s\"", strerror(errno));
		free(f);
		return NULL;
	}
	f->l = fetch_ledger_open(c, NULL);	/* the database only once, at an upgrade */
	f->where = fetch_url_redacted(c->fetch_url);
	if (!f->l || pthread_create(&f->thread, NULL, fetcher_run, f) != 0) {
		fetch_ledger_free(f->l);
		close(f->stop_pipe[0]);
		close(f->stop_pipe[1]);
		free(f->where);
		free(f);
		return NULL;
	}
	log_info("stage=fetch mailbox=%s result=started idle=when-offered", f->where);
	return f;
}

void fetcher_stop(struct fetcher *f)
{
	if (!f)
		return;
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	/* wakes the thread wherever it waits on the network; it returns within a moment */
	if (write(f->stop_pipe[1], "x", 1) < 0)
		log_err("stage=fetch error=\"cannot wake the fetcher: %s\"", strerror(errno));
	pthread_join(f->thread, NULL);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	fetch_ledger_free(f->l);
	free(f->where);
	free(f);
}
