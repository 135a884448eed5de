/*
 * match_bench.c — the matching benchmark: 100,000 generated profiles (1 to 5 skill patterns
 * each, word lists and regexes, many shared between subscribers, some excludes) against 2,000
 * generated projects of about 1.5 KB. Times computing every subscriber's weekly digest content
 * (which projects each subscriber gets) with the matcher, and reports peak memory; beside it, in
 * the same run, the naive loop (every pattern compiled with JIT and run on every project) timed
 * on a random 2% of the profiles and scaled up.
 * usage: match_bench [PROFILES] [PROJECTS]
 */
#include "../src/bidmail.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *const words[] = {
	"php", "symfony", "laravel", "mysql", "javascript", "react", "vue", "angular", "node",
	"python", "django", "java", "spring", "wordpress", "woocommerce", "prestashop", "shopify",
	"magento", "seo", "sea", "logo", "graphisme", "illustration", "photoshop", "figma",
	"traduction", "anglais", "allemand", "espagnol", "rédaction", "relecture", "comptabilité",
	"secrétariat", "saisie", "excel", "vba", "docker", "kubernetes", "aws", "linux", "devops",
	"android", "ios", "flutter", "swift", "kotlin", "c++", "c#", ".net", "rust", "golang",
	"montage", "vidéo", "motion", "3d", "blender", "photographie", "marketing", "emailing",
	"newsletter", "juridique", "paie", "facturation", "transcription", "sous-titrage",
	"community", "réseaux", "formation", "excel", "powerbi", "tableau", "data", "scraping",
	"api", "graphql", "postgresql", "mongodb", "redis", "elasticsearch", "ux", "ui", "webdesign",
};
#define NWORDS (int)(sizeof words / sizeof words[0])

static const char *const regexes[] = {
	"\\b(php|symfony)\\b", "react(\\.js)?", "traduct(ion|eur|rice)", "(?:wordpress|woocommerce)",
	"d[ée]velopp(eur|ement)", "\\bseo\\b", "logo(type)?s?", "compta(bilité|ble)", "vid[ée]o",
	"node\\.?js", "(secr[ée]tari|assistan)", "\\b(ios|android)\\b", "r[ée]daction web",
	"saisie (de )?donn[ée]es", "(power ?bi|tableau)", "python|django|flask", "\\bc\\+\\+",
	"(data|machine) learning", "community manag", "motion design", "shopify|prestashop",
	"\\b(aws|azure|gcp)\\b", "e-?commerce", "graphi(ste|sme)", "photo(graph|shop)",
};
#define NREGEX (int)(sizeof regexes / sizeof regexes[0])

static char *make_pattern(void)
{
	if (rnd() % 100 < 35)
		return xstrdup(regexes[rnd() % NREGEX]);
	int n = 1 + (int)(rnd() % 3);
	struct buf b;
	buf_init(&b, 256);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? " " : "", words[rnd() % NWORDS]);
	return buf_steal(&b);
}

