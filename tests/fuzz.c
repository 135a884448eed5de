/*
 * fuzz.c — the libFuzzer target (make fuzz): one input is one mail as the MTA hands it, run
 * through everything `deliver`+`run` does before the database: the limits pre-scan, the MIME
 * parser (with and without attachment bytes), the classifier for each of the board's
 * addresses, the extraction of posts and bids (reply trimming included) and the JSON output.
 * Built with clang -fsanitize=fuzzer,address,undefined; a crash, leak or undefined behaviour
 * stops the run and leaves the input in tests/fuzz-regressions/, which the suite replays.
 */
#include "../src/bidmail.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config cfg;
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the shipped data files and templates, through a config beside the sources */
	char *conf = xasprintf("%s/build-fuzz/fuzz.conf", BIDMAIL_SRCDIR);
	FILE *f = fopen(conf, "w");
	if (!f || fprintf(f, "data_dir = %s/contrib\ntemplates = %s/mail-templates\n",
			  BIDMAIL_SRCDIR, BIDMAIL_SRCDIR) < 0 || fclose(f)) {
		perror(conf);
		exit(1);
	}
	if (config_load(&cfg, conf) < 0 || extract_load(&cfg) < 0)
		exit(1);
	free(conf);
	log_open("fuzz", 0);
	log_set_max_priority(3); /* errors only: the fuzzer's own output stays readable */
	devnull = fopen("/dev/null", "w");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = { "post@example.org", "bid@example.org",
					     "robot@example.org", "bounce@example.org", NULL };
	const char *text = (const char *)data;
	char why[256];
	if (mime_check_limits(&cfg, text, size, why, sizeof why) != MIME_LIMITS_OK)
		return 0;
	/* the first byte picks the address, as the envelope would */
	const char *rcpt = size ? rcpts[data[0] % 5] : NULL;
	struct message *m = mime_parse(text, size);
	enum kind k = classify_message(&cfg, m, rcpt);
	extract_message(&cfg, m, k == KIND_UNKNOWN ? KIND_BID : k);
	json_print_message(devnull, &cfg, m, k, NULL);
	message_free(m);
	if (size && data[0] & 0x80) {
		m = mime_parse_attachments(text, size);
		extract_message(&cfg, m, KIND_POST);
		message_free(m);
	}
	return 0;
}
