/*
 * extract_intent.c — what a reply means: a client's acceptance, refusal or closing of a quote,
 * a yes or a no to a confirmation, a question, or none of these; and whether it is sure.
 * The phrases are data (intents.txt, loaded with the other data files); the mechanism is here.
 * Sure is strict: a fixed formula ("j'accepte votre offre", "let's go ahead"), or an act verb
 * with its object ("je valide votre devis"), in a clause with no negation, no question, no
 * doubt, no condition and no price of its own; anything less is asked about, or is nothing.
 * A freelancer's reply that says no to a project ("je passe mon tour", "I can't do it for
 * 900 €") is read with the same negation machinery: a `pass` phrase, or a `can` verb negated,
 * and no part of the reply that offers a price without saying no; a limit word of amounts.txt
 * between the no and a price ("I can't go below $900") makes it an offer of that price.
 * A freelancer's withdrawal of a bid: a `withdraw-command` alone on the first line ("retirer",
 * "withdraw #1001"), or a `withdraw` phrase ("je retire mon offre") neither negated nor asked.
 * In: the new text of a reply (quoted lines skipped) and its language. Out: an intent.
 */
#include "bidmail.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INTENT_BYTES 4000	/* text read, at most */
#define INTENT_WORDS 800	/* words of it, at most */
#define NEGATION_BEFORE 5	/* a negation that many words before an act, in its part of the
				 * clause, reverses it: "I don't think we'll accept" */
#define NEGATION_AFTER 1	/* "j'accepte pas"; not "j'accepte votre offre mais pas le délai" */
#define OBJECT_AFTER 5		/* "j'accepte donc avec plaisir votre offre" */
#define OBJECT_BEFORE 3		/* "votre devis est accepté" */
#define ACTS_MAX 32		/* act phrases weighed in one reply */

enum kind_of_phrase { K_ACCEPT, K_DECLINE, K_CLOSE, K_YES, K_NO, K_NEGATION, K_PERSON,
		      K_QUESTION, K_HEDGE, K_CONDITION, K_ACCEPT_VERB, K_DECLINE_VERB,
		      K_CLOSE_VERB, K_OBJECT, K_NOT_NEGATION, K_RESERVE, K_AGREE, K_LINK,
		      K_TAIL, K_PASS, K_CAN, K_WITHDRAW, K_WITHDRAW_COMMAND, K_CONNECTOR,
		      K_COUNT };

static const char *const kind_names[K_COUNT] = { "accept", "decline", "close", "yes", "no",
	"negation", "person", "question", "hedge", "condition", "accept-verb", "decline-verb",
	"close-verb", "object", "not-negation", "reserve", "agree", "link", "tail", "pass", "can",
	"withdraw", "withdraw-command", "connector" };

struct intent_data {
	struct strlist phrase[K_COUNT];	/* normalised: words separated by one space */
	struct strlist lang[K_COUNT];	/* the language of each phrase, "" for any */
};

/* The length of the separator at p (ASCII other than letters, U+00A0-U+00BF such as « »,
 * U+2000-U+203F such as ’ and dashes, the symbols and dingbats of U+2190-U+2BFF such as ★ and
 * ✓, the variation selectors U+FE00-U+FE0F and emoji beyond U+FFFF such as 👍), 0 on a
 * letter. */
static size_t separator(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	if (u[0] < 0x80)
		return isalpha(u[0]) ? 0 : 1;
	if (u[0] == 0xc2 && u[1] >= 0xa0 && u[1] <= 0xbf)
		return 2;
	if (u[0] == 0xe2 && u[1] == 0x80 && u[2])
		return 3;
	if (u[0] == 0xe2 && u[1] >= 0x86 && u[1] <= 0xaf && u[2])
		return 3;
	if (u[0] == 0xef && u[1] == 0xb8 && u[2] >= 0x80 && u[2] <= 0x8f)
		return 3;
	if (u[0] == 0xf0 && u[1] >= 0x9f && u[2] && u[3])
		return 4;
	return 0;
}

