/*
 * post_edit.c — what a poster's reply to the acknowledgement corrects. Only the fields the
 * reply states change: a budget or a deadline read anywhere in its new text, a line (or a
 * sentence) starting with a label of contrib/corrections.txt and a colon ("titre : …",
 * "compétences : …", "lieu : …", "nouvelle description : …"), a verb that adds or removes
 * skills ("ajoutez Figma"), a place named; the description only under its label or when the
 * reply restates the whole project (POST_EDIT_REWRITE_WORDS words at least, and two thirds of
 * the current description's), or when the reply scores as a scam by itself. In: the project
 * as stored and the reply's post_info (read from its new text only, never the quoted
 * acknowledgement). Out: a struct post_edit.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define POST_EDIT_REWRITE_WORDS 40
#define POST_EDIT_TITLE_MAX 120

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

/* Where a label of corrections.txt starts clause c: at its start, or after a lead-in ending
 * with a colon ("Petite correction : ajoutez Figma"). The field or NULL; *rest after it. */
static const char *clause_label(const char *c, const char **rest, int *colon)
{
	for (int pass = 0; pass < 2; pass++) {
		while (*c == ' ' || *c == '-' || *c == '*' || *c == '\t')
			c++;
		size_t len = 0;
		const char *what = extract_correction_label(c, &len);
		if (what) {
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
				   (len > 0 && tail[len - 1] == ':'));
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
	if (pi->has_budget) {
		e->has_budget = 1;
		e->budget = pi->budget;
	}
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
