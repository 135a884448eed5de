/*
 * mime.c — raw message bytes to struct message, through libetpan (the only file that uses it).
 * In: the bytes of one RFC 5322 message, however broken. Out: clean UTF-8 fields (addresses,
 * subject, date, ids, body text, attachments, Authentication-Results, delivery-status) and the
 * repairs made, named in errors. Limits are checked first by a linear pre-scan
 * (mime_check_limits) because libetpan recurses once per nesting level and per nested comment
 * (deep input overflows the stack) and its parse time grows with the square of the depth.
 */
#include "bidmail.h"

#include <ctype.h>
#include <libetpan/libetpan.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TEXT_BODY (4u * 1024 * 1024)	/* decoded body text kept, bytes */

/* ------------------------------------------------------------------ limits pre-scan */

/* Finds the value of boundary= in a Content-Type header's text; returns length or 0. */
static size_t find_boundary(const char *h, size_t n, const char **out)
{
	for (size_t i = 0; i + 9 <= n; i++) {
		if (strncasecmp(h + i, "boundary=", 9) != 0)
			continue;
		if (i > 0 && (isalnum((unsigned char)h[i - 1]) || h[i - 1] == '-'))
			continue;
		const char *v = h + i + 9;
		size_t left = n - i - 9, len = 0;
		if (left && *v == '"') {
			v++, left--;
			while (len < left && v[len] != '"')
				len++;
		} else {
			while (len < left && !isspace((unsigned char)v[len]) && v[len] != ';')
				len++;
		}
		*out = v;
		return len > 70 ? 70 : len;
	}
	return 0;
}

/* The pre-scan follows the structure as libetpan will build it, without recursion: a stack
 * of the open composite entities (multipart with a boundary, message/rfc822), each line
 * tested first against the open boundaries from the outermost in (libetpan splits a
 * multipart's body before it parses the parts), then read as a header field when the line
 * is in a header section. Header fields are read by libetpan's own field parsers
 * (mailimf_optional_fields_parse, mailmime_field_parse), so `Content-Type :`, a tab before
 * the colon, folding, comments, case and `boundary = "b1"` are read exactly as the parser
 * reads them; delimiters, blank lines before a part's header and a digest's default type
 * follow libetpan's rules (tests/unit.c checks the depth against libetpan's own tree). */
#define SCAN_MAX_COMMENT_DEPTH 64	/* libetpan parses nested comments recursively */

enum scan_kind { SCAN_NONE, SCAN_MULTIPART, SCAN_RFC822 };

struct scan_entry {
	enum scan_kind kind;
	char *boundary;		/* SCAN_MULTIPART: owned */
	size_t n;
	int digest;		/* multipart/digest: a part without Content-Type is message/rfc822 */
	int started;		/* its first delimiter was seen */
	int parts;		/* the parts begun so far */
};

struct scan {
	const struct config *c;
	struct scan_entry *stack;
	int depth, parts;
	char *why;
	size_t why_len;
};

/* The deepest comment nesting in a field, outside quoted strings. */
static int comment_depth(const char *f, size_t n)
{
	int depth = 0, max = 0, quoted = 0;
	for (size_t i = 0; i < n; i++) {
		if (f[i] == '\\') {
			i++;
		} else if (quoted) {
			quoted = f[i] != '"';
		} else if (f[i] == '"' && depth == 0) {
			quoted = 1;
		} else if (f[i] == '(') {
			if (++depth > max)
				max = depth;
		} else if (f[i] == ')' && depth > 0) {
			depth--;
		}
	}
	return max;
}

/* 1 when the line can begin a header field: a name of printable characters, then spaces,
 * then the colon or the end of the line (the colon may come after a fold). Cheap: a body
 * line read as a possible header (a preamble) is never gathered with what follows it. */
