/*
 * extract_money.c — amounts, durations and payment plans read from free text in French and
 * English: "1 500 € HT", "€1,500", "EUR 1.250,50", "$2,000 - $3,000", "entre 2 000 et 3 000 €",
 * "2k€", "3-4k", "CHF 8'500.–", "deux mille euros", "35 €/h", "0,08 € / mot", "TJM 400 €",
 * "3 semaines", "10 jours ouvrés", "within 10 days", "avant le 30 avril", "20 % à la commande,
 * un tiers à mi-parcours, solde à la livraison".
 * "2 € la fiche" for 300 fiches, "$50 per 1,000 words", "4 videos, 5 minutes each", "acompte de
 * 500 € puis 1 000 € à la livraison" (or "Acompte : 500 €" on its own line), "payable en trois
 * fois".
 * In: UTF-8 text, and contrib/amounts.txt (the words around amounts, the currencies, the words
 * of delays). Out: struct money / day counts / percentages, plus the rule that decided
 * (bid.why, post.why). One left-to-right scan; every look-ahead is bounded; no regular
 * expressions.
 */
#include "bidmail.h"
#include "mask.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_MENTIONS 64

/* Lower-cases ASCII and the Latin-1 capitals of UTF-8 (À..Þ) into a new string of the same
 * length, so that offsets match the original text. */
char *money_lower(const char *text)
{
	size_t n = strlen(text);
	char *l = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		else if (c == 0xC3 && i + 1 < n && (unsigned char)text[i + 1] >= 0x80 &&
			 (unsigned char)text[i + 1] <= 0x9E && (unsigned char)text[i + 1] != 0x97) {
			l[i++] = (char)c;
			c = (unsigned char)(text[i] + 0x20);
		}
		l[i] = (char)c;
	}
	l[n] = '\0';
	return l;
}

/* A letter, a digit or a byte of a UTF-8 sequence (isalnum in the C locale, without a call:
 * this runs at every byte of every mail). */
static inline int is_word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

/* Skips blanks, including U+00A0 and U+202F; returns the new position. */
static const char *skip_blanks(const char *p, int max)
{
	for (int i = 0; i < max; i++) {
		if (*p == ' ' || *p == '\t')
			p++;
		else if ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0)
			p += 2;
		else if ((unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
			 (unsigned char)p[2] == 0xAF)
			p += 3;
		else
			break;
	}
	return p;
}

/* Length of a thousands separator at p (space, no-break spaces, '.', ',', apostrophe) that is
 * followed by exactly three digits and no fourth; 0 otherwise. */
static size_t group_sep(const char *p)
{
	size_t k = 0;
	if (*p == ' ' || *p == '.' || *p == ',' || *p == '\'')
		k = 1;
	else if ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0)
		k = 2;
	else if ((unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
		 ((unsigned char)p[2] == 0xAF || (unsigned char)p[2] == 0x99))
		k = 3;
	if (!k)
		return 0;
	const char *d = p + k;
	if (isdigit((unsigned char)d[0]) && isdigit((unsigned char)d[1]) &&
	    isdigit((unsigned char)d[2]) && !isdigit((unsigned char)d[3]))
		return k;
	return 0;
}

/* Parses a number at p: thousands groups, a decimal part, a k suffix. Returns the end, or
 * NULL when p is not a number. *groups tells whether separators were used. */
