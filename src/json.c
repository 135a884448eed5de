/*
 * json.c — the JSON the command-line tool prints, through jansson (the only file that uses it):
 * the `parse` contract, `projects --json` and `outbox --json`.
 * In: the project's structs. Out: one JSON document on the given stream.
 */
#include "bidmail.h"

#include <jansson.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A field of a struct money: null when empty. */
static json_t *money_text(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *strlist_json(const struct strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static int dump(FILE *out, json_t *j)
{
	int rc = json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(j);
	return rc;
}

static json_t *money_json(const struct money *mo)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}",
			 "min", mo->min >= 0 ? json_real(mo->min) : json_null(),
			 "max", json_real(mo->max),
			 "currency", mo->currency[0] ? json_string(mo->currency) : json_null(),
			 "tax", mo->tax[0] ? json_string(mo->tax) : json_null(),
			 "unit", mo->unit[0] ? json_string(mo->unit) : json_null());
}

static json_t *post_json(const struct post_info *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "title", str_or_null(p->title));
	json_object_set_new(o, "description", str_or_null(p->description));
	json_object_set_new(o, "budget", p->has_budget ? money_json(&p->budget) : json_null());
	json_object_set_new(o, "why", str_or_null(p->why));
	json_object_set_new(o, "deadline_days", p->deadline_days >= 0
			    ? json_integer(p->deadline_days) : json_null());
	json_object_set_new(o, "deadline", p->deadline[0] ? json_string(p->deadline) : json_null());
	json_object_set_new(o, "skills", strlist_json(&p->skills));
	json_object_set_new(o, "language", str_or_null(p->language));
	json_object_set_new(o, "location", str_or_null(p->location));
	json_object_set_new(o, "flags", strlist_json(&p->flags));
	json_object_set_new(o, "scam_score", json_integer(p->scam_score));
	json_object_set_new(o, "scam_rules", strlist_json(&p->scam_rules));
	json_object_set_new(o, "installments", json_integer(p->installments));
	return o;
}

static json_t *bid_json(const struct bid_info *b)
{
	json_t *o = json_object();
	json_object_set_new(o, "amount", b->has_amount ? json_real(b->amount.max) : json_null());
	json_object_set_new(o, "currency", b->has_amount && b->amount.currency[0]
			    ? json_string(b->amount.currency) : json_null());
	json_object_set_new(o, "tax", b->has_amount && b->amount.tax[0]
			    ? json_string(b->amount.tax) : json_null());
	json_object_set_new(o, "unit", b->has_amount && b->amount.unit[0]
			    ? json_string(b->amount.unit) : json_null());
	if (b->refused)
		json_object_set_new(o, "refused_amount", json_real(b->amount.max));
	json_object_set_new(o, "delivery_days", b->delivery_days >= 0
			    ? json_integer(b->delivery_days) : json_null());
	json_object_set_new(o, "delivery", b->delivery[0] ? json_string(b->delivery) : json_null());
	json_t *ms = json_array();
	for (int i = 0; i < b->n_milestones; i++)
		json_array_append_new(ms, json_integer(b->milestones[i]));
	json_object_set_new(o, "milestones", b->n_milestones ? ms : (json_decref(ms), json_null()));
	json_object_set_new(o, "followup_days", b->followup_days >= 0
			    ? json_integer(b->followup_days) : json_null());
	json_object_set_new(o, "why", str_or_null(b->why));
	json_object_set_new(o, "installments", json_integer(b->installments));
	return o;
}