static int field_start(const char *p, size_t ll)
{
	size_t i = 0;
	while (i < ll && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f && p[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < ll && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i == ll || p[i] == ':';
}

/* Reads one header field (f: its lines, folded ones included) with libetpan's own field
 * parsers: 0 when it is not a header field (the header section ends there), else 1, and
 * when it is a Content-Type that parses, *kind (and the boundary, owned) set and *ct 1. */
static int scan_field(const char *f, size_t n, int *ct, enum scan_kind *kind, char **boundary,
		      int *digest)
{
	size_t idx = 0;
	struct mailimf_fields *fields = NULL;
	*ct = 0;
	if (mailimf_optional_fields_parse(f, n, &idx, &fields) != MAILIMF_NO_ERROR || !fields)
		return 0;
	clistiter *it = clist_begin(fields->fld_list);
	int is_field = it != NULL;
	struct mailmime_field *mf = NULL;
	if (is_field) {
		struct mailimf_field *fl = clist_content(it);
		if (fl->fld_type == MAILIMF_FIELD_OPTIONAL_FIELD &&
		    mailmime_field_parse(fl->fld_data.fld_optional_field, &mf) == MAILIMF_NO_ERROR &&
		    mf->fld_type != MAILMIME_FIELD_TYPE) {
			mailmime_field_free(mf);
			mf = NULL;
		}
	}
	if (mf) {
		const struct mailmime_content *c = mf->fld_data.fld_content;
		const struct mailmime_type *t = c->ct_type;
		*ct = 1;
		*kind = SCAN_NONE;
		*boundary = NULL;
		*digest = 0;
		if (t && t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE && t->tp_data.tp_composite_type) {
			int ctype = t->tp_data.tp_composite_type->ct_type;
			char *b = ctype == MAILMIME_COMPOSITE_TYPE_MULTIPART
				  ? mailmime_extract_boundary(mf->fld_data.fld_content) : NULL;
			if (b) {
				*kind = SCAN_MULTIPART;
				*boundary = xstrdup(b);
				free(b);
				*digest = c->ct_subtype && !strcasecmp(c->ct_subtype, "digest");
			} else if (ctype == MAILMIME_COMPOSITE_TYPE_MESSAGE && c->ct_subtype &&
				   !strcasecmp(c->ct_subtype, "rfc822")) {
				*kind = SCAN_RFC822;
			}
		}
		mailmime_field_free(mf);
	}
	mailimf_fields_free(fields);
	return is_field;
}

static void scan_pop(struct scan *sc, int to)
{
	while (sc->depth > to)
		free(sc->stack[--sc->depth].boundary);
}

/* Opens a composite entity; -1 when it is one level too deep. */
static int scan_push(struct scan *sc, enum scan_kind kind, char *boundary, int digest)
{
	if (sc->depth >= sc->c->max_mime_depth) {
		free(boundary);
		snprintf(sc->why, sc->why_len, "MIME nesting deeper than %d levels (limit "
			 "max_mime_depth)", sc->c->max_mime_depth);
		return -1;
	}
	struct scan_entry *e = &sc->stack[sc->depth++];
	e->kind = kind;
	e->boundary = boundary;
	e->n = boundary ? strlen(boundary) : 0;
	e->digest = digest;
	e->started = 0;
	e->parts = 0;
	return 0;
}

/* A line that is a delimiter of an open multipart: the stack index, *closing set, *rest
 * at the text that follows it on the line; -1 when the line is not a delimiter. As in
 * libetpan: the outermost boundary wins; the first delimiter of a multipart may be followed
 * by any text (the first part starts with it), a later one only by spaces, and a close
 * ("--B--") by nothing. */
static int scan_delimiter(struct scan *sc, const char *p, size_t ll, int *closing,
			  const char **rest)
{
	if (ll < 2 || p[0] != '-' || p[1] != '-')
		return -1;
	const char *end = p + ll;
	if (end > p && end[-1] == '\r')
		end--;
	for (int i = 0; i < sc->depth; i++) {
		struct scan_entry *e = &sc->stack[i];
		if (e->kind != SCAN_MULTIPART || ll < e->n + 2 || memcmp(p + 2, e->boundary, e->n))
			continue;
		const char *a = p + 2 + e->n;
		const char *t = a;
		int dashes = end - a >= 2 && a[0] == '-' && a[1] == '-';
		if (dashes)
			t += 2;
		while (!dashes && t < end && (*t == ' ' || *t == '\t'))
			t++;
		if (t == end) {
			*closing = dashes;
			*rest = p + ll;
		} else if (!e->started && !dashes) {
			*closing = 0;
			*rest = a;
		} else {
			continue;	/* text after a later delimiter: libetpan reads a line */
		}
		e->started = 1;
		return i;
	}
	return -1;
}

enum mime_limit_result mime_check_limits(const struct config *c, const char *data, size_t len,
					 char *why, size_t why_len)
{
	if (len > c->max_message_size) {
		snprintf(why, why_len, "oversize: message is %zu bytes, limit max_message_size is %zu",
			 len, c->max_message_size);
		return MIME_LIMITS_EXCEEDED;
	}
	/* header section: up to the first empty line */
	size_t hdr = len;
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] == '\n' && (data[i + 1] == '\n' ||
					(data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n'))) {
			hdr = i + 1;
			break;
		}
		if (i > c->max_header_size)
			break;
	}
	if (hdr > c->max_header_size) {
		snprintf(why, why_len, "header section too large: more than %zu bytes "
			 "(limit max_header_size)", c->max_header_size);
		return MIME_LIMITS_EXCEEDED;
	}
	struct scan sc = { .c = c, .why = why, .why_len = why_len };
	sc.stack = xcalloc((size_t)c->max_mime_depth + 1, sizeof *sc.stack);
	enum mime_limit_result rc = MIME_LIMITS_EXCEEDED;
	/* the entity whose header section is being read: its Content-Type, once found */
	/* preamble: the header being read is a multipart's body before any delimiter */
	int in_header = 1, found = 0, digest = 0, part_start = 0, preamble = 0;
	enum scan_kind kind = SCAN_NONE;
	char *boundary = NULL;
	const char *p = data, *end = data + len;
	if (len >= 5 && !memcmp(data, "From ", 5)) {	/* mbox separator line */
		const char *nl = memchr(data, '\n', len);
		p = nl ? nl + 1 : end;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		int closing;
		const char *rest;
		int at = scan_delimiter(&sc, p, ll, &closing, &rest);
		if (at >= 0) {
			/* a header cut short by the delimiter still makes its entity (a digest's
			 * part whose header runs to the next delimiter is a message/rfc822) */
			if (in_header && kind != SCAN_NONE && !preamble) {
				int r = scan_push(&sc, kind, boundary, digest);
				boundary = NULL;
				if (r < 0)
					goto out;
			}
			/* a new part of stack[at], or its end: every entity inside it ends here */
			preamble = 0;
			scan_pop(&sc, closing ? at : at + 1);
			free(boundary);
			boundary = NULL;
			kind = SCAN_NONE;
			found = 0;
			in_header = !closing;
			if (!closing && ++sc.parts > c->max_mime_parts) {
				snprintf(why, why_len, "more than %d MIME parts (limit max_mime_parts)",
					 c->max_mime_parts);
				goto out;
			}
			if (in_header && sc.stack[at].digest)
				kind = SCAN_RFC822;	/* the default of a digest's parts */
			/* blank lines libetpan skips before the part's header: any number before
			 * the first part, one before a later one */
			int first = !closing && sc.stack[at].parts++ == 0;
			part_start = in_header && rest >= le ? (first ? -1 : 1) : 0;
			p = rest < le ? rest : (nl ? nl + 1 : end);
			continue;
		}
		if (part_start) {
			/* a blank line between a delimiter and the part's header, skipped */
			const char *t = p;
			while (t < le && (*t == ' ' || *t == '\t' || *t == '\r'))
				t++;
			if (t == le) {
				if (part_start > 0)
					part_start = 0;
				p = nl ? nl + 1 : end;
				continue;
			}
			part_start = 0;
		}
		if (in_header && field_start(p, ll)) {
			/* the field with its folded lines (a delimiter is never a continuation) */
			const char *q = le;
			while (q + 1 < end && (q[1] == ' ' || q[1] == '\t')) {
				const char *n2 = memchr(q + 1, '\n', (size_t)(end - q - 1));
				q = n2 ? n2 : end;
				if ((size_t)(q - p) > c->max_header_size) {
					snprintf(why, why_len, "a header field longer than %zu bytes "
						 "(limit max_header_size)", c->max_header_size);
					goto out;
				}
			}
			size_t fl = (size_t)(q - p);
			if (comment_depth(p, fl) > SCAN_MAX_COMMENT_DEPTH) {
				snprintf(why, why_len, "header comments nested deeper than %d levels",
					 SCAN_MAX_COMMENT_DEPTH);
				goto out;
			}
			enum scan_kind k = SCAN_NONE;
			char *b = NULL;
			int ct, dg = 0;
			if (scan_field(p, q < end ? fl + 1 : fl, &ct, &k, &b, &dg)) {
				if (ct && !found) {
					found = 1;
					kind = k;
					boundary = b;
					digest = dg;
				} else {
					free(b);
				}
				p = q < end ? q + 1 : end;
				continue;
			}
		}
		if (in_header) {
			/* the header section ends: a blank line is eaten, another line is body */
			in_header = 0;
			preamble = 0;
			int opened_multi = 0, opened_digest = 0;
			if (kind == SCAN_MULTIPART) {
				if (scan_push(&sc, SCAN_MULTIPART, boundary, digest) < 0) {
					boundary = NULL;
					goto out;
				}
				boundary = NULL;
				/* libetpan reads a body without any delimiter as one part: until a
				 * delimiter comes, the body is read as a part's header too */
				in_header = 1;
				opened_multi = 1;
				opened_digest = digest;
			} else if (kind == SCAN_RFC822) {
				if (scan_push(&sc, SCAN_RFC822, NULL, 0) < 0)
					goto out;
				in_header = 1;	/* the encapsulated message's header follows */
			}
			free(boundary);
			boundary = NULL;
			kind = opened_digest ? SCAN_RFC822 : SCAN_NONE;
			found = 0;
			part_start = opened_multi ? -1 : 0;
			preamble = opened_multi;
			if (ll == 0 || (ll == 1 && *p == '\r')) {
				p = nl ? nl + 1 : end;
				continue;
			}
			/* the same line again, as the body's first (maybe the first delimiter of
			 * the multipart just opened) or the inner message's first header line */
			continue;
		}
		p = nl ? nl + 1 : end;
	}
	if (in_header && kind != SCAN_NONE) {
		/* the data ends inside a header that declared a composite entity (or inside
		 * the preamble of a digest, which is then its one message/rfc822 part) */
		int r = scan_push(&sc, kind, boundary, digest);
		boundary = NULL;
		if (r < 0)
			goto out;
	}
	rc = MIME_LIMITS_OK;
out:
	free(boundary);
	scan_pop(&sc, 0);
	free(sc.stack);
	return rc;
}

/* The composite depth of a node: 1 for itself when composite, plus its deepest child. */
static int tree_depth(const struct mailmime *m)
{
	int deepest = 0;
	if (m->mm_type == MAILMIME_MULTIPLE) {
		for (clistiter *it = clist_begin(m->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it)) {
			int d = tree_depth(clist_content(it));
			if (d > deepest)
				deepest = d;
		}
	} else if (m->mm_type == MAILMIME_MESSAGE && m->mm_data.mm_message.mm_msg_mime) {
		deepest = tree_depth(m->mm_data.mm_message.mm_msg_mime);
	}
	return deepest + (m->mm_type != MAILMIME_SINGLE);
}

int mime_structure_depth(const char *data, size_t len)
{
	size_t idx = 0;
	struct mailmime *mime = NULL;
	if (mailmime_parse(data, len, &idx, &mime) != MAILIMF_NO_ERROR || !mime)
		return -1;
	/* the top node is the message itself, not a level of nesting */
	int d = mime->mm_type == MAILMIME_MESSAGE && mime->mm_data.mm_message.mm_msg_mime
		? tree_depth(mime->mm_data.mm_message.mm_msg_mime) : tree_depth(mime) - 1;
	mailmime_free(mime);
	return d;
}

/* ------------------------------------------------------------------ headers */

#define RAW_HEADER_CHARSET "x-bidmail-raw-8bit"

/* libetpan's charset hook: every charset it meets goes through the WHATWG rules in charset.c. */
static int bidmail_charconv(const char *tocode, const char *fromcode, const char *str,
			    size_t length, char *result, size_t *result_len)
{
	if (strcasecmp(tocode, "utf-8") != 0)
		return MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET;
	/* RAW_HEADER_CHARSET: text outside encoded words, UTF-8 when valid, else windows-1252 */
	char *u = charset_to_utf8(strcmp(fromcode, RAW_HEADER_CHARSET) ? fromcode : NULL, str,
				  length, NULL);
	size_t n = strlen(u);
	if (n > *result_len) {
		n = *result_len;
		while (n > 0 && ((unsigned char)u[n] & 0xC0) == 0x80)
			n--;	/* cut on a character boundary */
	}
	memcpy(result, u, n);
	*result_len = n;
	free(u);
	return MAIL_CHARCONV_NO_ERROR;
}

static void install_charconv(void)
{
	extended_charconv = bidmail_charconv;
}

/* libetpan's converter hook is a global: set once, whatever thread parses first */
static void mime_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_charconv);
}

