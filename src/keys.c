/*
 * keys.c — signed reply addresses: LOCAL+KEY@domain, where KEY names a purpose and its objects
 * and ends with an HMAC-SHA256 (GnuTLS) under the board's secret key, compared in constant time.
 * KEY is lower case (addresses are case-insensitive): "<purpose>-<id>[-<id>...]-<mac>", the MAC
 * being the first 10 bytes of the HMAC in base32 (16 characters), e.g. m-1234-4kq3v8x2ab7d9mzq.
 * In: a purpose and numbers (or a key to check). Out: keys, or the numbers a valid key names.
 */
#include "bidmail.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_LEN KEYS_SECRET_LEN
#define MAC_BYTES 10
#define MAC_CHARS 16

/* The key in use: HTTP threads check keys while the daemon's main thread swaps a reloaded
 * one in, so it is read and written under the lock. */
static unsigned char secret[SECRET_LEN];
static int have_secret;
static pthread_rwlock_t secret_lock = PTHREAD_RWLOCK_INITIALIZER;

void keys_secret_use(const unsigned char key[KEYS_SECRET_LEN])
{
	pthread_rwlock_wrlock(&secret_lock);
	memcpy(secret, key, SECRET_LEN);
	have_secret = 1;
	pthread_rwlock_unlock(&secret_lock);
}

int keys_init(const char *path, int create)
{
	unsigned char key[SECRET_LEN];
	if (keys_secret_read(path, create, key) < 0)
		return -1;
	keys_secret_use(key);
	return 0;
}

int keys_secret_read(const char *path, int create, unsigned char secret_out[KEYS_SECRET_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		unsigned char fresh[SECRET_LEN];
		if (hash_random(fresh, sizeof fresh) < 0)
			return -1;
		char *tmp = xasprintf("%s.tmp", path);
		int rc = spool_write_file(path, tmp, fresh, sizeof fresh, 0600, SPOOL_FSYNC | SPOOL_EXCL);
		free(tmp);
		if (rc < 0) {
			fprintf(stderr, "%s: cannot write the secret key: %s\n", path, strerror(errno));
			return -1;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		fprintf(stderr, "%s: cannot read the secret key: %s (run `bidmail init`)\n", path,
			strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		fprintf(stderr, "%s: the secret key must not be readable by others (chmod 600)\n",
			path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, secret_out, SECRET_LEN);
	close(fd);
	if (n != (ssize_t)SECRET_LEN) {
		fprintf(stderr, "%s: the secret key must be %d bytes\n", path, SECRET_LEN);
		return -1;
	}
	return 0;
}

/* base32, lower case, RFC 4648 alphabet; -1 when there is no key */
static int mac_of(const char *msg, char out[MAC_CHARS + 1])
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char d[32];
	pthread_rwlock_rdlock(&secret_lock);
	int have = have_secret;
	if (have)
		gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, sizeof secret, msg, strlen(msg), d);
	pthread_rwlock_unlock(&secret_lock);
	if (!have)
		return -1;
	int bits = 0, k = 0;
	unsigned v = 0;
	for (int i = 0; i < MAC_BYTES; i++) {
		v = (v << 8) | d[i];
		bits += 8;
		while (bits >= 5 && k < MAC_CHARS) {
			out[k++] = alpha[(v >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[k] = '\0';
	return 0;
}

char *keys_make(const char *purpose, const int64_t *ids, int n)
{
	struct buf b;
	buf_init(&b, 256);
	buf_puts(&b, purpose);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "-%lld", (long long)ids[i]);
	char mac[MAC_CHARS + 1];
	if (mac_of(b.data, mac) < 0)
		memset(mac, 'x', MAC_CHARS), mac[MAC_CHARS] = '\0';
	buf_printf(&b, "-%s", mac);
	return buf_steal(&b);
}

char *keys_address(const struct config *c, const char *local, const char *key)
{
	return xasprintf("%s+%s@%s", local, key, c->domain);
}

int keys_check(const char *key, const char *purpose, int64_t *ids, int max_ids)
{
	if (!key)
		return -1;
	size_t kl = strlen(key);
	if (kl > 64 || kl < MAC_CHARS + 3)
		return -1;
	char lower[80];
	for (size_t i = 0; i <= kl; i++)
		lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
	size_t pl = strlen(purpose);
	if (strncmp(lower, purpose, pl) || lower[pl] != '-')
		return -1;
	const char *dash = strrchr(lower, '-');
	if (!dash || strlen(dash + 1) != MAC_CHARS)
		return -1;
	char body[80];
	memcpy(body, lower, (size_t)(dash - lower));
	body[dash - lower] = '\0';
	char want[MAC_CHARS + 1];
	if (mac_of(body, want) < 0)
		return -1;
	unsigned diff = 0;
	for (int i = 0; i < MAC_CHARS; i++)
		diff |= (unsigned)(want[i] ^ dash[1 + i]);
	if (diff)
		return -1;
	int n = 0;
	const char *p = body + pl;
	while (*p == '-' && n < max_ids) {
		char *end;
		long long v = strtoll(p + 1, &end, 10);
		if (end == p + 1 || (*end != '-' && *end != '\0'))
			return -1;
		ids[n++] = v;
		p = end;
	}
	return *p ? -1 : n;
}

const char *keys_of_address(const char *addr, const char *local, char *key, size_t keylen)
{
	if (!addr)
		return NULL;
	size_t ll = strlen(local);
	if (strncasecmp(addr, local, ll) || addr[ll] != '+')
		return NULL;
	const char *at = strrchr(addr, '@');
	if (!at || at <= addr + ll + 1 || (size_t)(at - addr - ll - 1) >= keylen)
		return NULL;
	memcpy(key, addr + ll + 1, (size_t)(at - addr - ll - 1));
	key[at - addr - ll - 1] = '\0';
	return key;
}

static int is_local_byte(unsigned char ch)
{
	return isalnum(ch) || strchr("._%+-=", ch);
}

static int is_domain_byte(unsigned char ch)
{
	return isalnum(ch) || ch == '.' || ch == '-';
}

/* 1 when s (n bytes) starts with a MAC: MAC_CHARS base32 characters that end the key. */
static int mac_at(const char *s, size_t n)
{
	if (n < MAC_CHARS)
		return 0;
	for (size_t k = 0; k < MAC_CHARS; k++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)s[k]);
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= '2' && ch <= '7'))
			return 0;
	}
	return n == MAC_CHARS || (!isalnum((unsigned char)s[MAC_CHARS]) && s[MAC_CHARS] != '-');
}

