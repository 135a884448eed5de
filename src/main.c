/*
 * main.c — the command line: `bidmail [--config FILE] COMMAND [ARGS]`. The sub-commands are
 * one table, subcommands[] (at the end): name, handler, synopsis and help line (`bidmail help`
 * is printed from it), and what each needs before it runs (the data files, the secret key).
 * In: argv and the configuration. Out: each sub-command's work and exit code
 * (deliver: only 0 or 75; fetch: 0 done, 1 for the operator to fix, 75 try again later;
 * others: 0 done, 1 failed, 2 usage).
 */
#include "bidmail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage_print(FILE *f);

/* The list of sub-commands on stderr; 2, the exit code of a usage error. */
static int usage(void)
{
	usage_print(stderr);
	return 2;
}

/* Creates the folders above a file's path (spool_mkdirs); 0 or -1. */
static int mkdir_parent(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');
	int rc = 0;
	if (slash && slash != d) {
		*slash = '\0';
		rc = spool_mkdirs(d, 0750);
	}
	free(d);
	return rc;
}

static int cmd_init(struct config *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (spool_init(c) < 0)
		return 1;
	if (store_prepare(c->database) < 0) {
		fprintf(stderr, "bidmail: cannot create the folder of %s: %s\n", c->database,
			strerror(errno));
		return 1;
	}
	struct store *s = store_open(c->database, 1);
	if (!s) {
		fprintf(stderr, "bidmail: cannot open or upgrade %s\n", c->database);
		return 1;
	}
	if (mkdir_parent(c->secret_key_file) < 0 || keys_init(c->secret_key_file, 1) < 0) {
		store_close(s);
		return 1;
	}
	int v = store_schema_version(s);
	store_close(s);
	if (render_check_all(c) < 0)
		return 1;
	printf("database %s ready (schema %d), spool %s ready\n", c->database, v, c->spool);
	return 0;
}

static int cmd_deliver(struct config *c, int argc, char **argv)
{
	const char *rcpt = NULL, *sender = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--recipient") && i + 1 < argc)
			rcpt = argv[++i];
		else if (!strcmp(argv[i], "--sender") && i + 1 < argc)
			sender = argv[++i];
		else {
			/* a wrong pipe(8) line: temporary, so the MTA keeps the mail */
			fprintf(stderr, "bidmail deliver: unexpected argument `%s`\n", argv[i]);
			return EXIT_TEMPFAIL;
		}
	}
	/* from an alias or a .forward, Postfix's local(8) and Exim export the envelope */
	if (!rcpt && !(rcpt = getenv("ORIGINAL_RECIPIENT")))
		rcpt = getenv("RECIPIENT");
	if (!sender)
		sender = getenv("SENDER");
	return spool_deliver(c, 0, sender, rcpt, NULL) == OUT_OK ? EXIT_DELIVER_OK : EXIT_TEMPFAIL;
}

static struct store *open_store(const struct config *c)
{
	struct store *s = store_open(c->database, 0);
	/* a server that does not answer is no missing `init`: the driver's line above says why */
	if (!s && !strncmp(c->database, "postgres", 8))
		fprintf(stderr, "bidmail: cannot open %s (see the error above)\n", c->database);
	else if (!s)
		fprintf(stderr, "bidmail: cannot open %s (run `bidmail init` first)\n", c->database);
	return s;
}

static int cmd_run(struct config *c, int argc, char **argv)
{
	int once = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			once = 1;
		else
			return usage();
	}
	if (render_check_all(c) < 0)
		return 1;
	if (!once) {
		/* SIGHUP reads the file read at start again; a copy, as a reload frees *c */
		char *file = c->file ? xstrdup(c->file) : NULL;
		int rc = ingest_daemon(c, file) < 0 ? 1 : 0;
		free(file);
		return rc;
	}
	struct store *s = open_store(c);
	if (!s)
		return 1;
	int n = ingest_run_once(c, s, NULL);
	/* everything due at this moment: selections and instant alerts, expiries, reminders and
	 * rating requests, then sending */
	if (digest_run(c, s, clock_now(), 0) < 0 || followup_run(c, s, clock_now()) < 0)
		n = -1;
	int sent = send_outbox_flush(c, s);
	store_close(s);
	if (n < 0 || sent < 0)
		return 75;
	return 0;
}

static int cmd_send(struct config *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--once"))
			return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	/* a pass stops starting transactions after its time (so the daemon's loop goes on);
	 * from the command line, passes follow each other while they deliver something */
	int n = 0;
	for (int pass = 0; pass < 10000; pass++)
		if ((n = send_outbox_flush(c, s)) <= 0)
			break;
	store_close(s);
	return n < 0 ? 1 : 0;
}