/* Collapses runs of white space into one space and trims. In place. */
static void collapse_spaces(char *s)
{
	char *w = s;
	int space = 0;
	for (char *p = s; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = 1;
			continue;
		}
		if (space && w != s)
			*w++ = ' ';
		space = 0;
		*w++ = *p;
	}
	*w = '\0';
}

char *mime_decode_header(const char *raw)
{
	mime_setup();
	if (!raw)
		return NULL;
	size_t idx = 0;
	char *res = NULL;
	char *out;
	/* libetpan leaves raw 8-bit bytes as they are; they are then read as UTF-8 when valid,
	 * else windows-1252 (RFC 6532 headers, and legacy clients' Latin-1) */
	if (mailmime_encoded_phrase_parse(RAW_HEADER_CHARSET, raw, strlen(raw), &idx, "utf-8", &res) ==
		    MAILIMF_NO_ERROR && res) {
		out = charset_to_utf8(NULL, res, strlen(res), NULL);
		free(res);
	} else {
		out = charset_to_utf8(NULL, raw, strlen(raw), NULL);
	}
	charset_strip_controls(out, 0);
	collapse_spaces(out);
	return out;
}

/* Splits the top-level header section into unfolded (name, value) fields; returns the
 * offset of the body. A line that is not a header ends the section (repair noted). */
static size_t split_headers(struct message *m, const char *d, size_t len)
{
	size_t i = 0, cap = 0;
	if (len >= 5 && !memcmp(d, "From ", 5)) {	/* mbox separator line */
		const char *nl = memchr(d, '\n', len);
		i = nl ? (size_t)(nl - d) + 1 : len;
	}
	while (i < len) {
		if (d[i] == '\n')
			return i + 1;
		if (d[i] == '\r' && i + 1 < len && d[i + 1] == '\n')
			return i + 2;
		const char *nl = memchr(d + i, '\n', len - i);
		size_t le = nl ? (size_t)(nl - d) : len;
		size_t colon = i;
		while (colon < le && d[colon] != ':' && d[colon] > ' ' && d[colon] < 0x7f)
			colon++;
		if (colon == le || d[colon] != ':' || colon == i) {
			if (d[i] == ' ' || d[i] == '\t') {
				/* a continuation with no field before it: ignore the line */
				i = nl ? le + 1 : len;
				continue;
			}
			strlist_add(&m->errors, "header: a line that is not a header field ended the "
						"header section early");
			return i;
		}
		struct buf v;
		buf_init(&v, len);
		size_t j = colon + 1;
		for (;;) {
			size_t e = le;
			if (e > j && d[e - 1] == '\r')
				e--;
			buf_append(&v, d + j, e - j);
			if (!nl || le + 1 >= len || (d[le + 1] != ' ' && d[le + 1] != '\t'))
				break;
			j = le + 1;
			nl = memchr(d + j, '\n', len - j);
			le = nl ? (size_t)(nl - d) : len;
		}
		if (m->n_headers == cap) {
			cap = cap ? cap * 2 : 32;
			m->headers = xrealloc(m->headers, cap * sizeof *m->headers);
		}
		m->headers[m->n_headers].name = xstrndup(d + i, colon - i);
		char *val = buf_steal(&v);
		m->headers[m->n_headers].value = xstrdup(str_trim(val));
		free(val);
		m->n_headers++;
		i = nl ? le + 1 : len;
	}
	return len;
}

const char *message_header(const struct message *m, const char *name)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (!strcasecmp(m->headers[i].name, name))
			return m->headers[i].value;
	return NULL;
}

/* Removes RFC 5322 comments (nested parentheses, outside quoted strings) that libetpan does
 * not accept inside addresses and dates; a comment becomes a space, or nothing inside <>. */
static char *strip_comments(const char *v)
{
	struct buf b;
	buf_init(&b, strlen(v) + 1);
	int quoted = 0, angle = 0, depth = 0;
	for (const char *p = v; *p; p++) {
		if (depth == 0 && quoted) {
			if (*p == '\\' && p[1]) {
				buf_append(&b, p, 2);
				p++;
				continue;
			}
			if (*p == '"')
				quoted = 0;
			buf_putc(&b, *p);
			continue;
		}
		if (depth > 0) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0 && !angle)
				buf_putc(&b, ' ');
			continue;
		}
		if (*p == '(') {
			depth = 1;
			continue;
		}
		if (*p == '"')
			quoted = 1;
		else if (*p == '<')
			angle = 1;
		else if (*p == '>')
			angle = 0;
		buf_putc(&b, *p);
	}
	return buf_steal(&b);
}

static void lower_domain(char *addr)
{
	char *at = strrchr(addr, '@');
	if (at)
		str_lower_ascii(at);
}

