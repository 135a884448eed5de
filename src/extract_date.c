/*
 * extract_date.c — the day a deadline or a delivery names, as people write it: "pour le 15
 * avril", "fin avril au plus tard", "mi-May", "by the end of June", "sous quinzaine", "within
 * 10 days", "semaine 16", "next week", "vendredi prochain", "pour mai", "d'ici Pâques", read
 * relative to the mail's day.
 * A phrase that cannot be placed gives no day; a follow-up request's day is the follow-up's;
 * a day the work starts on ("booked until next week") is no delivery, a delay counts from it.
 * In: lower-cased text (money_lower), the mail's day number, the words of dates.txt.
 * Out: a day number (date.c), or -1, and why: the words that placed it and how.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum date_kind { DK_MONTH, DK_WEEKDAY, DK_ARTICLE, DK_CUE, DK_START, DK_MID, DK_END, DK_IN,
		 DK_MONTH_END, DK_YEAR_END, DK_WEEK_END, DK_NEXT, DK_NEXT_WEEK, DK_WEEK,
		 DK_WEEK_NUMBER, DK_WEEK_OF, DK_AVAILABILITY, DK_DELIVERY, DK_NOT_DATE, DK_AFTER,
		 DK_DAY, DK_FOLLOWING, DK_HOLIDAY, DK_START_CUE, DK_IN_MONTH, DK_MONTH_TAIL,
		 DK_MONTH_BEFORE, DK_EASTER, DK_MONTH_WORD, DK_MONTH_OR, DK_COUNT };
static const char *const kind_names[DK_COUNT] = { "month", "weekday", "article", "cue", "start",
						  "mid", "end", "in", "month-end", "year-end",
						  "week-end", "next", "next-week", "week",
						  "week-number", "week-of", "availability",
						  "delivery", "not-date", "after", "day",
						  "following", "holiday", "start-cue",
						  "in-month", "month-tail", "month-before",
						  "easter", "month-word", "month-or" };

struct date_data {
	struct strlist phrase[DK_COUNT];
	int *n[DK_COUNT];	/* the N of each phrase (month number, days, months) */
	size_t cap[DK_COUNT];
	/* per kind and first byte, the phrases that can start with that byte, in file order
	 * (built once at load: a word start tries only those) */
	size_t *first[DK_COUNT][256];
	size_t n_first[DK_COUNT][256];
	/* beside each, the second byte text matching that phrase has, 0 when it varies (a
	 * blank, an apostrophe, a one-byte phrase): the scan skips the others without a call */
	unsigned char *second[DK_COUNT][256];
	/* per first two bytes of a text (first << 8 | second), the kinds (bit k) a phrase of
	 * which can start there: kind_at returns at once for the others (built once at load) */
	uint32_t pair[65536];
	/* the first words of the phrases tried at a word start (the starting kinds below): a
	 * word start whose word is none of them starts no date, and every reader skips it */
	char **head;		/* open addressing, head_cap slots (a power of two) */
	size_t head_cap, n_head;
	int head_none;		/* a starting phrase has no first word: nothing is skipped */
};

/* The kinds whose phrases a reader tries at a word start (first_of). */
static const int starting_kinds[] = { DK_CUE, DK_START, DK_MID, DK_END, DK_IN, DK_MONTH_END,
				      DK_YEAR_END, DK_WEEK_END, DK_START_CUE, DK_IN_MONTH };

/* A mentioned day not given with its year is at most this far ahead; further, it is a day
 * that has just passed ("fin avril" written on 10 May), not next year's. */
#define AHEAD_MAX 240
/* A day given with its year is at most this far ahead. */
#define YEARS_MAX (3 * 366)

static void add_phrase(struct date_data *d, int k, int n, const char *ph)
{
	if (d->phrase[k].n == d->cap[k]) {
		d->cap[k] = d->cap[k] ? d->cap[k] * 2 : 16;
		d->n[k] = xrealloc(d->n[k], d->cap[k] * sizeof *d->n[k]);
	}
	d->n[k][d->phrase[k].n] = n;
	strlist_add(&d->phrase[k], ph);
}

static int date_line(void *arg, char *s, const char *path, int lineno)
{
	struct date_data *d = arg;
	char *save = NULL, *head = strtok_r(s, "|", &save);
	char kind[32] = "";
	int k = -1, n = 0, got = head ? sscanf(head, "%31s %d", kind, &n) : 0;
	for (int i = 0; got >= 1 && i < DK_COUNT; i++)
		if (!strcmp(kind, kind_names[i]))
			k = i;
	if (k < 0 || (k == DK_MONTH && (got < 2 || n < 1 || n > 12)) || (k == DK_WEEKDAY && (n < 0 || n > 7)) ||
	    ((k == DK_IN || k == DK_MONTH_END || k == DK_WEEK_END || k == DK_WEEK || k == DK_DAY) &&
	     (got < 2 || n < 0 || n > 366)) ||
	    (k == DK_HOLIDAY && (got < 2 || n / 100 < 1 || n / 100 > 12 || n % 100 < 1 ||
				 n % 100 > 31)) ||
	    (k == DK_EASTER && (got < 2 || n < -60 || n > 70)) ||
	    ((k == DK_IN_MONTH || k == DK_MONTH_TAIL || k == DK_MONTH_BEFORE ||
	      k == DK_MONTH_WORD || k == DK_MONTH_OR) && got >= 2)) {
		fprintf(stderr, "%s:%d: expected `kind [N] | phrase | ...` (kind: month N, weekday [N], next, "
			"next-week, article, cue, start, mid, end, in N, month-end N, year-end, week-end N, "
			"week N, week-number, week-of, availability, delivery, not-date, after, day N, "
			"following, holiday MMDD, start-cue, in-month, month-tail, month-before, "
			"easter N, month-word, month-or)\n",
			path, lineno);
		return -1;
	}
	char *tok;
	while ((tok = strtok_r(NULL, "|", &save)) != NULL) {
		tok = str_trim(tok);
		if (*tok)
			add_phrase(d, k, n, tok);
	}
	return 0;
}

/* Marks kind k as possible after first byte b and any of the second bytes of set (n bytes;
 * NULL: any byte). */
static void pair_add(struct date_data *d, int k, unsigned char b, const unsigned char *set,
		     size_t n)
{
	for (unsigned s = 0; s < 256; s++)
		if (!set || memchr(set, (int)s, n))
			d->pair[(size_t)b << 8 | s] |= 1u << k;
}

static void index_add(struct date_data *d, int k, unsigned char b, size_t i)
{
	size_t n = d->n_first[k][b];
	const char *ph = d->phrase[k].v[i];
	unsigned char sec = (unsigned char)ph[1];
	if ((unsigned char)ph[0] != b || sec == ' ' || sec == '\'')
		sec = 0;	/* a blank or ’ at b, or a blank or an apostrophe second */
	d->first[k][b] = xrealloc(d->first[k][b], (n + 1) * sizeof *d->first[k][b]);
	d->second[k][b] = xrealloc(d->second[k][b], (n + 1) * sizeof *d->second[k][b]);
	d->first[k][b][n] = i;
	d->second[k][b][n] = sec;
	d->n_first[k][b] = n + 1;
}

/* The bytes text matching phrase ph can start with (phrase_at's rules): its first byte; for
 * an apostrophe also the first byte of ’; for a space the first byte of every blank. */