static char *read_file(const char *path, size_t max, size_t *len, size_t *full)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	*full = (size_t)st.st_size;
	struct buf b;
	buf_init(&b, max);
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (buf_append(&b, chunk, (size_t)n) < 0)
			break;
	close(fd);
	*len = b.len;
	return buf_steal(&b);
}

/* The in-flight guard's trial of a suspect (ingest.c): started by the daemon itself. */
static int cmd_ingest_trial(struct config *c, int argc, char **argv)
{
	if (argc != 1)
		return usage();
	return ingest_trial(c, argv[0]);
}

static int cmd_parse(struct config *c, int argc, char **argv)
{
	const char *as = NULL, *rcpt = NULL, *file = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--as") && i + 1 < argc)
			as = argv[++i];
		else if (!strcmp(argv[i], "--recipient") && i + 1 < argc)
			rcpt = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return usage();
		else
			file = argv[i];
	}
	if (!file || (as && strcmp(as, "post") && strcmp(as, "bid")))
		return usage();
	size_t len, full;
	char *data = read_file(file, c->max_message_size + 4096, &len, &full);
	if (!data) {
		fprintf(stderr, "bidmail parse: %s: %s\n", file, strerror(errno));
		return 1;
	}
	/* a spool file: honour its envelope line */
	struct envelope env = { 0 };
	const char *body = data;
	size_t blen = len;
	if (!strncmp(data, "X-Bidmail-Envelope: ", 20) && strchr(data, '\n')) {
		char *nl = strchr(data, '\n');
		char *r = strstr(data, "recipient=<");
		if (r && r < nl)
			env.recipient = xstrndup(r + 11, strcspn(r + 11, ">"));
		char *sd = strstr(data, "sender=<");
		if (sd && sd < nl)
			env.sender = xstrndup(sd + 8, strcspn(sd + 8, ">"));
		body = nl + 1;
		blen = len - (size_t)(body - data);
	}
	char why[256];
	struct message *m;
	enum kind k;
	if (full > c->max_message_size + 4096 ||
	    mime_check_limits(c, body, blen, why, sizeof why) != MIME_LIMITS_OK) {
		if (full > c->max_message_size + 4096)
			snprintf(why, sizeof why, "oversize: message is %zu bytes, limit "
				 "max_message_size is %zu", full, c->max_message_size);
		m = xcalloc(1, sizeof *m);
		m->date = -1;
		strlist_add(&m->errors, why);
		k = KIND_UNKNOWN;
	} else {
		m = mime_parse(body, blen);
		m->env.sender = env.sender;
		m->env.recipient = env.recipient;
		env.sender = env.recipient = NULL;
		k = classify_message(c, m, rcpt ? rcpt : m->env.recipient);
		if (as && (k == KIND_UNKNOWN || k == KIND_POST || k == KIND_BID))
			k = !strcmp(as, "post") ? KIND_POST : KIND_BID;
		m->received = m->date >= 0 ? m->date : 0;	/* a file: read as of its Date */
		extract_message(c, m, k);
	}
	json_print_message(stdout, c, m, k, as);
	message_free(m);
	free(env.sender);
	free(env.recipient);
	free(data);
	return 0;
}

/* The listing commands take one optional flag: --json. 1 json, 0 table, -1 usage error. */
static int json_flag(int argc, char **argv)
{
	int as_json = argc > 0 && !strcmp(argv[0], "--json");
	return argc > (as_json ? 1 : 0) ? -1 : as_json;
}

static int cmd_projects(struct config *c, int argc, char **argv)
{
	int as_json = json_flag(argc, argv);
	if (as_json < 0)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct project *p;
	int n = store_project_list(s, &p);
	store_close(s);
	if (n < 0)
		return 1;
	if (as_json) {
		json_print_projects(stdout, p, n, clock_now());
	} else {
		printf("%-6s %-8s %-10s %-30s %s\n", "id", "status", "language", "poster", "title");
		for (int i = 0; i < n; i++)
			printf("%-6lld %-8s %-10s %-30s %s\n", (long long)p[i].id, store_project_state_name(p[i].status),
			       p[i].language, p[i].poster, p[i].title);
	}
	for (int i = 0; i < n; i++)
		project_clear(&p[i]);
	free(p);
	return 0;
}

static int cmd_digest(struct config *c, int argc, char **argv)
{
	time_t at = clock_now();
	int dry = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run")) {
			dry = 1;
		} else if (!strcmp(argv[i], "--at") && i + 1 < argc) {
			at = clock_parse_iso(argv[++i]);
			if (at == (time_t)-1) {
				fprintf(stderr, "bidmail digest: --at wants an ISO 8601 time, e.g. "
					"2026-03-02T08:00:00+01:00\n");
				return 2;
			}
		} else {
			return usage();
		}
	}
	struct store *s = open_store(c);
	if (!s)
		return 1;
	int n = digest_run(c, s, at, dry);
	if (n >= 0 && !dry && followup_run(c, s, at) >= 0)
		send_outbox_flush(c, s);
	store_close(s);
	if (n < 0)
		return 1;
	if (!dry)
		printf("%d selection%s queued\n", n, n == 1 ? "" : "s");
	return 0;
}

