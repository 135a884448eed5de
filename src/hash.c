/*
 * hash.c — digests and randomness through GnuTLS (the only file that uses it): SHA-256 for
 * ingest keys, random bytes for Message-IDs and tokens. Later: HMAC for signed addresses.
 * In: bytes. Out: lower-case hex strings.
 */
#include "bidmail.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>

struct hash_ctx {
	gnutls_hash_hd_t hd;
};

static void to_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void hash_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
	to_hex(d, 32, out);
}

struct hash_ctx *hash_sha256_begin(void)
{
	struct hash_ctx *h = xcalloc(1, sizeof *h);
	if (gnutls_hash_init(&h->hd, GNUTLS_DIG_SHA256) < 0) {
		fputs("bidmail: gnutls_hash_init failed\n", stderr);
		abort();
	}
	return h;
}

void hash_sha256_update(struct hash_ctx *h, const void *data, size_t len)
{
	gnutls_hash(h->hd, data, len);
}

void hash_sha256_end(struct hash_ctx *h, char out[65])
{
	unsigned char d[32];
	gnutls_hash_deinit(h->hd, d);
	to_hex(d, 32, out);
	free(h);
}

int hash_random(void *out, size_t n)
{
	return gnutls_rnd(GNUTLS_RND_NONCE, out, n) < 0 ? -1 : 0;
}

void hash_random_hex(char *out, size_t n)
{
	unsigned char b[64];
	if (n > sizeof b)
		n = sizeof b;
	if (hash_random(b, n) < 0) {
		/* gnutls_rnd does not fail once the library is initialised; keep output unique anyway */
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(rand() ^ (int)i);
	}
	to_hex(b, n, out);
}
