/*
 * robot.c — the mail command robot: subscribe (double opt-in), unsubscribe, skills/exclude
 * patterns, budget, languages, frequency, digest day, remote-only, pause/resume, profile, test,
 * help — one command a line of the new text (or the subject), answered in the subscriber's
 * language (any the catalogue has) with the catalogue's robot.* texts.
 * The commands are one table, command_table[]: each command's names, its flags (does it change
 * the profile, does it end the commands) and the one function that runs it.
 * Authority comes from signed reply addresses (robot+s-ID: this subscriber; robot+c-ID: this
 * confirmation; robot+u-ID: unsubscribe at once). A mail to the plain robot address proves
 * nothing: anything beyond reading one's own profile is answered with a confirmation request to
 * that address (at most one a day), so nobody changes another person's profile by forging a From.
 * robot+d-ID (a selection's Reply-To) is the same as robot+s-ID, except that a reply naming a
 * project (#1042) is a bid on it, handed to bid.c; a priced reply without commands is a bid on
 * the only project the selection listed (store.c's selections) or the one its text names, else
 * held while the subscriber is asked which (action bid-which); neither price nor command is
 * answered with what to send.
 * In: a parsed command mail. Out: database changes and exactly one reply (transcript, welcome,
 * confirmation request or refusal), or none when the rate limit says so.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMMANDS 50
#define MAX_PATTERNS 10		/* per kind and profile */
#define CONFIRM_TTL (7 * 86400L)

enum cmd { C_NONE, C_SUBSCRIBE, C_UNSUBSCRIBE, C_SKILLS, C_EXCLUDE, C_CLEAR, C_BUDGET,
	   C_LANGUAGE, C_LANGUAGES, C_FREQUENCY, C_DAY, C_REMOTE, C_PAUSE, C_RESUME, C_PROFILE,
	   C_TEST, C_HELP, C_STOP, C_GREETING, C_COUNT };

struct command {
	enum cmd id;
	char *line;	/* as written */
	char *args;	/* after the command word, trimmed */
	char spelling;	/* the language of its word: 'e' English, 'f' French, '-' both */
};

struct commands {
	struct command v[MAX_COMMANDS];
	int n;
	int dropped;	/* lines beyond MAX_COMMANDS */
};

static void commands_clear(struct commands *cs)
{
	for (int i = 0; i < cs->n; i++) {
		free(cs->v[i].line);
		free(cs->v[i].args);
	}
	cs->n = 0;
}

/* ---------------------------------------------------------------- one command */

struct robot {
	const struct config *c;
	struct store *s;
	const struct message *m;
	struct subscriber sub;
	int have_sub;
	const char *lang;
	struct vars items[MAX_COMMANDS + 2];
	char *texts[2 * (MAX_COMMANDS + 2)];
	int nitems, ntexts;
	char lang_buf[16];		/* the language a `language` command set */
	int want_help;			/* the list of commands */
	int all_sections;		/* every section of the help */
	struct strlist topics;		/* else the sections a question is about */
	int question;			/* the mail held no command: read as a question */
	const char *detected;		/* the language this mail is written in, or NULL */
	int chose_language;		/* a `language` command of this mail was accepted */
	int want_profile;
	int unsubscribed;
	enum sub_state stored;		/* the status before this mail's commands */
	/* matching work of this mail: measured from its first pattern or test */
	int64_t cpu_start;
	int tested;			/* `test` runs once a mail */
	struct strlist sample;		/* the board's newest projects, for the cost probe */
	int have_sample;
	char *note;			/* a paragraph before the help sections, or NULL */
};

#define RESULT_MAX 1023	/* bytes of one transcript result: longer ones are cut */

/* The catalogue's text `name` in the robot's language, its placeholders filled from the
 * NULL-terminated list of name, value pairs that follows (caller frees). */
static char *say(const struct robot *r, const char *name, ...)
{
	struct vars v = { 0 };
	va_list ap;
	va_start(ap, name);
	for (const char *k; (k = va_arg(ap, const char *)) != NULL;)
		vars_set(&v, k, va_arg(ap, const char *));
	va_end(ap);
	return catalog_format(r->lang, name, &v);
}

/* Adds the transcript line of `line`: its result text, which it takes (cut at RESULT_MAX). */
static void result_take(struct robot *r, const char *line, char *text)
{
	if (r->nitems >= MAX_COMMANDS + 2) {
		free(text);
		return;
	}
	if (strlen(text) > RESULT_MAX)
		text[RESULT_MAX] = '\0';
	char *l = xstrdup(line);
	r->texts[r->ntexts++] = l;
	r->texts[r->ntexts++] = text;
	memset(&r->items[r->nitems], 0, sizeof r->items[0]);
	vars_set(&r->items[r->nitems], "command", l);
	vars_set(&r->items[r->nitems], "result", text);
	r->nitems++;
}

/* Adds the transcript line of `line`: the catalogue's text `name`, without placeholders. */
static void result(struct robot *r, const char *line, const char *name)
{
	result_take(r, line, catalog_format(r->lang, name, NULL));
}

static int weekday_of(const char *w)
{
	static const char *const days[][2] = {
		{ "dimanche", "sunday" }, { "lundi", "monday" }, { "mardi", "tuesday" },
		{ "mercredi", "wednesday" }, { "jeudi", "thursday" }, { "vendredi", "friday" },
		{ "samedi", "saturday" } };
	char *l = money_lower(w);
	int d = -1;
	for (int i = 0; i < 7; i++)
		if (!strcmp(l, days[i][0]) || !strcmp(l, days[i][1]))
			d = i;
	free(l);
	return d;
}

/* CPU (ns) this mail may still spend matching, out of match_budget_mail_ms. */
static int64_t mail_left(struct robot *r)
{
	int64_t now = clock_cpu_ns();
	if (!r->cpu_start)
		r->cpu_start = now;
	return (int64_t)r->c->match_budget_mail_ms * 1000000 - (now - r->cpu_start);
}

/* The projects `test` may show: open or awarded, published since `since`, by id, with their
 * texts, into a new array (not the unconfirmed, held or old ones: they can be many and large).
 * The count or -1. */
static int test_projects(struct store *s, const char *since, struct project **out)
{
	return store_project_open_awarded(s, since, since, 1, out);
}

/* What `test` found: the transcript's list, and how far it got within the mail's budget. */
struct test_scan {
	struct buf out;	/* "#12 title (pattern `p`) ; ..." */
	int found, seen, total, stopped;
	int64_t spent_ns;	/* matching CPU of the scan */
};

/* Matches the profile against the projects published since `since` (newest first, 20 found at
 * most) within `left` ns of CPU, into t. */
static void test_scan_projects(struct robot *r, struct project *p, int np, const char *since,
			       int64_t left, struct test_scan *t)
{
	struct subscriber *sub = &r->sub;
	struct matcher *m = matcher_new();
	int group = matcher_group_new(m, left);
	int *sk = xcalloc(sub->skills.n + 1, sizeof *sk), *ex = xcalloc(sub->excludes.n + 1, sizeof *ex);
	profile_add(m, group, sub, sk, ex);
	int n = matcher_count(m);
	int *hits = xcalloc((size_t)n + 1, sizeof *hits), *lim = xcalloc((size_t)n + 1, sizeof *lim);
	unsigned char *hit = xcalloc((size_t)n + 1, 1);
	for (int j = np - 1; j >= 0; j--)
		t->total += strcmp(p[j].created, since) >= 0 && (p[j].status == PROJECT_OPEN ||
								 p[j].status == PROJECT_AWARDED);
	for (int j = np - 1; j >= 0 && t->found < 20; j--) {
		if (strcmp(p[j].created, since) < 0 || (p[j].status != PROJECT_OPEN &&
							 p[j].status != PROJECT_AWARDED))
			continue;
		if (matcher_group_exhausted(m, group) || mail_left(r) <= 0) {
			t->stopped = 1;
			break;
		}
		t->seen++;
		char *text = profile_project_text(&p[j]);
		int nl = 0, nh = n ? matcher_run(m, text, strlen(text), hits, n, lim, &nl) : 0;
		for (int h = 0; h < nh; h++)
			hit[hits[h]] = 1;
		const char *by = profile_matches(sub, &p[j], hit, sk, ex);
		for (int h = 0; h < nh; h++)
			hit[hits[h]] = 0;
		if (by) {
			char id[24];
			snprintf(id, sizeof id, "%lld", (long long)p[j].id);
			char *found = match_found_joined(by, text);
			char *item = say(r, "robot.test_match", "id", id, "title", p[j].title,
					 "pattern", found, NULL);
			free(found);
			buf_printf(&t->out, "%s%s", t->found ? " ; " : "", item);
			free(item);
			t->found++;
		}
		free(text);
	}
	t->spent_ns = matcher_group_spent(m, group);
	free(hits);
	free(lim);
	free(hit);
	free(sk);
	free(ex);
	matcher_free(m);
}

/* The transcript line of `test`: the projects found, or none, and where it stopped. */
static void test_result(struct robot *r, const char *line, const struct test_scan *t)
{
	/* said before the list, which the transcript line may cut */
	char seen[16], total[16], ms[16], found[16];
	snprintf(seen, sizeof seen, "%d", t->seen);
	snprintf(total, sizeof total, "%d", t->total);
	snprintf(ms, sizeof ms, "%d", r->c->match_budget_mail_ms);
	snprintf(found, sizeof found, "%d", t->found);
	char *stop = t->stopped ? say(r, "robot.test_stopped", "seen", seen, "total", total, "ms",
				      ms, NULL) : xstrdup("");
	if (t->found)
		result_take(r, line, say(r, "robot.test_found", "n", found, "stop", stop, "list",
					 t->out.data ? t->out.data : "", NULL));
	else
		result_take(r, line, say(r, "robot.test_none", "stop", stop, NULL));
	free(stop);
}

/* `test`: which of the last four weeks' projects the profile would have matched, and by which
 * pattern (excludes, budget, languages and remote-only applied), within the mail's budget. */
static void run_test(struct robot *r, const char *line)
{
	struct project *p;
	int64_t left = mail_left(r);
	if (left <= 0) {
		char ms[16];
		snprintf(ms, sizeof ms, "%d", r->c->match_budget_mail_ms);
		result_take(r, line, say(r, "robot.test_no_time", "ms", ms, NULL));
		return;
	}
	char since[32];
	clock_format_iso(clock_now() - 28 * 86400L, since);
	int np = test_projects(r->s, since, &p);
	if (np < 0) {
		result(r, line, "robot.internal_error");
		return;
	}
	struct test_scan t = { 0 };
	buf_init(&t.out, 16 * 1024);
	test_scan_projects(r, p, np, since, left, &t);
	test_result(r, line, &t);
	log_info("stage=robot subscriber=%lld test_projects=%d/%d cpu_ms=%lld%s", (long long)r->sub.id,
		 t.seen, t.total, (long long)(t.spent_ns / 1000000), t.stopped ? " result=over-budget" : "");
	buf_free(&t.out);
	for (int j = 0; j < np; j++)
		project_clear(&p[j]);
	free(p);
}

/* The cost probe of a new regex pattern, on a built-in sample and the board's 20 newest open
 * projects: 1 when it is refused (the reason is in the transcript), 0 when it may be added. */
