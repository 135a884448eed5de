/*
 * profile.c — whether a project is for a subscriber, in one place: a skills pattern matches, no
 * exclude does, the budget (budget-min, compared in the project's own currency), the languages
 * and remote-only are respected. Used by the digests, the `match` sub-command and the robot's
 * `test`, which run the patterns beforehand through one matcher (match.c: identical patterns
 * once, each profile within its budget group); this file only reads their hits.
 * In: a subscriber, a project, which pattern ids matched its text. Out: the pattern that matched.
 */
#include "bidmail.h"

#include <string.h>

void profile_add(struct matcher *m, int group, const struct subscriber *s, int *skill_ids,
		 int *excl_ids)
{
	for (size_t k = 0; k < s->skills.n; k++) {
		skill_ids[k] = matcher_add(m, s->skills.v[k]);
		matcher_group_add(m, group, skill_ids[k]);
	}
	for (size_t k = 0; k < s->excludes.n; k++) {
		excl_ids[k] = matcher_add(m, s->excludes.v[k]);
		matcher_group_add(m, group, excl_ids[k]);
	}
}

char *profile_project_text(const struct project *p)
{
	return xasprintf("%s\n%s\n%s", p->title ? p->title : "", p->description ? p->description : "",
			 p->skills_json ? p->skills_json : "");
}

/* 1 when the project's language, location and budget suit the subscriber's settings. */
static int settings_allow(const struct subscriber *s, const struct project *p)
{
	if (s->languages && *s->languages && p->language && !strstr(s->languages, p->language))
		return 0;
	if (s->remote_only && (!p->location || strcmp(p->location, "remote")))
		return 0;
	/* no exchange: a budget in another currency (or none) is never under budget-min */
	if (s->budget_min >= 0 && p->has_budget && p->budget.currency[0] && s->budget_currency &&
	    !strcmp(p->budget.currency, s->budget_currency) && p->budget.max < s->budget_min)
		return 0;
	return 1;
}

/* Whether pattern id matched: hits holds a byte per pattern id, or a bit when bits. */
static int hit(const unsigned char *hits, int bits, int id)
{
	return id >= 0 && (bits ? hits[id >> 3] >> (id & 7) & 1 : hits[id]);
}

static const char *matches_in(const struct subscriber *s, const struct project *p,
			      const unsigned char *hits, int bits, const int *skill_ids,
			      const int *excl_ids)
{
	for (size_t k = 0; k < s->excludes.n; k++)
		if (hit(hits, bits, excl_ids[k]))
			return NULL;
	const char *by = NULL;
	for (size_t k = 0; k < s->skills.n && !by; k++)
		if (hit(hits, bits, skill_ids[k]))
			by = s->skills.v[k];
	return by && settings_allow(s, p) ? by : NULL;
}

const char *profile_matches(const struct subscriber *s, const struct project *p,
			    const unsigned char *hits, const int *skill_ids, const int *excl_ids)
{
	return matches_in(s, p, hits, 0, skill_ids, excl_ids);
}

const char *profile_matches_bits(const struct subscriber *s, const struct project *p,
				 const unsigned char *bits, const int *skill_ids,
				 const int *excl_ids)
{
	return matches_in(s, p, bits, 1, skill_ids, excl_ids);
}
