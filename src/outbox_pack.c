/*
 * outbox_pack.c — packs a queued mail against a reference mail it shares most of its lines
 * with (the instant alerts of one project in one language differ only in their headers, the
 * greeting, the pattern that matched and the addresses), so that the outbox stores the
 * shared text once. Pure C, no database: store.c keeps the reference (outbox_part) and the
 * packed form (outbox_message.message), and unpacks on every read.
 * Packed form: PACK_MAGIC, then operations until the end: a varint n<<1 followed by n literal
 * bytes, or a varint n<<1|1 followed by a varint offset: n bytes of the reference from that
 * offset. A real mail never starts with a NUL byte, so a packed row is never taken for one.
 * Runs are found line by line (a hash of each reference line of 8 bytes or more) and extended
 * byte by byte, then cut back to a line end; a run shorter than PACK_MIN_RUN stays literal.
 * In: a reference and a mail. Out: the packed bytes, or the mail again (byte for byte).
 */
#include "bidmail.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PACK_MAGIC "\0bmpack1"
#define PACK_MAGIC_LEN 8
#define PACK_MIN_LINE 8		/* shorter reference lines are not indexed (blank lines, "--") */
#define PACK_MIN_RUN 48		/* a shorter run costs more than it saves */

struct pack_index {
	const char *ref;
	size_t len;
	uint32_t *slot;		/* line start + 1 by hash, 0 when empty (open addressing) */
	size_t mask;
};

/* FNV-1a of one line (its bytes up to and including its '\n'). */
static uint32_t line_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static size_t line_length(const char *p, size_t left)
{
	const char *nl = memchr(p, '\n', left);
	return nl ? (size_t)(nl - p) + 1 : left;
}

struct pack_index *pack_index_new(const char *ref, size_t len)
{
	if (len >= UINT32_MAX)
		return NULL;
	struct pack_index *ix = xcalloc(1, sizeof *ix);
	ix->ref = ref;
	ix->len = len;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += ref[i] == '\n';
	size_t cap = 16;
	while (cap < 2 * lines)
		cap *= 2;
	ix->slot = xcalloc(cap, sizeof *ix->slot);
	ix->mask = cap - 1;
	for (size_t at = 0, n; at < len; at += n) {
		n = line_length(ref + at, len - at);
		if (n < PACK_MIN_LINE)
			continue;
		size_t k = line_hash(ref + at, n) & ix->mask;
		while (ix->slot[k])	/* the first occurrence of a line is kept */
			k = (k + 1) & ix->mask;
		ix->slot[k] = (uint32_t)at + 1;
	}
	return ix;
}

void pack_index_free(struct pack_index *ix)
{
	if (!ix)
		return;
	free(ix->slot);
	free(ix);
}

/* The reference offset of a line equal to p[0..n), or -1. */
static long index_find(const struct pack_index *ix, const char *p, size_t n)
{
	size_t k = line_hash(p, n) & ix->mask;
	for (; ix->slot[k]; k = (k + 1) & ix->mask) {
		size_t at = ix->slot[k] - 1;
		if (at + n <= ix->len && !memcmp(ix->ref + at, p, n) &&
		    (at + n == ix->len || ix->ref[at + n - 1] == '\n'))
			return (long)at;
	}
	return -1;
}

static void put_varint(struct buf *b, uint64_t v)
{
	char t[10];
	int n = 0;
	do {
		t[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	buf_append(b, t, (size_t)n);
}

static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

static void put_literal(struct buf *b, const char *p, size_t n)
{
	if (!n)
		return;
	put_varint(b, (uint64_t)n << 1);
	buf_append(b, p, n);
}

/* The length of the run of msg from at equal to the reference from ref_at, cut back to the
 * end of its last whole line. */
static size_t run_length(const struct pack_index *ix, const char *msg, size_t len, size_t at,
			 size_t ref_at)
{
	size_t n = 0;
	while (at + n < len && ref_at + n < ix->len && msg[at + n] == ix->ref[ref_at + n])
		n++;
	if (at + n < len)	/* stopped inside a line: keep the whole lines only */
		while (n > 0 && msg[at + n - 1] != '\n')
			n--;
	return n;
}

char *pack_encode(const struct pack_index *ix, const char *msg, size_t len, size_t *out_len)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	buf_append(&b, PACK_MAGIC, PACK_MAGIC_LEN);
	size_t lit = 0;		/* where the pending literal begins */
	for (size_t at = 0, n; at < len; at += n) {
		n = line_length(msg + at, len - at);
		long ref_at = n >= PACK_MIN_LINE ? index_find(ix, msg + at, n) : -1;
		if (ref_at < 0)
			continue;
		size_t run = run_length(ix, msg, len, at, (size_t)ref_at);
		if (run < PACK_MIN_RUN)
			continue;
		put_literal(&b, msg + lit, at - lit);
		put_varint(&b, (uint64_t)run << 1 | 1);
		put_varint(&b, (uint64_t)ref_at);
		lit = at + run;
		n = run;
	}
	put_literal(&b, msg + lit, len - lit);
	*out_len = b.len;
	return buf_steal(&b);
}

int pack_is_packed(const char *data, size_t len)
{
	return len >= PACK_MAGIC_LEN && !memcmp(data, PACK_MAGIC, PACK_MAGIC_LEN);
}

char *pack_decode(const char *data, size_t len, const char *ref, size_t ref_len, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)data + PACK_MAGIC_LEN;
	const unsigned char *end = (const unsigned char *)data + len;
	struct buf b;
	buf_init(&b, SIZE_MAX);
	while (p < end) {
		uint64_t op, off = 0;
		if (get_varint(&p, end, &op) < 0)
			goto bad;
		uint64_t n = op >> 1;
		if (op & 1) {
			if (get_varint(&p, end, &off) < 0 || !ref || off > ref_len ||
			    n > ref_len - off)
				goto bad;
			buf_append(&b, ref + off, (size_t)n);
		} else {
			if (n > (uint64_t)(end - p))
				goto bad;
			buf_append(&b, (const char *)p, (size_t)n);
			p += n;
		}
	}
	*out_len = b.len;
	return buf_steal(&b);
bad:
	buf_free(&b);
	return NULL;
}
