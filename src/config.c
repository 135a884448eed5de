/*
 * config.c — the configuration: every key, its type and its default in one table.
 * In: a `key = value` file (default ./bidmail.conf, then /etc/bidmail/bidmail.conf).
 * Out: a filled struct config; unknown keys and bad values are refused with file:line: reason.
 * Relative paths are resolved against the config file's folder (the current folder without one).
 */
#include "bidmail.h"

#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef BIDMAIL_DATADIR
#define BIDMAIL_DATADIR "/usr/local/share/bidmail"
#endif

enum cfg_type { CFG_STRING, CFG_ADDRESS, CFG_PATH, CFG_SIZE, CFG_INT, CFG_BOOL, CFG_LANG,
	       CFG_DURATION, CFG_DATABASE };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;	/* "" for empty; addresses may use DOMAIN */
	size_t offset;
	long min, max;		/* for CFG_INT */
};

#define OFF(f) offsetof(struct config, f)
static const struct cfg_key cfg_keys[] = {
	{ "domain", CFG_STRING, "example.org", OFF(domain), 0, 0 },
	{ "post_address", CFG_ADDRESS, "post@DOMAIN", OFF(post_address), 0, 0 },
	{ "robot_address", CFG_ADDRESS, "robot@DOMAIN", OFF(robot_address), 0, 0 },
	{ "bid_address", CFG_ADDRESS, "bid@DOMAIN", OFF(bid_address), 0, 0 },
	{ "database", CFG_DATABASE, "var/bidmail.db", OFF(database), 0, 0 },
	{ "spool", CFG_PATH, "spool", OFF(spool), 0, 0 },
	{ "smarthost", CFG_STRING, "", OFF(smarthost), 0, 0 },
	{ "language", CFG_LANG, LANGUAGE_DEFAULT, OFF(language), 0, 0 },
	{ "timezone", CFG_STRING, "Europe/Paris", OFF(timezone), 0, 0 },
	{ "max_message_size", CFG_SIZE, "10M", OFF(max_message_size), 0, 0 },
	{ "max_header_size", CFG_SIZE, "100K", OFF(max_header_size), 0, 0 },
	{ "max_mime_depth", CFG_INT, "100", OFF(max_mime_depth), 1, 1000 },
	{ "max_mime_parts", CFG_INT, "1000", OFF(max_mime_parts), 1, 100000 },
	{ "max_message_time", CFG_DURATION, "30s", OFF(max_message_time), 1, 3600 },
	{ "templates", CFG_PATH, "", OFF(templates), 0, 0 },
	{ "data_dir", CFG_PATH, "", OFF(data_dir), 0, 0 },
	{ "template_override", CFG_PATH, "", OFF(template_override), 0, 0 },
	{ "board_name", CFG_STRING, "bidmail", OFF(board_name), 0, 0 },
	{ "batch_size", CFG_INT, "64", OFF(batch_size), 1, 10000 },
	{ "poll_interval", CFG_INT, "2", OFF(poll_interval), 1, 3600 },
	{ "syslog", CFG_BOOL, "no", OFF(use_syslog), 0, 1 },
	{ "bounce_address", CFG_ADDRESS, "bounce@DOMAIN", OFF(bounce_address), 0, 0 },
	{ "secret_key_file", CFG_PATH, "var/secret.key", OFF(secret_key_file), 0, 0 },
	{ "public_url", CFG_STRING, "", OFF(public_url), 0, 0 },
	/* "": required unless the smarthost is on loopback (config_load decides) */
	{ "smtp_tls", CFG_STRING, "", OFF(smtp_tls), 0, 0 },
	{ "smtp_ca_file", CFG_PATH, "", OFF(smtp_ca_file), 0, 0 },
	{ "smtp_user", CFG_STRING, "", OFF(smtp_user), 0, 0 },
	{ "smtp_password", CFG_STRING, "", OFF(smtp_password), 0, 0 },
	{ "smtp_connections", CFG_INT, "4", OFF(smtp_connections), 1, 64 },
	{ "smtp_timeout", CFG_INT, "60", OFF(smtp_timeout), 1, 3600 },
	{ "max_queue_age", CFG_DURATION, "5d", OFF(max_queue_age), 60, 365L * 86400 },
	{ "retry_base", CFG_DURATION, "60s", OFF(retry_base), 1, 86400 },
	{ "bounce_threshold", CFG_INT, "3", OFF(bounce_threshold), 1, 1000 },
	{ "bid_cap", CFG_INT, "20", OFF(bid_cap), 1, 10000 },
	{ "min_hourly_rate", CFG_STRING, "20 EUR", OFF(min_hourly_rate), 0, 0 },
	{ "min_daily_rate", CFG_STRING, "160 EUR", OFF(min_daily_rate), 0, 0 },
	{ "currency", CFG_STRING, "EUR", OFF(currency), 0, 0 },
	{ "exchange_rates", CFG_STRING, "2026-01-01 USD:0.92 GBP:1.17 CHF:1.05 CAD:0.68 AUD:0.61 "
	  "MAD:0.092 TND:0.29 XOF:0.0015 JPY:0.0062 INR:0.011", OFF(exchange_rates), 0, 0 },
	{ "commission_percent", CFG_INT, "15", OFF(commission_percent), 0, 100 },
	{ "commission_payer", CFG_STRING, "freelancer", OFF(commission_payer), 0, 0 },
	{ "payment_terms", CFG_STRING, "", OFF(payment_terms), 0, 0 },
	{ "match_budget_pass_ms", CFG_INT, "250", OFF(match_budget_pass_ms), 1, 600000 },
	{ "match_budget_mail_ms", CFG_INT, "1000", OFF(match_budget_mail_ms), 1, 600000 },
	{ "match_probe_us", CFG_INT, "100", OFF(match_probe_us), 1, 1000000 },
	{ "milestones", CFG_STRING, "20,40,40", OFF(milestones), 0, 0 },
	{ "project_ttl", CFG_DURATION, "30d", OFF(project_ttl), 86400, 365L * 86400 },
	{ "reminder_days", CFG_STRING, "3,10", OFF(reminder_days), 0, 0 },
	{ "rating_delay", CFG_DURATION, "14d", OFF(rating_delay), 3600, 365L * 86400 },
	{ "authserv_id", CFG_STRING, "", OFF(authserv_id), 0, 0 },
	{ "moderators", CFG_STRING, "", OFF(moderators), 0, 0 },
	{ "http_listen", CFG_STRING, "", OFF(http_listen), 0, 0 },
	{ "http_rate_limit", CFG_INT, "20", OFF(http_rate_limit), 1, 100000 },
	{ "sender_rate_limit", CFG_INT, "60", OFF(sender_rate_limit), 1, 1000000 },
	{ "sender_rate_window", CFG_DURATION, "1h", OFF(sender_rate_window), 60, 7L * 86400 },
	{ "export_dir", CFG_PATH, "", OFF(export_dir), 0, 0 },
	/* "": the machine's hostname (config_load) */
	{ "host_id", CFG_STRING, "", OFF(host_id), 0, 0 },
	{ "lmtp_listen", CFG_STRING, "", OFF(lmtp_listen), 0, 0 },
	{ "lmtp_timeout", CFG_INT, "300", OFF(lmtp_timeout), 1, 3600 },
	{ "fetch_url", CFG_STRING, "", OFF(fetch_url), 0, 0 },
	{ "fetch_password", CFG_STRING, "", OFF(fetch_password), 0, 0 },
	{ "fetch_tls", CFG_STRING, "required", OFF(fetch_tls), 0, 0 },
	{ "fetch_ca_file", CFG_PATH, "", OFF(fetch_ca_file), 0, 0 },
	{ "fetch_after", CFG_STRING, "seen", OFF(fetch_after), 0, 0 },
	{ "fetch_interval", CFG_DURATION, "60s", OFF(fetch_interval), 1, 86400 },
	{ "fetch_timeout", CFG_INT, "60", OFF(fetch_timeout), 1, 3600 },
	{ "fetch_deadline", CFG_DURATION, "5m", OFF(fetch_deadline), 1, 86400 },
};
#define N_KEYS (sizeof cfg_keys / sizeof cfg_keys[0])

