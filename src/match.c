/*
 * match.c — skill profiles against projects, through PCRE2 (the only file that uses it).
 * A PATTERN is a PCRE2 regular expression (caseless, Unicode) or a plain word list turned into
 * a word-boundary alternation. Hostile patterns cannot hurt: length, nesting, match, depth and
 * heap limits, JIT with a bounded stack and the interpreter as fall-back.
 * Scale: identical patterns are stored once; each pattern gets the literals that any match must
 * contain (a word list: its words; a regex: a mandatory literal run or alternation, when one can
 * be proved), and one pass over a project's text finds which literals occur (a trigram index), so
 * most patterns never run on most projects. Word lists are decided by that pass alone; regexes
 * are compiled on first need and run only where their literal occurs.
 * Budgets: patterns belong to groups (a subscriber's profile) whose PCRE2 time is measured
 * (monotonic clock per run, scaled down to the thread's CPU time per text) and capped; a
 * pattern whose groups are all over budget is skipped. A probe measures a new pattern's CPU
 * cost on a sample of texts before it is accepted.
 * In: patterns and project texts. Out: per project, which patterns matched (or hit a limit).
 */
#include "bidmail.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PATTERN_LEN 512
#define MAX_PARENS 32
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 2000
#define HEAP_LIMIT_KB 8192
#define MIN_LITERAL 2
#define PROBE_TEXT_MAX 8192	/* bytes of each sample text the probe reads */
#define FOUND_MAX 3		/* texts match_found reports */
#define FOUND_LEN 60		/* bytes of each */

/* ---------------------------------------------------------------- Unicode helpers */

/* Decodes the UTF-8 character at p (len bytes left); sets *n to its length. */
static unsigned utf8_decode(const unsigned char *p, size_t len, size_t *n)
{
	if (p[0] < 0x80 || len < 2) {
		*n = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0) {
		*n = 2;
		return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
	}
	if ((p[0] & 0xF0) == 0xE0 && len >= 3) {
		*n = 3;
		return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
	}
	if (len >= 4) {
		*n = 4;
		return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
		       (p[3] & 0x3Fu);
	}
	*n = 1;
	return p[0];
}

/* \p{L} or \p{N}, closely enough for word boundaries: ASCII letters and digits, Latin-1
 * letters, and every character outside the punctuation, symbol and space blocks. */
static int is_word_char(unsigned c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
	if (c < 0xC0)
		return c == 0xAA || c == 0xB5 || c == 0xBA || c == 0xB2 || c == 0xB3 || c == 0xB9 ||
		       (c >= 0xBC && c <= 0xBE);
	if (c == 0xD7 || c == 0xF7)
		return 0;
	if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) ||
	    (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF0F) ||
	    (c >= 0xFF1A && c <= 0xFF20) || (c >= 0x1F000 && c <= 0x1FAFF) || c == 0xFEFF)
		return 0;
	return 1;
}

/* The character before offset i of s (0 at the start). */
static unsigned char_before(const unsigned char *s, size_t i)
{
	if (i == 0)
		return 0;
	size_t k = i - 1;
	while (k > 0 && (s[k] & 0xC0) == 0x80 && i - k < 4)
		k--;
	size_t n;
	return utf8_decode(s + k, i - k, &n);
}

/* The lower-case form the prefilter compares: ASCII and Latin-1 capitals lowered, same
 * length as s (money_lower). */
static char *fold_text(const char *s, size_t len)
{
	(void)len;
	return money_lower(s);
}

/* ---------------------------------------------------------------- patterns */

static int is_word_list(const char *p)
{
	return !strpbrk(p, "\\()[]{}|^$*?");
}

/* Appends a word, PCRE2-escaped, to b. */
static void escape_word(struct buf *b, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strchr("\\^$.|?*+()[]{}-#/", w[i]))
			buf_putc(b, '\\');
		buf_putc(b, w[i]);
	}
}

/* ---------------------------------------------------------------- word lists */

/* The "all of these words" mark that may open a word list: `tous:` or `all:` (any case,
 * spaces before the colon); the text after it, or NULL when there is none. */
static const char *all_mark(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = !strncasecmp(p, "tous", 4) ? 4 : !strncasecmp(p, "all", 3) ? 3 : 0;
	if (!n)
		return NULL;
	const char *q = p + n;
	while (*q == ' ' || *q == '\t' || !strncmp(q, "\xC2\xA0", 2))
		q += *q == ' ' || *q == '\t' ? 1 : 2;	/* a no-break space, as French typesets it */
	return *q == ':' ? q + 1 : NULL;
}

/* The length of the quote mark at p that opens a phrase (" “ «), 0 when none; its closing
 * mark into *close. */
static size_t quote_open(const char *p, const char **close)
{
	if (*p == '"') {
		*close = "\"";
		return 1;
	}
	if (!strncmp(p, "\xE2\x80\x9C", 3)) {	/* “ … ” */
		*close = "\xE2\x80\x9D";
		return 3;
	}
	if (!strncmp(p, "\xC2\xAB", 2)) {	/* « … » */
		*close = "\xC2\xBB";
		return 2;
	}
	return 0;
}

/* The next term of a word list: a word (up to a blank, comma or semicolon) or a quoted
 * phrase (its inner blanks made one space each), into a new string; NULL at the end. */
