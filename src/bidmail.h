/*
 * bidmail.h — the project's one header: shared structs and every stage's public functions,
 * grouped under the name of the file that defines them, in pipeline order.
 * Mail flows: deliver (spool.c) -> run (ingest.c) -> mime.c -> classify.c -> extract.c
 * -> store.c -> render.c/compose.c -> send.c (file transport, later SMTP).
 */
#ifndef BIDMAIL_H
#define BIDMAIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define BIDMAIL_VERSION "0.1.0"

/* Exit codes of `bidmail deliver` (sysexits.h): the only two it ever returns. */
#define EXIT_DELIVER_OK 0
#define EXIT_TEMPFAIL 75

/* Result of handling one message. */
enum outcome { OUT_OK = 0, OUT_TEMPFAIL, OUT_PERMFAIL };

/* ---------------------------------------------------------------- buf.c */
/* A growable byte buffer with a hard maximum; appends past the maximum fail. */
struct buf {
	char *data;	/* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;
};
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/* A growable list of owned strings. */
struct strlist {
	char **v;
	size_t n;
	size_t cap;
};
void strlist_add(struct strlist *l, const char *s);
void strlist_add_owned(struct strlist *l, char *s);
int strlist_contains(const struct strlist *l, const char *s);
void strlist_clear(struct strlist *l);

/* String helpers that never read out of bounds. */
int str_starts_with_nocase(const char *s, const char *prefix);
char *str_trim(char *s);
void str_lower_ascii(char *s);

/* ---------------------------------------------------------------- log.c */
void log_open(const char *ident, int use_syslog);
/* Drops the lines less urgent than priority (syslog numbering: 3 keeps errors only). */
void log_set_max_priority(int priority);
/* The message this thread handles (its ingest key; NULL when done): every line that does
 * not name a message gets msg=<its first 16 characters>. */
void log_set_message(const char *key);

/* A long operation's progress on a terminal (stderr, redrawn in place at most five times a
 * second until done == total; nothing when stderr is not a terminal, asked once per thread),
 * then its summary line. */
void progress(const char *what, size_t done, size_t total);
void progress_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_warn(...) log_msg(4, __VA_ARGS__)
#define log_err(...) log_msg(3, __VA_ARGS__)

/* ---------------------------------------------------------------- clock.c */
/* Seconds since the epoch: BIDMAIL_NOW when set (ISO 8601), else the system clock. */
time_t clock_now(void);
/* Sets the process's time zone (TZ) to zone ("" keeps the environment's); once, before any
 * thread starts: nothing writes the environment after that. */
void clock_set_zone(const char *zone);
/* The broken-down local time of t in the zone clock_set_zone set (thread-safe). */
void clock_local(time_t t, struct tm *tm);
/* Parses an ISO 8601 date-time ("2026-03-02T08:00:00Z", "+01:00", or no zone = UTC); -1 if bad. */
time_t clock_parse_iso(const char *s);
/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void clock_format_iso(time_t t, char out[32]);
/* Writes t as an RFC 5322 date in UTC into out (at least 40 bytes). */
void clock_format_rfc5322(time_t t, char out[48]);
/* CPU time used by the calling thread, in nanoseconds (the measure of matching budgets; about
 * a microsecond a call here, so read it per text, not per pattern). */
int64_t clock_cpu_ns(void);
/* A monotonic clock in nanoseconds, cheap to read (tens of nanoseconds). */
int64_t clock_mono_ns(void);
/* The same in milliseconds (deadlines of reads, writes and passes). */
int64_t clock_mono_ms(void);

/* ---------------------------------------------------------------- date.c */
/* Days are day numbers: days since 1970-01-01 of the board's calendar (the zone clock_set_zone
 * set), -1 for none. Deadlines and deliveries are stored as their YYYY-MM-DD form. */
#define DATE_NONE (-1000000)	/* date_days_left of no date */
/* The day number of year-month-day, -1 when no such day (31 April). */
long date_day_make(int year, int month, int day);
/* The year, month (1-12) and day of the month of day number day. */
void date_day_split(long day, int *year, int *month, int *mday);
/* The day number of instant t in the board's time zone. */
long date_day_of(time_t t);
/* The last day of a month, as a day number (-1 when out of range). */
long date_month_last(int year, int month);
/* day as YYYY-MM-DD into out; "" when day < 0. */
void date_day_format(long day, char out[11]);
/* The day number of a YYYY-MM-DD string, -1 when it is none (NULL, "", malformed). */
long date_day_parse(const char *s);
/* Days from the day of now to date (YYYY-MM-DD): 0 on the day, negative once passed;
 * DATE_NONE when date is none. */
int date_days_left(const char *date, time_t now);
/* The time a mail's dates are read relative to: its Date header when sane (not more than a
 * day after its receipt, nor a month before), else its receipt. */
time_t date_mail_time(time_t date, time_t received);
/* date (YYYY-MM-DD) as a reader of lang writes it ("15 avril 2026"); caller frees; NULL when
 * date is none. */
char *date_text(const char *lang, const char *date);
/* date_text with the days left from now ("15 avril 2026 (dans 19 jours)", today, passed);
 * caller frees; NULL when date is none. */
char *date_text_left(const char *lang, const char *date, time_t now);
struct project;
/* The day project p is wanted by into out: its deadline, or for a row that only counted days,
 * its creation day plus them. 1, or 0 with out "" when it has none. */
int date_project_deadline(const struct project *p, char out[11]);
/* The days left until date as the --json listings count them: 0 on the day and once passed,
 * -1 when date is none. */
int date_days_left_json(const char *date, time_t now);

/* ---------------------------------------------------------------- config.c */
#define LANGUAGE_DEFAULT "fr"	/* the default `language`, listed first when one is refused */
struct config {
	char *file;		/* the config file read, or NULL when only defaults apply */
	char *dir;		/* folder that relative paths are resolved against */
	char *domain;
	char *post_address;
	char *robot_address;
	char *bid_address;
	char *database;
	char *spool;
	char *smarthost;
	char *language;
	char *timezone;
	size_t max_message_size;
	size_t max_header_size;
	int max_mime_depth;
	int max_mime_parts;
	long max_message_time;		/* seconds one message may take to prepare or act on */
	char *templates;		/* the shipped template folder */
	char *data_dir;			/* skills, scam-rules, locations, intents, dates .txt */
	char *template_override;	/* operator's override folder, may be empty */
	char *board_name;
	int batch_size;
	int poll_interval;		/* seconds between spool scans when idle */
	int use_syslog;
	char *bounce_address;		/* VERP base: bounce+KEY@DOMAIN */
	char *secret_key_file;
	char *public_url;		/* https URL of the board, for one-click unsubscribe */
	char *smtp_tls;			/* required, opportunistic or no */
	char *smtp_ca_file;		/* PEM CAs of the smarthost's certificate, "" the system's */
	char *smtp_user;
	char *smtp_password;
	int smtp_connections;
	int smtp_timeout;		/* seconds */
	long max_queue_age;		/* seconds a mail may stay queued before it fails */
	long retry_base;		/* seconds before the first retry; doubles each time */
	int bounce_threshold;		/* bounce score at which an address is disabled */
	int bid_cap;			/* bids per project before it leaves the selections */
	char *min_hourly_rate;		/* "20 EUR", excl. tax */
	char *min_daily_rate;		/* "160 EUR", excl. tax */
	char *currency;			/* the board's: amounts written without one */
	char *exchange_rates;		/* "2026-01-01 USD:0.92 ...": 1 CUR in EUR */
	int commission_percent;
	char *commission_payer;		/* "client", "freelancer" or "shared" */
	char *payment_terms;		/* how and when the commission is paid, free text */
	int match_budget_pass_ms;	/* PCRE2 time of one subscriber's patterns per digest pass */
	int match_budget_mail_ms;	/* CPU of the matching work (probes, test) of a command mail */
	int match_probe_us;		/* a new pattern's mean cost per sample text, at most */
	char *milestones;		/* "20,40,40" */
	long project_ttl;
	char *reminder_days;		/* "3,10" */
	long rating_delay;
	char *authserv_id;		/* empty: trust no Authentication-Results */
	char *moderators;		/* addresses */
	char *http_listen;		/* HOST:PORT of the unsubscribe endpoint, "" for none */
	int http_rate_limit;		/* requests a second */
	int sender_rate_limit;		/* mails one address may send per window */
	long sender_rate_window;	/* seconds */
	char *export_dir;		/* the marketplace page, kept current by the daemon; "" none */
	char *host_id;			/* this host's name in the database ([A-Za-z0-9.-], <= 64) */
	char *lmtp_listen;		/* HOST:PORT or /unix/socket of the LMTP listener, "" none */
	int lmtp_timeout;		/* seconds for one command line, or for a message's data */
	char *fetch_url;		/* imaps://USER@HOST[:PORT][/MAILBOX], pop3s://..., "" for none */
	char *fetch_password;
	char *fetch_tls;		/* required or no (imap:// and pop3:// only: STARTTLS) */
	char *fetch_ca_file;		/* PEM CAs trusted instead of the system's, "" for those */
	char *fetch_after;		/* seen or delete */
	long fetch_interval;		/* seconds between polls (and longest IDLE) */
	int fetch_timeout;		/* seconds of network silence before giving up */
	long fetch_deadline;		/* seconds one exchange with the server may take in all */
};
/* Loads defaults, then FILE (or the default locations when NULL); 0 on success, -1 with
 * "file:line: reason" printed to stderr. */
int config_load(struct config *c, const char *file);
void config_clear(struct config *c);
/* A listener's numeric HOST:PORT ([v6]:PORT too) as a passive stream address (the caller
 * frees it with freeaddrinfo); 0, or -1 when it is not one. */
struct addrinfo;
int config_listen_address(const char *listen, struct addrinfo **ai);
/* Prints every key and its value as the program will use it. */
void config_dump(const struct config *c, FILE *out);

/* ---------------------------------------------------------------- hash.c */
/* Writes the lower-case hex SHA-256 of data into out (65 bytes). */
void hash_sha256_hex(const void *data, size_t len, char out[65]);
/* Incremental SHA-256 for streams; opaque state. */
struct hash_ctx;
struct hash_ctx *hash_sha256_begin(void);
void hash_sha256_update(struct hash_ctx *h, const void *data, size_t len);
void hash_sha256_end(struct hash_ctx *h, char out[65]);
/* Fills out with n random bytes; 0 or -1. */
int hash_random(void *out, size_t n);
/* Writes n random bytes as lower-case hex into out (2n+1 bytes). */
void hash_random_hex(char *out, size_t n);

/* ---------------------------------------------------------------- keys.c */
#define KEYS_SECRET_LEN 32
/* Loads the secret key (creating it, mode 0600, when create is set) and uses it; 0 or -1
 * with a reason on stderr (the key in use kept). */
int keys_init(const char *path, int create);
/* Reads the secret key into out (creating the file when create is set); 0 or -1 with a
 * reason on stderr. */
int keys_secret_read(const char *path, int create, unsigned char out[KEYS_SECRET_LEN]);
/* Makes key the one keys are signed and checked with (copied; safe while other threads
 * check keys). */
void keys_secret_use(const unsigned char key[KEYS_SECRET_LEN]);
/* "purpose-id-id-mac": a signed key naming a purpose and its objects (caller frees). */
char *keys_make(const char *purpose, const int64_t *ids, int n);
/* "local+key@domain" (caller frees). */
char *keys_address(const struct config *c, const char *local, const char *key);
/* Checks a key against purpose; fills ids and returns their count, or -1 when forged,
 * altered or malformed. Constant-time MAC comparison. */
int keys_check(const char *key, const char *purpose, int64_t *ids, int max_ids);
/* The KEY of "local+KEY@domain" copied into key, or NULL when addr is not of that form. */
const char *keys_of_address(const char *addr, const char *local, char *key, size_t keylen);
/* A copy of text with every key and every tagged address of the board's own domain
 * (local+KEY@domain, KEY@domain) replaced by placeholder, for text relayed to someone else. */
char *keys_mask(const struct config *c, const char *text, const char *placeholder);

/* ---------------------------------------------------------------- spool.c */
/* Envelope kept beside each spooled message as its first line. */
struct envelope {
	char *sender;
	char *recipient;
	char *received;
	char *origin;		/* fetched mail: its mailbox identity (fetch.c), else NULL */
};
/* A message read from the spool: envelope, raw bytes (envelope line removed), ingest key. */
struct spooled {
	char *name;		/* file name inside incoming/new */
	char *path;
	struct envelope env;
	char *data;
	size_t len;
	size_t full_len;	/* on-disk size of the message, even when not read whole */
	char sha256[65];
	char key[65];		/* ingest key: SHA-256 of recipient and bytes */
	char replay_key[65];	/* second key: the same message through another host */
};
int spool_init(const struct config *c);
/* Reads a message from fd and stores it in incoming/ (Maildir protocol). Returns OUT_OK when
 * the message is on disk (fsynced), OUT_TEMPFAIL on any transient failure. */
enum outcome spool_deliver(const struct config *c, int fd, const char *sender,
			   const char *recipient, const char *origin);
/* Lists the names in incoming/new, oldest first, at most max. */
int spool_list_new(const struct config *c, struct strlist *names, size_t max);
/* Reads incoming/new/NAME; NULL on I/O error (errno kept), with errno ENOMSG when the entry
 * is not a regular file (directory, FIFO, socket, device, symlink: never followed). */
struct spooled *spool_read(const struct config *c, const char *name);
struct spooled *spooled_free(struct spooled *s);
/* Moves a processed message to incoming/cur (no fsync: the commit came first, and a replay
 * of a committed message is a no-op; call spool_sync_dir once per batch); 0 or -1. */
int spool_done(const struct config *c, const char *name);
/* Moves a message to failed/ with NAME.reason beside it; 0 or -1. */
int spool_quarantine(const struct config *c, const char *name, const char *reason);
/* Moves incoming/new/NAME, which is not a regular file, to failed/ beside a reason file;
 * *why (owned) says what it was. 0 or -1. */
int spool_set_aside(const struct config *c, const char *name, char **why);
/* Creates path and its missing parents (mkdir -p) with mode; 0, or -1 when path is not there. */
int spool_mkdirs(const char *path, unsigned mode);
enum { SPOOL_FSYNC = 1, SPOOL_FSYNC_DIR = 2, SPOOL_EXCL = 4 };
/* The atomic file writer: data into tmp (mode), then renamed over path; SPOOL_FSYNC fsyncs the
 * file before the rename, SPOOL_FSYNC_DIR path's folder after it, SPOOL_EXCL refuses an
 * existing tmp. 0, or -1 with errno set (tmp removed). */
int spool_write_file(const char *path, const char *tmp, const void *data, size_t len,
		     unsigned mode, int flags);
/* Writes data atomically into dir/name (tmp, fsync, rename, fsync dir); 0 or -1. */
int spool_write_atomic(const char *dir, const char *name, const void *data, size_t len);
/* The same without the folder fsync. */
int spool_write_atomic_nosync_dir(const char *dir, const char *name, const void *data, size_t len);
/* Batches: spool_stage writes a file that has no name yet (O_TMPFILE, else dir/.tmp.NAME),
 * without fsync; spool_publish then makes every staged file durable with one syncfs, gives
 * each its name and fsyncs the folder. At most 1024 staged at once. 0 or -1. */
int spool_stage(const char *dir, const char *name, const void *data, size_t len);
int spool_publish(const char *dir, int sync);
/* Messages in the spool folder SUB (reason files and dot files left out), and the mtime of
 * the oldest in *oldest (0 when empty); -1 when the folder cannot be read. */
int spool_count(const struct config *c, const char *sub, time_t *oldest);
/* fsyncs the spool folder SUB (e.g. "incoming/cur"); 0 or -1. */
int spool_sync_dir(const struct config *c, const char *sub);
/* Computes the ingest key of bytes delivered to recipient. */
void spool_ingest_key(const struct envelope *env, const void *data, size_t len, char out[65]);
/* Computes the replay key of a message delivered to recipient: the SHA-256 of the recipient,
 * its Message-ID and its bytes without the trace headers each relay adds (Received,
 * Return-Path, Delivered-To, DKIM-Signature...: spool.c lists them), CR LF read as LF; without
 * a Message-ID, of the recipient and those bytes alone (their Date and From among them);
 * "" (no replay key) with neither a Message-ID nor a Date: the same text sent twice on purpose
 * could not be told from one message through two hosts. */
void spool_replay_key(const char *recipient, const char *data, size_t len, char out[65]);
/* The names of incoming/cur modified at or after since (0: all), sorted, at most max; 0 or -1. */
int spool_list_cur(const struct config *c, time_t since, struct strlist *names, size_t max);
/* spool_read for a file of incoming/cur (as spool_list_cur names it). */
struct spooled *spool_read_cur(const struct config *c, const char *name);
/* Moves incoming/cur/NAME:2,S back to incoming/new/NAME in one rename (never over a file
 * already there), for the next run to ingest; 0, or -1 with errno. */
int spool_reoffer(const struct config *c, const char *name);

/* ---------------------------------------------------------------- charset.c */
/* Converts len bytes from the charset named label to UTF-8 with the WHATWG label rules
 * (iso-8859-1 and us-ascii read as windows-1252; unknown labels: UTF-8 when valid, else
 * windows-1252). Returns a NUL-terminated string the caller frees; sets *repaired when a
 * fallback or a replacement was needed. Never NULL. */
char *charset_to_utf8(const char *label, const char *data, size_t len, int *repaired);
/* 1 if data is valid UTF-8 (no overlongs, no surrogates). */
int charset_is_utf8(const char *data, size_t len);
/* Removes C0 controls but TAB/LF (LF only with keep_newlines), C1 controls and the
 * bidirectional controls, in place; returns the new length. */
size_t charset_strip_controls(char *s, int keep_newlines);
/* The length in bytes of the bidirectional control at s (U+061C, U+200E/F, U+202A..U+202E,
 * U+2066..U+2069), 0 when s does not start with one. */
size_t charset_bidi_control(const char *s);

/* ---------------------------------------------------------------- html.c */
/* Turns an HTML document into plain text (libxml2's HTML parser): entities decoded, block
 * elements as line breaks, <style>/<script> dropped. Returns a string the caller frees. */
char *html_to_text(const char *html, size_t len);

/* ---------------------------------------------------------------- mime.c */
struct attachment {
	char *name;
	char *type;
	size_t size;
	char *data;	/* decoded bytes: only from mime_parse_attachments */
};
struct auth_results {
	char *authserv_id;
	char *spf;
	char *dkim;
	char *dmarc;
	char *dkim_domain;
	char *dmarc_domain;
};
struct header {
	char *name;
	char *value;	/* unfolded, raw bytes */
};
struct message {
	char *message_id;
	int message_id_made_up;
	char *from;
	char *from_name;
	struct strlist to;
	struct strlist cc;
	struct strlist delivered_to;
	char *reply_to;
	char *subject;
	time_t date;		/* -1 when missing or impossible */
	time_t received;	/* when the board took it; 0: now (the dates in it are read from it) */
	char *in_reply_to;
	struct strlist references;
	char *text;		/* body as UTF-8 */
	int text_from_html;
	struct attachment *attachments;
	size_t n_attachments;
	struct auth_results auth;
	struct header *headers;	/* top-level header fields, in order */
	size_t n_headers;
	int is_report;		/* multipart/report with message/delivery-status */
	char *bounce_recipient;
	char *bounce_status;
	char *bounce_action;	/* failed, delayed, ... */
	struct strlist errors;
	struct envelope env;	/* copied from the spool, may be empty */
	const char *raw;	/* the bytes parsed (borrowed: valid while the caller keeps them) */
	size_t raw_len;
	char *new_text;		/* text without quotes and signature (extract_message) */
	struct post_info *post;	/* filled for posts (extract_message) */
	struct bid_info *bid;	/* filled for bids (extract_message) */
};
enum mime_limit_result { MIME_LIMITS_OK = 0, MIME_LIMITS_EXCEEDED };
/* Checks size, header section, nesting and part count before any parse; on failure writes
 * a reason into why and returns MIME_LIMITS_EXCEEDED. */
enum mime_limit_result mime_check_limits(const struct config *c, const char *data, size_t len,
					 char *why, size_t why_len);
/* The MIME nesting depth of libetpan's own parse of a message (multipart and message/rfc822
 * levels below the top), -1 when it cannot parse: what mime_check_limits must count. Only
 * for shallow messages (it recurses as libetpan does): the pre-scan's tests use it. */
int mime_structure_depth(const char *data, size_t len);
/* Parses a message into a new struct message (never NULL: what cannot be read is named in
 * errors). The caller frees it with message_free. */
struct message *mime_parse(const char *data, size_t len);
/* The same, also keeping each attachment's decoded bytes (at most 10 MB in all), for relaying. */
struct message *mime_parse_attachments(const char *data, size_t len);
struct message *message_free(struct message *m);
/* Returns the first top-level header value named name (case-insensitive), or NULL. */
const char *message_header(const struct message *m, const char *name);
/* Decodes an RFC 2047 header value to clean UTF-8 (caller frees). */
char *mime_decode_header(const char *raw);

/* ---------------------------------------------------------------- classify.c */
enum kind { KIND_UNKNOWN = 0, KIND_POST, KIND_BID, KIND_COMMAND, KIND_BOUNCE,
	    KIND_AUTO_REPLY, KIND_LOOP };
const char *kind_name(enum kind k);
/* Decides what a message is from its envelope recipient (else To/Delivered-To), headers and
 * sender. recipient may be NULL. */
enum kind classify_message(const struct config *c, const struct message *m,
			   const char *recipient);
/* 1 if the address is one of the gateway's own addresses at the configured domain. */
int classify_is_own_address(const struct config *c, const char *addr);

/* ---------------------------------------------------------------- route.c */
/* What the signed key of a mail is: none found, one that verifies, or a bad one (forged,
 * altered, or for another address). */
enum route_key { ROUTE_KEY_NONE = 0, ROUTE_KEY_VALID, ROUTE_KEY_BAD };
/* What a mail is for: its kind, the board address it came to, and its key. */
struct route {
	enum kind kind;
	const char *address;	/* the board address of kind (borrowed from the config), or NULL */
	enum route_key key;
	char purpose;		/* with ROUTE_KEY_VALID: the key's letter (k b q r t p u c v d s m) */
	int64_t ids[3];		/* with ROUTE_KEY_VALID: the ids the key names */
	int n_ids;
	char key_text[80];	/* the key as found (valid, or the first bad one) */
};
/* Fills r for mail m of kind k: the board address, and the first key among the envelope
 * recipient, Delivered-To, To, Cc and References that verifies (see route.c for the order). */
void route_message(const struct config *c, const struct message *m, const char *recipient,
		   enum kind k, struct route *r);
struct spooled;
struct store;
/* One mail being handled: what every handler of ingest.c's route table gets. */
struct handling {
	const struct config *c;
	struct store *s;
	struct message *m;
	const struct spooled *sp;
	const struct route *r;
	char *result;		/* set by the handler: what was done, for the ingest log (owned) */
	char *reason;		/* with OUT_PERMFAIL: why the mail is quarantined (owned) */
};
/* A handler of the route table: acts on h->m, sets h->result (and h->reason). */
typedef enum outcome (*route_handler)(struct handling *h);

/* ---------------------------------------------------------------- extract.c */
/* An amount or a range: min < 0 when a single figure (then it is the max). */
struct money {
	double min, max;
	char currency[4];	/* ISO 4217, "" when not stated */
	char tax[4];		/* "HT", "TTC" or "" */
	char unit[24];		/* "total", "hour", "day", "month", "word"..., the noun of a
				 * rate per item as written ("fiche", "product"), or "" */
};
struct post_info {
	char *title;
	char *description;
	int has_budget;
	struct money budget;
	int deadline_days;	/* days from the mail's day to deadline; -1: unknown */
	char deadline[11];	/* the day it is wanted by, YYYY-MM-DD; "": unknown */
	struct strlist skills;
	const char *language;
	char *location;
	struct strlist flags;	/* suspected_scam, urgent, no_budget */
	int scam_score;
	struct strlist scam_rules;	/* the phrases that scored, for the moderator */
	char *why;		/* how the budget was read (rate, currency), "" when none */
	int installments;	/* "payable en trois fois": 3; 0 when no count is stated */
};
struct bid_info {
	int has_amount;
	struct money amount;	/* the offer; with refused (and no has_amount), the price named */
	int refused;		/* the only price named is refused ("pas pour 900 €"): no offer */
	int delivery_days;	/* days from the bid's day to delivery; -1: unknown */
	char delivery[11];	/* the day of delivery, YYYY-MM-DD; "": unknown or not read yet */
	int milestones[8];
	int n_milestones;
	int followup_days;	/* "relance 7j": -1 when absent */
	char *why;
	int installments;	/* "in 3 instalments": 3; 0 when no count is stated */
};
/* Loads the data files (skills.txt, scam-rules.txt, locations.txt, intents.txt, amounts.txt,
 * dates.txt, auto-replies.txt when there) from the configured
 * data_dir and uses them; 0, or -1 with file:line: reason on stderr (the old ones kept). */
int extract_load(const struct config *c);
struct extract_data;
/* The three data files of c->data_dir read whole; the caller owns it; NULL with file:line:
 * reason on stderr when one is missing or bad. */
struct extract_data *extract_data_load(const struct config *c);
/* Makes d the data extraction reads (NULL: none) and returns the previous one (the caller's
 * to free); only while no other thread extracts (the daemon swaps between passes). */
struct extract_data *extract_data_use(struct extract_data *d);
/* Frees d (NULL accepted); returns NULL. */
struct extract_data *extract_data_free(struct extract_data *d);
/* Fills m->new_text and, for posts and bids, m->post / m->bid. */
void extract_message(const struct config *c, struct message *m, enum kind k);
/* What a bid text offers (amount, delivery, milestones, why); caller frees with bid_info_free.
 * Its delivery day is read relative to the day of `from` (-1: only the delay is read). */
struct bid_info *extract_bid_text(const char *text);
struct bid_info *extract_bid_text_at(const char *text, time_t from);
/* The day a text names for a deadline or a delivery (extract_date.c, the words of dates.txt),
 * relative to the day of from: a day number (date.c), or -1 when it names none that is sure. */
long extract_date(const char *text, time_t from);
/* The time m's dates are read relative to (date_mail_time of its Date and its receipt). */
time_t extract_mail_time(const struct message *m);
/* Sets b->delivery (and b->delivery_days when only a day was given) from text, written at
 * from; b->delivery stays "" when text names no delivery. */
void extract_bid_delivery(struct bid_info *b, const char *text, time_t from);
struct post_info *post_info_free(struct post_info *p);
struct bid_info *bid_info_free(struct bid_info *b);
/* The board's currency (config `currency`, EUR before any load), for amounts written
 * without one. */
const char *extract_board_currency(void);
/* 1 when text (a body) says it is a machine's: a challenge-response anti-spam or another
 * robot's phrase of auto-replies.txt. */
int extract_is_machine_text(const char *text);
/* 1 when the local part of from is a robot's of auto-replies.txt (noreply, ...). */
int extract_is_machine_sender(const char *from);
/* The help sections (names of help-topics.txt) the phrases of text are about, added to out
 * once each, in the order the text names them. */
void extract_help_topics(const char *text, struct strlist *out);
/* Guesses "fr" or "en" from the words of a text; NULL when it cannot tell. */
const char *extract_language(const char *text);
/* The language mail m is written in: its new text's, else its subject's when the subject is
 * the sender's own (no Re:, Fwd: …: a reply's subject is the board's words); NULL when
 * neither tells. */
const char *extract_language_of(const struct message *m);
/* Returns the subject without Re:/Fwd:/TR:/Fw:/AW:/RE : prefixes (caller frees). */
char *extract_title(const char *subject);
/* 1 when the subject says the mail is a forward (Fwd:, TR:, FW:, WG:, ...). */
int extract_subject_is_forward(const char *subject);

/* The scam rules a title and text set off (scam-rules.txt), each with its weight, the phrase
 * found and the rule's description in lang (else English; NULL when the rule has none). */
#define SCAM_HITS_MAX 64
struct scam_verdict {
	int score, threshold;
	int n;
	struct { int weight; char *phrase, *description; } hit[SCAM_HITS_MAX];
};
/* Scores title and text against the scam rules into v (cleared with scam_verdict_clear);
 * returns the score. */
int extract_scam_verdict(const char *title, const char *text, const char *lang,
			 struct scam_verdict *v);
void scam_verdict_clear(struct scam_verdict *v);
/* Adds to out the skills of the vocabulary (skills.txt) text names, canonical, none twice. */
void extract_skills_in(const char *text, struct strlist *out);
/* Adds to out the skills an explicit line of text lists ("Compétences : php, symfony");
 * returns how many it added. */
int extract_skills_listed(const char *text, struct strlist *out);
/* The field a line of a poster's correction names by its first words (corrections.txt:
 * "title", "description", "skills", "location", "add", "remove"), or NULL; *len is set to
 * the length of those words and of a ':' after them. Borrowed. */
const char *extract_correction_label(const char *line, size_t *len);

/* Calls line_fn(arg, line, path, lineno) for each line of data file path that is neither blank
 * nor a `#` comment, trimmed (lines read max - 1 bytes at a time); 0, or -1 when the file cannot
 * be read (said on stderr) or a call returned -1 (each says its own file:line). */
int extract_data_lines(const char *path, size_t max, int (*line_fn)(void *arg, char *line,
		       const char *path, int lineno), void *arg);

/* ---------------------------------------------------------------- extract_date.c */
struct date_data;
/* The words of dates.txt at path (caller frees); NULL with file:line: reason on stderr. */
struct date_data *extract_date_load(const char *path);
struct date_data *extract_date_free(struct date_data *d);
/* The day lower-cased text l names (money_lower) relative to day number today, by the words
 * of d: a cued day ("pour le 15 avril", "livraison semaine 16", "by Friday", "ready next
 * week"), else a part of a month ("fin avril"), else a phrase counted from today ("sous
 * quinzaine", "fin du mois"), else a delay ("within 10 days").
 * A day number, or -1 when none (a past day, a phrase it cannot place). */
long extract_date_lower(const struct date_data *d, const char *l, long today);
/* extract_date_lower, saying in why (why_len bytes, "" when the day came from a delay or none)
 * which words placed the day and how ("`semaine 16`: the Friday of ISO week 16 of 2026").
 * A follow-up request's day ("relance-moi vendredi") is never read as the day. */
long extract_date_explain(const struct date_data *d, const char *l, long today, char *why,
			  size_t why_len);
/* The day a follow-up request of l names ("ping me Friday", "relance-moi lundi", "chase them
 * next week": in a week), relative to today; -1 when none. */
long extract_followup_day(const struct date_data *d, const char *l, long today);

/* ---------------------------------------------------------------- extract_money.c */
/* A lower-case copy of text with the same byte offsets (ASCII and Latin-1 capitals). */
char *money_lower(const char *text);
/* The length of a currency the money reader knows at p (lower-cased text: "€", "chf", "gbp",
 * "ca$"), 0 when none; *code set to its ISO code; want_before: only those written before. */
size_t match_currency(const char *p, const char **code, int want_before);
/* The budget of a post; 1 when found. */
int extract_budget(const char *text, struct money *out, char *why, size_t why_len);
/* The amount a freelancer offers: 1 when found; -1 when the only price named is refused in its
 * clause ("je ne peux pas le faire pour 900 €": that price in *out, no offer); 0 when none;
 * why says which rule decided, in every case. */
int extract_bid_amount(const char *text, struct money *out, char *why, size_t why_len);
/* A delay in days ("3 semaines", "10 jours ouvrés", "within 10 days"), -1 when none; with
 * followup_days, "relance 7j" is read there instead. */
int extract_duration_days(const char *text, int *followup_days);
/* The same three on text already lower-cased by money_lower (no copy). */
int extract_budget_lower(const char *l, struct money *out, char *why, size_t why_len);
int extract_duration_days_lower(const char *l, int *followup_days);
/* extract_duration_days_lower, with *effort set to 1 when the delay is the work's effort
 * ("mission de 20 jours", "20 days of work": amounts.txt effort, work), 0 otherwise. */
int extract_duration_read_lower(const char *l, int *followup_days, int *effort);
/* The length of a follow-up request (amounts.txt followup: "relance-moi", "ping me") at p,
 * lower-cased text at a word start; 0 when none. */
size_t money_followup_at(const char *p);
/* 1 when a limit word of amounts.txt ("moins de", "below", "less than") starts a word of
 * lower-cased l in [from, to): a refusal to go past an amount, which offers it. */
int money_limit_in(const char *l, size_t from, size_t to);
/* The negation word that refuses what stands at offset at of lower-cased l (an amount, a day:
 * the negation rule of bids, amounts.txt negation, limit, not-negation, clause), or NULL. */
const char *money_refused_at(const char *l, size_t at);
/* The start and the end of the clause of lower-cased l that holds offset at (the clauses of
 * the negation rule: . ! ? ; : a comma before a blank, a line break, amounts.txt clause words),
 * looking at most 160 bytes away. */
size_t money_clause_start(const char *l, size_t at);
size_t money_clause_end(const char *l, size_t at);
/* The house styles of amounts: the mails' ("1 500 € HT") and the static site's ("1500 EUR HT"). */
enum money_style { MONEY_MAIL, MONEY_SITE };
/* An amount for a reader of lang in style st, the one money formatter (caller frees). */
char *money_format_style(const struct money *m, const char *lang, enum money_style st);
/* "1 500 € HT", "$2,000 – $3,000 excl. VAT", "35 € de l'heure": money_format_style in the
 * mails' style (caller frees). */
char *money_format(const struct money *m, const char *lang);
struct project;
/* Project p's budget in style st (caller frees); NULL when the post stated none. */
char *money_format_budget(const struct project *p, const char *lang, enum money_style st);
struct money_vocab;
/* contrib/amounts.txt (the markers, units, number words and plan words around amounts) read
 * whole; the caller owns it; NULL with file:line: reason on stderr. */
struct money_vocab *money_vocab_load(const char *path);
/* Frees mv (NULL accepted); returns NULL. */
struct money_vocab *money_vocab_free(struct money_vocab *mv);
/* The amounts vocabulary of the data in use (extract.c), NULL before any load. */
const struct money_vocab *extract_data_money(void);
/* A payment plan in percentages summing to 100 ("20 %, 40 %, solde"); returns the count. */
int extract_milestones(const char *text, int *out, int max);
/* A payment plan written in amounts ("acompte de 500 € puis 1 000 € à la livraison") or as a
 * count of instalments ("payable en trois fois") in lower-cased l, around the amount m read
 * from it: m becomes the plan's total when it was one of its instalments (N × m for "en 3
 * versements de 400 €"); the shares in whole percentages summing to 100 into out (at most
 * max); why (why_len bytes, appended to) says it. Returns the count of shares, 0 when none. */
int extract_plan_lower(const char *l, struct money *m, int *out, int max, char *why,
		       size_t why_len);
/* The count of instalments lower-cased l states ("payable en trois fois", "in 3 instalments",
 * "en 4 versements de 300 €"), 2 to 12; 0 when none. */
int extract_installments_lower(const char *l);

/* ---------------------------------------------------------------- extract_reply.c */
/* The new text of a reply: quotes (attributions, Outlook blocks, '>' runs) and the signature
 * removed, inline answers kept. With is_forward, header blocks are content, not quotes.
 * Returns an owned string. Linear in the size of the text. */
char *extract_reply(const char *text, int is_forward);
/* The same, knowing the sender's display name: a closing block that starts with it is the
 * signature too. sender_name may be NULL. */
char *extract_reply_from(const char *text, int is_forward, const char *sender_name);
/* The same, knowing the text the board sent that this reply answers (sent may be NULL): the
 * first run of the reply's lines that repeats it (quoted or not, rewrapped, with or without an
 * attribution or header block above it) is cut with what follows. */
char *extract_reply_known(const char *text, int is_forward, const char *sender_name,
			  const char *sent);
/* m->new_text again with the board's text m answers (m->bid re-read from it). */
struct message;
void extract_reply_against(struct message *m, const char *sent);
/* The phrases of data file path (contrib/reply-phrases.txt: `kind | phrase | ...`); NULL when
 * it cannot be read or a line is wrong (said on stderr). */
struct reply_data;
struct reply_data *extract_reply_data_load(const char *path);
struct reply_data *extract_reply_data_free(struct reply_data *d);
/* The reply phrases in use (extract_load); NULL before. */
const struct reply_data *extract_data_reply(void);

/* ---------------------------------------------------------------- extract_intent.c */
/* What a reply means (the phrases in data_dir/intents.txt). */
enum intent { INTENT_NONE, INTENT_ACCEPT, INTENT_DECLINE, INTENT_CLOSE, INTENT_YES, INTENT_NO,
	      INTENT_QUESTION };
struct intent_data;
/* The intent of text (a reply's new text) in lang (NULL: any language's phrases); *sure is 0
 * when an act is hedged, conditional, negated or contradicted (the sender is to be asked). */
enum intent extract_intent_read(const char *text, const char *lang, int *sure);
/* A yes or no to a confirmation: 1 confirmed, -1 objected, 0 neither or both. */
int extract_intent_consent(const char *text);
/* 1 when a freelancer's reply to a project says no rather than bidding ("je passe mon tour",
 * "I can't do it for less than 900 €"): a pass phrase or a negated ability verb (intents.txt),
 * and no part of it offering a price without saying no; else 0. */
int extract_intent_no_bid(const char *text, const char *lang);
/* 1 when a freelancer's reply withdraws their bid: a withdraw-command alone on its first line
 * ("retirer", "withdraw #1001") or a withdraw phrase ("je retire mon offre", "please cancel my
 * bid") neither negated nor asked (intents.txt); *project the number it names ("#1001"), or 0. */
int extract_intent_withdraw(const char *text, const char *lang, long long *project);
/* Where name (name_len bytes: a freelancer's full or first name) is written in text as whole
 * words, case- and accent-insensitively ("anna" finds "d'Anna", "Helene" finds "Hélène"), with
 * *len its length in text; NULL when it is not. */
const char *extract_intent_find_name(const char *text, const char *name, size_t name_len,
				     size_t *len);
/* The intent's name as logged ("accept", "none", ...), static. */
/* 1 when word is a connector of intents.txt ("et", "and", "ou", "or"): no word of a list. */
int extract_intent_connector(const char *word);
const char *extract_intent_name(enum intent i);
/* Reads an intents file; the caller owns the result; NULL with file:line: reason on stderr. */
struct intent_data *extract_intent_load(const char *path);
/* Frees d (NULL accepted); returns NULL. */
struct intent_data *extract_intent_free(struct intent_data *d);
/* ---------------------------------------------------------------- extract_rating.c */
/* A client's rating as people write it ("5/5 : impeccable", "4 étoiles", "★★★★☆", "note : 4",
 * "4 out of 5", "4 stars – great"): the score 1-5, or 0 when the text holds none; *comment gets
 * the words around it without the score (caller frees; NULL with no score). */
int extract_rating(const char *text, char **comment);
struct rating_data;
/* Reads a ratings file; the caller owns the result; NULL with file:line: reason on stderr. */
struct rating_data *extract_rating_load(const char *path);
/* Frees d (NULL accepted); returns NULL. */
struct rating_data *extract_rating_free(struct rating_data *d);
/* The ratings file in use (extract.c), or NULL before any data is loaded. */
const struct rating_data *extract_data_ratings(void);
/* The intents file in use (extract.c), or NULL before any data is loaded. */
const struct intent_data *extract_data_intents(void);

/* ---------------------------------------------------------------- store.c */
/* The states of the rows. The database keeps them as the text after each value; store.c alone
 * converts (store_*_state_name), and each entity's store_*_state_set refuses, logged, a move
 * its transition table (store_*_state_legal) does not list. _UNKNOWN: a text no value names;
 * _ANY: no state, in a filter or as `from`. */
enum project_state {
	PROJECT_PENDING_CONFIRMATION,	/* "pending_confirmation": the poster has not confirmed */
	PROJECT_HELD,			/* "held": waits for a moderator (suspected scam) */
	PROJECT_OPEN,			/* "open" */
	PROJECT_AWARDED,		/* "awarded" */
	PROJECT_CLOSED,			/* "closed": by the client, without an award */
	PROJECT_EXPIRED,		/* "expired": no award before project_ttl_days */
	PROJECT_REJECTED,		/* "rejected": by a moderator */
	PROJECT_STATE_UNKNOWN,
	PROJECT_STATE_ANY
};
enum bid_state {
	BID_ACTIVE,		/* "active": the current bid of its freelancer on the project */
	BID_HELD,		/* "held": waits for the freelancer's confirmation */
	BID_REPLACED,		/* "replaced": by a newer bid of the same freelancer */
	BID_CANCELLED,		/* "cancelled": the freelancer said no to the confirmation, or
				 * withdrew the bid (`retirer`, "je retire mon offre") */
	BID_CLOSED,		/* "closed": the project was closed or awarded to another */
	BID_ACCEPTED,		/* "accepted": the award */
	BID_DECLINED,		/* "declined": by the client */
	BID_STATE_UNKNOWN,
	BID_STATE_ANY
};
enum sub_state {
	SUB_PENDING,		/* "pending": double opt-in not answered */
	SUB_ACTIVE,		/* "active" */
	SUB_PAUSED,		/* "paused": by a command or after inactivity */
	SUB_UNSUBSCRIBED,	/* "unsubscribed" */
	SUB_DISABLED,		/* "disabled": the address bounced (listings only, never stored) */
	SUB_STATE_UNKNOWN,
	SUB_STATE_ANY
};
enum outbox_state {
	OUTBOX_QUEUED,		/* "queued" */
	OUTBOX_SENT,		/* "sent" */
	OUTBOX_FAILED,		/* "failed": permanently */
	OUTBOX_STATE_UNKNOWN,
	OUTBOX_STATE_ANY
};
/* The text of a state, as the database, the listings and the JSON output say it (static). */
const char *store_project_state_name(enum project_state st);
const char *store_bid_state_name(enum bid_state st);
const char *store_sub_state_name(enum sub_state st);
const char *store_outbox_state_name(enum outbox_state st);
/* 1 when the transition tables allow a move from `from` (_ANY: whatever the row holds) to
 * `to`, 0 when not; pure. */
int store_project_state_legal(enum project_state from, enum project_state to);
int store_bid_state_legal(enum bid_state from, enum bid_state to);
int store_sub_state_legal(enum sub_state from, enum sub_state to);
int store_outbox_state_legal(enum outbox_state from, enum outbox_state to);
struct project {
	int64_t id;
	char *title;
	char *description;
	char *poster;
	char *poster_name;
	char *language;
	enum project_state status;
	char *created;
	char *message_id;
	int has_budget;
	struct money budget;		/* budget.min < 0: no minimum */
	int deadline_days;		/* days from its post to deadline; -1: unknown */
	char deadline[11];		/* the day it is wanted by, YYYY-MM-DD; "": unknown */
	char *skills_json;		/* JSON array text */
	char *location;
	char *flags_json;		/* JSON array text */
	int bids;
	char *updated;
	char *published;		/* when it first became open; NULL: never */
};
struct subscriber {
	int64_t id;
	char *address;
	char *name;
	enum sub_state status;	/* SUB_DISABLED only in store_subscriber_list */
	char *language;
	char *frequency;	/* weekly, daily, instant */
	int day;		/* weekday of the weekly digest, 0 = Sunday */
	int remote_only;
	double budget_min;	/* < 0: none */
	char *budget_currency;
	char *languages;	/* project languages wanted: "fr,en", "" for all */
	char *created, *confirmed, *last_digest;
	char *last_activity;	/* the subscriber's last command mail or reply */
	char *next_due;		/* weekly/daily: when the next selection may be due ("" now) */
	struct strlist skills;
	struct strlist excludes;
};
struct confirmation {
	int64_t id;
	char *address;
	int64_t subscriber;
	char *action;		/* subscribe, commands */
	char *payload;
	char *expires;
	char *used;
};
struct bid_row {
	int64_t id;
	int64_t project;
	int64_t subscriber;
	struct bid_info info;	/* amount, delivery, milestones, why (owned) */
	char *message;
	enum bid_state status;
	char *created;
};
struct outbox_row {
	int64_t id;
	char *to;
	char *sender;
	char *subject;
	char *kind;
	enum outbox_state state;
	int attempts;
	char *last_error;
	char *created;
	char *token;
	char *data;
	size_t len;
	char *next_attempt;
};
struct store;
/* A function that records a time takes it as its last argument `now` (the caller's clock,
 * clock_now(), or the time of the event it records): the store never reads a clock. */
/* The `database` value (store.c: a SQLite PATH, sqlite:PATH, sqlite:///PATH; other backends
 * are refused): a new string with a relative file made absolute against dir, in the same form,
 * or NULL and *why (static text) when this build cannot open it. */
char *store_database_resolve(const char *value, const char *dir, const char **why);
/* The local file a database value keeps its data in (a new string), NULL when it has none. */
char *store_database_file(const char *database);
/* Creates what a new database needs before store_open(..., 1): the folder of its file. 0 or
 * -1 (errno set). */
int store_prepare(const char *database);
/* Opens (creating if asked) the database a `database` value names and applies pending
 * migrations; NULL on error (logged). */
struct store *store_open(const char *database, int create);
/* The daemon's stop flag (SIGTERM): once set, a lost PostgreSQL connection is not waited
 * for any more (db_set_stop_flag). Set once, before the store is used by several threads. */
void store_set_stop_flag(volatile int *flag);
struct store *store_close(struct store *s);
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);
int store_savepoint(struct store *s);
int store_savepoint_release(struct store *s);
int store_savepoint_rollback(struct store *s);
/* What the last error of a store was, as its caller acts on it: none; transient (busy, locked,
 * disk full, I/O: try again later); conflict (the change contradicts a row already there, e.g.
 * a duplicate); fatal (anything else: the request or the database is wrong). */