int config_listen_address(const char *listen, struct addrinfo **ai)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	*ai = NULL;
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
		return -1;
	snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	if (getaddrinfo(host, colon + 1, &hints, ai) != 0 || !*ai) {
		*ai = NULL;
		return -1;
	}
	return 0;
}

static int parse_size(const char *v, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (end == v || errno || *v == '-')
		return -1;
	unsigned long long mul = 1;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1024ULL; break;
		case 'M': mul = 1024ULL * 1024; break;
		case 'G': mul = 1024ULL * 1024 * 1024; break;
		default: return -1;
		}
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (n == 0 || n > (unsigned long long)SIZE_MAX / mul || n * mul > (1ULL << 34))
		return -1;
	*out = (size_t)(n * mul);
	return 0;
}

static int address_ok(const char *v)
{
	const char *at = strchr(v, '@');
	return at && at != v && at[1] && !strchr(at + 1, '@') && compose_address_is_safe(v);
}

static int rate_ok(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	if (end == v || d < 0)
		return 0;
	while (*end == ' ')
		end++;
	return strlen(end) == 3 && isupper((unsigned char)end[0]) && isupper((unsigned char)end[1]) &&
	       isupper((unsigned char)end[2]);
}

/* An ISO 4217 code: three capitals. */
static int currency_ok(const char *v)
{
	return strlen(v) == 3 && isupper((unsigned char)v[0]) && isupper((unsigned char)v[1]) &&
	       isupper((unsigned char)v[2]);
}

