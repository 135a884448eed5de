/*
 * smtp.c — SMTP delivery to the smarthost (the only file that uses libcurl): several
 * connections in parallel (smtp_connections, a thread each), each reused across messages.
 * libcurl opens each connection (CURLOPT_CONNECT_ONLY: greeting, EHLO, STARTTLS required or
 * opportunistic, AUTH), and carries every byte after it (curl_easy_send/recv, TLS included);
 * the mail transactions on it are written here: MAIL, RCPT and DATA in one write when the
 * server offers PIPELINING (RFC 2920), the dot-stuffed message and its final dot in one write.
 * That is two round trips and two writes a message, where libcurl's own transfers take four
 * round trips, five writes and as many polls.
 * In: outbox rows, each with its recipient, VERP envelope sender and bytes.
 * Out: one result per row through a callback, as soon as the server has answered the end of
 * DATA: sent (2xx), retry (4xx, timeout, dropped connection) or failed (5xx), with the server's
 * reply. Addresses are checked (compose_address_is_safe) before they reach the wire.
 * Bounds (a hostile smarthost cannot hold the sender): the connection set-up within
 * smtp_timeout in all, each reply within smtp_timeout in all and at most SMTP_REPLY_LINES
 * lines of SMTP_REPLY_BYTES, a transaction within 2 x smtp_timeout + its size at
 * SMTP_MIN_RATE; no transaction starts after the pass's time.
 */
#include "bidmail.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SMTP_REPLY_LINES 100	/* lines of one reply: EHLO has a dozen, the others one */
#define SMTP_REPLY_BYTES 16384	/* bytes of one reply (RFC 5321: lines of 512) */
#define SMTP_MIN_RATE 32768	/* bytes a second: a message slower than that is cut off */

/* One connection to the smarthost. */
struct conn {
	CURL *easy;
	curl_socket_t sock;
	int timeout;		/* seconds for the set-up, and for each reply */
	long long until;	/* monotonic ms: the end of the transaction in hand */
	long long deadline;	/* monotonic ms: the end of the wait in hand (<= until) */
	int pipelining;		/* the EHLO reply offered PIPELINING */
	int tls;		/* TLS on the connection: replies may wait inside GnuTLS */
	int up;
	char in[4096];		/* bytes received, not yet read as reply lines */
	size_t have, off;
	char last[400];		/* the last reply line libcurl saw while connecting */
	char err[CURL_ERROR_SIZE];
	struct buf out;		/* the message as it goes on the wire (dot-stuffed) */
};

/* Arms the wait in hand: ms from now, never past the transaction's end. */
static void conn_arm(struct conn *k, long long ms)
{
	k->deadline = clock_mono_ms() + ms;
	if (k->deadline > k->until)
		k->deadline = k->until;
}

/* libcurl hands the connection's reply lines (greeting, EHLO, STARTTLS, AUTH) to the header
 * callback: note PIPELINING, keep the last line for the error message. (libcurl itself ends
 * a set-up whose replies pass 300 KB, and TIMEOUT ends it in time.) */
static size_t connect_reply_cb(char *data, size_t one, size_t size, void *arg)
{
	struct conn *k = arg;
	(void)one;
	size_t n = size < sizeof k->last - 1 ? size : sizeof k->last - 1;
	memcpy(k->last, data, n);
	while (n > 0 && (k->last[n - 1] == '\r' || k->last[n - 1] == '\n'))
		n--;
	k->last[n] = '\0';
	charset_strip_controls(k->last, 0);
	if (size >= 14 && !strncmp(data, "250", 3) && !strncasecmp(data + 4, "PIPELINING", 10))
		k->pipelining = 1;
	return size;
}

static void conn_close(struct conn *k, int polite);

/* Opens the connection; 0, or -1 with the reason in why. */
static int conn_open(const struct config *c, struct conn *k, const char *url, char *why,
		     size_t whyn)
{
	conn_close(k, 0);
	k->easy = curl_easy_init();
	if (!k->easy) {
		snprintf(why, whyn, "out of memory (libcurl)");
		return -1;
	}
	CURL *e = k->easy;
	k->timeout = c->smtp_timeout;
	k->pipelining = 0;
	k->have = k->off = 0;
	k->last[0] = k->err[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->err);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, connect_reply_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* in CONNECT_ONLY mode the whole set-up (DNS, TCP, greeting, EHLO, STARTTLS, TLS, AUTH)
	 * is one transfer: TIMEOUT bounds it in all, CONNECTTIMEOUT its every phase */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->smtp_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->smtp_timeout);
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)c->smtp_timeout);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	long ssl = !strcmp(c->smtp_tls, "required") ? (long)CURLUSESSL_ALL
		   : !strcmp(c->smtp_tls, "no") ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_TRY;
	if (!strncmp(c->smarthost, "smtps://", 8))
		ssl = (long)CURLUSESSL_ALL;
	curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
	if (*c->smtp_ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->smtp_ca_file);
	if (*c->smtp_user) {
		curl_easy_setopt(e, CURLOPT_USERNAME, c->smtp_user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->smtp_password);
	}
	CURLcode rc = curl_easy_perform(e);
	if (rc != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &k->sock) != CURLE_OK ||
	    k->sock == CURL_SOCKET_BAD) {
		snprintf(why, whyn, "%s (%s)", k->last[0] ? k->last : "no reply",
			 k->err[0] ? k->err : curl_easy_strerror(rc));
		conn_close(k, 0);
		return -1;
	}
	struct curl_tlssessioninfo *ti = NULL;
	/* libcurl names its TLS library always, and the session only when one is in use */
	k->tls = curl_easy_getinfo(e, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || !ti ||
		 ti->internals != NULL;
	k->up = 1;
	return 0;
}

