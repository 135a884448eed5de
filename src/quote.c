/*
 * quote.c — the conversation after a quote, through relay addresses on both sides: the client
 * answers a quote at bid+q-BID (its Reply-To) and the freelancer answers at bid+r-BID, neither
 * seeing the other's address, until the project is awarded or closed. The client's commands,
 * on a line of their own in the new text: accept/accepter (award: both get the other's contact
 * details, the price, the board's commission and the milestone schedule with each amount; the
 * other bidders are told), decline/refuser (the freelancer is told, politely), close/clôturer
 * (every bidder told). Without a command, the reply's intent (extract_intent.c) acts the same
 * when it is sure ("j'accepte votre offre") and the client is told what was understood; when it
 * is not (hedged, conditional, negated, a verb without its object), the reply is relayed and one
 * yes/no question goes to the client at bid+a-BID-ACT, and its answer decides. The words around
 * a command reach the freelancer in the notice. Anything else is relayed, quotes trimmed, the
 * board's keys, every address and every phone number masked (mask.c), signatures, keys and
 * contact cards dropped from the attachments. The freelancer's "retirer" / "je retire mon
 * offre" withdraws the bid (bid_withdraw) instead of being relayed.
 * A command counts only above any quoted copy of what the board sent in that conversation (the
 * quote re-rendered, the bid, the texts relayed), and only on the bid's current quote.
 * In: a reply to a relay address. Out: status changes and the mails they cause.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define THREAD_TEXTS 50			/* relayed texts of a conversation compared with a reply */
#define THREAD_BYTES (2 * 1024 * 1024)
#define THREAD_WORDS 400000		/* words the board sent, at most */
#define REPLY_WORDS 200000		/* words of a reply compared, at most */
#define SHINGLE 6			/* a quoted copy: 6 words in a row the board sent, */
#define SHINGLE_WORDY 3			/* 3 of them of 3 letters or more (not a price restated) */

struct talk {
	const struct config *c;
	struct store *s;
	const struct message *m;
	struct bid_row bid;
	struct project proj;
	struct subscriber sub;
	int have_proj, have_sub;
	int asked;		/* at bid+a-BID-ACT: the act the client was asked about (INTENT_*) */
};

/* Frees what a talk loaded (its bid always, its project and subscriber when loaded). */
static void talk_clear(struct talk *t)
{
	bid_row_clear(&t->bid);
	if (t->have_proj)
		project_clear(&t->proj);
	if (t->have_sub)
		subscriber_clear(&t->sub);
}

/* Signatures, keys and contact cards: they name the sender (a certificate, a vCard, a key). */
static int is_identity_part(const struct attachment *a)
{
	static const char *const types[] = {
		"application/pkcs7-signature", "application/x-pkcs7-signature",
		"application/pkcs7-mime", "application/x-pkcs7-mime", "application/pgp-signature",
		"application/pgp-keys", "application/pkix-cert", "application/x-x509-ca-cert",
		"application/x-x509-user-cert", "text/vcard", "text/x-vcard", "text/directory", NULL };
	static const char *const names[] = { ".vcf", ".vcard", ".p7s", ".p7m", ".p7c", NULL };
	for (int i = 0; a->type && types[i]; i++)
		if (!strncasecmp(a->type, types[i], strlen(types[i])) &&
		    (!a->type[strlen(types[i])] || a->type[strlen(types[i])] == ';'))
			return 1;
	size_t nl = a->name ? strlen(a->name) : 0;
	for (int i = 0; names[i]; i++) {
		size_t k = strlen(names[i]);
		if (nl >= k && !strcasecmp(a->name + nl - k, names[i]))
			return 1;
	}
	/* an .asc file that holds a key or a signature (not an encrypted document) */
	if (nl >= 4 && !strcasecmp(a->name + nl - 4, ".asc") && a->data) {
		size_t head = a->size < 1024 ? a->size : 1024;
		return memmem(a->data, head, "BEGIN PGP PUBLIC KEY", 20) ||
		       memmem(a->data, head, "BEGIN PGP SIGNATURE", 19);
	}
	return 0;
}

/* Drops identity parts from m's attachments (in place); returns how many were dropped. */
static int drop_identity_parts(struct message *m)
{
	size_t w = 0;
	int dropped = 0;
	for (size_t i = 0; i < m->n_attachments; i++) {
		struct attachment *a = &m->attachments[i];
		if (is_identity_part(a)) {
			free(a->name);
			free(a->type);
			free(a->data);
			dropped++;
		} else {
			m->attachments[w++] = *a;
		}
	}
	m->n_attachments = w;
	return dropped;
}

char *quote_relayable(const struct config *c, const char *text, const char *lang)
{
	const char *mark = catalog_text(lang, "quote.address_masked");
	char *keyless = keys_mask(c, text, mark);
	char *r = mask_contacts(keyless, mark, catalog_text(lang, "mask.phone_hidden"));
	free(keyless);
	return r;
}

int quote_notice(const struct config *c, struct store *s, const char *kind,
		 const struct project *p, const char *to, const char *to_name, const char *lang,
		 const char *message, const char *text, const char *reply_key, const char *quote,
		 const struct message *with_attachments)
{
	char id[32], removed[16] = "";
	snprintf(id, sizeof id, "%lld", (long long)p->id);
	char *addr = reply_key ? keys_address(c, "bid", reply_key) : NULL;
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	/* the other side is a third party to what the title may carry (a phone, an address) */
	char *title = quote_relayable(c, p->title ? p->title : "", lang ? lang : c->language);
	vars_set(&v, "title", title);
	vars_set(&v, "message", message);
	char *masked = quote_relayable(c, text ? text : "", lang ? lang : c->language);
	vars_set(&v, "text", masked);
	vars_set(&v, "reply_address", addr ? addr : "");
	vars_set(&v, "quote", quote ? quote : "");
	/* relayed messages keep their attachments (the original is parsed again, keeping them),
	 * except those that would name the sender */
	struct message *att = with_attachments && with_attachments->raw && with_attachments->n_attachments
			      ? mime_parse_attachments(with_attachments->raw, with_attachments->raw_len)
			      : NULL;
	int dropped = att ? drop_identity_parts(att) : 0;
	if (dropped)
		snprintf(removed, sizeof removed, "%d", dropped);
	vars_set(&v, "removed", removed);
	vars_set(&v, "name", to_name ? to_name : "");	/* the greeting's */
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address, .to_name = to_name,
			      .to = to, .reply_to = addr, .auto_submitted = "auto-generated",
			      .key_ref = reply_key, .attachments = att ? att->attachments : NULL,
			      .n_attachments = att ? att->n_attachments : 0 };
	int rc = send_queue_as(c, s, "relay_message", kind, lang, &v, &o);
	message_free(att);
	free(masked);
	free(title);
	free(addr);
	return rc;
}