/* Looks for something address-like in a header libetpan could not parse. */
static char *guess_address(const char *v)
{
	const char *lt = strchr(v, '<');
	if (lt) {
		const char *gt = strchr(lt, '>');
		if (gt && memchr(lt, '@', (size_t)(gt - lt)))
			return xstrndup(lt + 1, (size_t)(gt - lt - 1));
	}
	const char *at = strchr(v, '@');
	if (!at)
		return NULL;
	const char *s = at, *e = at;
	while (s > v && !isspace((unsigned char)s[-1]) && s[-1] != '<' && s[-1] != '"' &&
	       s[-1] != ',' && s[-1] != '(')
		s--;
	while (*e && !isspace((unsigned char)*e) && *e != '>' && *e != ',' && *e != ')')
		e++;
	return xstrndup(s, (size_t)(e - s));
}

static void parse_from(struct message *m, const char *v)
{
	size_t idx = 0;
	struct mailimf_mailbox_list *mbl = NULL;
	if (mailimf_mailbox_list_parse(v, strlen(v), &idx, &mbl) == MAILIMF_NO_ERROR && mbl &&
	    clist_begin(mbl->mb_list)) {
		struct mailimf_mailbox *mb = clist_content(clist_begin(mbl->mb_list));
		m->from = xstrdup(mb->mb_addr_spec);
		if (mb->mb_display_name)
			m->from_name = mime_decode_header(mb->mb_display_name);
	} else {
		m->from = guess_address(v);
		if (m->from)
			strlist_add(&m->errors, "from: malformed address list, address guessed");
		else
			strlist_add(&m->errors, "from: no address found");
	}
	if (mbl)
		mailimf_mailbox_list_free(mbl);
	if (m->from) {
		charset_strip_controls(m->from, 0);
		lower_domain(m->from);
	}
	if (m->from_name && !*m->from_name) {
		free(m->from_name);
		m->from_name = NULL;
	}
}

static void add_mailbox(struct strlist *l, const struct mailimf_mailbox *mb)
{
	if (!mb || !mb->mb_addr_spec)
		return;
	char *a = xstrdup(mb->mb_addr_spec);
	charset_strip_controls(a, 0);
	lower_domain(a);
	strlist_add_owned(l, a);
}

static void parse_address_list(struct message *m, struct strlist *l, const char *raw,
			       const char *field)
{
	size_t idx = 0, before = l->n;
	struct mailimf_address_list *al = NULL;
	char *v = strstr(raw, "(") ? strip_comments(raw) : xstrdup(raw);
	size_t vl = strlen(v);
	/* libetpan stops after a group's `;`: parse again from where it stopped */
	for (int round = 0; round < 100 && idx < vl; round++) {
		size_t start = idx;
		al = NULL;
		if (mailimf_address_list_parse(v, vl, &idx, &al) != MAILIMF_NO_ERROR || !al)
			break;
		for (clistiter *it = clist_begin(al->ad_list); it; it = clist_next(it)) {
			struct mailimf_address *a = clist_content(it);
			if (a->ad_type == MAILIMF_ADDRESS_MAILBOX) {
				add_mailbox(l, a->ad_data.ad_mailbox);
			} else if (a->ad_data.ad_group && a->ad_data.ad_group->grp_mb_list) {
				clist *ml = a->ad_data.ad_group->grp_mb_list->mb_list;
				for (clistiter *j = clist_begin(ml); j; j = clist_next(j))
					add_mailbox(l, clist_content(j));
			}
		}
		mailimf_address_list_free(al);
		while (idx < vl && (v[idx] == ',' || v[idx] == ' ' || v[idx] == '\t' ||
				    v[idx] == '\r' || v[idx] == '\n'))
			idx++;
		if (idx == start)
			break;
	}
	if (l->n == before) {
		char *g = guess_address(v);
		if (g) {
			strlist_add_owned(l, g);
			char *e = xasprintf("%s: malformed address list, address guessed", field);
			strlist_add_owned(&m->errors, e);
		}
	}
	free(v);
}

/* Extracts every <msg-id> of a header (References, In-Reply-To), at most 100. */
static void parse_ids(struct strlist *l, const char *v)
{
	const char *p = v;
	while ((p = strchr(p, '<')) != NULL && l->n < 100) {
		const char *gt = strchr(p, '>');
		if (!gt)
			break;
		if (gt - p > 1 && gt - p < 1000) {
			char *id = xstrndup(p + 1, (size_t)(gt - p - 1));
			charset_strip_controls(id, 0);
			if (*id && !strchr(id, ' '))
				strlist_add_owned(l, id);
			else
				free(id);
		}
		p = gt + 1;
	}
}

static int days_in_month(int y, int mo)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[mo - 1];
}

static void parse_date(struct message *m, const char *raw)
{
	size_t idx = 0;
	struct mailimf_date_time *dt = NULL;
	m->date = -1;
	char *v = strip_comments(raw);
	int rc = mailimf_date_time_parse(v, strlen(v), &idx, &dt);
	free(v);
	if (rc != MAILIMF_NO_ERROR || !dt) {
		strlist_add(&m->errors, "date: unreadable Date header, ignored");
		return;
	}
	int y = dt->dt_year;
	if (y < 50)
		y += 2000;
	else if (y < 1000)
		y += 1900;
	int zone = dt->dt_zone, zh = zone / 100, zm = zone % 100;
	if (dt->dt_month < 1 || dt->dt_month > 12 || dt->dt_day < 1 || y < 1970 || y > 9999 ||
	    dt->dt_day > days_in_month(y, dt->dt_month) || dt->dt_hour > 23 || dt->dt_min > 59 ||
	    dt->dt_sec > 60 || zh > 14 || zh < -14 || zm > 59 || zm < -59) {
		strlist_add(&m->errors, "date: impossible Date header, ignored");
	} else {
		struct tm tm = { 0 };
		tm.tm_year = y - 1900;
		tm.tm_mon = dt->dt_month - 1;
		tm.tm_mday = dt->dt_day;
		tm.tm_hour = dt->dt_hour;
		tm.tm_min = dt->dt_min;
		tm.tm_sec = dt->dt_sec;
		m->date = timegm(&tm) - (zh * 3600 + zm * 60);
	}
	mailimf_date_time_free(dt);
}

