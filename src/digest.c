/*
 * digest.c — what each subscriber receives: weekly (default: Monday 08:00 in the board's time
 * zone), daily (08:00) or instant selections of the open projects published since their
 * previous one that match their profile (a skills pattern matches, no exclude does, budget,
 * languages and remote-only respected), newest first, each with why it matched.
 * Exactly once: a row per subscriber and period (2026-W10, 2026-03-02, p1042) is claimed in the
 * same transaction as the mail, so a killed run or two runs at once never send a period twice.
 * Several hosts on one PostgreSQL share a large run: it is split in shards, each claimed with a
 * lease (digest_shards), a killed host's shard taken over when its lease ends.
 * Each active subscriber's patterns share a matching budget per pass (match_budget_pass_ms,
 * measured): past it their matching stops, they get nothing this pass and are told once.
 * Work proportional to news: a pass reads only the subscribers whose selection is due (an
 * indexed next_due, kept by the store and moved on here) and, for the instant alerts, only
 * the projects published since a watermark; both in pages of DIGEST_PAGE subscribers, one
 * matcher per page, so memory is bounded by a page and the window's projects. An alert pass
 * first matches each distinct pattern text once (pattern_texts) and reads only the instant
 * profiles holding one that matched; a claim of it that fails drops only itself.
 * Two threads: while this one claims and stores a page's mails, the preparer renders and
 * encodes the next ones (it claims and stores nothing).
 * In: subscribers, projects, the clock. Out: digest and alert mails in the outbox.
 */
#include "bidmail.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIGEST_HOUR 8
#define MAX_PER_DIGEST 50
#define TITLE_MAX 200		/* bytes of a title in a selection (with the 240 of an extract) */
#define DIGEST_PAGE 5000		/* subscribers read, compiled and matched at once */
#define WINDOW (35 * 86400L)		/* only open projects of the last five weeks are selected */
#define CLAIM_BATCH 500			/* claims with their mails (alerts, selections) per commit */

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

/* What one subscriber's selection lists (newest first) and how many matched in all. */
struct pick {
	int n, total;
	int list[MAX_PER_DIGEST];
	const char *why[MAX_PER_DIGEST];
};

/* What a selection shows of a project in one language, made once per run. */
struct project_view {
	char lang[16];			/* "": not made yet */
	char *title, *extract, *budget, *deadline, *skills;
};
#define VIEW_LANGS 2			/* languages kept per project (others made per item) */

struct found_memo {
	char *why, *found;		/* a pattern, the words of it found in the project */
};
#define FOUND_MEMO 4			/* patterns remembered per project (most recent first) */

struct digest_run {
	const struct config *c;
	struct store *s;
	time_t now;
	int dry_run;
	struct project *projects;
	int nproj;
	char **texts;
	struct project_view (*views)[VIEW_LANGS];	/* per project of the run */
	struct found_memo (*found)[FOUND_MEMO];		/* per project of the run */
	struct matcher *m;
	int *skill_ids, *excl_ids;	/* per subscriber, flattened */
	int *groups;			/* per subscriber: matching budget group, or -1 */
	unsigned char **hits;		/* per project, a bit per pattern id: matched */
	int **hit_ids, *nhit;		/* per project, the pattern ids that matched */
	struct pick *picks;		/* per subscriber of a selection page: what it gets */
	int sent, claimed, empty;
	struct subscriber *subs;
	int ns;
	int npat;			/* patterns in the matcher */
	unsigned char *limited;		/* per pattern id: hit a matching limit */
	char nowiso[32];
	int64_t *due_ids;		/* next_due moves of this page, written at its end */
	char **due_at, **due_was;
	int ndue;
	char mark[32];			/* the alerts' watermark: publication time, project id */
	int64_t mark_id;
	int seen;			/* subscribers read in this pass */
	int batching;			/* several claims and their mails per commit */
	int dropping, dropped;		/* a failing claim drops only itself (the alerts); how many */
	int64_t first_row, last_row;	/* the outbox rows the alert pass queued (its log line) */
	int batch_open, batch_n;	/* the open batch transaction, its alerts */
	pthread_mutex_t memo_lock;	/* views and found: the preparer fills them too */
	struct preparer *prep;		/* the page's mails made ahead, or NULL */
	int templates_ready;		/* a template set is in use: the preparer may start */
};

/* When p was published (first opened); its creation time for rows that never said. */
static const char *published_at(const struct project *p)
{
	return p->published ? p->published : p->created ? p->created : "";
}

/* The start of subscriber sub's window: its last selection, else its confirmation. */
static const char *window_start(const struct subscriber *sub)
{
	return sub->last_digest ? sub->last_digest : sub->confirmed ? sub->confirmed : sub->created;
}

/* Whether project p goes to subscriber s: open, not full, and for their profile; the pattern
 * that matched it, or NULL. */
