/*
 * extract_reply.c — the new text of a reply: what the sender wrote now, without the quoted
 * message and without the signature. In: UTF-8 text (HTML bodies arrive with their blockquotes
 * already turned into "> " lines by html.c), optionally the text the board sent that the reply
 * answers. Out: an owned string.
 * One linear pass over lines with bounded look-ahead (at most 6 lines, 14 for Lotus blocks):
 * no regular expressions, no backtracking. Each line is normalised once, on first use, with
 * the flags the rules test (date, address, digit, colon, verb, "could end an attribution",
 * the phrase kinds that may open one of its words), plain ASCII eight bytes at a time, so a
 * window re-reads flags, not text; the phrase lists are indexed at load (first byte, pair of
 * first bytes, last byte for verbs) and searched in one pass over a line, at word starts (a
 * phrase that ends with a letter of a spaced script up to a word end, unless marked '*').
 * A line with the same bytes as one of the four above it (a "twin": repeated footers, rules,
 * pasted runs) reads what is known of it by its bytes alone from the first of them: its
 * normalised form (shared, not copied) and flags, verb, lone key, separator, mid-line
 * attribution, word hashes. A line's record is packed (64 bytes: often more than the line) and
 * a body without invisible characters is read in place; whether a header block starts at a line
 * is kept on it. The copy of what we sent is looked for only when the reply holds a run of
 * words that a bit set of our words lets through (most replies: one read, nothing stored).
 * Order: the copies of what we sent (runs of words repeating it, quoted or not, with the
 * header above each; the text between them stays);
 * then attributions (by their shape in any language, and by the phrases of
 * contrib/reply-phrases.txt; a run whose only evidence is its verb and that speaks of the writer
 * or the reader, "As I wrote:", is the reply's own sentence; over an unquoted old message a run
 * must carry a date, a time or an address and end with its verb or an "<address>"), header
 * blocks, separators, '>' runs
 * (inline answers between them kept); then signatures: "-- " or a rule over what reads as one (no amount, delay or numbered
 * field, at most one sentence), mobile footers, sign-offs, "-Name", a name+phone block, the
 * sender's name.
 */
#include "bidmail.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int has_date(const char *t);
static unsigned char phrase_kinds_opening(const char *t, size_t n);
static int verb_ends(const char *j, size_t end);

#define LOOKAHEAD 6
#define MAX_HEADER_JOIN 600

struct rline {	/* packed: one per line of the body, often bigger than the line itself */
	const char *s;	/* the line, without its line break */
	char *norm;	/* its normalised form (normalise), computed once, on first use; a twin's
			 * points to the first line's */
	const struct rline *twin;	/* the first of the lines just above with the same bytes:
					 * what is known of a line by its bytes alone is read there */
	uint32_t n;
	uint32_t cut;	/* keep only the first cut bytes (a header starting mid-line) */
	uint32_t nn, cap;	/* the length of norm; the bytes norm can hold (at least n + 4) */
	uint32_t mid;	/* midline_attribution's offset, when mid_known */
	int to_at;	/* next_to_line from this line + 1, 0 not looked at */
	signed char quoted;	/* starts with '>' after optional blanks */
	signed char blank;
	signed char keep;
	signed char copy;	/* all its words repeat the text we sent (drop_known_copy) */
	signed char kept0;	/* kept before mark_quotes ran (the never-lose fallback) */
	signed char normed;
	signed char dated;	/* its normalised form holds a date or a time (has_date) */
	unsigned char seen;	/* what its normalised form holds: SEEN_AT, SEEN_DIGIT, SEEN_COLON */
	unsigned char opens;	/* the phrase kinds whose first two bytes open one of its words
				 * (OPENS_*): a kind not there stands nowhere in it */
	signed char verbed;	/* it holds an attribution verb: 1, 0, or -1 not looked at yet */
	signed char lone;	/* the group of the header key alone on it (lone_key), -1 not looked at */
	signed char ender;	/* ENDS_ATTRIBUTION: it could end an attribution, ending with ':',
				 * '>' or a verb (with or without trailing dashes); ENDS_COLON,
				 * ENDS_ANGLE: its last byte, trailing dashes aside, is ':' or '>' */
	signed char sep;	/* separator_at + 1, 0 not looked at */
	signed char mid_known;	/* midline_attribution looked at, its offset in mid */
	signed char hb;	/* header_block_at from this line: 0 not looked at, 1 no, 2 yes */
	signed char vae;	/* its dashless form ends_with_verb_or_address: 0 not looked at, 1
				 * no, 2 yes (a twin's read from its first line) */
};
_Static_assert(sizeof(struct rline) == 64, "a line's record is one cache line");

enum { SEEN_AT = 1, SEEN_DIGIT = 2, SEEN_COLON = 4 };
enum { ENDS_ATTRIBUTION = 1, ENDS_COLON = 2, ENDS_ANGLE = 4 };	/* rline.ender */
enum { OPENS_VERB = 1, OPENS_CUT = 2, OPENS_FORWARD = 4, OPENS_LONG = 0x80 };

static int is_space_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The lower-case form of the UTF-8 letter at s (n bytes left) into out; its length in *used,
 * the bytes written returned. ASCII, Latin-1, Latin Extended-A, Cyrillic and Greek capitals. */
static size_t lower_utf8(const unsigned char *s, size_t n, char *out, size_t *used)
{
	unsigned c = s[0];
	*used = 1;
	if (c < 0x80) {
		out[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		return 1;
	}
	if (n < 2 || (c & 0xE0) != 0xC0) {
		out[0] = (char)c;
		return 1;
	}
	unsigned cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
	*used = 2;
	if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || (cp >= 0x391 && cp <= 0x3A9) ||
	    (cp >= 0x410 && cp <= 0x42F))
		cp += 0x20;
	else if (cp >= 0x400 && cp <= 0x40F)
		cp += 0x50;
	else if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) && !(cp & 1))
		cp += 1;
	else if (cp >= 0x139 && cp <= 0x148 && (cp & 1))
		cp += 1;
	out[0] = (char)(0xC0 | (cp >> 6));
	out[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

/* Copies a line with no-break spaces made plain, full-width colons made ':', '*' and leading
 * blanks/dashes dropped, lower case (lower_utf8): the form the header rules compare. */
/* The plain ASCII bytes normalise copies as they are, lowered: their lower form, 0 for the
 * others (controls, '*', bytes of UTF-8 sequences); and the ASCII letters and digits. */
static unsigned char ascii_plain[256], ascii_alnum[256];
static unsigned char ascii_seen[256];	/* SEEN_AT for '@', SEEN_DIGIT, SEEN_COLON for ':' */

/* Built once (pthread_once): two parsing threads may start together on a backlog. */
static pthread_once_t ascii_once = PTHREAD_ONCE_INIT;

static void ascii_tables_build(void)
{
	for (int c = ' '; c < 0x7F; c++) {
		ascii_plain[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		ascii_alnum[c] = (unsigned char)isalnum(c);
		ascii_seen[c] = c == '@' ? SEEN_AT : c == ':' ? SEEN_COLON : isdigit(c) ? SEEN_DIGIT : 0;
	}
	ascii_plain['*'] = 0;
}

static void ascii_tables(void)
{
	pthread_once(&ascii_once, ascii_tables_build);
}

#define ONES8 0x0101010101010101ULL
#define HIGH8 0x8080808080808080ULL

/* The bytes of x (all ASCII) that are c: their high bits (exact as a whole: 0 or not). */
static inline uint64_t bytes_equal(uint64_t x, unsigned c)
{
	uint64_t v = x ^ (ONES8 * c);
	return (v - ONES8) & ~v & HIGH8;
}

/* The bytes of x (all ASCII) from lo to hi: their high bits. */
static inline uint64_t bytes_within(uint64_t x, unsigned lo, unsigned hi)
{
	return ((x + ONES8 * (0x80 - lo)) ^ (x + ONES8 * (0x7F - hi))) & HIGH8;
}

/* normalise's run of plain ASCII eight bytes at a time: when the eight bytes at s are all
 * plain (ascii_plain: printable, no '*'), writes their lower form to out, adds to seen[0..2]
 * the bytes that are '@', ':' and digits (high bits; normalise_seen makes SEEN_* of them once)
 * and returns 1; 0 otherwise (nothing written). */
static inline int ascii8_plain(const char *s, char *out, uint64_t *seen)
{
	uint64_t x;
	memcpy(&x, s, 8);
	/* 0x7F and over: (x + 1) or x has the high bit (no carry leaves a byte under 0x80) */
	if ((((x + ONES8) | x) & HIGH8) || (((x - ONES8 * 0x20) & ~x & HIGH8)) ||
	    bytes_equal(x, '*'))
		return 0;
	x |= bytes_within(x, 'A', 'Z') >> 2;	/* 0x80 >> 2: 0x20, capitals lowered */
	memcpy(out, &x, 8);
	seen[0] |= bytes_equal(x, '@');
	seen[1] |= bytes_equal(x, ':');
	seen[2] |= bytes_within(x, '0', '9');
	return 1;
}

/* normalise, and the SEEN_* flags of what it wrote in *seen. */
static size_t normalise_seen(const char *s, size_t n, char *out, size_t max, int drop_dashes,
			     unsigned *seen)
{
	size_t w = 0, i = 0;
	unsigned got = 0;
	uint64_t seen8[3] = { 0, 0, 0 };	/* what the eight-byte runs held (ascii8_plain) */
	ascii_tables();
	while (i < n && (is_space_byte((unsigned char)s[i]) || (drop_dashes && s[i] == '-') ||
			 s[i] == '*'))
		i++;
	while (i < n && w + 3 < max) {
		/* a run of plain ASCII (most of any mail), bounded by the input and by max */
		size_t lim = n - i < max - 3 - w ? n : i + (max - 3 - w);
		unsigned char a;
		while (i + 8 <= lim && ascii8_plain(s + i, out + w, seen8)) {
			i += 8;
			w += 8;
		}
		while (i < lim && (a = ascii_plain[(unsigned char)s[i]]) != 0) {
			out[w++] = (char)a;
			got |= ascii_seen[a];
			i++;
		}
		if (i >= n || w + 3 >= max)
			break;
		const unsigned char *u = (const unsigned char *)s + i;
		if (ascii_plain[u[0]]) {
			out[w++] = (char)ascii_plain[u[0]];
			got |= ascii_seen[u[0]];
			i++;	/* plain ASCII, most of any mail */
		} else if (u[0] == 0xC2 && i + 1 < n && u[1] == 0xA0) {
			out[w++] = ' ';
			i += 2;
		} else if (u[0] == 0xE2 && i + 2 < n && u[1] == 0x80 && u[2] == 0xAF) {
			out[w++] = ' ';
			i += 3;
		} else if (u[0] == 0xEF && i + 2 < n && u[1] == 0xBC && u[2] == 0x9A) {
			out[w++] = ':';	/* U+FF1A, the full-width colon of CJK clients */
			got |= SEEN_COLON;
			i += 3;
		} else if (u[0] == '*' || u[0] == '\t' || u[0] == '\r') {
			if (u[0] != '*')
				out[w++] = ' ';
			i++;
		} else {
			size_t used;
			w += lower_utf8(u, n - i, out + w, &used);
			i += used;
		}
	}
	while (w > 0 && (out[w - 1] == ' ' || (drop_dashes && out[w - 1] == '-')))
		w--;
	out[w] = '\0';
	got |= (seen8[0] ? SEEN_AT : 0) | (seen8[1] ? SEEN_COLON : 0) | (seen8[2] ? SEEN_DIGIT : 0);
	*seen = got;	/* the blanks and dashes dropped at the end are none of them */
	return w;
}

static size_t normalise(const char *s, size_t n, char *out, size_t max, int drop_dashes)
{
	unsigned seen;
	return normalise_seen(s, n, out, max, drop_dashes, &seen);
}

/* 1 when the normalised line t (n bytes; dn without its trailing dashes and blanks) could be
 * the last of an attribution: it ends, trailing dashes and blanks aside or not, with ':', '>'
 * or an attribution verb. */
static int line_ends_attribution(const char *t, size_t n, size_t dn)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t e = pass ? dn : n;
		if (e == 0 || (pass && e == n))
			continue;
		if (t[e - 1] == ':' || t[e - 1] == '>' || verb_ends(t, e))
			return 1;
	}
	return 0;
}

/* The normalised form of a line, computed on its first use and kept: the rules look at a line
 * from several places (as a start, inside a look-ahead window), and read it once. */
static __attribute__((noinline)) void line_norm_compute(struct rline *ln)
{
	const struct rline *tw = ln->twin;
	if (tw) {	/* the same bytes: the same form and flags */
		if (!tw->normed)
			line_norm_compute((struct rline *)tw);
		ln->norm = tw->norm;	/* read only: shared, not copied */
		ln->nn = tw->nn;
		ln->normed = 1;
		ln->dated = tw->dated;
		ln->seen = tw->seen;
		ln->opens = tw->opens;
		ln->ender = tw->ender;
		return;
	}
	unsigned seen;
	ln->nn = normalise_seen(ln->s, ln->n, ln->norm, ln->cap, 0, &seen);
	ln->normed = 1;
	ln->seen = (unsigned char)seen;
	ln->dated = (seen & SEEN_DIGIT) && has_date(ln->norm);	/* no digit, no date */
	ln->opens = phrase_kinds_opening(ln->norm, ln->nn);
	size_t e = ln->nn;	/* its last byte, trailing dashes and blanks aside */
	while (e > 0 && (ln->norm[e - 1] == '-' || ln->norm[e - 1] == ' '))
		e--;
	ln->ender = (signed char)line_ends_attribution(ln->norm, ln->nn, e);
	if (e > 0 && ln->norm[e - 1] == ':')
		ln->ender |= ENDS_COLON;
	else if (e > 0 && ln->norm[e - 1] == '>')
		ln->ender |= ENDS_ANGLE;
}

static inline const char *line_norm(struct rline *ln, size_t *len)
{
	if (!ln->normed)	/* the first use computes; the others read (most calls) */
		line_norm_compute(ln);
	*len = ln->nn;
	return ln->norm;
}

/* The same with leading and trailing dashes removed too (normalise's drop_dashes); its
 * length in *len (not NUL-terminated at that length). */
static const char *line_norm_dashless(struct rline *ln, size_t *len)
{
	size_t n;
	const char *t = line_norm(ln, &n);
	while (n > 0 && (*t == '-' || *t == ' '))
		t++, n--;
	while (n > 0 && (t[n - 1] == '-' || t[n - 1] == ' '))
		n--;
	*len = n;
	return t;
}

/* Copies the first n bytes of t (at most max - 1) to out, NUL-terminated; returns the length.
 * Not inlined: inlined, gcc copies with "rep movsq", whose start-up costs more than the short
 * lines it copies; libc's memcpy does not. */
static __attribute__((noinline)) size_t copy_norm(char *out, size_t max, const char *t, size_t n)
{
	if (n >= max)
		n = max - 1;
	memcpy(out, t, n);
	out[n] = '\0';
	return n;
}

/* ---------------------------------------------------------------- the phrases (data file) */

enum rp_kind { RP_VERB, RP_OPENER, RP_FROM, RP_DATE, RP_TO, RP_SUBJECT, RP_CC, RP_CUT,
	       RP_FORWARD, RP_MOBILE, RP_SIGNOFF, RP_NOTNAME, RP_DEVICE, RP_MOBILE_END, RP_SELF, RP_COUNT };
static const char *const rp_names[RP_COUNT] = {
	"verb", "opener", "from", "date", "to", "subject", "cc", "cut", "forward", "mobile",
	"signoff", "notname", "device", "mobile-end", "self" };

