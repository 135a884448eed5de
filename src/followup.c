/*
 * followup.c — what time brings: projects expire after project_ttl without award (the poster is
 * warned 3 days before); a client with pending quotes who has answered none is reminded after
 * each of reminder_days (and when a freelancer asked "relance 7j", then); rating_delay after an
 * award the client is asked to rate the freelancer, by replying with a score of 1 to 5 and a
 * comment. Each notice is claimed once (kind, object) in the transaction that queues it.
 * Unconfirmed posts and held bids are purged at their expiry (POST_CONFIRM_TTL, BID_HELD_TTL);
 * a post that waited behind a refusal or another kind of request is asked about (post.c).
 * Only the rows a step needs are loaded: open projects, and awards young enough to be rated,
 * without their descriptions; their active or accepted bids.
 * In: the clock, projects, bids. Out: status changes and notices.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>

#define WARN_BEFORE (3 * 86400L)

/* A notice through the relay template, recorded in the outbox as kind (what the mail is). */
static int notice(const struct config *c, struct store *s, const char *kind,
		  const struct project *p, const char *to, const char *to_name, const char *lang,
		  const char *message, const char *text, const char *reply_key)
{
	return quote_notice(c, s, kind, p, to, to_name, lang, message, text, reply_key, NULL, NULL);
}

/* Opens a transaction and claims (kind, ref): 1 claimed (go on, then finish()), 0 claimed
 * before (nothing to do, transaction closed), -1 error. */
static int claimed(struct store *s, const char *kind, int64_t ref)
{
	if (store_begin(s) < 0)
		return -1;
	int c = store_notice_claim(s, kind, ref, clock_now());
	if (c != 1) {
		if (c < 0)
			store_rollback(s);
		else
			store_commit(s);
		return c;
	}
	return 1;
}

/* Commits the claim with what it caused, or rolls both back; 1 done, -1 error. */
static int finish(struct store *s, int rc)
{
	if (rc < 0 || store_commit(s) < 0) {
		store_rollback(s);
		return -1;
	}
	return 1;
}

static int remind(const struct config *c, struct store *s, const struct project *p,
		  const struct bid_row *bids, int n)
{
	struct buf b;
	buf_init(&b, 64 * 1024);
	for (int i = 0; i < n; i++) {
		if (bids[i].status != BID_ACTIVE)
			continue;
		char *amount = money_format(&bids[i].info.amount, p->language);
		buf_printf(&b, "- %s", amount);
		if (bids[i].info.delivery_days >= 0) {
			char days[16];
			snprintf(days, sizeof days, "%d", bids[i].info.delivery_days);
			struct vars v = { 0 };
			vars_set(&v, "n", days);
			char *t = catalog_format(p->language, "followup.bid_days", &v);
			buf_puts(&b, t);
			free(t);
		}
		buf_putc(&b, '\n');
		free(amount);
	}
	int rc = notice(c, s, "reminder", p, p->poster, p->poster_name, p->language,
			catalog_text(p->language, "followup.remind"), b.data, NULL);
	buf_free(&b);
	return rc;
}

/* Deletes the unconfirmed posts and held bids past their expiry, in one transaction. */
static int purge(struct store *s, time_t now)
{
	char posts[32], bids[32];
	clock_format_iso(now - POST_CONFIRM_TTL, posts);
	clock_format_iso(now - BID_HELD_TTL, bids);
	if (store_begin(s) < 0)
		return -1;
	char selections[32];
	clock_format_iso(now - SELECTION_KEEP, selections);
	int n = store_purge_expired(s, posts, bids);
	int ns = n < 0 ? -1 : store_selection_purge(s, selections);
	if (ns < 0)
		n = -1;
	if (n < 0 || store_commit(s) < 0) {
		store_rollback(s);
		return -1;
	}
	if (n > 0)
		log_info("stage=followup purged=%d reason=\"unconfirmed posts and held bids past "
			 "their expiry\"", n);
	return 0;
}

/* The projects followup looks at: the open ones, and the awarded ones whose rating request
 * may still be due (awarded before expiry, so created within project_ttl + rating_delay, with
 * a week's margin for a stopped daemon). The count, or -1. */
