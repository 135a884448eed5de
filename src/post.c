/*
 * post.c — posting safely. A mail to the posting address becomes a project, published only
 * once its poster is known: the first post from an address asks for confirmation by reply;
 * later posts from a confirmed address are published at once when the trusted MTA's
 * Authentication-Results (authserv_id) says DMARC or DKIM passed for that address's domain, and
 * otherwise ask again. A post flagged suspected_scam waits for a moderator (bidmail moderate,
 * or a moderator's reply approve/reject to the notice), its poster told nothing of why; so
 * does a correction whose new text scores as a scam. The From of a first post can be forged:
 * one unanswered confirmation request at a time to an address, a day at least between two
 * (a post meanwhile waits, and is asked about when the address answers), a subject and a body
 * that repeat nothing of the post, a reply that objects deletes the address's waiting posts,
 * and an unconfirmed post is purged after POST_CONFIRM_TTL (followup.c).
 * In: a parsed post, a confirmation, a moderation decision. Out: project rows and their mails.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>

/* Builds the JSON array of a string list (skills, flags) for the store. */
static char *json_array_text(const struct strlist *l)
{
	struct buf b;
	buf_init(&b, 1024 * 1024);
	buf_putc(&b, '[');
	for (size_t i = 0; i < l->n; i++) {
		buf_puts(&b, i ? ",\"" : "\"");
		for (const char *p = l->v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(&b, '\\');
			if ((unsigned char)*p >= 0x20)
				buf_putc(&b, *p);
		}
		buf_putc(&b, '"');
	}
	buf_putc(&b, ']');
	return buf_steal(&b);
}

/* Did the trusted MTA authenticate this From domain (DMARC, or DKIM aligned)? */
static int authenticated(const struct config *c, const struct message *m)
{
	const struct auth_results *a = &m->auth;
	if (!*c->authserv_id || !a->authserv_id || strcasecmp(a->authserv_id, c->authserv_id))
		return 0;	/* no trusted MTA configured, or a header from someone else */
	const char *at = m->from ? strrchr(m->from, '@') : NULL;
	if (!at)
		return 0;
	const char *dom = at + 1;
	if (a->dmarc && !strcmp(a->dmarc, "pass") && a->dmarc_domain &&
	    !strcasecmp(a->dmarc_domain, dom))
		return 1;
	return a->dkim && !strcmp(a->dkim, "pass") && a->dkim_domain &&
	       !strcasecmp(a->dkim_domain, dom);
}

static int queue_to_poster(const struct config *c, struct store *s, const struct project *p,
			   const char *kind, const struct vars *v, const char *in_reply_to,
			   const char *reply_to, const char *key)
{
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->post_address,
		.to_name = p->poster_name,
		.to = p->poster,
		.reply_to = reply_to,
		.in_reply_to = in_reply_to,
		.auto_submitted = "auto-replied",
		.key_ref = key,
	};
	return send_queue(c, s, kind, p->language, v, &o);
}

/* The confirmation request for unconfirmed post p, through the robot's signed c-CID address;
 * nothing of the post (title, name, text) is repeated: the address may not be the poster's. */
static int ask_confirmation(const struct config *c, struct store *s, const struct project *p,
			    const char *in_reply_to)
{
	int64_t cid;
	char idbuf[32];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)p->id);
	if (store_confirmation_insert(s, p->poster, 0, "post", idbuf, POST_CONFIRM_TTL, &cid, clock_now()) < 0)
		return -1;
	char *key = keys_make("c", &cid, 1);
	char *addr = keys_address(c, "robot", key);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", idbuf);
	vars_set(&v, "date", p->created);
	vars_set(&v, "confirm_address", addr);
	struct project who = *p;
	who.poster_name = NULL;
	int rc = queue_to_poster(c, s, &who, "post_confirm", &v, in_reply_to, addr, key);
	free(key);
	free(addr);
	return rc;
}

/* The acknowledgement of a published (or held) project: what was understood, or, held, a
 * neutral word; moderators get a notice with a signed reply address. */