static void index_phrase(struct date_data *d, int k, size_t i)
{
	static const unsigned char blank_first[] = { ' ', '\t', '\n', '\r', 0xC2, 0xE2 };
	static const unsigned char apostrophe_first[] = { '\'', 0xE2 };
	const unsigned char *ph = (const unsigned char *)d->phrase[k].v[i];
	unsigned char c = ph[0];
	if (c == ' ') {
		for (size_t j = 0; j < sizeof blank_first; j++) {
			index_add(d, k, blank_first[j], i);
			pair_add(d, k, blank_first[j], NULL, 0);
		}
		return;
	}
	index_add(d, k, c, i);
	if (c == '\'') {
		index_add(d, k, 0xE2, i);
		pair_add(d, k, '\'', NULL, 0);
		pair_add(d, k, 0xE2, NULL, 0);
		return;
	}
	/* the second byte text matching ph can have (phrase_at's rules, as for the first) */
	if (ph[1] == '\0')
		pair_add(d, k, c, NULL, 0);
	else if (ph[1] == ' ')
		pair_add(d, k, c, blank_first, sizeof blank_first);
	else if (ph[1] == '\'')
		pair_add(d, k, c, apostrophe_first, sizeof apostrophe_first);
	else
		pair_add(d, k, c, &ph[1], 1);
}

/* The first word at p: the bytes up to the first that is not a letter, a digit or part of a
 * UTF-8 sequence, or that starts a blank or an apostrophe (phrase_at's rules: a phrase that
 * matches at p has the same first word as p). */
static size_t head_len(const char *p)
{
	size_t k = 0;
	for (;;) {
		unsigned char c = (unsigned char)p[k];
		if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80))
			return k;
		if (c == 0xC2 && (unsigned char)p[k + 1] == 0xA0)
			return k;
		if (c == 0xE2 && (unsigned char)p[k + 1] == 0x80 &&
		    ((unsigned char)p[k + 2] == 0x99 || (unsigned char)p[k + 2] == 0xAF ||
		     (unsigned char)p[k + 2] == 0x89))
			return k;
		k++;
	}
}

static size_t head_hash(const char *w, size_t n)
{
	size_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)w[i]) * 16777619u;
	return h;
}

/* The slot of first word w (n bytes) in d->head: where it is, or the empty slot for it. */
static size_t head_slot(const struct date_data *d, const char *w, size_t n)
{
	size_t j = head_hash(w, n) & (d->head_cap - 1);
	while (d->head[j] && (strlen(d->head[j]) != n || memcmp(d->head[j], w, n)))
		j = (j + 1) & (d->head_cap - 1);
	return j;
}

static void head_add(struct date_data *d, const char *ph)
{
	size_t n = head_len(ph);
	if (!n) {
		d->head_none = 1;
		return;
	}
	if ((d->n_head + 1) * 2 > d->head_cap) {
		char **old = d->head;
		size_t old_cap = d->head_cap;
		d->head_cap = old_cap ? old_cap * 2 : 64;
		d->head = xcalloc(d->head_cap, sizeof *d->head);
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				d->head[head_slot(d, old[i], strlen(old[i]))] = old[i];
		free(old);
	}
	size_t j = head_slot(d, ph, n);
	if (!d->head[j]) {
		d->head[j] = xstrndup(ph, n);
		d->n_head++;
	}
}

/* 1 when a starting phrase can match at word start p. */
static int head_known(const struct date_data *d, const char *p)
{
	size_t n = head_len(p);
	if (d->head_none || !n)
		return 1;
	return d->head_cap && d->head[head_slot(d, p, n)] != NULL;
}

struct date_data *extract_date_load(const char *path)
{
	struct date_data *d = xcalloc(1, sizeof *d);
	if (extract_data_lines(path, 8192, date_line, d) < 0)
		return extract_date_free(d);
	for (int k = 0; k < DK_COUNT; k++)
		for (size_t i = 0; i < d->phrase[k].n; i++)
			index_phrase(d, k, i);
	for (size_t s = 0; s < sizeof starting_kinds / sizeof starting_kinds[0]; s++)
		for (size_t i = 0; i < d->phrase[starting_kinds[s]].n; i++)
			head_add(d, d->phrase[starting_kinds[s]].v[i]);
	return d;
}

struct date_data *extract_date_free(struct date_data *d)
{
	if (!d)
		return NULL;
	for (int k = 0; k < DK_COUNT; k++) {
		strlist_clear(&d->phrase[k]);
		free(d->n[k]);
		for (int b = 0; b < 256; b++) {
			free(d->first[k][b]);
			free(d->second[k][b]);
		}
	}
	for (size_t i = 0; i < d->head_cap; i++)
		free(d->head[i]);
	free(d->head);
	free(d);
	return NULL;
}

/* ---------------------------------------------------------------- matching */

/* A letter, a digit or a byte of a UTF-8 sequence (ASCII tests, no ctype call: this runs at
 * every byte of every mail). */
static inline int word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