static const char *project_wanted(struct digest_run *r, const struct subscriber *s, int base_skill,
				  int base_excl, int j)
{
	const struct project *p = &r->projects[j];
	if (p->status != PROJECT_OPEN || p->bids >= r->c->bid_cap)
		return NULL;	/* closed, or full: it leaves the selections */
	return profile_matches_bits(s, p, r->hits[j], r->skill_ids + base_skill,
				    r->excl_ids + base_excl);
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

/* text with its addresses and phone numbers masked, in lang (a subscriber is a third party
 * to the poster); caller frees. */
static char *masked(const char *text, const char *lang)
{
	return mask_contacts(text, catalog_text(lang, "quote.address_masked"),
			     catalog_text(lang, "mask.phone_hidden"));
}

/* text cut at max bytes (on a character boundary) with "…", its line breaks made spaces;
 * takes text, returns the caller's. */
static char *cut_at(char *text, size_t max)
{
	size_t n = strlen(text);
	if (n <= max)
		return text;
	n = max;
	while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
		n--;
	char *e = xasprintf("%.*s…", (int)n, text);
	free(text);
	for (char *p = e; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return e;
}

/* The start of a description as a selection shows it, in lang: masked, then cut at 240
 * bytes. */
static char *extract_of(const char *description, const char *lang)
{
	return cut_at(masked(description, lang), 240);
}

/* Sets in item what a selection says of project p to subscriber sid in lang, why being the
 * pattern that matched (the item says which of its words occur, never the whole list); the
 * strings it makes are added to owned (11 of them, *no counting) for the caller to free, its
 * bid address and key being owned[*no - 5] and owned[*no - 6]. The title is masked as the
 * description is: a post's title may carry a phone number or an address too. */
static void view_fill(const struct digest_run *r, const struct project *p, const char *lang,
		      struct project_view *pv)
{
	snprintf(pv->lang, sizeof pv->lang, "%s", lang);
	pv->budget = money_format_budget(p, lang, MONEY_MAIL);
	if (!pv->budget)
		pv->budget = catalog_format(lang, "digest.budget_none", NULL);
	char day[11];
	pv->deadline = date_project_deadline(p, day) ? date_text_left(lang, day, r->now) : NULL;
	if (!pv->deadline)
		pv->deadline = xstrdup("");
	pv->skills = skills_text(p->skills_json);
	pv->extract = extract_of(p->description ? p->description : "", lang);
	/* 50 items stay well under 100 KB: a title shown at most TITLE_MAX bytes */
	pv->title = cut_at(masked(p->title ? p->title : "", lang), TITLE_MAX);
}

static void view_clear(struct project_view *pv)
{
	free(pv->budget);
	free(pv->deadline);
	free(pv->skills);
	free(pv->extract);
	free(pv->title);
	memset(pv, 0, sizeof *pv);
}

/* What every subscriber reading lang is shown of project j of the run (masking a description
 * once per run and language, not once per subscriber); a view of r's, or of *tmp when the
 * run already keeps VIEW_LANGS languages of j (the caller clears *tmp). */
static const struct project_view *project_view(struct digest_run *r, int j, const char *lang,
					       struct project_view *tmp)
{
	struct project_view *v = r->views && strlen(lang) < sizeof v->lang ? r->views[j] : NULL;
	for (int k = 0; v && k < VIEW_LANGS; k++) {
		if (!v[k].lang[0])
			view_fill(r, &r->projects[j], lang, &v[k]);
		if (!strcmp(v[k].lang, lang))
			return &v[k];
	}
	view_fill(r, &r->projects[j], lang, tmp);
	return tmp;
}

/* The words of pattern why found in project j's text (match_found_joined), looked for once
 * per run for each of the project's FOUND_MEMO latest patterns (every subscriber of a pattern
 * is told the same words); caller frees. */
static char *found_words(struct digest_run *r, int j, const char *why)
{
	struct found_memo *m = r->found ? r->found[j] : NULL;
	for (int k = 0; m && k < FOUND_MEMO; k++)
		if (m[k].why && !strcmp(m[k].why, why))
			return xstrdup(m[k].found);
	char *found = match_found_joined(why, r->texts[j]);
	if (!m)
		return found;
	free(m[FOUND_MEMO - 1].why);
	free(m[FOUND_MEMO - 1].found);
	memmove(&m[1], &m[0], (FOUND_MEMO - 1) * sizeof *m);
	m[0].why = xstrdup(why);
	m[0].found = xstrdup(found);
	return found;
}

static void item_fill(struct digest_run *r, int j, int64_t sid, const char *lang,
		      const char *why, struct vars *item, char **owned, int *no)
{
	const struct config *c = r->c;
	const struct project *p = &r->projects[j];
	memset(item, 0, sizeof *item);
	struct project_view tmp = { 0 };
	pthread_mutex_lock(&r->memo_lock);
	const struct project_view *pv = project_view(r, j, lang, &tmp);
	char *budget = xstrdup(pv->budget), *deadline = xstrdup(pv->deadline);
	char *skills = xstrdup(pv->skills), *extract = xstrdup(pv->extract);
	char *title = xstrdup(pv->title);
	char *found = found_words(r, j, why);
	pthread_mutex_unlock(&r->memo_lock);
	view_clear(&tmp);
	char *id = xasprintf("%lld", (long long)p->id);
	char *bids = xasprintf("%d/%d", p->bids, c->bid_cap);
	int64_t ids[2] = { p->id, sid };
	char *bkey = keys_make("b", ids, 2);
	char *baddr = keys_address(c, "bid", bkey);
	char *link = xasprintf("mailto:%s?subject=Re:%%20%s%%20%lld", baddr,
			       catalog_text(lang, "mailto.digest_project"), (long long)p->id);
	vars_set(item, "id", id);
	vars_set(item, "title", title);
	vars_set(item, "budget", budget);
	vars_set(item, "deadline", deadline);
	vars_set(item, "skills", skills);
	vars_set(item, "bids", bids);
	vars_set(item, "extract", extract);
	vars_set(item, "why", found);
	vars_set(item, "bid_link", link);
	vars_set(item, "bid_address", baddr);
	owned[(*no)++] = id;
	owned[(*no)++] = budget;
	owned[(*no)++] = deadline;
	owned[(*no)++] = bids;
	owned[(*no)++] = extract;
	owned[(*no)++] = bkey;
	owned[(*no)++] = baddr;
	owned[(*no)++] = link;
	owned[(*no)++] = skills;
	owned[(*no)++] = found;
	owned[(*no)++] = title;
}

/* Queues the mail v/o of template kind to subscriber s, records the n projects pids it lists
 * and claims its period in one transaction, if s is still active (an unsubscribe meanwhile
 * wins: the claim and the mail go back). 1 sent, 0 not (no longer active, or claimed
 * already), -1 error. */
/* Commits the open batch of alerts (each claim with its mail: all or none of them). 0 or -1;
 * on failure the batch is rolled back (unclaimed, it is sent by a later pass). */
static int batch_commit(struct digest_run *r)
{
	if (!r->batch_open)
		return 0;
	r->batch_open = 0;
	r->batch_n = 0;
	if (store_commit(r->s) < 0) {
		store_rollback(r->s);
		return -1;
	}
	return 0;
}

/* Drops the open batch of alerts: none of its claims or mails happened. */
static void batch_abort(struct digest_run *r)
{
	if (r->batch_open)
		store_rollback(r->s);
	r->batch_open = 0;
	r->batch_n = 0;
}

/* The transaction of one claim and its mail: its own, or a savepoint of the alerts' batch. */
static int claim_begin(struct digest_run *r)
{
	if (!r->batching)
		return store_begin(r->s);
	if (!r->batch_open) {
		if (store_begin(r->s) < 0)
			return -1;
		r->batch_open = 1;
	}
	return store_savepoint(r->s);
}

/* Ends one claim: kept (commit, or release; the batch commits every CLAIM_BATCH) or undone.
 * 0 or -1. */
static int claim_end(struct digest_run *r, int keep)
{
	if (!r->batching) {
		if (keep && store_commit(r->s) == 0)
			return 0;
		store_rollback(r->s);
		return keep ? -1 : 0;
	}
	if (!keep)
		return store_savepoint_rollback(r->s);
	if (store_savepoint_release(r->s) < 0)
		return -1;
	return ++r->batch_n >= CLAIM_BATCH ? batch_commit(r) : 0;
}

static int queue_claimed(struct digest_run *r, struct subscriber *s, const char *period,
			 const int64_t *pids, int n, const char *kind, const struct made_mail *m,
			 struct outgoing *o)
{
	int rc = claim_begin(r);
	/* the row was loaded before this transaction: mark it only if it is still active */
	char now[32];
	clock_format_iso(r->now, now);
	/* an alert reads the row; a selection moves last_digest, the start of the next window */
	int alert = !strcmp(kind, "project_alert");
	int active = rc != 0 ? -1 : alert ? store_subscriber_alertable(r->s, s->id)
		: store_subscriber_digest_mark(r->s, s->id, now);
	int claimed = active == 1 ? store_digest_claim(r->s, s->id, period, n, clock_now()) : active;
	if (claimed == 1)
		rc = send_queue_made(r->c, r->s, kind, m, o);
	if (claimed == 1 && rc == 0) {
		/* a reply naming no project is read against the ones listed here */
		char *mid = xasprintf("%s@%s", o->token, r->c->domain);
		rc = store_selection_record(r->s, s->id, mid, pids, n, clock_now());
		free(mid);
	}
	if (claimed == 0) {
		if (claim_end(r, 0) < 0)
			return -1;
		if (active == 0)
			log_info("stage=digest subscriber=%lld period=%s result=skipped "
				 "reason=\"no longer active\"", (long long)s->id, period);
		return 0;
	}
	if (claimed < 0 || rc < 0) {
		/* in the alert pass one claim that fails drops only itself, its savepoint undone
		 * and the batch going on; a transient error, or a batch that cannot go on, still
		 * ends the pass (what it committed stays, the rest is done by the next one) */
		int transient = store_error_is_transient(r->s);
		char why[160];
		snprintf(why, sizeof why, "%s", store_errmsg(r->s));
		if (claim_end(r, 0) < 0 || !r->dropping || !r->batch_open || transient)
			return -1;
		r->dropped++;
		log_warn("stage=digest subscriber=%lld period=%s result=dropped reason=\"%s\"",
			 (long long)s->id, period, why);
		return 0;
	}
	return claim_end(r, 1) < 0 ? -1 : 1;
}

/* The line that ends a selection listing MAX_PER_DIGEST of more matches: how many more, where
 * to see them (the board's page when public_url says where it is) and the `test` reply that
 * lists them, in lang; caller frees. */
static char *more_line(const struct config *c, const char *lang, int more, const char *saddr)
{
	char n[16];
	snprintf(n, sizeof n, "%d", more);
	struct vars v = { 0 };
	vars_set(&v, "n", n);
	vars_set(&v, "url", c->public_url ? c->public_url : "");
	vars_set(&v, "command_address", saddr);
	return catalog_format(lang, c->public_url && *c->public_url ? "digest.more_page"
			      : "digest.more", &v);
}

/* What a dry run prints of a selection (or an alert) a real run would send now. */
static void dry_print(const struct subscriber *s, const char *period, const struct vars *items,
		      const char **why, int n, int more, int instant)
{
	printf("%s %s: %d project%s%s", s->address, period, n, n == 1 ? "" : "s",
	       instant ? " (instant)" : "");
	printf(more > 0 ? " (%d more not listed)\n" : "\n", more);
	for (int i = 0; i < n; i++)
		printf("  #%s %s  (matched by `%s`)\n", items[i].value[0], items[i].value[1], why[i]);
}

/* Makes the mail of one subscriber's selection (or instant alert) of the n projects list
 * (why: the pattern of each) into m: its items, keys, template and quoted-printable. Any
 * thread: the run's memos are shared under memo_lock, the rest is read only. 0 or -1. */
static int mail_make(struct digest_run *r, const struct subscriber *s, const int *list,
		     const char *const *why, int n, int more, int instant, struct made_mail *m)
{
	const struct config *c = r->c;
	const char *lang = catalog_language_or(s->language, c->language);
	struct vars items[MAX_PER_DIGEST];
	char *owned[MAX_PER_DIGEST * 11];
	int no = 0;
	int64_t sid = s->id;
	for (int i = 0; i < n; i++)
		item_fill(r, list[i], sid, lang, why[i], &items[i], owned, &no);
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
	char *more_text = more > 0 ? more_line(c, lang, more, saddr) : NULL;
	vars_set(&v, "more", more_text ? more_text : "");
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->robot_address,
		.to_name = s->name,
		.to = s->address,
		/* an instant alert is one project: a plain reply is a bid on it (owned[6]: the
		 * first project's bid address, owned[5] its key) */
		.reply_to = instant ? owned[6] : saddr,
		.auto_submitted = "auto-generated",
		/* the key rides in References too, for providers that drop the +tag */
		.key_ref = instant ? owned[5] : skey,
		.unsubscribe_key = ukey,
	};
	int rc = send_make(c, instant ? "project_alert" : "digest", lang, &v, &o, m);
	for (int i = 0; i < no; i++)
		free(owned[i]);
	free(more_text);
	free(skey);
	free(saddr);
	free(ukey);
	return rc;
}

/* ---------------------------------------------------------------- the preparer
 * While this thread claims and stores a page's mails (SQLite's statements, one core), a
 * second one renders and composes the next ones (templates, quoted-printable): the mails the
 * page's loop is expected to send, in the order it sends them, at most AHEAD made before
 * the loop takes them. The loop takes a made mail only when it is the one it would make
 * (same subscriber, period and projects); one it no longer sends (an unsubscribe meanwhile)
 * is dropped, one it did not expect is made here. Nothing is claimed or stored there. */
#define AHEAD 64

struct ahead {
	int i;				/* the subscriber of the page */
	char period[32];
	const int *list;		/* the projects, newest first, and each one's pattern */
	const char *const *why;
	int n, more, instant;
	int one;			/* an alert's project (list points here) */
	const char *one_why;
	int rc;
	struct made_mail m;
};

struct preparer {
	struct digest_run *r;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t made, taken;
	struct ahead *jobs;
	int njobs, cap;
	int next;			/* jobs below it taken or dropped by the loop */
	int nmade;			/* jobs below it made */
	int stop;
	int loop_waits, maker_waits;	/* who sleeps on the condition: woken only then */
};

static void *preparer_main(void *arg)
{
	struct preparer *p = arg;
	pthread_mutex_lock(&p->lock);
	for (int k = 0; k < p->njobs && !p->stop; k++) {
		if (k - p->next >= AHEAD) {
			/* full: sleeps until the loop has taken half of what is made */
			p->maker_waits = 1;
			while (!p->stop && k - p->next > AHEAD / 2)
				pthread_cond_wait(&p->taken, &p->lock);
			p->maker_waits = 0;
		}
		struct ahead *a = &p->jobs[k];
		if (!p->stop && k >= p->next) {	/* not dropped by the loop already */
			pthread_mutex_unlock(&p->lock);
			a->rc = mail_make(p->r, &p->r->subs[a->i], a->list, a->why, a->n,
					  a->more, a->instant, &a->m);
			pthread_mutex_lock(&p->lock);
			if (k < p->next)	/* dropped while it was made */
				made_mail_clear(&a->m);
		}
		p->nmade = k + 1;
		if (p->loop_waits)
			pthread_cond_signal(&p->made);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Adds the mail the loop is expected to send to subscriber i for period. */
static void preparer_add(struct preparer *p, int i, const char *period, const int *list,
			 const char *const *why, int n, int more, int instant)
{
	if (p->njobs == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->jobs = xrealloc(p->jobs, (size_t)p->cap * sizeof *p->jobs);
	}
	struct ahead *a = &p->jobs[p->njobs++];
	memset(a, 0, sizeof *a);
	a->i = i;
	snprintf(a->period, sizeof a->period, "%s", period);
	a->list = list;
	a->why = why;
	a->n = n;
	a->more = more;
	a->instant = instant;
}

/* The made mail for subscriber i's period with these projects, moved into m: 1, or 0 when
 * none was made for it (the caller makes it). The jobs before it are dropped. */
static int preparer_take(struct preparer *p, int i, const char *period, const int *list,
			 int n, struct made_mail *m)
{
	int k = p->next;
	while (k < p->njobs && p->jobs[k].i <= i &&
	       (p->jobs[k].i < i || strcmp(p->jobs[k].period, period)))
		k++;
	if (k >= p->njobs || p->jobs[k].i != i)
		return 0;
	struct ahead *a = &p->jobs[k];
	/* a selection's job points at the page's pick itself (picks do not change during a page);
	 * an alert's holds its project */
	int same = a->n == n;
	for (int t = 0; same && t < n; t++)
		same = a->list[t] == list[t];
	pthread_mutex_lock(&p->lock);
	/* the jobs before k are dropped: those made are freed here, the maker skips the others
	 * (and frees the one it is making) */
	for (int t = p->next; t < k && t < p->nmade; t++)
		made_mail_clear(&p->jobs[t].m);
	p->next = k;
	if (p->nmade <= k) {
		if (p->maker_waits)
			pthread_cond_signal(&p->taken);
		p->loop_waits = 1;
		while (p->nmade <= k)
			pthread_cond_wait(&p->made, &p->lock);
		p->loop_waits = 0;
	}
	p->next = k + 1;
	if (p->maker_waits && p->nmade - p->next <= AHEAD / 2)
		pthread_cond_signal(&p->taken);
	pthread_mutex_unlock(&p->lock);
	if (!same || a->rc < 0) {
		made_mail_clear(&a->m);
		return 0;
	}
	*m = a->m;
	memset(&a->m, 0, sizeof a->m);
	return 1;
}

/* Starts the second thread on the jobs added (none: nothing started). 0, or -1 when no
 * thread could start (the loop makes every mail itself). */
static int preparer_start(struct preparer *p)
{
	if (!p->njobs)
		return 0;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->made, NULL);
	pthread_cond_init(&p->taken, NULL);
	if (pthread_create(&p->thread, NULL, preparer_main, p) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->made);
		pthread_cond_destroy(&p->taken);
		p->njobs = 0;
		return -1;
	}
	return 1;
}

/* Stops the thread (what it made and the loop did not take is dropped) and frees p. */
static void preparer_free(struct preparer *p)
{
	if (!p)
		return;
	if (p->njobs) {
		pthread_mutex_lock(&p->lock);
		p->stop = 1;
		pthread_cond_signal(&p->taken);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
		for (int t = p->next; t < p->nmade; t++)
			made_mail_clear(&p->jobs[t].m);
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->made);
		pthread_cond_destroy(&p->taken);
	}
	free(p->jobs);
	free(p);
}