static int acknowledge(const struct config *c, struct store *s, const struct project *p,
		       const char *in_reply_to)
{
	const char *lang = p->language;
	int fr = !strcmp(lang, "fr");
	int held = !strcmp(p->status, "held");
	char idbuf[32];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)p->id);
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "project_id", idbuf);
	vars_set(&v, "title", p->title);
	vars_set(&v, "poster_name", p->poster_name ? p->poster_name : "");
	vars_set(&v, "post_address", c->post_address);
	vars_set(&v, "robot_address", c->robot_address);
	vars_set(&v, "date", p->created);
	struct vars items[4];
	memset(items, 0, sizeof items);
	char *budget = NULL, *skill_list = NULL, deadline[48];
	int ni = 0;
	if ((budget = money_format_budget(p, lang, MONEY_MAIL)) != NULL) {
		vars_set(&items[ni], "label", "Budget");
		vars_set(&items[ni++], "value", budget);
	}
	if (p->deadline_days >= 0) {
		snprintf(deadline, sizeof deadline, fr ? "%d jours" : "%d days", p->deadline_days);
		vars_set(&items[ni], "label", fr ? "Délai" : "Deadline");
		vars_set(&items[ni++], "value", deadline);
	}
	if (p->skills_json && strcmp(p->skills_json, "[]")) {
		struct buf sb;
		buf_init(&sb, 4096);
		for (const char *q = p->skills_json; *q; q++)
			if (*q != '[' && *q != ']' && *q != '"')
				buf_putc(&sb, *q == ',' ? ',' : *q);
		skill_list = buf_steal(&sb);
		for (char *q = skill_list; *q; q++)
			if (*q == ',')
				*q = ' ';	/* "php symfony" reads better than "php,symfony" */
		vars_set(&items[ni], "label", fr ? "Compétences" : "Skills");
		vars_set(&items[ni++], "value", skill_list);
	}
	if (p->location) {
		vars_set(&items[ni], "label", fr ? "Lieu" : "Location");
		vars_set(&items[ni++], "value", !strcmp(p->location, "remote")
			 ? (fr ? "à distance" : "remote") : p->location);
	}
	vars_set_list(&v, "understood", items, ni);
	/* a reply to the acknowledgement closes or corrects the project (post+k-ID) */
	int64_t pid = p->id;
	char *kkey = keys_make("k", &pid, 1);
	char *kaddr = keys_address(c, "post", kkey);
	/* a held post gets a neutral acknowledgement: nothing tells a scammer why */
	int rc = queue_to_poster(c, s, p, held ? "post_held" : "post_ack", &v, in_reply_to,
				 held ? NULL : kaddr, held ? NULL : kkey);
	free(kkey);
	free(kaddr);
	if (rc == 0 && held && *c->moderators) {
		int64_t id = p->id;
		char *key = keys_make("v", &id, 1);
		char *addr = keys_address(c, "robot", key);
		char *copy = xstrdup(c->moderators), *save = NULL;
		struct vars mv = { 0 };
		vars_set(&mv, "board", c->board_name);
		vars_set(&mv, "project_id", idbuf);
		vars_set(&mv, "title", p->title);
		vars_set(&mv, "poster", p->poster);
		vars_set(&mv, "description", p->description ? p->description : "");
		vars_set(&mv, "flags", p->flags_json ? p->flags_json : "[]");
		for (char *t = strtok_r(copy, ", ", &save); t && rc == 0; t = strtok_r(NULL, ", ", &save)) {
			struct outgoing o = { .from_name = c->board_name, .from = c->robot_address,
					      .to = t, .reply_to = addr, .auto_submitted = "auto-generated",
					      .key_ref = key };
			rc = send_queue(c, s, "moderation_notice", c->language, &mv, &o);
		}
		free(copy);
		free(key);
		free(addr);
	}
	free(budget);
	free(skill_list);
	return rc;
}

int post_ask_waiting(const struct config *c, struct store *s)
{
	int64_t ids[64];
	int n = store_project_unasked(s, ids, 64), asked = 0;
	for (int i = 0; i < n; i++) {
		struct project p;
		int f = store_project_get(s, ids[i], &p);
		if (f < 0)
			return -1;
		if (!f)
			continue;
		/* still one unanswered request or refusal a day at most */
		int recent = store_confirmations_recent(s, p.poster, clock_now());
		int rc = recent;
		if (recent == 0) {
			rc = store_begin(s);
			if (rc == 0 && ask_confirmation(c, s, &p, NULL) < 0)
				rc = -1;
			if (rc == 0 && store_commit(s) < 0)
				rc = -1;
			if (rc < 0)
				store_rollback(s);
			else
				asked++;
			log_info("stage=post project=%lld result=%s reason=\"a post that waited behind "
				 "another request or a refusal\"", (long long)p.id,
				 rc < 0 ? "error" : "confirmation-requested");
		}
		project_clear(&p);
		if (rc < 0)
			return -1;
	}
	return n < 0 ? -1 : asked;
}

