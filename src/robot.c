/*
 * robot.c — the mail command robot: subscribe (double opt-in), unsubscribe, skills/exclude
 * patterns, budget, languages, frequency, digest day, remote-only, pause/resume, profile, test,
 * help — in French or English, one command a line of the new text (or the subject).
 * Authority comes from signed reply addresses (robot+s-ID: this subscriber; robot+c-ID: this
 * confirmation; robot+u-ID: unsubscribe at once). A mail to the plain robot address proves
 * nothing: anything beyond reading one's own profile is answered with a confirmation request to
 * that address (at most one a day), so nobody changes another person's profile by forging a From.
 * robot+d-ID (a selection's Reply-To) is the same as robot+s-ID, except that a reply naming a
 * project (#1042) is a bid on it, handed to bid.c.
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
	   C_TEST, C_HELP, C_STOP, C_GREETING };

static const struct {
	const char *word;
	enum cmd id;
} command_words[] = {
	{ "subscribe", C_SUBSCRIBE }, { "abonner", C_SUBSCRIBE }, { "s'abonner", C_SUBSCRIBE },
	{ "abonnement", C_SUBSCRIBE }, { "unsubscribe", C_UNSUBSCRIBE },
	{ "désabonner", C_UNSUBSCRIBE }, { "desabonner", C_UNSUBSCRIBE },
	{ "désinscrire", C_UNSUBSCRIBE }, { "skills", C_SKILLS }, { "skill", C_SKILLS },
	{ "compétences", C_SKILLS }, { "competences", C_SKILLS }, { "compétence", C_SKILLS },
	{ "exclude", C_EXCLUDE }, { "exclure", C_EXCLUDE }, { "clear", C_CLEAR },
	{ "effacer", C_CLEAR }, { "budget-min", C_BUDGET }, { "budget", C_BUDGET },
	{ "language", C_LANGUAGE }, { "langue", C_LANGUAGE }, { "languages", C_LANGUAGES },
	{ "langues", C_LANGUAGES }, { "frequency", C_FREQUENCY }, { "fréquence", C_FREQUENCY },
	{ "frequence", C_FREQUENCY }, { "day", C_DAY }, { "jour", C_DAY },
	{ "remote-only", C_REMOTE }, { "télétravail", C_REMOTE }, { "teletravail", C_REMOTE },
	{ "pause", C_PAUSE }, { "resume", C_RESUME }, { "reprendre", C_RESUME },
	{ "profile", C_PROFILE }, { "profil", C_PROFILE }, { "test", C_TEST }, { "help", C_HELP },
	{ "aide", C_HELP }, { "thanks", C_STOP }, { "thank", C_STOP }, { "merci", C_STOP },
	{ "bonjour", C_GREETING }, { "hello", C_GREETING }, { "hi", C_GREETING },
	{ "salut", C_GREETING }, { "dear", C_GREETING }, { "bonsoir", C_GREETING },
};

struct command {
	enum cmd id;
	char *line;	/* as written */
	char *args;	/* after the command word, trimmed */
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

static enum cmd command_of(const char *line, const char **args)
{
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
	for (size_t i = 0; i < sizeof command_words / sizeof command_words[0]; i++)
		if (!strcmp(l, command_words[i].word))
			id = command_words[i].id;
	free(l);
	const char *a = line + n;
	while (*a == ' ' || *a == '\t' || *a == ':')
		a++;
	*args = a;
	return id;
}