/* What a dry run prints of a selection or an alert: the items a real run would list. */
static int dry_one(struct digest_run *r, struct subscriber *s, const char *period, const int *list,
		   const char *const *why, int n, int more, int instant)
{
	int rc = store_digest_claimed(r->s, s->id, period);
	if (rc != 0)
		return rc < 0 ? -1 : 0;	/* claimed already: a real run would send nothing */
	const char *lang = catalog_language_or(s->language, r->c->language);
	struct vars items[MAX_PER_DIGEST];
	char *owned[MAX_PER_DIGEST * 11];
	const char *whys[MAX_PER_DIGEST];
	int no = 0;
	for (int i = 0; i < n; i++) {
		item_fill(r, list[i], s->id, lang, why[i], &items[i], owned, &no);
		whys[i] = why[i];
	}
	dry_print(s, period, items, whys, n, more, instant);
	for (int i = 0; i < no; i++)
		free(owned[i]);
	return 1;
}

/* Queues the selection (or the instant alert) of one subscriber; claims the period in the same
 * transaction (a dry run prints it instead). Returns 1 sent, 0 nothing to send, -1 error. */
static int send_one(struct digest_run *r, struct subscriber *s, const char *period,
		    const int *list, const char *const *why, int n, int more, int instant)
{
	if (r->dry_run)
		return dry_one(r, s, period, list, why, n, more, instant);
	const char *lang = catalog_language_or(s->language, r->c->language);
	int64_t pids[MAX_PER_DIGEST];
	for (int i = 0; i < n; i++)
		pids[i] = r->projects[list[i]].id;
	struct made_mail m;
	if ((!r->prep || !preparer_take(r->prep, (int)(s - r->subs), period, list, n, &m)) &&
	    mail_make(r, s, list, why, n, more, instant, &m) < 0) {
		if (!r->dropping)
			return -1;
		/* in the alert pass a mail that cannot be made drops only itself, unclaimed */
		r->dropped++;
		log_warn("stage=digest subscriber=%lld period=%s result=dropped reason=\"the mail "
			 "could not be made\"", (long long)s->id, period);
		return 0;
	}
	struct outgoing o = { .to = s->address, .quiet = instant };	/* one line per pass */
	/* the alerts of one project in one language share all but a few lines: stored once */
	char share[64];
	if (instant && n == 1) {
		snprintf(share, sizeof share, "alert/%lld/%s", (long long)pids[0], lang);
		o.share = share;
	}
	int rc = queue_claimed(r, s, period, pids, n, instant ? "project_alert" : "digest", &m, &o);
	made_mail_clear(&m);
	if (rc == 1 && instant) {
		if (!r->first_row)
			r->first_row = o.outbox_id;
		r->last_row = o.outbox_id;
	}
	return rc;
}