enum store_error { STORE_ERR_NONE, STORE_ERR_TRANSIENT, STORE_ERR_CONFLICT, STORE_ERR_FATAL };
enum store_error store_error_kind(const struct store *s);
/* 1 when the last error was transient (store_error_kind says STORE_ERR_TRANSIENT). */
int store_error_is_transient(const struct store *s);
const char *store_errmsg(const struct store *s);
int store_schema_version(struct store *s);
/* 1 if an ingest key was already committed, 0 if not, -1 on error. */
int store_ingest_seen(struct store *s, const char *key);
/* 1 if a message with this replay key (spool_replay_key) was already committed, 0 if not, -1. */
int store_ingest_replay_seen(struct store *s, const char *replay_key);
/* One row of the ingest log; the strings are borrowed (replay_key, host may be NULL). */
struct ingest_row {
	const char *key, *replay_key, *spool_name, *sha256, *message_id, *kind, *result, *host;
};
/* Records a committed message unless its key or its replay key is already there (the unique
 * constraints are the promise, across hosts too): 0 recorded, 1 already known (nothing
 * written), -1 on error. */
int store_ingest_record_once(struct store *s, const struct ingest_row *r, time_t now);
int store_ingest_record(struct store *s, const char *key, const char *spool_name,
			const char *sha256, const char *message_id, const char *kind,
			const char *result, time_t now);
