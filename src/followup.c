/*
 * followup.c — what time brings: projects expire after project_ttl without award (the poster is
 * warned 3 days before); a client with pending quotes who has answered none is reminded after
 * each of reminder_days (and when a freelancer asked "relance 7j", then), in one mail that
 * numbers the quotes and takes "accepter 2", "refuser 1" or "clôturer" in reply; an expired
 * project's bidders are told; after the agreed delivery (at least rating_delay after an award)
 * the client is asked to rate the freelancer, read as people write it (extract_rating.c), and
 * thanked. Each notice is claimed once (kind, object) in the transaction that queues it.
 * Unconfirmed posts and held bids are purged at their expiry (POST_CONFIRM_TTL, BID_HELD_TTL);
 * a post that waited behind a refusal or another kind of request is asked about (post.c).
 * Each minute reads only what is due: the projects whose follow-up time (table followups,
 * migration 22: indexed, set here after each look, asked again by triggers on any change of
 * status, award or bids) has come,
 * without their descriptions, then their active or accepted bids; an idle board reads nothing.
 * In: the clock, projects, bids. Out: status changes and notices.
 */
#include "bidmail.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WARN_BEFORE (3 * 86400L)
#define RATING_WAIT (183 * 86400L)	/* awards looked at for a rating request, at most */

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

#define REMIND_LISTED 50	/* quotes listed in one reminder, at most */

/* The fingerprint of a reminder's numbering: which active bids, in which order (oldest first).
 * The reply key carries it, so that "accepter 2" is applied only to the list the client read. */
static int64_t list_print(const struct bid_row *bids, int n)
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0, k = 0; i < n && k < REMIND_LISTED; i++) {
		if (bids[i].status != BID_ACTIVE)
			continue;
		h = (h ^ (uint64_t)bids[i].id) * 1099511628211ULL;
		k++;
	}
	return (int64_t)(h & 0xffffffffffULL);	/* 40 bits: a short address */
}

/* The ids of the active bids of bids, in the reminder's order, into ids; their count. */
static int listed_ids(const struct bid_row *bids, int n, int64_t *ids)
{
	int k = 0;
	for (int i = 0; i < n && k < REMIND_LISTED; i++)
		if (bids[i].status == BID_ACTIVE)
			ids[k++] = bids[i].id;
	return k;
}

/* One quote as the reminder lists it: rank, the freelancer's name, price, delay, rating; the
 * strings it allocates are kept in keep. */
static void remind_item(struct store *s, const char *lang, const struct bid_row *b, int rank,
			struct vars *it, struct strlist *keep)
{
	struct subscriber sub;
	int found = store_subscriber_find(s, NULL, b->subscriber, &sub) == 1;
	strlist_add(keep, found && sub.name && *sub.name ? sub.name
		    : catalog_text(lang, "bid.freelancer"));
	vars_set(it, "freelancer", keep->v[keep->n - 1]);
	if (found)
		subscriber_clear(&sub);
	char n[16], days[16];
	snprintf(n, sizeof n, "%d", rank);
	strlist_add(keep, n);
	vars_set(it, "rank", keep->v[keep->n - 1]);
	strlist_add_owned(keep, money_format(&b->info.amount, lang));
	vars_set(it, "price", keep->v[keep->n - 1]);
	snprintf(days, sizeof days, "%d", b->info.delivery_days);
	struct vars dv = { 0 };
	vars_set(&dv, "n", days);
	strlist_add_owned(keep, b->info.delivery_days >= 0
			  ? catalog_format(lang, "remind.delivery", &dv)
			  : xstrdup(catalog_text(lang, "remind.delivery_unknown")));
	vars_set(it, "delivery", keep->v[keep->n - 1]);
	strlist_add_owned(keep, bid_rating_text(s, b->subscriber, lang, "remind.rated", NULL));
	vars_set(it, "rating", keep->v[keep->n - 1]);
}

/* The reminder mail to project p's client: intro (already in p's language), the active quotes
 * of bids numbered, the answers that work from it and its reply address bid+w-PROJECT-LIST,
 * recorded in the outbox as kind. 0 or -1. */
