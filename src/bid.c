/*
 * bid.c — bids by reply. A mail to a project's signed bid address (bid+b-PROJECT-SUBSCRIBER-MAC,
 * from a selection or an alert) becomes a bid: the amount, currency, tax, unit, delivery and
 * payment plan read by extract_money.c, and the new text. The rules, each refusal explained to
 * the freelancer in their language: the project must be open and not full (bid_cap), the rate
 * not under the floor (min_hourly_rate, min_daily_rate, through exchange_rates), the price
 * understandable. A bid from another address than the subscriber's is held until the subscriber
 * confirms it by reply. A new bid replaces the previous one, and the client is told.
 * The public bid address of a project (bid+pID, on the marketplace page): anyone may write to
 * it; the bid is held, the sender becomes a pending subscriber if unknown, and one reply to the
 * confirmation both proves the address and passes the bid on (subscribe-and-bid).
 * A reply that says no ("je passe mon tour", "I can't do it for 900 €": extract_intent_no_bid)
 * is no bid: the freelancer is told nothing was recorded and how to bid.
 * A freelancer withdraws a bid by a reply (bid_withdraw: `retirer`, "je retire mon offre"): an
 * active bid becomes cancelled and the client is told once, by name and quote; an awarded one
 * stays (the freelancer is to write to the client).
 * A held bid changes nothing until its subscriber confirms it with a confirming word (oui, yes,
 * confirme…); a reply that objects (non, jamais, not me…) cancels it. Held bids are capped per
 * project and per sending address, and purged after BID_HELD_TTL (followup.c); a sender gets at
 * most one unanswered request or refusal a day, and nothing names a project that is not public.
 * In: a parsed bid mail. Out: a bid row, an acknowledgement to the freelancer and a quote to the
 * client (its Reply-To the quote's relay address), or one explanation.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HELD_PER_PROJECT 50	/* held bids awaiting confirmation on one project */
#define HELD_PER_SENDER 5	/* held bids sent from one address, all projects */

struct bidding {
	const struct config *c;
	struct store *s;
	const struct message *m;
	struct subscriber sub;
	int have_sub;
	struct project proj;
	int have_proj;
	const char *lang;
	int public_flow;	/* from the public address: refusals count as requests */
};

/* The value of 1 unit of currency cur in EUR from exchange_rates, or -1 when unknown. */
static double rate_of(const struct config *c, const char *cur)
{
	if (!strcmp(cur, "EUR"))
		return 1;
	const char *p = strstr(c->exchange_rates, cur);
	while (p && (p[3] != ':' || (p > c->exchange_rates && p[-1] != ' ')))
		p = strstr(p + 1, cur);
	return p ? strtod(p + 4, NULL) : -1;
}

/* Parses "20 EUR" into an amount in EUR; -1 when the currency has no rate. */
static double floor_eur(const struct config *c, const char *v)
{
	char *end;
	double d = strtod(v, &end);
	while (*end == ' ')
		end++;
	double r = rate_of(c, end);
	return r < 0 ? -1 : d * r;
}

/* "450 € HT, livraison en 5 jours" — what was understood, for the acknowledgement. */
static char *terms_text(const struct bidding *b, const struct bid_info *bi)
{
	struct buf t;
	buf_init(&t, 4096);
	char *amount = money_format(&bi->amount, b->lang);
	buf_puts(&t, amount);
	free(amount);
	if (bi->delivery_days >= 0) {
		char days[16];
		snprintf(days, sizeof days, "%d", bi->delivery_days);
		char *on = date_text(b->lang, bi->delivery);
		struct vars v = { 0 };
		vars_set(&v, "days", days);
		vars_set(&v, "date", on ? on : "");
		char *d = catalog_format(b->lang, on ? "bid.terms_delivery_on" : "bid.terms_delivery",
					 &v);
		buf_puts(&t, d);
		free(d);
		free(on);
	}
	else
		buf_puts(&t, catalog_text(b->lang, "bid.terms_no_delivery"));
	if (bi->n_milestones) {
		buf_puts(&t, catalog_text(b->lang, "bid.terms_payment"));
		for (int i = 0; i < bi->n_milestones; i++)
			buf_printf(&t, "%s%d %%", i ? " / " : "", bi->milestones[i]);
	}
	return buf_steal(&t);
}

/* One mail to the freelancer: an acknowledgement or an explanation. */
static int tell_freelancer(struct bidding *b, const char *to, const char *message,
			   const char *terms, const char *key)
{
	const struct config *c = b->c;
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)b->proj.id);
	char *addr = key ? keys_address(c, "bid", key) : NULL;
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", b->have_proj ? id : "");
	/* the title as the alert showed it: its phone numbers and addresses masked */
	char *title = b->have_proj && b->proj.title ? quote_relayable(c, b->proj.title, b->lang) : NULL;
	vars_set(&v, "title", title ? title : "");
	vars_set(&v, "message", message);
	vars_set(&v, "terms", terms ? terms : "");
	vars_set(&v, "name", b->have_sub && b->sub.name ? b->sub.name : "");
	vars_set(&v, "bid_address", addr ? addr : "");
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->bid_address,
		.to_name = b->have_sub ? b->sub.name : b->m->from_name,
		.to = to,
		.reply_to = addr,
		.in_reply_to = b->m->message_id_made_up ? NULL : b->m->message_id,
		.auto_submitted = "auto-replied",
		.key_ref = key,
	};
	int rc = send_queue(c, b->s, "bid_reply", b->lang, &v, &o);
	free(title);
	free(addr);
	return rc;
}