/* Reads "method=result" (and the domain properties) from an Authentication-Results value. */
static void parse_auth_results(struct auth_results *a, const char *v)
{
	char *s = xstrdup(v);
	char *semi = strchr(s, ';');
	if (!semi) {
		free(s);
		return;
	}
	*semi = '\0';
	char *id = str_trim(s);
	size_t idl = strcspn(id, " \t(");
	a->authserv_id = xstrndup(id, idl);
	str_lower_ascii(a->authserv_id);
	char *rest = semi + 1;
	char *save = NULL;
	for (char *tok = strtok_r(rest, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		tok = str_trim(tok);
		struct { const char *m; char **res; char **dom; const char *prop; } ms[] = {
			{ "spf=", &a->spf, NULL, NULL },
			{ "dkim=", &a->dkim, &a->dkim_domain, "header.d=" },
			{ "dmarc=", &a->dmarc, &a->dmarc_domain, "header.from=" },
		};
		for (size_t i = 0; i < 3; i++) {
			if (strncasecmp(tok, ms[i].m, strlen(ms[i].m)) != 0)
				continue;
			const char *r = tok + strlen(ms[i].m);
			size_t rl = strcspn(r, " \t(");
			/* a pass wins over an earlier non-pass (several DKIM signatures) */
			if (*ms[i].res && strcasecmp(*ms[i].res, "pass") == 0)
				continue;
			free(*ms[i].res);
			*ms[i].res = xstrndup(r, rl);
			str_lower_ascii(*ms[i].res);
			if (ms[i].dom) {
				char *d = strcasestr(tok, ms[i].prop);
				if (!d && i == 1)
					d = strcasestr(tok, "header.i=");
				if (d) {
					d = strchr(d, '=') + 1;
					if (*d == '@')
						d++;
					char *at = NULL;
					size_t dl = strcspn(d, " \t;()");
					char *dom = xstrndup(d, dl);
					if ((at = strrchr(dom, '@')) != NULL) {
						char *x = xstrdup(at + 1);
						free(dom);
						dom = x;
					}
					str_lower_ascii(dom);
					free(*ms[i].dom);
					*ms[i].dom = dom;
				}
			}
		}
	}
	free(s);
}

static void read_headers(struct message *m)
{
	int seen_auth = 0;
	for (size_t i = 0; i < m->n_headers; i++) {
		const char *n = m->headers[i].name, *v = m->headers[i].value;
		if (!strcasecmp(n, "From") && !m->from)
			parse_from(m, v);
		else if (!strcasecmp(n, "To"))
			parse_address_list(m, &m->to, v, "to");
		else if (!strcasecmp(n, "Cc"))
			parse_address_list(m, &m->cc, v, "cc");
		else if (!strcasecmp(n, "Delivered-To"))
			parse_address_list(m, &m->delivered_to, v, "delivered-to");
		else if (!strcasecmp(n, "Reply-To") && !m->reply_to) {
			struct strlist l = { 0 };
			parse_address_list(m, &l, v, "reply-to");
			if (l.n)
				m->reply_to = xstrdup(l.v[0]);
			strlist_clear(&l);
		} else if (!strcasecmp(n, "Subject") && !m->subject)
			m->subject = mime_decode_header(v);
		else if (!strcasecmp(n, "Date") && m->date == -2)
			parse_date(m, v);
		else if (!strcasecmp(n, "Message-ID") && !m->message_id) {
			struct strlist l = { 0 };
			parse_ids(&l, v);
			if (l.n)
				m->message_id = xstrdup(l.v[0]);
			else if (*v && !strchr(v, ' ') && strlen(v) < 1000) {
				m->message_id = xstrdup(v);
				charset_strip_controls(m->message_id, 0);
				strlist_add(&m->errors, "message-id: missing angle brackets");
			}
			strlist_clear(&l);
		} else if (!strcasecmp(n, "In-Reply-To") && !m->in_reply_to) {
			struct strlist l = { 0 };
			parse_ids(&l, v);
			if (l.n)
				m->in_reply_to = xstrdup(l.v[0]);
			strlist_clear(&l);
		} else if (!strcasecmp(n, "References") && !m->references.n)
			parse_ids(&m->references, v);
		else if (!strcasecmp(n, "Authentication-Results") && !seen_auth) {
			/* the topmost is the one our own MTA added; the others are hearsay */
			seen_auth = 1;
			parse_auth_results(&m->auth, v);
		}
	}
	if (m->date == -2) {
		m->date = -1;
		strlist_add(&m->errors, "date: no Date header");
	}
}

/* ------------------------------------------------------------------ body */

struct walk {
	struct message *m;
	struct buf text;	/* chosen body text */
	int have_text;
	int depth;
	int parts;
	int keep_data;		/* keep attachments' decoded bytes */
	size_t kept;
};

#define MAX_KEPT_ATTACHMENTS (10u * 1024 * 1024)

/* Reads a parameter by name, joining RFC 2231 continuations (name*0*, name*1, ...) and
 * decoding charset'lang'%XX values. Returns an owned UTF-8 string or NULL. */
static char *param_get(clist *params, int is_disposition, const char *name)
{
	if (!params)
		return NULL;
	size_t nl = strlen(name);
	char *plain = NULL, *ext = NULL;
	struct buf cont;
	buf_init(&cont, 65536);
	char *cont_charset = NULL;
	int have_cont = 0;
	/* collect continuation sections in order 0..63 */
	const char *sections[64] = { 0 };
	int section_ext[64] = { 0 };
	for (clistiter *it = clist_begin(params); it; it = clist_next(it)) {
		const char *pn = NULL, *pv = NULL;
		if (is_disposition) {
			struct mailmime_disposition_parm *dp = clist_content(it);
			if (dp->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME) {
				pn = "filename";
				pv = dp->pa_data.pa_filename;
			} else if (dp->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER) {
				pn = dp->pa_data.pa_parameter->pa_name;
				pv = dp->pa_data.pa_parameter->pa_value;
			}
		} else {
			struct mailmime_parameter *p = clist_content(it);
			pn = p->pa_name;
			pv = p->pa_value;
		}
		if (!pn || !pv || strncasecmp(pn, name, nl) != 0)
			continue;
		const char *rest = pn + nl;
		if (!*rest) {
			if (!plain)
				plain = mime_decode_header(pv);	/* RFC 2047 in params, as clients do */
		} else if (!strcmp(rest, "*")) {
			if (!ext)
				ext = xstrdup(pv);
		} else if (rest[0] == '*' && isdigit((unsigned char)rest[1])) {
			int k = atoi(rest + 1);
			if (k >= 0 && k < 64) {
				sections[k] = pv;
				section_ext[k] = rest[strlen(rest) - 1] == '*';
				have_cont = 1;
			}
		}
	}
	char *result = NULL;
	struct buf raw;
	buf_init(&raw, 65536);
	const char *charset = NULL;
	if (have_cont) {
		for (int k = 0; k < 64 && sections[k]; k++) {
			const char *v = sections[k];
			if (k == 0 && section_ext[0]) {
				const char *q1 = strchr(v, '\'');
				const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
				if (q2) {
					cont_charset = xstrndup(v, (size_t)(q1 - v));
					v = q2 + 1;
				}
			}
			for (; *v; v++) {
				if (section_ext[k] && *v == '%' && isxdigit((unsigned char)v[1]) &&
				    isxdigit((unsigned char)v[2])) {
					char hx[3] = { v[1], v[2], 0 };
					buf_putc(&raw, (char)strtol(hx, NULL, 16));
					v += 2;
				} else {
					buf_putc(&raw, *v);
				}
			}
		}
		charset = cont_charset;
	} else if (ext) {
		const char *v = ext;
		const char *q1 = strchr(v, '\'');
		const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
		if (q2) {
			cont_charset = xstrndup(v, (size_t)(q1 - v));
			v = q2 + 1;
		}
		for (; *v; v++) {
			if (*v == '%' && isxdigit((unsigned char)v[1]) && isxdigit((unsigned char)v[2])) {
				char hx[3] = { v[1], v[2], 0 };
				buf_putc(&raw, (char)strtol(hx, NULL, 16));
				v += 2;
			} else {
				buf_putc(&raw, *v);
			}
		}
		charset = cont_charset;
	}
	if (raw.len > 0) {
		result = charset_to_utf8(charset && *charset ? charset : NULL, raw.data, raw.len, NULL);
		charset_strip_controls(result, 0);
		free(plain);
	} else {
		result = plain;
	}
	buf_free(&raw);
	buf_free(&cont);
	free(cont_charset);
	free(ext);
	return result;
}

static void content_type_of(const struct mailmime *mime, char *out, size_t n)
{
	const struct mailmime_content *ct = mime->mm_content_type;
	const char *type = "text", *sub = "plain";
	if (ct && ct->ct_type) {
		if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
			switch (ct->ct_type->tp_data.tp_discrete_type->dt_type) {
			case MAILMIME_DISCRETE_TYPE_TEXT: type = "text"; break;
			case MAILMIME_DISCRETE_TYPE_IMAGE: type = "image"; break;
			case MAILMIME_DISCRETE_TYPE_AUDIO: type = "audio"; break;
			case MAILMIME_DISCRETE_TYPE_VIDEO: type = "video"; break;
			case MAILMIME_DISCRETE_TYPE_APPLICATION: type = "application"; break;
			default:
				type = ct->ct_type->tp_data.tp_discrete_type->dt_extension
				       ? ct->ct_type->tp_data.tp_discrete_type->dt_extension : "x-unknown";
			}
		} else if (ct->ct_type->tp_data.tp_composite_type) {
			switch (ct->ct_type->tp_data.tp_composite_type->ct_type) {
			case MAILMIME_COMPOSITE_TYPE_MESSAGE: type = "message"; break;
			case MAILMIME_COMPOSITE_TYPE_MULTIPART: type = "multipart"; break;
			default:
				type = ct->ct_type->tp_data.tp_composite_type->ct_token
				       ? ct->ct_type->tp_data.tp_composite_type->ct_token : "x-unknown";
			}
		}
		if (ct->ct_subtype)
			sub = ct->ct_subtype;
	}
	snprintf(out, n, "%s/%s", type, sub);
	str_lower_ascii(out);
	charset_strip_controls(out, 0);
}