static const char *parse_number(const char *p, double *value, int *kilo)
{
	if (!isdigit((unsigned char)*p))
		return NULL;
	double v = 0;
	int digits = 0;
	while (isdigit((unsigned char)*p) && digits < 12) {
		v = v * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (isdigit((unsigned char)*p))
		return NULL;	/* absurdly long: an identifier, not an amount */
	size_t k;
	int grouped = 0;
	while (digits <= 3 && (k = group_sep(p)) > 0 && grouped < 4) {
		/* "1,500" and "1.500" are thousands; "2 000" too */
		p += k;
		v = v * 1000 + (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		grouped++;
	}
	if ((*p == ',' || *p == '.') && isdigit((unsigned char)p[1]) &&
	    (!isdigit((unsigned char)p[2]) || !isdigit((unsigned char)p[3]))) {
		int cents = 0, i = 0;
		for (p++; i < 2 && isdigit((unsigned char)*p); i++, p++)
			cents = cents * 10 + (*p - '0');
		v += (i == 1 ? cents * 10 : cents) / 100.0;	/* in cents: 0.15, not 0.1500…2 */
	}
	/* the Swiss "8'500.–" / "8'500.-": no cents */
	if ((*p == '.' || *p == ',') && (p[1] == '-' || !strncmp(p + 1, "–", 3)))
		p += p[1] == '-' ? 2 : 4;
	*kilo = 0;
	const char *q = skip_blanks(p, 1);
	if ((*q == 'k' || *q == 'K') && !isalpha((unsigned char)q[1])) {
		v *= 1000;
		*kilo = 1;
		p = q + 1;
	}
	*value = v;
	return p;
}

static int word_at(const char *p, const char *w)
{
	size_t n = strlen(w);
	return !strncmp(p, w, n) && !is_word_byte((unsigned char)p[n]) ? (int)n : 0;
}

/* ---------------------------------------------------------------- the words around amounts */

/* contrib/amounts.txt, one list of phrases per kind (see its header). */
enum mv_kind { MV_TAX, MV_TAX_FAR, MV_UNIT, MV_COUNT, MV_PACE, MV_WORK, MV_NUMBER, MV_SCALE,
	       MV_SHARE, MV_UPFRONT, MV_REST, MV_PLAN, MV_ARTICLE, MV_COMPLEMENT, MV_RATE,
	       MV_NEGATION, MV_LIMIT, MV_NOT_NEGATION, MV_CLAUSE, MV_FOLLOWUP, MV_EFFORT, MV_REFUSAL,
	       MV_TOO_LOW, MV_REFUSED_AFTER, MV_CONDITION, MV_OFFER, MV_OFFER_NEAR, MV_BUDGET,
	       MV_QUOTED, MV_REFERENCE, MV_NO, MV_AGREE, MV_NOT_SHARE,
	       MV_PER, MV_NOT_UNIT, MV_INSTALMENTS, MV_CURRENCY, MV_CURRENCY_BEFORE, MV_DURATION,
	       MV_DURATION_WORKING, MV_DURATION_HOURS, MV_DELAY_NUMBER, MV_DELAY_CUE,
	       MV_DELAY_PREP, MV_ITEM, MV_PER_COUNT, MV_EACH, MV_UNIT_OF,
	       MV_PER_ROUND, MV_APPROX, MV_KINDS };
static const char *const mv_names[MV_KINDS] = { "tax", "tax-far", "unit", "count", "pace",
	"work", "number", "scale", "share", "upfront", "rest", "plan", "article", "complement",
	"rate", "negation", "limit", "not-negation", "clause", "followup", "effort", "refusal",
	"too-low", "refused-after", "condition", "offer", "offer-near", "budget", "quoted",
	"reference", "no", "agree", "not-share", "per", "not-unit", "instalments", "currency",
	"currency-before", "duration", "duration-working", "duration-hours", "delay-number",
	"delay-cue", "delay-preposition", "item", "per-count", "each", "unit-of",
	"per-round", "approx" };

_Static_assert(MV_KINDS <= 64, "money_vocab.pair holds a bit per kind");

struct mv_phrase {
	char *w;
	size_t n;
	char val[8];	/* tax, unit or counted unit */
	int num;	/* number, scale, or share in 1200ths */
};
struct money_vocab {
	struct mv_phrase *p[MV_KINDS];
	size_t n[MV_KINDS], cap[MV_KINDS];
	/* per kind and first byte, the phrases starting with it, in file order (built at load:
	 * vocab_at, tried at every word, looks at those only) */
	size_t *first[MV_KINDS][256];
	size_t n_first[MV_KINDS][256];
	/* per first two bytes of a text (first << 8 | second), the kinds (bit k) a phrase of
	 * which starts with them: vocab_at returns at once for the others */
	uint64_t pair[65536];
	unsigned char currency_first[256];	/* bytes a currency can start with */
	unsigned char delay_first[256];		/* bytes a delay's number word can start with */
	unsigned char unit_first[256];		/* bytes a delay's unit can start with */
	struct mask_words *contacts;	/* mask-words.txt beside amounts.txt (mask.c) */
};

/* The value of a line's kind: its text (tax, unit, count) or number (number, scale, share as
 * A/B); 0, or -1 when it is not one that kind takes. */
static int mv_value(enum mv_kind k, const char *v, struct mv_phrase *ph)
{
	static const char *const units[] = { "hour", "day", "week", "month", "word", "page",
		"article", "image", "minute", "total", "none", NULL };
	int a = 0, b = 0;
	switch (k) {
	case MV_TAX:
	case MV_TAX_FAR:
		return strcmp(v, "HT") && strcmp(v, "TTC") ? -1
		       : (snprintf(ph->val, sizeof ph->val, "%s", v), 0);
	case MV_UNIT:
	case MV_COUNT:
	case MV_RATE:
		for (int i = 0; units[i]; i++)
			if (!strcmp(v, units[i]))
				return snprintf(ph->val, sizeof ph->val, "%s", v), 0;
		return -1;
	case MV_NUMBER:
	case MV_SCALE:
		ph->num = atoi(v);
		return ph->num > 0 && ph->num <= 1000000 ? 0 : -1;
	case MV_CURRENCY:
	case MV_CURRENCY_BEFORE:
		for (int i = 0; i < 3; i++)
			if (v[i] < 'A' || v[i] > 'Z')
				return -1;
		return v[3] ? -1 : (snprintf(ph->val, sizeof ph->val, "%s", v), 0);
	case MV_DURATION:
	case MV_DURATION_WORKING:
	case MV_DELAY_NUMBER:
		ph->num = atoi(v);
		return ph->num > 0 && ph->num <= 366 ? 0 : -1;
	case MV_SHARE:
		if (sscanf(v, "%d/%d", &a, &b) != 2 || a < 1 || b < 2 || a >= b || 1200 % b)
			return -1;
		ph->num = 1200 * a / b;
		return 0;
	default:
		return *v ? -1 : 0;
	}
}

/* One line of amounts.txt into the vocabulary arg; 0 or -1 (file:line on stderr). */
static int mv_line(void *arg, char *s, const char *path, int lineno)
{
	struct money_vocab *mv = arg;
	char *save = NULL, *head = strtok_r(s, "|", &save);
	char *h = head ? str_trim(head) : "";
	size_t kl = strcspn(h, " ");
	const char *v = h[kl] ? str_trim(h + kl + 1) : "";
	int k = 0;
	while (k < MV_KINDS && (strlen(mv_names[k]) != kl || strncmp(h, mv_names[k], kl)))
		k++;
	struct mv_phrase ph = { 0 };
	if (k == MV_KINDS || mv_value((enum mv_kind)k, v, &ph) < 0) {
		fprintf(stderr, "%s:%d: expected `kind [value] | phrase | ...` (kinds: tax HT|TTC, "
			"tax-far, unit U, count U, rate U, pace, work, number N, scale N, share A/B, "
			"upfront, rest, plan, article, complement, negation, limit, not-negation, "
			"clause, followup, effort, refusal, too-low, refused-after, condition, offer, "
			"offer-near, budget, quoted, reference, no, agree, not-share, per, not-unit, "
			"instalments, currency XXX, currency-before XXX, duration N, "
			"duration-working N, duration-hours, delay-number N, delay-cue, "
			"delay-preposition, item, per-count, each, unit-of, per-round, approx)\n", path,
			lineno);
		return -1;
	}
	for (char *tok; (tok = strtok_r(NULL, "|", &save)) != NULL;) {
		char *w = money_lower(str_trim(tok));
		if (!*w) {
			free(w);
			continue;
		}
		if (mv->n[k] == mv->cap[k]) {
			mv->cap[k] = mv->cap[k] ? mv->cap[k] * 2 : 16;
			mv->p[k] = xrealloc(mv->p[k], mv->cap[k] * sizeof *mv->p[k]);
		}
		ph.w = w;
		ph.n = strlen(w);
		mv->p[k][mv->n[k]++] = ph;
	}
	return 0;
}

struct money_vocab *money_vocab_free(struct money_vocab *mv)
{
	if (!mv)
		return NULL;
	for (int k = 0; k < MV_KINDS; k++) {
		for (size_t i = 0; i < mv->n[k]; i++)
			free(mv->p[k][i].w);
		free(mv->p[k]);
		for (int b = 0; b < 256; b++)
			free(mv->first[k][b]);
	}
	mask_words_free(mv->contacts);
	free(mv);
	return NULL;
}

/* The contact words of mask.c live in mask-words.txt in the folder of amounts.txt; an older
 * data_dir has none (only the shapes are masked then). */
static int contacts_load(struct money_vocab *mv, const char *amounts_path)
{
	const char *slash = strrchr(amounts_path, '/');
	char *path = slash ? xasprintf("%.*s/mask-words.txt", (int)(slash - amounts_path),
				       amounts_path)
			   : xstrdup("mask-words.txt");
	int rc = 0;
	if (access(path, F_OK) == 0 && !(mv->contacts = mask_words_load(path)))
		rc = -1;
	free(path);
	return rc;
}

static void mv_index(struct money_vocab *mv)
{
	for (int k = 0; k < MV_KINDS; k++)
		for (size_t i = 0; i < mv->n[k]; i++) {
			unsigned char b = (unsigned char)mv->p[k][i].w[0];
			if (k == MV_CURRENCY || k == MV_CURRENCY_BEFORE)
				mv->currency_first[b] = 1;
			if (k == MV_DELAY_NUMBER)
				mv->delay_first[b] = 1;
			if (k == MV_DURATION || k == MV_DURATION_WORKING || k == MV_DURATION_HOURS)
				mv->unit_first[b] = 1;
			if (mv->p[k][i].n > 1)
				mv->pair[(size_t)b << 8 | (unsigned char)mv->p[k][i].w[1]] |= 1ull << k;
			else
				for (size_t s = 0; s < 256; s++)
					mv->pair[(size_t)b << 8 | s] |= 1ull << k;
			size_t n = mv->n_first[k][b];
			mv->first[k][b] = xrealloc(mv->first[k][b], (n + 1) * sizeof *mv->first[k][b]);
			mv->first[k][b][n] = i;
			mv->n_first[k][b] = n + 1;
		}
}

struct money_vocab *money_vocab_load(const char *path)
{
	struct money_vocab *mv = xcalloc(1, sizeof *mv);
	if (extract_data_lines(path, 4096, mv_line, mv) < 0 || contacts_load(mv, path) < 0)
		return money_vocab_free(mv);
	mv_index(mv);
	return mv;
}

const struct mask_words *money_vocab_contacts(const struct money_vocab *mv)
{
	return mv ? mv->contacts : NULL;
}

/* The vocabulary in use (an empty one before any load). */
static const struct money_vocab *vocab(void)
{
	static const struct money_vocab empty;
	const struct money_vocab *mv = extract_data_money();
	return mv ? mv : &empty;
}

/* The longest phrase of kind k that stands at p as whole words; NULL when none. */
static const struct mv_phrase *vocab_at(enum mv_kind k, const char *p)
{
	const struct money_vocab *mv = vocab();
	const struct mv_phrase *best = NULL;
	unsigned char b = (unsigned char)*p;
	if (!(mv->pair[(size_t)b << 8 | (unsigned char)(b ? p[1] : 0)] >> k & 1))
		return NULL;
	for (size_t j = 0; j < mv->n_first[k][b]; j++) {
		const struct mv_phrase *ph = &mv->p[k][mv->first[k][b][j]];
		if ((best && ph->n <= best->n) || (ph->n > 1 && p[1] != ph->w[1]) ||
		    strncmp(p, ph->w, ph->n))
			continue;
		if (is_word_byte((unsigned char)ph->w[ph->n - 1]) && is_word_byte((unsigned char)p[ph->n]))
			continue;
		best = ph;
	}
	return best;
}

/* The first phrase of kind k found in text within `within` bytes of its start (any
 * distance when within is 0), or NULL. */
static const char *vocab_in(enum mv_kind k, const char *text, size_t within)
{
	const struct money_vocab *mv = vocab();
	for (size_t i = 0; i < mv->n[k]; i++) {
		const char *hit = strstr(text, mv->p[k][i].w);
		if (hit && (!within || (size_t)(hit - text) <= within))
			return hit;
	}
	return NULL;
}

/* Matches a currency at p (lower-cased text; amounts.txt currency, and currency-before for
 * the words that may also stand before the amount, the only ones when want_before is set):
 * the length of the longest, its code in *code; 0 when none. A word must end at a word
 * boundary, a symbol need not ("€1,500"). */
size_t match_currency(const char *p, const char **code, int want_before)
{
	const struct money_vocab *mv = vocab();
	unsigned char b = (unsigned char)*p;
	size_t best = 0;
	for (int k = want_before ? MV_CURRENCY_BEFORE : MV_CURRENCY; k <= MV_CURRENCY_BEFORE; k++)
		for (size_t j = 0; j < mv->n_first[k][b]; j++) {
			const struct mv_phrase *ph = &mv->p[k][mv->first[k][b][j]];
			if (ph->n <= best || strncmp(p, ph->w, ph->n))
				continue;
			if (isalpha((unsigned char)ph->w[ph->n - 1]) && is_word_byte((unsigned char)p[ph->n]))
				continue;
			best = ph->n;
			*code = ph->val;
		}
	return best;
}

/* 1 when a unit marker with an article (amounts.txt article: "la page", "le mot") is followed
 * by a complement ("la page d'accueil", "le mot de passe"): a noun of the sentence, no unit;
 * unless the complement names what the unit measures (amounts.txt unit-of: "la minute de
 * vidéo", "la page de texte"). */
static int noun_goes_on(const char *w, const char *after)
{
	const struct money_vocab *mv = vocab();
	int article = 0;
	for (size_t i = 0; i < mv->n[MV_ARTICLE] && !article; i++)
		article = !strncmp(w, mv->p[MV_ARTICLE][i].w, mv->p[MV_ARTICLE][i].n);
	if (!article)
		return 0;
	after = skip_blanks(after, 2);
	for (size_t i = 0; i < mv->n[MV_COMPLEMENT]; i++) {
		const struct mv_phrase *c = &mv->p[MV_COMPLEMENT][i];
		if (strncmp(after, c->w, c->n))
			continue;
		const char *of = skip_blanks(after + c->n, 2);
		return !vocab_at(MV_UNIT_OF, of);
	}
	return 0;
}

/* The tax or unit marker at q (amounts.txt tax, unit; only tax-far ones when far is set),
 * its kind in *kind; NULL when none. */
static const struct mv_phrase *marker_at(const char *q, int far, enum mv_kind *kind)
{
	static const enum mv_kind near_kinds[] = { MV_TAX, MV_TAX_FAR, MV_UNIT };
	const struct mv_phrase *best = NULL;
	for (size_t i = far ? 1 : 0; i < (far ? 2u : 3u); i++) {
		const struct mv_phrase *ph = vocab_at(near_kinds[i], q);
		/* "500 € la page d'accueil" is no rate per page */
		if (ph && (!best || ph->n > best->n) && !noun_goes_on(ph->w, q + ph->n)) {
			best = ph;
			*kind = near_kinds[i];
		}
	}
	return best;
}

/* The length of the noun at p (letters, UTF-8 bytes, inner hyphens: "fiche", "e-book"), 0
 * when it is none or longer than a unit holds. */
static size_t noun_len(const char *p)
{
	size_t k = 0;
	while (is_word_byte((unsigned char)p[k]) || (p[k] == '-' && k && is_word_byte((unsigned char)p[k + 1])))
		if (isdigit((unsigned char)p[k++]))
			return 0;
	return k >= 2 && k < sizeof ((struct money *)0)->unit ? k : 0;
}

/* 1 when the noun w (n bytes) stands in l elsewhere than at skip in the plural (+s, +x,
 * +es) or after a number ("300 fiches", "250 products", "3 logos"): the items it names are
 * many. */
static int noun_many(const char *l, const char *w, size_t n, const char *skip)
{
	for (const char *h = strstr(l, w); h; h = strstr(h + 1, w)) {
		if (h == skip || (h > l && is_word_byte((unsigned char)h[-1])))
			continue;
		const char *e = h + n;
		if (*e == 's' || *e == 'x')
			e++;
		else if (e[0] == 'e' && e[1] == 's')
			e += 2;
		if (is_word_byte((unsigned char)*e))
			continue;
		if (e > h + n)
			return 1;
		const char *b = h;
		while (b > l && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b < h && b > l && isdigit((unsigned char)b[-1]))
			return 1;
	}
	return 0;
}

/* A rate per item outside the fixed units (amounts.txt per, then a noun: "2 € la fiche",
 * "15 € par séance", "$3 per product", "4 €/fiche"): the noun into m's unit, the length
 * read; 0 when none. A noun of amounts.txt not-unit ("par virement", "per year", "par
 * exemple") is none; after an article ("la", "le") the noun must be many in l (noun_many),
 * and not go on with a complement ("500 € le logo", "le site de la mairie" name one thing). */
static size_t per_item_at(const char *l, const char *q, struct money *m)
{
	const struct mv_phrase *per = vocab_at(MV_PER, q);
	if (!per)
		return 0;
	const char *w = skip_blanks(q + per->n, 2);
	size_t n = noun_len(w);
	if (!n || vocab_at(MV_NOT_UNIT, w) || vocab_at(MV_NUMBER, w) || vocab_at(MV_SCALE, w))
		return 0;
	const char *code;
	if (match_currency(w, &code, 0) == n)
		return 0;
	const struct money_vocab *mv = vocab();
	int article = 0;
	for (size_t i = 0; i < mv->n[MV_ARTICLE] && !article; i++)
		article = !strncmp(per->w, mv->p[MV_ARTICLE][i].w, mv->p[MV_ARTICLE][i].n) &&
			  mv->p[MV_ARTICLE][i].n == per->n;
	if (!strcmp(per->w, "a") || !strcmp(per->w, "an"))
		article = 1;	/* "$4 a piece", "$3 a product" */
	if (article && !vocab_at(MV_ITEM, w)) {
		char *noun = xstrndup(w, n);
		int many = noun_many(l, noun, n, w);
		free(noun);
		if (!many || noun_goes_on(per->w, w + n))
			return 0;
	}
	snprintf(m->unit, sizeof m->unit, "%.*s", (int)n, w);
	return (size_t)(w + n - q);
}

static size_t words_number(const char *p, double *value);

/* Skips blanks and at most one line break (a sentence wrapped by the mail client). */
static const char *blank_or_break(const char *p)
{
	p = skip_blanks(p, 4);
	if (*p == '\r')
		p++;
	if (*p == '\n')
		p = skip_blanks(p + 1, 4);
	return p;
}

/* A rate per a counted quantity of a unit after an amount (amounts.txt per-count, a number
 * over 1 in digits or words, a count noun: "$50 per 1,000 words", "15 € les 1000 mots", "0,10
 * € / 100 mots", "20 € par tranche de mille mots"): the unit into m, the amount (and a
 * range's low end) divided by the number, so that m is a rate per unit, the number in
 * *per_n; the length read, 0 when none. After a per-round word ("15 € pour 1000 mots",
 * "$8 for 100 words") only words per 100 or 1,000, the bases of a rate: "500 € pour 10 000 mots"
 * is the price of those words. Words are counted so by trade; another unit only by
 * a round hundred or more ("5 € les 100 photos"): "300 € les 10 articles" is the price of
 * those ten. Hours and days are no such unit ("500 € par 5 jours" says no rate). */
static size_t per_count_at(const char *q, struct money *m, double *per_n)
{
	const struct mv_phrase *per = vocab_at(MV_PER_COUNT, q), *round = vocab_at(MV_PER_ROUND, q);
	if (round && (!per || round->n > per->n))
		per = round;
	else
		round = NULL;
	if (!per)
		return 0;
	const char *p = blank_or_break(q + per->n), *e;
	double v = 0;
	int kilo;
	size_t wn;
	if (isdigit((unsigned char)*p))
		e = parse_number(p, &v, &kilo);
	else
		e = (wn = words_number(p, &v)) ? p + wn : NULL;	/* "per thousand words" */
	if (!e || v < 2 || v > 1000000 || v != (double)(long long)v ||
	    (round && v != 100 && v != 1000))
		return 0;	/* "500 € pour 10 000 mots" is the price of those words */
	const char *w = blank_or_break(e);
	const struct mv_phrase *noun = vocab_at(MV_COUNT, w);
	if (!noun || !strcmp(noun->val, "hour") || !strcmp(noun->val, "day") ||
	    (round && strcmp(noun->val, "word")))
		return 0;	/* "5 000 € pour 1000 pages": the price of a book */
	long long nn = (long long)v;
	while (nn % 10 == 0)
		nn /= 10;
	if (strcmp(noun->val, "word") && (v < 100 || nn != 1))
		return 0;	/* "300 € les 10 articles" is the price of those ten */
	snprintf(m->unit, sizeof m->unit, "%s", noun->val);
	m->max /= v;
	if (m->min >= 0)
		m->min /= v;
	*per_n = v;
	return (size_t)(w + noun->n - q);
}

/* Tax and unit markers after an amount ("HT", "TTC", "/h", "par jour", "/ mot", ", TVA en
 * sus"), at most three, into m, a rate per a counted quantity (per_count_at, its number in
 * *per_n) and a rate per item of another noun (per_item_at); returns the position after
 * them. l is the whole text. */
static const char *read_markers(const char *l, const char *p, struct money *m, double *per_n)
{
	for (int round = 0; round < 3; round++) {
		const char *q = skip_blanks(p, 2);
		enum mv_kind kind = MV_UNIT;
		size_t pc = m->unit[0] ? 0 : per_count_at(q, m, per_n);
		if (pc) {
			p = q + pc;
			continue;
		}
		const struct mv_phrase *mk = marker_at(q, 0, &kind);
		if (!mk && (*q == ',' || *q == '(' || *q == '-')) {
			q = skip_blanks(q + 1, 2);
			mk = marker_at(q, 1, &kind);
		}
		if (!mk) {
			size_t k = m->unit[0] ? 0 : per_item_at(l, skip_blanks(p, 2), m);
			if (!k)
				break;
			p = skip_blanks(p, 2) + k;
			continue;
		}
		if (kind != MV_UNIT && !m->tax[0])
			snprintf(m->tax, sizeof m->tax, "%.3s", mk->val);
		if (kind == MV_UNIT && !m->unit[0] && strcmp(mk->val, "none"))
			snprintf(m->unit, sizeof m->unit, "%s", mk->val);
		p = q + mk->n;
	}
	return p;
}

/* Words after a bare number that make it anything but money. */
static int quantity_word(const char *p)
{
	static const char *const words[] = {
		"%", "pour cent", "percent", "mots", "words", "word", "pages", "page", "caractères",
		"characters", "signes", "fiches", "produits", "products", "articles", "photos",
		"images", "vidéos", "videos", "heures", "hours", "hrs", "jours", "days", "semaines",
		"weeks", "mois", "months", "ans", "years", "minutes", "min", "personnes", "people",
		"ème", "e ", "er ", "h ", "x ", "fois", "versements", "mensualités", "échéances",
		"instalments", "installments", "payments", NULL };
	const char *q = skip_blanks(p, 2);
	for (int i = 0; words[i]; i++)
		if (!strncmp(q, words[i], strlen(words[i])))
			return 1;
	return 0;
}

struct mention {
	struct money m;
	size_t start, end;	/* offsets in the text */
	int has_currency;
	int range;
	int kilo;		/* written with a k: "3-4k", "2k" */
	double per_n;		/* "$50 per 1,000 words": 1000 (m is per word), else 0 */
};

/* Reads one amount, its currency and markers, no range, starting at offset i of the
 * lower-cased text l. */
static int read_single(const char *l, size_t i, struct mention *out)
{
	const char *p = l + i, *code = NULL;
	memset(out, 0, sizeof *out);
	out->start = i;
	size_t cl = match_currency(p, &code, 1);
	const char *num = cl ? skip_blanks(p + cl, 2) : p;
	double v;
	int kilo;
	const char *e = parse_number(num, &v, &kilo);
	if (!e)
		return 0;
	if (cl)
		snprintf(out->m.currency, sizeof out->m.currency, "%s", code);
	const char *after = skip_blanks(e, 2);
	if (!cl && (cl = match_currency(after, &code, 0)) > 0) {
		snprintf(out->m.currency, sizeof out->m.currency, "%s", code);
		e = after + cl;
	}
	if (!cl && kilo && (*after == 'k' || *after == 'K'))
		e = after + 1;
	out->has_currency = cl > 0;
	out->kilo = kilo;
	out->m.max = v;
	out->m.min = -1;
	e = read_markers(l, e, &out->m, &out->per_n);
	out->end = (size_t)(e - l);
	return 1;
}

/* The length of a range connector at r ("-", "–", "à", "to", "et", "and", "jusqu'à"); 0 when
 * none. */
static size_t range_connector(const char *r)
{
	size_t conn = 0;
	if (*r == '-')
		conn = 1;
	else if (!strncmp(r, "–", 3) || !strncmp(r, "—", 3))
		conn = 3;
	else
		conn = (size_t)(word_at(r, "à") ? 2 : word_at(r, "a") ? 1 : word_at(r, "to") ? 2
				: word_at(r, "et") ? 2 : word_at(r, "and") ? 3
				: word_at(r, "jusqu'à") ? 8 : 0);
	return conn;
}

/* Whether the second amount of a range is itself the start of one ("3-4-5"): then the three
 * are a chain, not a range. One step ahead only, so no recursion. */
static int chain_follows(const char *l, const struct mention *second)
{
	const char *r = skip_blanks(l + second->end, 2);
	size_t conn = range_connector(r);
	struct mention third;
	if (!conn || !read_single(l, (size_t)(skip_blanks(r + conn, 2) - l), &third))
		return 0;
	if (!third.has_currency && quantity_word(l + third.end))
		return 0;
	double v = second->m.max;
	if (third.kilo && !second->kilo && v * 1000 <= third.m.max)
		v *= 1000;
	return third.m.max > v;
}

/* Reads one amount or a range ("- 3 000 €", "à 5 000 euros", "to $3,000", "et 3 000 €")
 * starting at offset i of the lower-cased text l. The second amount is read without a range
 * of its own: no recursion, whatever the text. */
static int read_mention(const char *l, size_t i, struct mention *out)
{
	if (!read_single(l, i, out))
		return 0;
	const char *e = l + out->end;
	const char *r = skip_blanks(e, 2);
	size_t conn = range_connector(r);
	double v = out->m.max;
	int kilo = out->kilo;
	if (conn) {
		struct mention second;
		const char *s2 = skip_blanks(r + conn, 2);
		/* "3-4k", "3 à 4 k": the k of the second is the first's too */
		int ok = read_single(l, (size_t)(s2 - l), &second) &&
			 !chain_follows(l, &second) &&
			 (second.has_currency || !quantity_word(l + second.end));
		if (ok && second.per_n > 0 && !out->m.unit[0])
			v /= second.per_n;	/* "10 à 15 € les 1000 mots": per word both */
		if (ok && second.kilo && !kilo && v * 1000 <= second.m.max)
			v *= 1000;
		else if (ok && !kilo && v < 1000 && v == (double)(long long)v &&
			 v * 1000 <= second.m.max && v * 10000 > second.m.max)
			v *= 1000;	/* "3-4 000 €", "entre 5 et 10 000 €": thousands both */
		if (ok && second.m.max > v) {
			out->m.min = v;
			out->m.max = second.m.max;
			if (!out->has_currency)
				memcpy(out->m.currency, second.m.currency, sizeof out->m.currency);
			if (!out->m.tax[0])
				memcpy(out->m.tax, second.m.tax, sizeof out->m.tax);
			if (!out->m.unit[0]) {
				memcpy(out->m.unit, second.m.unit, sizeof out->m.unit);
				out->per_n = second.per_n;
			}
			out->has_currency = out->has_currency || second.has_currency;
			out->kilo = out->kilo || second.kilo;
			out->range = 1;
			e = l + second.end;
		}
	}
	out->end = (size_t)(e - l);
	return 1;
}

/* The number word at p (amounts.txt number, scale): its length, its value or scale; 0 when
 * none. */
static int number_word_at(const char *p, int *v, int *scale)
{
	const struct mv_phrase *n = vocab_at(MV_NUMBER, p), *sc = vocab_at(MV_SCALE, p);
	if (sc && (!n || sc->n >= n->n)) {
		*v = 0;
		*scale = sc->num;
		return (int)sc->n;
	}
	if (!n)
		return 0;
	*v = n->num;
	*scale = 0;
	return (int)n->n;
}

/* Reads an amount written in words ("deux mille", "mille cinq cents", "two thousand five
 * hundred", "quatre-vingt-dix") at p: the length read (0 when none, or under ten). At most
 * twelve words. */
static size_t words_number(const char *p, double *value)
{
	double total = 0, cur = 0;
	int last = 0, words = 0;
	const char *q = p, *end = p;
	if (word_at(q, "a"))
		q = skip_blanks(q + 1, 2);	/* "a thousand" */
	while (words < 12) {
		int v, scale, n = number_word_at(q, &v, &scale);
		if (!n)
			break;
		if (scale == 100)
			cur = (cur > 0 ? cur : 1) * 100;
		else if (scale) {
			total += (cur > 0 ? cur : 1) * scale;
			cur = 0;
		} else if (v == 20 && last == 4)
			cur += 76;	/* quatre-vingt(s) */
		else
			cur += v;
		last = v;
		words++;
		end = q + n;
		q = end;
		if (*q == '-')
			q++;
		q = skip_blanks(q, 2);
		/* "vingt et un", "one hundred and twenty"; "two and three" is two numbers */
		int tens = last >= 20 && last <= 60 && last % 10 == 0;
		int c = tens && word_at(q, "et") ? 2 : scale && word_at(q, "and") ? 3 : 0;
		if (c && number_word_at(skip_blanks(q + c, 2), &v, &scale))
			q = skip_blanks(q + c, 2);
	}
	*value = total + cur;
	return words && *value >= 10 ? (size_t)(end - p) : 0;
}

/* 1 when the word right before offset i of l is the end of a fraction (amounts.txt share:
 * "two and a half thousand", "deux mille et demi"): the number in words after it is not the
 * whole amount, so none is read rather than a wrong one. */
static int share_before(const char *l, size_t i)
{
	size_t e = i;
	while (e > 0 && l[e - 1] == ' ')
		e--;
	size_t b = e;
	while (b > 0 && is_word_byte((unsigned char)l[b - 1]))
		b--;
	if (b == e)
		return 0;
	const struct mv_phrase *ph = vocab_at(MV_SHARE, l + b);
	return ph && b + ph->n == e;
}

/* An amount in words followed by its currency ("deux mille euros HT") at offset i of l;
 * 1 with out filled. */
static int read_words_mention(const char *l, size_t i, struct mention *out)
{
	double v;
	size_t n = share_before(l, i) ? 0 : words_number(l + i, &v);
	const char *code = NULL;
	if (!n)
		return 0;
	const char *after = skip_blanks(l + i + n, 2);
	double low = -1;
	/* "trois cents à quatre cents euros": a range in words */
	int conn = word_at(after, "à") ? 2 : word_at(after, "to") ? 2 : word_at(after, "et") ? 2
		   : *after == '-' ? 1 : 0;
	double v2;
	size_t n2 = conn ? words_number(skip_blanks(after + conn, 2), &v2) : 0;
	if (n2 && v2 > v) {
		low = v;
		v = v2;
		after = skip_blanks(skip_blanks(after + conn, 2) + n2, 2);
	}
	size_t cl = match_currency(after, &code, 0);
	if (!cl)
		return 0;
	memset(out, 0, sizeof *out);
	out->start = i;
	out->m.max = v;
	out->m.min = low;
	out->range = low >= 0;
	snprintf(out->m.currency, sizeof out->m.currency, "%s", code);
	out->has_currency = 1;
	out->end = (size_t)(read_markers(l, after + cl, &out->m, &out->per_n) - l);
	return 1;
}

/* The units that make a bare number money ("400 par jour"); per-word or per-page rates need
 * their currency. */
static int unit_makes_money(const char *unit)
{
	return !strcmp(unit, "hour") || !strcmp(unit, "day") || !strcmp(unit, "month");
}

/* Finds the amounts of a text: those with a currency, and bare numbers that a marker
 * (HT, /h) or a cue right before makes money. Returns the count (at most max). */
static int find_mentions(const char *l, struct mention *out, int max, int bare_with_cue)
{
	int n = 0;
	const unsigned char *currency_first = vocab()->currency_first;
	size_t len = strlen(l);
	for (size_t i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)l[i];
		if (i > 0 && (is_word_byte((unsigned char)l[i - 1]) || l[i - 1] == '#' ||
			      l[i - 1] == '/' || l[i - 1] == '.' || l[i - 1] == ','))
			continue;	/* inside a word, a #number, a date or a decimal */
		if (isalpha(c) && strchr("udtqcsnhvmoefa", c) && n < max &&
		    read_words_mention(l, i, &out[n])) {
			i = out[n++].end - 1;
			continue;
		}
		if (!isdigit(c) && !currency_first[c])
			continue;
		if (!isdigit(c)) {
			/* a currency before an amount: the word (or symbol) is followed by a digit
			 * after at most two blanks */
			size_t k = i;
			while (k < len && k < i + 16 && is_word_byte((unsigned char)l[k]) &&
			       !isdigit((unsigned char)l[k]))
				k++;
			if (k < len && (l[k] == '$' || k == i))
				k++;	/* a symbol: $, or the $ of ca$ */
			while (k < len && (l[k] == ' ' || l[k] == '.' || (unsigned char)l[k] == 0xC2 ||
					   (unsigned char)l[k] == 0xA0) && k < i + 20)
				k++;
			if (k >= len || !isdigit((unsigned char)l[k])) {
				/* jump to the end of this word: its other bytes cannot start one */
				while (i + 1 < len && is_word_byte((unsigned char)l[i + 1]))
					i++;
				continue;
			}
		}
		struct mention m;
		if (!read_mention(l, i, &m))
			continue;
		/* a date "04/03", "30/04/2025", or a time "9:30" */
		const char *e = l + m.end;
		if (!m.has_currency && (*e == '/' || *e == ':' || *e == '-'))
			continue;
		if (m.has_currency || m.m.tax[0] || unit_makes_money(m.m.unit)) {
			out[n++] = m;
			i = m.end > i ? m.end - 1 : i;
		} else if (bare_with_cue && !quantity_word(l + m.end)) {
			m.has_currency = 0;
			out[n++] = m;
			i = m.end > i ? m.end - 1 : i;
		}
	}
	return n;
}

/* 1 when a sentence ends between offsets from and at of l (". " or a blank line). */
static int sentence_broken(const char *l, size_t from, size_t at)
{
	for (size_t q = from; q < at; q++)
		if ((l[q] == '.' && (l[q + 1] == ' ' || l[q + 1] == '\n')) ||
		    (l[q] == '\n' && q + 1 < at && l[q + 1] == '\n'))
			return 1;
	return 0;
}

/* The nearest phrase of kind k of amounts.txt (offer, offer-near, budget, quoted, reference)
 * that starts a word and ends within `window` bytes before offset at, in the same sentence
 * (the longest where several end there), or NULL; *end (when not NULL) set past it. */
static const char *vocab_before(const char *l, size_t at, enum mv_kind k, size_t window,
				size_t *end)
{
	size_t from = at > window ? at - window : 0, best_end = 0;
	const char *best = NULL;
	for (size_t i = from; i < at; i++) {
		if (i > 0 && is_word_byte((unsigned char)l[i - 1]))
			continue;
		const struct mv_phrase *ph = vocab_at(k, l + i);
		if (ph && i + ph->n <= at && i + ph->n > best_end &&
		    !sentence_broken(l, i + ph->n, at)) {
			best = ph->w;
			best_end = i + ph->n;
		}
	}
	if (end)
		*end = best_end;
	return best;
}

static const char *cue_before(const char *l, size_t at, enum mv_kind k, size_t window)
{
	return vocab_before(l, at, k, window, NULL);
}

/* A rate's name written before the amount at offset at ("taux horaire", "TJM", "day rate",
 * "prix au mot": amounts.txt rate), ending after offset after (the previous amount) and
 * within 40 bytes, in the same sentence; the nearest one, or NULL. */
static const struct mv_phrase *rate_before(const char *l, size_t at, size_t after)
{
	size_t from = at > 40 ? at - 40 : 0;
	const struct mv_phrase *best = NULL;
	if (from < after)
		from = after;
	for (size_t k = from; k < at; k++) {
		if (l[k] == '\n' || (l[k] == '.' && l[k + 1] == ' ') || l[k] == ';')
			best = NULL;	/* a sentence ends: a rate named before it is not this one's */
		if (k > 0 && is_word_byte((unsigned char)l[k - 1]))
			continue;
		const struct mv_phrase *ph = vocab_at(MV_RATE, l + k);
		if (ph && k + ph->n <= at)
			best = ph;
	}
	return best;
}

/* The unit of a rate named before ms (rate_before) into m when no marker after the amount
 * gave one (a marker wins: "tarif : 30 € par mot"); said in why. */
static void rate_name_apply(const char *l, const struct mention *ms, size_t after,
			    struct money *m, char *why, size_t why_len)
{
	const struct mv_phrase *ph = m->unit[0] ? NULL : rate_before(l, ms->start, after);
	if (!ph)
		return;
	snprintf(m->unit, sizeof m->unit, "%s", ph->val);
	size_t w = strlen(why);
	snprintf(why + w, why_len - w, "; `%s` before it names a rate per %s", ph->w,
		 ph->val);
}

/* ---------------------------------------------------------------- per-unit rates */

/* The number (digits or a number word, more than one) that ends at offset e of l, past
 * blanks; 0 when none. */
static int number_ending_at(const char *l, size_t e)
{
	while (e > 0 && l[e - 1] == ' ')
		e--;
	size_t b = e;
	while (b > 0 && isdigit((unsigned char)l[b - 1]) && e - b < 4)
		b--;
	if (b < e)
		return b == 0 || !is_word_byte((unsigned char)l[b - 1]) ? atoi(l + b) : 0;
	while (b > 0 && is_word_byte((unsigned char)l[b - 1]))
		b--;
	int v = 0, sc = 0;
	size_t n = b < e ? (size_t)number_word_at(l + b, &v, &sc) : 0;
	return n && b + n == e && !sc && v > 1 ? v : 0;
}

/* The number (over 1) before a noun of one to three words that ends at offset b of l
 * ("3 vidéos", "four short videos"); 1 when none. */
static double items_counted_before(const char *l, size_t b)
{
	for (int words = 0; words < 3; words++) {
		while (b > 0 && l[b - 1] == ' ')
			b--;
		size_t e = b;
		while (b > 0 && is_word_byte((unsigned char)l[b - 1]) && !isdigit((unsigned char)l[b - 1]))
			b--;
		if (b == e)
			return 1;
		int v = number_ending_at(l, b);
		if (v > 1)
			return v;
	}
	return 1;
}

/* The items counted before a length that ends at offset b of l after "(", ",", ":" or a dash,
 * and perhaps an amounts.txt approx word ("3 vidéos (10 minutes", "4 videos, 5 minutes", "6
 * episodes, about 40 minutes"): items_counted_before; 1 when none. */
static double items_punct_before(const char *l, size_t b)
{
	while (b > 0 && l[b - 1] == ' ')
		b--;
	for (size_t x = b > 24 ? b - 24 : 0; x < b; x++) {
		const struct mv_phrase *ap = (x == 0 || !is_word_byte((unsigned char)l[x - 1]))
					     ? vocab_at(MV_APPROX, l + x) : NULL;
		if (ap && x + ap->n == b) {
			b = x;	/* "about 40 minutes each" */
			while (b > 0 && l[b - 1] == ' ')
				b--;
			break;
		}
	}
	if (b > 0 && strchr("(,:-", l[b - 1]))
		b--;
	else if (b >= 3 && (!strncmp(l + b - 3, "–", 3) || !strncmp(l + b - 3, "—", 3)))
		b -= 3;
	else
		return 1;
	return items_counted_before(l, b);
}

/* How many items the count at offset i of l measures each: the number before a noun of one
 * to three words and "de" / "of" / "d'une durée de" ("3 vidéos de 10 minutes", "three
 * videos of 10 minutes"), or right before the count when a hyphen ties it to its noun
 * ("three 10-minute videos"); 1 when none. */
static double items_before(const char *l, size_t i, int hyphen)
{
	size_t b = i;
	while (b > 0 && l[b - 1] == ' ')
		b--;
	if (hyphen) {
		int v = number_ending_at(l, b);
		return v > 1 ? v : 1;
	}
	static const char *const links[] = { "d'une durée de", "d’une durée de", "d'environ",
					     "d’environ", "de", "d'", "d’", "of about", "of around",
					     "of roughly", "of", "lasting", "lasting about", NULL };
	size_t k = 0;
	for (int j = 0; links[j] && !k; j++) {
		size_t n = strlen(links[j]);
		if (b >= n && !strncmp(l + b - n, links[j], n) &&
		    (b == n || !is_word_byte((unsigned char)l[b - n - 1])))
			k = n;
	}
	if (!k)
		return 1;
	b -= k;
	while (b > 0 && l[b - 1] == ' ')
		b--;
	size_t w = b;
	while (w > 0 && is_word_byte((unsigned char)l[w - 1]))
		w--;
	const struct mv_phrase *each = w < b ? vocab_at(MV_EACH, l + w) : NULL;
	if (each && w + each->n == b)
		return items_punct_before(l, w);	/* "5 tutoriels, chacun de 8 minutes" */
	return items_counted_before(l, b);
}

/* How many items a count per item at offset i of l measures, with its amounts.txt each word
 * ("10 minutes chacune", "5 minutes each"): items_before, or the number before a noun of one
 * to three words and "(", ",", ":" or a dash ("3 vidéos (10 minutes chacune)", "4 videos, 5
 * minutes each"); 1 when none. */
static double items_listed_before(const char *l, size_t i)
{
	double items = items_before(l, i, 0);
	return items > 1 ? items : items_punct_before(l, i);
}

/* 1 when the noun at q is `unit` (n bytes), singular or plural (+s, +x, +es); its length in
 * *len. */
static int unit_noun_at(const char *q, const char *unit, size_t *len)
{
	size_t n = strlen(unit);
	if (strncmp(q, unit, n))
		return 0;
	const char *e = q + n;
	if (*e == 's' || *e == 'x')
		e++;
	else if (e[0] == 'e' && e[1] == 's')
		e += 2;
	if (is_word_byte((unsigned char)*e))
		return 0;
	*len = (size_t)(e - q);
	return 1;
}

/* 1 when the number at offset i of l is the base of another rate ("5 € les 1000 mots" in
 * "15 € les 1000 mots, relecture 5 € les 1000 mots"): right after a per-count or per-round
 * word that follows an amount (a digit, a currency or a tax marker before it), so it counts
 * nothing. */
static int rate_base_at(const char *l, size_t i)
{
	size_t from = i > 32 ? i - 32 : 0;
	for (size_t x = from; x < i; x++) {
		if (x > 0 && is_word_byte((unsigned char)l[x - 1]))
			continue;
		const struct mv_phrase *per = vocab_at(MV_PER_COUNT, l + x), *r = vocab_at(MV_PER_ROUND, l + x);
		if (r && (!per || r->n > per->n))
			per = r;
		if (!per || blank_or_break(l + x + per->n) != l + i)
			continue;
		size_t e = x;
		while (e > 0 && (l[e - 1] == ' ' || l[e - 1] == '\t'))
			e--;
		if (e > 0 && isdigit((unsigned char)l[e - 1]))
			return 1;	/* "15 les 1000 mots" after its currency was read */
		size_t b = e;
		while (b > 0 && (is_word_byte((unsigned char)l[b - 1]) || l[b - 1] == '.' ||
				 l[b - 1] == '$'))
			b--;
		const char *code;
		if (b < e && (match_currency(l + b, &code, 0) == e - b ||
			      (vocab_at(MV_TAX, l + b) && vocab_at(MV_TAX, l + b)->n == e - b)))
			return 1;
	}
	return 0;
}

/* The quantity of `unit` stated in l outside the rate [skip_from, skip_to): a count > 1
 * ("12 000 mots", "300 fiches" for a rate per fiche), times the items it measures each ("3
 * vidéos de 10 minutes": 30), or -1; *pace set when the count is a pace ("10 h par
 * semaine"). Hours and days count only as work ("20 heures de travail"): "sous 20 jours" is
 * a delay. */
static double unit_quantity(const char *l, const char *unit, size_t skip_from, size_t skip_to,
			    int *pace)
{
	int timed = !strcmp(unit, "hour") || !strcmp(unit, "day");
	static const char *const fixed[] = { "hour", "day", "week", "month", "word", "page",
		"article", "image", "minute", "total", NULL };
	int generic = 1;
	for (int j = 0; fixed[j] && generic; j++)
		generic = strcmp(unit, fixed[j]) != 0;
	int item = generic && vocab_at(MV_ITEM, unit) && strlen(unit) == vocab_at(MV_ITEM, unit)->n;
	*pace = 0;
	for (size_t i = 0; l[i]; i++) {
		if ((i > 0 && (is_word_byte((unsigned char)l[i - 1]) || l[i - 1] == '.' ||
			       l[i - 1] == ',')) || (i >= skip_from && i < skip_to))
			continue;
		double v;
		int kilo, wv, ws, wn = isdigit((unsigned char)l[i]) ? 0 : number_word_at(l + i, &wv, &ws);
		const char *e = wn && !ws ? l + i + wn : parse_number(l + i, &v, &kilo);
		if (!e)
			continue;	/* "5 entretiens d'une heure": a number in words counts too */
		if (wn)
			v = wv;
		if (rate_base_at(l, i)) {
			i = (size_t)(e - l);	/* "… et 5 € les 1000 mots": another rate's base */
			if (!l[i])
				break;
			continue;
		}
		if (item && !wn && v > 1) {
			/* "200 tee-shirts, 10 € l'unité": the count of any plural noun that counts
			 * no fixed unit */
			const char *q = skip_blanks(e, 2);
			size_t nl = noun_len(q);
			const char *code;
			if (nl > 2 && (q[nl - 1] == 's' || q[nl - 1] == 'x') && !vocab_at(MV_COUNT, q) &&
			    !vocab_at(MV_DURATION, q) && !vocab_at(MV_DURATION_HOURS, q) &&
			    !vocab_at(MV_INSTALMENTS, q) && !match_currency(q, &code, 0) &&
			    !vocab_at(MV_PACE, skip_blanks(q + nl, 2)))
				return v;
		}
		const char *q = skip_blanks(e, 2);
		int hyphen = *q == '-' && q == e;
		if (hyphen)
			q++;	/* "three 10-minute videos" */
		const struct mv_phrase *noun = generic ? NULL : vocab_at(MV_COUNT, q);
		size_t gl = 0;
		int gen = generic && unit_noun_at(q, unit, &gl);
		/* hours of audio or video for a rate per minute: 60 minutes each */
		int hours = noun && !strcmp(unit, "minute") && !strcmp(noun->val, "hour");
		if (gen || (noun && (hours || !strcmp(noun->val, unit)))) {
			const char *after = skip_blanks(q + (gen ? gl : noun->n), 2);
			double items = items_before(l, i, hyphen);
			const struct mv_phrase *pc = vocab_at(MV_PACE, after);
			double listed = vocab_at(MV_EACH, after) ? items_listed_before(l, i) : 1;
			if (listed > 1 && v > 0)
				return v * listed;	/* "4 videos, 5 minutes each": 20 */
			if (pc || vocab_at(MV_EACH, after))
				*pace = 1;	/* "1,500 words each": a count per item, no total */
			else if ((v > 1 || hours || items > 1) && (!timed || vocab_at(MV_WORK, after)))
				return (hours ? v * 60 : v) * items;
		}
		i = (size_t)(e - l);
		if (!l[i])
			break;
	}
	return -1;
}

/* A per-unit rate (word, page, hour...) m read at ms: in a post, with its quantity stated, the
 * total (unit total); else the rate kept. Says which in why. */
static void rate_explain(const char *l, const struct mention *ms, struct money *m, int total,
			 char *why, size_t why_len)
{
	if (!m->unit[0] || !strcmp(m->unit, "total") || !strcmp(m->unit, "month"))
		return;
	if (ms->per_n > 0) {
		size_t pw = strlen(why);
		snprintf(why + pw, why_len - pw, "; %.10g per %.10g %ss: %.10g per %s",
			 m->max * ms->per_n, ms->per_n, m->unit, m->max, m->unit);
	}
	int pace;
	double q = unit_quantity(l, m->unit, ms->start, ms->end, &pace);
	size_t w = strlen(why);
	int countable = strcmp(m->unit, "hour") && strcmp(m->unit, "day") && strcmp(m->unit, "week");
	if (q > 0 && total && countable) {
		snprintf(why + w, why_len - w, "; a rate per %s of %.10g times the %.10g stated: "
			 "a total of %.10g", m->unit, m->max, q, m->max * q);
		m->max = (double)(long long)(m->max * q * 100 + 0.5) / 100;
		if (m->min >= 0)
			m->min = (double)(long long)(m->min * q * 100 + 0.5) / 100;
		snprintf(m->unit, sizeof m->unit, "total");
	} else if (q > 0) {
		snprintf(why + w, why_len - w, "; a rate per %s (%.10g stated: %.10g in all), kept "
			 "as a rate", m->unit, q, m->max * q);
	} else {
		snprintf(why + w, why_len - w, "; a rate per %s, not a total: %s", m->unit,
			 pace ? "the quantity stated is a pace" : "no quantity stated");
	}
}

/* The board's currency for an amount written without one, said in why. */
static void currency_explain(struct money *m, char *why, size_t why_len)
{
	if (m->currency[0])
		return;
	snprintf(m->currency, sizeof m->currency, "%s", extract_board_currency());
	size_t w = strlen(why);
	snprintf(why + w, why_len - w, "; no currency written: the board's (%s)", m->currency);
}

int extract_budget(const char *text, struct money *out, char *why, size_t why_len)
{
	char *l = money_lower(text);
	int rc = extract_budget_lower(l, out, why, why_len);
	free(l);
	return rc;
}

/* A bare range or a number with a k ("3-4k", "entre 3000 et 4000") that a budget cue
 * introduces, not two years ("2025-2026"). */
static int bare_budget(const char *l, const struct mention *m)
{
	if (m->has_currency || (!m->range && !m->kilo))
		return 0;
	if (!m->kilo && m->m.min >= 1900 && m->m.max <= 2100)
		return 0;
	return cue_before(l, m->start, MV_BUDGET, 40) != NULL;
}

/* "Budget : 1500", a bare number right after the word budget: its index in ms, or -1. */
static int budget_after_word(const char *l, struct mention *ms, int *n)
{
	for (const char *b = strstr(l, "budget"); b; b = strstr(b + 6, "budget")) {
		const char *q = b + 6;
		while (*q == ' ' || *q == ':' || *q == '\t' || (unsigned char)*q == 0xC2 ||
		       (unsigned char)*q == 0xA0)
			q++;
		if (isdigit((unsigned char)*q) && *n < MAX_MENTIONS &&
		    read_mention(l, (size_t)(q - l), &ms[*n]) && !quantity_word(l + ms[*n].end))
			return (*n)++;
	}
	return -1;
}

int extract_budget_lower(const char *l, struct money *out, char *why, size_t why_len)
{
	struct mention ms[MAX_MENTIONS];
	int n = find_mentions(l, ms, MAX_MENTIONS, 1);
	int pick = -1;
	const char *cue = NULL;
	for (int i = 0; i < n && pick < 0; i++) {
		int money = ms[i].has_currency || ms[i].m.tax[0] || unit_makes_money(ms[i].m.unit);
		if (money && (cue = cue_before(l, ms[i].start, MV_BUDGET, 40)) != NULL)
			pick = i;
	}
	if (pick >= 0) {
		snprintf(why, why_len, "budget word `%s` before the amount", cue);
	}
	for (int i = 0; i < n && pick < 0; i++)
		if (bare_budget(l, &ms[i])) {
			pick = i;
			snprintf(why, why_len, "a budget word before %s without a currency",
				 ms[i].range ? "a range" : "a number with k");
		}
	if (pick < 0 && (pick = budget_after_word(l, ms, &n)) >= 0)
		snprintf(why, why_len, "a number right after the word budget");
	for (int i = 0; i < n && pick < 0; i++)
		if (ms[i].has_currency || ms[i].m.tax[0] || unit_makes_money(ms[i].m.unit)) {
			pick = i;
			snprintf(why, why_len, "no budget word: the first amount");
		}
	if (pick < 0) {
		snprintf(why, why_len, "no amount with a currency, a tax marker or a budget word");
		return 0;
	}
	*out = ms[pick].m;
	rate_name_apply(l, &ms[pick], pick > 0 ? ms[pick - 1].end : 0, out, why, why_len);
	rate_explain(l, &ms[pick], out, 1, why, why_len);
	currency_explain(out, why, why_len);
	if (!out->unit[0])
		snprintf(out->unit, sizeof out->unit, "total");
	int shares[16];
	extract_plan_lower(l, out, shares, 16, why, why_len);
	return 1;
}

/* ---------------------------------------------------------------- refused prices */

/* 1 when a clause ends at l + i: . ! ? ; : or a comma before a blank, a line break, or a
 * clause word of amounts.txt ("mais", "but") starting a word there. */
static int clause_break(const char *l, size_t i)
{
	char c = l[i];
	if (c == '\n' || c == '!' || c == '?' || c == ';')
		return 1;
	if ((c == '.' || c == ',' || c == ':') && (l[i + 1] == ' ' || l[i + 1] == '\n' || !l[i + 1]))
		return 1;
	return (i == 0 || !is_word_byte((unsigned char)l[i - 1])) && vocab_at(MV_CLAUSE, l + i);
}

/* The start of the clause that holds offset at, looking back at most 160 bytes. */
static size_t clause_start(const char *l, size_t at)
{
	size_t from = at > 160 ? at - 160 : 0;
	for (size_t i = at; i > from; i--)
		if (clause_break(l, i - 1)) {
			const struct mv_phrase *w = vocab_at(MV_CLAUSE, l + i - 1);
			return i - 1 + (w && (i < 2 || !is_word_byte((unsigned char)l[i - 2])) ? w->n : 1);
		}
	return from;
}

/* The end of the clause that holds offset at: where the next clause_break is, looking on at
 * most 160 bytes. */
static size_t clause_end(const char *l, size_t at)
{
	size_t i = at;
	while (l[i] && i < at + 160 && !clause_break(l, i))
		i++;
	return i;
}

/* 1 when a refusal word of amounts.txt stands among the three words before the negation at
 * l + ns, not before cs (the part of its own word before "n't" counts: "ca|n't", "wo|n't"). */
static int refusal_before(const char *l, size_t cs, size_t ns)
{
	size_t i = ns;
	if (i > cs && is_word_byte((unsigned char)l[i - 1])) {
		/* "n't" inside its word: the part before it is the negated verb ("ca", "wo") */
		while (i > cs && is_word_byte((unsigned char)l[i - 1]))
			i--;
		const struct money_vocab *mv = vocab();
		for (size_t k = 0; k < mv->n[MV_REFUSAL]; k++)
			if (mv->p[MV_REFUSAL][k].n == ns - i &&
			    !strncmp(l + i, mv->p[MV_REFUSAL][k].w, ns - i))
				return 1;
	}
	for (int words = 0; words < 3 && i > cs; words++) {
		while (i > cs && !is_word_byte((unsigned char)l[i - 1]) && l[i - 1] != '\'')
			i--;
		while (i > cs && (is_word_byte((unsigned char)l[i - 1])))
			i--;
		if (vocab_at(MV_REFUSAL, l + i))
			return 1;
	}
	return 0;
}

/* 1 when the negation at l + ns (n bytes, ending before at) refuses: a refusal word of
 * amounts.txt among the three words before it (refusal_before) or the three after it (before
 * at), or the negation itself a refusal ("cannot", "unable to"); without one, only when an
 * offer word or the amount follows at once ("pas pour 900 €", "not for $500", "not $500 but
 * $650"). */
static int negation_refuses(const char *l, size_t cs, size_t ns, size_t n, size_t at)
{
	if (vocab_at(MV_REFUSAL, l + ns) && vocab_at(MV_REFUSAL, l + ns)->n >= n)
		return 1;
	if (refusal_before(l, cs, ns))
		return 1;
	size_t i = ns + n;
	while (i < at && (l[i] == ' ' || l[i] == '\n'))
		i++;
	if (i == at)
		return 1;	/* "not $500", "pas 900 €" */
	if (i < at && vocab_at(MV_OFFER_NEAR, l + i))
		return 1;
	if (word_at(l + i, "by"))
		return 1;	/* a day refused: "not by April 15" */
	for (int words = 0; words < 3 && i < at; words++) {
		if (vocab_at(MV_REFUSAL, l + i))
			return 1;
		while (i < at && is_word_byte((unsigned char)l[i]))
			i++;
		while (i < at && !is_word_byte((unsigned char)l[i]))
			i++;
	}
	return 0;
}

/* The negation phrase at l + i, a word start or a phrase that may end a word ("n't"), or
 * NULL; an idiom there (`not-negation`) in *idiom instead. */
static const struct mv_phrase *negation_at(const char *l, size_t i,
					   const struct mv_phrase **idiom)
{
	int start = i == 0 || !is_word_byte((unsigned char)l[i - 1]);
	*idiom = start ? vocab_at(MV_NOT_NEGATION, l + i) : NULL;
	if (*idiom)
		return NULL;
	const struct mv_phrase *w = vocab_at(MV_NEGATION, l + i);
	/* a phrase written with an apostrophe first ("n't") may end a word: "can't" */
	return w && (start || w->w[1] == '\'' || (unsigned char)w->w[1] == 0xE2) ? w : NULL;
}

/* The judgement of a price (`too-low`: "trop bas", "too low") at a word start of l in [from,
 * to), or NULL. */
static const char *too_low_in(const char *l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if ((i == 0 || !is_word_byte((unsigned char)l[i - 1])) && vocab_at(MV_TOO_LOW, l + i))
			return vocab_at(MV_TOO_LOW, l + i)->w;
	return NULL;
}

/* The offset of the first phrase of kind k at a word start of l in [from, to), its end in
 * *end; 0 when none (then *end is untouched), else 1. */
static int money_vocab_in(const char *l, enum mv_kind k, size_t from, size_t to, size_t *end)
{
	for (size_t i = from; i < to && l[i]; i++)
		if ((i == 0 || !is_word_byte((unsigned char)l[i - 1])) && vocab_at(k, l + i)) {
			*end = i + vocab_at(k, l + i)->n;
			return 1;
		}
	return 0;
}

/* The negation after an amount, in l from `from` (the amount's end) to ce (its clause's end),
 * that refuses it, or NULL: one that negates doing or taking the work (a refusal word before
 * it, after the amount, or among the words after it, or the negation itself one) and is
 * followed in the clause only by words that give it no other object (`refused-after`: "le",
 * "faire", "pour moi", "à ce prix") or refusal words, with no condition word (`condition`:
 * "si", "if") before it: "pour 900 € je ne peux pas", "$900 I can't do it", "900 € ce n'est
 * pas possible"; not "pour 900 € je ne fais pas le logo", "for $900 I can't start before
 * Monday", "ou 900 € si ce n'est pas possible". */
static const char *refused_after(const char *l, size_t from, size_t ce, size_t *neg_at)
{
	for (size_t i = from; i < ce; i++) {
		const struct mv_phrase *idiom, *w = negation_at(l, i, &idiom);
		if (idiom) {
			i += idiom->n - 1;
			continue;
		}
		if (!w)
			continue;
		int refuses = (vocab_at(MV_REFUSAL, l + i) && vocab_at(MV_REFUSAL, l + i)->n >= w->n) ||
			      refusal_before(l, from, i);
		size_t j = i + w->n;
		int other = 0;
		while (j < ce && !other) {
			if (!is_word_byte((unsigned char)l[j]) && l[j] != '\'') {
				j++;
				continue;
			}
			const struct mv_phrase *r = vocab_at(MV_REFUSAL, l + j);
			const struct mv_phrase *t = vocab_at(MV_REFUSED_AFTER, l + j);
			if (r && (!t || r->n >= t->n)) {
				refuses = 1;
				j += r->n;
			} else if (t) {
				j += t->n;
			} else {
				other = 1;
			}
		}
		size_t cend;
		if (refuses && !other && !money_vocab_in(l, MV_CONDITION, from, i, &cend)) {
			*neg_at = i;
			return w->w;
		}
		i += w->n - 1;
	}
	return NULL;
}

/* The refusal word of the part of l that starts after the clause break at ce, when that part
 * refuses by itself the amount ending right before ce (no offer word names it: the caller
 * checks): a refusal in its first four words whose negation has no other object ("pour 900 €,
 * je ne peux pas", "$900? I can't do it for that"), or a judgement of the price ("900 € ?
 * C'est trop bas."), after a bare no (amounts.txt no: "900 € ? Non, je ne peux pas"); a bare
 * no alone refuses an amount put as a question ("900 € ? Non."). NULL when none. */
static const char *next_part_refuses(const char *l, size_t ce)
{
	size_t ps = ce + 1;
	while (l[ps] && strchr("?!. \t", l[ps]))
		ps++;	/* "$900?! No way." */
	size_t pe = clause_end(l, ps), na;
	const struct mv_phrase *no = vocab_at(MV_NO, l + ps);
	if (no && ps + no->n >= pe) {
		if (l[ce] == '?')
			return no->w;	/* "900 € ? Non." */
		if (!l[pe])
			return NULL;
		ps = pe + 1;	/* "900 €. Non, je ne peux pas" */
		pe = clause_end(l, ps);
	}
	size_t lend = ps;
	const char *w = refused_after(l, ps, pe, &na);
	if (!w && money_vocab_in(l, MV_TOO_LOW, ps, pe, &lend)) {
		w = too_low_in(l, ps, pe);
		na = lend;
	}
	size_t words = 0;
	for (size_t i = ps; w && i < na; i++)
		if (isdigit((unsigned char)l[i]) ||
		    (is_word_byte((unsigned char)l[i]) && !is_word_byte((unsigned char)l[i - 1]) &&
		     l[i - 1] != '\'' && ++words > 4))
			w = NULL;	/* in the part's first words, no amount of its own before */
	return w;
}

/* The words that refuse the amount at offsets [at, end) of l, or NULL when the amount is
 * offered; *after set when they follow it. The rule: a judgement of the price (`too-low`:
 * "trop bas", "too low") anywhere in the amount's clause refuses it; so does a negation word
 * of amounts.txt (`negation`: "pas", "not", "n't", "cannot") in the clause, before it, that
 * negates doing or taking the work (`refusal`, see negation_refuses: "je ne peux pas le faire
 * pour 900 €", "I won't do it for $500") unless a limit word (`limit`: "moins de", "below",
 * "less than") stands between the negation and the amount: refusing to go lower offers that
 * amount ("pas moins de 900 €", "I can't go below $900"); or one after it whose refusal has
 * no other object (refused_after: "pour 900 € je ne peux pas"), in its clause or, when the
 * amount ends its clause and no offer word names it, by the part after it (next_part_refuses:
 * "pour 900 €, je ne peux pas", "900 € ? Non, je ne peux pas", "$900? I can't do it for
 * that"). Idioms (`not-negation`: "pas
 * de souci", "no problem") negate nothing. end SIZE_MAX: the end is not known, the words
 * before only. */
static const char *amount_refused(const char *l, size_t at, size_t end, int *after)
{
	size_t cs = clause_start(l, at);
	const struct mv_phrase *neg = NULL;
	size_t neg_at = 0;
	*after = 0;
	size_t ce = end == SIZE_MAX ? at : clause_end(l, end);
	const char *low = too_low_in(l, cs, at);
	if (!low && end != SIZE_MAX && (low = too_low_in(l, end, ce)) != NULL)
		*after = 1;
	if (low)
		return low;
	for (size_t i = cs; i < at; i++) {
		const struct mv_phrase *idiom, *w = negation_at(l, i, &idiom);
		if (idiom) {
			i += idiom->n - 1;
			continue;
		}
		if (w) {
			if (negation_refuses(l, cs, i, w->n, at)) {
				neg = w;
				neg_at = i + w->n;
			}
			i += w->n - 1;
		}
	}
	for (size_t i = neg_at; neg && i < at; i++)
		if ((i == 0 || !is_word_byte((unsigned char)l[i - 1])) && vocab_at(MV_LIMIT, l + i))
			neg = NULL;
	if (neg)
		return neg->w;
	if (end == SIZE_MAX)
		return NULL;
	size_t na;
	const char *w = refused_after(l, end, ce, &na);
	size_t k = end;
	while (k < ce && (l[k] == ' ' || l[k] == '\n'))
		k++;
	if (k < ce && (vocab_at(MV_TAX, l + k) || vocab_at(MV_TAX_FAR, l + k)))
		k += (vocab_at(MV_TAX, l + k) ? vocab_at(MV_TAX, l + k) : vocab_at(MV_TAX_FAR, l + k))->n;
	/* a question may hold a few words after its amount ("900 € pour tout ça ?") */
	for (int words = 0; l[ce] == '?' && k < ce && words < 4; words++) {
		while (k < ce && (is_word_byte((unsigned char)l[k]) || l[k] == '\''))
			k++;
		while (k < ce && !is_word_byte((unsigned char)l[k]))
			k++;
	}
	if (!w && l[ce] && strchr(",?.!", l[ce]) && k >= ce && !cue_before(l, at, MV_OFFER, 60))
		w = next_part_refuses(l, ce);
	*after = w != NULL;
	return w;
}

/* The agreement (amounts.txt agree: "me convient", "works for me", "d'accord pour") that
 * accepts the project's budget quoted at ms, in its clause, before or after it: the quoted
 * budget is then the offer ("votre budget de 1 500 € me convient", "OK with your budget of
 * $1,500"); NULL when none. A refused one never gets here (amount_refused comes first). */
static const char *budget_agreed(const char *l, const struct mention *ms)
{
	size_t cs = clause_start(l, ms->start), ce = clause_end(l, ms->end);
	for (size_t i = cs; i < ce; i++) {
		if (i == ms->start)
			i = ms->end;
		const struct mv_phrase *ph = (i == 0 || !is_word_byte((unsigned char)l[i - 1]))
					     ? vocab_at(MV_AGREE, l + i) : NULL;
		if (ph && (i >= ms->end || i + ph->n <= ms->start))
			return ph->w;
	}
	return NULL;
}

/* The offer read at ms into out: a rate kept as a rate, the board's currency when none is
 * written, a range's upper bound; each said in why. */
static void bid_settle(const char *l, const struct mention *ms, size_t after, struct money *out,
		       char *why, size_t why_len)
{
	*out = ms->m;
	rate_name_apply(l, ms, after, out, why, why_len);
	rate_explain(l, ms, out, 0, why, why_len);
	currency_explain(out, why, why_len);
	if (ms->range) {
		/* a freelancer's range: the bid is its upper bound, said in why */
		size_t w = strlen(why);
		snprintf(why + w, why_len - w, " (a range: its upper bound)");
		out->min = -1;
	}
	if (!out->unit[0])
		snprintf(out->unit, sizeof out->unit, "total");
}

int extract_bid_amount(const char *text, struct money *out, char *why, size_t why_len)
{
	char *l = money_lower(text);
	struct mention ms[MAX_MENTIONS];
	int n = find_mentions(l, ms, MAX_MENTIONS, 1);
	int pick = -1, strength = 0, cue_agrees = 0;
	const char *cue = NULL;
	int candidates = 0, first = -1;
	const char *refused = NULL;
	int refused_at = 0, refused_after_it = 0;
	for (int i = 0; i < n; i++) {
		int after;
		const char *neg = amount_refused(l, ms[i].start, ms[i].end, &after);
		if (neg) {
			if (!refused) {
				refused = neg;
				refused_at = i;
				refused_after_it = after;
			}
			continue;	/* "je ne peux pas le faire pour 900 €": no offer */
		}
		const char *strong = cue_before(l, ms[i].start, MV_OFFER, 60);
		/* a rate named before its amount is an offer as strong as "my rate": "TJM 100 €,
		 * soit 1 000 €" is a day rate the floor must see, not a total of 1 000 */
		const struct mv_phrase *named = ms[i].m.unit[0] ? NULL
			: rate_before(l, ms[i].start, i > 0 ? ms[i - 1].end : 0);
		if (named)
			strong = named->w;
		const char *weak = cue_before(l, ms[i].start, MV_OFFER_NEAR, 12);
		const char *quoted = cue_before(l, ms[i].start, MV_QUOTED, 40);
		/* the budget quoted from the project is not an offer, unless an offer word is
		 * closer to the amount */
		const char *agreed = quoted ? budget_agreed(l, &ms[i]) : NULL;
		if (agreed)
			strong = agreed;	/* "votre budget de 1 500 € me convient" */
		if (quoted && !strong && !weak)
			continue;
		if (quoted && strong && !agreed) {
			const char *qp = strstr(l + (ms[i].start > 60 ? ms[i].start - 60 : 0), quoted);
			const char *sp = strstr(l + (ms[i].start > 60 ? ms[i].start - 60 : 0), strong);
			if (qp && sp && qp > sp)
				continue;
		}
		/* a bare number needs an offer word just before it; a number with k or a range
		 * of them ("pour 3-4k") an offer word before it, weak or strong */
		if (!ms[i].has_currency && !ms[i].m.tax[0] &&
		    (!(ms[i].kilo && (strong || weak)) &&
		     (!cue_before(l, ms[i].start, MV_OFFER, 16) ||
		      cue_before(l, ms[i].start, MV_REFERENCE, 14))))
			continue;
		candidates++;
		if (first < 0)
			first = i;
		/* at equal cue strength an amount with its currency wins */
		int s = (strong ? 4 : weak ? 2 : 0) + (ms[i].has_currency ? 1 : 0);
		if (s > strength && (strong || weak)) {
			strength = s;
			pick = i;
			cue = strong ? strong : weak;
			cue_agrees = agreed != NULL;
		}
	}
	int rc = 0;
	if (pick < 0 && candidates == 1) {
		pick = first;
		snprintf(why, why_len, "the only amount in the new text");
	} else if (pick < 0 && candidates > 1) {
		pick = first;
		snprintf(why, why_len, "several amounts and no offer word: the first one");
	} else if (pick >= 0 && cue_agrees) {
		snprintf(why, why_len, "the project's budget quoted, accepted by `%s`", cue);
	} else if (pick >= 0) {
		snprintf(why, why_len, "offer word `%s` before the amount", cue);
	} else if (refused) {
		int len = (int)(ms[refused_at].end - ms[refused_at].start);
		snprintf(why, why_len, "no amount offered: `%s` %s `%.*s` refuses it%s", refused,
			 refused_after_it ? "after" : "before", len > 40 ? 40 : len,
			 text + ms[refused_at].start, refused_after_it ? "" : " in the same clause");
	} else {
		snprintf(why, why_len, "no amount with a currency, a tax marker or an offer word "
			 "in the new text");
	}
	if (pick >= 0) {
		bid_settle(l, &ms[pick], pick > 0 ? ms[pick - 1].end : 0, out, why, why_len);
		rc = 1;
	} else if (refused) {
		/* no offer: the refused price into out, for the answer that names it */
		bid_settle(l, &ms[refused_at], refused_at > 0 ? ms[refused_at - 1].end : 0, out,
			   why, why_len);
		rc = -1;
	}
	free(l);
	return rc;
}

/* ---------------------------------------------------------------- durations */

/* A number word of a delay at p (amounts.txt delay-number: "deux", "a", "quelques"): its
 * length and value; 0 when none. */
static int number_word(const char *p, int *value)
{
	if (!vocab()->delay_first[(unsigned char)*p])
		return 0;	/* most positions are rejected by one test */
	const struct mv_phrase *ph = vocab_at(MV_DELAY_NUMBER, p);
	if (!ph || is_word_byte((unsigned char)p[ph->n]))
		return 0;
	*value = ph->num;
	return (int)ph->n;
}

/* Reads "N unit" at p; returns the length read and the number of days, or 0. */
static int read_duration(const char *p, int *days, int *working, int *hours)
{
	const char *q = p;
	int v = 0, n = 0;
	while (isdigit((unsigned char)*q) && n < 4) {
		v = v * 10 + (*q - '0');
		q++;
		n++;
	}
	if (n == 0) {
		int k = number_word(q, &v);
		if (!k)
			return 0;
		q += k;
	} else if (isdigit((unsigned char)*q) || *q == ',' || *q == '.' || *q == '/') {
		return 0;
	}
	const char *u = skip_blanks(q, 2);
	/* the longest unit of amounts.txt duration, duration-working, duration-hours */
	static const enum mv_kind kinds[] = { MV_DURATION, MV_DURATION_WORKING, MV_DURATION_HOURS };
	const struct mv_phrase *unit = NULL;
	enum mv_kind kind = MV_DURATION;
	for (int i = 0; i < 3; i++) {
		const struct mv_phrase *ph = vocab_at(kinds[i], u);
		if (ph && is_word_byte((unsigned char)u[ph->n]))
			ph = NULL;
		if (ph && (!unit || ph->n > unit->n)) {
			unit = ph;
			kind = kinds[i];
		}
	}
	if (!unit)
		return 0;
	if (n == 0 && unit->n == 1)
		return 0;	/* "a d": not a duration */
	*hours = kind == MV_DURATION_HOURS;
	if (*hours) {
		if (v < 1 || v > 2000)
			return 0;
		*days = (v + 23) / 24;
	} else {
		*days = v * unit->num;
	}
	*working = kind == MV_DURATION_WORKING;
	if (*working)
		*days = (*days * 7 + 4) / 5;
	return (int)(u + unit->n - p);
}

const char *money_refused_at(const char *l, size_t at)
{
	int after;
	return amount_refused(l, at, SIZE_MAX, &after);
}

size_t money_clause_start(const char *l, size_t at)
{
	return clause_start(l, at);
}

size_t money_clause_end(const char *l, size_t at)
{
	return clause_end(l, at);
}

int money_limit_in(const char *l, size_t from, size_t to)
{
	for (size_t i = from; i < to && l[i]; i++)
		if ((i == 0 || !is_word_byte((unsigned char)l[i - 1])) && vocab_at(MV_LIMIT, l + i))
			return 1;
	return 0;
}

size_t money_followup_at(const char *p)
{
	const struct mv_phrase *w = vocab_at(MV_FOLLOWUP, p);
	return w ? w->n : 0;
}

/* The nearest follow-up request (amounts.txt followup) that ends within window bytes before
 * offset at, in the same sentence: 1 and *end past it, or 0. */
static int followup_before(const char *l, size_t at, size_t window, size_t *end)
{
	size_t from = at > window ? at - window : 0;
	*end = 0;
	for (size_t k = from; k < at; k++) {
		if (k > 0 && is_word_byte((unsigned char)l[k - 1]))
			continue;
		const struct mv_phrase *w = vocab_at(MV_FOLLOWUP, l + k);
		if (!w || k + w->n > at)
			continue;
		int broken = 0;
		for (size_t q = k + w->n; q < at && !broken; q++)
			broken = (l[q] == '.' && (l[q + 1] == ' ' || l[q + 1] == '\n')) ||
				 (l[q] == '\n' && q + 1 < at && l[q + 1] == '\n');
		if (!broken && k + w->n > *end)
			*end = k + w->n;
	}
	return *end > 0;
}

/* 1 when the delay of k bytes at offset i of l is an effort: a `work` phrase right after it
 * ("20 jours de travail", "20 days of work") or an `effort` phrase right before it ("mission
 * de 20 jours"). */
static int effort_at(const char *l, size_t i, int k)
{
	const char *after = skip_blanks(l + i + k, 2);
	if (vocab_at(MV_WORK, after))
		return 1;
	const struct money_vocab *mv = vocab();
	for (size_t j = 0; j < mv->n[MV_EFFORT]; j++) {
		size_t n = mv->p[MV_EFFORT][j].n, b = i;
		while (b > 0 && l[b - 1] == ' ')
			b--;
		if (b >= n && !strncmp(l + b - n, mv->p[MV_EFFORT][j].w, n) &&
		    (b == n || !is_word_byte((unsigned char)l[b - n - 1])))
			return 1;
	}
	return 0;
}

/* 1 when a delivery word other than a preposition (amounts.txt delay-cue, not
 * delay-preposition) is between from and at, in the same sentence as at ("Rappel :
 * livraison en 10 jours" is a delivery time, not a follow-up). */
static int delivery_word_between(const char *l, size_t from, size_t at)
{
	for (size_t i = from; i < at; i++) {
		if (i > 0 && is_word_byte((unsigned char)l[i - 1]))
			continue;
		const struct mv_phrase *ph = vocab_at(MV_DELAY_CUE, l + i);
		if (ph && i + ph->n <= at && !sentence_broken(l, i + ph->n, at))
			return 1;
	}
	return 0;
}

/* 1 when the word before offset i of l (past blanks) ends an amount: a currency word or sign
 * ("20 € a month", "20 dollars a week") or a number written after its sign ("$20 a month");
 * or a count of amounts.txt after a number ("20 hours a week"): then what follows is a rate
 * or a pace, no delay. */
static int after_amount(const char *l, size_t i)
{
	size_t e = i;
	while (e > 0 && (l[e - 1] == ' ' || l[e - 1] == '\t'))
		e--;
	if (e == i || e == 0)
		return 0;
	size_t b = e;
	while (b > 0 && e - b < 16 && l[b - 1] != ' ' && l[b - 1] != '\t' && l[b - 1] != '\n')
		b--;
	const char *code = NULL;
	size_t cl = match_currency(l + b, &code, 0);
	if (cl && b + cl == e)
		return 1;	/* "€", "euros", "usd" */
	if (cl && isdigit((unsigned char)l[b + cl]) && isdigit((unsigned char)l[e - 1]))
		return 1;
	/* a count before it ("20 hours a week", "3 articles a month"): a pace */
	const struct mv_phrase *noun = vocab_at(MV_COUNT, l + b);
	size_t nb = b;
	while (nb > 0 && (l[nb - 1] == ' ' || l[nb - 1] == '\t'))
		nb--;
	return noun && b + noun->n == e && nb < b && nb > 0 && isdigit((unsigned char)l[nb - 1]);
}

int extract_duration_days(const char *text, int *followup_days)
{
	char *l = money_lower(text);
	int rc = extract_duration_days_lower(l, followup_days);
	free(l);
	return rc;
}

int extract_duration_days_lower(const char *l, int *followup_days)
{
	int effort;
	return extract_duration_read_lower(l, followup_days, &effort);
}

int extract_duration_read_lower(const char *l, int *followup_days, int *effort)
{
	size_t len = strlen(l);
	int best = -1, best_cued = 0, best_effort = 0;
	if (followup_days)
		*followup_days = -1;
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && is_word_byte((unsigned char)l[i - 1]))
			continue;
		if (!isdigit((unsigned char)l[i])) {
			/* a number word: only when the next word looks like a time unit */
			const struct money_vocab *mv = vocab();
			if (!mv->delay_first[(unsigned char)l[i]])
				continue;
			size_t k = i;
			while (k < len && is_word_byte((unsigned char)l[k]))
				k++;
			if (k >= len || l[k] != ' ' || !mv->unit_first[(unsigned char)l[k + 1]])
				continue;
		}
		int days, working, hours;
		int k = read_duration(l + i, &days, &working, &hours);
		if (!k || days <= 0 || days > 3650)
			continue;
		if (after_amount(l, i)) {
			i += (size_t)k - 1;
			continue;	/* "$20 a month", "20 hours a week": a rate, no delay */
		}
		/* "remind the client in a week", "relancer le client dans une semaine"; a delivery
		 * cue nearer the number wins ("Rappel : livraison en 10 jours") */
		size_t fend = 0;
		if (followup_days && followup_before(l, i, 32, &fend) &&
		    !delivery_word_between(l, fend, i)) {
			*followup_days = days;
			i += (size_t)k - 1;
			continue;
		}
		int cued = cue_before(l, i, MV_DELAY_CUE, 30) || cue_before(l, i, MV_DELAY_PREP, 30);
		if (hours && !cued) {
			i += (size_t)k - 1;
			continue;	/* "à 14h" is a time of day, "en 48h" a delay */
		}
		/* a delivery delay beats an effort ("mission de 20 jours, livraison sous 30
		 * jours"); at equal standing a cued one wins, else the first */
		int eff = effort_at(l, i, k);
		if (best < 0 || (best_effort && !eff) || (eff == best_effort && cued && !best_cued)) {
			best = days;
			best_cued = cued;
			best_effort = eff;
		}
		i += (size_t)k - 1;
	}
	*effort = best >= 0 && best_effort;
	return best;
}

