/*
 * extract_rating.c — a client's rating as people write it: "Je mets 5/5 : traduction
 * impeccable", "4 étoiles – très bien", "★★★★☆", "note : 4", "4 out of 5", "4 stars – great
 * work", "5 Travail soigné". The words are data (ratings.txt, loaded with the other data
 * files); the mechanism is here. In: the new text of a reply. Out: a score of 1 to 5 (0: none)
 * and the comment, the words around the score without it.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATING_BYTES 4000	/* text read, at most */
#define LEAD_WORDS 1		/* a text before the score (its label left out) of that many words
				 * is no comment ("Bonjour, 5/5") */

enum { R_SCALE, R_UNIT, R_LABEL, R_NEGATION, R_ONE, R_TWO, R_THREE, R_FOUR, R_FIVE, R_COUNT };
static const char *const rating_kinds[R_COUNT] = { "scale", "unit", "label", "negation", "1",
	"2", "3", "4", "5" };
#define NEGATION_WORDS 4	/* a negation this many words before a score denies it */

struct rating_data {
	struct strlist words[R_COUNT];	/* lower case */
};

struct rating_data *extract_rating_free(struct rating_data *d)
{
	if (d)
		for (int k = 0; k < R_COUNT; k++)
			strlist_clear(&d->words[k]);
	free(d);
	return NULL;
}

/* One `kind | word | ...` line into the rating data arg; 0 or -1 (file:line on stderr). */
static int rating_line(void *arg, char *s, const char *path, int lineno)
{
	struct rating_data *d = arg;
	char *save = NULL, *tok = strtok_r(s, "|", &save);
	char *kind = tok ? str_trim(tok) : "";
	int k = 0;
	while (k < R_COUNT && strcmp(kind, rating_kinds[k]))
		k++;
	if (k == R_COUNT) {
		fprintf(stderr, "%s:%d: expected `scale|unit|label|negation|1-5 | word | ...`\n",
			path, lineno);
		return -1;
	}
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		char *w = money_lower(str_trim(tok));
		if (*w)
			strlist_add_owned(&d->words[k], w);
		else
			free(w);
	}
	return 0;
}

struct rating_data *extract_rating_load(const char *path)
{
	struct rating_data *d = xcalloc(1, sizeof *d);
	if (extract_data_lines(path, 2048, rating_line, d) < 0)
		return extract_rating_free(d);
	return d;
}

static int is_word_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* The length of the longest word of kind k at p (whole words), else 0. */
static size_t word_of(const struct rating_data *d, int k, const char *p)
{
	size_t best = 0;
	for (size_t i = 0; d && i < d->words[k].n; i++) {
		const char *w = d->words[k].v[i];
		size_t n = strlen(w);
		if (n > best && !strncmp(p, w, n) && !is_word_char((unsigned char)p[n]))
			best = n;
	}
	return best;
}

/* The score a number word at p says ("quatre", "five": kinds 1 to 5), its length in *n; or 0. */
static int number_word(const struct rating_data *d, const char *p, size_t *n)
{
	for (int k = R_ONE; k <= R_FIVE; k++)
		if ((*n = word_of(d, k, p)) != 0)
			return k - R_ONE + 1;
	return 0;
}

