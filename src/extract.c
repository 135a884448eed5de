/*
 * extract.c — what people mean, read from their words: the language of a text and the title
 * of a post. (The next stage adds budgets, deadlines, skills, bids and reply trimming.)
 * In: UTF-8 text. Out: small owned strings or static language codes.
 */
#include "bidmail.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <unistd.h>

char *extract_title(const char *subject)
{
	static const char *const prefixes[] = { "re", "fwd", "fw", "tr", "aw", "wg", "sv", "vs",
						"rif", "réf", "ref", "antw", "rv", "enc", NULL };
	const char *s = subject ? subject : "";
	for (int guard = 0; guard < 20; guard++) {
		while (*s == ' ' || *s == '\t')
			s++;
		int matched = 0;
		for (int i = 0; prefixes[i]; i++) {
			size_t n = strlen(prefixes[i]);
			if (strncasecmp(s, prefixes[i], n) != 0)
				continue;
			const char *q = s + n;
			if (*q == '[') {	/* Re[2]: */
				while (*q && *q != ']')
					q++;
				if (*q)
					q++;
			}
			while (*q == ' ')
				q++;
			if (*q == ':') {
				s = q + 1;
				matched = 1;
				break;
			}
		}
		if (!matched)
			break;
	}
	char *t = xstrdup(s);
	char *r = xstrdup(str_trim(t));
	free(t);
	return r;
}

int extract_subject_is_forward(const char *subject)
{
	static const char *const fw[] = { "fwd", "fw", "tr", "wg", "enc", "rv", "i", NULL };
	const char *s = subject ? subject : "";
	while (*s == ' ')
		s++;
	for (int i = 0; fw[i]; i++) {
		size_t n = strlen(fw[i]);
		if (strncasecmp(s, fw[i], n) == 0) {
			const char *q = s + n;
			while (*q == ' ')
				q++;
			if (*q == ':')
				return 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- data files */

/* A table of phrases (lower case) mapped to a value index, looked up by exact key. */
struct phrase_table {
	char **key;
	uint32_t *hash;		/* hash_str of each key: a probe compares it first */
	int *value;
	size_t n, cap;		/* open addressing, cap a power of two */
	/* bit (hash >> 16) set for each key's hash: a word no key has is refused with one look
	 * in these 8 KB instead of a probe of the slots (most words of a mail are in no table) */
	uint64_t seen[1024];
	struct strlist values;	/* canonical names */
	struct strlist searchable;	/* "1" when the canonical itself is searched in text */
	int max_words;
	/* the word prefixes of multi-word phrases ("saisie", "saisie de" of "saisie de
	 * données"): a longer key is tried only after a prefix of it */
	struct phrase_table *first_words;
};

/* The data files, read whole into one value: a reload builds a new one and swaps it
 * in only when every file read cleanly (extract_data_use), so readers never see half of one. */
struct extract_data {
	struct phrase_table skills, places;
	struct phrase_table help;	/* help-topics.txt: phrases → help sections (robot.c) */
	struct phrase_table corrections;	/* corrections.txt: the labels of a correction */
	struct {
		int threshold;
		int n;
		int weight[64];
		struct strlist phrases[64];
		struct strlist descriptions[64];	/* "LANG text", from `@LANG text` fields */
		/* per first byte, the phrases (rule, index) starting with it, in rule order:
		 * one pass over the text tries only those (built once at load) */
		struct scam_ref { int rule; size_t k, len; } *first[256];
		size_t n_first[256];
		uint64_t pair[1024];	/* bit (first << 8 | second) of each phrase, any second
					 * for a one-byte phrase: most places are skipped at once */
	} scam;
	struct intent_data *intents;	/* intents.txt (extract_intent.c) */
	struct date_data *dates;	/* dates.txt (extract_date.c) */
	struct rating_data *ratings;	/* ratings.txt (extract_rating.c) */
	struct reply_data *reply;	/* reply-phrases.txt (extract_reply.c) */
	struct money_vocab *money;	/* amounts.txt (extract_money.c) */
	struct strlist machine;	/* auto-replies.txt: phrases of robots' mail, lower case */
	/* per first byte, the indexes of the machine phrases that start with it */
	size_t *machine_first[256];
	size_t n_machine_first[256];
	uint64_t machine_pair[1024];	/* bit (first << 8 | second) of each machine phrase */
	struct strlist machine_from;	/* its `from:` lines: robots' local parts */
	char currency[4];	/* the board's (config currency) */
};

/* the data in use (none before extract_load): swapped by the main thread between passes,
 * when no prefetch thread reads it */
static struct extract_data none;
static struct extract_data *data = &none;

static uint32_t hash_str(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static void table_clear(struct phrase_table *t)
{
	if (t->first_words) {
		table_clear(t->first_words);
		free(t->first_words);
	}
	for (size_t i = 0; i < t->cap; i++)
		free(t->key[i]);
	free(t->key);
	free(t->hash);
	free(t->value);
	strlist_clear(&t->values);
	strlist_clear(&t->searchable);
	memset(t, 0, sizeof *t);
}

static void table_put(struct phrase_table *t, const char *k, int v)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 512;
		char **nk = xcalloc(cap, sizeof *nk);
		uint32_t *nh = xcalloc(cap, sizeof *nh);
		int *nv = xcalloc(cap, sizeof *nv);
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->key[i])
				continue;
			size_t j = t->hash[i] & (cap - 1);
			while (nk[j])
				j = (j + 1) & (cap - 1);
			nk[j] = t->key[i];
			nh[j] = t->hash[i];
			nv[j] = t->value[i];
		}
		free(t->key);
		free(t->hash);
		free(t->value);
		t->key = nk;
		t->hash = nh;
		t->value = nv;
		t->cap = cap;
	}
	uint32_t h = hash_str(k, strlen(k));
	size_t j = h & (t->cap - 1);
	while (t->key[j]) {
		if (!strcmp(t->key[j], k))
			return;	/* first definition wins */
		j = (j + 1) & (t->cap - 1);
	}
	t->key[j] = xstrdup(k);
	t->hash[j] = h;
	t->seen[h >> 22] |= 1ull << (h >> 16 & 63);
	t->value[j] = v;
	t->n++;
	int words = 1;
	for (const char *p = k; *p; p++)
		words += *p == ' ';
	if (words > t->max_words)
		t->max_words = words;
	if (words > 1) {
		/* remember its word prefixes: only words that start a phrase try longer keys */
		if (!t->first_words)
			t->first_words = xcalloc(1, sizeof *t->first_words);
		for (const char *sp = strchr(k, ' '); sp; sp = strchr(sp + 1, ' ')) {
			char *fw = xstrndup(k, (size_t)(sp - k));
			table_put(t->first_words, fw, 0);
			free(fw);
		}
	}
}

