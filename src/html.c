/*
 * html.c — HTML to plain text with libxml2's HTML parser (the only file that uses libxml2).
 * In: an HTML document already converted to UTF-8. Out: owned UTF-8 text with entities
 * decoded, <br>/<p>/<div>/<li>/<tr>/headings as line breaks, <style>/<script>/<head> dropped,
 * runs of blanks collapsed except inside <pre>. The tree walk is iterative: no recursion depth.
 * What reaches libxml2 is bounded first by a linear pass (html_bound): libxml2 2.9's cost grows
 * with the square of the distinct names it meets (attributes, elements, entities, doctypes),
 * so it only ever sees tags without attributes and with known names (any other becomes one
 * name), known entities, and at most HTML_MAX_ELEMENTS tags.
 */
#include "bidmail.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <string.h>
#include <strings.h>

#define HTML_MAX_ELEMENTS 100000	/* tags passed to libxml2; the rest of the document is cut */
#define HTML_MAX_ENTITY_LOOKUPS 20000	/* named entities checked against libxml2's table */
#define UNKNOWN_ELEMENT "x-bidmail"	/* the one name given to elements libxml2 does not know */

static int is_letter(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* libxml2's HTML name characters (htmlParseHTMLName) */
static int is_name_char(char ch)
{
	return is_letter(ch) || (ch >= '0' && ch <= '9') || ch == ':' || ch == '-' || ch == '_' ||
	       ch == '.';
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The end of the start tag whose name ends at h[i], as libxml2 reads its attributes (a
 * quoted value may hold '>', a bogus token ends at a blank); *empty set for "/>". */
static size_t start_tag_end(const char *h, size_t n, size_t i, int *empty)
{
	*empty = 0;
	while (i < n) {
		while (i < n && is_blank(h[i]))
			i++;
		if (i >= n)
			return n;
		if (h[i] == '>')
			return i + 1;
		if (h[i] == '/' && i + 1 < n && h[i + 1] == '>') {
			*empty = 1;
			return i + 2;
		}
		if (is_letter(h[i]) || h[i] == '_' || h[i] == ':' || h[i] == '.') {
			while (i < n && is_name_char(h[i]))
				i++;
			size_t j = i;
			while (j < n && is_blank(h[j]))
				j++;
			if (j < n && h[j] == '=') {
				j++;
				while (j < n && is_blank(h[j]))
					j++;
				if (j < n && (h[j] == '"' || h[j] == '\'')) {
					const char *q = memchr(h + j + 1, h[j], n - j - 1);
					i = q ? (size_t)(q - h) + 1 : n;
				} else {
					while (j < n && !is_blank(h[j]) && h[j] != '>')
						j++;
					i = j;
				}
			}
			continue;
		}
		/* not an attribute name: skipped up to a blank or the end of the tag */
		while (i < n && !is_blank(h[i]) && h[i] != '>' &&
		       !(h[i] == '/' && i + 1 < n && h[i + 1] == '>'))
			i++;
	}
	return n;
}

/* 1 when libxml2 knows the element name h[0..len) (case ignored). */
static int known_element(const char *h, size_t len)
{
	char name[16];
	if (len >= sizeof name)
		return 0;
	memcpy(name, h, len);
	name[len] = '\0';
	return htmlTagLookup((const xmlChar *)name) != NULL;
}

/* Appends the name libxml2 will give the element h[0..len): its own when known, the part
 * after a prefix when that is known (libxml2 drops an undeclared prefix: <o:p> is a p),
 * else UNKNOWN_ELEMENT. */
static void put_element_name(struct buf *b, const char *h, size_t len)
{
	const char *colon = memrchr(h, ':', len);
	if (known_element(h, len))
		buf_append(b, h, len);
	else if (colon && known_element(colon + 1, len - (size_t)(colon + 1 - h)))
		buf_append(b, colon + 1, len - (size_t)(colon + 1 - h));
	else
		buf_puts(b, UNKNOWN_ELEMENT);
}

/* Copies html for libxml2: tags without their attributes (an element libxml2 does not know
 * under one name), named entities that exist (others escaped), raw <script> and <style>
 * text as it is, no comments, declarations or processing instructions, at most
 * HTML_MAX_ELEMENTS tags. Linear; returns owned. */
static char *html_bound(const char *h, size_t n)
{
	struct buf b;
	buf_init(&b, n * 5 + 64);	/* '&' becomes "&amp;" */
	size_t tags = 0, lookups = 0;
	size_t i = 0;
	while (i < n && tags < HTML_MAX_ELEMENTS) {
		char ch = h[i];
		if (ch == '&' && i + 1 < n && is_letter(h[i + 1])) {
			size_t j = i + 1;
			while (j < n && j - i <= 9 && (is_letter(h[j]) || (h[j] >= '0' && h[j] <= '9')))
				j++;
			char name[12];
			size_t len = j - i - 1;
			int known = 0;
			if (j < n && h[j] == ';' && len < sizeof name) {
				memcpy(name, h + i + 1, len);
				name[len] = '\0';
				if (!strcmp(name, "amp") || !strcmp(name, "lt") || !strcmp(name, "gt") ||
				    !strcmp(name, "quot") || !strcmp(name, "nbsp"))
					known = 1;
				else if (lookups < HTML_MAX_ENTITY_LOOKUPS && ++lookups)
					known = htmlEntityLookup((const xmlChar *)name) != NULL;
			}
			buf_puts(&b, known ? "&" : "&amp;");
			i++;
			continue;
		}
		if (ch != '<') {
			buf_putc(&b, ch);
			i++;
			continue;
		}
		if (i + 1 < n && is_letter(h[i + 1])) {
			size_t j = i + 1;
			while (j < n && is_name_char(h[j]))
				j++;
			int empty;
			size_t e = start_tag_end(h, n, j, &empty);
			size_t nlen = j - i - 1;
			/* an unknown element keeps its place under one name (o:p, custom tags) */
			buf_putc(&b, '<');
			put_element_name(&b, h + i + 1, nlen);
			buf_puts(&b, empty ? "/>" : ">");
			tags++;
			const char *name = h + i + 1;
			i = e;
			if (!empty && ((nlen == 6 && !strncasecmp(name, "script", 6)) ||
				       (nlen == 5 && !strncasecmp(name, "style", 5)))) {
				/* raw text up to its end tag, as libxml2 reads it: copied as is */
				size_t k = i;
				while (k + 1 + nlen < n && !(h[k] == '<' && h[k + 1] == '/' &&
							    !strncasecmp(h + k + 2, name, nlen)))
					k++;
				if (k + 1 + nlen >= n)
					k = n;
				buf_append(&b, h + i, k - i);
				i = k;
			}
			continue;
		}
		if (i + 2 < n && h[i + 1] == '/' && is_letter(h[i + 2])) {
			size_t j = i + 2;
			while (j < n && is_name_char(h[j]))
				j++;
			const char *gt = memchr(h + j, '>', n - j);
			buf_puts(&b, "</");
			put_element_name(&b, h + i + 2, j - i - 2);
			buf_putc(&b, '>');
			tags++;
			i = gt ? (size_t)(gt - h) + 1 : n;
			continue;
		}
		if (i + 3 < n && !memcmp(h + i, "<!--", 4)) {
			const char *end = memmem(h + i + 4, n - i - 4, "-->", 3);
			i = end ? (size_t)(end - h) + 3 : n;
			continue;
		}
		if (i + 1 < n && (h[i + 1] == '!' || h[i + 1] == '?' || h[i + 1] == '/')) {
			const char *gt = memchr(h + i, '>', n - i);
			i = gt ? (size_t)(gt - h) + 1 : n;
			continue;
		}
		buf_puts(&b, "&lt;");
		i++;
	}
	return buf_steal(&b);
}

static int name_is(const xmlNode *n, const char *const *names)
{
	for (; *names; names++)
		if (!strcasecmp((const char *)n->name, *names))
			return 1;
	return 0;
}

static const char *const skipped[] = { "style", "script", "head", "title", "noscript",
				       "template", NULL };
static const char *const blocks[] = { "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5",
				      "h6", "blockquote", "table", "ul", "ol", "dl", "dt", "dd",
				      "pre", "address", "section", "article", "header", "footer",
				      "hr", "form", "center", NULL };

/* Adds a line break unless the text already ends with one (at most one blank line). */
static void newline(struct buf *b, int blank)
{
	size_t n = b->len;
	while (n > 0 && b->data[n - 1] == ' ')
		b->len = --n;
	if (n == 0)
		return;
	if (b->data[n - 1] != '\n')
		buf_putc(b, '\n');
	else if (blank && (n < 2 || b->data[n - 2] != '\n'))
		buf_putc(b, '\n');
	if (b->data)
		b->data[b->len] = '\0';
}

/* Quoted depth: the text of a <blockquote> comes out as "> " lines, like a plain-text
 * reply, so that the reply trimmer treats both the same way. */
static _Thread_local int quote_depth;	/* per thread: ingest parses in a second thread */

static void line_prefix(struct buf *b)
{
	if (quote_depth > 0 && (b->len == 0 || b->data[b->len - 1] == '\n'))
		for (int i = 0; i < quote_depth && i < 20; i++)
			buf_puts(b, "> ");
}

static void add_text(struct buf *b, const char *t, int pre)
{
	if (pre) {
		for (; *t; t++) {
			line_prefix(b);
			buf_putc(b, *t);
		}
		return;
	}
	for (; *t; t++) {
		unsigned char c = (unsigned char)*t;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (b->len > 0 && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n')
				buf_putc(b, ' ');
		} else if (c == 0xC2 && (unsigned char)t[1] == 0xA0) {
			/* &nbsp; is a plain space in text */
			if (b->len > 0 && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n')
				buf_putc(b, ' ');
			t++;
		} else {
			line_prefix(b);
			buf_putc(b, (char)c);
		}
	}
}

char *html_to_text(const char *html, size_t len)
{
	struct buf b;
	buf_init(&b, len * 2 + 64);
	if (len > (size_t)INT32_MAX)
		return xstrdup("");
	quote_depth = 0;
	char *bounded = html_bound(html, len);
	htmlDocPtr doc = htmlReadMemory(bounded, (int)strlen(bounded), NULL, "UTF-8",
					HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
					HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
	free(bounded);
	if (!doc)
		return xstrdup("");
	xmlNode *n = xmlDocGetRootElement(doc);
	int pre = 0;
	while (n) {
		int descend = 0;
		if (n->type == XML_ELEMENT_NODE) {
			if (name_is(n, skipped)) {
				descend = 0;
			} else {
				if (!strcasecmp((const char *)n->name, "br")) {
					while (b.len > 0 && b.data[b.len - 1] == ' ')
						b.data[--b.len] = '\0';
					buf_putc(&b, '\n');
				}
				if (name_is(n, blocks))
					newline(&b, !strcasecmp((const char *)n->name, "p"));
				if (!strcasecmp((const char *)n->name, "blockquote"))
					quote_depth++;
				if (!strcasecmp((const char *)n->name, "li")) {
					line_prefix(&b);
					buf_puts(&b, "- ");
				}
				if (!strcasecmp((const char *)n->name, "pre"))
					pre++;
				descend = n->children != NULL;
			}
		} else if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				add_text(&b, (const char *)n->content, pre > 0);
		}
		if (descend) {
			n = n->children;
			continue;
		}
		/* climb until a sibling exists, closing blocks on the way */
		while (n) {
			if (n->type == XML_ELEMENT_NODE && n->children && !name_is(n, skipped)) {
				if (name_is(n, blocks))
					newline(&b, !strcasecmp((const char *)n->name, "p"));
				if (!strcasecmp((const char *)n->name, "pre") && pre > 0)
					pre--;
				if (!strcasecmp((const char *)n->name, "blockquote") && quote_depth > 0)
					quote_depth--;
			} else if (n->type == XML_ELEMENT_NODE && name_is(n, blocks) &&
				   !name_is(n, skipped)) {
				newline(&b, 0);
			}
			if (n->next) {
				n = n->next;
				break;
			}
			n = n->parent;
			if (n && (xmlDocPtr)n == doc)
				n = NULL;
		}
	}
	xmlFreeDoc(doc);
	char *text = buf_steal(&b);
	/* trim trailing blank lines */
	size_t l = strlen(text);
	while (l > 0 && (text[l - 1] == '\n' || text[l - 1] == ' '))
		text[--l] = '\0';
	return text;
}