/* The length of a run of blanks at p (spaces, tabs, line breaks, no-break spaces). */
static size_t blanks_at(const char *p)
{
	size_t k = 0;
	for (;;) {
		if (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r')
			k++;
		else if ((unsigned char)p[k] == 0xC2 && (unsigned char)p[k + 1] == 0xA0)
			k += 2;
		else if ((unsigned char)p[k] == 0xE2 && (unsigned char)p[k + 1] == 0x80 &&
			 ((unsigned char)p[k + 2] == 0xAF || (unsigned char)p[k + 2] == 0x89))
			k += 3;
		else
			return k;
	}
}

/* The bytes phrase ph takes at p (a space in ph: any blanks; an apostrophe: ' or ’), 0 when it
 * is not there or, ending in a letter, does not end a word there. */
static size_t phrase_at(const char *p, const char *ph)
{
	size_t k = 0;
	for (const char *c = ph; *c; c++) {
		if (*c == ' ') {
			size_t b = blanks_at(p + k);
			if (!b)
				return 0;
			k += b;
		} else if (*c == '\'' && !strncmp(p + k, "\xe2\x80\x99", 3)) {
			k += 3;
		} else if (p[k] == *c) {
			k++;
		} else {
			return 0;
		}
	}
	/* a phrase ending in a letter ends a word; one ending in -, ', . or a space need not */
	if (word_byte((unsigned char)ph[strlen(ph) - 1]) && word_byte((unsigned char)p[k]))
		return 0;
	return k;
}

/* kind_at's scan of the phrases of kind k that start with the byte at p. */
static size_t kind_scan(const struct date_data *d, int k, const char *p, int *n)
{
	size_t best = 0;
	unsigned char b = (unsigned char)*p, b2 = (unsigned char)p[1];
	const unsigned char *sec = d->second[k][b];
	for (size_t j = 0; j < d->n_first[k][b]; j++) {
		if (sec[j] && sec[j] != b2)
			continue;
		size_t i = d->first[k][b][j];
		size_t len = phrase_at(p, d->phrase[k].v[i]);
		if (len > best) {
			best = len;
			*n = d->n[k][i];
		}
	}
	return best;
}

/* The longest phrase of kind k at p: its length, and its N in *n (0 at once when no phrase of
 * the kind starts with p's first two bytes: most word starts, for most kinds). */
static inline size_t kind_at(const struct date_data *d, int k, const char *p, int *n)
{
	unsigned char b = (unsigned char)*p;
	if (!(d->pair[(size_t)b << 8 | (unsigned char)(b ? p[1] : 0)] >> k & 1))
		return 0;
	return kind_scan(d, k, p, n);
}

/* Reads 1 to max digits at *p (not followed by another digit); the value, or -1. */
static int number_at(const char **p, int max)
{
	int v = 0, k = 0;
	while (k < max && isdigit((unsigned char)(*p)[k]))
		v = v * 10 + ((*p)[k++] - '0');
	if (!k || isdigit((unsigned char)(*p)[k]))
		return -1;
	*p += k;
	return v;
}

/* A year after a day (" 2027", "/2027", "/27", ", 2027") at *p: the year or 0 (none). */
static int year_at(const char **p, int slash)
{
	const char *q = *p;
	if (slash && (*q == '/' || *q == '.')) {
		q++;
		int y = number_at(&q, 4);
		if (y >= 0 && y < 100)
			y += 2000;
		if (y < 2000 || y > 2199)
			return 0;
		*p = q;
		return y;
	}
	if (*q == ',')
		q++;
	q += blanks_at(q);
	int y = number_at(&q, 4);
	if (y < 2000 || y > 2199 || q - *p < 5)
		return 0;
	*p = q;
	return y;
}

/* ---------------------------------------------------------------- placing a day */

/* The day month/mday of year (0: the next one from today, this year or the next) as a day
 * number; -1 when none, past, or too far ahead to be meant. */
static long place(int year, int month, int mday, long today)
{
	int ty, tm, td;
	date_day_split(today, &ty, &tm, &td);
	if (year) {
		long d = mday ? date_day_make(year, month, mday) : date_month_last(year, month);
		return d < today || d > today + YEARS_MAX ? -1 : d;
	}
	for (int y = ty; y <= ty + 1; y++) {
		long d = mday ? date_day_make(y, month, mday) : date_month_last(y, month);
		if (d >= today)
			return d - today > AHEAD_MAX ? -1 : d;
	}
	return -1;
}

/* The next day numbered mday of a month from today (this month's when it has not passed, else
 * the next month that has one): "the 10th", "le 10" with no month; -1 when none. */
static long month_day_place(int mday, long today)
{
	int y, m, td;
	date_day_split(today, &y, &m, &td);
	for (int i = 0; i < 3; i++, m = m % 12 + 1, y += m == 1) {
		if (mday > date_month_last(y, m) - date_day_make(y, m, 1) + 1)
			continue;
		long day = date_day_make(y, m, mday);
		if (day >= today)
			return day;
	}
	return -1;
}

/* The length of an ordinal suffix at p ("er", "st", "nd", "rd", "th", "e") ending a word, 0
 * when none. */
static size_t ordinal_at(const char *p)
{
	static const char *const ords[] = { "er", "st", "nd", "rd", "th", "e", NULL };
	for (int i = 0; ords[i]; i++)
		if (!strncmp(p, ords[i], strlen(ords[i])) &&
		    !word_byte((unsigned char)p[strlen(ords[i])]))
			return strlen(ords[i]);
	return 0;
}

/* "15 avril", "1er mai 2027", "15/04", "15.04.2027", "15th of April" at p (digits first);
 * an ordinal day with no month ("the 10th", "le 1er") is the next such day of a month. */
static long day_first(const struct date_data *d, const char *p, long today)
{
	int mday = number_at(&p, 2), month = 0, year = 0;
	if (mday < 1 || mday > 31)
		return -1;
	size_t ord = ordinal_at(p);
	p += ord;
	if ((*p == '/' || *p == '.') && isdigit((unsigned char)p[1])) {
		p++;
		month = number_at(&p, 2);
		if (month > 12 && mday <= 12) {	/* 4/15: the American order */
			int t = month;
			month = mday;
			mday = t;
		}
		year = year_at(&p, 1);
	} else {
		p += blanks_at(p);
		size_t of = phrase_at(p, "of ");
		if (!of)
			of = phrase_at(p, "de ");
		p += of;
		size_t ml = kind_at(d, DK_MONTH, p, &month);
		if (!ml)
			return ord > 1 ? month_day_place(mday, today) : -1;	/* "e": no date */
		p += ml;
		year = year_at(&p, 0);
	}
	if (month < 1 || month > 12)
		return -1;
	return place(year, month, mday, today);
}

/* "April 15", "April 15th, 2027", "2027-04-15", or day_first, at p. */
static long day_at(const struct date_data *d, const char *p, long today)
{
	int month = 0;
	if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && p[4] == '-') {
		char iso[11];
		snprintf(iso, sizeof iso, "%.10s", p);
		long day = date_day_parse(iso);
		return day < today || day > today + YEARS_MAX ? -1 : day;
	}
	if (isdigit((unsigned char)*p))
		return day_first(d, p, today);
	size_t ml = kind_at(d, DK_MONTH, p, &month);
	if (!ml)
		return -1;
	p += ml;
	p += blanks_at(p);
	int mday = number_at(&p, 2);
	if (mday < 1 || mday > 31)
		return -1;
	static const char *const ords[] = { "st", "nd", "rd", "th", NULL };
	for (int i = 0; ords[i]; i++)
		if (!strncmp(p, ords[i], 2) && !word_byte((unsigned char)p[2]))
			p += 2;
	return place(year_at(&p, 0), month, mday, today);
}

/* 1 when p is an hour ("10h", "9:30"), not a day, after a weekday ("pour lundi 10h"). */
static int time_at(const char *p)
{
	int k = 0;
	while (k < 2 && isdigit((unsigned char)p[k]))
		k++;
	return k && (p[k] == 'h' || p[k] == ':');
}

/* What placed a day, for why: the rule (NULL: the words themselves say it) and its number. */
struct date_note {
	const char *rule;	/* "iso-week", "week", "weekday", "weekday-next-week",
				 * "weekday-after" (placed by weekday_after: then
				 * "weekday-after-start" or "-day"), "project-week" */
	int n;			/* the week number or the weeks on; the weekday (1 Monday) */
	int year;		/* of an ISO week */
	const char *end;	/* past the words that placed the day, NULL: not known */
	long from;		/* "weekday-after-start"/"-day": the day it follows */
};

static void note_set(struct date_note *note, const char *rule, int n, int year)
{
	if (note) {
		note->rule = rule;
		note->n = n;
		note->year = year;
		note->end = NULL;
	}
}

/* 1 when p starts a day written as day_at reads it ("15 avril", "13/04", "April 13"), not
 * another number ("d'ici jeudi, 300 €"). */
static int day_written_at(const struct date_data *d, const char *p)
{
	int n;
	if (!isdigit((unsigned char)*p))
		return kind_at(d, DK_MONTH, p, &n) != 0;
	const char *q = p;
	if (number_at(&q, 4) > 31 && *q == '-')
		return 1;	/* 2026-04-13 */
	q = p;
	if (number_at(&q, 2) < 0)
		return 0;
	if ((*q == '/' || *q == '.') && isdigit((unsigned char)q[1]))
		return 1;
	size_t ord = ordinal_at(q);
	q += ord;	/* 1er, 13th */
	const char *after = q + blanks_at(q);
	if (!strncmp(after, "of ", 3) || !strncmp(after, "de ", 3))
		after += 3;
	return kind_at(d, DK_MONTH, after, &n) != 0 || ord > 1;	/* "the 10th" */
}

/* The day weekday wd (1 Monday .. 7 Sunday) names after a cue, from today (day 0, 1970-01-01,
 * was a Thursday): the next such day, 1 to 7 days on (a weekday named on that same weekday is
 * next week's; "vendredi prochain", "next Friday" too: dates.txt `next`); with next_week
 * ("vendredi de la semaine prochaine", "Friday of next week": `next-week`), that day of the
 * week after the mail's week. */
static long weekday_day(int wd, int next_week, long today)
{
	int cur = (int)((today + 3) % 7) + 1;
	if (next_week)
		return today - (cur - 1) + 7 + (wd - 1);
	int ahead = (wd - cur + 7) % 7;
	return today + (ahead ? ahead : 7);
}

/* The Friday of ISO week `week` of ISO year `year` (its week 1 holds 4 January), -1 when that
 * year has no such week. */
