/*
 * fetch_ledger.h — the fetch ledger (fetch_ledger.c): what fetch.c has put in the spool, in a
 * file of the spool (SPOOL/fetch/ledger) so that fetching never needs the database.
 */
#ifndef BIDMAIL_FETCH_LEDGER_H
#define BIDMAIL_FETCH_LEDGER_H

#include "bidmail.h"

struct fetch_ledger;

/* Opens the host's ledger, reading it whole; the first time, the rows of the old `fetched`
 * table are imported through s (or the database opened for it alone when s is NULL; when it
 * is away, at the next open). The ledger, or NULL (logged). */
struct fetch_ledger *fetch_ledger_open(const struct config *c, struct store *s);
/* 1 when the message of this origin and identity is already in the spool, 0 if not, -1
 * (fetch_ledger_error). A row from before identities takes the first identity asked about. */
int fetch_ledger_seen(struct fetch_ledger *l, const char *origin, const char *ident);
/* Records, fsynced, that the message of this origin and identity is in the spool. 0 or -1. */
int fetch_ledger_add(struct fetch_ledger *l, const char *origin, const char *ident, time_t now);
/* Why the last call failed (borrowed). */
const char *fetch_ledger_error(const struct fetch_ledger *l);
/* Closes the ledger; NULL. Accepts NULL. */
struct fetch_ledger *fetch_ledger_free(struct fetch_ledger *l);

#endif
