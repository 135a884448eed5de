/*
 * mask.c — what a third party may read of a user's text: every e-mail address, phone number
 * and messenger handle in it replaced by a mark, one function for the page, the selections
 * and alerts, the quotes and the relayed messages. Addresses as written (a@b.fr) and as
 * disguised ("jean [at] gmail [dot] com", "j e a n @ gmail . com", "jean arobase gmail point
 * com"); phone numbers told from amounts, dates, references and versions by their shape: "+"
 * or "00" and 8 to 15 digits, a national number with its trunk 0 (9 to 11 digits, one way of
 * grouping), one grouped in pairs ("612 34 56 78"), a North American 3-3-4, or any 8 to 15
 * digits after a word such as "tél", or seven number words in a row ("zéro six douze…");
 * handles after "skype:" and links such as t.me/jean.
 * The words are contrib/mask-words.txt.
 * In: a text, the marks. Out: the masked text (the caller's).
 */
#include "bidmail.h"
#include "mask.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PHONE_DIGITS 15		/* E.164: a number has at most 15 digits */
#define PHONE_GROUPS 16		/* digit groups of one run looked at */
#define PHONE_GAP 3		/* bytes between two groups: " ", " - ", ") ", NBSP */
#define LOCAL_MAX 128		/* bytes of a local part looked at (RFC 5321: 64) */
#define HANDLE_MAX 64		/* bytes of a messenger handle */
#define LINK_MAX 512		/* bytes of a messenger link */

/* ---------------------------------------------------------------- mask-words.txt */

enum mw_kind { MW_AT, MW_AT_WEAK, MW_DOT, MW_TLD, MW_PROVIDER, MW_CUE, MW_HANDLE, MW_NOT_HANDLE,
	       MW_LINK, MW_REFERENCE, MW_NOT_LABEL, MW_NUMBER, MW_KINDS };
static const char *const mw_names[MW_KINDS] = { "at", "at-weak", "dot", "tld", "provider", "cue",
	"handle", "not-handle", "link", "reference", "not-label", "number" };

struct mask_words {
	struct strlist w[MW_KINDS];
};

/* One `kind | word | ...` line into the words arg; 0 or -1 (file:line on stderr). */
static int mw_line(void *arg, char *s, const char *path, int lineno)
{
	struct mask_words *mw = arg;
	char *save = NULL, *head = strtok_r(s, "|", &save);
	const char *h = head ? str_trim(head) : "";
	int k = 0;
	while (k < MW_KINDS && strcmp(h, mw_names[k]))
		k++;
	if (k == MW_KINDS) {
		fprintf(stderr, "%s:%d: expected `kind | word | ...` (kinds: at, at-weak, dot, tld, "
			"provider, cue, handle, not-handle, link, reference, not-label)\n", path, lineno);
		return -1;
	}
	for (char *tok; (tok = strtok_r(NULL, "|", &save)) != NULL;) {
		char *w = str_trim(tok);
		if (*w)
			strlist_add(&mw->w[k], w);
	}
	return 0;
}

struct mask_words *mask_words_free(struct mask_words *w)
{
	if (!w)
		return NULL;
	for (int k = 0; k < MW_KINDS; k++)
		strlist_clear(&w->w[k]);
	free(w);
	return NULL;
}

struct mask_words *mask_words_load(const char *path)
{
	struct mask_words *w = xcalloc(1, sizeof *w);
	if (extract_data_lines(path, 4096, mw_line, w) < 0)
		return mask_words_free(w);
	return w;
}

/* The words of kind k in use: those loaded with the amounts (none before a load). */
static const struct strlist *words(enum mw_kind k)
{
	static const struct strlist none;
	const struct mask_words *w = money_vocab_contacts(extract_data_money());
	return w ? &w->w[k] : &none;
}

static int word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* The length of the longest word of kind k standing at p as a whole word (ASCII case
 * ignored; a word ending with a letter or digit must end there), 0 when none. */
static size_t word_at(const char *p, const char *floor, enum mw_kind k)
{
	const struct strlist *l = words(k);
	size_t best = 0;
	if (p > floor && word_byte((unsigned char)p[-1]))
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);
		if (n <= best || strncasecmp(p, l->v[i], n))
			continue;
		if (isalnum((unsigned char)l->v[i][n - 1]) && word_byte((unsigned char)p[n]))
			continue;
		best = n;
	}
	return best;
}

/* Whether a word of kind k ends right at e, starting a word (nothing is asked of what
 * follows: "Tel0612345678"). */
