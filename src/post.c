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

char *post_text(const struct config *c, const struct project *p, const char *lang,
		const char *name, const struct vars *extra)
{
	char idbuf[32];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)p->id);
	struct vars v = { 0 };
	vars_set(&v, "id", idbuf);
	vars_set(&v, "title", p->title ? p->title : "");
	vars_set(&v, "poster", p->poster ? p->poster : "");
	vars_set(&v, "post_address", c->post_address);
	v.parent = extra;
	return catalog_format(lang, name, &v);
}

/* The variables every mail about project p has. */
static void ack_vars(const struct config *c, const struct project *p, char *idbuf, size_t n,
		     struct vars *v)
{
	snprintf(idbuf, n, "%lld", (long long)p->id);
	vars_set(v, "board", c->board_name);
	vars_set(v, "project_id", idbuf);
	vars_set(v, "title", p->title);
	vars_set(v, "poster_name", p->poster_name ? p->poster_name : "");
	vars_set(v, "post_address", c->post_address);
	vars_set(v, "robot_address", c->robot_address);
	vars_set(v, "date", p->created);
}

/* A one-sentence mail (post_notice) to the poster of p: catalogue text name (post_text, with
 * {{n}} = n when not NULL). 0 or -1. */
static int poster_notice(const struct config *c, struct store *s, const struct project *p,
			 const char *name, const char *n, const char *in_reply_to)
{
	struct vars nv = { 0 }, v = { 0 };
	vars_set(&nv, "n", n ? n : "");
	char *text = post_text(c, p, p->language, name, &nv), idbuf[32];
	ack_vars(c, p, idbuf, sizeof idbuf, &v);
	vars_set(&v, "message", text);
	int rc = queue_to_poster(c, s, p, "post_notice", &v, in_reply_to, NULL, NULL);
	free(text);
	return rc;
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

/* The fields a poster's mails show, in this order. */
enum field { F_TITLE, F_DESCRIPTION, F_BUDGET, F_DEADLINE, F_SKILLS, F_LOCATION, F_N };
static const char *const field_label[F_N] = { "post.label_title", "post.label_description",
	"post.label_budget", "post.label_deadline", "post.label_skills", "post.label_location" };
static const char *const field_missing[F_N] = { "post.not_given", "post.not_given",
	"post.not_given", "post.not_given", "post.not_given_skills", "post.not_given" };
static const char *const field_hint[F_N] = { NULL, NULL, "post.hint_budget", "post.hint_deadline",
	"post.hint_skills", "post.hint_location" };

/* "php, site web" from ["php","site web"]; NULL for none. The caller frees. */
static char *skills_text(const char *json)
{
	struct strlist l = { 0 };
	json_string_list(json, &l);
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < l.n; i++) {
		buf_puts(&b, i ? ", " : "");
		buf_puts(&b, l.v[i]);
	}
	strlist_clear(&l);
	char *t = buf_steal(&b);
	if (!*t) {
		free(t);
		return NULL;
	}
	return t;
}

/* The start of a description on one line, with its word count ("Un site… (12 mots)"). */
static char *description_text(const char *d, const char *lang)
{
	int words = 0, in = 0;
	for (const char *q = d; *q; q++) {
		int w = *q != ' ' && *q != '\n' && *q != '\t';
		words += w && !in;
		in = w;
	}
	size_t n = strlen(d);
	if (n > 60) {
		n = 60;
		while (n > 0 && ((unsigned char)d[n] & 0xC0) == 0x80)
			n--;
	}
	char *head = xstrndup(d, n), *w = head;
	for (const char *q = head; *q; q++)	/* one line: each run of blanks one space */
		if (!(*q == ' ' || *q == '\n' || *q == '\t') || (w > head && w[-1] != ' '))
			*w++ = *q == '\n' || *q == '\t' ? ' ' : *q;
	*w = '\0';
	char nb[16];
	snprintf(nb, sizeof nb, "%d", words);
	struct vars v = { 0 };
	vars_set(&v, "n", nb);
	char *count = catalog_format(lang, "post.description_words", &v);
	char *t = xasprintf("%s%s (%s)", str_trim(head), n < strlen(d) ? "…" : "", count);
	free(count);
	free(head);
	return t;
}

