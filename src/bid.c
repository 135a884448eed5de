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

static const char *tr(const struct bidding *b, const char *fr, const char *en)
{
	return !strcmp(b->lang, "fr") ? fr : en;
}

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
	if (bi->delivery_days >= 0)
		buf_printf(&t, tr(b, ", livraison en %d jours", ", delivery in %d days"),
			   bi->delivery_days);
	if (bi->n_milestones) {
		buf_puts(&t, tr(b, ", paiement ", ", payment "));
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
	vars_set(&v, "title", b->have_proj ? b->proj.title : "");
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

/* The quote mail to the client; its Reply-To is the quote's relay address. */
static int send_quote(struct bidding *b, int64_t bid_id, const struct bid_info *bi,
		      const char *text, int updated)
{
	const struct config *c = b->c;
	const char *lang = b->proj.language ? b->proj.language : c->language;
	int fr = !strcmp(lang, "fr");
	const char *saved = b->lang;
	b->lang = lang;
	char *terms = terms_text(b, bi);
	b->lang = saved;
	char *qkey = keys_make("q", &bid_id, 1);
	char *relay = keys_address(c, "bid", qkey);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)b->proj.id);
	const char *who = b->sub.name && *b->sub.name ? b->sub.name
			  : fr ? "Un prestataire" : "A freelancer";
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", b->proj.title);
	vars_set(&v, "freelancer", who);
	vars_set(&v, "terms", terms);
	double avg = 0;
	int nrat = 0, completed = 0;
	store_freelancer_record(b->s, b->sub.id, &avg, &nrat, &completed);
	char rating[64], done[16];
	if (nrat)
		snprintf(rating, sizeof rating, fr ? "%.1f/5 (%d évaluation%s)" : "%.1f/5 (%d rating%s)",
			 avg, nrat, nrat > 1 ? "s" : "");
	else
		snprintf(rating, sizeof rating, "%s", fr ? "pas encore évalué" : "not rated yet");
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
	return !strcmp(p->status, "open") || !strcmp(p->status, "awarded") ||
	       !strcmp(p->status, "closed") || !strcmp(p->status, "expired");
}

/* A mail to a project's public bid address: the sender (a subscriber, or now a pending one)
 * gets the bid held and one confirmation request; one request or refusal a day at most, and a
 * project that is not public is answered as one that does not exist. */