static const struct mailmime_mechanism *part_encoding(const struct mailmime *mime)
{
	if (!mime->mm_mime_fields)
		return NULL;
	for (clistiter *it = clist_begin(mime->mm_mime_fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING)
			return f->fld_data.fld_encoding;
	}
	return NULL;
}

static const struct mailmime_disposition *part_disposition(const struct mailmime *mime)
{
	if (!mime->mm_mime_fields)
		return NULL;
	for (clistiter *it = clist_begin(mime->mm_mime_fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_DISPOSITION)
			return f->fld_data.fld_disposition;
	}
	return NULL;
}

/* 1 for the bytes of the base64 alphabet (padding included). */
static const unsigned char b64_char[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
	['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
	['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1, ['/'] = 1,
	['='] = 2,
};

/* The bytes of the base64 alphabet in p[0..n) into *chars, the '=' among them into *pad (as
 * b64_char counts them), sixteen bytes at a time with the vector extensions of gcc and clang:
 * this runs over every attachment (20-200 KB of base64) that the gateway does not decode. */
static void b64_count(const unsigned char *p, size_t n, size_t *chars, size_t *pad)
{
	typedef unsigned char v16 __attribute__((vector_size(16)));
	size_t c = 0, q = 0, i = 0;
	while (n - i >= 16) {
		v16 acc_c = { 0 }, acc_q = { 0 };	/* per lane, at most 255 rounds */
		for (int r = 0; r < 255 && n - i >= 16; r++, i += 16) {
			v16 b, lower;
			memcpy(&b, p + i, sizeof b);
			lower = b | 0x20;
			v16 letter = (v16)(lower >= 'a') & (v16)(lower <= 'z');
			v16 digit = (v16)(b >= '/') & (v16)(b <= '9');	/* '/' and 0-9 */
			v16 eq = (v16)(b == '=');
			acc_c -= letter | digit | (v16)(b == '+') | eq;	/* a match is 0xFF: -1 */
			acc_q -= eq;
		}
		for (size_t k = 0; k < sizeof acc_c; k++) {
			c += acc_c[k];
			q += acc_q[k];
		}
	}
	for (; i < n; i++) {
		c += b64_char[p[i]] != 0;
		q += b64_char[p[i]] == 2;
	}
	*chars = c;
	*pad = q;
}

/* Transfer-decodes a single part into an owned buffer; *n gets its length. */
static char *part_decode(struct walk *w, const struct mailmime *mime, size_t *n)
{
	const struct mailmime_data *d = mime->mm_data.mm_single;
	*n = 0;
	if (!d || d->dt_type != MAILMIME_DATA_TEXT || !d->dt_data.dt_text.dt_data)
		return xstrdup("");
	const struct mailmime_mechanism *enc = part_encoding(mime);
	int mech = enc ? enc->enc_type : MAILMIME_MECHANISM_8BIT;
	if (mech != MAILMIME_MECHANISM_BASE64 && mech != MAILMIME_MECHANISM_QUOTED_PRINTABLE)
		mech = MAILMIME_MECHANISM_8BIT;
	size_t idx = 0, rl = 0;
	char *r = NULL;
	if (mailmime_part_parse(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length, &idx,
				mech, &r, &rl) != MAILIMF_NO_ERROR || !r) {
		strlist_add(&w->m->errors, "body: a part could not be decoded, kept as is");
		*n = d->dt_data.dt_text.dt_length;
		return xstrndup(d->dt_data.dt_text.dt_data, *n);
	}
	char *out = xstrndup(r, rl);
	mailmime_decoded_part_free(r);
	if (mech == MAILMIME_MECHANISM_BASE64) {
		/* a base64 body whose length is not a multiple of 4 was cut short */
		size_t chars, pad;
		b64_count((const unsigned char *)d->dt_data.dt_text.dt_data,
			  d->dt_data.dt_text.dt_length, &chars, &pad);
		if (chars % 4 != 0)
			strlist_add(&w->m->errors, "body: truncated base64, decoded what was there");
	}
	*n = rl;
	return out;
}

/* Undoes format=flowed (RFC 3676): soft line breaks joined, space-stuffing removed. */
static char *unflow(const char *t, int delsp)
{
	struct buf b;
	buf_init(&b, strlen(t) + 1);
	const char *p = t;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		const char *line = p;
		int quote = 0;
		while (quote < (int)ll && line[quote] == '>')
			quote++;
		size_t start = (size_t)quote;
		if (start < ll && line[start] == ' ' && quote == 0)
			start++;	/* space-stuffed */
		int is_sig = ll - (size_t)quote == 3 && !memcmp(line + quote, "-- ", 3);
		int soft = ll > 0 && line[ll - 1] == ' ' && !is_sig;
		if (quote == 0)
			buf_append(&b, line + start, ll - start - (soft && delsp ? 1 : 0));
		else
			buf_append(&b, line, ll - (soft && delsp ? 1 : 0));
		if (!soft && nl)
			buf_putc(&b, '\n');
		if (!nl)
			break;
		p = nl + 1;
		if (soft) {
			/* the next line continues this one only at the same quote depth */
			int q2 = 0;
			while (p[q2] == '>')
				q2++;
			if (q2 != quote) {
				buf_putc(&b, '\n');
			} else if (q2 > 0) {
				p += q2;
				if (*p == ' ')
					p++;
			}
		}
	}
	return buf_steal(&b);
}

static void add_attachment(struct message *m, const char *name, const char *type, size_t size)
{
	m->attachments = xrealloc(m->attachments, (m->n_attachments + 1) * sizeof *m->attachments);
	struct attachment *a = &m->attachments[m->n_attachments++];
	a->name = name ? xstrdup(name) : NULL;
	a->type = xstrdup(type);
	a->size = size;
	a->data = NULL;
}

/* Reads Final-Recipient / Status from a message/delivery-status body. */
static void read_delivery_status(struct message *m, const char *t)
{
	const char *p = t;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, ll);
		char *v = strchr(line, ':');
		if (v) {
			*v++ = '\0';
			v = str_trim(v);
			char *semi = strchr(v, ';');
			char *addr = semi ? str_trim(semi + 1) : v;
			if (!strcasecmp(line, "Final-Recipient") && !m->bounce_recipient) {
				m->bounce_recipient = xstrdup(addr);
				lower_domain(m->bounce_recipient);
			} else if (!strcasecmp(line, "Original-Recipient") && !m->bounce_recipient) {
				m->bounce_recipient = xstrdup(addr);
			} else if (!strcasecmp(line, "Status") && !m->bounce_status) {
				m->bounce_status = xstrndup(v, strcspn(v, " \t("));
			} else if (!strcasecmp(line, "Action") && !m->bounce_action) {
				m->bounce_action = xstrndup(v, strcspn(v, " \t("));
				str_lower_ascii(m->bounce_action);
			}
		}
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	if (m->bounce_recipient) {
		char *r = m->bounce_recipient;
		if (*r == '<') {
			memmove(r, r + 1, strlen(r));
			r[strcspn(r, ">")] = '\0';
		}
	}
}