/* ---------------------------------------------------------------- milestones */

/* The share (in 1200ths) a payment plan names at p ("30 %", "un tiers"), its length in
 * *len; 0 when none. */
static int plan_share_at(const char *p, size_t *len)
{
	const struct mv_phrase *share = vocab_at(MV_SHARE, p);
	if (share) {
		*len = share->n;
		return share->num;
	}
	if (!isdigit((unsigned char)*p))
		return 0;
	int v = 0, d = 0;
	size_t j = 0;
	while (isdigit((unsigned char)p[j]) && d < 3)
		v = v * 10 + (p[j++] - '0'), d++;
	*len = j;
	const char *q = skip_blanks(p + j, 2);
	if ((*q == '%' || !strncmp(q, "pour cent", 9) || !strncmp(q, "percent", 7)) && v > 0 &&
	    v <= 100)
		return v * 12;
	return 0;
}

/* The shares of one paragraph in 1200ths, in order, the rest ("solde") completing them; the
 * count. */
static int plan_shares(const char *para, int *vals, int cap)
{
	int k = 0, sum = 0;
	size_t last = 0, first = 0, e;
	for (size_t i = 0; para[i] && k < cap; i++) {
		if (i > 0 && (is_word_byte((unsigned char)para[i - 1]) || para[i - 1] == '.' ||
			      para[i - 1] == ','))
			continue;
		size_t n = 0;
		int share = plan_share_at(para + i, &n);
		if (share && (money_vocab_in(para, MV_NOT_SHARE, i > 20 ? i - 20 : 0, i, &e) ||
			      money_vocab_in(para, MV_NOT_SHARE, i + n, i + n + 12, &e)))
			share = 0;	/* "une remise de 10 %", "20 % de TVA": no payment */
		if (share) {
			if (!k)
				first = i;
			vals[k++] = share;
			sum += share;
			last = i + n;
		}
		if (n)
			i += n - 1;
	}
	if (k >= 1 && sum < 1200 && k < cap && vocab_in(MV_REST, para + last, 0)) {
		vals[k++] = 1200 - sum;
		sum = 1200;
	}
	/* one share paid up front ("la moitié à la commande", "30 % d'acompte", "un acompte de
	 * 30 %"): the balance is due at the end */
	if (k == 1 && sum < 1200 && (vocab_in(MV_UPFRONT, para + last, 24) ||
				     money_vocab_in(para, MV_UPFRONT, first > 24 ? first - 24 : 0,
						    first, &e))) {
		vals[k++] = 1200 - sum;
		sum = 1200;
	}
	return sum == 1200 ? k : 0;
}