static long iso_week_friday(int year, int week)
{
	long jan4 = date_day_make(year, 1, 4), next4 = date_day_make(year + 1, 1, 4);
	long monday = jan4 - (jan4 + 3) % 7, next_monday = next4 - (next4 + 3) % 7;
	long d = monday + 7L * (week - 1);
	return week < 1 || d >= next_monday ? -1 : d + 4;
}

/* A week at p: "semaine 16", "S16", "sem. 16", "week 16" (dates.txt `week-number`, then the
 * number: the Friday of that ISO week, this year's or, once passed, next year's when at most
 * WEEK_AHEAD days ahead), or "cette semaine", "la semaine prochaine", "next week" (`week N`:
 * the Friday of the mail's week N weeks on; none when this week's Friday has passed). -1 when
 * none. */
#define WEEK_AHEAD 275	/* about nine months */
static long week_at(const struct date_data *d, const char *p, long today, struct date_note *note)
{
	int n;
	size_t wl = kind_at(d, DK_WEEK, p, &n);
	if (wl) {
		long friday = today - (today + 3) % 7 + 4 + 7L * n;
		note_set(note, "week", n, 0);
		if (note)
			note->end = p + wl;
		return friday >= today ? friday : -1;
	}
	unsigned char b = (unsigned char)*p;
	for (size_t j = 0; j < d->n_first[DK_WEEK_NUMBER][b]; j++) {
		const char *ph = d->phrase[DK_WEEK_NUMBER].v[d->first[DK_WEEK_NUMBER][b][j]];
		size_t k = 0;
		for (const char *c = ph; *c; c++) {	/* the phrase, then blanks or a digit */
			size_t bl = *c == ' ' ? blanks_at(p + k) : 0;
			if (*c == ' ' ? !bl : p[k] != *c) {
				k = 0;
				break;
			}
			k += *c == ' ' ? bl : 1;
		}
		if (!k || (word_byte((unsigned char)p[k]) && !isdigit((unsigned char)p[k])))
			continue;
		const char *q = p + k + blanks_at(p + k);
		int week = number_at(&q, 2);
		if (week < 1 || week > 53 || word_byte((unsigned char)*q))
			continue;
		if (kind_at(d, DK_WEEK_OF, q + blanks_at(q), &n)) {
			/* "in week 2 of the project": a week counted from the start, no ISO week */
			note_set(note, "project-week", week, 0);
			return -1;
		}
		int ty, tm, td;
		date_day_split(today, &ty, &tm, &td);
		for (int y = ty - 1; y <= ty + 1; y++) {
			long friday = iso_week_friday(y, week);
			if (friday >= today) {
				note_set(note, "iso-week", week, y);
				if (note)
					note->end = q;
				return friday - today > WEEK_AHEAD ? -1 : friday;
			}
		}
	}
	return -1;
}

/* "le 10" after a cue and its article, with no month: a day number alone that ends its
 * clause ("prêt le 10.", "pour le 15, merci") is the next such day of a month; -1 otherwise
 * ("pour le 10 pages"). */
static long article_day_at(const char *p, long today)
{
	int mday = number_at(&p, 2);
	p += blanks_at(p);
	if (mday < 1 || mday > 31 || (*p && !strchr(".,;!?\n)", *p)))
		return -1;
	return month_day_place(mday, today);
}

/* Easter Sunday of year y (the Gregorian computus, Meeus/Jones/Butcher) as a day number. */
static long easter_sunday(int y)
{
	int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4, f = (b + 8) / 25;
	int g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30, i = c / 4, k = c % 4;
	int l = (32 + 2 * e + 2 * i - h - k) % 7, m = (a + 11 * h + 22 * l) / 451;
	int month = (h + l - 7 * m + 114) / 31, mday = (h + l - 7 * m + 114) % 31 + 1;
	return date_day_make(y, month, mday);
}

/* A month named alone at p ("mai", "May 2027", an in-month phrase before it: "en mai", "in
 * May"): its last day, the next one (place); -1 when none, when a number follows (day_at
 * reads a day), or, for a name that is also another word (dates.txt month-word: "sept",
 * "may", "march"), when a word follows that makes it that word ("pour sept personnes",
 * "delivery may take"): then only the end of the line or the text, punctuation, a year or a
 * month-tail phrase ("au plus tard", "at the latest") may follow. Its rule "month" (n the
 * month) and end in *note. */
static long month_alone_at(const struct date_data *d, const char *p, long today,
			   struct date_note *note)
{
	int month = 0, n;
	size_t w = kind_at(d, DK_IN_MONTH, p, &n);
	if (w)
		p += w + blanks_at(p + w);	/* "en mai", "in May", "au mois de mai" */
	size_t ml = kind_at(d, DK_MONTH, p, &month);
	if (!ml)
		return -1;
	const char *q = p + ml;
	int year = year_at(&q, 0), m2 = 0;
	const char *end = q;
	while (*q == ' ' || *q == '\t')
		q++;
	size_t ow = kind_at(d, DK_MONTH_OR, q, &n), m2l;
	const char *q2 = q + ow + blanks_at(q + ow);
	size_t iw = ow ? kind_at(d, DK_IN_MONTH, q2, &n) : 0;
	if (iw)
		q2 += iw + blanks_at(q2 + iw);	/* "en mai ou en juin" */
	if (ow && (m2l = kind_at(d, DK_MONTH, q2, &m2)) != 0 && !word_byte((unsigned char)q2[m2l])) {
		/* "mai ou juin", "May or June": the later one, the day it is wanted by */
		q = q2 + m2l;
		year = year_at(&q, 0);
		end = q;
		month = m2;
		p = q2;	/* the later name, whether it is also a word */
		ml = m2l;
		while (*q == ' ' || *q == '\t')
			q++;
	}
	int ambiguous = kind_at(d, DK_MONTH_WORD, p, &n) == ml;
	if (isdigit((unsigned char)*q) || (ambiguous && word_byte((unsigned char)*q) &&
					    !kind_at(d, DK_MONTH_TAIL, q, &n)))
		return -1;
	long day = place(year, month, 0, today);
	if (day >= 0 && note) {
		note_set(note, "month", month, 0);
		note->end = end;
	}
	return day;
}

/* The first day of the month of day (a day number). */
static long month_first(long day)
{
	int y, m, md;
	date_day_split(day, &y, &m, &md);
	return date_day_make(y, m, 1);
}

/* The day after cue text at p: blanks, a colon, a week (week_at), an article, a weekday ("le
 * lundi 15 avril", "the 15th of April"), then a day; or a weekday alone, with next or next-week
 * ("pour vendredi prochain", "by next Monday", "lundi de la semaine prochaine"):
 * weekday_day. */
