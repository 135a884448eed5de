/*
 * fetch.c — mail in from a mailbox instead of an MTA: `bidmail fetch`, and the daemon when
 * fetch_url is set. Polls an IMAP mailbox (and waits in IDLE when the server offers it) or a
 * POP3 mailbox through libetpan; TLS by default (imaps://, pop3s://, or STARTTLS for imap://
 * and pop3://), the server's certificate chain and name verified with GnuTLS before the
 * password is sent.
 * Each message is stored in the spool (fsynced) before it is marked \Seen or deleted, with
 * its origin in the mailbox (user@host/MAILBOX, UIDVALIDITY and UID; or the POP3 UIDL) as its
 * ingest key, and the origin goes in the `fetched` ledger so that it is never downloaded
 * twice. A cut anywhere loses nothing: a message stored but not yet in the ledger is fetched
 * again and its second copy is a duplicate the ingest stage ignores.
 */
#include "bidmail.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* ---------------------------------------------------------------- TLS */

/* Verifies the server's certificate chain against fetch_ca_file (or the system's CAs) and
 * its name against the host of the URL. 0, or -1 with the reason in err. */
static int verify_peer(const struct config *c, mailstream *stream, const char *host, char *err,
		       size_t errn)
{
	carray *chain = mailstream_get_certificate_chain(stream);
	if (!chain || carray_count(chain) == 0) {
		if (chain)
			mailstream_certificate_chain_free(chain);
		snprintf(err, errn, "the server sent no certificate");
		return -1;
	}
	unsigned n = carray_count(chain);
	gnutls_x509_crt_t *crts = xcalloc(n, sizeof *crts);
	gnutls_x509_trust_list_t tl = NULL;
	int rc = -1;
	unsigned got = 0;
	for (; got < n; got++) {
		MMAPString *der = carray_get(chain, got);
		gnutls_datum_t d = { (unsigned char *)der->str, (unsigned)der->len };
		if (gnutls_x509_crt_init(&crts[got]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[got], &d, GNUTLS_X509_FMT_DER) < 0) {
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
	mailstream_certificate_chain_free(chain);
	return rc;
}

static void set_sni(struct mailstream_ssl_context *ctx, void *host)
{
	mailstream_ssl_set_server_name(ctx, host);
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

/* Stores one downloaded message in the spool and the ledger. 0, or -1 (transient). */
static int keep(const struct config *c, struct store *s, const char *origin, const char *data,
		size_t len)
{
	int fd = memfd_create("bidmail-fetch", MFD_CLOEXEC);
	if (fd < 0) {
		log_err("stage=fetch origin=%s error=\"memfd: %s\"", origin, strerror(errno));
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_err("stage=fetch origin=%s error=\"memfd write: %s\"", origin,
				strerror(errno));
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	char *sender = return_path(data, len);
	enum outcome o = spool_deliver(c, fd, sender, NULL, origin);
	free(sender);
	close(fd);
	if (o != OUT_OK)
		return -1;
	/* safe on disk: now the ledger, so that it is not downloaded again */
	if (store_fetched_add(s, origin) < 0) {
		log_err("stage=fetch origin=%s error=\"ledger: %s\" (a second copy will be a "
			"duplicate)", origin, store_errmsg(s));
		return -1;
	}
	log_info("stage=fetch origin=%s size=%zu result=spooled", origin, len);
	return 0;
}

/* ---------------------------------------------------------------- IMAP */

struct session {
	const struct config *c;
	struct store *s;
	struct fetch_url u;
	mailimap *imap;
	mailpop3 *pop;
	int idle;		/* the server offers IDLE */
	char err[512];
};

static const char *imap_said(mailimap *imap)
{
	return imap && imap->imap_response ? imap->imap_response : "";
}

static int imap_open(struct session *ss)
{
	const struct config *c = ss->c;
	struct fetch_url *u = &ss->u;
	ss->imap = mailimap_new(0, NULL);
	mailimap_set_timeout(ss->imap, c->fetch_timeout);
	int r = u->tls ? mailimap_ssl_connect_with_callback(ss->imap, u->host, (uint16_t)u->port,
							    set_sni, u->host)
		       : mailimap_socket_connect(ss->imap, u->host, (uint16_t)u->port);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		snprintf(ss->err, sizeof ss->err, "cannot connect to %s:%d (libetpan error %d)",
			 u->host, u->port, r);
		return -1;
	}
	if (!u->tls && strcmp(c->fetch_tls, "no")) {
		r = mailimap_socket_starttls_with_callback(ss->imap, set_sni, u->host);
		if (r != MAILIMAP_NO_ERROR) {
			snprintf(ss->err, sizeof ss->err, "STARTTLS refused or failed on %s:%d (fetch_tls"
				 " = required; imaps:// or fetch_tls = no otherwise)", u->host, u->port);
			return -1;
		}
	}
	if ((u->tls || strcmp(c->fetch_tls, "no")) &&
	    verify_peer(c, ss->imap->imap_stream, u->host, ss->err, sizeof ss->err) < 0)
		return -1;
	const char *pass = u->password ? u->password : c->fetch_password;
	r = mailimap_login(ss->imap, u->user, pass);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "login as %s refused: %s", u->user, imap_said(ss->imap));
		return -2;
	}
	struct mailimap_capability_data *cap = NULL;
	if (mailimap_capability(ss->imap, &cap) == MAILIMAP_NO_ERROR)
		mailimap_capability_data_free(cap);
	ss->idle = mailimap_has_idle(ss->imap);
	return 0;
}

/* The message bytes in a FETCH answer. */
static int body_of(clist *fetched, const char **data, size_t *len)
{
	for (clistiter *i = clist_begin(fetched); i; i = clist_next(i)) {
		struct mailimap_msg_att *ma = clist_content(i);
		for (clistiter *j = clist_begin(ma->att_list); j; j = clist_next(j)) {
			struct mailimap_msg_att_item *it = clist_content(j);
			if (it->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
			    it->att_data.att_static->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) {
				struct mailimap_msg_att_body_section *b =
					it->att_data.att_static->att_data.att_body_section;
				*data = b->sec_body_part ? b->sec_body_part : "";
				*len = b->sec_length;
				return 0;
			}
		}
	}
	return -1;
}

static int imap_flag(struct session *ss, uint32_t uid)
{
	int del = !strcmp(ss->c->fetch_after, "delete");
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	mailimap_flag_list_add(fl, del ? mailimap_flag_new_deleted() : mailimap_flag_new_seen());
	struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
	struct mailimap_set *set = mailimap_set_new_single(uid);
	int r = mailimap_uid_store(ss->imap, set, sf);
	mailimap_set_free(set);
	mailimap_store_att_flags_free(sf);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "cannot mark UID %u %s: %s", uid,
			 del ? "deleted" : "seen", imap_said(ss->imap));
		return -1;
	}
	return 0;
}