/* A refusal; from the public address (any From), it counts as that address's one request
 * of the day, so that refusals cannot be used to flood someone. */
static int refuse(struct bidding *b, const char *to, const char *message, const char *key)
{
	int64_t cid;
	if (b->public_flow && store_confirmation_insert(b->s, to, 0, "refusal", "", 0, &cid, clock_now()) < 0)
		return -1;
	return tell_freelancer(b, to, message, NULL, key);
}

/* The request to confirm held bid bid_id, sent to its subscriber through the robot's signed
 * c-CID address: says who sent it, the price, and the two words that decide. 0 or -1. */
static int ask_confirmation(struct bidding *b, int64_t cid, const struct bid_info *bi,
			    const char *sender, int subscribe, const char *lead)
{
	const struct config *c = b->c;
	char *ckey = keys_make("c", &cid, 1);
	char *caddr = keys_address(c, "robot", ckey);
	char *terms = terms_text(b, bi);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)b->proj.id);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "terms", terms);
	vars_set(&v, "sender", sender ? sender : "");
	vars_set(&v, "subscribe", subscribe ? "1" : "");
	vars_set(&v, "message", lead ? lead : "");
	vars_set(&v, "confirm_address", caddr);
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
			      .to = b->sub.address, .reply_to = caddr,
			      .in_reply_to = b->m && !b->m->message_id_made_up ? b->m->message_id : NULL,
			      .auto_submitted = "auto-replied", .key_ref = ckey };
	int rc = send_queue(c, b->s, "bid_confirm", b->lang, &v, &o);
	free(terms);
	free(caddr);
	free(ckey);
	return rc;
}

char *bid_rating_text(struct store *s, int64_t subscriber, const char *lang, const char *rated,
		      int *completed)
{
	double avg = 0;
	int nrat = 0, done = 0;
	store_freelancer_record(s, subscriber, &avg, &nrat, &done);
	if (completed)
		*completed = done;
	if (!nrat)
		return xstrdup(catalog_text(lang, "bid.not_rated"));
	char average[32], count[16];
	snprintf(average, sizeof average, "%.1f", avg);
	snprintf(count, sizeof count, "%d", nrat);
	struct vars rv = { 0 };
	vars_set(&rv, "average", average);
	vars_set(&rv, "count", count);
	char *rating = catalog_format(lang, nrat > 1 ? "bid.rating_many" : "bid.rating_one", &rv);
	if (!rated)
		return rating;
	struct vars nv = { 0 };
	vars_set(&nv, "rating", rating);
	char *t = catalog_format(lang, rated, &nv);
	free(rating);
	return t;
}

/* The quote mail to the client; its Reply-To is the quote's relay address. */
static int send_quote(struct bidding *b, int64_t bid_id, const struct bid_info *bi,
		      const char *text, int updated)
{
	const struct config *c = b->c;
	const char *lang = catalog_language_or(b->proj.language, c->language);
	const char *saved = b->lang;
	b->lang = lang;
	char *terms = terms_text(b, bi);
	b->lang = saved;
	char *qkey = keys_make("q", &bid_id, 1);
	char *relay = keys_address(c, "bid", qkey);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)b->proj.id);
	const char *who = b->sub.name && *b->sub.name ? b->sub.name
			  : catalog_text(lang, "bid.freelancer");
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", b->proj.title);
	vars_set(&v, "freelancer", who);
	vars_set(&v, "terms", terms);
	int completed = 0;
	char *rating = bid_rating_text(b->s, b->sub.id, lang, NULL, &completed), done[16];
	snprintf(done, sizeof done, "%d", completed);
	vars_set(&v, "rating", rating);
	vars_set(&v, "completed", done);
	char *shown = quote_relayable(c, text, lang);	/* the freelancer's keys masked */
	vars_set(&v, "text", shown);
	vars_set(&v, "updated", updated ? "1" : "");
	vars_set(&v, "relay_address", relay);
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->bid_address,
		.to_name = b->proj.poster_name,
		.to = b->proj.poster,
		.reply_to = relay,
		.auto_submitted = "auto-generated",
		.key_ref = qkey,
	};
	int rc = send_queue(c, b->s, "bid_quote", lang, &v, &o);
	free(shown);
	free(rating);
	free(terms);
	free(qkey);
	free(relay);
	return rc;
}

static enum outcome bid_run(const struct config *c, struct store *s, const struct message *m,
			    int64_t pid, int64_t sid, int public_flow, char **outcome);