struct reply_data {
	struct strlist p[RP_COUNT];	/* normalised phrases of each kind */
	int verb_from[257];	/* the verbs (sorted) whose first byte is c: verb_from[c] up to
				 * verb_from[c + 1] */
	size_t *verb_len;	/* the length of each verb */
	int *by_last;	/* the verbs' indexes ordered by their last byte c: by_last[last_from[c]]
			 * up to by_last[last_from[c + 1]] */
	int last_from[257];
	uint16_t *by_last_c2;	/* the byte before the last of each verb in by_last's order
				 * (256 for a verb of one byte) */
	size_t *len[RP_COUNT];	/* the length of each phrase of each kind */
	int from[RP_COUNT][257];	/* each kind sorted: its phrases whose first byte is c are
					 * from[k][c] up to from[k][c + 1] */
	size_t longest[RP_COUNT];	/* the length of the longest phrase of each kind */
	size_t shortest[RP_COUNT];	/* and of the shortest (0: the kind has none) */
	unsigned char *word_end[RP_COUNT];	/* per phrase, 1 when it must end a word (it ends
						 * with a letter of a spaced script, no '*') */
	unsigned char (*pair)[8192];	/* per kind, a bit for each pair of first two bytes
					 * some phrase opens with (NUL second byte: one-byte phrases) */
	unsigned char pair_kinds[65536];	/* per pair of first two bytes, the OPENS_* kinds
						 * of the phrases of one byte (whatever the second)
						 * or two that open with it, and OPENS_LONG when a
						 * longer one does */
	unsigned char pair_long[65536];	/* the kinds of those longer phrases */
	unsigned char triple_kinds[4096];	/* by triple_slot of their first three bytes, the
						 * OPENS_* kinds of those phrases (shared slots:
						 * a filter, never a miss) */
	unsigned char key_first[256];	/* 1 for the first byte of a header-field name */
	uint64_t key_lens[256];	/* the lengths (bit n: n bytes, 63: longer) of the header-field
				 * names whose first byte is c */
};

struct reply_data *extract_reply_data_free(struct reply_data *d)
{
	if (!d)
		return NULL;
	for (int k = 0; k < RP_COUNT; k++) {
		strlist_clear(&d->p[k]);
		free(d->len[k]);
		free(d->word_end[k]);
	}
	free(d->verb_len);
	free(d->by_last);
	free(d->by_last_c2);
	free(d->pair);
	free(d);
	return NULL;
}

/* One `kind | phrase | ...` line into the reply data arg; 0 or -1 (file:line on stderr). */
static int reply_line(void *arg, char *s, const char *path, int lineno)
{
	struct reply_data *d = arg;
	char *save = NULL, *head = strtok_r(s, "|", &save);
	int k = -1;
	head = head ? str_trim(head) : NULL;
	for (int i = 0; head && i < RP_COUNT; i++)
		if (!strcmp(head, rp_names[i]))
			k = i;
	if (k < 0) {
		fprintf(stderr, "%s:%d: expected `kind | phrase | ...` (kind: verb, opener, from, "
			"date, to, subject, cc, cut, forward, mobile, signoff, notname, device, "
			"mobile-end, self)\n", path,
			lineno);
		return -1;
	}
	char *tok, t[256];
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		tok = str_trim(tok);
		size_t tn = strlen(tok), stem = tn > 0 && tok[tn - 1] == '*';
		size_t w = normalise(tok, tn - stem, t, sizeof t - 1, 0);
		if (w && stem)	/* kept as a mark: no normalised line holds a '*' */
			memcpy(t + w, "*", 2);
		if (w)
			strlist_add(&d->p[k], t);
	}
	return 0;
}

/* 1 when the byte c opens a letter of a script that parts its words with spaces: ASCII
 * letters and digits, and the two-byte UTF-8 letters of Latin, Greek and Cyrillic (lead bytes
 * 0xC3 to 0xD3). Hebrew and Arabic (prefixes glued to the next word: "נשלח מה-iPhone") and
 * the scripts without spaces (CJK, Thai) are not. */
static int spaced_letter(unsigned char c)
{
	return ascii_alnum[c] || (c >= 0xC3 && c <= 0xD3);
}

/* 1 when phrase p (n bytes) must be followed by a word end where it stands: it ends with a
 * letter of a spaced script ("mobil" is not the start of "mobilité"). */
static int phrase_needs_word_end(const char *p, size_t n)
{
	size_t last = n;
	while (last > 0 && ((unsigned char)p[last - 1] & 0xC0) == 0x80)
		last--;	/* back to the lead byte of the last character */
	return last > 0 && spaced_letter((unsigned char)p[last - 1]);
}

/* The word-end needs of the phrases of kind g (sorted): a phrase the data file ends with '*'
 * ("telefonom*": Hungarian "telefonomról") opens a word and may go on; it loses the mark. */
static void phrases_word_ends(struct reply_data *d, int g)
{
	struct strlist *pl = &d->p[g];
	d->word_end[g] = xcalloc(pl->n + 1, 1);
	for (size_t f = 0; f < pl->n; f++) {
		size_t n = strlen(pl->v[f]);
		if (n > 1 && pl->v[f][n - 1] == '*')
			pl->v[f][n - 1] = '\0';
		else
			d->word_end[g][f] = (unsigned char)phrase_needs_word_end(pl->v[f], n);
	}
}

/* 1 when phrase i of kind k, found at t[at..end), stands as whole words: it needs no word end
 * (phrases_word_ends) or none of t's letters follows it. */
static inline int phrase_whole_at(const struct reply_data *d, enum rp_kind k, int i,
				  const char *t, size_t end, size_t tn)
{
	return !d->word_end[k][i] || end >= tn || !spaced_letter((unsigned char)t[end]);
}

/* The slot in triple_kinds of the three bytes pr (first two) and c. */
static inline unsigned triple_slot(unsigned pr, unsigned c)
{
	return (unsigned)(((uint32_t)(pr << 8 | c) * 0x9E3779B1u) >> 20);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct reply_data *extract_reply_data_load(const char *path)
{
	struct reply_data *d = xcalloc(1, sizeof *d);
	if (extract_data_lines(path, 4096, reply_line, d) < 0)
		return extract_reply_data_free(d);
	struct strlist *v = &d->p[RP_VERB];
	if (v->n)
		qsort(v->v, v->n, sizeof *v->v, str_cmp);
	size_t k = 0;
	for (int c = 0; c < 257; c++) {
		while (k < v->n && (unsigned char)v->v[k][0] < c)
			k++;
		d->verb_from[c] = (int)k;
	}
	d->verb_len = xcalloc(v->n + 1, sizeof *d->verb_len);
	for (k = 0; k < v->n; k++)
		d->verb_len[k] = strlen(v->v[k]);
	d->by_last = xcalloc(v->n + 1, sizeof *d->by_last);
	size_t w = 0;
	for (int c = 0; c < 256; c++) {
		d->last_from[c] = (int)w;
		for (k = 0; k < v->n; k++)
			if ((unsigned char)v->v[k][d->verb_len[k] - 1] == c)
				d->by_last[w++] = (int)k;
	}
	d->last_from[256] = (int)w;
	d->by_last_c2 = xcalloc(v->n + 1, sizeof *d->by_last_c2);
	for (size_t b = 0; b < w; b++) {
		size_t vn = d->verb_len[d->by_last[b]];
		d->by_last_c2[b] = vn > 1 ? (unsigned char)v->v[d->by_last[b]][vn - 2] : 256;
	}
	for (int g = 0; g < RP_COUNT; g++) {
		struct strlist *pl = &d->p[g];
		if (pl->n)
			qsort(pl->v, pl->n, sizeof *pl->v, str_cmp);
		phrases_word_ends(d, g);
		size_t f = 0;
		for (int c = 0; c < 257; c++) {
			while (f < pl->n && (unsigned char)pl->v[f][0] < c)
				f++;
			d->from[g][c] = (int)f;
		}
		if (!d->pair)
			d->pair = xcalloc(RP_COUNT, sizeof *d->pair);
		unsigned opens = g == RP_VERB ? OPENS_VERB : g == RP_CUT ? OPENS_CUT :
				 g == RP_FORWARD ? OPENS_FORWARD : 0;
		for (f = 0; f < pl->n; f++) {
			const unsigned char *pv = (const unsigned char *)pl->v[f];
			unsigned pr = (unsigned)pv[0] << 8 | pv[1];
			d->pair[g][pr >> 3] |= (unsigned char)(1u << (pr & 7));
			if (!pv[1])	/* a one-byte phrase: whatever follows its byte */
				for (unsigned x = 0; x < 256; x++)
					d->pair_kinds[pr | x] |= (unsigned char)opens;
			if (!pv[1] || !pv[2]) {
				d->pair_kinds[pr] |= (unsigned char)opens;
				continue;
			}
			d->pair_long[pr] |= (unsigned char)opens;
			if (opens)
				d->pair_kinds[pr] |= OPENS_LONG;
			d->triple_kinds[triple_slot(pr, pv[2])] |= (unsigned char)opens;
		}
		d->len[g] = xcalloc(d->p[g].n + 1, sizeof *d->len[g]);
		for (k = 0; k < d->p[g].n; k++) {
			d->len[g][k] = strlen(d->p[g].v[k]);
			if (d->len[g][k] > d->longest[g])
				d->longest[g] = d->len[g][k];
			if (!k || d->len[g][k] < d->shortest[g])
				d->shortest[g] = d->len[g][k];
			if (g >= RP_FROM && g <= RP_CC) {
				unsigned char c0 = (unsigned char)d->p[g].v[k][0];
				d->key_first[c0] = 1;
				d->key_lens[c0] |= 1ULL << (d->len[g][k] < 63 ? d->len[g][k] : 63);
			}
		}
	}
	return d;
}

/* The phrases of kind k in use (none before extract_load: the shapes alone apply); those
 * opening with byte c are the indexes *lo up to *hi. */
static const struct strlist *phrases_opening(enum rp_kind k, unsigned char c, int *lo, int *hi)
{
	static const struct strlist empty;
	const struct reply_data *d = extract_data_reply();
	*lo = d ? d->from[k][c] : 0;
	*hi = d ? d->from[k][c + 1] : 0;
	return d ? &d->p[k] : &empty;
}

/* 1 when t starts with a phrase of kind k followed by a space or the end (a whole word). */
static int starts_with_word(const char *t, enum rp_kind k)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const struct strlist *l = &d->p[k];
	unsigned char c = (unsigned char)t[0];
	for (int i = d->from[k][c]; i < d->from[k][c + 1]; i++) {	/* those opening with c */
		size_t pn = d->len[k][i];
		if (!strncmp(t, l->v[i], pn) && (t[pn] == ' ' || !t[pn]))
			return 1;
	}
	return 0;
}

/* 1 when t (tn bytes) opens with a phrase of kind k as whole words (phrase_whole_at). */
static int phrase_opens(enum rp_kind k, const char *t, size_t tn)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const struct strlist *l = &d->p[k];
	unsigned char c = (unsigned char)t[0];
	for (int i = d->from[k][c]; i < d->from[k][c + 1]; i++) {
		size_t pn = d->len[k][i];
		if (pn <= tn && !memcmp(t, l->v[i], pn) && phrase_whole_at(d, k, i, t, pn, tn))
			return 1;
	}
	return 0;
}

/* 1 when some phrase of kind k may open at t (n bytes left): its first two bytes are those of
 * one (the pair bitmap; a one-byte phrase tested by its pair with NUL). */
static inline int pair_opens(const unsigned char *pm, const char *t, size_t n)
{
	unsigned c = (unsigned)(unsigned char)t[0] << 8;
	unsigned pr = c | (n > 1 ? (unsigned char)t[1] : 0u);
	return (pm[pr >> 3] >> (pr & 7) & 1) || (pm[c >> 3] & 1);
}

/* The OPENS_* kinds some phrase of which may open a word of the normalised line t (n bytes,
 * NUL-terminated): one pass, one look-up a word (two where a longer phrase opens with its
 * first two bytes: their third must be one of such a phrase's too). A kind not returned
 * stands nowhere in t nor in any part of it cut at blanks or dashes (verb_inside,
 * phrase_occurs need not look). */
static unsigned char phrase_kinds_opening(const char *t, size_t n)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const unsigned char *u = (const unsigned char *)t;
	unsigned kinds = 0;
	for (const unsigned char *p = u, *e = u + n; p < e; p++) {	/* p: a byte that
									 * follows no letter
									 * or digit */
		unsigned pr = (unsigned)p[0] << 8 | p[1], k = d->pair_kinds[pr];
		kinds |= k;
		if ((k & OPENS_LONG) && (d->pair_long[pr] & ~kinds))	/* one not found yet;
									 * p[2]: in t or its NUL */
			kinds |= d->pair_long[pr] &
				 (p[2] ? d->triple_kinds[triple_slot(pr, p[2])] : 0xFF);
		if (ascii_alnum[*p])	/* the rest of the word (t[n] is NUL), and its end */
			while (ascii_alnum[*++p])
				;
	}
	return (unsigned char)(kinds & ~(unsigned)OPENS_LONG);
}

/* 1 when a phrase of kind k at least min_len bytes long stands anywhere in t (tn bytes) as
 * whole words (phrase_whole_at), or, with whole set, is all of t: one pass over t, trying at
 * each byte only the phrases that start with it (the index built at load), their second byte
 * compared before the rest. */
static int phrase_occurs(enum rp_kind k, const char *t, size_t tn, size_t min_len, int whole)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const struct strlist *l = &d->p[k];
	const unsigned char *pm = d->pair[k];
	if (min_len > d->longest[k] || min_len > tn || (whole && tn > d->longest[k]))
		return 0;	/* no phrase is that long, or t longer than any */
	/* a phrase of min_len bytes or more (and no shorter than the shortest) opens before lim */
	if (min_len < d->shortest[k])
		min_len = d->shortest[k];
	if (min_len > tn)
		return 0;
	size_t lim = whole ? 1 : tn - (min_len > 1 ? min_len - 1 : 0);
	for (size_t p = 0; p < lim;) {	/* p: a byte that follows no letter or digit */
		unsigned char c = (unsigned char)t[p];
		if (pair_opens(pm, t + p, tn - p))
			for (int i = d->from[k][c]; i < d->from[k][c + 1]; i++) {
				size_t vn = d->len[k][i];
				if (vn < min_len || p + vn > tn || (whole && vn != tn) ||
				    (vn > 1 && l->v[i][1] != t[p + 1]) ||
				    memcmp(t + p, l->v[i], vn) ||
				    !phrase_whole_at(d, k, i, t, p + vn, tn))
					continue;
				return 1;
			}
		if (ascii_alnum[c])	/* the rest of the word, and the byte that ends it */
			while (++p < lim && ascii_alnum[(unsigned char)t[p]])
				;
		p++;
	}
	return 0;
}

/* 1 when t (tn bytes) ends with a phrase of kind k that opens a word (or follows a letter of a
 * script without spaces: "iPhoneから送信"). */
static int phrase_ends(enum rp_kind k, const char *t, size_t tn)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const struct strlist *l = &d->p[k];
	for (size_t i = 0; i < l->n; i++) {
		size_t vn = d->len[k][i];
		if (vn <= tn && !memcmp(t + tn - vn, l->v[i], vn) &&
		    (vn == tn || !ascii_alnum[(unsigned char)t[tn - vn - 1]]))
			return 1;
	}
	return 0;
}

static int has_digit_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)s[i]))
			return 1;
	return 0;
}

static int has_digit(const char *s)
{
	for (; *s; s++)
		if (isdigit((unsigned char)*s))
			return 1;
	return 0;
}

/* The length of the attribution verb, as a word, with which the text (end bytes) ends; 0 when
 * it ends with none. */
static int verb_ends(const char *j, size_t end)
{
	const struct reply_data *d = extract_data_reply();
	if (!d || end == 0)
		return 0;
	const struct strlist *v = &d->p[RP_VERB];
	unsigned char c = (unsigned char)j[end - 1];
	unsigned c2 = end > 1 ? (unsigned char)j[end - 2] : 257;	/* 257: no verb's */
	for (int b = d->last_from[c]; b < d->last_from[c + 1]; b++) {
		if (d->by_last_c2[b] != c2 && d->by_last_c2[b] != 256)
			continue;	/* the byte before the last differs (a compact read) */
		int i = d->by_last[b];
		size_t vn = d->verb_len[i];
		if (vn > end || (vn > 1 && v->v[i][vn - 2] != j[end - 2]) ||
		    memcmp(j + end - vn, v->v[i], vn))
			continue;
		if (end == vn || (unsigned char)j[end - vn - 1] >= 0x80 ||
		    (unsigned char)v->v[i][0] >= 0xE3 ||	/* CJK: no spaces ("09:41写道") */
		    !isalnum((unsigned char)j[end - vn - 1]))
			return (int)vn;
	}
	return 0;
}

/* 1 when an attribution verb stands anywhere in the first end bytes of j: one pass over j,
 * trying at each byte only the verbs that start with it. */
