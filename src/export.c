/*
 * export.c — the marketplace page: `bidmail export`, and the daemon when export_dir is set,
 * write the open projects as a static, self-contained site (index.html; p/ID.html, one page
 * per project with a mailto: link to its public bid address, which starts the subscribe-and-
 * bid flow of bid.c; tags/SKILL.html, one page per skill), an Atom feed (projects.atom) and a
 * JSON file (projects.json). Inline CSS, no script, no outside resource.
 * Never an email address or a phone number of a user: the poster is not exported, and an
 * address or a phone number written in a description or a title is masked (mask.c). Each file is written beside its name and renamed (a web server never
 * serves half a page); pages of projects no longer open, and of skills no longer used, go.
 * In: the projects (store.c). Out: files under the export folder.
 */
#include "bidmail.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct site {
	const struct config *c;
	const char *dir;
	const char *lang;	/* the board's language: the pages' words (catalogue's site.*) */
	struct project *p;	/* the open projects, newest first */
	int n;
	char **desc;		/* masked descriptions */
	char **url;		/* each project's page, absolute when public_url is set */
	char **bid;		/* each project's public bid address */
	struct strlist *skills;	/* each project's skills */
	struct strlist written;	/* relative paths written this run */
	time_t now;		/* when the pages are made: the days left are counted from it */
};

static const char *T(const struct site *w, const char *name)
{
	return catalog_text(w->lang, name);
}

/* A file name for a skill: a-z, 0-9 and '-' as they are, any other byte as _XX. */
static char *slug(const char *skill)
{
	struct buf b;
	buf_init(&b, strlen(skill) * 3 + 8);
	for (const unsigned char *q = (const unsigned char *)skill; *q; q++) {
		unsigned char ch = (unsigned char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')
			buf_putc(&b, (char)ch);
		else if (ch == ' ')
			buf_putc(&b, '-');
		else
			buf_printf(&b, "_%02X", ch);
	}
	return buf_steal(&b);
}

/* RFC 6068: a mailto: header value, percent-encoded (UTF-8 bytes included). */
static void mailto_value(struct buf *b, const char *v)
{
	for (const unsigned char *q = (const unsigned char *)v; *q; q++) {
		if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		    strchr("-._~", *q))
			buf_putc(b, (char)*q);
		else
			buf_printf(b, "%%%02X", *q);
	}
}

static void budget_text(const struct site *w, const struct project *p, struct buf *b)
{
	char *t = money_format_budget(p, w->lang, MONEY_SITE);
	buf_puts(b, t ? t : T(w, "site.budget_open"));
	free(t);
}

/* "15 avril 2026 (dans 19 jours)", counted when the page is made. */
static void deadline_text(const struct site *w, const struct project *p, struct buf *b)
{
	char day[11];
	char *t = date_project_deadline(p, day) ? date_text_left(w->lang, day, w->now) : NULL;
	buf_puts(b, t ? t : T(w, "site.deadline_none"));
	free(t);
}

/* When p became public: its publication, or its creation for rows that never said. */
static const char *published_of(const struct project *p)
{
	return p->published ? p->published : p->created ? p->created : "";
}

/* ---------------------------------------------------------------- files */

/* One level, not spool_mkdirs: the export folder's parent must exist, as it always had to. */
static int mkdirs(const char *dir, const char *sub)
{
	char *d = sub ? xasprintf("%s/%s", dir, sub) : xstrdup(dir);
	int rc = mkdir(d, 0755) < 0 && errno != EEXIST ? -1 : 0;
	if (rc < 0)
		log_err("stage=export error=\"cannot create %s: %s\"", d, strerror(errno));
	free(d);
	return rc;
}

/* Writes rel under the export folder: beside its name, then renamed. 0 or -1. */
static int put(struct site *w, const char *rel, struct buf *b)
{
	char *path = xasprintf("%s/%s", w->dir, rel);
	char *tmp = xasprintf("%s.tmp-%ld", path, (long)getpid());
	/* no fsync: the site is rebuilt from the database whenever it changes */
	int rc = spool_write_file(path, tmp, b->data ? b->data : "", b->len, 0666, 0);
	if (rc < 0)
		log_err("stage=export file=%s error=\"%s\"", path, strerror(errno));
	else
		strlist_add(&w->written, rel);
	free(tmp);
	free(path);
	return rc;
}

