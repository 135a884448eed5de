/*
 * http.c — the one-click unsubscribe endpoint (RFC 8058), through GNU libmicrohttpd (the only
 * file that uses it), served behind the operator's TLS reverse proxy at public_url.
 * GET /u/KEY shows a page with one button and changes nothing (link scanners follow links);
 * POST /u/KEY with the body List-Unsubscribe=One-Click unsubscribes at once. Keys are the
 * signed unsubscribe keys of List-Unsubscribe; a bad key gets 404 and changes nothing.
 * Limits: a 1 KB body (a larger Content-Length gets 413 at the headers, before any body is
 * read), headers within the connection memory limit (16 KB), 64 connections, 8 per client
 * address, 5 s idle and 10 s in all per connection, http_rate_limit requests a second per
 * client (then 429). The client is the peer's address (an IPv6 one by its /64), or, from a
 * proxy on loopback, the last address of X-Forwarded-For (the one the proxy saw) when it is a
 * numeric address (an IPv6 one by its /64 too); anything else there leaves the peer the client.
 */
#include "bidmail.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY 1024
#define HTTP_IDLE 5		/* seconds a connection may stay silent */
#define HTTP_CONNECTION_TIME 10	/* seconds a connection may last in all (slow senders) */
#define RATE_SLOTS 1024		/* clients counted at once; more share slots (counted together) */
#define RATE_PROBES 8

struct rate_slot {
	char client[64];
	time_t window;		/* the second being counted */
	int count;
};

/* An open connection, for the total time limit: the watchdog shuts its socket down. */
struct open_conn {
	struct open_conn *next, *prev;
	int fd;
	time_t started;
	int cut;
};

struct http_server {
	struct MHD_Daemon *d;
	struct store *s;
	char *board;
	int rate;		/* requests a second per client */
	struct rate_slot slots[RATE_SLOTS];	/* only the MHD thread touches them */
	pthread_mutex_t mu;	/* the open connections, the watchdog's stop */
	pthread_cond_t wake;
	struct open_conn *conns;
	pthread_t watchdog;
	int watching, stop;
};

struct request {
	char body[MAX_BODY + 1];
	size_t len;
	int too_big;
};

static const char page_head[] =
	"<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	"<meta name=\"robots\" content=\"noindex\"><title>%s</title>"
	"<style>body{font-family:Arial,Helvetica,sans-serif;max-width:36em;margin:3em auto;"
	"padding:0 1em;line-height:1.5;color:#222}button{font-size:1.1em;padding:.5em 1.2em}"
	"</style></head><body>\n";

static int respond(struct MHD_Connection *conn, unsigned code, const char *html)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(html), (void *)html,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Robots-Tag", "noindex");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
	if (code == MHD_HTTP_TOO_MANY_REQUESTS)
		MHD_add_response_header(r, "Retry-After", "1");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, POST");
	int ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static int respond_page(struct MHD_Connection *conn, unsigned code, const char *lang,
			const char *title, const char *body)
{
	char *head = xasprintf(page_head, lang, title);
	char *html = xasprintf("%s<h1>%s</h1>\n%s\n</body></html>\n", head, title, body);
	int ret = respond(conn, code, html);
	free(head);
	free(html);
	return ret;
}

/* A page of the catalogue's title and paragraph (names in lang): copies, made under the
 * catalogue's lock, as this thread is not the one that swaps it on SIGHUP. */
static int respond_named(struct MHD_Connection *conn, unsigned code, const char *lang,
			 const char *title, const char *para)
{
	char *t = catalog_format(lang, title, NULL), *p = catalog_format(lang, para, NULL);
	char *body = xasprintf("<p>%s</p>", p);
	int ret = respond_page(conn, code, lang, t, body);
	free(body);
	free(p);
	free(t);
	return ret;
}

