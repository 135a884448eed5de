/*
 * ceiling.c — the bare ceiling of ingestion, for the ingest benchmark: for every file of
 * SPOOL/incoming/new, read it, parse it with libetpan and rename it into cur/ — nothing else.
 * What is transfer-decoded is what the gateway decodes (mime.c's walk): the message's text
 * (the first text/plain or text/html part that is not an attachment; in a multipart/alternative
 * the text/plain one), delivery-status parts, and the attachments that are not base64 (their
 * decoded size); a base64 attachment is only counted, its characters scanned, as mime.c does.
 * With --all, every single part is decoded, attachments included (the ceiling of earlier
 * versions, which measured more work than the gateway does). Prints the count and seconds.
 * usage: ceiling [--all] SPOOL
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <libetpan/libetpan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static size_t sink;	/* what was decoded, so that no work is optimised away */

static int part_encoding(const struct mailmime *m)
{
	int enc = MAILMIME_MECHANISM_8BIT;
	if (m->mm_mime_fields)
		for (clistiter *it = clist_begin(m->mm_mime_fields->fld_list); it; it = clist_next(it)) {
			struct mailmime_field *f = clist_content(it);
			if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING)
				enc = f->fld_data.fld_encoding->enc_type;
		}
	return enc;
}

static void decode_one(const struct mailmime *m)
{
	if (m->mm_type != MAILMIME_SINGLE || !m->mm_data.mm_single ||
	    m->mm_data.mm_single->dt_type != MAILMIME_DATA_TEXT)
		return;
	size_t idx = 0, rl = 0;
	char *r = NULL;
	if (mailmime_part_parse(m->mm_data.mm_single->dt_data.dt_text.dt_data,
				m->mm_data.mm_single->dt_data.dt_text.dt_length, &idx, part_encoding(m),
				&r, &rl) == MAILIMF_NO_ERROR) {
		sink += rl;
		mailmime_decoded_part_free(r);
	}
}

static void decode_all(struct mailmime *m)
{
	if (!m)
		return;
	if (m->mm_type == MAILMIME_SINGLE) {
		decode_one(m);
	} else if (m->mm_type == MAILMIME_MULTIPLE) {
		for (clistiter *it = clist_begin(m->mm_data.mm_multipart.mm_mp_list); it; it = clist_next(it))
			decode_all(clist_content(it));
	} else if (m->mm_type == MAILMIME_MESSAGE) {
		decode_all(m->mm_data.mm_message.mm_msg_mime);
	}
}