/* Removes the pages of sub/ that this run did not write (projects closed, skills gone). */
static void prune(struct site *w, const char *sub)
{
	char *d = xasprintf("%s/%s", w->dir, sub);
	DIR *dh = opendir(d);
	if (dh) {
		struct dirent *e;
		while ((e = readdir(dh)) != NULL) {
			size_t n = strlen(e->d_name);
			if (n < 6 || strcmp(e->d_name + n - 5, ".html"))
				continue;
			char *rel = xasprintf("%s/%s", sub, e->d_name);
			if (!strlist_contains(&w->written, rel)) {
				char *path = xasprintf("%s/%s", w->dir, rel);
				unlink(path);
				free(path);
			}
			free(rel);
		}
		closedir(dh);
	}
	free(d);
}

/* ---------------------------------------------------------------- HTML */

static const char CSS[] =
	"body{font-family:Arial,Helvetica,sans-serif;max-width:60em;margin:0 auto;padding:1em;"
	"line-height:1.45;color:#222;background:#fff}"
	"header{border-bottom:2px solid #2a5d9f;margin-bottom:1em}h1{color:#2a5d9f;margin:.3em 0}"
	"a{color:#2a5d9f}table{border-collapse:collapse;width:100%}"
	"th,td{text-align:left;padding:.45em .5em;border-bottom:1px solid #ddd;vertical-align:top}"
	"th{background:#f2f5fa}td.num{white-space:nowrap}.tag{display:inline-block;"
	"background:#eef2f8;border-radius:3px;padding:0 .4em;margin:0 .2em .2em 0;"
	"text-decoration:none;font-size:.9em}dl{display:grid;grid-template-columns:max-content 1fr;"
	"gap:.3em 1em}dt{font-weight:bold}dd{margin:0}.description{white-space:pre-wrap;"
	"background:#fafafa;border:1px solid #eee;padding:1em}.bid{display:inline-block;"
	"background:#2a5d9f;color:#fff;padding:.6em 1.2em;border-radius:4px;text-decoration:none;"
	"font-weight:bold}.full{color:#a33;font-weight:bold}footer{margin-top:2em;color:#666;"
	"font-size:.9em;border-top:1px solid #ddd}";

static void head(const struct site *w, struct buf *b, const char *title, const char *root)
{
	buf_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		      "<title>", w->lang);
	render_html_escape(b, title);
	buf_puts(b, " — ");
	render_html_escape(b, w->c->board_name);
	buf_printf(b, "</title>\n<link rel=\"alternate\" type=\"application/atom+xml\" "
		      "href=\"%sprojects.atom\" title=\"", root);
	render_html_escape(b, w->c->board_name);
	buf_printf(b, "\">\n<style>%s</style>\n</head>\n<body>\n<header><p><a href=\"%sindex.html\">",
		   CSS, root);
	render_html_escape(b, w->c->board_name);
	buf_puts(b, "</a></p><h1>");
	render_html_escape(b, title);
	buf_puts(b, "</h1></header>\n<main>\n");
}

static void foot(const struct site *w, struct buf *b, const char *root)
{
	buf_printf(b, "</main>\n<footer><p>%s <a href=\"%sprojects.atom\">Atom</a> · "
		      "<a href=\"%sprojects.json\">JSON</a></p></footer>\n</body>\n</html>\n",
		   T(w, "site.footer"), root, root);
}

static void skill_links(const struct site *w, struct buf *b, const struct strlist *skills,
			const char *root)
{
	(void)w;
	for (size_t k = 0; k < skills->n; k++) {
		char *sl = slug(skills->v[k]);
		buf_printf(b, "<a class=\"tag\" href=\"%stags/%s.html\">", root, sl);
		render_html_escape(b, skills->v[k]);
		buf_puts(b, "</a> ");
		free(sl);
	}
}