/* Who wrote the mail in hand, as the other side may read it: its display name, else its
 * address's local part (no +tag), with any address, phone number or board key in it masked
 * (caller frees). */
static char *sender_shown(struct talk *t, const char *lang)
{
	const struct message *m = t->m;
	char *name;
	if (m->from_name && *m->from_name)
		name = xstrdup(m->from_name);
	else {
		const char *a = m->from ? m->from : "";
		name = xasprintf("%.*s", (int)strcspn(a, "+@"), a);
	}
	char *shown = quote_relayable(t->c, name, lang);
	free(name);
	return shown;
}

/* The bid's thread as its subject names it: the quote's number and amount (caller frees). */
static char *thread_quote(struct talk *t, const char *lang)
{
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)t->bid.id);
	char *price = t->bid.info.has_amount ? money_format(&t->bid.info.amount, lang) : NULL;
	struct vars v = { 0 };
	vars_set(&v, "bid", id);
	vars_set(&v, "price", price ? price : "");
	char *q = catalog_format(lang, price ? "quote.thread" : "quote.thread_no_price", &v);
	free(price);
	return q;
}

/* A mail on the relay: to, in lang, with a message and the counterpart's text; its subject
 * names the bid's quote. A relayed text is remembered as part of the conversation (what the
 * board sent in it); without a message it is introduced by its sender's name, the client or
 * the freelancer by the side it goes to (a notice with the client's words, as a refusal,
 * keeps its own message). */
static int relay_mail(struct talk *t, const char *to, const char *to_name, const char *lang,
		      const char *reply_key, const char *message, const char *text)
{
	char *named = NULL;
	if (text && !message) {
		/* a relayed text is introduced by its sender's name */
		char *who = sender_shown(t, lang);
		struct vars nv = { 0 };
		vars_set(&nv, "name", who);
		int to_freelancer = t->have_sub && t->sub.address && !strcasecmp(to, t->sub.address);
		named = catalog_format(lang, to_freelancer ? "quote.named_client_answers"
				       : "quote.named_freelancer_answers", &nv);
		message = named;
		free(who);
	}
	if (text) {
		char *masked = quote_relayable(t->c, text, lang);
		char *body = xasprintf("%s\n%s", message, masked);
		int rc = store_relayed_add(t->s, t->bid.id, body, clock_now());
		free(body);
		free(masked);
		if (rc < 0) {
			free(named);
			return -1;
		}
	}
	char *quote = thread_quote(t, lang);
	/* a relayed text carries the sender's attachments; a notice carries none */
	int rc = quote_notice(t->c, t->s, text ? "relay_message" : "relay_notice", &t->proj, to,
			      to_name, lang, message, text, reply_key, quote, text ? t->m : NULL);
	free(quote);
	free(named);
	return rc;
}

const char *quote_bidder_language(const struct config *c, struct store *s,
				  const struct subscriber *sub, const struct bid_row *b)
{
	const char *lang = sub ? sub->language : NULL;
	if (sub && b && b->message && *b->message &&
	    store_subscriber_language_chosen(s, sub->id) == 0) {
		const char *wrote = extract_language(b->message);
		if (wrote && catalog_language_known(wrote))
			lang = wrote;
	}
	return catalog_language_or(lang, c->language);
}

static const char *lang_of_sub(const struct talk *t)
{
	return quote_bidder_language(t->c, t->s, t->have_sub ? &t->sub : NULL, &t->bid);
}

/* The project's language when the catalogue has it, else the board's. */
static const char *lang_of_project(const struct talk *t)
{
	return catalog_language_or(t->proj.language, t->c->language);
}

/* Appends catalogue text name in lang, filled from v, then a newline. */
static void put_line(struct buf *b, const char *lang, const char *name, const struct vars *v)
{
	char *line = catalog_format(lang, name, v);
	buf_puts(b, line);
	buf_putc(b, '\n');
	free(line);
}

/* The freelancer's name for the client, or the catalogue's word for one. */
static const char *freelancer_name(const struct talk *t, const char *lang)
{
	return t->sub.name && *t->sub.name ? t->sub.name : catalog_text(lang, "bid.freelancer");
}

time_t quote_delivery_date(const struct bid_row *b, time_t awarded)
{
	if (!b || awarded == (time_t)-1)
		return (time_t)-1;
	/* the day the quote restated to both sides ("livraison le 12 mars 2026 (dans 10
	 * jours)"), which the client accepted; else the delay counted from the award */
	if (date_day_parse(b->info.delivery) >= 0)
		return awarded + (time_t)date_days_left(b->info.delivery, awarded) * 86400;
	if (b->info.delivery_days < 0)
		return (time_t)-1;
	return awarded + (time_t)b->info.delivery_days * 86400;
}

char *quote_date_words(const char *lang, time_t t)
{
	struct tm tm;
	clock_local(t, &tm);
	char day[16], year[16], month[32];
	snprintf(day, sizeof day, "%d", tm.tm_mday);
	snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
	snprintf(month, sizeof month, "award.month_%d", tm.tm_mon + 1);
	struct vars v = { 0 };
	vars_set(&v, "day", day);
	vars_set(&v, "month", catalog_text(lang, month));
	vars_set(&v, "year", year);
	return catalog_format(lang, "award.date", &v);
}

