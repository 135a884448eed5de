/*
 * reply_bench.c — reply trimming on pathological bodies of 100,000 lines, beside the MIME parse
 * of the same bodies: shows that extract_reply stays linear (no shape costs more per line as
 * the body grows). Each shape is timed at N and 4N lines; prints the trimming time, the MIME
 * parse time and their ratio, and the growth of each from N to 4N (linear: about 4).
 * usage: reply_bench [LINES [SHAPE [distinct|repeated [once]]]]   (default 100000 lines, every
 * shape; "once": one run of each at LINES alone, for callgrind, whose instruction counts the
 * machine's load does not change)
 * distinct: each repetition of the shape ends its lines with 0 to 4 blanks in turn, so that
 * no line has a twin among the four above it (extract_reply's reading of repeated lines is
 * out of play: the cost of the rules themselves).
 * Each figure is the CPU time of the best of ROUNDS runs (trimming and MIME parse alike): the
 * machine is shared, and a single wall-clock run of a few milliseconds measures its neighbours
 * as much as the code.
 */
#include "../src/bidmail.h"

#include <stdlib.h>
#include <string.h>

#define ROUNDS 5

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);	/* the CPU this process used: not
							 * the time others' jobs took */
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The shapes: what would make a careless trimmer look back or ahead at every line. */
static const char *const shapes[] = {
	"On Tue, Nov 7, 2023 at 10:00 AM John Doe <john@doe.com> wrote\n",	/* no colon */
	"Am 28. Apr. 2017 um 11:53 Uhr schrieb A <a@b.de\n>:\ntext\n",	/* wrapped, unquoted */
	"> quoted\nreply\n",	/* inline answers */
	"From: a@b.c\nSent: 1 2 3\nnot a header\n",	/* half header blocks */
	"x On y On z On w On v On u On t On s On r On q On p On o:\n",	/* mid-line probes */
	"12:30 2023 <a@b.c> le on am el il:\n\n",	/* shapes with blanks */
	"-------  --------\nThanks for the work so far\n",	/* rules and sign-offs */
	"Sent from my iPhone\n",
};

static char *body_of(const char *shape, int lines, int distinct)
{
	struct buf b;
	buf_init(&b, 256u * 1024 * 1024);
	int per = 1;
	for (const char *p = shape; *p; p++)
		per += *p == '\n';
	for (int i = 0, r = 0; i < lines; i += per, r++) {
		if (!distinct) {
			buf_append(&b, shape, strlen(shape));
			continue;
		}
		for (const char *p = shape; *p; p++) {
			if (*p == '\n' && p > shape && p[-1] != '\n')
				buf_append(&b, "    ", (size_t)(r % 5));
			buf_putc(&b, *p);
		}
	}
	return buf_steal(&b);
}

/* Seconds to trim body (knowing a sent text that shares words with it) and to MIME-parse it,
 * one run of each. */
static void measure_once(const char *body, double *trim, double *mime)
{
	static const char sent[] = "On Tue, Nov 7, 2023 at 10:00 AM John Doe wrote the quoted reply "
				   "text From Sent not a header Thanks for the work so far\n";
	double t0 = now();
	free(extract_reply_known(body, 0, "John Doe", sent));
	double t1 = now();
	char *msg = xasprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n\r\n%s", body);
	double t2 = now();
	message_free(mime_parse(msg, strlen(msg)));
	double t3 = now();
	free(msg);
	*trim = t1 - t0;
	*mime = t3 - t2;
}

/* The same, best of ROUNDS runs of each. */
static void measure(const char *body, double *trim, double *mime)
{
	for (int r = 0; r < ROUNDS; r++) {
		double t, m;
		measure_once(body, &t, &m);
		if (!r || t < *trim)
			*trim = t;
		if (!r || m < *mime)
			*mime = m;
	}
}

int main(int argc, char **argv)
{
	int lines = argc > 1 ? atoi(argv[1]) : 100000;
	int only = argc > 2 ? atoi(argv[2]) : -1;	/* one shape alone, for a profiler */
	int distinct = argc > 3 && !strcmp(argv[3], "distinct");
	int once = argc > 4 && !strcmp(argv[4], "once");
	struct config c;
	if (config_load(&c, NULL) < 0 || extract_load(&c) < 0)
		return 1;
	double worst = 0;
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		if (only >= 0 && (size_t)only != s)
			continue;
		double tr[2] = { 0, 0 }, mi[2] = { 0, 0 };
		for (int k = 0; k < (once ? 1 : 2); k++) {
			char *body = body_of(shapes[s], k ? 4 * lines : lines, distinct);
			if (once)
				measure_once(body, &tr[k], &mi[k]);
			else
				measure(body, &tr[k], &mi[k]);
			free(body);
		}
		double ratio = tr[0] / (mi[0] > 1e-9 ? mi[0] : 1e-9);
		if (ratio > worst)
			worst = ratio;
		printf("reply shape %zu: %d lines trim %.3f s, mime %.3f s, trim/mime %.2f; "
		       "x4 lines: trim x%.1f, mime x%.1f\n", s, lines, tr[0], mi[0], ratio,
		       tr[1] / (tr[0] > 1e-9 ? tr[0] : 1e-9), mi[1] / (mi[0] > 1e-9 ? mi[0] : 1e-9));
	}
	printf("reply trimming: worst trim/mime ratio %.2f on %d-line pathological bodies\n", worst,
	       lines);
	config_clear(&c);
	return 0;
}