static int remind_mail(const struct config *c, struct store *s, const struct project *p,
		       const struct bid_row *bids, int n, const char *intro, const char *kind)
{
	const char *lang = catalog_language_or(p->language, c->language);
	struct vars items[REMIND_LISTED];
	struct strlist keep = { 0 };
	int k = 0;
	for (int i = 0; i < n && k < REMIND_LISTED; i++)
		if (bids[i].status == BID_ACTIVE) {
			memset(&items[k], 0, sizeof items[k]);
			remind_item(s, lang, &bids[i], k + 1, &items[k], &keep);
			k++;
		}
	int64_t ids[2] = { p->id, list_print(bids, n) };
	char *key = keys_make("w", ids, 2);
	char *addr = keys_address(c, "bid", key);
	char id[32], last[16];
	snprintf(id, sizeof id, "%lld", (long long)p->id);
	snprintf(last, sizeof last, "%d", k > 1 ? k : 1);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", p->title);
	vars_set(&v, "name", p->poster_name ? p->poster_name : "");
	vars_set(&v, "message", intro);
	vars_set(&v, "last", last);
	vars_set(&v, "several", k > 1 ? "1" : "");
	vars_set(&v, "reply_address", addr);
	vars_set_list(&v, "quotes", items, k);
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
			      .to_name = p->poster_name, .to = p->poster, .reply_to = addr,
			      .auto_submitted = "auto-generated", .key_ref = key };
	int rc = send_queue_as(c, s, "reminder", kind, lang, &v, &o);
	strlist_clear(&keep);
	free(addr);
	free(key);
	return rc;
}

/* The catalogue text name in p's language, filled with the project and v's extra variable
 * (name2 = value2, NULL for none); caller frees. */
static char *project_text(const struct config *c, const struct project *p, const char *name,
			  const char *name2, const char *value2)
{
	const char *lang = catalog_language_or(p->language, c->language);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)p->id);
	struct vars v = { 0 };
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", p->title);
	if (name2)
		vars_set(&v, name2, value2);
	return catalog_format(lang, name, &v);
}

/* The freelancer of bid b told that the client was reminded today, as they asked. 0 or -1. */
static int tell_followup_done(const struct config *c, struct store *s, const struct project *p,
			      const struct bid_row *b)
{
	struct subscriber sub;
	if (store_subscriber_find(s, NULL, b->subscriber, &sub) != 1)
		return 0;
	const char *lang = quote_bidder_language(c, s, &sub, b);
	char *price = money_format(&b->info.amount, lang);
	struct vars v = { 0 };
	vars_set(&v, "price", price);
	char *msg = catalog_format(lang, "remind.followup_done", &v);
	int64_t id = b->id;
	char *rkey = keys_make("r", &id, 1);
	int rc = notice(c, s, "followup_done", p, sub.address, sub.name, lang, msg, NULL, rkey);
	free(rkey);
	free(msg);
	free(price);
	subscriber_clear(&sub);
	return rc;
}

char *followup_scheduled(const char *lang, int days, time_t now)
{
	char *date = quote_date_words(lang, now + (time_t)days * 86400);
	struct vars v = { 0 };
	vars_set(&v, "date", date);
	char *t = catalog_format(lang, "remind.followup_scheduled", &v);
	free(date);
	return t;
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

/* The oldest an awarded project may be (created at most this long before now) for its rating
 * request to be asked: awarded before expiry, so created within project_ttl + rating_delay, or
 * + RATING_WAIT for a late delivery, with a week's margin for a stopped daemon. */
static long rating_window(const struct config *c)
{
	long wait = c->rating_delay > RATING_WAIT ? c->rating_delay : RATING_WAIT;
	return c->project_ttl + wait + 7 * 86400L;
}

/* One pass of followup_run: what every step reads, and how many notices it queued. */
struct followup_pass {
	const struct config *c;
	struct store *s;
	time_t now;
	int days[8], nd;	/* reminder_days */
	int done;
};

/* Every active bidder of project p, just expired, told once; their bids leave active
 * (closed). 0 or -1. */
static int tell_bidders_expired(struct followup_pass *f, const struct project *p)
{
	struct bid_row *v;
	int nb = store_bid_select(f->s, p->id, BID_ACTIVE, &v), rc = nb < 0 ? -1 : 0;
	for (int i = 0; i < nb; i++) {
		struct subscriber sub;
		if (rc == 0 && v[i].status == BID_ACTIVE &&
		    store_bid_state_set(f->s, v[i].id, BID_ACTIVE, BID_CLOSED) == 1 &&
		    store_subscriber_find(f->s, NULL, v[i].subscriber, &sub) == 1) {
			const char *lang = quote_bidder_language(f->c, f->s, &sub, &v[i]);
			rc = notice(f->c, f->s, "bidder_expired", p, sub.address, sub.name, lang,
				    catalog_text(lang, "remind.expired_bidder"), NULL, NULL);
			subscriber_clear(&sub);
		}
		bid_row_clear(&v[i]);
	}
	free(v);
	return rc;
}

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
				    catalog_text(p->language, "followup.expired"), NULL, NULL) < 0 ? -1
			   : tell_bidders_expired(f, p));
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