/* Field f of project p as the poster's mails show it, in lang; NULL when p has none. The
 * caller frees. */
static char *field_text(const struct project *p, enum field f, const char *lang)
{
	switch (f) {
	case F_TITLE:
		return xstrdup(p->title);
	case F_DESCRIPTION:
		return p->description && *p->description ? description_text(p->description, lang)
		       : NULL;
	case F_BUDGET:
		return money_format_budget(p, lang, MONEY_MAIL);
	case F_DEADLINE: {
		if (p->deadline[0])
			return date_text_left(lang, p->deadline, clock_now());
		if (p->deadline_days < 0)
			return NULL;
		char n[16];
		snprintf(n, sizeof n, "%d", p->deadline_days);
		struct vars dv = { 0 };
		vars_set(&dv, "n", n);
		return catalog_format(lang, "post.deadline_days", &dv);
	}
	case F_SKILLS:
		return p->skills_json ? skills_text(p->skills_json) : NULL;
	case F_LOCATION:
		return !p->location ? NULL : xstrdup(!strcmp(p->location, "remote")
			? catalog_text(lang, "post.remote") : p->location);
	default:
		return NULL;
	}
}

/* The texts an acknowledgement borrows into its variables, freed by ack_texts_clear. */
struct ack_texts {
	char *value[F_N], *before[F_N], *after[F_N], *floor;
	struct vars items[F_N], changes[F_N];
	int ni, nc;
};

static void ack_texts_clear(struct ack_texts *t)
{
	for (int f = 0; f < F_N; f++) {
		free(t->value[f]);
		free(t->before[f]);
		free(t->after[f]);
	}
	free(t->floor);
}

/* What project p says, budget to location, each field with its value or, missing, "not
 * given" and how to add it by reply; and the floor note when its rate is under the floor. */
static void ack_understood(const struct config *c, const struct project *p, struct ack_texts *t,
			   struct vars *v)
{
	const char *lang = p->language;
	for (int f = F_BUDGET; f < F_N; f++) {
		struct vars *it = &t->items[t->ni++];
		t->value[f] = field_text(p, f, lang);
		vars_set(it, "label", catalog_text(lang, field_label[f]));
		vars_set(it, "value", t->value[f] ? t->value[f] : catalog_text(lang, field_missing[f]));
		vars_set(it, "hint", t->value[f] ? "" : catalog_text(lang, field_hint[f]));
	}
	vars_set_list(v, "understood", t->items, t->ni);
	const char *floor = p->has_budget ? bid_floor_under(c, &p->budget) : NULL;
	if (floor) {
		struct vars fv = { 0 };
		char *shown = bid_floor_text(floor, lang);
		vars_set(&fv, "floor", shown);
		vars_set(&fv, "unit", catalog_text(lang, !strcmp(p->budget.unit, "hour")
						   ? "bid.floor_per_hour" : "bid.floor_per_day"));
		t->floor = catalog_format(lang, "post.floor_note", &fv);
		free(shown);
	}
	vars_set(v, "floor_note", t->floor ? t->floor : "");
}

/* d without the marks of a corrected budget (" [budget corrigé : 350 €]", post.budget_marked
 * in lang); the caller frees. */
static char *description_unmarked(const char *d, const char *lang)
{
	const char *fmt = catalog_text(lang, "post.budget_marked");
	const char *brace = strstr(fmt, "{{");
	char *prefix = xstrndup(fmt, brace ? (size_t)(brace - fmt) : strlen(fmt));
	char *out = xstrdup(d ? d : ""), *m;
	size_t pl = strlen(prefix);
	while (pl && (m = strstr(out, prefix)) != NULL) {
		char *e = strchr(m, ']');
		char *from = m, *to = e ? e + 1 : m + strlen(m);
		while (from > out && from[-1] == ' ')
			from--;
		memmove(from, to, strlen(to) + 1);
	}
	free(prefix);
	return out;
}