static int probe_refuses(struct robot *r, const char *line, const char *pattern, const char *kind)
{
	const struct config *c = r->c;
	int64_t left = mail_left(r);
	if (!r->have_sample) {
		r->have_sample = 1;
		if (store_project_sample(r->s, 20, &r->sample) < 0)
			strlist_clear(&r->sample);	/* the built-in sample alone */
	}
	int64_t spent = 0;
	int rc = left <= 0 ? PROBE_BUDGET
		 : match_probe(pattern, &r->sample, (int64_t)c->match_probe_us * 1000, left, &spent);
	if (rc != PROBE_OK)
		log_info("stage=robot subscriber=%lld result=pattern-refused probe=%s cpu_us=%lld",
			 (long long)r->sub.id, rc == PROBE_LIMIT ? "limit" : rc == PROBE_SLOW ? "slow"
			 : "mail-budget", (long long)(spent / 1000));
	char us[16], ms[16];
	snprintf(us, sizeof us, "%d", c->match_probe_us);
	snprintf(ms, sizeof ms, "%d", c->match_budget_mail_ms);
	if (rc == PROBE_LIMIT)
		result_take(r, line, say(r, "robot.pattern_limit", "kind", kind, NULL));
	else if (rc == PROBE_SLOW)
		result_take(r, line, say(r, "robot.pattern_slow", "us", us, "kind", kind, NULL));
	else if (rc == PROBE_BUDGET)
		result_take(r, line, say(r, "robot.pattern_no_time", "ms", ms, NULL));
	return rc != PROBE_OK;
}

/* ---------------------------------------------------------------- the commands */

/* Each command function writes at most one transcript line and edits r->sub, which run_all
 * saves; the pattern commands also write their patterns. */

/* "Bonjour," or "merci" is not a command: nothing to say. */
static void command_silent(struct robot *r, const struct command *cmd)
{
	(void)r;
	(void)cmd;
}

static void command_unknown(struct robot *r, const struct command *cmd)
{
	result(r, cmd->line, "robot.unknown");
}

/* `help` alone: every section and the commands; `help bid` (any words): the sections they
 * name, else all of them. */
static void command_help(struct robot *r, const struct command *cmd)
{
	if (*cmd->args)
		extract_help_topics(cmd->args, &r->topics);
	r->all_sections = !*cmd->args || !r->topics.n;
	r->want_help = r->all_sections;
	result(r, cmd->line, "robot.help");
}

static void command_profile(struct robot *r, const struct command *cmd)
{
	r->want_profile = 1;
	result(r, cmd->line, "robot.profile");
}

/* `subscribe [NAME]`: the name, when given, replaces the one known. */
static void command_subscribe(struct robot *r, const struct command *cmd)
{
	if (*cmd->args) {
		free(r->sub.name);
		r->sub.name = xstrdup(cmd->args);
	}
	result(r, cmd->line, "robot.subscribed");
}

static void command_unsubscribe(struct robot *r, const struct command *cmd)
{
	r->sub.status = SUB_UNSUBSCRIBED;
	r->unsubscribed = 1;
	result(r, cmd->line, "robot.unsubscribed");
}

/* A term of a word list as the reply shows it: a phrase in the language's quotes. */
static void term_said(const struct robot *r, struct buf *b, const char *term)
{
	if (strchr(term, ' ')) {
		char *q = say(r, "robot.term_phrase", "term", term, NULL);
		buf_puts(b, q);
		free(q);
	} else {
		buf_puts(b, term);
	}
}

/* What pattern source of kind (skills or exclude) will match, in words — never the regex it
 * becomes — with, for a list of several words, the forms for all of them and for a phrase
 * (caller frees). */
static char *pattern_said(const struct robot *r, const char *source, const char *kind)
{
	struct strlist terms = { 0 };
	enum match_form form = match_terms(source, &terms);
	struct buf list, words;
	buf_init(&list, 8192);
	buf_init(&words, 8192);
	int phrases = 0;
	for (size_t i = 0; i < terms.n; i++) {
		buf_puts(&list, i ? ", " : "");
		term_said(r, &list, terms.v[i]);
		buf_printf(&words, "%s%s", i ? " " : "", terms.v[i]);
		phrases += strchr(terms.v[i], ' ') != NULL;
	}
	int ex = !strcmp(kind, "exclude");
	const char *name = form == MATCH_REGEX ? (ex ? "robot.exclude_regex" : "robot.pattern_regex")
			   : form == MATCH_ALL ? (ex ? "robot.exclude_all" : "robot.pattern_all")
			   : terms.n == 1 ? (ex ? "robot.exclude_one" : "robot.pattern_one")
			   : ex ? "robot.exclude_any" : "robot.pattern_any";
	char *said = say(r, name, "terms", list.data ? list.data : "", "pattern", source, NULL);
	if (form == MATCH_ANY && terms.n >= 2 && !phrases) {
		char *pair = xasprintf("%s %s", terms.v[0], terms.v[1]);
		char *forms = say(r, "robot.pattern_forms", "kind", kind, "words", words.data,
				  "phrase", pair, NULL);
		char *both = xasprintf("%s%s", said, forms);
		free(said);
		free(forms);
		free(pair);
		said = both;
	}
	buf_free(&list);
	buf_free(&words);
	strlist_clear(&terms);
	return said;
}

/* Why pattern a was refused, in the robot's language: the catalogue's sentence for the
 * common PCRE2 errors, a generic one with the position for the others (caller frees). */
static char *pattern_refusal(const struct robot *r, const char *a, const struct match_error *e)
{
	const char *topic = match_error_topic(e);
	char name[96], pos[24], length[24], max[24];
	snprintf(name, sizeof name, "robot.pattern_err_%s", topic ? topic : "other");
	if (!catalog_has(r->lang, name))
		snprintf(name, sizeof name, "robot.pattern_err_other");
	size_t off = e->offset < strlen(a) ? e->offset : strlen(a);
	while (off > 0 && ((unsigned char)a[off] & 0xC0) == 0x80)
		off--;
	size_t chars = 0;
	for (size_t i = 0; i < off; i++)
		chars += ((unsigned char)a[i] & 0xC0) != 0x80;
	snprintf(pos, sizeof pos, "%zu", chars + 1);
	snprintf(length, sizeof length, "%zu", e->length);
	snprintf(max, sizeof max, "%zu", e->max);
	char *before = xstrndup(a, off);
	char *where = off ? say(r, "robot.pattern_where_after", "before", before, NULL)
		      : say(r, "robot.pattern_where_start", NULL);
	char *text = say(r, name, "pos", pos, "where", where, "length", length, "max", max, NULL);
	free(where);
	free(before);
	return text;
}

/* A word list without the words that only join its words ("react et typescript", "Vue.js /
 * Nuxt": "react, typescript", "Vue.js, Nuxt"; intents.txt's connectors, lone punctuation);
 * any other pattern as it is (caller frees). */
static char *word_list_cleaned(const char *a)
{
	struct strlist terms = { 0 };
	if (match_terms(a, &terms) != MATCH_ANY) {
		strlist_clear(&terms);
		return xstrdup(a);
	}
	struct buf b;
	buf_init(&b, 8192);
	int dropped = 0, kept = 0;
	for (size_t i = 0; i < terms.n; i++) {
		const char *t = terms.v[i];
		int letters = 0;
		for (const char *p = t; *p; p++)
			letters |= isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80;
		if (!letters || (!strchr(t, ' ') && extract_intent_connector(t))) {
			dropped++;
			continue;
		}
		buf_printf(&b, strchr(t, ' ') ? "%s\"%s\"" : "%s%s", kept++ ? ", " : "", t);
	}
	strlist_clear(&terms);
	char *out = buf_steal(&b);
	if (!dropped || !kept || !out) {
		free(out);
		return xstrdup(a);
	}
	return out;
}

/* `skills P` / `exclude P`: a pattern of that kind, checked, probed for its cost and stored;
 * the reply says in words what it will match. */
static void pattern_add(struct robot *r, const struct command *cmd, const char *kind,
			struct strlist *l)
{
	char norm[4096];
	struct match_error e;
	if (!*cmd->args) {
		result(r, cmd->line, "robot.pattern_missing");
		return;
	}
	char *a = word_list_cleaned(cmd->args);
	if (l->n >= MAX_PATTERNS) {
		char max[16];
		snprintf(max, sizeof max, "%d", MAX_PATTERNS);
		result_take(r, cmd->line, say(r, "robot.pattern_too_many", "max", max, "kind", kind,
					      NULL));
		free(a);
		return;
	}
	if (match_check(a, norm, sizeof norm, &e) < 0) {
		char *why = pattern_refusal(r, a, &e);
		result_take(r, cmd->line, say(r, "robot.pattern_bad", "error", why, "kind", kind,
					      NULL));
		free(why);
		free(a);
		return;
	}
	if (probe_refuses(r, cmd->line, a, kind)) {
		free(a);
		return;
	}
	if (store_pattern_add(r->s, r->sub.id, kind, a, clock_now()) < 0) {
		result(r, cmd->line, "robot.internal_error");
		free(a);
		return;
	}
	strlist_add(l, a);
	result_take(r, cmd->line, pattern_said(r, a, kind));
	free(a);
}

static void command_skills(struct robot *r, const struct command *cmd)
{
	pattern_add(r, cmd, "skills", &r->sub.skills);
}

static void command_exclude(struct robot *r, const struct command *cmd)
{
	pattern_add(r, cmd, "exclude", &r->sub.excludes);
}

/* `clear skills` / `clear exclude` (any word containing skill, comp or excl). */
static void command_clear(struct robot *r, const struct command *cmd)
{
	char *w = money_lower(cmd->args);
	const char *kind = strstr(w, "excl") ? "exclude" : (strstr(w, "skill") || strstr(w, "comp"))
			   ? "skills" : NULL;
	free(w);
	if (!kind) {
		result(r, cmd->line, "robot.clear_which");
		return;
	}
	store_patterns_clear(r->s, r->sub.id, kind);
	strlist_clear(!strcmp(kind, "skills") ? &r->sub.skills : &r->sub.excludes);
	result(r, cmd->line, "robot.cleared");
}

/* `budget-min 500 [CUR]`: a three-letter word after the amount is its currency, else EUR. */
static void command_budget(struct robot *r, const struct command *cmd)
{
	const char *a = cmd->args;
	char *end;
	double v = strtod(a, &end);
	if (end == a || v < 0 || v > 1e9) {
		result(r, cmd->line, "robot.budget_bad");
		return;
	}
	while (*end == ' ')
		end++;
	r->sub.budget_min = v;
	free(r->sub.budget_currency);
	char cur[4] = "EUR";
	if (strlen(end) == 3)
		for (int i = 0; i < 3; i++)
			cur[i] = (char)toupper((unsigned char)end[i]);
	r->sub.budget_currency = xstrdup(cur);
	char amount[32];
	snprintf(amount, sizeof amount, "%.0f", v);
	result_take(r, cmd->line, say(r, "robot.budget_set", "amount", amount, "currency", cur,
				      NULL));
}

/* The catalogue's language that word names, into out (size outlen): a language code the
 * catalogue has (xx), or, for fr and en, a word starting with fr or en/an (français, English,
 * anglais). 0, or -1 when it names none. */