/* A share of the price: percent of amount a (caller frees). */
static char *money_share(const struct money *a, double percent, const char *lang)
{
	struct money part = *a;
	part.min = -1;
	part.max = a->max * percent / 100.0;
	return money_format(&part, lang);
}

/* The payment plan of bid bi: the bid's, else the board's `milestones`; the count. */
static int award_plan(const struct config *c, const struct bid_info *bi, int ms[8])
{
	int n = bi->n_milestones;
	if (n) {
		memcpy(ms, bi->milestones, 8 * sizeof *ms);
		return n;
	}
	for (const char *p = c->milestones; *p && n < 8;) {
		ms[n++] = atoi(p);
		p += strcspn(p, ",");
		if (*p)
			p++;
	}
	return n;
}

/* The schedule: each step's share, when (its name and date: the first on the award date, the
 * last on the delivery date, those between spread evenly) and its amount. */
static void award_schedule(struct buf *b, const struct config *c, const char *lang,
			   const struct bid_info *bi, time_t awarded, time_t delivery)
{
	int ms[8], n = award_plan(c, bi, ms);
	put_line(b, lang, "quote.award_schedule", NULL);
	for (int i = 0; i < n; i++) {
		const char *when = i == 0 ? "quote.step_order" : i == n - 1 ? "quote.step_delivery"
				   : n == 3 ? "quote.step_midway" : "quote.step_intermediate";
		time_t at = i == 0 ? awarded : delivery == (time_t)-1 ? (time_t)-1
			    : awarded + (delivery - awarded) * i / (n - 1);
		char *amount = money_share(&bi->amount, ms[i], lang);
		char *date = at == (time_t)-1 ? NULL : quote_date_words(lang, at);
		char share[16];
		snprintf(share, sizeof share, "%d", ms[i]);
		struct vars sv = { 0 };
		vars_set(&sv, "percent", share);
		vars_set(&sv, "when", catalog_text(lang, when));
		vars_set(&sv, "amount", amount);
		vars_set(&sv, "date", date ? date : "");
		buf_puts(b, "  ");
		put_line(b, lang, date ? "award.step_dated" : "quote.award_step", &sv);
		free(date);
		free(amount);
	}
}

/* The commission: its amount, who pays it (commission_payer) and how (payment_terms, else the
 * catalogue's sentence for that payer). */
static void award_commission(struct buf *b, const struct config *c, const char *lang,
			     const struct bid_info *bi)
{
	char percent[16];
	snprintf(percent, sizeof percent, "%d", c->commission_percent);
	char *commission = money_share(&bi->amount, c->commission_percent, lang);
	char *half = money_share(&bi->amount, c->commission_percent / 2.0, lang);
	char *total = money_share(&bi->amount, 100.0 + c->commission_percent, lang);
	char *net = money_share(&bi->amount, 100.0 - c->commission_percent, lang);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "percent", percent);
	vars_set(&v, "commission", commission);
	vars_set(&v, "half", half);
	vars_set(&v, "total", total);
	vars_set(&v, "net", net);
	vars_set(&v, "terms", c->payment_terms);
	const char *payer = c->commission_payer;
	put_line(b, lang, "quote.award_commission", &v);
	buf_puts(b, "  ");
	put_line(b, lang, !strcmp(payer, "client") ? "award.payer_client"
		 : !strcmp(payer, "shared") ? "award.payer_shared" : "award.payer_freelancer", &v);
	buf_puts(b, "  ");
	put_line(b, lang, *c->payment_terms ? "award.payment_terms"
		 : !strcmp(payer, "client") ? "award.how_client"
		 : !strcmp(payer, "shared") ? "award.how_shared" : "award.how_freelancer", &v);
	free(commission);
	free(half);
	free(total);
	free(net);
}

/* The next steps of one side (0: the freelancer, 1: the client), numbered, filled from v. */
static void award_next(struct buf *b, const char *lang, int side, const struct vars *v)
{
	static const char *const next[2][3] = {
		{ "award.next_freelancer_1", "award.next_freelancer_2", "award.next_freelancer_3" },
		{ "award.next_client_1", "award.next_client_2", "award.next_client_3" } };
	buf_putc(b, '\n');
	put_line(b, lang, "award.next", NULL);
	for (int i = 0; i < 3; i++) {
		buf_printf(b, "  %d. ", i + 1);
		put_line(b, lang, next[side][i], v);
	}
}

/* The agreement as one side reads it (side 0: the freelancer, 1: the client): parties, project,
 * price, delivery, schedule, commission, next steps; caller frees. */
static char *award_terms(struct talk *t, int side, const char *words, int natural,
			 time_t awarded, time_t delivery)
{
	const char *lang = side == 0 ? lang_of_sub(t) : lang_of_project(t);
	struct bid_info *bi = &t->bid.info;
	struct buf b;
	buf_init(&b, 64 * 1024);
	if (side == 1 && natural) {
		put_line(&b, lang, "quote.understood_accept", NULL);
		buf_putc(&b, '\n');
	}
	char id[32], days[16];
	snprintf(id, sizeof id, "%lld", (long long)t->proj.id);
	/* the days from the award to the delivery day, not the bid's own count */
	snprintf(days, sizeof days, "%ld", delivery == (time_t)-1 ? (long)bi->delivery_days
		 : date_day_of(delivery) - date_day_of(awarded));
	char *price = money_format(&bi->amount, lang);
	char *first = NULL;
	int ms[8];
	if (award_plan(t->c, bi, ms) > 0)
		first = money_share(&bi->amount, ms[0], lang);
	char *date = delivery == (time_t)-1 ? NULL : quote_date_words(lang, delivery);
	struct vars v = { 0 };
	vars_set(&v, "client", t->proj.poster_name && *t->proj.poster_name ? t->proj.poster_name
		 : catalog_text(lang, "award.client_unnamed"));
	vars_set(&v, "client_address", t->proj.poster);
	vars_set(&v, "freelancer", freelancer_name(t, lang));
	vars_set(&v, "freelancer_address", t->sub.address);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", t->proj.title);
	vars_set(&v, "price", price);
	vars_set(&v, "days", days);
	vars_set(&v, "date", date ? date : "");
	vars_set(&v, "first", first ? first : price);
	vars_set(&v, "board", t->c->board_name);
	put_line(&b, lang, "award.client", &v);
	put_line(&b, lang, "award.freelancer", &v);
	put_line(&b, lang, "award.project", &v);
	put_line(&b, lang, "quote.award_price", &v);
	put_line(&b, lang, date ? "award.delivery_dated" : "award.delivery_unknown", &v);
	award_schedule(&b, t->c, lang, bi, awarded, delivery);
	award_commission(&b, t->c, lang, bi);
	award_next(&b, lang, side, &v);
	if (side == 0 && words) {
		char *masked = quote_relayable(t->c, words, lang);
		buf_putc(&b, '\n');
		put_line(&b, lang, "quote.client_adds", NULL);
		buf_puts(&b, masked);
		buf_putc(&b, '\n');
		free(masked);
	}
	free(date);
	free(first);
	free(price);
	return buf_steal(&b);
}