#define LIST_PAGE 512	/* rows a listing reads at once: its memory does not grow with the board */

/* One subscriber as a line of `subscribers`. */
static void subscriber_print(const struct subscriber *v)
{
	printf("%-6lld %-13s %-9s %-32s", (long long)v->id, store_sub_state_name(v->status),
	       v->frequency, v->address);
	for (size_t k = 0; k < v->skills.n; k++)
		printf(" [%s]", v->skills.v[k]);
	for (size_t k = 0; k < v->excludes.n; k++)
		printf(" -[%s]", v->excludes.v[k]);
	putchar('\n');
}

/* One page of the JSON array of `subscribers --json`: its elements (what
 * json_print_subscribers writes between "[\n" and "\n]\n"), after the array's "[\n" for the
 * first page, else after ",\n"; the pages and the closing "\n]\n" make the very bytes that
 * one json_print_subscribers of the whole list would. 0 or -1. */
static int subscribers_json_page(struct subscriber *v, int n, int first)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return -1;
	json_print_subscribers(m, v, n);
	if (fclose(m) != 0)
		return -1;
	/* "[\n  {...}\n]\n": the elements are what lies between the first and the last line */
	int rc = len >= 5 && text[0] == '[' && text[1] == '\n' ? 0 : -1;
	if (rc == 0)
		printf("%s%.*s", first ? "[\n" : ",\n", (int)(len - 5), text + 2);
	free(text);
	return rc;
}

static int cmd_subscribers(struct config *c, int argc, char **argv)
{
	int as_json = json_flag(argc, argv);
	if (as_json < 0)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	if (!as_json)
		printf("%-6s %-13s %-9s %-32s %s\n", "id", "status", "frequency", "address", "patterns");
	int64_t after = 0;
	int n = LIST_PAGE, total = 0, rc = 0;
	for (int page = 0; n == LIST_PAGE && rc == 0 && page < 100000000; page++) {
		struct subscriber *v;
		n = store_subscriber_page(s, after, LIST_PAGE, &v);
		if (n < 0)
			break;
		if (as_json && n)
			rc = subscribers_json_page(v, n, !total);
		for (int i = 0; i < n; i++) {
			if (!as_json)
				subscriber_print(&v[i]);
			after = v[i].id;
			subscriber_clear(&v[i]);
		}
		free(v);
		total += n;
	}
	store_close(s);
	if (as_json && n >= 0 && rc == 0)
		fputs(total ? "\n]\n" : "[]\n", stdout);
	return n < 0 || rc < 0 ? 1 : 0;
}

/* Prints the active subscribers of one page (v, ns) that project text matches, the pattern of
 * each; adds them to *count and the patterns that hit a matching limit to limits. */
static void match_page(const struct project *proj, const char *text, const struct subscriber *v,
		       int ns, int *count, struct strlist *limits)
{
	struct matcher *m = matcher_new();
	size_t nsk = 0, nex = 0;
	for (int i = 0; i < ns; i++) {
		nsk += v[i].skills.n;
		nex += v[i].excludes.n;
	}
	int *skill_id = xcalloc(nsk + 1, sizeof *skill_id), *excl_id = xcalloc(nex + 1, sizeof *excl_id);
	size_t a = 0, b = 0;
	for (int i = 0; i < ns; i++) {
		profile_add(m, -1, &v[i], skill_id + a, excl_id + b);
		a += v[i].skills.n;
		b += v[i].excludes.n;
	}
	int n = matcher_count(m);
	int *hits = xcalloc((size_t)n + 1, sizeof *hits), *lim = xcalloc((size_t)n + 1, sizeof *lim);
	unsigned char *hit = xcalloc((size_t)n + 1, 1);
	int nl = 0;
	int nh = matcher_run(m, text, strlen(text), hits, n, lim, &nl);
	for (int i = 0; i < nh; i++)
		hit[hits[i]] = 1;
	a = b = 0;
	for (int i = 0; i < ns; i++) {
		const char *by = profile_matches(&v[i], proj, hit, skill_id + a, excl_id + b);
		a += v[i].skills.n;
		b += v[i].excludes.n;
		if (by && v[i].status == SUB_ACTIVE) {
			printf("  %s  matched by `%s`\n", v[i].address, by);
			(*count)++;
		}
	}
	for (int i = 0; i < nl; i++)
		strlist_add(limits, matcher_source(m, lim[i]));
	free(hits);
	free(lim);
	free(hit);
	free(skill_id);
	free(excl_id);
	matcher_free(m);
}