static int language_word(const char *word, char *out, size_t outlen)
{
	char *l = money_lower(word);
	size_t n = strcspn(l, " \t,;");
	l[n] = '\0';
	const char *v = catalog_language_name_ok(l) && catalog_language_known(l) ? l
			: !strncmp(l, "fr", 2) ? "fr" : !strncmp(l, "en", 2) || !strncmp(l, "an", 2)
			? "en" : NULL;
	int rc = v && catalog_language_known(v) && strlen(v) < outlen ? 0 : -1;
	if (rc == 0)
		memcpy(out, v, strlen(v) + 1);
	free(l);
	return rc;
}

/* The catalogue's languages for a refusal: the default first, joined by ", ", the last two
 * by the language's "or" (robot.list_or) when or_last is set (caller frees). */
static char *languages_list(const struct robot *r, int or_last)
{
	struct strlist langs = { 0 };
	catalog_languages_known(LANGUAGE_DEFAULT, &langs);
	struct buf b;
	buf_init(&b, 4096);
	size_t head = or_last && langs.n > 1 ? langs.n - 1 : langs.n;
	for (size_t i = 0; i < head; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", langs.v[i]);
	char *list = buf_steal(&b);
	if (!list)
		list = xstrdup("");
	if (head < langs.n) {
		char *joined = say(r, "robot.list_or", "list", list, "last", langs.v[head], NULL);
		free(list);
		list = joined;
	}
	strlist_clear(&langs);
	return list;
}

static void command_language(struct robot *r, const struct command *cmd)
{
	char v[16];
	if (language_word(cmd->args, v, sizeof v) < 0) {
		char *langs = languages_list(r, 1);
		result_take(r, cmd->line, say(r, "robot.language_bad", "languages", langs, NULL));
		free(langs);
		return;
	}
	free(r->sub.language);
	r->sub.language = xstrdup(v);
	r->chose_language = 1;
	char *name = catalog_format(v, "robot.language_name", NULL);
	result_take(r, cmd->line, say(r, "robot.language_set", "language", name, NULL));
	free(name);
}

/* `languages fr en`: the languages of the projects selected (fr and en first, as they were
 * before the catalogue; any other in the order written). */
static void command_languages(struct robot *r, const struct command *cmd)
{
	struct strlist got = { 0 };
	char *l = money_lower(cmd->args);
	if (strstr(l, "fr") && catalog_language_known("fr"))
		strlist_add(&got, "fr");
	if ((strstr(l, "en") || strstr(l, "an")) && catalog_language_known("en"))
		strlist_add(&got, "en");
	char *save = NULL;
	for (char *w = strtok_r(l, " \t,;", &save); w; w = strtok_r(NULL, " \t,;", &save))
		if (catalog_language_name_ok(w) && catalog_language_known(w) &&
		    !strlist_contains(&got, w))
			strlist_add(&got, w);
	free(l);
	if (!got.n) {
		char *langs = languages_list(r, 0);
		result_take(r, cmd->line, say(r, "robot.languages_bad", "languages", langs, NULL));
		free(langs);
		return;
	}
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < got.n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", got.v[i]);
	strlist_clear(&got);
	free(r->sub.languages);
	r->sub.languages = buf_steal(&b);
	result_take(r, cmd->line, say(r, "robot.languages_set", "languages", r->sub.languages,
				      NULL));
}

static void command_frequency(struct robot *r, const struct command *cmd)
{
	char *l = money_lower(cmd->args);
	const char *v = strstr(l, "week") || strstr(l, "hebdo") ? "weekly"
			: strstr(l, "dai") || strstr(l, "quotid") || strstr(l, "jour") ? "daily"
			: strstr(l, "inst") || strstr(l, "imm") ? "instant" : NULL;
	free(l);
	if (!v) {
		result(r, cmd->line, "robot.frequency_bad");
		return;
	}
	free(r->sub.frequency);
	r->sub.frequency = xstrdup(v);
	char name[48];
	snprintf(name, sizeof name, "robot.frequency_%s", v);
	result_take(r, cmd->line, say(r, "robot.frequency_set", "frequency",
				      catalog_text(r->lang, name), NULL));
}

static void command_day(struct robot *r, const struct command *cmd)
{
	int d = weekday_of(cmd->args);
	if (d < 0) {
		result(r, cmd->line, "robot.day_bad");
		return;
	}
	r->sub.day = d;
	result(r, cmd->line, "robot.day_set");
}

/* `remote-only` alone or with anything but off/no/non turns it on. */
static void command_remote(struct robot *r, const struct command *cmd)
{
	char *l = money_lower(cmd->args);
	int off = !strcmp(l, "off") || !strcmp(l, "no") || !strcmp(l, "non");
	free(l);
	r->sub.remote_only = !off;
	result(r, cmd->line, r->sub.remote_only ? "robot.remote_on" : "robot.remote_off");
}

/* 1 when the selections of r's subscriber can be paused or resumed: one that was unsubscribed
 * or unconfirmed before this mail is told why not (a stale confirmation answered after an
 * unsubscribe must not pause, or bring back, an address that left); within one mail the
 * commands apply in order. */
static int selections_switchable(struct robot *r, const struct command *cmd)
{
	if (r->stored == SUB_UNSUBSCRIBED || r->stored == SUB_PENDING) {
		result(r, cmd->line, r->stored == SUB_PENDING ? "robot.not_confirmed"
							: "robot.not_subscribed");
		return 0;
	}
	return 1;
}

static void command_pause(struct robot *r, const struct command *cmd)
{
	if (!selections_switchable(r, cmd))
		return;
	r->sub.status = SUB_PAUSED;
	result(r, cmd->line, "robot.paused");
}

static void command_resume(struct robot *r, const struct command *cmd)
{
	if (!selections_switchable(r, cmd))
		return;
	r->sub.status = SUB_ACTIVE;
	result(r, cmd->line, "robot.resumed");
}

/* `test` runs once a mail; a second `test` line says so. */
static void command_test(struct robot *r, const struct command *cmd)
{
	if (r->tested++)
		result(r, cmd->line, "robot.test_again");
	else
		run_test(r, cmd->line);
}

/* ---------------------------------------------------------------- the command table */

#define CMD_CHANGES_PROFILE 1u	/* needs a proven address: else a confirmation is asked */
#define CMD_ENDS 2u		/* "merci": the lines below it are not read */

/* Indexed by enum cmd. A line's first word (lower case, a trailing , . ! dropped) is looked
 * up in `names`; C_NONE, a line no name matches, has none. `spellings` gives each name's
 * language, one letter a name: the words of a mail of commands only are its language. */
static const struct command_def {
	const char *names[7];	/* NULL-terminated */
	const char *spellings;	/* 'e' English, 'f' French, '-' either: "budget", "test", and the
				 * English names, which the French help teaches too */
	void (*run)(struct robot *r, const struct command *cmd);
	unsigned flags;
} command_table[C_COUNT] = {
	[C_NONE] = { { NULL }, "", command_unknown, 0 },
	[C_SUBSCRIBE] = { { "subscribe", "abonner", "s'abonner", "abonnement" }, "-fff",
			  command_subscribe, CMD_CHANGES_PROFILE },
	[C_UNSUBSCRIBE] = { { "unsubscribe", "désabonner", "desabonner", "désinscrire" }, "-fff",
			    command_unsubscribe, CMD_CHANGES_PROFILE },
	[C_SKILLS] = { { "skills", "skill", "compétences", "competences", "compétence" }, "--fff",
		       command_skills, CMD_CHANGES_PROFILE },
	[C_EXCLUDE] = { { "exclude", "exclure" }, "-f", command_exclude, CMD_CHANGES_PROFILE },
	[C_CLEAR] = { { "clear", "effacer" }, "-f", command_clear, CMD_CHANGES_PROFILE },
	[C_BUDGET] = { { "budget-min", "budget" }, "--", command_budget, CMD_CHANGES_PROFILE },
	[C_LANGUAGE] = { { "language", "langue" }, "-f", command_language, CMD_CHANGES_PROFILE },
	[C_LANGUAGES] = { { "languages", "langues" }, "-f", command_languages,
			  CMD_CHANGES_PROFILE },
	[C_FREQUENCY] = { { "frequency", "fréquence", "frequence" }, "-ff", command_frequency,
			  CMD_CHANGES_PROFILE },
	[C_DAY] = { { "day", "jour" }, "-f", command_day, CMD_CHANGES_PROFILE },
	[C_REMOTE] = { { "remote-only", "télétravail", "teletravail" }, "-ff", command_remote,
		       CMD_CHANGES_PROFILE },
	[C_PAUSE] = { { "pause" }, "-", command_pause, CMD_CHANGES_PROFILE },
	[C_RESUME] = { { "resume", "reprendre" }, "-f", command_resume, CMD_CHANGES_PROFILE },
	[C_PROFILE] = { { "profile", "profil" }, "-f", command_profile, 0 },
	[C_TEST] = { { "test" }, "-", command_test, 0 },
	[C_HELP] = { { "help", "aide" }, "-f", command_help, 0 },
	[C_STOP] = { { "thanks", "thank", "merci" }, "eef", command_silent, CMD_ENDS },
	[C_GREETING] = { { "bonjour", "hello", "hi", "salut", "dear", "bonsoir" }, "feefef",
			 command_silent, 0 },
};

/* The command a line starts with (C_NONE when none), and in *args the rest after its word and
 * any spaces or colons, in *spelling the language of its word (command_def.spellings). */
static enum cmd command_of(const char *line, const char **args, char *spelling)
{
	*spelling = '-';
	char word[40];
	size_t n = strcspn(line, " \t:");
	if (n == 0 || n >= sizeof word) {
		*args = line;
		return C_NONE;
	}
	memcpy(word, line, n);
	word[n] = '\0';
	char *l = money_lower(word);
	size_t ln = strlen(l);
	while (ln > 0 && (l[ln - 1] == ',' || l[ln - 1] == '.' || l[ln - 1] == '!'))
		l[--ln] = '\0';
	enum cmd id = C_NONE;
	for (int c = 0; c < C_COUNT && id == C_NONE; c++)
		for (int k = 0; command_table[c].names[k] && id == C_NONE; k++)
			if (!strcmp(l, command_table[c].names[k])) {
				id = (enum cmd)c;
				*spelling = command_table[c].spellings[k];
			}
	free(l);
	const char *a = line + n;
	while (*a == ' ' || *a == '\t' || *a == ':')
		a++;
	*args = a;
	return id;
}

/* Reads the commands of the new text (or of the subject when the text has none), up to a line
 * that ends them. */
static void commands_parse(const struct message *m, struct commands *cs)
{
	const char *text = m->new_text && *m->new_text ? m->new_text : NULL;
	char *subject = NULL;
	if (!text) {
		subject = extract_title(m->subject);
		text = subject;
	}
	const char *p = text;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, n);
		char *t = str_trim(line);
		if (*t) {
			const char *args;
			char spelling;
			enum cmd id = command_of(t, &args, &spelling);
			if (command_table[id].flags & CMD_ENDS) {
				free(line);
				break;
			}
			if (cs->n < MAX_COMMANDS) {
				cs->v[cs->n].id = id;
				cs->v[cs->n].line = xstrdup(t);
				cs->v[cs->n].args = xstrdup(args);
				cs->v[cs->n].spelling = spelling;
				cs->n++;
			} else {
				cs->dropped++;
			}
		}
		free(line);
		if (!nl)
			break;
		p = nl + 1;
	}
	free(subject);
}