/* The award: both sides get the agreement summary (award_terms), addressed by name, with the
 * other side as its Reply-To (the relay is closed once awarded: they write to each other);
 * the freelancer also gets the client's words (NULL: none), and with natural the client is
 * told first that their reply was read as an acceptance. */
static int award(struct talk *t, const char *words, int natural)
{
	const struct config *c = t->c;
	time_t awarded = clock_now();
	time_t delivery = quote_delivery_date(&t->bid, awarded);
	int rc = 0;
	for (int side = 0; side < 2 && rc == 0; side++) {
		const char *lang = side == 0 ? lang_of_sub(t) : lang_of_project(t);
		char *terms = award_terms(t, side, words, natural, awarded, delivery);
		const char *client = t->proj.poster_name && *t->proj.poster_name
				     ? t->proj.poster_name : "";
		const char *freelancer = t->sub.name && *t->sub.name ? t->sub.name : "";
		struct vars v = { 0 };
		char id[32];
		snprintf(id, sizeof id, "%lld", (long long)t->proj.id);
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "project_id", id);
		vars_set(&v, "title", t->proj.title);
		vars_set(&v, "winner", side == 0 ? "1" : "");
		vars_set(&v, "name", side == 0 ? freelancer : client);
		vars_set(&v, "other", side == 0 ? (*client ? client : catalog_text(lang,
						   "award.client_unnamed"))
			 : freelancer_name(t, lang));
		vars_set(&v, "terms", terms);
		struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
				      .to_name = side == 0 ? t->sub.name : t->proj.poster_name,
				      .to = side == 0 ? t->sub.address : t->proj.poster,
				      .reply_to = side == 0 ? t->proj.poster : t->sub.address,
				      .auto_submitted = "auto-generated" };
		rc = send_queue(c, t->s, "award", lang, &v, &o);
		free(terms);
	}
	return rc;
}

/* Tells the other active bidders of a project (award or close). */
static int tell_others(struct talk *t, int64_t except, const char *name)
{
	struct bid_row *v;
	int n = store_bid_list(t->s, t->proj.id, &v);
	if (n < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		if (v[i].id == except || v[i].status != BID_ACTIVE)
			continue;
		store_bid_state_set(t->s, v[i].id, BID_ACTIVE, BID_CLOSED);
		struct subscriber o;
		if (store_subscriber_find(t->s, NULL, v[i].subscriber, &o) != 1)
			continue;
		const char *lang = quote_bidder_language(t->c, t->s, &o, &v[i]);
		rc = quote_notice(t->c, t->s, "bidder_closed", &t->proj, o.address, o.name, lang,
				  catalog_text(lang, name), NULL, NULL, NULL, NULL);
		subscriber_clear(&o);
	}
	for (int i = 0; i < n; i++)
		bid_row_clear(&v[i]);
	free(v);
	return rc;
}

/* What a reply is compared with: the hashes of every run of SHINGLE words, sorted. */
struct shingles {
	uint64_t *v;
	size_t n, cap;
};

static int is_word_gap(const unsigned char *p, size_t left, size_t *len)
{
	*len = 1;
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		return 1;
	if (left >= 2 && p[0] == 0xC2 && p[1] == 0xA0)
		return (*len = 2), 1;	/* no-break space */
	if (left >= 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xAF || p[2] == 0x89))
		return (*len = 3), 1;	/* narrow no-break and thin spaces */
	return 0;
}

/* The words of text, hashed (ASCII lower case), with the line each is on: quote markers and
 * blanks at the start of a line are not words, so a copy compares the same however it is
 * quoted, indented or wrapped. At most max words; returns their count. */
static size_t words_of(const char *text, uint64_t *h, int *line, size_t max)
{
	/* the hash's lowest bit says whether the word has 3 letters or more */
	const unsigned char *p = (const unsigned char *)text;
	size_t left = strlen(text), n = 0;
	int ln = 0, bol = 1;
	while (left && n < max) {
		size_t g;
		if (bol && (*p == '>' || *p == '|' || *p == ' ' || *p == '\t')) {
			p++, left--;
			continue;
		}
		if (is_word_gap(p, left, &g)) {
			if (*p == '\n')
				ln++, bol = 1;
			p += g, left -= g;
			continue;
		}
		bol = 0;
		uint64_t x = 1469598103934665603ULL;
		int letters = 0;
		while (left && !is_word_gap(p, left, &g)) {
			x = (x ^ (uint64_t)tolower(*p)) * 1099511628211ULL;
			letters += isalpha(*p) || (*p >= 0xC0);	/* a UTF-8 lead byte: one letter */
			p++, left--;
		}
		if (line)
			line[n] = ln;
		h[n++] = (x & ~(uint64_t)1) | (letters >= 3);
	}
	return n;
}