/* The value of key k (n bytes, h its hash_str) in t, -1 when absent. */
static int table_get_hashed(const struct phrase_table *t, const char *k, size_t n, uint32_t h)
{
	if (!t->cap || !(t->seen[h >> 22] >> (h >> 16 & 63) & 1))
		return -1;
	size_t j = h & (t->cap - 1);
	while (t->key[j]) {
		/* no strlen per probe: the key is walked only as far as it matches */
		const char *key = t->key[j];
		size_t i = 0;
		if (t->hash[j] == h)
			while (i < n && key[i] && key[i] == k[i])
				i++;
		if (t->hash[j] == h && i == n && !key[n])
			return t->value[j];
		j = (j + 1) & (t->cap - 1);
	}
	return -1;
}

static int table_get(const struct phrase_table *t, const char *k, size_t n)
{
	return table_get_hashed(t, k, n, hash_str(k, n));
}

int extract_data_lines(const char *path, size_t max, int (*line_fn)(void *arg, char *line,
		       const char *path, int lineno), void *arg)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	char *line = xmalloc(max);
	int lineno = 0, rc = 0;
	while (fgets(line, (int)max, f)) {
		lineno++;
		char *s = str_trim(line);
		if (*s && *s != '#' && line_fn(arg, s, path, lineno) < 0)
			rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/* One `canonical | alias | alias` line into the phrase table arg; 0 or -1 (file:line on
 * stderr). */
static int table_line(void *arg, char *s, const char *path, int lineno)
{
	struct phrase_table *t = arg;
	char *save = NULL, *tok = strtok_r(s, "|", &save);
	char *canon = tok ? str_trim(tok) : NULL;
	if (!canon || !*canon) {
		fprintf(stderr, "%s:%d: expected `name | alias | ...`\n", path, lineno);
		return -1;
	}
	int searchable = *canon != '=';
	if (!searchable)
		canon++;
	int idx = (int)t->values.n;
	strlist_add(&t->values, canon);
	strlist_add(&t->searchable, searchable ? "1" : "0");
	char *lc = money_lower(canon);
	table_put(t, lc, idx);
	free(lc);
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		char *a = money_lower(str_trim(tok));
		if (*a)
			table_put(t, a, idx);
		free(a);
	}
	return 0;
}

/* Reads `canonical | alias | alias` lines into t; 0 or -1 (file:line on stderr). */
static int load_table(const char *path, struct phrase_table *t)
{
	return extract_data_lines(path, 2048, table_line, t);
}

/* One line of scam-rules.txt (`threshold N` or `weight | phrase | ... | @LANG description`)
 * into the extract data arg; a field `@fr text` is the rule's description for moderators in
 * that language, not a phrase. 0 or -1 (file:line on stderr). */
static int scam_line(void *arg, char *s, const char *path, int lineno)
{
	struct extract_data *d = arg;
	if (!strncmp(s, "threshold ", 10)) {
		d->scam.threshold = atoi(s + 10);
		if (d->scam.threshold < 1) {
			fprintf(stderr, "%s:%d: threshold must be a positive number\n", path, lineno);
			return -1;
		}
		return 0;
	}
	char *save = NULL, *tok = strtok_r(s, "|", &save);
	int w = tok ? atoi(tok) : 0;
	if (w < 1 || w > 100 || d->scam.n >= 64) {
		fprintf(stderr, "%s:%d: expected `weight | phrase | ...` (weight 1 to 100, "
			"at most 64 rules)\n", path, lineno);
		return -1;
	}
	d->scam.weight[d->scam.n] = w;
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		char *t = str_trim(tok);
		if (*t == '@') {
			size_t ln = strcspn(t + 1, " \t");
			if (ln < 2 || ln > 8 || !t[1 + ln]) {
				fprintf(stderr, "%s:%d: expected `@LANG description` (e.g. `@en "
					"work from home promised`)\n", path, lineno);
				return -1;
			}
			char *lang = xstrndup(t + 1, ln);
			char *e = xasprintf("%s %s", lang, str_trim(t + 1 + ln));
			free(lang);
			strlist_add_owned(&d->scam.descriptions[d->scam.n], e);
			continue;
		}
		char *a = money_lower(t);
		if (*a)
			strlist_add_owned(&d->scam.phrases[d->scam.n], a);
		else
			free(a);
	}
	d->scam.n++;
	return 0;
}