/* Posters who confirmed an address once. */
int store_poster_confirmed(struct store *s, const char *address);
int store_poster_confirm(struct store *s, const char *address, time_t now);
/* Moves a project from state `from` to `to` if it is still `from` (a row read earlier may be
 * stale), its first opening being its publication: 1 moved, 0 not (it changed meanwhile), -1
 * on error or for a move the transition table refuses (logged with the reason). */
int store_project_state_set(struct store *s, int64_t id, enum project_state from,
			    enum project_state to, time_t now);
/* One project by number; 1 found (into p, caller clears), 0 not, -1 error. */
int store_project_get(struct store *s, int64_t id, struct project *p);
/* A corrected title (the poster's "titre : …"); 0 or -1. */
int store_project_retitle(struct store *s, int64_t id, const char *title, time_t now);
/* A corrected post: new description, budget (NULL: none), deadline (its days from the mail and
 * its day, YYYY-MM-DD, NULL or "": none), skills, location, flags. */
int store_project_update(struct store *s, int64_t id, const char *description,
			 const struct money *budget, int deadline_days, const char *deadline,
			 const char *skills_json,
			 const char *location, const char *flags_json, time_t now);
/* Notices sent once: 1 claimed now, 0 claimed before, -1 error. */
int store_notice_claim(struct store *s, const char *kind, int64_t ref, time_t now);
/* Whether the client answered any quote of a project (1, 0, -1); marking it. */
int store_project_answered(struct store *s, int64_t id);
int store_project_mark_answered(struct store *s, int64_t id, time_t now);
/* One rating per award: 1 recorded, 0 already rated, -1 error. */
int store_rating_insert(struct store *s, int64_t bid, int64_t subscriber, int score,
			const char *comment, time_t now);
