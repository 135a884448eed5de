/*
 * extract.c — what people mean, read from their words: the language of a text and the title
 * of a post. (The next stage adds budgets, deadlines, skills, bids and reply trimming.)
 * In: UTF-8 text. Out: small owned strings or static language codes.
 */
#include "bidmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const french_words[] = {
	"le", "la", "les", "des", "une", "est", "et", "pour", "nous", "vous", "avec", "dans",
	"sur", "qui", "que", "pas", "du", "au", "aux", "je", "ce", "cette", "sont", "notre",
	"votre", "besoin", "projet", "merci", "bonjour", "cordialement", "site", "être", "très",
	"recherche", "mais", "ou", "en", "un", NULL };
static const char *const english_words[] = {
	"the", "and", "for", "with", "we", "you", "is", "are", "of", "to", "in", "our", "your",
	"need", "project", "thanks", "hello", "hi", "regards", "looking", "this", "that", "will",
	"be", "have", "a", "an", "on", "it", "please", NULL };

static int in_list(const char *w, size_t n, const char *const *list)
{
	if (n > 12)
		return 0;	/* no stop word is longer */
	for (; *list; list++)
		if (((*list)[0] | 0x20) == (w[0] | 0x20) && !strncasecmp(w, *list, n) &&
		    (*list)[n] == '\0')
			return 1;
	return 0;
}

const char *extract_language(const char *text)
{
	int fr = 0, en = 0, words = 0;
	const char *p = text;
	while (*p && words < 400) {
		while (*p && !isalpha((unsigned char)*p) && !((unsigned char)*p >= 0xC3))
			p++;
		const char *s = p;
		while (*p && (isalpha((unsigned char)*p) || (unsigned char)*p >= 0x80))
			p++;
		size_t n = (size_t)(p - s);
		if (!n)
			continue;
		words++;
		if (in_list(s, n, french_words))
			fr += 2;
		if (in_list(s, n, english_words))
			en += 2;
		/* é è à ç ê ù: French more often than not */
		for (size_t i = 0; i + 1 < n; i++)
			if ((unsigned char)s[i] == 0xC3 &&
			    strchr("\xA9\xA8\xA0\xA7\xAA\xB9\xA2\xAE\xB4\xBB", s[i + 1]))
				fr++;
	}
	if (fr == 0 && en == 0)
		return NULL;
	return fr >= en ? "fr" : "en";
}

char *extract_title(const char *subject)
{
	static const char *const prefixes[] = { "re", "fwd", "fw", "tr", "aw", "wg", "sv", "vs",
						"rif", "réf", "ref", "antw", "rv", "enc", NULL };
	const char *s = subject ? subject : "";
	for (int guard = 0; guard < 20; guard++) {
		while (*s == ' ' || *s == '\t')
			s++;
		int matched = 0;
		for (int i = 0; prefixes[i]; i++) {
			size_t n = strlen(prefixes[i]);
			if (strncasecmp(s, prefixes[i], n) != 0)
				continue;
			const char *q = s + n;
			if (*q == '[') {	/* Re[2]: */
				while (*q && *q != ']')
					q++;
				if (*q)
					q++;
			}
			while (*q == ' ')
				q++;
			if (*q == ':') {
				s = q + 1;
				matched = 1;
				break;
			}
		}
		if (!matched)
			break;
	}
	char *t = xstrdup(s);
	char *r = xstrdup(str_trim(t));
	free(t);
	return r;
}

int extract_subject_is_forward(const char *subject)
{
	static const char *const fw[] = { "fwd", "fw", "tr", "wg", "enc", "rv", "i", NULL };
	const char *s = subject ? subject : "";
	while (*s == ' ')
		s++;
	for (int i = 0; fw[i]; i++) {
		size_t n = strlen(fw[i]);
		if (strncasecmp(s, fw[i], n) == 0) {
			const char *q = s + n;
			while (*q == ' ')
				q++;
			if (*q == ':')
				return 1;
		}
	}
	return 0;
}