static int word_ends_at(const char *e, const char *floor, enum mw_kind k)
{
	const struct strlist *l = words(k);
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);
		if ((size_t)(e - floor) < n || strncasecmp(e - n, l->v[i], n))
			continue;
		if (e - n == floor || !word_byte((unsigned char)e[-(ptrdiff_t)n - 1]) ||
		    !word_byte((unsigned char)l->v[i][0]))
			return 1;
	}
	return 0;
}

/* Whether the full word [p, p + n) is one of kind k. */
static int word_is(const char *p, size_t n, enum mw_kind k)
{
	const struct strlist *l = words(k);
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && !strncasecmp(p, l->v[i], n))
			return 1;
	return 0;
}

/* The blanks (space, tab, NBSP) at p: their length. */
static size_t blanks_at(const char *p)
{
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		if (p[n] == ' ' || p[n] == '\t')
			n++;
		else if ((unsigned char)p[n] == 0xC2 && (unsigned char)p[n + 1] == 0xA0)
			n += 2;
		else
			break;
	}
	return n;
}

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
	while (s > floor && p - s < LOCAL_MAX) {
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
	buf_init(&b, strlen(clean) * (strlen(mark) + 1) + 64);
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

/* ---------------------------------------------------------------- disguised addresses */

/* How a '.' of a domain is written: "." (tight), " . " (spaced), "[dot]" (bracketed), " dot "
 * (a word). */
enum dot_kind { DOT_TIGHT = 1, DOT_SPACED = 2, DOT_BRACKET = 4, DOT_WORD = 8 };

/* The length of a label of a domain at p (ASCII letters, digits, '-', UTF-8 letters). */
static size_t label_len(const char *p)
{
	size_t n = 0, k;
	for (;;) {
		if (n > 63)
			return 0;	/* DNS: a label has at most 63 bytes */
		if (isalnum((unsigned char)p[n]) || (p[n] == '-' && n > 0))
			n++;
		else if ((k = letter_utf8((const unsigned char *)p + n)) > 0)
			n += k;
		else
			return n;
	}
}

/* A word of kind k in brackets at p ("[at]", "(dot)", "{ at }", "<at>"): its length, 0 when
 * none. */
static size_t bracketed_at(const char *p, const char *floor, enum mw_kind k)
{
	static const char open[] = "[({<", close[] = "])}>";
	const char *o = *p ? strchr(open, *p) : NULL;
	if (!o)
		return 0;
	const char *q = p + 1;
	q += blanks_at(q);
	size_t n = word_at(q, floor, k);
	if (!n)
		return 0;
	q += n;
	q += blanks_at(q);
	return *q == close[o - open] ? (size_t)(q + 1 - p) : 0;
}

/* A dot of a domain at p (after a label): its length and kind, 0 when none. */
static size_t dot_at(const char *p, const char *floor, int *kind)
{
	size_t b = blanks_at(p), n;
	const char *q = p + b;
	if (*q == '.') {
		size_t a = blanks_at(q + 1);
		*kind = b || a ? DOT_SPACED : DOT_TIGHT;
		return b + 1 + a;
	}
	if ((n = bracketed_at(q, floor, MW_DOT)) > 0) {
		*kind = DOT_BRACKET;
		return b + n + blanks_at(q + n);
	}
	if (b && (n = word_at(q, floor, MW_DOT)) > 0 && blanks_at(q + n)) {
		*kind = DOT_WORD;
		return b + n + blanks_at(q + n);
	}
	return 0;
}

/* A domain as people disguise it, from p: labels joined by dots of any kind, the last one
 * letters only, and a known tld when a dot is spaced or a word. Returns its end (p when
 * none); the dots' kinds or'ed in *kinds, the first label's length in *first. */
static const char *disguised_domain(const char *p, const char *floor, int *kinds, size_t *first)
{
	size_t n = label_len(p);
	const char *e = p + n, *last = p;
	*kinds = 0;
	*first = n;
	for (int i = 0; n && i < 8; i++) {
		int kind = 0;
		size_t d = dot_at(e, floor, &kind), m = d ? label_len(e + d) : 0;
		if (!m)
			break;
		*kinds |= kind;
		last = e + d;
		e = last + m;
	}
	if (!*kinds)
		return p;
	for (const char *q = last; q < e; q++)
		if (!isalpha((unsigned char)*q))
			return p;
	if (e - last < 2 || ((*kinds & (DOT_SPACED | DOT_WORD)) && !word_is(last, (size_t)(e - last), MW_TLD)))
		return p;
	return e;
}

/* Where the local part of a disguised address ending at e starts (e when none): a word, or
 * letters one by one ("j e a n"), or words joined by dot words ("jean dot dupont"). */
static const char *disguised_local(const char *e, const char *floor)
{
	const char *s = local_start(e, floor);
	if (s == e)
		return e;
	if (e - s == 1 && isalpha((unsigned char)*s))
		while (s - floor >= 2 && e - s < LOCAL_MAX && s[-1] == ' ' && isalpha((unsigned char)s[-2]) &&
		       (s - 2 == floor || !word_byte((unsigned char)s[-3])))
			s -= 2;
	for (int i = 0; i < 3 && s - floor > 2 && s[-1] == ' '; i++) {
		const char *d = s - 1;	/* " dot " before: the word before it is the local part's */
		while (d > floor && word_byte((unsigned char)d[-1]))
			d--;
		if (!word_is(d, (size_t)(s - 1 - d), MW_DOT) || d - floor < 2 || d[-1] != ' ')
			break;
		const char *w = local_start(d - 1, floor);
		if (w == d - 1)
			break;
		s = w;
	}
	return s;
}

/* An '@' or an at word at p: its length, *strong set unless it is an ordinary word ("at",
 * "chez"); 0 when none. A plain '@' with no blank around is mask_addresses' to read. */
static size_t at_marker(const char *p, const char *floor, int *strong)
{
	size_t n;
	*strong = 1;
	if (*p == '@')
		return 1;
	if ((n = bracketed_at(p, floor, MW_AT)) > 0 || (n = bracketed_at(p, floor, MW_AT_WEAK)) > 0)
		return n;
	if (p == floor || p[-1] != ' ')
		return 0;
	if ((n = word_at(p, floor, MW_AT)) > 0 && p[n] == ' ')
		return n;
	*strong = 0;
	return (n = word_at(p, floor, MW_AT_WEAK)) > 0 && p[n] == ' ' ? n : 0;
}

/* The disguised address whose at marker stands at p: its start and end in *s, *e; 0 when
 * there is none. */
static int disguised_at(const char *p, const char *floor, const char **s, const char **e)
{
	int strong, kinds;
	size_t first, n = at_marker(p, floor, &strong);
	if (!n)
		return 0;
	const char *le = p, *d = p + n;
	while (le > floor && le[-1] == ' ' && p - le < 2)
		le--;
	d += blanks_at(d) <= 2 ? blanks_at(d) : 0;
	*s = disguised_local(le, floor);
	*e = disguised_domain(d, floor, &kinds, &first);
	if (*s == le || *e == d)
		return 0;
	if (*p == '@' && le == p && d == p + 1 && kinds == DOT_TIGHT)
		return 0;	/* a@b.fr: an address as written */
	if (!strong && !(kinds & (DOT_BRACKET | DOT_WORD)) && !word_is(d, first, MW_PROVIDER))
		return 0;	/* "work at acme.com" */
	if (word_is(d, first, MW_NOT_LABEL))
		return 0;	/* "look at the point com" */
	return 1;
}

/* text with every disguised address replaced by mark (caller frees). */
static char *mask_disguised(const char *text, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(text) * (strlen(mark) + 1) + 64);
	const char *p = text, *copied = text, *s, *e;
	while (*p) {
		int may = *p == '@' || strchr("[({<", *p) ||
			  (p > copied && p[-1] == ' ' && word_byte((unsigned char)*p));
		if (!may || !disguised_at(p, copied, &s, &e)) {
			p++;
			continue;
		}
		buf_append(&b, copied, (size_t)(s - copied));
		buf_puts(&b, mark);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}

/* ---------------------------------------------------------------- handles and links */

static int url_byte(unsigned char c)
{
	return isalnum(c) || (c && strchr("-._~/?#@!$&*+=%:", c));
}

/* The end of a messenger link whose prefix (mask-words link) stands at p, its start in *s
 * (with "https://", "www." before it); p when none. */
static const char *link_at(const char *p, const char *floor, const char **s)
{
	size_t n = word_at(p, floor, MW_LINK);
	if (!n || (p > floor && (p[-1] == '.' || p[-1] == '-')))
		return p;
	const char *e = p + n;
	while (url_byte((unsigned char)*e) && e - p < LINK_MAX)
		e++;
	while (e > p + n && strchr(".,;:!?", e[-1]))
		e--;
	if (e == p + n)
		return p;
	*s = p;
	if (*s - floor >= 4 && !strncasecmp(*s - 4, "www.", 4))
		*s -= 4;
	for (int i = 0; i < 2; i++) {
		const char *scheme = i ? "http://" : "https://";
		size_t k = strlen(scheme);
		if ((size_t)(*s - floor) >= k && !strncasecmp(*s - k, scheme, k))
			*s -= k;
	}
	return e;
}

static int handle_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || (c && strchr("._-@:+#", c));
}