static char *next_term(const char **p)
{
	while (**p == ' ' || **p == ',' || **p == ';' || **p == '\t')
		(*p)++;
	const char *close;
	size_t q = quote_open(*p, &close);
	if (q) {
		const char *s = *p + q, *e = strstr(s, close);
		size_t n = e ? (size_t)(e - s) : strlen(s);
		*p = e ? e + strlen(close) : s + n;
		struct buf b;
		buf_init(&b, n + 1);
		for (size_t i = 0; i < n; i++)
			if (s[i] != ' ' && s[i] != '\t')
				buf_putc(&b, s[i]);
			else if (b.len && b.data[b.len - 1] != ' ' && i + 1 < n)
				buf_putc(&b, ' ');
		char *t = buf_steal(&b);
		return t ? t : next_term(p);	/* "" is no term */
	}
	size_t n = strcspn(*p, " ,;\t");
	if (!n)
		return NULL;
	char *t = xstrndup(*p, n);
	*p += n;
	return t;
}

enum match_form match_terms(const char *source, struct strlist *terms)
{
	if (!is_word_list(source))
		return MATCH_REGEX;
	const char *rest = all_mark(source);
	const char *p = rest ? rest : source;
	for (char *t; (t = next_term(&p)) != NULL;)
		strlist_add_owned(terms, t);
	return rest ? MATCH_ALL : MATCH_ANY;
}

/* The regex of a word list: any of its terms at word boundaries, or (form MATCH_ALL) all of
 * them, each looked ahead for from the start. 0, or -1 when it has no term. */
static int word_list_regex(const char *input, struct buf *b)
{
	struct strlist terms = { 0 };
	enum match_form form = match_terms(input, &terms);
	if (form == MATCH_ALL)
		buf_puts(b, "\\A");
	else
		buf_puts(b, "(?<![\\p{L}\\p{N}])(?:");
	for (size_t i = 0; i < terms.n; i++) {
		if (form == MATCH_ALL)
			buf_puts(b, "(?=[\\s\\S]*?(?<![\\p{L}\\p{N}])");
		else if (i)
			buf_putc(b, '|');
		escape_word(b, terms.v[i], strlen(terms.v[i]));
		if (form == MATCH_ALL)
			buf_puts(b, "(?![\\p{L}\\p{N}]))");
	}
	if (form != MATCH_ALL)
		buf_puts(b, ")(?![\\p{L}\\p{N}])");
	int n = (int)terms.n;
	strlist_clear(&terms);
	return n ? 0 : -1;
}

/* The catalogue topic of the PCRE2 errors people make most, NULL for the others. */
static const char *compile_topic(int code)
{
	static const struct {
		int code;
		const char *topic;
	} topics[] = {
		{ PCRE2_ERROR_END_BACKSLASH, "end_backslash" },
		{ PCRE2_ERROR_UNKNOWN_ESCAPE, "unknown_escape" },
		{ PCRE2_ERROR_QUANTIFIER_OUT_OF_ORDER, "quantifier_order" },
		{ PCRE2_ERROR_MISSING_SQUARE_BRACKET, "missing_bracket" },
		{ PCRE2_ERROR_CLASS_RANGE_ORDER, "range_order" },
		{ PCRE2_ERROR_QUANTIFIER_INVALID, "nothing_to_repeat" },
		{ PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS, "missing_parenthesis" },
		{ PCRE2_ERROR_UNMATCHED_CLOSING_PARENTHESIS, "unmatched_parenthesis" },
		{ PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP, "nested_too_deep" },
		{ PCRE2_ERROR_LOOKBEHIND_NOT_FIXED_LENGTH, "lookbehind" },
	};
	for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
		if (topics[i].code == code)
			return topics[i].topic;
	return NULL;
}

const char *match_error_topic(const struct match_error *e)
{
	switch (e->kind) {
	case MATCH_ERR_NONE:
		return NULL;
	case MATCH_ERR_EMPTY:
		return "empty";
	case MATCH_ERR_LONG:
		return "too_long";
	case MATCH_ERR_UTF8:
		return "utf8";
	case MATCH_ERR_EXPANDED:
		return "too_long";
	case MATCH_ERR_COMPILE:
		return compile_topic(e->code);
	}
	return NULL;
}

/* 0 when PCRE2 compiles the len bytes at re with the board's options, else -1 with e set. */
static int compile_check(const char *re, size_t len, struct match_error *e)
{
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	pcre2_set_max_pattern_length(cc, MAX_PATTERN_LEN * 4 + 64);
	pcre2_set_parens_nest_limit(cc, MAX_PARENS);
	int code;
	PCRE2_SIZE off;
	pcre2_code *code_re = pcre2_compile((PCRE2_SPTR)re, len,
					    PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP, &code, &off, cc);
	pcre2_compile_context_free(cc);
	if (code_re) {
		pcre2_code_free(code_re);
		return 0;
	}
	e->kind = MATCH_ERR_COMPILE;
	e->code = code;
	e->offset = (size_t)off;
	PCRE2_UCHAR msg[sizeof e->message];
	pcre2_get_error_message(code, msg, sizeof msg);
	snprintf(e->message, sizeof e->message, "%s", (char *)msg);
	return -1;
}

int match_check(const char *input, char *out, size_t outlen, struct match_error *e)
{
	memset(e, 0, sizeof *e);
	size_t n = strlen(input);
	e->kind = n == 0 ? MATCH_ERR_EMPTY : n > MAX_PATTERN_LEN ? MATCH_ERR_LONG
		  : !charset_is_utf8(input, n) ? MATCH_ERR_UTF8 : MATCH_ERR_NONE;
	e->length = n;
	e->max = MAX_PATTERN_LEN;
	if (e->kind)
		return -1;
	struct buf b;
	buf_init(&b, MAX_PATTERN_LEN * 4 + 64);
	if (is_word_list(input) && word_list_regex(input, &b) < 0)
		e->kind = MATCH_ERR_EMPTY;
	else if (!is_word_list(input))
		buf_puts(&b, input);
	/* compile once to refuse what PCRE2 refuses, with its error and offset */
	if (!e->kind && compile_check(b.data, b.len, e) == 0 && b.len + 1 > outlen)
		e->kind = MATCH_ERR_EXPANDED;
	if (!e->kind)
		memcpy(out, b.data, b.len + 1);
	buf_free(&b);
	return e->kind ? -1 : 0;
}