int extract_milestones(const char *text, int *out, int max)
{
	char *l = money_lower(text);
	int best = 0;
	/* each paragraph (or line run) is a candidate plan */
	const char *p = l;
	while (*p && !best) {
		const char *end = strstr(p, "\n\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *para = xstrndup(p, n);
		int plan = vocab_in(MV_PLAN, para, 0) != NULL;
		int vals[16];
		int k = plan ? plan_shares(para, vals, 16) : 0;
		if (k >= 2 && k <= max) {
			/* whole percentages summing to 100: the last share takes the rounding */
			int sum = 0;
			for (int i = 0; i < k; i++) {
				out[i] = i + 1 < k ? (vals[i] + 6) / 12 : 100 - sum;
				sum += out[i];
			}
			best = k;
		}
		free(para);
		if (!end)
			break;
		p = end + 2;
	}
	free(l);
	return best;
}

/* The whole percentages of parts[0..k) of total, the last taking the rounding, into out. */
static int plan_percentages(const double *parts, int k, double total, int *out, int max)
{
	if (k < 2 || k > max || total <= 0)
		return 0;
	int sum = 0;
	for (int i = 0; i < k; i++) {
		out[i] = i + 1 < k ? (int)(parts[i] * 100 / total + 0.5) : 100 - sum;
		if (out[i] <= 0)
			return 0;
		sum += out[i];
	}
	return k;
}

/* 1 when the bytes of l from `from` to `to` (a plan word's end, an amount's start) tie them:
 * blanks and at most one of "de", "d'", "of", "du", ":", "(". */
static int tied_before(const char *l, size_t from, size_t to)
{
	static const char *const ties[] = { "de", "d'", "d’", "of", "du", ":", "(", NULL };
	const char *p = skip_blanks(l + from, 4);
	for (int i = 0; ties[i] && p < l + to; i++) {
		size_t n = strlen(ties[i]);
		if (!strncmp(p, ties[i], n) && (!is_word_byte((unsigned char)ties[i][n - 1]) ||
						 !is_word_byte((unsigned char)p[n]))) {
			p = skip_blanks(p + n, 4);
			break;
		}
	}
	return p >= l + to;
}

/* 1 when the amount ms[i] of l is an instalment: a phrase of amounts.txt plan within 24 bytes
 * before it or 30 after it, in its clause, nearer to it than to any other amount of that
 * clause in ms[0..n) ("acompte de 500 €", "500 € à la commande", "puis 1 000 € à la livraison", "$500 deposit",
 * "$1,000 on delivery": a word serves one amount only), not refused. */
static int instalment_at(const char *l, const struct mention *ms, int n, int i)
{
	size_t cs = clause_start(l, ms[i].start), ce = clause_end(l, ms[i].end);
	size_t from = ms[i].start > 24 ? ms[i].start - 24 : 0, to = ms[i].end + 30;
	if (from < cs)
		from = cs;
	if (to > ce)
		to = ce;
	int after, found = 0;
	for (size_t x = from; x < to && l[x] && !found; x++) {
		if ((x >= ms[i].start && x < ms[i].end) || (x > 0 && is_word_byte((unsigned char)l[x - 1])))
			continue;
		const struct mv_phrase *ph = vocab_at(MV_PLAN, l + x);
		if (!ph)
			continue;
		size_t xe = x + ph->n, best = SIZE_MAX;
		int near = -1;
		for (int j = 0; j < n; j++) {
			if (j != i && (clause_start(l, ms[j].start) > x || clause_end(l, ms[j].end) < xe))
				continue;	/* another clause's amount: the word is not its */
			/* a word before an amount is its own only when tied to it ("acompte de
			 * 500 €", "a deposit of $500", "acompte : 500 €"); else it follows the
			 * amount before it ("500 € à la signature et 500 € ...") */
			size_t dist = xe <= ms[j].start ? (tied_before(l, xe, ms[j].start)
							   ? ms[j].start - xe : SIZE_MAX / 2 + ms[j].start - xe)
				      : x >= ms[j].end ? x - ms[j].end : SIZE_MAX;
			if (dist < best) {
				best = dist;
				near = j;
			}
		}
		found = near == i;
	}
	return found && !amount_refused(l, ms[i].start, ms[i].end, &after);
}

/* 1 when the amount ms[i] of l is the value of a line labelled with a payment-plan word: the
 * text of its line before it, or of the line above when the amount starts its line, ends with
 * a colon or a dash, is at most 60 bytes, holds a phrase of amounts.txt plan, no not-share
 * word and no other amount of ms[0..n) ("Acompte : 500 €", "Solde à la livraison : 1 000 €",
 * "- Deposit: $500", "Paiement à la commande :\n500 €"); "Frais de livraison : 50 €" is a
 * fee, no instalment. */
static int plan_label_at(const char *l, const struct mention *ms, int n, int i)
{
	size_t ls = ms[i].start, e;
	while (ls > 0 && l[ls - 1] != '\n')
		ls--;
	e = ms[i].start;
	while (e > ls && (l[e - 1] == ' ' || l[e - 1] == '\t'))
		e--;
	size_t from = ls;
	if (e == ls) {
		/* the amount starts its line: the label is the line above */
		if (ls < 2)
			return 0;
		e = ls - 1;
		if (e > 0 && l[e - 1] == '\r')
			e--;
		from = e;
		while (from > 0 && l[from - 1] != '\n')
			from--;
		while (e > from && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r'))
			e--;
	}
	if (e > from && (l[e - 1] == ':' || l[e - 1] == '-'))
		e--;
	else if (e >= from + 3 && (!strncmp(l + e - 3, "–", 3) || !strncmp(l + e - 3, "—", 3)))
		e -= 3;
	else
		return 0;
	if (e <= from || e - from > 60)
		return 0;
	for (int j = 0; j < n; j++)
		if (j != i && ms[j].start < e && ms[j].end > from)
			return 0;
	int plan = 0;
	for (size_t x = from; x < e; x++) {
		if (x > 0 && is_word_byte((unsigned char)l[x - 1]))
			continue;
		const struct mv_phrase *ph = vocab_at(MV_PLAN, l + x);
		if (ph) {
			plan = 1;
			x += ph->n - 1;	/* "remise des fichiers" is a plan word, no discount */
		} else if (vocab_at(MV_NOT_SHARE, l + x)) {
			return 0;
		}
	}
	return plan;
}

/* A count of instalments in l ("payable en trois fois", "in 3 instalments", "en 4
 * versements de 300 €"): N from 2 to 12 written before a phrase of amounts.txt instalments,
 * after "en", "in", "over", "sur" or before "de"/"of" and an amount; 0 when none. *each set
 * to the offset right after "de"/"of" (where the amount of one instalment starts), else
 * SIZE_MAX. */
static int instalment_count(const char *l, size_t *each)
{
	*each = SIZE_MAX;
	for (size_t i = 1; l[0] && l[i]; i++) {	/* an empty text has no l[1] */
		if (is_word_byte((unsigned char)l[i - 1]))
			continue;
		const struct mv_phrase *w = vocab_at(MV_INSTALMENTS, l + i);
		if (!w)
			continue;
		int nb = number_ending_at(l, i);
		if (nb < 2 || nb > 12)
			continue;
		size_t b = i;
		while (b > 0 && l[b - 1] == ' ')
			b--;
		while (b > 0 && is_word_byte((unsigned char)l[b - 1]))
			b--;	/* the number */
		while (b > 0 && l[b - 1] == ' ')
			b--;
		static const char *const preps[] = { "en", "in", "over", "sur", NULL };
		int prep = 0;
		for (int j = 0; preps[j] && !prep; j++) {
			size_t n = strlen(preps[j]);
			prep = b >= n && !strncmp(l + b - n, preps[j], n) &&
			       (b == n || !is_word_byte((unsigned char)l[b - n - 1]));
		}
		const char *a = skip_blanks(l + i + w->n, 2);
		int of = word_at(a, "de") ? 2 : word_at(a, "of") ? 2 : 0;
		if (!prep && !of)
			continue;
		if (of)
			*each = (size_t)(skip_blanks(a + of, 2) - l);
		return nb;
	}
	return 0;
}

int extract_installments_lower(const char *l)
{
	size_t each;
	return instalment_count(l, &each);
}

int extract_plan_lower(const char *l, struct money *m, int *out, int max, char *why,
		       size_t why_len)
{
	struct mention ms[MAX_MENTIONS];
	int n = find_mentions(l, ms, MAX_MENTIONS, 0), k = 0, self = -1, shares = 0;
	double parts[16], sum = 0;
	size_t w = strlen(why);
	int labelled = 0, after;
	for (int i = 0; i < n && k < 16; i++) {
		int lump = !ms[i].m.unit[0] || !strcmp(ms[i].m.unit, "total");
		if (!ms[i].has_currency || ms[i].range || !lump ||
		    strcmp(ms[i].m.currency, m->currency))
			continue;
		int label = plan_label_at(l, ms, n, i) &&
			    !amount_refused(l, ms[i].start, ms[i].end, &after);
		if (!label && !instalment_at(l, ms, n, i))
			continue;
		/* a plan is written in one sentence, or as lines labelled one by one */
		if (k && sentence_broken(l, ms[i - 1].end, ms[i].start) && self < 0 &&
		    !(label && labelled))
			k = 0, sum = 0;
		labelled = label;
		if (ms[i].m.max == m->max && self < 0)
			self = k;
		parts[k++] = ms[i].m.max;
		sum += ms[i].m.max;
	}
	int lumped = !m->unit[0] || !strcmp(m->unit, "total");
	if (k >= 2 && self >= 0 && lumped) {
		/* "acompte de 500 € puis 1 000 € à la livraison": the total of the plan */
		snprintf(why + w, why_len - w, "; a payment plan of %d instalments (", k);
		for (int i = 0; i < k; i++) {
			w = strlen(why);
			snprintf(why + w, why_len - w, "%s%.10g", i ? " + " : "", parts[i]);
		}
		m->max = sum;
		m->min = -1;
		shares = plan_percentages(parts, k, sum, out, max);
		w = strlen(why);
		snprintf(why + w, why_len - w, "): a total of %.10g", sum);
	} else if (k >= 2 && lumped && sum == m->max) {
		shares = plan_percentages(parts, k, sum, out, max);
		snprintf(why + w, why_len - w, "; a payment plan of %d instalments adding up to it",
			 k);
	} else if (k == 1 && lumped && self < 0 && parts[0] < m->max) {
		/* "1 500 € : 500 € d'acompte, le solde à la livraison" */
		size_t e;
		const char *last = NULL;
		for (int i = 0; i < n && !last; i++)
			if (ms[i].m.max == parts[0] && money_vocab_in(l, MV_REST, ms[i].end,
								      ms[i].end + 80, &e))
				last = l;
		if (last) {
			double two[2] = { parts[0], m->max - parts[0] };
			shares = plan_percentages(two, 2, m->max, out, max);
			snprintf(why + w, why_len - w, "; %.10g up front, the balance after", parts[0]);
		}
	}
	size_t each;
	int count = shares ? 0 : instalment_count(l, &each);
	if (count) {
		int mine = 0;
		for (int i = 0; i < n && each != SIZE_MAX && !mine; i++)
			mine = ms[i].start == each && ms[i].m.max == m->max && !ms[i].range;
		w = strlen(why);
		if (mine && lumped) {
			/* "en 3 versements de 400 €": 1 200 in all */
			m->max *= count;
			m->min = -1;
			snprintf(why + w, why_len - w, "; %d instalments of %.10g: a total of %.10g",
				 count, m->max / count, m->max);
		} else {
			snprintf(why + w, why_len - w, "; payable in %d instalments", count);
		}
		if (lumped && count <= max) {
			int sum_pct = 0;
			for (int i = 0; i < count; i++) {
				out[i] = i + 1 < count ? 100 / count : 100 - sum_pct;
				sum_pct += out[i];
			}
			shares = count;
		}
	}
	if (shares) {
		w = strlen(why);
		snprintf(why + w, why_len - w, " (");
		for (int i = 0; i < shares; i++) {
			w = strlen(why);
			snprintf(why + w, why_len - w, "%s%d %%", i ? " / " : "", out[i]);
		}
		w = strlen(why);
		snprintf(why + w, why_len - w, ")");
	}
	return shares;
}

/* Formats a number the way a reader of lang expects, with the catalogue's number.group and
 * number.decimal: "1 500", "1 250,50" / "1,500", "1,250.50"; in the site's style, digits
 * only: "1500", "1250.50". */
static void format_number(double v, const char *lang, enum money_style st, char *out, size_t len)
{
	/* a rate under a unit of money that cents would round away ("15 € les 1000 mots" is
	 * 0.015 a word): up to four decimals */
	long long tenk = (long long)(v * 10000 + 0.5);
	int fine = v < 1 && tenk % 100 != 0;
	if (st == MONEY_SITE) {
		if (v == (double)(long long)v)
			snprintf(out, len, "%lld", (long long)v);
		else if (fine)
			snprintf(out, len, "%.*f", tenk % 10 ? 4 : 3, v);
		else
			snprintf(out, len, "%.2f", v);
		return;
	}
	const char *group = catalog_text(lang, "number.group");
	const char *decimal = catalog_text(lang, "number.decimal");
	if (fine) {
		snprintf(out, len, "0%s%0*lld", decimal, tenk % 10 ? 4 : 3,
			 tenk % 10 ? tenk : tenk / 10);
		return;
	}
	long long whole = (long long)v;
	int cents = (int)((v - (double)whole) * 100 + 0.5);
	if (cents == 100) {
		whole++;
		cents = 0;
	}
	char digits[32];
	snprintf(digits, sizeof digits, "%lld", whole);
	struct buf g;
	buf_init(&g, 256);
	size_t n = strlen(digits);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf_puts(&g, group);
		buf_putc(&g, digits[i]);
	}
	if (cents)
		buf_printf(&g, "%s%02d", decimal, cents);
	snprintf(out, len, "%s", g.data ? g.data : "");
	buf_free(&g);
}

/*
 * The one money formatter, in two house styles, with the words and separators of lang's
 * catalogue (number.*, money.*). MONEY_MAIL (the mails): grouped digits, a currency symbol
 * (€, $ and £ before the amount where money.symbol_before is yes), "1 500 – 2 000 € HT",
 * "per hour". MONEY_SITE (the static site, whose pages and tests pin it): plain digits and
 * the ISO code (EUR when none was stated), "400–600 EUR par jour", "excl. tax", "an hour".
 */
char *money_format_style(const struct money *m, const char *lang, enum money_style st)
{
	static const struct { const char *code, *sym; int before; } syms[] = {
		{ "EUR", "€", 1 }, { "USD", "$", 1 }, { "GBP", "£", 1 }, { "CHF", "CHF", 0 },
		{ "CAD", "CA$", 1 }, { "MAD", "MAD", 0 },
	};
	int site = st == MONEY_SITE;
	int sym_before = !strcmp(catalog_text(lang, "money.symbol_before"), "yes");
	const char *sym = m->currency[0] ? m->currency : site ? "EUR" : "";
	int before = 0;
	for (size_t i = 0; !site && i < sizeof syms / sizeof syms[0]; i++)
		if (!strcmp(m->currency, syms[i].code)) {
			sym = syms[i].sym;
			before = syms[i].before && sym_before;
		}
	char a[96], b[96];
	struct buf out;
	buf_init(&out, 1024);
	format_number(m->max, lang, st, b, sizeof b);
	if (site) {
		if (m->min >= 0 && m->min < m->max) {
			format_number(m->min, lang, st, a, sizeof a);
			buf_printf(&out, "%s–", a);
		}
		buf_printf(&out, "%s %s", b, sym);
	} else if (m->min >= 0) {
		format_number(m->min, lang, st, a, sizeof a);
		if (before)
			buf_printf(&out, "%s%s – %s%s", sym, a, sym, b);
		else
			buf_printf(&out, "%s – %s%s%s", a, b, *sym ? " " : "", sym);
	} else if (before) {
		buf_printf(&out, "%s%s", sym, b);
	} else {
		buf_printf(&out, "%s%s%s", b, *sym ? " " : "", sym);
	}
	/* HT and TTC are the words of the catalogue; another tax mention is kept as written */
	if (m->tax[0] && (!strcmp(m->tax, "HT") || !strcmp(m->tax, "TTC")))
		buf_printf(&out, " %s", catalog_text(lang, !strcmp(m->tax, "HT")
					  ? site ? "money.excl_tax_site" : "money.excl_vat"
					  : site ? "money.incl_tax_site" : "money.incl_vat"));
	else if (m->tax[0])
		buf_printf(&out, " %s", m->tax);
	/* a rate's unit: the catalogue's money.per_UNIT (money.per_UNIT_site on the site) */
	static const char *const rate_units[] = { "hour", "day", "month", "week", "word", "page",
						  "article", "image", "minute", NULL };
	int named = !m->unit[0] || !strcmp(m->unit, "total") || !strcmp(m->unit, "none");
	for (int i = 0; rate_units[i] && !named; i++)
		if (!strcmp(m->unit, rate_units[i])) {
			char key[48];
			snprintf(key, sizeof key, "money.per_%s%s", rate_units[i], site ? "_site" : "");
			buf_printf(&out, " %s", catalog_text(lang, key));
			named = 1;
		}
	if (!named)
		buf_printf(&out, " / %s", m->unit);	/* a rate per item as written: "2 € / fiche" */
	return buf_steal(&out);
}

char *money_format(const struct money *m, const char *lang)
{
	return money_format_style(m, lang, MONEY_MAIL);
}

char *money_format_budget(const struct project *p, const char *lang, enum money_style st)
{
	if (!p->has_budget)
		return NULL;
	return money_format_style(&p->budget, lang, st);
}