static int milestones_ok(const char *v)
{
	int sum = 0, n = 0;
	const char *p = v;
	while (*p) {
		char *end;
		long x = strtol(p, &end, 10);
		if (end == p || x <= 0 || x > 100)
			return 0;
		sum += (int)x;
		n++;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return n >= 1 && n <= 8 && sum == 100;
}

static int days_ok(const char *v)
{
	const char *p = v;
	int n = 0;
	while (*p) {
		char *end;
		long x = strtol(p, &end, 10);
		if (end == p || x <= 0 || x > 365)
			return 0;
		n++;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return n <= 8;
}

static int rates_ok(const char *v)
{
	if (!*v)
		return 1;
	if (clock_parse_iso(strndupa(v, strcspn(v, " "))) == (time_t)-1)
		return 0;
	const char *p = v + strcspn(v, " ");
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (!isupper((unsigned char)p[0]) || !isupper((unsigned char)p[1]) ||
		    !isupper((unsigned char)p[2]) || p[3] != ':')
			return 0;
		char *end;
		double r = strtod(p + 4, &end);
		if (end == p + 4 || r <= 0)
			return 0;
		p = end;
	}
	return 1;
}

static int addresses_ok(const char *v)
{
	char *copy = xstrdup(v), *save = NULL;
	int ok = 1;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		if (!address_ok(t))
			ok = 0;
	free(copy);
	return ok;
}

#define HOST_ID_MAX 64

/* 1 when v is empty or a host_id: at most HOST_ID_MAX of [A-Za-z0-9.-]. */
static int host_id_ok(const char *v)
{
	size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-");
	return !v[n] && n <= HOST_ID_MAX;
}

/* The default host_id: the machine's hostname, any other character made '-', cut at
 * HOST_ID_MAX; "localhost" when it has none. */
static char *host_id_default(void)
{
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) < 0 || !*host)
		snprintf(host, sizeof host, "localhost");
	host[HOST_ID_MAX] = '\0';
	for (char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			*p = '-';
	return xstrdup(host);
}

static char *resolve_path(const struct config *c, const char *v)
{
	if (!*v || v[0] == '/')
		return xstrdup(v);
	return xasprintf("%s/%s", c->dir, v);
}

