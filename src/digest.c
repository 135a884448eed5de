/*
 * digest.c — what each subscriber receives: weekly (default: Monday 08:00 in the board's time
 * zone), daily (08:00) or instant selections of the open projects published since their
 * previous one that match their profile (a skills pattern matches, no exclude does, budget,
 * languages and remote-only respected), newest first, each with why it matched.
 * Exactly once: a row per subscriber and period (2026-W10, 2026-03-02, p1042) is claimed in the
 * same transaction as the mail, so a killed run or two runs at once never send a period twice.
 * Each active subscriber's patterns share a matching budget per pass (match_budget_pass_ms,
 * measured): past it their matching stops, they get nothing this pass and are told once.
 * In: subscribers, projects, the clock. Out: digest and alert mails in the outbox.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>

#define DIGEST_HOUR 8
#define MAX_PER_DIGEST 50

/* The period a subscriber's selection at `now` belongs to: daily "2026-03-02" from 08:00,
 * weekly "2026-W10" from the subscriber's day at 08:00 until the end of that ISO week. 0 when
 * none is due yet. */
static int period_due(const struct subscriber *s, time_t now, char *out, size_t len)
{
	struct tm tm;
	clock_local(now, &tm);	/* the board's time zone, set once at start (clock_set_zone) */
	if (!strcmp(s->frequency, "daily")) {
		if (tm.tm_hour < DIGEST_HOUR)
			return 0;
		strftime(out, len, "%Y-%m-%d", &tm);
		return 1;
	}
	if (!strcmp(s->frequency, "weekly")) {
		int today = tm.tm_wday == 0 ? 7 : tm.tm_wday;	/* ISO: Monday 1 .. Sunday 7 */
		int day = s->day == 0 ? 7 : s->day;
		if (today < day || (today == day && tm.tm_hour < DIGEST_HOUR))
			return 0;
		strftime(out, len, "%G-W%V", &tm);
		return 1;
	}
	return 0;
}

struct digest_run {
	const struct config *c;
	struct store *s;
	time_t now;
	int dry_run;
	struct project *projects;
	int nproj;
	char **texts;
	struct matcher *m;
	int *skill_ids, *excl_ids;	/* per subscriber, flattened */
	int *groups;			/* per subscriber: matching budget group, or -1 */
	unsigned char **hits;		/* per project, per pattern id: matched */
	int sent, claimed, empty;
};

/* When p was published (first opened); its creation time for rows that never said. */
static const char *published_at(const struct project *p)
{
	return p->published ? p->published : p->created ? p->created : "";
}

/* Whether project p goes to subscriber s: open, not full, and for their profile; the pattern
 * that matched it, or NULL. */
static const char *project_wanted(struct digest_run *r, const struct subscriber *s, int base_skill,
				  int base_excl, int j)
{
	const struct project *p = &r->projects[j];
	if (strcmp(p->status, "open") || p->bids >= r->c->bid_cap)
		return NULL;	/* closed, or full: it leaves the selections */
	return profile_matches(s, p, r->hits[j], r->skill_ids + base_skill, r->excl_ids + base_excl);
}

/* ["php","symfony"] -> "php, symfony" */
static char *skills_text(const char *json)
{
	struct buf b;
	buf_init(&b, 4096);
	int in = 0;
	for (const char *p = json ? json : ""; *p; p++) {
		if (*p == '"' && (p == json || p[-1] != '\\')) {
			if (in)
				in = 0;
			else {
				if (b.len)
					buf_puts(&b, ", ");
				in = 1;
			}
			continue;
		}
		if (in)
			buf_putc(&b, *p);
	}
	return buf_steal(&b);
}