char *bid_public_address(const struct config *c, int64_t project)
{
	char key[32];
	snprintf(key, sizeof key, "p%lld", (long long)project);
	return keys_address(c, "bid", key);
}

/* A project that was published: its number and title are on the marketplace page. */
static int is_public(const struct project *p)
{
	return p->status == PROJECT_OPEN || p->status == PROJECT_AWARDED ||
	       p->status == PROJECT_CLOSED || p->status == PROJECT_EXPIRED;
}

/* The public address's refusal for project pid, which is not open (shown: it was published,
 * else it is answered as one that does not exist). 0 or -1. */
static int public_refuse(const struct config *c, struct store *s, const struct message *m,
			 int shown)
{
	struct bidding b = { .c = c, .s = s, .m = m, .public_flow = 1 };
	b.lang = catalog_language_or(extract_language_of(m), c->language);
	return refuse(&b, m->from, catalog_text(b.lang, !shown ? "bid.no_such_project"
						: "bid.public_not_open"), NULL);
}

/* A mail to a project's public bid address: the sender (a subscriber, or now a pending one)
 * gets the bid held and one confirmation request; one request or refusal a day at most, and a
 * project that is not public is answered as one that does not exist. */
enum outcome bid_public(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	const struct message *m = h->m;
	int64_t pid = h->r->ids[0];
	if (!m->from || !compose_address_is_safe(m->from)) {
		h->result = xstrdup("bid:public:no-from");
		return OUT_OK;
	}
	int recent = store_confirmations_recent(s, m->from, clock_now());
	if (recent < 0)
		return OUT_TEMPFAIL;
	if (recent > 0) {
		log_info("stage=bid project=%lld result=rate-limited reason=\"a request or a refusal "
			 "was sent to this address less than a day ago\"", (long long)pid);
		h->result = xstrdup("bid:public:rate-limited");
		return OUT_OK;
	}
	struct project proj;
	int fp = store_project_get(s, pid, &proj);
	if (fp < 0)
		return OUT_TEMPFAIL;
	int shown = fp && is_public(&proj), open = fp && proj.status == PROJECT_OPEN;
	if (fp)
		project_clear(&proj);
	if (!open) {
		if (public_refuse(c, s, m, shown) < 0)
			return OUT_TEMPFAIL;
		h->result = xasprintf("bid:public:%s-%lld", shown ? "not-open" : "no-project",
				      (long long)pid);
		return OUT_OK;
	}
	struct subscriber sub;
	int f = store_subscriber_find(s, m->from, 0, &sub);
	if (f < 0)
		return OUT_TEMPFAIL;
	int64_t sid;
	if (f) {
		sid = sub.id;
		subscriber_clear(&sub);
	} else {
		const char *lang = extract_language_of(m);
		if (store_subscriber_insert(s, m->from, m->from_name, lang ? lang : c->language,
					    &sid, clock_now()) < 0)
			return OUT_TEMPFAIL;
	}
	return bid_run(c, s, m, pid, sid, 1, &h->result);
}