static void walk_part(struct walk *w, struct mailmime *mime, int in_alternative);

static void set_text(struct walk *w, const char *t)
{
	buf_free(&w->text);
	buf_init(&w->text, MAX_TEXT_BODY);
	if (buf_puts(&w->text, t) < 0) {
		buf_append(&w->text, t, MAX_TEXT_BODY - 1);
		strlist_add(&w->m->errors, "body: text longer than 4 MB, cut");
	}
	w->have_text = 1;
}

/* Decodes a text/plain or text/html part to UTF-8 text. */
static char *text_of(struct walk *w, struct mailmime *mime, int is_html)
{
	size_t n;
	char *raw = part_decode(w, mime, &n);
	char *charset = mime->mm_content_type
			? param_get(mime->mm_content_type->ct_parameters, 0, "charset") : NULL;
	int repaired = 0;
	char *u = charset_to_utf8(charset, raw, n, &repaired);
	if (repaired) {
		char *e = xasprintf("charset: `%s` bytes repaired or read as windows-1252",
				    charset ? charset : "none");
		strlist_add_owned(&w->m->errors, e);
	}
	free(raw);
	char *out;
	if (is_html) {
		out = html_to_text(u, strlen(u));
		free(u);
	} else {
		char *fmt = mime->mm_content_type
			    ? param_get(mime->mm_content_type->ct_parameters, 0, "format") : NULL;
		char *delsp = mime->mm_content_type
			      ? param_get(mime->mm_content_type->ct_parameters, 0, "delsp") : NULL;
		if (fmt && !strcasecmp(fmt, "flowed")) {
			out = unflow(u, delsp && !strcasecmp(delsp, "yes"));
			free(u);
		} else {
			out = u;
		}
		free(fmt);
		free(delsp);
	}
	free(charset);
	return out;
}

static int is_attachment(struct mailmime *mime, char **name)
{
	const struct mailmime_disposition *dsp = part_disposition(mime);
	*name = NULL;
	if (dsp)
		*name = param_get(dsp->dsp_parms, 1, "filename");
	if (!*name && mime->mm_content_type)
		*name = param_get(mime->mm_content_type->ct_parameters, 0, "name");
	if (dsp && dsp->dsp_type && dsp->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT)
		return 1;
	return *name != NULL;
}

/* The decoded size of an attachment, computed without decoding it when it is base64. */
static size_t decoded_size(struct walk *w, struct mailmime *mime)
{
	const struct mailmime_mechanism *enc = part_encoding(mime);
	const struct mailmime_data *d = mime->mm_data.mm_single;
	if (enc && enc->enc_type == MAILMIME_MECHANISM_BASE64 && d &&
	    d->dt_type == MAILMIME_DATA_TEXT && d->dt_data.dt_text.dt_data) {
		size_t chars, pad;
		b64_count((const unsigned char *)d->dt_data.dt_text.dt_data,
			  d->dt_data.dt_text.dt_length, &chars, &pad);
		size_t full = chars / 4 * 3, rest = chars % 4;
		size_t n = full + (rest >= 2 ? rest - 1 : 0);
		return n >= pad ? n - (pad > 2 ? 2 : pad) : 0;
	}
	size_t n;
	char *data = part_decode(w, mime, &n);
	free(data);
	return n;
}

static void walk_single(struct walk *w, struct mailmime *mime, int in_alternative)
{
	char type[128];
	content_type_of(mime, type, sizeof type);
	char *name = NULL;
	int attach = is_attachment(mime, &name);
	int is_plain = !strcmp(type, "text/plain"), is_html = !strcmp(type, "text/html");
	(void)in_alternative;
	if (!attach && (is_plain || is_html) && !w->have_text) {
		char *t = text_of(w, mime, is_html);
		set_text(w, t);
		w->m->text_from_html = is_html;
		free(t);
	} else if (!strcmp(type, "message/delivery-status") ||
		   !strcmp(type, "message/global-delivery-status")) {
		size_t n;
		char *d = part_decode(w, mime, &n);
		char *u = charset_to_utf8(NULL, d, n, NULL);
		read_delivery_status(w->m, u);
		free(u);
		free(d);
	} else if (!attach && !strncmp(type, "text/", 5) && w->have_text) {
		/* a second inline text part (e.g. a footer added by a list): not an attachment */
	} else if (w->keep_data) {
		size_t n;
		char *d = part_decode(w, mime, &n);
		add_attachment(w->m, name, type, n);
		if (w->kept + n <= MAX_KEPT_ATTACHMENTS) {
			w->m->attachments[w->m->n_attachments - 1].data = d;
			w->kept += n;
		} else {
			free(d);
			strlist_add(&w->m->errors, "attachments: more than 10 MB, not all kept");
		}
	} else {
		add_attachment(w->m, name, type, decoded_size(w, mime));
	}
	free(name);
}

static void walk_multipart(struct walk *w, struct mailmime *mime)
{
	char type[128];
	content_type_of(mime, type, sizeof type);
	clist *parts = mime->mm_data.mm_multipart.mm_mp_list;
	if (!strcmp(type, "multipart/report"))
		w->m->is_report = 1;
	if (!strcmp(type, "multipart/alternative") && !w->have_text) {
		/* prefer text/plain, else text/html, else the first part that gives text */
		struct mailmime *plain = NULL, *html = NULL, *other = NULL;
		for (clistiter *it = clist_begin(parts); it; it = clist_next(it)) {
			struct mailmime *c = clist_content(it);
			char ct[128];
			content_type_of(c, ct, sizeof ct);
			if (!plain && !strcmp(ct, "text/plain") && c->mm_type == MAILMIME_SINGLE)
				plain = c;
			else if (!html && !strcmp(ct, "text/html") && c->mm_type == MAILMIME_SINGLE)
				html = c;
			else if (!other)
				other = c;
		}
		if (plain) {
			char *t = text_of(w, plain, 0);
			/* an empty text/plain beside a real HTML part is a client's placeholder */
			if (html && !*str_trim(t)) {
				free(t);
				t = text_of(w, html, 1);
				w->m->text_from_html = 1;
			}
			set_text(w, t);
			free(t);
		} else if (html) {
			char *t = text_of(w, html, 1);
			set_text(w, t);
			w->m->text_from_html = 1;
			free(t);
		} else if (other) {
			walk_part(w, other, 1);
		}
		return;
	}
	for (clistiter *it = clist_begin(parts); it; it = clist_next(it))
		walk_part(w, clist_content(it), 0);
}