static int verb_inside(const char *j, size_t end)
{
	const struct reply_data *d = extract_data_reply();
	if (!d)
		return 0;
	const struct strlist *v = &d->p[RP_VERB];
	const unsigned char *pm = d->pair[RP_VERB];
	for (size_t p = 0; p < end;) {	/* p: a byte that follows no letter or digit */
		unsigned char c = (unsigned char)j[p];
		if (pair_opens(pm, j + p, end - p))
			for (int i = d->verb_from[c]; i < d->verb_from[c + 1]; i++) {
				size_t vn = d->verb_len[i];
				if (p + vn <= end && (vn < 2 || v->v[i][1] == j[p + 1]) &&
				    !memcmp(j + p, v->v[i], vn))
					return 1;
			}
		if (ascii_alnum[c])	/* the rest of the word, and the byte that ends it */
			while (++p < end && ascii_alnum[(unsigned char)j[p]])
				;
		p++;
	}
	return 0;
}

/* Is the joined text an attribution ("On <date>, <name> wrote:")? */
static int is_attribution(const char *j, size_t n, int dashed, int single)
{
	if (n == 0 || n > MAX_HEADER_JOIN)
		return 0;
	int colon = j[n - 1] == ':';
	if (!colon && !dashed)
		return 0;	/* every form below ends with ':' or is framed by dashes */
	int opener = starts_with_word(j, RP_OPENER);
	size_t end = colon ? n - 1 : n;
	while (end > 0 && j[end - 1] == ' ')
		end--;
	int verb_at_end = verb_ends(j, end);
	int evidence = has_digit(j) || strchr(j, '@');
	/* a verb at the end, or inside before the final ':' (Dutch, German: "Op ... schreef X:") */
	if (opener && evidence && (verb_at_end || (colon && verb_inside(j, end))))
		return 1;
	/* "---- John Smith wrote ----" and "Name <a@b> wrote:" */
	if (verb_at_end && dashed)
		return 1;
	/* "rickc@example.com (Name) writes:" — on one line only: joined with the text above it,
	 * any sentence would end in an attribution */
	if (verb_at_end && colon && strchr(j, '@') && single)
		return 1;
	return 0;
}

/* "2014-10-17 11:28 GMT+03:00 Name <a@b>:" and "2011/4/7 Name <a@b>" */
static int is_date_email(const char *j, size_t n)
{
	if (n < 10 || !isdigit((unsigned char)j[0]) || !isdigit((unsigned char)j[3]) ||
	    (j[4] != '-' && j[4] != '/'))
		return 0;
	return strchr(j, '@') && (j[n - 1] == ':' || j[n - 1] == '>');
}

/* 1 when the line holds an attribution verb anywhere (verb_inside, looked at once). */
static int line_has_verb(struct rline *ln)
{
	if (ln->verbed < 0 && ln->twin)
		ln->verbed = line_has_verb((struct rline *)ln->twin);
	if (ln->verbed < 0) {
		size_t n;
		const char *t = line_norm(ln, &n);
		ln->verbed = (ln->opens & OPENS_VERB) && verb_inside(t, n);
	}
	return ln->verbed;
}

/* 1 when one of the lines i .. i + span - 1 (a look-ahead window) could end an attribution
 * (line_ends_attribution, read once per line): the windows that cannot are not joined. */
static int ender_within(struct rline *l, int nl, int i, int span)
{
	size_t n;
	for (int k = i; k < nl && k < i + span; k++)
		if (!l[k].blank && (line_norm(&l[k], &n), l[k].ender & ENDS_ATTRIBUTION))
			return 1;
	return 0;
}

/* The attribution starting at line i (joining up to LOOKAHEAD lines, blank ones skipped);
 * returns the index of its last line, or -1. */
/* 1 when line i may open an attribution: it starts with an opener word, a date, dashes (not
 * a "- " list item) or a non-ASCII letter, or holds an address; and a line of its look-ahead
 * window could end one (ender_within). */
static int attribution_may_start(struct rline *l, int nl, int i)
{
	size_t k = 0;
	while (k < l[i].n && (is_space_byte((unsigned char)l[i].s[k]) || l[i].s[k] == '*'))
		k++;
	unsigned char c = k < l[i].n ? (unsigned char)l[i].s[k] : 0;
	char w[64];
	size_t wn;
	const char *nw = line_norm(&l[i], &wn);
	if (wn >= 60)	/* an opener is looked for in the first 59 bytes */
		nw = (copy_norm(w, 60, nw, wn), w);
	if (c != '-' && !isdigit(c) && c < 0x80 && !memchr(l[i].s, '@', l[i].n) &&
	    !starts_with_word(nw, RP_OPENER))
		return 0;
	if (c == '-' && (k + 1 >= l[i].n || l[i].s[k + 1] != '-'))
		return 0;	/* "- le logo": a list item, not "---- X wrote ----" */
	/* every form ends with ':', '>' or a verb (framed by dashes or not) */
	return ender_within(l, nl, i, LOOKAHEAD);
}

/* 1 when a line of the window of attribution_at from line i (blank ones after i skipped)
 * ends, dashes aside, with ':' (or '>', on i and i + 1): a run framed by no dashes is an
 * attribution only where the joined text ends so (is_attribution, is_date_email), so without
 * such a line none is joined. */
static int window_may_close(struct rline *l, int nl, int i)
{
	for (int k = i; k < nl && k < i + LOOKAHEAD; k++) {
		if (l[k].blank && k > i)
			continue;
		size_t dn;
		line_norm(&l[k], &dn);	/* the ENDS_* flags read, not the text */
		if ((l[k].ender & ENDS_COLON) || (k <= i + 1 && (l[k].ender & ENDS_ANGLE)))
			return 1;
	}
	return 0;
}

static int attribution_at(struct rline *l, int nl, int i, size_t offset)
{
	if (offset == 0 && !attribution_may_start(l, nl, i))
		return -1;
	char j[MAX_HEADER_JOIN + 64];
	size_t jn = 0;
	int dashed = 0;
	const char *s = l[i].s + offset;
	size_t n = l[i].n - offset;
	size_t lead = 0;
	while (lead < n && is_space_byte((unsigned char)s[lead]))
		lead++;
	if (lead + 1 < n && s[lead] == '-' && s[lead + 1] == '-')
		dashed = 1;
	if (offset == 0 && !dashed && !window_may_close(l, nl, i))
		return -1;
	/* a sentence ended on line i ("On ne donnera pas suite.", "Le projet est annulé.") is the
	 * reply's own text, not the start of an attribution wrapped onto the next lines */
	size_t end = n;
	while (end > 0 && is_space_byte((unsigned char)s[end - 1]))
		end--;
	int sentence_ends = end > 0 && strchr(".!?", s[end - 1]);
	for (int k = i; k < nl && k < i + LOOKAHEAD; k++) {
		if (offset && k > i)
			return -1;	/* one that starts mid-line ends on its line */
		if (l[k].blank && k > i)
			continue;
		if (k > i && sentence_ends)
			return -1;
		if (l[k].quoted && k > i) {
			/* only "> wrote:" (a client wrapped the attribution into the quote) */
			const char *q = memchr(l[k].s, '>', l[k].n);
			char t[64];
			size_t tn = normalise(q + 1, l[k].n - (size_t)(q + 1 - l[k].s), t, sizeof t, 0);
			if (tn == 0 || tn > 20 || !strstr(t, "wrote"))
				return -1;
		}
		const char *ls = k == i ? s : l[k].s;
		size_t ln = k == i ? n : l[k].n;
		if (ln > 200)
			return -1;
		if (jn)
			j[jn++] = ' ';
		if (k == i && offset) {
			jn += normalise(ls, ln, j + jn, sizeof j - jn, 1);
		} else {
			size_t dn;
			const char *d = line_norm_dashless(&l[k], &dn);
			jn += copy_norm(j + jn, sizeof j - jn - 3, d, dn);
		}
		if (jn > MAX_HEADER_JOIN)
			return -1;
		if (is_attribution(j, jn, dashed && k == i, k == i) ||
		    (k <= i + 1 && is_date_email(j, jn)))
			return k;
		/* a line ending with ':' that is no attribution introduces the reply's own list
		 * ("Le 15 décembre, je peux livrer :"): the run cannot go on past it */
		if (jn > 0 && j[jn - 1] == ':')
			return -1;
		/* an attribution ends with ':' or a verb: stop at the first line that does not
		 * continue a plausible one */
		if (k == i && !dashed && !starts_with_word(j, RP_OPENER) &&
		    !isdigit((unsigned char)j[0]))
			return -1;
	}
	return -1;
}

/* Header keys (the data file's from, date, to, subject, cc): 1 from, 2 sent/date, 3 to,
 * 4 subject, 5 cc; 0 otherwise. t is normalised; the key ends at a ':' within 24 bytes. */
/* The first ':' of t within its first chars characters (UTF-8 code points, not bytes: an
 * Arabic, Greek or Cyrillic key takes two bytes a letter, a CJK one three), or NULL. */
static const char *colon_within(const char *t, size_t chars)
{
	const char *colon = strchr(t, ':');
	if (!colon || (size_t)(colon - t) <= chars)
		return colon;	/* no more characters before it than bytes */
	size_t a = 0;
	while (a <= chars && (unsigned char)t[a] < 0x80)
		a++;
	if (a > chars)
		return NULL;	/* chars + 1 ASCII bytes, as many characters, before it */
	for (size_t c = 0; t < colon; t++)
		if (((unsigned char)*t & 0xC0) != 0x80 && ++c > chars)
			return NULL;
	return colon;
}

static int header_key(const char *t)
{
	const struct reply_data *d = extract_data_reply();
	if (!d || !d->key_first[(unsigned char)t[0]])
		return 0;
	const char *colon = colon_within(t, 25);
	if (!colon)
		return 0;
	size_t kn = (size_t)(colon - t);
	while (kn > 0 && t[kn - 1] == ' ')
		kn--;
	unsigned char c = (unsigned char)t[0];
	if (!(d->key_lens[c] >> (kn < 63 ? kn : 63) & 1))
		return 0;	/* no name of that length opens with that byte */
	for (int g = RP_FROM; g <= RP_CC; g++) {
		const struct strlist *l = &d->p[g];
		for (int i = d->from[g][c]; i < d->from[g][c + 1]; i++)
			if (d->len[g][i] == kn && !memcmp(t, l->v[i], kn))
				return g - RP_FROM + 1;
	}
	return 0;
}

/* The value of a "Key: value" line (t normalised) whose key is one or two words without
 * digits, in any script, at most 24 bytes; NULL when t is not one. */
static const char *field_value(const char *t)
{
	const char *colon = colon_within(t, 24);
	if (!colon || colon == t || colon[1] == '/')
		return NULL;
	int spaces = 0;
	for (const char *p = t; p < colon; p++) {
		if (isdigit((unsigned char)*p) || strchr(".,;!?()<>@\"", *p))
			return NULL;
		spaces += *p == ' ' && p + 1 < colon && p[1] != ' ';
	}
	return spaces <= 1 ? colon + 1 : NULL;
}

/* A header block known by its shape alone, its field names in no list (Indonesian "Dari: /
 * Dikirim: / Kepada: / Perihal:"): 3 to 6 "Key: value" lines up to a blank line, the first
 * value holding an address, the second a date or a time, no value an amount. */
static int shape_header_block_at(struct rline *l, int nl, int i)
{
	if (l[i].n > 200 || !memchr(l[i].s, '@', l[i].n) || !memchr(l[i].s, ':', l[i].n))
		return 0;
	int fields = 0;
	for (int k = i; k < nl && !l[k].blank; k++) {
		char t[256];
		if (fields == 6 || l[k].quoted || l[k].n > 200)
			return 0;
		size_t tn;
		const char *nt = line_norm((struct rline *)&l[k], &tn);
		copy_norm(t, sizeof t, nt, tn);
		const char *v = field_value(t);
		struct money m;
		char why[64];
		if (!v || (fields == 0 && !strchr(v, '@')) || (fields == 1 && !has_date(v)) ||
		    extract_bid_amount(v, &m, why, sizeof why))
			return 0;
		fields++;
	}
	return fields >= 3;
}

/* The normalised line nt (tn bytes, NUL-terminated) cut to max - 1 bytes: nt itself when it
 * is shorter, else its copy in buf (max bytes). */
static const char *norm_upto(const char *nt, size_t tn, char *buf, size_t max)
{
	if (tn < max)
		return nt;
	copy_norm(buf, max, nt, tn);
	return buf;
}

/* An Outlook header block starting at line i: returns 1 when i opens one. */
static int header_block_of(struct rline *l, int nl, int i);

/* header_block_at reads only the lines from i (their bytes and normalised forms), never what
 * the pass has dropped: its answer is kept on line i (asked up to three times a line). */
static int header_block_at(struct rline *l, int nl, int i)
{
	if (!l[i].hb)
		l[i].hb = (signed char)(1 + header_block_of(l, nl, i));
	return l[i].hb - 1;
}

/* 1 when the line holds a colon, ASCII or full-width (what normalise makes ':'): every
 * "Key: value" form needs one, so a line without is read no further by those rules. */
static int line_has_colon(const struct rline *ln)
{
	if (memchr(ln->s, ':', ln->n))
		return 1;
	for (const char *p = memchr(ln->s, 0xEF, ln->n); p && p + 2 < ln->s + ln->n;
	     p = memchr(p + 1, 0xEF, (size_t)(ln->s + ln->n - p - 1)))
		if ((unsigned char)p[1] == 0xBC && (unsigned char)p[2] == 0x9A)
			return 1;
	return 0;
}

static int header_block_of(struct rline *l, int nl, int i)
{
	char tb[256];
	const char *t;
	size_t tn;
	if (!line_has_colon(&l[i]))
		return 0;	/* no key opens it, known or by its shape */
	const char *nt = line_norm(&l[i], &tn);
	t = norm_upto(nt, tn, tb, 201);
	int g = header_key(t);
	if (g != 1 && g != 2)	/* a block opens with From: or Date: (and their translations) */
		return g == 0 && shape_header_block_at(l, nl, i);
	int groups = 1 << g, keys = 1, at = strchr(t, '@') != NULL, gap = 0;
	for (int k = i + 1; k < nl && k < i + LOOKAHEAD + 1; k++) {
		if (l[k].blank)
			break;
		nt = line_norm(&l[k], &tn);
		t = norm_upto(nt, tn, tb, sizeof tb - 3);
		int h = header_key(t);
		if (!h) {
			if (++gap > 2)
				break;	/* a wrapped value may take a line or two */
			if (strchr(t, '@'))
				at = 1;
			continue;
		}
		gap = 0;
		if (!(groups & (1 << h)))
			keys++;
		groups |= 1 << h;
		if (strchr(t, '@'))
			at = 1;
	}
	return keys >= 3 || (keys >= 2 && at);
}

/* A header key alone on its line, without its colon, as Lotus Notes lays them out ("Pour",
 * "cc", "Objet" in a column, their values on the next lines): its group, or 0. */
static int lone_key(const char *t)
{
	char k[40];
	size_t n = strnlen(t, 21);
	if (n == 0 || n > 20 || memchr(t, ':', n))
		return 0;
	memcpy(k, t, n);
	k[n] = ':';
	k[n + 1] = '\0';
	return header_key(k);
}

/* The group of the header key alone on line ln (lone_key), looked at once (or read from its
 * twin), whichever window reads it. */
static int line_lone(struct rline *ln)
{
	if (ln->lone < 0 && ln->twin && ln->twin->lone >= 0)
		ln->lone = ln->twin->lone;
	if (ln->lone < 0 && ln->blank)
		ln->lone = 0;	/* no key on a blank line: not normalised for that */
	if (ln->lone < 0) {
		size_t lead = 0, tn;
		while (lead < ln->n && is_space_byte((unsigned char)ln->s[lead]))
			lead++;
		ln->lone = 0;
		if (ln->n - lead <= 40) {	/* a lone key is short: most lines are not read */
			char t[128];
			const char *nt = line_norm(ln, &tn);
			copy_norm(t, sizeof t, nt, tn);
			ln->lone = lone_key(t);
		}
	}
	return ln->lone;
}