/* The hash of the SHINGLE words from i, or 0 when too few of them are words of letters. */
static uint64_t shingle_at(const uint64_t *h, size_t i)
{
	uint64_t x = 0;
	int wordy = 0;
	for (int k = 0; k < SHINGLE; k++) {
		x = x * 0x9E3779B97F4A7C15ULL + h[i + k];
		wordy += (int)(h[i + k] & 1);
	}
	return wordy >= SHINGLE_WORDY ? x | 1 : 0;
}

/* Adds the shingles of one text the board sent (bounded by THREAD_WORDS in all). */
static void shingles_add(struct shingles *sh, const char *text)
{
	if (!text || sh->n >= THREAD_WORDS)
		return;
	size_t max = THREAD_WORDS - sh->n, most = strlen(text) / 2 + 1;	/* a word and a gap */
	if (max > most)
		max = most;
	uint64_t *h = xcalloc(max, sizeof *h);
	size_t n = words_of(text, h, NULL, max);
	for (size_t i = 0; i + SHINGLE <= n; i++) {
		if (sh->n == sh->cap) {
			sh->cap = sh->cap ? sh->cap * 2 : 1024;
			sh->v = xrealloc(sh->v, sh->cap * sizeof *sh->v);
		}
		uint64_t x = shingle_at(h, i);
		if (x)
			sh->v[sh->n++] = x;
	}
	free(h);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* What the board sent in this conversation, as shingles: the quote mail re-rendered (its bid
 * text included), the relay template, and the texts relayed since. */
static void thread_shingles(struct talk *t, struct shingles *sh)
{
	const struct config *c = t->c;
	const char *lang = lang_of_project(t);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)t->proj.id);
	char *qkey = keys_make("q", &t->bid.id, 1);
	char *relay = keys_address(c, "bid", qkey);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", t->proj.title);
	vars_set(&v, "freelancer", t->sub.name && *t->sub.name ? t->sub.name
				   : catalog_text(lang, "bid.freelancer"));
	vars_set(&v, "terms", "");
	vars_set(&v, "rating", "");
	vars_set(&v, "completed", "");
	char *shown = quote_relayable(c, t->bid.message ? t->bid.message : "", lang);
	vars_set(&v, "text", shown);
	vars_set(&v, "relay_address", relay);
	vars_set(&v, "message", "");
	vars_set(&v, "reply_address", relay);
	static const char *const kinds[] = { "bid_quote", "relay_message" };
	for (int k = 0; k < 2; k++) {
		struct rendered r;
		if (render_mail(c, kinds[k], lang, &v, &r) == 0) {
			shingles_add(sh, r.text);
			rendered_clear(&r);
		}
	}
	shingles_add(sh, shown);	/* also when a template could not be rendered */
	struct strlist relayed = { 0 };
	if (store_relayed_list(t->s, t->bid.id, THREAD_TEXTS, THREAD_BYTES, &relayed) > 0)
		for (size_t i = 0; i < relayed.n; i++)
			shingles_add(sh, relayed.v[i]);
	strlist_clear(&relayed);
	qsort(sh->v, sh->n, sizeof *sh->v, u64_cmp);
	free(shown);
	free(relay);
	free(qkey);
}

/* The command a line is, or 0. */
static int command_of(const char *s, size_t n)
{
	char *line = xstrndup(s, n);
	char *l = money_lower(str_trim(line));
	size_t ln = strlen(l);
	while (ln && (l[ln - 1] == '.' || l[ln - 1] == '!'))
		l[--ln] = '\0';
	int cmd = !strcmp(l, "accept") || !strcmp(l, "accepter") || !strcmp(l, "j'accepte") ? 'a'
		  : !strcmp(l, "decline") || !strcmp(l, "refuser") ? 'd'
		  : !strcmp(l, "close") || !strcmp(l, "clôturer") || !strcmp(l, "cloturer") ? 'c' : 0;
	free(l);
	free(line);
	return cmd;
}

/* The client's command on a line of its own, or 0. The reply is quoted from its first run of
 * SHINGLE words that the board sent in the conversation; a command counts only above it.
 * *quoted is set when a command was found only below. *above gets the text above the quote,
 * *words the same without the command's line (NULL when nothing is left); both owned. */
static int client_command(const char *text, const struct shingles *sh, int *quoted, char **above,
			  char **words)
{
	size_t max = strlen(text) / 2 + 1;
	if (max > REPLY_WORDS)
		max = REPLY_WORDS;
	uint64_t *h = xcalloc(max, sizeof *h);
	int *line = xcalloc(max, sizeof *line);
	size_t n = words_of(text, h, line, max);
	int quote = n ? line[n - 1] + 1 : 0;	/* past the last line looked at */
	for (size_t i = 0; i + SHINGLE <= n && sh->n; i++) {
		uint64_t x = shingle_at(h, i);
		if (x && bsearch(&x, sh->v, sh->n, sizeof *sh->v, u64_cmp)) {
			quote = line[i];
			break;
		}
	}
	free(h);
	free(line);
	int cmd = 0, ln = 0;
	struct buf a, w;
	buf_init(&a, strlen(text) + 1);
	buf_init(&w, strlen(text) + 1);
	for (const char *p = text; p && *p; ln++) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int c = len < 64 ? command_of(p, len) : 0;
		if (ln < quote) {
			buf_append(&a, p, len);
			buf_putc(&a, '\n');
		}
		if (c && ln < quote && !cmd) {
			cmd = c;
		} else if (ln < quote) {
			buf_append(&w, p, len);
			buf_putc(&w, '\n');
		}
		if (c && ln >= quote)
			*quoted = 1;
		p = e ? e + 1 : NULL;
	}
	*above = xstrdup(a.data ? a.data : "");
	char *rest = xstrdup(w.data ? w.data : "");
	*words = *str_trim(rest) ? xstrdup(str_trim(rest)) : NULL;
	free(rest);
	buf_free(&a);
	buf_free(&w);
	return cmd;
}