static char *make_project(void)
{
	static const char *const filler[] = {
		"nous", "cherchons", "un", "prestataire", "pour", "notre", "projet", "de", "site",
		"avec", "budget", "délai", "semaines", "the", "we", "need", "a", "freelancer", "for",
		"our", "company", "with", "experience", "in", "merci", "bonjour", "équipe", "client",
	};
	struct buf b;
	buf_init(&b, 8192);
	while (b.len < 1500) {
		if (rnd() % 40 == 0)
			buf_printf(&b, "%s ", words[rnd() % NWORDS]);
		else
			buf_printf(&b, "%s ", filler[rnd() % (sizeof filler / sizeof filler[0])]);
		if (rnd() % 15 == 0)
			buf_puts(&b, ".\n");
	}
	return buf_steal(&b);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct profile {
	int skills[5], nskills;
	int excludes[2], nexcludes;
	char *src[7];
	int nsrc;
};

int main(int argc, char **argv)
{
	int nprof = argc > 1 ? atoi(argv[1]) : 100000;
	int nproj = argc > 2 ? atoi(argv[2]) : 2000;
	/* a shared pool of popular patterns: with the small vocabulary, about 40 % of all
	 * patterns end up written by more than one subscriber, as real ones are */
	int pool = nprof / 20 + 1;
	char **pool_src = xcalloc((size_t)pool, sizeof *pool_src);
	for (int i = 0; i < pool; i++)
		pool_src[i] = make_pattern();
	char **projects = xcalloc((size_t)nproj, sizeof *projects);
	for (int i = 0; i < nproj; i++)
		projects[i] = make_project();
	double t0 = now();
	struct matcher *m = matcher_new();
	struct profile *pr = xcalloc((size_t)nprof, sizeof *pr);
	int *post_count = NULL;
	size_t total_patterns = 0;
	for (int s = 0; s < nprof; s++) {
		pr[s].nskills = 1 + (int)(rnd() % 5);
		for (int k = 0; k < pr[s].nskills; k++) {
			char *fresh = rnd() % 100 < 25 ? NULL : make_pattern();
			const char *src = fresh ? fresh : pool_src[rnd() % (uint32_t)pool];
			pr[s].skills[k] = matcher_add(m, src);
			pr[s].src[pr[s].nsrc++] = (char *)matcher_source(m, pr[s].skills[k]);
			free(fresh);
			total_patterns++;
		}
		if (rnd() % 10 == 0) {
			pr[s].excludes[0] = matcher_add(m, rnd() % 2 ? "stage|stagiaire" : "bénévole");
			pr[s].src[pr[s].nsrc++] = (char *)(pr[s].excludes[0] >= 0
							   ? matcher_source(m, pr[s].excludes[0]) : "");
			pr[s].nexcludes = 1;
			total_patterns++;
		}
	}
	/* postings: pattern -> subscribers that use it as a skill */
	int np = matcher_count(m);
	post_count = xcalloc((size_t)np + 1, sizeof *post_count);
	for (int s = 0; s < nprof; s++)
		for (int k = 0; k < pr[s].nskills; k++)
			post_count[pr[s].skills[k]]++;
	int **postings = xcalloc((size_t)np + 1, sizeof *postings);
	int *fill = xcalloc((size_t)np + 1, sizeof *fill);
	for (int p = 0; p < np; p++)
		postings[p] = xmalloc(((size_t)post_count[p] + 1) * sizeof **postings);
	for (int s = 0; s < nprof; s++)
		for (int k = 0; k < pr[s].nskills; k++) {
			int p = pr[s].skills[k];
			if (!fill[p] || postings[p][fill[p] - 1] != s)
				postings[p][fill[p]++] = s;
		}
	double t1 = now();
	/* the digest content: for each project, the subscribers it goes to */
	int *matched = xmalloc((size_t)np * sizeof *matched), *limited = xmalloc((size_t)np * sizeof *limited);
	unsigned char *hit = xcalloc((size_t)np + 1, 1);
	int *last_project = xmalloc((size_t)nprof * sizeof *last_project);
	memset(last_project, 0xff, (size_t)nprof * sizeof *last_project);
	long long pairs = 0;
	for (int j = 0; j < nproj; j++) {
		int nl = 0;
		int n = matcher_run(m, projects[j], strlen(projects[j]), matched, np, limited, &nl);
		for (int i = 0; i < n; i++)
			hit[matched[i]] = 1;
		for (int i = 0; i < n; i++) {
			int p = matched[i];
			for (int q = 0; q < fill[p]; q++) {
				int s = postings[p][q];
				if (last_project[s] == j)
					continue;
				int excluded = 0;
				for (int e = 0; e < pr[s].nexcludes; e++)
					if (pr[s].excludes[e] >= 0 && hit[pr[s].excludes[e]])
						excluded = 1;
				if (excluded)
					continue;
				last_project[s] = j;
				pairs++;
			}
		}
		for (int i = 0; i < n; i++)
			hit[matched[i]] = 0;
	}
	double t2 = now();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long peak_mb = ru.ru_maxrss / 1024;
	/* the naive loop on a random 2 % of the profiles: every pattern compiled (JIT) and run on
	 * every project, no dedup, no prefilter */
	int sample = nprof / 50;
	double naive = 0;
	long long naive_checks = 0;
	for (int k = 0; k < sample; k++) {
		struct profile *p = &pr[rnd() % (uint32_t)nprof];
		struct matcher *one = matcher_new();
		int ids[7];
		for (int i = 0; i < p->nsrc; i++)
			ids[i] = matcher_add(one, p->src[i]);
		double a = now();
		for (int j = 0; j < nproj; j++)
			for (int i = 0; i < p->nsrc; i++)
				if (ids[i] >= 0) {
					matcher_run_naive(one, ids[i], projects[j], strlen(projects[j]));
					naive_checks++;
				}
		naive += now() - a;
		matcher_free(one);
	}
	double naive_total = naive * 50;
	printf("matching benchmark: %d profiles (%zu patterns, %d distinct), %d projects\n", nprof,
	       total_patterns, np, nproj);
	printf("  load profiles into the matcher          : %6.2f s\n", t1 - t0);
	printf("  every subscriber's digest content       : %6.2f s (%lld subscriber-project pairs)\n",
	       t2 - t1, pairs);
	printf("  peak memory (whole process)             : %6ld MB (target < 256)\n", peak_mb);
	printf("  naive loop, 2%% of profiles (%lld runs)  : %6.2f s, scaled to all: %.1f s\n",
	       naive_checks, naive, naive_total);
	printf("  speed-up over the naive loop            : %6.1fx (target >= 20)\n",
	       naive_total / (t2 - t1));
	return 0;
}