/* Claims the client's reminders due for project p in the open transaction: each of
 * reminder_days after the first active bid (unless the client answered), and each active bid's
 * own follow-up date ("relance dans 7 jours"), whose indices go to asked. How many were newly
 * claimed (0: nothing to send), or -1. */
static int remind_claims(struct followup_pass *f, const struct project *p,
			 const struct bid_row *bids, int nb, int *asked, int *nasked)
{
	int active = 0, fresh = 0;
	time_t first = 0;
	for (int k = 0; k < nb; k++)
		if (bids[k].status == BID_ACTIVE) {
			time_t t = clock_parse_iso(bids[k].created);
			if (!active++ || t < first)
				first = t;
		}
	if (!active)
		return 0;
	int answered = store_project_answered(f->s, p->id);
	if (answered < 0)
		return -1;
	for (int d = 0; d < f->nd && !answered; d++) {
		if (f->now < first + f->days[d] * 86400L)
			continue;
		char kind[32];
		snprintf(kind, sizeof kind, "reminder_%d", f->days[d]);
		int r = store_notice_claim(f->s, kind, p->id, f->now);
		if (r < 0)
			return -1;
		fresh += r;
	}
	for (int k = 0; k < nb; k++) {
		if (bids[k].status != BID_ACTIVE || bids[k].info.followup_days < 0 ||
		    f->now < clock_parse_iso(bids[k].created) + bids[k].info.followup_days * 86400L)
			continue;
		int r = store_notice_claim(f->s, "followup", bids[k].id, f->now);
		if (r < 0)
			return -1;
		if (r == 1 && *nasked < REMIND_LISTED)
			asked[(*nasked)++] = k;
		fresh += r;
	}
	return fresh;
}

/* The intro of a reminder: plain, or naming the freelancer who asked for it (the first one;
 * the others are in the list). Caller frees. */
static char *remind_intro(struct followup_pass *f, const struct project *p,
			  const struct bid_row *bids, const int *asked, int nasked)
{
	if (!nasked)
		return project_text(f->c, p, "remind.intro", NULL, NULL);
	struct subscriber sub;
	const char *lang = catalog_language_or(p->language, f->c->language);
	int found = store_subscriber_find(f->s, NULL, bids[asked[0]].subscriber, &sub) == 1;
	char *msg = project_text(f->c, p, "remind.intro_followup", "freelancer",
				 found && sub.name && *sub.name ? sub.name
				 : catalog_text(lang, "bid.freelancer"));
	if (found)
		subscriber_clear(&sub);
	return msg;
}

/* Reminders of open project p with active bids: whatever is due today (reminder_days with no
 * answer from the client, freelancers' follow-up dates) makes ONE reminder to the client, and
 * each freelancer whose follow-up it is is told it went. 0 or -1. */
static int followup_remind(struct followup_pass *f, const struct project *p)
{
	struct bid_row *bids;
	int nb = store_bid_select(f->s, p->id, BID_ACTIVE, &bids);
	if (nb < 0)
		return -1;
	int asked[REMIND_LISTED], nasked = 0, rc = store_begin(f->s);
	if (rc == 0) {
		int fresh = remind_claims(f, p, bids, nb, asked, &nasked);
		rc = fresh < 0 ? -1 : 0;
		if (fresh > 0) {
			char *intro = remind_intro(f, p, bids, asked, nasked);
			rc = remind_mail(f->c, f->s, p, bids, nb, intro,
					 nasked ? "followup" : "reminder");
			for (int i = 0; i < nasked && rc == 0; i++)
				rc = tell_followup_done(f->c, f->s, p, &bids[asked[i]]);
			free(intro);
		}
		rc = finish(f->s, rc) < 0 ? -1 : 0;
		f->done += fresh > 0 && rc == 0;
	}
	for (int k = 0; k < nb; k++)
		bid_row_clear(&bids[k]);
	free(bids);
	return rc;
}

