/*
 * runtime.c — everything the daemon reads from files, built whole: the configuration, the
 * data files (skills, scam rules, locations), the secret key, the message catalogue and the
 * templates (one per language of the catalogue).
 * In: the config file. Out: a struct runtime, all parts loaded or none; runtime_use swaps
 * all of them in at once, in the main thread, while the threads that read the configuration
 * are stopped (fetch, LMTP; HTTP when its settings change: otherwise it reads only the
 * secret, which is swapped under its lock).
 * The time zone is not part of a reload: it is set once at start (clock_set_zone); nor are
 * the database and the spool, which the daemon holds open from start.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>

struct runtime {
	struct config config;
	struct extract_data *data;
	struct catalog_set *catalog;
	struct render_set *templates;
	unsigned char secret[KEYS_SECRET_LEN];
};

struct runtime *runtime_free(struct runtime *rt)
{
	if (!rt)
		return NULL;
	config_clear(&rt->config);
	extract_data_free(rt->data);
	catalog_set_free(rt->catalog);
	render_set_free(rt->templates);
	memset(rt->secret, 0, sizeof rt->secret);
	free(rt);
	return NULL;
}

struct runtime *runtime_load(const char *file)
{
	struct runtime *rt = xcalloc(1, sizeof *rt);
	if (config_load(&rt->config, file) < 0)
		return runtime_free(rt);
	/* each part reports its own reasons on stderr; all are tried, so one reload shows all */
	int bad = 0;
	if (!(rt->data = extract_data_load(&rt->config)))
		bad = 1;
	if (!(rt->catalog = catalog_set_load(&rt->config)))
		bad = 1;
	else if (!(rt->templates = render_set_load(&rt->config, rt->catalog)))
		bad = 1;
	if (keys_secret_read(rt->config.secret_key_file, 0, rt->secret) < 0)
		bad = 1;
	return bad ? runtime_free(rt) : rt;
}

const struct config *runtime_config(const struct runtime *rt)
{
	return &rt->config;
}

/* Keeps the value of key *was in *now (both config strings). */
static void keep(char **now, const char *was)
{
	if (strcmp(*now, was)) {
		free(*now);
		*now = xstrdup(was);
	}
}

void runtime_use(struct runtime *rt, struct config *c)
{
	/* the zone stays the one set at start: changing TZ now would race the clock readers */
	keep(&rt->config.timezone, c->timezone);
	/* the daemon holds the database and the spool open from start (its store, the inotify
	 * watch): a new value for some threads only would split the board in two */
	keep(&rt->config.database, c->database);
	keep(&rt->config.spool, c->spool);
	config_clear(c);
	*c = rt->config;
	memset(&rt->config, 0, sizeof rt->config);
	extract_data_free(extract_data_use(rt->data));
	rt->data = NULL;
	catalog_set_free(catalog_set_use(rt->catalog));
	rt->catalog = NULL;
	render_set_free(render_set_use(rt->templates));
	rt->templates = NULL;
	keys_secret_use(rt->secret);
	runtime_free(rt);
}
