/*
 * render.c — mail templates: mail-templates/LANG/KIND.tmpl, overridable per file by the
 * operator's template_override folder. A file holds `subject:` then `--- text` and `--- html`
 * sections. Syntax: {{name}} inserts a variable (HTML-escaped in the html part, raw in text),
 * {{#if name}}...{{else}}...{{/if}} keeps a block when the variable (or list) is non-empty,
 * {{#each list}}...{{/each}} repeats a block for each item of a list, where the item's fields
 * are variables too.
 * Every template is checked at start-up (render_check_all), in every language the catalogue
 * has (catalog.c): unknown variable or bad syntax is reported with file and line, never at
 * send time. A language with no template of its own for a kind is an error too.
 * The language's typography (French no-break spaces) is applied to the templates' own text
 * when they are loaded, never to the values put in.
 */
#include "bidmail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The variables each kind of mail provides: a template may use these and no others. */
struct tmpl_list {
	const char *name;
	const char *fields[12];
};
static const struct tmpl_kind {
	const char *kind;
	const char *vars[16];
	struct tmpl_list lists[2];
} kinds[] = {
	{ "post_ack", { "board", "project_id", "title", "poster_name", "post_address",
			"robot_address", "date", "floor_note", NULL },
	  { { "understood", { "label", "value", "hint", NULL } } } },
	{ "post_corrected", { "board", "project_id", "title", "poster_name", "post_address",
			      "robot_address", "date", "floor_note", "budget_question", NULL },
	  { { "changes", { "label", "before", "after", NULL } },
	    { "understood", { "label", "value", "hint", NULL } } } },
	{ "post_uncorrected", { "board", "project_id", "title", "poster_name", "post_address",
				"robot_address", "date", "floor_note", "budget_question", NULL },
	  { { "changes", { "label", "before", "after", NULL } },
	    { "understood", { "label", "value", "hint", NULL } } } },
	{ "post_held", { "board", "project_id", "title", "poster_name", "post_address",
			 "robot_address", "date", NULL }, { { 0 } } },
	{ "post_rejected", { "board", "reason", "subject", "post_address", "objected", NULL }, { { 0 } } },
	{ "post_confirm", { "board", "project_id", "date", "confirm_address", NULL }, { { 0 } } },
	{ "bid_confirm", { "board", "project_id", "terms", "sender", "subscribe", "message",
			   "confirm_address", NULL }, { { 0 } } },
	{ "moderation_notice", { "board", "project_id", "title", "poster", "description", "flags",
				 "score", "threshold", NULL }, { { "rules", { "text", NULL } } } },
	{ "moderation_done", { "board", "project_id", "title", "poster", "message", NULL },
	  { { 0 } } },
	{ "post_notice", { "board", "project_id", "title", "poster_name", "message", NULL },
	  { { 0 } } },
	{ "address_disabled", { "board", "address", "robot_address", NULL }, { { 0 } } },
	{ "rate_limited", { "board", "limit", "window", "subject", NULL }, { { 0 } } },
	{ "robot_confirm", { "board", "robot_address", "profile", "help", "confirm_address",
			     "command_address", "name", "sections", NULL },
	  { { "results", { "command", "result", NULL } } } },
	{ "robot_reply", { "board", "robot_address", "profile", "help", "confirm_address",
			   "command_address", "name", "sections", NULL },
	  { { "results", { "command", "result", NULL } } } },
	{ "digest", { "board", "name", "count", "command_address", "robot_address", "more", NULL },
	  { { "projects", { "id", "title", "budget", "deadline", "skills", "bids", "extract", "why",
			    "bid_link", "bid_address", NULL } } } },
	{ "project_alert", { "board", "name", "count", "command_address", "robot_address", NULL },
	  { { "projects", { "id", "title", "budget", "deadline", "skills", "bids", "extract", "why",
			    "bid_link", "bid_address", NULL } } } },
	{ "bid_reply", { "board", "project_id", "title", "message", "terms", "name", "bid_address",
			 NULL }, { { 0 } } },
	{ "bid_quote", { "board", "project_id", "title", "freelancer", "terms", "rating",
			 "completed", "text", "updated", "relay_address", NULL }, { { 0 } } },
	{ "relay_message", { "board", "project_id", "title", "message", "text", "reply_address", "quote",
			     "removed", "name", NULL }, { { 0 } } },
	{ "reminder", { "board", "project_id", "title", "name", "message", "last", "several",
			"reply_address", NULL },
	  { { "quotes", { "rank", "freelancer", "price", "delivery", "rating", NULL } } } },
	{ "award", { "board", "project_id", "title", "winner", "name", "other", "terms", NULL }, { { 0 } } },
	{ "robot_welcome", { "board", "robot_address", "profile", "help", "confirm_address",
			     "command_address", "name", "sections", NULL },
	  { { "results", { "command", "result", NULL } } } },
	{ "selection_reply", { "board", "name", "message", "wrote", "reply_address",
			       NULL },
	  { { "projects", { "id", "title", "rank", NULL } } } },
};