static void walk_message(struct walk *w, struct mailmime *mime)
{
	/* a forwarded message: listed as an attachment, its text decoded too */
	struct mailmime *inner = mime->mm_data.mm_message.mm_msg_mime;
	struct mailimf_fields *f = mime->mm_data.mm_message.mm_fields;
	char *subject = NULL, *from = NULL;
	if (f) {
		for (clistiter *it = clist_begin(f->fld_list); it; it = clist_next(it)) {
			struct mailimf_field *fld = clist_content(it);
			if (fld->fld_type == MAILIMF_FIELD_SUBJECT && !subject &&
			    fld->fld_data.fld_subject)
				subject = mime_decode_header(fld->fld_data.fld_subject->sbj_value);
			if (fld->fld_type == MAILIMF_FIELD_FROM && !from && fld->fld_data.fld_from &&
			    fld->fld_data.fld_from->frm_mb_list &&
			    clist_begin(fld->fld_data.fld_from->frm_mb_list->mb_list)) {
				struct mailimf_mailbox *mb = clist_content(
					clist_begin(fld->fld_data.fld_from->frm_mb_list->mb_list));
				from = xstrdup(mb->mb_addr_spec);
			}
		}
	}
	if (w->depth == 1 && mime->mm_parent == NULL) {
		/* the top-level message itself */
		if (inner)
			walk_part(w, inner, 0);
		free(subject);
		free(from);
		return;
	}
	add_attachment(w->m, subject ? subject : "forwarded message", "message/rfc822",
		       mime->mm_length);
	struct walk sub = { .m = w->m, .depth = w->depth, .parts = w->parts,
			    .keep_data = w->keep_data, .kept = w->kept };
	buf_init(&sub.text, MAX_TEXT_BODY);
	if (inner)
		walk_part(&sub, inner, 0);
	w->parts = sub.parts;
	w->kept = sub.kept;
	if (sub.have_text) {
		struct buf t;
		buf_init(&t, MAX_TEXT_BODY);
		if (w->have_text && w->text.len)
			buf_printf(&t, "%s\n\n", w->text.data);
		buf_printf(&t, "---------- Forwarded message ----------\nFrom: %s\nSubject: %s\n\n",
			   from ? from : "", subject ? subject : "");
		if (buf_puts(&t, sub.text.data) < 0)
			strlist_add(&w->m->errors, "body: forwarded text cut at 4 MB");
		set_text(w, t.data ? t.data : "");
		buf_free(&t);
	}
	buf_free(&sub.text);
	free(subject);
	free(from);
}

static void walk_part(struct walk *w, struct mailmime *mime, int in_alternative)
{
	if (!mime)
		return;
	if (++w->parts > 2000 || w->depth > 120) {
		w->depth--;
		return;
	}
	w->depth++;
	switch (mime->mm_type) {
	case MAILMIME_SINGLE:
		walk_single(w, mime, in_alternative);
		break;
	case MAILMIME_MULTIPLE:
		walk_multipart(w, mime);
		break;
	case MAILMIME_MESSAGE:
		walk_message(w, mime);
		break;
	}
	w->depth--;
}

/* A multipart whose closing boundary never comes: libetpan reads it anyway; we name it. */
static void note_missing_close(struct message *m, const char *d, size_t len)
{
	const char *ct = message_header(m, "Content-Type");
	if (!ct)
		return;
	const char *b;
	size_t bl = find_boundary(ct, strlen(ct), &b);
	if (!bl || strncasecmp(ct, "multipart", 9) != 0)
		return;
	char *close = xasprintf("--%.*s--", (int)bl, b);
	if (!memmem(d, len, close, strlen(close)))
		strlist_add(&m->errors, "mime: closing boundary missing, read to the end");
	free(close);
}

static struct message *parse(const char *data, size_t len, int keep_data);

struct message *mime_parse(const char *data, size_t len)
{
	return parse(data, len, 0);
}

struct message *mime_parse_attachments(const char *data, size_t len)
{
	return parse(data, len, 1);
}

static struct message *parse(const char *data, size_t len, int keep_data)
{
	mime_setup();
	struct message *m = xcalloc(1, sizeof *m);
	m->date = -2;
	m->raw = data;
	m->raw_len = len;
	char *copy = NULL;
	if (memchr(data, '\0', len)) {
		copy = xmalloc(len + 1);
		size_t w = 0;
		for (size_t i = 0; i < len; i++)
			if (data[i])
				copy[w++] = data[i];
		copy[w] = '\0';
		data = copy;
		len = w;
		strlist_add(&m->errors, "nul: NUL bytes removed");
	}
	split_headers(m, data, len);
	read_headers(m);
	if (len >= 5 && !memcmp(data, "From ", 5)) {
		/* the mbox separator line is not part of the message */
		const char *nl = memchr(data, '\n', len);
		size_t skip = nl ? (size_t)(nl - data) + 1 : len;
		data += skip;
		len -= skip;
	}
	if (!m->message_id) {
		char sha[65];
		hash_sha256_hex(data, len, sha);
		m->message_id = xasprintf("%.32s@generated.bidmail.invalid", sha);
		m->message_id_made_up = 1;
		strlist_add(&m->errors, "message-id: missing, made up from the message's SHA-256");
	}
	if (!m->from)
		strlist_add(&m->errors, "from: missing");

	size_t idx = 0;
	struct mailmime *mime = NULL;
	struct walk w = { .m = m, .keep_data = keep_data };
	buf_init(&w.text, MAX_TEXT_BODY);
	if (mailmime_parse(data, len, &idx, &mime) == MAILIMF_NO_ERROR && mime) {
		walk_part(&w, mime, 0);
		mailmime_free(mime);
	} else {
		strlist_add(&m->errors, "mime: structure unreadable, body taken as plain text");
	}
	note_missing_close(m, data, len);
	if (w.have_text && w.text.data) {
		m->text = buf_steal(&w.text);
	} else {
		m->text = xstrdup("");
	}
	buf_free(&w.text);
	/* trailing blank lines are noise */
	size_t tl = strlen(m->text);
	while (tl > 0 && (m->text[tl - 1] == '\n' || m->text[tl - 1] == ' ' || m->text[tl - 1] == '\t'))
		m->text[--tl] = '\0';
	free(copy);
	return m;
}

static void auth_clear(struct auth_results *a)
{
	free(a->authserv_id);
	free(a->spf);
	free(a->dkim);
	free(a->dmarc);
	free(a->dkim_domain);
	free(a->dmarc_domain);
}

struct message *message_free(struct message *m)
{
	if (!m)
		return NULL;
	free(m->message_id);
	free(m->from);
	free(m->from_name);
	strlist_clear(&m->to);
	strlist_clear(&m->cc);
	strlist_clear(&m->delivered_to);
	free(m->reply_to);
	free(m->subject);
	free(m->in_reply_to);
	strlist_clear(&m->references);
	free(m->text);
	for (size_t i = 0; i < m->n_attachments; i++) {
		free(m->attachments[i].name);
		free(m->attachments[i].type);
		free(m->attachments[i].data);
	}
	free(m->attachments);
	auth_clear(&m->auth);
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	free(m->bounce_recipient);
	free(m->bounce_status);
	free(m->bounce_action);
	strlist_clear(&m->errors);
	free(m->env.sender);
	free(m->env.recipient);
	free(m->env.received);
	free(m->new_text);
	post_info_free(m->post);
	bid_info_free(m->bid);
	free(m);
	return NULL;
}
