/*
 * post_edit.c — what a poster's reply to the acknowledgement corrects. Only the fields the
 * reply states change: a budget or a deadline read anywhere in its new text, a line (or a
 * sentence) starting with a label of contrib/corrections.txt and a colon ("titre : …",
 * "compétences : …", "lieu : …", "nouvelle description : …"), a verb that adds or removes
 * skills ("ajoutez Figma", "remplacez WordPress par Shopify"), a place named; the description only under its label or when the
 * reply restates the whole project (POST_EDIT_REWRITE_WORDS words at least, and two thirds of
 * the current description's), or when the reply scores as a scam by itself. In: the project
 * as stored and the reply's post_info (read from its new text only, never the quoted
 * acknowledgement). Out: a struct post_edit.
 * The new budget is the amount stated as current: one after an `old` phrase of corrections.txt
 * ("n'est pas de", "instead of") or before an `old-before` one ("comme indiqué") is the old
 * value; of two amounts left, one after a `now` phrase ("reste à", "but") wins, else the budget
 * is left as it was and the edit says which amounts to ask about (budget_unclear); the answer,
 * one amount alone, is an ordinary correction. A description line stating the old budget is
 * marked with the new one.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define POST_EDIT_REWRITE_WORDS 40
#define POST_EDIT_TITLE_MAX 120
#define POST_EDIT_AMOUNT_BYTES 4000	/* reply bytes read for the budget, at most */
#define POST_EDIT_SEGMENTS 32		/* parts of a reply weighed for the budget */

static int count_words(const char *t)
{
	int n = 0, in = 0;
	for (; t && *t; t++) {
		int w = !isspace((unsigned char)*t);
		n += w && !in;
		in = w;
	}
	return n;
}

/* s cut to at most max bytes on a character boundary, trimmed; the caller frees. */
static char *cut_trimmed(const char *s, size_t n, size_t max)
{
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	char *c = xstrndup(s, n);
	char *t = xstrdup(str_trim(c));
	free(c);
	return t;
}

/* 1 for the fields of corrections.txt that qualify an amount rather than label a field. */
static int is_amount_word(const char *what)
{
	return !strcmp(what, "old") || !strcmp(what, "old-before") || !strcmp(what, "now") ||
	       !strcmp(what, "from");
}

/* 1 for the fields of corrections.txt that label no field: the amount words, and the words
 * that join a replacement's two sides ("par", "with"). */
static int is_no_label(const char *what)
{
	return is_amount_word(what) || !strcmp(what, "replace-by");
}

/* Where, in rest[0..n), a `replace-by` word of corrections.txt starts a word ("WordPress par
 * Shopify"): its offset, with *len its length; or n. */
static size_t replace_by_at(const char *rest, size_t n, size_t *len)
{
	for (size_t i = 1; i < n; i++) {
		if (rest[i - 1] != ' ' || rest[i] == ' ')
			continue;
		char *tail = xstrndup(rest + i, n - i);
		size_t l = 0;
		const char *what = extract_correction_label(tail, &l);
		free(tail);
		if (what && !strcmp(what, "replace-by")) {
			*len = l;
			return i;
		}
	}
	return n;
}

/* Where a label of corrections.txt starts clause c: at its start, or after a lead-in ending
 * with a colon ("Petite correction : ajoutez Figma"). The field or NULL; *rest after it. */
static const char *clause_label(const char *c, const char **rest, int *colon)
{
	for (int pass = 0; pass < 2; pass++) {
		while (*c == ' ' || *c == '-' || *c == '*' || *c == '\t')
			c++;
		size_t len = 0;
		const char *what = extract_correction_label(c, &len);
		if (what && !is_no_label(what)) {
			*colon = len > 0 && c[len - 1] == ':';
			*rest = c + len;
			return what;
		}
		const char *k = strchr(c, ':');
		if (!k)
			break;
		c = k + 1;
	}
	return NULL;
}

/* Skills named after "ajoutez"/"remove": those of the vocabulary, else up to three short
 * words taken as written ("ajoutez Sketch"); added to out. */
static void named_skills(const char *rest, struct strlist *out)
{
	size_t before = out->n;
	extract_skills_in(rest, out);
	if (out->n > before || count_words(rest) > 3 || strlen(rest) > 40)
		return;
	char *copy = money_lower(rest), *save = NULL;
	for (char *it = strtok_r(copy, ",&", &save); it; it = strtok_r(NULL, ",&", &save)) {
		char *one = str_trim(it);
		if (!strncmp(one, "et ", 3) || !strncmp(one, "and ", 4))
			one = str_trim(one + (one[0] == 'e' ? 3 : 4));
		if (*one && !strlist_contains(out, one))
			strlist_add(out, one);
	}
	free(copy);
}

