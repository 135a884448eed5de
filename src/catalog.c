/*
 * catalog.c — the message catalogue: every user-facing sentence that is not a whole template,
 * looked up by name in mail-templates/LANG/strings (an override folder's LANG/strings redefines
 * names one by one). A language is any folder of either that holds a `strings` file.
 * File format, one entry per line: `name = text`; blank lines and lines starting with `#` are
 * skipped; a line starting with a space or a tab continues the previous text (joined by one
 * space); the text is trimmed, and `\n` (newline), `\s` (a space, to keep one at either end)
 * and `\\` are its only escapes. {{name}} is a placeholder filled by catalog_format from a
 * struct vars, never a printf format. Names: a-z, 0-9, `_` and `.`.
 * Checked whole at load (start-up, SIGHUP): every language defines the same names as the
 * board's language, with the same placeholders. The language's typography (catalog_typeset)
 * is applied here, at load, to every text except the `mailto.` ones (text the reader sends
 * back for the parser to read).
 */
#include "bidmail.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CATALOG_MAX_FILE (1024 * 1024)
#define CATALOG_MAX_ENTRIES 4096
#define CATALOG_MAX_LANGS 16
#define CATALOG_LANG_LEN 16

struct catalog_entry {
	char *name;
	char *text;
	char *file;	/* where it was defined, and its line, for the checks' messages */
	int line;
};

struct catalog_lang {
	char lang[CATALOG_LANG_LEN];
	char *file;	/* the file that names the language in messages */
	struct catalog_entry *e;
	size_t n;
};

struct catalog_set {
	struct catalog_lang langs[CATALOG_MAX_LANGS];
	size_t n;
	char board[CATALOG_LANG_LEN];	/* the board's language: the fallback */
};

/* The set in use: swapped by the main thread, read by every thread under lock (catalog_text
 * hands out pointers valid until the next swap, which only the main thread makes). */
static struct catalog_set *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
/* The folders of the last configuration read, for a program that looks a text up before
 * loading a catalogue (a sub-command that checks nothing at start): it is loaded then. */
static struct config noted;
static int noted_failed;

int catalog_language_name_ok(const char *lang)
{
	size_t n = lang ? strlen(lang) : 0;
	if (n < 2 || n >= CATALOG_LANG_LEN || lang[0] < 'a' || lang[0] > 'z')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((lang[i] >= 'a' && lang[i] <= 'z') || (lang[i] >= '0' && lang[i] <= '9') ||
		      lang[i] == '-' || lang[i] == '_'))
			return 0;
	return 1;
}

static int name_ok(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

static char *read_limited(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b;
	buf_init(&b, CATALOG_MAX_FILE);
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if ((rc = buf_append(&b, chunk, n)) < 0)
			break;
	fclose(f);
	if (rc < 0) {
		buf_free(&b);
		errno = EFBIG;
		return NULL;
	}
	char *s = buf_steal(&b);
	return s ? s : xstrdup("");
}

/* Typesets text for lang into b: French puts U+00A0 (no-break space) before ':' and inside
 * « », U+202F (narrow no-break space) before ; ! ?, in place of the plain space written in
 * the file; other languages are left as written. */
static void typeset(struct buf *b, const char *lang, const char *s)
{
	int fr = !strncmp(lang, "fr", 2) && (!lang[2] || lang[2] == '-' || lang[2] == '_');
	for (; *s; s++) {
		if (fr && *s == ' ' && s[1] && strchr(":;!?", s[1])) {
			buf_puts(b, s[1] == ':' ? "\u00a0" : "\u202f");
			continue;
		}
		if (fr && *s == ' ' && !strncmp(s + 1, "»", strlen("»"))) {
			buf_puts(b, "\u00a0");
			continue;
		}
		if (fr && !strncmp(s, "« ", strlen("« "))) {
			buf_puts(b, "«\u00a0");
			s += strlen("« ") - 1;
			continue;
		}
		buf_putc(b, *s);
	}
}

char *catalog_typeset(const char *lang, const char *text)
{
	struct buf b;
	buf_init(&b, 2 * strlen(text) + 16);
	typeset(&b, lang ? lang : "", text);
	char *s = buf_steal(&b);
	return s ? s : xstrdup("");
}

/* Decodes one text (escapes), appending to b; -1 on an unknown escape. */
static int unescape(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			buf_putc(b, s[i]);
			continue;
		}
		if (++i == n)
			return -1;
		if (s[i] == 'n')
			buf_putc(b, '\n');
		else if (s[i] == 's')
			buf_putc(b, ' ');
		else if (s[i] == '\\')
			buf_putc(b, '\\');
		else
			return -1;
	}
	return 0;
}