/* 1 when descriptions a and b differ only by the marks of a corrected budget (or not at all). */
static int description_same(const char *a, const char *b, const char *lang)
{
	char *ua = description_unmarked(a, lang), *ub = description_unmarked(b, lang);
	int same = !strcmp(ua, ub);
	free(ua);
	free(ub);
	return same;
}

/* The changes from before to p, field by field ("Budget : 500 € → 350 € TTC"); their count.
 * A description that only gained or lost the mark of a corrected budget is no change of its
 * own: the budget's row says it. */
static int ack_changes(const struct project *before, const struct project *p,
		       struct ack_texts *t, struct vars *v)
{
	const char *lang = p->language;
	for (int f = 0; f < F_N; f++) {
		char *a = field_text(before, f, lang), *b = field_text(p, f, lang);
		int same = f == F_DESCRIPTION ? description_same(before->description, p->description, lang)
			   : (!a && !b) || (a && b && !strcmp(a, b));
		if (same) {
			free(a);
			free(b);
			continue;
		}
		t->before[f] = a;
		t->after[f] = b;
		struct vars *it = &t->changes[t->nc++];
		vars_set(it, "label", catalog_text(lang, field_label[f]));
		vars_set(it, "before", a ? a : catalog_text(lang, field_missing[f]));
		vars_set(it, "after", b ? b : catalog_text(lang, field_missing[f]));
	}
	vars_set_list(v, "changes", t->changes, t->nc);
	return t->nc;
}


/* Why p is held, as the moderators read it: the rules' lines into items (texts into owned),
 * the threshold into th, and the score line (the caller frees). */
static char *held_reasons(const struct project *p, const char *lang, struct vars *items,
			  struct strlist *owned, int *n, char th[16])
{
	struct scam_verdict sv;
	extract_scam_verdict(p->title, p->description, lang, &sv);
	*n = 0;
	for (int i = 0; i < sv.n && i < 16; i++) {
		char w[16];
		snprintf(w, sizeof w, "%d", sv.hit[i].weight);
		struct vars rv = { 0 };
		vars_set(&rv, "description", sv.hit[i].description ? sv.hit[i].description : "");
		vars_set(&rv, "phrase", sv.hit[i].phrase);
		vars_set(&rv, "weight", w);
		char *line = catalog_format(lang, sv.hit[i].description ? "moderation.rule"
					    : "moderation.rule_phrase", &rv);
		strlist_add_owned(owned, line);
		memset(&items[*n], 0, sizeof items[*n]);
		vars_set(&items[(*n)++], "text", line);
	}
	if (!sv.n) {
		strlist_add(owned, catalog_text(lang, "moderation.no_rule"));
		memset(&items[0], 0, sizeof items[0]);
		vars_set(&items[(*n)++], "text", owned->v[owned->n - 1]);
	}
	char sc[16];
	snprintf(sc, sizeof sc, "%d", sv.score);
	snprintf(th, 16, "%d", sv.threshold);
	struct vars scv = { 0 };
	vars_set(&scv, "score", sc);
	vars_set(&scv, "threshold", th);
	scam_verdict_clear(&sv);
	return catalog_format(lang, "moderation.score", &scv);
}

char *post_held_why(const struct project *p, const char *lang)
{
	struct vars items[16];
	struct strlist owned = { 0 };
	int n;
	char th[16];
	char *score = held_reasons(p, lang, items, &owned, &n, th);
	struct buf b;
	buf_init(&b, 64 * 1024);
	for (int i = 0; i < n; i++) {
		buf_puts(&b, "  - ");
		buf_puts(&b, owned.v[i]);
		buf_putc(&b, '\n');
	}
	buf_puts(&b, "  ");
	buf_puts(&b, score);
	free(score);
	strlist_clear(&owned);
	return buf_steal(&b);
}

/* The moderators' notice of held project p, with a signed reply address: the rules that
 * fired, in words, and the score against the threshold. 0 or -1. */