/* The language the words of a mail of commands only are written in: "en" when every command
 * word with a language is an English spelling, "fr" when every one is French, "" when they
 * mix; NULL when a line is no command (the text then tells) or no word has a language. */
static const char *commands_language(const struct commands *cs)
{
	int en = 0, fr = 0;
	for (int i = 0; i < cs->n; i++) {
		if (cs->v[i].id == C_NONE)
			return NULL;
		en += cs->v[i].spelling == 'e';
		fr += cs->v[i].spelling == 'f';
	}
	return en && fr ? "" : en ? "en" : fr ? "fr" : NULL;
}

/* 1 when the command changes the profile (so needs a proven address), else 0. */
static int changes_profile(enum cmd id)
{
	return (command_table[id].flags & CMD_CHANGES_PROFILE) != 0;
}

/* Runs one command through its row of the table. */
static void run_command(struct robot *r, const struct command *cmd)
{
	command_table[cmd->id].run(r, cmd);
}


/* The profile as text, in the robot's language (caller frees). */
static char *profile_text(const struct robot *r)
{
	const struct subscriber *s = &r->sub;
	struct buf b;
	buf_init(&b, 64 * 1024);
	char *address = say(r, "robot.profile_address", "address", s->address, NULL);
	char name[48];
	snprintf(name, sizeof name, "robot.status_%s", store_sub_state_name(s->status));
	char *status = say(r, "robot.profile_status", "status", catalog_has(r->lang, name)
			   ? catalog_text(r->lang, name) : store_sub_state_name(s->status), NULL);
	buf_printf(&b, "%s\n%s\n", address, status);
	free(address);
	free(status);
	for (size_t i = 0; i < s->skills.n; i++)
		buf_printf(&b, "skills %s\n", s->skills.v[i]);
	for (size_t i = 0; i < s->excludes.n; i++)
		buf_printf(&b, "exclude %s\n", s->excludes.v[i]);
	if (!s->skills.n) {
		char *none = say(r, "robot.profile_no_pattern", NULL);
		buf_printf(&b, "%s\n", none);
		free(none);
	}
	buf_printf(&b, "frequency %s\n", s->frequency);
	static const char *const days[] = { "sunday", "monday", "tuesday", "wednesday",
					    "thursday", "friday", "saturday" };
	buf_printf(&b, "day %s\n", days[s->day >= 0 && s->day < 7 ? s->day : 1]);
	buf_printf(&b, "language %s\n", s->language);
	if (s->languages && *s->languages)
		buf_printf(&b, "languages %s\n", s->languages);
	if (s->budget_min >= 0)
		buf_printf(&b, "budget-min %.0f %s\n", s->budget_min,
			   s->budget_currency ? s->budget_currency : "EUR");
	if (s->remote_only)
		buf_puts(&b, "remote-only\n");
	return buf_steal(&b);
}

/* ---------------------------------------------------------------- the help */

/* The values the help's sections quote: the board's rules as configured (cap, pct and floors,
 * 16, 16 and 128 bytes, hold the texts v points to). */
static void help_vars(const struct robot *r, struct vars *v, char *cap, char *pct, char *floors)
{
	const struct config *c = r->c;
	snprintf(cap, 16, "%d", c->bid_cap);
	snprintf(pct, 16, "%d", c->commission_percent);
	vars_set(v, "board", c->board_name);
	vars_set(v, "bid_cap", cap);
	vars_set(v, "commission", pct);
	/* who pays it (commission_payer: client, freelancer or shared) */
	char key[48];
	snprintf(key, sizeof key, "help.payer_%s", c->commission_payer);
	vars_set(v, "payer", catalog_text(r->lang, key));
	/* the floors as configured ("20 EUR"), in the reply's typography ("20 €", "€20") */
	char *hour = bid_floor_text(c->min_hourly_rate, r->lang);
	char *day = bid_floor_text(c->min_daily_rate, r->lang);
	snprintf(floors, 64, "%s", hour);
	snprintf(floors + 64, 64, "%s", day);
	vars_set(v, "floor_hour", floors);
	vars_set(v, "floor_day", floors + 64);
	free(hour);
	free(day);
	vars_set(v, "post_address", c->post_address);
	vars_set(v, "robot_address", c->robot_address);
}

/* The sections of the help to show, as one text in the robot's language: every section the
 * catalogue's help.sections lists, or those of r->topics (caller frees; "" when none). */
static char *help_sections_text(const struct robot *r)
{
	if (!r->all_sections && !r->topics.n)
		return xstrdup("");
	struct vars v = { 0 };
	char cap[16], pct[16], floors[128];
	help_vars(r, &v, cap, pct, floors);
	struct buf b;
	buf_init(&b, 64 * 1024);
	char *list = xstrdup(catalog_text(r->lang, "help.sections")), *save = NULL;
	for (char *t = strtok_r(list, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
		char name[80], title[96];
		snprintf(name, sizeof name, "help.%s", t);
		snprintf(title, sizeof title, "help.%s_title", t);
		if ((!r->all_sections && !strlist_contains(&r->topics, t)) ||
		    !catalog_has(r->lang, name) || !catalog_has(r->lang, title))
			continue;
		char *head = catalog_format(r->lang, title, &v);
		char *text = catalog_format(r->lang, name, &v);
		buf_printf(&b, "%s%s\n%s\n", b.len ? "\n" : "", head, text);
		free(head);
		free(text);
	}
	free(list);
	char *out = buf_steal(&b);
	return out ? out : xstrdup("");
}

/* The first line of a mail's text that is not a greeting (else its first line, a greeting
 * that may carry the question: "Hi, what is the commission?"), cut near 80 bytes at a
 * character boundary (caller frees; NULL when there is none). */
static char *question_line(const struct commands *cs)
{
	int i = 0;
	while (i < cs->n && cs->v[i].id == C_GREETING)
		i++;
	if (i == cs->n)
		i = 0;
	if (i < cs->n) {
		const char *l = cs->v[i].line;
		size_t n = strlen(l);
		if (n <= 80)
			return xstrdup(l);
		n = 80;
		while (n > 0 && ((unsigned char)l[n] & 0xC0) == 0x80)
			n--;
		char *cut = xstrndup(l, n);
		char *out = xasprintf("%s…", cut);
		free(cut);
		return out;
	}
	return NULL;
}

/* A mail whose lines hold no command (greetings aside) is a question: it gets one transcript
 * line and the help sections its words are about (help-topics.txt), all of them when it
 * names none or when its subject asks for help; its lines are not run. */
static void question_read(struct robot *r, struct commands *cs)
{
	for (int i = 0; i < cs->n; i++)
		if (cs->v[i].id != C_NONE && cs->v[i].id != C_GREETING)
			return;
	char *subject = extract_title(r->m->subject);
	const char *args;
	char spelling;
	enum cmd sc = subject ? command_of(str_trim(subject), &args, &spelling) : C_NONE;
	int asks_help = sc == C_HELP;
	/* greetings alone under a command subject ("Subject: subscribe"): that command's mail */
	int greets_only = 1;
	for (int i = 0; i < cs->n; i++)
		greets_only &= cs->v[i].id == C_GREETING;
	char *what = greets_only && sc != C_NONE && sc != C_HELP && sc != C_GREETING ? NULL
		   : question_line(cs);
	if (!what) {
		free(subject);
		return;
	}
	if (subject)
		extract_help_topics(subject, &r->topics);
	extract_help_topics(r->m->new_text ? r->m->new_text : "", &r->topics);
	r->all_sections = asks_help || !r->topics.n;
	r->want_help = r->all_sections;
	r->question = 1;
	result(r, asks_help ? subject : what, asks_help ? "robot.help" : r->topics.n
	       ? "robot.question_topics" : "robot.question_none");
	free(subject);
	free(what);
	commands_clear(cs);
}

/* ---------------------------------------------------------------- replies */

static int reply(struct robot *r, const char *kind, const char *to, const char *confirm_key)
{
	const struct config *c = r->c;
	struct vars v = { 0 };
	if (!strcmp(kind, "robot_reply") && !r->nitems) {
		/* nothing was read: say so, and the help */
		char *label = say(r, "robot.empty_label", NULL);
		result(r, label, "robot.nothing_understood");
		free(label);
		r->want_help = r->all_sections = 1;
	}
	char *sections = help_sections_text(r);
	if (r->note) {
		char *both = xasprintf("%s\n\n%s", r->note, sections);
		free(sections);
		sections = both;
	}
	char *profile = r->have_sub ? profile_text(r) : xstrdup("");
	char *skey = NULL, *saddr = NULL, *caddr = NULL, *ukey = NULL;
	if (r->have_sub && r->sub.id > 0) {
		int64_t id = r->sub.id;
		skey = keys_make("s", &id, 1);
		saddr = keys_address(c, "robot", skey);
		ukey = keys_make("u", &id, 1);
	}
	if (confirm_key)
		caddr = keys_address(c, "robot", confirm_key);
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "robot_address", c->robot_address);
	vars_set(&v, "profile", r->want_profile || !strcmp(kind, "robot_welcome") ? profile : "");
	vars_set(&v, "help", r->want_help || !strcmp(kind, "robot_welcome") ||
			     !strcmp(kind, "robot_confirm") ? "1" : "");
	vars_set(&v, "sections", sections);
	vars_set(&v, "confirm_address", caddr ? caddr : "");
	vars_set(&v, "command_address", saddr ? saddr : c->robot_address);
	/* the name known, else (not subscribed) the one the sender gave */
	const char *name = r->have_sub ? r->sub.name : r->m->from_name;
	vars_set(&v, "name", name ? name : "");
	vars_set_list(&v, "results", r->items, r->nitems);
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->robot_address,
		.to_name = name,
		.to = to,
		.reply_to = caddr ? caddr : saddr,
		.in_reply_to = r->m->message_id_made_up ? NULL : r->m->message_id,
		.auto_submitted = "auto-replied",
		.key_ref = confirm_key ? confirm_key : skey,
		.unsubscribe_key = !strcmp(kind, "robot_confirm") || r->unsubscribed ? NULL : ukey,
	};
	int rc = send_queue(c, r->s, kind, r->lang, &v, &o);
	free(sections);
	free(profile);
	free(skey);
	free(saddr);
	free(caddr);
	free(ukey);
	return rc;
}

/* ---------------------------------------------------------------- the robot */

static void robot_clear(struct robot *r)
{
	if (r->have_sub)
		subscriber_clear(&r->sub);
	strlist_clear(&r->sample);
	strlist_clear(&r->topics);
	free(r->note);
	r->note = NULL;
	for (int i = 0; i < r->ntexts; i++)
		free(r->texts[i]);
	r->ntexts = r->nitems = 0;
}

/* Runs every command on r->sub and saves it. A `language` command sets the language of the
 * whole transcript, not only of the lines after it. */