/* Checks the {{placeholders}} of text; 0, or -1 with a reason in err. */
static int placeholders_check(const char *text, char *err, size_t errlen)
{
	for (const char *p = strstr(text, "{{"); p; p = strstr(p, "{{")) {
		const char *end = strstr(p + 2, "}}");
		if (!end || !name_ok(p + 2, (size_t)(end - p - 2))) {
			snprintf(err, errlen, "bad placeholder at `%.20s` (want {{name}})", p);
			return -1;
		}
		p = end + 2;
	}
	return 0;
}

/* The sorted, distinct placeholders of text, as "{{a}} {{b}}" (caller frees). */
static char *placeholders_of(const char *text)
{
	char *names[64];
	size_t n = 0;
	for (const char *p = strstr(text, "{{"); p && n < 64; p = strstr(p, "{{")) {
		const char *end = strstr(p + 2, "}}");
		if (!end)
			break;
		char *nm = xstrndup(p, (size_t)(end + 2 - p));
		size_t i = 0;
		while (i < n && strcmp(names[i], nm) < 0)
			i++;
		if (i < n && !strcmp(names[i], nm)) {
			free(nm);
		} else {
			memmove(names + i + 1, names + i, (n - i) * sizeof names[0]);
			names[i] = nm;
			n++;
		}
		p = end + 2;
	}
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s%s", i ? " " : "", names[i]);
		free(names[i]);
	}
	char *s = buf_steal(&b);
	return s ? s : xstrdup("");
}

static struct catalog_entry *entry_find(const struct catalog_lang *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].name, name))
			return &l->e[i];
	return NULL;
}

/* Sets name in l from file:line (a later file redefines it; the same file twice is an error:
 * -1 with file:line on stderr). Takes text. */
static int entry_set(struct catalog_lang *l, const char *name, size_t nl, char *text,
		     const char *file, int line)
{
	char *nm = xstrndup(name, nl);
	struct catalog_entry *e = entry_find(l, nm);
	if (e && !strcmp(e->file, file)) {
		fprintf(stderr, "%s:%d: `%s` defined again (first at line %d)\n", file, line, nm,
			e->line);
		free(nm);
		free(text);
		return -1;
	}
	if (!e) {
		l->e = xrealloc(l->e, (l->n + 1) * sizeof l->e[0]);
		e = &l->e[l->n++];
		e->name = nm;
	} else {
		free(nm);
		free(e->text);
		free(e->file);
	}
	e->text = text;
	e->file = xstrdup(file);
	e->line = line;
	return 0;
}