static char *extract_of(const char *text)
{
	size_t n = strlen(text);
	if (n <= 240)
		return xstrdup(text);
	n = 240;
	while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	char *e = xasprintf("%.*s…", (int)n, text);
	for (char *p = e; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return e;
}

/* Queues the selection (or the instant alert) of one subscriber; claims the period in the same
 * transaction. Returns 1 sent, 0 nothing to send, -1 error. */
static int send_one(struct digest_run *r, struct subscriber *s, const char *period, int *list,
		    const char **why, int n, int instant)
{
	const struct config *c = r->c;
	const char *lang = s->language && *s->language ? s->language : c->language;
	struct vars items[MAX_PER_DIGEST];
	char *owned[MAX_PER_DIGEST * 9];
	int no = 0;
	const char *first_bid_address = NULL, *first_bid_key = NULL;
	int64_t sid = s->id;
	for (int i = 0; i < n; i++) {
		struct project *p = &r->projects[list[i]];
		memset(&items[i], 0, sizeof items[i]);
		char *id = xasprintf("%lld", (long long)p->id);
		char *budget = money_format_budget(p, lang, MONEY_MAIL);
		if (!budget)
			budget = xstrdup(!strcmp(lang, "fr") ? "non précisé" : "not stated");
		char *deadline = p->deadline_days >= 0
				 ? xasprintf(!strcmp(lang, "fr") ? "%d jours" : "%d days", p->deadline_days)
				 : xstrdup("");
		char *bids = xasprintf("%d/%d", p->bids, c->bid_cap);
		char *skills = skills_text(p->skills_json);
		char *extract = extract_of(p->description ? p->description : "");
		int64_t ids[2] = { p->id, sid };
		char *bkey = keys_make("b", ids, 2);
		char *baddr = keys_address(c, "bid", bkey);
		char *link = xasprintf("mailto:%s?subject=Re:%%20%s%%20%lld", baddr,
				       !strcmp(lang, "fr") ? "Projet" : "Project", (long long)p->id);
		vars_set(&items[i], "id", id);
		vars_set(&items[i], "title", p->title);
		vars_set(&items[i], "budget", budget);
		vars_set(&items[i], "deadline", deadline);
		vars_set(&items[i], "skills", skills);
		vars_set(&items[i], "bids", bids);
		vars_set(&items[i], "extract", extract);
		vars_set(&items[i], "why", why[i]);
		vars_set(&items[i], "bid_link", link);
		vars_set(&items[i], "bid_address", baddr);
		if (i == 0) {
			first_bid_address = baddr;
			first_bid_key = bkey;
		}
		owned[no++] = id;
		owned[no++] = budget;
		owned[no++] = deadline;
		owned[no++] = bids;
		owned[no++] = extract;
		owned[no++] = bkey;
		owned[no++] = baddr;
		owned[no++] = link;
		owned[no++] = skills;
	}
	char count[16];
	snprintf(count, sizeof count, "%d", n);
	/* a reply to a selection: commands, or a bid when it names a project (#1042) */
	char *skey = keys_make(instant ? "s" : "d", &sid, 1);
	char *saddr = keys_address(c, "robot", skey);
	char *ukey = keys_make("u", &sid, 1);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "name", s->name ? s->name : "");
	vars_set(&v, "count", count);
	vars_set(&v, "command_address", saddr);
	vars_set(&v, "robot_address", c->robot_address);
	vars_set_list(&v, "projects", items, n);
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->robot_address,
		.to_name = s->name,
		.to = s->address,
		/* an instant alert is one project: a plain reply is a bid on it */
		.reply_to = instant ? first_bid_address : saddr,
		.auto_submitted = "auto-generated",
		/* the key rides in References too, for providers that drop the +tag */
		.key_ref = instant ? first_bid_key : skey,
		.unsubscribe_key = ukey,
	};
	int rc = 0;
	if (!r->dry_run) {
		rc = store_begin(r->s);
		/* the row was loaded before this transaction: mark it only if it is still active
		 * (an unsubscribe meanwhile wins), or the claim and the mail go back */
		char now[32];
		clock_format_iso(r->now, now);
		int active = rc == 0 ? store_subscriber_digest_mark(r->s, s->id, now) : -1;
		int claimed = active == 1 ? store_digest_claim(r->s, s->id, period, n, clock_now()) : active;
		if (claimed == 1)
			rc = send_queue(c, r->s, instant ? "project_alert" : "digest", lang, &v, &o);
		if (claimed == 0) {
			store_rollback(r->s);
			if (active == 0)
				log_info("stage=digest subscriber=%lld period=%s result=skipped "
					 "reason=\"no longer active\"", (long long)s->id, period);
		} else if (claimed < 0 || rc < 0) {
			store_rollback(r->s);
			rc = -1;
		} else if (store_commit(r->s) < 0) {
			store_rollback(r->s);
			rc = -1;
		} else {
			rc = claimed == 1 ? 1 : 0;
		}
	} else {
		printf("%s %s: %d project%s%s\n", s->address, period, n, n == 1 ? "" : "s",
		       instant ? " (instant)" : "");
		for (int i = 0; i < n; i++)
			printf("  #%s %s  (matched by `%s`)\n", items[i].value[0], items[i].value[1],
			       why[i]);
		rc = 1;
	}
	for (int i = 0; i < no; i++)
		free(owned[i]);
	free(skey);
	free(saddr);
	free(ukey);
	return rc;
}

