/*
 * ceiling.c — the bare ceiling of ingestion, for the ingest benchmark: for every file of
 * SPOOL/incoming/new, read it, parse it with libetpan (structure, then every single part
 * transfer-decoded) and rename it into cur/ — nothing else. Prints messages/s.
 * usage: ceiling SPOOL
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <libetpan/libetpan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (argc != 2)
		return 2;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/incoming/new", argv[1]);
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	struct dirent *e;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long n = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[8192], dst[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		snprintf(dst, sizeof dst, "%s/incoming/cur/%s:2,S", argv[1], e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		rewind(f);
		char *data = malloc((size_t)len + 1);
		if (fread(data, 1, (size_t)len, f) != (size_t)len) {
			fclose(f);
			free(data);
			continue;
		}
		fclose(f);
		size_t idx = 0;
		struct mailmime *mime = NULL;
		if (mailmime_parse(data, (size_t)len, &idx, &mime) == MAILIMF_NO_ERROR) {
			decode_all(mime);
			mailmime_free(mime);
		}
		free(data);
		rename(path, dst);
		n++;
	}
	closedir(d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld %.6f\n", n, s);
	return 0;
}