/* Claims an empty period (nothing matched): no mail, but the period is done. */
static int claim_empty(struct digest_run *r, struct subscriber *s, const char *period)
{
	if (r->dry_run)
		return 0;
	if (claim_begin(r) < 0)
		return -1;
	char now[32];
	clock_format_iso(r->now, now);
	int claimed = store_subscriber_digest_mark(r->s, s->id, now);
	if (claimed == 1)
		claimed = store_digest_claim(r->s, s->id, period, 0, clock_now());
	if (claimed <= 0) {
		int undone = claim_end(r, 0);
		return claimed < 0 || undone < 0 ? -1 : 0;
	}
	return claim_end(r, 1);
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
static const char *last_sign_of_life(const struct subscriber *sub)
{
	return sub->last_activity ? sub->last_activity : sub->confirmed ? sub->confirmed
		: sub->created;
}

/* Whether sub has been silent long enough for check_inactive to act (it may write then). */
static int inactive_long(const struct digest_run *r, const struct subscriber *sub)
{
	time_t last = clock_parse_iso(last_sign_of_life(sub));
	return last != (time_t)-1 && r->now - last >= INACTIVE_AFTER;
}

static int check_inactive(struct digest_run *r, struct subscriber *sub)
{
	const char *act = last_sign_of_life(sub);
	if (!inactive_long(r, sub))
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
		int k = store_subscriber_status_set(r->s, sub->id, SUB_ACTIVE, SUB_PAUSED);
		if (k == 1)
			log_info("stage=digest subscriber=%lld result=paused reason=inactive",
				 (long long)sub->id);
		return k < 0 ? -1 : 1;
	}
	const struct config *c = r->c;
	const char *lang = catalog_language_or(sub->language, c->language);
	int64_t cid;
	if (store_begin(r->s) < 0)
		return -1;
	if (store_confirmation_insert(r->s, sub->address, sub->id, "continue", "", PAUSE_AFTER, &cid, clock_now()) < 0) {
		store_rollback(r->s);
		return -1;
	}
	char *question = catalog_format(lang, "digest.still_interested", NULL);
	char *result = catalog_format(lang, "digest.inactive", NULL);
	int rc = robot_notice(r, sub, lang, question, result, 1);
	free(question);
	free(result);
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
	const char *lang = catalog_language_or(sub->language, c->language);
	char *line = xasprintf("skills %s", src);
	char *result = catalog_format(lang, "digest.pattern_limit", NULL);
	int rc = robot_notice(r, sub, lang, line, result, 0);
	free(result);
	free(line);
	return rc;
}

/* Tells a subscriber, once for this profile, that their patterns spent their matching budget
 * in a pass, naming the costliest; nothing was matched or sent to them past it. 0 or -1. */