/* The length of a key shape starting at s ("p-12[-34...]-<16 base32>"), or 0. The MAC may
 * start with a digit (2-7), so a segment is an id only when it is not the MAC that ends. */
static size_t key_shape(const char *s, size_t n)
{
	if (n < MAC_CHARS + 4 || !isalpha((unsigned char)s[0]) || s[1] != '-' ||
	    !isdigit((unsigned char)s[2]))
		return 0;
	size_t i = 1;
	for (int groups = 0; i < n && s[i] == '-'; groups++) {
		if (groups > 0 && mac_at(s + i + 1, n - i - 1))
			return i + 1 + MAC_CHARS;
		size_t j = i + 1, d = 0;
		while (j < n && isdigit((unsigned char)s[j]) && d < 19)
			j++, d++;
		if (d == 0 || groups == 4)
			return 0;
		i = j;
	}
	return 0;
}

/* 1 when d (n bytes) is the domain of one of the board's addresses. */
static int is_board_domain(const struct config *c, const char *d, size_t n)
{
	const char *const own[] = { c->domain, c->post_address, c->robot_address, c->bid_address,
				    c->bounce_address };
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
		const char *at = own[i] ? strrchr(own[i], '@') : NULL;
		const char *dom = at ? at + 1 : own[i];
		if (dom && strlen(dom) == n && !strncasecmp(dom, d, n))
			return 1;
	}
	return 0;
}

/* One pass of keys_mask: tagged addresses (addresses set) or bare keys. */
static char *mask_pass(const struct config *c, const char *text, const char *placeholder,
		       int addresses)
{
	size_t n = strlen(text);
	struct buf b;
	buf_init(&b, n * 8 + 64);	/* a placeholder may be longer than what it replaces */
	size_t i = 0, copied = 0;
	while (i < n) {
		unsigned char ch = (unsigned char)text[i];
		size_t from = i, to = 0;
		if (addresses && ch == '@') {
			/* an address at the board's domain with a +tag or a key as its local part */
			size_t a = i;
			while (a > copied && i - a < 128 && is_local_byte((unsigned char)text[a - 1]))
				a--;
			size_t e = i + 1;
			while (e < n && e - i < 256 && is_domain_byte((unsigned char)text[e]))
				e++;
			size_t de = e;
			while (de > i + 1 && text[de - 1] == '.')
				de--;
			int tagged = memchr(text + a, '+', i - a) != NULL ||
				     key_shape(text + a, i - a) == i - a;
			if (a < i && tagged && is_board_domain(c, text + i + 1, de - i - 1)) {
				from = a;
				to = de;
			}
		} else if (!addresses && isalpha(ch) && (i == 0 || !isalnum((unsigned char)text[i - 1]))) {
			size_t k = key_shape(text + i, n - i < 80 ? n - i : 80);
			if (k)
				to = i + k;
		}
		if (to) {
			buf_append(&b, text + copied, from - copied);
			buf_puts(&b, placeholder);
			i = copied = to;
		} else {
			i++;
		}
	}
	buf_append(&b, text + copied, n - copied);
	return buf_steal(&b);
}

char *keys_mask(const struct config *c, const char *text, const char *placeholder)
{
	/* addresses first: a key inside one is masked with its whole address */
	char *a = mask_pass(c, text, placeholder, 1);
	char *k = mask_pass(c, a, placeholder, 0);
	free(a);
	return k;
}