int post_refusal_due(struct store *s, const char *address)
{
	int recent = store_confirmations_recent(s, address, clock_now());
	if (recent != 0)
		return recent < 0 ? -1 : 0;
	int64_t cid;
	return store_confirmation_insert(s, address, 0, "refusal", "", 0, &cid, clock_now()) < 0 ? -1 : 1;
}

enum outcome post_handle(const struct config *c, struct store *s, struct message *m,
			 char **result, char **reason)
{
	if (!m->from || !compose_address_is_safe(m->from)) {
		*reason = xstrdup("post without a usable From address: cannot acknowledge it");
		return OUT_PERMFAIL;
	}
	const struct post_info *pi = m->post;
	const char *lang = pi->language;
	const char *irt = m->message_id_made_up ? NULL : m->message_id;
	if (!*pi->title) {
		/* nothing at all: tell the poster what is missing (once a day: From may be forged) */
		int due = post_refusal_due(s, m->from);
		if (due <= 0) {
			*result = xstrdup("rejected:empty:rate-limited");
			return due < 0 ? OUT_TEMPFAIL : OUT_OK;
		}
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "subject", m->subject ? m->subject : "");
		vars_set(&v, "post_address", c->post_address);
		vars_set(&v, "reason", !strcmp(lang, "fr")
			 ? "Votre message est vide : ni objet ni texte. Décrivez le projet "
			   "(objet : son titre ; texte : le besoin, le budget, le délai)."
			 : "Your message is empty: no subject and no text. Describe the project "
			   "(subject: its title; text: the need, the budget, the deadline).");
		struct project who = { .poster = m->from, .poster_name = m->from_name,
				       .language = (char *)lang };
		if (queue_to_poster(c, s, &who, "post_rejected", &v, irt, NULL, NULL) < 0)
			return store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
		*result = xstrdup("rejected:empty");
		return OUT_OK;
	}
	int known = store_poster_confirmed(s, m->from);
	if (known < 0)
		return OUT_TEMPFAIL;
	int trusted = known && authenticated(c, m);
	/* the From proves nothing yet: one unanswered request at a time to an address, and a day
	 * at least between two; a post meanwhile waits, asked about when that one is answered */
	int deferred = trusted ? 0 : store_confirmations_recent(s, m->from, clock_now());
	if (deferred < 0)
		return OUT_TEMPFAIL;
	if (deferred) {
		struct project *w;
		int nw = store_project_pending_of(s, m->from, &w);
		if (nw < 0)
			return OUT_TEMPFAIL;
		for (int i = 0; i < nw; i++)
			project_clear(&w[i]);
		free(w);
		if (nw >= POST_PENDING_MAX) {
			log_info("stage=post result=rate-limited reason=\"%d posts from this address "
				 "wait for a confirmation: not stored\"", nw);
			*result = xstrdup("post:rate-limited");
			return OUT_OK;
		}
	}
	int scam = strlist_contains(&pi->flags, "suspected_scam");
	struct project p = { 0 };
	char created[32];
	clock_format_iso(clock_now(), created);
	char *skills = json_array_text(&pi->skills);
	char *flags = json_array_text(&pi->flags);
	p.title = pi->title;
	p.description = pi->description;
	p.poster = m->from;
	p.poster_name = m->from_name;
	p.language = (char *)lang;
	p.status = !trusted ? "pending_confirmation" : scam ? "held" : "open";
	p.created = created;
	p.message_id = m->message_id;
	p.has_budget = pi->has_budget;
	p.budget_min = pi->budget.min;
	p.budget_max = pi->budget.max;
	p.currency = pi->budget.currency[0] ? (char *)pi->budget.currency : NULL;
	p.tax = pi->budget.tax[0] ? (char *)pi->budget.tax : NULL;
	p.unit = pi->budget.unit[0] ? (char *)pi->budget.unit : NULL;
	p.deadline_days = pi->deadline_days;
	p.skills_json = skills;
	p.location = pi->location;
	p.flags_json = flags;
	int rc = store_project_insert(s, &p);
	if (rc < 0) {
		free(skills);
		free(flags);
		if (store_error_is_transient(s))
			return OUT_TEMPFAIL;
		*reason = xasprintf("database refused the project: %s", store_errmsg(s));
		return OUT_PERMFAIL;
	}
	if (trusted) {
		rc = acknowledge(c, s, &p, irt);
	} else if (!deferred) {
		/* a confirmation by reply proves the address; the project waits for it */
		rc = ask_confirmation(c, s, &p, irt);
	}
	free(skills);
	free(flags);
	if (rc < 0) {
		if (store_error_is_transient(s))
			return OUT_TEMPFAIL;
		*reason = xstrdup("could not queue the answer (template or database)");
		return OUT_PERMFAIL;
	}
	if (!strcmp(p.status, "held"))
		log_warn("stage=post project=%lld result=held reason=suspected_scam score=%d",
			 (long long)p.id, pi->scam_score);
	if (deferred)
		log_info("stage=post project=%lld result=deferred reason=\"a request to this address "
			 "is unanswered since less than a day\"", (long long)p.id);
	*result = xasprintf("project:%lld:%s%s", (long long)p.id, p.status, deferred ? ":deferred" : "");
	return OUT_OK;
}