static const struct tmpl_kind *kind_find(const char *kind)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kinds[i].kind, kind))
			return &kinds[i];
	return NULL;
}

static int kind_has_var(const struct tmpl_kind *k, const char *name, size_t n)
{
	for (int i = 0; k->vars[i]; i++)
		if (strlen(k->vars[i]) == n && !strncmp(k->vars[i], name, n))
			return 1;
	return 0;
}

static const struct tmpl_list *kind_list(const struct tmpl_kind *k, const char *name, size_t n)
{
	for (int i = 0; i < 2 && k->lists[i].name; i++)
		if (strlen(k->lists[i].name) == n && !strncmp(k->lists[i].name, name, n))
			return &k->lists[i];
	return NULL;
}

/* In check mode, the names a block may use: the kind's, plus the fields of the lists
 * whose {{#each}} encloses it. */
struct scope {
	const struct tmpl_kind *k;
	const struct tmpl_list *in[4];
	int depth;
};

static int scope_has(const struct scope *sc, const char *name, size_t n)
{
	if (kind_has_var(sc->k, name, n) || kind_list(sc->k, name, n))
		return 1;
	for (int d = 0; d < sc->depth; d++)
		for (int i = 0; sc->in[d]->fields[i]; i++)
			if (strlen(sc->in[d]->fields[i]) == n && !strncmp(sc->in[d]->fields[i], name, n))
				return 1;
	return 0;
}

void vars_set(struct vars *v, const char *name, const char *value)
{
	for (int i = 0; i < v->n; i++)
		if (!strcmp(v->name[i], name)) {
			v->value[i] = value;
			return;
		}
	if (v->n < (int)(sizeof v->name / sizeof v->name[0])) {
		v->name[v->n] = name;
		v->value[v->n++] = value;
	}
}

void vars_set_list(struct vars *v, const char *name, const struct vars *items, int n)
{
	if (v->nlists < 4) {
		v->list[v->nlists].name = name;
		v->list[v->nlists].items = items;
		v->list[v->nlists].n = n;
		v->nlists++;
	}
}

static const char *vars_get(const struct vars *v, const char *name, size_t n)
{
	for (; v; v = v->parent) {
		for (int i = 0; i < v->n; i++)
			if (!strncmp(v->name[i], name, n) && !v->name[i][n])
				return v->value[i] ? v->value[i] : "";
		for (int i = 0; i < v->nlists; i++)
			if (!strncmp(v->list[i].name, name, n) && !v->list[i].name[n])
				return v->list[i].n ? "1" : "";
	}
	return NULL;
}

static int vars_get_list(const struct vars *v, const char *name, size_t n,
			 const struct vars **items)
{
	for (; v; v = v->parent)
		for (int i = 0; i < v->nlists; i++)
			if (!strncmp(v->list[i].name, name, n) && !v->list[i].name[n]) {
				*items = v->list[i].items;
				return v->list[i].n;
			}
	*items = NULL;
	return 0;
}

static char *read_whole(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b;
	buf_init(&b, 1024 * 1024);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	return buf_steal(&b);
}