static int notify_moderators(const struct config *c, struct store *s, const struct project *p)
{
	int64_t id = p->id;
	char *key = keys_make("v", &id, 1);
	char *addr = keys_address(c, "robot", key);
	char *copy = xstrdup(c->moderators), *save = NULL, idbuf[32], th[16];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)p->id);
	struct vars items[16];
	struct strlist owned = { 0 };
	int n, rc = 0;
	char *score = held_reasons(p, c->language, items, &owned, &n, th);
	struct vars mv = { 0 };
	vars_set(&mv, "board", c->board_name);
	vars_set(&mv, "project_id", idbuf);
	vars_set(&mv, "title", p->title);
	vars_set(&mv, "poster", p->poster);
	vars_set(&mv, "description", p->description ? p->description : "");
	vars_set(&mv, "flags", p->flags_json ? p->flags_json : "[]");
	vars_set(&mv, "score", score);
	vars_set(&mv, "threshold", th);
	vars_set_list(&mv, "rules", items, n);
	for (char *t = strtok_r(copy, ", ", &save); t && rc == 0; t = strtok_r(NULL, ", ", &save)) {
		struct outgoing o = { .from_name = c->board_name, .from = c->robot_address,
				      .to = t, .reply_to = addr, .auto_submitted = "auto-generated",
				      .key_ref = key };
		rc = send_queue(c, s, "moderation_notice", c->language, &mv, &o);
	}
	free(score);
	strlist_clear(&owned);
	free(copy);
	free(key);
	free(addr);
	return rc;
}

/* The acknowledgement of a published (or held) project: what was understood and what is
 * missing, or, held, a neutral word (moderators get a notice). kind is post_ack, or for a
 * correction post_corrected (changes from before) or post_uncorrected, with question (NULL:
 * none) asking which of its amounts is the budget. 0 or -1. */
static int acknowledge_as(const struct config *c, struct store *s, const struct project *p,
			  const char *in_reply_to, const char *kind, const struct project *before,
			  const char *question)
{
	int held = p->status == PROJECT_HELD;
	char idbuf[32];
	struct vars v = { 0 };
	struct ack_texts t;
	memset(&t, 0, sizeof t);
	ack_vars(c, p, idbuf, sizeof idbuf, &v);
	vars_set(&v, "budget_question", question ? question : "");
	ack_understood(c, p, &t, &v);
	if (before)
		ack_changes(before, p, &t, &v);
	else
		vars_set_list(&v, "changes", NULL, 0);
	/* a reply to the acknowledgement closes or corrects the project (post+k-ID) */
	int64_t pid = p->id;
	char *kkey = keys_make("k", &pid, 1);
	char *kaddr = keys_address(c, "post", kkey);
	/* a held post gets a neutral acknowledgement: nothing tells a scammer why */
	int rc = queue_to_poster(c, s, p, held ? "post_held" : kind, &v, in_reply_to,
				 held ? NULL : kaddr, held ? NULL : kkey);
	free(kkey);
	free(kaddr);
	if (rc == 0 && held && *c->moderators)
		rc = notify_moderators(c, s, p);
	ack_texts_clear(&t);
	return rc;
}

static int acknowledge(const struct config *c, struct store *s, const struct project *p,
		       const char *in_reply_to)
{
	return acknowledge_as(c, s, p, in_reply_to, "post_ack", NULL, NULL);
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
	return post_refusal_due_as(s, address, "refusal");
}