/* Claims an empty period (nothing matched): no mail, but the period is done. */
static int claim_empty(struct digest_run *r, struct subscriber *s, const char *period)
{
	if (r->dry_run)
		return 0;
	if (store_begin(r->s) < 0)
		return -1;
	char now[32];
	clock_format_iso(r->now, now);
	int claimed = store_subscriber_digest_mark(r->s, s->id, now);
	if (claimed == 1)
		claimed = store_digest_claim(r->s, s->id, period, 0, clock_now());
	if (claimed == 0) {
		store_rollback(r->s);
		return 0;
	}
	if (claimed < 0 || store_commit(r->s) < 0) {
		store_rollback(r->s);
		return -1;
	}
	return 0;
}

#define INACTIVE_AFTER (56 * 86400L)	/* 8 weeks without a reply or a command */
#define PAUSE_AFTER (14 * 86400L)	/* then 2 weeks to answer the question */

/* Queues a robot_reply to a subscriber with one command line and its result, answerable at
 * the subscriber's signed robot address (and with List-Unsubscribe when asked). */
static int robot_notice(struct digest_run *r, const struct subscriber *sub, const char *lang,
			const char *command, const char *result, int with_unsubscribe)
{
	const struct config *c = r->c;
	int64_t sid = sub->id;
	char *skey = keys_make("s", &sid, 1);
	char *saddr = keys_address(c, "robot", skey);
	char *ukey = with_unsubscribe ? keys_make("u", &sid, 1) : NULL;
	struct vars item = { 0 };
	vars_set(&item, "command", command);
	vars_set(&item, "result", result);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "robot_address", c->robot_address);
	vars_set(&v, "profile", "");
	vars_set(&v, "help", "");
	vars_set(&v, "confirm_address", "");
	vars_set(&v, "command_address", saddr);
	vars_set(&v, "name", sub->name ? sub->name : "");
	vars_set_list(&v, "results", &item, 1);
	struct outgoing o = { .from_name = c->board_name, .from = c->robot_address,
			      .to_name = sub->name, .to = sub->address, .reply_to = saddr,
			      .auto_submitted = "auto-generated", .key_ref = skey,
			      .unsubscribe_key = ukey };
	int rc = send_queue(c, r->s, "robot_reply", lang, &v, &o);
	free(skey);
	free(saddr);
	free(ukey);
	return rc;
}

/* A subscriber silent for 8 weeks is asked whether to continue; silent 2 more weeks, paused.
 * Returns 0 (go on), 1 (asked or paused: no selection now), -1 (error). */
static int check_inactive(struct digest_run *r, struct subscriber *sub)
{
	const char *act = sub->last_activity ? sub->last_activity
			  : sub->confirmed ? sub->confirmed : sub->created;
	time_t last = clock_parse_iso(act);
	if (last == (time_t)-1 || r->now - last < INACTIVE_AFTER)
		return 0;
	char asked[32];
	int found = store_confirmation_latest(r->s, sub->address, "continue", asked, sizeof asked);
	if (found < 0)
		return -1;
	if (found && strcmp(asked, act) > 0) {
		/* asked after the last sign of life */
		time_t t = clock_parse_iso(asked);
		if (t == (time_t)-1 || r->now - t < PAUSE_AFTER)
			return 0;	/* still time to answer: selections go on meanwhile */
		int k = store_subscriber_status_set(r->s, sub->id, "active", "paused");
		if (k == 1)
			log_info("stage=digest subscriber=%lld result=paused reason=inactive",
				 (long long)sub->id);
		return k < 0 ? -1 : 1;
	}
	const struct config *c = r->c;
	const char *lang = sub->language && *sub->language ? sub->language : c->language;
	int fr = !strcmp(lang, "fr");
	int64_t cid;
	if (store_begin(r->s) < 0)
		return -1;
	if (store_confirmation_insert(r->s, sub->address, sub->id, "continue", "", PAUSE_AFTER, &cid, clock_now()) < 0) {
		store_rollback(r->s);
		return -1;
	}
	int rc = robot_notice(r, sub, lang,
			      fr ? "toujours intéressé(e) ?" : "still interested?",
			      fr ? "nous n'avons pas eu de nouvelles de vous depuis 8 semaines. "
				   "Pour continuer à recevoir les sélections, répondez simplement à "
				   "ce message (par exemple « resume »). Sans réponse sous 2 semaines, "
				   "elles seront suspendues."
				 : "we have not heard from you for 8 weeks. To keep receiving the "
				   "selections, simply reply to this mail (for example \"resume\"). "
				   "Without a reply within 2 weeks, they will be paused.", 1);
	if (rc < 0 || store_commit(r->s) < 0) {
		store_rollback(r->s);
		return -1;
	}
	return 0;
}