int match_normalize(const char *input, char *out, size_t outlen, char *err, size_t errlen)
{
	struct match_error e;
	if (match_check(input, out, outlen, &e) == 0)
		return 0;
	if (e.kind == MATCH_ERR_COMPILE)
		snprintf(err, errlen, "the pattern does not compile: %s at offset %zu", e.message,
			 e.offset);
	else if (e.kind == MATCH_ERR_LONG)
		snprintf(err, errlen, "pattern too long: %zu bytes, at most %d", e.length,
			 MAX_PATTERN_LEN);
	else
		snprintf(err, errlen, "%s", e.kind == MATCH_ERR_UTF8 ? "pattern is not valid UTF-8"
			 : e.kind == MATCH_ERR_EXPANDED ? "pattern too long once expanded"
			 : "empty pattern (example: skills php symfony)");
	return -1;
}

/* ---------------------------------------------------------------- literal extraction */

/* The terms of a word-list pattern (words and phrases), lower case, into out. */
static void word_list_literals(const char *input, struct strlist *out)
{
	struct strlist terms = { 0 };
	match_terms(input, &terms);
	for (size_t i = 0; i < terms.n; i++)
		strlist_add_owned(out, money_lower(terms.v[i]));
	strlist_clear(&terms);
}

/* 1 when a literal can stand for a caseless match: no byte the prefilter folding does not
 * know (only ASCII and Latin-1 letters). */
static int literal_ok(const char *l)
{
	size_t n = strlen(l);
	if (n < MIN_LITERAL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if (c >= 0x80 && !(c == 0xC3 && i + 1 < n && (unsigned char)l[i + 1] >= 0x80 &&
				   (unsigned char)l[i + 1] <= 0xBF && ++i))
			return 0;
	}
	return 1;
}

/*
 * A set of literals at least one of which every match of the regex contains, or none (then
 * the pattern always runs). Conservative: top-level alternation splits into branches, each
 * branch must yield its longest mandatory literal run (escaped characters included; optional
 * characters, classes, dots and groups end a run), or a mandatory group made only of literal
 * alternatives. When in doubt, nothing.
 */
