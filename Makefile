# bidmail — build, test, benchmark, install.
#   make            build ./bidmail
#   make run        install missing packages, build, init, start the gateway (embedded defaults)
#   make tsan       the same under ThreadSanitizer, in build-tsan/
#   make check      install missing packages, build, run the whole suite (plain, then ASan+UBSan)
#   make pgcheck    the PostgreSQL driver and dialect check, build/pg_dialect (links libpq)
#   make bench      build and run the benchmarks in bench/
#   make bench-scale  the scale benchmarks alone (SUBS=100000 PROJECTS=1000 by default)
#   make man        the man pages, in build/man/ (bidmail.conf.5 generated from the example)
#   make install    PREFIX=/usr/local DESTDIR=   (honours CC, CFLAGS, CPPFLAGS, LDFLAGS)

CC      ?= cc
PREFIX  ?= /usr/local
DATADIR ?= $(PREFIX)/share/bidmail
MANDIR  ?= $(PREFIX)/share/man
PKGS     = sqlite3 libpq jansson libxml-2.0 gnutls libcurl libpcre2-8 libmicrohttpd
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) \
	-DBIDMAIL_DATADIR='"$(DATADIR)"' $(shell pkg-config --cflags $(PKGS))
LIBS     = -letpan $(shell pkg-config --libs $(PKGS)) -lpthread

