/*
 * send.c — delivers the outbox. With `smarthost` empty (the embedded default) this is the file
 * transport: one complete message per file in SPOOL/outgoing/, named NNNNNNNNNN-TOKEN.eml by
 * outbox id so files sort in sending order, written atomically. A crash between the write
 * and the `sent` mark rewrites the same file name with the same bytes: never a double.
 * In: queued outbox rows. Out: files, rows marked sent (or failed with the reason).
 */
#include "bidmail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int send_file(const struct config *c, struct store *s, struct outbox_row *r)
{
	char *dir = xasprintf("%s/outgoing", c->spool);
	char *name = xasprintf("%010lld-%s.eml", (long long)r->id, r->token);
	int rc = spool_write_atomic(dir, name, r->data, r->len);
	if (rc < 0) {
		log_err("stage=send outbox=%lld transport=file error=\"%s\" result=deferred",
			(long long)r->id, strerror(errno));
	} else {
		rc = store_outbox_mark(s, r->id, "sent", NULL);
		if (rc == 0)
			log_info("stage=send outbox=%lld transport=file kind=%s file=%s result=sent",
				 (long long)r->id, r->kind, name);
	}
	free(dir);
	free(name);
	return rc;
}

int send_outbox_flush(const struct config *c, struct store *s)
{
	struct outbox_row *rows;
	int n = store_outbox_list(s, "queued", 1, &rows);
	if (n < 0)
		return -1;
	int sent = 0;
	for (int i = 0; i < n; i++) {
		if (!compose_address_is_safe(rows[i].to)) {
			store_outbox_mark(s, rows[i].id, "failed", "recipient is not a plain address");
			continue;
		}
		if (*c->smarthost) {
			/* the SMTP sender is not built yet: keep the mail queued, say why once */
			if (i == 0)
				log_warn("stage=send error=\"smarthost is set but SMTP delivery is not "
					 "implemented in this version; mail stays queued\"");
			break;
		}
		if (send_file(c, s, &rows[i]) == 0)
			sent++;
	}
	for (int i = 0; i < n; i++)
		outbox_row_clear(&rows[i]);
	free(rows);
	return sent;
}