/* The number of words of letters in text. */
static int in_words(const char *text)
{
	int n = 0, in = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		int letter = isalpha(*p) || *p >= 0x80;
		n += letter && !in;
		in = letter;
	}
	return n;
}

/* A command on the quote of a bid that is no longer current: nothing is done; the client is
 * told which quote is current (its price, and that a reply to this notice acts on it). */
static int tell_current(struct talk *t)
{
	const char *lang = lang_of_project(t);
	enum bid_state st = t->bid.status;
	struct vars v = { 0 };
	vars_set(&v, "why", catalog_text(lang, st == BID_REPLACED ? "quote.why_replaced"
					 : st == BID_DECLINED ? "quote.why_declined"
					 : st == BID_HELD ? "quote.why_held" : "quote.why_withdrawn"));
	int64_t cur;
	int f = store_bid_current(t->s, t->proj.id, t->bid.subscriber, &cur);
	if (f < 0)
		return -1;
	struct bid_row cb;
	if (f && store_bid_get(t->s, cur, &cb) != 1)
		f = 0;
	char *msg, *key = NULL;
	if (f) {
		char *price = money_format(&cb.info.amount, lang);
		key = keys_make("q", &cur, 1);
		vars_set(&v, "price", price);
		msg = catalog_format(lang, "quote.not_current", &v);
		free(price);
		bid_row_clear(&cb);
	} else {
		msg = catalog_format(lang, "quote.not_current_none", &v);
	}
	int rc = relay_mail(t, t->proj.poster, t->proj.poster_name, lang, key, msg, NULL);
	free(msg);
	free(key);
	return rc;
}

/* A message on a project that is not open: not passed on, the sender told why. */
static int refuse_closed(struct talk *t, int client_side)
{
	const struct message *m = t->m;
	const char *lang = client_side ? lang_of_project(t) : lang_of_sub(t);
	return relay_mail(t, m->from, m->from_name, lang, NULL, catalog_text(lang, "quote.closed"),
			  NULL);
}

/* A state change read as possible (project open, bid active) that changed no row: another mail
 * — on another host, under READ COMMITTED — changed it first. -1: the message's work is undone
 * and it is tried again from the spool, where the state it then reads answers it. */
static int moved(struct talk *t, int n, const char *what)
{
	if (n == 0)
		log_warn("stage=quote project=%lld result=raced what=%s reason=\"changed by another "
			 "mail meanwhile: tried again\"", (long long)t->proj.id, what);
	return n == 1 ? 0 : -1;
}

/* The client's "accept": the project awarded to this bid, the others told; words (NULL:
 * none) go to the freelancer; natural: the client's reply was read as an acceptance. */
static int accept_bid(struct talk *t, int64_t id, const char *words, int natural)
{
	int rc = moved(t, store_project_state_set(t->s, t->proj.id, PROJECT_OPEN, PROJECT_AWARDED,
						  clock_now()), "project");
	if (rc == 0)
		rc = moved(t, store_bid_state_set(t->s, id, BID_ACTIVE, BID_ACCEPTED), "bid");
	if (rc == 0)
		rc = award(t, words, natural);
	if (rc == 0)
		rc = tell_others(t, id, "quote.awarded_other");
	return rc;
}

/* A notice to the client: catalogue text name, filled with the freelancer and the price. */
static int tell_client(struct talk *t, const char *name, const char *reply_key)
{
	const char *lang = lang_of_project(t);
	char *price = money_format(&t->bid.info.amount, lang);
	struct vars v = { 0 };
	vars_set(&v, "freelancer", freelancer_name(t, lang));
	vars_set(&v, "price", price);
	char *msg = catalog_format(lang, name, &v);
	int rc = relay_mail(t, t->proj.poster, t->proj.poster_name, lang, reply_key, msg, NULL);
	free(msg);
	free(price);
	return rc;
}

/* The client's "decline": the bid declined, its freelancer told (with the client's words, NULL
 * for none); natural: the client is told their reply was read as a refusal. */
static int decline_bid(struct talk *t, int64_t id, const char *words, int natural)
{
	int rc = moved(t, store_bid_state_set(t->s, id, BID_ACTIVE, BID_DECLINED), "bid");
	if (rc == 0)
		rc = relay_mail(t, t->sub.address, t->sub.name, lang_of_sub(t), NULL,
				catalog_text(lang_of_sub(t), "quote.declined"), words);
	if (rc == 0 && natural) {
		/* a reply to it goes to the freelancer: "I did not mean it" reaches them */
		char *qkey = keys_make("q", &id, 1);
		rc = tell_client(t, "quote.understood_decline", qkey);
		free(qkey);
	}
	return rc;
}

/* The client's "close": the project closed unawarded, the bidders told; natural: the client is
 * told their reply was read as a closing. */
static int close_project(struct talk *t, int natural)
{
	int rc = moved(t, store_project_state_set(t->s, t->proj.id, PROJECT_OPEN, PROJECT_CLOSED,
						  clock_now()), "project");
	if (rc == 0)
		rc = tell_others(t, 0, "quote.closed_unawarded");
	if (rc == 0 && natural)
		rc = tell_client(t, "quote.understood_close", NULL);
	return rc;
}

/* One yes/no question to the client about act (INTENT_ACCEPT, _DECLINE, _CLOSE): its reply
 * address bid+a-BID-ACT says which, and the answer is read by extract_intent_read. */
static int ask_client(struct talk *t, enum intent act)
{
	int64_t ids[2] = { t->bid.id, act };
	char *akey = keys_make("a", ids, 2);
	int rc = tell_client(t, act == INTENT_ACCEPT ? "quote.ask_accept"
			     : act == INTENT_DECLINE ? "quote.ask_decline" : "quote.ask_close", akey);
	free(akey);
	return rc;
}

/* The client's message relayed to the freelancer; when it held a command only in quoted text,
 * the client is told why nothing was done. */