static long day_after_cue(const struct date_data *d, const char *p, long today,
			  struct date_note *note)
{
	int n;
	note_set(note, NULL, 0, 0);
	p += blanks_at(p);
	if (*p == ':') {
		p++;
		p += blanks_at(p);
	}
	long day = week_at(d, p, today, note);	/* "cette semaine", "semaine 16" */
	if (day >= 0 || (note && note->rule))
		return day;
	size_t w = kind_at(d, DK_ARTICLE, p, &n);
	int article = w != 0;
	if (w)
		p += w + blanks_at(p + w);
	day = week_at(d, p, today, note);	/* "la semaine 16", "la semaine prochaine" */
	if (day >= 0 || (note && note->rule))
		return day;
	if ((w = kind_at(d, DK_DAY, p, &n)) != 0) {
		if (note)
			note->end = p + w;
		return today + n;	/* "livraison demain", "ready tomorrow" */
	}
	if ((w = kind_at(d, DK_HOLIDAY, p, &n)) != 0) {
		/* "avant Noël", "by Christmas": this year's, or next year's once passed */
		int y, m, md;
		date_day_split(today, &y, &m, &md);
		long hd = date_day_make(y, n / 100, n % 100);
		if (hd < today)
			hd = date_day_make(y + 1, n / 100, n % 100);
		if (note)
			note->end = p + w;
		return hd;
	}
	if ((w = kind_at(d, DK_EASTER, p, &n)) != 0) {
		/* "d'ici Pâques", "before Easter": Easter Sunday (N days after it for the days
		 * named after it), this year's or next year's once passed */
		int y, m, md;
		date_day_split(today, &y, &m, &md);
		const char *yp = p + w;
		int year = year_at(&yp, 0);	/* "avant Pâques 2027" */
		long ed = easter_sunday(year ? year : y) + n;
		if (year && (ed < today || ed > today + YEARS_MAX))
			return -1;
		if (year)
			y = year;
		else if (ed < today)
			ed = easter_sunday(++y) + n;
		note_set(note, "easter", n, y);
		if (note)
			note->end = year ? yp : p + w;
		return ed;
	}
	int next = 0, next_week = 0, wd = 0;
	size_t fl = kind_at(d, DK_FOLLOWING, p, &n);
	if (fl && kind_at(d, DK_WEEKDAY, p + fl + blanks_at(p + fl), &wd) && wd) {
		note_set(note, "weekday-after", wd, 0);	/* "by the following Friday" */
		if (note)
			note->end = p + fl + blanks_at(p + fl) + kind_at(d, DK_WEEKDAY,
						p + fl + blanks_at(p + fl), &n);
		return weekday_day(wd, 0, today);
	}
	if ((w = kind_at(d, DK_NEXT_WEEK, p, &n)) != 0)
		next_week = 1;
	else if ((w = kind_at(d, DK_NEXT, p, &n)) != 0)
		next = 1;	/* "by next Monday" */
	if (w)
		p += w + blanks_at(p + w);
	w = kind_at(d, DK_WEEKDAY, p, &wd);
	if (!w && (next || next_week))
		return -1;
	if (!w && (!article || kind_at(d, DK_IN_MONTH, p, &n)) && (day = day_at(d, p, today)) < 0)
		return month_alone_at(d, p, today, note);	/* "pour mai", "pour le mois de mai" */
	if (!w)
		return article && (day = day_at(d, p, today)) < 0 ? article_day_at(p, today) : day_at(d, p, today);
	p += w;
	const char *wend = p, *after = p + blanks_at(p);
	if (*p == ',')
		p++;
	p += blanks_at(p);
	if (!wd || isdigit((unsigned char)*p) || kind_at(d, DK_MONTH, p, &n)) {
		if (!wd || (!time_at(p) && day_written_at(d, p)))
			return day_at(d, p, today);
	}
	size_t nl = 0;
	if (!next && !next_week && (nl = kind_at(d, DK_AFTER, after, &n)) != 0) {
		note_set(note, "weekday-after", wd, 0);	/* "le vendredi suivant": placed later */
		if (note)
			note->end = after + nl;
		return weekday_day(wd, 0, today);
	}
	if (!next && !next_week && (nl = kind_at(d, DK_NEXT_WEEK, after, &n)) != 0)
		next_week = 1;	/* "vendredi de la semaine prochaine" */
	else if (!next && !next_week)
		nl = kind_at(d, DK_NEXT, after, &n);	/* "vendredi prochain" */
	note_set(note, next_week ? "weekday-next-week" : "weekday", wd, 0);
	if (note)
		note->end = nl ? after + nl : wend;
	return weekday_day(wd, next_week, today);	/* "vendredi prochain": the next Friday */
}

/* "fin avril", "mi-mai 2027", "by the end of June" at p (a part, then a month). */
static long month_part_at(const struct date_data *d, const char *p, long today)
{
	static const int parts[] = { DK_START, DK_MID, DK_END };
	for (int i = 0; i < 3; i++) {
		int n, month = 0;
		size_t k = kind_at(d, parts[i], p, &n);
		if (!k)
			continue;
		const char *q = p + k;
		q += blanks_at(q);
		size_t ml = kind_at(d, DK_MONTH, q, &month);
		if (!ml)
			continue;
		q += ml;
		int year = year_at(&q, 0);
		return place(year, month, parts[i] == DK_START ? 1 : parts[i] == DK_MID ? 15 : 0,
			     today);
	}
	return -1;
}

/* "sous quinzaine", "fin du mois", "end of the year" at p: a day counted from today. */
static long relative_at(const struct date_data *d, const char *p, long today)
{
	int n, y, m, md;
	if (kind_at(d, DK_MONTH_END, p, &n)) {
		date_day_split(today, &y, &m, &md);	/* only on a phrase: this runs at every word */
		m += n;
		y += (m - 1) / 12;
		m = (m - 1) % 12 + 1;
		return date_month_last(y, m);
	}
	if (kind_at(d, DK_YEAR_END, p, &n)) {
		date_day_split(today, &y, &m, &md);
		return date_day_make(y, 12, 31);
	}
	if (kind_at(d, DK_IN, p, &n))
		return today + n;
	if (kind_at(d, DK_WEEK_END, p, &n)) {
		/* the Friday of the week n weeks on (day 0, 1970-01-01, was a Thursday); none when
		 * this week's has passed ("fin de semaine" written on a Saturday) */
		long friday = today - (today + 3) % 7 + 4 + 7L * n;
		return friday >= today ? friday : -1;
	}
	return -1;
}

/* The word starts of l where a starting phrase can stand (head_known), in text order, into a
 * new array; their count in *n. In the same pass, the kinds among want (bit k for kind k)
 * with a phrase at some word start of l into *present (kinds_present's answer). */
static size_t *word_starts(const struct date_data *d, const char *l, uint32_t want,
			   uint32_t *present, size_t *n)
{
	size_t len = strlen(l), cap = len / 2 + 1, k = 0;
	size_t *at = xmalloc(cap * sizeof *at);
	uint32_t found = 0;
	int kn;
	for (const char *p = l; *p; p++) {
		if (p > l && word_byte((unsigned char)p[-1]))
			continue;
		uint32_t m = d->pair[(size_t)(unsigned char)*p << 8 | (unsigned char)p[1]] & want &
			     ~found;
		for (int kind = 0; m; kind++, m >>= 1)
			if ((m & 1) && kind_scan(d, kind, p, &kn))
				found |= 1u << kind;
		if (k < cap && word_byte((unsigned char)*p) && head_known(d, p))
			at[k++] = (size_t)(p - l);
	}
	*present = found;
	*n = k;
	return at;
}

/* The offset of the last (or, first set, the first) phrase of kind k at a word start of l in
 * [from, to), its end in *end; SIZE_MAX when none. */
static size_t kind_in(const struct date_data *d, int k, const char *l, size_t from, size_t to,
		      int first, size_t *end)
{
	size_t found = SIZE_MAX;
	int n;
	for (size_t i = from; i < to && l[i]; i++) {
		if (i && word_byte((unsigned char)l[i - 1]))
			continue;
		size_t len = kind_at(d, k, l + i, &n);
		if (!len)
			continue;
		found = i;
		*end = i + len;
		if (first)
			break;
		i += len - 1;
	}
	return found;
}

/* The kinds among want (bit k for kind k) with a phrase at some word start of l: one pass
 * over l for all of them. */
static uint32_t kinds_present(const struct date_data *d, const char *l, uint32_t want)
{
	uint32_t found = 0;
	int n;
	for (size_t i = 0; l[i] && found != want; i++) {
		if (i && word_byte((unsigned char)l[i - 1]))
			continue;
		unsigned char b = (unsigned char)l[i];
		uint32_t m = d->pair[(size_t)b << 8 | (unsigned char)l[i + 1]] & want & ~found;
		for (int k = 0; m; k++, m >>= 1)
			if ((m & 1) && kind_scan(d, k, l + i, &n))
				found |= 1u << k;
	}
	return found;
}