/* Applies one labelled clause (up to end) of the reply, or, for a description, the text from
 * it to the end of the reply. */
static void apply_clause(struct post_edit *e, const char *what, int colon, const char *rest,
			 const char *end, const struct post_info *pi)
{
	size_t n = (size_t)(end - rest);
	if (!strcmp(what, "title") && colon && n) {
		free(e->title);
		e->title = cut_trimmed(rest, n, POST_EDIT_TITLE_MAX);
	} else if (!strcmp(what, "description") && colon) {
		free(e->description);
		e->description = cut_trimmed(rest, strlen(rest), 64 * 1024);
	} else if (!strcmp(what, "skills") && colon) {
		char *line = xasprintf("compétences : %.*s", (int)n, rest);
		e->skills_set = 1;
		extract_skills_listed(line, &e->skills);
		free(line);
	} else if (!strcmp(what, "location") && colon && n) {
		free(e->location);
		e->location = pi->location ? xstrdup(pi->location) : cut_trimmed(rest, n, 60);
	} else if (!strcmp(what, "add") || !strcmp(what, "remove")) {
		char *words = xstrndup(rest, n);
		named_skills(words, !strcmp(what, "add") ? &e->add : &e->remove);
		free(words);
	} else if (!strcmp(what, "replace")) {
		/* "remplacez WordPress par Shopify": the first removed, the second added */
		size_t by = 0, at = replace_by_at(rest, n, &by);
		if (at < n) {
			char *old = xstrndup(rest, at), *new = xstrndup(rest + at + by, n - at - by);
			named_skills(old, &e->remove);
			named_skills(new, &e->add);
			free(old);
			free(new);
		}
	}
}

/* Where, in [rest, end), another label starts a word ("… et retirez wordpress"): that
 * position, else end. */
static const char *next_label(const char *rest, const char *end)
{
	for (const char *q = rest + 1; q < end; q++) {
		if (q[-1] != ' ' || *q == ' ')
			continue;
		char *tail = xstrndup(q, (size_t)(end - q));
		size_t len = 0;
		const char *what = extract_correction_label(tail, &len);
		int hit = what && (!strcmp(what, "add") || !strcmp(what, "remove") ||
				   !strcmp(what, "replace") || (len > 0 && tail[len - 1] == ':'));
		free(tail);
		if (hit)
			return q;
	}
	return end;
}

/* Reads the labelled clauses of text: split at line ends, at ". ", "! ", "? ", "; ", and
 * where another label starts. */
static void read_labels(struct post_edit *e, const char *text, const struct post_info *pi)
{
	const char *p = text;
	while (*p) {
		const char *end = p;
		while (*end && *end != '\n' && !(strchr(".!?;", *end) &&
						 (end[1] == ' ' || end[1] == '\n' || !end[1])))
			end++;
		const char *rest, *next = *end ? end + 1 : end;
		int colon = 0;
		char *clause = xstrndup(p, (size_t)(end - p));
		const char *what = clause_label(clause, &rest, &colon);
		if (what) {
			const char *r = p + (rest - clause);
			if (!strcmp(what, "description") && colon) {
				apply_clause(e, what, colon, r, end, pi);
				free(clause);
				return;	/* the rest of the reply is the description */
			}
			const char *stop = next_label(r, end);
			apply_clause(e, what, colon, r, stop, pi);
			if (stop < end)
				next = stop;
		}
		free(clause);
		p = next;
	}
}

/* ---------------------------------------------------------------- the new budget */

enum amount_tag { TAG_NONE, TAG_OLD, TAG_NOW, TAG_FROM };

/* A part of the reply, between breaks and amount phrases, and what its phrase says of it. */
struct segment {
	size_t from, to;
	enum amount_tag tag;
};

/* 1 when a part of the reply ends at p: ", " "; " a sentence end, a line end, a bracket. */
static int part_break(const char *p)
{
	if (*p == '\n' || *p == '(' || *p == ')' || *p == '[' || *p == ']')
		return 1;
	return strchr(",;.!?", *p) && *p && (p[1] == ' ' || p[1] == '\n' || !p[1]);
}

/* 1 when a word starts at l + i. */
static int word_start(const char *l, size_t i)
{
	if (l[i] == ' ' || l[i] == '\n' || l[i] == '\t')
		return 0;
	return i == 0 || strchr(" \n\t,;:()[]\"'", l[i - 1]) != NULL;
}