/* The poster at address confirmed project id: published (or held) and acknowledged.
 * 1 done, 0 no such project, -1 error. */
static int post_confirm(const struct config *c, struct store *s, int64_t project_id,
			const char *address)
{
	struct project p;
	int f = store_project_get(s, project_id, &p);
	if (f <= 0)
		return f;
	int rc = 0;
	if (!strcmp(p.status, "pending_confirmation") && !strcasecmp(p.poster, address)) {
		int scam = p.flags_json && strstr(p.flags_json, "suspected_scam");
		free(p.status);
		p.status = xstrdup(scam ? "held" : "open");
		rc = store_project_status(s, p.id, p.status, clock_now());
		if (rc == 0)
			rc = store_poster_confirm(s, p.poster, clock_now());
		if (rc == 0)
			rc = acknowledge(c, s, &p, NULL);
	}
	project_clear(&p);
	return rc < 0 ? -1 : 1;
}

enum outcome post_answer(const struct config *c, struct store *s, const struct confirmation *cf,
			 const struct message *m, char **outcome)
{
	int64_t pid = atoll(cf->payload ? cf->payload : "0");
	if (store_confirmation_use(s, cf->id, clock_now()) < 0)
		return OUT_TEMPFAIL;
	if (bid_read_consent(m->new_text) >= 0) {
		int rc = post_confirm(c, s, pid, cf->address);
		/* the next post that waited for this answer is asked about now */
		struct project *next;
		int n = rc < 0 ? 0 : store_project_pending_of(s, cf->address, &next);
		if (n < 0)
			rc = -1;
		if (n > 0 && ask_confirmation(c, s, &next[0], NULL) < 0)
			rc = -1;
		for (int i = 0; i < n; i++)
			project_clear(&next[i]);
		if (n > 0)
			free(next);
		*outcome = xasprintf("robot:post-%s:%lld", rc == 0 ? "gone" : "confirmed", (long long)pid);
		return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	/* "I never sent this": its posts waiting for a confirmation are deleted, and the address
	 * told so once */
	int d = store_project_delete_pending(s, cf->address);
	if (d < 0)
		return OUT_TEMPFAIL;
	const char *lang = extract_language(m->new_text ? m->new_text : "");
	if (!lang)
		lang = c->language;
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "subject", "");
	vars_set(&v, "post_address", c->post_address);
	vars_set(&v, "objected", "1");	/* not "correct it and send it again" */
	vars_set(&v, "reason", !strcmp(lang, "fr")
		 ? "Vous avez répondu que ce projet ne venait pas de vous : il a été effacé (avec ceux "
		   "envoyés depuis votre adresse qui attendaient une confirmation), rien n'a été publié."
		 : "You answered that this project did not come from you: it was deleted (with those "
		   "sent from your address that waited for a confirmation), nothing was published.");
	struct project who = { .poster = cf->address, .language = (char *)lang };
	if (d && queue_to_poster(c, s, &who, "post_rejected", &v,
				 m->message_id_made_up ? NULL : m->message_id, NULL, NULL) < 0)
		return OUT_TEMPFAIL;
	log_info("stage=post project=%lld result=%s reason=\"the address objected\"",
		 (long long)pid, d ? "deleted" : "gone");
	*outcome = xasprintf("robot:post-refused:%lld", (long long)pid);
	return OUT_OK;
}

int post_moderate(const struct config *c, struct store *s, int64_t project_id, int approve,
		  const char *why)
{
	struct project p;
	int f = store_project_get(s, project_id, &p);
	if (f <= 0)
		return f == 0 ? 0 : -1;
	int rc = 0;
	if (strcmp(p.status, "held")) {
		project_clear(&p);
		return 2;	/* not waiting for a moderator */
	}
	rc = store_project_status(s, p.id, approve ? "open" : "rejected", clock_now());
	if (rc == 0 && approve) {
		free(p.status);
		p.status = xstrdup("open");
		rc = acknowledge(c, s, &p, NULL);
	} else if (rc == 0) {
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "subject", p.title);
		vars_set(&v, "post_address", c->post_address);
		vars_set(&v, "reason", why && *why ? why
			 : !strcmp(p.language, "fr") ? "Il ne respecte pas les règles de ce site."
						       : "It does not follow this board's rules.");
		rc = queue_to_poster(c, s, &p, "post_rejected", &v, NULL, NULL, NULL);
	}
	log_info("stage=moderate project=%lld result=%s", (long long)p.id, approve ? "approved" : "rejected");
	project_clear(&p);
	return rc < 0 ? -1 : 1;
}