/* The handle written after a messenger's name at p ("skype: jean.dupont", "telegram
 * @jean_d", "discord jean#1234"): its start in *s and its end; p when none. A number is the
 * phone pass's; a plain word is a handle only after a colon and at the end of its clause
 * ("Skype: jeandupont", not "Skype: we can talk"). */
static const char *handle_at(const char *p, const char *floor, const char **s)
{
	size_t n = word_at(p, floor, MW_HANDLE);
	if (!n)
		return p;
	const char *q = p + n;
	q += blanks_at(q);
	int colon = *q == ':' || *q == '=' || !strncmp(q, "\xEF\xBC\x9A", 3);
	if (colon)
		q += *q == ':' || *q == '=' ? 1 : 3;
	q += blanks_at(q);
	const char *e = q;
	while (handle_byte((unsigned char)*e) && e - q <= HANDLE_MAX)
		e++;
	if (e - q > HANDLE_MAX)
		return p;
	while (e > q && strchr(".:-", e[-1]))
		e--;
	if (e == q || isdigit((unsigned char)*q) || *q == '+' || *q == ':' ||
	    word_is(q, (size_t)(e - q), MW_NOT_HANDLE))
		return p;
	int marked = *q == '@';
	for (const char *c = q; c < e && !marked; c++)
		marked = strchr("._#@", *c) || isdigit((unsigned char)*c);
	const char *after = e + blanks_at(e);
	if (!marked && !(colon && (!*after || strchr("\r\n,;)/", *after) || (*after == '.' && !isalnum((unsigned char)after[1])))))
		return p;
	*s = q;
	return e;
}