static int key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 100)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(k[i] == '-' || k[i] == '_' || (k[i] >= '0' && k[i] <= '9') ||
		      (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z')))
			return 0;
	return 1;
}

/* The client a request counts for: the peer's numeric address (IPv6 by its /64); from a
 * proxy on loopback, the last X-Forwarded-For entry. */
static void client_of(struct MHD_Connection *conn, char *out, size_t len)
{
	snprintf(out, len, "?");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	int loopback = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)len);
		loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		struct in6_addr a6 = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			/* an IPv4 client of a dual-stack listener (::ffff:a.b.c.d) is that IPv4
			 * address: its low 64 bits are the whole address */
			inet_ntop(AF_INET, a6.s6_addr + 12, out, (socklen_t)len);
			loopback = a6.s6_addr[12] == 127;
		} else {
			loopback = IN6_IS_ADDR_LOOPBACK(&a6);
			memset(a6.s6_addr + 8, 0, 8);	/* one /64 is one client */
			inet_ntop(AF_INET6, &a6, out, (socklen_t)len);
		}
	}
	const char *xff = loopback ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								  "X-Forwarded-For") : NULL;
	if (xff && *xff) {
		const char *last = strrchr(xff, ',');
		last = last ? last + 1 : xff;
		while (*last == ' ' || *last == '\t')
			last++;
		size_t n = strcspn(last, " \t");
		char ip[INET6_ADDRSTRLEN];
		struct in_addr f4;
		struct in6_addr f6;
		if (n && n < sizeof ip) {
			memcpy(ip, last, n);
			ip[n] = '\0';
			/* a proxy may add the port: "203.0.113.5:51234", "[2001:db8::1]:443" */
			char *colon = strchr(ip, ':');
			if (ip[0] == '[' && strchr(ip, ']')) {
				*strchr(ip, ']') = '\0';
				memmove(ip, ip + 1, strlen(ip));
			} else if (colon && !strchr(colon + 1, ':')) {
				*colon = '\0';
			}
			/* only a numeric address counts (anything else is the proxy's client "?"
			 * or a forgery: the peer stays the client); an IPv6 one by its /64 */
			if (inet_pton(AF_INET, ip, &f4) == 1) {
				inet_ntop(AF_INET, &f4, out, (socklen_t)len);
			} else if (inet_pton(AF_INET6, ip, &f6) == 1) {
				if (IN6_IS_ADDR_V4MAPPED(&f6)) {
					inet_ntop(AF_INET, f6.s6_addr + 12, out, (socklen_t)len);
				} else {
					memset(f6.s6_addr + 8, 0, 8);
					inet_ntop(AF_INET6, &f6, out, (socklen_t)len);
				}
			}
		}
	}
}

/* Counts a request of client in the current second: 1 within http_rate_limit, 0 for the
 * first one beyond (to be logged), -1 for the next ones (a flood writes one log line a second). */