/* The first line from k on that ends a Lotus window (quoted, over 200 bytes) or holds a lone
 * To key (line_lone 3), or nl: each line is looked at once per body, the answer kept on the
 * lines walked over (to_at). */
static int next_to_line(struct rline *l, int nl, int k)
{
	int j = k;
	while (j < nl && !l[j].to_at && !l[j].quoted && l[j].n <= 200 && line_lone(&l[j]) != 3)
		j++;
	int found = j >= nl ? nl : l[j].to_at ? l[j].to_at - 1 : j;
	for (int m = k; m <= j && m < nl; m++)
		l[m].to_at = found + 1;
	return found;
}

/* A Lotus Notes header block from line i: the sender's address, then a date and the keys To
 * and Subject (in a language the header rules know), each key alone on its line. Returns the
 * line to cut from (the start of the sender's lines), or -1. */
static int lotus_block_at(struct rline *l, int nl, int i)
{
	if (l[i].n > 120 || !memchr(l[i].s, '@', l[i].n))
		return -1;
	/* the block ends at a Subject key after a To key: without a To key in the window (line
	 * i + 12 at most, and one line left below it) before a line that ends it, there is none */
	int last_to = i + 12 < nl - 2 ? i + 12 : nl - 2;
	int to_line = i + 1 < nl ? next_to_line(l, nl, i + 1) : nl;
	if (to_line > last_to || l[to_line].quoted || l[to_line].n > 200)
		return -1;
	int date = 0, to = 0;
	for (int k = i; k < nl && k < i + 14; k++) {
		if (l[k].quoted || l[k].n > 200)
			return -1;
		int g = 0;
		size_t tn;
		if (k > i)
			g = line_lone(&l[k]);
		if (g == 3)
			to = 1;
		else if (g == 4 && to && date)
			break;
		else if ((line_norm(&l[k], &tn), l[k].seen & SEEN_DIGIT))
			date = 1;
		if (k == i + 13 || k == nl - 1)
			return -1;
	}
	/* the sender's name may take the line or two above the address */
	int start = i;
	while (start > 0 && i - start < 2 && !l[start - 1].blank && !l[start - 1].quoted &&
	       l[start - 1].n <= 120)
		start--;
	return start;
}

/* A '>' run from line i that is only a header block (optionally after a "Message du <date>"
 * line, as Orange's webmail writes it), the copy of the message following unquoted: 1. */
static int quoted_header_at(struct rline *l, int nl, int i)
{
	struct rline dq[LOOKAHEAD + 4];
	char dqn[LOOKAHEAD + 4][264];	/* the normalised forms of the unquoted lines */
	int m = 0, k = i;
	for (; k < nl && l[k].quoted && m < LOOKAHEAD + 4; k++) {
		const char *q = l[k].s;
		size_t n = l[k].n;
		while (n && (*q == '>' || is_space_byte((unsigned char)*q)))
			q++, n--;
		dq[m] = l[k];
		dq[m].s = q;
		dq[m].n = n;
		dq[m].blank = n == 0;
		dq[m].quoted = 0;
		dq[m].norm = dqn[m];
		dq[m].cap = sizeof dqn[m];
		dq[m].normed = 0;
		dq[m].verbed = -1;
		dq[m].twin = NULL;
		dq[m].sep = 0;
		dq[m].mid_known = 0;
		dq[m].to_at = 0;
		dq[m].lone = -1;
		dq[m].hb = 0;
		if (dq[m].n > sizeof dqn[m] - 4)
			dq[m].n = sizeof dqn[m] - 4;
		m++;
	}
	if (k < nl && l[k].quoted)
		return 0;	/* a long quote: not a header block alone */
	while (k < nl && l[k].blank)
		k++;
	if (k >= nl || m == 0)
		return 0;
	char t[256];
	int first = header_block_at(dq, m, 0) ? 0 : -1;
	if (first < 0 && m > 1 && dq[0].n < 60 && normalise(dq[0].s, dq[0].n, t, sizeof t, 0) &&
	    has_digit(t) && header_block_at(dq, m, 1))
		first = 1;
	if (first < 0)
		return 0;
	/* only the header (a wrapped value may take a line or two): a quoted message answered
	 * below it is not a copy over unquoted text */
	int other = 0;
	for (int j = first; j < m; j++)
		if (!dq[j].blank && dq[j].n < sizeof t) {
			normalise(dq[j].s, dq[j].n, t, sizeof t, 0);
			other += !header_key(t);
		} else if (!dq[j].blank) {
			other++;
		}
	return other <= 2;
}

/* "-----Original Message-----" and its translations (the data file's cut phrases: 1, the rest
 * is quoted); forwarded markers (forward phrases) return 2; 0 otherwise. */
static int separator_of(struct rline *ln)
{
	char t[160];
	if (ln->n > 150 || ln->n < 8)
		return 0;
	size_t lead = 0;
	while (lead < ln->n && (ln->s[lead] == ' ' || ln->s[lead] == '\t'))
		lead++;
	int dashes = lead < ln->n && (ln->s[lead] == '-' || ln->s[lead] == '_');
	size_t dn;
	const char *d = line_norm_dashless(ln, &dn);
	if (!(ln->opens & (OPENS_CUT | OPENS_FORWARD)))
		return 0;	/* no such phrase opens a word of the line */
	size_t tn = copy_norm(t, sizeof t - 3, d, dn);
	while (tn > 0 && (t[tn - 1] == ':' || t[tn - 1] == ' ' || t[tn - 1] == '_'))
		t[--tn] = '\0';	/* "Begin forwarded message:", "____ Message ____" */
	if ((ln->opens & OPENS_CUT) && phrase_occurs(RP_CUT, t, tn, 0, !dashes))
		return 1;
	return (ln->opens & OPENS_FORWARD) &&
	       phrase_occurs(RP_FORWARD, t, tn, tn >= 40 ? tn - 39 : 0, 0) ? 2 : 0;
}

/* separator_at, read once per run of identical lines (it looks at the line's bytes alone). */
static int separator_at(struct rline *ln)
{
	if (!ln->sep)
		ln->sep = ln->twin && ln->twin->sep ? ln->twin->sep : separator_of(ln) + 1;
	return ln->sep - 1;
}

static int is_rule_line(const struct rline *ln)
{
	size_t k = 0, marks = 0;
	for (; k < ln->n; k++) {
		char c = ln->s[k];
		if (c == '-' || c == '_' || c == '=')
			marks++;
		else if (!is_space_byte((unsigned char)c))
			return 0;
	}
	return marks >= 2;
}

/* A rule made of several runs of marks with blanks between ("-------  --------"): a table's. */
static int is_table_rule(const struct rline *ln)
{
	int runs = 0, in = 0;
	for (size_t k = 0; k < ln->n; k++) {
		int mark = ln->s[k] == '-' || ln->s[k] == '_' || ln->s[k] == '=';
		if (mark && !in)
			runs++;
		in = mark;
	}
	return runs >= 2;
}

/* Looks for an attribution that starts mid-line ("reply On <date>, X wrote:"); returns the
 * byte offset where it starts, or 0. */
static size_t midline_attribution_of(struct rline *l, int nl, int i)
{
	const char *s = l[i].s;
	size_t n = l[i].n;
	while (n > 0 && is_space_byte((unsigned char)s[n - 1]))
		n--;
	if (n > 300 || n < 6 || s[n - 1] != ':')
		return 0;
	if (!line_has_verb(&l[i]))
		return 0;	/* every form of attribution holds a verb: none, no try */
	int tries = 0;	/* a line full of "On " costs a few tries, not one per word */
	for (size_t k = 1; k + 3 < n && tries < 4; k++) {
		if ((s[k] == 'O' && s[k + 1] == 'n' && s[k + 2] == ' ') ||
		    (s[k] == 'L' && s[k + 1] == 'e' && s[k + 2] == ' ')) {
			char prev = s[k - 1];
			if (prev != ' ' && prev != '-')
				continue;
			tries++;
			if (attribution_at(l, nl, i, k) == i)
				return k;
		}
	}
	return 0;
}

/* midline_attribution, read once per run of identical lines: one starting mid-line ends on
 * its line, so the line's bytes alone decide. */
static size_t midline_attribution(struct rline *l, int nl, int i)
{
	struct rline *ln = &l[i];
	if (!ln->mid_known) {
		const struct rline *tw = ln->twin;
		ln->mid = tw && tw->mid_known ? tw->mid : midline_attribution_of(l, nl, i);
		ln->mid_known = 1;
	}
	return ln->mid;
}

/* Removes the blank lines after index i (they belonged to the removed block). */
static int drop_blanks_after(struct rline *l, int nl, int i)
{
	while (i < nl && l[i].blank)
		l[i++].keep = 0;
	return i;
}

/* Drops blank lines and one rule line ("____", "-----") just before index i. */
static void drop_lead_in(struct rline *l, int i)
{
	int k = i - 1;
	while (k >= 0 && l[k].blank && l[k].keep)
		k--;
	if (k >= 0 && l[k].keep && is_rule_line(&l[k])) {
		l[k].keep = 0;
		for (int b = k + 1; b < i; b++)
			l[b].keep = 0;
	}
}

static void cut_from(struct rline *l, int nl, int i)
{
	drop_lead_in(l, i);
	for (int k = i; k < nl; k++)
		l[k].keep = 0;
}

/* 1 when the line ends with '.', '?', '!' or ':' (trailing blanks aside, '?' in CJK too):
 * what follows it is no wrapped rest of it. */
static int ends_sentence(const struct rline *ln)
{
	size_t e = ln->n;
	while (e > 0 && is_space_byte((unsigned char)ln->s[e - 1]))
		e--;
	if (e >= 3 && (!memcmp(ln->s + e - 3, "\xEF\xBC\x9F", 3) ||
		       !memcmp(ln->s + e - 3, "\xE3\x80\x82", 3)))
		return 1;	/* '？' and '。' */
	return e > 0 && strchr(".?!:", ln->s[e - 1]);
}

/* Removes a '>' run starting at i; a non-quoted line squeezed between two quoted lines with
 * no blank line around it is a wrapped link of the quote, unless the quoted line above it ends
 * a sentence or a question (then it is an answer typed under it). Returns the index after it. */
static int remove_quote_run(struct rline *l, int nl, int i)
{
	while (i < nl) {
		if (l[i].quoted) {
			l[i++].keep = 0;
			continue;
		}
		if (!l[i].blank && i > 0 && l[i - 1].quoted && i + 1 < nl && l[i + 1].quoted &&
		    l[i].n < 100 && !ends_sentence(&l[i - 1])) {
			l[i++].keep = 0;
			continue;
		}
		break;
	}
	return i;
}

/* ---------------------------------------------------------------- signatures */

/* A sign-off line ("Regards", "Thanks!", "Regards, Roman"); not "Thanks for the update". */
static int is_signoff(const struct rline *ln)
{
	char t[128];
	if (ln->n > 100)
		return 0;
	size_t tn = normalise(ln->s, ln->n, t, sizeof t, 0);
	int lo, hi;
	const struct strlist *so = phrases_opening(RP_SIGNOFF, (unsigned char)t[0], &lo, &hi);
	for (int i = lo; i < hi; i++) {
		size_t pn = strlen(so->v[i]);
		if (tn < pn || strncmp(t, so->v[i], pn))
			continue;
		const char *r = t + pn;
		while (*r == ',' || *r == '.' || *r == '!' || *r == ' ' ||
		       !strncmp(r, "\xE3\x80\x82", 3) || !strncmp(r, "\xEF\xBC\x81", 3))
			r += (unsigned char)*r >= 0x80 ? 3 : 1;	/* CJK '。' and '！' too */
		if (!*r)
			return 1;
		if (r[-1] == '!' || r == t + pn || starts_with_word(r, RP_NOTNAME))
			continue;
		/* "Regards, Roman": a short name after the sign-off */
		int words = 1;
		for (const char *p = r; *p; p++)
			if (*p == ' ')
				words++;
		if (words <= 3 && strlen(r) <= 40 && !strpbrk(r, ".?:;"))
			return 1;
	}
	return 0;
}

/* A mobile or client footer (the data file's mobile phrases, as a prefix of the line once
 * brackets, "<<", markdown links and <http...> links are removed): "Sent from my iPhone",
 * "(sent from a phone)", "Get [Outlook for Android](https://aka.ms/x)". */
static int is_mobile_signature(const struct rline *ln)
{
	char t[160], c[160];
	if (ln->n > 140)
		return 0;
	normalise(ln->s, ln->n, t, sizeof t, 0);
	size_t w = 0;
	for (const char *p = t; *p && w + 1 < sizeof c; p++) {
		if (*p == '<' && !strncmp(p, "<http", 5)) {
			while (*p && *p != '>')
				p++;
			if (!*p)
				break;
		} else if (*p == '(' && !strncmp(p, "(http", 5)) {
			while (*p && *p != ')')
				p++;
			if (!*p)
				break;
		} else if (!strchr("()[]<>", *p)) {
			c[w++] = *p;
		}
	}
	while (w > 0 && strchr(" .!", c[w - 1]))
		w--;
	c[w] = '\0';
	const char *b = c;
	while (*b == ' ')
		b++;
	int words = 1;
	for (const char *p = b; *p; p++)
		words += *p == ' ';
	if (strpbrk(b, ",;?"))
		return 0;
	if (phrase_opens(RP_MOBILE, b, strlen(b)))
		return words <= 14;
	/* the verb last ("Az iPhone-omról küldve", "iPadから送信"): a line of at most four words
	 * that ends with a mobile-end phrase and names a device or a client (a sentence such as
	 * "Le devis mobile est envoyé" or "le lien Gmail vous a été envoyé" is longer or says
	 * more than where it was sent from) */
	size_t bn = strlen(b);
	if (words > 4 || strchr(b, ':') || !phrase_ends(RP_MOBILE_END, b, bn))
		return 0;
	return phrase_occurs(RP_DEVICE, b, bn, 0, 0);
}

/* The length of the dash at s (n bytes left): 1 for '-', 3 for the figure, en and em dashes
 * and the horizontal bar (U+2012 to U+2015) typesetting and phones put there; 0 otherwise. */
static size_t dash_at(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (n >= 1 && u[0] == '-')
		return 1;
	return n >= 3 && u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0x92 && u[2] <= 0x95 ? 3 : 0;
}

/* 1 when the line is a signature delimiter: "-- ", "--", or one en or em dash alone (what
 * an HTML body's "-- " becomes once typeset, "— "). */
static int is_sig_delimiter(const struct rline *ln)
{
	if ((ln->n == 3 && !memcmp(ln->s, "-- ", 3)) || (ln->n == 2 && !memcmp(ln->s, "--", 2)))
		return 1;
	size_t e = ln->n;
	while (e > 0 && is_space_byte((unsigned char)ln->s[e - 1]))
		e--;
	return e == 3 && dash_at(ln->s, 3) == 3;
}

/* "-Roman", "- roman", "-Abhishek Kona", "— Léa", "– Tom Becker": a dash and one to three
 * words. */
static int is_dash_name(const struct rline *ln)
{
	size_t o = ln->n > 0 && ln->s[0] == ' ' ? 1 : 0;
	size_t d = dash_at(ln->s + o, ln->n - o);
	if (!d || ln->n < o + d + 1 || ln->n > 40 || dash_at(ln->s + o + d, ln->n - o - d) ||
	    ln->s[o + d] == '>')
		return 0;
	int words = 0, in = 0;
	for (size_t k = o + d; k < ln->n; k++) {
		char c = ln->s[k];
		if (c == ' ') {
			in = 0;
		} else {
			if (!in)
				words++;
			in = 1;
			if (isdigit((unsigned char)c) || c == ':' || c == ',')
				return 0;
		}
	}
	return words >= 1 && words <= 3;
}

/* 1 when the line at idx[k] has a dash line just before or after it: a bullet list. */
static int in_dash_run(struct rline *l, const int *idx, int n, int k)
{
	for (int d = -1; d <= 1; d += 2) {
		int j = k + d;
		while (j >= 0 && j < n && l[idx[j]].blank)
			j += d;
		if (j >= 0 && j < n) {
			const struct rline *o = &l[idx[j]];
			size_t s0 = o->n > 0 && o->s[0] == ' ' ? 1 : 0;
			if (dash_at(o->s + s0, o->n - s0))
				return 1;
		}
	}
	return 0;
}