/* Sets one key; returns NULL on success or a static reason. */
static const char *cfg_set(struct config *c, const struct cfg_key *k, const char *v)
{
	void *field = (char *)c + k->offset;
	switch (k->type) {
	case CFG_STRING:
	case CFG_ADDRESS:
	case CFG_LANG:
		if (k->type == CFG_LANG && !catalog_language_name_ok(v))
			return "a language is named like the folders of mail-templates (fr, en...)";
		if (k->type == CFG_ADDRESS && *v && !strstr(v, "DOMAIN") && !address_ok(v))
			return "not a plain address (local@domain, no spaces or brackets)";
		if (!strcmp(k->name, "smarthost") && *v && strncmp(v, "smtp://", 7) &&
		    strncmp(v, "smtps://", 8))
			return "smarthost must be empty, smtp://host:port or smtps://host:port";
		if (!strcmp(k->name, "domain") && (!*v || strchr(v, '@') || strchr(v, ' ')))
			return "domain must be a plain domain name";
		if (!strcmp(k->name, "fetch_url") && *v && !fetch_url_ok(v))
			return "fetch_url must be empty or imaps://, imap://, pop3s:// or pop3:// "
			       "USER@HOST[:PORT][/MAILBOX], with a user and a host";
		if (!strcmp(k->name, "fetch_tls") && strcmp(v, "required") && strcmp(v, "no"))
			return "fetch_tls must be required (imap:// and pop3:// use STARTTLS) or no";
		if (!strcmp(k->name, "fetch_after") && strcmp(v, "seen") && strcmp(v, "delete"))
			return "fetch_after must be seen or delete";
		if (!strcmp(k->name, "smtp_tls") && *v && strcmp(v, "required") &&
		    strcmp(v, "opportunistic") && strcmp(v, "no"))
			return "smtp_tls must be required, opportunistic, no, or empty (required "
			       "unless the smarthost is on loopback)";
		if ((!strcmp(k->name, "min_hourly_rate") || !strcmp(k->name, "min_daily_rate")) &&
		    !rate_ok(v))
			return "expected an amount and a currency, e.g. 20 EUR";
		if (!strcmp(k->name, "currency") && !currency_ok(v))
			return "expected an ISO 4217 code in capitals, e.g. EUR";
		if (!strcmp(k->name, "milestones") && !milestones_ok(v))
			return "expected percentages that sum to 100, e.g. 20,40,40";
		if (!strcmp(k->name, "commission_payer") && strcmp(v, "client") &&
		    strcmp(v, "freelancer") && strcmp(v, "shared"))
			return "commission_payer must be client, freelancer or shared";
		if (!strcmp(k->name, "reminder_days") && !days_ok(v))
			return "expected days separated by commas, e.g. 3,10";
		if (!strcmp(k->name, "exchange_rates") && !rates_ok(v))
			return "expected a date then CUR:rate pairs (value of 1 CUR in EUR), e.g. "
			       "2026-01-01 USD:0.92 GBP:1.17";
		if (!strcmp(k->name, "host_id") && !host_id_ok(v))
			return "host_id is at most 64 letters, digits, dots and hyphens (empty: the "
			       "machine's hostname)";
		if (!strcmp(k->name, "moderators") && !addresses_ok(v))
			return "expected plain addresses separated by commas or spaces";
		if (!strcmp(k->name, "public_url") && *v && strncmp(v, "https://", 8))
			return "public_url must be an https:// URL (RFC 8058 one-click needs https)";
		free(*(char **)field);
		*(char **)field = xstrdup(v);
		return NULL;
	case CFG_PATH:
		free(*(char **)field);
		*(char **)field = resolve_path(c, v);
		return NULL;
	case CFG_DATABASE: {
		/* read by store.c: a file path or a URL-like value */
		const char *why;
		char *d = store_database_resolve(v, c->dir, &why);
		if (!d)
			return why;
		free(*(char **)field);
		*(char **)field = d;
		return NULL;
	}
	case CFG_SIZE:
		if (parse_size(v, (size_t *)field) < 0)
			return "not a size (a number with an optional K, M or G suffix, e.g. 10M)";
		return NULL;
	case CFG_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (end == v || *end || errno || n < k->min || n > k->max)
			return "not a whole number in the allowed range";
		*(int *)field = (int)n;
		return NULL;
	}
	case CFG_DURATION: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		long mul = 1;
		if (end == v || errno || n < 0)
			return "not a duration (a number with s, m, h, d or w, e.g. 5d)";
		if (*end) {
			switch (*end) {
			case 's': mul = 1; break;
			case 'm': mul = 60; break;
			case 'h': mul = 3600; break;
			case 'd': mul = 86400; break;
			case 'w': mul = 7 * 86400; break;
			default: return "not a duration (a number with s, m, h, d or w, e.g. 5d)";
			}
			if (end[1])
				return "not a duration (a number with s, m, h, d or w, e.g. 5d)";
		}
		if (n > k->max / mul || n * mul < k->min)
			return "duration out of the allowed range";
		*(long *)field = n * mul;
		return NULL;
	}
	case CFG_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
			*(int *)field = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
			*(int *)field = 0;
		else
			return "must be yes or no";
		return NULL;
	}
	return "internal: unknown type";
}