static int run_all(struct robot *r, const struct commands *cs)
{
	store_subscriber_touch(r->s, r->sub.id, clock_now());	/* the subscriber is alive: they wrote */
	enum sub_state before = r->sub.status;
	r->stored = before;
	for (int i = 0; i < cs->n; i++)
		if (cs->v[i].id == C_LANGUAGE &&
		    language_word(cs->v[i].args, r->lang_buf, sizeof r->lang_buf) == 0)
			r->lang = r->lang_buf;
	for (int i = 0; i < cs->n; i++)
		run_command(r, &cs->v[i]);
	if (cs->dropped)
	{
		char n[16];
		snprintf(n, sizeof n, "%d", cs->dropped);
		result_take(r, "…", say(r, "robot.dropped", "n", n, NULL));
	}
	/* the columns the commands edit; the status only from the one read (pause, resume...) */
	if (store_subscriber_profile_save(r->s, &r->sub) < 0)
		return -1;
	if (r->chose_language &&
	    store_subscriber_language_choose(r->s, r->sub.id, r->sub.language) < 0)
		return -1;
	if (before != r->sub.status &&
	    store_subscriber_status_set(r->s, r->sub.id, before, r->sub.status) < 0 &&
	    store_error_kind(r->s) != STORE_ERR_CONFLICT)
		return -1;	/* a move the store refused (logged) leaves the status as it was */
	return 0;
}

/* The reply's language once r's subscriber is known: the one they chose with `language`,
 * else the one this mail is written in — which, when save is set (the mail came from their
 * address), becomes their profile's, so that their selections follow it —, else their
 * profile's. */
static void language_settle(struct robot *r, int save)
{
	const char *d = r->detected;
	if (d && (!r->sub.language || strcmp(d, r->sub.language)) &&
	    store_subscriber_language_chosen(r->s, r->sub.id) == 0) {
		free(r->sub.language);
		r->sub.language = xstrdup(d);
		if (save && store_subscriber_profile_save(r->s, &r->sub) < 0)
			log_warn("stage=robot subscriber=%lld result=language-not-saved",
				 (long long)r->sub.id);
	}
	r->lang = catalog_language_or(r->sub.language, r->c->language);
}

/* 1 when the one request of the day to address is the help it was sent (plain_help's token,
 * action "help"; not a refusal), which told it to reply with the lines to subscribe: that
 * reply is then asked to confirm, once; 0 otherwise, -1 on error. */
static int only_help_sent_today(struct robot *r, const char *address, int recent)
{
	char at[40];
	if (recent != 1)
		return 0;
	int f = store_confirmation_latest(r->s, address, "help", at, sizeof at);
	if (f <= 0)
		return f;
	time_t t = clock_parse_iso(at);
	return t != (time_t)-1 && clock_now() - t < 24 * 3600;
}

/* A confirmation request to an address that has not proved it owns it: at most one a day
 * (and one after the help a stranger was sent). */
static enum outcome ask_confirmation(struct robot *r, const char *address, const char *action,
				     const struct commands *cs, char **outcome)
{
	int recent = store_confirmations_recent(r->s, address, clock_now());
	if (recent < 0)
		return OUT_TEMPFAIL;
	int after_help = only_help_sent_today(r, address, recent);
	if (after_help < 0)
		return OUT_TEMPFAIL;
	if (recent > 0 && !after_help) {
		log_info("stage=robot address=%s result=rate-limited reason=\"a confirmation was sent "
			 "less than a day ago\"", address);
		*outcome = xstrdup("robot:rate-limited");
		return OUT_OK;
	}
	/* the commands to run once confirmed, one a line */
	struct buf payload;
	buf_init(&payload, 64 * 1024);
	for (int i = 0; i < cs->n; i++)
		buf_printf(&payload, "%s\n", cs->v[i].line);
	int64_t cid;
	if (store_confirmation_insert(r->s, address, r->sub.id, action, payload.data ? payload.data : "",
				      CONFIRM_TTL, &cid, clock_now()) < 0) {
		buf_free(&payload);
		return OUT_TEMPFAIL;
	}
	buf_free(&payload);
	for (int i = 0; i < cs->n; i++)
		if (cs->v[i].id != C_GREETING)
			result(r, cs->v[i].line, "robot.pending");
	char *key = keys_make("c", &cid, 1);
	int rc = reply(r, "robot_confirm", address, key);
	free(key);
	*outcome = xasprintf("robot:confirm-requested:%lld", (long long)cid);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

static int only_reads(const struct commands *cs)
{
	for (int i = 0; i < cs->n; i++)
		if (changes_profile(cs->v[i].id))
			return 0;
	return 1;
}

/* Commands that only read (the profile, help, test): run, and answered to the subscriber's
 * own address whoever wrote; the help when there were none. 0 or -1. */
static int answer_reads(struct robot *r, const struct commands *cs)
{
	for (int i = 0; i < cs->n; i++)
		run_command(r, &cs->v[i]);
	return reply(r, "robot_reply", r->sub.address, NULL);
}

/* The robot's work on one mail: cs its commands read, r set up (its language that of its
 * command words when it holds only commands, else guessed from the text, else the board's). */
static void robot_begin(struct handling *h, struct robot *r, struct commands *cs)
{
	memset(r, 0, sizeof *r);
	r->c = h->c;
	r->s = h->s;
	r->m = h->m;
	memset(cs, 0, sizeof *cs);
	commands_parse(h->m, cs);
	/* a mail of commands only is in the language of its command words; mixed ones, the
	 * board's */
	const char *spelled = commands_language(cs);
	r->detected = spelled ? catalog_language_or(*spelled ? spelled : NULL, NULL)
		      : catalog_language_or(extract_language_of(h->m), NULL);
	r->lang = r->detected ? r->detected : h->c->language;
}

/* Ends what robot_begin began: OUT_TEMPFAIL when rc < 0, else OUT_OK. */
static enum outcome robot_end(struct robot *r, struct commands *cs, int rc)
{
	commands_clear(cs);
	robot_clear(r);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

enum outcome robot_unsubscribe(struct handling *h)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	/* one-click unsubscribe by mail: at once, no confirmation */
	int rc = 0, f = store_subscriber_find(h->s, NULL, h->r->ids[0], &r.sub);
	if (f < 0)
		rc = -1;
	if (f > 0) {
		r.have_sub = 1;
		r.lang = r.sub.language;
		struct command u = { .id = C_UNSUBSCRIBE, .line = "unsubscribe", .args = "" };
		run_command(&r, &u);
		if (store_subscriber_status_set(h->s, r.sub.id, SUB_STATE_ANY, SUB_UNSUBSCRIBED) < 0 ||
		    reply(&r, "robot_reply", r.sub.address, NULL) < 0)
			rc = -1;
		else
			h->result = xasprintf("robot:unsubscribed:%lld", (long long)r.sub.id);
	} else if (f == 0) {
		h->result = xstrdup("robot:unsubscribe-unknown");
	}
	return robot_end(&r, &cs, rc);
}

/* ---------------------------------------------------------------- replies to a selection */

#define SELECTION_MAX 50	/* projects of one selection read back */
#define WROTE_MAX 300		/* bytes of the sender's text restated in a reply */

/* The projects a selection listed, in order, with their titles lower-cased for matching. */
struct listed {
	int64_t id[SELECTION_MAX];
	char *title[SELECTION_MAX];	/* as published */
	char *lower[SELECTION_MAX];	/* money_lower'd */
	int n;
};

static void listed_clear(struct listed *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->title[i]);
		free(l->lower[i]);
	}
	l->n = 0;
}

/* Keeps the projects of ids that still exist, with their titles. 0 or -1. */
static int listed_load(struct store *s, const int64_t *ids, int n, struct listed *l)
{
	l->n = 0;
	for (int i = 0; i < n && l->n < SELECTION_MAX; i++) {
		struct project p;
		int f = store_project_get(s, ids[i], &p);
		if (f < 0)
			return -1;
		if (!f)
			continue;
		l->id[l->n] = ids[i];
		l->title[l->n] = xstrdup(p.title ? p.title : "");
		l->lower[l->n] = money_lower(l->title[l->n]);
		l->n++;
		project_clear(&p);
	}
	return 0;
}

/* The projects of the selection mail m answers (In-Reply-To, then References, else the
 * subscriber's latest selection). 0 or -1. */
static int listed_of_reply(struct store *s, const struct message *m, int64_t sid,
			   struct listed *l)
{
	const char *refs[102];
	int nr = 0;
	for (size_t i = 0; i < m->references.n && nr < 100; i++)
		refs[nr++] = m->references.v[i];
	if (m->in_reply_to)
		refs[nr++] = m->in_reply_to;	/* looked at first */
	int64_t ids[SELECTION_MAX];
	int n = store_selection_projects(s, sid, refs, nr, ids, SELECTION_MAX);
	return n < 0 ? -1 : listed_load(s, ids, n, l);
}

/* The value of the run of digits at p (at most 18), its length in *len. */
static int64_t digits_at(const char *p, size_t *len)
{
	int64_t v = 0;
	size_t n = 0;
	while (isdigit((unsigned char)p[n]) && n < 18)
		v = v * 10 + (p[n++] - '0');
	*len = n;
	return v;
}

/* 1 when the number at p in text is written as a project's: after '#', "n°", "no", "projet" or
 * "project", or alone on its line ("1004" as an answer). A bare number beside words is a price,
 * a delay or a quantity as often as a project ("pour 1004 € HT"). */