/* text with every messenger link and handle replaced by mark (caller frees). */
static char *mask_handles(const char *text, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(text) * (strlen(mark) + 1) + 64);
	const char *p = text, *copied = text, *s = NULL, *e;
	while (*p) {
		if (!word_byte((unsigned char)*p) || (p > copied && word_byte((unsigned char)p[-1]))) {
			p++;
			continue;
		}
		if ((e = link_at(p, copied, &s)) == p && (e = handle_at(p, copied, &s)) == p) {
			p++;
			continue;
		}
		buf_append(&b, copied, (size_t)(s - copied));
		buf_puts(&b, mark);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}


/* One run of digit groups: where each group starts and ends, its digit count, the kind of
 * the gap before it (' ' for blanks and parentheses, else its punctuation: '.', '-', '/'), and
 * whether a '+' or a '(' opens it. */
struct digit_run {
	const char *start[PHONE_GROUPS], *end[PHONE_GROUPS];
	int len[PHONE_GROUPS];
	char gap[PHONE_GROUPS];
	int plus, paren[PHONE_GROUPS];
	int n;
};

/* The length of a gap between digit groups at p (space, NBSP, narrow NBSP, '.', '-', '/',
 * '(' or ')'), 0 when p is none. */
static size_t gap_byte(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	if (*u == ' ' || *u == '.' || *u == '-' || *u == '/' || *u == '(' || *u == ')')
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
		char kind = ' ';
		const char *g = p;
		size_t k, gap = 0;
		while (gap <= PHONE_GAP && (k = gap_byte(g)) > 0 && !isdigit((unsigned char)*g)) {
			paren |= *g == '(';
			if (k == 1 && *g != ' ' && *g != '(' && *g != ')')
				kind = *g;
			gap += k, g += k;
		}
		if (!isdigit((unsigned char)*g) || gap > PHONE_GAP || (r->n == 0 && gap && !paren))
			break;
		r->start[r->n] = g;
		while (isdigit((unsigned char)*g))
			g++;
		r->end[r->n] = g;
		r->len[r->n] = (int)(g - r->start[r->n]);
		r->gap[r->n] = kind;
		r->paren[r->n++] = paren;
		p = g;
	}
	return p;
}

/* Whether groups [a, b] are grouped one way: every gap after the first the same kind, and a
 * '/' only after the area code ("030/1234567"). A date and a time ("04.03.2026 10.30"), or
 * two times ("08.00-12.00"), mix them. */