static int regex_literals(const char *re, struct strlist *out)
{
	size_t n = strlen(re);
	if (n > MAX_PATTERN_LEN || strstr(re, "\\Q"))
		return -1;
	/* inline options such as (?i), lookarounds, named groups: give up rather than guess;
	 * only (?: is understood */
	for (const char *q = strstr(re, "(?"); q; q = strstr(q + 2, "(?"))
		if (q[2] != ':')
			return -1;
	struct strlist branches = { 0 };
	int depth = 0, cls = 0;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = re[i];
		if (c == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (cls) {
			if (c == ']')
				cls = 0;
			continue;
		}
		if (c == '[')
			cls = 1;
		else if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		else if ((c == '|' && depth == 0) || c == '\0') {
			strlist_add_owned(&branches, xstrndup(re + start, i - start));
			start = i + 1;
		}
	}
	int ok = 1;
	for (size_t b = 0; b < branches.n && ok; b++) {
		const char *s = branches.v[b];
		size_t sl = strlen(s);
		char best[MAX_PATTERN_LEN + 1] = "", run[MAX_PATTERN_LEN + 1];
		size_t rl = 0;
		struct strlist group = { 0 };
		int have_group = 0;
		for (size_t i = 0; i <= sl; i++) {
			char c = s[i];
			int lit = 0;
			char lc = 0;
			size_t adv = 0;
			if (c == '\\' && i + 1 < sl) {
				char e = s[i + 1];
				if (e == 'b' || e == 'B') {
					i++;
					continue;	/* zero-width: the run goes on */
				}
				if (!isalnum((unsigned char)e)) {
					lit = 1;
					lc = e;
				}
				adv = 1;
			} else if (c && !strchr(".[]()|^$*+?{}", c)) {
				lit = 1;
				lc = c;
			}
			/* a quantifier after this atom: optional atoms end the run before them */
			char q = s[i + adv + (c ? 1 : 0)];
			int optional = q == '?' || q == '*' || q == '{';
			if (lit && !optional) {
				run[rl++] = lc;
				if (q == '+') {
					run[rl] = '\0';
					if (rl > strlen(best))
						memcpy(best, run, rl + 1);
					rl = 0;
				}
				i += adv;
				continue;
			}
			run[rl] = '\0';
			if (rl > strlen(best))
				memcpy(best, run, rl + 1);
			rl = 0;
			if (c == '(' && !have_group) {
				/* a mandatory group of literal alternatives: (php|symfony) */
				size_t close = i + 1;
				int d = 1;
				while (close < sl && d) {
					if (s[close] == '\\' && close + 1 < sl)
						close++;
					else if (s[close] == '(')
						d++;
					else if (s[close] == ')')
						d--;
					close++;
				}
				char q2 = s[close];
				size_t skip = s[i + 1] == '?' && s[i + 2] == ':' ? 2 : 0;
				if (d == 0 && q2 != '?' && q2 != '*' && q2 != '{' && close - i - 2 >= skip) {
					char *inner = xstrndup(s + i + 1 + skip, close - i - 2 - skip);
					if (!strpbrk(inner, ".[]()^$*+?{}\\")) {
						char *save = NULL;
						int good = 1;
						for (char *t = strtok_r(inner, "|", &save); t;
						     t = strtok_r(NULL, "|", &save)) {
							char *l = money_lower(t);
							if (!literal_ok(l))
								good = 0;
							strlist_add_owned(&group, l);
						}
						have_group = good && group.n > 0;
						if (!have_group)
							strlist_clear(&group);
					}
					free(inner);
				}
				i = close - 1;
			} else if (c == '[') {
				while (i < sl && s[i] != ']')
					i++;
			}
			if (optional && c) {
				/* skip the quantifier */
				if (q == '{')
					while (i + 1 < sl && s[i + 1] != '}')
						i++;
				i++;
			}
		}
		char *lb = money_lower(best);
		if (literal_ok(lb) && (!have_group || strlen(lb) >= 4)) {
			strlist_add_owned(out, lb);
		} else if (have_group) {
			free(lb);
			for (size_t k = 0; k < group.n; k++)
				strlist_add(out, group.v[k]);
		} else {
			free(lb);
			ok = 0;
		}
		strlist_clear(&group);
	}
	strlist_clear(&branches);
	return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- the matcher */

struct literal {
	char *text;
	size_t len;
	int *patterns;		/* patterns that need this literal */
	int npat, cappat;
	int word;		/* word-list literal: must stand at word boundaries */
};

struct mpattern {
	char *source;		/* as the subscriber wrote it */
	char *normalized;
	int word_list;
	int always;		/* no literal could be proved: runs on every project */
	pcre2_code *code;	/* compiled on first need */
	int broken;		/* failed to compile or JIT: reported once */
	int *groups;		/* budget groups it belongs to */
	int ngroups, capgroups;
	int live;		/* of those, groups still within budget */
	int64_t cost_ns;	/* PCRE2 time spent on it, measured */
};

struct mgroup {
	int64_t budget_ns, spent_ns;
	int exhausted;
	int *patterns;
	int np, cap;
};

struct matcher {
	struct mpattern *p;
	int n, cap;
	int *phash;		/* source -> pattern id, open addressing, -1 empty */
	size_t phcap;
	struct literal *lit;
	int nlit, caplit;
	/* trigram (or bigram for 2-byte literals) -> literal ids */
	int *bucket_head;	/* size BUCKETS, -1 empty */
	int *chain;		/* next literal in the same bucket */
	int *always;		/* patterns that run on every project */
	int nalways;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
	pcre2_match_data *md;
	struct mgroup *groups;
	int ngroups, capgroups;
	/* per-run scratch */
	unsigned char *cand;	/* per pattern: 1 candidate, 2 decided match */
	int *touched;
	int ntouched;
	int lookup_dirty;
	int *ran;		/* patterns of a group run by PCRE2 in this run, and their time */
	int64_t *ran_ns;
	int nran;
};

#define BUCKETS (1 << 18)

struct matcher *matcher_new(void)
{
	struct matcher *m = xcalloc(1, sizeof *m);
	m->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mctx, HEAP_LIMIT_KB);
	m->jit = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
	if (m->jit)
		pcre2_jit_stack_assign(m->mctx, NULL, m->jit);
	m->md = pcre2_match_data_create(1, NULL);
	return m;
}

static uint32_t gram_hash(const char *s, size_t n)
{
	uint32_t h = (unsigned char)s[0] * 0x9E3779B1u ^ (unsigned char)s[1] * 0x85EBCA77u;
	if (n >= 3)
		h ^= (unsigned char)s[2] * 0xC2B2AE3Du;
	return (h ^ (h >> 15)) & (BUCKETS - 1);
}

static int literal_add(struct matcher *m, const char *text, int word, int pattern)
{
	/* the same literal text (and kind) is stored once */
	size_t n = strlen(text);
	if (!m->bucket_head) {
		m->bucket_head = xmalloc(BUCKETS * sizeof *m->bucket_head);
		memset(m->bucket_head, 0xff, BUCKETS * sizeof *m->bucket_head);
	}
	uint32_t h = gram_hash(text, n);
	int id = -1;
	for (int k = m->bucket_head[h]; k >= 0; k = m->chain[k])
		if (m->lit[k].len == n && m->lit[k].word == word && !memcmp(m->lit[k].text, text, n)) {
			id = k;
			break;
		}
	if (id < 0) {
		if (m->nlit == m->caplit) {
			m->caplit = m->caplit ? m->caplit * 2 : 256;
			m->lit = xrealloc(m->lit, (size_t)m->caplit * sizeof *m->lit);
			m->chain = xrealloc(m->chain, (size_t)m->caplit * sizeof *m->chain);
		}
		id = m->nlit++;
		memset(&m->lit[id], 0, sizeof m->lit[id]);
		m->lit[id].text = xstrdup(text);
		m->lit[id].len = n;
		m->lit[id].word = word;
		m->chain[id] = m->bucket_head[h];
		m->bucket_head[h] = id;
	}
	struct literal *l = &m->lit[id];
	if (l->npat && l->patterns[l->npat - 1] == pattern)
		return id;
	if (l->npat == l->cappat) {
		l->cappat = l->cappat ? l->cappat * 2 : 2;
		l->patterns = xrealloc(l->patterns, (size_t)l->cappat * sizeof *l->patterns);
	}
	l->patterns[l->npat++] = pattern;
	return id;
}

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The id of an identical pattern already added, or -1; grows the table as needed. */
static int pattern_find(struct matcher *m, const char *source)
{
	if ((size_t)(m->n + 1) * 2 > m->phcap) {
		size_t cap = m->phcap ? m->phcap * 2 : 1024;
		int *t = xmalloc(cap * sizeof *t);
		memset(t, 0xff, cap * sizeof *t);
		for (int i = 0; i < m->n; i++) {
			size_t j = str_hash(m->p[i].source) & (cap - 1);
			while (t[j] >= 0)
				j = (j + 1) & (cap - 1);
			t[j] = i;
		}
		free(m->phash);
		m->phash = t;
		m->phcap = cap;
	}
	size_t j = str_hash(source) & (m->phcap - 1);
	while (m->phash[j] >= 0) {
		if (!strcmp(m->p[m->phash[j]].source, source))
			return m->phash[j];
		j = (j + 1) & (m->phcap - 1);
	}
	return -1;
}