/* The amount phrase of corrections.txt at l + i (old, old-before, now), *len its length. */
static const char *amount_word_at(const char *l, size_t i, size_t len, size_t *wl)
{
	if (!word_start(l, i))
		return NULL;
	char *w = xstrndup(l + i, len - i < 80 ? len - i : 80);
	const char *what = extract_correction_label(w, wl);
	free(w);
	return what && is_amount_word(what) && *wl > 0 ? what : NULL;
}

/* 1 when l holds only blanks in [from, to). */
static int blank_between(const char *l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (!isspace((unsigned char)l[i]))
			return 0;
	return 1;
}

/* Cuts lower-cased l into at most max segments; their count. */
static int segments_read(const char *l, struct segment *sg, int max)
{
	int n = 0;
	size_t len = strnlen(l, POST_EDIT_AMOUNT_BYTES), wl = 0;
	sg[0] = (struct segment){ 0, 0, TAG_NONE };
	for (size_t i = 0; i < len && n < max - 1;) {
		const char *what = part_break(l + i) ? "" : amount_word_at(l, i, len, &wl);
		if (!what) {
			i++;
			continue;
		}
		size_t skip = *what ? wl : 1;
		sg[n].to = i;
		if (!strcmp(what, "old-before")) {
			/* "350 €, comme indiqué": the amount before, in this part or the last one */
			int k = n > 0 && blank_between(l, sg[n].from, i) ? n - 1 : n;
			if (sg[k].tag != TAG_NOW)
				sg[k].tag = TAG_OLD;
		}
		n++;
		sg[n] = (struct segment){ i + skip, i + skip,
			!strcmp(what, "old") ? TAG_OLD : !strcmp(what, "now") ? TAG_NOW
			: !strcmp(what, "from") ? TAG_FROM : TAG_NONE };
		i += skip;
	}
	sg[n].to = len;
	return n + 1;
}

/* 1 when a and b are the same amount. */
static int money_same(const struct money *a, const struct money *b)
{
	return a->min == b->min && a->max == b->max && !strcmp(a->currency, b->currency) &&
	       !strcmp(a->tax, b->tax) && !strcmp(a->unit, b->unit);
}

/* Adds m to v (n of them) unless it is there already. */
static void money_add_distinct(struct money *v, int *n, const struct money *m)
{
	for (int i = 0; i < *n; i++)
		if (money_same(&v[i], m))
			return;
	v[(*n)++] = *m;
}

/* Where the number at l + i starts a new amount: a digit that no digit precedes (blanks and
 * currency signs between them skipped: "1 500", "1,500 $" are one number). */
static int amount_starts(const char *l, size_t from, size_t i)
{
	if (!isdigit((unsigned char)l[i]) || (i > from && isdigit((unsigned char)l[i - 1])))
		return 0;
	if (i > from + 1 && strchr(",.'", l[i - 1]) && isdigit((unsigned char)l[i - 2]))
		return 0;	/* "1,500", "12.50" */
	size_t k = i;
	while (k > from && (l[k - 1] == '$' || (unsigned char)l[k - 1] >= 0x80))
		k--;	/* currency signs right before: "$", "€", "£" */
	while (k > from && l[k - 1] == ' ')
		k--;
	return k == from || !isdigit((unsigned char)l[k - 1]);
}

/* The amounts segment sg of text (l its lower-cased copy) states, into m (at most max): its
 * amount when it is a range or a single one, else one per number ("$1,500 or $1,800"). */
static int segment_amounts(const char *text, const char *l, const struct segment *sg,
			   struct money *m, int max)
{
	char why[200];
	char *part = xstrndup(text + sg->from, sg->to - sg->from);
	int found = extract_budget(part, &m[0], why, sizeof why);
	free(part);
	if (!found || m[0].min >= 0)
		return found;
	int n = 0;
	size_t start = sg->from;
	for (size_t i = sg->from; i <= sg->to && n < max; i++) {
		if (i < sg->to && (i == sg->from || !amount_starts(l, sg->from, i)))
			continue;
		size_t cut = i;
		while (i < sg->to && cut > start && !isspace((unsigned char)l[cut - 1]))
			cut--;	/* the piece begins with the word of the number ("$1,800") */
		char *piece = xstrndup(text + start, cut - start);
		if (extract_budget(piece, &m[n], why, sizeof why))
			money_add_distinct(m, &n, &m[n]);
		free(piece);
		start = cut;
	}
	return n ? n : 1;
}

/* Weighs the k amounts m of a segment tagged tag: old ones counted in *olds, the others added
 * to cur (*nc of them), and to now (*nn) when a phrase states them as the new value. */