static int number_marked(const char *text, const char *p, size_t len)
{
	const char *q = p;
	while (q > text && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	if (q > text && q[-1] == '#')
		return 1;
	static const char *const marks[] = { "n°", "nº", "no", "no.", "projet", "project", "projets",
					     "projects", "numéro", "number" };
	for (size_t k = 0; k < sizeof marks / sizeof *marks; k++) {
		size_t ml = strlen(marks[k]);
		if ((size_t)(q - text) >= ml && !strncmp(q - ml, marks[k], ml) &&
		    (q - ml == text || !isalnum((unsigned char)q[-(ptrdiff_t)ml - 1])))
			return 1;
	}
	const char *b = p, *e = p + len;
	while (b > text && b[-1] != '\n' && strchr(" \t#", b[-1]))
		b--;
	while (*e && *e != '\n' && strchr(" \t.!", *e))
		e++;
	return (b == text || b[-1] == '\n') && (!*e || *e == '\n');
}

/* 1 when lower-cased text quotes lower-cased title as whole words; a title of one word is too
 * common a word to name a project by ("traduction"). */
static int title_quoted(const char *text, const char *title)
{
	size_t tl = strlen(title);
	if (tl < 4 || !strchr(title, ' '))
		return 0;
	for (const char *p = text; (p = strstr(p, title)) != NULL; p++)
		if ((p == text || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[tl]))
			return 1;
	return 0;
}

/* Which listed project lower-cased text names: by its number written as a project's, or by
 * quoting its title. The index, -1 when none, -2 when more than one. */
static int listed_named(const struct listed *l, const char *text)
{
	int found = -1;
	for (int i = 0; i < l->n; i++) {
		int named = title_quoted(text, l->lower[i]);
		for (const char *p = text; *p && !named; p++) {
			if (!isdigit((unsigned char)*p) || (p > text && isdigit((unsigned char)p[-1])))
				continue;
			size_t len;
			named = digits_at(p, &len) == l->id[i] && !isdigit((unsigned char)p[len]) &&
				number_marked(text, p, len);
		}
		if (named)
			found = found == -1 ? i : -2;
	}
	return found;
}

/* 1 when the word of len bytes at w is a word of lower-cased title t. */
static int title_has_word(const char *t, const char *w, size_t len)
{
	for (const char *p = t; (p = strstr(p, w)) != NULL; p++) {
		int start = p == t || !isalnum((unsigned char)p[-1]);
		int end = !isalnum((unsigned char)p[len]);
		if (start && end && !strncmp(p, w, len))
			return 1;
	}
	return 0;
}

static int listed_by_words(const struct listed *l, const char *t);

/* Which listed project an answer to "which project?" picks: its number or title, its rank in
 * the list ("2", "le 2e", "the 2nd"), else the one title sharing the most with it in words of
 * 4 letters or more or skill names ("the translation one"), a word weighing its length: "Pour la refonte"
 * picks "Refonte Symfony" over "API PHP pour une appli". The index, or -1. */
static int listed_chosen(const struct listed *l, const char *text)
{
	char *t = money_lower(text);
	int k = listed_named(l, t);
	for (const char *p = t; k == -1 && *p; p++) {
		if (!isdigit((unsigned char)*p) || (p > t && isalnum((unsigned char)p[-1])))
			continue;
		size_t len;
		int64_t v = digits_at(p, &len);
		/* a rank: a small number alone or with its ordinal suffix (2e, 2nd), not a price */
		size_t sfx = 0;
		while (sfx < 4 && isalpha((unsigned char)p[len + sfx]))
			sfx++;
		const char *after = p + len + sfx;
		int decimal = (*after == ',' || *after == '.') && isdigit((unsigned char)after[1]);
		if (len <= 2 && v >= 1 && v <= l->n && sfx < 4 && !isalnum((unsigned char)*after)
		    && !decimal)
			k = (int)v - 1;
		p += len - 1;
	}
	if (k == -1)
		k = listed_by_words(l, t);
	free(t);
	return k;
}

/* 1 when w names a skill of the vocabulary (contrib/skills.txt: "api", "seo", "php"). */
static int is_skill_word(const char *w)
{
	struct strlist found = { 0 };
	extract_skills_in(w, &found);
	int yes = found.n > 0;
	strlist_clear(&found);
	return yes;
}

/* The one listed title sharing the most with lower-cased t in words of 4 letters or more, or
 * shorter skill names ("api"), a word weighing its length. The index, or -1 (none, or two as
 * close). */
static int listed_by_words(const struct listed *l, const char *t)
{
	int best = 0, pick = -1;
	for (int i = 0; i < l->n; i++) {
		int score = 0;
		for (const char *p = t; *p;) {
			size_t len = 0;
			while (p[len] && (isalnum((unsigned char)p[len]) || (unsigned char)p[len] >= 0x80))
				len++;
			if (len >= 2 && len < 64) {
				char w[64];
				memcpy(w, p, len);
				w[len] = '\0';
				/* "refonte" and "api" count, "les" does not */
				if (len >= 4 || is_skill_word(w))
					score += title_has_word(l->lower[i], w, len) * (int)len;
			}
			p += len ? len : 1;
		}
		if (score > best) {
			best = score;
			pick = i;
		} else if (score && score == best) {
			pick = -1;	/* two titles as close: not settled */
		}
	}
	return pick;
}
/* The first lines of text (greetings aside), cut near WROTE_MAX bytes: what the sender wrote,
 * restated (caller frees). */
static char *wrote_of(const char *text)
{
	struct buf b;
	buf_init(&b, WROTE_MAX + 8);
	int cut_short = 0;
	for (const char *p = text; *p && !cut_short;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = xstrndup(p, n);
		char *t = str_trim(line);
		const char *args;
		char spelling;
		if (*t && command_of(t, &args, &spelling) != C_GREETING) {
			size_t len = strlen(t), cut = WROTE_MAX - b.len;
			if (cut < len)	/* never inside a UTF-8 sequence */
				while (cut > 0 && ((unsigned char)t[cut] & 0xC0) == 0x80)
					cut--;
			buf_printf(&b, "%s%.*s", b.len ? " " : "", (int)(cut < len ? cut : len), t);
			cut_short = cut < len || b.len >= WROTE_MAX;
		}
		free(line);
		p += nl ? n + 1 : n;
	}
	if (cut_short)
		buf_puts(&b, "…");
	char *out = buf_steal(&b);
	return out ? out : xstrdup("");
}

/* The reply about a mail to a selection: message, what was written, the listed projects when
 * l, with Reply-To the confirmation key ckey (else the selection's own address). 0 or -1. */
static int selection_answer(struct robot *r, const char *message, const struct listed *l,
			    const char *ckey)
{
	const struct config *c = r->c;
	int64_t sid = r->sub.id;
	char *dkey = keys_make("d", &sid, 1);
	char *raddr = keys_address(c, "robot", ckey ? ckey : dkey);
	char *wrote = wrote_of(r->m->new_text ? r->m->new_text : "");
	struct vars items[SELECTION_MAX];
	char ids[SELECTION_MAX][24], ranks[SELECTION_MAX][8];
	int n = l ? l->n : 0;
	for (int i = 0; i < n; i++) {
		memset(&items[i], 0, sizeof items[i]);
		snprintf(ids[i], sizeof ids[i], "%lld", (long long)l->id[i]);
		snprintf(ranks[i], sizeof ranks[i], "%d", i + 1);
		vars_set(&items[i], "id", ids[i]);
		vars_set(&items[i], "title", l->title[i]);
		vars_set(&items[i], "rank", ranks[i]);
	}
	struct vars v = { 0 };
	vars_set(&v, "board", c->board_name);
	vars_set(&v, "name", r->sub.name ? r->sub.name : "");
	vars_set(&v, "message", message);
	vars_set(&v, "wrote", wrote);
	vars_set(&v, "reply_address", raddr);
	vars_set_list(&v, "projects", items, n);
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->robot_address,
		.to_name = r->sub.name,
		.to = r->sub.address,
		.reply_to = raddr,
		.in_reply_to = r->m->message_id_made_up ? NULL : r->m->message_id,
		.auto_submitted = "auto-replied",
		.key_ref = ckey ? ckey : dkey,
	};
	int rc = send_queue(c, r->s, "selection_reply", r->lang, &v, &o);
	free(wrote);
	free(raddr);
	free(dkey);
	return rc;
}

/* A confirmation of a post or a held bid: the answer decides (post.c, bid.c). */
static enum outcome confirm_post(struct robot *r, const struct confirmation *cf, char **outcome)
{
	return post_answer(r->c, r->s, cf, r->m, outcome);
}

static enum outcome confirm_bid(struct robot *r, const struct confirmation *cf, char **outcome)
{
	return bid_answer(r->c, r->s, cf, r->m, outcome);
}

/* A confirmation of a subscription or of commands: the commands it holds are run (unless the
 * reply objects), and a subscription is welcomed. */
static enum outcome confirm_commands(struct robot *r, const struct confirmation *cf,
				     char **outcome)
{
	store_confirmation_use(r->s, cf->id, clock_now());
	if (bid_read_consent(r->m->new_text) < 0) {
		/* "it was not me": nothing is done */
		char *label = say(r, "robot.confirmation", NULL);
		result(r, label, "robot.confirmation_refused");
		free(label);
		int rc = reply(r, "robot_reply", cf->address, NULL);
		*outcome = xasprintf("robot:confirmation-refused:%lld", (long long)cf->id);
		return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
	}
	if (!r->have_sub) {
		*outcome = xstrdup("robot:confirmation-orphan");
		return OUT_OK;
	}
	struct commands pending = { 0 };
	struct message fake = { 0 };
	fake.new_text = cf->payload;
	commands_parse(&fake, &pending);
	fake.new_text = NULL;
	int welcome = !strcmp(cf->action, "subscribe");
	if (welcome) {
		char now[32];
		clock_format_iso(clock_now(), now);
		if (store_subscriber_confirm(r->s, r->sub.id, r->sub.status, now) < 0) {
			commands_clear(&pending);
			return OUT_TEMPFAIL;
		}
		r->sub.status = SUB_ACTIVE;
		free(r->sub.confirmed);
		r->sub.confirmed = xstrdup(now);
	}
	int rc = run_all(r, &pending);
	commands_clear(&pending);
	if (rc == 0)
		rc = reply(r, welcome ? "robot_welcome" : "robot_reply", r->sub.address, NULL);
	*outcome = xasprintf("robot:confirmed:%lld:%s", (long long)cf->id, cf->action);
	return rc < 0 ? OUT_TEMPFAIL : OUT_OK;
}

/* The answer to "which project is your bid for?" (action bid-which): the project it picks gets
 * the held bid, through bid.c's checks; an objection drops it; else the question again. */
static enum outcome confirm_which(struct robot *r, const struct confirmation *cf, char **outcome)
{
	const char *p = cf->payload ? cf->payload : "";
	const char *nl1 = strchr(p, '\n');
	const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (!nl2 || !r->have_sub) {
		store_confirmation_use(r->s, cf->id, clock_now());
		*outcome = xstrdup("robot:bid-which-orphan");
		return OUT_OK;
	}
	int64_t ids[SELECTION_MAX];
	int n = 0;
	for (const char *q = nl1 + 1; q < nl2 && n < SELECTION_MAX; q++) {
		ids[n++] = atoll(q);
		while (q < nl2 && *q != ',')
			q++;
	}
	struct listed l = { 0 };
	if (listed_load(r->s, ids, n, &l) < 0)
		return OUT_TEMPFAIL;
	const char *answer = r->m->new_text ? r->m->new_text : "";
	int k = listed_chosen(&l, answer);
	int rc = 0;
	enum outcome out = OUT_OK;
	if (k >= 0) {
		/* the held text, as if it had named the project; from whoever sent it */
		char *from = xstrndup(p, (size_t)(nl1 - p));
		char *text = xstrdup(nl2 + 1);
		struct message held = *r->m;
		held.new_text = text;
		held.bid = NULL;
		if (*from)
			held.from = from;
		rc = store_confirmation_use(r->s, cf->id, clock_now()) < 0 ? -1 : 0;
		if (rc == 0)
			out = bid_for(r->c, r->s, &held, l.id[k], cf->subscriber, outcome);
		free(from);
		free(text);
	} else if (bid_read_consent(answer) < 0 || extract_intent_no_bid(answer, NULL)) {
		/* "non", or "je passe mon tour finalement": the bid put aside is dropped */
		rc = store_confirmation_use(r->s, cf->id, clock_now()) < 0 ? -1 : 0;
		char *msg = say(r, "robot.selection_which_dropped", NULL);
		if (rc == 0)
			rc = selection_answer(r, msg, NULL, NULL);
		free(msg);
		*outcome = xasprintf("robot:bid-which-dropped:%lld", (long long)cf->id);
	} else {
		char *key = keys_make("c", &cf->id, 1);
		char *msg = say(r, "robot.selection_which_again", NULL);
		rc = selection_answer(r, msg, &l, key);
		free(msg);
		free(key);
		*outcome = xasprintf("robot:bid-which-unclear:%lld", (long long)cf->id);
	}
	listed_clear(&l);
	return rc < 0 ? OUT_TEMPFAIL : out;
}

/* What a confirmation request was for (its action) decides who acts on the reply; any other
 * action is a list of commands. */
static const struct confirm_action {
	const char *action;
	enum outcome (*answer)(struct robot *r, const struct confirmation *cf, char **outcome);
} confirm_actions[] = {
	{ "post", confirm_post },
	{ "bid", confirm_bid },
	{ "bid-which", confirm_which },
	{ "subscribe", confirm_commands },
	{ "commands", confirm_commands },
};

