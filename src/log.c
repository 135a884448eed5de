/*
 * log.c — one line per event, key=value, to syslog (LOG_MAIL) or stderr.
 * In: a priority and a printf format. Out: the line, never a body, key or token (callers
 * pass identifiers only: msg=<ingest-id> stage=<name>).
 */
#include "bidmail.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

static int log_to_syslog;
static const char *log_ident = "bidmail";
static int log_max_priority = 7;

void log_set_max_priority(int priority)
{
	log_max_priority = priority;
}

void log_open(const char *ident, int use_syslog)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_MAIL);
}

void log_msg(int priority, const char *fmt, ...)
{
	if (priority > log_max_priority)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		/* one write per line: lines from several processes never interleave */
		static const char *names[] = { "emerg", "alert", "crit", "error", "warning",
					       "notice", "info", "debug" };
		char line[2048];
		int n = snprintf(line, sizeof line, "%s: level=%s ", log_ident, names[priority & 7]);
		if (n < 0)
			n = 0;
		int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
		if (len > sizeof line - 2)
			len = sizeof line - 2;
		line[len++] = '\n';
		ssize_t w = write(2, line, len);
		(void)w;
	}
	va_end(ap);
}

/* Progress goes to stderr only when it is a terminal (never into logs or pipes), redrawn in
 * place at most five times a second; the final count is always drawn. */
static double progress_last;
static int progress_shown;

void progress(const char *what, size_t done, size_t total)
{
	if (!isatty(STDERR_FILENO))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (done < total && t - progress_last < 0.2)
		return;
	progress_last = t;
	progress_shown = 1;
	fprintf(stderr, "\r%s: %zu/%zu (%d%%)\033[K", what, done, total,
		total ? (int)(done * 100 / total) : 100);
	fflush(stderr);
}

void progress_end(const char *fmt, ...)
{
	if (!isatty(STDERR_FILENO))
		return;
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
	progress_last = 0;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
