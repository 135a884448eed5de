/*
 * quote.c — the conversation after a quote, through relay addresses on both sides: the client
 * answers a quote at bid+q-BID (its Reply-To) and the freelancer answers at bid+r-BID, neither
 * seeing the other's address, until the project is awarded or closed. The client's commands,
 * on a line of their own in the new text: accept/accepter (award: both get the other's contact
 * details, the price, the board's commission and the milestone schedule with each amount; the
 * other bidders are told), decline/refuser (the freelancer is told, politely), close/clôturer
 * (every bidder told). Anything else is relayed, quotes trimmed.
 * In: a reply to a relay address. Out: status changes and the mails they cause.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>

struct talk {
	const struct config *c;
	struct store *s;
	const struct message *m;
	struct bid_row bid;
	struct project proj;
	struct subscriber sub;
	int have_proj, have_sub;
};

int quote_notice(const struct config *c, struct store *s, const struct project *p, const char *to,
		 const char *to_name, const char *lang, const char *message, const char *text,
		 const char *reply_key, const struct message *with_attachments)
{
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)p->id);
	char *addr = reply_key ? keys_address(c, "bid", reply_key) : NULL;
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", id);
	vars_set(&v, "title", p->title);
	vars_set(&v, "message", message);
	vars_set(&v, "text", text ? text : "");
	vars_set(&v, "reply_address", addr ? addr : "");
	/* relayed messages keep their attachments: the original is parsed again, keeping them */
	struct message *att = with_attachments && with_attachments->raw && with_attachments->n_attachments
			      ? mime_parse_attachments(with_attachments->raw, with_attachments->raw_len)
			      : NULL;
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address, .to_name = to_name,
			      .to = to, .reply_to = addr, .auto_submitted = "auto-generated",
			      .key_ref = reply_key, .attachments = att ? att->attachments : NULL,
			      .n_attachments = att ? att->n_attachments : 0 };
	int rc = send_queue(c, s, "relay_message", lang, &v, &o);
	message_free(att);
	free(addr);
	return rc;
}

/* A mail on the relay: to, in lang, with a message and the counterpart's text. */
static int relay_mail(struct talk *t, const char *to, const char *to_name, const char *lang,
		      const char *reply_key, const char *message, const char *text)
{
	/* a relayed text carries the sender's attachments; a notice carries none */
	return quote_notice(t->c, t->s, &t->proj, to, to_name, lang, message, text, reply_key,
			    text ? t->m : NULL);
}

static const char *lang_of_sub(const struct talk *t)
{
	return t->have_sub && t->sub.language ? t->sub.language : t->c->language;
}