/* When the rating of accepted bid b on project p is asked: rating_delay after the award, or
 * the day after the agreed delivery date when that is later; -1 when unknown. */
static time_t rating_due(const struct config *c, const struct project *p, const struct bid_row *b)
{
	time_t awarded = clock_parse_iso(p->updated ? p->updated : p->created);
	if (awarded == (time_t)-1)
		return (time_t)-1;
	time_t delivery = quote_delivery_date(b, awarded);
	time_t due = awarded + c->rating_delay;
	return delivery != (time_t)-1 && delivery + 86400 > due ? delivery + 86400 : due;
}

/* The client's rating request for awarded project p, naming the freelancer, once it is due
 * (rating_due). 0 or -1. */
static int followup_rating(struct followup_pass *f, const struct project *p)
{
	struct bid_row *bids;
	int nb = store_bid_select(f->s, p->id, BID_ACCEPTED, &bids);
	if (nb < 0)
		return -1;
	int rc = 0;
	for (int k = 0; k < nb && rc == 0; k++) {
		time_t due = bids[k].status == BID_ACCEPTED ? rating_due(f->c, p, &bids[k]) : -1;
		if (due == (time_t)-1 || f->now < due)
			continue;
		int64_t id = bids[k].id;
		char *key = keys_make("t", &id, 1);
		int r = claimed(f->s, "rating", id);
		if (r == 1) {
			struct subscriber sub;
			int found = store_subscriber_find(f->s, NULL, bids[k].subscriber, &sub) == 1;
			const char *lang = catalog_language_or(p->language, f->c->language);
			char *msg = project_text(f->c, p, "rate.request", "freelancer",
						 found && sub.name && *sub.name ? sub.name
						 : catalog_text(lang, "bid.freelancer"));
			r = finish(f->s, notice(f->c, f->s, "rating_request", p, p->poster,
						p->poster_name, p->language, msg, NULL, key));
			free(msg);
			if (found)
				subscriber_clear(&sub);
		}
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
		return f->now - created <= rating_window(f->c) ? followup_rating(f, p) : 0;
	if (p->status != PROJECT_OPEN)
		return 0;
	if (f->now >= created + f->c->project_ttl)
		return followup_expire(f, p);
	if (f->now >= created + f->c->project_ttl - WARN_BEFORE && followup_warn(f, p) < 0)
		return -1;
	return followup_remind(f, p);
}

/* The earliest of *next and t when t is after now (what is due by now was done). */
static void sooner(time_t *next, time_t t, time_t now)
{
	if (t > now && (*next == (time_t)-1 || t < *next))
		*next = t;
}

/* When open project p (created at created) has something due next after f->now: its expiry,
 * its warning, a reminder (unless the client answered), a freelancer's follow-up date; bids
 * are its active ones. -1 for nothing, -2 on error. */
static time_t next_open(struct followup_pass *f, const struct project *p, time_t created,
			const struct bid_row *bids, int nb)
{
	time_t next = (time_t)-1, expiry = created + f->c->project_ttl, first = 0;
	if (f->now >= expiry)
		return next;	/* expired, or its expiry claimed before: nothing more */
	sooner(&next, expiry, f->now);
	sooner(&next, expiry - WARN_BEFORE, f->now);
	int active = 0;
	for (int k = 0; k < nb; k++) {
		if (bids[k].status != BID_ACTIVE)
			continue;
		time_t t = clock_parse_iso(bids[k].created);
		if (!active++ || t < first)
			first = t;
		if (bids[k].info.followup_days >= 0)
			sooner(&next, t + bids[k].info.followup_days * 86400L, f->now);
	}
	int answered = active ? store_project_answered(f->s, p->id) : 1;
	if (answered < 0)
		return (time_t)-2;
	for (int d = 0; d < f->nd && !answered; d++)
		sooner(&next, first + f->days[d] * 86400L, f->now);
	return next;
}

/* When awarded project p has a rating request due next after f->now (within the window of
 * rating_window); bids are its accepted ones. -1 for nothing. */
static time_t next_rating(struct followup_pass *f, const struct project *p, time_t created,
			  const struct bid_row *bids, int nb)
{
	time_t next = (time_t)-1;
	for (int k = 0; k < nb; k++) {
		time_t due = bids[k].status == BID_ACCEPTED ? rating_due(f->c, p, &bids[k]) : -1;
		if (due != (time_t)-1 && due - created <= rating_window(f->c))
			sooner(&next, due, f->now);
	}
	return next;
}

/* When project id must be looked at again, read from its state now (in the caller's
 * transaction): its time into at, 1; 0 for never; -1 on error. */
static int followup_next(struct followup_pass *f, int64_t id, char at[32])
{
	struct project p;
	int found = store_project_get(f->s, id, &p);
	if (found != 1)
		return found;
	time_t created = clock_parse_iso(p.created), next = -1;
	if (created != (time_t)-1 && (p.status == PROJECT_OPEN || p.status == PROJECT_AWARDED)) {
		int open = p.status == PROJECT_OPEN;
		struct bid_row *bids;
		int nb = store_bid_select(f->s, id, open ? BID_ACTIVE : BID_ACCEPTED, &bids);
		next = nb < 0 ? (time_t)-2 : open ? next_open(f, &p, created, bids, nb)
		       : next_rating(f, &p, created, bids, nb);
		for (int k = 0; k < nb; k++)
			bid_row_clear(&bids[k]);
		if (nb >= 0)
			free(bids);
	}
	project_clear(&p);
	if (next >= 0)
		clock_format_iso(next, at);
	return next == (time_t)-2 ? -1 : next >= 0;
}

/* Records when each of the n projects looked at (ids) must be looked at again, read from
 * their state now, in one transaction (one commit for the page: a change of one of them
 * meanwhile asks for a look of its own, by the triggers of migration 22). 0 or -1. */
static int followup_schedule(struct followup_pass *f, const int64_t *ids, int n)
{
	if (!n)
		return 0;
	if (store_begin(f->s) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		char at[32];
		int k = followup_next(f, ids[i], at);
		rc = k < 0 ? -1 : store_project_followup_set(f->s, ids[i], k ? at : NULL);
	}
	return finish(f->s, rc) < 0 ? -1 : 0;
}

#define FOLLOWUP_PAGE 256	/* due projects read at once */

/* The settings due times are computed from: when they change, every open or awarded
 * project is looked at again. */
static int followup_settings(struct followup_pass *f)
{
	char *print = xasprintf("ttl=%ld reminders=%s rating=%ld", f->c->project_ttl,
				f->c->reminder_days, f->c->rating_delay);
	int rc = store_followup_config(f->s, print);
	free(print);
	return rc < 0 ? -1 : 0;
}

int followup_run(const struct config *c, struct store *s, time_t now)
{
	if (purge(s, now) < 0 || post_ask_waiting(c, s) < 0)
		return -1;
	struct followup_pass f = { .c = c, .s = s, .now = now };
	for (const char *q = c->reminder_days; *q && f.nd < 8;) {
		f.days[f.nd++] = atoi(q);
		q += strcspn(q, ",");
		if (*q)
			q++;
	}
	if (followup_settings(&f) < 0)
		return -1;
	/* only the projects whose follow-up time has come (followups_due), page after page;
	 * each one looked at leaves the due set (its next time is later, or none) */
	char nowiso[32];
	clock_format_iso(now, nowiso);
	int64_t after = 0;
	int rc = 0, np = FOLLOWUP_PAGE;
	for (int page = 0; rc == 0 && np == FOLLOWUP_PAGE && page < 1000000; page++) {
		struct project *p;
		np = store_project_followup_due(s, nowiso, after, FOLLOWUP_PAGE, &p);
		if (np < 0)
			return -1;
		int64_t ids[FOLLOWUP_PAGE];
		int done = 0;
		for (int i = 0; i < np && rc == 0; i++, done++) {
			rc = followup_project(&f, &p[i]);
			ids[i] = after = p[i].id;
		}
		if (followup_schedule(&f, ids, rc == 0 ? done : done - 1) < 0)
			rc = -1;
		for (int i = 0; i < np; i++)
			project_clear(&p[i]);
		free(p);
	}
	return rc < 0 ? -1 : f.done;
}

/* The client's rating restated with thanks (score and comment), or, with no score read, how
 * to write one, at the rating address again. 0 or -1. */
static int rating_answer(const struct config *c, struct store *s, const struct project *p,
			 const struct bid_row *bid, int score, const char *comment, int recorded)
{
	const char *lang = catalog_language_or(p->language, c->language);
	struct subscriber sub;
	int found = store_subscriber_find(s, NULL, bid->subscriber, &sub) == 1;
	char n[16];
	snprintf(n, sizeof n, "%d", score);
	struct vars v = { 0 };
	vars_set(&v, "freelancer", found && sub.name && *sub.name ? sub.name
		 : catalog_text(lang, "bid.freelancer"));
	vars_set(&v, "score", n);
	vars_set(&v, "comment", comment ? comment : "");
	const char *name = !score ? "rate.no_score" : !recorded ? "rate.already"
			   : comment && *comment ? "rate.thanks" : "rate.thanks_no_comment";
	char *msg = catalog_format(lang, name, &v);
	int64_t id = bid->id;
	char *key = score ? NULL : keys_make("t", &id, 1);
	int rc = notice(c, s, score ? "rating_thanks" : "rating_no_score", p, p->poster,
			p->poster_name, lang, msg, NULL, key);
	free(key);
	free(msg);
	if (found)
		subscriber_clear(&sub);
	return rc;
}

enum outcome rating_handle(struct handling *h)
{
	int64_t bid_id = h->r->ids[0];
	struct bid_row bid;
	int f = store_bid_get(h->s, bid_id, &bid);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f || bid.status != BID_ACCEPTED) {
		if (f)
			bid_row_clear(&bid);
		h->result = xstrdup("rating:not-an-award");
		return OUT_OK;
	}
	struct project pr;
	int np = store_project_get(h->s, bid.project, &pr), rc = 0;
	if (np != 1 || !h->m->from || strcasecmp(h->m->from, pr.poster)) {
		h->result = xstrdup("rating:not-the-client");	/* only the awarding client rates */
	} else {
		char *comment;
		int score = extract_rating(h->m->new_text ? h->m->new_text : "", &comment);
		int r = score ? store_rating_insert(h->s, bid.id, bid.subscriber, score,
						    comment, clock_now()) : 0;
		if (r >= 0)
			rc = rating_answer(h->c, h->s, &pr, &bid, score, comment, r == 1);
		else
			rc = -1;
		h->result = !score ? xstrdup("rating:no-score")
			    : xasprintf("rating:%d:%s", score, r == 1 ? "recorded" : "already-rated");
		free(comment);
	}
	if (np == 1)
		project_clear(&pr);
	bid_row_clear(&bid);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

#define REMIND_ANSWERS 8	/* commands read from one answer to a reminder */

/* The commands of the client's answer to a reminder, one per line ("accepter 2", "refuser 1",
 * "clôturer"), into cmd[] and num[]; their count. */
static int remind_commands(const char *text, int *cmd, int *num)
{
	int n = 0;
	for (const char *p = text; *p && n < REMIND_ANSWERS;) {
		size_t len = strcspn(p, "\n");
		const char *q = p;
		while (len && (*q == ' ' || *q == '\t'))
			q++, len--;
		int c = len && len < 64 ? quote_command_line(q, len, &num[n]) : 0;
		if (c)
			cmd[n++] = c;
		p = q + len;
		if (*p)
			p++;
	}
	return n;
}

/* The client's answer to a reminder checked against the list it numbered: the bid each
 * command names into bid[] (for "clôturer", any bid of the project). 0 when all name one, else
 * the catalogue name of the reason, with *bad the offending number. */
static const char *remind_resolve(const struct bid_row *bids, int nb, int64_t print,
				  const int *cmd, const int *num, int n, int64_t *bid, int *bad)
{
	int64_t ids[REMIND_LISTED];
	int k = listed_ids(bids, nb, ids);
	for (int i = 0; i < n; i++) {
		*bad = num[i];
		if (cmd[i] == 'c')
			bid[i] = nb ? bids[0].id : 0;
		else if (!num[i] && k == 1 && list_print(bids, nb) != print)
			return "remind.changed";	/* the one quote is not the one reminded of */
		else if (!num[i] && k == 1)
			bid[i] = ids[0];
		else if (!num[i])
			return "remind.which";
		else if (list_print(bids, nb) != print)
			return "remind.changed";
		else if (num[i] < 1 || num[i] > k)
			return "remind.no_such";
		else
			bid[i] = ids[num[i] - 1];
		if (!bid[i])
			return "remind.unclear";
	}
	return n ? NULL : "remind.unclear";
}

/* Applies the resolved commands in order (an award or a closing ends the project: what follows
 * is not applied); the outcome of the last. 0 or -1. */
static int remind_apply(struct handling *h, const int *cmd, const int64_t *bid, int n)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		free(h->result);
		h->result = NULL;
		rc = quote_client_command(h->c, h->s, h->m, bid[i], cmd[i], &h->result);
		if (cmd[i] == 'a' || cmd[i] == 'c')
			break;
	}
	return rc;
}