static int rate_take(struct http_server *h, const char *client, time_t now)
{
	unsigned hash = 2166136261u;
	for (const char *p = client; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	struct rate_slot *free_slot = NULL, *slot = NULL;
	for (int i = 0; i < RATE_PROBES && !slot; i++) {
		struct rate_slot *r = &h->slots[(hash + (unsigned)i) % RATE_SLOTS];
		if (!strcmp(r->client, client))
			slot = r;
		else if (!free_slot && r->window != now)
			free_slot = r;
	}
	if (!slot && free_slot) {
		slot = free_slot;
		snprintf(slot->client, sizeof slot->client, "%s", client);
		slot->window = now;
		slot->count = 0;
	}
	if (!slot)
		slot = &h->slots[hash % RATE_SLOTS];	/* all probed slots busy: counted together */
	if (slot->window != now) {
		slot->window = now;
		slot->count = 0;
	}
	if (slot->count < h->rate) {
		slot->count++;
		return 1;
	}
	if (slot->count == h->rate) {
		slot->count++;	/* the first refusal of this second */
		return 0;
	}
	return -1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *h = cls;
	int post = !strcmp(method, MHD_HTTP_METHOD_POST);
	if (!*con_cls) {
		/* first call: headers only; count the request against its client's rate, and
		 * answer a refusal now, before any body is read */
		struct request *rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		char client[64];
		client_of(conn, client, sizeof client);
		int k = rate_take(h, client, time(NULL));
		if (k <= 0) {
			if (k == 0)
				log_warn("stage=http client=%s result=rate-limited limit=%d/s (logged once "
					 "a second)", client, h->rate);
			return respond_named(conn, MHD_HTTP_TOO_MANY_REQUESTS, "en", "http.rate_title",
					     "http.rate");
		}
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && (strspn(cl, "0123456789") != strlen(cl) || strlen(cl) > 9 ||
			   strtoul(cl, NULL, 10) > MAX_BODY)) {
			log_info("stage=http client=%s result=too-large content_length=%.20s", client, cl);
			return respond_named(conn, MHD_HTTP_CONTENT_TOO_LARGE, "en",
					     "http.too_large_title", "http.too_large");
		}
		return MHD_YES;
	}
	struct request *rq = *con_cls;
	if (*upload_data_size) {
		if (rq->len + *upload_data_size > MAX_BODY)
			rq->too_big = 1;	/* chunked, without a Content-Length */
		else {
			memcpy(rq->body + rq->len, upload_data, *upload_data_size);
			rq->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->too_big)
		return respond_named(conn, MHD_HTTP_CONTENT_TOO_LARGE, "en", "http.too_large_title",
				     "http.too_large");
	if (!post && strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_named(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "en", "http.method_title",
				     "http.method");
	const char *key = strncmp(url, "/u/", 3) ? NULL : url + 3;
	rq->body[rq->len] = '\0';
	/* one lookup: a POST carrying the one-click body unsubscribes in the same call */
	int commit = post && strstr(rq->body, "List-Unsubscribe=One-Click");
	char *lang = NULL;
	int found = key && key_ok(key) ? robot_unsubscribe_key(h->s, key, commit, &lang) : 0;
	if (found < 0)
		return respond_named(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "en", "http.later_title",
				     "http.later");
	if (found == 0) {
		log_info("stage=http method=%s result=unknown-key", method);
		return respond_named(conn, MHD_HTTP_NOT_FOUND, "en", "http.not_found_title",
				     "http.not_found");
	}
	/* the subscriber's language when the catalogue has it (English otherwise, as before) */
	char pl[32];
	snprintf(pl, sizeof pl, "%s", lang && catalog_language_known(lang) ? lang : "en");
	free(lang);
	if (post && !commit)
		return respond_named(conn, MHD_HTTP_BAD_REQUEST, pl, "http.incomplete_title",
				     "http.incomplete");
	if (post)
		return respond_named(conn, MHD_HTTP_OK, pl, "http.done_title", "http.done");
	char *confirm = catalog_format(pl, "http.confirm", NULL);
	char *button = catalog_format(pl, "http.button", NULL);
	char *form = xasprintf(
		"<p>%s</p>\n<form method=\"post\" action=\"%s\">"
		"<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
		"<button type=\"submit\" id=\"unsubscribe\">%s</button></form>",
		confirm, key, button);
	struct vars v = { 0 };
	vars_set(&v, "board", h->board);
	char *title = catalog_format(pl, "http.page_title", &v);
	int ret = respond_page(conn, MHD_HTTP_OK, pl, title, form);
	free(title);
	free(form);
	free(button);
	free(confirm);
	return ret;
}

static void done(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

/* Keeps the open connections listed, for the watchdog. */
static void notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		   enum MHD_ConnectionNotificationCode code)
{
	struct http_server *h = cls;
	pthread_mutex_lock(&h->mu);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct open_conn *o = xcalloc(1, sizeof *o);
		o->fd = ci ? ci->connect_fd : -1;
		o->started = time(NULL);
		o->next = h->conns;
		if (h->conns)
			h->conns->prev = o;
		h->conns = o;
		*socket_context = o;
	} else if (*socket_context) {
		/* before libmicrohttpd closes the descriptor: never shut down a reused one */
		struct open_conn *o = *socket_context;
		if (o->prev)
			o->prev->next = o->next;
		else
			h->conns = o->next;
		if (o->next)
			o->next->prev = o->prev;
		free(o);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&h->mu);
}

/* Shuts down connections open longer than HTTP_CONNECTION_TIME (a slow sender that keeps
 * within the idle timeout byte by byte); libmicrohttpd then closes them. */
static void *watch(void *arg)
{
	struct http_server *h = arg;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		time_t now = time(NULL);
		for (struct open_conn *o = h->conns; o; o = o->next)
			if (!o->cut && o->fd >= 0 && now - o->started >= HTTP_CONNECTION_TIME) {
				shutdown(o->fd, SHUT_RDWR);
				o->cut = 1;
			}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->wake, &h->mu, &until);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

struct http_server *http_start(const struct config *c, const char *listen)
{
	struct addrinfo *ai;
	if (config_listen_address(listen, &ai) < 0) {
		log_err("stage=http listen=%s error=\"want a numeric HOST:PORT, e.g. 127.0.0.1:8025\"",
			listen);
		return NULL;
	}
	struct http_server *h = xcalloc(1, sizeof *h);
	h->board = xstrdup(c->board_name);
	h->rate = c->http_rate_limit;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->wake, NULL);
	h->s = store_open(c->database, 0);
	if (!h->s) {
		freeaddrinfo(ai);
		return http_stop(h);
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
				MHD_OPTION_CONNECTION_LIMIT, 64u,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE,
				MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, notify, h,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		log_err("stage=http listen=%s error=\"cannot listen: %s\"", listen, strerror(errno));
		return http_stop(h);
	}
	if (pthread_create(&h->watchdog, NULL, watch, h) != 0) {
		log_err("stage=http error=\"cannot start the connection watchdog\"");
		return http_stop(h);
	}
	h->watching = 1;
	log_info("stage=http listen=%s result=started", listen);
	return h;
}

struct http_server *http_stop(struct http_server *h)
{
	if (!h)
		return NULL;
	if (h->watching) {
		pthread_mutex_lock(&h->mu);
		h->stop = 1;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->watchdog, NULL);
	}
	if (h->d)
		MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->wake);
	store_close(h->s);
	free(h->board);
	free(h);
	return NULL;
}