/* Reads the commands of the new text (or of the subject when the text has none). */
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
			enum cmd id = command_of(t, &args);
			if (id == C_STOP) {
				free(line);
				break;
			}
			if (cs->n < MAX_COMMANDS) {
				cs->v[cs->n].id = id;
				cs->v[cs->n].line = xstrdup(t);
				cs->v[cs->n].args = xstrdup(args);
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

static int changes_profile(enum cmd id)
{
	return id != C_PROFILE && id != C_HELP && id != C_TEST && id != C_GREETING && id != C_NONE;
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
	int want_help;
	int want_profile;
	int unsubscribed;
	/* matching work of this mail: measured from its first pattern or test */
	int64_t cpu_start;
	int tested;			/* `test` runs once a mail */
	struct strlist sample;		/* the board's newest projects, for the cost probe */
	int have_sample;
};

static const char *tr(const struct robot *r, const char *fr, const char *en)
{
	return !strcmp(r->lang, "fr") ? fr : en;
}

static void result(struct robot *r, const char *line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result(struct robot *r, const char *line, const char *fmt, ...)
{
	if (r->nitems >= MAX_COMMANDS + 2)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	char *l = xstrdup(line), *b = xstrdup(buf);
	r->texts[r->ntexts++] = l;
	r->texts[r->ntexts++] = b;
	memset(&r->items[r->nitems], 0, sizeof r->items[0]);
	vars_set(&r->items[r->nitems], "command", l);
	vars_set(&r->items[r->nitems], "result", b);
	r->nitems++;
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

/* `test`: which of the last four weeks' projects the profile would have matched, and by which
 * pattern (excludes, budget, languages and remote-only applied), within the mail's budget. */
static void run_test(struct robot *r, const char *line)
{
	struct subscriber *sub = &r->sub;
	struct project *p;
	int64_t left = mail_left(r);
	if (left <= 0) {
		result(r, line, tr(r, "pas fait : ce message a déjà utilisé son temps de calcul (%d ms) ; "
				   "renvoyez « test » seul dans un autre message",
				   "not done: this mail has used up its matching time (%d ms); send "
				   "\"test\" alone in another mail"), r->c->match_budget_mail_ms);
		return;
	}
	char since[32];
	clock_format_iso(clock_now() - 28 * 86400L, since);
	int np = test_projects(r->s, since, &p);
	if (np < 0) {
		result(r, line, "%s", tr(r, "erreur interne, réessayez plus tard",
					 "internal error, please try again later"));
		return;
	}
	struct matcher *m = matcher_new();
	int group = matcher_group_new(m, left);
	int *sk = xcalloc(sub->skills.n + 1, sizeof *sk), *ex = xcalloc(sub->excludes.n + 1, sizeof *ex);
	profile_add(m, group, sub, sk, ex);
	int n = matcher_count(m);
	int *hits = xcalloc((size_t)n + 1, sizeof *hits), *lim = xcalloc((size_t)n + 1, sizeof *lim);
	unsigned char *hit = xcalloc((size_t)n + 1, 1);
	struct buf out;
	buf_init(&out, 16 * 1024);
	int found = 0, seen = 0, total = 0, stopped = 0;
	for (int j = np - 1; j >= 0; j--)
		total += strcmp(p[j].created, since) >= 0 && (!strcmp(p[j].status, "open") ||
							      !strcmp(p[j].status, "awarded"));
	for (int j = np - 1; j >= 0 && found < 20; j--) {
		if (strcmp(p[j].created, since) < 0 || (strcmp(p[j].status, "open") &&
							 strcmp(p[j].status, "awarded")))
			continue;
		if (matcher_group_exhausted(m, group) || mail_left(r) <= 0) {
			stopped = 1;
			break;
		}
		seen++;
		char *text = profile_project_text(&p[j]);
		int nl = 0, nh = n ? matcher_run(m, text, strlen(text), hits, n, lim, &nl) : 0;
		free(text);
		for (int h = 0; h < nh; h++)
			hit[hits[h]] = 1;
		const char *by = profile_matches(sub, &p[j], hit, sk, ex);
		for (int h = 0; h < nh; h++)
			hit[hits[h]] = 0;
		if (by) {
			buf_printf(&out, "%s#%lld %s (%s `%s`)", found ? " ; " : "", (long long)p[j].id,
				   p[j].title, tr(r, "motif", "pattern"), by);
			found++;
		}
	}
	/* said before the list, which the transcript line may cut */
	char stop[512] = "";
	if (stopped)
		snprintf(stop, sizeof stop, tr(r, " (arrêté après %d projets sur %d : vos motifs ont "
					     "demandé plus de %d ms de calcul pour ce message ; "
					     "simplifiez-les, par exemple une liste de mots : "
					     "« skills php symfony »)", " (stopped after %d of %d "
					     "projects: your patterns needed more than %d ms of "
					     "matching for this mail; simplify them, for example a "
					     "word list: \"skills php symfony\")"),
			 seen, total, r->c->match_budget_mail_ms);
	if (found)
		result(r, line, tr(r, "%d projet(s) des 4 dernières semaines%s : %s",
				   "%d project(s) of the last 4 weeks%s: %s"), found, stop, out.data);
	else
		result(r, line, "%s%s", tr(r, "aucun projet des 4 dernières semaines ne correspond à "
					   "votre profil", "no project of the last 4 weeks matches your "
					   "profile"), stop);
	log_info("stage=robot subscriber=%lld test_projects=%d/%d cpu_ms=%lld%s", (long long)sub->id,
		 seen, total, (long long)(matcher_group_spent(m, group) / 1000000),
		 stopped ? " result=over-budget" : "");
	buf_free(&out);
	free(hits);
	free(lim);
	free(hit);
	free(sk);
	free(ex);
	matcher_free(m);
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
	if (rc == PROBE_LIMIT)
		result(r, line, tr(r, "refusé : ce motif demande trop de calcul. Essayé sur un échantillon "
				   "de projets (les plus récents du tableau et des textes types), il atteint "
				   "la limite de calcul des expressions régulières : des quantificateurs "
				   "imbriqués comme (\\w+\\s?)+ ou (a|aa)+ essaient un nombre exponentiel "
				   "de façons. Simplifiez-le, par exemple une liste de mots : « %s php "
				   "symfony »", "refused: this pattern needs too much work. Tried on a "
				   "sample of projects (the board's newest and typical texts), it reaches the "
				   "regular expression matching limit: nested quantifiers such as "
				   "(\\w+\\s?)+ or (a|aa)+ try an exponential number of ways. Simplify it, "
				   "for example a word list: \"%s php symfony\""), kind);
	else if (rc == PROBE_SLOW)
		result(r, line, tr(r, "refusé : ce motif demande trop de calcul. Essayé sur un échantillon "
				   "de projets (les plus récents du tableau et des textes types), il lui "
				   "faut plus de %d µs par projet en moyenne. Simplifiez-le, par exemple une "
				   "liste de mots : « %s php symfony »", "refused: this pattern needs too "
				   "much work. Tried on a sample of projects (the board's newest and typical "
				   "texts), it needs more than %d µs a project on average. Simplify it, for "
				   "example a word list: \"%s php symfony\""), c->match_probe_us, kind);
	else if (rc == PROBE_BUDGET)
		result(r, line, tr(r, "refusé pour l'instant : ce message a utilisé son temps de calcul "
				   "(%d ms) ; renvoyez ce motif dans un autre message",
				   "refused for now: this mail has used up its matching time (%d ms); "
				   "send this pattern in another mail"), c->match_budget_mail_ms);
	return rc != PROBE_OK;
}

static void run_command(struct robot *r, const struct command *cmd)
{
	struct subscriber *sub = &r->sub;
	const char *a = cmd->args;
	char err[256], norm[4096];
	switch (cmd->id) {
	case C_GREETING:
		return;	/* "Bonjour," is not a command: nothing to say */
	case C_NONE:
		result(r, cmd->line, "%s", tr(r, "commande inconnue : les commandes sont subscribe, "
					   "unsubscribe, skills, exclude, budget-min, language, frequency, "
					   "day, remote-only, pause, resume, profile, test, help "
					   "(exemple : « skills php symfony »)",
					   "unknown command: the commands are subscribe, unsubscribe, "
					   "skills, exclude, budget-min, language, frequency, day, "
					   "remote-only, pause, resume, profile, test, help (example: "
					   "\"skills php symfony\")"));
		return;
	case C_HELP:
		r->want_help = 1;
		result(r, cmd->line, "%s", tr(r, "l'aide est ci-dessous", "the help is below"));
		return;
	case C_PROFILE:
		r->want_profile = 1;
		result(r, cmd->line, "%s", tr(r, "votre profil est ci-dessous", "your profile is below"));
		return;
	case C_SUBSCRIBE:
		if (*a) {
			free(sub->name);
			sub->name = xstrdup(a);
		}
		result(r, cmd->line, "%s", tr(r, "vous êtes abonné(e)", "you are subscribed"));
		break;
	case C_UNSUBSCRIBE:
		free(sub->status);
		sub->status = xstrdup("unsubscribed");
		r->unsubscribed = 1;
		result(r, cmd->line, "%s", tr(r, "vous êtes désabonné(e) : plus aucune sélection ne vous "
					   "sera envoyée", "you are unsubscribed: no more selections will "
					   "be sent to you"));
		break;
	case C_SKILLS:
	case C_EXCLUDE: {
		const char *kind = cmd->id == C_SKILLS ? "skills" : "exclude";
		struct strlist *l = cmd->id == C_SKILLS ? &sub->skills : &sub->excludes;
		if (!*a) {
			result(r, cmd->line, "%s", tr(r, "il manque le motif (exemple : « skills php "
						   "symfony » ou « skills \\b(php|symfony)\\b »)",
						   "the pattern is missing (example: \"skills php symfony\" "
						   "or \"skills \\b(php|symfony)\\b\")"));
			return;
		}
		if (l->n >= MAX_PATTERNS) {
			result(r, cmd->line, tr(r, "refusé : %d motifs au plus ; « clear %s » les efface",
						"refused: at most %d patterns; \"clear %s\" removes them"),
			       MAX_PATTERNS, kind);
			return;
		}
		if (match_normalize(a, norm, sizeof norm, err, sizeof err) < 0) {
			result(r, cmd->line, tr(r, "refusé : %s (exemple : « %s php symfony »)",
						"refused: %s (example: \"%s php symfony\")"), err, kind);
			return;
		}
		if (probe_refuses(r, cmd->line, a, kind))
			return;
		if (store_pattern_add(r->s, sub->id, kind, a, clock_now()) < 0) {
			result(r, cmd->line, "%s", tr(r, "erreur interne, réessayez plus tard",
						   "internal error, please try again later"));
			return;
		}
		strlist_add(l, a);
		result(r, cmd->line, tr(r, "motif ajouté, il s'écrit %s", "pattern added, it runs as %s"),
		       norm);
		return;
	}
	case C_CLEAR: {
		char *w = money_lower(a);
		const char *kind = strstr(w, "excl") ? "exclude" : (strstr(w, "skill") || strstr(w, "comp"))
				   ? "skills" : NULL;
		free(w);
		if (!kind) {
			result(r, cmd->line, "%s", tr(r, "précisez « clear skills » ou « clear exclude »",
						   "say \"clear skills\" or \"clear exclude\""));
			return;
		}
		store_patterns_clear(r->s, sub->id, kind);
		strlist_clear(!strcmp(kind, "skills") ? &sub->skills : &sub->excludes);
		result(r, cmd->line, "%s", tr(r, "motifs effacés", "patterns removed"));
		return;
	}
	case C_BUDGET: {
		char *end;
		double v = strtod(a, &end);
		if (end == a || v < 0 || v > 1e9) {
			result(r, cmd->line, "%s", tr(r, "refusé : un montant est attendu (exemple : "
						   "« budget-min 500 EUR »)", "refused: an amount is "
						   "expected (example: \"budget-min 500 EUR\")"));
			return;
		}
		while (*end == ' ')
			end++;
		sub->budget_min = v;
		free(sub->budget_currency);
		char cur[4] = "EUR";
		if (strlen(end) == 3)
			for (int i = 0; i < 3; i++)
				cur[i] = (char)toupper((unsigned char)end[i]);
		sub->budget_currency = xstrdup(cur);
		result(r, cmd->line, tr(r, "budget minimum : %.0f %s", "minimum budget: %.0f %s"), v, cur);
		break;
	}
	case C_LANGUAGE: {
		char *l = money_lower(a);
		const char *v = !strncmp(l, "fr", 2) ? "fr" : !strncmp(l, "en", 2) || !strncmp(l, "an", 2)
				? "en" : NULL;
		free(l);
		if (!v) {
			result(r, cmd->line, "%s", tr(r, "refusé : fr ou en (exemple : « language en »)",
						   "refused: fr or en (example: \"language fr\")"));
			return;
		}
		free(sub->language);
		sub->language = xstrdup(v);
		result(r, cmd->line, tr(r, "vos courriels seront en %s", "your mails will be in %s"),
		       !strcmp(v, "fr") ? tr(r, "français", "French") : tr(r, "anglais", "English"));
		break;
	}
	case C_LANGUAGES: {
		char *l = money_lower(a);
		int fr = strstr(l, "fr") != NULL, en = strstr(l, "en") || strstr(l, "an");
		free(l);
		if (!fr && !en) {
			result(r, cmd->line, "%s", tr(r, "refusé : fr, en ou « fr en »",
						   "refused: fr, en or \"fr en\""));
			return;
		}
		free(sub->languages);
		sub->languages = xstrdup(fr && en ? "fr,en" : fr ? "fr" : "en");
		result(r, cmd->line, tr(r, "projets en : %s", "projects in: %s"), sub->languages);
		break;
	}
	case C_FREQUENCY: {
		char *l = money_lower(a);
		const char *v = strstr(l, "week") || strstr(l, "hebdo") ? "weekly"
				: strstr(l, "dai") || strstr(l, "quotid") || strstr(l, "jour") ? "daily"
				: strstr(l, "inst") || strstr(l, "imm") ? "instant" : NULL;
		free(l);
		if (!v) {
			result(r, cmd->line, "%s", tr(r, "refusé : weekly, daily ou instant (hebdomadaire, "
						   "quotidien, immédiat)", "refused: weekly, daily or "
						   "instant"));
			return;
		}
		free(sub->frequency);
		sub->frequency = xstrdup(v);
		result(r, cmd->line, tr(r, "fréquence : %s", "frequency: %s"), v);
		break;
	}
	case C_DAY: {
		int d = weekday_of(a);
		if (d < 0) {
			result(r, cmd->line, "%s", tr(r, "refusé : un jour de la semaine (exemple : "
						   "« day lundi »)", "refused: a weekday (example: "
						   "\"day monday\")"));
			return;
		}
		sub->day = d;
		result(r, cmd->line, "%s", tr(r, "jour de la sélection enregistré",
					   "selection day saved"));
		break;
	}
	case C_REMOTE: {
		char *l = money_lower(a);
		int off = !strcmp(l, "off") || !strcmp(l, "no") || !strcmp(l, "non");
		free(l);
		sub->remote_only = !off;
		result(r, cmd->line, "%s", sub->remote_only
		       ? tr(r, "seulement les projets à distance", "remote projects only")
		       : tr(r, "tous les projets, à distance ou non", "all projects, remote or not"));
		break;
	}
	case C_PAUSE:
		free(sub->status);
		sub->status = xstrdup("paused");
		result(r, cmd->line, "%s", tr(r, "sélections suspendues ; « resume » les reprend",
					   "selections paused; \"resume\" starts them again"));
		break;
	case C_RESUME:
		free(sub->status);
		sub->status = xstrdup("active");
		result(r, cmd->line, "%s", tr(r, "sélections reprises", "selections resumed"));
		break;
	case C_TEST:
		if (r->tested++)
			result(r, cmd->line, "%s", tr(r, "déjà fait plus haut : « test » ne s'exécute "
						   "qu'une fois par message", "already done above: "
						   "\"test\" runs once a mail"));
		else
			run_test(r, cmd->line);
		return;
	case C_STOP:
		return;
	}
}

/* The profile as text, in the robot's language (caller frees). */
static char *profile_text(const struct robot *r)
{
	const struct subscriber *s = &r->sub;
	struct buf b;
	buf_init(&b, 64 * 1024);
	buf_printf(&b, "%s: %s\n", tr(r, "Adresse", "Address"), s->address);
	buf_printf(&b, "%s: %s\n", tr(r, "État", "Status"), s->status);
	for (size_t i = 0; i < s->skills.n; i++)
		buf_printf(&b, "skills %s\n", s->skills.v[i]);
	for (size_t i = 0; i < s->excludes.n; i++)
		buf_printf(&b, "exclude %s\n", s->excludes.v[i]);
	if (!s->skills.n)
		buf_printf(&b, "%s\n", tr(r, "(aucun motif : écrivez par exemple « skills php symfony »)",
					  "(no pattern yet: write for example \"skills php symfony\")"));
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

/* ---------------------------------------------------------------- replies */

static int reply(struct robot *r, const char *kind, const char *to, const char *confirm_key)
{
	const struct config *c = r->c;
	struct vars v = { 0 };
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
	vars_set(&v, "confirm_address", caddr ? caddr : "");
	vars_set(&v, "command_address", saddr ? saddr : c->robot_address);
	vars_set(&v, "name", r->have_sub && r->sub.name ? r->sub.name : "");
	vars_set_list(&v, "results", r->items, r->nitems);
	struct outgoing o = {
		.from_name = c->board_name,
		.from = c->robot_address,
		.to_name = r->have_sub ? r->sub.name : NULL,
		.to = to,
		.reply_to = caddr ? caddr : saddr,
		.in_reply_to = r->m->message_id_made_up ? NULL : r->m->message_id,
		.auto_submitted = "auto-replied",
		.key_ref = confirm_key ? confirm_key : skey,
		.unsubscribe_key = !strcmp(kind, "robot_confirm") || r->unsubscribed ? NULL : ukey,
	};
	int rc = send_queue(c, r->s, kind, r->lang, &v, &o);
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
	for (int i = 0; i < r->ntexts; i++)
		free(r->texts[i]);
	r->ntexts = r->nitems = 0;
}

/* Runs every command on r->sub and saves it. A `language` command sets the language of the
 * whole transcript, not only of the lines after it. */
static int run_all(struct robot *r, const struct commands *cs)
{
	store_subscriber_touch(r->s, r->sub.id, clock_now());	/* the subscriber is alive: they wrote */
	char before[32];
	snprintf(before, sizeof before, "%s", r->sub.status ? r->sub.status : "");
	for (int i = 0; i < cs->n; i++)
		if (cs->v[i].id == C_LANGUAGE) {
			char *l = money_lower(cs->v[i].args);
			if (!strncmp(l, "fr", 2))
				r->lang = "fr";
			else if (!strncmp(l, "en", 2) || !strncmp(l, "an", 2))
				r->lang = "en";
			free(l);
		}
	for (int i = 0; i < cs->n; i++)
		run_command(r, &cs->v[i]);
	if (cs->dropped)
		result(r, "…", tr(r, "%d lignes de plus ignorées : 50 commandes au plus par message",
				  "%d more lines ignored: at most 50 commands a message"), cs->dropped);
	/* the columns the commands edit; the status only from the one read (pause, resume...) */
	if (store_subscriber_profile_save(r->s, &r->sub) < 0)
		return -1;
	if (strcmp(before, r->sub.status) &&
	    store_subscriber_status_set(r->s, r->sub.id, before, r->sub.status) < 0)
		return -1;
	return 0;
}

/* A confirmation request to an address that has not proved it owns it: at most one a day. */
static enum outcome ask_confirmation(struct robot *r, const char *address, const char *action,
				     const struct commands *cs, char **outcome)
{
	int recent = store_confirmations_recent(r->s, address, clock_now());
	if (recent < 0)
		return OUT_TEMPFAIL;
	if (recent > 0) {
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
			result(r, cs->v[i].line, "%s", tr(r, "sera fait quand vous aurez confirmé",
							  "will be done once you confirm"));
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
	if (cs->n == 0)
		r->want_help = 1;
	return reply(r, "robot_reply", r->sub.address, NULL);
}

enum outcome robot_handle(const struct config *c, struct store *s, const struct message *m,
			  const char *recipient, char **outcome)
{
	struct robot r = { .c = c, .s = s, .m = m };
	struct commands cs = { 0 };
	enum outcome out = OUT_OK;
	const char *from = m->from;
	r.lang = extract_language(m->new_text ? m->new_text : "");
	if (!r.lang)
		r.lang = c->language;
	commands_parse(m, &cs);
	char key[80];
	int has_key = keys_find(c, m, recipient, c->robot_address, "csudv", key, sizeof key);
	int64_t ids[2];
	if (has_key && keys_check(key, "u", ids, 2) == 1) {
		/* one-click unsubscribe by mail: at once, no confirmation */
		int f = store_subscriber_find(s, NULL, ids[0], &r.sub);
		if (f < 0)
			goto tempfail;
		if (f) {
			r.have_sub = 1;
			r.lang = r.sub.language;
			struct command u = { .id = C_UNSUBSCRIBE, .line = "unsubscribe", .args = "" };
			run_command(&r, &u);
			if (store_subscriber_status_set(s, r.sub.id, NULL, "unsubscribed") < 0 ||
			    reply(&r, "robot_reply", r.sub.address, NULL) < 0)
				goto tempfail;
			*outcome = xasprintf("robot:unsubscribed:%lld", (long long)r.sub.id);
		} else {
			*outcome = xstrdup("robot:unsubscribe-unknown");
		}
		goto done;
	}
	if (has_key && keys_check(key, "c", ids, 2) == 1) {
		struct confirmation cf;
		int f = store_confirmation_get(s, ids[0], &cf);
		if (f < 0)
			goto tempfail;
		if (!f) {
			*outcome = xstrdup("robot:confirmation-unknown");
			goto done;
		}
		if (!from || strcasecmp(from, cf.address)) {
			/* only the address the request went to confirms it; nobody is answered */
			log_info("stage=robot confirmation=%lld result=ignored reason=\"reply from "
				 "another address than the one asked\"", (long long)cf.id);
			*outcome = xasprintf("robot:confirmation-wrong-sender:%lld", (long long)cf.id);
			confirmation_clear(&cf);
			goto done;
		}
		char now[32];
		clock_format_iso(clock_now(), now);
		int found = cf.subscriber ? store_subscriber_find(s, NULL, cf.subscriber, &r.sub) : 0;
		if (found < 0) {
			confirmation_clear(&cf);
			goto tempfail;
		}
		r.have_sub = found;
		if (found)
			r.lang = r.sub.language;
		if (cf.used || strcmp(now, cf.expires) > 0) {
			/* tell the address the confirmation was for, never the From of this mail */
			result(&r, tr(&r, "confirmation", "confirmation"), "%s",
			       cf.used ? tr(&r, "déjà confirmée : rien à refaire", "already confirmed: "
					    "nothing to do again")
				       : tr(&r, "expirée (7 jours) : renvoyez « subscribe » à l'adresse "
					    "du robot", "expired (7 days): send \"subscribe\" to the "
					    "robot address again"));
			int rc = reply(&r, "robot_reply", cf.address, NULL);
			*outcome = xstrdup(cf.used ? "robot:confirmation-used" : "robot:confirmation-expired");
			confirmation_clear(&cf);
			if (rc < 0)
				goto tempfail;
			goto done;
		}
		if (!strcmp(cf.action, "post") || !strcmp(cf.action, "bid")) {
			/* a post to publish, a held bid to pass on: the answer decides (post.c, bid.c) */
			out = !strcmp(cf.action, "post") ? post_answer(c, s, &cf, m, outcome)
							 : bid_answer(c, s, &cf, m, outcome);
			confirmation_clear(&cf);
			goto done;
		}
		store_confirmation_use(s, cf.id, clock_now());
		if (bid_read_consent(m->new_text) < 0) {
			/* "it was not me": nothing is done */
			result(&r, tr(&r, "confirmation", "confirmation"), "%s",
			       tr(&r, "refusée : rien n'a été fait", "refused: nothing was done"));
			int rc = reply(&r, "robot_reply", cf.address, NULL);
			*outcome = xasprintf("robot:confirmation-refused:%lld", (long long)cf.id);
			confirmation_clear(&cf);
			if (rc < 0)
				goto tempfail;
			goto done;
		}
		struct commands pending = { 0 };
		struct message fake = { 0 };
		fake.new_text = cf.payload;
		commands_parse(&fake, &pending);
		fake.new_text = NULL;
		if (!found) {
			confirmation_clear(&cf);
			commands_clear(&pending);
			*outcome = xstrdup("robot:confirmation-orphan");
			goto done;
		}
		int welcome = !strcmp(cf.action, "subscribe");
		if (welcome) {
			if (store_subscriber_confirm(s, r.sub.id, r.sub.status, now) < 0) {
				confirmation_clear(&cf);
				commands_clear(&pending);
				goto tempfail;
			}
			free(r.sub.status);
			r.sub.status = xstrdup("active");
			free(r.sub.confirmed);
			r.sub.confirmed = xstrdup(now);
		}
		int rc = run_all(&r, &pending);
		commands_clear(&pending);
		if (rc == 0)
			rc = reply(&r, welcome ? "robot_welcome" : "robot_reply", r.sub.address, NULL);
		*outcome = xasprintf("robot:confirmed:%lld:%s", (long long)cf.id, cf.action);
		confirmation_clear(&cf);
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	if (has_key && keys_check(key, "v", ids, 2) == 1) {
		/* a moderator's answer to a held post: approve, or reject [reason] */
		int moderator = 0;
		char *copy = xstrdup(c->moderators), *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
			if (from && !strcasecmp(t, from))
				moderator = 1;
		free(copy);
		const struct command *decision = NULL;
		for (int i = 0; i < cs.n && !decision; i++) {
			char *l = money_lower(cs.v[i].line);
			if (!strncmp(l, "approve", 7) || !strncmp(l, "approuver", 9) ||
			    !strncmp(l, "reject", 6) || !strncmp(l, "rejeter", 7))
				decision = &cs.v[i];
			free(l);
		}
		if (!moderator || !decision) {
			*outcome = xstrdup(moderator ? "moderate:no-decision" : "moderate:not-a-moderator");
			goto done;
		}
		char *l = money_lower(decision->line);
		int approve = l[0] == 'a';
		free(l);
		int rc = post_moderate(c, s, ids[0], approve, approve ? NULL : decision->args);
		*outcome = xasprintf("moderate:%lld:%s", (long long)ids[0], approve ? "approved" : "rejected");
		if (rc < 0)
			goto tempfail;
		goto done;
	}
	if (has_key && keys_check(key, "d", ids, 2) == 1) {
		/* a reply to a selection: naming a project (#1042) makes it a bid on that project */
		const char *t = m->new_text ? m->new_text : "";
		const char *subj = m->subject ? m->subject : "";
		const char *hash = strchr(t, '#') ? strchr(t, '#') : strchr(subj, '#');
		if (hash && isdigit((unsigned char)hash[1])) {
			commands_clear(&cs);
			robot_clear(&r);
			return bid_for(c, s, m, atoll(hash + 1), ids[0], outcome);
		}
		/* otherwise: this subscriber's commands */
		char *k2 = keys_make("s", ids, 1);
		snprintf(key, sizeof key, "%s", k2);
		free(k2);
	}
	if (has_key && keys_check(key, "s", ids, 2) == 1) {
		int f = store_subscriber_find(s, NULL, ids[0], &r.sub);
		if (f < 0)
			goto tempfail;
		if (f && (!strcmp(r.sub.status, "active") || !strcmp(r.sub.status, "paused"))) {
			r.have_sub = 1;
			r.lang = r.sub.language;
			if (!from || strcasecmp(from, r.sub.address)) {
				/* the key is bound to its subscriber's address: from another From it
				 * proves nothing, as the plain robot address (replies go to the
				 * subscriber, changes wait for their confirmation) */
				if (!only_reads(&cs)) {
					out = ask_confirmation(&r, r.sub.address, "commands", &cs, outcome);
					goto done;
				}
				if (answer_reads(&r, &cs) < 0)
					goto tempfail;
				*outcome = xasprintf("robot:read-other-from:%lld", (long long)r.sub.id);
				goto done;
			}
			if (run_all(&r, &cs) < 0 || reply(&r, "robot_reply", r.sub.address, NULL) < 0)
				goto tempfail;
			*outcome = xasprintf("robot:commands:%lld:%d", (long long)r.sub.id, cs.n);
			goto done;
		}
		if (f)
			subscriber_clear(&r.sub);
		/* an address that is no longer subscribed: treat as the plain robot address */
		has_key = 0;
	}
	if (!from || !compose_address_is_safe(from)) {
		*outcome = xstrdup("robot:no-usable-from");
		goto done;
	}
	if (has_key) {
		/* forged, altered, or for another purpose: say so, once a day at most */
		int due = post_refusal_due(s, from);
		if (due < 0)
			goto tempfail;
		if (!due) {
			*outcome = xstrdup("robot:bad-key-rate-limited");
			goto done;
		}
		result(&r, key, "%s", tr(&r, "cette adresse de réponse n'est pas valide (modifiée, "
					 "incomplète ou d'un autre usage) : rien n'a été fait. "
					 "Écrivez « help » à l'adresse du robot.",
					 "this reply address is not valid (altered, incomplete or for "
					 "another use): nothing was done. Write \"help\" to the robot "
					 "address."));
		if (reply(&r, "robot_reply", from, NULL) < 0)
			goto tempfail;
		*outcome = xstrdup("robot:bad-key");
		goto done;
	}
	/* the plain robot address: the From proves nothing */
	int f = store_subscriber_find(s, from, 0, &r.sub);
	if (f < 0)
		goto tempfail;
	r.have_sub = f;
	if (f && (!strcmp(r.sub.status, "active") || !strcmp(r.sub.status, "paused"))) {
		r.lang = r.sub.language;
		if (only_reads(&cs)) {
			/* reading one's own profile or the help goes to that address: no risk */
			store_subscriber_touch(s, r.sub.id, clock_now());
			if (answer_reads(&r, &cs) < 0)
				goto tempfail;
			*outcome = xasprintf("robot:read:%lld", (long long)r.sub.id);
			goto done;
		}
		out = ask_confirmation(&r, r.sub.address, "commands", &cs, outcome);
		goto done;
	}
	if (!f) {
		int64_t id;
		char *name = m->from_name ? xstrdup(m->from_name) : NULL;
		if (store_subscriber_insert(s, from, name, r.lang, &id, clock_now()) < 0) {
			free(name);
			goto tempfail;
		}
		free(name);
		if (store_subscriber_find(s, NULL, id, &r.sub) <= 0)
			goto tempfail;
		r.have_sub = 1;
	} else if (strcmp(r.sub.status, "pending")) {
		if (store_subscriber_status_set(s, r.sub.id, r.sub.status, "pending") < 0)
			goto tempfail;
		free(r.sub.status);
		r.sub.status = xstrdup("pending");
	}
	out = ask_confirmation(&r, from, "subscribe", &cs, outcome);
	goto done;
tempfail:
	out = OUT_TEMPFAIL;
done:
	commands_clear(&cs);
	robot_clear(&r);
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
		int k = store_subscriber_status_set(s, sub.id, NULL, "unsubscribed");
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