int matcher_add(struct matcher *m, const char *source)
{
	/* identical patterns (about 40% of real ones) are stored, compiled and run once */
	int same = pattern_find(m, source);
	if (same >= 0)
		return same;
	char norm[MAX_PATTERN_LEN * 4 + 64], err[256];
	if (match_normalize(source, norm, sizeof norm, err, sizeof err) < 0)
		return -1;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->p = xrealloc(m->p, (size_t)m->cap * sizeof *m->p);
	}
	int id = m->n++;
	struct mpattern *p = &m->p[id];
	memset(p, 0, sizeof *p);
	p->source = xstrdup(source);
	size_t j = str_hash(source) & (m->phcap - 1);
	while (m->phash[j] >= 0)
		j = (j + 1) & (m->phcap - 1);
	m->phash[j] = id;
	p->normalized = xstrdup(norm);
	/* "all of these words" runs in PCRE2 where one of its words occurs */
	int all = is_word_list(source) && all_mark(source);
	p->word_list = is_word_list(source) && !all;
	struct strlist lits = { 0 };
	int ok;
	if (p->word_list || all) {
		word_list_literals(source, &lits);
		ok = 1;
		for (size_t i = 0; i < lits.n; i++)
			if (strlen(lits.v[i]) < 1)
				ok = 0;
	} else {
		ok = regex_literals(source, &lits) == 0 && lits.n > 0;
	}
	/* a word-list literal must be foldable; a one-letter word ("c", "r") is fine: the
	 * boundary check decides */
	for (size_t i = 0; ok && i < lits.n; i++)
		if (p->word_list || all ? !literal_ok(lits.v[i]) && strlen(lits.v[i]) != 1
				 : !literal_ok(lits.v[i]))
			ok = 0;
	if (!ok || ((p->word_list || all) && lits.n == 0)) {
		p->always = 1;
		m->always = xrealloc(m->always, (size_t)(m->nalways + 1) * sizeof *m->always);
		m->always[m->nalways++] = id;
	} else {
		for (size_t i = 0; i < lits.n; i++)
			literal_add(m, lits.v[i], p->word_list || all, id);
	}
	strlist_clear(&lits);
	return id;
}

int matcher_count(const struct matcher *m)
{
	return m->n;
}

const char *matcher_source(const struct matcher *m, int id)
{
	return m->p[id].source;
}

/* Runs pattern id with PCRE2; 1 match, 0 none, -1 limit or error. */
static int run_pcre(struct matcher *m, int id, const char *text, size_t len)
{
	struct mpattern *p = &m->p[id];
	if (p->broken)
		return -1;
	if (!p->code) {
		pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
		pcre2_set_parens_nest_limit(cc, MAX_PARENS);
		int code;
		PCRE2_SIZE off;
		p->code = pcre2_compile((PCRE2_SPTR)p->normalized, PCRE2_ZERO_TERMINATED,
					PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP, &code, &off, cc);
		pcre2_compile_context_free(cc);
		if (!p->code) {
			p->broken = 1;
			return -1;
		}
		/* JIT when the system lets us; the interpreter (same limits) otherwise */
		pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE);
	}
	int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, 0, PCRE2_NO_UTF_CHECK, m->md, m->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	return -1;	/* match, depth or heap limit, or JIT stack: counts as no match */
}

static void mark(struct matcher *m, int id, unsigned char v)
{
	if (!m->cand[id]) {
		m->touched[m->ntouched++] = id;
		m->cand[id] = v;
	} else if (v > m->cand[id]) {
		m->cand[id] = v;
	}
}

/* ---------------------------------------------------------------- budgets */

int matcher_group_new(struct matcher *m, int64_t budget_ns)
{
	if (m->ngroups == m->capgroups) {
		m->capgroups = m->capgroups ? m->capgroups * 2 : 64;
		m->groups = xrealloc(m->groups, (size_t)m->capgroups * sizeof *m->groups);
	}
	struct mgroup *g = &m->groups[m->ngroups];
	memset(g, 0, sizeof *g);
	g->budget_ns = budget_ns;
	return m->ngroups++;
}

void matcher_group_add(struct matcher *m, int group, int id)
{
	if (group < 0 || group >= m->ngroups || id < 0 || id >= m->n)
		return;
	struct mpattern *p = &m->p[id];
	struct mgroup *g = &m->groups[group];
	/* a group's patterns are added one after the other: a repeat is the last entry */
	if (p->ngroups && p->groups[p->ngroups - 1] == group)
		return;
	if (p->ngroups == p->capgroups) {
		p->capgroups = p->capgroups ? p->capgroups * 2 : 2;
		p->groups = xrealloc(p->groups, (size_t)p->capgroups * sizeof *p->groups);
	}
	p->groups[p->ngroups++] = group;
	if (!g->exhausted)
		p->live++;
	if (g->np == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->patterns = xrealloc(g->patterns, (size_t)g->cap * sizeof *g->patterns);
	}
	g->patterns[g->np++] = id;
}