/* A line that is only an address, a web address or a phone number. */
static int is_contact_line(const struct rline *ln)
{
	char t[128];
	if (ln->n > 100)
		return 0;
	size_t tn = normalise(ln->s, ln->n, t, sizeof t, 0);
	if (tn == 0 || strchr(t, ' '))
		return 0;
	return strchr(t, '@') || !strncmp(t, "http", 4) || !strncmp(t, "www.", 4);
}

/* A line that is mostly a phone number (at least 9 digits, labels allowed). */
static int is_phone_line(const struct rline *ln)
{
	if (ln->n > 60)
		return 0;
	int digits = 0, letters = 0;
	for (size_t k = 0; k < ln->n; k++) {
		unsigned char c = (unsigned char)ln->s[k];
		if (isdigit(c))
			digits++;
		else if (isalpha(c) || c >= 0x80)
			letters++;
	}
	return digits >= 9 && letters <= 12;
}

static int is_terms_line(const struct rline *ln);
static int sentence_ends(const struct rline *ln);

/* A signature laid out on one line, its parts between " | ", " · " or " • " ("Léa Martin |
 * Développeuse web | 06 12 34 56 78"): two separators or more, short parts without a
 * sentence or an amount, one of them a phone number, an address or a web address. */
static int is_contact_segments(const struct rline *ln)
{
	static const char *const seps[] = { " | ", " \xC2\xB7 ", " \xE2\x80\xA2 " };
	if (ln->n > 160)
		return 0;
	int parts = 0, contact = 0;
	const char *p = ln->s, *end = ln->s + ln->n;
	while (p < end) {
		const char *q = end;
		size_t sl = 0;
		for (size_t k = 0; k < sizeof seps / sizeof *seps; k++) {
			const char *f = memmem(p, (size_t)(end - p), seps[k], strlen(seps[k]));
			if (f && f < q) {
				q = f;
				sl = strlen(seps[k]);
			}
		}
		struct rline part = { .s = p, .n = (uint32_t)(q - p) };
		while (part.n && part.s[0] == ' ')
			part.s++, part.n--;
		if (part.n == 0 || part.n > 40 || sentence_ends(&part))
			return 0;
		if (is_phone_line(&part) || is_contact_line(&part))
			contact = 1;
		else if (has_digit_n(part.s, part.n) && is_terms_line(&part))
			return 0;	/* "900 € HT | 10 jours | …": the terms of a deal */
		parts++;
		p = q + sl;
		if (!sl)
			break;
	}
	return parts >= 3 && contact;
}

/* 1 when the line holds the sender's display name (or its first word of 3+ letters, alone). */
static int is_sender_line(const struct rline *ln, const char *sender)
{
	if (!sender || !*sender || ln->n > 60)
		return 0;
	char t[64], s[64];
	size_t tn = normalise(ln->s, ln->n, t, sizeof t, 0);
	size_t sn = normalise(sender, strlen(sender), s, sizeof s, 0);
	if (sn < 3 || tn == 0)
		return 0;
	if (strchr(s, '@')) {
		/* only an address: its local part's first word stands for the first name */
		s[strcspn(s, "@._-+")] = '\0';
		size_t first = strlen(s);
		return first >= 3 && !strncmp(t, s, first) && (t[first] == ' ' || !t[first]) &&
		       tn <= 40;
	}
	/* the line starts with the name ("Jean Dupont", "Jean Dupont, consultant") */
	if (!strncmp(t, s, sn) && tn <= sn + 40)
		return 1;
	/* the first name alone: "Noam", "Jean" */
	size_t first = strcspn(s, " ,");
	return first >= 3 && tn == first && !strncmp(t, s, first);
}

/* 1 when the line carries a term of a deal rather than a signature's detail: an amount or a
 * delay (extract_money.c's readers), or a "Label: value" field holding a number — unless it
 * is a phone number or an address. */
static int is_terms_line(const struct rline *ln)
{
	char t[208];
	if (ln->n >= sizeof t || is_phone_line(ln) || is_contact_line(ln) ||
	    !has_digit_n(ln->s, ln->n))
		return 0;
	memcpy(t, ln->s, ln->n);
	t[ln->n] = '\0';
	const char *colon = memchr(t, ':', ln->n < 30 ? ln->n : 30);
	if (colon && has_digit(colon + 1) && strncmp(colon, "://", 3))
		return 1;
	struct money m;
	char why[64];
	return extract_bid_amount(t, &m, why, sizeof why) || extract_duration_days(t, NULL) >= 0;
}

/* 1 when the line states an amount or a delay (extract_money.c's readers), phone number or
 * not: a paragraph holding one is the terms of a deal, not a name + phone signature. */
static int holds_terms(const struct rline *ln)
{
	char t[208];
	if (ln->n >= sizeof t || !has_digit_n(ln->s, ln->n))
		return 0;
	memcpy(t, ln->s, ln->n);
	t[ln->n] = '\0';
	struct money m;
	char why[64];
	return extract_bid_amount(t, &m, why, sizeof why) || extract_duration_days(t, NULL) >= 0;
}

/* The sentences ended on the line: a '.', '!' or '?' after a letter, at the end or before a
 * blank. */
static int sentence_ends(const struct rline *ln)
{
	int n = 0;
	for (size_t k = 1; k < ln->n; k++)
		if (strchr(".!?", ln->s[k]) && isalpha((unsigned char)ln->s[k - 1]) &&
		    (k + 1 == ln->n || ln->s[k + 1] == ' '))
			n++;
	if (ln->n > 1 && strchr(".!?", ln->s[ln->n - 1]) && !isalpha((unsigned char)ln->s[ln->n - 2]))
		n++;
	return n;
}

/* 1 when the kept lines idx[k+1..n-1] read like a signature, so that a rule or "-- " at idx[k]
 * is its delimiter: no term of a deal (is_terms_line), at most one sentence of prose. */
static int signature_follows(struct rline *l, const int *idx, int n, int k)
{
	int sentences = 0;
	for (int j = k + 1; j < n; j++) {
		const struct rline *ln = &l[idx[j]];
		if (ln->blank)
			continue;
		if (ln->n > 200 || is_terms_line(ln))
			return 0;	/* a paragraph or a term of the deal: the reply goes on */
		if (!is_phone_line(ln) && !is_contact_line(ln))
			sentences += sentence_ends(ln);
	}
	return sentences <= 1;
}

/* 1 when a rule line stands among the kept lines idx[0..k-1] with text between it and idx[k]:
 * the rule at idx[k] closes a framed block (options, a table), it delimits no signature. */
static int rule_above(struct rline *l, const int *idx, int k)
{
	int text = 0;
	for (int j = k - 1; j >= 0 && j >= k - 40; j--) {
		const struct rline *ln = &l[idx[j]];
		if (ln->blank)
			continue;
		if (is_rule_line(ln))
			return text;
		text = 1;
	}
	return 0;
}

/* Index of the first signature line among the kept lines, or nl when there is none. */
static int signature_start(struct rline *l, int nl, const char *sender)
{
	int idx[4096], n = 0;
	/* the last kept lines, in order (bounded: a signature is near the end) */
	for (int k = nl - 1; k >= 0 && n < 4096; k--)
		if (l[k].keep)
			idx[n++] = k;
	if (n == 0)
		return nl;
	/* reverse into reading order */
	for (int a = 0, b = n - 1; a < b; a++, b--) {
		int t = idx[a];
		idx[a] = idx[b];
		idx[b] = t;
	}
	int first_content = -1;
	for (int k = 0; k < n; k++)
		if (!l[idx[k]].blank) {
			first_content = k;
			break;
		}
	if (first_content < 0)
		return nl;
	int start = n;
	int after = 0;		/* non-blank lines after the current position */
	int next_content = n;	/* index (in idx) of the next non-blank line */
	int contacts_only = 1;	/* every line after this one is an address, URL or phone */
	size_t widest = 0;	/* the longest line after this one */
	for (int k = n - 1; k > first_content; k--) {
		struct rline *ln = &l[idx[k]];
		if (ln->blank)
			continue;
		/* the rest is already signature, empty, or contact lines: closing lines join it */
		int tail = next_content >= start || contacts_only;
		int delim = is_sig_delimiter(ln);
		/* a rule is a delimiter before short lines only (a name, a phone, links), and a
		 * table's rule ("-------  --------") is none */
		if ((delim || (is_rule_line(ln) && !is_table_rule(ln) && after > 0 && after <= 10 &&
			       widest <= 80 && !rule_above(l, idx, k))) &&
		    signature_follows(l, idx, n, k))
			start = k;
		else if (is_mobile_signature(ln) && tail)
			start = k;
		else if (after <= 4 && is_signoff(ln))
			start = k;
		else if (is_dash_name(ln) && tail && !in_dash_run(l, idx, n, k))
			start = k;
		else if (after <= 5 && is_sender_line(ln, sender))
			start = k;
		after++;
		if (ln->n > widest)
			widest = ln->n;
		next_content = k;
		contacts_only = contacts_only && (is_contact_line(ln) || is_phone_line(ln));
		if (after > 40)
			break;
	}
	/* a reply that opens with "-- " over a quote it does not answer holds only a signature
	 * when what follows reads as one and stands in one piece (no text below a removed quote: a
	 * bottom-posted answer); without a quote below, "--" and a name are all there is: kept */
	const struct rline *fl = &l[idx[first_content]];
	int quote_below = 0;
	for (int k = idx[n - 1] + 1; k < nl && !quote_below; k++)
		quote_below = !l[k].keep && !l[k].blank;
	if (start == n && quote_below && is_sig_delimiter(fl) &&
	    signature_follows(l, idx, n, first_content)) {
		int whole = 1;
		for (int k = first_content + 1; k < n; k++)
			whole = whole && idx[k] == idx[k - 1] + 1;
		if (whole)
			start = first_content;
	}
	/* a one-line contact signature last ("Léa Martin | Développeuse | 06 12 34 56 78") */
	int last = n - 1;
	while (last > first_content && l[idx[last]].blank)
		last--;
	if (last > first_content && last < start && is_contact_segments(&l[idx[last]]))
		start = last;
	/* a trailing name + phone block: the last paragraph, if it holds a phone line */
	int para = n;
	for (int k = n - 1; k > first_content; k--) {
		if (l[idx[k]].blank) {
			para = k + 1;
			break;
		}
	}
	if (para < n && para > first_content && n - para <= 6) {
		int phone = 0, terms = 0;
		for (int k = para; k < n; k++) {
			if (is_phone_line(&l[idx[k]]))
				phone = 1;
			terms = terms || holds_terms(&l[idx[k]]);
		}
		if (phone && !terms && para < start)
			start = para;
	}
	/* a dash-name line right before a signature already found belongs to it */
	if (start < n) {
		int k = start - 1;
		while (k > first_content && l[idx[k]].blank)
			k--;
		if (k > first_content && is_dash_name(&l[idx[k]]) && !in_dash_run(l, idx, n, k))
			start = k;
	}
	return start < n ? idx[start] : nl;
}

char *extract_reply(const char *text, int is_forward)
{
	return extract_reply_from(text, is_forward, NULL);
}

char *extract_reply_from(const char *text, int is_forward, const char *sender_name)
{
	return extract_reply_known(text, is_forward, sender_name, NULL);
}

/* ---------------------------------------------------------------- the attribution shape */

/* 1 when t holds a time ("15:19", "9:13", "18.30") or a year (19xx, 20xx, "2023年"), each
 * standing apart (not inside a key or a number). */
static int has_date(const char *t)
{
	for (const char *p = strpbrk(t, "0123456789"); p; p = strpbrk(p + 1, "0123456789")) {
		if (p > t && isalnum((unsigned char)p[-1]))
			continue;	/* inside a key or a number */
		const char *q = p;
		while (isdigit((unsigned char)*q) && q - p < 5)
			q++;
		size_t nd = (size_t)(q - p);
		if ((nd == 1 || nd == 2) && (*q == ':' || *q == '.') && isdigit((unsigned char)q[1]) &&
		    isdigit((unsigned char)q[2]) && !isdigit((unsigned char)q[3]))
			return 1;
		if (nd == 4 && ((p[0] == '1' && p[1] == '9') || (p[0] == '2' && p[1] == '0')) &&
		    ((unsigned char)*q >= 0x80 || !isalnum((unsigned char)*q)))
			return 1;
	}
	return 0;
}

/* 1 when t opens with a numeric date ("2016-03-03", "03/03/2016", "3.3.2016") and a time. */
static int starts_with_date(const char *t)
{
	size_t k = 0, digits = 0, seps = 0;
	for (; t[k] && k < 12; k++) {
		if (isdigit((unsigned char)t[k]))
			digits++;
		else if (t[k] == '-' || t[k] == '/' || t[k] == '.')
			seps++;
		else
			break;
	}
	if (digits < 6 || seps != 2 || t[k] != ' ')
		return 0;
	return isdigit((unsigned char)t[k + 1]) && strchr(t + k, ':') &&
	       strchr(t + k, ':') - (t + k) <= 4;
}

/* 1 when line k is only the end of an address that the client wrapped into a quote mark
 * (">:" or ">" under "... <john@example.com"). */
static int is_wrapped_address_end(const struct rline *ln)
{
	size_t a = 0;
	while (a < ln->n && is_space_byte((unsigned char)ln->s[a]))
		a++;
	size_t rest = ln->n - a;
	return rest == 1 || (rest == 2 && ln->s[a + 1] == ':');
}

/* The next non-blank line after i (at most two blank lines between), or -1. */
static int next_content_line(const struct rline *l, int nl, int i)
{
	int k = i + 1;
	while (k < nl && k <= i + 3 && l[k].blank)
		k++;
	return k < nl && !l[k].blank ? k : -1;
}

/* An attribution recognised by its shape, in any language: a run of up to three lines (no blank
 * line inside; a wrapped address may end on a "> :" line) that carries a date, a time, an
 * address or an attribution verb, and ends with ':', an address or a verb, right before a '>'
 * quote or a header block; before an unquoted old message only when it holds a verb or ends
 * with a date and "<address>:" (and, as for every attribution there, attribution_fits).
 * Returns its last line, or -1. */
static int shape_attribution_at(struct rline *l, int nl, int i);

/* 1 when line ln leaves an address or a parenthesis open ("John <" wrapped before
 * "john@x> wrote:", Hungarian "ezt írta (időpont: 2026. dec. 2., Sze" before "10:15):"). */
static int leaves_open(const struct rline *ln)
{
	int angle = 0, paren = 0;
	for (size_t k = ln->n; k > 0; k--) {
		char c = ln->s[k - 1];
		angle += c == '>';
		paren += c == ')';
		if ((c == '<' && --angle < 0) || (c == '(' && --paren < 0))
			return 1;
	}
	return 0;
}

/* 1 when a line of a..b carries a date, a time or an address (line_norm computed). */
static int lines_dated(const struct rline *l, int a, int b)
{
	for (int k = a; k <= b; k++)
		if (l[k].dated || (l[k].seen & SEEN_AT))
			return 1;
	return 0;
}

/* The shape's run i..k has its evidence and ends like an attribution: k when a quote or a
 * header block follows, or an unquoted old message with a verb in the run (verb) or a date and
 * "<address>:" (addr_dated); -1 otherwise, and when the attribution starts on line i + 1
 * ("Thanks" above "On <date>, X wrote:") — not when what starts there is only the end of a
 * wrapped one: a verb without date, time or address ("…, Ayşe <a@b> şunu" / "yazdı:"), or the
 * rest of an address or a parenthesis line i leaves open ("…, Νίκος <" / "nikos@x> έγραψε:"). */
static int shape_run_end(struct rline *l, int nl, int i, int k, int verb, int addr_dated)
{
	int nx = next_content_line(l, nl, k);
	if (nx < 0)
		return -1;
	if (k > i && lines_dated(l, i + 1, k) && !leaves_open(&l[i]) &&
	    (attribution_at(l, nl, i + 1, 0) == k || shape_attribution_at(l, nl, i + 1) == k))
		return -1;
	if (l[nx].quoted || header_block_at(l, nl, nx))
		return k;
	return verb || addr_dated ? k : -1;
}

/* 1 when j (n bytes) holds an address as mail clients write it in an attribution, between
 * '<' and '>' or '(' and ')' ("Budi <budi@example.id>", "(miren@example.eus)"), not bare as
 * prose writes it. */