/* The words of text (lower case), with the clause each is in: clauses end at . ! ? ; and at a
 * blank line, not at a single line break (a client wraps a sentence: "We cannot\naccept").
 * Lines quoted with '>' are skipped. At most INTENT_WORDS words of the first INTENT_BYTES. */
struct words {
	char *lower;
	size_t start[INTENT_WORDS], len[INTENT_WORDS];
	int sentence[INTENT_WORDS];
	int part[INTENT_WORDS];		/* the part of the clause, between commas or colons */
	unsigned char covered[INTENT_WORDS];	/* part of an act or a not-negation phrase */
	int asks[INTENT_WORDS + 1];	/* per sentence: ends with '?' */
	size_t n;
	int sentences;
};

/* Whether the line break at p is followed by a blank line (or the end). */
static int blank_line_after(const char *p)
{
	p++;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return *p == '\n' || !*p;
}

static void words_split(const char *text, struct words *w)
{
	w->lower = money_lower(text ? text : "");
	size_t n = strnlen(w->lower, INTENT_BYTES), i = 0;
	w->n = 0;
	w->sentences = 0;
	memset(w->asks, 0, sizeof w->asks);
	memset(w->covered, 0, sizeof w->covered);
	int sentence = 0, ended = 0, bol = 1, part = 0, cut = 0;
	while (i < n && w->n < INTENT_WORDS) {
		char ch = w->lower[i];
		if (bol && ch == '>') {	/* a quoted line never counts */
			i += strcspn(w->lower + i, "\n");
			ended = 1;
			continue;
		}
		bol = ch == '\n' || (bol && (ch == ' ' || ch == '\t' || ch == '\r'));
		size_t sep = separator(w->lower + i);
		if (sep) {
			if (ch == '?' && sentence < INTENT_WORDS)
				w->asks[sentence] = 1;
			if (ch == '.' || ch == '!' || ch == '?' || ch == ';' ||
			    (ch == '\n' && blank_line_after(w->lower + i)))
				ended = 1;
			cut |= ch == ',' || ch == ':' || ended;
			i += sep;
			continue;
		}
		if (ended) {
			sentence += w->n && sentence < INTENT_WORDS - 1;
			ended = 0;
		}
		part += cut && w->n;
		cut = 0;
		size_t s = i;
		while (i < n && !separator(w->lower + i))
			i++;
		w->start[w->n] = s;
		w->len[w->n] = i - s;
		w->part[w->n] = part;
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

/* Whether a negation that no phrase accounts for is in words [from, to) of sentence s (and
 * of part p of it, unless p is -1). */
static int negation_in(const struct intent_data *d, const struct words *w, long from, long to,
		       int s, int p)
{
	for (long j = from < 0 ? 0 : from; j < to && j < (long)w->n; j++)
		if (w->sentence[j] == s && (p < 0 || w->part[j] == p) && !w->covered[j] &&
		    word_is(d, K_NEGATION, w, j))
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

/* Whether the sentence after s holds a doubt or a condition ("Moi je ne suis pas sûr."), or
 * opens with a reserve ("Mais…"). */
static int next_opens_doubt(const struct intent_data *d, const char *lang, const struct words *w,
			    int s)
{
	int first = 1;
	for (size_t i = 0; i < w->n; i++) {
		if (w->sentence[i] != s + 1)
			continue;
		if (kind_at(d, K_HEDGE, lang, w, i) || kind_at(d, K_CONDITION, lang, w, i) ||
		    (first && kind_at(d, K_RESERVE, lang, w, i)))
			return 1;
		first = 0;
	}
	return 0;
}

/* Whether a reserve ("mais", "but") follows word i in its sentence: "I accept your quote but
 * …" qualifies the act; "Thanks, but we'll pass" does not. */
static int reserve_after(const struct intent_data *d, const char *lang, const struct words *w,
			 size_t i)
{
	for (size_t j = i + 1; j < w->n && w->sentence[j] == w->sentence[i]; j++)
		if (kind_at(d, K_RESERVE, lang, w, j))
			return 1;
	return 0;
}

/* Whether the object of an act ("votre offre", "the project") is within reach of the act at
 * words [i, i+m), in its sentence. */
static int has_object(const struct intent_data *d, const char *lang, const struct words *w,
		      size_t i, size_t m)
{
	size_t from = i >= OBJECT_BEFORE ? i - OBJECT_BEFORE : 0;
	for (size_t j = from; j < i + m + OBJECT_AFTER && j < w->n; j++)
		if ((j < i || j >= i + m) && w->sentence[j] == w->sentence[i] &&
		    kind_at(d, K_OBJECT, lang, w, j))
			return 1;
	return 0;
}

/* Whether words [i, i+m) are the whole of their part of the clause ("J'accepte.", "Oui, we
 * accept, thanks"). */
static int alone_in_part(const struct words *w, size_t i, size_t m)
{
	int p = w->part[i];
	return (i == 0 || w->part[i - 1] != p) && (i + m >= w->n || w->part[i + m] != p);
}

/* Whether a currency the money reader knows ends at byte b of l, starting at from or after. */
static int currency_before(const char *l, size_t from, size_t b)
{
	const char *code;
	for (size_t k = 1; k <= 12 && k <= b - from; k++)
		if (match_currency(l + b - k, &code, 1) == k)
			return 1;
	return 0;
}

static int price_in(const char *l, size_t from, size_t to);

/* Whether sentence s names a price of its own ("j'accepte à 700 €", "ok at $2,500"): a number
 * with a currency mark just before or after it. */
static int names_price(const struct words *w, int s)
{
	size_t from = 0, to = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->sentence[i] < s)
			from = w->start[i] + w->len[i];
		else if (w->sentence[i] == s)
			to = w->start[i] + w->len[i];
	}
	return price_in(w->lower, from, to + 8);
}

/* Whether bytes [from, to) of l hold a price: a number with a currency the money reader knows
 * ("700 chf", "2,500 gbp", "$2,500", "ca$ 900") or a thousands mark ("2.5k") just after it, or
 * a currency just before it. */
static int price_find(const char *l, size_t from, size_t to, size_t *at, size_t *end);

static int price_in(const char *l, size_t from, size_t to)
{
	size_t at, end;
	return price_find(l, from, to, &at, &end);
}

/* price_in's first price of [from, to): 1 with its bytes [*at, *end), else 0. */
static int price_find(const char *l, size_t from, size_t to, size_t *at, size_t *end)
{
	const char *code;
	size_t k;
	for (size_t p = from; p < to && l[p]; p++) {
		if (!isdigit((unsigned char)l[p]))
			continue;
		size_t q = p, b = p;
		while (isdigit((unsigned char)l[q]) || l[q] == ',' || l[q] == '.' || l[q] == ' ' ||
		       l[q] == '\'')
			q++;
		if (!strncmp(l + q, "\xC2\xA0", 2))
			q += 2;
		while (b > from && (l[b - 1] == ' ' || (unsigned char)l[b - 1] == 0xA0))
			b -= (unsigned char)l[b - 1] == 0xA0 && b - 1 > from &&
			     (unsigned char)l[b - 2] == 0xC2 ? 2 : 1;
		*at = b;
		if (l[q] == 'k' && !isalpha((unsigned char)l[q + 1])) {
			*end = q + 1;
			return 1;	/* "2.5k", "3k€" */
		}
		if ((k = match_currency(l + q, &code, 0)) > 0 || currency_before(l, from, b)) {
			*end = q + k;
			return 1;
		}
		p = q;
	}
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

/* One act phrase of a reply: words [i, i+m), which act, a formula or a verb. */
struct act {
	size_t i, m;
	int which;	/* 0 accept, 1 decline, 2 close */
	int formula;
	int agree;	/* an agreement word: an acceptance only with its object */
	int open;	/* a formula followed by what it does not allow ("let's go ahead and …") */
};

/* Whether word j ends the part of the clause of word i (or the text). */
static int part_ends(const struct words *w, size_t i, size_t j)
{
	return j >= w->n || w->sentence[j] != w->sentence[i] || w->part[j] != w->part[i];
}

/* Whether the formula at words [i, i+m) is followed by what it allows: the end of its part of
 * the clause, else an object (after a link word or not: "count me in for the project"), then a
 * tail or the end ("we'll pass on this one", "j'accepte votre offre, merci"). Not "it's a deal
 * breaker", "go ahead and schedule a call", "pass your quote to our CFO". */
static int formula_closed(const struct intent_data *d, const char *lang, const struct words *w,
			  size_t i, size_t m)
{
	size_t j = i + m, k;
	if (part_ends(w, i, j))
		return 1;
	if ((k = kind_at(d, K_TAIL, lang, w, j)) > 0 && part_ends(w, i, j + k))
		return 1;
	if (word_is(d, K_LINK, w, j) && kind_at(d, K_OBJECT, lang, w, j + 1) && !part_ends(w, i, j + 1))
		j++;
	if ((k = kind_at(d, K_OBJECT, lang, w, j)) == 0)
		return 0;
	j += k;
	return part_ends(w, i, j) ||
	       ((k = kind_at(d, K_TAIL, lang, w, j)) > 0 && part_ends(w, i, j + k));
}

/* Whether word i opens a quotation ("il m'a dit : « j'accepte »"): reported speech. */
static int quoted_at(const struct words *w, size_t i)
{
	size_t b = w->start[i];
	const char *l = w->lower;
	for (;;) {	/* spaces, no-break ones included */
		if (b >= 1 && l[b - 1] == ' ')
			b--;
		else if (b >= 2 && !strncmp(l + b - 2, "\xC2\xA0", 2))
			b -= 2;
		else if (b >= 3 && !strncmp(l + b - 3, "\xE2\x80\xAF", 3))
			b -= 3;
		else
			break;
	}
	return (b >= 1 && l[b - 1] == '"') ||
	       (b >= 2 && !strncmp(l + b - 2, "\xC2\xAB", 2)) ||	/* « */
	       (b >= 3 && !strncmp(l + b - 3, "\xE2\x80\x9C", 3));	/* “ */
}

/* The longest act phrase at word i (a formula wins a tie with a verb, a verb with an
 * agreement word), or 0. */
static size_t act_at(const struct intent_data *d, const char *lang, const struct words *w,
		     size_t i, struct act *a)
{
	static const int formulas[] = { K_ACCEPT, K_DECLINE, K_CLOSE };
	static const int verbs[] = { K_ACCEPT_VERB, K_DECLINE_VERB, K_CLOSE_VERB };
	size_t best = 0;
	for (int k = 0; k < 3; k++) {
		size_t f = kind_at(d, formulas[k], lang, w, i), v = kind_at(d, verbs[k], lang, w, i);
		if (f > best)
			best = f, a->which = k, a->formula = 1;
		if (v > best)
			best = v, a->which = k, a->formula = 0;
	}
	size_t g = kind_at(d, K_AGREE, lang, w, i);
	a->agree = g > best;
	if (a->agree)
		best = g, a->which = 0, a->formula = 0;
	a->i = i;
	a->m = best;
	return best;
}

/* Marks covered the words of the not-negation phrases of w ("pas de souci", "no problem"). */
static void not_negations_cover(const struct intent_data *d, const char *lang, struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		for (size_t m = kind_at(d, K_NOT_NEGATION, lang, w, i), j = 0; j < m; j++)
			w->covered[i + j] = 1;
}

/* The act phrases of w, their words marked covered, as are the not-negation phrases ("pas de
 * souci", "no problem"); returns their count (at most ACTS_MAX). */
static size_t acts_find(const struct intent_data *d, const char *lang, struct words *w,
			struct act *acts)
{
	not_negations_cover(d, lang, w);
	size_t n = 0;
	for (size_t i = 0; i < w->n && n < ACTS_MAX;) {
		if (!act_at(d, lang, w, i, &acts[n])) {
			i++;
			continue;
		}
		struct act *a = &acts[n];
		a->open = a->formula && !formula_closed(d, lang, w, i, a->m);
		if (a->open && a->which != 0) {
			i += a->m;	/* "I'll pass this on to my manager": no refusal */
			continue;
		}
		for (size_t j = 0; j < a->m; j++)
			w->covered[i + j] = 1;
		i += acts[n++].m;
	}
	return n;
}

/* How act a reads: INTENT_QUESTION when asked about, INTENT_NONE when negated away, else its
 * act (a negated acceptance reads as a refusal), with *doubt set when something in its clause
 * makes it unsure, and *weak when it is a verb without its object (alone in its part of the
 * clause, the verb is its own object: "J'accepte.", "I decline, nice portfolio though"). */
static enum intent act_reading(const struct intent_data *d, const char *lang,
			       const struct words *w, const struct act *a, int *doubt, int *weak)
{
	static const enum intent as[] = { INTENT_ACCEPT, INTENT_DECLINE, INTENT_CLOSE };
	int s = w->sentence[a->i];
	enum intent got = as[a->which];
	if (w->asks[s] || sentence_has(d, K_QUESTION, lang, w, s))
		return INTENT_QUESTION;	/* "puis-je accepter plus tard ?" */
	int self = 0;	/* a phrase that holds its negation: "on ne donnera pas suite" */
	for (size_t j = a->i; j < a->i + a->m; j++)
		self |= word_is(d, K_NEGATION, w, j);
	*weak = a->open || (!a->formula && !has_object(d, lang, w, a->i, a->m) &&
			     (self || a->agree || !alone_in_part(w, a->i, a->m)));
	long i = (long)a->i, e = (long)(a->i + a->m);
	int p = w->part[a->i];
	if (!self && (negation_in(d, w, i - NEGATION_BEFORE, i, s, p) ||
		      negation_in(d, w, e, e + NEGATION_AFTER, s, p))) {
		/* "je n'accepte pas" asks about a refusal; "je ne refuse pas" is nothing */
		if (got != INTENT_ACCEPT)
			return INTENT_NONE;
		got = INTENT_DECLINE;
		*doubt = 1;
	} else if (negation_in(d, w, self ? e + NEGATION_AFTER : 0, (long)w->n, s, -1)) {
		*doubt = 1;	/* a negation elsewhere in the clause */
	}
	if (sentence_has(d, K_HEDGE, lang, w, s) || sentence_has(d, K_CONDITION, lang, w, s) ||
	    next_opens_doubt(d, lang, w, s) || reserve_after(d, lang, w, a->i) ||
	    quoted_at(w, a->i))
		*doubt = 1;
	if (got == INTENT_ACCEPT && names_price(w, s))
		*doubt = 1;	/* a price of its own: a counter-offer */
	return got;
}

/* The yes/no/question reading of a reply that holds no act; a yes with a doubt, a condition
 * or a price of its own ("OK at $2,500 instead", "oui si vous livrez lundi") is not sure. */
static enum intent consent_reading(const struct intent_data *d, const char *lang,
				   const struct words *w, int question, int *sure)
{
	int c = consent_of(d, w), doubt = price_in(w->lower, 0, INTENT_BYTES);
	for (int s = 0; s < w->sentences && !question; s++)
		question = w->asks[s];
	for (size_t i = 0; i < w->n; i++) {	/* one pass: a reply may have 800 sentences */
		question |= kind_at(d, K_QUESTION, lang, w, i) > 0;
		doubt |= kind_at(d, K_HEDGE, lang, w, i) || kind_at(d, K_CONDITION, lang, w, i) ||
			 kind_at(d, K_RESERVE, lang, w, i);	/* "oui, mais pas avant…" */
	}
	enum intent r = c > 0 && !question ? INTENT_YES : c < 0 ? INTENT_NO
			: question ? INTENT_QUESTION : INTENT_NONE;
	*sure = r != INTENT_NONE && !(r == INTENT_YES && doubt);
	return r;
}

/* Whether a reply holds a question mark, a question word or a reserve anywhere: then no act
 * in it is sure ("We accept. Could you start Monday?", "Merci, mais…"). */
static int asks_or_reserves(const struct intent_data *d, const char *lang, const struct words *w)
{
	for (int s = 0; s < w->sentences; s++)
		if (w->asks[s])
			return 1;
	for (size_t i = 0; i < w->n; i++)
		if (kind_at(d, K_QUESTION, lang, w, i) || kind_at(d, K_RESERVE, lang, w, i))
			return 1;
	return 0;
}

enum intent extract_intent_read(const char *text, const char *lang, int *sure)
{
	const struct intent_data *d = extract_data_intents();
	*sure = 0;
	if (!d)
		return INTENT_NONE;
	struct words *w = xcalloc(1, sizeof *w);
	words_split(text, w);
	struct act acts[ACTS_MAX];
	size_t n = acts_find(d, lang, w, acts);
	enum intent act = INTENT_NONE;
	int count = 0, unsure = 0, question = 0, negated_only = 0, strong = 0;
	for (size_t k = 0; k < n; k++) {
		int doubt = 0, weak = 0;
		enum intent got = act_reading(d, lang, w, &acts[k], &doubt, &weak);
		question |= got == INTENT_QUESTION;
		negated_only |= got == INTENT_NONE;
		if (got == INTENT_QUESTION || got == INTENT_NONE)
			continue;
		if (count && got != act)
			unsure = 1;	/* two different acts: the first is asked about */
		if (!count++)
			act = got;
		unsure |= doubt;
		strong |= !weak;
	}
	enum intent r = act;
	if (act != INTENT_NONE)	/* one act said in full, nothing against it anywhere */
		*sure = !unsure && strong && !asks_or_reserves(d, lang, w);
	else if (!negated_only)
		r = consent_reading(d, lang, w, question, sure);
	free(w->lower);
	free(w);
	return r;
}

int extract_intent_connector(const char *word)
{
	const struct intent_data *d = extract_data_intents();
	char *w = money_lower(word ? word : "");
	int hit = 0;
	for (size_t i = 0; d && i < d->phrase[K_CONNECTOR].n && !hit; i++)
		hit = !strcmp(d->phrase[K_CONNECTOR].v[i], w);
	free(w);
	return hit;
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

/* Whether words [i, i+m) hold a negation word themselves ("not for me", "cannot"). */
static int negation_within(const struct intent_data *d, const struct words *w, size_t i,
			   size_t m)
{
	for (size_t j = i; j < i + m && j < w->n; j++)
		if (word_is(d, K_NEGATION, w, j))
			return 1;
	return 0;
}

/* Whether word i says no to the project: a `pass` phrase not negated ("je passe mon tour"; "je
 * ne passe pas mon tour" does not), or a `can` verb negated ("je ne peux pas", "can't",
 * "cannot"); not in a question ("Can't you raise the budget?"). Its length in *m, else 0. */
static int says_no_at(const struct intent_data *d, const char *lang, const struct words *w,
		      size_t i, size_t *m)
{
	int s = w->sentence[i], p = w->part[i];
	long at = (long)i;
	*m = 0;
	if (w->asks[s] || sentence_has(d, K_QUESTION, lang, w, s))
		return 0;
	if ((*m = kind_at(d, K_PASS, lang, w, i)) > 0)
		return negation_within(d, w, i, *m) ||
		       !negation_in(d, w, at - NEGATION_BEFORE, at, s, p);
	if ((*m = kind_at(d, K_CAN, lang, w, i)) > 0) {
		long e = at + (long)*m;
		return negation_within(d, w, i, *m) ||
		       negation_in(d, w, at - NEGATION_BEFORE, at, s, p) ||
		       negation_in(d, w, e, e + NEGATION_AFTER + 1, s, p);
	}
	return 0;
}

/* The pieces of w for a freelancer's no: its parts, cut again before a reserve ("je ne suis
 * pas disponible avant mai mais je livre le 30 pour 900 €"); piece[i] for each word, and the
 * count returned. */
static int pieces_of(const struct intent_data *d, const char *lang, const struct words *w,
		     int *piece)
{
	int n = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (i && (w->part[i] != w->part[i - 1] || kind_at(d, K_RESERVE, lang, w, i)))
			n++;
		piece[i] = n;
	}
	return w->n ? n + 1 : 0;
}

/* The bytes of piece p: from the end of the piece before to the start of the next one. */
static void piece_bytes(const struct words *w, const int *piece, int p, size_t *from,
			size_t *to)
{
	*from = 0;
	*to = strnlen(w->lower, INTENT_BYTES);
	for (size_t i = 0; i < w->n; i++)
		if (piece[i] < p) {
			*from = w->start[i] + w->len[i];
		} else if (piece[i] > p) {
			*to = w->start[i];
			break;
		}
}

int extract_intent_no_bid(const char *text, const char *lang)
{
	const struct intent_data *d = extract_data_intents();
	if (!d)
		return 0;
	struct words *w = xcalloc(1, sizeof *w);
	words_split(text, w);
	not_negations_cover(d, lang, w);
	int *piece = xcalloc(w->n + 1, sizeof *piece);
	int pieces = pieces_of(d, lang, w, piece), no = 0, offers = 0;
	/* said_no[p]: 1 the piece says no, 2 only at a price ("pas pour 900 €", "not for $900"):
	 * that price, excluded[p], is no offer, another price of the piece is ("ce sera 1 500 € et
	 * pas pour 900 €") */
	unsigned char *said_no = xcalloc((size_t)pieces + 1, 1);
	size_t *excluded = xcalloc(2 * ((size_t)pieces + 1), sizeof *excluded);
	for (size_t i = 0, m = 0; i < w->n; i += m ? m : 1) {
		if (!says_no_at(d, lang, w, i, &m))
			continue;
		int p = piece[i];
		size_t pe = w->start[i + m - 1] + w->len[i + m - 1], at, end, to;
		piece_bytes(w, piece, p, &at, &to);
		size_t lat, lend;
		if (price_find(w->lower, pe, to, &lat, &lend) && money_limit_in(w->lower, pe, lat))
			continue;	/* "I can't go below $900": an offer of 900 */
		no = 1;
		if (said_no[p] != 1 && price_find(w->lower, pe, to, &at, &end) && at <= pe + 12) {
			said_no[p] = 2;
			excluded[2 * p] = w->start[i];
			excluded[2 * p + 1] = end;
		} else {
			said_no[p] = 1;
		}
	}
	for (int p = 0; p < pieces && no; p++) {
		size_t from, to;
		piece_bytes(w, piece, p, &from, &to);
		if (!said_no[p])
			offers += price_in(w->lower, from, to);
		else if (said_no[p] == 2)
			offers += price_in(w->lower, from, excluded[2 * p]) ||
				  price_in(w->lower, excluded[2 * p + 1], to);
	}
	free(excluded);
	free(said_no);
	free(piece);
	free(w->lower);
	free(w);
	if (!no) {
		/* "I won't do it for 900 €": the only price is refused in its clause (the negation
		 * rule of bids), a no at that price */
		struct money m;
		char why[320];
		return extract_bid_amount(text, &m, why, sizeof why) < 0;
	}
	return !offers;
}

static char *phrase_normalise(const char *phrase);

/* The project number "#1001" (or "n° 1001") names in text, 0 when none. */
static long long number_named(const char *text)
{
	for (const char *p = text; p && *p; p++) {
		const char *q = *p == '#' ? p + 1 : !strncmp(p, "n°", 3) ? p + 3 : NULL;
		while (q && *q == ' ')
			q++;
		if (q && isdigit((unsigned char)*q))
			return strtoll(q, NULL, 10);
	}
	return 0;
}

/* Whether the first line of text (quoted lines and blank ones skipped) is a withdraw-command
 * alone, a project number after it allowed ("retirer #1001", "withdraw."). */
static int command_line_withdraws(const struct intent_data *d, const char *text)
{
	const char *p = text;
	for (int k = 0; *p && k < 50; k++) {
		size_t n = strcspn(p, "\n");
		size_t b = strspn(p, " \t\r");
		if (b < n && p[b] != '>')
			break;
		p += n + (p[n] != '\0');
	}
	size_t n = strcspn(p, "\n");
	if (n > 120)
		return 0;
	char *line = xstrndup(p, n);
	char *cut = strchr(line, '#');
	char *deg = strstr(line, "n°");
	if (deg && (!cut || deg < cut))
		cut = deg;
	if (cut)
		*cut = '\0';
	char *norm = phrase_normalise(line);
	int hit = 0;
	for (size_t i = 0; i < d->phrase[K_WITHDRAW_COMMAND].n && !hit; i++)
		hit = !strcmp(norm, d->phrase[K_WITHDRAW_COMMAND].v[i]);
	free(norm);
	free(line);
	return hit;
}

/* Whether w holds a withdraw phrase that no negation reverses and no question asks about. */
static int phrase_withdraws(const struct intent_data *d, const char *lang, struct words *w)
{
	not_negations_cover(d, lang, w);
	for (size_t i = 0; i < w->n; i++) {
		size_t m = kind_at(d, K_WITHDRAW, lang, w, i);
		if (!m)
			continue;
		int s = w->sentence[i], p = w->part[i];
		long at = (long)i, e = at + (long)m;
		if (!w->asks[s] && !sentence_has(d, K_QUESTION, lang, w, s) &&
		    !negation_in(d, w, at - NEGATION_BEFORE, at, s, p) &&
		    !negation_in(d, w, e, e + NEGATION_AFTER, s, p))
			return 1;
		i += m - 1;
	}
	return 0;
}

int extract_intent_withdraw(const char *text, const char *lang, long long *project)
{
	const struct intent_data *d = extract_data_intents();
	*project = 0;
	if (!d || !text)
		return 0;
	int hit = command_line_withdraws(d, text);
	if (!hit) {
		struct words *w = xcalloc(1, sizeof *w);
		words_split(text, w);
		hit = phrase_withdraws(d, lang, w);
		free(w->lower);
		free(w);
	}
	if (hit)
		*project = number_named(text);
	return hit;
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
			"decline, close, accept-verb, decline-verb, close-verb, object, yes, no, "
			"agree, negation, not-negation, person, question, hedge, reserve, condition, "
			"link, tail, pass, can, withdraw, withdraw-command)\n", path, lineno);
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

/* The letter at *p folded to lower-case ASCII (Latin-1 letters without their accent: "É" is
 * 'e'), *p moved past it; 0 at the end. Other bytes are returned as they are. */
static int fold_letter(const unsigned char **p)
{
	static const char latin[33] = "aaaaaaaceeeeiiiidnooooo*ouuuuy*s";
	const unsigned char *s = *p;
	if (!*s)
		return 0;
	if (s[0] == 0xc3 && s[1] >= 0x80 && s[1] <= 0xbf) {
		*p = s + 2;
		return s[1] == 0xbf ? 'y' : latin[(s[1] - 0x80) & 0x1f];
	}
	*p = s + 1;
	return tolower(*s);
}

/* Whether the byte is part of a word (letters, digits, any byte of a UTF-8 sequence). */
static int word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* The length in text's bytes of name matched at t, or 0 (folded, and ending a word). */
static size_t name_at(const unsigned char *t, const unsigned char *name, size_t name_len)
{
	const unsigned char *n = name, *end = name + name_len, *s = t;
	while (n < end) {
		int a = fold_letter(&n), b = fold_letter(&s);
		if (!b || a != b)
			return 0;
	}
	return word_byte(*s) ? 0 : (size_t)(s - t);
}

const char *extract_intent_find_name(const char *text, const char *name, size_t name_len,
				     size_t *len)
{
	const unsigned char *t = (const unsigned char *)text;
	if (!name_len)
		return NULL;
	for (size_t i = 0; t[i] && i < INTENT_BYTES; i++) {
		if (i && word_byte(t[i - 1]))
			continue;	/* names start words */
		size_t n = name_at(t + i, (const unsigned char *)name, name_len);
		if (n) {
			*len = n;
			return text + i;
		}
	}
	return NULL;
}