/* The table of the open projects (those with only_skill, when it is not NULL). */
static void projects_table(const struct site *w, struct buf *b, const char *root,
			   const char *only_skill)
{
	int shown = 0;
	for (int i = 0; i < w->n; i++)
		shown += !only_skill || strlist_contains(&w->skills[i], only_skill);
	if (!shown) {
		buf_printf(b, "<p>%s</p>\n", T(w, "site.none_open"));
		return;
	}
	buf_printf(b, "<p>%d %s</p>\n<table>\n<thead><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
		      "<th>%s</th><th>%s</th></tr></thead>\n<tbody>\n", shown,
		   shown == 1 ? T(w, "site.open_project")
			      : T(w, "site.open_projects"),
		   T(w, "site.project"), T(w, "site.budget"), T(w, "site.deadline"),
		   T(w, "site.skills"), T(w, "site.bids"),
		   T(w, "site.posted"));
	for (int i = 0; i < w->n; i++) {
		const struct project *p = &w->p[i];
		if (only_skill && !strlist_contains(&w->skills[i], only_skill))
			continue;
		buf_printf(b, "<tr><td><a href=\"%sp/%lld.html\">", root, (long long)p->id);
		render_html_escape(b, p->title);
		buf_puts(b, "</a></td><td class=\"num\">");
		struct buf t;
		buf_init(&t, 512);
		budget_text(w, p, &t);
		render_html_escape(b, t.data ? t.data : "");
		buf_free(&t);
		buf_puts(b, "</td><td class=\"num\">");
		buf_init(&t, 512);
		deadline_text(w, p, &t);
		render_html_escape(b, t.data ? t.data : "");
		buf_free(&t);
		buf_puts(b, "</td><td>");
		skill_links(w, b, &w->skills[i], root);
		buf_printf(b, "</td><td class=\"num\">%d / %d</td><td class=\"num\">%.10s</td></tr>\n",
			   p->bids, w->c->bid_cap, published_of(p));
	}
	buf_puts(b, "</tbody>\n</table>\n");
}

static int project_page(struct site *w, int i)
{
	const struct project *p = &w->p[i];
	struct buf b;
	buf_init(&b, 4u << 20);
	char title[64];
	snprintf(title, sizeof title, "%s %lld", T(w, "site.project_no"), (long long)p->id);
	head(w, &b, p->title && *p->title ? p->title : title, "../");
	buf_printf(&b, "<dl>\n<dt>%s</dt><dd>%lld</dd>\n<dt>%s</dt><dd>", T(w, "site.project_no"),
		   (long long)p->id, T(w, "site.budget"));
	struct buf t;
	buf_init(&t, 512);
	budget_text(w, p, &t);
	render_html_escape(&b, t.data ? t.data : "");
	buf_free(&t);
	buf_printf(&b, "</dd>\n<dt>%s</dt><dd>", T(w, "site.deadline"));
	buf_init(&t, 512);
	deadline_text(w, p, &t);
	render_html_escape(&b, t.data ? t.data : "");
	buf_free(&t);
	buf_printf(&b, "</dd>\n<dt>%s</dt><dd>", T(w, "site.skills"));
	if (w->skills[i].n)
		skill_links(w, &b, &w->skills[i], "../");
	else
		buf_puts(&b, T(w, "site.skills_none"));
	buf_printf(&b, "</dd>\n<dt>%s</dt><dd>", T(w, "site.location"));
	render_html_escape(&b, p->location && *p->location ? p->location
							  : T(w, "site.location_none"));
	int full = p->bids >= w->c->bid_cap;
	buf_printf(&b, "</dd>\n<dt>%s</dt><dd>%d / %d%s</dd>\n<dt>%s</dt><dd>%.10s</dd>\n</dl>\n",
		   T(w, "site.bids"), p->bids, w->c->bid_cap,
		   full ? T(w, "site.full") : "", T(w, "site.posted"), published_of(p));
	buf_printf(&b, "<h2>%s</h2>\n<div class=\"description\">", T(w, "site.description"));
	render_html_escape(&b, w->desc[i]);
	buf_puts(&b, "</div>\n");
	if (full) {
		buf_printf(&b, "<p class=\"full\">%s</p>\n",
			   T(w, "site.full_notice"));
	} else {
		/* the subscribe-and-bid flow: a mail to the public bid address (bid.c) */
		char *subject = xasprintf("%s %lld", T(w, "site.bid_subject"),
					  (long long)p->id);
		const char *body = T(w, "mailto.site_bid_body");
		struct buf href;
		buf_init(&href, 4096);
		buf_printf(&href, "mailto:%s?subject=", w->bid[i]);
		mailto_value(&href, subject);
		buf_puts(&href, "&body=");
		mailto_value(&href, body);
		buf_puts(&b, "<h2>");
		buf_puts(&b, T(w, "site.bid_heading"));
		buf_puts(&b, "</h2>\n<p><a class=\"bid\" href=\"");
		render_html_escape(&b, href.data);
		buf_printf(&b, "\">%s</a></p>\n<p>%s</p>\n",
			   T(w, "site.bid_link"),
			   T(w, "site.bid_help"));
		buf_free(&href);
		free(subject);
	}
	foot(w, &b, "../");
	char rel[64];
	snprintf(rel, sizeof rel, "p/%lld.html", (long long)p->id);
	int rc = put(w, rel, &b);
	buf_free(&b);
	return rc;
}