/* 1 when the smarthost URL names this machine: localhost, 127.0.0.0/8 or ::1 (where no one
 * on the path can strip STARTTLS). */
static int smarthost_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	if (!h)
		return 0;
	h += 3;
	size_t n = strcspn(h, "/?#");
	const char *at = memchr(h, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	char host[256];
	if (n >= sizeof host)
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (host[0] == '[') {
		char *close = strchr(host, ']');
		if (!close)
			return 0;
		*close = '\0';
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else {
		host[strcspn(host, ":")] = '\0';
	}
	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
		return 1;
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = { [15] = 1 };
		static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
		return !memcmp(a, one, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
	}
	return 0;
}

static char *expand_domain(const char *v, const char *domain)
{
	const char *p = strstr(v, "DOMAIN");
	if (!p)
		return xstrdup(v);
	return xasprintf("%.*s%s%s", (int)(p - v), v, domain, p + 6);
}

/* Reads file into c; *lang_line is set to the line of the `language` key, if any. */
static int read_file(struct config *c, const char *file, int *lang_line)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", file, strerror(errno));
		return -1;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "%s:%d: line longer than %zu bytes\n", file, lineno,
				sizeof line - 1);
			rc = -1;
			break;
		}
		char *s = str_trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "%s:%d: expected `key = value`\n", file, lineno);
			rc = -1;
			continue;
		}
		*eq = '\0';
		char *key = str_trim(s), *val = str_trim(eq + 1);
		const struct cfg_key *k = NULL;
		for (size_t i = 0; i < N_KEYS; i++)
			if (!strcmp(cfg_keys[i].name, key))
				k = &cfg_keys[i];
		if (!k) {
			fprintf(stderr, "%s:%d: unknown key `%s`\n", file, lineno, key);
			rc = -1;
			continue;
		}
		if (k->type == CFG_LANG)
			*lang_line = lineno;
		const char *why = cfg_set(c, k, val);
		if (why) {
			fprintf(stderr, "%s:%d: bad value for `%s`: %s\n", file, lineno, key, why);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

/* A shipped folder: beside the config file, else beside (or above) the program, else the
 * installed copy under DATADIR. */
static char *find_shipped(const struct config *c, const char *name, const char *installed)
{
	char *p = xasprintf("%s/%s", c->dir, name);
	if (access(p, F_OK) == 0)
		return p;
	free(p);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			const char *fmts[] = { "%s/%s", "%s/../%s" };
			for (int i = 0; i < 2; i++) {
				p = xasprintf(fmts[i], exe, name);
				if (access(p, F_OK) == 0)
					return p;
				free(p);
			}
		}
	}
	return xasprintf("%s/%s", BIDMAIL_DATADIR, installed);
}

