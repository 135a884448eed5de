/*
 * mask.c — what a third party may read of a user's text: every e-mail address and every phone
 * number in it replaced by a mark, one function for the page, the selections and alerts, the
 * quotes and the relayed messages. Phone numbers are told from amounts, dates and company
 * numbers by their shape: "+" or "00" and 8 to 15 digits, a French ten-digit number starting
 * with 0 ("06 12 34 56 78"), or a North American one grouped 3-3-4 ("(555) 123-4567").
 * In: a text, the marks. Out: the masked text (the caller's).
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PHONE_DIGITS 15		/* E.164: a number has at most 15 digits */
#define PHONE_GROUPS 16		/* digit groups of one run looked at */
#define PHONE_GAP 3		/* bytes between two groups: " ", " - ", ") ", NBSP */

static int local_byte(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr(".!#$%&'*+/=?^_`{|}~-", ch));
}

static int domain_byte(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-';
}

/* The length of the UTF-8 letter at p that an internationalised address may hold (é, ß, я,
 * 日...), 0 for anything else: ASCII, invalid bytes, Latin-1 punctuation (« », NBSP), general
 * punctuation (… – ’), symbols, fullwidth forms and emoji. */
static size_t letter_utf8(const unsigned char *p)
{
	unsigned cp;
	size_t n;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		cp = p[0] & 0x1Fu, n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		cp = p[0] & 0x0Fu, n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		cp = p[0] & 0x07u, n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x2BFF) ||
	    (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE00 && cp <= 0xFFFF) ||
	    (cp >= 0x1F000 && cp <= 0x1FFFF))
		return 0;
	return n;
}

/* Where the local part ending at p (the '@') starts, or p when there is none: atext and
 * UTF-8 letters, or a quoted string ("jean dupont"@x.fr) on one line. */
static const char *local_start(const char *p, const char *floor)
{
	const char *s = p;
	if (s > floor && s[-1] == '"') {
		for (const char *q = s - 2; q >= floor && s - q < 130; q--) {
			if (*q == '\n' || *q == '\r')
				break;
			if (*q == '"' && !(q > floor && q[-1] == '\\'))
				return q + 1 == s - 1 ? p : q;	/* "" is no local part */
		}
		return p;
	}
	while (s > floor) {
		if (local_byte((unsigned char)s[-1])) {
			s--;
			continue;
		}
		const char *q = s - 1;	/* the first byte of the UTF-8 sequence ending at s */
		while (q > floor && s - q < 4 && ((unsigned char)*q & 0xC0) == 0x80)
			q--;
		if (letter_utf8((const unsigned char *)q) != (size_t)(s - q))
			break;
		s = q;
	}
	return s;
}

/* Where the domain starting at d (after the '@') ends, or d when there is none: a name of
 * ASCII and UTF-8 letters, with or without dots (localhost), or an address literal
 * ([192.0.2.1], [IPv6:2001:db8::1]). */
static const char *domain_end(const char *d)
{
	if (*d == '[') {
		const char *q = d + 1;
		int digits = 0;
		if (!strncasecmp(q, "IPv6:", 5))
			q += 5;
		for (; q - d < 64 && *q && (strchr("0123456789abcdefABCDEF.:", *q)); q++)
			digits += *q >= '0' && *q <= '9';
		return *q == ']' && digits ? q + 1 : d;
	}
	const char *e = d;
	for (;;) {
		size_t n;
		if (domain_byte((unsigned char)*e))
			e++;
		else if ((n = letter_utf8((const unsigned char *)e)) > 0)
			e += n;
		else
			break;
	}
	while (e > d && (e[-1] == '.' || e[-1] == '-'))
		e--;	/* "write to a@b.fr." ends the sentence */
	if (e > d && (*d == '.' || *d == '-'))
		return d;
	/* a dotless domain is a host name ("root@localhost"), never a number ("5@10", "C@2x") */
	if (!memchr(d, '.', (size_t)(e - d)) && (unsigned char)*d < 0x80 && !isalpha((unsigned char)*d))
		return d;
	return e;
}

/* clean (bidirectional controls removed) with every address-like word (local@domain, IDN,
 * quoted, dotless or literal, and a "mailto:" before it) replaced by mark (caller frees). */
static char *mask_addresses(const char *clean, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(clean) * 2 + 64);
	const char *p = clean, *copied = clean;
	while ((p = strchr(p, '@')) != NULL) {
		const char *s = local_start(p, copied), *e = domain_end(p + 1);
		if (s == p || e == p + 1) {
			p++;
			continue;
		}
		if (s - copied >= 7 && !strncasecmp(s - 7, "mailto:", 7))
			s -= 7;
		buf_append(&b, copied, (size_t)(s - copied));
		buf_puts(&b, mark);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}


/* One run of digit groups: where each group starts and ends, its digit count, and whether a
 * '+' or a '(' opens it. */
struct digit_run {
	const char *start[PHONE_GROUPS], *end[PHONE_GROUPS];
	int len[PHONE_GROUPS];
	int plus, paren[PHONE_GROUPS];
	int n;
};

/* The length of a gap between digit groups at p (space, NBSP, narrow NBSP, '.', '-', '(' or
 * ')'), 0 when p is none. */