/* A freelancer's record: average score, number of ratings, projects awarded. */
int store_freelancer_record(struct store *s, int64_t subscriber, double *avg, int *ratings,
			    int *completed);
/* Inserts a project; sets p->id. 0 or -1. */
int store_project_insert(struct store *s, struct project *p);
/* Lists projects (newest last) into a new array; returns the count or -1. */
int store_project_list(struct store *s, struct project **out);
/* The matched text (title, description, skills) of the n newest open projects, added to out;
 * 0 or -1. */
int store_project_sample(struct store *s, int n, struct strlist *out);
/* The projects of one status (PROJECT_STATE_ANY: any) published at or after since (ISO, NULL:
 * any; its creation time for a project that never opened, and without a status the creation
 * time), oldest first, into a new array; without with_text their descriptions are left NULL.
 * Count or -1. */
int store_project_select(struct store *s, enum project_state status, const char *since,
			 int with_text, struct project **out);
/* One page of store_project_select: at most limit projects with an id above after (0: from
 * the first), by id, into a new array; the count or -1 (fewer than limit: the last page). */
int store_project_page(struct store *s, enum project_state status, const char *since,
		       int with_text, int64_t after, int limit, struct project **out);
/* The open projects published since open_since and the awarded ones published since
 * awarded_since (ISO; NULL: any), by id, into a new array; the count or -1. */
int store_project_open_awarded(struct store *s, const char *open_since, const char *awarded_since,
			       int with_text, struct project **out);
/* One page of the projects due for a follow-up look by now (ISO): their follow-up time at most
 * now ('' for as soon as possible), with an id above after, by id, without
 * descriptions, at most limit, into a new array; the count or -1. */
int store_project_followup_due(struct store *s, const char *now, int64_t after, int limit,
			       struct project **out);
/* When followup.c must look at project id again (ISO; NULL: never, until a change of its
 * status, award, bids or their dates asks for a look). 0 or -1. */
int store_project_followup_set(struct store *s, int64_t id, const char *next);
/* The settings follow-up times are computed from (a fingerprint): when they are not those of
 * the last pass, every open and awarded project is due for a look again. 1 rescheduled, 0 the
 * same, -1 error. */
int store_followup_config(struct store *s, const char *fingerprint);
/* A poster's unconfirmed posts (pending_confirmation), oldest first, without descriptions,
 * into a new array; the count or -1. */
int store_project_pending_of(struct store *s, const char *poster, struct project **out);
/* Deletes a poster's unconfirmed posts; the number deleted, or -1. */
int store_project_delete_pending(struct store *s, const char *poster);
/* Up to max ids of unconfirmed posts to ask about: per address, its oldest one never asked
 * about, when no post request to it is unanswered (a post deferred behind another kind of
 * request or a refusal). The count, or -1. */
int store_project_unasked(struct store *s, int64_t *ids, int max);
/* Deletes the unconfirmed posts created before posts_before and the held bids created before
 * bids_before (ISO times); the number of rows purged, or -1. */
int store_purge_expired(struct store *s, const char *posts_before, const char *bids_before);
void project_clear(struct project *p);
/* Queues a rendered message; sets *id. 0 or -1. share, when not NULL or empty, names the
 * mails that share most of their text (an instant alert's project and language): that text
 * is stored once and this mail packed against it; every read gives the mail back byte for
 * byte. */