/* 1 when a word of kind k ends just before position i of l (blanks, ':' and '=' between). */
static int word_before(const struct rating_data *d, int k, const char *l, size_t i)
{
	while (i && strchr(" \t:=", l[i - 1]))
		i--;
	for (size_t j = 0; d && j < d->words[k].n; j++) {
		const char *w = d->words[k].v[j];
		size_t n = strlen(w);
		if (n <= i && !strncmp(l + i - n, w, n) &&
		    (i == n || !is_word_char((unsigned char)l[i - n - 1])))
			return 1;
	}
	return 0;
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The end of a score's maximum after p ("/ 5", "sur 5", "out of 5"), else NULL. */
static const char *scale_after(const struct rating_data *d, const char *p)
{
	p = skip_blanks(p);
	size_t n = *p == '/' ? 1 : word_of(d, R_SCALE, p);
	if (!n)
		return NULL;
	p = skip_blanks(p + n);
	size_t five = 0;
	if (number_word(d, p, &five) == 5)
		return p + five;
	return *p == '5' && !isdigit((unsigned char)p[1]) && p[1] != '/' && p[1] != '.' &&
	       p[1] != ',' ? p + 1 : p[0] == '5' && (p[1] == '.' || p[1] == ',') &&
	       !isdigit((unsigned char)p[2]) ? p + 1 : NULL;
}

/* The end of a score's unit or maximum written after it (either, both, in either order:
 * "4/5 stars", "4 étoiles sur 5"), from e; e itself when there is none more. */
static const char *unit_and_scale(const struct rating_data *d, const char *e)
{
	for (int round = 0; round < 2; round++) {
		const char *q = skip_blanks(e), *s = scale_after(d, e);
		size_t u = word_of(d, R_UNIT, q);
		if (s)
			e = s;
		else if (u)
			e = q + u;
		else
			break;
	}
	return e;
}

/* The score whose digit is at l[i] (a lone digit 1-5), or whose number word is there with a
 * unit, a maximum or a label ("cinq étoiles", "four out of five", "note : quatre"), with *end
 * past its expression, or 0. orig is the text as written (same offsets), for the capital
 * after a leading score. */
static int score_at(const struct rating_data *d, const char *l, const char *orig, size_t i,
		    size_t *end)
{
	const char *p = l + i;
	size_t wn = 0;
	int value = i && is_word_char((unsigned char)l[i - 1]) ? 0 : number_word(d, p, &wn);
	if (value) {
		const char *e = unit_and_scale(d, p + wn);
		if (e == p + wn && !word_before(d, R_LABEL, l, i))
			return 0;
		*end = (size_t)(e - l);
		return value;
	}
	if (*p < '1' || *p > '5' || (i && (is_word_char((unsigned char)l[i - 1]) ||
					   strchr(",./-", l[i - 1]))) ||
	    isdigit((unsigned char)p[1]) || ((p[1] == ',' || p[1] == '.') &&
					      isdigit((unsigned char)p[2])))
		return 0;
	const char *e = unit_and_scale(d, p + 1), *q = skip_blanks(p + 1);
	if (e == p + 1)
		e = NULL;
	if (!e && word_before(d, R_LABEL, l, i))
		e = p + 1;
	if (!e && i == (size_t)(skip_blanks(l) - l)) {
		/* a bare leading number: followed by punctuation, the end or a capital */
		unsigned char n = (unsigned char)orig[q - l];
		if (!n || n == '\n' || strchr(":-,.!;)", n) || (unsigned char)q[0] == 0xe2 ||
		    (q > p + 1 && isupper(n)))
			e = p + 1;
	}
	if (!e)
		return 0;
	*end = (size_t)(e - l);
	return *p - '0';
}

/* 1 when a negation word stands among the NEGATION_WORDS words before l[i] in its clause
 * (up to . ! ? ; , : or a line break)
 * ("je ne mettrais pas 5/5", "pas 5 étoiles"): that score is denied, not given. */
static int negated(const struct rating_data *d, const char *l, size_t i)
{
	int words = 0;
	while (i && words < NEGATION_WORDS && !strchr(".!?;,:\n", l[i - 1])) {
		while (i && !is_word_char((unsigned char)l[i - 1]) && !strchr(".!?;,:\n", l[i - 1]))
			i--;
		if (!i || strchr(".!?;,:\n", l[i - 1]))
			break;
		size_t e = i;
		while (i && is_word_char((unsigned char)l[i - 1]))
			i--;
		words++;
		for (size_t j = 0; d && j < d->words[R_NEGATION].n; j++) {
			const char *w = d->words[R_NEGATION].v[j];
			if (strlen(w) == e - i && !strncmp(l + i, w, e - i))
				return 1;
		}
	}
	return 0;
}

/* A run of stars at l[i] (★ or the emoji ⭐ 🌟 full, ☆ empty, blanks and emoji variation
 * selectors between): the count of full ones (1-5, in a run of at most 5), *end past it. */
static int stars_at(const char *l, size_t i, size_t *end)
{
	static const char *const full_stars[] = { "\xe2\x98\x85", "\xe2\xad\x90",
		"\xf0\x9f\x8c\x9f", NULL };
	int full = 0, all = 0;
	const char *p = l + i, *last = p;
	for (;;) {
		size_t n = 0;
		for (int j = 0; full_stars[j] && !n; j++)
			if (!strncmp(p, full_stars[j], strlen(full_stars[j])))
				n = strlen(full_stars[j]), full++;
		if (!n && !strncmp(p, "\xe2\x98\x86", 3))
			n = 3;
		if (!n && all && !strncmp(p, "\xef\xb8\x8f", 3)) {
			p += 3;
			last = p;
			continue;
		}
		if (!n && all && *p == ' ') {
			p++;
			continue;
		}
		if (!n)
			break;
		all++;
		p += n;
		last = p;
	}
	p = last;
	if (!full || all > 5)
		return 0;
	*end = (size_t)(p - l);
	return full;
}

/* text[a..b) trimmed of blanks and the punctuation that joins a comment to its score. */
static char *comment_of(const char *text, size_t a, size_t b)
{
	static const char *const joins[] = { "\xe2\x80\x93", "\xe2\x80\x94", "\xc2\xa0", NULL };
	for (;;) {
		int moved = 0;
		while (a < b && strchr(" \t\r\n:-,.;!/()=", text[a]))
			a++, moved = 1;
		for (int j = 0; joins[j]; j++)
			if (b - a >= strlen(joins[j]) && !strncmp(text + a, joins[j], strlen(joins[j])))
				a += strlen(joins[j]), moved = 1;
		if (!moved)
			break;
	}
	while (b > a && strchr(" \t\r\n:-,;(=.", text[b - 1]))
		b--;
	return xstrndup(text + a, b - a);
}

/* Where the label just before l[at] starts, at itself when none; never before lead. */
static size_t label_before(const struct rating_data *d, const char *l, size_t lead, size_t at)
{
	size_t i = at;
	while (i > lead && strchr(" \t:=", l[i - 1]))
		i--;
	size_t best = at;
	for (size_t j = 0; d && j < d->words[R_LABEL].n; j++) {
		const char *w = d->words[R_LABEL].v[j];
		size_t n = strlen(w);
		if (n <= i - lead && !strncmp(l + i - n, w, n) &&
		    (i - n == lead || !is_word_char((unsigned char)l[i - n - 1])) && i - n < best)
			best = i - n;
	}
	return best;
}

/* Where the labels just before a score at l[at] start ("Très bien, je mets 4": at "je";
 * "I'd give her a solid 4": at "I'd"), at itself when none. The labels are no comment. */
static size_t label_start(const struct rating_data *d, const char *l, size_t lead, size_t at)
{
	for (int round = 0; round < 4; round++) {
		size_t b = label_before(d, l, lead, at);
		if (b == at)
			break;
		at = b;
	}
	return at;
}

/* The number of words in s[0..n). */
static int words_in(const char *s, size_t n)
{
	int w = 0, in = 0;
	for (size_t i = 0; i < n; i++) {
		int c = is_word_char((unsigned char)s[i]);
		w += c && !in;
		in = c;
	}
	return w;
}

int extract_rating(const char *text, char **comment)
{
	*comment = NULL;
	const char *t = text ? text : "";
	char *orig = xstrndup(t, strnlen(t, RATING_BYTES));
	char *l = xstrdup(orig);
	for (char *p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);	/* ASCII only: offsets stay those of orig */
	const struct rating_data *d = extract_data_ratings();
	int score = 0;
	size_t at = 0, end = 0, lead = 0;	/* lead: where the words before the score start */
	for (size_t i = 0; l[i] && !score; i++) {
		score = stars_at(l, i, &end);
		if (!score)
			score = score_at(d, l, orig, i, &end);
		at = i;
		if (score && negated(d, l, i)) {
			score = 0;	/* denied: a later score of the text may be the one given */
			i = end - 1;
			lead = end;
		}
	}
	if (score) {
		/* the label before the score is no comment: the text before counts only when long */
		char *after = comment_of(orig, end, strlen(orig));
		size_t before = label_start(d, l, lead, at);
		if (!*after && words_in(orig + lead, before - lead) > LEAD_WORDS) {
			free(after);
			after = comment_of(orig, lead, before);
		}
		*comment = after;
	}
	free(l);
	free(orig);
	return score;
}