int post_refusal_due_as(struct store *s, const char *address, const char *action)
{
	int recent = store_confirmations_recent(s, address, clock_now());
	if (recent != 0)
		return recent < 0 ? -1 : 0;
	int64_t cid;
	return store_confirmation_insert(s, address, 0, action, "", 0, &cid, clock_now()) < 0 ? -1 : 1;
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
		/* != 1: another mail (another host) confirmed it meanwhile: tried again, it reads so */
		rc = store_project_state_set(s, p.id, PROJECT_PENDING_CONFIRMATION, p.status, clock_now()) != 1 ? -1 : 0;
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

/* Tells moderator (by mail; NULL: nobody, the command line prints) what was done to project
 * id (p: NULL when unknown): message is the catalogue's name for it. 0 or -1. */
static int tell_moderator(const struct config *c, struct store *s, const char *moderator,
			  int64_t id, const struct project *p, const char *message,
			  const char *reason)
{
	if (!moderator || !compose_address_is_safe(moderator))
		return 0;
	struct project unknown = { .id = id };
	const struct project *q = p ? p : &unknown;
	struct vars rv = { 0 }, v = { 0 };
	vars_set(&rv, "reason", reason ? reason : "");
	char *text = post_text(c, q, c->language, message, &rv), idbuf[32];
	ack_vars(c, q, idbuf, sizeof idbuf, &v);
	vars_set(&v, "poster", q->poster ? q->poster : "");
	vars_set(&v, "message", text);
	struct outgoing o = { .from_name = c->board_name, .from = c->robot_address,
			      .to = moderator, .auto_submitted = "auto-replied" };
	int rc = send_queue(c, s, "moderation_done", c->language, &v, &o);
	free(text);
	return rc;
}

int post_moderate(const struct config *c, struct store *s, int64_t project_id, int approve,
		  const char *why, const char *moderator)
{
	struct project p;
	int f = store_project_get(s, project_id, &p);
	if (f < 0)
		return -1;
	if (!f || p.status != PROJECT_HELD) {
		/* not waiting for a moderator: nothing done, and said so */
		int rc = tell_moderator(c, s, moderator, project_id, f ? &p : NULL,
					"moderation.not_held", NULL);
		if (f)
			project_clear(&p);
		return rc < 0 ? -1 : f ? 2 : 0;
	}
	int rc = store_project_state_set(s, p.id, PROJECT_HELD, approve ? PROJECT_OPEN
					 : PROJECT_REJECTED, clock_now()) != 1 ? -1 : 0;
	const char *reason = why && *why ? why : catalog_text(p.language, "post.rejected_default");
	if (rc == 0 && approve) {
		p.status = PROJECT_OPEN;
		rc = acknowledge(c, s, &p, NULL);
	} else if (rc == 0) {
		struct vars v = { 0 };
		vars_set(&v, "board", c->board_name);
		vars_set(&v, "subject", p.title);
		vars_set(&v, "post_address", c->post_address);
		vars_set(&v, "reason", reason);
		rc = queue_to_poster(c, s, &p, "post_rejected", &v, NULL, NULL, NULL);
	}
	if (rc == 0)
		rc = tell_moderator(c, s, moderator, p.id, &p, approve ? "moderation.done_approved"
				    : "moderation.done_rejected", reason);
	log_info("stage=moderate project=%lld result=%s", (long long)p.id, approve ? "approved" : "rejected");
	project_clear(&p);
	return rc < 0 ? -1 : 1;
}

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
	const char *sl = quote_bidder_language(c, s, &sub, v);
	struct vars vv = { 0 };
	vars_set(&vv, "board", c->board_name);
	vars_set(&vv, "project_id", id);
	vars_set(&vv, "title", p->title);
	vars_set(&vv, "message", catalog_text(sl, "post.closed_unawarded"));
	vars_set(&vv, "text", "");
	vars_set(&vv, "reply_address", "");
	vars_set(&vv, "name", sub.name ? sub.name : "");
	struct outgoing o = { .from_name = c->board_name, .from = c->bid_address,
			      .to_name = sub.name, .to = sub.address,
			      .auto_submitted = "auto-generated" };
	int rc = send_queue_as(c, s, "relay_message", "bidder_closed", sl, &vv, &o);
	subscriber_clear(&sub);
	return rc;
}

/* Closes project p at its poster's request; its active bidders are told, and the poster told
 * it was done and how many were told. 0 or -1. */
static int close_by_reply(const struct config *c, struct store *s, const struct project *p,
			  const char *in_reply_to)
{
	int rc = store_project_state_set(s, p->id, PROJECT_OPEN, PROJECT_CLOSED, clock_now()) != 1 ? -1 : 0;
	struct bid_row *v;
	int nb = rc == 0 ? store_bid_select(s, p->id, BID_ACTIVE, &v) : -1, told = 0;
	for (int i = 0; i < nb; i++) {
		if (rc == 0 && v[i].status == BID_ACTIVE) {
			rc = tell_bidder_closed(c, s, p, &v[i]);
			store_bid_state_set(s, v[i].id, BID_ACTIVE, BID_CLOSED);
			told++;
		}
		bid_row_clear(&v[i]);
	}
	if (nb >= 0)
		free(v);	/* allocated even for no bid */
	char n[16];
	snprintf(n, sizeof n, "%d", told);
	if (rc == 0)
		rc = poster_notice(c, s, p, "post.closed_done", n, in_reply_to);
	return rc;
}