/* The award: both sides get the other's contact, the price, the commission, the milestones. */
static int award(struct talk *t)
{
	const struct config *c = t->c;
	struct bid_info *bi = &t->bid.info;
	int ms[8], n = bi->n_milestones;
	if (n)
		memcpy(ms, bi->milestones, sizeof ms);
	else {
		const char *p = c->milestones;
		while (*p && n < 8) {
			ms[n++] = atoi(p);
			p += strcspn(p, ",");
			if (*p)
				p++;
		}
	}
	int rc = 0;
	for (int side = 0; side < 2 && rc == 0; side++) {
		const char *lang = side == 0 ? lang_of_sub(t) : t->proj.language;
		int fr = !strcmp(lang, "fr");
		struct buf b;
		buf_init(&b, 16 * 1024);
		char *price = money_format(&bi->amount, lang);
		struct money com = bi->amount;
		com.max = bi->amount.max * c->commission_percent / 100.0;
		com.min = -1;
		char *commission = money_format(&com, lang);
		buf_printf(&b, fr ? "Prix convenu : %s\n" : "Agreed price: %s\n", price);
		buf_printf(&b, fr ? "Commission de %s (%d %%) : %s\n" : "%s commission (%d%%): %s\n",
			   c->board_name, c->commission_percent, commission);
		if (bi->delivery_days >= 0)
			buf_printf(&b, fr ? "Délai : %d jours\n" : "Delivery: %d days\n", bi->delivery_days);
		buf_puts(&b, fr ? "Échéancier :\n" : "Payment schedule:\n");
		static const char *const fr_steps[] = { "à la commande", "à mi-parcours", "à la livraison" };
		static const char *const en_steps[] = { "on order", "midway", "on delivery" };
		for (int i = 0; i < n; i++) {
			struct money part = bi->amount;
			part.min = -1;
			part.max = bi->amount.max * ms[i] / 100.0;
			char *amount = money_format(&part, lang);
			const char *when = n == 3 ? (fr ? fr_steps[i] : en_steps[i])
				      : i == 0 ? (fr ? "à la commande" : "on order")
				      : i == n - 1 ? (fr ? "à la livraison" : "on delivery")
				      : (fr ? "étape intermédiaire" : "intermediate step");
			buf_printf(&b, "  %d %% %s : %s\n", ms[i], when, amount);
			free(amount);
		}
		const char *contact_name = side == 0 ? t->proj.poster_name : t->sub.name;
		const char *contact = side == 0 ? t->proj.poster : t->sub.address;
		buf_printf(&b, fr ? "\nVotre contact : %s <%s>\n" : "\nYour contact: %s <%s>\n",
			   contact_name ? contact_name : "", contact);
		struct vars v = { 0 };
		char id[32];
		snprintf(id, sizeof id, "%lld", (long long)t->proj.id);
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "project_id", id);
		vars_set(&v, "title", t->proj.title);
		vars_set(&v, "winner", side == 0 ? "1" : "");
		vars_set(&v, "terms", b.data);
		struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
				      .to_name = side == 0 ? t->sub.name : t->proj.poster_name,
				      .to = side == 0 ? t->sub.address : t->proj.poster,
				      .auto_submitted = "auto-generated" };
		rc = send_queue(c, t->s, "award", lang, &v, &o);
		free(price);
		free(commission);
		buf_free(&b);
	}
	return rc;
}

/* Tells the other active bidders of a project (award or close). */
static int tell_others(struct talk *t, int64_t except, const char *fr_msg, const char *en_msg)
{
	struct bid_row *v;
	int n = store_bid_list(t->s, t->proj.id, &v);
	if (n < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		if (v[i].id == except || strcmp(v[i].status, "active"))
			continue;
		store_bid_status(t->s, v[i].id, "closed");
		struct subscriber o;
		if (store_subscriber_find(t->s, NULL, v[i].subscriber, &o) != 1)
			continue;
		const char *lang = o.language ? o.language : t->c->language;
		rc = relay_mail(t, o.address, o.name, lang, NULL, !strcmp(lang, "fr") ? fr_msg : en_msg,
				NULL);
		subscriber_clear(&o);
	}
	for (int i = 0; i < n; i++)
		bid_row_clear(&v[i]);
	free(v);
	return rc;
}

/* The client's command on a line of its own, or 0. */
static int client_command(const char *text)
{
	const char *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, n);
		char *l = money_lower(str_trim(line));
		size_t ln = strlen(l);
		while (ln && (l[ln - 1] == '.' || l[ln - 1] == '!'))
			l[--ln] = '\0';
		int cmd = !strcmp(l, "accept") || !strcmp(l, "accepter") || !strcmp(l, "j'accepte") ? 'a'
			  : !strcmp(l, "decline") || !strcmp(l, "refuser") ? 'd'
			  : !strcmp(l, "close") || !strcmp(l, "clôturer") || !strcmp(l, "cloturer") ? 'c' : 0;
		free(l);
		free(line);
		if (cmd)
			return cmd;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