/* Finds the template file: the override folder first, then the shipped one. */
static char *template_path(const struct config *c, const char *lang, const char *kind)
{
	if (c->template_override && *c->template_override) {
		char *p = xasprintf("%s/%s/%s.tmpl", c->template_override, lang, kind);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return xasprintf("%s/%s/%s.tmpl", c->templates, lang, kind);
}

struct tmpl {
	char *subject;
	char *text;
	char *html;
	int subject_line, text_line, html_line;
};

static void tmpl_clear(struct tmpl *t)
{
	free(t->subject);
	free(t->text);
	free(t->html);
}

/* Splits a template file into its sections; 0, or -1 with a message in err. */
static int tmpl_split(const char *src, struct tmpl *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof t[0]);
	struct buf text, html;
	buf_init(&text, 1024 * 1024);
	buf_init(&html, 1024 * 1024);
	struct buf *cur = NULL;
	int line = 0;
	const char *p = src;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		line++;
		if (!cur && (ll == 0 || p[0] == '#')) {
			/* blank or comment line before the first section */
		} else if (!cur && ll > 8 && !strncmp(p, "subject:", 8)) {
			free(t->subject);
			char *s = xstrndup(p + 8, ll - 8);
			t->subject = xstrdup(str_trim(s));
			free(s);
			t->subject_line = line;
		} else if (ll >= 8 && !strncmp(p, "--- text", 8)) {
			cur = &text;
			t->text_line = line + 1;
		} else if (ll >= 8 && !strncmp(p, "--- html", 8)) {
			cur = &html;
			t->html_line = line + 1;
		} else if (cur) {
			buf_append(cur, p, ll);
			buf_putc(cur, '\n');
		} else {
			snprintf(err, errlen, "line %d: expected `subject:`, `--- text` or `--- html`",
				 line);
			buf_free(&text);
			buf_free(&html);
			return -1;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!t->subject || !t->text_line || !t->html_line) {
		snprintf(err, errlen, "missing %s", !t->subject ? "the `subject:` line"
				      : !t->text_line ? "the `--- text` section" : "the `--- html` section");
		buf_free(&text);
		buf_free(&html);
		tmpl_clear(t);
		return -1;
	}
	t->text = buf_steal(&text);
	t->html = buf_steal(&html);
	return 0;
}

void render_html_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		size_t plain = strcspn(s, "&<>\"'");	/* the bytes kept as they are, at once */
		if (plain) {
			buf_append(b, s, plain);
			s += plain;
			if (!*s)
				break;
		}
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_putc(b, *s);
		}
	}
}

/* Finds the {{/each}} that closes the {{#each}} whose block starts at p; NULL if none. */
static const char *each_end(const char *p, int *lines)
{
	int depth = 1;
	*lines = 0;
	for (; *p; p++) {
		if (*p == '\n')
			(*lines)++;
		if (p[0] != '{' || p[1] != '{')
			continue;
		const char *t = p + 2;
		while (*t == ' ')
			t++;
		if (!strncmp(t, "#each ", 6))
			depth++;
		else if (!strncmp(t, "/each", 5) && --depth == 0)
			return p;
	}
	return NULL;
}

/*
 * Expands src. With v == NULL it only checks (names against the scope); with v it renders.
 * Returns 0, or -1 with err set to "line N: reason" (line counted from first_line).
 */