# every driver of the database seam is linked: db_sqlite.c (sqlite3) and db_pg.c (libpq)
SRCS = $(wildcard src/*.c)
BUILD ?= build
OBJS = $(SRCS:src/%.c=$(BUILD)/%.o)

all: bidmail man

bidmail: $(BUILD)/bidmail
	cp $< $@

$(BUILD)/bidmail: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(BUILD)/%.o: src/%.c src/bidmail.h src/db.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/db_dialect.o: src/db_dialect.c src/db.h src/db_dialect_overrides.h src/bidmail.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@

# bidmail.conf(5): its KEYS section comes from contrib/bidmail.conf.example, the one place
# where each key is described.
MAN_SRC = contrib/man
man: $(BUILD)/man/bidmail.1 $(BUILD)/man/bidmail.conf.5

$(BUILD)/man/bidmail.1: $(MAN_SRC)/bidmail.1
	mkdir -p $(BUILD)/man
	cp $< $@

$(BUILD)/man/bidmail.conf.5: $(MAN_SRC)/bidmail.conf.5.head $(MAN_SRC)/conf-to-man.awk \
		contrib/bidmail.conf.example $(MAN_SRC)/bidmail.conf.5.tail
	mkdir -p $(BUILD)/man
	{ cat $(MAN_SRC)/bidmail.conf.5.head; \
	  awk -f $(MAN_SRC)/conf-to-man.awk contrib/bidmail.conf.example; \
	  cat $(MAN_SRC)/bidmail.conf.5.tail; } > $@.tmp && mv $@.tmp $@

# Table-driven unit tests of the pure functions, linked with every object but main.o.
$(BUILD)/unit: tests/unit.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The storage conformance table (every store_* function through the public API), built with
# the unit tables; it reads the header to check that every store_* prototype has a case.
$(BUILD)/store_conformance: tests/store_conformance.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) -DSTORE_HEADER='"$(CURDIR)/src/bidmail.h"' $(LDFLAGS) -o $@ $^ $(LIBS)

unit: $(BUILD)/unit $(BUILD)/store_conformance

# The PostgreSQL driver (db_pg.c) and the dialect held to their word against a private server
# (tests/t_pg.py starts it with tests/pg.py and runs this program).
$(BUILD)/pg_dialect: tests/pg_dialect.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

pgcheck: $(BUILD)/pg_dialect

$(BUILD)/match_bench: bench/match_bench.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/extract_bench: bench/extract_bench.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/reply_bench: bench/reply_bench.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/reply_same: bench/reply_same.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The same sources under AddressSanitizer and UBSan, in their own folder.
asan:
	$(MAKE) BUILD=build-asan CC=clang \
		CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer' \
		LDFLAGS='-fsanitize=address,undefined' build-asan/bidmail build-asan/unit \
		build-asan/store_conformance

# The same sources under ThreadSanitizer, in their own folder: the daemon's threads (ingest
# prefetch and watchdog, fetch, LMTP, HTTP, SMTP connections). The runtime_ tests of
# tests/t_runtime.py drive them all at once: python3 tests/suite.py ./build-tsan/bidmail --only runtime_
tsan:
	$(MAKE) BUILD=build-tsan CC=clang \
		CFLAGS='-O1 -g -fsanitize=thread -fno-omit-frame-pointer' \
		LDFLAGS='-fsanitize=thread' build-tsan/bidmail

# libFuzzer over parse -> classify -> extract (tests/fuzz.c), seeded with the test mails and
# ../shared/corpus/; FUZZ_TIME seconds (default 600). A crash leaves its input in
# tests/fuzz-regressions/, which the suite replays.
FUZZ_TIME ?= 600
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz: deps
	$(MAKE) BUILD=build-fuzz CC=clang \
		CFLAGS='-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -fno-omit-frame-pointer' \
		build-fuzz/fuzz
	mkdir -p build-fuzz/corpus tests/fuzz-regressions
	cd build-fuzz && ./fuzz -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=../tests/fuzz-regressions/ corpus ../tests/mail ../tests/extract \
		../tests/fuzz-regressions $(wildcard $(abspath $(CURDIR)/../shared/corpus))

build-fuzz/fuzz: tests/fuzz.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) -DBIDMAIL_SRCDIR='"$(CURDIR)"' -fsanitize=fuzzer $(FUZZ_SAN) \
		-o $@ $^ $(LIBS)

deps:
	./contrib/install-deps.sh

run: deps
	$(MAKE) bidmail
	./contrib/run-gateway.sh

check: deps
	$(MAKE) bidmail unit man pgcheck
	$(MAKE) asan
	./tests/run.sh

bench: deps
	$(MAKE) bidmail $(BUILD)/extract_bench $(BUILD)/match_bench $(BUILD)/reply_bench
	./bench/run.sh

# the scale benchmarks alone, sized: make bench-scale SUBS=1000000 PROJECTS=10000
# (BENCH_BOARDS=DIR keeps the generated boards for the next run; BENCH_LIMIT=SECONDS samples a
# weekly run too large for the disk: 1,000,000 x 10,000 queues about 77 GB of selections)
SUBS ?= 100000
PROJECTS ?= 1000
bench-scale: bidmail
	python3 bench/digest_bench.py $(SUBS) $(PROJECTS)
	python3 bench/idle_bench.py $(SUBS) $(PROJECTS)
	python3 bench/alert_bench.py $(SUBS)

install: bidmail man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(DATADIR)/mail-templates/fr \
		$(DESTDIR)$(DATADIR)/mail-templates/en $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 bidmail $(DESTDIR)$(PREFIX)/bin/bidmail
	install -m 644 mail-templates/fr/*.tmpl mail-templates/fr/strings $(DESTDIR)$(DATADIR)/mail-templates/fr/
	install -m 644 mail-templates/en/*.tmpl mail-templates/en/strings $(DESTDIR)$(DATADIR)/mail-templates/en/
	install -d $(DESTDIR)$(DATADIR)/data
	install -m 644 contrib/*.txt $(DESTDIR)$(DATADIR)/data/
	install -m 644 $(BUILD)/man/bidmail.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(BUILD)/man/bidmail.conf.5 $(DESTDIR)$(MANDIR)/man5/

clean:
	rm -rf build build-asan build-tsan build-fuzz bidmail tests/out bench/out bench/out.old.*

.PHONY: all man unit pgcheck asan tsan fuzz deps run check bench bench-scale install clean