enum outcome bid_refuse(struct handling *h)
{
	const struct message *m = h->m;
	int has_key = h->r->key != ROUTE_KEY_NONE;
	struct bidding b = { .c = h->c, .s = h->s, .m = m };
	b.lang = catalog_language_or(extract_language_of(m),
				     h->c->language);
	/* no key, or a forged or altered one: explain once a day, never to a bounce */
	if (!m->from || !compose_address_is_safe(m->from)) {
		h->result = xstrdup("bid:no-key-no-from");
		return OUT_OK;
	}
	int due = post_refusal_due(h->s, m->from);
	if (due < 0)
		return OUT_TEMPFAIL;
	if (!due) {
		h->result = xstrdup(has_key ? "bid:bad-key-rate-limited" : "bid:no-key-rate-limited");
		return OUT_OK;
	}
	int rc = tell_freelancer(&b, m->from, catalog_text(b.lang, has_key ? "bid.bad_key"
							   : "bid.no_key"), NULL, NULL);
	h->result = xstrdup(has_key ? "bid:bad-key" : "bid:no-key");
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

enum outcome bid_handle(struct handling *h)
{
	return bid_for(h->c, h->s, h->m, h->r->ids[0], h->r->ids[1], &h->result);
}

enum outcome bid_for(const struct config *c, struct store *s, const struct message *m,
		     int64_t pid, int64_t sid, char **outcome)
{
	return bid_run(c, s, m, pid, sid, 0, outcome);
}

/* One bid being decided by bid_run: who, on what, and what was read of it. */
struct offer {
	struct bidding b;
	int64_t pid, sid;
	char key[80];		/* the bid address's key (b-PROJECT-SUBSCRIBER) */
	const char *to;		/* where explanations go: the subscriber's address */
	int same;		/* From is the subscriber's address: not held */
	const struct bid_info *bi;
};

/* The refusal of bid o with message, with its bid address for a reply when with_key (and not
 * from the public address); *outcome set to what. 1, or -1 on error. */
static int offer_refuse(struct offer *o, const char *message, int with_key, const char *what,
			char **outcome)
{
	int rc = refuse(&o->b, o->to, message, with_key && !o->b.public_flow ? o->key : NULL);
	*outcome = xstrdup(what);
	return rc < 0 ? -1 : 1;
}

const char *bid_floor_under(const struct config *c, const struct money *m)
{
	const char *cur = m->currency[0] ? m->currency : "EUR";
	double rate = rate_of(c, cur);
	double ht = m->max / (!strcmp(m->tax, "TTC") ? 1.2 : 1.0);
	const char *floor_cfg = !strcmp(m->unit, "hour") ? c->min_hourly_rate
				: !strcmp(m->unit, "day") ? c->min_daily_rate : NULL;
	double floor = floor_cfg ? floor_eur(c, floor_cfg) : -1;
	return !floor_cfg || rate <= 0 || floor <= 0 || ht * rate >= floor ? NULL : floor_cfg;
}

char *bid_floor_text(const char *floor_cfg, const char *lang)
{
	char *end;
	struct money m = { .min = -1, .max = strtod(floor_cfg ? floor_cfg : "", &end) };
	while (*end == ' ')
		end++;
	if (strlen(end) != 3)
		return xstrdup(floor_cfg ? floor_cfg : "");
	for (int i = 0; i < 3; i++)
		m.currency[i] = (char)toupper((unsigned char)end[i]);
	return money_format(&m, lang);
}

/* A rate under the board's floor (min_hourly_rate, min_daily_rate), in EUR excl. tax:
 * refused (1), the rate as it was read restated ("$15 an hour"); 0 when not, -1 on error. */
static int offer_check_floor(struct offer *o, char **outcome)
{
	const struct bid_info *bi = o->bi;
	struct bidding *b = &o->b;
	const char *floor_cfg = bid_floor_under(o->b.c, &bi->amount);
	if (!floor_cfg)
		return 0;
	char *rate = money_format(&bi->amount, b->lang);
	char *floor = bid_floor_text(floor_cfg, b->lang);
	struct vars v = { 0 };
	vars_set(&v, "rate", rate);
	vars_set(&v, "floor", floor);
	vars_set(&v, "unit", catalog_text(b->lang, !strcmp(bi->amount.unit, "hour")
					  ? "bid.floor_per_hour" : "bid.floor_per_day"));
	char *msg = catalog_format(b->lang, "bid.under_floor", &v);
	int rc = offer_refuse(o, msg, 1, "bid:refused:floor", outcome);
	free(msg);
	free(floor);
	free(rate);
	return rc;
}

/* The rules every bid passes: the project open, a price read, the floor, bid_cap. 1 when
 * refused (the freelancer told), 0 when it passes, -1 on error. */
static int offer_check(struct offer *o, char **outcome)
{
	struct bidding *b = &o->b;
	if (b->proj.status != PROJECT_OPEN) {
		int rc = refuse(b, o->to, catalog_text(b->lang, "bid.not_open"), NULL);
		*outcome = xasprintf("bid:refused:project-%s", store_project_state_name(b->proj.status));
		return rc < 0 ? -1 : 1;
	}
	if (!o->bi || !o->bi->has_amount)
		return offer_refuse(o, catalog_text(b->lang, "bid.no_price"), 1, "bid:no-price",
				    outcome);
	int r = offer_check_floor(o, outcome);
	if (r != 0)
		return r;
	int active = store_bid_count(b->s, o->pid, o->sid);
	if (active < 0)
		return -1;
	if (active >= b->c->bid_cap)
		return offer_refuse(o, catalog_text(b->lang, "bid.full"), 0, "bid:refused:full",
				    outcome);
	return 0;
}

/* A reply that says no to the project ("je passe mon tour", "I won't do it for 900 €") is no
 * bid: nothing is stored nor passed on, and the freelancer is told so once, with
 * how to bid if they meant to (the amount they named, if any, offered as an example; a reply
 * to that mail is a bid on the project). 1, or -1 on error. */
static int offer_declined(struct offer *o, char **outcome)
{
	struct bidding *b = &o->b;
	char *amount = o->bi && (o->bi->has_amount || o->bi->refused)
		       ? money_format(&o->bi->amount, b->lang) : NULL;
	struct vars v = { 0 };
	vars_set(&v, "amount", amount ? amount : "");
	char *msg = catalog_format(b->lang, amount ? "bid.said_no_amount" : "bid.said_no", &v);
	int rc = offer_refuse(o, msg, 1, "bid:said-no", outcome);
	free(msg);
	free(amount);
	return rc;
}

/* Held bids wait for their subscriber: at most so many per project and per sender, and one
 * unanswered request a day to the subscriber. 1 when this one is not held (and why is said),
 * 0 when it may be, -1 on error. */
static int offer_check_held(struct offer *o, char **outcome)
{
	struct bidding *b = &o->b;
	const struct message *m = b->m;
	char since[32];
	clock_format_iso(clock_now() - BID_HELD_TTL, since);
	int on_project = 0, by_sender = 0;
	if (store_bid_held_count(b->s, o->pid, m->from, since, &on_project, &by_sender) < 0)
		return -1;
	/* and one unanswered request a day to the subscriber, whoever sends in their name */
	int asked = b->public_flow ? 0 : store_confirmations_recent(b->s, b->sub.address, clock_now());
	if (asked < 0)
		return -1;
	if (asked > 0) {
		log_info("stage=bid project=%lld result=rate-limited reason=\"a request went to "
			 "the subscriber less than a day ago\"", (long long)o->pid);
		*outcome = xstrdup("bid:held:rate-limited");
		return 1;
	}
	if (on_project < HELD_PER_PROJECT && by_sender < HELD_PER_SENDER)
		return 0;
	log_warn("stage=bid project=%lld result=held-cap held_on_project=%d "
		 "held_by_sender=%d", (long long)o->pid, on_project, by_sender);
	/* from a signed key and another From, nobody is told: the From proves nothing */
	int rc = !b->public_flow ? 0
		 : refuse(b, o->to, catalog_text(b->lang, "bid.held_cap"), NULL);
	*outcome = xstrdup("bid:refused:held-cap");
	return rc < 0 ? -1 : 1;
}

/* Stores bid o, active (acknowledged, quoted to the client) or held (its subscriber asked to
 * confirm). 0 or -1. */
static int offer_store(struct offer *o, char **outcome)
{
	struct bidding *b = &o->b;
	const struct message *m = b->m;
	const struct bid_info *bi = o->bi;
	char *terms = terms_text(b, bi);
	int64_t bid_id;
	int replaced = 0;
	if (store_bid_insert(b->s, o->pid, o->sid, m->from, bi, m->new_text,
			     o->same ? BID_ACTIVE : BID_HELD, m->message_id, &bid_id, &replaced, clock_now()) < 0) {
		free(terms);
		return -1;
	}
	int rc;
	if (!o->same) {
		int64_t cid;
		char payload[48];
		/* ":subscribe": confirming it also makes the sender an active subscriber */
		snprintf(payload, sizeof payload, "%lld%s", (long long)bid_id,
			 b->public_flow ? ":subscribe" : "");
		rc = store_confirmation_insert(b->s, b->sub.address, o->sid, "bid", payload,
					       BID_HELD_TTL, &cid, clock_now());
		if (rc == 0)
			rc = ask_confirmation(b, cid, bi, b->public_flow ? NULL : m->from,
					      b->public_flow && b->sub.status != SUB_ACTIVE, NULL);
		*outcome = xasprintf("bid:held:%lld", (long long)bid_id);
	} else {
		/* and how to take it back: one reply, `retirer` / `withdraw` */
		char *msg = xasprintf("%s\n\n%s", catalog_text(b->lang, replaced ? "bid.replaced"
					      : "bid.passed_on"), catalog_text(b->lang, "bid.how_to_withdraw"));
		if (bi->delivery_days < 0) {
			/* what was not found, and how to add it */
			char *both = xasprintf("%s\n\n%s", msg,
					       catalog_text(b->lang, "bid.no_delivery_hint"));
			free(msg);
			msg = both;
		}
		if (bi->followup_days >= 0) {
			/* "relance dans 7 jours": the freelancer is told when the client will be */
			char *when = followup_scheduled(b->lang, bi->followup_days, clock_now());
			char *both = xasprintf("%s\n\n%s", msg, when);
			free(msg);
			free(when);
			msg = both;
		}
		rc = tell_freelancer(b, o->to, msg, terms, o->key);
		free(msg);
		if (rc == 0)
			rc = send_quote(b, bid_id, bi, m->new_text ? m->new_text : "", replaced);
		*outcome = xasprintf("bid:%lld:%s", (long long)bid_id, replaced ? "replaced" : "new");
	}
	free(terms);
	return rc;
}

/* The key of subscriber sid's bid address on project pid (b-PROJECT-SUBSCRIBER) into key. */
static void bid_key(int64_t pid, int64_t sid, char *key, size_t len)
{
	int64_t kids[2] = { pid, sid };
	char *k = keys_make("b", kids, 2);
	snprintf(key, len, "%s", k);
	free(k);
}

/* Loads subscriber sid into b and sets b's language: the one the mail is written in, unless
 * the subscriber chose one (`language`). 1 found, 0 not (the mail's language), -1 on error. */
static int bidding_load_sub(struct bidding *b, int64_t sid)
{
	const struct config *c = b->c;
	b->lang = catalog_language_or(extract_language_of(b->m), c->language);
	int f = store_subscriber_find(b->s, NULL, sid, &b->sub);
	if (f < 0)
		return -1;
	b->have_sub = f;
	const char *written = catalog_language_or(extract_language_of(b->m), NULL);
	if (f && b->sub.language && (!written || store_subscriber_language_chosen(b->s, sid) != 0))
		b->lang = catalog_language_or(b->sub.language, c->language);
	return f;
}

/* Subscriber sid's bid on project pid that a withdrawal is about: the accepted one, else the
 * active one, else a held one, into out (the caller clears it). 1, 0 when none, -1 on error. */
static int withdraw_find(struct store *s, int64_t pid, int64_t sid, struct bid_row *out)
{
	static const enum bid_state order[] = { BID_ACCEPTED, BID_ACTIVE, BID_HELD };
	struct bid_row *v;
	int n = store_bid_select(s, pid, BID_STATE_ANY, &v), found = -1;
	if (n < 0)
		return -1;
	for (size_t k = 0; k < sizeof order / sizeof order[0] && found < 0; k++)
		for (int i = n - 1; i >= 0 && found < 0; i--)
			if (v[i].subscriber == sid && v[i].status == order[k])
				found = i;
	for (int i = 0; i < n; i++)
		if (i != found)
			bid_row_clear(&v[i]);
	if (found >= 0)
		*out = v[found];
	free(v);
	return found >= 0;
}

/* The client of b's project told, once, that its freelancer withdrew the quote row: by name,
 * the quote's number and terms. 0 or -1. */
static int tell_client_withdrawn(struct bidding *b, const struct bid_row *row)
{
	const char *lang = catalog_language_or(b->proj.language, b->c->language);
	const char *saved = b->lang;
	b->lang = lang;
	char *terms = terms_text(b, &row->info);
	b->lang = saved;
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)row->id);
	char *price = row->info.has_amount ? money_format(&row->info.amount, lang) : NULL;
	struct vars qv = { 0 };
	vars_set(&qv, "bid", id);
	vars_set(&qv, "price", price ? price : "");
	char *quote = catalog_format(lang, price ? "quote.thread" : "quote.thread_no_price", &qv);
	struct vars v = { 0 };
	vars_set(&v, "name", b->sub.name && *b->sub.name ? b->sub.name
		 : catalog_text(lang, "bid.freelancer"));
	vars_set(&v, "bid", id);
	vars_set(&v, "terms", terms);
	int others = store_bid_count(b->s, b->proj.id, -1);
	char n[16];
	snprintf(n, sizeof n, "%d", others);
	vars_set(&v, "n", n);
	char *head = catalog_format(lang, "bid.withdrawn_client", &v);
	char *tail = catalog_format(lang, others > 0 ? "bid.withdrawn_others"
				    : "bid.withdrawn_no_other", &v);
	char *msg = xasprintf("%s %s", head, tail);
	free(head);
	free(tail);
	int rc = others < 0 ? -1 : quote_notice(b->c, b->s, "bid_withdrawn", &b->proj, b->proj.poster,
			      b->proj.poster_name, lang, msg, NULL, NULL, quote, NULL);
	free(msg);
	free(quote);
	free(price);
	free(terms);
	return rc;
}