static void segment_weigh(enum amount_tag tag, struct money *m, int k, int *olds,
			  struct money *cur, int *nc, struct money *now, int *nn)
{
	int first = 0;
	if (tag == TAG_OLD) {
		*olds += k;
		return;
	}
	if (tag == TAG_FROM && k == 1 && m[0].min >= 0) {
		m[0].min = -1;		/* "passe de 500 à 700 €": to 700 € */
	} else if (tag == TAG_FROM && k > 0) {
		(*olds)++;		/* "passe de 500 € à 700 €": the first is the old one */
		first = 1;
	}
	for (int j = first; j < k; j++) {
		money_add_distinct(cur, nc, &m[j]);
		if (tag == TAG_NOW || tag == TAG_FROM)
			money_add_distinct(now, nn, &m[j]);
	}
}

/* The budget text states as the new value into *out: 1; 0 when it states none; -1 when it
 * names amounts and cannot tell which one is current (only old ones, or two current ones none
 * of which a `now` phrase introduces: those, at most POST_EDIT_OPTIONS, into e's options). */
static int correction_budget(const char *text, struct money *out, struct post_edit *e)
{
	char *l = money_lower(text);
	struct segment sg[POST_EDIT_SEGMENTS];
	int n = segments_read(l, sg, POST_EDIT_SEGMENTS);
	struct money cur[POST_EDIT_SEGMENTS], now[POST_EDIT_SEGMENTS];
	int nc = 0, nn = 0, olds = 0;
	for (int i = 0; i < n; i++) {
		struct money m[POST_EDIT_SEGMENTS];
		int k = segment_amounts(text, l, &sg[i], m, POST_EDIT_SEGMENTS);
		segment_weigh(sg[i].tag, m, k, &olds, cur, &nc, now, &nn);
	}
	free(l);
	if (nc == 1 || (nc > 1 && nn == 1)) {
		*out = nc == 1 ? cur[0] : now[0];
		return 1;
	}
	if (nc > 1) {
		/* "$1,500 or $1,800 with hosting": the poster is asked which */
		e->budget_unclear = 1;
		for (int i = 0; i < nc && e->n_budget_options < POST_EDIT_OPTIONS; i++)
			e->budget_options[e->n_budget_options++] = cur[i];
	}
	return nc > 1 || olds ? -1 : 0;
}

/* Where the clause that goes on from byte i of line ends: at , ; . ! ? before a blank (or the
 * end), or at the end of the line. */
static size_t clause_end(const char *line, size_t i)
{
	for (; line[i]; i++)
		if (strchr(",;.!?", line[i]) && (line[i + 1] == ' ' || !line[i + 1]))
			break;
	return i;
}

/* Where in line the mark of a corrected budget goes: after the clause of its amount equal to
 * old ("Budget 1 500 € HT[ mark], pour fin avril"); the end of the line when none is found. */
static size_t mark_place(const char *line, const struct money *old)
{
	char *l = money_lower(line);
	size_t len = strlen(l), at = len, start = 0, prev = (size_t)-1;
	for (size_t i = 0; i <= len && at == len; i++) {
		if (i < len && (i == 0 || !amount_starts(l, 0, i)))
			continue;
		size_t cut = i;
		while (i < len && cut > start && !isspace((unsigned char)l[cut - 1]))
			cut--;
		char *piece = xstrndup(line + start, cut - start);
		struct money m;
		char why[200];
		if (prev != (size_t)-1 && extract_budget(piece, &m, why, sizeof why) &&
		    money_same(&m, old))
			at = clause_end(line, prev);
		free(piece);
		start = cut;
		prev = i;
	}
	free(l);
	return at;
}

/* Appends line (n bytes) of a description to out with the mark of the budget corrected from
 * old to nb: after the amount that states old, or where an earlier mark was (an earlier mark
 * is taken out first; none when the line states nb). 1 when the line had or has a mark. */
static int line_marked(struct buf *out, const char *line, size_t n, const char *prefix,
		       const struct money *old, const struct money *nb, const char *mark)
{
	char *c = xstrndup(line, n);
	size_t at = (size_t)-1;
	char *m = *prefix ? strstr(c, prefix) : NULL;
	if (m) {
		char *e = strchr(m, ']');
		size_t from = (size_t)(m - c), to = e ? (size_t)(e - c) + 1 : strlen(c);
		while (from > 0 && c[from - 1] == ' ')
			from--;
		memmove(c + from, c + to, strlen(c + to) + 1);
		at = from;
	}
	struct money got;
	char why[200];
	int read = extract_budget(c, &got, why, sizeof why);
	if (read && money_same(&got, nb))
		at = (size_t)-1;	/* the line states the new budget: no mark */
	else if (at == (size_t)-1 && read && money_same(&got, old))
		at = mark_place(c, old);
	if (at != (size_t)-1)
		buf_printf(out, "%.*s %s%s", (int)at, c, mark, c + at);
	else
		buf_puts(out, c);
	free(c);
	return m || at != (size_t)-1;
}