int json_print_message(FILE *out, const struct config *c, const struct message *m,
		       enum kind k, const char *as)
{
	(void)c;
	(void)as;
	json_t *j = json_object();
	char date[32];
	json_object_set_new(j, "message_id", str_or_null(m->message_id));
	json_object_set_new(j, "from", str_or_null(m->from));
	json_object_set_new(j, "from_name", str_or_null(m->from_name));
	json_object_set_new(j, "to", strlist_json(&m->to));
	json_object_set_new(j, "cc", strlist_json(&m->cc));
	json_object_set_new(j, "subject", str_or_null(m->subject));
	if (m->date >= 0) {
		clock_format_iso(m->date, date);
		json_object_set_new(j, "date", json_string(date));
	} else {
		json_object_set_new(j, "date", json_null());
	}
	json_object_set_new(j, "in_reply_to", str_or_null(m->in_reply_to));
	json_object_set_new(j, "references", strlist_json(&m->references));
	json_object_set_new(j, "kind", json_string(kind_name(k)));
	json_object_set_new(j, "text", str_or_null(m->new_text ? m->new_text : m->text));
	json_t *att = json_array();
	for (size_t i = 0; i < m->n_attachments; i++)
		json_array_append_new(att, json_pack("{s:o, s:s, s:I}", "name",
						     str_or_null(m->attachments[i].name), "type",
						     m->attachments[i].type, "size",
						     (json_int_t)m->attachments[i].size));
	json_object_set_new(j, "attachments", att);
	if (m->auth.authserv_id)
		json_object_set_new(j, "auth", json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
							 "authserv_id", str_or_null(m->auth.authserv_id),
							 "spf", str_or_null(m->auth.spf),
							 "dkim", str_or_null(m->auth.dkim),
							 "dkim_domain", str_or_null(m->auth.dkim_domain),
							 "dmarc", str_or_null(m->auth.dmarc),
							 "dmarc_domain",
							 str_or_null(m->auth.dmarc_domain)));
	else
		json_object_set_new(j, "auth", json_null());
	if (k == KIND_BOUNCE)
		json_object_set_new(j, "bounce", json_pack("{s:o, s:o}", "recipient",
							   str_or_null(m->bounce_recipient), "status",
							   str_or_null(m->bounce_status)));
	else
		json_object_set_new(j, "bounce", json_null());
	json_object_set_new(j, "post", m->post ? post_json(m->post) : json_null());
	json_object_set_new(j, "bid", m->bid ? bid_json(m->bid) : json_null());
	json_object_set_new(j, "errors", strlist_json(&m->errors));
	return dump(out, j);
}

/* What a project asks for, the same in the CLI's listing and the public projects.json:
 * budget, deadline_days (the days left at now, 0 once due), deadline (YYYY-MM-DD), skills,
 * location (in that order). */
static void terms_json(json_t *o, const struct project *p, time_t now)
{
	char day[11];
	int has_day = date_project_deadline(p, day);
	if (p->has_budget)
		json_object_set_new(o, "budget", json_pack(
			"{s:o, s:f, s:o, s:o, s:o}", "min",
			p->budget.min >= 0 ? json_real(p->budget.min) : json_null(),
			"max", p->budget.max, "currency", money_text(p->budget.currency),
			"tax", money_text(p->budget.tax), "unit", money_text(p->budget.unit)));
	else
		json_object_set_new(o, "budget", json_null());
	json_object_set_new(o, "deadline_days", has_day
			    ? json_integer(date_days_left_json(day, now)) : json_null());
	json_object_set_new(o, "deadline", has_day ? json_string(day) : json_null());
	json_t *skills = p->skills_json ? json_loads(p->skills_json, 0, NULL) : NULL;
	json_object_set_new(o, "skills", skills ? skills : json_array());
	json_object_set_new(o, "location", str_or_null(p->location));
}

int json_print_projects(FILE *out, struct project *p, int n, time_t now)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(p[i].id));
		json_object_set_new(o, "title", str_or_null(p[i].title));
		json_object_set_new(o, "status", json_string(store_project_state_name(p[i].status)));
		json_object_set_new(o, "poster", str_or_null(p[i].poster));
		json_object_set_new(o, "poster_name", str_or_null(p[i].poster_name));
		json_object_set_new(o, "language", str_or_null(p[i].language));
		json_object_set_new(o, "created", str_or_null(p[i].created));
		json_object_set_new(o, "published", str_or_null(p[i].published));
		terms_json(o, &p[i], now);
		json_t *flags = p[i].flags_json ? json_loads(p[i].flags_json, 0, NULL) : NULL;
		json_object_set_new(o, "flags", flags ? flags : json_array());
		json_object_set_new(o, "bids", json_integer(p[i].bids));
		json_object_set_new(o, "description", str_or_null(p[i].description));
		json_array_append_new(a, o);
	}
	return dump(out, a);
}

int json_string_list(const char *text, struct strlist *out)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v))
			strlist_add(out, json_string_value(v));
	json_decref(a);
	return 0;
}

int json_print_public_projects(FILE *out, const struct config *c, struct project *p, int n,
			       const char *const *descriptions, const char *const *urls,
			       const char *const *bid_addresses, time_t now)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(p[i].id));
		json_object_set_new(o, "title", str_or_null(p[i].title));
		json_object_set_new(o, "language", str_or_null(p[i].language));
		json_object_set_new(o, "created", str_or_null(p[i].created));
		json_object_set_new(o, "published", str_or_null(p[i].published));
		terms_json(o, &p[i], now);
		json_object_set_new(o, "bids", json_integer(p[i].bids));
		json_object_set_new(o, "bid_cap", json_integer(c->bid_cap));
		json_object_set_new(o, "description", str_or_null(descriptions[i]));
		json_object_set_new(o, "url", str_or_null(urls[i]));
		json_object_set_new(o, "bid_address", str_or_null(bid_addresses[i]));
		json_array_append_new(a, o);
	}
	return dump(out, json_pack("{s:s, s:i, s:o}", "board", c->board_name, "count", n,
				   "projects", a));
}