/* Withdraws bid row of b (found by withdraw_find): an active one cancelled and the client told,
 * a held one cancelled, an accepted one kept (the freelancer is to write to the client); the
 * freelancer told which. 0 or -1. */
static int withdraw_row(struct bidding *b, const struct bid_row *row, const char *key,
			char **outcome)
{
	int moved = row->status == BID_ACCEPTED ? 0
		    : store_bid_state_set(b->s, row->id, row->status, BID_CANCELLED);
	if (moved < 0)
		return -1;
	char *terms = terms_text(b, &row->info);
	struct vars v = { 0 };
	vars_set(&v, "terms", terms);
	const char *name = row->status == BID_ACCEPTED ? "bid.withdraw_awarded"
			   : !moved ? "bid.withdraw_nothing"
			   : row->status == BID_ACTIVE ? "bid.withdrawn" : "bid.withdrawn_held";
	char *msg = catalog_format(b->lang, name, &v);
	int rc = tell_freelancer(b, b->sub.address, msg, NULL,
				 row->status == BID_ACCEPTED ? NULL : key);
	if (rc == 0 && moved && row->status == BID_ACTIVE)
		rc = tell_client_withdrawn(b, row);
	*outcome = xasprintf("bid:withdraw:%s:%lld", row->status == BID_ACCEPTED ? "awarded"
			     : !moved ? "none" : row->status == BID_ACTIVE ? "withdrawn" : "held",
			     (long long)row->id);
	log_info("stage=bid bid=%lld result=%s", (long long)row->id, *outcome);
	free(msg);
	free(terms);
	return rc;
}