/* The description of old with the line that states its budget (or carries an earlier mark)
 * marked with the new budget nb ("Budget : 500 € HT [budget corrigé : 350 € TTC]"); NULL when
 * no line does. The caller frees. */
static char *description_marked(const struct project *old, const struct money *nb)
{
	const char *lang = old->language ? old->language : "fr";
	const char *fmt = catalog_text(lang, "post.budget_marked");
	const char *brace = strstr(fmt, "{{");
	char *prefix = xstrndup(fmt, brace ? (size_t)(brace - fmt) : strlen(fmt));
	char *money = money_format(nb, lang);
	struct vars v = { 0 };
	vars_set(&v, "budget", money);
	char *mark = catalog_format(lang, "post.budget_marked", &v);
	struct buf out;
	buf_init(&out, 128 * 1024);
	int hits = 0;
	for (const char *p = old->description; p && *p;) {
		size_t n = strcspn(p, "\n");
		hits += line_marked(&out, p, n, str_trim(prefix), &old->budget, nb, mark);
		if (p[n])
			buf_putc(&out, '\n');
		p += n + (p[n] != '\0');
	}
	free(prefix);
	free(money);
	free(mark);
	char *d = buf_steal(&out);
	if (!hits) {
		free(d);
		return NULL;
	}
	return d;
}

/* 1 when the reply restates the whole project rather than correcting a field. */
static int is_rewrite(const struct project *old, const char *text)
{
	int words = count_words(text);
	return words >= POST_EDIT_REWRITE_WORDS && 3 * words >= 2 * count_words(old->description);
}

int post_edit_read(const struct project *old, const char *text, const struct post_info *pi,
		   struct post_edit *e)
{
	memset(e, 0, sizeof *e);
	e->deadline_days = -1;
	read_labels(e, text, pi);
	/* a reply that scores as a scam by itself is taken whole: the moderators judge the very
	 * text sent */
	if (!e->description && (is_rewrite(old, text) ||
				strlist_contains(&pi->flags, "suspected_scam"))) {
		e->rewrite = 1;
		e->description = xstrdup(text);
		if (!e->skills_set && pi->skills.n) {
			for (size_t i = 0; i < pi->skills.n; i++)
				strlist_add(&e->skills, pi->skills.v[i]);
			e->skills_set = 1;
		}
	}
	struct money nb;
	/* a reply restating the whole project is read as a post is; a correction, by the words
	 * around its amounts */
	int said = e->rewrite ? 0 : correction_budget(text, &nb, e);
	if (said == 1 || (said == 0 && pi->has_budget)) {
		e->has_budget = 1;
		e->budget = said == 1 ? nb : pi->budget;
	}
	if (e->has_budget && !e->description && old->has_budget && !money_same(&old->budget, &e->budget))
		e->description = description_marked(old, &e->budget);
	e->deadline_days = pi->deadline_days;
	snprintf(e->deadline, sizeof e->deadline, "%s", pi->deadline);
	if (!e->location && pi->location)
		e->location = xstrdup(pi->location);
	return e->title || e->description || e->has_budget || e->deadline_days >= 0 || e->deadline[0] ||
	       e->skills_set || e->add.n || e->remove.n || e->location;
}

void post_edit_clear(struct post_edit *e)
{
	free(e->title);
	free(e->description);
	free(e->location);
	strlist_clear(&e->skills);
	strlist_clear(&e->add);
	strlist_clear(&e->remove);
	memset(e, 0, sizeof *e);
}

/* The skills of old (JSON text) with e's list, additions and removals applied, into out. */
void post_edit_skills(const char *old_json, const struct post_edit *e, struct strlist *out)
{
	struct strlist old = { 0 };
	if (!e->skills_set)
		json_string_list(old_json, &old);
	const struct strlist *base = e->skills_set ? &e->skills : &old;
	for (size_t i = 0; i < base->n; i++)
		if (!strlist_contains(&e->remove, base->v[i]) && !strlist_contains(out, base->v[i]))
			strlist_add(out, base->v[i]);
	for (size_t i = 0; i < e->add.n; i++)
		if (!strlist_contains(out, e->add.v[i]))
			strlist_add(out, e->add.v[i]);
	strlist_clear(&old);
}