int config_load(struct config *c, const char *file)
{
	memset(c, 0, sizeof *c);
	if (!file) {
		if (access("bidmail.conf", F_OK) == 0)
			file = "bidmail.conf";
		else if (access("/etc/bidmail/bidmail.conf", F_OK) == 0)
			file = "/etc/bidmail/bidmail.conf";
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, ".");
	if (file) {
		char *abs = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", cwd, file);
		char *slash = strrchr(abs, '/');
		c->dir = xstrndup(abs, (size_t)(slash - abs));
		if (!*c->dir) {
			free(c->dir);
			c->dir = xstrdup("/");
		}
		c->file = abs;
	} else {
		c->dir = xstrdup(cwd);
	}
	for (size_t i = 0; i < N_KEYS; i++)
		if (cfg_set(c, &cfg_keys[i], cfg_keys[i].def)) {
			fprintf(stderr, "bidmail: bad built-in default for %s\n", cfg_keys[i].name);
			return -1;
		}
	int lang_line = 0;
	if (c->file && read_file(c, c->file, &lang_line) < 0)
		return -1;
	char **addrs[] = { &c->post_address, &c->robot_address, &c->bid_address,
			   &c->bounce_address };
	for (size_t i = 0; i < 4; i++) {
		char *e = expand_domain(*addrs[i], c->domain);
		free(*addrs[i]);
		*addrs[i] = e;
		if (!address_ok(e)) {
			fprintf(stderr, "%s: address `%s` is not valid\n", c->file ? c->file : "defaults", e);
			return -1;
		}
	}
	/* STARTTLS that an on-path attacker could strip is the default only on loopback; an
	 * explicit value is always kept */
	if (!*c->smtp_tls) {
		free(c->smtp_tls);
		c->smtp_tls = xstrdup(!*c->smarthost || smarthost_is_loopback(c->smarthost)
				      ? "opportunistic" : "required");
	}
	if (!*c->host_id) {
		free(c->host_id);
		c->host_id = host_id_default();
	}
	if (!*c->templates) {
		free(c->templates);
		c->templates = find_shipped(c, "mail-templates", "mail-templates");
	}
	if (!*c->data_dir) {
		free(c->data_dir);
		c->data_dir = find_shipped(c, "contrib", "data");
	}
	/* any language with a catalogue (and so templates, checked with them) is one */
	if (!catalog_language_exists(c, c->language)) {
		char *found = catalog_languages_found(c, LANGUAGE_DEFAULT);
		fprintf(stderr, "%s:%d: bad value for `language`: no %s/strings in the templates or "
			"template_override folder; the languages here are %s\n",
			c->file ? c->file : "defaults", lang_line, c->language, found);
		free(found);
		return -1;
	}
	catalog_config_note(c);
	return 0;
}

void config_clear(struct config *c)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (cfg_keys[i].type != CFG_SIZE && cfg_keys[i].type != CFG_INT &&
		    cfg_keys[i].type != CFG_BOOL && cfg_keys[i].type != CFG_DURATION) {
			char **f = (char **)((char *)c + cfg_keys[i].offset);
			free(*f);
			*f = NULL;
		}
	free(c->file);
	free(c->dir);
	c->file = c->dir = NULL;
}

void config_dump(const struct config *c, FILE *out)
{
	fprintf(out, "# config file: %s\n", c->file ? c->file : "(none: embedded defaults)");
	for (size_t i = 0; i < N_KEYS; i++) {
		const void *f = (const char *)c + cfg_keys[i].offset;
		switch (cfg_keys[i].type) {
		case CFG_SIZE:
			fprintf(out, "%s = %zu\n", cfg_keys[i].name, *(const size_t *)f);
			break;
		case CFG_INT:
			fprintf(out, "%s = %d\n", cfg_keys[i].name, *(const int *)f);
			break;
		case CFG_BOOL:
			fprintf(out, "%s = %s\n", cfg_keys[i].name, *(const int *)f ? "yes" : "no");
			break;
		case CFG_DURATION:
			fprintf(out, "%s = %lds\n", cfg_keys[i].name, *(const long *)f);
			break;
		default:
			/* never print a password */
			fprintf(out, "%s = %s\n", cfg_keys[i].name,
				!strcmp(cfg_keys[i].name, "smtp_password") && **(char *const *)f
				? "(set)" : *(char *const *)f);
		}
	}
}
