/*
 * log.c — one line per event, key=value, to syslog (LOG_MAIL) or stderr.
 * In: a priority and a printf format. Out: the line, never a body, key or token (callers
 * pass identifiers only: msg=<ingest-id> stage=<name>). While a message is handled
 * (log_set_message), every line of this thread that does not name one starts with its
 * msg=<ingest-id>: the answers, refusals and notices it causes can be traced back to it.
 */
#include "bidmail.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

static _Thread_local char log_message[17];

void log_set_message(const char *key)
{
	snprintf(log_message, sizeof log_message, "%s", key ? key : "");
}

void log_msg(int priority, const char *fmt, ...)
{
	if (priority > log_max_priority)
		return;
	char body[2048];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	if (m < 0)
		body[0] = '\0';
	const char *ctx = log_message[0] && strncmp(body, "msg=", 4) && !strstr(body, " msg=")
			  ? log_message : NULL;
	if (log_to_syslog) {
		if (ctx)
			syslog(priority, "msg=%s %s", ctx, body);
		else
			syslog(priority, "%s", body);
		return;
	}
	/* one write per line: lines from several processes never interleave */
	static const char *names[] = { "emerg", "alert", "crit", "error", "warning", "notice",
				       "info", "debug" };
	char line[2200];
	int n = snprintf(line, sizeof line, "%s: level=%s %s%s%s", log_ident, names[priority & 7],
			 ctx ? "msg=" : "", ctx ? ctx : "", ctx ? " " : "");
	if (n < 0)
		n = 0;
	size_t len = (size_t)n, bl = strlen(body);
	if (len + bl > sizeof line - 2)
		bl = sizeof line - 2 - len;
	memcpy(line + len, body, bl);
	len += bl;
	line[len++] = '\n';
	ssize_t w = write(2, line, len);
	(void)w;
}

/* Progress goes to stderr only when it is a terminal (never into logs or pipes), redrawn in
 * place at most five times a second; the final count of a known total is always drawn. */
static _Thread_local double progress_last;	/* per thread: whoever draws, no race */
static _Thread_local int progress_shown;
static _Thread_local int progress_tty = -1;	/* stderr a terminal: asked once */

void progress(const char *what, size_t done, size_t total)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (done < total && t - progress_last < 0.2)
		return;
	progress_last = t;
	if (progress_tty < 0)
		progress_tty = isatty(STDERR_FILENO);
	if (!progress_tty)
		return;
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
