/*
 * compose.c — outgoing mail as bytes: the one header encoder (CR, LF and controls stripped,
 * RFC 2047 for non-ASCII, folded), address checks for the SMTP envelope, and the message
 * builder (multipart/alternative text+HTML, UTF-8, quoted-printable, CRLF, lines < 998 octets).
 * In: rendered text and values that may come from users. Out: an owned RFC 5322 message.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_VALUE 900	/* bytes of user text kept in one header value */

/* Copies s with CR, LF, TAB and other controls turned into single spaces, trimmed, and cut
 * at max bytes on a character boundary. */
static char *clean_value(const char *s, size_t max)
{
	int repaired = 0;
	/* clean UTF-8, C1 and bidirectional controls removed */
	char *u = charset_to_utf8(NULL, s ? s : "", s ? strlen(s) : 0, &repaired);
	struct buf b;
	buf_init(&b, strlen(u) + 1);
	int space = 0;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			space = 1;
			continue;
		}
		if (*p == ' ') {
			space = 1;
			continue;
		}
		if (space && b.len)
			buf_putc(&b, ' ');
		space = 0;
		buf_putc(&b, (char)*p);
	}
	free(u);
	char *r = buf_steal(&b);
	size_t n = strlen(r);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
			n--;
		r[n] = '\0';
	}
	return r;
}

static int is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static void base64_encode(struct buf *b, const unsigned char *d, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		char o[4] = { t[(v >> 18) & 63], t[(v >> 12) & 63],
			      i + 1 < n ? t[(v >> 6) & 63] : '=', i + 2 < n ? t[v & 63] : '=' };
		buf_append(b, o, 4);
	}
}

/* Encodes text as RFC 2047 B words of at most 75 characters, never splitting a UTF-8
 * character, folded with CRLF SP between words. */