/* 1 when the day read at offset at of l is when the work can start, not its delivery: an
 * availability word of dates.txt ("je suis pris", "booked", "start") before it in its
 * clause, with no delivery word between it and cue_end, the end of the day's cue or its start
 * ("je suis disponible pour livrer le 15 avril" is a delivery). */
static int availability_before(const struct date_data *d, const char *l, size_t at,
			       size_t cue_end)
{
	size_t end, dend, cs = money_clause_start(l, at);
	size_t a = kind_in(d, DK_AVAILABILITY, l, cs, at, 0, &end);
	return a != SIZE_MAX && kind_in(d, DK_DELIVERY, l, end, cue_end, 1, &dend) == SIZE_MAX;
}

/* The day the work can start, when a text says it (availability_before): its day (-1 none),
 * where it was read and how. */
struct date_start {
	long day;
	size_t where;
	struct date_note note;
};

/* Keeps the day the work starts, read at where with note (NULL: no rule), in start unless one
 * is kept already: a week's start is its Monday ("booked until next week"), never before
 * today ("pas disponible cette semaine"). */
static void start_keep(struct date_start *start, long day, size_t where,
		       const struct date_note *note, long today)
{
	if (start->day >= 0)
		return;
	if (note && note->rule && (!strcmp(note->rule, "week") || !strcmp(note->rule, "iso-week")))
		day -= 4;	/* the Friday read: its week's Monday */
	if (note && note->rule && !strcmp(note->rule, "month"))
		day = month_first(day);	/* "disponible en mai": from the 1st */
	start->day = day < today ? today : day;
	start->where = where;
	if (note)
		start->note = *note;
	else
		note_set(&start->note, NULL, 0, 0);
}

/* The day after a start cue at p ("à partir du 20", "dès le 4 mai", "starting May 4"): as
 * after a cue, or a day number alone ending its clause; -1 when none. */
static long start_cue_day(const struct date_data *d, const char *p, long today,
			  struct date_note *note)
{
	long day = day_after_cue(d, p, today, note);
	return day >= 0 ? day : article_day_at(p + blanks_at(p), today);
}

/* The first of the word starts at[0..n) of l where reader finds a day (cue: a cue phrase then
 * a day, day_after_cue, its rule in *note); -1 when none. *where: the word start it was read
 * at. A day refused in its clause is none; a day the work starts on (availability_before) is
 * none either, the first one kept in *start. */
static long first_of(const struct date_data *d, const char *l, const size_t *at, size_t n,
		     long today, long (*reader)(const struct date_data *, const char *, long),
		     int cue, struct date_note *note, size_t *where, struct date_start *start)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = l + at[i];
		long day = -1;
		size_t sk;
		int sn;
		if (cue && (sk = kind_at(d, DK_START_CUE, p, &sn)) != 0) {
			/* "à partir du 20", "starting May 4": the day the work starts */
			long sday = start_cue_day(d, p + sk, today, note);
			if (sday >= 0) {
				start_keep(start, sday, at[i], note, today);
				continue;
			}
		}
		if (cue) {
			unsigned char b = (unsigned char)*p;
			for (size_t j = 0; j < d->n_first[DK_CUE][b] && day < 0; j++) {
				size_t k = phrase_at(p, d->phrase[DK_CUE].v[d->first[DK_CUE][b][j]]);
				if (k)
					day = day_after_cue(d, p + k, today, note);
				int bn;
				if (day >= 0 && note && note->rule && !strcmp(note->rule, "month") &&
				    kind_at(d, DK_MONTH_BEFORE, p, &bn) >= k) {
					/* "avant mai", "before May": the last day before it */
					day = month_first(day) - 1;
					note->rule = day < today ? NULL : "month-before";
					if (day < today)
						day = -1;
				}
				/* "ce n'est pas pour le 15 avril", "not by April 15": refused (a
				 * limit in the cue, "pas avant le 20 avril", keeps it) */
				if (day >= 0 && money_refused_at(l, at[i] + k))
					day = -1;
				if (day >= 0 && availability_before(d, l, at[i], at[i] + k)) {
					start_keep(start, day, at[i], note, today);
					day = -1;	/* "je suis pris jusqu'au 15 avril" */
				}
			}
			size_t cs, de;
			if (day < 0 && kind_at(d, DK_IN_MONTH, p, &sn) &&
			    (cs = money_clause_start(l, at[i]),
			     kind_in(d, DK_DELIVERY, l, cs + 60 < at[i] ? at[i] - 60 : cs, at[i], 0,
				     &de) != SIZE_MAX) &&
			    (day = month_alone_at(d, p, today, note)) >= 0) {
				/* "livraison des fichiers en mai": a delivery word in the clause */
				if (money_refused_at(l, at[i]))
					day = -1;
				else if (availability_before(d, l, at[i], at[i])) {
					start_keep(start, day, at[i], note, today);
					day = -1;
				}
			}
		} else {
			day = reader(d, p, today);
			if (day >= 0 && money_refused_at(l, at[i]))
				day = -1;
			if (day >= 0 && availability_before(d, l, at[i], at[i])) {
				start_keep(start, day, at[i], NULL, today);
				day = -1;
			}
		}
		if (day >= 0) {
			*where = at[i];
			return day;
		}
	}
	return -1;
}

/* A day named at p without a cue, as delivery_day reads it: a weekday with next or next-week
 * ("vendredi prochain", "next Friday", "lundi de la semaine prochaine"), a week ("la semaine
 * prochaine", "next week", "semaine 16") or a date ("15 avril", "April 15"); -1 when none, its
 * rule in *note and its end in *end. A weekday alone ("Friday's meeting") is read too, *bare
 * set: it may say when the work starts, never its delivery. */
static long named_day_at(const struct date_data *d, const char *p, long today,
			 struct date_note *note, const char **end, int *bare)
{
	int n, wd = 0;
	*bare = 0;
	note_set(note, NULL, 0, 0);
	/* every reading below starts with a phrase of one of these kinds or a digit */
	static const uint32_t named_kinds = 1u << DK_WEEK | 1u << DK_WEEK_NUMBER |
		1u << DK_NEXT_WEEK | 1u << DK_NEXT | 1u << DK_FOLLOWING | 1u << DK_DAY |
		1u << DK_WEEKDAY | 1u << DK_IN_MONTH | 1u << DK_MONTH;
	unsigned char b = (unsigned char)*p;
	if (!isdigit(b) && !(d->pair[(size_t)b << 8 | (unsigned char)(b ? p[1] : 0)] & named_kinds))
		return -1;
	long day = week_at(d, p, today, note);
	if (day >= 0 || note->rule) {
		*end = note->end;
		return note->end ? day : -1;
	}
	size_t w;
	int next_week = 0;
	if ((w = kind_at(d, DK_NEXT_WEEK, p, &n)) != 0 || (w = kind_at(d, DK_NEXT, p, &n)) != 0) {
		next_week = kind_at(d, DK_NEXT_WEEK, p, &n) != 0;
		const char *q = p + w + blanks_at(p + w);
		size_t k = kind_at(d, DK_WEEKDAY, q, &wd);
		if (!k || !wd)
			return -1;
		*end = q + k;
	} else if ((w = kind_at(d, DK_FOLLOWING, p, &n)) != 0) {
		const char *q = p + w + blanks_at(p + w);
		size_t k = kind_at(d, DK_WEEKDAY, q, &wd);
		if (!k || !wd)
			return -1;
		*end = q + k;	/* "the following Friday": placed later */
		note_set(note, "weekday-after", wd, 0);
		note->end = *end;
		return weekday_day(wd, 0, today);
	} else if ((w = kind_at(d, DK_DAY, p, &n)) != 0) {
		*end = p + w;	/* "je peux commencer demain", "I'll deliver tomorrow" */
		note->end = *end;
		return today + n;
	} else if ((w = kind_at(d, DK_WEEKDAY, p, &wd)) != 0 && wd) {
		const char *q = p + w + blanks_at(p + w);
		size_t k;
		if ((k = kind_at(d, DK_AFTER, q, &n)) != 0) {
			*end = q + k;	/* "the Friday after": placed later */
			note_set(note, "weekday-after", wd, 0);
			note->end = *end;
			return weekday_day(wd, 0, today);
		}
		if ((k = kind_at(d, DK_NEXT_WEEK, q, &n)) != 0)
			next_week = 1;
		else if (!(k = kind_at(d, DK_NEXT, q, &n)))
			*bare = 1;	/* "lundi": a start only ("je peux commencer lundi") */
		*end = k ? q + k : p + w;
	} else if (kind_at(d, DK_IN_MONTH, p, &n)) {
		day = month_alone_at(d, p, today, note);	/* "je vous livre en mai" */
		*end = note->end;
		return day >= 0 && *end ? day : -1;
	} else {
		if (!day_written_at(d, p))
			return -1;
		day = day_at(d, p, today);
		*end = p;
		while (**end && !strchr(".,;!?\n", **end) && *end - p < 24)
			(*end)++;
		return day;
	}
	note_set(note, next_week ? "weekday-next-week" : "weekday", wd, 0);
	note->end = *end;
	return weekday_day(wd, next_week, today);
}