/* Tells a subscriber that one of their patterns needs too much work to match. */
static int report_limit(struct digest_run *r, const struct subscriber *sub, const char *src)
{
	const struct config *c = r->c;
	const char *lang = sub->language && *sub->language ? sub->language : c->language;
	int fr = !strcmp(lang, "fr");
	char *line = xasprintf("skills %s", src);
	int rc = robot_notice(r, sub, lang, line,
			      fr ? "ce motif demande trop de calcul sur certains projets : il y "
				   "compte comme « ne correspond pas ». Simplifiez-le (par exemple "
				   "une liste de mots : « skills php symfony »), puis « clear skills »."
				 : "this pattern needs too much work on some projects: there it counts "
				   "as \"no match\". Simplify it (for example a word list: \"skills php "
				   "symfony\"), then \"clear skills\".", 0);
	free(line);
	return rc;
}

/* Tells a subscriber, once for this profile, that their patterns spent their matching budget
 * in a pass, naming the costliest; nothing was matched or sent to them past it. 0 or -1. */
static int report_budget(struct digest_run *r, const struct subscriber *sub, int base_skill,
			 int base_excl)
{
	const struct config *c = r->c;
	const char *lang = sub->language && *sub->language ? sub->language : c->language;
	int fr = !strcmp(lang, "fr");
	/* once per profile: the notice is keyed on its patterns, so a new profile is told again */
	struct buf prof, worst;
	buf_init(&prof, 64 * 1024);
	buf_init(&worst, 4096);
	int best[3] = { -1, -1, -1 };
	int64_t cost[3] = { 0, 0, 0 };
	size_t np = sub->skills.n + sub->excludes.n;
	for (size_t k = 0; k < np; k++) {
		int skill = k < sub->skills.n;
		const char *src = skill ? sub->skills.v[k] : sub->excludes.v[k - sub->skills.n];
		buf_printf(&prof, "%s %s\n", skill ? "skills" : "exclude", src);
		int id = skill ? r->skill_ids[base_skill + (int)k]
			 : r->excl_ids[base_excl + (int)(k - sub->skills.n)];
		int64_t ck = matcher_pattern_cost(r->m, id);
		for (int q = 0; q < 3; q++)
			if (ck > cost[q]) {
				for (int z = 2; z > q; z--) {
					best[z] = best[z - 1];
					cost[z] = cost[z - 1];
				}
				best[q] = (int)k;
				cost[q] = ck;
				break;
			}
	}
	for (int q = 0; q < 3 && best[q] >= 0; q++) {
		size_t k = (size_t)best[q];
		buf_printf(&worst, "%s`%s` (%lld ms)", q ? ", " : "", k < sub->skills.n ? sub->skills.v[k]
			   : sub->excludes.v[k - sub->skills.n], (long long)(cost[q] / 1000000));
	}
	char sha[65], kind[48];
	hash_sha256_hex(prof.data ? prof.data : "", prof.len, sha);
	snprintf(kind, sizeof kind, "match-budget:%.16s", sha);
	buf_free(&prof);
	char *text = xasprintf(fr ? "vos motifs ont demandé plus de %d ms de calcul pendant une "
				    "préparation des sélections : le reste de la recherche a été "
				    "sauté et rien ne vous a été envoyé cette fois-ci. Les plus "
				    "coûteux : %s. Simplifiez-les (par exemple une liste de mots : "
				    "« skills php symfony »), puis « clear skills » ou « clear exclude »."
				  : "your patterns needed more than %d ms of matching in one selection "
				    "pass: the rest of the search was skipped and nothing was sent to "
				    "you this time. The costliest: %s. Simplify them (for example a word "
				    "list: \"skills php symfony\"), then \"clear skills\" or \"clear "
				    "exclude\".", c->match_budget_pass_ms, worst.data ? worst.data : "");
	buf_free(&worst);
	int rc = store_begin(r->s);
	int claimed = rc == 0 ? store_notice_claim(r->s, kind, sub->id, clock_now()) : -1;
	if (claimed == 1)
		rc = robot_notice(r, sub, lang, "profile", text, 0);
	if (claimed < 0 || rc < 0 || store_commit(r->s) < 0) {
		store_rollback(r->s);
		rc = -1;
	}
	free(text);
	return rc < 0 ? -1 : 0;
}