/* `bidmail match PROJECT`: the subscribers a project matches and the pattern of each, the
 * subscribers read and matched page after page (its memory does not grow with the board). */
static int cmd_match(struct config *c, int argc, char **argv)
{
	if (argc != 1)
		return usage();
	long long want = atoll(argv[0]);
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct project proj;
	int found = store_project_get(s, want, &proj);
	if (found != 1) {
		if (found == 0)
			fprintf(stderr, "bidmail match: no project %lld\n", want);
		store_close(s);
		return 1;
	}
	char *text = profile_project_text(&proj);
	printf("project %lld: %s\n", (long long)proj.id, proj.title);
	struct strlist limits = { 0 };
	int64_t after = 0;
	int n = LIST_PAGE, count = 0;
	for (int page = 0; n == LIST_PAGE && page < 100000000; page++) {
		struct subscriber *v;
		n = store_subscriber_page(s, after, LIST_PAGE, &v);
		if (n < 0)
			break;
		match_page(&proj, text, v, n, &count, &limits);
		for (int i = 0; i < n; i++) {
			after = v[i].id;
			subscriber_clear(&v[i]);
		}
		free(v);
	}
	store_close(s);
	if (n >= 0) {
		printf("%d subscriber%s\n", count, count == 1 ? "" : "s");
		for (size_t i = 0; i < limits.n; i++)
			printf("  pattern `%s` hit a matching limit: counted as no match\n",
			       limits.v[i]);
	}
	strlist_clear(&limits);
	free(text);
	project_clear(&proj);
	return n < 0 ? 1 : 0;
}

static int cmd_bids(struct config *c, int argc, char **argv)
{
	if (argc < 1 || argc > 2 || (argc == 2 && strcmp(argv[1], "--json")))
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct bid_row *v;
	int n = store_bid_list(s, atoll(argv[0]), &v);
	store_close(s);
	if (n < 0)
		return 1;
	if (argc == 2) {
		json_print_bids(stdout, v, n);
	} else {
		printf("%-6s %-9s %-10s %-12s %-4s %-5s %s\n", "id", "status", "amount", "currency", "tax",
		       "unit", "delivery");
		for (int i = 0; i < n; i++) {
			char days[16] = "-";	/* an unknown delivery */
			if (v[i].info.delivery_days >= 0)
				snprintf(days, sizeof days, "%d", v[i].info.delivery_days);
			printf("%-6lld %-9s %-10.2f %-12s %-4s %-5s %s\n", (long long)v[i].id,
			       store_bid_state_name(v[i].status), v[i].info.amount.max,
			       v[i].info.amount.currency, v[i].info.amount.tax, v[i].info.amount.unit,
			       days);
		}
	}
	for (int i = 0; i < n; i++)
		bid_row_clear(&v[i]);
	free(v);
	return 0;
}

/* 1 when bid k of v (a project's bids, oldest first) is its freelancer's current bid: the
 * newest of that freelancer's bids that was offered (not replaced, waiting for its
 * confirmation, or cancelled). */
static int bid_is_current(const struct bid_row *v, int n, int k)
{
	if (v[k].status == BID_REPLACED || v[k].status == BID_HELD || v[k].status == BID_CANCELLED)
		return 0;
	for (int j = k + 1; j < n; j++)
		if (v[j].subscriber == v[k].subscriber && v[j].status != BID_REPLACED &&
		    v[j].status != BID_HELD && v[j].status != BID_CANCELLED)
			return 0;
	return 1;
}

/* `bidmail stats`: the market at a glance. Every project counts in the total, each status
 * named; bids and the bid/budget ratio count each freelancer's current bid only. */
/* What `stats` sums over the projects, page after page. */
struct board_stats {
	int n, by[PROJECT_STATE_UNKNOWN + 1], bids, ratio_n;
	double ratio_sum;
};

/* Adds project p and its current bids to st. 0 or -1. */
static int stats_add(struct store *s, const struct project *p, struct board_stats *st)
{
	st->n++;
	st->by[p->status <= PROJECT_STATE_UNKNOWN ? p->status : PROJECT_STATE_UNKNOWN]++;
	struct bid_row *v;
	int nb = store_bid_list(s, p->id, &v);
	for (int k = 0; k < nb; k++) {
		int cur = bid_is_current(v, nb, k);
		st->bids += cur;
		if (cur && p->has_budget && p->budget.max > 0 && v[k].info.has_amount &&
		    !strcmp(v[k].info.amount.unit, p->budget.unit[0] ? p->budget.unit : "total") &&
		    !strcmp(v[k].info.amount.currency, p->budget.currency)) {
			st->ratio_sum += v[k].info.amount.max / p->budget.max;
			st->ratio_n++;
		}
	}
	for (int k = 0; k < nb; k++)
		bid_row_clear(&v[k]);
	if (nb >= 0)
		free(v);
	return nb < 0 ? -1 : 0;
}