/* The flags of project a after a correction e of before: no_budget follows the budget,
 * urgent the new text when it was rewritten, suspected_scam the new title and text when they
 * changed (*scam set), else kept. The caller frees. */
static char *edit_flags(const struct project *before, const struct project *a,
			const struct post_edit *e, const struct post_info *pi, int *scam)
{
	struct strlist old = { 0 }, out = { 0 };
	json_string_list(before->flags_json, &old);
	int retold = e->title || e->description;
	*scam = 0;
	if (retold) {
		struct scam_verdict sv;
		int score = extract_scam_verdict(a->title, a->description, NULL, &sv);
		*scam = score >= sv.threshold;
		scam_verdict_clear(&sv);
	}
	int urgent = e->rewrite ? strlist_contains(&pi->flags, "urgent")
		     : strlist_contains(&old, "urgent");
	if (*scam || (!retold && strlist_contains(&old, "suspected_scam")))
		strlist_add(&out, "suspected_scam");
	if (urgent)
		strlist_add(&out, "urgent");
	if (!a->has_budget)
		strlist_add(&out, "no_budget");
	char *j = json_array_text(&out);
	strlist_clear(&old);
	strlist_clear(&out);
	return j;
}

/* Stores correction e of project p (a: p with e applied) and holds it when its new text
 * scores as a scam; 0 or -1. */
static int edit_store(struct store *s, const struct project *p, struct project *a,
		      const struct post_edit *e, int scam)
{
	time_t now = clock_now();
	int rc = e->title && strcmp(e->title, p->title)
		 ? store_project_retitle(s, p->id, a->title, now) : 0;
	if (rc == 0)
		rc = store_project_update(s, p->id, a->description, a->has_budget ? &a->budget : NULL,
					  a->deadline_days, a->deadline, a->skills_json, a->location,
					  a->flags_json, now);
	if (rc == 0 && scam) {
		rc = store_project_state_set(s, p->id, PROJECT_OPEN, PROJECT_HELD, now) < 0 ? -1 : 0;
		a->status = PROJECT_HELD;
	}
	return rc;
}

/* The question to the poster of p when correction e names several amounts and none as the
 * budget ("$1,500 or $1,800 with hosting"): which one; NULL when e's budget is clear. The
 * answer, one amount alone, comes back as a correction. The caller frees. */
static char *budget_question(const struct project *p, const struct post_edit *e)
{
	if (!e->budget_unclear || e->n_budget_options < 2)
		return NULL;
	const char *lang = p->language;
	char *said[POST_EDIT_OPTIONS] = { 0 };
	struct buf b;
	buf_init(&b, 4096);
	int n = e->n_budget_options;
	for (int i = 0; i < n; i++) {
		said[i] = money_format(&e->budget_options[i], lang);
		if (i < n - 1)
			buf_printf(&b, "%s%s", i ? ", " : "", said[i]);
	}
	char *head = buf_steal(&b);
	struct vars lv = { 0 }, v = { 0 };
	vars_set(&lv, "list", head);
	vars_set(&lv, "last", said[n - 1]);
	char *amounts = catalog_format(lang, "robot.list_or", &lv);
	vars_set(&v, "amounts", amounts);
	vars_set(&v, "example", said[n - 1]);
	char *q = catalog_format(lang, "post.budget_which", &v);
	free(amounts);
	free(head);
	for (int i = 0; i < n; i++)
		free(said[i]);
	return q;
}

/* The correction m of project p (cleared by the caller): only the fields its new text states
 * change (post_edit.c), the poster is told each change before → after, or, when nothing was
 * recognised, what can be changed and how (the project unchanged). 0 or -1. */