/* Reads one strings file into l; 0, or -1 with file:line: reason on stderr. */
static int file_read(struct catalog_lang *l, const char *path)
{
	char *src = read_limited(path);
	if (!src) {
		fprintf(stderr, "%s: cannot read the catalogue: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = 0, line = 0, last_line = 0;
	struct buf text;
	buf_init(&text, CATALOG_MAX_FILE);
	const char *name = NULL;
	size_t nl = 0;
	char err[128];
	for (const char *p = src; *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		line++;
		int cont = ll && (p[0] == ' ' || p[0] == '\t');
		const char *s = p, *e = p + ll;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (cont && name && s < e) {
			buf_putc(&text, ' ');
			if (unescape(&text, s, (size_t)(e - s)) < 0) {
				fprintf(stderr, "%s:%d: unknown escape (\\n, \\s and \\\\ only)\n", path, line);
				rc = -1;
			}
		} else if (s < e && *s != '#') {
			if (name) {
				if (entry_set(l, name, nl, buf_steal(&text), path, last_line) < 0)
					rc = -1;
				buf_init(&text, CATALOG_MAX_FILE);
				name = NULL;
			}
			const char *eq = memchr(s, '=', (size_t)(e - s));
			const char *ne = eq;
			while (ne && ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			if (!eq || !name_ok(s, (size_t)(ne - s))) {
				fprintf(stderr, "%s:%d: expected `name = text` (a name of a-z, 0-9, _ "
					"and .)\n", path, line);
				rc = -1;
			} else if (l->n >= CATALOG_MAX_ENTRIES) {
				fprintf(stderr, "%s:%d: more than %d entries\n", path, line,
					CATALOG_MAX_ENTRIES);
				rc = -1;
				break;
			} else {
				const char *v = eq + 1;
				while (v < e && (*v == ' ' || *v == '\t'))
					v++;
				name = s;
				nl = (size_t)(ne - s);
				last_line = line;
				if (unescape(&text, v, (size_t)(e - v)) < 0) {
					fprintf(stderr, "%s:%d: unknown escape (\\n, \\s and \\\\ only)\n",
						path, line);
					rc = -1;
				}
			}
		} else if (s < e || !cont) {
			if (name) {
				if (entry_set(l, name, nl, buf_steal(&text), path, last_line) < 0)
					rc = -1;
				buf_init(&text, CATALOG_MAX_FILE);
				name = NULL;
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	if (name) {
		if (entry_set(l, name, nl, buf_steal(&text), path, last_line) < 0)
			rc = -1;
	} else {
		buf_free(&text);
	}
	for (size_t i = 0; rc == 0 && i < l->n; i++)
		if (!strcmp(l->e[i].file, path) && placeholders_check(l->e[i].text, err, sizeof err) < 0) {
			fprintf(stderr, "%s:%d: `%s`: %s\n", path, l->e[i].line, l->e[i].name, err);
			rc = -1;
		}
	free(src);
	return rc;
}

static char *strings_path(const char *dir, const char *lang)
{
	return xasprintf("%s/%s/strings", dir, lang);
}

static int has_strings(const char *dir, const char *lang)
{
	if (!dir || !*dir)
		return 0;
	char *p = strings_path(dir, lang);
	int ok = access(p, R_OK) == 0;
	free(p);
	return ok;
}

int catalog_language_exists(const struct config *c, const char *lang)
{
	return catalog_language_name_ok(lang) &&
	       (has_strings(c->templates, lang) || has_strings(c->template_override, lang));
}

/* Adds to names (sorted, distinct, at most max) the languages of folder dir. */
static size_t langs_scan(const char *dir, char names[][CATALOG_LANG_LEN], size_t n, size_t max)
{
	DIR *d = dir && *dir ? opendir(dir) : NULL;
	if (!d)
		return n;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < max) {
		if (!catalog_language_name_ok(de->d_name) || !has_strings(dir, de->d_name))
			continue;
		size_t i = 0;
		while (i < n && strcmp(names[i], de->d_name) < 0)
			i++;
		if (i < n && !strcmp(names[i], de->d_name))
			continue;
		memmove(names + i + 1, names + i, (n - i) * sizeof names[0]);
		memcpy(names[i], de->d_name, strlen(de->d_name) + 1);	/* checked: < LANG_LEN */
		n++;
	}
	closedir(d);
	return n;
}

static size_t langs_found(const struct config *c, char names[][CATALOG_LANG_LEN])
{
	size_t n = langs_scan(c->templates, names, 0, CATALOG_MAX_LANGS);
	return langs_scan(c->template_override, names, n, CATALOG_MAX_LANGS);
}

char *catalog_languages_found(const struct config *c, const char *first)
{
	char names[CATALOG_MAX_LANGS][CATALOG_LANG_LEN];
	size_t n = langs_found(c, names);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(names[i], first)) {
			char keep[CATALOG_LANG_LEN];
			memcpy(keep, names[i], sizeof keep);
			memmove(names + 1, names, i * sizeof names[0]);
			memcpy(names[0], keep, sizeof keep);
		}
	struct buf b;
	buf_init(&b, 1024);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	char *s = buf_steal(&b);
	return s ? s : xstrdup("none");
}

struct catalog_set *catalog_set_free(struct catalog_set *set)
{
	if (!set)
		return NULL;
	for (size_t i = 0; i < set->n; i++) {
		for (size_t k = 0; k < set->langs[i].n; k++) {
			free(set->langs[i].e[k].name);
			free(set->langs[i].e[k].text);
			free(set->langs[i].e[k].file);
		}
		free(set->langs[i].e);
		free(set->langs[i].file);
	}
	free(set);
	return NULL;
}

/* Compares language l with the reference ref: the same names, the same placeholders. */
static int lang_compare(const struct catalog_lang *l, const struct catalog_lang *ref)
{
	int rc = 0;
	for (size_t k = 0; k < ref->n; k++)
		if (!entry_find(l, ref->e[k].name)) {
			fprintf(stderr, "%s: missing `%s` (defined in %s:%d)\n", l->file,
				ref->e[k].name, ref->e[k].file, ref->e[k].line);
			rc = -1;
		}
	for (size_t k = 0; k < l->n; k++) {
		const struct catalog_entry *e = &l->e[k], *r = entry_find(ref, e->name);
		if (!r) {
			fprintf(stderr, "%s:%d: `%s` is not in %s\n", e->file, e->line, e->name,
				ref->file);
			rc = -1;
			continue;
		}
		char *a = placeholders_of(e->text), *b = placeholders_of(r->text);
		if (strcmp(a, b)) {
			fprintf(stderr, "%s:%d: `%s` uses placeholders \"%s\" but %s:%d uses \"%s\"\n",
				e->file, e->line, e->name, a, r->file, r->line, b);
			rc = -1;
		}
		free(a);
		free(b);
	}
	return rc;
}

struct catalog_set *catalog_set_load(const struct config *c)
{
	struct catalog_set *set = xcalloc(1, sizeof *set);
	char names[CATALOG_MAX_LANGS][CATALOG_LANG_LEN];
	size_t n = langs_found(c, names);
	int rc = 0;
	snprintf(set->board, sizeof set->board, "%s", c->language);
	for (size_t i = 0; i < n; i++) {
		struct catalog_lang *l = &set->langs[set->n++];
		snprintf(l->lang, sizeof l->lang, "%s", names[i]);
		if (has_strings(c->templates, l->lang)) {
			l->file = strings_path(c->templates, l->lang);
			if (file_read(l, l->file) < 0)
				rc = -1;
		}
		if (has_strings(c->template_override, l->lang)) {
			char *p = strings_path(c->template_override, l->lang);
			if (!l->file)
				l->file = xstrdup(p);
			if (file_read(l, p) < 0)
				rc = -1;
			free(p);
		}
	}
	const struct catalog_lang *ref = NULL;
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->langs[i].lang, set->board))
			ref = &set->langs[i];
	if (!ref) {
		fprintf(stderr, "%s/%s/strings: the board's language has no catalogue\n", c->templates,
			set->board);
		return catalog_set_free(set);
	}
	for (size_t i = 0; rc == 0 && i < set->n; i++)
		if (&set->langs[i] != ref && lang_compare(&set->langs[i], ref) < 0)
			rc = -1;
	if (rc < 0)
		return catalog_set_free(set);
	for (size_t i = 0; i < set->n; i++)
		for (size_t k = 0; k < set->langs[i].n; k++) {
			struct catalog_entry *e = &set->langs[i].e[k];
			if (!strncmp(e->name, "mailto.", 7))
				continue;
			char *t = catalog_typeset(set->langs[i].lang, e->text);
			free(e->text);
			e->text = t;
		}
	return set;
}

struct catalog_set *catalog_set_use(struct catalog_set *set)
{
	pthread_mutex_lock(&current_lock);
	struct catalog_set *old = current;
	current = set;
	pthread_mutex_unlock(&current_lock);
	return old;
}

size_t catalog_set_count(const struct catalog_set *set)
{
	return set ? set->n : 0;
}

const char *catalog_set_language(const struct catalog_set *set, size_t i)
{
	return set && i < set->n ? set->langs[i].lang : NULL;
}

void catalog_config_note(const struct config *c)
{
	pthread_mutex_lock(&current_lock);
	free(noted.templates);
	free(noted.template_override);
	free(noted.language);
	noted.templates = xstrdup(c->templates ? c->templates : "");
	noted.template_override = xstrdup(c->template_override ? c->template_override : "");
	noted.language = xstrdup(c->language ? c->language : "");
	noted_failed = 0;
	pthread_mutex_unlock(&current_lock);
}

/* The set in use, loaded from the noted configuration if there is none yet; under the lock. */
static struct catalog_set *current_locked(void)
{
	if (!current && noted.templates && !noted_failed) {
		current = catalog_set_load(&noted);
		noted_failed = !current;
	}
	return current;
}

static const struct catalog_lang *lang_find(const struct catalog_set *set, const char *lang)
{
	for (size_t i = 0; set && lang && i < set->n; i++)
		if (!strcmp(set->langs[i].lang, lang))
			return &set->langs[i];
	return NULL;
}

/* The text of name in lang (or the board's language), under the lock; never NULL. */
static const char *text_locked(const char *lang, const char *name)
{
	current_locked();
	const struct catalog_lang *l = lang_find(current, lang);
	const struct catalog_entry *e = l ? entry_find(l, name) : NULL;
	if (e)
		return e->text;
	const struct catalog_lang *b = current ? lang_find(current, current->board) : NULL;
	e = b ? entry_find(b, name) : NULL;
	if (!e || l)
		log_err("stage=catalog lang=%s name=%s error=\"%s\"", lang ? lang : "-", name,
			!current ? "no catalogue loaded" : e ? "missing in this language"
							     : "no such name");
	return e ? e->text : name;
}

int catalog_has(const char *lang, const char *name)
{
	pthread_mutex_lock(&current_lock);
	const struct catalog_lang *l = lang_find(current_locked(), lang);
	int has = l && entry_find(l, name) != NULL;
	pthread_mutex_unlock(&current_lock);
	return has;
}

int catalog_language_known(const char *lang)
{
	pthread_mutex_lock(&current_lock);
	int known = lang_find(current_locked(), lang) != NULL;
	pthread_mutex_unlock(&current_lock);
	return known;
}

const char *catalog_language_or(const char *lang, const char *fallback)
{
	return lang && catalog_language_known(lang) ? lang : fallback;
}

void catalog_languages_known(const char *first, struct strlist *out)
{
	pthread_mutex_lock(&current_lock);
	const struct catalog_set *set = current_locked();
	if (lang_find(set, first))
		strlist_add(out, first);
	for (size_t i = 0; set && i < set->n; i++)
		if (!first || strcmp(set->langs[i].lang, first))
			strlist_add(out, set->langs[i].lang);
	pthread_mutex_unlock(&current_lock);
}

const char *catalog_text(const char *lang, const char *name)
{
	pthread_mutex_lock(&current_lock);
	const char *t = text_locked(lang, name);
	pthread_mutex_unlock(&current_lock);
	return t;
}

static const char *var_find(const struct vars *v, const char *name, size_t n)
{
	for (; v; v = v->parent)
		for (int i = 0; i < v->n; i++)
			if (strlen(v->name[i]) == n && !strncmp(v->name[i], name, n))
				return v->value[i] ? v->value[i] : "";
	return NULL;
}

char *catalog_format(const char *lang, const char *name, const struct vars *v)
{
	struct buf b;
	buf_init(&b, 1024 * 1024);
	pthread_mutex_lock(&current_lock);
	const char *t = text_locked(lang, name);
	while (*t) {
		const char *p = strstr(t, "{{");
		const char *end = p ? strstr(p + 2, "}}") : NULL;
		if (!p || !end) {
			buf_puts(&b, t);
			break;
		}
		buf_append(&b, t, (size_t)(p - t));
		const char *val = var_find(v, p + 2, (size_t)(end - p - 2));
		if (!val)
			log_err("stage=catalog name=%s error=\"placeholder %.*s not set\"", name,
				(int)(end - p - 2), p + 2);
		buf_puts(&b, val ? val : "");
		t = end + 2;
	}
	pthread_mutex_unlock(&current_lock);
	char *s = buf_steal(&b);
	return s ? s : xstrdup("");
}