int matcher_group_exhausted(const struct matcher *m, int group)
{
	return group >= 0 && group < m->ngroups && m->groups[group].exhausted;
}

int64_t matcher_group_spent(const struct matcher *m, int group)
{
	return group >= 0 && group < m->ngroups ? m->groups[group].spent_ns : 0;
}

int64_t matcher_pattern_cost(const struct matcher *m, int id)
{
	return id >= 0 && id < m->n ? m->p[id].cost_ns : 0;
}

/* Charges this run's PCRE2 times to their patterns and groups. The monotonic times are scaled
 * down to the CPU the thread used for the whole run when they exceed it (the thread was
 * preempted meanwhile), so a loaded machine does not exhaust a budget. */
static void charge(struct matcher *m, int64_t cpu)
{
	int64_t wall = 0;
	for (int k = 0; k < m->nran; k++)
		wall += m->ran_ns[k];
	for (int k = 0; k < m->nran; k++) {
		int64_t d = m->ran_ns[k];
		if (wall > cpu && cpu >= 0)
			d = (int64_t)((double)d * (double)cpu / (double)wall);
		struct mpattern *p = &m->p[m->ran[k]];
		p->cost_ns += d;
		for (int j = 0; j < p->ngroups; j++) {
			struct mgroup *g = &m->groups[p->groups[j]];
			g->spent_ns += d;
			if (g->exhausted || g->spent_ns <= g->budget_ns)
				continue;
			g->exhausted = 1;
			for (int q = 0; q < g->np; q++)
				m->p[g->patterns[q]].live--;
		}
	}
	m->nran = 0;
}

int matcher_run(struct matcher *m, const char *text, size_t len, int *matched, int max,
		int *limited, int *nlimited)
{
	if (!m->cand || m->lookup_dirty < m->n) {
		free(m->cand);
		free(m->touched);
		free(m->ran);
		free(m->ran_ns);
		m->cand = xcalloc((size_t)m->n + 1, 1);
		m->touched = xmalloc(((size_t)m->n + 1) * sizeof *m->touched);
		m->ran = xmalloc(((size_t)m->n + 1) * sizeof *m->ran);
		m->ran_ns = xmalloc(((size_t)m->n + 1) * sizeof *m->ran_ns);
		m->lookup_dirty = m->n;
	}
	m->ntouched = 0;
	m->nran = 0;
	*nlimited = 0;
	int64_t cpu0 = m->ngroups ? clock_cpu_ns() : 0;
	/* the subject must be valid UTF-8 for PCRE2_NO_UTF_CHECK: repair it otherwise */
	char *fixed = NULL;
	if (!charset_is_utf8(text, len)) {
		fixed = charset_to_utf8("utf-8", text, len, NULL);
		text = fixed;
		len = strlen(fixed);
	}
	char *l = fold_text(text, len);
	const unsigned char *u = (const unsigned char *)text;
	/* U+212A and U+017F fold into k and s under caseless matching and break the prefilter's
	 * byte comparison: such a (rare) text is checked against every pattern */
	if (memmem(text, len, "\xE2\x84\xAA", 3) || memmem(text, len, "\xC5\xBF", 2))
		for (int id = 0; id < m->n; id++)
			mark(m, id, 1);
	/* one pass: every position's trigram (and bigram) names the literals that may start there */
	if (m->bucket_head)
		for (size_t i = 0; i + 1 < len; i++) {
			for (int g = 2; g <= 3; g++) {
				if (i + (size_t)g > len)
					break;
				uint32_t h = gram_hash(l + i, (size_t)g);
				for (int k = m->bucket_head[h]; k >= 0; k = m->chain[k]) {
					struct literal *lt = &m->lit[k];
					if ((lt->len >= 3) != (g == 3) || lt->len > len - i ||
					    memcmp(l + i, lt->text, lt->len))
						continue;
					if (lt->word) {
						size_t n;
						unsigned before = char_before(u, i);
						unsigned after = i + lt->len < len
								 ? utf8_decode(u + i + lt->len, len - i - lt->len, &n)
								 : 0;
						if ((before && is_word_char(before)) || (after && is_word_char(after)))
							continue;
					}
					for (int q = 0; q < lt->npat; q++)
						mark(m, lt->patterns[q], lt->word ? 2 : 1);
				}
			}
		}
	/* one-letter words ("c", "r") are found by their own scan */
	for (int k = 0; k < m->nlit; k++) {
		struct literal *lt = &m->lit[k];
		if (lt->len != 1)
			continue;
		for (size_t i = 0; i < len; i++) {
			if (l[i] != lt->text[0])
				continue;
			size_t n;
			unsigned before = char_before(u, i);
			unsigned after = i + 1 < len ? utf8_decode(u + i + 1, len - i - 1, &n) : 0;
			if ((before && is_word_char(before)) || (after && is_word_char(after)))
				continue;
			for (int q = 0; q < lt->npat; q++)
				mark(m, lt->patterns[q], 2);
			break;
		}
	}
	for (int a = 0; a < m->nalways; a++)
		mark(m, m->always[a], 1);
	int found = 0;
	for (int t = 0; t < m->ntouched; t++) {
		int id = m->touched[t];
		struct mpattern *p = &m->p[id];
		int r;
		if (m->cand[id] == 2 && p->word_list) {
			r = 1;	/* a word-list literal at word boundaries is the match itself */
		} else if (p->ngroups && !p->live) {
			r = 0;	/* every owner is over budget: skipped */
		} else if (p->ngroups) {
			int64_t t0 = clock_mono_ns();
			r = run_pcre(m, id, text, len);
			m->ran[m->nran] = id;
			m->ran_ns[m->nran++] = clock_mono_ns() - t0;
		} else {
			r = run_pcre(m, id, text, len);
		}
		m->cand[id] = 0;
		if (r == 1 && found < max)
			matched[found++] = id;
		else if (r < 0 && limited && *nlimited < max)
			limited[(*nlimited)++] = id;
	}
	if (m->ngroups)
		charge(m, clock_cpu_ns() - cpu0);
	free(l);
	free(fixed);
	return found;
}