static enum outcome confirm_route(struct robot *r, const struct confirmation *cf, char **outcome)
{
	for (size_t i = 0; i < sizeof confirm_actions / sizeof confirm_actions[0]; i++)
		if (!strcmp(cf->action, confirm_actions[i].action))
			return confirm_actions[i].answer(r, cf, outcome);
	return confirm_commands(r, cf, outcome);
}

/* A confirmation already used or expired: the address it was for is told. 0 or -1. */
static int confirm_stale(struct robot *r, const struct confirmation *cf, char **outcome)
{
	/* tell the address the confirmation was for, never the From of this mail */
	char *label = say(r, "robot.confirmation", NULL);
	result(r, label, cf->used ? "robot.confirmation_used" : "robot.confirmation_expired");
	free(label);
	*outcome = xstrdup(cf->used ? "robot:confirmation-used" : "robot:confirmation-expired");
	return reply(r, "robot_reply", cf->address, NULL);
}

/* The reply to confirmation cf (found): checked (its address, used, expired), then routed. */
static enum outcome confirm_answer(struct robot *r, const struct confirmation *cf,
				   char **outcome)
{
	const char *from = r->m->from;
	if (!from || strcasecmp(from, cf->address)) {
		/* only the address the request went to confirms it; nobody is answered */
		log_info("stage=robot confirmation=%lld result=ignored reason=\"reply from "
			 "another address than the one asked\"", (long long)cf->id);
		*outcome = xasprintf("robot:confirmation-wrong-sender:%lld", (long long)cf->id);
		return OUT_OK;
	}
	char now[32];
	clock_format_iso(clock_now(), now);
	int found = cf->subscriber ? store_subscriber_find(r->s, NULL, cf->subscriber, &r->sub) : 0;
	if (found < 0)
		return OUT_TEMPFAIL;
	r->have_sub = found;
	if (found)
		language_settle(r, 1);	/* only the address asked answers it */
	if (cf->used || strcmp(now, cf->expires) > 0)
		return confirm_stale(r, cf, outcome) < 0 ? OUT_TEMPFAIL : OUT_OK;
	return confirm_route(r, cf, outcome);
}

enum outcome robot_confirm(struct handling *h)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	struct confirmation cf;
	enum outcome out = OUT_OK;
	int f = store_confirmation_get(h->s, h->r->ids[0], &cf);
	if (f < 0)
		out = OUT_TEMPFAIL;
	else if (!f)
		h->result = xstrdup("robot:confirmation-unknown");
	else {
		out = confirm_answer(&r, &cf, &h->result);
		confirmation_clear(&cf);
	}
	robot_end(&r, &cs, 0);
	return out;
}

/* 1 when address is one of the moderators. */
static int is_moderator(const struct config *c, const char *address)
{
	int moderator = 0;
	char *copy = xstrdup(c->moderators), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		if (address && !strcasecmp(t, address))
			moderator = 1;
	free(copy);
	return moderator;
}

enum outcome robot_moderate(struct handling *h)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	/* a moderator's answer to a held post: approve, or reject [reason] */
	int moderator = is_moderator(h->c, h->m->from), rc = 0;
	const struct command *decision = NULL;
	for (int i = 0; i < cs.n && !decision; i++) {
		char *l = money_lower(cs.v[i].line);
		if (!strncmp(l, "approve", 7) || !strncmp(l, "approuver", 9) ||
		    !strncmp(l, "reject", 6) || !strncmp(l, "rejeter", 7))
			decision = &cs.v[i];
		free(l);
	}
	if (!moderator || !decision) {
		h->result = xstrdup(moderator ? "moderate:no-decision" : "moderate:not-a-moderator");
	} else {
		char *l = money_lower(decision->line);
		int approve = l[0] == 'a';
		free(l);
		int64_t id = h->r->ids[0];
		rc = post_moderate(h->c, h->s, id, approve, approve ? NULL : decision->args,
				   h->m->from);
		h->result = xasprintf("moderate:%lld:%s", (long long)id,
				      approve ? "approved" : "rejected");
	}
	return robot_end(&r, &cs, rc);
}

/* The commands of subscriber sid (from robot+s-SID or robot+d-SID): run when From is their
 * address; from another From, reads are answered and changes wait for their confirmation.
 * 0 done, 1 when sid is not an active or paused subscriber, -1 on error. */
static int subscriber_commands(struct robot *r, const struct commands *cs, int64_t sid,
			       enum outcome *out, char **outcome)
{
	const char *from = r->m->from;
	int f = store_subscriber_find(r->s, NULL, sid, &r->sub);
	if (f < 0)
		return -1;
	if (!f || (r->sub.status != SUB_ACTIVE && r->sub.status != SUB_PAUSED)) {
		if (f)
			subscriber_clear(&r->sub);
		return 1;	/* no longer subscribed: as the plain robot address */
	}
	r->have_sub = 1;
	language_settle(r, from && !strcasecmp(from, r->sub.address));
	if (!from || strcasecmp(from, r->sub.address)) {
		/* the key is bound to its subscriber's address: from another From it
		 * proves nothing, as the plain robot address (replies go to the
		 * subscriber, changes wait for their confirmation) */
		if (!only_reads(cs)) {
			*out = ask_confirmation(r, r->sub.address, "commands", cs, outcome);
			return 0;
		}
		if (answer_reads(r, cs) < 0)
			return -1;
		*outcome = xasprintf("robot:read-other-from:%lld", (long long)r->sub.id);
		return 0;
	}
	if (run_all(r, cs) < 0 || reply(r, "robot_reply", r->sub.address, NULL) < 0)
		return -1;
	*outcome = xasprintf("robot:commands:%lld:%d", (long long)r->sub.id, cs->n);
	return 0;
}

static enum outcome plain_address(struct robot *r, struct commands *cs, char **outcome);

/* The commands of subscriber sid, else (not subscribed) the plain robot address's answer. */
static enum outcome commands_of(struct handling *h, int64_t sid)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	question_read(&r, &cs);
	enum outcome out = OUT_OK;
	int k = subscriber_commands(&r, &cs, sid, &out, &h->result);
	if (k == 1)
		out = plain_address(&r, &cs, &h->result);
	else if (k < 0)
		out = OUT_TEMPFAIL;
	robot_end(&r, &cs, 0);
	return out;
}

enum outcome robot_commands(struct handling *h)
{
	return commands_of(h, h->r->ids[0]);
}

/* The answer to a reply to a selection of several projects that says no ("not for 900 €",
 * "je passe mon tour") and names none: nothing recorded, and how to bid if a bid was meant
 * (the amount it named offered as the example), the projects listed. 0 or -1. */
static int selection_said_no(struct robot *r, const struct listed *l, const char *text)
{
	struct bid_info *bi = extract_bid_text(text);
	char *amount = bi && (bi->has_amount || bi->refused)
		       ? money_format(&bi->amount, r->lang) : NULL;
	bid_info_free(bi);
	char *msg = amount ? say(r, "robot.selection_said_no_amount", "amount", amount, NULL)
		    : say(r, "robot.selection_said_no", NULL);
	int rc = selection_answer(r, msg, l, NULL);
	log_info("stage=robot subscriber=%lld result=selection-said-no", (long long)r->sub.id);
	free(msg);
	free(amount);
	return rc;
}

/* The project a line of a reply to a selection names (number, quoted title, or title words),
 * else -1. */
static int line_project(const struct listed *l, const char *line)
{
	char *t = money_lower(line);
	int k = listed_named(l, t);
	if (k == -1)
		k = listed_by_words(l, t);
	free(t);
	return k < 0 ? -1 : k;
}

/* A reply to a selection that prices two listed projects or more, each on lines of its own
 * ("Pour l'API : 1 500 € HT, 2 semaines" / "Pour la refonte : 2 800 € HT"): one bid per
 * project, each with its lines as its text. A priced line that names none belongs to the
 * project named by the unpriced line above it (a heading). *done set when the reply was read
 * so; 0 or -1. */
static int selection_bids_split(struct robot *r, const struct listed *l, const char *text,
				int *done, char **outcome)
{
	enum { SPLIT_MAX = 8 };
	int pick[SPLIT_MAX], n = 0, heading = -1, rc = 0, spoiled = 0;
	char *line[SPLIT_MAX];
	*done = 0;
	for (const char *p = text; *p && !spoiled;) {
		size_t len = strcspn(p, "\n");
		char *one = xstrndup(p, len);
		struct bid_info *bi = extract_bid_text(one);
		int k = line_project(l, one);
		if (bi && bi->has_amount && n < SPLIT_MAX && (k >= 0 || heading >= 0)) {
			pick[n] = k >= 0 ? k : heading;
			line[n++] = one;
			one = NULL;
		} else if (bi && bi->has_amount) {
			spoiled = 1;	/* a price for no project, or too many */
		} else if (k >= 0) {
			heading = k;
		}
		bid_info_free(bi);
		free(one);
		p += len + (p[len] == '\n');
	}
	int distinct = !spoiled && n >= 2;
	for (int i = 0; distinct && i < n; i++)
		for (int j = 0; j < i; j++)
			distinct &= pick[i] != pick[j];
	for (int i = 0; distinct && i < n && rc == 0; i++) {
		struct message one = *r->m;
		one.new_text = line[i];
		one.bid = NULL;
		char *said = NULL;
		rc = bid_for(r->c, r->s, &one, l->id[pick[i]], r->sub.id, &said) == OUT_TEMPFAIL
		     ? -1 : 0;
		free(*outcome);
		*outcome = said;
	}
	for (int i = 0; i < n; i++)
		free(line[i]);
	*done = distinct;
	return rc;
}

/* A priced reply to a selection that names no #N, or one that says no (said_no): a bid on the
 * only project listed, or on the one it names (bid.c reads its no); else a no is answered
 * once (selection_said_no), and a bid held, the subscriber asked which project (action
 * "bid-which", its payload the sender, the listed numbers and the text). */