static int relay_to_freelancer(struct talk *t, const char *text, int quoted, const char *qkey,
			       const char *rkey)
{
	int rc = relay_mail(t, t->sub.address, t->sub.name, lang_of_sub(t), rkey, NULL, text);
	if (rc == 0 && quoted) {
		/* say why nothing was done, so that a command meant is written again */
		const char *lang = lang_of_project(t);
		rc = relay_mail(t, t->proj.poster, t->proj.poster_name, lang, qkey,
				catalog_text(lang, "quote.quoted_command"), NULL);
	}
	return rc;
}

/* The command letter of an act (INTENT_ACCEPT 'a', _DECLINE 'd', _CLOSE 'c'), 0 for others. */
static int command_of_intent(enum intent in)
{
	return in == INTENT_ACCEPT ? 'a' : in == INTENT_DECLINE ? 'd' : in == INTENT_CLOSE ? 'c' : 0;
}

/* All the client wrote above the quote, trimmed, as the words that go with an act (NULL when
 * nothing is left, or when it is only the "yes" itself); replaces *words. */
static void words_all(char **words, const char *above, int yes_only)
{
	free(*words);
	char *all = xstrdup(above);
	*words = *str_trim(all) && !yes_only ? xstrdup(str_trim(all)) : NULL;
	free(all);
}

/* The answer to our one question (t->asked), read as a yes or a no, and nothing else: "oui,
 * d'accord" to "do you decline?" is a yes to declining, not an award; a yes with a condition,
 * a doubt, a reserve or a price of its own is no plain yes, and an answer that is neither yes
 * nor no ("Pouvez-vous d'abord m'envoyer votre portfolio ?") none: both are relayed to the
 * freelancer, as a plain reply is, and asked again ('Q'); a no is 'n'. */
static int read_answer(struct talk *t, const char *above, char **words, int *natural)
{
	int sure = 0;
	int c = extract_intent_consent(above);
	enum intent act = extract_intent_read(above, NULL, &sure);
	if (c <= 0 || (!sure && act != INTENT_NONE))
		return c < 0 ? 'n' : 'Q';
	*natural = 1;
	words_all(words, above, in_words(above) <= 2);	/* "oui", "yes please": nothing to add */
	return command_of_intent((enum intent)t->asked);
}

/* A reply with no command, read by its intent (every language's phrases: a reply of a few
 * words does not tell its language): a sure act is done ('a', 'd', 'c', the client told how
 * it was read, all its words going with it); an unsure one is relayed and asked about ('Q');
 * anything else is relayed (0). */
static int read_reply(const char *above, char **words, int *natural, enum intent *in)
{
	int sure = 0;
	*in = extract_intent_read(above, NULL, &sure);
	int cmd = command_of_intent(*in);
	if (cmd && sure) {
		*natural = 2;
		words_all(words, above, 0);
		return cmd;
	}
	return cmd ? 'Q' : 0;
}

/* Whether the freelancer's text withdraws their bid ("je retire mon offre", `retirer #ID`): then
 * it is done (bid_withdraw) on this quote's project or the one named, *rc set to 0 or -1. */
static int withdraws(struct talk *t, const char *text, int *rc, char **outcome)
{
	long long named = 0;
	if (!extract_intent_withdraw(text, NULL, &named))
		return 0;
	*rc = bid_withdraw(t->c, t->s, t->m, named > 0 ? named : t->proj.id, t->sub.id,
			   outcome) == OUT_TEMPFAIL ? -1 : 0;
	return 1;
}

/* What the owner of the relay address wrote, acted on: a client's command, or the message
 * relayed to the other side. 0 or -1. */
static int talk_act(struct talk *t, int client_side, char **outcome)
{
	const struct message *m = t->m;
	const char *text = m->new_text ? m->new_text : "";
	int open = t->proj.status == PROJECT_OPEN;
	if (client_side && open)
		store_project_mark_answered(t->s, t->proj.id, clock_now());	/* no more reminders */
	int64_t id = t->bid.id;
	int cmd = 0, quoted = 0, natural = 0, rc;
	if (!client_side && withdraws(t, text, &rc, outcome))
		return rc;
	char *above = NULL, *words = NULL;
	enum intent in = INTENT_NONE;
	if (client_side && open) {
		struct shingles sh = { 0 };
		thread_shingles(t, &sh);
		cmd = client_command(text, &sh, &quoted, &above, &words);
		free(sh.v);
		if (!cmd && t->asked) {
			in = (enum intent)t->asked;
			cmd = read_answer(t, above, &words, &natural);
		} else if (!cmd) {
			cmd = read_reply(above, &words, &natural, &in);
		}
		log_info("stage=quote bid=%lld intent=%s%s%s", (long long)id, extract_intent_name(in),
			 cmd == 'Q' ? " asked=yes" : "", natural == 2 ? " read=sure" : "");
	}
	if (quoted)
		log_info("stage=quote bid=%lld result=quoted-command-ignored", (long long)id);
	char *qkey = keys_make("q", &id, 1), *rkey = keys_make("r", &id, 1);
	if (!open) {
		rc = refuse_closed(t, client_side);
		*outcome = xstrdup("quote:project-not-open");
	} else if ((cmd == 'a' || cmd == 'd') && t->bid.status != BID_ACTIVE) {
		rc = tell_current(t);
		*outcome = xasprintf("quote:not-current:%s:%lld", store_bid_state_name(t->bid.status),
				     (long long)id);
	} else if (cmd == 'a') {
		rc = accept_bid(t, id, words, natural);
		*outcome = xasprintf("quote:awarded:%lld", (long long)id);
	} else if (cmd == 'd') {
		rc = decline_bid(t, id, words, natural);
		*outcome = xasprintf("quote:declined:%lld", (long long)id);
	} else if (cmd == 'c') {
		rc = close_project(t, natural);
		*outcome = xasprintf("quote:closed:%lld", (long long)t->proj.id);
	} else if (cmd == 'Q') {
		rc = relay_to_freelancer(t, text, quoted, qkey, rkey);
		if (rc == 0)
			rc = ask_client(t, in);
		*outcome = xasprintf("quote:relayed-and-asked:%s:%lld", extract_intent_name(in),
				     (long long)id);
	} else if (cmd == 'n') {
		rc = tell_client(t, "quote.answer_no", qkey);
		*outcome = xasprintf("quote:answer-no:%lld", (long long)id);
	} else if (client_side) {
		rc = relay_to_freelancer(t, text, quoted, qkey, rkey);
		*outcome = xasprintf("quote:relayed-to-freelancer:%lld%s", (long long)id,
				     quoted ? ":quoted-command-ignored" : "");
	} else {
		rc = relay_mail(t, t->proj.poster, t->proj.poster_name, lang_of_project(t), qkey, NULL,
				text);
		*outcome = xasprintf("quote:relayed-to-client:%lld", (long long)id);
	}
	free(qkey);
	free(rkey);
	free(above);
	free(words);
	return rc;
}