int matcher_run_naive(struct matcher *m, int id, const char *text, size_t len)
{
	return run_pcre(m, id, text, len);
}

/* ---------------------------------------------------------------- what matched */

/* 1 when the compiled re (match data md, limits mc) matches text from offset start, the match's
 * bounds into ov; 0 when not (or on a limit). */
static int found_at(pcre2_code *re, pcre2_match_data *md, pcre2_match_context *mc,
		    const char *text, size_t len, size_t start)
{
	return pcre2_match(re, (PCRE2_SPTR)text, len, start, 0, md, mc) >= 0;
}

/* Compiles regex, NULL when it does not compile. */
static pcre2_code *compile_plain(const char *regex)
{
	int code;
	PCRE2_SIZE off;
	return pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
			     PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
}

/* The texts regex matched in text, distinct, at most FOUND_MAX, into out. */
static void found_matches(const char *regex, const char *text, size_t len, pcre2_match_data *md,
			  pcre2_match_context *mc, struct strlist *out)
{
	pcre2_code *re = compile_plain(regex);
	size_t start = 0;
	while (re && out->n < FOUND_MAX && start <= len && found_at(re, md, mc, text, len, start)) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t b = ov[0], e = ov[1] > ov[0] + FOUND_LEN ? ov[0] + FOUND_LEN : ov[1];
		while (e > b && e < len && ((unsigned char)text[e] & 0xC0) == 0x80)
			e--;
		char *raw = xstrndup(text + b, e - b);
		char *t = money_lower(raw);
		free(raw);
		if (e > b && !strlist_contains(out, t))
			strlist_add(out, t);
		free(t);
		start = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
		while (start < len && ((unsigned char)text[start] & 0xC0) == 0x80)
			start++;
	}
	pcre2_code_free(re);
}

/* 1 when term occurs in text (len bytes, folded its fold_text form) at word boundaries. */
static int term_occurs(const char *folded, const unsigned char *text, size_t len,
		       const char *term)
{
	char *t = fold_text(term, strlen(term));
	size_t tl = strlen(t);
	int found = 0;
	for (const char *p = tl ? strstr(folded, t) : NULL; p && !found; p = strstr(p + 1, t)) {
		size_t i = (size_t)(p - folded), n;
		unsigned before = char_before(text, i);
		unsigned after = i + tl < len ? utf8_decode(text + i + tl, len - i - tl, &n) : 0;
		found = !(before && is_word_char(before)) && !(after && is_word_char(after));
	}
	free(t);
	return found;
}

int match_found(const char *source, const char *text, struct strlist *out)
{
	struct strlist terms = { 0 };
	enum match_form form = match_terms(source, &terms);
	char norm[MAX_PATTERN_LEN * 4 + 64];
	struct match_error e;
	size_t len = strlen(text);
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mc, MATCH_LIMIT);
	pcre2_set_depth_limit(mc, DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, HEAP_LIMIT_KB);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	char *fixed = charset_is_utf8(text, len) ? NULL : charset_to_utf8("utf-8", text, len, NULL);
	if (fixed) {
		text = fixed;
		len = strlen(fixed);
	}
	/* a word list: each of its terms that occurs, as the pattern writes it (the prefilter's
	 * folding and word boundaries: no regex to compile per term) */
	char *folded = form != MATCH_REGEX ? fold_text(text, len) : NULL;
	for (size_t i = 0; folded && i < terms.n && out->n < FOUND_MAX; i++)
		if (term_occurs(folded, (const unsigned char *)text, len, terms.v[i]) &&
		    !strlist_contains(out, terms.v[i]))
			strlist_add(out, terms.v[i]);
	free(folded);
	if (form == MATCH_REGEX && match_check(source, norm, sizeof norm, &e) == 0)
		found_matches(norm, text, len, md, mc, out);
	free(fixed);
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	strlist_clear(&terms);
	return (int)out->n;
}

char *match_found_joined(const char *pattern, const char *text)
{
	struct strlist found = { 0 };
	match_found(pattern, text, &found);
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < found.n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", found.v[i]);
	strlist_clear(&found);
	char *out = buf_steal(&b);
	return out ? out : xstrdup(pattern);
}

/* ---------------------------------------------------------------- the cost probe */

/* Texts shaped like the board's projects (French and English, a budget, a skills list), on
 * which an ordinary pattern needs a few microseconds and a catastrophic one hits a limit. */