/* Waits until the socket is readable (events POLLIN) or writable: 0, or -1 once the armed
 * deadline has passed. */
static int conn_wait(struct conn *k, short events)
{
	struct pollfd p = { .fd = (int)k->sock, .events = events };
	for (;;) {
		long long left = k->deadline - clock_mono_ms();
		if (left <= 0)
			return -1;
		int r = poll(&p, 1, left > 3600000 ? 3600000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Sends len bytes before the armed deadline; 0 or -1. */
static int conn_send(struct conn *k, const char *data, size_t len)
{
	size_t done = 0;
	while (done < len) {
		if (clock_mono_ms() >= k->deadline)
			return -1;	/* a peer that takes a byte at a time */
		size_t n = 0;
		CURLcode rc = curl_easy_send(k->easy, data + done, len - done, &n);
		if (rc == CURLE_AGAIN) {
			if (conn_wait(k, POLLOUT) < 0)
				return -1;
			continue;
		}
		if (rc != CURLE_OK)
			return -1;
		done += n;
	}
	return 0;
}

/* Reads one reply (its lines up to the last, "DDD text"): its code, and its last line in
 * text; -1 with the reason in text when the connection is gone, the reply is not complete
 * within smtp_timeout (or the transaction's end), or longer than SMTP_REPLY_LINES lines or
 * SMTP_REPLY_BYTES bytes. */
static int conn_reply(struct conn *k, char *text, size_t textn)
{
	char line[512];
	size_t ln = 0, bytes = 0;
	int lines = 0;
	conn_arm(k, (long long)k->timeout * 1000);
	for (;;) {
		if (k->off == k->have) {
			if (clock_mono_ms() >= k->deadline)
				goto late;	/* under TLS a steady trickle never waits */
			/* in clear, the reply to what was just sent is not there yet: wait first
			 * (one poll and one read, not a read, a poll and a read); under TLS a
			 * record may already wait inside GnuTLS, so read first */
			if (!k->tls && conn_wait(k, POLLIN) < 0)
				goto late;
			size_t n = 0;
			CURLcode rc = curl_easy_recv(k->easy, k->in, sizeof k->in, &n);
			if (rc == CURLE_AGAIN) {
				if (conn_wait(k, POLLIN) < 0)
					goto late;
				continue;
			}
			if (rc != CURLE_OK || n == 0) {
				snprintf(text, textn, "connection closed by the server");
				return -1;
			}
			k->have = n;
			k->off = 0;
		}
		if (++bytes > SMTP_REPLY_BYTES) {
			snprintf(text, textn, "reply longer than %d bytes", SMTP_REPLY_BYTES);
			return -1;
		}
		char ch = k->in[k->off++];
		if (ch != '\n') {
			if (ln < sizeof line - 1)
				line[ln++] = ch;
			continue;
		}
		while (ln > 0 && line[ln - 1] == '\r')
			ln--;
		line[ln] = '\0';
		if (ln >= 3 && line[0] >= '1' && line[0] <= '5' && (ln == 3 || line[3] == ' ')) {
			charset_strip_controls(line, 0);
			size_t keep = ln < textn - 1 ? ln : textn - 1;
			memcpy(text, line, keep);
			text[keep] = '\0';
			return atoi(line);
		}
		if (++lines >= SMTP_REPLY_LINES) {
			snprintf(text, textn, "reply longer than %d lines", SMTP_REPLY_LINES);
			return -1;
		}
		ln = 0;		/* "DDD-": more lines follow */
	}
late:
	snprintf(text, textn, "no complete reply within %d s", k->timeout);
	return -1;
}

static void conn_close(struct conn *k, int polite)
{
	if (k->easy && k->up && polite) {
		char text[400];
		k->until = clock_mono_ms() + (long long)k->timeout * 1000;
		conn_arm(k, (long long)k->timeout * 1000);
		if (conn_send(k, "QUIT\r\n", 6) == 0)
			conn_reply(k, text, sizeof text);
	}
	if (k->easy)
		curl_easy_cleanup(k->easy);
	k->easy = NULL;
	k->up = 0;
}

/* The message as DATA carries it: lines starting with a dot get another, bare LF become
 * CR LF, then the final dot line. A line at a time (memchr), not a byte at a time. */
static int stuff(struct buf *b, const char *data, size_t len)
{
	b->len = 0;
	size_t i = 0;
	int rc = 0;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) : len;
		if (data[i] == '.')
			rc |= buf_putc(b, '.');
		if (!nl) {
			rc |= buf_append(b, data + i, len - i);
			break;
		}
		if (end > i && data[end - 1] == '\r') {
			rc |= buf_append(b, data + i, end + 1 - i);
		} else {
			rc |= buf_append(b, data + i, end - i);
			rc |= buf_append(b, "\r\n", 2);
		}
		i = end + 1;
	}
	rc |= buf_puts(b, len == 0 || data[len - 1] == '\n' ? ".\r\n" : "\r\n.\r\n");
	return rc ? -1 : 0;	/* never a truncated message on the wire */
}

static enum smtp_result by_code(int code)
{
	return code >= 200 && code < 300 ? SMTP_SENT : code >= 500 ? SMTP_FAILED : SMTP_RETRY;
}

/* One mail transaction on an open connection. The result, the server's reply in why; a lost
 * connection is a retry and leaves k->up at 0. */
static enum smtp_result transaction(struct conn *k, const char *sender, const char *rcpt,
				   const char *data, size_t len, char *why, size_t whyn)
{
	char cmd[700], text[400] = "";
	const char *lines[3];
	char mail[320], to[320];
	snprintf(mail, sizeof mail, "MAIL FROM:<%s>\r\n", sender);
	snprintf(to, sizeof to, "RCPT TO:<%s>\r\n", rcpt);
	lines[0] = mail;
	lines[1] = to;
	lines[2] = "DATA\r\n";
	int codes[3] = { 0, 0, 0 };
	char first_bad[400] = "";
	int bad = -1;	/* the first command refused */
	long long timeout = (long long)k->timeout * 1000;
	k->until = clock_mono_ms() + 2 * timeout + (long long)(len / SMTP_MIN_RATE) * 1000;
	conn_arm(k, timeout);
	if (k->pipelining) {
		snprintf(cmd, sizeof cmd, "%s%s%s", mail, to, lines[2]);
		if (conn_send(k, cmd, strlen(cmd)) < 0)
			goto lost;
	}
	for (int i = 0; i < 3; i++) {
		if (!k->pipelining) {
			if (bad >= 0)
				break;
			conn_arm(k, timeout);
			if (conn_send(k, lines[i], strlen(lines[i])) < 0)
				goto lost;
		}
		codes[i] = conn_reply(k, text, sizeof text);
		if (codes[i] < 0)
			goto lost;
		int ok = i < 2 ? codes[i] >= 200 && codes[i] < 300 : codes[i] == 354;
		if (!ok && bad < 0) {
			bad = i;
			snprintf(first_bad, sizeof first_bad, "%s", text);
		}
	}
	if (bad >= 0) {
		/* a server that said 354 after a refusal gets an empty message to end DATA */
		conn_arm(k, timeout);
		if (codes[2] == 354 && (conn_send(k, ".\r\n", 3) < 0 || conn_reply(k, text, sizeof text) < 0))
			goto lost;
		conn_arm(k, timeout);
		if (conn_send(k, "RSET\r\n", 6) < 0 || conn_reply(k, text, sizeof text) < 0)
			k->up = 0;
		snprintf(why, whyn, "%s (after %.4s)", first_bad, lines[bad]);
		return codes[bad] >= 500 ? SMTP_FAILED : SMTP_RETRY;
	}
	if (stuff(&k->out, data, len) < 0) {
		/* too large to carry: the connection is dropped inside DATA (the server discards
		 * the transaction; a dot would deliver an empty mail), and this one mail fails */
		conn_close(k, 0);
		snprintf(why, whyn, "message of %zu bytes too large to send", len);
		return SMTP_FAILED;
	}
	/* the message: smtp_timeout, and a second for each SMTP_MIN_RATE bytes */
	conn_arm(k, timeout + (long long)(k->out.len / SMTP_MIN_RATE) * 1000);
	if (conn_send(k, k->out.data, k->out.len) < 0) {
		snprintf(text, sizeof text, "message not taken within %lld s",
			 (timeout + (long long)(k->out.len / SMTP_MIN_RATE) * 1000) / 1000);
		goto lost;
	}
	int code = conn_reply(k, text, sizeof text);
	if (code < 0)
		goto lost;
	snprintf(why, whyn, "%s", text);
	return by_code(code);
lost:
	snprintf(why, whyn, "%s (connection dropped during the transaction)",
		 text[0] ? text : "no reply");
	k->up = 0;
	return SMTP_RETRY;
}

struct smtp_worker {
	const struct config *c;
	struct outbox_row *rows;
	int n;
	const char *(*sender_of)(const struct config *, const struct outbox_row *, char *, size_t);
	void (*done)(void *arg, struct outbox_row *row, enum smtp_result r, const char *why);
	void *arg;
	pthread_mutex_t *lock;	/* serialises done(): the caller's callback need not be thread-safe */
	long long stop;		/* monotonic ms: no transaction starts after it */
};

static void report(struct smtp_worker *w, struct outbox_row *row, enum smtp_result r,
		   const char *why)
{
	pthread_mutex_lock(w->lock);
	w->done(w->arg, row, r, why);
	pthread_mutex_unlock(w->lock);
}

/* One connection, for its share of the rows: opened on demand, reopened once after a loss;
 * when it cannot be opened, every row left waits for the next attempt with the reason. Rows
 * not started when the pass's time is over are left unreported, for the next pass. */
static void *worker_run(void *p)
{
	struct smtp_worker *w = p;
	const struct config *c = w->c;
	struct conn k;
	memset(&k, 0, sizeof k);
	buf_init(&k.out, 2 * c->max_message_size + 64);
	char *url = xasprintf("%s/%s", c->smarthost, c->domain);
	char sender[300], why[800];
	int failures = 0;
	for (int i = 0; i < w->n && clock_mono_ms() < w->stop; i++) {
		struct outbox_row *row = &w->rows[i];
		const char *from = w->sender_of(c, row, sender, sizeof sender);
		if (!compose_address_is_safe(row->to)) {
			report(w, row, SMTP_FAILED, "recipient is not a plain address");
			continue;
		}
		if (!compose_address_is_safe(from)) {
			report(w, row, SMTP_FAILED, "envelope sender is not a plain address");
			continue;
		}
		if (!k.up && (failures >= 2 || conn_open(c, &k, url, why, sizeof why) < 0)) {
			failures += failures < 2;
			/* the server cannot be reached: the row waits for its next attempt */
			report(w, row, SMTP_RETRY, why);
			continue;
		}
		why[0] = '\0';
		enum smtp_result r = transaction(&k, from, row->to, row->data, row->len, why, sizeof why);
		if (!k.up)
			failures++;
		else
			failures = 0;
		report(w, row, r, why);
	}
	conn_close(&k, 1);
	buf_free(&k.out);
	free(url);
	return NULL;
}

long smtp_time_bound(const struct config *c, int seconds)
{
	/* the last transaction starts before `seconds`: the set-up, the transaction of the
	 * largest message DATA can carry (stuffed, twice max_message_size), then QUIT */
	return seconds + 4L * c->smtp_timeout + (long)(2 * c->max_message_size / SMTP_MIN_RATE) + 1;
}

int smtp_deliver(const struct config *c, struct outbox_row *rows, int n, int seconds,
		 const char *(*sender_of)(const struct config *, const struct outbox_row *, char *,
					  size_t),
		 void (*done)(void *arg, struct outbox_row *row, enum smtp_result r,
			      const char *why),
		 void *arg)
{
	static int curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return -1;
		curl_ready = 1;
	}
	/* a thread per connection, each with its share of the rows */
	int threads = c->smtp_connections;
	if (threads > n)
		threads = n > 0 ? n : 1;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct smtp_worker *w = xcalloc((size_t)threads, sizeof *w);
	pthread_t *tid = xcalloc((size_t)threads, sizeof *tid);
	int start = 0;
	long long stop = clock_mono_ms() + (long long)seconds * 1000;
	for (int t = 0; t < threads; t++) {
		int share = n / threads + (t < n % threads ? 1 : 0);
		w[t] = (struct smtp_worker){ .c = c, .rows = rows + start, .n = share,
					     .sender_of = sender_of, .done = done, .arg = arg,
					     .lock = &lock, .stop = stop };
		start += share;
	}
	/* a worker whose thread cannot start runs in this thread after the first one */
	int *threaded = xcalloc((size_t)threads, sizeof *threaded);
	for (int t = 1; t < threads; t++)
		threaded[t] = pthread_create(&tid[t], NULL, worker_run, &w[t]) == 0;
	worker_run(&w[0]);
	for (int t = 1; t < threads; t++) {
		if (threaded[t])
			pthread_join(tid[t], NULL);
		else
			worker_run(&w[t]);
	}
	free(threaded);
	free(w);
	free(tid);
	return 0;
}
