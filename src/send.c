/*
 * send.c — delivers the outbox. With `smarthost` empty (the embedded default) this is the file
 * transport: one complete message per file in SPOOL/outgoing/, named NNNNNNNNNN-TOKEN.eml by
 * outbox id so files sort in sending order. A batch is staged as .tmp files, made durable by one
 * syncfs, renamed into place, the folder fsynced, then marked sent in one transaction. A crash
 * between the rename and the commit rewrites the same names with the same bytes: never a double.
 * In: queued outbox rows. Out: files, rows marked sent (or failed with the reason).
 */
#include "bidmail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEND_BATCH 256	/* at most the number of files spool_stage can hold */

int send_outbox_flush(const struct config *c, struct store *s)
{
	struct outbox_row *rows;
	int n = store_outbox_list(s, "queued", 1, &rows);
	if (n < 0)
		return -1;
	if (n > 0 && *c->smarthost) {
		/* the SMTP sender is not built yet: keep the mail queued, and say why */
		log_warn("stage=send queued=%d error=\"smarthost is set but SMTP delivery is not "
			 "implemented in this version; mail stays queued\"", n);
		for (int i = 0; i < n; i++)
			outbox_row_clear(&rows[i]);
		free(rows);
		return 0;
	}
	char *dir = xasprintf("%s/outgoing", c->spool);
	char **names = xcalloc(SEND_BATCH, sizeof *names);
	int sent = 0, rc = 0;
	for (int start = 0; start < n && rc == 0; start += SEND_BATCH) {
		int end = start + SEND_BATCH < n ? start + SEND_BATCH : n;
		size_t staged = 0;
		if (store_begin(s) < 0) {
			rc = -1;
			break;
		}
		for (int i = start; i < end; i++) {
			struct outbox_row *r = &rows[i];
			if (!compose_address_is_safe(r->to)) {
				store_outbox_mark(s, r->id, "failed", "recipient is not a plain address");
				continue;
			}
			char *name = xasprintf("%010lld-%s.eml", (long long)r->id, r->token);
			if (spool_stage(dir, name, r->data, r->len) < 0) {
				log_err("stage=send outbox=%lld transport=file error=\"%s\" "
					"result=deferred", (long long)r->id, strerror(errno));
				free(name);
				continue;
			}
			names[staged++] = name;
			store_outbox_mark(s, r->id, "sent", NULL);
		}
		/* the files get their names (durably) before the rows say `sent` */
		if (spool_publish(dir, 1) < 0) {
			log_err("stage=send error=\"cannot publish in %s: %s\" result=deferred", dir,
				strerror(errno));
			store_rollback(s);
			rc = -1;
		} else if (store_commit(s) < 0) {
			store_rollback(s);
			rc = -1;
		} else {
			for (size_t k = 0; k < staged; k++)
				log_info("stage=send transport=file file=%s result=sent", names[k]);
			sent += (int)staged;
		}
		for (size_t k = 0; k < staged; k++)
			free(names[k]);
	}
	free(names);
	free(dir);
	for (int i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);
	free(rows);
	return rc < 0 ? -1 : sent;
}