static int report_budget(struct digest_run *r, const struct subscriber *sub, int base_skill,
			 int base_excl)
{
	const struct config *c = r->c;
	const char *lang = catalog_language_or(sub->language, c->language);
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
	char ms[16];
	snprintf(ms, sizeof ms, "%d", c->match_budget_pass_ms);
	struct vars tv = { 0 };
	vars_set(&tv, "ms", ms);
	vars_set(&tv, "worst", worst.data ? worst.data : "");
	char *text = catalog_format(lang, "digest.pattern_budget", &tv);
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

/* One matcher for every active profile, identical patterns once: each subscriber who may get
 * a selection gets a matching group within the pass budget and its patterns' ids. */
static void digest_profiles_add(struct digest_run *r)
{
	size_t nsk = 0, nex = 0;
	for (int i = 0; i < r->ns; i++) {
		nsk += r->subs[i].skills.n;
		nex += r->subs[i].excludes.n;
	}
	r->m = matcher_new();
	r->skill_ids = xcalloc(nsk + 1, sizeof *r->skill_ids);
	r->excl_ids = xcalloc(nex + 1, sizeof *r->excl_ids);
	r->groups = xcalloc((size_t)r->ns + 1, sizeof *r->groups);
	size_t a = 0, b = 0;
	for (int i = 0; i < r->ns; i++) {
		struct subscriber *sub = &r->subs[i];
		int live = sub->status == SUB_ACTIVE && sub->skills.n;
		r->groups[i] = live ? matcher_group_new(r->m, (int64_t)r->c->match_budget_pass_ms
							* 1000000) : -1;
		if (live)
			profile_add(r->m, r->groups[i], sub, r->skill_ids + a, r->excl_ids + b);
		for (size_t k = 0; !live && k < sub->skills.n; k++)
			r->skill_ids[a + k] = -1;
		for (size_t k = 0; !live && k < sub->excludes.n; k++)
			r->excl_ids[b + k] = -1;
		a += sub->skills.n;
		b += sub->excludes.n;
	}
	r->npat = matcher_count(r->m);
}

/* Each open project of the run matched once against every pattern of the page: r->hits (a
 * bit per pattern), and r->limited for the patterns that hit a matching limit (logged once). */
static void digest_projects_match(struct digest_run *r)
{
	int np = r->npat;
	size_t row = (size_t)np / 8 + 1;
	r->hits = xcalloc((size_t)r->nproj + 1, sizeof *r->hits);
	r->hit_ids = xcalloc((size_t)r->nproj + 1, sizeof *r->hit_ids);
	r->nhit = xcalloc((size_t)r->nproj + 1, sizeof *r->nhit);
	r->limited = xcalloc((size_t)np + 1, 1);
	int *tmp = xcalloc((size_t)np + 1, sizeof *tmp), *lim = xcalloc((size_t)np + 1, sizeof *lim);
	for (int j = 0; j < r->nproj; j++) {
		r->hits[j] = xcalloc(row, 1);
		if (np == 0)
			continue;
		const char *text = r->texts[j];
		int nl = 0;
		int n = matcher_run(r->m, text, strlen(text), tmp, np, lim, &nl);
		for (int k = 0; k < n; k++)
			r->hits[j][tmp[k] >> 3] |= (unsigned char)(1u << (tmp[k] & 7));
		r->nhit[j] = n;
		r->hit_ids[j] = n ? xmalloc((size_t)n * sizeof **r->hit_ids) : NULL;
		if (n)
			memcpy(r->hit_ids[j], tmp, (size_t)n * sizeof *tmp);
		for (int k = 0; k < nl; k++) {
			if (!r->limited[lim[k]])
				log_warn("stage=digest project=%lld pattern_id=%d result=limit "
					 "(counted as no match)", (long long)r->projects[j].id, lim[k]);
			r->limited[lim[k]] = 1;
		}
	}
	free(tmp);
	free(lim);
}

/* Whether project j of the run goes to sub in its window [since, now) ([since, now] for an
 * instant one): the pattern that matched it, or NULL. */
static const char *window_wanted(struct digest_run *r, const struct subscriber *sub,
				 const char *since, int instant, int base_skill, int base_excl,
				 int j)
{
	const char *pub = published_at(&r->projects[j]);
	int after = strcmp(pub, r->nowiso);
	if (strcmp(pub, since) < 0 || after > 0 || (after == 0 && !instant))
		return NULL;
	return project_wanted(r, sub, base_skill, base_excl, j);
}

/* The projects published in subscriber i's window that it wants, newest first: an instant
 * subscriber's are each sent as their own alert (claimed as period p<ID>), the others' kept in
 * list/why (at most MAX_PER_DIGEST, *total counting them all). The number kept, or -1 on error.
 * A selection's window is
 * [since, now): a project published in the second of a claim belongs to the next one, whether
 * it came before or after it. An alert's is [since, now], each project being claimed alone. */
static int digest_projects_pick(struct digest_run *r, int i, int base_skill, int base_excl,
				int *list, const char **why, int *total)
{
	struct subscriber *sub = &r->subs[i];
	/* a copy of the window's start, whatever the claims below change in sub */
	char since[32];
	snprintf(since, sizeof since, "%s", window_start(sub));
	int instant = !strcmp(sub->frequency, "instant"), n = 0;
	for (int j = r->nproj - 1; j >= 0; j--) {
		const char *w = window_wanted(r, sub, since, instant, base_skill, base_excl, j);
		if (!w)
			continue;
		if (instant) {
			char period[32];
			snprintf(period, sizeof period, "p%lld", (long long)r->projects[j].id);
			int lst[1] = { j };
			const char *wh[1] = { w };
			int k = send_one(r, sub, period, lst, wh, 1, 0, 1);
			if (k < 0)
				return -1;
			r->sent += k > 0;
		} else if (++*total <= MAX_PER_DIGEST) {
			list[n] = j;
			why[n++] = w;
		}
	}
	return n;
}

/* Subscriber i whose matching ran out of budget this pass: nothing is sent or claimed (what
 * matched before is partial); logged, and told once (or printed in a dry run). 0 or -1. */
static int digest_over_budget(struct digest_run *r, int i, int base_skill, int base_excl)
{
	struct subscriber *sub = &r->subs[i];
	log_warn("stage=digest subscriber=%lld result=over-budget cpu_ms=%lld budget_ms=%d "
		 "(matching skipped for this pass)", (long long)sub->id,
		 (long long)(matcher_group_spent(r->m, r->groups[i]) / 1000000),
		 r->c->match_budget_pass_ms);
	if (r->dry_run)
		printf("%s: matching budget exceeded, skipped\n", sub->address);
	else if (report_budget(r, sub, base_skill, base_excl) < 0)
		return -1;
	return 0;
}

/* The UTC time of the board's local time want, found from hint (a zone's offset changes at
 * most twice a year: a few corrections reach it). */
static time_t local_to_utc(const struct tm *want, time_t hint)
{
	struct tm w = *want;
	time_t target = timegm(&w), t = hint;
	for (int i = 0; i < 4; i++) {
		struct tm l;
		clock_local(t, &l);
		time_t diff = target - timegm(&l);
		if (diff == 0)
			break;
		t += diff;
	}
	return t;
}

/* When subscriber s's next selection after now becomes due: the upcoming moment when none is
 * due at now, else the next period's (daily: tomorrow 08:00; weekly: the day at 08:00 of the
 * next ISO week). Always after now. */
static time_t selection_next(const struct subscriber *s, time_t now)
{
	struct tm tm, want;
	clock_local(now, &tm);
	want = tm;
	want.tm_hour = DIGEST_HOUR;
	want.tm_min = want.tm_sec = 0;
	if (!strcmp(s->frequency, "daily")) {
		want.tm_mday += tm.tm_hour >= DIGEST_HOUR;
	} else {
		int today = tm.tm_wday == 0 ? 7 : tm.tm_wday, day = s->day == 0 ? 7 : s->day;
		want.tm_mday += day - today;
		if (today > day || (today == day && tm.tm_hour >= DIGEST_HOUR))
			want.tm_mday += 7;
	}
	time_t t = local_to_utc(&want, now);
	char period[32];
	for (int i = 0; i < 240 && !period_due(s, t, period, sizeof period); i++)
		t += 60;	/* 08:00 skipped by a clock change: the first minute after */
	return t > now ? t : now + 60;
}

/* Records that subscriber sub's next selection may be due at t (0: never), written at the end
 * of the page (store_subscriber_next_due_set: a change meanwhile wins). A dry run moves none. */
static void due_move(struct digest_run *r, const struct subscriber *sub, time_t t)
{
	if (r->dry_run)
		return;
	if (!r->due_ids) {
		r->due_ids = xcalloc(DIGEST_PAGE, sizeof *r->due_ids);
		r->due_at = xcalloc(DIGEST_PAGE, sizeof *r->due_at);
		r->due_was = xcalloc(DIGEST_PAGE, sizeof *r->due_was);
	}
	if (r->ndue >= DIGEST_PAGE)
		return;	/* never: a page holds at most DIGEST_PAGE subscribers */
	char at[32];
	if (t)
		clock_format_iso(t, at);
	r->due_ids[r->ndue] = sub->id;
	r->due_at[r->ndue] = t ? xstrdup(at) : NULL;
	r->due_was[r->ndue++] = sub->next_due ? xstrdup(sub->next_due) : NULL;
}

/* Writes the page's next_due moves in one transaction. 0 or -1. */
static int due_flush(struct digest_run *r)
{
	int rc = r->ndue ? store_begin(r->s) : 0;
	for (int i = 0; i < r->ndue && rc == 0; i++)
		rc = store_subscriber_next_due_set(r->s, r->due_ids[i], r->due_at[i],
						   r->due_was[i]) < 0 ? -1 : 0;
	if (r->ndue && (rc < 0 || store_commit(r->s) < 0)) {
		store_rollback(r->s);
		rc = -1;
	}
	for (int i = 0; i < r->ndue; i++) {
		free(r->due_at[i]);
		free(r->due_was[i]);
	}
	r->ndue = 0;
	return rc;
}

/* Each selection subscriber of the page: the projects of its window [since, now) it wants,
 * newest first, in r->picks (at most MAX_PER_DIGEST, all counted). Work proportional to the
 * hits: a project is looked at only for the owners of the skill patterns it matched. */
static void digest_page_pick(struct digest_run *r)
{
	int ns = r->ns, np = r->npat;
	int *bs = xcalloc((size_t)ns + 1, sizeof *bs), *be = xcalloc((size_t)ns + 1, sizeof *be);
	int *start = xcalloc((size_t)np + 2, sizeof *start);
	int *stamp = xmalloc(((size_t)ns + 1) * sizeof *stamp);
	for (int i = 0; i < ns; i++) {
		const struct subscriber *sub = &r->subs[i];
		bs[i + 1] = bs[i] + (int)sub->skills.n;
		be[i + 1] = be[i] + (int)sub->excludes.n;
		for (size_t k = 0; k < sub->skills.n; k++)
			if (r->skill_ids[bs[i] + (int)k] >= 0)
				start[r->skill_ids[bs[i] + (int)k] + 1]++;
		stamp[i] = -1;
	}
	for (int k = 0; k < np; k++)
		start[k + 1] += start[k];
	int *owner = xcalloc((size_t)start[np] + 1, sizeof *owner);
	int *fill = xcalloc((size_t)np + 1, sizeof *fill);
	for (int i = 0; i < ns; i++)
		for (int k = bs[i]; k < bs[i + 1]; k++)
			if (r->skill_ids[k] >= 0)
				owner[start[r->skill_ids[k]] + fill[r->skill_ids[k]]++] = i;
	r->picks = xcalloc((size_t)ns + 1, sizeof *r->picks);
	for (int j = r->nproj - 1; j >= 0; j--) {
		const char *pub = published_at(&r->projects[j]);
		if (strcmp(pub, r->nowiso) >= 0)
			continue;	/* a selection's window ends before now */
		for (int h = 0; h < r->nhit[j]; h++) {
			int id = r->hit_ids[j][h];
			for (int o = start[id]; o < start[id + 1]; o++) {
				int i = owner[o];
				if (stamp[i] == j || strcmp(pub, window_start(&r->subs[i])) < 0)
					continue;
				stamp[i] = j;
				const char *w = project_wanted(r, &r->subs[i], bs[i], be[i], j);
				struct pick *pk = &r->picks[i];
				if (w && ++pk->total <= MAX_PER_DIGEST) {
					pk->list[pk->n] = j;
					pk->why[pk->n++] = w;
				}
			}
		}
	}
	free(bs);
	free(be);
	free(start);
	free(stamp);
	free(owner);
	free(fill);
}

/* Subscriber i's selection when one is due at r->now: claimed with its mail (an empty one
 * without), its next_due moved on; over budget it stays due (tried again next pass). 0 or -1. */
static int digest_selection(struct digest_run *r, int i, int base_skill, int base_excl)
{
	struct subscriber *sub = &r->subs[i];
	char period[32];
	int live = sub->status == SUB_ACTIVE || sub->status == SUB_DISABLED;
	if (!strcmp(sub->frequency, "instant") || !live) {
		due_move(r, sub, 0);	/* the store's triggers keep these NULL: repaired */
		return 0;
	}
	time_t next = selection_next(sub, r->now);
	if (sub->status != SUB_ACTIVE || !sub->skills.n || !period_due(sub, r->now, period,
								      sizeof period) ||
	    store_address_disabled(r->s, sub->address) == 1) {
		due_move(r, sub, next);	/* not due yet, or nothing to send: the next moment */
		return 0;
	}
	/* what may open a transaction of its own runs after the batch so far is committed */
	int exhausted = matcher_group_exhausted(r->m, r->groups[i]);
	if ((exhausted || inactive_long(r, sub)) && batch_commit(r) < 0)
		return -1;
	if (!r->dry_run) {
		int k = check_inactive(r, sub);
		if (k != 0)
			return k < 0 ? -1 : 0;	/* paused now (next_due NULL by the store) */
	}
	if (exhausted)
		return digest_over_budget(r, i, base_skill, base_excl);
	struct pick *pk = &r->picks[i];
	int k = 0;
	if (pk->n == 0) {
		r->empty++;	/* nothing matched: no mail */
		k = claim_empty(r, sub, period);
	} else {
		k = send_one(r, sub, period, pk->list, pk->why, pk->n, pk->total - pk->n, 0);
		r->sent += k > 0;
	}
	if (k >= 0)
		due_move(r, sub, next);	/* claimed now, or already */
	return k < 0 ? -1 : 0;
}

/* Instant subscriber i's alerts for the projects of the pass (each claimed as p<ID>). 0 or -1. */
static int digest_alert(struct digest_run *r, int i, int base_skill, int base_excl)
{
	struct subscriber *sub = &r->subs[i];
	/* an address disabled by bounces reads as SUB_DISABLED (and the claim checks it again) */
	if (sub->status != SUB_ACTIVE || !sub->skills.n || strcmp(sub->frequency, "instant"))
		return 0;
	/* what may open a transaction of its own runs after the batch so far is committed */
	int exhausted = matcher_group_exhausted(r->m, r->groups[i]);
	if ((exhausted || inactive_long(r, sub)) && batch_commit(r) < 0)
		return -1;
	if (!r->dry_run) {
		int k = check_inactive(r, sub);
		if (k != 0)
			return k < 0 ? -1 : 0;	/* paused now, or asked whether to continue */
	}
	if (exhausted)
		return digest_over_budget(r, i, base_skill, base_excl);
	int list[MAX_PER_DIGEST], total = 0;
	const char *why[MAX_PER_DIGEST];
	return digest_projects_pick(r, i, base_skill, base_excl, list, why, &total) < 0 ? -1 : 0;
}

/* A pattern that hit a limit counts as no match; its active owners in the page are told once
 * each (not those over budget in this pass), before their selection. */
static void digest_limits_report(struct digest_run *r)
{
	size_t a = 0, b = 0;
	for (int i = 0; i < r->ns; i++) {
		struct subscriber *sub = &r->subs[i];
		for (size_t k = 0; k < sub->skills.n + sub->excludes.n; k++) {
			int skill = k < sub->skills.n;
			int id = skill ? r->skill_ids[a + k] : r->excl_ids[b + k - sub->skills.n];
			const char *src = skill ? sub->skills.v[k] : sub->excludes.v[k - sub->skills.n];
			if (id < 0 || !r->limited[id] || sub->status != SUB_ACTIVE ||
			    matcher_group_exhausted(r->m, r->groups[i]))
				continue;
			if (store_pattern_limit_report(r->s, sub->id, src, clock_now()) == 1)
				report_limit(r, sub, src);
		}
		a += sub->skills.n;
		b += sub->excludes.n;
	}
}

/* Frees what a page holds: its subscribers, their matcher and the hits. */
static void digest_page_clear(struct digest_run *r)
{
	for (int j = 0; r->hits && j < r->nproj; j++) {
		free(r->hits[j]);
		free(r->hit_ids[j]);
	}
	free(r->hits);
	free(r->hit_ids);
	free(r->nhit);
	free(r->picks);
	r->hit_ids = NULL;
	r->nhit = NULL;
	r->picks = NULL;
	free(r->skill_ids);
	free(r->excl_ids);
	free(r->groups);
	free(r->limited);
	r->m = matcher_free(r->m);
	for (int i = 0; i < r->ns; i++)
		subscriber_clear(&r->subs[i]);
	free(r->subs);
	r->hits = NULL;
	r->skill_ids = r->excl_ids = r->groups = NULL;
	r->limited = NULL;
	r->subs = NULL;
	r->ns = 0;
}

/* Frees what a run holds. */
static void digest_run_clear(struct digest_run *r)
{
	digest_page_clear(r);
	for (int j = 0; j < r->nproj; j++) {
		project_clear(&r->projects[j]);
		free(r->texts ? r->texts[j] : NULL);
		for (int k = 0; r->views && k < VIEW_LANGS; k++)
			view_clear(&r->views[j][k]);
		for (int k = 0; r->found && k < FOUND_MEMO; k++) {
			free(r->found[j][k].why);
			free(r->found[j][k].found);
		}
	}
	free(r->projects);
	free(r->texts);
	free(r->views);
	free(r->found);
	r->views = NULL;
	r->found = NULL;
	r->projects = NULL;
	r->texts = NULL;
	r->nproj = 0;
	free(r->due_ids);
	free(r->due_at);
	free(r->due_was);
	r->due_ids = NULL;
	r->due_at = r->due_was = NULL;
}

/* The page of subscribers in r->subs: one matcher for their profiles, the run's projects
 * matched against it, then each one's selection (or alerts), the limits reported and the
 * next_due moves written. 0 or -1. */
/* Whether instant subscriber i of the page has anything to do in this alert pass: one of its
 * skill patterns matched a project of the pass, or its matching ran out of budget. The others
 * are not looked at (an alert pass costs its hits, not its profiles). */
static int alert_candidate(const struct digest_run *r, int i, int base_skill)
{
	const struct subscriber *sub = &r->subs[i];
	if (r->groups[i] < 0)
		return 0;
	if (matcher_group_exhausted(r->m, r->groups[i]))
		return 1;
	for (size_t k = 0; k < sub->skills.n; k++) {
		int id = r->skill_ids[base_skill + (int)k];
		for (int j = 0; id >= 0 && j < r->nproj; j++)
			if (r->hits[j][id >> 3] & (1u << (id & 7)))
				return 1;
	}
	return 0;
}

/* Whether the page's loop will try to send to subscriber i at all, as far as can be told
 * before it runs (what it reads from the store may still say no). */
static int page_may_send(struct digest_run *r, int i, int alerts, int base_skill)
{
	const struct subscriber *sub = &r->subs[i];
	int instant = !strcmp(sub->frequency, "instant");
	if (sub->status != SUB_ACTIVE || !sub->skills.n || instant != alerts ||
	    (alerts && !alert_candidate(r, i, base_skill)))
		return 0;
	return !matcher_group_exhausted(r->m, r->groups[i]) && !inactive_long(r, sub);
}

/* The mails the page's loop is expected to send, in its order, made ahead on a second thread
 * (the preparer); none in a dry run. */
static void page_prepare(struct digest_run *r, int alerts)
{
	if (r->dry_run || !r->templates_ready)
		return;
	struct preparer *p = xcalloc(1, sizeof *p);
	p->r = r;
	size_t a = 0, b = 0;
	for (int i = 0; i < r->ns; i++) {
		const struct subscriber *sub = &r->subs[i];
		char period[32];
		if (!page_may_send(r, i, alerts, (int)a))
			;
		else if (!alerts) {
			const struct pick *pk = &r->picks[i];
			if (pk->n && period_due(sub, r->now, period, sizeof period))
				preparer_add(p, i, period, pk->list, pk->why, pk->n,
					     pk->total - pk->n, 0);
		} else {
			char since[32];
			snprintf(since, sizeof since, "%s", window_start(sub));
			for (int j = r->nproj - 1; j >= 0; j--) {
				const char *w = window_wanted(r, sub, since, 1, (int)a, (int)b, j);
				if (!w)
					continue;
				snprintf(period, sizeof period, "p%lld", (long long)r->projects[j].id);
				preparer_add(p, i, period, NULL, NULL, 1, 0, 1);
				struct ahead *last = &p->jobs[p->njobs - 1];
				last->one = j;
				last->one_why = w;
			}
		}
		a += sub->skills.n;
		b += sub->excludes.n;
	}
	/* an alert's list points into its job, where it stays (jobs no longer move) */
	for (int k = 0; k < p->njobs; k++)
		if (p->jobs[k].instant) {
			p->jobs[k].list = &p->jobs[k].one;
			p->jobs[k].why = &p->jobs[k].one_why;
		}
	if (preparer_start(p) <= 0) {
		preparer_free(p);
		return;
	}
	r->prep = p;
}

static int digest_page_run(struct digest_run *r, int alerts)
{
	digest_profiles_add(r);
	digest_projects_match(r);
	if (!r->dry_run)
		digest_limits_report(r);
	if (!alerts)
		digest_page_pick(r);
	page_prepare(r, alerts);
	int rc = 0;
	size_t a = 0, b = 0;
	for (int i = 0; i < r->ns && rc == 0; i++) {
		r->seen++;
		progress("digest", (size_t)r->seen, (size_t)r->seen);
		if (!alerts)
			rc = digest_selection(r, i, (int)a, (int)b);
		else if (alert_candidate(r, i, (int)a))
			rc = digest_alert(r, i, (int)a, (int)b);
		a += r->subs[i].skills.n;
		b += r->subs[i].excludes.n;
	}
	preparer_free(r->prep);
	r->prep = NULL;
	if (rc == 0)
		rc = batch_commit(r);
	else
		batch_abort(r);
	if (due_flush(r) < 0)
		rc = -1;
	digest_page_clear(r);
	return rc;
}

/* Loads the open projects published at or after since (and not after now) into r, with
 * their texts; keep (when not NULL) says which to keep. The count or -1. */
static int digest_projects_load(struct digest_run *r, const char *since,
				int (*keep)(const struct digest_run *, const struct project *))
{
	struct project *v;
	int n = store_project_select(r->s, PROJECT_OPEN, since, 1, &v);
	if (n < 0)
		return -1;
	r->projects = xcalloc((size_t)n + 1, sizeof *r->projects);
	r->texts = xcalloc((size_t)n + 1, sizeof *r->texts);
	r->views = xcalloc((size_t)n + 1, sizeof *r->views);
	r->found = xcalloc((size_t)n + 1, sizeof *r->found);
	r->nproj = 0;
	for (int j = 0; j < n; j++) {
		if (strcmp(published_at(&v[j]), r->nowiso) > 0 || (keep && !keep(r, &v[j]))) {
			project_clear(&v[j]);
			continue;
		}
		r->texts[r->nproj] = profile_project_text(&v[j]);
		r->projects[r->nproj++] = v[j];
	}
	free(v);
	return r->nproj;
}

/* ------------------------------------------------------------------ H16a (issue 16): shards
 * The weekly and daily run split in shards (subscriber id modulo DIGEST_SHARDS on a shared
 * database, one shard on SQLite), each claimed with a lease before it is read, so that
 * hosts started at once share the run and a killed host's shard is taken over when its lease
 * expires (at once by a restart of the same host: its dead pid is seen). Sharing saves work
 * only: the per-subscriber-and-period claim (store_digest_claim) stays the guarantee of
 * exactly one selection, whoever reads a subscriber. */
#define DIGEST_SHARDS 8		/* shards of a run on a shared database... */
#define SHARD_FROM 2000		/* ...of at least this many subscribers (a smaller run is quick,
				 * and keeps one order: next_due, id) */