/* Whether text names the freelancer of bid b: 2 by their full name, 1 by their first name, 0
 * not; *at and *len where. -1 when the store fails. */
static int remind_names(struct store *s, const struct bid_row *b, const char *text,
			const char **at, size_t *len)
{
	struct subscriber sub;
	int f = store_subscriber_find(s, NULL, b->subscriber, &sub);
	if (f != 1)
		return f < 0 ? -1 : 0;
	int named = 0;
	const char *name = sub.name ? sub.name : "";
	size_t first = strcspn(name, " \t");
	if ((*at = extract_intent_find_name(text, name, strlen(name), len)))
		named = 2;
	else if (first >= 2 && (*at = extract_intent_find_name(text, name, first, len)))
		named = 1;
	subscriber_clear(&sub);
	return named;
}

/* The one listed bid whose freelancer text names (a full name wins over first names it
 * shares: "Anna Web" among Anna Web and Anna Dev): its index in bids, -1 when none, -2 when
 * several, -3 when the store fails; *at and *len where the name is written. */
static int remind_named(struct store *s, const struct bid_row *bids, int nb, const char *text,
			const char **at, size_t *len)
{
	int pick = -1, full = -1, nnamed = 0, nfull = 0;
	const char *full_at = NULL;
	size_t full_len = 0;
	for (int i = 0, k = 0; i < nb && k < REMIND_LISTED; i++) {
		if (bids[i].status != BID_ACTIVE)
			continue;
		k++;
		const char *a;
		size_t l;
		int r = remind_names(s, &bids[i], text, &a, &l);
		if (r < 0)
			return -3;
		if (r && !nnamed++) {
			pick = i, *at = a, *len = l;
		}
		if (r == 2 && !nfull++) {
			full = i, full_at = a, full_len = l;
		}
	}
	if (nnamed > 1 && nfull == 1 && full_at) {
		/* the others only by a first name inside the full one */
		pick = full, *at = full_at, *len = full_len;
		for (int i = 0, k = 0; i < nb && k < REMIND_LISTED; i++) {
			if (bids[i].status != BID_ACTIVE || (k++, i == full))
				continue;
			const char *a;
			size_t l;
			int r = remind_names(s, &bids[i], text, &a, &l);
			if (r && (a < full_at || a >= full_at + full_len))
				return -2;
		}
		return pick;
	}
	return nnamed > 1 ? -2 : pick;
}

