/*
 * log.c — one line per event, key=value, to syslog (LOG_MAIL) or stderr.
 * In: a priority and a printf format. Out: the line, never a body, key or token (callers
 * pass identifiers only: msg=<ingest-id> stage=<name>).
 */
#include "bidmail.h"

#include <stdarg.h>
#include <syslog.h>

static int log_to_syslog;
static const char *log_ident = "bidmail";

void log_open(const char *ident, int use_syslog)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_MAIL);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		static const char *names[] = { "emerg", "alert", "crit", "error", "warning",
					       "notice", "info", "debug" };
		fprintf(stderr, "%s: level=%s ", log_ident, names[priority & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