#define SHARD_LEASE 300		/* seconds a shard is held, renewed after every page */

/* This process's shard owner token, HOST_ID:PID:RANDOM (host_id has no ':'). */
static const char *shard_owner(const struct config *c)
{
	static char owner[128];
	static pid_t pid;
	if (pid != getpid()) {
		char rnd[17];
		hash_random_hex(rnd, 8);
		pid = getpid();
		snprintf(owner, sizeof owner, "%s:%ld:%s", c->host_id, (long)pid, rnd);
	}
	return owner;
}

/* 1 when holder is another process of this host (same host_id) that no longer runs. */
static int shard_holder_dead(const char *holder, const char *me)
{
	size_t hl = strcspn(me, ":");
	if (strncmp(holder, me, hl + 1) || !strcmp(holder, me))
		return 0;
	char *end = NULL;
	long pid = strtol(holder + hl + 1, &end, 10);
	if (pid <= 0 || !end || *end != ':')
		return 0;
	return pid == (long)getpid() || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

/* The lease times of a claim or a renewal: the host's now and now + SHARD_LEASE (on
 * PostgreSQL only the length counts: the database's clock starts it). */
static void shard_times(char now[32], char until[32])
{
	time_t t = clock_now();
	clock_format_iso(t, now);
	clock_format_iso(t + SHARD_LEASE, until);
}

/* Claims shard k of period for this process: 1, 0 (another live process has it), -1. */
static int shard_take(struct digest_run *r, const char *period, int k)
{
	const char *me = shard_owner(r->c);
	char now[32], until[32], holder[128];
	shard_times(now, until);
	int got = store_shard_claim(r->s, period, k, me, now, until);
	if (got == 0 && store_shard_owner(r->s, period, k, holder, sizeof holder) == 1 &&
	    shard_holder_dead(holder, me) &&
	    store_shard_release(r->s, period, k, holder, NULL) == 1) {
		log_info("stage=digest shard=%s/%d result=reclaimed owner=%s", period, k, holder);
		got = store_shard_claim(r->s, period, k, me, now, until);
	}
	return got;
}

/* The due subscribers of shard k of n, page after page in next_due order; the shard's lease
 * is renewed after each page, and the shard left when it was lost. 0 or -1. */
static int digest_shard_pages(struct digest_run *r, const char *period, int n, int k)
{
	char cur_due[32] = "";
	int64_t cur_id = 0;
	int rc = 0;
	for (;;) {
		r->ns = n == 1 ? store_subscriber_due_page(r->s, r->nowiso, cur_due, cur_id,
							   DIGEST_PAGE, &r->subs)
			       : store_subscriber_due_shard(r->s, r->nowiso, cur_due, cur_id, n, k,
							    DIGEST_PAGE, &r->subs);
		if (r->ns <= 0)
			return r->ns < 0 ? -1 : 0;
		struct subscriber *last = &r->subs[r->ns - 1];
		snprintf(cur_due, sizeof cur_due, "%s", last->next_due ? last->next_due : "");
		cur_id = last->id;
		int full = r->ns == DIGEST_PAGE;
		if ((rc = digest_page_run(r, 0)) < 0 || !full)
			return rc;
		char now[32], until[32];
		shard_times(now, until);
		if (!r->dry_run &&
		    store_shard_renew(r->s, period, k, shard_owner(r->c), now, until) != 1) {
			log_warn("stage=digest shard=%s/%d result=lost (its lease was taken over)",
				 period, k);
			return 0;
		}
	}
}

/* Every shard of the run this process can claim, from an offset of its own so that hosts
 * started at once begin on different shards. 0 or -1. */
static int digest_shards(struct digest_run *r)
{
	int n = 1;
	if (store_is_shared(r->s) && !r->dry_run) {
		int subs = store_count(r->s, "subscribers");
		if (subs < 0)
			return -1;
		n = subs >= SHARD_FROM ? DIGEST_SHARDS : 1;
	}
	/* the run's day and its number of shards: hosts that count differently never share a
	 * claim row */
	char period[24];
	snprintf(period, sizeof period, "%.10s/%d", r->nowiso, n);
	unsigned h = 5381;
	for (const char *p = shard_owner(r->c); *p; p++)
		h = h * 33 + (unsigned char)*p;
	int rc = 0, done = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		int k = (int)((h + (unsigned)i) % (unsigned)n);
		int got = r->dry_run ? 1 : shard_take(r, period, k);
		if (got <= 0) {
			rc = got;
			continue;
		}
		rc = digest_shard_pages(r, period, n, k);
		char now[32], until[32];
		shard_times(now, until);
		if (!r->dry_run && store_shard_release(r->s, period, k, shard_owner(r->c), now) < 0)
			rc = -1;
		done++;
	}
	if (n > 1)
		log_info("stage=digest period=%s shards=%d/%d", period, done, n);
	return rc;
}