/* "type/subtype" of a part, lower case (text/plain when it has none). */
static void type_of(const struct mailmime *m, char *out, size_t len)
{
	const struct mailmime_content *ct = m->mm_content_type;
	const char *t = "text", *sub = "plain";
	if (ct && ct->ct_type && ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	    ct->ct_type->tp_data.tp_discrete_type) {
		static const char *names[] = { "", "text", "image", "audio", "video", "application" };
		int k = ct->ct_type->tp_data.tp_discrete_type->dt_type;
		t = k >= 1 && k <= 5 ? names[k] : "x";
	} else if (ct && ct->ct_type && ct->ct_type->tp_data.tp_composite_type) {
		t = ct->ct_type->tp_data.tp_composite_type->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE
		    ? "message" : "multipart";
	}
	if (ct && ct->ct_subtype)
		sub = ct->ct_subtype;
	snprintf(out, len, "%s/%s", t, sub);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* Whether a part is an attachment as mime.c reads it: a disposition "attachment", or a
 * file name (disposition filename, content-type name). */
static int is_attachment(const struct mailmime *m)
{
	if (m->mm_mime_fields)
		for (clistiter *it = clist_begin(m->mm_mime_fields->fld_list); it; it = clist_next(it)) {
			struct mailmime_field *f = clist_content(it);
			if (f->fld_type != MAILMIME_FIELD_DISPOSITION || !f->fld_data.fld_disposition)
				continue;
			struct mailmime_disposition *d = f->fld_data.fld_disposition;
			if (d->dsp_type && d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT)
				return 1;
			for (clistiter *p = clist_begin(d->dsp_parms); p; p = clist_next(p)) {
				struct mailmime_disposition_parm *dp = clist_content(p);
				if (dp->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME)
					return 1;
			}
		}
	if (m->mm_content_type)
		for (clistiter *it = clist_begin(m->mm_content_type->ct_parameters); it; it = clist_next(it)) {
			struct mailmime_parameter *pa = clist_content(it);
			if (pa->pa_name && !strcasecmp(pa->pa_name, "name"))
				return 1;
		}
	return 0;
}

/* A base64 attachment's size as mime.c counts it: its characters scanned, nothing decoded. */
static void count_base64(const struct mailmime *m)
{
	const struct mailmime_data *d = m->mm_data.mm_single;
	if (!d || d->dt_type != MAILMIME_DATA_TEXT)
		return;
	size_t chars = 0;
	for (size_t i = 0; i < d->dt_data.dt_text.dt_length; i++) {
		unsigned char c = (unsigned char)d->dt_data.dt_text.dt_data[i];
		chars += (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 c == '+' || c == '/';
	}
	sink += chars / 4 * 3;
}

/* What the gateway decodes of part m; *have_text once the message's text was decoded. */
static void decode_like_gateway(struct mailmime *m, int *have_text)
{
	char type[160];
	if (!m)
		return;
	type_of(m, type, sizeof type);
	if (m->mm_type == MAILMIME_SINGLE) {
		int attach = is_attachment(m);
		int text = !strcmp(type, "text/plain") || !strcmp(type, "text/html");
		if (!attach && text && !*have_text) {
			decode_one(m);
			*have_text = 1;
		} else if (!strcmp(type, "message/delivery-status") ||
			   !strcmp(type, "message/global-delivery-status")) {
			decode_one(m);
		} else if (!attach && !strncmp(type, "text/", 5) && *have_text) {
			/* a second inline text part: not decoded */
		} else if (part_encoding(m) == MAILMIME_MECHANISM_BASE64) {
			count_base64(m);
		} else {
			decode_one(m);
		}
	} else if (m->mm_type == MAILMIME_MULTIPLE) {
		clist *parts = m->mm_data.mm_multipart.mm_mp_list;
		if (!strcmp(type, "multipart/alternative") && !*have_text) {
			struct mailmime *pick = NULL;
			for (clistiter *it = clist_begin(parts); it && !pick; it = clist_next(it)) {
				char ct[160];
				type_of(clist_content(it), ct, sizeof ct);
				if (!strcmp(ct, "text/plain"))
					pick = clist_content(it);
			}
			if (!pick && clist_begin(parts))
				pick = clist_content(clist_begin(parts));
			decode_like_gateway(pick, have_text);
			*have_text = 1;
			return;
		}
		for (clistiter *it = clist_begin(parts); it; it = clist_next(it))
			decode_like_gateway(clist_content(it), have_text);
	} else if (m->mm_type == MAILMIME_MESSAGE) {
		int inner = m->mm_parent ? 0 : *have_text;
		decode_like_gateway(m->mm_data.mm_message.mm_msg_mime, m->mm_parent ? &inner : have_text);
	}
}

int main(int argc, char **argv)
{
	int all = argc == 3 && !strcmp(argv[1], "--all");
	if (argc != 2 + all)
		return 2;
	const char *spool = argv[1 + all];
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/incoming/new", spool);
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
		snprintf(dst, sizeof dst, "%s/incoming/cur/%s:2,S", spool, e->d_name);
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
			int have_text = 0;
			if (all)
				decode_all(mime);
			else
				decode_like_gateway(mime, &have_text);
			mailmime_free(mime);
		}
		free(data);
		rename(path, dst);
		n++;
	}
	closedir(d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld %.6f %zu\n", n, s, sink);
	return 0;
}