/* The first day named without a cue (named_day_at) in a delivery statement: a delivery word of
 * dates.txt ("je vous livre", "I'll deliver", "livraison") in its clause, at most 60 bytes
 * before it with no availability word between, or at most 60 bytes after it ("vendredi
 * prochain je vous livre la maquette"); not refused. -1 when none; where and how it was read
 * in *where and *note. A day named after an availability word (availability_before: "je peux
 * commencer lundi", "start next Monday") is the start, the first one kept in *start. */
static long delivery_day(const struct date_data *d, const char *l, const size_t *at, size_t n,
			 long today, struct date_note *note, size_t *where, struct date_start *start)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = l + at[i], *end = NULL;
		int bare;
		long day = named_day_at(d, p, today, note, &end, &bare);
		if (day < 0 || !end)
			continue;
		if (availability_before(d, l, at[i], at[i])) {
			/* "je peux commencer lundi", "start next Monday" */
			start_keep(start, day, at[i], note, today);
			continue;
		}
		if (bare)
			continue;
		size_t cs = money_clause_start(l, at[i]), from = at[i] > 60 ? at[i] - 60 : 0;
		size_t e = (size_t)(end - l), ce = money_clause_end(l, e), de;
		if (from < cs)
			from = cs;
		size_t before = kind_in(d, DK_DELIVERY, l, from, at[i], 0, &de);
		int delivery = before != SIZE_MAX &&
			       kind_in(d, DK_AVAILABILITY, l, de, at[i], 1, &de) == SIZE_MAX;
		size_t shown = delivery ? before : at[i];
		if (!delivery && kind_in(d, DK_DELIVERY, l, e, ce < e + 60 ? ce : e + 60, 1, &de) !=
				 SIZE_MAX)
			delivery = 1;
		if (!delivery || money_refused_at(l, at[i]))
			continue;
		/* why shows the delivery word too when it comes first ("livre … vendredi
		 * prochain") */
		*where = shown;
		if (!note->end)
			note->end = end;
		return day;
	}
	return -1;
}

/* The day the work starts that l names anywhere (a day after an availability word, with a cue
 * or without: "je peux commencer lundi", "booked until next week"), as start_keep keeps it;
 * -1 when none. For a weekday read as the next one ("livraison vendredi prochain") that would
 * come before the start. */
/* start_named, the start (where and how it was read) into *out. avail: 0 when l has no
 * availability word (availability_before is never true there): only a start cue keeps a
 * day, and the other word starts are skipped. */
static long start_found(const struct date_data *d, const char *l, long today, int avail,
			struct date_start *out)
{
	struct date_start start = { .day = -1 };
	struct date_note note;
	for (size_t i = 0; l[i] && start.day < 0; i++) {
		if ((i && word_byte((unsigned char)l[i - 1])) || !word_byte((unsigned char)l[i]))
			continue;
		const char *end;
		int bare, n;
		if (!avail && !kind_at(d, DK_START_CUE, l + i, &n))
			continue;
		long day = named_day_at(d, l + i, today, &note, &end, &bare);
		size_t k = kind_at(d, DK_CUE, l + i, &n), sk = kind_at(d, DK_START_CUE, l + i, &n);
		if (sk && (day = start_cue_day(d, l + i + sk, today, &note)) >= 0) {
			start_keep(&start, day, i, &note, today);	/* "à partir du 20" */
			continue;
		}
		if (day < 0 && (k || kind_at(d, DK_ARTICLE, l + i, &n)))
			day = day_after_cue(d, l + i + k, today, &note);	/* "commencer le 10" */
		if (day >= 0 && availability_before(d, l, i, i + k))
			start_keep(&start, day, i, &note, today);
	}
	*out = start;
	return start.day;
}

static long start_named(const struct date_data *d, const char *l, long today)
{
	struct date_start start;
	int avail = kinds_present(d, l, 1u << DK_AVAILABILITY) != 0;
	return start_found(d, l, today, avail, &start);
}

/* The last day written before offset where of l (day_written_at: "le 10 avril", "April 10",
 * "the 10th"), -1 when none. */
static long day_stated_before(const struct date_data *d, const char *l, size_t where, long today)
{
	long last = -1;
	for (size_t i = 0; i < where && l[i]; i++) {
		if ((i && word_byte((unsigned char)l[i - 1])) || !word_byte((unsigned char)l[i]) ||
		    !day_written_at(d, l + i))
			continue;
		long day = day_at(d, l + i, today);
		if (day >= 0)
			last = day;
	}
	return last;
}

/* A weekday placed after a stated day ("start on the 10th, ready the Friday after", "livraison
 * de la maquette le 10 avril, le site le vendredi suivant"): the next such weekday after the
 * start named (start_named), else after the last day written before it; -1 when there is
 * none, for "the Friday after" alone names no day. */
static long weekday_after(const struct date_data *d, const char *l, size_t where, long today,
			  struct date_note *note)
{
	long ref = start_named(d, l, today);
	note->rule = "weekday-after-start";
	if (ref < 0) {
		ref = day_stated_before(d, l, where, today);
		note->rule = "weekday-after-day";
	}
	if (ref < 0) {
		note->rule = NULL;
		return -1;
	}
	note->from = ref;
	return weekday_day(note->n, 0, ref);
}

/* A copy of l where each follow-up request (amounts.txt `followup`: "relance-moi vendredi",
 * "ping me next week") is blanked up to the end of its clause: its day is no delivery; and
 * each phrase of dates.txt not-date ("merci pour", "bonne fin de semaine"), which names no
 * day. */
