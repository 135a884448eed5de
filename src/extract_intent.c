/*
 * extract_intent.c — what a reply means: a client's acceptance, refusal or closing of a quote,
 * a yes or a no to a confirmation, a question, or none of these; and whether it is sure.
 * The phrases are data (intents.txt, loaded with the other data files); the mechanism is here:
 * words, sentences, negation before or just after an act, questions, hedges and conditions.
 * In: the new text of a reply (never its quoted part) and its language. Out: an intent.
 */
#include "bidmail.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INTENT_BYTES 4000	/* text read, at most */
#define INTENT_WORDS 800	/* words of it, at most */
#define NEGATION_BEFORE 3	/* a negation that many words before an act negates it */
#define NEGATION_AFTER 2	/* "j'accepte pas" */

enum kind_of_phrase { K_ACCEPT, K_DECLINE, K_CLOSE, K_YES, K_NO, K_NEGATION, K_PERSON,
		      K_QUESTION, K_HEDGE, K_CONDITION, K_COUNT };

static const char *const kind_names[K_COUNT] = { "accept", "decline", "close", "yes", "no",
	"negation", "person", "question", "hedge", "condition" };

struct intent_data {
	struct strlist phrase[K_COUNT];	/* normalised: words separated by one space */
	struct strlist lang[K_COUNT];	/* the language of each phrase, "" for any */
};

/* The length of the separator at p (ASCII other than letters, U+00A0-U+00BF such as « »,
 * U+2000-U+203F such as ’ and dashes), 0 on a letter. */
static size_t separator(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	if (u[0] < 0x80)
		return isalpha(u[0]) ? 0 : 1;
	if (u[0] == 0xc2 && u[1] >= 0xa0 && u[1] <= 0xbf)
		return 2;
	if (u[0] == 0xe2 && u[1] == 0x80 && u[2])
		return 3;
	return 0;
}

/* The words of text (lower case), with the sentence each is in and whether that sentence
 * ends with a question mark; at most INTENT_WORDS words of the first INTENT_BYTES bytes. */
struct words {
	char *lower;
	size_t start[INTENT_WORDS], len[INTENT_WORDS];
	int sentence[INTENT_WORDS];
	int asks[INTENT_WORDS + 1];	/* per sentence: ends with '?' */
	size_t n;
	int sentences;
};

static void words_split(const char *text, struct words *w)
{
	w->lower = money_lower(text ? text : "");
	size_t n = strnlen(w->lower, INTENT_BYTES), i = 0;
	w->n = 0;
	w->sentences = 0;
	memset(w->asks, 0, sizeof w->asks);
	int sentence = 0, ended = 0;
	while (i < n && w->n < INTENT_WORDS) {
		char ch = w->lower[i];
		size_t sep = separator(w->lower + i);
		if (sep) {
			if (ch == '?' && sentence < INTENT_WORDS)
				w->asks[sentence] = 1;
			if (ch == '.' || ch == '!' || ch == '?' || ch == ';' || ch == '\n')
				ended = 1;
			i += sep;
			continue;
		}
		if (ended) {
			sentence += sentence < INTENT_WORDS - 1;
			ended = 0;
		}
		size_t s = i;
		while (i < n && !separator(w->lower + i))
			i++;
		w->start[w->n] = s;
		w->len[w->n] = i - s;
		w->sentence[w->n++] = sentence;
	}
	w->sentences = w->n ? sentence + 1 : 0;
}

/* How many words from word i phrase (normalised) covers, or 0 when it does not match. */
static size_t phrase_at(const struct words *w, size_t i, const char *phrase)
{
	const char *p = phrase;
	size_t k = 0;
	while (*p) {
		size_t pl = strcspn(p, " ");
		if (i + k >= w->n || w->sentence[i + k] != w->sentence[i] || w->len[i + k] != pl ||
		    memcmp(w->lower + w->start[i + k], p, pl))
			return 0;
		k++;
		p += pl;
		p += *p == ' ';
	}
	return k;
}