/* The poster's reply to an acknowledgement (post+k-ID): `close`/`clôturer` on a line of its
 * own closes the project (bidders told); any other text is the corrected post: its fields are
 * read again and the poster gets a new acknowledgement restating them. */
enum outcome post_reply(const struct config *c, struct store *s, struct message *m,
			int64_t project_id, char **result)
{
	struct project p;
	int f = store_project_get(s, project_id, &p);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f || !m->from || strcasecmp(m->from, p.poster) || strcmp(p.status, "open")) {
		*result = xstrdup(f ? "post-reply:refused" : "post-reply:unknown");
		if (f)
			project_clear(&p);
		return OUT_OK;
	}
	const char *text = m->new_text ? m->new_text : "";
	int close = 0;
	for (const char *q = text; *q;) {
		size_t n = strcspn(q, "\n");
		char *line = xstrndup(q, n);
		char *l = money_lower(str_trim(line));
		if (!strcmp(l, "close") || !strcmp(l, "clôturer") || !strcmp(l, "cloturer") ||
		    !strcmp(l, "fermer"))
			close = 1;
		free(l);
		free(line);
		q += n;
		if (*q)
			q++;
	}
	int rc = 0;
	if (close) {
		rc = store_project_status(s, p.id, "closed", clock_now());
		struct bid_row *v;
		int nb = rc == 0 ? store_bid_select(s, p.id, "active", &v) : -1;
		for (int i = 0; i < nb; i++) {
			if (rc == 0 && !strcmp(v[i].status, "active")) {
				struct subscriber sub;
				if (store_subscriber_find(s, NULL, v[i].subscriber, &sub) == 1) {
					char id[32];
					snprintf(id, sizeof id, "%lld", (long long)p.id);
					int fr = !sub.language || !strcmp(sub.language, "fr");
					struct vars vv = { 0 };
					vars_set(&vv, "board", c->board_name);
					vars_set(&vv, "project_id", id);
					vars_set(&vv, "title", p.title);
					vars_set(&vv, "message", fr ? "Le client a clos ce projet sans l'attribuer. "
								 "Merci pour votre offre."
							    : "The client closed this project without awarding "
							      "it. Thank you for your bid.");
					vars_set(&vv, "text", "");
					vars_set(&vv, "reply_address", "");
					struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
							      .to_name = sub.name, .to = sub.address,
							      .auto_submitted = "auto-generated" };
					rc = send_queue(c, s, "relay_message", fr ? "fr" : "en", &vv, &o);
					subscriber_clear(&sub);
				}
				store_bid_status(s, v[i].id, "closed");
			}
			bid_row_clear(&v[i]);
		}
		if (nb >= 0)
			free(v);	/* allocated even for no bid */
		*result = xasprintf("post:closed:%lld", (long long)p.id);
	} else if (m->post && *text) {
		/* the corrected post: new description and fields, same number */
		const struct post_info *pi = m->post;
		char *skills = json_array_text(&pi->skills);
		char *flags = json_array_text(&pi->flags);
		/* the new text is scored as a new post: a scam waits for a moderator again */
		int scam = strlist_contains(&pi->flags, "suspected_scam");
		rc = store_project_update(s, p.id, pi->description, pi->has_budget ? &pi->budget : NULL,
					  pi->deadline_days, skills, pi->location, flags, clock_now());
		if (rc == 0 && scam)
			rc = store_project_status(s, p.id, "held", clock_now());
		free(skills);
		free(flags);
		project_clear(&p);
		if (rc == 0 && store_project_get(s, project_id, &p) == 1)
			rc = acknowledge(c, s, &p, m->message_id_made_up ? NULL : m->message_id);
		if (scam)
			log_warn("stage=post project=%lld result=held reason=suspected_scam score=%d "
				 "edit=yes", (long long)project_id, pi->scam_score);
		*result = xasprintf("post:edited:%lld%s", (long long)project_id, scam ? ":held" : "");
	} else {
		*result = xstrdup("post-reply:empty");
	}
	project_clear(&p);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