/* The weekly and daily selections due at r->now, shard after shard (digest_shards); nothing
 * but an indexed read when none is due. 0 or -1. */
static int digest_selections(struct digest_run *r)
{
	char oldest[32], floor[32];
	int k = store_subscriber_due_oldest(r->s, r->nowiso, oldest, sizeof oldest);
	if (k <= 0)
		return k;
	clock_format_iso(r->now - WINDOW, floor);
	if (digest_projects_load(r, strcmp(oldest, floor) > 0 ? oldest : floor, NULL) < 0)
		return -1;
	r->batching = !r->dry_run;	/* claims and their mails commit CLAIM_BATCH at a time */
	int rc = digest_shards(r);
	r->batching = 0;
	digest_run_clear(r);
	return rc;
}

/* Whether project p is news to the alert pass: published after the watermark. */
static int after_mark(const struct digest_run *r, const struct project *p)
{
	int cmp = strcmp(published_at(p), r->mark);
	return cmp > 0 || (cmp == 0 && p->id > r->mark_id);
}

#define TEXT_PAGE 5000		/* distinct pattern texts compiled and matched at once */
#define COSTLY_SHARE 20		/* a profile holds at most 20 patterns (10 skills, 10 excludes):
				 * a text that costs a 20th of the pass budget may exhaust one */

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The owners of the texts of one page of pattern texts that this pass must look at: a text
 * that matched one of the pass's projects (its skills owners), or that hit a matching limit
 * or spent a COSTLY_SHARE of the pass budget (all its owners: they may be over budget or have
 * a limit to be told of). Appended to *ids. 0 or -1. */