static int write_html(struct site *w)
{
	if (mkdirs(w->dir, "p") < 0 || mkdirs(w->dir, "tags") < 0)
		return -1;
	struct buf b;
	buf_init(&b, 64u << 20);
	head(w, &b, T(w, "site.index_title"), "");
	projects_table(w, &b, "", NULL);
	foot(w, &b, "");
	int rc = put(w, "index.html", &b);
	buf_free(&b);
	for (int i = 0; i < w->n && rc == 0; i++) {
		rc = project_page(w, i);
		progress("export", (size_t)i + 1, (size_t)w->n);
	}
	/* one page per skill in use */
	struct strlist all = { 0 };
	for (int i = 0; i < w->n; i++)
		for (size_t k = 0; k < w->skills[i].n; k++)
			if (!strlist_contains(&all, w->skills[i].v[k]))
				strlist_add(&all, w->skills[i].v[k]);
	for (size_t k = 0; k < all.n && rc == 0; k++) {
		buf_init(&b, 64u << 20);
		struct vars v = { 0 };
		vars_set(&v, "skill", all.v[k]);
		char *title = catalog_format(w->lang, "site.tag_title", &v);
		head(w, &b, title, "../");
		projects_table(w, &b, "../", all.v[k]);
		foot(w, &b, "../");
		char *sl = slug(all.v[k]);
		char *rel = xasprintf("tags/%s.html", sl);
		rc = put(w, rel, &b);
		free(rel);
		free(sl);
		free(title);
		buf_free(&b);
	}
	strlist_clear(&all);
	if (rc == 0) {
		prune(w, "p");
		prune(w, "tags");
	}
	return rc;
}

/* ---------------------------------------------------------------- Atom, JSON */

static int write_atom(struct site *w)
{
	const struct config *c = w->c;
	struct buf b;
	buf_init(&b, 64u << 20);
	const char *updated = w->n && w->p[0].updated ? w->p[0].updated : "2026-01-01T00:00:00Z";
	for (int i = 0; i < w->n; i++)
		if (w->p[i].updated && strcmp(w->p[i].updated, updated) > 0)
			updated = w->p[i].updated;
	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		       "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"%s\">\n<title>",
		   w->lang);
	render_html_escape(&b, c->board_name);
	buf_printf(&b, " — %s</title>\n<id>tag:", T(w, "site.open_projects"));
	render_html_escape(&b, c->domain);
	buf_printf(&b, ",2026:bidmail/projects</id>\n<updated>%s</updated>\n<author><name>", updated);
	render_html_escape(&b, c->board_name);
	buf_puts(&b, "</name></author>\n");
	if (*c->public_url) {
		buf_puts(&b, "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
		render_html_escape(&b, c->public_url);
		buf_puts(&b, "/projects.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
		render_html_escape(&b, c->public_url);
		buf_puts(&b, "/index.html\"/>\n");
	}
	for (int i = 0; i < w->n; i++) {
		const struct project *p = &w->p[i];
		buf_puts(&b, "<entry>\n<title>");
		render_html_escape(&b, p->title ? p->title : "");
		buf_puts(&b, "</title>\n<id>tag:");
		render_html_escape(&b, c->domain);
		buf_printf(&b, ",2026:bidmail/project/%lld</id>\n<updated>%s</updated>\n"
			       "<published>%s</published>\n<link rel=\"alternate\" type=\"text/html\" "
			       "href=\"", (long long)p->id, p->updated ? p->updated : updated,
			   *published_of(p) ? published_of(p) : updated);
		render_html_escape(&b, w->url[i]);
		buf_puts(&b, "\"/>\n");
		for (size_t k = 0; k < w->skills[i].n; k++) {
			buf_puts(&b, "<category term=\"");
			render_html_escape(&b, w->skills[i].v[k]);
			buf_puts(&b, "\"/>\n");
		}
		struct buf t;
		buf_init(&t, 1024);
		budget_text(w, p, &t);
		buf_printf(&t, " · %s ", T(w, "site.deadline_word"));
		deadline_text(w, p, &t);
		buf_printf(&t, " · %d / %d %s", p->bids, c->bid_cap, T(w, "site.bids_word"));
		buf_puts(&b, "<summary>");
		render_html_escape(&b, t.data);
		buf_free(&t);
		buf_puts(&b, "</summary>\n<content type=\"text\">");
		render_html_escape(&b, w->desc[i]);
		buf_puts(&b, "</content>\n</entry>\n");
	}
	buf_puts(&b, "</feed>\n");
	int rc = put(w, "projects.atom", &b);
	buf_free(&b);
	return rc;
}

static int write_json(struct site *w)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	if (!f)
		return -1;
	int rc = json_print_public_projects(f, w->c, w->p, w->n, (const char *const *)w->desc,
					    (const char *const *)w->url,
					    (const char *const *)w->bid, w->now);
	if (fclose(f) != 0 || rc < 0) {
		free(data);
		return -1;
	}
	struct buf b = { .data = data, .len = len, .cap = len + 1, .max = len + 1 };
	rc = put(w, "projects.json", &b);
	free(data);
	return rc;
}