static int expand_scoped(const char *src, int first_line, struct scope *sc, const struct vars *v,
			 int escape, struct buf *out, char *err, size_t errlen)
{
	int line = first_line;
	/* stack of if-blocks: whether output is on in this block */
	int on[16], depth = 0, active = 1;
	const char *p = src;
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			const char *end = strstr(p + 2, "}}");
			if (!end) {
				snprintf(err, errlen, "line %d: `{{` without `}}`", line);
				return -1;
			}
			const char *tag = p + 2;
			size_t tl = (size_t)(end - tag);
			while (tl && *tag == ' ')
				tag++, tl--;
			while (tl && tag[tl - 1] == ' ')
				tl--;
			if (tl > 6 && !strncmp(tag, "#each ", 6)) {
				const char *name = tag + 6;
				size_t nl = tl - 6;
				const struct tmpl_list *lst = kind_list(sc->k, name, nl);
				if (!lst) {
					snprintf(err, errlen, "line %d: `%.*s` is not a list", line,
						 (int)nl, name);
					return -1;
				}
				int blines;
				const char *close = each_end(end + 2, &blines);
				if (!close) {
					snprintf(err, errlen, "line %d: {{#each}} not closed", line);
					return -1;
				}
				if (sc->depth == 4) {
					snprintf(err, errlen, "line %d: {{#each}} nested too deep", line);
					return -1;
				}
				char *block = xstrndup(end + 2, (size_t)(close - end - 2));
				sc->in[sc->depth++] = lst;
				int rc = 0;
				if (!v) {
					rc = expand_scoped(block, line, sc, NULL, escape, out, err, errlen);
				} else if (active) {
					const struct vars *items;
					int n = vars_get_list(v, name, nl, &items);
					for (int i = 0; i < n && rc == 0; i++) {
						struct vars item = items[i];
						item.parent = v;
						rc = expand_scoped(block, line, sc, &item, escape, out, err,
								   errlen);
					}
				}
				sc->depth--;
				free(block);
				if (rc < 0)
					return -1;
				line += blines;
				const char *after = strstr(close, "}}");
				p = after ? after + 2 : close + strlen(close);
				continue;
			}
			if (tl >= 5 && !strncmp(tag, "/each", 5)) {
				snprintf(err, errlen, "line %d: {{/each}} without {{#each}}", line);
				return -1;
			}
			if (tl > 4 && !strncmp(tag, "#if ", 4)) {
				const char *name = tag + 4;
				size_t nl = tl - 4;
				if (!scope_has(sc, name, nl)) {
					snprintf(err, errlen, "line %d: unknown variable `%.*s`", line,
						 (int)nl, name);
					return -1;
				}
				if (depth == 16) {
					snprintf(err, errlen, "line %d: {{#if}} nested too deep", line);
					return -1;
				}
				on[depth++] = active;
				if (v) {
					const char *val = vars_get(v, name, nl);
					active = active && val && *val;
				}
			} else if (tl == 4 && !strncmp(tag, "else", 4)) {
				if (!depth) {
					snprintf(err, errlen, "line %d: {{else}} outside {{#if}}", line);
					return -1;
				}
				active = on[depth - 1] && !active;
			} else if (tl == 3 && !strncmp(tag, "/if", 3)) {
				if (!depth) {
					snprintf(err, errlen, "line %d: {{/if}} without {{#if}}", line);
					return -1;
				}
				active = on[--depth];
			} else {
				if (!tl || !scope_has(sc, tag, tl)) {
					snprintf(err, errlen, "line %d: unknown variable `%.*s`", line,
						 (int)tl, tag);
					return -1;
				}
				if (v && active) {
					const char *val = vars_get(v, tag, tl);
					if (!val) {
						snprintf(err, errlen, "line %d: variable `%.*s` not set",
							 line, (int)tl, tag);
						return -1;
					}
					if (escape)
						render_html_escape(out, val);
					else
						buf_puts(out, val);
				}
			}
			p = end + 2;
			continue;
		}
		/* the literal text up to the next tag, appended at once */
		const char *q = p + 1;
		while (*q && !(q[0] == '{' && q[1] == '{'))
			q++;
		for (const char *c = p; (c = memchr(c, '\n', (size_t)(q - c))) != NULL; c++)
			line++;
		if (v && active)
			buf_append(out, p, (size_t)(q - p));
		p = q;
	}
	if (depth) {
		snprintf(err, errlen, "line %d: {{#if}} not closed", line);
		return -1;
	}
	return 0;
}

static int expand(const char *src, int first_line, const struct tmpl_kind *k,
		  const struct vars *v, int escape, struct buf *out, char *err, size_t errlen)
{
	struct scope sc = { .k = k };
	return expand_scoped(src, first_line, &sc, v, escape, out, err, errlen);
}

/* Templates are read once, all together, into one set: render_check_all (at start) and
 * the daemon's reload build a new set and use it only when every template checked, so a
 * changed file is seen after SIGHUP, a broken one leaves the old set, never behind the
 * reader's back. */
struct cached {
	char *path;
	struct tmpl t;
};
struct render_set {
	struct cached *cache;
	size_t n_cached;
};
/* in use: swapped by the main thread between passes, read by it and by the digest's preparer
 * thread, which is started only once render_ready has said a set is in use (with none, every
 * render_mail would load one: the digest then makes its mails on its own thread) */
static struct render_set *templates;

/* The language's typography (catalog_typeset) on each section's literal text, before any
 * variable is put in: the values (titles, addresses, URLs, catalogue texts) are left alone. */
static void typeset_sections(struct tmpl *t, const char *lang)
{
	char **section[] = { &t->subject, &t->text, &t->html };
	for (size_t i = 0; i < sizeof section / sizeof section[0]; i++) {
		if (!*section[i])
			continue;
		char *typeset = catalog_typeset(lang, *section[i]);
		free(*section[i]);
		*section[i] = typeset;
	}
}

