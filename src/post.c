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
	int held = p->status == PROJECT_HELD;
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
	char *budget = NULL, *skill_list = NULL, *deadline = NULL;
	int ni = 0;
	if ((budget = money_format_budget(p, lang, MONEY_MAIL)) != NULL) {
		vars_set(&items[ni], "label", catalog_text(lang, "post.label_budget"));
		vars_set(&items[ni++], "value", budget);
	}
	if (p->deadline_days >= 0) {
		char n[16];
		snprintf(n, sizeof n, "%d", p->deadline_days);
		struct vars dv = { 0 };
		vars_set(&dv, "n", n);
		deadline = catalog_format(lang, "post.deadline_days", &dv);
		vars_set(&items[ni], "label", catalog_text(lang, "post.label_deadline"));
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
		vars_set(&items[ni], "label", catalog_text(lang, "post.label_skills"));
		vars_set(&items[ni++], "value", skill_list);
	}
	if (p->location) {
		vars_set(&items[ni], "label", catalog_text(lang, "post.label_location"));
		vars_set(&items[ni++], "value", !strcmp(p->location, "remote")
			 ? catalog_text(lang, "post.remote") : p->location);
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
	free(deadline);
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

/* A reply to a post+KEY address whose key does not verify (forged or altered): refused, once a
 * day, and never taken for a new post. */
enum outcome post_refuse_key(struct handling *h)
{
	const struct message *m = h->m;
	int due = m->from && compose_address_is_safe(m->from) ? post_refusal_due(h->s, m->from) : 0;
	struct vars v = { 0 };
	vars_set(&v, "board", h->c->board_name);
	vars_set(&v, "subject", "");
	vars_set(&v, "post_address", h->c->post_address);
	vars_set(&v, "reason", catalog_text(h->c->language, "post.bad_key"));
	struct project who = { .poster = m->from, .poster_name = m->from_name,
			       .language = (char *)h->c->language };
	h->result = xstrdup("post:bad-key");
	return due < 0 || (due > 0 && queue_to_poster(h->c, h->s, &who, "post_rejected", &v,
		m->message_id_made_up ? NULL : m->message_id, NULL, NULL) < 0)
		? OUT_TEMPFAIL : OUT_OK;
}

/* A post with nothing at all: the poster told what is missing (once a day: From may be
 * forged). */
static enum outcome refuse_empty(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	const struct message *m = h->m;
	const char *lang = m->post->language;
	int due = post_refusal_due(s, m->from);
	if (due <= 0) {
		h->result = xstrdup("rejected:empty:rate-limited");
		return due < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "subject", m->subject ? m->subject : "");
	vars_set(&v, "post_address", c->post_address);
	vars_set(&v, "reason", catalog_text(lang, "post.empty"));
	struct project who = { .poster = m->from, .poster_name = m->from_name,
			       .language = (char *)lang };
	if (queue_to_poster(c, s, &who, "post_rejected", &v,
			    m->message_id_made_up ? NULL : m->message_id, NULL, NULL) < 0)
		return store_error_is_transient(s) ? OUT_TEMPFAIL : OUT_PERMFAIL;
	h->result = xstrdup("rejected:empty");
	return OUT_OK;
}

/* 1 when POST_PENDING_MAX posts of from already wait for a confirmation (a new one is not
 * stored), 0 when not, -1 on error. */
static int pending_full(struct store *s, const char *from)
{
	struct project *w;
	int nw = store_project_pending_of(s, from, &w);
	if (nw < 0)
		return -1;
	for (int i = 0; i < nw; i++)
		project_clear(&w[i]);
	free(w);
	if (nw < POST_PENDING_MAX)
		return 0;
	log_info("stage=post result=rate-limited reason=\"%d posts from this address "
		 "wait for a confirmation: not stored\"", nw);
	return 1;
}

/* Whether the new post h->m is stored: 1 yes (*trusted: published at once; *deferred: stored
 * without a request, one to that address being unanswered), 0 not (*out says how it ended). */
static int post_admit(struct handling *h, int *trusted, int *deferred, enum outcome *out)
{
	const struct message *m = h->m;
	*out = OUT_OK;
	if (!m->from || !compose_address_is_safe(m->from)) {
		h->reason = xstrdup("post without a usable From address: cannot acknowledge it");
		*out = OUT_PERMFAIL;
		return 0;
	}
	if (!*m->post->title) {
		*out = refuse_empty(h);
		return 0;
	}
	int known = store_poster_confirmed(h->s, m->from);
	if (known < 0) {
		*out = OUT_TEMPFAIL;
		return 0;
	}
	*trusted = known && authenticated(h->c, m);
	/* the From proves nothing yet: one unanswered request at a time to an address, and a day
	 * at least between two; a post meanwhile waits, asked about when that one is answered */
	*deferred = *trusted ? 0 : store_confirmations_recent(h->s, m->from, clock_now());
	int full = *deferred > 0 ? pending_full(h->s, m->from) : 0;
	if (*deferred < 0 || full) {
		if (full > 0)
			h->result = xstrdup("post:rate-limited");
		*out = *deferred < 0 || full < 0 ? OUT_TEMPFAIL : OUT_OK;
		return 0;
	}
	return 1;
}

enum outcome post_handle(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	struct message *m = h->m;
	char **result = &h->result, **reason = &h->reason;
	int trusted = 0, deferred = 0;
	enum outcome out;
	if (!post_admit(h, &trusted, &deferred, &out))
		return out;
	const struct post_info *pi = m->post;
	const char *lang = pi->language;
	const char *irt = m->message_id_made_up ? NULL : m->message_id;
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
	p.status = !trusted ? PROJECT_PENDING_CONFIRMATION : scam ? PROJECT_HELD : PROJECT_OPEN;
	p.created = created;
	p.message_id = m->message_id;
	p.has_budget = pi->has_budget;
	p.budget = pi->budget;
	p.deadline_days = pi->deadline_days;
	snprintf(p.deadline, sizeof p.deadline, "%s", pi->deadline);
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
	if (p.status == PROJECT_HELD)
		log_warn("stage=post project=%lld result=held reason=suspected_scam score=%d",
			 (long long)p.id, pi->scam_score);
	if (deferred)
		log_info("stage=post project=%lld result=deferred reason=\"a request to this address "
			 "is unanswered since less than a day\"", (long long)p.id);
	*result = xasprintf("project:%lld:%s%s", (long long)p.id,
			    store_project_state_name(p.status), deferred ? ":deferred" : "");
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
	if (p.status == PROJECT_PENDING_CONFIRMATION && !strcasecmp(p.poster, address)) {
		int scam = p.flags_json && strstr(p.flags_json, "suspected_scam");
		p.status = scam ? PROJECT_HELD : PROJECT_OPEN;
		rc = store_project_state_set(s, p.id, PROJECT_PENDING_CONFIRMATION, p.status, clock_now()) < 0 ? -1 : 0;
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
	vars_set(&v, "reason", catalog_text(lang, "post.not_mine"));
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
	if (p.status != PROJECT_HELD) {
		project_clear(&p);
		return 2;	/* not waiting for a moderator */
	}
	rc = store_project_state_set(s, p.id, PROJECT_HELD, approve ? PROJECT_OPEN
				     : PROJECT_REJECTED, clock_now()) < 0 ? -1 : 0;
	if (rc == 0 && approve) {
		p.status = PROJECT_OPEN;
		rc = acknowledge(c, s, &p, NULL);
	} else if (rc == 0) {
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "subject", p.title);
		vars_set(&v, "post_address", c->post_address);
		vars_set(&v, "reason", why && *why ? why
			 : catalog_text(p.language, "post.rejected_default"));
		rc = queue_to_poster(c, s, &p, "post_rejected", &v, NULL, NULL, NULL);
	}
	log_info("stage=moderate project=%lld result=%s", (long long)p.id, approve ? "approved" : "rejected");
	project_clear(&p);
	return rc < 0 ? -1 : 1;
}

/* The poster's reply to an acknowledgement (post+k-ID): `close`/`clôturer` on a line of its
 * own closes the project (bidders told); any other text is the corrected post: its fields are
 * read again and the poster gets a new acknowledgement restating them. */
/* 1 when text has `close` (clôturer, cloturer, fermer) on a line of its own. */
static int asks_close(const char *text)
{
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
	return close;
}

/* Tells the subscriber of active bid v that the client closed project p unawarded. 0 or -1. */
static int tell_bidder_closed(const struct config *c, struct store *s, const struct project *p,
			      const struct bid_row *v)
{
	struct subscriber sub;
	if (store_subscriber_find(s, NULL, v->subscriber, &sub) != 1)
		return 0;
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)p->id);
	/* no language: French; one the catalogue lacks: English */
	const char *sl = !sub.language ? "fr"
		: catalog_language_known(sub.language) ? sub.language : "en";
	struct vars vv = { 0 };
	vars_set(&vv, "board", c->board_name);
	vars_set(&vv, "project_id", id);
	vars_set(&vv, "title", p->title);
	vars_set(&vv, "message", catalog_text(sl, "post.closed_unawarded"));
	vars_set(&vv, "text", "");
	vars_set(&vv, "reply_address", "");
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
			      .to_name = sub.name, .to = sub.address,
			      .auto_submitted = "auto-generated" };
	int rc = send_queue_as(c, s, "relay_message", "bidder_closed", sl, &vv, &o);
	subscriber_clear(&sub);
	return rc;
}