static char *followups_blanked(const struct date_data *d, const char *l)
{
	char *c = xstrdup(l);
	for (size_t i = 0; c[i]; i++) {
		int n;
		size_t k;
		if (i && word_byte((unsigned char)c[i - 1]))
			continue;
		if ((k = kind_at(d, DK_NOT_DATE, c + i, &n)) != 0) {
			memset(c + i, ' ', k);
			i += k - 1;
			continue;
		}
		if (!money_followup_at(c + i))
			continue;
		while (c[i] && c[i] != '\n' && c[i] != '!' && c[i] != '?' && c[i] != ';' &&
		       !((c[i] == '.' || c[i] == ',') && (c[i + 1] == ' ' || c[i + 1] == '\n' || !c[i + 1])))
			c[i++] = ' ';
		if (!c[i])
			break;
	}
	return c;
}

/* Says in why (n bytes) how the day was read at l + where: the words, and the rule of note. */
static void date_explain(const char *l, size_t where, const struct date_note *note, char *why,
			 size_t n)
{
	static const char *const days[] = { "", "Monday", "Tuesday", "Wednesday", "Thursday",
					    "Friday", "Saturday", "Sunday" };
	size_t k = 0;
	int words = 0;
	if (note->end && note->end > l + where && note->end - (l + where) <= 60)
		k = (size_t)(note->end - (l + where));
	else
		while (k < 48 && l[where + k] && !strchr(".,;!?\n", l[where + k]) &&
		       (l[where + k] != ' ' || ++words < 5))
			k++;
	while (k > 0 && ((unsigned char)l[where + k] & 0xC0) == 0x80)
		k--;	/* never cut a character */
	int w = snprintf(why, n, "`%.*s`", (int)k, l + where);
	if (w < 0 || (size_t)w >= n || !note->rule)
		return;
	static const char *const months[] = { "", "January", "February", "March", "April", "May",
					      "June", "July", "August", "September", "October",
					      "November", "December" };
	if (!strcmp(note->rule, "month") && note->n >= 1 && note->n <= 12)
		snprintf(why + w, n - w, ": the last day of %s", months[note->n]);
	else if (!strcmp(note->rule, "month-before"))
		snprintf(why + w, n - w, ": the last day before that month");
	else if (!strcmp(note->rule, "easter") && note->n == 1)
		snprintf(why + w, n - w, ": the day after Easter Sunday %d", note->year);
	else if (!strcmp(note->rule, "easter") && note->n)
		snprintf(why + w, n - w, ": %d days after Easter Sunday %d", note->n, note->year);
	else if (!strcmp(note->rule, "easter"))
		snprintf(why + w, n - w, ": Easter Sunday %d", note->year);
	else if (!strcmp(note->rule, "iso-week"))
		snprintf(why + w, n - w, ": the Friday of ISO week %d of %d", note->n, note->year);
	else if (!strcmp(note->rule, "week"))
		snprintf(why + w, n - w, ": the Friday of %s", note->n == 0 ? "this week"
			 : note->n == 1 ? "next week" : "a later week");
	else if (!strcmp(note->rule, "weekday"))
		snprintf(why + w, n - w, ": the next %s after the mail's day", days[note->n]);
	else if (!strncmp(note->rule, "weekday-after-", 14)) {
		char iso[11];
		date_day_format(note->from, iso);
		snprintf(why + w, n - w, ": the next %s after the %s on %s", days[note->n],
			 !strcmp(note->rule, "weekday-after-start") ? "start" : "day stated", iso);
	}
	else
		snprintf(why + w, n - w, ": %s of the week after the mail's", days[note->n]);
}

long extract_date_explain(const struct date_data *d, const char *l0, long today, char *why,
			  size_t why_len)
{
	if (why_len)
		why[0] = '\0';
	if (!d || today < 0)
		return -1;
	char *l = followups_blanked(d, l0);
	size_t starts, where = 0;
	uint32_t present;
	size_t *at = word_starts(d, l, 1u << DK_AVAILABILITY | 1u << DK_DELIVERY, &present,
				 &starts);
	struct date_note note = { 0 };
	struct date_start start = { .day = -1 };
	int n;
	long day = first_of(d, l, at, starts, today, NULL, 1, &note, &where, &start);
	if (day < 0) {
		note.rule = NULL;
		day = first_of(d, l, at, starts, today, month_part_at, 0, &note, &where, &start);
	}
	if (day < 0) {
		day = first_of(d, l, at, starts, today, relative_at, 0, &note, &where, &start);
		if (day >= 0 && start.day >= 0 && kind_at(d, DK_IN, l + where, &n))
			day = start.day + n;	/* "pris jusqu'au 10, puis sous quinzaine" */
	}
	if (day < 0) {
		/* the delivery statements without a cue: a whole-text scan, words starts
		 * included that no starting phrase opens ("je vous livre vendredi prochain");
		 * it reads a day only after an availability word or near a delivery word */
		if (present) {
			size_t all = 0, cap = strlen(l) / 2 + 1;
			size_t *every = xmalloc(cap * sizeof *every);
			for (size_t i = 0; l[i] && all < cap; i++)
				if ((!i || !word_byte((unsigned char)l[i - 1])) &&
				    word_byte((unsigned char)l[i]))
					every[all++] = i;
			day = delivery_day(d, l, every, all, today, &note, &where, &start);
			free(every);
		}
	}
	long began;
	if (day >= 0 && note.rule && !strcmp(note.rule, "weekday-after"))
		day = weekday_after(d, l, where, today, &note);
	if (day >= 0 && note.rule && !strcmp(note.rule, "weekday") &&
	    (began = start_named(d, l, today)) > day) {
		/* "je peux commencer lundi, livraison vendredi prochain": the Friday after the
		 * start, not before it */
		day = weekday_day(note.n, 0, began);
		note.rule = "weekday-after-start";
		note.from = began;
	}
	if (day >= 0 && why_len)
		date_explain(l, where, &note, why, why_len);
	int followup, delay = -1;
	if (day < 0)	/* "relance dans 7 jours" is no delivery */
		delay = extract_duration_days_lower(l0, &followup);
	if (day < 0 && start.day < 0)
		/* "début le 13, livraison 10 jours après" */
		start_found(d, l, today, (present >> DK_AVAILABILITY) & 1, &start);
	if (start.day == today)
		start.day = -1;	/* a start today: the delay counts from the mail's day */
	if (day < 0 && start.day >= 0 && delay >= 0 && why_len) {
		/* "je suis pris jusqu'à la semaine prochaine, puis livraison sous 10 jours" */
		char words[120], iso[11];
		start.note.rule = NULL;	/* the words only: the start is the day written below */
		date_explain(l, start.where, &start.note, words, sizeof words);
		date_day_format(start.day, iso);
		snprintf(why, why_len, "a delay of %d days counted from the start on %s (%s)", delay,
			 iso, words);
	}
	if (day < 0 && delay >= 0)
		day = (start.day >= 0 ? start.day : today) + delay;
	free(at);
	free(l);
	return day;
}

long extract_date_lower(const struct date_data *d, const char *l, long today)
{
	return extract_date_explain(d, l, today, NULL, 0);
}

long extract_followup_day(const struct date_data *d, const char *l, long today)
{
	if (!d || today < 0)
		return -1;
	for (size_t i = 0; l[i]; i++) {
		size_t k;
		if ((i && word_byte((unsigned char)l[i - 1])) || !(k = money_followup_at(l + i)))
			continue;
		struct date_note note = { 0 };
		long day = day_after_cue(d, l + i + k, today, &note);
		if (day < 0) {	/* "relance-moi pour vendredi", "follow up by Friday" */
			const char *p = l + i + k + blanks_at(l + i + k);
			int n;
			size_t c = kind_at(d, DK_CUE, p, &n);
			if (c)
				day = day_after_cue(d, p + c, today, &note);
		}
		if (day >= 0 && note.rule && !strcmp(note.rule, "week") && note.n > 0)
			day = today + 7L * note.n;	/* "chase them next week": in a week */
		if (day >= 0)
			return day;
	}
	return -1;
}