static size_t gap_byte(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	if (*u == ' ' || *u == '.' || *u == '-' || *u == '(' || *u == ')')
		return 1;
	if (u[0] == 0xC2 && u[1] == 0xA0)
		return 2;
	if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xAF || u[2] == 0x89))
		return 3;
	return 0;
}

/* Reads the digit groups from p (a digit, or '+' or '(' before one) into r; returns where the
 * run ends. */
static const char *run_read(const char *p, struct digit_run *r)
{
	memset(r, 0, sizeof *r);
	if (*p == '+')
		r->plus = 1, p++;
	while (r->n < PHONE_GROUPS) {
		int paren = 0;
		const char *g = p;
		size_t k, gap = 0;
		while (gap <= PHONE_GAP && (k = gap_byte(g)) > 0 && !isdigit((unsigned char)*g))
			paren |= *g == '(', gap += k, g += k;
		if (!isdigit((unsigned char)*g) || gap > PHONE_GAP || (r->n == 0 && gap && !paren))
			break;
		r->start[r->n] = g;
		while (isdigit((unsigned char)*g))
			g++;
		r->end[r->n] = g;
		r->len[r->n] = (int)(g - r->start[r->n]);
		r->paren[r->n++] = paren;
		p = g;
	}
	return p;
}

/* Whether groups [a, b] of r are a phone number: with '+' (only from the first group) or "00",
 * 8 to 15 digits; a French 0X XX XX XX XX; a North American (555) 123-4567 or 1 555 123 4567. */
static int phone_shape(const struct digit_run *r, int a, int b)
{
	int digits = 0;
	for (int i = a; i <= b; i++)
		digits += r->len[i];
	const char *first = r->start[a];
	if ((a == 0 && r->plus) || (first[0] == '0' && first[1] == '0' && r->len[a] <= 4))
		return digits >= 8 + 2 * !(a == 0 && r->plus) && digits <= PHONE_DIGITS;
	char second = r->len[a] > 1 ? first[1] : a < b ? r->start[a + 1][0] : '0';
	if (digits == 10 && first[0] == '0')
		return second != '0';
	int k = b - a + 1;
	if (k == 3 && r->len[a] == 3 && r->len[a + 1] == 3 && r->len[b] == 4)
		return 1;
	return k == 4 && r->len[a] == 1 && first[0] == '1' && r->len[a + 1] == 3 &&
	       r->len[a + 2] == 3 && r->len[b] == 4;
}

/* Whether a currency or a percent sign follows a number ending at p ("0612345678 €" is an
 * amount, however odd). */
static int money_after(const char *p)
{
	while (*p == ' ' || ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0))
		p += *p == ' ' ? 1 : 2;
	return !strncmp(p, "\xE2\x82\xAC", 3) || *p == '$' || !strncmp(p, "\xC2\xA3", 2) ||
	       !strncasecmp(p, "eur", 3) || !strncasecmp(p, "usd", 3) || *p == '%';
}

/* Whether the byte before p lets a number start there (not a letter, a digit, '#', '$', '/'
 * or ',': "#1042", "$2,900", "20/04"). */
static int number_may_start(const char *p, const char *floor)
{
	if (p == floor)
		return 1;
	unsigned char c = (unsigned char)p[-1];
	return !isalnum(c) && !strchr("#$/,_@", c) && c != 0xAC;	/* 0xAC: the end of "€" */
}

/* Appends text [p, e) of one digit run to b, its phone numbers replaced by mark. */
static void run_mask(struct buf *b, const struct digit_run *r, const char *p, const char *e,
		     const char *mark)
{
	for (int a = 0; a < r->n; a++) {
		for (int z = r->n - 1; z >= a; z--) {
			if (!phone_shape(r, a, z) || (z == r->n - 1 && money_after(r->end[z])))
				continue;
			const char *s = a == 0 && r->plus ? r->start[0] - 1 : r->start[a];
			if (r->paren[a] && s > p && s[-1] == '(')
				s--;
			buf_append(b, p, (size_t)(s - p));
			buf_puts(b, mark);
			p = r->end[z];
			a = z;
			break;
		}
	}
	buf_append(b, p, (size_t)(e - p));
}

/* text with every phone number replaced by mark (caller frees). */
static char *mask_phones(const char *text, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(text) * 2 + 64);
	const char *p = text, *copied = text;
	while (*p) {
		int opens = isdigit((unsigned char)*p) ||
			    ((*p == '+' || *p == '(') && isdigit((unsigned char)p[1]));
		if (!opens || !number_may_start(p, text)) {
			p++;
			continue;
		}
		struct digit_run r;
		const char *e = run_read(p, &r);
		if (isalpha((unsigned char)*e) || r.n == 0) {
			p = e > p ? e : p + 1;	/* "3x", "10h30": no number to mask */
			continue;
		}
		buf_append(&b, copied, (size_t)(p - copied));
		run_mask(&b, &r, p, e, mark);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}

char *mask_contacts(const char *text, const char *address_mark, const char *phone_mark)
{
	char *clean = xstrdup(text ? text : "");
	charset_strip_controls(clean, 1);
	char *a = mask_addresses(clean, address_mark);
	char *r = mask_phones(a, phone_mark);
	free(a);
	free(clean);
	return r;
}