static int load(const struct config *c, const char *kind, const char *lang, struct tmpl *t,
		char **path_out)
{
	char *path = template_path(c, lang, kind);
	char err[256];
	char *src = read_whole(path);
	int rc = -1;
	if (!src) {
		fprintf(stderr, "%s: cannot read template: %s\n", path, strerror(errno));
		goto out;
	}
	if (tmpl_split(src, t, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		goto out;
	}
	typeset_sections(t, lang);
	rc = 0;
out:
	free(src);
	if (path_out && rc == 0)
		*path_out = path;
	else
		free(path);
	return rc;
}

struct render_set *render_set_free(struct render_set *set)
{
	if (!set)
		return NULL;
	for (size_t i = 0; i < set->n_cached; i++) {
		free(set->cache[i].path);
		tmpl_clear(&set->cache[i].t);
	}
	free(set->cache);
	free(set);
	return NULL;
}

struct render_set *render_set_load(const struct config *c, const struct catalog_set *cat)
{
	size_t nl = catalog_set_count(cat);
	struct render_set *set = xcalloc(1, sizeof *set);
	set->cache = xcalloc(nl * (sizeof kinds / sizeof kinds[0]) + 1, sizeof set->cache[0]);
	int rc = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		for (size_t l = 0; l < nl; l++) {
			struct tmpl t;
			char *path = NULL;
			char err[256];
			if (load(c, kinds[i].kind, catalog_set_language(cat, l), &t, &path) < 0) {
				rc = -1;
				continue;
			}
			if (expand(t.subject, t.subject_line, &kinds[i], NULL, 0, NULL, err, sizeof err) ||
			    expand(t.text, t.text_line, &kinds[i], NULL, 0, NULL, err, sizeof err) ||
			    expand(t.html, t.html_line, &kinds[i], NULL, 1, NULL, err, sizeof err)) {
				fprintf(stderr, "%s:%s\n", path, err + 5);
				rc = -1;
				tmpl_clear(&t);
				free(path);
				continue;
			}
			set->cache[set->n_cached].path = path;
			set->cache[set->n_cached++].t = t;
		}
	}
	return rc < 0 ? render_set_free(set) : set;
}

struct render_set *render_set_use(struct render_set *set)
{
	struct render_set *old = templates;
	templates = set;
	return old;
}

int render_check_all(const struct config *c)
{
	struct catalog_set *cat = catalog_set_load(c);
	struct render_set *set = cat ? render_set_load(c, cat) : NULL;
	if (!set) {
		catalog_set_free(cat);
		return -1;
	}
	catalog_set_free(catalog_set_use(cat));
	render_set_free(render_set_use(set));
	return 0;
}

int render_ready(const struct config *c)
{
	if (!templates) {	/* a command run without render_check_all */
		struct catalog_set *cat = catalog_set_load(c);
		templates = render_set_load(c, cat);
		catalog_set_free(cat);
	}
	return templates != NULL;
}

int render_mail(const struct config *c, const char *kind, const char *lang,
		const struct vars *v, struct rendered *out)
{
	const struct tmpl_kind *k = kind_find(kind);
	struct tmpl t = { 0 };
	char err[256];
	memset(out, 0, sizeof *out);
	if (!k) {
		log_err("stage=render kind=%s error=\"no such template kind\"", kind);
		return -1;
	}
	if (!catalog_language_known(lang))
		lang = c->language;
	char *path = template_path(c, lang, kind);
	const struct tmpl *tp = NULL;
	render_ready(c);
	for (size_t i = 0; templates && i < templates->n_cached && !tp; i++)
		if (!strcmp(templates->cache[i].path, path))
			tp = &templates->cache[i].t;
	free(path);
	if (!tp) {
		/* no valid set: read this one now, not kept */
		if (load(c, kind, lang, &t, NULL) < 0)
			return -1;
		tp = &t;
	}
	struct buf s, tx, h;
	buf_init(&s, 64 * 1024);
	buf_init(&tx, 4 * 1024 * 1024);
	buf_init(&h, 8 * 1024 * 1024);
	int rc = 0;
	if (expand(tp->subject, tp->subject_line, k, v, 0, &s, err, sizeof err) ||
	    expand(tp->text, tp->text_line, k, v, 0, &tx, err, sizeof err) ||
	    expand(tp->html, tp->html_line, k, v, 1, &h, err, sizeof err)) {
		log_err("stage=render kind=%s lang=%s error=\"%s\"", kind, lang, err);
		rc = -1;
	}
	if (tp == &t)
		tmpl_clear(&t);
	if (rc < 0) {
		buf_free(&s);
		buf_free(&tx);
		buf_free(&h);
		return -1;
	}
	out->subject = buf_steal(&s);
	out->text = buf_steal(&tx);
	out->html = buf_steal(&h);
	return 0;
}

void rendered_clear(struct rendered *r)
{
	free(r->subject);
	free(r->text);
	free(r->html);
	memset(r, 0, sizeof *r);
}