static void scam_index(struct extract_data *d)
{
	for (int i = 0; i < d->scam.n; i++)
		for (size_t k = 0; k < d->scam.phrases[i].n; k++) {
			unsigned char b = (unsigned char)d->scam.phrases[i].v[k][0];
			size_t n = d->scam.n_first[b];
			d->scam.first[b] = xrealloc(d->scam.first[b], (n + 1) * sizeof *d->scam.first[b]);
			d->scam.first[b][n] = (struct scam_ref){ i, k, strlen(d->scam.phrases[i].v[k]) };
			d->scam.n_first[b] = n + 1;
			const char *ph = d->scam.phrases[i].v[k];
			for (unsigned s2 = 0; s2 < 256; s2++)
				if (!ph[0] || !ph[1] || (unsigned char)ph[1] == s2) {
					size_t pr = (size_t)b << 8 | s2;
					d->scam.pair[pr >> 6] |= 1ull << (pr & 63);
				}
		}
}

static int load_scam(const char *path, struct extract_data *d)
{
	d->scam.threshold = 6;
	int rc = extract_data_lines(path, 4096, scam_line, d);
	if (rc == 0)
		scam_index(d);
	return rc;
}

/* One line of auto-replies.txt (a phrase, or `from: local-part`) into the extract data arg;
 * 0 or -1 (file:line on stderr). */
static int machine_line(void *arg, char *s, const char *path, int lineno)
{
	struct extract_data *d = arg;
	int from = !strncasecmp(s, "from:", 5);
	char *v = str_trim(from ? s + 5 : s);
	if (strlen(v) < (from ? 4u : 10u)) {
		fprintf(stderr, "%s:%d: expected a phrase of 10 characters or more, or `from: "
			"local-part`\n", path, lineno);
		return -1;
	}
	strlist_add_owned(from ? &d->machine_from : &d->machine, money_lower(v));
	return 0;
}

/* auto-replies.txt, when data_dir has one (an older data_dir has none: no phrase then). */
static int load_machine(const struct config *c, struct extract_data *d)
{
	char *path = xasprintf("%s/auto-replies.txt", c->data_dir);
	int rc = access(path, F_OK) == 0 ? extract_data_lines(path, 1024, machine_line, d) : 0;
	free(path);
	for (size_t i = 0; rc == 0 && i < d->machine.n; i++) {
		unsigned char b = (unsigned char)d->machine.v[i][0];
		size_t n = d->n_machine_first[b];
		d->machine_first[b] = xrealloc(d->machine_first[b], (n + 1) * sizeof **d->machine_first);
		d->machine_first[b][n] = i;
		d->n_machine_first[b] = n + 1;
		size_t pr = (size_t)b << 8 | (unsigned char)d->machine.v[i][1];
		d->machine_pair[pr >> 6] |= 1ull << (pr & 63);
	}
	return rc;
}

const struct money_vocab *extract_data_money(void)
{
	return data->money;
}

const char *extract_board_currency(void)
{
	return data->currency[0] ? data->currency : "EUR";
}

int extract_is_machine_sender(const char *from)
{
	const char *at = from ? strrchr(from, '@') : NULL;
	for (size_t i = 0; at && i < data->machine_from.n; i++) {
		size_t n = strlen(data->machine_from.v[i]);
		if ((size_t)(at - from) == n && !strncasecmp(from, data->machine_from.v[i], n))
			return 1;
	}
	return 0;
}

int extract_is_machine_text(const char *text)
{
	if (!text || !data->machine.n)
		return 0;
	/* the top of the body: a quoted message further down is not the robot's */
	size_t n = strnlen(text, 4096);
	char *head = xstrndup(text, n);
	char *l = money_lower(head);
	int hit = 0;
	/* one pass: at each byte, the phrases that start with it (every phrase has 10 bytes or
	 * more, so its second byte is compared first) */
	for (const char *q = l; *q && !hit; q++) {
		unsigned char b = (unsigned char)*q;
		size_t pr = (size_t)b << 8 | (unsigned char)q[1];
		if (!(data->machine_pair[pr >> 6] >> (pr & 63) & 1))
			continue;
		for (size_t j = 0; j < data->n_machine_first[b] && !hit; j++) {
			const char *ph = data->machine.v[data->machine_first[b][j]];
			hit = q[1] == ph[1] && !strncmp(q, ph, strlen(ph));
		}
	}
	free(l);
	free(head);
	return hit;
}

struct extract_data *extract_data_free(struct extract_data *d)
{
	if (!d)
		return NULL;
	table_clear(&d->skills);
	table_clear(&d->places);
	table_clear(&d->help);
	table_clear(&d->corrections);
	for (int i = 0; i < d->scam.n; i++) {
		strlist_clear(&d->scam.phrases[i]);
		strlist_clear(&d->scam.descriptions[i]);
	}
	for (int b = 0; b < 256; b++)
		free(d->scam.first[b]);
	extract_intent_free(d->intents);
	extract_date_free(d->dates);
	extract_rating_free(d->ratings);
	extract_reply_data_free(d->reply);
	money_vocab_free(d->money);
	strlist_clear(&d->machine);
	for (int b = 0; b < 256; b++)
		free(d->machine_first[b]);
	strlist_clear(&d->machine_from);
	free(d);
	return NULL;
}