/* The first name of the first listed freelancer with a name (for the example of
 * remind.nobody), NULL when none has one or the store fails; caller frees. */
static char *remind_first_name(struct store *s, const struct bid_row *bids, int nb)
{
	char *first = NULL;
	for (int i = 0, k = 0; i < nb && k < REMIND_LISTED && !first; i++) {
		if (bids[i].status != BID_ACTIVE)
			continue;
		k++;
		struct subscriber sub;
		if (store_subscriber_find(s, NULL, bids[i].subscriber, &sub) != 1)
			continue;
		size_t n = sub.name ? strcspn(sub.name, " \t") : 0;
		if (n >= 2)
			first = xasprintf("%.*s", (int)n, sub.name);
		subscriber_clear(&sub);
	}
	return first;
}

/* The client's answer to a reminder naming a freelancer instead of a number ("je retiens
 * l'offre d'Anna", "let's go with Paul Dev"): the name stands for that quote, as an object of
 * the act ("offer" in its place), and the text is read by the intent reader. A sure act is
 * applied; an unsure one asked about once (quote_client_ask). 1 when handled, 0 when the
 * answer holds no acceptance or refusal, -1 when the store fails; *why the catalogue name of
 * the answer when none or several freelancers are named. */
static int remind_by_name(struct handling *h, const struct bid_row *bids, int nb,
			  const char *text, const char **why)
{
	int sure = 0;
	enum intent in = extract_intent_read(text, NULL, &sure);
	if (in != INTENT_ACCEPT && in != INTENT_DECLINE)
		return 0;
	const char *at = NULL;
	size_t len = 0;
	int i = remind_named(h->s, bids, nb, text, &at, &len);
	if (i < -2)
		return -1;
	if (i < 0) {
		*why = i == -1 ? "remind.nobody" : "remind.names";
		return 0;
	}
	char *object = xasprintf("%.*s offer%s", (int)(at - text), text, at + len);
	in = extract_intent_read(object, NULL, &sure);
	free(object);
	log_info("stage=reminder project=%lld bid=%lld named=yes intent=%s%s",
		 (long long)bids[i].project, (long long)bids[i].id, extract_intent_name(in),
		 sure ? " read=sure" : "");
	int cmd = in == INTENT_ACCEPT ? 'a' : in == INTENT_DECLINE ? 'd' : 0;
	int rc = cmd && sure ? remind_apply(h, &cmd, &bids[i].id, 1)
		 : quote_client_ask(h->c, h->s, h->m, bids[i].id, cmd == 'd' ? INTENT_DECLINE
				    : INTENT_ACCEPT, &h->result);
	return rc < 0 ? -1 : 1;
}