static int client_address(const char *j, size_t n)
{
	for (const char *a = memchr(j, '@', n); a; a = memchr(a + 1, '@', n - (size_t)(a + 1 - j))) {
		const char *o = a, *c = a;
		while (o > j && o[-1] != ' ' && o[-1] != '<' && o[-1] != '(')
			o--;
		while (c < j + n && *c != ' ' && *c != '>' && *c != ')')
			c++;
		if (o > j && c < j + n && ((o[-1] == '<' && *c == '>') || (o[-1] == '(' && *c == ')')))
			return 1;
	}
	return 0;
}

/* 1 when the next content line after k opens a list item ("- ", "* ", "• ", "1." or "1)"):
 * a line ending with ':' over it introduces the reply's own list. */
static int list_follows(const struct rline *l, int nl, int k)
{
	int nx = next_content_line(l, nl, k);
	if (nx < 0)
		return 0;
	const char *s = l[nx].s;
	size_t n = l[nx].n, a = 0;
	while (a < n && is_space_byte((unsigned char)s[a]))
		a++;
	if (a < n && (s[a] == '-' || s[a] == '*' || dash_at(s + a, n - a) ||
		      (n - a >= 3 && !memcmp(s + a, "\xE2\x80\xA2", 3))))
		return 1;
	size_t d = a;
	while (d < n && isdigit((unsigned char)s[d]))
		d++;
	return d > a && d < n && (s[d] == '.' || s[d] == ')');
}

/* 1 when the word at s (n bytes) opens with a capital: an ASCII one, or a letter lower_utf8
 * changes. */
static int opens_capital(const char *s, size_t n)
{
	char low[4];
	size_t used;
	size_t w = lower_utf8((const unsigned char *)s, n, low, &used);
	return n > 0 && (w != used || memcmp(low, s, w));
}

/* 1 when the blank-separated word at s (n bytes) is a pronoun of kind self as written: in lower
 * case, or with a capital when the next word (next, nn bytes; nn 0 for none) has none ("I
 * wrote", "Ich schrieb"); a capital before a capitalised word is a name ("Ella Moreau", "Lei
 * Wang"). */
static int self_word(const char *s, size_t n, const char *next, size_t nn)
{
	char w[64];
	size_t wn = normalise(s, n, w, sizeof w, 0);
	if (!wn || !phrase_opens(RP_SELF, w, wn))
		return 0;
	return !opens_capital(s, n) || !nn || !opens_capital(next, nn);
}

/* 1 when lines i..k of l (joined as j, n bytes) speak of the writer or the reader, a word of
 * kind self standing in them (self_word): "As I wrote:", "Comme je l'ai écrit :", "Wie ich
 * schrieb:", "Comme il vous l'a écrit :". A run whose only evidence is its verb then names no
 * author, and is the reply's own sentence. */
static int names_no_one(const struct rline *l, int i, int k, const char *j, size_t n)
{
	if (!phrase_occurs(RP_SELF, j, n, 1, 0))
		return 0;	/* no such word anywhere: the words need not be read */
	const char *prev = NULL;
	size_t pn = 0;
	for (int m = i; m <= k; m++) {
		const char *s = l[m].s, *e = s + l[m].n;
		while (s < e) {
			while (s < e && is_space_byte((unsigned char)*s))
				s++;
			const char *w = s;
			while (s < e && !is_space_byte((unsigned char)*s))
				s++;
			if (s == w)
				break;
			if (prev && self_word(prev, pn, w, (size_t)(s - w)))
				return 1;
			prev = w;
			pn = (size_t)(s - w);
		}
	}
	return prev && self_word(prev, pn, NULL, 0);
}

/* 1 when line i (normalised as j, end bytes before its final ':') is Thunderbird's shortest
 * attribution, "<author> <verb>:" ("Ella wrote:", "Ella a écrit :"), right over a '>' quote:
 * one word before the verb (vn bytes at the end of j), written with a capital. The author
 * stands where a name stands even when the word is a pronoun elsewhere ("Ella", Spanish
 * "she"); "As I wrote:" has two words before its verb. */
static int author_wrote(const struct rline *l, int nl, int i, const char *j, size_t end,
			size_t vn)
{
	if (!vn || vn >= end)
		return 0;
	size_t a = end - vn;
	while (a > 0 && j[a - 1] == ' ')
		a--;
	if (a == 0 || memchr(j, ' ', a))
		return 0;
	int nx = next_content_line(l, nl, i);
	if (nx < 0 || !l[nx].quoted)
		return 0;
	size_t k = 0;
	while (k < l[i].n && is_space_byte((unsigned char)l[i].s[k]))
		k++;
	return opens_capital(l[i].s + k, l[i].n - k);
}

static int shape_attribution_at(struct rline *l, int nl, int i)
{
	if (l[i].quoted || l[i].n > 300)
		return -1;
	size_t n0;
	const char *t0 = line_norm(&l[i], &n0);
	if (!isdigit((unsigned char)t0[0]) && !ender_within(l, nl, i, 3))
		return -1;	/* no line of the window can end one, and no date opens it */
	char j[MAX_HEADER_JOIN + 64];
	size_t jn = 0;
	int dated = 0, addressed = 0;	/* has_date, '@' in the lines joined so far */
	for (int k = i; k < nl && k < i + 3; k++) {
		if (l[k].blank || l[k].n > 300)
			return -1;
		int wrapped = k > i && l[k].quoted;
		if (wrapped && (!is_wrapped_address_end(&l[k]) || !memchr(j, '<', jn)))
			return -1;
		if (jn && !wrapped)
			j[jn++] = ' ';
		size_t kn;
		const char *kt = line_norm(&l[k], &kn);
		jn += copy_norm(j + jn, sizeof j - jn - 3, kt, kn);
		dated |= l[k].dated;
		addressed |= (l[k].seen & SEEN_AT) != 0;
		while (jn > 0 && j[jn - 1] == ' ')
			jn--;
		j[jn] = '\0';
		if (jn == 0 || jn > MAX_HEADER_JOIN)
			return -1;
		int colon = j[jn - 1] == ':';
		size_t end = colon ? jn - 1 : jn;
		while (end > 0 && j[end - 1] == ' ')
			end--;
		int at_end = verb_ends(j, end);
		int addr_end = end > 0 && j[end - 1] == '>' && addressed;
		int inside = colon && !at_end && (k > i || line_has_verb(&l[i])) &&
			     verb_inside(j, end);
		int evidence = dated || addressed ||
			       ((at_end || inside) && !names_no_one(l, i, k, j, end)) ||
			       (k == i && colon && author_wrote(l, nl, i, j, end, (size_t)at_end));
		if ((colon || addr_end || at_end) && evidence)
			return shape_run_end(l, nl, i, k, at_end || inside,
					     dated && (addr_end || (colon && client_address(j, jn) &&
								    !list_follows(l, nl, k))));
		if (colon)
			return -1;	/* a line ending with ':' that is none ends the run */
		/* "2016-03-03 17:21 GMT+01:00 Some One" alone over a quote: a date and a time first */
		if (k == i && isdigit((unsigned char)j[0]) && jn <= 100 && (dated || addressed) &&
		    starts_with_date(j)) {
			int nx = next_content_line(l, nl, k);
			if (nx == k + 1 && l[nx].quoted)
				return k;
		}
		/* a line that ends a sentence and holds no date ends the run */
		if (strchr(".!?", j[jn - 1]) && !dated)
			return -1;
	}
	return -1;
}

/* 1 when no line before i is kept with text: the reply has written nothing yet. *scan is
 * where the last call stopped (lines are only ever dropped, so the walk is linear overall). */
static int nothing_kept_before(const struct rline *l, int i, int *scan)
{
	for (; *scan < i; ++*scan)
		if (l[*scan].keep && !l[*scan].blank)
			return 0;
	return 1;
}

/* The header lines of a forwarded message from line i ("From: ...", "Date: ...", a wrapped
 * value between them), removed with the blank lines after them; returns the next index. */
static int drop_forward_headers(struct rline *l, int nl, int i)
{
	int k = i, keys = 0, gap = 0, last = i - 1;
	while (k < nl && l[k].blank && k < i + 2)
		k++;
	for (; k < nl && !l[k].blank && k < i + 16; k++) {
		char t[256];
		normalise(l[k].s, l[k].n < 200 ? l[k].n : 200, t, sizeof t, 0);
		if (header_key(t)) {
			keys++;
			gap = 0;
			last = k;
		} else if (++gap > 1) {
			break;
		}
	}
	if (keys < 2)
		return i;
	for (k = i; k <= last; k++)
		l[k].keep = 0;
	return drop_blanks_after(l, nl, last + 1);
}

/* ---------------------------------------------------------------- we know what we sent */

#define SHINGLE_WORDS 4	/* words per shingle */
#define COPY_MIN_WORDS 12	/* words in a row that make a copy of our text */

struct words {
	uint64_t *h;	/* the hash of each word, in order */
	int *line;	/* the line each word is on */
	size_t n, cap;
};

/* The length of the blank at s (n bytes left): ASCII blanks and line breaks, and the no-break,
 * narrow, thin and ideographic spaces typesetting puts in our mails (the copy in a reply may
 * have plain spaces there); 0 when s is no blank. */
static inline size_t word_gap(const unsigned char *s, size_t n)
{
	if (s[0] > ' ' && s[0] < 0x80)
		return 0;
	if (is_space_byte(s[0]) || s[0] == '\n')
		return 1;
	if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
		return 2;
	if (n >= 3 && ((s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xAF || s[2] == 0x89 ||
							    s[2] == 0x8A)) ||
		       (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)))
		return 3;
	return 0;
}

/* Appends the words of text s (quote marks at the start of each line skipped; case,
 * punctuation at the edges of words, the kind of spaces and wrapping do not count) to w, on
 * line `line`. */
/* The class of each byte for words_add: WB_WORD hashed, WB_EDGE in a word but not hashed,
 * WB_GAP a one-byte blank, WB_MAYBE the first byte of a blank when word_gap says so. */
enum { WB_WORD, WB_EDGE, WB_GAP, WB_MAYBE };
static unsigned char word_byte[256];
/* Each byte as next_word reads it in one load: below WC_EDGE the byte as hashed (ASCII
 * capitals lowered), else WC_EDGE, WC_GAP or WC_MAYBE. NUL is a gap: the byte after a line
 * (a line break or the text's NUL) ends its last word without a bound check. */
enum { WC_EDGE = 0x100, WC_GAP = 0x200, WC_MAYBE = 0x300 };
static uint16_t word_code[256];

static pthread_once_t word_once = PTHREAD_ONCE_INIT;

static void word_bytes_build(void)
{
	static const char edges[] = "\"'()[]<>,.;:!?*";
	for (const char *e = edges; *e; e++)
		word_byte[(unsigned char)*e] = WB_EDGE;
	word_byte[' '] = word_byte['\t'] = word_byte['\r'] = word_byte['\n'] = WB_GAP;
	word_byte[0xC2] = word_byte[0xE2] = word_byte[0xE3] = WB_MAYBE;
	for (int c = 0; c < 256; c++) {
		static const uint16_t code[] = { 0, WC_EDGE, WC_GAP, WC_MAYBE };
		word_code[c] = word_byte[c] == WB_WORD ?
			(uint16_t)(c >= 'A' && c <= 'Z' ? c + 32 : c) : code[word_byte[c]];
	}
	word_code[0] = WC_GAP;	/* never inside a line (the text is a C string) */
}

static void word_bytes(void)
{
	pthread_once(&word_once, word_bytes_build);
}

/* A filter of the sent text's words (one bit per word hash, 2^16 bits): a reply word whose
 * bit is clear is not in it, and no shingle holding it can repeat ours (most reply words, the
 * shingle of a window is computed only when its four words may all be ours). */
#define WORD_FILTER_BITS 65536
/* The filter bit of a word hash, mixed first: FNV's top bits are the same for every word of
 * one byte ("a" would let "x", "y", "z" through); a product's top bits hang on all of its. */
static inline unsigned word_bit(uint64_t h)
{
	return (unsigned)((h * 0x9E3779B97F4A7C15ULL) >> 48);	/* top bits: all of h's */
}

static void word_filter_fill(uint64_t *bits, const struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		bits[word_bit(w->h[i]) / 64] |= 1ULL << word_bit(w->h[i]) % 64;
}

static inline int word_may_be_ours(const uint64_t *bits, uint64_t h)
{
	unsigned b = word_bit(h);
	return (int)(bits[b / 64] >> b % 64 & 1);
}

/* The next word of u (n bytes, u[n] a line break or NUL) from *i: its hash in *h, *i past
 * it; 0 when there is none. */
static inline __attribute__((always_inline)) int next_word(const unsigned char *u, size_t n,
							    size_t *at, uint64_t *h)
{
	size_t i = *at, g;
	unsigned e;
	for (; i < n; i += g) {	/* the blanks and edges before it */
		e = word_code[u[i]];
		if (e < WC_EDGE || (e == WC_MAYBE && !(g = word_gap(u + i, n - i))))
			break;
		if (e != WC_MAYBE)
			g = 1;
	}
	if (i >= n) {
		*at = i;
		return 0;
	}
	uint64_t x = 1469598103934665603ULL;
	const unsigned char *p = u + i, *end = u + n;	/* a pointer: one induction variable */
	for (;;) {
		e = word_code[*p];
		while (e < WC_EDGE) {	/* most bytes: hashed, lowered */
			x ^= e;
			x *= 1099511628211ULL;
			e = word_code[*++p];
		}
		if (e == WC_GAP || p >= end)	/* u[n] is a gap: the loop stops there */
			break;
		if (e == WC_MAYBE) {
			if (word_gap(p, (size_t)(end - p)))
				break;
			x = (x ^ *p) * 1099511628211ULL;	/* the first byte of a UTF-8 letter */
		}
		p++;
	}
	*at = (size_t)(p - u);
	*h = x;
	return 1;
}

static void words_add(struct words *w, const char *s, size_t n, int line)
{
	word_bytes();
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	uint64_t h;
	while (next_word(u, n, &i, &h)) {
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 256;
			w->h = xrealloc(w->h, w->cap * sizeof *w->h);
			w->line = xrealloc(w->line, w->cap * sizeof *w->line);
		}
		w->h[w->n] = h;
		w->line[w->n++] = line;
	}
}

/* How the words of a line stand against the filter: the run of words that may be ours at its
 * start (lead) and at its end (trail), the longest inside (best; a shorter one when none
 * between its first and last foreign words can be as long as the need it was read for), and
 * whether all may be. */
struct line_run {
	int root;	/* the line read (a twin's first line), -1 none */
	size_t lead, trail, best;
	int all;
};

/* The word in u[a, b) (no gap inside; edges not hashed) as next_word hashes it, in *h; 0 when
 * it holds edges only (no word). */
static int word_hash_at(const unsigned char *u, size_t a, size_t b, uint64_t *h)
{
	uint64_t x = 1469598103934665603ULL;
	int any = 0;
	for (size_t k = a; k < b; k++) {
		unsigned e = word_code[u[k]];
		if (e < WC_EDGE) {
			x = (x ^ e) * 1099511628211ULL;
			any = 1;
		}
	}
	*h = x;
	return any;
}

/* The run of words at the end of u[i, n) (u[i] a blank, or i == n) that may all be ours
 * (filter), read from the end, in *trail; returns where the last word that may not be ours
 * starts (i when there is none), or SIZE_MAX when a byte that is not ASCII stands in what it
 * read (a blank may be more than one byte there: next_word must read it). */
static size_t run_from_end(const unsigned char *u, size_t i, size_t n, const uint64_t *filter,
			   size_t *trail)
{
	size_t end = n;
	*trail = 0;
	for (;;) {
		size_t b = end, a;
		while (b > i && word_code[u[b - 1]] == WC_GAP)
			b--;
		for (a = b; a > i && word_code[u[a - 1]] != WC_GAP; a--)
			if (u[a - 1] >= 0x80)
				return SIZE_MAX;
		if (a == b)
			return i;
		end = a;
		uint64_t h;
		if (!word_hash_at(u, a, b, &h))
			continue;	/* edges alone are no word */
		if (!word_may_be_ours(filter, h))
			return a;
		++*trail;
	}
}

/* The blanks in u[i, e) (no line break nor NUL there), counted up to most or a little past
 * (a byte that may be in a blank of several bytes counted as one or more): at least the words
 * there, each having one before it when u[i] is a blank. */