static void stats_print(struct store *s, const struct board_stats *st)
{
	int awarded = st->by[PROJECT_AWARDED];
	int decided = awarded + st->by[PROJECT_CLOSED] + st->by[PROJECT_EXPIRED];
	printf("projects: %d (", st->n);
	for (int k = 0, first = 1; k <= PROJECT_STATE_UNKNOWN; k++) {
		if (k != PROJECT_STATE_UNKNOWN || st->by[k]) {
			printf("%s%s %d", first ? "" : ", ", k == PROJECT_STATE_UNKNOWN ? "unknown"
			       : store_project_state_name((enum project_state)k), st->by[k]);
			first = 0;
		}
	}
	printf(")\n");
	printf("bids: %d current (%.1f per project)\n", st->bids,
	       st->n ? (double)st->bids / st->n : 0.0);
	printf("award rate: %.0f%% of decided projects (awarded / awarded + closed + expired)\n",
	       decided ? 100.0 * awarded / decided : 0.0);
	if (st->ratio_n)
		printf("average bid against budget: %.0f%% (%d current bids in the budget's currency and unit)\n",
		       100.0 * st->ratio_sum / st->ratio_n, st->ratio_n);
	printf("subscribers: %d, outbox: %d\n", store_count(s, "subscribers"), store_count(s, "outbox"));
}

/* `stats`: the projects read page after page without their descriptions, so that its memory
 * does not grow with the board. */
static int cmd_stats(struct config *c, int argc, char **argv)
{
	(void)argv;
	if (argc)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct board_stats st = { 0 };
	int64_t after = 0;
	int n = LIST_PAGE, rc = 0;
	for (int page = 0; n == LIST_PAGE && page < 100000000; page++) {
		struct project *p;
		n = store_project_page(s, PROJECT_STATE_ANY, NULL, 0, after, LIST_PAGE, &p);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (stats_add(s, &p[i], &st) < 0)
				rc = 1;
			after = p[i].id;
			project_clear(&p[i]);
		}
		free(p);
	}
	if (n >= 0)
		stats_print(s, &st);
	store_close(s);
	return n < 0 ? 1 : rc;
}

/* One held project of `moderate list`: the line that names it, then why it is held in words
 * (the rules that fired, the score against the threshold), in the board's language. */
static void print_held(const struct config *c, const struct project *p)
{
	/* the line scripts read since the first release, then the reasons in words, indented */
	printf("%lld  %s  <%s>  flags %s\n", (long long)p->id, p->title, p->poster,
	       p->flags_json ? p->flags_json : "[]");
	char *why = post_held_why(p, c->language);
	printf("%s\n", why);
	free(why);
}

/* `bidmail moderate list|approve N|reject N "reason"` */
static int cmd_moderate(struct config *c, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	int rc = 0;
	if (!strcmp(argv[0], "list") && argc == 1) {
		struct project *p;
		int n = store_project_select(s, PROJECT_HELD, NULL, 1, &p);
		for (int i = 0; i < n; i++) {
			if (p[i].status == PROJECT_HELD)
				print_held(c, &p[i]);
			project_clear(&p[i]);
		}
		if (n >= 0)
			free(p);
		rc = n < 0;
	} else if ((!strcmp(argv[0], "approve") && argc == 2) ||
		   (!strcmp(argv[0], "reject") && (argc == 2 || argc == 3))) {
		int approve = argv[0][0] == 'a';
		if (store_begin(s) < 0) {
			store_close(s);
			return 1;
		}
		int r = post_moderate(c, s, atoll(argv[1]), approve, argc == 3 ? argv[2] : NULL,
				      NULL);
		if (r < 0 || store_commit(s) < 0) {
			store_rollback(s);
			rc = 1;
		} else if (r == 0) {
			fprintf(stderr, "bidmail moderate: no project %s\n", argv[1]);
			rc = 1;
		} else if (r == 2) {
			fprintf(stderr, "bidmail moderate: project %s is not waiting for a moderator\n",
				argv[1]);
			rc = 1;
		} else {
			send_outbox_flush(c, s);
			printf("project %s %s\n", argv[1], approve ? "approved" : "rejected");
		}
	} else {
		rc = 2;
		usage();
	}
	store_close(s);
	return rc;
}