static enum outcome public_bid(const struct config *c, struct store *s, const struct message *m,
			       int64_t pid, char **outcome)
{
	if (!m->from || !compose_address_is_safe(m->from)) {
		*outcome = xstrdup("bid:public:no-from");
		return OUT_OK;
	}
	int recent = store_confirmations_recent(s, m->from, clock_now());
	if (recent < 0)
		return OUT_TEMPFAIL;
	if (recent > 0) {
		log_info("stage=bid project=%lld result=rate-limited reason=\"a request or a refusal "
			 "was sent to this address less than a day ago\"", (long long)pid);
		*outcome = xstrdup("bid:public:rate-limited");
		return OUT_OK;
	}
	struct project proj;
	int fp = store_project_get(s, pid, &proj);
	if (fp < 0)
		return OUT_TEMPFAIL;
	int shown = fp && is_public(&proj), open = fp && !strcmp(proj.status, "open");
	if (fp)
		project_clear(&proj);
	if (!open) {
		struct bidding b = { .c = c, .s = s, .m = m, .public_flow = 1 };
		const char *lang = extract_language(m->new_text ? m->new_text : "");
		b.lang = lang ? lang : c->language;
		if (refuse(&b, m->from, !shown
			   ? tr(&b, "Ce numéro de projet n'existe pas : aucune offre n'a été enregistrée. "
				"Utilisez le lien « faire une offre » de la page du projet.", "There is "
				"no project with this number: no bid was recorded. Use the \"bid\" "
				"link of the project's page.")
			   : tr(&b, "Ce projet n'accepte plus d'offres (il est clos, attribué ou expiré) : "
				"aucune offre n'a été enregistrée.", "This project no longer takes bids "
				"(closed, awarded or expired): no bid was recorded."), NULL) < 0)
			return OUT_TEMPFAIL;
		*outcome = xasprintf("bid:public:%s-%lld", shown ? "not-open" : "no-project",
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
		const char *lang = extract_language(m->new_text ? m->new_text : "");
		if (store_subscriber_insert(s, m->from, m->from_name, lang ? lang : c->language,
					    &sid, clock_now()) < 0)
			return OUT_TEMPFAIL;
	}
	return bid_run(c, s, m, pid, sid, 1, outcome);
}

enum outcome bid_handle(const struct config *c, struct store *s, const struct message *m,
			const char *recipient, char **outcome, char **reason)
{
	struct bidding b = { .c = c, .s = s, .m = m };
	b.lang = extract_language(m->new_text ? m->new_text : "");
	if (!b.lang)
		b.lang = c->language;
	char key[80];
	int64_t ids[3];
	int has_key = keys_find(c, m, recipient, c->bid_address, "bqrt", key, sizeof key);
	(void)reason;
	/* the conversation after a quote: the client at q-BID, the freelancer at r-BID */
	if (has_key && keys_check(key, "q", ids, 1) == 1)
		return quote_handle(c, s, m, ids[0], 1, outcome);
	if (has_key && keys_check(key, "r", ids, 1) == 1)
		return quote_handle(c, s, m, ids[0], 0, outcome);
	if (has_key && keys_check(key, "t", ids, 1) == 1)
		return rating_handle(c, s, m, ids[0], outcome);
	if (has_key && key[0] == 'p' && key[1] && strspn(key + 1, "0123456789") == strlen(key + 1) &&
	    strlen(key) < 19)
		return public_bid(c, s, m, atoll(key + 1), outcome);
	int valid = has_key && keys_check(key, "b", ids, 3) == 2;
	if (!valid) {
		/* no key, or a forged or altered one: explain once a day, never to a bounce */
		if (!m->from || !compose_address_is_safe(m->from)) {
			*outcome = xstrdup("bid:no-key-no-from");
			return OUT_OK;
		}
		int due = post_refusal_due(s, m->from);
		if (due < 0)
			return OUT_TEMPFAIL;
		if (!due) {
			*outcome = xstrdup(has_key ? "bid:bad-key-rate-limited" : "bid:no-key-rate-limited");
			return OUT_OK;
		}
		int rc = tell_freelancer(&b, m->from,
			has_key ? tr(&b, "Cette adresse d'offre n'est pas valide (modifiée ou incomplète) : "
				     "aucune offre n'a été enregistrée. Répondez au message qui présente "
				     "le projet, ou utilisez l'adresse d'offre qu'il donne.",
				     "This bid address is not valid (altered or incomplete): no bid was "
				     "recorded. Reply to the mail that presents the project, or use the "
				     "bid address it gives.")
				: tr(&b, "Pour faire une offre, répondez au message qui présente le projet "
				     "(sélection ou alerte) : chaque projet a sa propre adresse d'offre.",
				     "To bid, reply to the mail that presents the project (a selection "
				     "or an alert): each project has its own bid address."),
			NULL, NULL);
		*outcome = xstrdup(has_key ? "bid:bad-key" : "bid:no-key");
		return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	return bid_for(c, s, m, ids[0], ids[1], outcome);
}

enum outcome bid_for(const struct config *c, struct store *s, const struct message *m,
		     int64_t pid, int64_t sid, char **outcome)
{
	return bid_run(c, s, m, pid, sid, 0, outcome);
}

static enum outcome bid_run(const struct config *c, struct store *s, const struct message *m,
			    int64_t pid, int64_t sid, int public_flow, char **outcome)
{
	struct bidding b = { .c = c, .s = s, .m = m, .public_flow = public_flow };
	b.lang = extract_language(m->new_text ? m->new_text : "");
	if (!b.lang)
		b.lang = c->language;
	enum outcome out = OUT_OK;
	struct bid_info *own = NULL;
	int64_t kids[2] = { pid, sid };
	char *keyp = keys_make("b", kids, 2);
	char key[80];
	snprintf(key, sizeof key, "%s", keyp);
	free(keyp);
	int f = store_subscriber_find(s, NULL, sid, &b.sub);
	if (f < 0)
		return OUT_TEMPFAIL;
	b.have_sub = f;
	if (f && b.sub.language)
		b.lang = b.sub.language;
	int fp = store_project_get(s, pid, &b.proj);
	if (fp < 0)
		goto tempfail;
	b.have_proj = fp;
	const char *to = f ? b.sub.address : m->from;
	if (!f || !b.have_proj) {
		*outcome = xstrdup("bid:unknown-subscriber-or-project");
		goto done;
	}
	if (strcmp(b.proj.status, "open")) {
		int rc = refuse(&b, to, tr(&b, "Ce projet n'accepte plus d'offres (il est clos, "
					 "attribué ou expiré) : votre offre n'a pas été "
					 "transmise.", "This project no longer takes bids "
					 "(closed, awarded or expired): your bid was not "
					 "passed on."), NULL);
		*outcome = xasprintf("bid:refused:project-%s", b.proj.status);
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	/* From is not the key's subscriber (a forwarded selection, another mailbox): held */
	int same = !public_flow && m->from && !strcasecmp(m->from, b.sub.address);
	/* a reply to a selection arrives as a command: read its bid here */
	own = m->bid ? NULL : extract_bid_text(m->new_text ? m->new_text : "");
	const struct bid_info *bi = m->bid ? m->bid : own;
	if (!bi || !bi->has_amount) {
		int rc = refuse(&b, to, tr(&b, "Nous n'avons pas compris le prix de votre offre : "
					 "elle n'a pas été transmise. Répondez en écrivant "
					 "votre prix et votre délai, par exemple « Je propose "
					 "450 € HT, livraison en 5 jours ».",
					 "We could not read the price of your bid: it was not "
					 "passed on. Reply with your price and delay, for "
					 "example \"My price is 450 EUR excl. VAT, delivery in "
					 "5 days\"."), public_flow ? NULL : key);
		*outcome = xstrdup("bid:no-price");
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	/* the floor, for hourly and daily rates, in EUR excl. tax */
	const char *cur = bi->amount.currency[0] ? bi->amount.currency : "EUR";
	double rate = rate_of(c, cur);
	double ht = bi->amount.max / (!strcmp(bi->amount.tax, "TTC") ? 1.2 : 1.0);
	const char *floor_cfg = !strcmp(bi->amount.unit, "hour") ? c->min_hourly_rate
				: !strcmp(bi->amount.unit, "day") ? c->min_daily_rate : NULL;
	double floor = floor_cfg ? floor_eur(c, floor_cfg) : -1;
	if (floor_cfg && rate > 0 && floor > 0 && ht * rate < floor) {
		char *msg = xasprintf(tr(&b, "Votre tarif est sous le minimum de ce site (%s %s) : "
					 "votre offre n'a pas été transmise. Renvoyez-la avec un tarif "
					 "au moins égal.", "Your rate is under this board's minimum "
					 "(%s %s): your bid was not passed on. Send it again with at "
					 "least that rate."),
				      floor_cfg, tr(&b, !strcmp(bi->amount.unit, "hour") ? "HT de l'heure"
							: "HT par jour", !strcmp(bi->amount.unit, "hour")
							? "excl. VAT per hour" : "excl. VAT per day"));
		int rc = refuse(&b, to, msg, public_flow ? NULL : key);
		free(msg);
		*outcome = xstrdup("bid:refused:floor");
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	int active = store_bid_count(s, pid, sid);
	if (active < 0)
		goto tempfail;
	if (active >= c->bid_cap) {
		int rc = refuse(&b, to, tr(&b, "Ce projet a déjà reçu le nombre maximal d'offres : "
					 "votre offre n'a pas été transmise.", "This project "
					 "has already received the most bids it takes: your "
					 "bid was not passed on."), NULL);
		*outcome = xstrdup("bid:refused:full");
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	if (!same) {
		/* held bids wait for their subscriber: at most so many per project and per sender */
		char since[32];
		clock_format_iso(clock_now() - BID_HELD_TTL, since);
		int on_project = 0, by_sender = 0;
		if (store_bid_held_count(s, pid, m->from, since, &on_project, &by_sender) < 0)
			goto tempfail;
		/* and one unanswered request a day to the subscriber, whoever sends in their name */
		int asked = public_flow ? 0 : store_confirmations_recent(s, b.sub.address, clock_now());
		if (asked < 0)
			goto tempfail;
		if (asked > 0) {
			log_info("stage=bid project=%lld result=rate-limited reason=\"a request went to "
				 "the subscriber less than a day ago\"", (long long)pid);
			*outcome = xstrdup("bid:held:rate-limited");
			goto done;
		}
		if (on_project >= HELD_PER_PROJECT || by_sender >= HELD_PER_SENDER) {
			log_warn("stage=bid project=%lld result=held-cap held_on_project=%d "
				 "held_by_sender=%d", (long long)pid, on_project, by_sender);
			/* from a signed key and another From, nobody is told: the From proves nothing */
			int rc = !public_flow ? 0 : refuse(&b, to, tr(&b, "Trop d'offres attendent "
					 "déjà une confirmation (sur ce projet, ou envoyées depuis cette "
					 "adresse) : celle-ci n'a pas été enregistrée. Répondez depuis "
					 "votre adresse d'inscription au message qui présente le projet.",
					 "Too many bids are already waiting for a confirmation (on this "
					 "project, or sent from this address): this one was not recorded. "
					 "Reply from your subscription address to the mail that presents "
					 "the project."), NULL);
			*outcome = xstrdup("bid:refused:held-cap");
			if (rc < 0)
				goto tempfail;
			goto done;
		}
	}
	char *terms = terms_text(&b, bi);
	int64_t bid_id;
	int replaced = 0;
	if (store_bid_insert(s, pid, sid, m->from, bi, m->new_text, same ? "active" : "held",
			     m->message_id, &bid_id, &replaced, clock_now()) < 0) {
		free(terms);
		goto tempfail;
	}
	int rc;
	if (!same) {
		int64_t cid;
		char payload[48];
		/* ":subscribe": confirming it also makes the sender an active subscriber */
		snprintf(payload, sizeof payload, "%lld%s", (long long)bid_id,
			 public_flow ? ":subscribe" : "");
		rc = store_confirmation_insert(s, b.sub.address, sid, "bid", payload, BID_HELD_TTL, &cid, clock_now());
		if (rc == 0)
			rc = ask_confirmation(&b, cid, bi, public_flow ? NULL : m->from,
					      public_flow && strcmp(b.sub.status, "active"), NULL);
		*outcome = xasprintf("bid:held:%lld", (long long)bid_id);
	} else {
		char *msg = xstrdup(replaced
			? tr(&b, "Votre nouvelle offre remplace la précédente ; le client en est informé. "
				 "Pour la corriger encore, répondez à ce message.",
				 "Your new bid replaces the previous one; the client is told. To correct "
				 "it again, reply to this mail.")
			: tr(&b, "Votre offre est transmise au client. Pour la corriger, répondez à ce "
				 "message : la nouvelle remplacera celle-ci.",
				 "Your bid is passed on to the client. To correct it, reply to this mail: "
				 "the new one will replace it."));
		rc = tell_freelancer(&b, to, msg, terms, key);
		free(msg);
		if (rc == 0)
			rc = send_quote(&b, bid_id, bi, m->new_text ? m->new_text : "", replaced);
		*outcome = xasprintf("bid:%lld:%s", (long long)bid_id, replaced ? "replaced" : "new");
	}
	free(terms);
	if (rc < 0)
		goto tempfail;
	goto done;
tempfail:
	out = OUT_TEMPFAIL;
done:
	bid_info_free(own);
	if (b.have_sub)
		subscriber_clear(&b.sub);
	if (b.have_proj)
		project_clear(&b.proj);
	return out;
}

/* The length of the separator at p (ASCII other than letters, U+00A0-U+00BF such as « »,
 * U+2000-U+203F such as ’ and dashes), 0 on a letter. */
static size_t separator(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	if (u[0] < 0x80)
		return isalpha(u[0]) ? 0 : 1;
	if (u[0] == 0xc2 && u[1] >= 0xa0 && u[1] <= 0xbf)
		return 2;
	if (u[0] == 0xe2 && u[1] == 0x80 && u[2])
		return 3;
	return 0;
}

int bid_read_consent(const char *text)
{
	/* words that object whatever surrounds them */
	static const char *const objects[] = {
		"non", "no", "nope", "jamais", "never", "annuler", "annule", "annulez", "cancel",
		"arnaque", "fraude", "fraud", "scam", "faux", "fake", "stop", "refuse", "refuser", NULL };
	/* negations: an objection just before a person ("ce n'est pas moi") or a confirming word
	 * ("je ne confirme pas"); elsewhere ("oui, pas de souci", "n'hésitez pas") nothing */
	static const char *const negations[] = {
		"pas", "not", "ne", "didn", "don", "isn", "wasn", "dont", "didnt", NULL };
	static const char *const confirms[] = {
		"oui", "yes", "ok", "okay", "confirme", "confirmé", "confirmée", "confirmer",
		"confirm", "confirmed", "confirms", "valide", "valider", "validé", "accord", "agree",
		NULL };
	/* after a negation, these say "not me" ("ce n'est pas moi", "wasn't me") */
	static const char *const persons[] = { "moi", "me", "mine", "nous", "us", NULL };
	char *l = money_lower(text ? text : "");
	int objected = 0, confirmed = 0, refused = 0;
	long words = 0, last_negation = -10;
	/* words of the first 2,000 bytes */
	for (size_t i = 0, n = strnlen(l, 2000); i < n && !refused;) {
		while (i < n && separator(l + i))
			i += separator(l + i);
		size_t w = i;
		while (i < n && !separator(l + i))
			i++;
		if (i == w)
			continue;
		words++;
		if (i - w > 16)
			continue;
		char word[20];
		snprintf(word, sizeof word, "%.*s", (int)(i - w), l + w);
		int near_negation = words - last_negation <= 2;
		for (int k = 0; objects[k]; k++)
			objected |= !strcmp(word, objects[k]);
		for (int k = 0; persons[k]; k++)
			refused |= near_negation && !strcmp(word, persons[k]);	/* "pas moi" */
		for (int k = 0; negations[k]; k++)
			if (!strcmp(word, negations[k]))
				last_negation = words;
		for (int k = 0; confirms[k]; k++)
			if (!strcmp(word, confirms[k])) {
				if (near_negation)
					refused = 1;	/* "ne confirme pas", "don't confirm" */
				else
					confirmed = 1;
			}
	}
	free(l);
	/* a confirming word beside an objecting one ("yes, no problem") is not clear either way:
	 * the sender is asked again rather than acted against; a negation alone ("merci, pas de
	 * souci") says nothing */
	return refused ? -1 : objected ? (confirmed ? 0 : -1) : confirmed ? 1 : 0;
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
	if (!f || strcmp(row.status, "held")) {
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
	b.lang = b.have_sub && b.sub.language ? b.sub.language : c->language;
	int consent = bid_read_consent(m->new_text);
	if (!b.have_sub || !b.have_proj) {
		rc = store_confirmation_use(s, cf->id, clock_now()) < 0 ? -1 : 0;
		*outcome = xasprintf("robot:bid-orphan:%lld", (long long)bid_id);
	} else if (consent == 0) {
		/* neither yes nor no: the request again, saying what to write; it stays open */
		rc = ask_confirmation(&b, cf->id, &row.info, NULL, subscribe && strcmp(b.sub.status,
				      "active"), tr(&b, "Nous n'avons pas compris votre réponse : rien "
				      "n'a été fait.", "We did not understand your answer: nothing was "
				      "done."));
		*outcome = xasprintf("robot:bid-unclear:%lld", (long long)bid_id);
	} else if (consent < 0) {
		rc = store_confirmation_use(s, cf->id, clock_now()) < 0 || store_bid_status(s, bid_id, "cancelled") < 0
		     ? -1 : 0;
		if (rc == 0)
			rc = tell_freelancer(&b, b.sub.address, tr(&b, "Offre annulée : rien n'a été "
					     "transmis au client, et votre offre précédente sur ce projet, "
					     "s'il y en a une, reste valable.", "Bid cancelled: nothing was "
					     "sent to the client, and your previous bid on this project, if "
					     "any, still stands."), NULL, NULL);
		log_info("stage=bid bid=%lld result=cancelled reason=\"the subscriber objected\"",
			 (long long)bid_id);
		*outcome = xasprintf("robot:bid-cancelled:%lld", (long long)bid_id);
	} else {
		rc = store_confirmation_use(s, cf->id, clock_now()) < 0 ? -1 : 0;
		int joined = 0, replaced = 0;
		if (rc == 0 && subscribe && strcmp(b.sub.status, "active")) {
			/* subscribe-and-bid: the reply proved the address, the mail said so */
			char now[32];
			clock_format_iso(clock_now(), now);
			if (store_subscriber_confirm(s, b.sub.id, b.sub.status, now) < 0)
				rc = -1;
			free(b.sub.status);
			b.sub.status = xstrdup("active");
			free(b.sub.confirmed);
			b.sub.confirmed = xstrdup(now);
			joined = 1;
		}
		if (rc == 0 && !strcmp(b.proj.status, "open")) {
			rc = store_bid_activate(s, bid_id, &replaced) < 0 ? -1 : 0;
			char *terms = terms_text(&b, &row.info);
			int64_t ids[2] = { row.project, row.subscriber };
			char *key = keys_make("b", ids, 2);
			char *robot_help = xasprintf(tr(&b, "Offre confirmée : elle est transmise au client. "
						      "Vous êtes inscrit aux sélections : pour recevoir "
						      "les projets qui vous correspondent, écrivez « aide » "
						      "à %s.", "Bid confirmed: it is passed on to the client. "
						      "You are subscribed to the selections: to receive the "
						      "projects that match you, write \"help\" to %s."),
						   c->robot_address);
			if (rc == 0)
				rc = tell_freelancer(&b, b.sub.address, joined ? robot_help
						     : tr(&b, "Offre confirmée : elle est "
						     "transmise au client.", "Bid confirmed: it is passed "
						     "on to the client."), terms, key);
			free(robot_help);
			if (rc == 0)
				rc = send_quote(&b, bid_id, &row.info, row.message ? row.message : "",
						replaced);
			free(terms);
			free(key);
		}
		*outcome = xasprintf("robot:bid-confirmed:%s", cf->payload ? cf->payload : "?");
	}
	if (b.have_sub)
		subscriber_clear(&b.sub);
	if (b.have_proj)
		project_clear(&b.proj);
	bid_row_clear(&row);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