static size_t blanks_within(const unsigned char *u, size_t i, size_t e, size_t most)
{
	size_t gaps = 0, k = i;
	for (; k + 8 <= e && gaps < most; k += 8) {	/* eight at a time: ' ', '\t', '\r' and
							 * any byte over 0x7F, counted over
							 * (bytes_equal may flag more past one) */
		uint64_t x;
		memcpy(&x, u + k, 8);
		uint64_t m = (x & HIGH8) | bytes_equal(x, ' ') | bytes_equal(x, '\t') |
			     bytes_equal(x, '\r');
		gaps += (size_t)(((m >> 7) * ONES8) >> 56);
	}
	for (; k < e && gaps < most; k++)
		gaps += word_code[u[k]] >= WC_GAP;
	return gaps;
}

/* line_run_of: the words up to the first that may not be ours give lead. When the words after
 * it are too few to hold a run of need but more than a couple, the run at the end is read from
 * the end (most lines of many short words: two or three words hashed, not all); else they are
 * read in order. */
static void line_run_of(struct line_run *r, const struct rline *ln, const uint64_t *filter,
			size_t need)
{
	const unsigned char *u = (const unsigned char *)ln->s;
	size_t i = 0, cur = 0, n = ln->n;
	uint64_t h;
	r->all = 1;
	while (next_word(u, n, &i, &h)) {
		if (!word_may_be_ours(filter, h)) {
			r->all = 0;
			break;
		}
		cur++;
	}
	r->lead = r->best = r->trail = cur;
	if (r->all)
		return;
	size_t e = n, trail, gaps = 0;
	while (e > i + 16 && word_code[u[e - 1]] == WC_GAP)
		e--;
	if (e >= i + 16)	/* a short rest is read in order at once */
		gaps = blanks_within(u, i, e, need);
	if (gaps >= 3 && gaps < need && run_from_end(u, i, e, filter, &trail) != SIZE_MAX) {
		r->trail = trail;	/* and no run after the first foreign word reaches need */
		if (trail > r->best)
			r->best = trail;
		return;
	}
	cur = 0;	/* the words after the first foreign one, in order */
	while (next_word(u, n, &i, &h)) {
		if (word_may_be_ours(filter, h)) {
			if (++cur > r->best)
				r->best = cur;
			continue;
		}
		cur = 0;
	}
	r->trail = cur;
}

/* 1 when l holds need words in a row that may all be ours (filter): without them no run can
 * repeat our text, and the reply's words need not be stored (one read of the text, no
 * writes: most replies). A twin is not read again: its first line's run is kept. */
static int ours_run_possible(const struct rline *l, int nl, const uint64_t *filter, size_t need)
{
	struct line_run seen[8];
	size_t streak = 0;
	word_bytes();
	for (int k = 0; k < 8; k++)
		seen[k].root = -1;
	for (int k = 0; k < nl; k++) {
		if (l[k].blank)
			continue;	/* blanks alone: no word, the streak goes on */
		int root = l[k].twin ? (int)(l[k].twin - l) : k;
		struct line_run *r = &seen[root & 7];
		if (r->root != root) {
			line_run_of(r, &l[root], filter, need);
			r->root = root;
		}
		if (r->all) {
			streak += r->lead;
		} else {
			if (streak + r->lead >= need || r->best >= need)
				return 1;
			streak = r->trail;
		}
		if (streak >= need)
			return 1;
	}
	return 0;
}

/* Room in w for every word of l at once (a word takes at least two bytes with its blank): no
 * regrowth, no copy; the pages past the words never touched. */
static void words_reserve(struct words *w, const struct rline *l, int nl)
{
	size_t most = 1;	/* the sum of n / 2 + 1 over the lines, without walking them */
	if (nl > 0)
		most += (size_t)(l[nl - 1].s + l[nl - 1].n - l[0].s) / 2 + (size_t)nl;
	w->cap = most;
	w->h = xrealloc(w->h, most * sizeof *w->h);
	w->line = xrealloc(w->line, most * sizeof *w->line);
}

/* The words of every line of l into w, in order: a line with a twin copies its twin's. */
static void lines_words_add(struct words *w, const struct rline *l, int nl)
{
	size_t *from = xcalloc((size_t)nl + 1, sizeof *from);	/* each line's first word */
	for (int k = 0; k < nl; k++) {
		from[k] = w->n;
		if (!l[k].twin) {
			words_add(w, l[k].s, l[k].n, k);
			continue;
		}
		int t = (int)(l[k].twin - l);
		size_t a = from[t], b = from[t + 1];
		if (w->n + (b - a) > w->cap) {
			while (w->n + (b - a) > w->cap)
				w->cap = w->cap ? w->cap * 2 : 256;
			w->h = xrealloc(w->h, w->cap * sizeof *w->h);
			w->line = xrealloc(w->line, w->cap * sizeof *w->line);
		}
		memcpy(w->h + w->n, w->h + a, (b - a) * sizeof *w->h);
		for (size_t i = 0; i < b - a; i++)
			w->line[w->n + i] = k;
		w->n += b - a;
	}
	free(from);
}

static uint64_t shingle(const struct words *w, size_t i)
{
	uint64_t x = 0;
	for (size_t k = 0; k < SHINGLE_WORDS; k++)
		x = (x ^ w->h[i + k]) * 0x100000001b3ULL + k;
	return x ? x : 1;
}

/* The shingles of the sent text in a table of mask + 1 slots (at least twice their count):
 * one probe or two per word of the reply, whatever its length. */
static void shingle_add(uint64_t *set, size_t mask, uint64_t x)
{
	size_t k = (size_t)(x ^ x >> 29) & mask;
	while (set[k] && set[k] != x)
		k = (k + 1) & mask;
	set[k] = x;
}

static int shingle_in(const uint64_t *set, size_t mask, uint64_t x)
{
	for (size_t k = (size_t)(x ^ x >> 29) & mask; set[k]; k = (k + 1) & mask)
		if (set[k] == x)
			return 1;
	return 0;
}

/* The paragraph (run of non-blank lines) of each line: the index of its first line; owned. */
static int *paragraphs(const struct rline *l, int nl)
{
	int *para = xcalloc((size_t)nl + 1, sizeof *para);
	for (int k = 0; k < nl; k++)
		para[k] = k > 0 && !l[k - 1].blank && !l[k].blank ? para[k - 1] : k;
	return para;
}

/* Marks copy on the lines whose words (wr) are all covered by a copy of our text, except in a
 * paragraph where new words stand between copied ones: our text edited by the sender (a
 * correction), which stays whole. Returns the first copy line, or -1. */
static int copy_lines(struct rline *l, int nl, const struct words *wr, const char *covered)
{
	int *para = paragraphs(l, nl), found = -1;
	int *left = xcalloc((size_t)nl + 1, sizeof *left);	/* words of each line not copied */
	char *edited = xcalloc((size_t)nl + 1, 1);	/* by the first line of a paragraph */
	int gap_para = -1;	/* the paragraph where new words follow copied ones */
	for (size_t i = 0; i < wr->n; i++) {
		int p = para[wr->line[i]];
		left[wr->line[i]] += !covered[i];
		if (!covered[i] && i > 0 && covered[i - 1] && para[wr->line[i - 1]] == p)
			gap_para = p;
		else if (covered[i] && gap_para == p)
			edited[p] = 1;
	}
	for (size_t i = 0; i < wr->n; i++) {
		int k = wr->line[i];
		if (covered[i] && !left[k] && !edited[para[k]]) {
			l[k].copy = 1;
			if (found < 0)
				found = k;
		}
	}
	free(edited);
	free(left);
	free(para);
	return found;
}

/* Marks copy = 1 on each line of l whose words all lie in a run of COPY_MIN_WORDS words (or
 * all of ours, when we sent fewer) repeating the sent text in order; returns the first such
 * line, or -1. Linear in both texts (one sort of the sent text's shingles, one binary search
 * per reply word). */
static int copy_mark(struct rline *l, int nl, const char *sent)
{
	struct words ws = { 0 }, wr = { 0 };
	words_add(&ws, sent, strlen(sent), 0);
	int found = -1;
	if (ws.n < SHINGLE_WORDS + 2)
		goto out;
	size_t ns = ws.n - SHINGLE_WORDS + 1, mask = 15;
	while (mask < 2 * ns)
		mask = mask * 2 + 1;
	uint64_t *set = xcalloc(mask + 1, sizeof *set);	/* open addressing; 0 is empty */
	for (size_t i = 0; i < ns; i++)
		shingle_add(set, mask, shingle(&ws, i));
	uint64_t *filter = xcalloc(WORD_FILTER_BITS / 64, sizeof *filter);
	word_filter_fill(filter, &ws);
	size_t need = ws.n < COPY_MIN_WORDS ? ws.n : COPY_MIN_WORDS, run = 0, marked = 0;
	if (!ours_run_possible(l, nl, filter, need)) {
		free(filter);
		free(set);
		goto out;
	}
	words_reserve(&wr, l, nl);
	lines_words_add(&wr, l, nl);
	char *covered = xcalloc(wr.n + 1, 1);
	size_t foreign = SIZE_MAX;	/* the last word seen that is not ours */
	for (size_t k = 0; k + 1 < SHINGLE_WORDS && k < wr.n; k++)
		if (!word_may_be_ours(filter, wr.h[k]))
			foreign = k;
	for (size_t i = 0; i + SHINGLE_WORDS <= wr.n; i++) {
		if (!word_may_be_ours(filter, wr.h[i + SHINGLE_WORDS - 1]))
			foreign = i + SHINGLE_WORDS - 1;
		int ours = (foreign == SIZE_MAX || foreign < i) &&
			   shingle_in(set, mask, shingle(&wr, i));
		run = ours ? run + 1 : 0;
		if (run && run + SHINGLE_WORDS - 1 >= need) {	/* the run so far is a copy */
			size_t from = i + 1 - run > marked ? i + 1 - run : marked;
			memset(covered + from, 1, i + SHINGLE_WORDS - from);
			marked = i + SHINGLE_WORDS;	/* each word marked once: linear */
		}
	}
	if (marked)	/* some run repeats ours: which lines it covers whole */
		found = copy_lines(l, nl, &wr, covered);
	free(filter);
	free(covered);
	free(set);
out:
	free(ws.h);
	free(ws.line);
	free(wr.h);
	free(wr.line);
	return found;
}

/* 1 when the paragraph ending at line e is the header of a copy (an attribution or a block of
 * "key: value" lines, in any language): every line has a ':' in its first 40 bytes, or the
 * paragraph is at most three lines ending with ':' or '>'. */
static int is_copy_header(const struct rline *l, int b, int e)
{
	int keyed = 1;
	for (int k = b; k <= e; k++) {
		const char *c = memchr(l[k].s, ':', l[k].n < 40 ? l[k].n : 40);
		if (!c && !is_rule_line(&l[k]))
			keyed = 0;
	}
	char last = l[e].n ? l[e].s[l[e].n - 1] : 0;
	return keyed || (e - b < 3 && (last == ':' || last == '>'));
}

/* 1 when every line strictly between a and b is blank. */
static int all_blank_between(const struct rline *l, int a, int b)
{
	for (int k = a + 1; k < b; k++)
		if (!l[k].blank)
			return 0;
	return 1;
}

/* The copy starting at line c loses the attribution or header block directly above it (a
 * paragraph, not the reply's first lines glued to the copy), and the rule line over that. */
static void drop_copy_header(struct rline *l, int c)
{
	int e = c - 1;
	while (e >= 0 && l[e].blank)
		e--;
	int b = e;
	while (b > 0 && !l[b - 1].blank && !l[b - 1].copy && e - b < 7)
		b--;
	if (e < 0 || l[e].copy || !(b > 0 || e < c - 1) || !is_copy_header(l, b, e))
		return;
	for (int k = b; k < c; k++)
		l[k].keep = 0;
	drop_lead_in(l, b);
}

/* Knowing what we sent: the runs of the reply that copy it go, each with the attribution or
 * header block right above it and the blank lines inside it; the reply's text around and
 * between them stays. Nothing is done when the copy is '>'-quoted and answered inline below
 * (the quote rules handle those). */
static void drop_known_copy(struct rline *l, int nl, const char *sent)
{
	int c = sent && *sent ? copy_mark(l, nl, sent) : -1;
	if (c < 0)
		return;
	if (l[c].quoted)
		for (int k = c; k < nl; k++)
			if (!l[k].quoted && !l[k].blank)
				return;
	int prev = -1;	/* the last copy line seen */
	for (int k = 0; k < nl; k++) {
		if (!l[k].copy)
			continue;
		int joined = prev >= 0 && all_blank_between(l, prev, k);
		if (!joined)
			drop_copy_header(l, k);
		for (int j = joined ? prev + 1 : k; j <= k; j++)
			l[j].keep = 0;
		prev = k;
	}
	drop_blanks_after(l, nl, prev + 1);
	for (int k = 0; k < nl; k++)
		l[k].kept0 = l[k].keep;
}

/* ---------------------------------------------------------------- the pass */

/* 1 when the line at s (n bytes, leading blanks skipped) is a Supercite quote ("C> ",
 * "Bob> "): one to ten letters, then '>'. */
static int is_supercite(const char *s, size_t n)
{
	size_t k = 0;
	while (k < n && k < 10 && isalpha((unsigned char)s[k]))
		k++;
	return k > 0 && k < n && s[k] == '>' && (k + 1 == n || s[k + 1] == ' ');
}

/* 1 when the three bytes at u open an invisible character strip_invisible removes. */
static int is_invisible(const unsigned char *u)
{
	return (u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0x8B && u[2] <= 0x8D) ||
	       (u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0xA0) ||
	       (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) ||
	       (u[0] == 0xE1 && u[1] == 0x90 && u[2] == 0xA7);
}

/* 1 when text (n bytes) holds an invisible character: most bodies hold none, and are read
 * in place rather than copied. */
static int any_invisible(const char *text, size_t n)
{
	const unsigned char *u = (const unsigned char *)text;
	for (size_t i = 0; i + 2 < n; i++) {
		uint64_t x;
		while (i + 8 <= n && (memcpy(&x, u + i, 8), !(x & 0x8080808080808080ULL)))
			i += 8;	/* eight ASCII bytes at a time */
		if (i + 2 < n && u[i] >= 0xE1 && is_invisible(u + i))
			return 1;
	}
	return 0;
}

/* A copy of text without zero-width spaces, joiners, BOMs and Gmail's U+1427 marker. */
static char *strip_invisible(const char *text)
{
	size_t n = strlen(text), w = 0;
	char *o = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *u = (const unsigned char *)text + i;
		size_t run = 0;
		uint64_t x;
		while (i + run + 8 <= n && (memcpy(&x, u + run, 8), !(x & 0x8080808080808080ULL)))
			run += 8;	/* eight ASCII bytes at a time */
		while (i + run < n && u[run] < 0xE1)
			run++;	/* no invisible character opens with these bytes */
		if (run) {
			memcpy(o + w, u, run);
			w += run;
			i += run - 1;
			continue;
		}
		if (u[0] >= 0xE1 && i + 2 < n && is_invisible(u)) {
			i += 2;
			continue;
		}
		o[w++] = text[i];
	}
	o[w] = '\0';
	return o;
}

/* The lines of text (borrowed pointers into it); their count in *count. */
static struct rline *split_lines(const char *text, size_t len, int *count, char **arena)
{
	int nl = 1;
	for (const char *e = memchr(text, '\n', len); e;
	     e = memchr(e + 1, '\n', len - (size_t)(e + 1 - text)))
		nl++;
	struct rline *l = xcalloc((size_t)nl, sizeof *l);
	*arena = xmalloc(len + 4 * (size_t)nl + 4);	/* each line's normalised form, in place */
	int n = 0;
	const char *p = text;
	while (n < nl) {
		const char *e = memchr(p, '\n', len - (size_t)(p - text));
		size_t ll = e ? (size_t)(e - p) : len - (size_t)(p - text);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		struct rline *r = &l[n++];
		r->s = p;
		r->n = ll;
		r->keep = 1;
		r->kept0 = 1;	/* drop_known_copy updates it when it removes lines */
		r->verbed = -1;
		r->lone = -1;
		r->cut = ll;
		r->norm = *arena + (p - text) + 4 * (size_t)n;
		r->cap = ll + 4;
		size_t k = 0;
		while (k < ll && is_space_byte((unsigned char)p[k]))
			k++;
		r->blank = k == ll;
		r->quoted = k < ll && (p[k] == '>' || is_supercite(p + k, ll - k));
		for (int d = 2; d <= 5 && d <= n && !r->blank; d++) {	/* l[n - d]: d - 1 lines up */
			const struct rline *u = &l[n - d];
			if (u->n == ll && !memcmp(u->s, p, ll)) {
				r->twin = u->twin ? u->twin : u;
				break;
			}
		}
		if (!e)
			break;
		p = e + 1;
	}
	*count = n;
	return l;
}