/* The longest phrase of kind k (in lang, or of any language) at word i: its length, or 0. */
static size_t kind_at(const struct intent_data *d, int k, const char *lang, const struct words *w,
		      size_t i)
{
	size_t best = 0;
	for (size_t j = 0; j < d->phrase[k].n; j++) {
		const char *pl = d->lang[k].v[j];
		if (*pl && lang && strcmp(pl, lang))
			continue;
		size_t m = phrase_at(w, i, d->phrase[k].v[j]);
		if (m > best)
			best = m;
	}
	return best;
}

/* Whether word i is a phrase of kind k (one word kinds). */
static int word_is(const struct intent_data *d, int k, const struct words *w, size_t i)
{
	return kind_at(d, k, NULL, w, i) == 1;
}

/* Whether a negation is in the sentence of words [i, i+m) just before or just after them. */
static int negated(const struct intent_data *d, const struct words *w, size_t i, size_t m)
{
	for (size_t j = i >= NEGATION_BEFORE ? i - NEGATION_BEFORE : 0; j < i; j++)
		if (w->sentence[j] == w->sentence[i] && word_is(d, K_NEGATION, w, j))
			return 1;
	for (size_t j = i + m; j < i + m + NEGATION_AFTER && j < w->n; j++)
		if (w->sentence[j] == w->sentence[i] && word_is(d, K_NEGATION, w, j))
			return 1;
	return 0;
}

/* Whether the sentence s has a phrase of kind k anywhere. */
static int sentence_has(const struct intent_data *d, int k, const char *lang, const struct words *w,
			int s)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->sentence[i] == s && kind_at(d, k, lang, w, i))
			return 1;
	return 0;
}

/* The consent reading of words: 1 confirmed, -1 objected, 0 neither or both. An objecting word
 * wins; a negation just before a confirming word or a person ("ne confirme pas", "pas moi")
 * objects; a negation elsewhere ("oui, pas de souci") says nothing. */
static int consent_of(const struct intent_data *d, const struct words *w)
{
	int objected = 0, confirmed = 0, refused = 0;
	long last_negation = -10;
	for (size_t i = 0; i < w->n && !refused; i++) {
		int near_negation = (long)i - last_negation <= 2;
		objected |= word_is(d, K_NO, w, i);
		refused |= near_negation && word_is(d, K_PERSON, w, i);
		if (word_is(d, K_NEGATION, w, i))
			last_negation = (long)i;
		if (word_is(d, K_YES, w, i)) {
			if (near_negation)
				refused = 1;
			else
				confirmed = 1;
		}
	}
	/* a confirming word beside an objecting one ("yes, no problem") is not clear either way */
	return refused ? -1 : objected ? (confirmed ? 0 : -1) : confirmed ? 1 : 0;
}

enum intent extract_intent_read(const char *text, const char *lang, int *sure)
{
	const struct intent_data *d = extract_data_intents();
	*sure = 0;
	if (!d)
		return INTENT_NONE;
	struct words *w = xcalloc(1, sizeof *w);
	words_split(text, w);
	enum intent act = INTENT_NONE;
	int acts = 0, unsure = 0, question = 0, negated_only = 0;
	for (size_t i = 0; i < w->n;) {
		static const int kinds[] = { K_ACCEPT, K_DECLINE, K_CLOSE };
		static const enum intent as[] = { INTENT_ACCEPT, INTENT_DECLINE, INTENT_CLOSE };
		size_t best = 0;
		int which = -1;
		for (int k = 0; k < 3; k++) {
			size_t m = kind_at(d, kinds[k], lang, w, i);
			if (m > best)
				best = m, which = k;
		}
		if (!best) {
			i++;
			continue;
		}
		int s = w->sentence[i];
		enum intent got = as[which];
		int doubt = 0;
		if (w->asks[s] || sentence_has(d, K_QUESTION, lang, w, s)) {
			question = 1;	/* "puis-je accepter plus tard ?" */
			i += best;
			continue;
		}
		if (negated(d, w, i, best)) {
			/* "je n'accepte pas" reads as a refusal to confirm; a negated refusal or
			 * closing ("je ne refuse pas") as nothing to act on */
			if (got != INTENT_ACCEPT) {
				negated_only = 1;
				i += best;
				continue;
			}
			got = INTENT_DECLINE;
			doubt = 1;
		}
		if (sentence_has(d, K_HEDGE, lang, w, s) || sentence_has(d, K_CONDITION, lang, w, s))
			doubt = 1;
		if (acts && got != act)
			unsure = 1;	/* two different acts: the first is asked about */
		if (!acts)
			act = got;
		acts++;
		unsure |= doubt;
		i += best;
	}
	enum intent r;
	if (act != INTENT_NONE) {
		r = act;
		*sure = !unsure;
	} else if (negated_only) {
		r = INTENT_NONE;	/* not a yes or no either: "je ne refuse pas" */
	} else {
		int c = consent_of(d, w);
		for (int s = 0; s < w->sentences && !question; s++)
			question = w->asks[s] || sentence_has(d, K_QUESTION, lang, w, s);
		r = c > 0 && !question ? INTENT_YES : c < 0 ? INTENT_NO : question ? INTENT_QUESTION
		    : INTENT_NONE;
		*sure = r != INTENT_NONE;
	}
	free(w->lower);
	free(w);
	return r;
}