int store_outbox_insert(struct store *s, const char *kind, const char *to,
			const char *sender, const char *subject, const char *token,
			const char *data, size_t len, const char *share, int64_t *id, time_t now);
/* Lists outbox rows; with a state other than OUTBOX_STATE_ANY only those in it; with_data loads
 * bodies. */
int store_outbox_list(struct store *s, enum outbox_state state, int with_data,
		      struct outbox_row **out);
/* One page of store_outbox_list: at most limit rows with an id above after, by id, into a new
 * array; the count or -1. */
int store_outbox_page(struct store *s, enum outbox_state state, int with_data, int64_t after,
		      int limit, struct outbox_row **out);
/* Claims, in one transaction, at most limit queued rows due at `due` (next attempt passed or
 * unset; NULL: any) whose lease is free or expired at `now`, for owner until `until` (ISO
 * UTC); loads them, oldest first, into a new array (caller clears). The count or -1. */
int store_outbox_claim(struct store *s, const char *owner, const char *due, const char *now,
		       const char *until, int limit, struct outbox_row **out);
/* Frees the leases owner holds on queued rows. 0 or -1. */
int store_outbox_release(struct store *s, const char *owner);
/* The owners (new strings, at most max) of leases still running at now; count or -1. */
int store_outbox_lease_owners(struct store *s, const char *now, char **owners, int max);
/* H16a (issue 16). 1 when the database is a server several hosts may share (PostgreSQL). */
int store_is_shared(const struct store *s);
/* 1 when the last error asks for the whole transaction to run again (PostgreSQL 40001, a
 * serialization failure, or 40P01, a deadlock), 0 otherwise. */
int store_error_is_retry(const struct store *s);
/* Locks project id for the rest of the transaction (PostgreSQL: SELECT … FOR UPDATE; SQLite's
 * single writer needs none), the parent of a check-then-act: 1, 0 when there is no such
 * project, -1 on error. */
int store_project_lock(struct store *s, int64_t id);
/* Re-queues the rows whose lease expired at now (the database's clock on PostgreSQL): their
 * owner died. The count or -1. */
int store_outbox_reap(struct store *s, const char *now);
/* Claims shard `shard` of the weekly run `period` for owner until `until` when its lease is
 * free or expired at now (PostgreSQL: the database's clock, SKIP LOCKED): 1 claimed, 0 held by
 * another sender, -1 error. Renew: 1 still ours (lease moved on), 0 lost. Release: the lease
 * freed, `done` recorded; 1, 0 (not ours) or -1. */
int store_shard_claim(struct store *s, const char *period, int shard, const char *owner,
		      const char *now, const char *until);
int store_shard_renew(struct store *s, const char *period, int shard, const char *owner,
		      const char *now, const char *until);
int store_shard_release(struct store *s, const char *period, int shard, const char *owner,
			const char *done);
/* The owner of a held shard into out: 1, 0 when it is free, -1 on error. */
int store_shard_owner(struct store *s, const char *period, int shard, char *out, size_t len);
/* store_subscriber_due_page limited to the subscribers whose id % shards is shard. */
int store_subscriber_due_shard(struct store *s, const char *now, const char *after_due,
			       int64_t after, int shards, int shard, int limit,
			       struct subscriber **out);
/* Marks a row sent once (a replayed mark changes nothing), whoever holds its lease. */
int store_outbox_mark_sent(struct store *s, int64_t id, time_t now);
/* Re-queues a row leased by owner for a later attempt, recording the error. */
int store_outbox_retry(struct store *s, int64_t id, const char *owner, const char *next_attempt,
		       const char *error);
/* Durability of the commits that follow on this store: STORE_DURABLE (each on disk before it
 * returns: the default, for ingest) or STORE_FAST (written to the OS at once, a power cut may
 * lose the last ones but never tears one: the sender's marks). 0 or -1. */
enum store_durability { STORE_DURABLE, STORE_FAST };
int store_durability(struct store *s, enum store_durability d);
/* Bids: the active bids of a project other than this subscriber's; insert (an active one
 * replaces this subscriber's previous active bid on the project, *replaced says whether there
 * was one; a held one replaces nothing); get; status. */
int store_bid_count(struct store *s, int64_t project, int64_t except_subscriber);
int store_bid_insert(struct store *s, int64_t project, int64_t subscriber, const char *address,
		     const struct bid_info *bi, const char *text, enum bid_state status,
		     const char *message_id, int64_t *id, int *replaced, time_t now);
int store_bid_get(struct store *s, int64_t id, struct bid_row *b);
/* Moves a bid from state `from` to `to` if it is still `from`: 1 moved, 0 not (it changed
 * meanwhile), -1 on error or for a move the transition table refuses (logged), and for held ->
 * active, which store_bid_activate makes (it replaces the active bid too). A refusal sets
 * store_error_kind to STORE_ERR_CONFLICT. */
int store_bid_state_set(struct store *s, int64_t id, enum bid_state from, enum bid_state to);
int store_bid_list(struct store *s, int64_t project, struct bid_row **out);
/* The id of this subscriber's active bid on a project in *id: 1, 0 when none, -1 on error. */
int store_bid_current(struct store *s, int64_t project, int64_t subscriber, int64_t *id);
/* Records a text the board relayed in a quote's conversation (bid); 0 or -1. */
int store_relayed_add(struct store *s, int64_t bid, const char *body, time_t now);
/* Appends to out the texts relayed for bid, newest first, at most max of them and max_bytes in
 * all; returns how many out holds, or -1. */
int store_relayed_list(struct store *s, int64_t bid, int max, size_t max_bytes,
		       struct strlist *out);
/* A project's bids of one status (BID_STATE_ANY: all), oldest first, into a new array
 * (allocated even for none; caller clears each row and frees it); the count or -1. */
int store_bid_select(struct store *s, int64_t project, enum bid_state status,
		     struct bid_row **out);
/* One page of store_bid_select: at most limit bids with an id above after, oldest first, into
 * a new array (allocated even for none); the count or -1. */
int store_bid_page(struct store *s, int64_t project, enum bid_state status, int64_t after,
		   int limit, struct bid_row **out);
/* A held bid confirmed: active now, the subscriber's previous active bid on the project
 * replaced (*replaced says whether there was one). 1 done, 0 not held, -1 error. */
int store_bid_activate(struct store *s, int64_t id, int *replaced);
/* Held bids created at or after since: on a project, and sent from an address. 0 or -1. */
int store_bid_held_count(struct store *s, int64_t project, const char *address, const char *since,
			 int *on_project, int *by_sender);
void bid_row_clear(struct bid_row *b);
/* Sets the state of a queued row leased by owner (OUTBOX_SENT or OUTBOX_FAILED), recording the
 * error: 1 moved, 0 not (no longer queued under that lease: logged), -1 on error or for another
 * state (logged). */
int store_outbox_mark(struct store *s, int64_t id, const char *owner, enum outbox_state state,
		      const char *error, time_t now);
void outbox_row_clear(struct outbox_row *r);
int store_count(struct store *s, const char *table);
/* A short text that changes whenever a project or a bid is added or changed (the daemon
 * re-exports the marketplace page when it does); NULL on error. */
char *store_projects_version(struct store *s);
/* Counts one mail from address at now (ISO) in fixed windows of window seconds: 0 when it
 * is within limit, 1 when over it and the sender is to be told (once per window), 2 when over
 * it and already told; -1 on error. */
int store_sender_hit(struct store *s, const char *address, time_t now, long window, int limit);
/* The fetch ledger: 1 when the message of this origin and identity (fetch.c: size and
 * Message-ID digest) is already in the spool, 0 if not, -1. A row from before identities
 * were recorded takes the first identity asked about under its origin. */
int store_fetched_seen(struct store *s, const char *origin, const char *ident);
/* Records that the message of this origin and identity is safe in the spool (committed at once
 * when no transaction is open).
 * 0 or -1. */
int store_fetched_add(struct store *s, const char *origin, const char *ident, time_t now);
/* Calls fn with every row of the ledger the database kept before fetch.c kept its own (read
 * once, at an upgrade); a negative return of fn stops. The number of rows, or -1. */
int store_fetched_each(struct store *s,
		       int (*fn)(const char *origin, const char *ident, const char *spooled, void *arg),
		       void *arg);
/* A consistent online copy of the database into PATH, taken in steps while writers go on,
 * written beside PATH, checked like store_check, then renamed; the size of the copy in the
 * backend's units (pages of SQLite), or -1. */
int store_backup(struct store *s, const char *path);
/* Checks the structure of the database: 0 when sound, -1 when damaged (logged) or on error. */
int store_check(struct store *s);
/* What `bidmail status` shows about the queues. */
struct store_status {
	int outbox_queued, outbox_failed, outbox_sent;
	char *oldest_queued;	 /* created time of the oldest queued message, or NULL */
	char *last_digest;	 /* when the latest digest was claimed, or NULL */
	int pending_posts, held_posts, pending_subscribers;
	struct strlist disabled; /* addresses disabled after bounces */
	/* filled by the caller from spool_count */
	int spool_waiting, quarantined;
	char spool_oldest[32];	 /* mtime of the oldest waiting message, "" when none */
};
int store_status(struct store *s, struct store_status *st);
void store_status_clear(struct store_status *st);
/* The recipient of outbox row id copied into to (size len); 1 found, 0 not, -1 error. */
int store_outbox_recipient(struct store *s, int64_t id, char *to, size_t len);
/* The message of the newest outbox row with token (the local part of its Message-ID), as a
 * NUL-terminated copy in *data (caller frees), its length in *len; 1 found, 0 not, -1 error.
 * Outbox rows are kept for good, so a reply to any mail the board sent finds it. */
int store_outbox_message_by_token(struct store *s, const char *token, char **data, size_t *len);
/* Records what came back for an outbox row. */
int store_outbox_bounce(struct store *s, int64_t id, const char *status);
/* Adds a bounce to an address's score (at most once per day): hard counts 1, soft 0.5.
 * Sets *disabled_now when the score has just reached the threshold. 0 or -1. */
int store_address_bounce(struct store *s, const char *address, int hard, const char *day,
			 int threshold, int *disabled_now);
/* Subscribers: by address (or by id when address is NULL); 1 found, 0 not, -1 error. */
int store_subscriber_find(struct store *s, const char *address, int64_t id, struct subscriber *sub);
int store_subscriber_insert(struct store *s, const char *address, const char *name,
			    const char *language, int64_t *id, time_t now);
/* 1 when subscriber id chose their language (`language`), 0 when not (or unknown), -1 on
 * error: until they do, the robot answers in the language they write in. */
int store_subscriber_language_chosen(struct store *s, int64_t id);
/* Sets subscriber id's language as chosen by them. 0 or -1. */
int store_subscriber_language_choose(struct store *s, int64_t id, const char *language);
/* Saves the profile a command mail edits (name, language, frequency, day, remote_only,
 * budget, languages); never status nor confirmed. An active subscriber leaving instant
 * alerts gets last_digest = the alerts' watermark (or now, if earlier): its first selection
 * starts where the alerts stopped. 0 or -1. */
int store_subscriber_profile_save(struct store *s, const struct subscriber *sub);
/* Moves a subscriber's status from `from` (SUB_STATE_ANY: any) to `to`: 1 moved, 0 when the
 * row's status was not `from` (changed meanwhile) or already `to`, -1 on error or for a move
 * the transition table refuses (logged). */
int store_subscriber_status_set(struct store *s, int64_t id, enum sub_state from,
				enum sub_state to);
/* Makes a subscriber active, confirmed at ISO time `at`, if its status is still `from`:
 * 1 done, 0 not (status changed meanwhile), -1 on error or when `from` may not become active
 * (an active one may: confirmed again). */
int store_subscriber_confirm(struct store *s, int64_t id, enum sub_state from, const char *at);
/* Sets last_digest to `at` if the subscriber is still active and not disabled by bounces:
 * 1 set, 0 not (unsubscribed or paused meanwhile: the selection must not go), -1 on error. */
int store_subscriber_digest_mark(struct store *s, int64_t id, const char *at);
/* Whether an instant alert may still go to the subscriber: active and not disabled by bounces
 * (1), or not (0); -1 on error. Reads the row (FOR SHARE on PostgreSQL), leaves last_digest. */
int store_subscriber_alertable(struct store *s, int64_t id);
/* Records that the subscriber wrote to us (a reply, a command) now. */
int store_subscriber_touch(struct store *s, int64_t id, time_t now);
/* The creation time of the latest confirmation of that action sent to address; 1, 0 none. */
int store_confirmation_latest(struct store *s, const char *address, const char *action,
			      char *created, size_t len);
/* Every subscriber (patterns loaded), by id, into a new array; the count or -1. */
int store_subscriber_list(struct store *s, struct subscriber **out);
/* One page of store_subscriber_list: at most limit subscribers with an id above after, by id,
 * into a new array; the count or -1. */
int store_subscriber_page(struct store *s, int64_t after, int limit, struct subscriber **out);
/* At most limit subscribers whose next selection is due at now (next_due <= now), after the
 * cursor (after_due, after) in (next_due, id) order, with their patterns, into a new array
 * (caller frees with subscriber_clear); the count or -1. */
