/*
 * charset.c — bytes in any declared charset to clean UTF-8, following the WHATWG Encoding
 * label rules: iso-8859-1 and us-ascii are windows-1252 (Outlook labels the euro sign that way),
 * unknown or bogus labels fall back to UTF-8 when the bytes are valid UTF-8, else windows-1252.
 * In: a label and bytes. Out: an owned NUL-terminated UTF-8 string; iconv does the other charsets.
 */
#include "bidmail.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

/* windows-1252 0x80..0x9F; the five undefined bytes map to their C1 code points (WHATWG). */
static const unsigned short cp1252_high[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static void put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	if (cp < 0x80) {
		u[0] = (char)cp;
		buf_append(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 4);
	}
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (p[0] == 0xE0 && p[1] < 0xA0)
			return 0;	/* overlong */
		if (p[0] == 0xED && p[1] >= 0xA0)
			return 0;	/* surrogate */
		return 3;
	}
	if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		if (p[0] == 0xF0 && p[1] < 0x90)
			return 0;
		if (p[0] == 0xF4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

int charset_is_utf8(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;
	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(p + i, len - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

static char *from_cp1252(const char *data, size_t len)
{
	struct buf b;
	buf_init(&b, len * 3 + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch < 0x80) {
			size_t k = i + 1;	/* the run of ASCII, copied at once */
			while (k < len && (unsigned char)data[k] < 0x80)
				k++;
			buf_append(&b, data + i, k - i);
			i = k - 1;
		} else if (ch < 0xA0)
			put_utf8(&b, cp1252_high[ch - 0x80]);
		else
			put_utf8(&b, ch);
	}
	return buf_steal(&b);
}

/* Copies UTF-8, replacing each invalid byte with U+FFFD. */
static char *from_utf8_lossy(const char *data, size_t len, int *repaired)
{
	struct buf b;
	buf_init(&b, len * 3 + 1);
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;
	while (i < len) {
		size_t k = p[i] < 0x80 ? 1 : utf8_seq(p + i, len - i);
		if (k) {
			size_t run = i + k;	/* the run of valid sequences, copied at once */
			while (run < len && (k = p[run] < 0x80 ? 1 : utf8_seq(p + run, len - run)))
				run += k;
			buf_append(&b, data + i, run - i);
			i = run;
		} else {
			buf_append(&b, "\xEF\xBF\xBD", 3);
			*repaired = 1;
			i++;
		}
	}
	return buf_steal(&b);
}

static const struct {
	const char *label;
	const char *name;	/* "" = windows-1252 by hand, "UTF-8" = validated copy */
} aliases[] = {
	{ "utf-8", "UTF-8" }, { "utf8", "UTF-8" }, { "unicode-1-1-utf-8", "UTF-8" },
	{ "x-unicode20utf8", "UTF-8" }, { "unicode20utf8", "UTF-8" },
	{ "us-ascii", "" }, { "ascii", "" }, { "iso-8859-1", "" }, { "iso8859-1", "" },
	{ "iso_8859-1", "" }, { "iso88591", "" }, { "latin1", "" }, { "l1", "" },
	{ "cp819", "" }, { "ibm819", "" }, { "iso-ir-100", "" }, { "windows-1252", "" },
	{ "cp1252", "" }, { "x-cp1252", "" }, { "ansi_x3.4-1968", "" }, { "iso_8859-1:1987", "" },
	{ "csisolatin1", "" }, { "us", "" }, { "ibm367", "" }, { "cp367", "" },
	{ "iso-8859-9", "WINDOWS-1254" }, { "latin5", "WINDOWS-1254" },
	{ "iso-8859-11", "WINDOWS-874" }, { "tis-620", "WINDOWS-874" },
	{ "gb2312", "GBK" }, { "gb_2312-80", "GBK" }, { "x-gbk", "GBK" },
	{ "ks_c_5601-1987", "EUC-KR" }, { "ks_c_5601-1989", "EUC-KR" },
	{ "shift_jis", "CP932" }, { "sjis", "CP932" }, { "ms_kanji", "CP932" },
	{ "windows-31j", "CP932" }, { "x-sjis", "CP932" }, { "x-mac-roman", "MACINTOSH" },
	{ "macintosh", "MACINTOSH" }, { "utf-7", "UTF-7" }, { "unicode-1-1-utf-7", "UTF-7" },
};

static char *via_iconv(iconv_t cd, const char *data, size_t len, int *repaired)
{
	struct buf b;
	buf_init(&b, len * 4 + 16);
	char out[4096];
	char *in = (char *)data;
	size_t inleft = len;
	while (inleft > 0) {
		char *o = out;
		size_t oleft = sizeof out;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		buf_append(&b, out, sizeof out - oleft);
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* EILSEQ or EINVAL (truncated sequence): replace one byte and go on */
			buf_append(&b, "\xEF\xBF\xBD", 3);
			*repaired = 1;
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	char *o = out;
	size_t oleft = sizeof out;
	iconv(cd, NULL, NULL, &o, &oleft);
	buf_append(&b, out, sizeof out - oleft);
	return buf_steal(&b);
}

char *charset_to_utf8(const char *label, const char *data, size_t len, int *repaired)
{
	char norm[64] = "";
	int dummy = 0;
	char *r;
	if (!repaired)
		repaired = &dummy;
	if (label) {
		while (*label == ' ' || *label == '"' || *label == '\'')
			label++;
		size_t n = strcspn(label, " \"';");
		if (n >= sizeof norm)
			n = sizeof norm - 1;
		memcpy(norm, label, n);
		norm[n] = '\0';
		str_lower_ascii(norm);
	}
	const char *name = NULL;
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcmp(norm, aliases[i].label))
			name = aliases[i].name;
	if (!*norm) {
		/* no label: UTF-8 when valid, else windows-1252 */
		r = charset_is_utf8(data, len) ? xstrndup(data, len) : from_cp1252(data, len);
	} else if (name && !*name) {
		r = from_cp1252(data, len);
	} else if (name && !strcmp(name, "UTF-8")) {
		r = from_utf8_lossy(data, len, repaired);
	} else {
		iconv_t cd = iconv_open("UTF-8", name ? name : norm);
		if (cd == (iconv_t)-1) {
			*repaired = 1;
			r = charset_is_utf8(data, len) ? xstrndup(data, len) : from_cp1252(data, len);
		} else {
			char *tmp = via_iconv(cd, data, len, repaired);
			iconv_close(cd);
			/* iconv output is UTF-8 by construction; validate anyway (UTF-7 quirks) */
			r = from_utf8_lossy(tmp, strlen(tmp), repaired);
			free(tmp);
		}
	}
	charset_strip_controls(r, 1);
	return r;
}

size_t charset_bidi_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (p[0] == 0xD8 && p[1] == 0x9C)
		return 2;	/* U+061C arabic letter mark */
	if (p[0] != 0xE2)
		return 0;
	if (p[1] == 0x80 && (p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE)))
		return 3;	/* U+200E/F marks, U+202A..U+202E embeddings and overrides */
	if (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9)
		return 3;	/* U+2066..U+2069 isolates */
	return 0;
}

size_t charset_strip_controls(char *s, int keep_newlines)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		/* bidirectional controls: U+202E then "gpj.exe" reads as "exe.jpg" */
		size_t bidi = charset_bidi_control(p);
		if (bidi) {
			p += bidi - 1;
			continue;
		}
		if (ch < 0x20 && ch != '\t' && !(keep_newlines && ch == '\n'))
			continue;
		if (ch == 0x7f)
			continue;
		/* C1 controls U+0080..U+009F, encoded C2 80..C2 9F */
		if (ch == 0xC2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9F) {
			p++;
			continue;
		}
		*w++ = *p;
	}
	*w = '\0';
	return (size_t)(w - s);
}
