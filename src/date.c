/*
 * date.c — days of the board's calendar: the day of an instant in the board's time zone
 * (clock_set_zone), day numbers, their YYYY-MM-DD form, the days left until a stored day, and
 * a day as a reader of a language writes it ("15 avril 2026", "April 15, 2026").
 * In: time_t values and YYYY-MM-DD strings. Out: day numbers (days since 1970-01-01) and text.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

long date_day_make(int year, int month, int day)
{
	if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1900 || year > 9999)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	time_t t = timegm(&tm);
	if (tm.tm_mday != day || tm.tm_mon != month - 1)
		return -1;	/* 31 April */
	return (long)(t / 86400);
}

void date_day_split(long day, int *year, int *month, int *mday)
{
	time_t t = (time_t)day * 86400;
	struct tm tm;
	gmtime_r(&t, &tm);
	*year = tm.tm_year + 1900;
	*month = tm.tm_mon + 1;
	*mday = tm.tm_mday;
}

long date_day_of(time_t t)
{
	struct tm tm;
	clock_local(t, &tm);
	return date_day_make(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

long date_month_last(int year, int month)
{
	long next = month == 12 ? date_day_make(year + 1, 1, 1) : date_day_make(year, month + 1, 1);
	return next < 0 ? -1 : next - 1;
}

void date_day_format(long day, char out[11])
{
	int y, m, d;
	if (day < 0) {
		out[0] = '\0';
		return;
	}
	date_day_split(day, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000, (unsigned)m % 100,
		 (unsigned)d % 100);
}

long date_day_parse(const char *s)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -1;
	return date_day_make(atoi(s), atoi(s + 5), atoi(s + 8));
}

int date_days_left(const char *date, time_t now)
{
	long d = date_day_parse(date);
	return d < 0 ? DATE_NONE : (int)(d - date_day_of(now));
}

time_t date_mail_time(time_t date, time_t received)
{
	/* a Date a month before its receipt, or a day after it, is a wrong clock, not a date */
	if (date < 0 || date > received + 86400 || date < received - 31 * 86400)
		return received;
	return date;
}

char *date_text(const char *lang, const char *date)
{
	long d = date_day_parse(date);
	if (d < 0)
		return NULL;
	int y, m, md;
	date_day_split(d, &y, &m, &md);
	char key[24], day[16], year[16];
	snprintf(key, sizeof key, "date.month_%d", m);
	snprintf(day, sizeof day, "%d", md);
	snprintf(year, sizeof year, "%d", y);
	struct vars v = { 0 };
	vars_set(&v, "day", day);
	vars_set(&v, "month", catalog_text(lang, key));
	vars_set(&v, "year", year);
	return catalog_format(lang, md == 1 ? "date.day_1" : "date.day", &v);
}

char *date_text_left(const char *lang, const char *date, time_t now)
{
	char *day = date_text(lang, date);
	if (!day)
		return NULL;
	int left = date_days_left(date, now);
	char n[16];
	snprintf(n, sizeof n, "%d", left);
	struct vars v = { 0 };
	vars_set(&v, "date", day);
	vars_set(&v, "n", n);
	char *t = catalog_format(lang, left > 1 ? "date.left_days" : left == 1 ? "date.left_one"
				 : left == 0 ? "date.left_today" : "date.left_past", &v);
	free(day);
	return t;
}

int date_project_deadline(const struct project *p, char out[11])
{
	out[0] = '\0';
	if (date_day_parse(p->deadline) >= 0) {
		snprintf(out, 11, "%s", p->deadline);
		return 1;
	}
	time_t created = p->created ? clock_parse_iso(p->created) : (time_t)-1;
	if (p->deadline_days < 0 || created == (time_t)-1)
		return 0;
	date_day_format(date_day_of(created) + p->deadline_days, out);
	return 1;
}

int date_days_left_json(const char *date, time_t now)
{
	int left = date_days_left(date, now);
	return left == DATE_NONE ? -1 : left < 0 ? 0 : left;
}