static int cmd_backup(struct config *c, int argc, char **argv)
{
	if (argc != 1 || argv[0][0] == '-')
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	int pages = store_backup(s, argv[0]);
	store_close(s);
	if (pages < 0) {
		fprintf(stderr, "bidmail: backup to %s failed (see the log)\n", argv[0]);
		return 1;
	}
	printf("backup: %d pages copied to %s\n", pages, argv[0]);
	return 0;
}

static int cmd_export(struct config *c, int argc, char **argv)
{
	unsigned formats = 0;
	const char *out = *c->export_dir ? c->export_dir : NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			const char *f = argv[++i];
			if (!strcmp(f, "html"))
				formats |= EXPORT_HTML;
			else if (!strcmp(f, "atom"))
				formats |= EXPORT_ATOM;
			else if (!strcmp(f, "json"))
				formats |= EXPORT_JSON;
			else
				return usage();
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			out = argv[++i];
		} else {
			return usage();
		}
	}
	if (!out) {
		fprintf(stderr, "bidmail: export needs --out DIR (or export_dir in the configuration)\n");
		return 2;
	}
	struct store *s = open_store(c);
	if (!s)
		return 1;
	int n = export_run(c, s, out, formats ? formats : EXPORT_HTML | EXPORT_ATOM | EXPORT_JSON,
			   clock_now());
	store_close(s);
	if (n < 0) {
		fprintf(stderr, "bidmail: export to %s failed (see the log)\n", out);
		return 1;
	}
	return 0;
}

static int cmd_fetch(struct config *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return usage();
	if (!*c->fetch_url) {
		fprintf(stderr, "bidmail: fetch_url is not set in the configuration\n");
		return 1;
	}
	int r = fetch_once(c, NULL);	/* the database only once, at an upgrade */
	return r >= 0 ? 0 : r == -2 ? 1 : EXIT_TEMPFAIL;
}

/* `reconcile [--since ISO-DATE]`: the files of incoming/cur the database does not know go
 * back to incoming/new (a commit lost in a failover); the next run ingests them. */
static int cmd_reconcile(struct config *c, int argc, char **argv)
{
	time_t since = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--since") && i + 1 < argc) {
			since = clock_parse_iso(argv[++i]);
			if (since == (time_t)-1) {
				fprintf(stderr, "bidmail reconcile: --since wants an ISO 8601 date or "
					"time, e.g. 2026-12-01 or 2026-12-01T08:00:00Z\n");
				return 2;
			}
		} else {
			return usage();
		}
	}
	struct store *s = open_store(c);
	if (!s)
		return EXIT_TEMPFAIL;
	int failed = 0;
	int n = ingest_reconcile(c, s, since, &failed);
	store_close(s);
	printf("%d message%s re-offered\n", n, n == 1 ? "" : "s");
	return failed ? EXIT_TEMPFAIL : 0;
}

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* The listener commands (http, lmtp): --listen ADDR, else the configured address, else
 * the default; serves until SIGTERM or SIGINT. */
static int cmd_listener(struct config *c, int argc, char **argv, int lmtp)
{
	const char *configured = lmtp ? c->lmtp_listen : c->http_listen;
	const char *where = *configured ? configured : lmtp ? "127.0.0.1:2003" : "127.0.0.1:8025";
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			where = argv[++i];
		else
			return usage();
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct lmtp_server *l = lmtp ? lmtp_start(c, where) : NULL;
	struct http_server *h = lmtp ? NULL : http_start(c, where);
	if (!l && !h)
		return 1;
	while (!got_term)
		sleep(1);	/* a signal cuts it short */
	lmtp_stop(l);
	http_stop(h);
	log_info("stage=%s result=stopped", lmtp ? "lmtp" : "http");
	return 0;
}

static int cmd_status(struct config *c, int argc, char **argv)
{
	int as_json = json_flag(argc, argv);
	if (as_json < 0)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct store_status st;
	int rc = store_status(s, &st);
	store_close(s);
	if (rc < 0) {
		store_status_clear(&st);
		return 1;
	}
	time_t oldest;
	st.spool_waiting = spool_count(c, "incoming/new", &oldest);
	if (st.spool_waiting > 0)
		clock_format_iso(oldest, st.spool_oldest);
	st.quarantined = spool_count(c, "failed", NULL);
	if (as_json) {
		json_print_status(stdout, &st);
	} else {
		printf("spool: %d waiting%s%s%s, %d quarantined\n", st.spool_waiting,
		       *st.spool_oldest ? " (oldest " : "", st.spool_oldest,
		       *st.spool_oldest ? ")" : "", st.quarantined);
		printf("outbox: %d queued%s%s%s, %d failed, %d sent\n", st.outbox_queued,
		       st.oldest_queued ? " (oldest " : "", st.oldest_queued ? st.oldest_queued : "",
		       st.oldest_queued ? ")" : "", st.outbox_failed, st.outbox_sent);
		printf("posts: %d awaiting their poster's confirmation, %d held for moderation\n",
		       st.pending_posts, st.held_posts);
		printf("subscribers: %d awaiting confirmation\n", st.pending_subscribers);
		printf("last digest run: %s\n", st.last_digest ? st.last_digest : "never");
		printf("bounce-disabled addresses: %zu\n", st.disabled.n);
		for (size_t i = 0; i < st.disabled.n; i++)
			printf("  %s\n", st.disabled.v[i]);
	}
	store_status_clear(&st);
	return 0;
}