static int projects_due(const struct config *c, struct store *s, time_t now, struct project **out)
{
	char since[32];
	clock_format_iso(now - c->project_ttl - c->rating_delay - 7 * 86400L, since);
	return store_project_open_awarded(s, NULL, since, 0, out);
}

/* One pass of followup_run: what every step reads, and how many notices it queued. */
struct followup_pass {
	const struct config *c;
	struct store *s;
	time_t now;
	int days[8], nd;	/* reminder_days */
	int done;
};

/* An open project past project_ttl: expired (only if still open: closed or awarded since the
 * list was read, it stays) and its poster told. 0 or -1. */
static int followup_expire(struct followup_pass *f, const struct project *p)
{
	int r = claimed(f->s, "expired", p->id);
	int moved = r == 1 ? store_project_state_set(f->s, p->id, PROJECT_OPEN, PROJECT_EXPIRED,
						     f->now) : 0;
	if (r == 1 && moved == 0) {
		store_rollback(f->s);
		r = 0;
	} else if (r == 1) {
		r = finish(f->s, moved < 0 ? -1
			   : notice(f->c, f->s, "expired", p, p->poster, p->poster_name, p->language,
				    catalog_text(p->language, "followup.expired"), NULL, NULL));
	}
	f->done += r > 0;
	return r < 0 ? -1 : 0;
}

/* The poster's warning, WARN_BEFORE the expiry of open project p. 0 or -1. */
static int followup_warn(struct followup_pass *f, const struct project *p)
{
	int r = claimed(f->s, "expiry_warning", p->id);
	if (r == 1)
		r = finish(f->s, notice(f->c, f->s, "expiry_warning", p, p->poster,
					p->poster_name, p->language,
					catalog_text(p->language, "followup.expiry_warning"), NULL,
					NULL));
	f->done += r > 0;
	return r < 0 ? -1 : 0;
}

/* Reminders of open project p with active bids and no answer from the client: the client's on
 * each of reminder_days after the first bid, and each freelancer's own follow-up date
 * ("relance 7j"). 0 or -1. */
static int followup_remind(struct followup_pass *f, const struct project *p)
{
	struct bid_row *bids;
	int nb = store_bid_select(f->s, p->id, BID_ACTIVE, &bids);
	if (nb < 0)
		return -1;
	int active = 0, rc = 0;
	time_t first = 0;
	for (int k = 0; k < nb; k++)
		if (bids[k].status == BID_ACTIVE) {
			time_t t = clock_parse_iso(bids[k].created);
			if (!active || t < first)
				first = t;
			active++;
		}
	if (active && store_project_answered(f->s, p->id) == 0) {
		for (int d = 0; d < f->nd && rc == 0; d++) {
			if (f->now < first + f->days[d] * 86400L)
				continue;
			char kind[32];
			snprintf(kind, sizeof kind, "reminder_%d", f->days[d]);
			int r = claimed(f->s, kind, p->id);
			if (r == 1)
				r = finish(f->s, remind(f->c, f->s, p, bids, nb));
			rc = r < 0 ? -1 : 0;
			f->done += r > 0;
		}
		for (int k = 0; k < nb && rc == 0; k++) {
			if (bids[k].status != BID_ACTIVE || bids[k].info.followup_days < 0)
				continue;
			time_t t = clock_parse_iso(bids[k].created);
			if (f->now < t + bids[k].info.followup_days * 86400L)
				continue;
			int r = claimed(f->s, "followup", bids[k].id);
			if (r == 1)
				r = finish(f->s, remind(f->c, f->s, p, &bids[k], 1));
			rc = r < 0 ? -1 : 0;
			f->done += r > 0;
		}
	}
	for (int k = 0; k < nb; k++)
		bid_row_clear(&bids[k]);
	free(bids);
	return rc;
}