enum outcome reminder_handle(struct handling *h)
{
	struct project p;
	int f = store_project_get(h->s, h->r->ids[0], &p);
	if (f != 1) {
		h->result = xstrdup("reminder:unknown-project");
		return f < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	if (!h->m->from || strcasecmp(h->m->from, p.poster)) {
		h->result = xstrdup("reminder:not-the-client");	/* only its client answers */
		project_clear(&p);
		return OUT_OK;
	}
	struct bid_row *bids;
	int nb = store_bid_select(h->s, p.id, BID_STATE_ANY, &bids), rc = nb < 0 ? -1 : 0;
	int cmd[REMIND_ANSWERS], num[REMIND_ANSWERS], bad = 0;
	int64_t bid[REMIND_ANSWERS];
	int n = nb < 0 ? 0 : remind_commands(h->m->new_text ? h->m->new_text : "", cmd, num);
	const char *why = rc < 0 ? NULL : p.status != PROJECT_OPEN ? "remind.not_open"
			  : remind_resolve(bids, nb, h->r->ids[1], cmd, num, n, bid, &bad);
	int named = 0;
	if (rc == 0 && n == 0 && p.status == PROJECT_OPEN) {
		named = remind_by_name(h, bids, nb, h->m->new_text ? h->m->new_text : "", &why);
		rc = named < 0 ? -1 : 0;
	}
	if (named) {
		/* acted on, or asked about, by the freelancer's name */
	} else if (rc == 0 && why) {
		char number[16];
		snprintf(number, sizeof number, "%d", bad);
		char *first = !strcmp(why, "remind.nobody") ? remind_first_name(h->s, bids, nb) : NULL;
		if (!strcmp(why, "remind.nobody") && !first)
			why = "remind.which";	/* no name to give as the example */
		char *msg = first ? project_text(h->c, &p, why, "first", first)
			    : project_text(h->c, &p, why, "n", number);
		free(first);
		rc = p.status == PROJECT_OPEN
		     ? remind_mail(h->c, h->s, &p, bids, nb, msg, "reminder_answer")
		     : notice(h->c, h->s, "reminder_answer", &p, p.poster, p.poster_name, p.language,
			      msg, NULL, NULL);
		free(msg);
		h->result = xasprintf("reminder:%s", why + 7);
	} else if (rc == 0) {
		rc = remind_apply(h, cmd, bid, n);
	}
	for (int k = 0; k < nb; k++)
		bid_row_clear(&bids[k]);
	if (nb >= 0)
		free(bids);
	project_clear(&p);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