static const char *const probe_sample[] = {
	"Refonte du site vitrine de notre cabinet d'architectes\n"
	"Bonjour, nous cherchons un développeur PHP Symfony pour reprendre notre site, ajouter un "
	"espace client et un module de prise de rendez-vous. Le site actuel est en Symfony 4 avec "
	"une base MySQL ; il faudra migrer vers Symfony 6 et PHP 8.2, écrire des tests et documenter "
	"le déploiement. Budget : 3 000 € HT, délai 4 semaines, télétravail possible. Merci de "
	"préciser vos références, votre tarif journalier et votre disponibilité.\n"
	"[\"php\", \"symfony\", \"mysql\"]",
	"Mobile app for a bakery chain (iOS and Android)\n"
	"Hello! We are a family business with 12 shops and would like a mobile app: loyalty card, "
	"click & collect, push notifications for daily specials, and a small back-office for the shop "
	"managers. React Native or Flutter are both fine; the API already exists (REST, JSON, OAuth2). "
	"Budget between 8,000 and 12,000 EUR excl. VAT, first version within 10 weeks. Please send "
	"examples of apps you published, with links to the stores.\n"
	"[\"react native\", \"flutter\", \"ios\", \"android\", \"api\"]",
	"Traduction FR > EN d'un catalogue de 40 pages\n"
	"Catalogue produits (luminaires, mobilier de jardin) : environ 18 000 mots, fichiers InDesign "
	"et Excel. Traducteur ou traductrice de langue maternelle anglaise, expérience en décoration "
	"appréciée. Relecture incluse, glossaire fourni. Tarif au mot ou au forfait, à préciser ; "
	"livraison souhaitée le 15/04, en deux lots (pages 1-20 puis 21-40).\n"
	"[\"traduction\", \"anglais\", \"relecture\"]",
	"Data pipeline and dashboards - Python, PostgreSQL, Power BI\n"
	"Our sales data lives in three places (a PostgreSQL database, CSV exports from Shopify, and a "
	"Google Sheet). We need a nightly pipeline that cleans and merges them, plus 4 Power BI "
	"dashboards: revenue by region, by product line, returning customers, and stock levels. "
	"Fixed price or daily rate (max. 450 EUR/day). Remote only; we are in Lyon (CET). Start ASAP, "
	"about 15 days of work.\n"
	"[\"python\", \"postgresql\", \"power bi\", \"data\"]",
};

int match_probe(const char *source, const struct strlist *texts, int64_t max_avg_ns,
		int64_t budget_ns, int64_t *spent_ns)
{
	*spent_ns = 0;
	if (is_word_list(source))
		return PROBE_OK;	/* decided by the literal pass, never run by PCRE2 */
	struct matcher *m = matcher_new();
	int id = matcher_add(m, source);
	if (id < 0) {
		matcher_free(m);
		return PROBE_OK;	/* match_normalize refuses it, with its reason */
	}
	run_pcre(m, id, "", 0);		/* compiled (and JIT-compiled) outside the measure */
	size_t nb = sizeof probe_sample / sizeof probe_sample[0];
	size_t n = nb + (texts ? texts->n : 0);
	int64_t allowed = max_avg_ns * (int64_t)n;
	int rc = PROBE_OK;
	for (size_t i = 0; i < n && rc == PROBE_OK; i++) {
		const char *t = i < nb ? probe_sample[i] : texts->v[i - nb];
		size_t len = strlen(t);
		if (len > PROBE_TEXT_MAX) {
			len = PROBE_TEXT_MAX;
			while (len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80)
				len--;
		}
		char *fixed = NULL;
		if (!charset_is_utf8(t, len)) {
			fixed = charset_to_utf8("utf-8", t, len, NULL);
			t = fixed;
			len = strlen(fixed);
		}
		int64_t t0 = clock_cpu_ns();
		int r = run_pcre(m, id, t, len);
		*spent_ns += clock_cpu_ns() - t0;
		free(fixed);
		if (r < 0)
			rc = PROBE_LIMIT;
		else if (*spent_ns > allowed)
			rc = PROBE_SLOW;
		else if (*spent_ns > budget_ns)
			rc = PROBE_BUDGET;
	}
	matcher_free(m);
	return rc;
}

size_t matcher_memory(const struct matcher *m)
{
	size_t total = sizeof *m + (size_t)m->cap * sizeof *m->p + (size_t)m->caplit * sizeof *m->lit;
	if (m->bucket_head)
		total += BUCKETS * sizeof *m->bucket_head + (size_t)m->caplit * sizeof *m->chain;
	for (int i = 0; i < m->nlit; i++)
		total += m->lit[i].len + 1 + (size_t)m->lit[i].cappat * sizeof(int);
	total += (size_t)m->capgroups * sizeof *m->groups;
	for (int i = 0; i < m->ngroups; i++)
		total += (size_t)m->groups[i].cap * sizeof(int);
	for (int i = 0; i < m->n; i++) {
		total += strlen(m->p[i].source) + strlen(m->p[i].normalized) + 2 +
			 (size_t)m->p[i].capgroups * sizeof(int);
		if (m->p[i].code) {
			size_t sz = 0;
			pcre2_pattern_info(m->p[i].code, PCRE2_INFO_SIZE, &sz);
			total += sz;
			if (pcre2_pattern_info(m->p[i].code, PCRE2_INFO_JITSIZE, &sz) == 0)
				total += sz;
		}
	}
	return total;
}

struct matcher *matcher_free(struct matcher *m)
{
	if (!m)
		return NULL;
	for (int i = 0; i < m->n; i++) {
		free(m->p[i].source);
		free(m->p[i].normalized);
		free(m->p[i].groups);
		pcre2_code_free(m->p[i].code);
	}
	free(m->p);
	for (int i = 0; i < m->ngroups; i++)
		free(m->groups[i].patterns);
	free(m->groups);
	free(m->ran);
	free(m->ran_ns);
	for (int i = 0; i < m->nlit; i++) {
		free(m->lit[i].text);
		free(m->lit[i].patterns);
	}
	free(m->lit);
	free(m->chain);
	free(m->bucket_head);
	free(m->always);
	free(m->phash);
	free(m->cand);
	free(m->touched);
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	pcre2_jit_stack_free(m->jit);
	free(m);
	return NULL;
}