struct extract_data *extract_data_load(const struct config *c)
{
	struct extract_data *d = xcalloc(1, sizeof *d);
	char *sk = xasprintf("%s/skills.txt", c->data_dir);
	char *sc = xasprintf("%s/scam-rules.txt", c->data_dir);
	char *lo = xasprintf("%s/locations.txt", c->data_dir);
	char *in = xasprintf("%s/intents.txt", c->data_dir);
	char *co = xasprintf("%s/corrections.txt", c->data_dir);
	char *da = xasprintf("%s/dates.txt", c->data_dir);
	int rc = load_table(sk, &d->skills) | load_scam(sc, d) | load_table(lo, &d->places) |
		 load_table(co, &d->corrections);
	free(co);
	if (!(d->intents = extract_intent_load(in)))
		rc = -1;
	if (!(d->dates = extract_date_load(da)))
		rc = -1;
	free(da);
	char *ra = xasprintf("%s/ratings.txt", c->data_dir);
	if (!(d->ratings = extract_rating_load(ra)))
		rc = -1;
	free(ra);
	char *rp = xasprintf("%s/reply-phrases.txt", c->data_dir);
	if (!(d->reply = extract_reply_data_load(rp)))
		rc = -1;
	free(rp);
	if (load_machine(c, d) < 0)
		rc = -1;
	char *am = xasprintf("%s/amounts.txt", c->data_dir);
	if (!(d->money = money_vocab_load(am)))
		rc = -1;
	free(am);
	snprintf(d->currency, sizeof d->currency, "%s", c->currency ? c->currency : "EUR");
	/* optional: without it, a question is answered with the whole help */
	char *he = xasprintf("%s/help-topics.txt", c->data_dir);
	if (access(he, F_OK) == 0 && load_table(he, &d->help) < 0)
		rc = -1;
	free(he);
	free(in);
	free(sk);
	free(sc);
	free(lo);
	return rc ? extract_data_free(d) : d;
}

struct extract_data *extract_data_use(struct extract_data *d)
{
	struct extract_data *old = data;
	data = d ? d : &none;
	return old == &none ? NULL : old;
}

const struct rating_data *extract_data_ratings(void)
{
	return data->ratings;
}

const struct intent_data *extract_data_intents(void)
{
	return data->intents;
}

const struct reply_data *extract_data_reply(void)
{
	return data->reply;
}

int extract_load(const struct config *c)
{
	struct extract_data *d = extract_data_load(c);
	if (!d)
		return -1;
	extract_data_free(extract_data_use(d));
	return 0;
}

/* ---------------------------------------------------------------- posts */

/* isalnum in the C locale (the program's), without a call: it runs at every byte. */
static inline int ascii_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static inline int token_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80 ||
	       c == '+' || c == '#';
}

/* Splits lower-cased text into words (letters, digits, UTF-8, and + # . - inside words such
 * as c++, c#, node.js, e-commerce, .net). Offsets go into starts/lens; returns the count. */
static size_t tokenize(const char *l, size_t *starts, size_t *lens, size_t max)
{
	size_t n = 0, i = 0, len = strlen(l);
	while (i < len && n < max) {
		unsigned char c = (unsigned char)l[i];
		int dot_start = c == '.' && (i == 0 || l[i - 1] == ' ') && isalpha((unsigned char)l[i + 1]);
		if (!token_byte(c) && !dot_start) {
			i++;
			continue;
		}
		size_t s = i++;
		while (i < len) {
			unsigned char d = (unsigned char)l[i];
			if (token_byte(d)) {
				i++;
			} else if ((d == '.' || d == '-' || d == '/') && i + 1 < len &&
				   ascii_alnum((unsigned char)l[i + 1])) {
				i++;
			} else {
				break;
			}
		}
		starts[n] = s;
		lens[n] = i - s;
		n++;
	}
	return n;
}

struct tokens {
	size_t *st, *ln;
	uint32_t *h;		/* hash_str of each token: one hash for every table it is looked up in */
	size_t n;
};

static void tokens_make(struct tokens *tk, const char *l)
{
	size_t cap = strlen(l) / 2 + 2;
	tk->st = xmalloc(cap * sizeof *tk->st);
	tk->ln = xmalloc(cap * sizeof *tk->ln);
	tk->n = tokenize(l, tk->st, tk->ln, cap);
	tk->h = xmalloc((tk->n + 1) * sizeof *tk->h);
	for (size_t i = 0; i < tk->n; i++)
		tk->h[i] = hash_str(l + tk->st[i], tk->ln[i]);
}

static void tokens_clear(struct tokens *tk)
{
	free(tk->st);
	free(tk->ln);
	free(tk->h);
}

static void find_phrases_in(const struct phrase_table *t, const char *l, const struct tokens *tk,
			    struct strlist *out, int explicit_all);

static const char *const french_words[] = {
	"le", "la", "les", "des", "une", "est", "et", "pour", "nous", "vous", "avec", "dans",
	"sur", "qui", "que", "pas", "du", "au", "aux", "je", "ce", "cette", "sont", "notre",
	"votre", "besoin", "projet", "merci", "bonjour", "cordialement", "site", "être", "très",
	"recherche", "mais", "ou", "en", "un", "semaines", "jours", "délai", "mois", "avec",
	"pages", "nos", "vos", "faire", "cherche", "cherchons", NULL };
static const char *const english_words[] = {
	"the", "and", "for", "with", "we", "you", "is", "are", "of", "to", "in", "our", "your",
	"need", "project", "thanks", "hello", "hi", "regards", "looking", "this", "that", "will",
	"be", "have", "a", "an", "on", "it", "please", "weeks", "days", "deadline", "need",
	"needed", "want", "store", "by", "from", "can", "who", "some", "how", "do", "does", "my",
	"what", "when", "where", "why", "i", "me", "would", "could", "should", NULL };

static struct phrase_table stop_fr, stop_en;