int store_subscriber_due_page(struct store *s, const char *now, const char *after_due,
			      int64_t after, int limit, struct subscriber **out);
/* At most limit active instant subscribers with an id above after, by id, with their
 * patterns; the count or -1. */
int store_subscriber_instant_page(struct store *s, int64_t after, int limit,
				  struct subscriber **out);
/* The same page as store_subscriber_instant_page, its patterns read in one range read
 * (issue 15: the alert pass at a million profiles); the count or -1. */
int store_subscriber_instant_batch(struct store *s, int64_t after, int limit,
				   struct subscriber **out);
/* The oldest start of a window (last selection, else confirmation, else creation) among the
 * subscribers due at now, into out: 1, 0 when none is due (an indexed read), -1 on error. */
int store_subscriber_due_oldest(struct store *s, const char *now, char *out, size_t len);
/* Sets when subscriber id's next selection may be due (NULL: never, "" at the next pass), if
 * it still is was (what the pass read: a change meanwhile wins). 1 set, 0 not, -1 error. */
int store_subscriber_next_due_set(struct store *s, int64_t id, const char *at, const char *was);
/* The instant alerts' watermark: the publication time and the highest project id the last
 * alert pass read at that time. 1 found, 0 none yet, -1 error. */
int store_alert_mark_get(struct store *s, char *at, size_t len, int64_t *project);
int store_alert_mark_set(struct store *s, const char *at, int64_t project);
/* At most limit distinct pattern texts with an id above after, by id: their ids in ids and
 * their texts in texts (the caller's to free); the count or -1. */
int store_pattern_texts_page(struct store *s, int64_t after, int limit, int64_t *ids,
			     char **texts);
/* Appends to *ids (of *n, room for *cap, grown as needed; the caller's) the active instant
 * subscribers that hold a skills pattern of text text (any pattern when any_kind). 0 or -1. */
int store_pattern_owners_instant(struct store *s, const char *text, int any_kind,
				 int64_t **ids, int *n, int *cap);
/* The subscribers of ids[0..n) still active and instant, in that order, with their patterns,
 * read in one read transaction, in *out (the caller's); the count or -1. */
int store_subscriber_instant_ids(struct store *s, const int64_t *ids, int n,
				 struct subscriber **out);
/* 1 when an open project was published after the watermark (at, project), 0 when not (an
 * indexed read), -1 on error. */
int store_project_news(struct store *s, const char *at, int64_t project);
void subscriber_clear(struct subscriber *sub);
int store_pattern_add(struct store *s, int64_t subscriber, const char *kind, const char *source,
		      time_t now);
int store_patterns_clear(struct store *s, int64_t subscriber, const char *kind);
/* Marks a subscriber's pattern as reported for hitting a matching limit; 1 when it had not
 * been reported yet (tell the owner now), 0 when it had, -1 on error. */
int store_pattern_limit_report(struct store *s, int64_t subscriber, const char *source, time_t now);
/* Pending confirmations (double opt-in, commands from an unproven address). */
int store_confirmation_insert(struct store *s, const char *address, int64_t subscriber,
			      const char *action, const char *payload, long ttl, int64_t *id,
			      time_t now);
int store_confirmation_get(struct store *s, int64_t id, struct confirmation *cf);
/* Marks a confirmation used; 1 when it was unused, 0 when already used, -1 on error. */
int store_confirmation_use(struct store *s, int64_t id, time_t now);
/* How many unanswered confirmations (requests and refusals) went to address less than a day
 * (86,400 s) ago; -1 on error. */
int store_confirmations_recent(struct store *s, const char *address, time_t now);
void confirmation_clear(struct confirmation *cf);
/* Claims a subscriber's period (2026-W10, 2026-03-02, p1042): 1 claimed now, 0 already
 * claimed (by an earlier or a concurrent run), -1 error. */
int store_digest_claim(struct store *s, int64_t subscriber, const char *period, int projects,
		       time_t now);
/* 1 when a subscriber's period is claimed already (a run sent it, or found it empty), 0 when
 * not, -1 on error. */
int store_digest_claimed(struct store *s, int64_t subscriber, const char *period);
/* Records the n projects, in order, that the selection message_id listed to a subscriber.
 * 0 or -1. */
int store_selection_record(struct store *s, int64_t subscriber, const char *message_id,
			   const int64_t *projects, int n, time_t now);
/* The projects (at most max, in their order) of the subscriber's selection whose Message-ID is
 * one of ids (the last matching first), else of their latest selection; the count or -1. */
int store_selection_projects(struct store *s, int64_t subscriber, const char *const *ids,
			     int nids, int64_t *out, int max);
/* Forgets the selections recorded before `before` (ISO time): a reply to one of them is read
 * against the latest. The number of rows deleted, or -1. */
int store_selection_purge(struct store *s, const char *before);
/* The three purges below delete in rounds of at most 10,000 rows; outside a transaction
 * (store_begin) each round commits on its own, so that a purge of millions of rows never
 * holds the write lock for long; inside one, the caller's commit decides. */
/* Deletes the weekly run's shard claims of the days before before_day (YYYY-MM-DD): a
 * day's claims serve only that day's run. Returns the rows deleted, or -1. */
int store_shard_purge(struct store *s, const char *before_day);
/* Deletes the relayed texts created before `before` (ISO time) whose project is no longer
 * open, and the ingest keys recorded before it (*ingest_keys: how many, -1 on error). Returns
 * the relayed texts deleted, or -1. The caller picks a horizon past any redelivery. */
int store_relayed_purge(struct store *s, const char *before, int *ingest_keys);
/* Deletes the outbox rows sent before `before` (ISO time), with their message: replies to
 * them are trimmed against them, bounces matched to them, for as long as the caller keeps
 * them. Queued and failed rows stay. Returns the rows deleted, or -1. */
int store_outbox_purge(struct store *s, const char *before);
/* 1 when an address is disabled by bounces, 0 when not, -1 on error. */
int store_address_disabled(struct store *s, const char *address);

/* ---------------------------------------------------------------- render.c */
/* A variable set for a template: name -> value pairs (values are borrowed). */
struct vars {
	const char *name[32];
	const char *value[32];
	int n;
	struct {
		const char *name;
		const struct vars *items;	/* an array of n item variable sets */
		int n;
	} list[4];
	int nlists;
	const struct vars *parent;	/* set by the renderer inside {{#each}} */
};
void vars_set(struct vars *v, const char *name, const char *value);
/* Attaches a list (for {{#each name}}): items is an array of n variable sets (borrowed). */
void vars_set_list(struct vars *v, const char *name, const struct vars *items, int n);
/* A rendered mail: subject, text part and HTML part (owned). */
struct rendered {
	char *subject;
	char *text;
	char *html;
};
/* Loads and checks the catalogue and every template in the configured folders and uses them;
 * 0, or -1 with file:line on stderr (the ones in use kept). */
int render_check_all(const struct config *c);
struct render_set;
struct catalog_set;
/* Every template of the configured folders read and checked, for each language of cat (the
 * caller owns the set);
 * NULL with file:line: reason on stderr when one is missing or bad. */
struct render_set *render_set_load(const struct config *c, const struct catalog_set *cat);
/* Makes set the templates render_mail uses and returns the previous set (the caller's to
 * free); main thread only. */
struct render_set *render_set_use(struct render_set *set);
/* Frees set (NULL accepted); returns NULL. */
struct render_set *render_set_free(struct render_set *set);
/* Appends s to b with & < > " ' escaped: for HTML text and attributes, and XML (Atom). */
void render_html_escape(struct buf *b, const char *s);
/* Loads the templates now if no set is in use yet (render_mail does it otherwise), so that a
 * thread started afterwards only reads them: 1 when a set is in use, 0 when none could load
 * (then no thread may render). */
int render_ready(const struct config *c);
/* Renders template kind in language lang; 0 or -1 (reason logged). */
int render_mail(const struct config *c, const char *kind, const char *lang,
		const struct vars *v, struct rendered *out);
void rendered_clear(struct rendered *r);

/* ---------------------------------------------------------------- catalog.c */
/* The message catalogue: mail-templates/LANG/strings (format in catalog.c's header). */
struct catalog_set;
/* Every language's strings read and checked against the board's language (same names, same
 * placeholders) and typeset (the caller owns the set); NULL with file:line: reason on stderr. */
struct catalog_set *catalog_set_load(const struct config *c);
/* Makes set the catalogue in use and returns the previous one (the caller's to free); main
 * thread only (other threads only read). */
struct catalog_set *catalog_set_use(struct catalog_set *set);
/* Frees set (NULL accepted); returns NULL. */
struct catalog_set *catalog_set_free(struct catalog_set *set);
/* The number of languages in set, and the i-th one's name (borrowed; NULL past the end). */
size_t catalog_set_count(const struct catalog_set *set);
const char *catalog_set_language(const struct catalog_set *set, size_t i);
/* Notes c's folders and language (copied): a lookup made while no catalogue is in use loads
 * the catalogue from them (a sub-command that checks nothing at start). config_load calls it. */
void catalog_config_note(const struct config *c);
/* The text of name in lang (the board's language when lang has none, logged when the name is
 * missing; the name itself when no language has it): borrowed, valid until the next
 * catalog_set_use, so threads other than the main one use catalog_format. Never NULL. */
const char *catalog_text(const char *lang, const char *name);
/* catalog_text with each {{placeholder}} replaced by v's value (raw, not escaped): the
 * caller frees. */
char *catalog_format(const char *lang, const char *name, const struct vars *v);
/* 1 when the catalogue in use has language lang, else 0. */
int catalog_language_known(const char *lang);
/* 1 when language lang's catalogue defines name (an optional text, such as a help section an
 * operator listed), else 0. */
int catalog_has(const char *lang, const char *name);
/* lang when the catalogue in use has it, else fallback (borrowed; neither copied). */
const char *catalog_language_or(const char *lang, const char *fallback);
/* Adds to out the languages of the catalogue in use: first (when it is one), then the
 * others in name order (copies, out's to clear). */
void catalog_languages_known(const char *first, struct strlist *out);
/* 1 when lang is a well-formed language name (a-z first, then a-z 0-9 - _, 2-15 bytes). */
int catalog_language_name_ok(const char *lang);
/* 1 when c's templates or template_override folder has lang/strings. */
int catalog_language_exists(const struct config *c, const char *lang);
/* The languages c's folders have, first then the others sorted: "fr, en or xx" (caller
 * frees). */
char *catalog_languages_found(const struct config *c, const char *first);
/* text with lang's typography (French: U+00A0 before ':' and inside « », U+202F before
 * ; ! ?, in place of a plain space); caller frees. */
char *catalog_typeset(const char *lang, const char *text);

/* ---------------------------------------------------------------- compose.c */
/* Encodes a header value (strips CR/LF/controls, RFC 2047 when non-ASCII, folds); caller frees.
 * The one header encoder: every header value from user text goes through it. */
char *compose_header_value(const char *name, const char *value);
/* Formats "Name <addr>" with the name encoded; caller frees. */
char *compose_address(const char *name, const char *addr);
/* 1 if addr is a plain addr-spec safe for an SMTP envelope. */
int compose_address_is_safe(const char *addr);
/* Appends s (lines ending in LF) to b as quoted-printable (RFC 2045) with CRLF breaks: lines
 * of at most 76 octets, none starting with '.' or "From " (a leading '.' or 'F' is encoded),
 * soft breaks included; bidirectional controls are dropped. */
void compose_encode_qp(struct buf *b, const char *s);
struct outgoing {
	const char *from_name;
	const char *from;
	const char *to_name;
	const char *to;
	const char *reply_to;
	const char *in_reply_to;
	const char *references;
	const char *auto_submitted;	/* "auto-replied" or "auto-generated" */
	const char *unsubscribe_key;	/* mails to subscribers: the signed u-... key */
	const char *key_ref;		/* a signed key also put in References as <KEY@domain> */
	const struct attachment *attachments;	/* with data: sent as multipart/mixed parts */
	size_t n_attachments;
	const struct rendered *body;
	const char *share;	/* the mails sharing most of this one's text (store_outbox_insert) */
	int quiet;		/* no stage=queue line: the caller logs the outbox ids it queued */
	int64_t outbox_id;	/* out: the outbox row, set by send_queue */
	char token[33];		/* out: the Message-ID's local part, set by send_queue */
};
/* Builds a complete RFC 5322 message; sets token (hex id used in Message-ID); caller frees. */
char *compose_message(const struct config *c, const struct outgoing *o, char token[33],
		      size_t *len);

/* ---------------------------------------------------------------- outbox_pack.c */
/* The lines of a reference mail, by hash; ref must outlive it. NULL when it is too long. */
struct pack_index *pack_index_new(const char *ref, size_t len);
void pack_index_free(struct pack_index *ix);
/* msg packed against the index's reference (runs of its whole lines that the reference has,
 * literal bytes between them); caller frees. */
char *pack_encode(const struct pack_index *ix, const char *msg, size_t len, size_t *out_len);
/* 1 when data is a packed mail (it begins with a NUL byte and the pack's mark). */
int pack_is_packed(const char *data, size_t len);
/* The mail a packed one stands for, NUL-terminated (caller frees), or NULL when data is not
 * a well-formed pack of that reference. */
