/*
 * html.c — HTML to plain text with libxml2's HTML parser (the only file that uses libxml2).
 * In: an HTML document already converted to UTF-8. Out: owned UTF-8 text with entities
 * decoded, <br>/<p>/<div>/<li>/<tr>/headings as line breaks, <style>/<script>/<head> dropped,
 * runs of blanks collapsed except inside <pre>. The tree walk is iterative: no recursion depth.
 */
#include "bidmail.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <string.h>
#include <strings.h>

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
	htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
					HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
					HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
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