static void stop_tables_fill(void)
{
	for (int i = 0; french_words[i]; i++)
		table_put(&stop_fr, french_words[i], 0);
	for (int i = 0; english_words[i]; i++)
		table_put(&stop_en, english_words[i], 0);
}

/* Counts French and English stop words among the first 200 tokens of lower-cased text. */
static const char *language_of_tokens(const char *l, const struct tokens *tk)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int fr = 0, en = 0;
	pthread_once(&once, stop_tables_fill);	/* the prefetch thread and the main one */
	for (size_t i = 0; i < tk->n && i < 200; i++) {
		const char *w = l + tk->st[i];
		size_t n = tk->ln[i];
		if (table_get_hashed(&stop_fr, w, n, tk->h[i]) >= 0)
			fr += 2;
		if (table_get_hashed(&stop_en, w, n, tk->h[i]) >= 0)
			en += 2;
		for (size_t k = 0; k + 1 < n; k++)
			if ((unsigned char)w[k] == 0xC3 &&
			    strchr("\xA9\xA8\xA0\xA7\xAA\xB9\xA2\xAE\xB4\xBB", w[k + 1]))
				fr++;
	}
	if (fr == 0 && en == 0)
		return NULL;
	return fr >= en ? "fr" : "en";
}

const char *extract_language(const char *text)
{
	char *l = money_lower(text);
	struct tokens tk;
	tokens_make(&tk, l);
	const char *r = language_of_tokens(l, &tk);
	tokens_clear(&tk);
	free(l);
	return r;
}


/* Finds table phrases (1 to max_words words) in the text; adds canonical names to out. */
static void find_phrases(const struct phrase_table *t, const char *l, struct strlist *out,
			 int explicit_all)
{
	struct tokens tk;
	tokens_make(&tk, l);
	find_phrases_in(t, l, &tk, out, explicit_all);
	tokens_clear(&tk);
}

/* Adds the canonical name of table value v to out, unless it is a canonical searched only as
 * an alias (key of kn bytes being the canonical itself) outside explicit lines. */
static void phrase_add(const struct phrase_table *t, int v, const char *key, size_t kn,
		       struct strlist *out, int explicit_all)
{
	const char *canon = t->values.v[v];
	/* "c", "go", "r": only as an alias or in an explicit skills line */
	char *lc = money_lower(canon);
	int is_canon_word = strlen(lc) == kn && !memcmp(lc, key, kn);
	free(lc);
	if (is_canon_word && t->searchable.v[v][0] == '0' && !explicit_all)
		return;
	if (!strlist_contains(out, canon))
		strlist_add(out, canon);
}

/* A word written of several joined by / or + ("python/django", "react+node", "ux/ui" when
 * not an entry itself): each part looked up alone, as in a skills line (a stack names
 * skills: "react" there is React). A + ending a part stays (c++). */
static void find_joined_parts(const struct phrase_table *t, const char *w, size_t n,
			      struct strlist *out)
{
	size_t from = 0;
	for (size_t i = 0; i <= n; i++) {
		int cut = i == n || w[i] == '/' ||
			  (w[i] == '+' && i + 1 < n && isalnum((unsigned char)w[i + 1]));
		if (!cut)
			continue;
		size_t kn = i - from;
		while (kn > 1 && w[from + kn - 1] == '.')
			kn--;
		int v = kn && kn < n ? table_get(t, w + from, kn) : -1;
		if (v >= 0)
			phrase_add(t, v, w + from, kn, out, 1);
		from = i + 1;
	}
}

/* The longest key of t (up to t->max_words words, MAX_KEY_WORDS at most) that can start at
 * token i: words are added while the words so far are a prefix of a phrase. The key of each
 * length w into key (klen[w] bytes, hash kh[w]); returns that number of words (1 when
 * only the token itself can match, 0 when even it is too long for key). */
#define MAX_KEY_WORDS 128	/* a word and a space each: as many as key holds */
static int key_reach(const struct phrase_table *t, const char *l, const struct tokens *tk,
		     size_t i, char key[256], size_t klen[MAX_KEY_WORDS + 1],
		     uint32_t kh[MAX_KEY_WORDS + 1])
{
	int maxw = t->max_words < MAX_KEY_WORDS ? t->max_words : MAX_KEY_WORDS;
	size_t kn = 0;
	uint32_t h = 2166136261u;
	int w = 0;
	while (w < maxw && i + (size_t)w < tk->n) {
		size_t tl = tk->ln[i + (size_t)w];
		if (kn + tl + 1 >= 256)
			break;	/* too long for key: so are the longer ones */
		if (w)
			key[kn++] = ' ';
		memcpy(key + kn, l + tk->st[i + (size_t)w], tl);
		kn += tl;
		w++;
		klen[w] = kn;
		h = w == 1 ? tk->h[i] : hash_str(key, kn);
		kh[w] = h;
		if (w == maxw || !t->first_words || table_get_hashed(t->first_words, key, kn, h) < 0)
			break;	/* no phrase goes on from these words */
	}
	return w;
}

static void find_phrases_in(const struct phrase_table *t, const char *l, const struct tokens *tk,
			    struct strlist *out, int explicit_all)
{
	size_t n = tk->n;
	char key[256];
	size_t klen[MAX_KEY_WORDS + 1];
	uint32_t kh[MAX_KEY_WORDS + 1];
	for (size_t i = 0; i < n; i++) {
		int reach = key_reach(t, l, tk, i, key, klen, kh);
		for (int w = reach; w >= 1; w--) {
			const char *kp = key;
			size_t kn = klen[w];
			uint32_t h = kh[w];
			if (w == 1) {
				/* a word ending a sentence: "php." is php */
				kp = l + tk->st[i];
				while (kn > 1 && kp[kn - 1] == '.')
					kn--;
				if (kn != klen[1])
					h = hash_str(kp, kn);
			}
			int v = table_get_hashed(t, kp, kn, h);
			if (v < 0) {
				if (w == 1 && (memchr(kp, '/', kn) || memchr(kp, '+', kn)))
					find_joined_parts(t, kp, kn, out);
				continue;
			}
			phrase_add(t, v, kp, kn, out, explicit_all);
			i += (size_t)w - 1;
			break;
		}
	}
}

