/*
 * extract_bench.c — the extraction benchmark: on the same corpus, in the same process, times
 * (a) the bare libetpan parse (structure and transfer-decoding of every part), (b) bidmail's
 * MIME stage (mime_parse: limits, headers, charsets, HTML) and (c) the MIME stage plus
 * classification and extraction (reply trimming, budgets, bids, skills, scam rules).
 * Prints messages/s for each and the cost of extraction against the bare parse.
 * usage: extract_bench DIR [ROUNDS]   (DIR holds spool files, e.g. from gen_corpus.py --bids)
 */
#include "../src/bidmail.h"

#include <dirent.h>
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void decode_all(struct mailmime *m)
{
	if (!m)
		return;
	if (m->mm_type == MAILMIME_SINGLE && m->mm_data.mm_single &&
	    m->mm_data.mm_single->dt_type == MAILMIME_DATA_TEXT) {
		size_t idx = 0, rl = 0;
		char *r = NULL;
		int enc = MAILMIME_MECHANISM_8BIT;
		if (m->mm_mime_fields)
			for (clistiter *it = clist_begin(m->mm_mime_fields->fld_list); it; it = clist_next(it)) {
				struct mailmime_field *f = clist_content(it);
				if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING)
					enc = f->fld_data.fld_encoding->enc_type;
			}
		if (mailmime_part_parse(m->mm_data.mm_single->dt_data.dt_text.dt_data,
					m->mm_data.mm_single->dt_data.dt_text.dt_length, &idx, enc, &r,
					&rl) == MAILIMF_NO_ERROR)
			mailmime_decoded_part_free(r);
	} else if (m->mm_type == MAILMIME_MULTIPLE) {
		for (clistiter *it = clist_begin(m->mm_data.mm_multipart.mm_mp_list); it; it = clist_next(it))
			decode_all(clist_content(it));
	} else if (m->mm_type == MAILMIME_MESSAGE) {
		decode_all(m->mm_data.mm_message.mm_msg_mime);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	struct config c;
	if (config_load(&c, NULL) < 0 || extract_load(&c) < 0)
		return 1;
	DIR *d = opendir(argv[1]);
	if (!d)
		return 1;
	struct strlist names = { 0 };
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			strlist_add(&names, e->d_name);
	closedir(d);
	char **data = xcalloc(names.n, sizeof *data);
	size_t *len = xcalloc(names.n, sizeof *len);
	char **rcpt = xcalloc(names.n, sizeof *rcpt);
	for (size_t i = 0; i < names.n; i++) {
		char *path = xasprintf("%s/%s", argv[1], names.v[i]);
		FILE *f = fopen(path, "rb");
		free(path);
		if (!f)
			return 1;
		struct buf b;
		buf_init(&b, 64 * 1024 * 1024);
		char chunk[65536];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			buf_append(&b, chunk, n);
		fclose(f);
		char *all = buf_steal(&b);
		char *nl = strchr(all, '\n');
		char *r = strstr(all, "recipient=<");
		rcpt[i] = r && r < nl ? xstrndup(r + 11, strcspn(r + 11, ">")) : NULL;
		data[i] = xstrdup(nl ? nl + 1 : all);
		len[i] = strlen(data[i]);
		free(all);
	}
	double best[3] = { 1e9, 1e9, 1e9 };
	for (int round = 0; round < rounds; round++) {
		double t0 = now();
		for (size_t i = 0; i < names.n; i++) {
			size_t idx = 0;
			struct mailmime *mime = NULL;
			if (mailmime_parse(data[i], len[i], &idx, &mime) == MAILIMF_NO_ERROR) {
				decode_all(mime);
				mailmime_free(mime);
			}
		}
		double t1 = now();
		for (size_t i = 0; i < names.n; i++)
			message_free(mime_parse(data[i], len[i]));
		double t2 = now();
		for (size_t i = 0; i < names.n; i++) {
			struct message *m = mime_parse(data[i], len[i]);
			enum kind k = classify_message(&c, m, rcpt[i]);
			extract_message(&c, m, k);
			message_free(m);
		}
		double t3 = now();
		if (t1 - t0 < best[0])
			best[0] = t1 - t0;
		if (t2 - t1 < best[1])
			best[1] = t2 - t1;
		if (t3 - t2 < best[2])
			best[2] = t3 - t2;
	}
	double n = (double)names.n;
	printf("extraction benchmark: %zu messages, best of %d rounds\n", names.n, rounds);
	printf("  bare libetpan parse + decode         : %8.0f messages/s\n", n / best[0]);
	printf("  mime_parse (bidmail MIME stage)      : %8.0f messages/s\n", n / best[1]);
	printf("  mime_parse + classify + extract      : %8.0f messages/s\n", n / best[2]);
	printf("  extraction cost / bare parse cost    : %8.2f (target <= 1)\n",
	       (best[2] - best[1]) / best[0]);
	return 0;
}