/* The length of j (n bytes) without the time some clients write after the verb: a
 * parenthesis holding a digit (Hungarian "ezt írta (időpont: 2023. nov. 8., Sze, 15:20)"), or
 * an opener word and words that all hold a digit (IBM Notes' "wrote on 08/11/2023 15:20:41");
 * n when it ends with neither. */
static size_t without_time_after_verb(const char *j, size_t n)
{
	size_t e = n;
	if (e > 0 && j[e - 1] == ')') {
		size_t o = e - 1;
		while (o > 0 && j[o - 1] != '(' && j[o - 1] != ')')
			o--;
		if (o == 0 || j[o - 1] != '(' || !has_digit_n(j + o, e - 1 - o))
			return n;
		e = o - 1;
	} else {
		int words = 0;
		for (;;) {	/* words holding a digit, from the end */
			size_t w = e;
			while (w > 0 && j[w - 1] != ' ')
				w--;
			if (w == e || !has_digit_n(j + w, e - w))
				break;
			words++;
			e = w;
			while (e > 0 && j[e - 1] == ' ')
				e--;
		}
		size_t w = e;
		while (w > 0 && j[w - 1] != ' ')
			w--;
		char word[32];
		if (!words || e - w >= sizeof word - 1)
			return n;
		memcpy(word, j + w, e - w);
		word[e - w] = '\0';
		if (!phrase_opens(RP_OPENER, word, e - w))
			return n;
		e = w;
	}
	while (e > 0 && j[e - 1] == ' ')
		e--;
	return e;
}

/* 1 when the normalised text j (n bytes) ends, a ':' and blanks aside, with an attribution
 * verb (the time after it aside: without_time_after_verb) or with an address between '<' and
 * '>'. */
static int ends_with_verb_or_address(const char *j, size_t n)
{
	while (n > 0 && j[n - 1] == ' ')
		n--;
	if (n > 0 && j[n - 1] == ':')
		n--;
	while (n > 0 && j[n - 1] == ' ')
		n--;
	if (n == 0)
		return 0;
	if (verb_ends(j, n))
		return 1;
	size_t e = without_time_after_verb(j, n);
	if (e < n && verb_ends(j, e))
		return 1;
	if (j[n - 1] != '>')
		return 0;
	size_t o = n - 1;
	while (o > 0 && j[o - 1] != '<' && j[o - 1] != ' ')
		o--;
	if (o > 1 && j[o - 1] == ' ' && j[o - 2] == '<')
		o--;	/* "Hans Müller <" / "hans@example.de>:", joined with a blank */
	return o > 0 && j[o - 1] == '<' && memchr(j + o, '@', n - 1 - o);
}

/* 1 when the attribution found at lines i..last (from byte mid of line i) may stand over what
 * follows it: always over a '>' quote or a header block; over an unquoted old message (or
 * nothing) only when the run carries a date, a time or an address and its last line ends with
 * an attribution verb or an '<address>', a ':' after either or not ("Le 3 déc. 2026 à 10:00,
 * Marc <marc@x.fr> a écrit :"). "Réunion du 3/12 à 10:00, Marc a écrit le compte rendu :" is
 * the reply's own sentence: cutting there would lose the text under it. */
static int attribution_fits(struct rline *l, int nl, int i, int last, size_t mid)
{
	int nx = last + 1;	/* as drop_attribution finds it */
	while (nx < nl && l[nx].blank)
		nx++;
	if (nx < nl && (l[nx].quoted || header_block_at(l, nl, nx)))
		return 1;
	if (last == i && !mid) {	/* one line: its flags and its text, nothing joined */
		size_t dn;
		const char *d = line_norm_dashless(&l[i], &dn);
		if (!(l[i].dated || (l[i].seen & SEEN_AT)))
			return 0;
		struct rline *tw = (struct rline *)l[i].twin;
		if (!l[i].vae)
			l[i].vae = tw && tw->vae ? tw->vae :
				   (signed char)(1 + ends_with_verb_or_address(d, dn));
		if (tw && !tw->vae)
			tw->vae = l[i].vae;
		return l[i].vae - 1;
	}
	char j[MAX_HEADER_JOIN + 64];
	size_t jn = 0;
	int evidence = 0;
	for (int k = i; k <= last && jn < MAX_HEADER_JOIN; k++) {
		if (l[k].blank)
			continue;
		size_t dn;
		const char *d;
		char part[MAX_HEADER_JOIN + 4];
		if (k == i && mid) {
			size_t pn = l[i].n - mid < MAX_HEADER_JOIN ? l[i].n - mid : MAX_HEADER_JOIN;
			dn = normalise(l[i].s + mid, pn, part, sizeof part, 1);
			d = part;
			evidence |= memchr(d, '@', dn) || has_date(d);
		} else {
			d = line_norm_dashless(&l[k], &dn);
			evidence |= l[k].dated || (l[k].seen & SEEN_AT);
		}
		if (jn && !l[k].quoted)
			j[jn++] = ' ';
		jn += copy_norm(j + jn, sizeof j - jn - 3, d, dn);
	}
	return evidence && ends_with_verb_or_address(j, jn);
}

/* The attribution of lines i..last (mid: it starts at that byte of line i) is removed with
 * the '>' run after it (inline answers below stay), or with everything below when the old
 * message is not quoted — unless the reply has said nothing yet: then the text below is the
 * reply. Returns the index to go on from, or nl to stop. */
static int drop_attribution(struct rline *l, int nl, int i, int last, size_t mid, int *scan)
{
	int next = last + 1;
	while (next < nl && l[next].blank)
		next++;
	if (mid) {
		size_t keep = mid;
		while (keep > 0 && (l[i].s[keep - 1] == ' ' || l[i].s[keep - 1] == '-'))
			keep--;
		l[i].cut = keep;
		if (keep == 0)
			l[i].keep = 0;
	} else {
		drop_lead_in(l, i);
		l[i].keep = 0;
	}
	for (int k = i + 1; k <= last; k++)
		l[k].keep = 0;
	if (next < nl && l[next].quoted) {
		for (int k = last + 1; k < next; k++)
			l[k].keep = 0;
		int end = remove_quote_run(l, nl, next);
		return drop_blanks_after(l, nl, end) - 1;
	}
	if (!mid && nothing_kept_before(l, i, scan) && next < nl && !header_block_at(l, nl, next))
		return last;
	for (int k = last + 1; k < nl; k++)
		l[k].keep = 0;
	return nl;
}

/* A '>' line at i: an isolated one between two text lines is text (">>> link <<<"), unless
 * a quote came before it (quoted: the reply answers between quotes, and this is one more
 * question); a '>' header block over an unquoted copy cuts the rest; otherwise the run goes.
 * Returns the index to go on from, or nl to stop. */
static int drop_quote(struct rline *l, int nl, int i, int forwarded, int quoted)
{
	int single = (i + 1 >= nl || !l[i + 1].quoted) && i > 0 && !l[i - 1].blank &&
		     !l[i - 1].quoted && i + 1 < nl && !l[i + 1].blank && !quoted;
	if (single)
		return i;
	if (!forwarded && quoted_header_at(l, nl, i)) {
		cut_from(l, nl, i);
		return nl;
	}
	int end = remove_quote_run(l, nl, i);
	drop_blanks_after(l, nl, end);
	return end - 1;
}

/* An Outlook header block collapsed onto one line, as HTML bodies give it ("From: A [mailto:a@b]
 * Sent: Monday ... To: B Subject: Re: x"): a from key first, then keys of two other fields. */
static int inline_header_at(struct rline *ln)
{
	if (ln->n < 20 || ln->n > 1000 || !line_has_colon(ln))
		return 0;
	size_t tn;
	const char *t = line_norm(ln, &tn);
	if (header_key(t) != 1)
		return 0;
	int groups = 0;
	for (size_t k = 1; k + 1 < tn; k++)
		if (t[k - 1] == ' ' && t[k] != ' ') {
			int g = header_key(t + k);
			if (g > 1)
				groups |= 1 << g;
		}
	return __builtin_popcount((unsigned)groups) >= 2;
}

/* The lines from i that open with a known header key (any field: Thunderbird's table opens
 * with "Betreff:"), at most LOOKAHEAD. */
static int keyed_lines(struct rline *l, int nl, int i)
{
	int k = i;
	for (; k < nl && k < i + LOOKAHEAD && !l[k].blank; k++) {
		char t[128];
		size_t tn;
		const char *nt = line_norm(&l[k], &tn);
		copy_norm(t, 101, nt, tn);
		if (!header_key(t))
			break;
	}
	return k - i;
}

/* A few words framed by rules ("----- Mail original -----", "-------- Pesan asli --------"),
 * without digits: the shape of an original-message separator in any language. */
static int is_framed_line(const struct rline *ln)
{
	size_t a = 0, b = ln->n, marks = 0, words = 0;
	if (ln->n > 80)
		return 0;
	while (a < b && (is_space_byte((unsigned char)ln->s[a]) || ln->s[a] == '-' ||
			 ln->s[a] == '_' || ln->s[a] == '='))
		marks += ln->s[a++] != ' ';
	if (marks < 2)
		return 0;
	for (marks = 0; b > a && (is_space_byte((unsigned char)ln->s[b - 1]) || ln->s[b - 1] == '-' ||
				  ln->s[b - 1] == '_' || ln->s[b - 1] == '='); b--)
		marks += ln->s[b - 1] != ' ';
	if (marks < 2 || b == a)
		return 0;
	for (size_t k = a; k < b; k++) {
		if (isdigit((unsigned char)ln->s[k]) || ln->s[k] == '@' || ln->s[k] == ':')
			return 0;
		words += ln->s[k] == ' ';
	}
	return words <= 4;
}

/* 1 when an old message starts at line i: an Outlook block (under a framed separator line, in
 * any language), Orange's "Message du <date>" over one, or a Lotus Notes block (*from is where
 * to cut). */
static int old_message_at(struct rline *l, int nl, int i, int *from)
{
	*from = i;
	if (header_block_at(l, nl, i) || inline_header_at(&l[i]))
		return 1;
	if (i + 1 < nl && is_framed_line(&l[i])) {
		int nx = next_content_line(l, nl, i);
		if (nx > 0 && nx <= i + 2 && (header_block_at(l, nl, nx) || keyed_lines(l, nl, nx) >= 2))
			return 1;
	}
	if (i + 1 < nl && l[i].n < 60) {
		size_t tn;
		const char *t = line_norm(&l[i], &tn);
		if ((!strncmp(t, "message du ", 11) || !strncmp(t, "message of ", 11)) &&
		    (l[i].seen & SEEN_DIGIT) && header_block_at(l, nl, i + 1))
			return 1;
	}
	return (*from = lotus_block_at(l, nl, i)) >= 0;
}

/* The quotes, attributions, separators and old messages of l, marked not kept; returns the
 * line of the first forwarded-message separator, or n when there is none. */
static int mark_quotes(struct rline *l, int n, int forwarded)
{
	int scan = 0, fwd = n, quoted = 0, qscan = 0;	/* quoted: a '>' line above i */
	for (int i = 0; i < n; i++) {
		if (!l[i].keep || l[i].blank)
			continue;
		if (l[i].quoted) {
			for (; qscan < i && !quoted; qscan++)
				quoted = l[qscan].quoted;
			i = drop_quote(l, n, i, forwarded, quoted);
			continue;
		}
		int sep = separator_at(&l[i]), from;
		if (sep == 2) {
			forwarded = 1;	/* what follows is content the sender chose to send */
			if (fwd == n)
				fwd = i;
			l[i].keep = 0;
			drop_lead_in(l, i);
			i = drop_forward_headers(l, n, i + 1) - 1;
			continue;
		}
		if (sep == 1 || (!forwarded && old_message_at(l, n, i, &from))) {
			cut_from(l, n, sep == 1 ? i : from);
			return fwd;
		}
		/* "reply On <date>, X wrote:": the attribution may start mid-line */
		size_t mid = midline_attribution(l, n, i);
		int last = mid > 0 ? i : attribution_at(l, n, i, 0);
		if (last >= 0 && !attribution_fits(l, n, i, last, mid))
			last = -1, mid = 0;
		if (last < 0 && (last = shape_attribution_at(l, n, i)) >= 0 &&
		    !attribution_fits(l, n, i, last, 0))
			last = -1;
		if (last >= 0)
			i = drop_attribution(l, n, i, last, mid, &scan);
	}
	return fwd;
}

/* The kept lines of l, joined, trailing blanks and blank lines removed (owned). Each kept line
 * brings at most its bytes and a line break: len + 1 bytes hold them all, copied directly. */
static char *kept_text(const struct rline *l, int n, size_t len)
{
	char *out = xmalloc(len + 2);
	size_t on = 0;
	int started = 0;
	for (int k = 0; k < n; k++) {
		if (!l[k].keep)
			continue;
		if (!started && l[k].blank)
			continue;
		started = 1;
		size_t c = l[k].cut;
		while (c > 0 && is_space_byte((unsigned char)l[k].s[c - 1]))
			c--;
		memcpy(out + on, l[k].s, c);
		on += c;
		out[on++] = '\n';
	}
	while (on > 0 && (out[on - 1] == '\n' || out[on - 1] == ' ' || out[on - 1] == '\t'))
		on--;
	out[on] = '\0';
	return len - on > 4096 ? xrealloc(out, on + 1) : out;	/* not the body's size for life */
}

/* The never-lose fallback, when trimming left nothing: the lines before the first one that
 * mark_quotes removed (the text written above the first quote, attribution or header block),
 * as they were; "" when there are none, or when they are only a signature under its "-- "
 * delimiter or mobile footers: those are no text the sender wrote now (owned). */
static char *text_before_first_cut(struct rline *l, int n, size_t len)
{
	int first = 0, lead = -1, footers = 1;
	while (first < n && !(l[first].kept0 && !l[first].keep && !l[first].blank))
		first++;
	for (int k = 0; k < n; k++) {
		l[k].keep = k < first && l[k].kept0;
		l[k].cut = l[k].n;
		if (!l[k].keep || l[k].blank)
			continue;
		if (lead < 0)
			lead = k;
		footers = footers && is_mobile_signature(&l[k]);
	}
	if (lead >= 0 && (footers || is_sig_delimiter(&l[lead])))
		return xstrdup("");
	return kept_text(l, n, len);
}

char *extract_reply_known(const char *text, int is_forward, const char *sender_name,
			  const char *sent)
{
	size_t len = strlen(text);
	char *owned = any_invisible(text, len) ? strip_invisible(text) : NULL;
	const char *clean = owned ? owned : text;
	len = owned ? strlen(owned) : len;
	int n;
	char *arena;
	struct rline *l = split_lines(clean, len, &n, &arena);
	drop_known_copy(l, n, sent);	/* the copies of our text go, not what is between */
	/* a forward's signature is the note's: the forwarded body is content, kept whole */
	int fwd = mark_quotes(l, n, is_forward);
	int sig = signature_start(l, fwd, sender_name);
	for (int k = sig; k < fwd; k++)
		l[k].keep = 0;
	char *out = kept_text(l, n, len);
	if (!*out) {
		free(out);
		out = text_before_first_cut(l, n, len);
	}
	free(l);
	free(arena);
	free(owned);
	return out;
}

void extract_reply_against(struct message *m, const char *sent)
{
	char *t = extract_reply_known(m->text ? m->text : "", extract_subject_is_forward(m->subject),
				      m->from_name, sent);
	free(m->new_text);
	m->new_text = t;
	if (m->bid) {
		bid_info_free(m->bid);
		m->bid = extract_bid_text_at(t, extract_mail_time(m));
	}
}