int extract_intent_consent(const char *text)
{
	const struct intent_data *d = extract_data_intents();
	if (!d)
		return 0;
	struct words *w = xcalloc(1, sizeof *w);
	words_split(text, w);
	int c = consent_of(d, w);
	free(w->lower);
	free(w);
	return c;
}

const char *extract_intent_name(enum intent i)
{
	static const char *const names[] = { "none", "accept", "decline", "close", "yes", "no",
					     "question" };
	return (unsigned)i < sizeof names / sizeof names[0] ? names[i] : "none";
}

/* phrase, lower case, with its separators made single spaces; the caller frees it */
static char *phrase_normalise(const char *phrase)
{
	struct words *w = xcalloc(1, sizeof *w);
	words_split(phrase, w);
	struct buf b;
	buf_init(&b, INTENT_BYTES);
	for (size_t i = 0; i < w->n; i++) {
		if (i)
			buf_putc(&b, ' ');
		buf_append(&b, w->lower + w->start[i], w->len[i]);
	}
	char *r = xstrdup(b.data ? b.data : "");
	buf_free(&b);
	free(w->lower);
	free(w);
	return r;
}

struct intent_data *extract_intent_free(struct intent_data *d)
{
	if (!d)
		return NULL;
	for (int k = 0; k < K_COUNT; k++) {
		strlist_clear(&d->phrase[k]);
		strlist_clear(&d->lang[k]);
	}
	free(d);
	return NULL;
}

/* One `kind [language] | phrase | ...` line into the intent data arg; 0 or -1 (file:line on
 * stderr). */
static int intent_line(void *arg, char *s, const char *path, int lineno)
{
	struct intent_data *d = arg;
	char *save = NULL, *head = strtok_r(s, "|", &save);
	char kind[32] = "", lang[16] = "";
	int k = -1;
	if (head && sscanf(head, "%31s %15s", kind, lang) >= 1)
		for (int i = 0; i < K_COUNT; i++)
			if (!strcmp(kind, kind_names[i]))
				k = i;
	if (k < 0) {
		fprintf(stderr, "%s:%d: expected `kind [language] | phrase | ...` (kind: accept, "
			"decline, close, yes, no, negation, person, question, hedge, condition)\n",
			path, lineno);
		return -1;
	}
	char *tok;
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		char *p = phrase_normalise(tok);
		if (*p) {
			strlist_add_owned(&d->phrase[k], p);
			strlist_add(&d->lang[k], lang);
		} else {
			free(p);
		}
	}
	return 0;
}

struct intent_data *extract_intent_load(const char *path)
{
	struct intent_data *d = xcalloc(1, sizeof *d);
	if (extract_data_lines(path, 8192, intent_line, d) < 0)
		return extract_intent_free(d);
	return d;
}
