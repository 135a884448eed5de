/*
 * render.c — mail templates: mail-templates/LANG/KIND.tmpl, overridable per file by the
 * operator's template_override folder. A file holds `subject:` then `--- text` and `--- html`
 * sections. Syntax: {{name}} inserts a variable (HTML-escaped in the html part, raw in text),
 * {{#if name}}...{{else}}...{{/if}} keeps a block when the variable is non-empty.
 * Every template is checked at start-up (render_check_all): unknown variable or bad syntax is
 * reported with file and line, never at send time.
 */
#include "bidmail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The variables each kind of mail provides: a template may use these and no others. */
static const struct tmpl_kind {
	const char *kind;
	const char *vars[16];
} kinds[] = {
	{ "post_ack", { "board", "project_id", "title", "poster_name", "post_address",
			"robot_address", "date", NULL } },
	{ "post_held", { "board", "project_id", "title", "poster_name", "post_address",
			 "robot_address", "date", NULL } },
	{ "post_rejected", { "board", "reason", "subject", "post_address", NULL } },
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

static const char *vars_get(const struct vars *v, const char *name, size_t n)
{
	for (int i = 0; i < v->n; i++)
		if (strlen(v->name[i]) == n && !strncmp(v->name[i], name, n))
			return v->value[i] ? v->value[i] : "";
	return NULL;
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

static void html_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
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

/*
 * Expands src. With v == NULL it only checks (variables against kind k); with v it renders.
 * Returns 0, or -1 with err set to "line N: reason" (line counted from first_line).
 */
static int expand(const char *src, int first_line, const struct tmpl_kind *k,
		  const struct vars *v, int escape, struct buf *out, char *err, size_t errlen)
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
			if (tl > 4 && !strncmp(tag, "#if ", 4)) {
				const char *name = tag + 4;
				size_t nl = tl - 4;
				if (!kind_has_var(k, name, nl)) {
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
				if (!tl || !kind_has_var(k, tag, tl)) {
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
						html_escape(out, val);
					else
						buf_puts(out, val);
				}
			}
			p = end + 2;
			continue;
		}
		if (*p == '\n')
			line++;
		if (v && active)
			buf_putc(out, *p);
		p++;
	}
	if (depth) {
		snprintf(err, errlen, "line %d: {{#if}} not closed", line);
		return -1;
	}
	return 0;
}

/* Templates are read once and kept: render_check_all (at start and on reload) empties
 * the cache, so a changed file is seen after SIGHUP, never behind the reader's back. */
struct cached {
	char *path;
	struct tmpl t;
};
static struct cached cache[2 * sizeof kinds / sizeof kinds[0]];
static size_t n_cached;

static void cache_clear(void)
{
	for (size_t i = 0; i < n_cached; i++) {
		free(cache[i].path);
		tmpl_clear(&cache[i].t);
	}
	n_cached = 0;
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
	rc = 0;
out:
	free(src);
	if (path_out && rc == 0)
		*path_out = path;
	else
		free(path);
	return rc;
}

int render_check_all(const struct config *c)
{
	static const char *const langs[] = { "fr", "en" };
	int rc = 0;
	cache_clear();
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		for (int l = 0; l < 2; l++) {
			struct tmpl t;
			char *path = NULL;
			char err[256];
			if (load(c, kinds[i].kind, langs[l], &t, &path) < 0) {
				rc = -1;
				continue;
			}
			if (expand(t.subject, t.subject_line, &kinds[i], NULL, 0, NULL, err, sizeof err) ||
			    expand(t.text, t.text_line, &kinds[i], NULL, 0, NULL, err, sizeof err) ||
			    expand(t.html, t.html_line, &kinds[i], NULL, 1, NULL, err, sizeof err)) {
				fprintf(stderr, "%s:%s\n", path, err + 5);
				rc = -1;
			}
			tmpl_clear(&t);
			free(path);
		}
	}
	return rc;
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
	if (strcmp(lang ? lang : "", "fr") && strcmp(lang ? lang : "", "en"))
		lang = c->language;
	char *path = template_path(c, lang, kind);
	const struct tmpl *tp = NULL;
	for (size_t i = 0; i < n_cached && !tp; i++)
		if (!strcmp(cache[i].path, path))
			tp = &cache[i].t;
	if (!tp) {
		if (load(c, kind, lang, &t, NULL) < 0) {
			free(path);
			return -1;
		}
		if (n_cached < sizeof cache / sizeof cache[0]) {
			cache[n_cached].path = path;
			cache[n_cached].t = t;
			tp = &cache[n_cached++].t;
			path = NULL;
		} else {
			tp = &t;
		}
	}
	free(path);
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