static int edit_by_reply(const struct config *c, struct store *s, const struct message *m,
			 struct project *p, char **result)
{
	/* read again from the new text alone: the subject repeats the acknowledgement's */
	struct message tm = *m;
	tm.subject = NULL;
	tm.new_text = NULL;
	tm.post = NULL;
	extract_message(c, &tm, KIND_POST);
	struct post_edit e;
	int stated = post_edit_read(p, tm.new_text, tm.post, &e);
	struct project a = *p;
	struct strlist skills = { 0 };
	post_edit_skills(p->skills_json, &e, &skills);
	a.title = e.title && *e.title ? e.title : p->title;
	a.description = e.description && *e.description ? e.description : p->description;
	if (e.has_budget) {
		a.has_budget = 1;
		a.budget = e.budget;
	}
	if (e.deadline_days >= 0 || e.deadline[0]) {
		a.deadline_days = e.deadline_days;
		snprintf(a.deadline, sizeof a.deadline, "%s", e.deadline);
	}
	a.location = e.location ? e.location : p->location;
	a.skills_json = json_array_text(&skills);
	int scam = 0;
	a.flags_json = edit_flags(p, &a, &e, tm.post, &scam);
	struct ack_texts probe;
	memset(&probe, 0, sizeof probe);
	struct vars pv = { 0 };
	int changed = stated && ack_changes(p, &a, &probe, &pv) > 0;
	ack_texts_clear(&probe);
	const char *irt = m->message_id_made_up ? NULL : m->message_id;
	int rc = changed ? edit_store(s, p, &a, &e, scam) : 0;
	char *question = budget_question(p, &e);
	if (rc == 0)
		rc = acknowledge_as(c, s, changed ? &a : p, irt,
				    changed ? "post_corrected" : "post_uncorrected",
				    changed ? p : NULL, question);
	if (question && rc == 0)
		log_info("stage=post project=%lld result=asked reason=\"several amounts, none stated "
			 "as the budget\"", (long long)p->id);
	free(question);
	if (scam && changed)
		log_warn("stage=post project=%lld result=held reason=suspected_scam edit=yes",
			 (long long)p->id);
	*result = xasprintf("post:%s:%lld%s%s", changed ? "edited" : "unchanged", (long long)p->id,
			    scam && changed ? ":held" : "", e.budget_unclear && rc == 0 ? ":budget-asked" : "");
	free(a.skills_json);
	free(a.flags_json);
	strlist_clear(&skills);
	post_edit_clear(&e);
	free(tm.new_text);
	post_info_free(tm.post);
	return rc;
}

/* Tells the poster of project p, no longer open, that a reply to its acknowledgement changes
 * nothing, and why (held, awarded, closed, expired, rejected). 0 or -1. */
static int tell_not_open(const struct config *c, struct store *s, const struct project *p,
			 const char *in_reply_to)
{
	if (p->status == PROJECT_PENDING_CONFIRMATION)
		return 0;	/* never acknowledged: no post+k address was given */
	char name[48];
	snprintf(name, sizeof name, "post.not_open_%s", store_project_state_name(p->status));
	return poster_notice(c, s, p, name, NULL, in_reply_to);
}

/* The poster's reply to an acknowledgement (post+k-ID): `close`/`clôturer` on a line of its
 * own closes the project (bidders told); any other text is a correction of the fields it
 * states (edit_by_reply); a project no longer open changes nothing and the poster is told why. */
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
	if (!f || !m->from || strcasecmp(m->from, p.poster)) {
		*result = xstrdup(f ? "post-reply:refused" : "post-reply:unknown");
		if (f)
			project_clear(&p);
		return OUT_OK;
	}
	if (p.status != PROJECT_OPEN) {
		/* the poster is told why nothing changed */
		int rc = tell_not_open(c, s, &p, m->message_id_made_up ? NULL : m->message_id);
		*result = xasprintf("post-reply:not-open:%s", store_project_state_name(p.status));
		project_clear(&p);
		return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	const char *text = m->new_text ? m->new_text : "";
	int rc = 0;
	if (asks_close(text)) {
		rc = close_by_reply(c, s, &p, m->message_id_made_up ? NULL : m->message_id);
		*result = xasprintf("post:closed:%lld", (long long)p.id);
	} else {
		/* an empty reply too is answered with what can be changed */
		rc = edit_by_reply(c, s, m, &p, result);
	}
	project_clear(&p);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}