/* One pass over the mailbox: every message not yet handled is spooled, then flagged.
 * The number spooled, or -1 (ss->err says why). */
static int imap_pass(struct session *ss, volatile int *stop)
{
	const struct config *c = ss->c;
	int del = !strcmp(c->fetch_after, "delete");
	int r = mailimap_select(ss->imap, ss->u.mailbox);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "cannot select %s: %s", ss->u.mailbox,
			 imap_said(ss->imap));
		return -1;
	}
	uint32_t validity = ss->imap->imap_selection_info ?
			    ss->imap->imap_selection_info->sel_uidvalidity : 0;
	struct mailimap_search_key *key = mailimap_search_key_new(
		del ? MAILIMAP_SEARCH_KEY_UNDELETED : MAILIMAP_SEARCH_KEY_UNSEEN, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL,
		NULL, NULL, NULL, 0, NULL, NULL, NULL);
	clist *uids = NULL;
	r = mailimap_uid_search(ss->imap, NULL, key, &uids);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "search failed: %s", imap_said(ss->imap));
		return -1;
	}
	int spooled = 0, rc = 0, flagged = 0;
	size_t total = (size_t)clist_count(uids), at = 0;
	for (clistiter *it = clist_begin(uids); it && !(stop && *stop); it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);
		char id[64];
		snprintf(id, sizeof id, "%u:%u", validity, uid);
		char *origin = origin_of(&ss->u, id);
		int seen = store_fetched_seen(ss->s, origin);
		if (seen < 0) {
			snprintf(ss->err, sizeof ss->err, "ledger: %s", store_errmsg(ss->s));
			free(origin);
			rc = -1;
			break;
		}
		if (!seen) {
			struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
			mailimap_fetch_type_new_fetch_att_list_add(
				ft, mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
			struct mailimap_set *set = mailimap_set_new_single(uid);
			clist *fetched = NULL;
			r = mailimap_uid_fetch(ss->imap, set, ft, &fetched);
			mailimap_set_free(set);
			mailimap_fetch_type_free(ft);
			const char *data;
			size_t len;
			if (r != MAILIMAP_NO_ERROR) {
				snprintf(ss->err, sizeof ss->err, "fetch of UID %u failed (libetpan error "
					 "%d): %s", uid, r, imap_said(ss->imap));
				free(origin);
				rc = -1;
				break;
			}
			if (body_of(fetched, &data, &len) < 0) {
				/* expunged by another client meanwhile: nothing to keep */
				mailimap_fetch_list_free(fetched);
				free(origin);
				continue;
			}
			int k = keep(c, ss->s, origin, data, len);
			mailimap_fetch_list_free(fetched);
			if (k < 0) {
				snprintf(ss->err, sizeof ss->err, "cannot store a fetched message (see above)");
				free(origin);
				rc = -1;
				break;
			}
			spooled++;
		}
		free(origin);
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
	if (rc == 0 && del && flagged && mailimap_expunge(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "expunge failed: %s", imap_said(ss->imap));
		rc = -1;
	}
	return rc < 0 ? -1 : spooled;
}