const char *extract_language_of(const struct message *m)
{
	const char *lang = extract_language(m->new_text ? m->new_text : "");
	if (lang || !m->subject)
		return lang;
	/* a reply's subject is the board's words ("Re: Réponse de bidmail"), not the sender's */
	const char *p = m->subject;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strspn(p, "rReE");
	const char *q = p + n;
	while (*q == ' ')
		q++;
	if ((n == 2 && *q == ':') || extract_subject_is_forward(m->subject))
		return NULL;
	return extract_language(p);
}

void extract_help_topics(const char *text, struct strlist *out)
{
	char *l = money_lower(text);
	find_phrases(&data->help, l, out, 1);
	free(l);
}

/* Lines such as "Compétences : php, symfony" name skills directly. */
static void explicit_skills(const char *l, struct strlist *out)
{
	static const char *const labels[] = {
		"compétences requises", "compétences", "competences", "skills required", "skills",
		"technologies", "technos", "techno", "tags", "stack technique", "stack", "mots-clés",
		"mots clés", "keywords", "required skills", "outils", "tools", NULL };
	const char *p = l;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '-' || *p == '*')) {
			p++;
			n--;
		}
		for (int i = 0; labels[i]; i++) {
			size_t ln = strlen(labels[i]);
			if (n <= ln || strncmp(p, labels[i], ln))
				continue;
			const char *q = p + ln;
			while (q < p + n && (*q == ' ' || (unsigned char)*q == 0xC2 ||
					     (unsigned char)*q == 0xA0))
				q++;
			if (q >= p + n || *q != ':')
				break;
			char *items = xstrndup(q + 1, (size_t)(p + n - q - 1));
			char *save = NULL;
			for (char *it = strtok_r(items, ",;/|", &save); it; it = strtok_r(NULL, ",;/|", &save)) {
				/* "php et mysql", "react and node" */
				char *sep;
				while ((sep = strstr(it, " et ")) || (sep = strstr(it, " and ")) ||
				       (sep = strstr(it, " & "))) {
					*sep = '\0';
					char *one = str_trim(it);
					struct strlist found = { 0 };
					find_phrases(&data->skills, one, &found, 1);
					if (found.n)
						for (size_t k = 0; k < found.n; k++) {
							if (!strlist_contains(out, found.v[k]))
								strlist_add(out, found.v[k]);
						}
					else if (*one && strlen(one) <= 40 && !strlist_contains(out, one))
						strlist_add(out, one);
					strlist_clear(&found);
					it = sep + (sep[1] == '&' ? 3 : sep[1] == 'e' ? 4 : 5);
				}
				char *one = str_trim(it);
				while (*one && one[strlen(one) - 1] == '.')
					one[strlen(one) - 1] = '\0';
				struct strlist found = { 0 };
				find_phrases(&data->skills, one, &found, 1);
				if (found.n) {
					for (size_t k = 0; k < found.n; k++)
						if (!strlist_contains(out, found.v[k]))
							strlist_add(out, found.v[k]);
				} else if (*one && strlen(one) <= 40 && !strlist_contains(out, one)) {
					strlist_add(out, one);
				}
				strlist_clear(&found);
			}
			free(items);
			break;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

void extract_skills_in(const char *text, struct strlist *out)
{
	char *l = money_lower(text);
	find_phrases(&data->skills, l, out, 1);
	free(l);
}

int extract_skills_listed(const char *text, struct strlist *out)
{
	char *l = money_lower(text);
	size_t before = out->n;
	explicit_skills(l, out);
	free(l);
	return (int)(out->n - before);
}

const char *extract_correction_label(const char *line, size_t *len)
{
	char *l = money_lower(line);
	size_t ends[6], ne = 0;
	for (size_t i = 0; l[i] && ne < 6; i++)
		if ((l[i] == ' ' || l[i] == ':' || l[i] == '\t') && i > 0 && l[i - 1] != ' ')
			ends[ne++] = i;
	if (ne < 6 && *l && l[strlen(l) - 1] != ' ')
		ends[ne++] = strlen(l);
	const char *what = NULL;
	for (size_t k = ne; k-- > 0 && !what;) {
		int v = table_get(&data->corrections, l, ends[k]);
		if (v < 0)
			continue;
		what = data->corrections.values.v[v];
		size_t n = ends[k];
		while (l[n] == ' ' || l[n] == '\t' || (unsigned char)l[n] == 0xC2 ||
		       (unsigned char)l[n] == 0xA0)
			n++;
		if (l[n] == ':')
			n++;
		*len = n;
	}
	free(l);
	return what;
}

static char *find_location(const char *l, const struct tokens *tk)
{
	/* an explicit line first */
	static const char *const labels[] = { "lieu", "localisation", "location", "ville", "city",
					      "adresse", "where", NULL };
	for (int i = 0; labels[i]; i++) {
		const char *p = l;
		while ((p = strstr(p, labels[i])) != NULL) {
			int at_line = p == l || p[-1] == '\n';
			const char *q = p + strlen(labels[i]);
			while (*q == ' ')
				q++;
			if (at_line && *q == ':') {
				q++;
				while (*q == ' ')
					q++;
				size_t n = strcspn(q, "\n");
				if (n > 0 && n <= 60) {
					char *v = xstrndup(q, n);
					struct strlist found = { 0 };
					find_phrases(&data->places, v, &found, 1);
					char *r = xstrdup(found.n ? found.v[0] : str_trim(v));
					strlist_clear(&found);
					free(v);
					return r;
				}
			}
			p++;
		}
	}
	struct strlist found = { 0 };
	find_phrases_in(&data->places, l, tk, &found, 0);
	char *r = NULL;
	if (strlist_contains(&found, "remote"))
		r = xstrdup("remote");
	/* "département 13", "dept 75", "(93)" after a city is left to the city */
	static const char *const dep[] = { "département ", "departement ", "dépt ", "dept ",
					   "dép. ", "dpt ", NULL };
	for (int i = 0; dep[i] && !r; i++) {
		const char *p = strstr(l, dep[i]);
		if (p) {
			const char *q = p + strlen(dep[i]);
			if (isdigit((unsigned char)q[0]) && (isdigit((unsigned char)q[1]) || q[1] == 'a' ||
							     q[1] == 'b') && !isdigit((unsigned char)q[2]))
				r = xasprintf("département %.2s", q);
		}
	}
	if (!r && found.n)
		r = xstrdup(found.v[0]);
	strlist_clear(&found);
	return r;
}

/* For each scam rule, the index of its first phrase (in file order) found in l (lower case)
 * as whole words — not after nor before a letter or digit —, SIZE_MAX when none: one pass
 * over l, trying at each place only the phrases that start with its byte. */
static void scam_hits(const char *l, size_t best[64])
{
	for (int i = 0; i < 64; i++)
		best[i] = SIZE_MAX;
	for (const char *q = l; *q; q++) {
		if (q > l && ascii_alnum((unsigned char)q[-1]))
			continue;
		unsigned char b = (unsigned char)*q;
		size_t pr = (size_t)b << 8 | (unsigned char)q[1];
		if (!(data->scam.pair[pr >> 6] >> (pr & 63) & 1))
			continue;
		for (size_t j = 0; j < data->scam.n_first[b]; j++) {
			const struct scam_ref *r = &data->scam.first[b][j];
			if (r->k >= best[r->rule])
				continue;
			const char *ph = data->scam.phrases[r->rule].v[r->k];
			size_t pn = r->len;
			if ((pn < 2 || q[1] == ph[1]) && !strncmp(q, ph, pn) &&
			    !ascii_alnum((unsigned char)q[pn]))
				best[r->rule] = r->k;
		}
	}
}

static void score_scam(struct post_info *p, const char *l)
{
	size_t best[64];
	scam_hits(l, best);
	for (int i = 0; i < data->scam.n; i++) {
		if (best[i] != SIZE_MAX) {
			p->scam_score += data->scam.weight[i];
			strlist_add(&p->scam_rules, data->scam.phrases[i].v[best[i]]);
		}
	}
}

/* The description of scam rule i in lang (else English, else the first given), or NULL. */
static const char *scam_rule_description(int i, const char *lang)
{
	const struct strlist *d = &data->scam.descriptions[i];
	const char *want[2] = { lang ? lang : "en", "en" };
	for (int w = 0; w < 2; w++)
		for (size_t k = 0; k < d->n; k++) {
			size_t n = strlen(want[w]);
			if (!strncmp(d->v[k], want[w], n) && d->v[k][n] == ' ')
				return d->v[k] + n + 1;
		}
	return d->n ? strchr(d->v[0], ' ') + 1 : NULL;
}

int extract_scam_verdict(const char *title, const char *text, const char *lang,
			 struct scam_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->threshold = data->scam.threshold;
	char *all = xasprintf("%s\n%s", title ? title : "", text ? text : "");
	char *l = money_lower(all);
	size_t best[64];
	scam_hits(l, best);
	for (int i = 0; i < data->scam.n && v->n < SCAM_HITS_MAX; i++) {
		if (best[i] == SIZE_MAX)
			continue;
		const char *ph = data->scam.phrases[i].v[best[i]];
		const char *d = scam_rule_description(i, lang);
		v->hit[v->n].weight = data->scam.weight[i];
		v->hit[v->n].phrase = xstrdup(ph);
		v->hit[v->n++].description = d ? xstrdup(d) : NULL;
		v->score += data->scam.weight[i];
	}
	free(l);
	free(all);
	return v->score;
}

void scam_verdict_clear(struct scam_verdict *v)
{
	for (int i = 0; i < v->n; i++) {
		free(v->hit[i].phrase);
		free(v->hit[i].description);
	}
	v->n = 0;
}

static int has_word(const char *l, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = strstr(l, w); p; p = strstr(p + 1, w))
		if ((p == l || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[n]))
			return 1;
	return 0;
}