static void encode_words(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	int first = 1;
	while (i < n) {
		/* 45 bytes of UTF-8 -> 60 base64 chars + 12 of "=?UTF-8?B??=" = 72 */
		size_t take = n - i < 45 ? n - i : 45;
		while (take > 0 && i + take < n && (p[i + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			take = 1;
		if (!first)
			buf_puts(b, "\r\n ");
		buf_puts(b, "=?UTF-8?B?");
		base64_encode(b, p + i, take);
		buf_puts(b, "?=");
		i += take;
		first = 0;
	}
}

/* Folds an ASCII value at spaces so that lines stay under 78 characters where possible. */
static void fold_ascii(struct buf *b, const char *s, size_t used)
{
	size_t col = used;
	const char *p = s;
	while (*p) {
		const char *sp = strchr(p + 1, ' ');
		size_t wl = sp ? (size_t)(sp - p) : strlen(p);
		if (col + wl > 76 && p != s && *p == ' ') {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_append(b, p, wl);
		col += wl;
		p += wl;
	}
}

char *compose_header_value(const char *name, const char *value)
{
	char *v = clean_value(value, MAX_HEADER_VALUE);
	struct buf b;
	buf_init(&b, 16 * 1024);
	if (is_ascii(v) && !strstr(v, "=?"))
		fold_ascii(&b, v, strlen(name) + 2);
	else
		encode_words(&b, v);
	free(v);
	return buf_steal(&b);
}

int compose_address_is_safe(const char *addr)
{
	if (!addr)
		return 0;
	size_t n = strlen(addr);
	if (n == 0 || n > 254)
		return 0;
	const char *at = strrchr(addr, '@');
	if (!at || at == addr || !at[1] || (size_t)(at - addr) > 64)
		return 0;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>' || *p == '(' || *p == ')' ||
		    *p == ',' || *p == ';' || *p == ':' || *p == '\\' || *p == '"' || *p == '[' ||
		    *p == ']')
			return 0;
	return strchr(addr, '@') == at;
}

char *compose_address(const char *name, const char *addr)
{
	char *n = clean_value(name, 200);
	char *r;
	if (!*n) {
		r = xstrdup(addr);
	} else if (is_ascii(n) && !strstr(n, "=?")) {
		struct buf b;
		buf_init(&b, 1024);
		buf_putc(&b, '"');
		for (const char *p = n; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *p);
		}
		buf_printf(&b, "\" <%s>", addr);
		r = buf_steal(&b);
	} else {
		struct buf b;
		buf_init(&b, 4096);
		encode_words(&b, n);
		buf_printf(&b, " <%s>", addr);
		r = buf_steal(&b);
	}
	free(n);
	return r;
}

/* Whether p starts a bidirectional control (charset_bidi_control), tested only on the two lead
 * bytes such a control can have. */
static size_t qp_bidi(const unsigned char *p)
{
	return *p == 0xD8 || *p == 0xE2 ? charset_bidi_control((const char *)p) : 0;
}

/* A byte quoted-printable keeps as it is inside a line: printable ASCII but `=`. */
static int qp_plain(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '=';
}

void compose_encode_qp(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[1024];	/* encoded bytes gathered, appended to b when nearly full */
	size_t n = 0, col = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (n > sizeof out - 8) {
			buf_append(b, out, n);
			n = 0;
		}
		if (*p == '\n') {
			out[n++] = '\r';
			out[n++] = '\n';
			col = 0;
			continue;
		}
		if (*p == '\r')
			continue;
		/* the common bytes: printable, inside a line, no soft break due (what the general
		 * path below decides for each, without its look-ahead), copied as a run */
		if (qp_plain(*p) && col > 0 && col < 75) {
			size_t lim = 75 - col, k = 1;
			if (lim > sizeof out - 8 - n)
				lim = sizeof out - 8 - n;
			while (k < lim && qp_plain(p[k]))
				k++;
			memcpy(out + n, p, k);
			n += k;
			col += k;
			p += k - 1;
			continue;
		}
		size_t bidi = qp_bidi(p);
		if (bidi) {
			p += bidi - 1;	/* no bidirectional override reaches a reader */
			continue;
		}
		const unsigned char *q = p + 1;
		while (qp_bidi(q))
			q += qp_bidi(q);
		int end = q[0] == '\n' || q[0] == '\0' || (q[0] == '\r' && (q[1] == '\n' || !q[1]));
		int literal = (*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !end);
		size_t w = literal ? 1 : 3;
		if (col + w > 75) {
			memcpy(out + n, "=\r\n", 3);
			n += 3;
			col = 0;
		}
		/* a leading dot or F (of "From ") is encoded so no transport ever alters the line;
		 * checked after the soft break, which starts a line too */
		if (col == 0 && (*p == '.' || *p == 'F'))
			literal = 0, w = 3;
		if (literal) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '=';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
		col += w;
	}
	buf_append(b, out, n);
}

static void add_header(struct buf *b, const char *name, const char *raw)
{
	buf_printf(b, "%s: %s\r\n", name, raw);
}

char *compose_message(const struct config *c, const struct outgoing *o, char token[33],
		      size_t *len)
{
	struct buf b;
	buf_init(&b, 64 * 1024 * 1024);
	char date[48], boundary[40];
	/* the token (Message-ID, outbox key) begins with the time, so that the outbox's index
	 * on it grows at its end rather than at a random page per mail; 96 random bits follow */
	snprintf(token, 9, "%08llx", (unsigned long long)clock_now() & 0xffffffffULL);
	hash_random_hex(token + 8, 12);
	clock_format_rfc5322(clock_now(), date);
	snprintf(boundary, sizeof boundary, "=_bidmail_%.20s", token + 8);	/* random part */

	char *from = compose_address(o->from_name, o->from);
	char *to = compose_address(o->to_name, o->to);
	char *subject = compose_header_value("Subject", o->body->subject);
	add_header(&b, "Date", date);
	add_header(&b, "From", from);
	add_header(&b, "To", to);
	add_header(&b, "Subject", subject);
	buf_printf(&b, "Message-ID: <%s@%s>\r\n", token, c->domain);
	if (o->reply_to && compose_address_is_safe(o->reply_to))
		add_header(&b, "Reply-To", o->reply_to);
	/* threading; a signed key also rides in References so that a reply still routes when a
	 * provider drops the +tag of the Reply-To address */
	char *irt = NULL;
	if (o->in_reply_to && *o->in_reply_to) {
		irt = clean_value(o->in_reply_to, 900);
		if (strchr(irt, ' ') || strchr(irt, '<') || strchr(irt, '>')) {
			free(irt);
			irt = NULL;
		}
	}
	if (irt)
		buf_printf(&b, "In-Reply-To: <%s>\r\n", irt);
	if (irt || o->key_ref) {
		buf_puts(&b, "References:");
		if (irt)
			buf_printf(&b, " <%s>", irt);
		if (o->key_ref)
			buf_printf(&b, "%s<%s@%s>", irt ? "\r\n " : " ", o->key_ref, c->domain);
		buf_puts(&b, "\r\n");
	}
	free(irt);
	if (o->unsubscribe_key) {
		/* mails to subscribers: RFC 2919 List-Id, RFC 2369 List-Unsubscribe (a signed
		 * mailto: that unsubscribes on receipt), and RFC 8058 one-click over https when the
		 * board has a public URL */
		const char *at = strrchr(c->robot_address, '@');
		buf_printf(&b, "List-Id: %s <projects.%s>\r\n", c->board_name, c->domain);
		buf_printf(&b, "List-Unsubscribe: <mailto:%.*s+%s%s?subject=unsubscribe>",
			   (int)(at - c->robot_address), c->robot_address, o->unsubscribe_key, at);
		if (*c->public_url) {
			size_t ul = strlen(c->public_url);
			buf_printf(&b, ",\r\n <%.*s/u/%s>", (int)(c->public_url[ul - 1] == '/' ? ul - 1 : ul),
				   c->public_url, o->unsubscribe_key);
		}
		buf_puts(&b, "\r\n");
		if (*c->public_url)
			add_header(&b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
	}
	add_header(&b, "MIME-Version", "1.0");
	add_header(&b, "Auto-Submitted", o->auto_submitted ? o->auto_submitted : "auto-generated");
	add_header(&b, "X-Loop", c->robot_address);
	char mixed[48];
	snprintf(mixed, sizeof mixed, "=_bidmail_mixed_%.16s", token + 8);
	int with_files = 0;
	for (size_t i = 0; i < o->n_attachments; i++)
		with_files |= o->attachments[i].data != NULL;
	if (with_files) {
		/* relayed attachments: multipart/mixed around the alternative */
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", mixed);
		buf_puts(&b, "This is a message in MIME format.\r\n");
		buf_printf(&b, "\r\n--%s\r\n", mixed);
		buf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
	} else {
		buf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
		buf_puts(&b, "This is a message in MIME format.\r\n");
	}
	buf_printf(&b, "\r\n--%s\r\n", boundary);
	buf_puts(&b, "Content-Type: text/plain; charset=UTF-8\r\n"
		     "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	compose_encode_qp(&b, o->body->text);
	buf_printf(&b, "\r\n--%s\r\n", boundary);
	buf_puts(&b, "Content-Type: text/html; charset=UTF-8\r\n"
		     "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	compose_encode_qp(&b, o->body->html);
	buf_printf(&b, "\r\n--%s--\r\n", boundary);
	for (size_t i = 0; with_files && i < o->n_attachments; i++) {
		const struct attachment *a = &o->attachments[i];
		if (!a->data)
			continue;
		/* the type is ours to trust only when it looks like one */
		const char *type = a->type && strchr(a->type, '/') && !strpbrk(a->type, " \t\r\n;\"")
				   ? a->type : "application/octet-stream";
		buf_printf(&b, "\r\n--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: base64\r\n",
			   mixed, type);
		/* RFC 2231 file name: UTF-8, percent-encoded, never a raw byte in a header */
		buf_puts(&b, "Content-Disposition: attachment; filename*=UTF-8''");
		char *name = clean_value(a->name ? a->name : "attachment", 200);
		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			if (isalnum(*p) || strchr(".-_", *p))
				buf_putc(&b, (char)*p);
			else
				buf_printf(&b, "%%%02X", *p);
		}
		free(name);
		buf_puts(&b, "\r\n\r\n");
		for (size_t off = 0; off < a->size; off += 57) {
			size_t n = a->size - off < 57 ? a->size - off : 57;
			base64_encode(&b, (const unsigned char *)a->data + off, n);
			buf_puts(&b, "\r\n");
		}
	}
	if (with_files)
		buf_printf(&b, "\r\n--%s--\r\n", mixed);
	free(from);
	free(to);
	free(subject);
	*len = b.len;
	return buf_steal(&b);
}