static int one_grouping(const struct digit_run *r, int a, int b)
{
	for (int i = a + 2; i <= b; i++)
		if (r->gap[i] != r->gap[a + 2] || r->gap[i] == '/')
			return 0;
	return 1;
}

/* Whether groups [a, b] look like thousands ("10 000 000", "1.500.000"). */
static int thousands(const struct digit_run *r, int a, int b)
{
	if (b == a || r->len[a] > 3 || r->start[a][0] == '0')
		return 0;
	for (int i = a + 1; i <= b; i++)
		if (r->len[i] != 3)
			return 0;
	return 1;
}

/* A national number with its trunk 0: 9 to 11 digits, grouped one way, an area code of at
 * most 5 digits and no group of one after it ("06 12 34 56 78", "020 7946 0958",
 * "07700 900123", "030/1234567", "02 123 45 67", "0171 1234567"), or 10-11 digits unbroken. */
static int national_shape(const struct digit_run *r, int a, int b, int digits)
{
	const char *first = r->start[a];
	char second = r->len[a] > 1 ? first[1] : a < b ? r->start[a + 1][0] : '0';
	if (first[0] != '0' || second == '0' || digits < 9 || digits > 11)
		return 0;
	if (a == b)
		return digits >= 10;
	if (r->len[a] > 5 || !one_grouping(r, a, b))
		return 0;
	for (int i = a + 1; i <= b; i++)
		if (r->len[i] < 2)
			return 0;
	return 1;
}

/* A number grouped in pairs after a lead of at most 3 digits, 9 to 11 digits in one
 * grouping ("612 34 56 78", "6 12 34 56 78"): amounts, dates and references are never
 * written so. */
static int pairs_shape(const struct digit_run *r, int a, int b, int digits)
{
	if (b - a < 3 || digits < 9 || digits > 11 || r->len[a] > 3 || !one_grouping(r, a, b))
		return 0;
	for (int i = a + 1; i <= b; i++)
		if (r->len[i] != 2)
			return 0;
	return 1;
}

/* Whether groups [a, b] of r are a phone number: with '+' (only from the first group) or "00",
 * 8 to 15 digits; after a phone word (cued), 8 to 15 digits that are no thousands; a
 * national number (national_shape); one in pairs (pairs_shape); a North American (555)
 * 123-4567 or 1 555 123 4567. */
static int phone_shape(const struct digit_run *r, int a, int b, int cued)
{
	int digits = 0;
	for (int i = a; i <= b; i++)
		digits += r->len[i];
	const char *first = r->start[a];
	for (int i = a + 2; i <= b; i++)
		if (r->gap[i] == '/')
			return 0;	/* "+33 6 12 34 56 78 / 06 98 76 54 32": two numbers */
	if (a < b && r->gap[a + 1] == '/' && (first[0] != '0' || first[1] == '0' || r->len[a] > 5))
		return 0;	/* only an area code is followed by a '/' */
	if ((a == 0 && r->plus) ||
	    (first[0] == '0' && first[1] == '0' && first[2] != '0' && (r->len[a] <= 4 || a == b)))
		return digits >= 8 + 2 * !(a == 0 && r->plus) && digits <= PHONE_DIGITS;
	if (cued && digits >= 8 && digits <= PHONE_DIGITS && (digits > 8 || !thousands(r, a, b)))
		return 1;
	if (national_shape(r, a, b, digits) || pairs_shape(r, a, b, digits))
		return 1;
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

/* Where the words before a number at p end: the separators between a word and its number
 * (" : ", " n° ", "=", "-") skipped back, at most 6 bytes. */
static const char *before_number(const char *p, const char *floor)
{
	const char *q = p;
	while (q > floor && p - q < 6 && (strchr(" \t:.=-(", q[-1]) ||
					  ((unsigned char)q[-1] == 0xA0 && q - 1 > floor &&
					   (unsigned char)q[-2] == 0xC2)))
		q -= (unsigned char)q[-1] == 0xA0 ? 2 : 1;
	return q;
}

/* Whether the byte before p lets a number start there (not a letter, a digit, '#', '$', '/'
 * or ',': "#1042", "$2,900", "20/04"), or a phone word glued to it ("Tel0612345678"). */
static int number_may_start(const char *p, const char *floor)
{
	if (p == floor)
		return 1;
	unsigned char c = (unsigned char)p[-1];
	const char *q = p - 1;	/* the first byte of the UTF-8 sequence ending at p */
	while (q > floor && p - q < 4 && ((unsigned char)*q & 0xC0) == 0x80)
		q--;
	if (isalpha(c) || (c >= 0x80 && letter_utf8((const unsigned char *)q) == (size_t)(p - q)))
		return word_ends_at(p, floor, MW_CUE);
	return !isalnum(c) && !strchr("#$/,_@", c) && c != 0xAC;	/* 0xAC: the end of "€" */
}

/* Appends text [p, e) of one digit run to b, its phone numbers replaced by mark: one from
 * the run's start, and the next from the end of the one before. */
static void run_mask(struct buf *b, const struct digit_run *r, const char *p, const char *e,
		     const char *mark, int cued)
{
	for (int a = 0; a < r->n; a++) {
		int z = r->n - 1;
		while (z >= a && (!phone_shape(r, a, z, cued) ||
				  (z == r->n - 1 && money_after(r->end[z]))))
			z--;
		if (z < a)
			break;
		const char *s = a == 0 && r->plus ? r->start[0] - 1 : r->start[a];
		if (r->paren[a] && s > p && s[-1] == '(')
			s--;
		buf_append(b, p, (size_t)(s - p));
		buf_puts(b, mark);
		p = r->end[z];
		a = z;
	}
	buf_append(b, p, (size_t)(e - p));
}

/* text with every phone number replaced by mark (caller frees). A number right after a
 * reference word ("devis n° 0612345678", "SIRET") is none, unless written with '+'. */
static char *mask_phones(const char *text, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(text) * (strlen(mark) + 1) + 64);
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
		const char *w = before_number(p, text);
		int cued = word_ends_at(w, text, MW_CUE);
		if (!r.plus && !cued && word_ends_at(w, text, MW_REFERENCE)) {
			p = e;
			continue;
		}
		buf_append(&b, copied, (size_t)(p - copied));
		run_mask(&b, &r, p, e, mark, cued);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}