/* The client's rating request for awarded project p, rating_delay after the award. 0 or -1. */
static int followup_rating(struct followup_pass *f, const struct project *p)
{
	struct bid_row *bids;
	int nb = store_bid_select(f->s, p->id, BID_ACCEPTED, &bids);
	if (nb < 0)
		return -1;
	int rc = 0;
	for (int k = 0; k < nb && rc == 0; k++) {
		if (bids[k].status != BID_ACCEPTED)
			continue;
		time_t awarded = clock_parse_iso(p->updated ? p->updated : p->created);
		if (awarded == (time_t)-1 || f->now < awarded + f->c->rating_delay)
			continue;
		int64_t id = bids[k].id;
		char *key = keys_make("t", &id, 1);
		int r = claimed(f->s, "rating", id);
		if (r == 1)
			r = finish(f->s, notice(f->c, f->s, "rating_request", p, p->poster,
						p->poster_name, p->language,
						catalog_text(p->language, "followup.rating_request"),
						NULL, key));
		free(key);
		rc = r < 0 ? -1 : 0;
		f->done += r > 0;
	}
	for (int k = 0; k < nb; k++)
		bid_row_clear(&bids[k]);
	free(bids);
	return rc;
}

/* What is due for project p at f->now. 0 or -1. */
static int followup_project(struct followup_pass *f, const struct project *p)
{
	time_t created = clock_parse_iso(p->created);
	if (created == (time_t)-1)
		return 0;
	if (p->status == PROJECT_AWARDED)
		return followup_rating(f, p);
	if (p->status != PROJECT_OPEN)
		return 0;
	if (f->now >= created + f->c->project_ttl)
		return followup_expire(f, p);
	if (f->now >= created + f->c->project_ttl - WARN_BEFORE && followup_warn(f, p) < 0)
		return -1;
	return followup_remind(f, p);
}

int followup_run(const struct config *c, struct store *s, time_t now)
{
	if (purge(s, now) < 0 || post_ask_waiting(c, s) < 0)
		return -1;
	struct project *p;
	int np = projects_due(c, s, now, &p);
	if (np < 0)
		return -1;
	struct followup_pass f = { .c = c, .s = s, .now = now };
	for (const char *q = c->reminder_days; *q && f.nd < 8;) {
		f.days[f.nd++] = atoi(q);
		q += strcspn(q, ",");
		if (*q)
			q++;
	}
	int rc = 0;
	for (int i = 0; i < np && rc == 0; i++)
		rc = followup_project(&f, &p[i]);
	for (int i = 0; i < np; i++)
		project_clear(&p[i]);
	free(p);
	return rc < 0 ? -1 : f.done;
}

enum outcome rating_handle(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	const struct message *m = h->m;
	char **outcome = &h->result;
	int64_t bid_id = h->r->ids[0];
	struct bid_row bid;
	int f = store_bid_get(s, bid_id, &bid);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f || bid.status != BID_ACCEPTED) {
		if (f)
			bid_row_clear(&bid);
		*outcome = xstrdup("rating:not-an-award");
		return OUT_OK;
	}
	struct project pr;
	int np = store_project_get(s, bid.project, &pr), rc = 0;
	struct project *proj = np == 1 ? &pr : NULL;
	const char *text = m->new_text ? m->new_text : "";
	while (*text == ' ' || *text == '\n')
		text++;
	int score = text[0] >= '1' && text[0] <= '5' && (text[1] == '\0' || text[1] == ' ' ||
							  text[1] == '/' || text[1] == '\n' ||
							  text[1] == ',' || text[1] == '.')
		    ? text[0] - '0' : 0;
	if (!proj || !m->from || strcasecmp(m->from, proj->poster)) {
		*outcome = xstrdup("rating:not-the-client");	/* only the awarding client rates */
	} else if (!score) {
		int64_t id = bid.id;
		char *key = keys_make("t", &id, 1);
		rc = notice(c, s, "rating_no_score", proj, proj->poster, proj->poster_name,
			    proj->language, catalog_text(proj->language, "followup.rating_no_score"),
			    NULL, key);
		free(key);
		*outcome = xstrdup("rating:no-score");
	} else {
		const char *comment = text + 1;
		while (*comment == ' ' || *comment == '/' || *comment == '5' || *comment == ',' ||
		       *comment == '.' || *comment == '\n')
			comment++;
		int r = store_rating_insert(s, bid.id, bid.subscriber, score, comment, clock_now());
		if (r < 0)
			rc = -1;
		*outcome = xasprintf("rating:%d:%s", score, r == 1 ? "recorded" : "already-rated");
	}
	if (np == 1)
		project_clear(&pr);
	bid_row_clear(&bid);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