enum outcome bid_withdraw(const struct config *c, struct store *s, const struct message *m,
			  int64_t pid, int64_t sid, char **outcome)
{
	struct bidding b = { .c = c, .s = s, .m = m };
	char key[80];
	bid_key(pid, sid, key, sizeof key);
	int rc = bidding_load_sub(&b, sid), fp = rc == 1 ? store_project_get(s, pid, &b.proj) : 0;
	struct bid_row row;
	int found = fp == 1 ? withdraw_find(s, pid, sid, &row) : 0;
	b.have_proj = fp == 1;
	if (rc < 0 || fp < 0 || found < 0) {
		rc = -1;
	} else if (rc == 0) {
		*outcome = xstrdup("bid:withdraw:unknown-subscriber");
	} else if (found) {
		rc = withdraw_row(&b, &row, key, outcome);
		bid_row_clear(&row);
	} else {
		/* no bid of theirs there (or no such project): nothing withdrawn, said so */
		rc = tell_freelancer(&b, b.sub.address, catalog_text(b.lang, "bid.withdraw_nothing"),
				     NULL, b.have_proj ? key : NULL);
		*outcome = xasprintf("bid:withdraw:nothing:%lld", (long long)pid);
	}
	if (b.have_sub)
		subscriber_clear(&b.sub);
	if (b.have_proj)
		project_clear(&b.proj);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

/* A bid by subscriber sid on project pid: checked, then stored active or held. */
static enum outcome bid_run(const struct config *c, struct store *s, const struct message *m,
			    int64_t pid, int64_t sid, int public_flow, char **outcome)
{
	struct offer o = { .b = { .c = c, .s = s, .m = m, .public_flow = public_flow },
			   .pid = pid, .sid = sid };
	struct bidding *b = &o.b;
	struct bid_info *own = NULL;
	bid_key(pid, sid, o.key, sizeof o.key);
	int f = bidding_load_sub(b, sid);
	if (f < 0)
		return OUT_TEMPFAIL;
	int rc = 0, fp = store_project_get(s, pid, &b->proj);
	if (fp < 0) {
		rc = -1;
		goto done;
	}
	b->have_proj = fp;
	o.to = f ? b->sub.address : m->from;
	if (!f || !b->have_proj) {
		*outcome = xstrdup("bid:unknown-subscriber-or-project");
		goto done;
	}
	/* From is not the key's subscriber (a forwarded selection, another mailbox): held */
	o.same = !public_flow && m->from && !strcasecmp(m->from, b->sub.address);
	long long named = 0;
	if (o.same && extract_intent_withdraw(m->new_text, NULL, &named)) {
		/* "retirer", "je retire mon offre": on this project, or on the one it names */
		rc = bid_withdraw(c, s, m, named > 0 ? named : pid, sid, outcome) == OUT_TEMPFAIL
		     ? -1 : 0;
		goto done;
	}
	/* a reply to a selection arrives as a command: read its bid here */
	if (b->proj.status == PROJECT_OPEN)
		own = m->bid ? NULL : extract_bid_text_at(m->new_text ? m->new_text : "",
							  extract_mail_time(m));
	o.bi = m->bid ? m->bid : own;
	if (b->proj.status == PROJECT_OPEN && m->new_text &&
	    extract_intent_no_bid(m->new_text, NULL)) {
		rc = offer_declined(&o, outcome) < 0 ? -1 : 0;
		goto done;
	}
	rc = offer_check(&o, outcome);
	if (rc == 0 && !o.same)
		rc = offer_check_held(&o, outcome);
	if (rc == 0)
		rc = offer_store(&o, outcome);
done:
	bid_info_free(own);
	if (b->have_sub)
		subscriber_clear(&b->sub);
	if (b->have_proj)
		project_clear(&b->proj);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

int bid_read_consent(const char *text)
{
	return extract_intent_consent(text);
}

int bid_delivery_date(const struct bid_row *b, char out[11])
{
	out[0] = '\0';
	if (date_day_parse(b->info.delivery) >= 0) {
		snprintf(out, 11, "%s", b->info.delivery);
		return 1;
	}
	time_t made = b->created ? clock_parse_iso(b->created) : (time_t)-1;
	if (b->info.delivery_days < 0 || made == (time_t)-1)
		return 0;
	date_day_format(date_day_of(made) + b->info.delivery_days, out);
	return 1;
}

/* The subscriber objected to held bid bid_id: cancelled, and they are told. 0 or -1. */
static int held_bid_cancel(struct bidding *b, const struct confirmation *cf, int64_t bid_id)
{
	int rc = store_confirmation_use(b->s, cf->id, clock_now()) < 0 ||
		 store_bid_state_set(b->s, bid_id, BID_HELD, BID_CANCELLED) < 0 ? -1 : 0;
	if (rc == 0)
		rc = tell_freelancer(b, b->sub.address, catalog_text(b->lang, "bid.cancelled"),
				     NULL, NULL);
	log_info("stage=bid bid=%lld result=cancelled reason=\"the subscriber objected\"",
		 (long long)bid_id);
	return rc;
}

/* With subscribe (the public address's flow), the subscriber of b, whose reply proved the
 * address, becomes active: 1 when they joined now, 0 when not, -1 on error. */
static int held_bid_join(struct bidding *b, int subscribe)
{
	if (!subscribe || b->sub.status == SUB_ACTIVE)
		return 0;
	char now[32];
	clock_format_iso(clock_now(), now);
	if (store_subscriber_confirm(b->s, b->sub.id, b->sub.status, now) < 0)
		return -1;
	b->sub.status = SUB_ACTIVE;
	free(b->sub.confirmed);
	b->sub.confirmed = xstrdup(now);
	return 1;
}

/* The subscriber answered held bid row with a new price: the held bid is cancelled and the
 * answer is their bid, from their own address (the checks, the acknowledgement and the quote
 * of any bid). 0 or -1. */
static int held_bid_correct(struct bidding *b, const struct confirmation *cf,
			    const struct bid_row *row, int subscribe, char **outcome)
{
	if (store_confirmation_use(b->s, cf->id, clock_now()) < 0 || held_bid_join(b, subscribe) < 0 ||
	    store_bid_state_set(b->s, row->id, BID_HELD, BID_CANCELLED) < 0)
		return -1;
	log_info("stage=bid bid=%lld result=corrected reason=\"the answer to the confirmation "
		 "named a new price\"", (long long)row->id);
	struct message own = *b->m;
	own.from = b->sub.address;
	own.bid = NULL;
	return bid_run(b->c, b->s, &own, row->project, row->subscriber, 0, outcome) == OUT_TEMPFAIL
	       ? -1 : 0;
}

/* The subscriber confirmed held bid row: with subscribe (the public address's flow) they
 * become active; on an open project the bid is made active, acknowledged and quoted. 0 or -1. */
static int held_bid_confirm(struct bidding *b, const struct confirmation *cf,
			    const struct bid_row *row, int subscribe)
{
	const struct config *c = b->c;
	int rc = store_confirmation_use(b->s, cf->id, clock_now()) < 0 ? -1 : 0;
	int replaced = 0, joined = rc == 0 ? held_bid_join(b, subscribe) : 0;
	if (joined < 0)
		rc = -1;
	if (rc != 0 || b->proj.status != PROJECT_OPEN)
		return rc;
	rc = store_bid_activate(b->s, row->id, &replaced) < 0 ? -1 : 0;
	char *terms = terms_text(b, &row->info);
	int64_t ids[2] = { row->project, row->subscriber };
	char *key = keys_make("b", ids, 2);
	struct vars v = { 0 };
	vars_set(&v, "robot_address", c->robot_address);
	char *robot_help = catalog_format(b->lang, "bid.confirmed_joined", &v);
	if (rc == 0)
		rc = tell_freelancer(b, b->sub.address, joined ? robot_help
				     : catalog_text(b->lang, "bid.confirmed"), terms, key);
	free(robot_help);
	if (rc == 0)
		rc = send_quote(b, row->id, &row->info, row->message ? row->message : "",
				replaced);
	free(terms);
	free(key);
	return rc;
}

enum outcome bid_answer(const struct config *c, struct store *s, const struct confirmation *cf,
			const struct message *m, char **outcome)
{
	int64_t bid_id = atoll(cf->payload ? cf->payload : "0");
	int subscribe = cf->payload && strstr(cf->payload, ":subscribe") != NULL;
	struct bid_row row;
	int f = store_bid_get(s, bid_id, &row);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f || row.status != BID_HELD) {
		/* purged, or decided already: nothing to do */
		if (f)
			bid_row_clear(&row);
		if (store_confirmation_use(s, cf->id, clock_now()) < 0)
			return OUT_TEMPFAIL;
		*outcome = xasprintf("robot:bid-not-held:%lld", (long long)bid_id);
		return OUT_OK;
	}
	struct bidding b = { .c = c, .s = s, .m = m };
	int rc = 0;
	if (store_subscriber_find(s, NULL, row.subscriber, &b.sub) == 1)
		b.have_sub = 1;
	b.have_proj = store_project_get(s, row.project, &b.proj) == 1;
	b.lang = catalog_language_or(b.have_sub ? b.sub.language : NULL, c->language);
	int consent = bid_read_consent(m->new_text);
	/* a price in the answer (and no "no"): the bid as corrected is the one confirmed */
	struct bid_info *fresh = consent >= 0 ? extract_bid_text(m->new_text ? m->new_text : "")
			       : NULL;
	int corrects = fresh && fresh->has_amount;
	bid_info_free(fresh);
	if (!b.have_sub || !b.have_proj) {
		rc = store_confirmation_use(s, cf->id, clock_now()) < 0 ? -1 : 0;
		*outcome = xasprintf("robot:bid-orphan:%lld", (long long)bid_id);
	} else if (corrects) {
		rc = held_bid_correct(&b, cf, &row, subscribe, outcome);
	} else if (consent == 0) {
		/* neither yes nor no: the request again, saying what to write; it stays open */
		rc = ask_confirmation(&b, cf->id, &row.info, NULL, subscribe && b.sub.status !=
				      SUB_ACTIVE, catalog_text(b.lang, "bid.unclear"));
		*outcome = xasprintf("robot:bid-unclear:%lld", (long long)bid_id);
	} else if (consent < 0) {
		rc = held_bid_cancel(&b, cf, bid_id);
		*outcome = xasprintf("robot:bid-cancelled:%lld", (long long)bid_id);
	} else {
		rc = held_bid_confirm(&b, cf, &row, subscribe);
		*outcome = xasprintf("robot:bid-confirmed:%s", cf->payload ? cf->payload : "?");
	}
	if (b.have_sub)
		subscriber_clear(&b.sub);
	if (b.have_proj)
		project_clear(&b.proj);
	bid_row_clear(&row);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