/* A new string: a, a line break, then b (what xasprintf("%s\n%s") makes, without its
 * formatting pass over a whole mail). */
static char *join_lines(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *r = xmalloc(na + nb + 2);
	memcpy(r, a, na);
	r[na] = '\n';
	memcpy(r + na + 1, b, nb + 1);
	return r;
}

static struct post_info *extract_post(const struct config *c, const struct message *m)
{
	struct post_info *p = xcalloc(1, sizeof *p);
	p->title = extract_title(m->subject);
	const char *text = m->new_text ? m->new_text : "";
	if (!*p->title) {
		/* the first line of the text, at most 120 bytes */
		const char *t = text;
		while (*t == '\n' || *t == ' ')
			t++;
		size_t n = strcspn(t, "\n");
		if (n > 120) {
			n = 120;
			while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
				n--;
		}
		free(p->title);
		p->title = xstrndup(t, n);
	}
	p->description = xstrdup(text);
	char *all = join_lines(p->title, text);
	char *l = money_lower(all);
	struct tokens tk;
	tokens_make(&tk, l);
	p->language = language_of_tokens(l, &tk);
	if (!p->language)
		p->language = c->language;
	char why[320];
	p->has_budget = extract_budget_lower(l, &p->budget, why, sizeof why);
	p->why = xstrdup(why);
	p->installments = extract_installments_lower(l);
	time_t from = extract_mail_time(m);
	char dwhy[160];
	long today = date_day_of(from);
	long day = extract_date_explain(data->dates, l, today, dwhy, sizeof dwhy);
	date_day_format(day, p->deadline);
	p->deadline_days = day >= 0 ? (int)(day - today) : -1;
	if (day >= 0 && dwhy[0]) {
		char *w = xasprintf("%s%sdeadline from %s", p->why, p->why[0] ? "; " : "", dwhy);
		free(p->why);
		p->why = w;
	}
	explicit_skills(l, &p->skills);
	find_phrases_in(&data->skills, l, &tk, &p->skills, 0);
	p->location = find_location(l, &tk);
	tokens_clear(&tk);
	score_scam(p, l);
	if (p->scam_score >= data->scam.threshold)
		strlist_add(&p->flags, "suspected_scam");
	if (has_word(l, "asap") || has_word(l, "urgent") || has_word(l, "urgente") ||
	    has_word(l, "urgents") || has_word(l, "urgentes") || strstr(l, "dès que possible") ||
	    strstr(l, "au plus vite") || strstr(l, "as soon as possible") || has_word(l, "urgence"))
		strlist_add(&p->flags, "urgent");
	if (!p->has_budget)
		strlist_add(&p->flags, "no_budget");
	free(l);
	free(all);
	return p;
}

