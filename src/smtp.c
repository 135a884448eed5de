/*
 * smtp.c — SMTP delivery to the smarthost through libcurl's multi interface (the only file
 * that uses libcurl): several connections in parallel (smtp_connections), each reused across
 * messages, STARTTLS required or opportunistic, optional AUTH.
 * One event loop (a thread with its own multi handle) per connection.
 * In: outbox rows, each with its recipient, VERP envelope sender and bytes.
 * Out: one result per row through a callback, as soon as the server has answered the end of
 * DATA: sent (2xx), retry (4xx, timeout, dropped connection) or failed (5xx), with the server's
 * reply. Addresses are checked (compose_address_is_safe) before they reach libcurl.
 */
#include "bidmail.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct smtp_slot {
	CURL *easy;
	struct curl_slist *rcpt;
	struct outbox_row *row;
	const char *sender;
	size_t off;
	char from[300];
	char to[300];
	char err[CURL_ERROR_SIZE];
	char reply[400];	/* the last reply line the server sent */
	int busy;
};

static size_t read_cb(char *out, size_t size, size_t nitems, void *arg)
{
	struct smtp_slot *s = arg;
	size_t room = size * nitems, left = s->row->len - s->off;
	size_t n = left < room ? left : room;
	memcpy(out, s->row->data + s->off, n);
	s->off += n;
	return n;
}

/* libcurl hands every SMTP response line to the header callback: keep the first refusal
 * (4xx/5xx) of the transaction, else the last line (its text goes into last_error). */
static size_t reply_cb(char *data, size_t one, size_t size, void *arg)
{
	struct smtp_slot *s = arg;
	(void)one;
	if (s->reply[0] == '4' || s->reply[0] == '5')
		return size;
	size_t n = size < sizeof s->reply - 1 ? size : sizeof s->reply - 1;
	memcpy(s->reply, data, n);
	while (n > 0 && (s->reply[n - 1] == '\r' || s->reply[n - 1] == '\n'))
		n--;
	s->reply[n] = '\0';
	charset_strip_controls(s->reply, 0);
	return size;
}

static void slot_setup(const struct config *c, struct smtp_slot *s, const char *url)
{
	CURL *e = s->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->err);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reply_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->smtp_timeout);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->smtp_timeout);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	long ssl = !strcmp(c->smtp_tls, "required") ? (long)CURLUSESSL_ALL
		   : !strcmp(c->smtp_tls, "no") ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_TRY;
	if (!strncmp(c->smarthost, "smtps://", 8))
		ssl = (long)CURLUSESSL_ALL;
	curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
	if (*c->smtp_user) {
		curl_easy_setopt(e, CURLOPT_USERNAME, c->smtp_user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->smtp_password);
	}
}

/* Starts one row on a free slot; 0, or -1 when the row cannot go (reason in *why). */
static int slot_start(struct smtp_slot *s, struct outbox_row *row, const char *sender,
		      const char **why)
{
	if (!compose_address_is_safe(row->to)) {
		*why = "recipient is not a plain address";
		return -1;
	}
	if (!compose_address_is_safe(sender)) {
		*why = "envelope sender is not a plain address";
		return -1;
	}
	s->row = row;
	s->sender = sender;
	s->off = 0;
	s->err[0] = s->reply[0] = '\0';
	snprintf(s->from, sizeof s->from, "<%s>", sender);
	snprintf(s->to, sizeof s->to, "<%s>", row->to);
	curl_slist_free_all(s->rcpt);
	s->rcpt = curl_slist_append(NULL, s->to);
	curl_easy_setopt(s->easy, CURLOPT_MAIL_FROM, s->from);
	curl_easy_setopt(s->easy, CURLOPT_MAIL_RCPT, s->rcpt);
	curl_easy_setopt(s->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)row->len);
	s->busy = 1;
	return 0;
}

/* What a finished transfer means: SMTP_SENT, SMTP_RETRY or SMTP_FAILED, with the reason. */
static enum smtp_result classify_result(struct smtp_slot *s, CURLcode rc, char *why, size_t len)
{
	long code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code >= 200 && code < 300)
		return SMTP_SENT;
	const char *server = s->reply[0] ? s->reply : "no reply";
	snprintf(why, len, "%s (%s)", server, s->err[0] ? s->err : curl_easy_strerror(rc));
	if (code >= 500 && code < 600)
		return SMTP_FAILED;
	if (rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED)
		return SMTP_RETRY;	/* the operator's configuration: keep the mail */
	return SMTP_RETRY;
}