int json_print_outbox(FILE *out, struct outbox_row *r, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:o, s:o, s:o, s:o, s:i, s:o, s:o}",
						   "id", (json_int_t)r[i].id,
						   "to", str_or_null(r[i].to),
						   "subject", str_or_null(r[i].subject),
						   "kind", str_or_null(r[i].kind),
						   "state", json_string(store_outbox_state_name(r[i].state)),
						   "attempts", r[i].attempts,
						   "last_error", str_or_null(r[i].last_error),
						   "created", str_or_null(r[i].created)));
	return dump(out, a);
}

int json_print_subscribers(FILE *out, struct subscriber *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(v[i].id));
		json_object_set_new(o, "address", str_or_null(v[i].address));
		json_object_set_new(o, "name", str_or_null(v[i].name));
		json_object_set_new(o, "status", json_string(store_sub_state_name(v[i].status)));
		json_object_set_new(o, "language", str_or_null(v[i].language));
		json_object_set_new(o, "frequency", str_or_null(v[i].frequency));
		json_object_set_new(o, "patterns", strlist_json(&v[i].skills));
		json_object_set_new(o, "excludes", strlist_json(&v[i].excludes));
		json_object_set_new(o, "budget_min", v[i].budget_min >= 0 ? json_real(v[i].budget_min)
									 : json_null());
		json_object_set_new(o, "budget_currency", str_or_null(v[i].budget_currency));
		json_object_set_new(o, "day", json_integer(v[i].day));
		json_object_set_new(o, "remote_only", json_boolean(v[i].remote_only));
		json_object_set_new(o, "languages", str_or_null(v[i].languages));
		json_object_set_new(o, "created", str_or_null(v[i].created));
		json_object_set_new(o, "confirmed", str_or_null(v[i].confirmed));
		json_object_set_new(o, "last_digest", str_or_null(v[i].last_digest));
		json_array_append_new(a, o);
	}
	return dump(out, a);
}

int json_print_bids(FILE *out, struct bid_row *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		const struct bid_info *b = &v[i].info;
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(v[i].id));
		json_object_set_new(o, "project", json_integer(v[i].project));
		json_object_set_new(o, "subscriber", json_integer(v[i].subscriber));
		json_object_set_new(o, "status", json_string(store_bid_state_name(v[i].status)));
		json_object_set_new(o, "amount", b->has_amount ? json_real(b->amount.max) : json_null());
		json_object_set_new(o, "currency", b->amount.currency[0] ? json_string(b->amount.currency)
									: json_null());
		json_object_set_new(o, "tax", b->amount.tax[0] ? json_string(b->amount.tax) : json_null());
		json_object_set_new(o, "unit", b->amount.unit[0] ? json_string(b->amount.unit) : json_null());
		json_object_set_new(o, "delivery_days", b->delivery_days >= 0
				    ? json_integer(b->delivery_days) : json_null());
		char day[11];
		json_object_set_new(o, "delivery", bid_delivery_date(&v[i], day) ? json_string(day)
										: json_null());
		json_t *ms = json_array();
		for (int k = 0; k < b->n_milestones; k++)
			json_array_append_new(ms, json_integer(b->milestones[k]));
		json_object_set_new(o, "milestones", ms);
		json_object_set_new(o, "why", str_or_null(b->why));
		json_object_set_new(o, "created", str_or_null(v[i].created));
		json_array_append_new(a, o);
	}
	return dump(out, a);
}

int json_print_status(FILE *out, const struct store_status *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "spool", json_pack("{s:i, s:o, s:i}", "waiting", st->spool_waiting,
						  "oldest", str_or_null(*st->spool_oldest ?
									st->spool_oldest : NULL),
						  "quarantined", st->quarantined));
	json_object_set_new(o, "outbox", json_pack("{s:i, s:o, s:i, s:i}", "queued", st->outbox_queued,
						   "oldest_queued", str_or_null(st->oldest_queued),
						   "failed", st->outbox_failed,
						   "sent", st->outbox_sent));
	json_object_set_new(o, "posts_pending_confirmation", json_integer(st->pending_posts));
	json_object_set_new(o, "posts_held", json_integer(st->held_posts));
	json_object_set_new(o, "subscribers_pending", json_integer(st->pending_subscribers));
	json_object_set_new(o, "last_digest", str_or_null(st->last_digest));
	json_object_set_new(o, "bounce_disabled", strlist_json(&st->disabled));
	return dump(out, o);
}