static int cmd_outbox(struct config *c, int argc, char **argv)
{
	int as_json = json_flag(argc, argv);
	if (as_json < 0)
		return usage();
	struct store *s = open_store(c);
	if (!s)
		return 1;
	struct outbox_row *r;
	int n = store_outbox_list(s, OUTBOX_STATE_ANY, 0, &r);
	store_close(s);
	if (n < 0)
		return 1;
	if (as_json) {
		json_print_outbox(stdout, r, n);
	} else {
		printf("%-6s %-8s %-14s %-30s %s\n", "id", "state", "kind", "to", "subject");
		for (int i = 0; i < n; i++)
			printf("%-6lld %-8s %-14s %-30s %s%s%s\n", (long long)r[i].id,
			       store_outbox_state_name(r[i].state), r[i].kind, r[i].to, r[i].subject,
			       r[i].last_error ? "  error: " : "", r[i].last_error ? r[i].last_error : "");
	}
	for (int i = 0; i < n; i++)
		outbox_row_clear(&r[i]);
	free(r);
	return 0;
}

static int cmd_http(struct config *c, int argc, char **argv)
{
	return cmd_listener(c, argc, argv, 0);
}

static int cmd_lmtp(struct config *c, int argc, char **argv)
{
	return cmd_listener(c, argc, argv, 1);
}

static int cmd_check_config(struct config *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (render_check_all(c) < 0)
		return 1;
	config_dump(c, stdout);
	return 0;
}

static int cmd_version(struct config *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	printf("bidmail %s\n", BIDMAIL_VERSION);
	return 0;
}

static int cmd_help(struct config *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	usage_print(stdout);
	return 0;
}

/* ---------------------------------------------------------------- the sub-command table */

#define SUB_NO_CONFIG 1u	/* runs without reading the configuration (c is NULL) */
#define SUB_DATA 2u		/* reads mail or patterns: needs the data files (extract_load) */
#define SUB_KEY 4u		/* signs addresses: needs the secret key (init creates it) */
#define SUB_TEMPFAIL 8u		/* run by an MTA: a failure before its work exits 75, never 1 */
#define SUB_UNLISTED 16u	/* not in the list (help itself) */

