/*
 * route.c — what a mail is for: the board address it came to (from its kind), and the signed
 * key it carries, verified once here. In: the parsed message, its envelope recipient, its kind.
 * Out: a struct route (kind, purpose letter, ids, whether the key is none, valid or bad).
 * Candidates are looked at in this order: the envelope recipient, then Delivered-To, To and Cc
 * (each in header order), as LOCAL+KEY@domain for the address's local part; then References,
 * as <KEY@domain> at the board's domain (providers that drop the +tag of the Reply-To), only
 * when KEY starts with one of the address's purpose letters. The first candidate that verifies
 * for one of the address's purposes (with its count of ids) decides; when none does but one was
 * found, the key is bad (forged, altered, or for another address) and the first one is kept.
 */
#include "bidmail.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The purposes each address accepts, with the number of ids their keys name. */
static const struct purpose {
	enum kind kind;
	char letter;
	int n_ids;
} purposes[] = {
	{ KIND_POST, 'k', 1 },		/* a reply to an acknowledgement: project */
	{ KIND_BID, 'b', 2 },		/* a bid from a selection or an alert: project, subscriber */
	{ KIND_BID, 'q', 1 },		/* the client on a quote's relay: bid */
	{ KIND_BID, 'r', 1 },		/* the freelancer on a quote's relay: bid */
	{ KIND_BID, 'a', 2 },		/* the client's answer to a question on a quote: bid, act */
	{ KIND_BID, 't', 1 },		/* a rating: bid */
	{ KIND_BID, 'w', 2 },		/* the client's answer to a reminder: project, its list */
	{ KIND_COMMAND, 'u', 1 },	/* unsubscribe by mail: subscriber */
	{ KIND_COMMAND, 'c', 1 },	/* a reply to a confirmation request: confirmation */
	{ KIND_COMMAND, 'v', 1 },	/* a moderator's decision: project */
	{ KIND_COMMAND, 'd', 1 },	/* a reply to a selection: subscriber */
	{ KIND_COMMAND, 's', 1 },	/* a subscriber's commands: subscriber */
	{ KIND_BOUNCE, 'm', 1 },	/* a bounce's VERP address: outbox row */
};

/* The board address mail of kind k comes to, or NULL. */
static const char *address_of(const struct config *c, enum kind k)
{
	switch (k) {
	case KIND_POST:
		return c->post_address;
	case KIND_BID:
		return c->bid_address;
	case KIND_COMMAND:
		return c->robot_address;
	case KIND_BOUNCE:
		return c->bounce_address;
	default:
		return NULL;
	}
}

/* 1 when letter is a purpose of kind k. */
static int accepts(enum kind k, char letter)
{
	for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++)
		if (purposes[i].kind == k && purposes[i].letter == letter)
			return 1;
	return 0;
}

/* 1 when key is valid at an address of kind k: r gets its purpose and ids. The public bid
 * address's "p<digits>" names a project and is not signed (anyone may bid there). */
static int verify(enum kind k, const char *key, struct route *r)
{
	size_t kl = strlen(key);
	if (k == KIND_BID && key[0] == 'p' && kl > 1 && kl < 19 &&
	    strspn(key + 1, "0123456789") == kl - 1) {
		r->purpose = 'p';
		r->ids[0] = strtoll(key + 1, NULL, 10);
		r->n_ids = 1;
		return 1;
	}
	for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++) {
		const struct purpose *p = &purposes[i];
		char letter[2] = { p->letter, '\0' };
		if (p->kind != k || keys_check(key, letter, r->ids, 3) != p->n_ids)
			continue;
		r->purpose = p->letter;
		r->n_ids = p->n_ids;
		return 1;
	}
	return 0;
}

/* Looks at one candidate key: 1 when it decides the route (valid), else 0 (a bad one is kept
 * when it is the first found). */
static int consider(enum kind k, const char *key, struct route *r)
{
	if (verify(k, key, r)) {
		snprintf(r->key_text, sizeof r->key_text, "%s", key);
		r->key = ROUTE_KEY_VALID;
		return 1;
	}
	if (r->key == ROUTE_KEY_NONE) {
		snprintf(r->key_text, sizeof r->key_text, "%s", key);
		r->key = ROUTE_KEY_BAD;
	}
	memset(r->ids, 0, sizeof r->ids);
	r->n_ids = 0;
	return 0;
}

/* The References candidate ref, as <KEY@domain> at the board's domain with one of k's purpose
 * letters, copied into key; 1 found, 0 not. */
static int key_of_reference(const struct config *c, enum kind k, const char *ref, char *key,
			    size_t len)
{
	const char *at = strrchr(ref, '@');
	if (!at || strcasecmp(at + 1, c->domain) || !ref[0] || ref[1] != '-' ||
	    !accepts(k, ref[0]) || (size_t)(at - ref) >= len)
		return 0;
	snprintf(key, len, "%.*s", (int)(at - ref), ref);
	return 1;
}

void route_message(const struct config *c, const struct message *m, const char *recipient,
		   enum kind k, struct route *r)
{
	memset(r, 0, sizeof *r);
	r->kind = k;
	r->address = address_of(c, k);
	if (!r->address)
		return;
	const char *at = strrchr(r->address, '@');
	char local[64], key[80];
	snprintf(local, sizeof local, "%.*s", (int)(at ? at - r->address : 0), r->address);
	if (recipient && keys_of_address(recipient, local, key, sizeof key) &&
	    consider(k, key, r))
		return;
	const struct strlist *heads[] = { &m->delivered_to, &m->to, &m->cc };
	for (size_t l = 0; l < sizeof heads / sizeof heads[0]; l++)
		for (size_t i = 0; i < heads[l]->n; i++)
			if (keys_of_address(heads[l]->v[i], local, key, sizeof key) &&
			    consider(k, key, r))
				return;
	for (size_t i = 0; i < m->references.n; i++)
		if (key_of_reference(c, k, m->references.v[i], key, sizeof key) &&
		    consider(k, key, r))
			return;
}