static struct bid_info *extract_bid(const struct message *m)
{
	return extract_bid_text_at(m->new_text ? m->new_text : "",
				   extract_mail_time(m));
}

struct bid_info *extract_bid_text(const char *text)
{
	return extract_bid_text_at(text, -1);
}

struct bid_info *extract_bid_text_at(const char *text, time_t from)
{
	struct bid_info *b = xcalloc(1, sizeof *b);
	char why[320];
	int rc = extract_bid_amount(text, &b->amount, why, sizeof why);
	b->has_amount = rc > 0;
	b->refused = rc < 0;
	char *l = money_lower(text);
	int shares[8], n_shares = b->has_amount ? extract_plan_lower(l, &b->amount, shares, 8, why,
								     sizeof why) : 0;
	b->why = xstrdup(why);
	b->installments = extract_installments_lower(l);
	int effort = 0;
	b->delivery_days = extract_duration_read_lower(l, &b->followup_days, &effort);
	b->n_milestones = extract_milestones(text, b->milestones, 8);
	if (!b->n_milestones && n_shares) {
		memcpy(b->milestones, shares, (size_t)n_shares * sizeof *shares);
		b->n_milestones = n_shares;	/* "acompte de 500 € puis 1 000 € à la livraison" */
	}
	char dwhy[160] = "";
	if (from >= 0) {
		long today = date_day_of(from);
		long day = extract_date_explain(data ? data->dates : NULL, l, today, dwhy,
						sizeof dwhy);
		date_day_format(day, b->delivery);
		if (day >= 0)
			b->delivery_days = (int)(day - today);
		long f = b->followup_days < 0 && data ? extract_followup_day(data->dates, l, today)
			 : -1;
		if (f > today)
			b->followup_days = (int)(f - today);	/* "ping me Friday" */
	}
	char *w = NULL;
	if (dwhy[0])
		w = xasprintf("%s; delivery from %s", b->why, dwhy);
	else if (effort && b->delivery_days >= 0)
		w = xasprintf("%s; delivery read from the effort (%d days of work): no delivery day "
			      "stated", b->why, b->delivery_days);
	if (w) {
		free(b->why);
		b->why = w;
	}
	free(l);
	return b;
}

time_t extract_mail_time(const struct message *m)
{
	return date_mail_time(m->date, m->received ? m->received : clock_now());
}

long extract_date(const char *text, time_t from)
{
	char *l = money_lower(text);
	long day = extract_date_lower(data->dates, l, date_day_of(from));
	free(l);
	return day;
}

void extract_bid_delivery(struct bid_info *b, const char *text, time_t from)
{
	long today = date_day_of(from), day = extract_date(text, from);
	date_day_format(day, b->delivery);
	if (day >= 0)
		b->delivery_days = (int)(day - today);
}

void extract_message(const struct config *c, struct message *m, enum kind k)
{
	free(m->new_text);
	m->new_text = extract_reply_from(m->text ? m->text : "",
					 extract_subject_is_forward(m->subject), m->from_name);
	if (k == KIND_POST)
		m->post = extract_post(c, m);
	else if (k == KIND_BID)
		m->bid = extract_bid(m);
}

struct post_info *post_info_free(struct post_info *p)
{
	if (!p)
		return NULL;
	free(p->title);
	free(p->description);
	strlist_clear(&p->skills);
	free(p->location);
	strlist_clear(&p->flags);
	strlist_clear(&p->scam_rules);
	free(p->why);
	free(p);
	return NULL;
}

struct bid_info *bid_info_free(struct bid_info *b)
{
	if (!b)
		return NULL;
	free(b->why);
	free(b);
	return NULL;
}