int quote_command_line(const char *line, size_t n, int *number)
{
	*number = 0;
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r' ||
		     line[n - 1] == '.' || line[n - 1] == '!'))
		n--;
	size_t d = n;
	while (d && line[d - 1] >= '0' && line[d - 1] <= '9')
		d--;
	if (d < n && n - d <= 3) {
		*number = atoi(line + d);
		n = d;
		while (n && (line[n - 1] == ' ' || line[n - 1] == '#' || line[n - 1] == '\t'))
			n--;
		if (n >= 3 && !memcmp(line + n - 3, "n\xc2\xb0", 3))
			n -= 3;	/* "accepter n° 2" */
	}
	return n ? command_of(line, n) : 0;
}

/* A decline or close restated to the client who answered from a reminder: name, filled with the
 * freelancer and the price of the bid in hand. */
static int restate_to_client(struct talk *t, const char *name)
{
	return tell_client(t, name, NULL);
}

/* The talk of a client's answer to a reminder about bid: 1 ready (project open, the answer
 * marked), else handled — unknown bid, orphan, project no longer open (the client told) — with
 * *outcome and *rc set; t is the caller's to clear. */
static int reminder_talk(struct talk *t, int64_t bid, char **outcome, int *rc)
{
	int f = store_bid_get(t->s, bid, &t->bid);
	*rc = f < 0 ? -1 : 0;
	if (f != 1) {
		*outcome = xstrdup("reminder:unknown-bid");
		return 0;
	}
	if (store_project_get(t->s, t->bid.project, &t->proj) != 1 ||
	    store_subscriber_find(t->s, NULL, t->bid.subscriber, &t->sub) != 1) {
		*outcome = xstrdup("reminder:orphan");
		return 0;
	}
	t->have_proj = t->have_sub = 1;
	store_project_mark_answered(t->s, t->proj.id, clock_now());
	if (t->proj.status != PROJECT_OPEN) {
		*rc = refuse_closed(t, 1);
		*outcome = xstrdup("reminder:project-not-open");
		return 0;
	}
	return 1;
}

int quote_client_command(const struct config *c, struct store *s, const struct message *m,
			 int64_t bid, int cmd, char **outcome)
{
	struct talk t = { .c = c, .s = s, .m = m };
	int rc;
	if (!reminder_talk(&t, bid, outcome, &rc)) {
		/* nothing more to do: reminder_talk answered */
	} else if (cmd == 'c') {
		rc = close_project(&t, 0);
		if (rc == 0)
			rc = restate_to_client(&t, "remind.closed");
		*outcome = xasprintf("reminder:closed:%lld", (long long)t.proj.id);
	} else if (t.bid.status != BID_ACTIVE) {
		rc = tell_current(&t);
		*outcome = xasprintf("reminder:not-current:%lld", (long long)bid);
	} else if (cmd == 'a') {
		rc = accept_bid(&t, bid, NULL, 0);
		*outcome = xasprintf("reminder:awarded:%lld", (long long)bid);
	} else {
		rc = decline_bid(&t, bid, NULL, 0);
		if (rc == 0)
			rc = restate_to_client(&t, "remind.declined");
		*outcome = xasprintf("reminder:declined:%lld", (long long)bid);
	}
	talk_clear(&t);
	return rc;
}

int quote_client_ask(const struct config *c, struct store *s, const struct message *m,
		     int64_t bid, enum intent act, char **outcome)
{
	struct talk t = { .c = c, .s = s, .m = m };
	int rc;
	if (!reminder_talk(&t, bid, outcome, &rc)) {
		/* nothing more to do: reminder_talk answered */
	} else if (t.bid.status != BID_ACTIVE) {
		rc = tell_current(&t);
		*outcome = xasprintf("reminder:not-current:%lld", (long long)bid);
	} else {
		rc = ask_client(&t, act);
		*outcome = xasprintf("reminder:asked:%s:%lld", extract_intent_name(act),
				     (long long)bid);
	}
	talk_clear(&t);
	return rc;
}

enum outcome quote_handle(struct handling *h)
{
	struct talk t = { .c = h->c, .s = h->s, .m = h->m };
	int client_side = h->r->purpose == 'q' || h->r->purpose == 'a';
	if (h->r->purpose == 'a')
		t.asked = (int)h->r->ids[1];
	const struct message *m = h->m;
	int f = store_bid_get(h->s, h->r->ids[0], &t.bid);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f) {
		h->result = xstrdup("quote:unknown-bid");
		return OUT_OK;
	}
	int rc = 0;
	if (store_project_get(h->s, t.bid.project, &t.proj) != 1 ||
	    store_subscriber_find(h->s, NULL, t.bid.subscriber, &t.sub) != 1) {
		h->result = xstrdup("quote:orphan");
		goto done;
	}
	t.have_proj = t.have_sub = 1;
	const char *owner = client_side ? t.proj.poster : t.sub.address;
	if (!m->from || strcasecmp(m->from, owner)) {
		/* a relay address answers only its owner */
		h->result = xstrdup("quote:not-the-owner");
		goto done;
	}
	rc = talk_act(&t, client_side, &h->result);
done:
	talk_clear(&t);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