struct smtp_worker {
	const struct config *c;
	struct outbox_row *rows;
	int n;
	int conns;
	const char *(*sender_of)(const struct config *, const struct outbox_row *, char *, size_t);
	void (*done)(void *arg, struct outbox_row *row, enum smtp_result r, const char *why);
	void *arg;
	pthread_mutex_t *lock;	/* serialises done(): the caller's callback need not be thread-safe */
};

static void report(struct smtp_worker *w, struct outbox_row *row, enum smtp_result r,
		   const char *why)
{
	pthread_mutex_lock(w->lock);
	w->done(w->arg, row, r, why);
	pthread_mutex_unlock(w->lock);
}

/* One event loop: its own multi handle and `conns` connections, for its share of the rows. */
static void *worker_run(void *p)
{
	struct smtp_worker *w = p;
	const struct config *c = w->c;
	int nslots = w->conns;	/* no pending transfers: each slot owns a connection */
	struct smtp_slot *slots = xcalloc((size_t)nslots, sizeof *slots);
	char **senders = xcalloc((size_t)nslots, sizeof *senders);
	CURLM *multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->conns);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)w->conns);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)w->conns);
	char *url = xasprintf("%s/%s", c->smarthost, c->domain);
	for (int i = 0; i < nslots; i++) {
		slots[i].easy = curl_easy_init();
		slot_setup(c, &slots[i], url);
		senders[i] = xmalloc(300);
	}
	int next = 0, running = 0, active = 0;
	char why[800];
	for (;;) {
		/* fill free slots */
		for (int i = 0; i < nslots && next < w->n; i++) {
			if (slots[i].busy)
				continue;
			const char *bad = NULL;
			const char *sender = w->sender_of(c, &w->rows[next], senders[i], 300);
			if (slot_start(&slots[i], &w->rows[next], sender, &bad) < 0) {
				report(w, &w->rows[next], SMTP_FAILED, bad);
				next++;
				i--;
				continue;
			}
			curl_multi_add_handle(multi, slots[i].easy);
			active++;
			next++;
		}
		if (active == 0)
			break;
		curl_multi_perform(multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct smtp_slot *s = NULL;
			for (int i = 0; i < nslots; i++)
				if (slots[i].easy == msg->easy_handle)
					s = &slots[i];
			if (!s)
				continue;
			CURLcode rc = msg->data.result;
			why[0] = '\0';
			enum smtp_result r = classify_result(s, rc, why, sizeof why);
			curl_multi_remove_handle(multi, s->easy);
			s->busy = 0;
			active--;
			report(w, s->row, r, why);
		}
		if (active > 0 && running > 0)
			curl_multi_poll(multi, NULL, 0, 200, NULL);
	}
	for (int i = 0; i < nslots; i++) {
		curl_multi_remove_handle(multi, slots[i].easy);
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].rcpt);
		free(senders[i]);
	}
	curl_multi_cleanup(multi);
	free(url);
	free(slots);
	free(senders);
	return NULL;
}

int smtp_deliver(const struct config *c, struct outbox_row *rows, int n,
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
	/* one event loop (a thread with its own multi handle) per connection: measured here, a
	 * multi handle driving several SMTP connections spends more CPU per message than one
	 * driving one, and the CPU per message, not the network, limits a fast smarthost */
	int threads = c->smtp_connections;
	if (threads > n)
		threads = n > 0 ? n : 1;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct smtp_worker *w = xcalloc((size_t)threads, sizeof *w);
	pthread_t *tid = xcalloc((size_t)threads, sizeof *tid);
	int start = 0;
	for (int t = 0; t < threads; t++) {
		int share = n / threads + (t < n % threads ? 1 : 0);
		w[t] = (struct smtp_worker){ .c = c, .rows = rows + start, .n = share,
					     .conns = c->smtp_connections / threads +
						      (t < c->smtp_connections % threads ? 1 : 0),
					     .sender_of = sender_of, .done = done, .arg = arg,
					     .lock = &lock };
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