/* ---------------------------------------------------------------- the run */

int export_run(const struct config *c, struct store *s, const char *dir, unsigned formats,
	       time_t now)
{
	struct project *all = NULL;
	int total = store_project_select(s, PROJECT_OPEN, NULL, 1, &all);
	if (total < 0)
		return -1;
	if (mkdirs(dir, NULL) < 0) {
		for (int i = 0; i < total; i++)
			project_clear(&all[i]);
		free(all);
		return -1;
	}
	struct site w = { .c = c, .dir = dir, .lang = c->language, .now = now };
	w.p = xcalloc((size_t)total + 1, sizeof *w.p);
	/* open projects, newest first */
	for (int i = total - 1; i >= 0; i--) {
		if (all[i].status == PROJECT_OPEN)
			w.p[w.n++] = all[i];
		else
			project_clear(&all[i]);
	}
	free(all);
	w.desc = xcalloc((size_t)w.n + 1, sizeof *w.desc);
	w.url = xcalloc((size_t)w.n + 1, sizeof *w.url);
	w.bid = xcalloc((size_t)w.n + 1, sizeof *w.bid);
	w.skills = xcalloc((size_t)w.n + 1, sizeof *w.skills);
	const char *mark = T(&w, "site.address_hidden"), *phone = T(&w, "mask.phone_hidden");
	for (int i = 0; i < w.n; i++) {
		w.desc[i] = mask_contacts(w.p[i].description ? w.p[i].description : "", mark, phone);
		char *title = mask_contacts(w.p[i].title ? w.p[i].title : "", mark, phone);
		free(w.p[i].title);
		w.p[i].title = title;
		if (w.p[i].location)	/* rows stored before controls were removed at decoding */
			charset_strip_controls(w.p[i].location, 0);
		if (w.p[i].skills_json)
			charset_strip_controls(w.p[i].skills_json, 0);
		if (*c->public_url)
			w.url[i] = xasprintf("%s/p/%lld.html", c->public_url, (long long)w.p[i].id);
		else
			w.url[i] = xasprintf("p/%lld.html", (long long)w.p[i].id);
		w.bid[i] = bid_public_address(c, w.p[i].id);
		json_string_list(w.p[i].skills_json, &w.skills[i]);
	}
	int rc = 0;
	if (formats & EXPORT_HTML)
		rc = write_html(&w);
	if (rc == 0 && (formats & EXPORT_ATOM))
		rc = write_atom(&w);
	if (rc == 0 && (formats & EXPORT_JSON))
		rc = write_json(&w);
	if (formats & EXPORT_HTML)
		progress_end("export: %d open project%s, %zu files in %s", w.n, w.n == 1 ? "" : "s",
			     w.written.n, dir);
	log_info("stage=export dir=%s projects=%d files=%zu result=%s", dir, w.n, w.written.n,
		 rc == 0 ? "written" : "failed");
	for (int i = 0; i < w.n; i++) {
		project_clear(&w.p[i]);
		free(w.desc[i]);
		free(w.url[i]);
		free(w.bid[i]);
		strlist_clear(&w.skills[i]);
	}
	int n = w.n;
	free(w.p);
	free(w.desc);
	free(w.url);
	free(w.bid);
	free(w.skills);
	strlist_clear(&w.written);
	return rc < 0 ? -1 : n;
}