static enum outcome selection_bid(struct robot *r, int said_no, char **outcome)
{
	const struct message *m = r->m;
	const char *text = m->new_text ? m->new_text : "";
	struct listed l = { 0 };
	int rc = listed_of_reply(r->s, m, r->sub.id, &l);
	char *lower = money_lower(text);
	int k = rc < 0 ? -1 : l.n == 1 ? 0 : listed_named(&l, lower);
	free(lower);
	enum outcome out = OUT_OK;
	int split = 0;
	if (rc >= 0 && k < 0 && !said_no && l.n > 1 &&
	    selection_bids_split(r, &l, text, &split, outcome) < 0)
		rc = -1;
	if (rc < 0) {
		out = OUT_TEMPFAIL;
	} else if (split) {
		log_info("stage=robot subscriber=%lld result=selection-bids-split",
			 (long long)r->sub.id);
	} else if (k >= 0) {
		out = bid_for(r->c, r->s, m, l.id[k], r->sub.id, outcome);
	} else if (said_no) {
		rc = selection_said_no(r, l.n ? &l : NULL, text);
		*outcome = xasprintf("robot:selection-said-no:%lld", (long long)r->sub.id);
	} else if (l.n == 0) {
		char *msg = say(r, "robot.selection_no_project", NULL);
		rc = selection_answer(r, msg, NULL, NULL);
		free(msg);
		*outcome = xasprintf("robot:selection-bid-no-project:%lld", (long long)r->sub.id);
	} else {
		int same = m->from && !strcasecmp(m->from, r->sub.address);
		/* from another From, one unanswered request a day, as for any held bid */
		int recent = same ? 0 : store_confirmations_recent(r->s, r->sub.address, clock_now());
		if (recent != 0) {
			rc = recent < 0 ? -1 : 0;
			*outcome = xstrdup("robot:selection-bid-rate-limited");
			goto out;
		}
		struct buf payload;
		buf_init(&payload, 128 * 1024);
		buf_printf(&payload, "%s\n", m->from ? m->from : "");
		for (int i = 0; i < l.n; i++)
			buf_printf(&payload, "%s%lld", i ? "," : "", (long long)l.id[i]);
		buf_printf(&payload, "\n%s", text);
		int64_t cid;
		rc = store_confirmation_insert(r->s, r->sub.address, r->sub.id, "bid-which",
					       payload.data ? payload.data : "", BID_HELD_TTL, &cid,
					       clock_now());
		buf_free(&payload);
		if (rc == 0) {
			char *ckey = keys_make("c", &cid, 1);
			char *msg = say(r, "robot.selection_which", NULL);
			rc = selection_answer(r, msg, &l, ckey);
			free(msg);
			free(ckey);
		}
		*outcome = xasprintf("robot:selection-bid-which:%lld", (long long)cid);
	}
out:
	listed_clear(&l);
	return rc < 0 ? OUT_TEMPFAIL : out;
}

/* 1 when a budget command's argument is an amount and nothing else ("500", "500 EUR"): a line
 * "Budget : 2 900 € HT, livraison en 10 jours" is a bid's price, not a profile's minimum. */
static int budget_args_clean(const char *a)
{
	const char *p = a;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p) || *p == '.' || *p == ',')
		p++;
	while (*p == ' ')
		p++;
	size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	return n == 0 || (n == 3 && !p[3]) ? !p[n] : 0;
}

/* 1 when cs holds a command (greetings, unknown lines and a budget line that is no plain
 * amount aside). */
static int has_commands(const struct commands *cs)
{
	for (int i = 0; i < cs->n; i++)
		if (cs->v[i].id != C_NONE && cs->v[i].id != C_GREETING &&
		    (cs->v[i].id != C_BUDGET || budget_args_clean(cs->v[i].args)))
			return 1;
	return 0;
}

enum outcome robot_selection_reply(struct handling *h)
{
	const struct message *m = h->m;
	const char *t = m->new_text ? m->new_text : "";
	const char *subj = m->subject ? m->subject : "";
	const char *hash = strchr(t, '#') ? strchr(t, '#') : strchr(subj, '#');
	if (hash && isdigit((unsigned char)hash[1]))
		return bid_for(h->c, h->s, m, atoll(hash + 1), h->r->ids[0], &h->result);
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	struct bid_info *bi = has_commands(&cs) ? NULL : extract_bid_text(t);
	int priced = bi && bi->has_amount;
	/* a no is read first: "not for 900 €" is no bid to place, on any project */
	int said_no = !has_commands(&cs) && extract_intent_no_bid(t, NULL);
	bid_info_free(bi);
	int f = has_commands(&cs) ? 0 : store_subscriber_find(h->s, NULL, h->r->ids[0], &r.sub);
	if (f < 0)
		return robot_end(&r, &cs, -1);
	r.have_sub = f;
	if (!f || (r.sub.status != SUB_ACTIVE && r.sub.status != SUB_PAUSED)) {
		/* commands, or no longer subscribed: this subscriber's commands, as robot+s-ID */
		robot_end(&r, &cs, 0);
		return commands_of(h, h->r->ids[0]);
	}
	r.lang = r.sub.language;
	enum outcome out = OUT_OK;
	if (priced || said_no) {
		out = selection_bid(&r, said_no, &h->result);
	} else {
		/* neither a price nor a command: said so, with what to send */
		char *msg = say(&r, "robot.selection_not_understood", NULL);
		if (selection_answer(&r, msg, NULL, NULL) < 0)
			out = OUT_TEMPFAIL;
		free(msg);
		h->result = xasprintf("robot:selection-not-understood:%lld", (long long)r.sub.id);
	}
	robot_end(&r, &cs, 0);
	return out;
}

enum outcome robot_bad_key(struct handling *h)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	const char *from = h->m->from;
	int rc = 0;
	if (!from || !compose_address_is_safe(from)) {
		h->result = xstrdup("robot:no-usable-from");
		return robot_end(&r, &cs, 0);
	}
	/* forged, altered, or for another purpose: say so, once a day at most */
	int due = post_refusal_due(h->s, from);
	if (due < 0) {
		rc = -1;
	} else if (!due) {
		h->result = xstrdup("robot:bad-key-rate-limited");
	} else {
		result(&r, h->r->key_text, "robot.bad_key");
		rc = reply(&r, "robot_reply", from, NULL);
		h->result = xstrdup("robot:bad-key");
	}
	return robot_end(&r, &cs, rc);
}

/* A known subscriber (active or paused) at the plain robot address: reads answered to their
 * address, anything else confirmed first. */
static enum outcome plain_subscriber(struct robot *r, struct commands *cs, char **outcome)
{
	language_settle(r, 0);	/* the From proves nothing: the profile is not changed */
	if (only_reads(cs)) {
		/* reading one's own profile or the help goes to that address: no risk */
		store_subscriber_touch(r->s, r->sub.id, clock_now());
		if (answer_reads(r, cs) < 0)
			return OUT_TEMPFAIL;
		*outcome = xasprintf("robot:read:%lld", (long long)r->sub.id);
		return OUT_OK;
	}
	return ask_confirmation(r, r->sub.address, "commands", cs, outcome);
}

/* 1 when cs asks for the help and nothing else (greetings aside). */
static int asks_help_only(const struct commands *cs)
{
	int help = 0;
	for (int i = 0; i < cs->n; i++) {
		if (cs->v[i].id != C_HELP && cs->v[i].id != C_GREETING)
			return 0;
		help |= cs->v[i].id == C_HELP;
	}
	return help;
}

/* The commands a stranger may send back to subscribe, filled from their mail: "subscribe"
 * with their display name, then the skills of the vocabulary their text names ("I'm a React
 * and Node.js developer": "skills react node.js"), one line each, indented (caller frees). */
static char *signup_lines(const struct robot *r)
{
	struct buf b;
	buf_init(&b, 4096);
	const char *name = r->m->from_name;
	int safe_name = name && *name && strlen(name) < 80 && !strpbrk(name, "\r\n@<>");
	buf_printf(&b, "  subscribe%s%s", safe_name ? " " : "", safe_name ? name : "");
	struct strlist found = { 0 };
	extract_skills_in(r->m->new_text ? r->m->new_text : "", &found);
	if (found.n) {
		buf_puts(&b, "\n  skills");
		for (size_t i = 0; i < found.n && i < 8; i++)
			buf_printf(&b, " %s", found.v[i]);
	}
	strlist_clear(&found);
	char *out = buf_steal(&b);
	return out ? out : xstrdup("  subscribe");
}

/* The help (or the sections a question is about) for an address that is not subscribed:
 * answered to it, once a day at most, with how to subscribe; its subscription is not
 * touched. */
static enum outcome plain_help(struct robot *r, const struct commands *cs, const char *from,
			       char **outcome)
{
	int due = post_refusal_due_as(r->s, from, "help");
	if (due < 0)
		return OUT_TEMPFAIL;
	if (!due) {
		*outcome = xstrdup("robot:help-rate-limited");
		return OUT_OK;
	}
	if (r->have_sub)
		subscriber_clear(&r->sub);
	r->have_sub = 0;
	for (int i = 0; i < cs->n; i++)
		run_command(r, &cs->v[i]);
	/* a paragraph, not a transcript line: the sender wrote no such command */
	char *lines = signup_lines(r);
	r->note = say(r, "robot.not_subscribed_lines", "robot_address", r->c->robot_address,
		      "lines", lines, NULL);
	free(lines);
	*outcome = xstrdup(r->question ? "robot:question-answered" : "robot:help");
	return reply(r, "robot_reply", from, NULL) < 0 ? OUT_TEMPFAIL : OUT_OK;
}

/* The plain robot address: the From proves nothing. A subscriber's reads are answered; a new
 * or lapsed address is made pending and asked to confirm its subscription. */
static enum outcome plain_address(struct robot *r, struct commands *cs, char **outcome)
{
	const char *from = r->m->from;
	if (!from || !compose_address_is_safe(from)) {
		*outcome = xstrdup("robot:no-usable-from");
		return OUT_OK;
	}
	int f = store_subscriber_find(r->s, from, 0, &r->sub);
	if (f < 0)
		return OUT_TEMPFAIL;
	r->have_sub = f;
	if (f && (r->sub.status == SUB_ACTIVE || r->sub.status == SUB_PAUSED))
		return plain_subscriber(r, cs, outcome);
	if (r->question || asks_help_only(cs))
		return plain_help(r, cs, from, outcome);
	if (!f) {
		/* a stranger's commands that say no language, in a reply (to the help we sent
		 * them): the language of the mail they quote, ours */
		const char *quoted = r->m->in_reply_to && r->m->text
				     ? catalog_language_or(extract_language(r->m->text), NULL) : NULL;
		if (!r->detected && quoted)
			r->lang = quoted;
		int64_t id;
		char *name = r->m->from_name ? xstrdup(r->m->from_name) : NULL;
		int rc = store_subscriber_insert(r->s, from, name, r->lang, &id, clock_now());
		free(name);
		if (rc < 0 || store_subscriber_find(r->s, NULL, id, &r->sub) <= 0)
			return OUT_TEMPFAIL;
		r->have_sub = 1;
	} else if (r->sub.status != SUB_PENDING) {
		if (store_subscriber_status_set(r->s, r->sub.id, r->sub.status, SUB_PENDING) < 0)
			return OUT_TEMPFAIL;
		r->sub.status = SUB_PENDING;
	}
	return ask_confirmation(r, from, "subscribe", cs, outcome);
}

enum outcome robot_plain(struct handling *h)
{
	struct robot r;
	struct commands cs;
	robot_begin(h, &r, &cs);
	question_read(&r, &cs);
	enum outcome out = plain_address(&r, &cs, &h->result);
	robot_end(&r, &cs, 0);
	return out;
}

int robot_unsubscribe_key(struct store *s, const char *key, int commit, char **lang)
{
	int64_t ids[2];
	if (keys_check(key, "u", ids, 2) != 1)
		return 0;
	struct subscriber sub;
	int f = store_subscriber_find(s, NULL, ids[0], &sub);
	if (f <= 0)
		return f;
	if (lang)
		*lang = xstrdup(sub.language ? sub.language : "fr");
	if (commit) {
		/* whatever the state now, not the one read above */
		int k = store_subscriber_status_set(s, sub.id, SUB_STATE_ANY, SUB_UNSUBSCRIBED);
		if (k < 0) {
			subscriber_clear(&sub);
			return -1;
		}
		if (k == 1)
			log_info("stage=http subscriber=%lld result=unsubscribed", (long long)sub.id);
	}
	subscriber_clear(&sub);
	return 1;
}