int digest_run(const struct config *c, struct store *s, time_t now, int dry_run)
{
	struct digest_run r = { .c = c, .s = s, .now = now, .dry_run = dry_run };
	struct subscriber *subs;
	int ns = store_subscriber_list(s, &subs);
	if (ns < 0)
		return -1;
	char recent[32];	/* only open projects of the last five weeks are ever selected */
	clock_format_iso(now - 35 * 86400L, recent);
	r.nproj = store_project_select(s, "open", recent, 1, &r.projects);
	if (r.nproj < 0) {
		for (int i = 0; i < ns; i++)
			subscriber_clear(&subs[i]);
		free(subs);
		return -1;
	}
	/* one matcher for every active profile, identical patterns once */
	r.m = matcher_new();
	size_t nsk = 0, nex = 0;
	for (int i = 0; i < ns; i++) {
		nsk += subs[i].skills.n;
		nex += subs[i].excludes.n;
	}
	r.skill_ids = xcalloc(nsk + 1, sizeof *r.skill_ids);
	r.excl_ids = xcalloc(nex + 1, sizeof *r.excl_ids);
	r.groups = xcalloc((size_t)ns + 1, sizeof *r.groups);
	unsigned char *over = xcalloc((size_t)ns + 1, 1);	/* over budget in this pass */
	size_t a = 0, b = 0;
	for (int i = 0; i < ns; i++) {
		/* only those who may get a selection are matched, each within a budget */
		int live = !strcmp(subs[i].status, "active") && subs[i].skills.n;
		r.groups[i] = live ? matcher_group_new(r.m, (int64_t)c->match_budget_pass_ms * 1000000)
			      : -1;
		if (live)
			profile_add(r.m, r.groups[i], &subs[i], r.skill_ids + a, r.excl_ids + b);
		for (size_t k = 0; !live && k < subs[i].skills.n; k++)
			r.skill_ids[a + k] = -1;
		for (size_t k = 0; !live && k < subs[i].excludes.n; k++)
			r.excl_ids[b + k] = -1;
		a += subs[i].skills.n;
		b += subs[i].excludes.n;
	}
	int np = matcher_count(r.m);
	/* each open project of the last five weeks is matched once against every pattern */
	char oldest[32];
	clock_format_iso(now - 35 * 86400L, oldest);
	r.hits = xcalloc((size_t)r.nproj + 1, sizeof *r.hits);
	unsigned char *limited = xcalloc((size_t)np + 1, 1);
	int *tmp = xcalloc((size_t)np + 1, sizeof *tmp), *lim = xcalloc((size_t)np + 1, sizeof *lim);
	for (int j = 0; j < r.nproj; j++) {
		struct project *p = &r.projects[j];
		r.hits[j] = xcalloc((size_t)np + 1, 1);
		if (strcmp(p->status, "open") || strcmp(published_at(p), oldest) < 0 || np == 0)
			continue;
		char *text = profile_project_text(p);
		int nl = 0;
		int n = matcher_run(r.m, text, strlen(text), tmp, np, lim, &nl);
		for (int k = 0; k < n; k++)
			r.hits[j][tmp[k]] = 1;
		for (int k = 0; k < nl; k++) {
			if (!limited[lim[k]])
				log_warn("stage=digest project=%lld pattern_id=%d result=limit "
					 "(counted as no match)", (long long)p->id, lim[k]);
			limited[lim[k]] = 1;
		}
		free(text);
	}
	free(tmp);
	free(lim);
	char nowiso[32];
	clock_format_iso(now, nowiso);
	int rc = 0;
	a = b = 0;
	for (int i = 0; i < ns && rc == 0; i++) {
		struct subscriber *sub = &subs[i];
		progress("digest", (size_t)i + 1, (size_t)ns);
		int base_skill = (int)a, base_excl = (int)b;
		a += sub->skills.n;
		b += sub->excludes.n;
		if (strcmp(sub->status, "active") || !sub->skills.n)
			continue;
		if (store_address_disabled(s, sub->address) == 1)
			continue;	/* bounces disabled this address: no more selections */
		if (!dry_run) {
			int k = check_inactive(&r, sub);
			if (k < 0)
				rc = -1;
			if (k != 0)
				continue;	/* paused now, or asked whether to continue */
		}
		if (matcher_group_exhausted(r.m, r.groups[i])) {
			/* what matched before the budget ran out is partial: nothing is sent or claimed */
			over[i] = 1;
			log_warn("stage=digest subscriber=%lld result=over-budget cpu_ms=%lld budget_ms=%d "
				 "(matching skipped for this pass)", (long long)sub->id,
				 (long long)(matcher_group_spent(r.m, r.groups[i]) / 1000000),
				 c->match_budget_pass_ms);
			if (dry_run)
				printf("%s: matching budget exceeded, skipped\n", sub->address);
			else if (report_budget(&r, sub, base_skill, base_excl) < 0)
				rc = -1;
			continue;
		}
		/* a copy: sending an alert moves sub->last_digest on while the loop still reads it */
		char since[32];
		snprintf(since, sizeof since, "%s", sub->last_digest ? sub->last_digest
			 : sub->confirmed ? sub->confirmed : sub->created);
		int list[MAX_PER_DIGEST];
		const char *why[MAX_PER_DIGEST];
		int n = 0;
		int instant = !strcmp(sub->frequency, "instant");
		/* newest first; a selection's window is [since, now): a project published in the
		 * second of a claim belongs to the next one, whether it came before or after it.
		 * An alert's is [since, now], each project being claimed on its own. */
		for (int j = r.nproj - 1; j >= 0 && rc == 0; j--) {
			struct project *p = &r.projects[j];
			const char *pub = published_at(p);
			int after = strcmp(pub, nowiso);
			if (strcmp(pub, since) < 0 || after > 0 || (after == 0 && !instant))
				continue;
			const char *w = project_wanted(&r, sub, base_skill, base_excl, j);
			if (!w)
				continue;
			if (instant) {
				/* one alert per project, claimed as period p<ID> */
				char period[32];
				snprintf(period, sizeof period, "p%lld", (long long)p->id);
				int lst[1] = { j };
				const char *wh[1] = { w };
				int k = send_one(&r, sub, period, lst, wh, 1, 1);
				if (k < 0)
					rc = -1;
				r.sent += k > 0;
				continue;
			}
			if (n < MAX_PER_DIGEST) {
				list[n] = j;
				why[n++] = w;
			}
		}
		if (instant || rc < 0)
			continue;
		char period[32];
		if (!period_due(sub, now, period, sizeof period))
			continue;
		if (n == 0) {
			if (claim_empty(&r, sub, period) < 0)
				rc = -1;
			r.empty++;
			continue;	/* nothing matched: no mail */
		}
		int k = send_one(&r, sub, period, list, why, n, 0);
		if (k < 0)
			rc = -1;
		r.sent += k > 0;
	}
	/* a pattern that hit a limit counts as no match; its owners are told once */
	a = b = 0;
	for (int i = 0; i < ns && rc == 0 && !dry_run; i++) {
		struct subscriber *sub = &subs[i];
		for (size_t k = 0; k < sub->skills.n + sub->excludes.n; k++) {
			int id = k < sub->skills.n ? r.skill_ids[a + k] : r.excl_ids[b + k - sub->skills.n];
			const char *src = k < sub->skills.n ? sub->skills.v[k]
				       : sub->excludes.v[k - sub->skills.n];
			if (id < 0 || !limited[id] || strcmp(sub->status, "active") || over[i])
				continue;
			if (store_pattern_limit_report(s, sub->id, src, clock_now()) != 1 || report_limit(&r, sub, src) < 0)
				continue;
		}
		a += sub->skills.n;
		b += sub->excludes.n;
	}
	free(limited);
	free(over);
	if (r.sent || dry_run)
		log_info("stage=digest at=%s sent=%d empty=%d%s", nowiso, r.sent, r.empty,
			 dry_run ? " dry_run=yes" : "");
	if (r.sent || r.empty || dry_run)
		progress_end("digest: %d subscribers, %d selections %s, %d with nothing new", ns,
			     r.sent, dry_run ? "due" : "queued", r.empty);
	for (int j = 0; j < r.nproj; j++) {
		free(r.hits[j]);
		project_clear(&r.projects[j]);
	}
	free(r.hits);
	free(r.projects);
	free(r.skill_ids);
	free(r.excl_ids);
	free(r.groups);
	matcher_free(r.m);
	for (int i = 0; i < ns; i++)
		subscriber_clear(&subs[i]);
	free(subs);
	return rc < 0 ? -1 : r.sent;
}