enum outcome quote_handle(const struct config *c, struct store *s, const struct message *m,
			  int64_t bid_id, int client_side, char **outcome)
{
	struct talk t = { .c = c, .s = s, .m = m };
	enum outcome out = OUT_OK;
	int f = store_bid_get(s, bid_id, &t.bid);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f) {
		*outcome = xstrdup("quote:unknown-bid");
		return OUT_OK;
	}
	int rc = 0;
	if (store_project_get(s, t.bid.project, &t.proj) != 1 ||
	    store_subscriber_find(s, NULL, t.bid.subscriber, &t.sub) != 1) {
		*outcome = xstrdup("quote:orphan");
		goto done;
	}
	t.have_proj = t.have_sub = 1;
	const char *text = m->new_text ? m->new_text : "";
	const char *owner = client_side ? t.proj.poster : t.sub.address;
	if (!m->from || strcasecmp(m->from, owner)) {
		/* a relay address answers only its owner */
		*outcome = xstrdup("quote:not-the-owner");
		goto done;
	}
	int open = !strcmp(t.proj.status, "open");
	if (client_side && open)
		store_project_mark_answered(s, t.proj.id);	/* no more reminders */
	int64_t id = t.bid.id;
	char *qkey = keys_make("q", &id, 1), *rkey = keys_make("r", &id, 1);
	if (!open) {
		int fr = !strcmp(client_side ? t.proj.language : lang_of_sub(&t), "fr");
		rc = relay_mail(&t, m->from, m->from_name, fr ? "fr" : "en", NULL,
				fr ? "Ce projet est attribué ou clos : la messagerie par le site est fermée, "
				     "votre message n'a pas été transmis."
				   : "This project is awarded or closed: the conversation through the board "
				     "is over, your message was not passed on.", NULL);
		*outcome = xstrdup("quote:project-not-open");
	} else if (client_side && client_command(text) == 'a') {
		rc = store_project_status(s, t.proj.id, "awarded");
		if (rc == 0)
			rc = store_bid_status(s, id, "accepted");
		if (rc == 0)
			rc = award(&t);
		if (rc == 0)
			rc = tell_others(&t, id, "Le client a attribué ce projet à un autre prestataire. "
					 "Merci pour votre offre.", "The client awarded this project to "
					 "another freelancer. Thank you for your bid.");
		*outcome = xasprintf("quote:awarded:%lld", (long long)id);
	} else if (client_side && client_command(text) == 'd') {
		rc = store_bid_status(s, id, "declined");
		if (rc == 0)
			rc = relay_mail(&t, t.sub.address, t.sub.name, lang_of_sub(&t), NULL,
					!strcmp(lang_of_sub(&t), "fr")
					? "Le client a décliné votre offre. Merci de l'avoir proposée, et bonne "
					  "chance pour les prochains projets."
					: "The client declined your bid. Thank you for offering it, and good "
					  "luck with the next projects.", NULL);
		*outcome = xasprintf("quote:declined:%lld", (long long)id);
	} else if (client_side && client_command(text) == 'c') {
		rc = store_project_status(s, t.proj.id, "closed");
		if (rc == 0)
			rc = tell_others(&t, 0, "Le client a clos ce projet sans l'attribuer. Merci pour "
					 "votre offre.", "The client closed this project without "
					 "awarding it. Thank you for your bid.");
		*outcome = xasprintf("quote:closed:%lld", (long long)t.proj.id);
	} else if (client_side) {
		rc = relay_mail(&t, t.sub.address, t.sub.name, lang_of_sub(&t), rkey,
				!strcmp(lang_of_sub(&t), "fr") ? "Le client vous répond :"
							       : "The client answers:", text);
		*outcome = xasprintf("quote:relayed-to-freelancer:%lld", (long long)id);
	} else {
		rc = relay_mail(&t, t.proj.poster, t.proj.poster_name, t.proj.language, qkey,
				!strcmp(t.proj.language, "fr") ? "Le prestataire vous répond :"
							       : "The freelancer answers:", text);
		*outcome = xasprintf("quote:relayed-to-client:%lld", (long long)id);
	}
	free(qkey);
	free(rkey);
done:
	if (rc < 0)
		out = OUT_TEMPFAIL;
	bid_row_clear(&t.bid);
	if (t.have_proj)
		project_clear(&t.proj);
	if (t.have_sub)
		subscriber_clear(&t.sub);
	return out;
}