/* Waits in IDLE until the server says something, *stop, or fetch_interval: 0, or -1. */
static int imap_wait(struct session *ss, volatile int *stop)
{
	if (mailimap_idle(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "IDLE refused: %s", imap_said(ss->imap));
		return -1;
	}
	struct pollfd p = { .fd = mailimap_idle_get_fd(ss->imap), .events = POLLIN };
	for (long waited = 0; waited < ss->c->fetch_interval && !(stop && *stop); waited++)
		if (poll(&p, 1, 1000) > 0)
			break;
	if (mailimap_idle_done(ss->imap) != MAILIMAP_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "connection lost in IDLE");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- POP3 */

static const char *pop_said(mailpop3 *pop)
{
	return pop && pop->pop3_response ? pop->pop3_response : "";
}

static int pop_open(struct session *ss)
{
	const struct config *c = ss->c;
	struct fetch_url *u = &ss->u;
	ss->pop = mailpop3_new(0, NULL);
	mailpop3_set_timeout(ss->pop, c->fetch_timeout);
	int r = u->tls ? mailpop3_ssl_connect_with_callback(ss->pop, u->host, (uint16_t)u->port,
							    set_sni, u->host)
		       : mailpop3_socket_connect(ss->pop, u->host, (uint16_t)u->port);
	if (r != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "cannot connect to %s:%d (libetpan error %d)",
			 u->host, u->port, r);
		return -1;
	}
	if (!u->tls && strcmp(c->fetch_tls, "no") &&
	    mailpop3_socket_starttls_with_callback(ss->pop, set_sni, u->host) != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "STLS refused or failed on %s:%d (fetch_tls = "
			 "required; pop3s:// or fetch_tls = no otherwise)", u->host, u->port);
		return -1;
	}
	if ((u->tls || strcmp(c->fetch_tls, "no")) &&
	    verify_peer(c, ss->pop->pop3_stream, u->host, ss->err, sizeof ss->err) < 0)
		return -1;
	const char *pass = u->password ? u->password : c->fetch_password;
	if (mailpop3_user(ss->pop, u->user) != MAILPOP3_NO_ERROR ||
	    mailpop3_pass(ss->pop, pass) != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "login as %s refused: %s", u->user, pop_said(ss->pop));
		return -2;
	}
	return 0;
}

static int pop_pass(struct session *ss, volatile int *stop)
{
	const struct config *c = ss->c;
	int del = !strcmp(c->fetch_after, "delete");
	carray *msgs = NULL;
	if (mailpop3_list(ss->pop, &msgs) != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "LIST failed: %s", pop_said(ss->pop));
		return -1;
	}
	int spooled = 0;
	unsigned total = carray_count(msgs);
	for (unsigned i = 0; i < total && !(stop && *stop); i++) {
		struct mailpop3_msg_info *mi = carray_get(msgs, i);
		if (!mi || mi->msg_deleted)
			continue;
		if (!mi->msg_uidl) {
			snprintf(ss->err, sizeof ss->err, "the server gives no UIDL: without it a "
				 "message cannot be fetched exactly once (use IMAP)");
			return -1;
		}
		char *origin = origin_of(&ss->u, mi->msg_uidl);
		int seen = store_fetched_seen(ss->s, origin);
		if (seen < 0) {
			snprintf(ss->err, sizeof ss->err, "ledger: %s", store_errmsg(ss->s));
			free(origin);
			return -1;
		}
		if (!seen) {
			char *data = NULL;
			size_t len = 0;
			if (mailpop3_retr(ss->pop, mi->msg_index, &data, &len) != MAILPOP3_NO_ERROR) {
				snprintf(ss->err, sizeof ss->err, "RETR %u failed: %s", mi->msg_index,
					 pop_said(ss->pop));
				free(origin);
				return -1;
			}
			int k = keep(c, ss->s, origin, data, len);
			mailpop3_retr_free(data);
			if (k < 0) {
				snprintf(ss->err, sizeof ss->err, "cannot store a fetched message (see above)");
				free(origin);
				return -1;
			}
			spooled++;
		}
		free(origin);
		/* POP3 has no \Seen: kept messages stay, and the ledger skips them next time */
		if (del && mailpop3_dele(ss->pop, mi->msg_index) != MAILPOP3_NO_ERROR) {
			snprintf(ss->err, sizeof ss->err, "DELE %u failed: %s", mi->msg_index,
				 pop_said(ss->pop));
			return -1;
		}
		if (!stop)
			progress("fetch", i + 1, total);
	}
	/* deletions take effect at QUIT; a cut before it leaves them, and the ledger skips them */
	if (mailpop3_quit(ss->pop) != MAILPOP3_NO_ERROR) {
		snprintf(ss->err, sizeof ss->err, "QUIT failed: %s", pop_said(ss->pop));
		return -1;
	}
	return spooled;
}

