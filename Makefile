# bidmail — build, test, benchmark, install.
#   make            build ./bidmail
#   make run        install missing packages, build, init, start the gateway (embedded defaults)
#   make check      install missing packages, build, run the whole suite (plain, then ASan+UBSan)
#   make bench      build and run the benchmarks in bench/
#   make install    PREFIX=/usr/local DESTDIR=

CC      ?= cc
PREFIX  ?= /usr/local
DATADIR ?= $(PREFIX)/share/bidmail
PKGS     = sqlite3 jansson libxml-2.0 gnutls libcurl libpcre2-8
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) \
	-DBIDMAIL_DATADIR='"$(DATADIR)"' $(shell pkg-config --cflags $(PKGS))
LIBS     = -letpan $(shell pkg-config --libs $(PKGS)) -lpthread

SRCS = $(wildcard src/*.c)
BUILD ?= build
OBJS = $(SRCS:src/%.c=$(BUILD)/%.o)

all: bidmail

bidmail: $(BUILD)/bidmail
	cp $< $@

$(BUILD)/bidmail: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(BUILD)/%.o: src/%.c src/bidmail.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@

# Table-driven unit tests of the pure functions, linked with every object but main.o.
$(BUILD)/unit: tests/unit.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

unit: $(BUILD)/unit

$(BUILD)/match_bench: bench/match_bench.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/extract_bench: bench/extract_bench.c $(filter-out $(BUILD)/main.o,$(OBJS))
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The same sources under AddressSanitizer and UBSan, in their own folder.
asan:
	$(MAKE) BUILD=build-asan CC=clang \
		CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer' \
		LDFLAGS='-fsanitize=address,undefined' build-asan/bidmail build-asan/unit

deps:
	./contrib/install-deps.sh

run: deps
	$(MAKE) bidmail
	./contrib/run-gateway.sh

check: deps
	$(MAKE) bidmail unit
	$(MAKE) asan
	./tests/run.sh

bench: deps
	$(MAKE) bidmail $(BUILD)/extract_bench $(BUILD)/match_bench
	./bench/run.sh

install: bidmail
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(DATADIR)/mail-templates/fr \
		$(DESTDIR)$(DATADIR)/mail-templates/en
	install -m 755 bidmail $(DESTDIR)$(PREFIX)/bin/bidmail
	install -m 644 mail-templates/fr/*.tmpl $(DESTDIR)$(DATADIR)/mail-templates/fr/
	install -m 644 mail-templates/en/*.tmpl $(DESTDIR)$(DATADIR)/mail-templates/en/
	install -d $(DESTDIR)$(DATADIR)/data
	install -m 644 contrib/skills.txt contrib/scam-rules.txt contrib/locations.txt \
		$(DESTDIR)$(DATADIR)/data/

clean:
	rm -rf build build-asan bidmail tests/out bench/out bench/out.old.*

.PHONY: all unit asan deps run check bench install clean