/* ---------------------------------------------------------------- numbers spelled out */

#define SPELLED_MIN 7		/* number words in a row that spell a phone number */

/* The end of the run of number words at p ("zéro six, douze trente-quatre…", "oh six one
 * two…"): words of kind `number` joined by blanks, commas, hyphens, dots or "et"/"and"; *count
 * their number. p itself when no number word starts there. */
static const char *spelled_run(const char *p, const char *floor, int *count)
{
	const char *e = p, *q = p;
	*count = 0;
	for (;;) {
		size_t n = word_at(q, floor, MW_NUMBER);
		if (!n) {
			if (*count && (!strncasecmp(q, "et ", 3) || !strncasecmp(q, "and ", 4))) {
				q += *q == 'e' || *q == 'E' ? 3 : 4;
				continue;
			}
			return e;
		}
		(*count)++;
		e = q + n;
		q = e;
		while (*q == ' ' || *q == ',' || *q == '-' || *q == '.' || *q == '\t' ||
		       !strncmp(q, "\xC2\xA0", 2))
			q += !strncmp(q, "\xC2\xA0", 2) ? 2 : 1;
	}
}

/* A phone number written in words: SPELLED_MIN number words or more in a row (an amount in
 * words has "mille", "cents", "thousand" between its numbers, a date its month). */
static char *mask_spelled(const char *text, const char *mark)
{
	struct buf b;
	buf_init(&b, strlen(text) + strlen(mark) + 64);
	const char *p = text, *copied = text;
	while (*p) {
		int count;
		const char *e = word_byte((unsigned char)*p) ? spelled_run(p, copied, &count) : p;
		if (e == p || count < SPELLED_MIN) {
			p = e > p ? e : p + 1;
			continue;
		}
		buf_append(&b, copied, (size_t)(p - copied));
		buf_puts(&b, mark);
		copied = p = e;
	}
	buf_puts(&b, copied);
	return buf_steal(&b);
}

char *mask_contacts(const char *text, const char *address_mark, const char *phone_mark)
{
	char *clean = xstrdup(text ? text : "");
	charset_strip_controls(clean, 1);
	char *d = mask_disguised(clean, address_mark);
	char *a = mask_addresses(d, address_mark);
	char *h = mask_handles(a, address_mark);
	char *ph = mask_phones(h, phone_mark);
	char *r = mask_spelled(ph, phone_mark);
	free(ph);
	free(h);
	free(a);
	free(d);
	free(clean);
	return r;
}