/* Every sub-command, in the order `bidmail help` lists them. */
static const struct subcommand {
	const char *name;
	const char *alias;	/* another spelling, or NULL */
	int (*run)(struct config *c, int argc, char **argv);	/* the exit code */
	const char *args;	/* the synopsis after the name, "" for none */
	const char *help;	/* one line, or two separated by \n */
	unsigned flags;
} subcommands[] = {
	{ "init", NULL, cmd_init, "", "create the database and the spool folders", SUB_DATA },
	{ "deliver", NULL, cmd_deliver, "[--recipient ADDR] [--sender ADDR]",
	  "store one message from stdin (exit 0 or 75)", SUB_TEMPFAIL },
	{ "run", NULL, cmd_run, "[--once]", "the daemon (--once: process what is pending)",
	  SUB_DATA | SUB_KEY },
	{ "fetch", NULL, cmd_fetch, "", "one pass over the fetch_url mailbox (IMAP, POP3)", 0 },
	{ "lmtp", NULL, cmd_lmtp, "[--listen HOST:PORT|PATH]",
	  "take mail over LMTP (RFC 2033) until SIGTERM", 0 },
	{ "export", NULL, cmd_export, "[--format html|atom|json] [--out DIR]",
	  "write the marketplace page of the open projects", SUB_DATA },
	{ "send", NULL, cmd_send, "[--once]", "deliver the outbox", SUB_DATA | SUB_KEY },
	{ "parse", NULL, cmd_parse, "[--as post|bid] [--recipient ADDR] FILE",
	  "print what the gateway understands, as JSON", SUB_DATA },
	{ "projects", NULL, cmd_projects, "[--json]", "list the projects", 0 },
	{ "outbox", NULL, cmd_outbox, "[--json]", "list the outgoing mail", 0 },
	{ "subscribers", NULL, cmd_subscribers, "[--json]",
	  "list the subscribers and their profiles", 0 },
	{ "match", NULL, cmd_match, "PROJECT", "the subscribers a project matches, and why",
	  SUB_DATA },
	{ "digest", NULL, cmd_digest, "[--at ISO-TIME] [--dry-run]",
	  "queue (or show) the selections due", SUB_DATA | SUB_KEY },
	{ "bids", NULL, cmd_bids, "PROJECT [--json]", "the bids of a project", 0 },
	{ "moderate", NULL, cmd_moderate, "list|approve N|reject N [REASON]",
	  "decide on posts held as suspected scams", SUB_DATA | SUB_KEY },
	{ "stats", NULL, cmd_stats, "",
	  "every project by status, award rate; current bids (each\nfreelancer's last offered one) per project, vs budget", 0 },
	{ "status", NULL, cmd_status, "[--json]",
	  "queue sizes, oldest pending, last digest run,\nbounce-disabled addresses", 0 },
	{ "reconcile", NULL, cmd_reconcile, "[--since ISO-DATE]",
	  "re-offer the ingested files the database does not know", 0 },
	{ "backup", NULL, cmd_backup, "FILE", "consistent online copy of the database", 0 },
	{ "http", NULL, cmd_http, "[--listen HOST:PORT]", "serve one-click unsubscribe (RFC 8058)",
	  SUB_KEY },
	{ "check-config", NULL, cmd_check_config, "", "check the configuration and the templates",
	  SUB_DATA },
	{ "version", "--version", cmd_version, "", "print the version", SUB_NO_CONFIG },
	{ "help", "--help", cmd_help, "", "print this list", SUB_NO_CONFIG | SUB_UNLISTED },
	{ "ingest-trial", NULL, cmd_ingest_trial, "NAME",
	  "parse one spool file alone, writing nothing (the in-flight guard's trial)",
	  SUB_DATA | SUB_UNLISTED },
};

#define HELP_COLUMN 41	/* where the help lines start */

/* The synopsis and the help of every listed sub-command, from the table. A synopsis of up to
 * HELP_COLUMN characters keeps its help on its line, two spaces after it at least. */
static void usage_print(FILE *f)
{
	fputs("usage: bidmail [--config FILE] COMMAND [ARGS]\ncommands:\n", f);
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
		const struct subcommand *sc = &subcommands[i];
		if (sc->flags & SUB_UNLISTED)
			continue;
		char synopsis[128];
		snprintf(synopsis, sizeof synopsis, "%s%s%s", sc->name, *sc->args ? " " : "", sc->args);
		size_t n = strcspn(sc->help, "\n");
		if (strlen(synopsis) <= HELP_COLUMN)
			fprintf(f, "  %-*s  %.*s\n", HELP_COLUMN - 4, synopsis, (int)n, sc->help);
		else
			fprintf(f, "  %s\n%*s%.*s\n", synopsis, HELP_COLUMN, "", (int)n, sc->help);
		for (const char *h = sc->help + n; *h; h += n) {
			h++;
			n = strcspn(h, "\n");
			fprintf(f, "%*s%.*s\n", HELP_COLUMN, "", (int)n, h);
		}
	}
}

static const struct subcommand *subcommand_find(const char *name)
{
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		if (!strcmp(name, subcommands[i].name) ||
		    (subcommands[i].alias && !strcmp(name, subcommands[i].alias)))
			return &subcommands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *config_file = NULL;
	int i = 1;
	/* a peer that closes its socket (IMAP, POP3, SMTP, HTTP) is an error to handle, not a
	 * signal that kills the daemon */
	signal(SIGPIPE, SIG_IGN);
	if (i + 1 < argc && !strcmp(argv[i], "--config")) {
		config_file = argv[i + 1];
		i += 2;
	}
	const struct subcommand *sc = i < argc ? subcommand_find(argv[i++]) : NULL;
	if (!sc)
		return usage();
	if (sc->flags & SUB_NO_CONFIG)
		return sc->run(NULL, argc - i, argv + i);
	int failed = sc->flags & SUB_TEMPFAIL ? EXIT_TEMPFAIL : 1;
	struct config c;
	if (config_load(&c, config_file) < 0) {
		config_clear(&c);
		return failed;
	}
	log_open("bidmail", c.use_syslog);
	clock_set_zone(c.timezone);	/* once, before any thread: digests read local time */
	if (((sc->flags & SUB_DATA) && extract_load(&c) < 0) ||
	    ((sc->flags & SUB_KEY) && keys_init(c.secret_key_file, 0) < 0)) {
		config_clear(&c);
		return 1;
	}
	int rc = sc->run(&c, argc - i, argv + i);
	config_clear(&c);
	return rc;
}