char *pack_decode(const char *data, size_t len, const char *ref, size_t ref_len, size_t *out_len);

/* ---------------------------------------------------------------- smtp.c */
enum smtp_result { SMTP_SENT, SMTP_RETRY, SMTP_FAILED };
/* Sends rows to the smarthost, smtp_connections at a time, each connection reused; calls
 * done() for every row as soon as its fate is known; starts no transaction after `seconds`
 * (rows not started get no call). 0, or -1 when libcurl cannot start. */
int smtp_deliver(const struct config *c, struct outbox_row *rows, int n, int seconds,
		 const char *(*sender_of)(const struct config *, const struct outbox_row *, char *,
					  size_t),
		 void (*done)(void *arg, struct outbox_row *row, enum smtp_result r,
			      const char *why),
		 void *arg);
/* The longest smtp_deliver can take, in seconds, when it may start transactions for
 * `seconds`: what a hostile smarthost can cost a pass. */
long smtp_time_bound(const struct config *c, int seconds);

/* ---------------------------------------------------------------- match.c */
/* Checks a subscriber's PATTERN (a PCRE2 regex, or a word list turned into a word-boundary
 * alternation) and writes the regex that will run into out; 0, or -1 with a reason in err
 * (PCRE2's message and offset for a regex that does not compile). */
int match_normalize(const char *input, char *out, size_t outlen, char *err, size_t errlen);
/* What a pattern is: a word list matching any of its terms (words, or phrases in quotes:
 * "traduction juridique", “…”, «…»), one matching all of them (opened by `tous:` or `all:`),
 * or a regex. */
enum match_form { MATCH_ANY, MATCH_ALL, MATCH_REGEX };
/* The form of source and, for a word list, its terms as written, added to terms. */
enum match_form match_terms(const char *source, struct strlist *terms);
enum match_err { MATCH_ERR_NONE, MATCH_ERR_EMPTY, MATCH_ERR_LONG, MATCH_ERR_UTF8, MATCH_ERR_COMPILE,
		 MATCH_ERR_EXPANDED };
/* Why a pattern was refused: the kind, PCRE2's error code, offset and (English) message for a
 * regex that does not compile, the length and the limit for one too long. */
struct match_error {
	enum match_err kind;
	int code;
	size_t offset, length, max;
	char message[256];
};
/* As match_normalize, the reason in e (for the caller to say in the reply's language). */
int match_check(const char *input, char *out, size_t outlen, struct match_error *e);
/* The catalogue topic of a refusal ("empty", "too_long", "utf8", "missing_parenthesis"...),
 * or NULL for a PCRE2 error without one (the caller says it generically, with the offset). */
const char *match_error_topic(const struct match_error *e);
/* What of pattern source occurs in text: a word list's terms that occur (as written in the
 * pattern), a regex's matched texts (lower case), distinct, at most 3, added to out; the
 * number in out. */
int match_found(const char *source, const char *text, struct strlist *out);
/* match_found's terms joined by ", ", or the pattern itself when none is found (caller
 * frees): what a selection or `test` says matched. */
char *match_found_joined(const char *pattern, const char *text);
struct matcher;
struct matcher *matcher_new(void);
struct matcher *matcher_free(struct matcher *m);
/* Adds a pattern (identical ones are kept once); returns its id, or -1 when invalid. */
int matcher_add(struct matcher *m, const char *source);
int matcher_count(const struct matcher *m);
const char *matcher_source(const struct matcher *m, int id);
/* Which patterns match a text: ids into matched (at most max), those that hit a PCRE2 limit
 * into limited (they count as no match); patterns whose budget groups are all exhausted are
 * skipped, and the PCRE2 time of the others is charged to their groups. Returns the number
 * matched. */
int matcher_run(struct matcher *m, const char *text, size_t len, int *matched, int max,
		int *limited, int *nlimited);
/* One pattern, run directly (the benchmark's naive baseline): 1, 0, or -1 on a limit. */
int matcher_run_naive(struct matcher *m, int id, const char *text, size_t len);
/* Bytes held by the matcher, compiled patterns included. */
size_t matcher_memory(const struct matcher *m);
/* A budget group (one subscriber's profile) that may spend budget_ns of measured PCRE2 time;
 * returns its id. */
int matcher_group_new(struct matcher *m, int64_t budget_ns);
/* Puts pattern id (from matcher_add; -1 is ignored) in a group, the group's patterns one after
 * the other. Once all the groups of a pattern are over budget, matcher_run skips it (no match). */
void matcher_group_add(struct matcher *m, int group, int id);
/* 1 when the group has spent more than its budget. */
int matcher_group_exhausted(const struct matcher *m, int group);
/* PCRE2 time (ns) charged to a group, and spent on one pattern, so far. */
int64_t matcher_group_spent(const struct matcher *m, int group);
int64_t matcher_pattern_cost(const struct matcher *m, int id);
enum probe { PROBE_OK, PROBE_LIMIT, PROBE_SLOW, PROBE_BUDGET };
/* Measures the thread CPU a new pattern needs on a built-in sample and on texts (the board's
 * newest projects, may be NULL; 8 KB of each): PROBE_LIMIT when it reaches a PCRE2 limit on
 * one of them, PROBE_SLOW when it needs more than max_avg_ns a text on average, PROBE_BUDGET
 * when it used more than budget_ns first, else PROBE_OK (word lists always). *spent_ns gets the
 * CPU it used. */
int match_probe(const char *source, const struct strlist *texts, int64_t max_avg_ns,
		int64_t budget_ns, int64_t *spent_ns);

/* ---------------------------------------------------------------- profile.c */
/* Adds a subscriber's skills and excludes to m, in budget group `group` (-1: none), their ids
 * (-1 for an invalid one) into skill_ids[skills.n] and excl_ids[excludes.n]. */
void profile_add(struct matcher *m, int group, const struct subscriber *s, int *skill_ids,
		 int *excl_ids);
/* The text a profile's patterns run on: title, description, skills (caller frees). */
char *profile_project_text(const struct project *p);
/* Whether project p is for subscriber s, given hits[id] != 0 for each pattern id that matched
 * the project's text: the skills pattern that matched (borrowed from s), or NULL when none
 * did, an exclude did, or the budget, languages or remote-only say no. */
const char *profile_matches(const struct subscriber *s, const struct project *p,
			    const unsigned char *hits, const int *skill_ids, const int *excl_ids);
/* profile_matches with the hits as a bitset (bit id of bits[id / 8]): the digest's pages keep
 * a project's hits in npat / 8 bytes. */
const char *profile_matches_bits(const struct subscriber *s, const struct project *p,
				 const unsigned char *bits, const int *skill_ids,
				 const int *excl_ids);

/* ---------------------------------------------------------------- robot.c */
/* The handlers of a command mail, by its key (route table rows): each runs what it may, queues
 * at most one reply, says what it did in h->result; OUT_TEMPFAIL on a database error. */
/* robot+u-SUB: unsubscribes at once, no confirmation. */
enum outcome robot_unsubscribe(struct handling *h);
/* robot+c-CID: a reply to a confirmation request, routed by the request's action. */
enum outcome robot_confirm(struct handling *h);
/* robot+v-PROJECT: a moderator's approve or reject of a held post. */
enum outcome robot_moderate(struct handling *h);
/* robot+d-SUB: a reply to a selection: a bid when it names a project (#N), else commands. */
enum outcome robot_selection_reply(struct handling *h);
/* robot+s-SUB: a subscriber's commands (from another From: reads only, or a confirmation). */
enum outcome robot_commands(struct handling *h);
/* A robot+KEY that does not verify: one refusal a day, nothing done. */
enum outcome robot_bad_key(struct handling *h);
/* The plain robot address: the From proves nothing (reads answered, changes confirmed). */
enum outcome robot_plain(struct handling *h);
/* The subscriber a signed unsubscribe key (u-ID) names: 1 when it exists (and, with commit,
 * is now unsubscribed; *lang, when asked, gets its language), 0 for a bad or unknown key,
 * -1 on a database error. */
int robot_unsubscribe_key(struct store *s, const char *key, int commit, char **lang);

/* ---------------------------------------------------------------- fetch.c */
/* fetch_url, parsed: imaps:// and pop3s:// are TLS from the start (tls = 1). */
struct fetch_url {
	int imap, tls, port;
	char *user, *password, *host, *mailbox;
};
int fetch_url_parse(const char *url, struct fetch_url *u);
void fetch_url_clear(struct fetch_url *u);
int fetch_url_ok(const char *url);
/* The URL as logs may show it: without its password. */
char *fetch_url_redacted(const char *url);
/* `bidmail fetch`: one pass over the mailbox. The number of messages spooled; -1 on a
 * transient failure (connection, TLS, server), -2 when only the operator can fix it
 * (no or bad fetch_url, login refused). */
int fetch_once(const struct config *c, struct store *s);
/* The daemon's fetcher: a thread with its own database connection, polling (or in IDLE)
 * until fetcher_stop. NULL when fetch_url is empty or it cannot start. */
struct fetcher;
struct fetcher *fetcher_start(const struct config *c);
void fetcher_stop(struct fetcher *f);

/* ---------------------------------------------------------------- lmtp.c */
struct lmtp_server;
/* Listens for LMTP on HOST:PORT or a unix socket path, in its own threads; NULL on error. */
struct lmtp_server *lmtp_start(const struct config *c, const char *where);
/* Stops listening, lets the sessions end (a message being stored is finished), frees. */
void lmtp_stop(struct lmtp_server *srv);

/* ---------------------------------------------------------------- export.c */
#define EXPORT_HTML 1u
#define EXPORT_ATOM 2u
#define EXPORT_JSON 4u
/* Writes the marketplace page of the open projects under dir (the formats asked: the HTML
 * site, projects.atom, projects.json). The number of open projects, or -1. */
int export_run(const struct config *c, struct store *s, const char *dir, unsigned formats,
	       time_t now);

/* ---------------------------------------------------------------- mask.c */
/* text with its bidirectional controls removed, every address-like word replaced by
 * address_mark and every phone number by phone_mark: what a third party may read of a user's
 * text, on the page, in selections and alerts, quotes and relayed messages (caller frees). */
char *mask_contacts(const char *text, const char *address_mark, const char *phone_mark);

/* ---------------------------------------------------------------- http.c */
struct http_server;
/* Starts the one-click unsubscribe endpoint on HOST:PORT in its own thread; NULL on error. */
struct http_server *http_start(const struct config *c, const char *listen);
struct http_server *http_stop(struct http_server *h);

/* ---------------------------------------------------------------- digest.c */
/* Queues every selection due at `now` (weekly, daily: the subscribers whose next_due has
 * come, in pages) and the instant alerts of the projects published since the alerts'
 * watermark; with dry_run prints them instead (nothing claimed or moved). An idle board costs
 * three indexed reads. Returns the number of mails, or -1. */
int digest_run(const struct config *c, struct store *s, time_t now, int dry_run);

/* ---------------------------------------------------------------- post.c */
/* An unconfirmed post (pending_confirmation) is purged this long after it came. */
#define POST_CONFIRM_TTL (7 * 86400L)
/* Unconfirmed posts stored per address at most; past it a post is not stored. */
#define POST_PENDING_MAX 5
/* A mail to the posting address: stored, then confirmed by reply, published or held. */
enum outcome post_handle(struct handling *h);
/* A mail to a post+KEY address that does not verify: refused once a day, never a new post. */
enum outcome post_refuse_key(struct handling *h);
/* 1 when address may be sent a refusal now (no request nor refusal went to it in the last
 * day; this one is recorded), 0 when not, -1 on error: a forged From is answered once a day. */
int post_refusal_due(struct store *s, const char *address);
/* The same, the mail recorded as action ("help": the help a stranger was sent, after which
 * one confirmation request may still go the same day). */
int post_refusal_due_as(struct store *s, const char *address, const char *action);
/* Asks about the posts that wait with no request that will lead to them (deferred behind a
 * refusal or a request of another kind), keeping one request or refusal a day per address;
 * each in its own transaction. The number asked, or -1. */
int post_ask_waiting(const struct config *c, struct store *s);
/* The poster's reply m to the confirmation cf of a post: a reply that objects (see
 * bid_read_consent) deletes the post and says so; any other publishes it (or holds it). */
enum outcome post_answer(const struct config *c, struct store *s, const struct confirmation *cf,
			 const struct message *m, char **outcome);
/* The poster's reply to an acknowledgement (post+k-PROJECT): close, or the corrected post. */
enum outcome post_reply(struct handling *h);
/* A moderator's decision on a held project: the poster told; the moderator at address
 * moderator (NULL: none, the command line) gets a confirmation of what was done. 1 done, 2 not
 * held, 0 no such project, -1 error. */
int post_moderate(const struct config *c, struct store *s, int64_t project_id, int approve,
		  const char *why, const char *moderator);
/* Catalogue text name in lang about project p: {{id}}, {{title}}, {{poster}} and
 * {{post_address}} filled, and any placeholder extra sets (NULL: none). The caller frees. */
char *post_text(const struct config *c, const struct project *p, const char *lang,
		const char *name, const struct vars *extra);
