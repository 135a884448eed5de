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
	json_object_set_new(j, "text", str_or_null(m->text));
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
	json_object_set_new(j, "post", json_null());
	json_object_set_new(j, "bid", json_null());
	json_object_set_new(j, "errors", strlist_json(&m->errors));
	return dump(out, j);
}

int json_print_projects(FILE *out, struct project *p, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(p[i].id));
		json_object_set_new(o, "title", str_or_null(p[i].title));
		json_object_set_new(o, "status", str_or_null(p[i].status));
		json_object_set_new(o, "poster", str_or_null(p[i].poster));
		json_object_set_new(o, "poster_name", str_or_null(p[i].poster_name));
		json_object_set_new(o, "language", str_or_null(p[i].language));
		json_object_set_new(o, "created", str_or_null(p[i].created));
		if (p[i].has_budget)
			json_object_set_new(o, "budget", json_pack(
				"{s:o, s:f, s:o, s:o, s:o}", "min",
				p[i].budget_min >= 0 ? json_real(p[i].budget_min) : json_null(),
				"max", p[i].budget_max, "currency", str_or_null(p[i].currency),
				"tax", str_or_null(p[i].tax), "unit", str_or_null(p[i].unit)));
		else
			json_object_set_new(o, "budget", json_null());
		json_object_set_new(o, "deadline_days", p[i].deadline_days >= 0
				    ? json_integer(p[i].deadline_days) : json_null());
		json_t *skills = p[i].skills_json ? json_loads(p[i].skills_json, 0, NULL) : NULL;
		json_object_set_new(o, "skills", skills ? skills : json_array());
		json_object_set_new(o, "bids", json_integer(p[i].bids));
		json_object_set_new(o, "description", str_or_null(p[i].description));
		json_array_append_new(a, o);
	}
	return dump(out, a);
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
						   "state", str_or_null(r[i].state),
						   "attempts", r[i].attempts,
						   "last_error", str_or_null(r[i].last_error),
						   "created", str_or_null(r[i].created)));
	return dump(out, a);
}