/* ---------------------------------------------------------------- sessions */

static int session_open(struct session *ss, const struct config *c, struct store *s)
{
	memset(ss, 0, sizeof *ss);
	ss->c = c;
	ss->s = s;
	if (fetch_url_parse(c->fetch_url, &ss->u) < 0) {
		snprintf(ss->err, sizeof ss->err, "fetch_url is not usable: %s", c->fetch_url);
		return -2;
	}
	return ss->u.imap ? imap_open(ss) : pop_open(ss);
}

static void session_close(struct session *ss, int polite)
{
	if (ss->imap) {
		if (polite)
			mailimap_logout(ss->imap);
		mailimap_free(ss->imap);
	}
	if (ss->pop)
		mailpop3_free(ss->pop);
	fetch_url_clear(&ss->u);
	ss->imap = NULL;
	ss->pop = NULL;
}

int fetch_once(const struct config *c, struct store *s)
{
	if (!*c->fetch_url) {
		log_err("stage=fetch error=\"fetch_url is not set\"");
		return -2;
	}
	struct session ss;
	char *where = fetch_url_redacted(c->fetch_url);
	int r = session_open(&ss, c, s);
	if (r == 0)
		r = ss.u.imap ? imap_pass(&ss, NULL) : pop_pass(&ss, NULL);
	if (r < 0) {
		log_err("stage=fetch mailbox=%s error=\"%s\"", where, ss.err);
	} else {
		log_info("stage=fetch mailbox=%s spooled=%d", where, r);
		progress_end("fetch: %d message%s stored in the spool", r, r == 1 ? "" : "s");
	}
	free(where);
	session_close(&ss, r >= 0 && !ss.pop);
	return r;
}

/* ---------------------------------------------------------------- in the daemon */

struct fetcher {
	const struct config *c;
	struct store *s;
	char *where;
	pthread_t thread;
	volatile int stop;
};

/* Sleeps up to seconds, a second at a time, while *stop is not set. */
static void nap(volatile int *stop, long seconds)
{
	for (long i = 0; i < seconds && !*stop; i++)
		sleep(1);
}

static void *fetcher_run(void *arg)
{
	struct fetcher *f = arg;
	long backoff = 1;
	while (!f->stop) {
		struct session ss;
		int r = session_open(&ss, f->c, f->s);
		while (r == 0 && !f->stop) {
			int n = ss.u.imap ? imap_pass(&ss, &f->stop) : pop_pass(&ss, &f->stop);
			if (n < 0) {
				r = -1;
				break;
			}
			if (n > 0)
				log_info("stage=fetch mailbox=%s spooled=%d", f->where, n);
			backoff = 1;
			if (ss.imap && ss.idle) {
				if (imap_wait(&ss, &f->stop) < 0)
					r = -1;
			} else {
				/* POP3 ended its session with QUIT; IMAP without IDLE polls */
				if (ss.pop) {
					session_close(&ss, 1);
					nap(&f->stop, f->c->fetch_interval);
					if (!f->stop)
						r = session_open(&ss, f->c, f->s);
					continue;
				}
				nap(&f->stop, f->c->fetch_interval);
			}
		}
		if (r < 0 && !f->stop) {
			log_err("stage=fetch mailbox=%s error=\"%s\" retry_in=%lds", f->where,
				ss.err, backoff);
		}
		session_close(&ss, r == 0);
		if (!f->stop && r < 0) {
			nap(&f->stop, backoff);
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
	f->s = store_open(c->database, 0);
	if (!f->s) {
		free(f);
		return NULL;
	}
	f->where = fetch_url_redacted(c->fetch_url);
	if (pthread_create(&f->thread, NULL, fetcher_run, f) != 0) {
		store_close(f->s);
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
	f->stop = 1;
	pthread_join(f->thread, NULL);
	store_close(f->s);
	free(f->where);
	free(f);
}