/* Why project p is held, in lang: one line per scam rule that fired (its description, the
 * phrase found, its weight) and the score against the threshold; the caller frees. */
char *post_held_why(const struct project *p, const char *lang);

/* ---------------------------------------------------------------- post_edit.c */
/* What a poster's correction changes; NULL, -1 or unset members change nothing. */
#define POST_EDIT_OPTIONS 4		/* amounts a question about an unclear budget lists */
struct post_edit {
	char *title, *description, *location;
	int has_budget;
	struct money budget;
	int deadline_days;		/* -1: unchanged */
	char deadline[11];		/* its day, YYYY-MM-DD; "": unchanged */
	int skills_set;			/* the list is replaced by skills */
	struct strlist skills, add, remove;
	int rewrite;			/* the reply restated the whole project */
	int budget_unclear;		/* several amounts, none stated as the budget: ask which */
	struct money budget_options[POST_EDIT_OPTIONS];
	int n_budget_options;
};
/* Reads the correction text (the reply's new text; pi its fields) of project old into e
 * (cleared with post_edit_clear): 1 when it states at least one field, else 0. */
int post_edit_read(const struct project *old, const char *text, const struct post_info *pi,
		   struct post_edit *e);
void post_edit_clear(struct post_edit *e);
/* Adds to out the skills of old_json (JSON array) after e: replaced, added, removed. */
void post_edit_skills(const char *old_json, const struct post_edit *e, struct strlist *out);

/* ---------------------------------------------------------------- bid.c */
/* The floor (min_hourly_rate or min_daily_rate, as configured) that hourly or daily amount m
 * is under, in EUR excl. tax through exchange_rates; NULL when m is not under a floor. */
const char *bid_floor_under(const struct config *c, const struct money *m);
/* A floor as configured ("20 EUR") written in lang's typography ("20 €", "€20"); caller frees. */
char *bid_floor_text(const char *floor_cfg, const char *lang);
/* A held bid is purged this long after it came, unless its subscriber confirmed it. */
#define BID_HELD_TTL (7 * 86400L)
/* How long the projects a selection listed are kept, for a reply that names none. */
#define SELECTION_KEEP (90 * 86400L)
/* A mail to a project's signed bid address (bid+b-PROJECT-SUBSCRIBER): a bid (stored,
 * acknowledged, quoted to the client), or one explanation. */
enum outcome bid_handle(struct handling *h);
/* A mail to a project's public bid address (bid+pPROJECT): held, and one confirmation asked. */
enum outcome bid_public(struct handling *h);
/* A mail to the bid address with no key or one that does not verify: one explanation a day. */
enum outcome bid_refuse(struct handling *h);
/* The same for a bid already tied to a project and a subscriber (a reply to a selection that
 * names the project). */
enum outcome bid_for(const struct config *c, struct store *s, const struct message *m,
		     int64_t project, int64_t subscriber, char **outcome);
/* What a reply to a confirmation request says: 1 a confirming word (oui, yes, confirme…); -1 a
 * word that objects (non, jamais, never…) without a confirming one, or a negation just before a
 * confirming word or a person ("je ne confirme pas", "pas moi", "not me"); 0 neither, or both
 * a confirming and an objecting word ("yes, no problem": not clear, ask again). */
int bid_read_consent(const char *text);
/* The day bid b is delivered by into out (YYYY-MM-DD): the day it named, or its delay counted
 * from the day it was made. 1, or 0 with out "" when it said neither (the award mail's date). */
int bid_delivery_date(const struct bid_row *b, char out[11]);
/* The subscriber's reply m to the confirmation cf of a held bid: confirming, the bid is made
 * active (replacing their previous one), acknowledged and quoted, and with ":subscribe" (the
 * public address's flow) the subscriber is made active too; objecting, it is cancelled and
 * they are told nothing was sent; otherwise the request is sent again, saying what to write. */
enum outcome bid_answer(const struct config *c, struct store *s, const struct confirmation *cf,
			const struct message *m, char **outcome);
/* The public bid address of a project (bid+pID@DOMAIN), shown on the marketplace page. */
char *bid_public_address(const struct config *c, int64_t project);
/* Subscriber sid withdraws their bid on project pid (m the mail that asks it): an active bid
 * becomes cancelled, the freelancer is told and the client told once (by name, which quote); a
 * held one is cancelled; an accepted one is kept and the freelancer told to write to the
 * client; with none, the freelancer is told nothing was withdrawn. */
enum outcome bid_withdraw(const struct config *c, struct store *s, const struct message *m,
			  int64_t pid, int64_t sid, char **outcome);

/* A freelancer's record as a quote shows it ("4.5/5 (2 évaluations)", "pas encore évalué"),
 * in lang; with rated, a catalogue name whose {{rating}} receives it (when rated at all);
 * *completed (may be NULL) gets their completed projects. Caller frees. */
char *bid_rating_text(struct store *s, int64_t subscriber, const char *lang, const char *rated,
		      int *completed);
/* ---------------------------------------------------------------- quote.c */
/* When the awarded bid b is to be delivered: the award time plus its delivery delay in days
 * (awarded as given); -1 when the bid states no delay. The one place that knows how. */
/* The client's command in line[0..n) ("accepter", "refuser 2", "close #1", "clôturer"): 'a',
 * 'd', 'c' or 0; *number gets the number after it (0: none). */
int quote_command_line(const char *line, size_t n, int *number);
/* The client's command cmd ('a', 'd', 'c') on bid (for 'c', any bid of the project), given
 * from a reminder: the same acts as on the quote's relay, the client's decline or close
 * restated to them (an award by the award mail). 0 or -1; *outcome set (caller frees). */
int quote_client_command(const struct config *c, struct store *s, const struct message *m,
			 int64_t bid, int cmd, char **outcome);
/* The one yes/no question of the quote flow about act (INTENT_ACCEPT, _DECLINE) on bid, asked
 * to the client who answered a reminder naming its freelancer without a sure act; its answer
 * is read on the quote's relay. 0 or -1; *outcome set (caller frees). */
int quote_client_ask(const struct config *c, struct store *s, const struct message *m,
		     int64_t bid, enum intent act, char **outcome);
/* The day bid b is to be delivered when awarded at awarded: the day its quote restated (a day
 * it named, or its delay counted from the bid), else its delay counted from the award;
 * (time_t)-1 when the bid gave neither. */
time_t quote_delivery_date(const struct bid_row *b, time_t awarded);
/* t as a date in words in lang ("19 mars 2026", "March 19, 2026"); caller frees. */
char *quote_date_words(const char *lang, time_t t);
/* text as the relay shows it to the other side: the board's keys and tagged addresses replaced
 * by a placeholder in lang (caller frees). */
char *quote_relayable(const struct config *c, const char *text, const char *lang);
/* A notice about project p through the relay template (message, optional text, optional
 * reply key whose address becomes the Reply-To), queued to `to` in lang and recorded in the
 * outbox as kind (reminder, expired, ...); quote (NULL: none) names the bid's thread in the
 * subject. 0 or -1. */
int quote_notice(const struct config *c, struct store *s, const char *kind,
		 const struct project *p, const char *to, const char *to_name, const char *lang,
		 const char *message, const char *text, const char *reply_key, const char *quote,
		 const struct message *with_attachments);
/* The language to write to sub, the freelancer of bid b (NULL: none) in: the one they chose
 * (`language`); until they choose, the one their quote is written in (an English quote is
 * answered in English whatever language the profile got at subscription); else the profile's,
 * else the board's. Borrowed. */
const char *quote_bidder_language(const struct config *c, struct store *s,
				  const struct subscriber *sub, const struct bid_row *b);
/* A reply on a quote's relay (bid+q-BID from the client, bid+r-BID from the freelancer): the
 * client's commands accept / decline / close, or a message relayed to the other side. */
enum outcome quote_handle(struct handling *h);

/* ---------------------------------------------------------------- followup.c */
/* Expiries (with the warning 3 days before), reminders to clients, rating requests due at
 * `now`; each once. Returns the number of notices, or -1. */
int followup_run(const struct config *c, struct store *s, time_t now);
/* A client's reply to a rating request (bid+t-BID): a score 1-5 and a comment. */
enum outcome rating_handle(struct handling *h);
/* bid+w-PROJECT-LIST: the client's answer to a reminder ("accepter 2", "refuser 1", "clôturer"),
 * numbered as the reminder listed the quotes; anything else is answered with the list again. */
enum outcome reminder_handle(struct handling *h);
/* What a freelancer who asked for a follow-up in `days` is told when their bid is passed on:
 * the date the client will be reminded, in lang (caller frees). */
char *followup_scheduled(const char *lang, int days, time_t now);

/* ---------------------------------------------------------------- send.c */
/* Renders template kind in lang with v, composes it (o gives the addresses and threading)
 * and queues it in the outbox, in the caller's transaction. 0 or -1. */
int send_queue(const struct config *c, struct store *s, const char *kind, const char *lang,
	       const struct vars *v, struct outgoing *o);
/* send_queue with template tmpl, the outbox row recording what the mail is as kind (a
 * reminder rendered by relay_message is kind "reminder"). 0 or -1. */
int send_queue_as(const struct config *c, struct store *s, const char *tmpl, const char *kind,
		  const char *lang, const struct vars *v, struct outgoing *o);
/* A mail rendered and composed but not yet queued: what send_queue_made stores. Made by any
 * thread (rendering and composing read only what the main thread loaded before), queued by the
 * store's thread in its transaction. */
struct made_mail {
	char *data;		/* the whole RFC 5322 message */
	size_t len;
	char *subject;		/* as rendered (the outbox row's subject) */
	char token[33];		/* the Message-ID's local part */
};
/* Renders template tmpl in lang with v and composes it with o's addresses into m. 0 or -1. */
int send_make(const struct config *c, const char *tmpl, const char *lang, const struct vars *v,
	      const struct outgoing *o, struct made_mail *m);
/* Queues made mail m in the outbox as kind to o->to (o->share, o->quiet; sets o->token and
 * o->outbox_id), in the caller's transaction. 0 or -1. */
int send_queue_made(const struct config *c, struct store *s, const char *kind,
		    const struct made_mail *m, struct outgoing *o);
void made_mail_clear(struct made_mail *m);
/* Delivers queued outbox rows through the configured transport; returns the number sent or -1. */
int send_outbox_flush(const struct config *c, struct store *s);

/* ---------------------------------------------------------------- ingest.c */
/* Processes every message waiting in the spool. Returns the number processed, -1 on error. */
int ingest_run_once(const struct config *c, struct store *s, volatile int *stop);
/* `bidmail ingest-trial NAME` (unlisted; the in-flight guard's trial of a suspect, in a
 * process of its own): prepares spool/incoming/new/NAME and writes nothing; returns 0. */
int ingest_trial(const struct config *c, const char *name);
/* The daemon loop: ingest, send, sleep until new files; returns on SIGTERM. */
int ingest_daemon(struct config *c, const char *config_file);
/* `bidmail reconcile`: re-offers (spool_reoffer) every file of incoming/cur modified at or
 * after since (0: all) whose ingest key and replay key the database does not know (a commit
 * lost in a failover). The number re-offered; *failed set on an error, which stops it (the
 * files re-offered stay so: running it again goes on). */
int ingest_reconcile(const struct config *c, struct store *s, time_t since, int *failed);

/* ---------------------------------------------------------------- runtime.c */
struct runtime;
/* The configuration of file (NULL: the default search), the data files, the templates and
 * the secret key, all read and checked (the caller owns it); NULL with the reasons on
 * stderr when any part is missing or bad. */
struct runtime *runtime_load(const char *file);
/* rt's configuration (borrowed). */
const struct config *runtime_config(const struct runtime *rt);
/* Makes every part of rt the one in use at once: *c becomes its configuration (the old one
 * cleared; the time zone, database and spool kept, as they are set or opened once at start),
 * the data files, templates and key are swapped in; frees rt. Main thread only, with the
 * fetch and LMTP threads stopped. */
void runtime_use(struct runtime *rt, struct config *c);
/* Frees rt (NULL accepted); returns NULL. */
struct runtime *runtime_free(struct runtime *rt);

/* ---------------------------------------------------------------- json.c */
/* Prints what the gateway understands of a message as one JSON object. */
int json_print_message(FILE *out, const struct config *c, const struct message *m,
		       enum kind k, const char *as);
/* `projects --json`: each project with created, published (null until it first opened) and
 * its deadline, the days left counted at now. */
int json_print_projects(FILE *out, struct project *p, int n, time_t now);
/* The strings of a JSON array text (a project's skills) appended to out; 0, or -1. */
int json_string_list(const char *text, struct strlist *out);
/* The marketplace's projects.json: open projects without any poster data, each with its
 * masked description, its page's URL and its public bid address. */
int json_print_public_projects(FILE *out, const struct config *c, struct project *p, int n,
			       const char *const *descriptions, const char *const *urls,
			       const char *const *bid_addresses, time_t now);
int json_print_outbox(FILE *out, struct outbox_row *r, int n);
int json_print_subscribers(FILE *out, struct subscriber *v, int n);
int json_print_bids(FILE *out, struct bid_row *v, int n);
int json_print_status(FILE *out, const struct store_status *st);

#endif
