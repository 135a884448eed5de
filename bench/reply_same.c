/*
 * reply_same.c — trims many bodies and prints every result, so that two builds of
 * extract_reply.c can be compared byte for byte (a speed change must change no result).
 * In: a list file, one item a line: "PATH [SENDER_PATH|-] [SENT_PATH|-] [FWD]" (the body,
 * the sender's name, the text we sent, 1 for a forward). Out, on stdout: for each item
 * "=== PATH" and the trimmed text.
 * usage: reply_same LIST > out.txt   (bench/reply_same_items.py DIR writes a LIST: DIR/list)
 */
#include "../src/bidmail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file at path, NUL-terminated (owned), or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b;
	buf_init(&b, 64u * 1024 * 1024);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct config c;
	if (config_load(&c, NULL) < 0 || extract_load(&c) < 0)
		return 1;
	FILE *list = fopen(argv[1], "r");
	if (!list)
		return 1;
	char line[4096];
	while (fgets(line, sizeof line, list)) {
		char path[1024], sp[1024] = "-", tp[1024] = "-";
		int fwd = 0;
		if (sscanf(line, "%1023s %1023s %1023s %d", path, sp, tp, &fwd) < 1)
			continue;
		char *body = slurp(path);
		char *sender = strcmp(sp, "-") ? slurp(sp) : NULL;
		char *sent = strcmp(tp, "-") ? slurp(tp) : NULL;
		if (!body)
			continue;
		char *out = extract_reply_known(body, fwd, sender, sent);
		printf("=== %s\n%s\n", path, out);
		free(out);
		free(body);
		free(sender);
		free(sent);
	}
	fclose(list);
	config_clear(&c);
	return 0;
}