/* Closes project p at its poster's request; its active bidders are told. 0 or -1. */
static int close_by_reply(const struct config *c, struct store *s, const struct project *p)
{
	int rc = store_project_state_set(s, p->id, PROJECT_OPEN, PROJECT_CLOSED, clock_now()) < 0 ? -1 : 0;
	struct bid_row *v;
	int nb = rc == 0 ? store_bid_select(s, p->id, BID_ACTIVE, &v) : -1;
	for (int i = 0; i < nb; i++) {
		if (rc == 0 && v[i].status == BID_ACTIVE) {
			rc = tell_bidder_closed(c, s, p, &v[i]);
			store_bid_state_set(s, v[i].id, BID_ACTIVE, BID_CLOSED);
		}
		bid_row_clear(&v[i]);
	}
	if (nb >= 0)
		free(v);	/* allocated even for no bid */
	return rc;
}

/* The corrected post m of project p (cleared here): new description and fields, same number,
 * scored again, and a new acknowledgement. 0 or -1. */
static int edit_by_reply(const struct config *c, struct store *s, const struct message *m,
			 struct project *p, char **result)
{
	int64_t project_id = p->id;
	const struct post_info *pi = m->post;
	char *skills = json_array_text(&pi->skills);
	char *flags = json_array_text(&pi->flags);
	/* the new text is scored as a new post: a scam waits for a moderator again */
	int scam = strlist_contains(&pi->flags, "suspected_scam");
	int rc = store_project_update(s, p->id, pi->description, pi->has_budget ? &pi->budget : NULL,
				      pi->deadline_days, pi->deadline, skills, pi->location, flags, clock_now());
	if (rc == 0 && scam)
		rc = store_project_state_set(s, p->id, PROJECT_OPEN, PROJECT_HELD, clock_now()) < 0 ? -1 : 0;
	free(skills);
	free(flags);
	project_clear(p);
	if (rc == 0 && store_project_get(s, project_id, p) == 1)
		rc = acknowledge(c, s, p, m->message_id_made_up ? NULL : m->message_id);
	if (scam)
		log_warn("stage=post project=%lld result=held reason=suspected_scam score=%d "
			 "edit=yes", (long long)project_id, pi->scam_score);
	*result = xasprintf("post:edited:%lld%s", (long long)project_id, scam ? ":held" : "");
	return rc;
}

enum outcome post_reply(struct handling *h)
{
	const struct config *c = h->c;
	struct store *s = h->s;
	struct message *m = h->m;
	char **result = &h->result;
	int64_t project_id = h->r->ids[0];
	struct project p;
	int f = store_project_get(s, project_id, &p);
	if (f < 0)
		return OUT_TEMPFAIL;
	if (!f || !m->from || strcasecmp(m->from, p.poster) || p.status != PROJECT_OPEN) {
		*result = xstrdup(f ? "post-reply:refused" : "post-reply:unknown");
		if (f)
			project_clear(&p);
		return OUT_OK;
	}
	const char *text = m->new_text ? m->new_text : "";
	int rc = 0;
	if (asks_close(text)) {
		rc = close_by_reply(c, s, &p);
		*result = xasprintf("post:closed:%lld", (long long)p.id);
	} else if (m->post && *text) {
		rc = edit_by_reply(c, s, m, &p, result);
	} else {
		*result = xstrdup("post-reply:empty");
	}
	project_clear(&p);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
