/*
 * http.c — the one-click unsubscribe endpoint (RFC 8058), through GNU libmicrohttpd (the only
 * file that uses it), served behind the operator's TLS reverse proxy at public_url.
 * GET /u/KEY shows a page with one button and changes nothing (link scanners follow links);
 * POST /u/KEY with the body List-Unsubscribe=One-Click unsubscribes at once. Keys are the
 * signed unsubscribe keys of List-Unsubscribe; a bad key gets 404 and changes nothing.
 * Limits: a 1 KB body, headers within the connection memory limit (16 KB), 64 connections,
 * 8 per client address, 10 s idle timeout, http_rate_limit requests a second (then 429).
 */
#include "bidmail.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY 1024

struct http_server {
	struct MHD_Daemon *d;
	struct store *s;
	char *board;
	int rate;		/* requests a second */
	time_t window;		/* the second being counted */
	int count;
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *h = cls;
	int post = !strcmp(method, MHD_HTTP_METHOD_POST);
	if (!*con_cls) {
		/* first call: headers only; count the request against the rate */
		time_t now = time(NULL);
		if (now != h->window) {
			h->window = now;
			h->count = 0;
		}
		struct request *rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		if (++h->count > h->rate) {
			rq->too_big = 2;
			log_warn("stage=http result=rate-limited limit=%d/s", h->rate);
		}
		return MHD_YES;
	}
	struct request *rq = *con_cls;
	if (*upload_data_size) {
		if (rq->len + *upload_data_size > MAX_BODY)
			rq->too_big = rq->too_big ? rq->too_big : 1;
		else {
			memcpy(rq->body + rq->len, upload_data, *upload_data_size);
			rq->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->too_big == 2)
		return respond_page(conn, MHD_HTTP_TOO_MANY_REQUESTS, "en", "Too many requests",
				    "<p>Please try again in a moment.</p>");
	if (rq->too_big)
		return respond_page(conn, MHD_HTTP_CONTENT_TOO_LARGE, "en", "Request too large",
				    "<p>This request is larger than this page accepts.</p>");
	if (!post && strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_page(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "en", "Method not allowed",
				    "<p>Only GET and POST are served here.</p>");
	const char *key = strncmp(url, "/u/", 3) ? NULL : url + 3;
	rq->body[rq->len] = '\0';
	/* one lookup: a POST carrying the one-click body unsubscribes in the same call */
	int commit = post && strstr(rq->body, "List-Unsubscribe=One-Click");
	char *lang = NULL;
	int found = key && key_ok(key) ? robot_unsubscribe_key(h->s, key, commit, &lang) : 0;
	if (found < 0)
		return respond_page(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "en", "Try again later",
				    "<p>The board cannot answer right now; nothing was changed.</p>");
	if (found == 0) {
		log_info("stage=http method=%s result=unknown-key", method);
		return respond_page(conn, MHD_HTTP_NOT_FOUND, "en", "Not found",
				    "<p>This link is not valid (altered or incomplete). Nothing was "
				    "changed.</p>");
	}
	int fr = lang && !strcmp(lang, "fr");
	free(lang);
	if (post && !commit)
		return respond_page(conn, MHD_HTTP_BAD_REQUEST, fr ? "fr" : "en",
				    fr ? "Requête incomplète" : "Incomplete request",
				    fr ? "<p>Rien n'a été changé.</p>" : "<p>Nothing was changed.</p>");
	if (post)
		return respond_page(conn, MHD_HTTP_OK, fr ? "fr" : "en",
				    fr ? "Désabonnement effectué" : "You are unsubscribed",
				    fr ? "<p>Vous ne recevrez plus de sélections. Pour revenir, écrivez "
					 "« subscribe » au robot du guichet.</p>"
				       : "<p>You will receive no more selections. To come back, write "
					 "\"subscribe\" to the board's robot.</p>");
	char *form = xasprintf(
		"<p>%s</p>\n<form method=\"post\" action=\"%s\">"
		"<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
		"<button type=\"submit\" id=\"unsubscribe\">%s</button></form>",
		fr ? "Vous ne recevrez plus les sélections de projets de ce guichet."
		   : "You will no longer receive this board's project selections.",
		key, fr ? "Me désabonner" : "Unsubscribe");
	char *title = xasprintf("%s — %s", h->board, fr ? "désabonnement" : "unsubscribe");
	int ret = respond_page(conn, MHD_HTTP_OK, fr ? "fr" : "en", title, form);
	free(title);
	free(form);
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
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		log_err("stage=http listen=%s error=\"cannot listen: %s\"", listen, strerror(errno));
		return http_stop(h);
	}
	log_info("stage=http listen=%s result=started", listen);
	return h;
}

struct http_server *http_stop(struct http_server *h)
{
	if (!h)
		return NULL;
	if (h->d)
		MHD_stop_daemon(h->d);
	store_close(h->s);
	free(h->board);
	free(h);
	return NULL;
}