static int alert_texts_owners(struct digest_run *r, char **texts, int n, int64_t **ids,
			      int *nids, int *cap)
{
	struct matcher *m = matcher_new();
	int *pid = xcalloc((size_t)n + 1, sizeof *pid), *grp = xcalloc((size_t)n + 1, sizeof *grp);
	for (int k = 0; k < n; k++) {
		grp[k] = matcher_group_new(m, (int64_t)r->c->match_budget_pass_ms * 1000000
					   / COSTLY_SHARE);
		if ((pid[k] = matcher_add(m, texts[k])) >= 0)
			matcher_group_add(m, grp[k], pid[k]);
	}
	int np = matcher_count(m);
	unsigned char *hit = xcalloc((size_t)np + 1, 1);	/* 1 matched, 2 limited */
	int *tmp = xcalloc((size_t)np + 1, sizeof *tmp), *lim = xcalloc((size_t)np + 1, sizeof *lim);
	for (int j = 0; j < r->nproj && np; j++) {
		int nl = 0;
		int got = matcher_run(m, r->texts[j], strlen(r->texts[j]), tmp, np, lim, &nl);
		for (int k = 0; k < got; k++)
			hit[tmp[k]] |= 1;
		for (int k = 0; k < nl; k++)
			hit[lim[k]] |= 2;
	}
	int rc = 0;
	for (int k = 0; k < n && rc == 0; k++) {
		if (pid[k] < 0)
			continue;	/* never compiles: never matches */
		int all = (hit[pid[k]] & 2) || matcher_group_exhausted(m, grp[k]);
		if (all || (hit[pid[k]] & 1))
			rc = store_pattern_owners_instant(r->s, texts[k], all, ids, nids, cap);
	}
	free(tmp);
	free(lim);
	free(hit);
	free(pid);
	free(grp);
	matcher_free(m);
	return rc;
}

/* The active instant subscribers the pass must look at (alert_texts_owners), every distinct
 * pattern text matched once against the pass's projects: ascending ids, each once, in *out
 * (the caller's). The count or -1. */
static int alert_owners(struct digest_run *r, int64_t **out)
{
	int64_t *tid = xcalloc(TEXT_PAGE, sizeof *tid), after = 0, *ids = NULL;
	char **texts = xcalloc(TEXT_PAGE, sizeof *texts);
	int n, nids = 0, cap = 0, rc = 0;
	while (rc == 0 && (n = store_pattern_texts_page(r->s, after, TEXT_PAGE, tid, texts)) > 0) {
		after = tid[n - 1];
		rc = alert_texts_owners(r, texts, n, &ids, &nids, &cap);
		for (int k = 0; k < n; k++)
			free(texts[k]);
		if (n < TEXT_PAGE)
			break;
	}
	free(tid);
	free(texts);
	if (rc < 0 || n < 0) {
		free(ids);
		return -1;
	}
	if (nids)
		qsort(ids, (size_t)nids, sizeof *ids, id_cmp);
	int u = 0;
	for (int k = 0; k < nids; k++)
		if (u == 0 || ids[k] != ids[u - 1])
			ids[u++] = ids[k];
	*out = ids;
	return u;
}

/* The instant alerts of the projects published since the watermark: every distinct pattern
 * text matched once against them, then the owners of those that matched read and matched
 * again with their whole profiles, page after page (alert_owners); the watermark then moves
 * to the newest one. Nothing but two indexed reads when nothing was published. 0 or -1. */
static int digest_alerts(struct digest_run *r)
{
	int k = store_alert_mark_get(r->s, r->mark, sizeof r->mark, &r->mark_id);
	if (k < 0)
		return -1;
	if (k == 0) {
		clock_format_iso(r->now - WINDOW, r->mark);	/* first pass: the window */
		r->mark_id = 0;
	}
	if ((k = store_project_news(r->s, r->mark, r->mark_id)) <= 0)
		return k;
	int64_t t0 = clock_mono_ms(), c0 = clock_cpu_ns();
	int sent0 = r->sent;
	if (digest_projects_load(r, r->mark, after_mark) < 0)
		return -1;
	char mark[32];
	snprintf(mark, sizeof mark, "%s", r->mark);
	int64_t mark_id = r->mark_id;
	for (int j = 0; j < r->nproj; j++) {
		int cmp = strcmp(published_at(&r->projects[j]), mark);
		if (cmp > 0 || (cmp == 0 && r->projects[j].id > mark_id)) {
			snprintf(mark, sizeof mark, "%s", published_at(&r->projects[j]));
			mark_id = r->projects[j].id;
		}
	}
	int64_t *owners = NULL;
	int nown = r->nproj > 0 ? alert_owners(r, &owners) : 0, rc = nown < 0 ? -1 : 0;
	r->batching = r->dropping = !r->dry_run;
	int dropped0 = r->dropped;
	r->first_row = r->last_row = 0;
	for (int o = 0; rc == 0 && o < nown; o += DIGEST_PAGE) {
		int n = nown - o < DIGEST_PAGE ? nown - o : DIGEST_PAGE;
		r->ns = store_subscriber_instant_ids(r->s, owners + o, n, &r->subs);
		rc = r->ns < 0 ? -1 : r->ns > 0 ? digest_page_run(r, 1) : 0;
	}
	free(owners);
	r->batching = r->dropping = 0;
	if (rc == 0 && !r->dry_run && store_alert_mark_set(r->s, mark, mark_id) < 0)
		rc = -1;
	log_info("stage=digest step=alerts projects=%d profiles=%d alerts=%d dropped=%d"
		 " outbox=%lld-%lld ms=%lld cpu_ms=%lld", r->nproj, nown, r->sent - sent0,
		 r->dropped - dropped0, (long long)r->first_row, (long long)r->last_row,
		 (long long)(clock_mono_ms() - t0), (long long)((clock_cpu_ns() - c0) / 1000000));
	digest_run_clear(r);
	return rc;
}

int digest_run(const struct config *c, struct store *s, time_t now, int dry_run)
{
	struct digest_run r = { .c = c, .s = s, .now = now, .dry_run = dry_run };
	pthread_mutex_init(&r.memo_lock, NULL);
	/* the templates loaded here, before the preparer reads them (no set: no preparer) */
	r.templates_ready = render_ready(c);
	clock_format_iso(now, r.nowiso);
	int rc = digest_alerts(&r);
	if (rc == 0)
		rc = digest_selections(&r);
	if (r.sent || dry_run)
		log_info("stage=digest at=%s sent=%d empty=%d%s", r.nowiso, r.sent, r.empty,
			 dry_run ? " dry_run=yes" : "");
	if (r.sent || r.empty || dry_run)
		progress_end("digest: %d subscribers, %d selections %s, %d with nothing new", r.seen,
			     r.sent, dry_run ? "due" : "queued", r.empty);
	pthread_mutex_destroy(&r.memo_lock);
	return rc < 0 ? -1 : r.sent;
}
