# shelf: `make` builds ./shelf; `make test` runs every test (release and sanitizer builds);
# `make demo` runs the main job on the bundled sample catalog; `make bench` runs the peers.

CC      ?= cc
PKGS    := openblas libutf8proc libcjson libjpeg libpng libwebp libmicrohttpd zlib
# Recursive (=), not :=, so that pkg-config is asked after `deps` has installed the packages.
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -pthread \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lopenblas -lutf8proc -lcjson -ljpeg -lpng16 -lwebp -lmicrohttpd -lz) \
          -lm -pthread
OPT     := -O3 -march=x86-64-v3 -fno-math-errno
SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(sort $(wildcard src/*/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS   := $(TEST_SRC:tests/%.c=%)

.PHONY: all deps test test-unit test-e2e demo bench clean valgrind

all: deps shelf

# Installs the Debian packages when a library is missing (scripts/install-deps.sh).
deps:
	@pkg-config --exists $(PKGS) cmocka && [ -f /usr/include/utf8proc.h ] && \
	  command -v valgrind >/dev/null || bash scripts/install-deps.sh

build/rel/%.o: %.c include/shelf.h $(wildcard src/*/*.h cli/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -c $< -o $@

build/san/%.o: %.c include/shelf.h $(wildcard src/*/*.h cli/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN) -c $< -o $@

build/rel/libshelf.a: $(LIB_SRC:%.c=build/rel/%.o)
	ar rcs $@ $^
build/san/libshelf.a: $(LIB_SRC:%.c=build/san/%.o)
	ar rcs $@ $^

shelf: $(CLI_SRC:%.c=build/rel/%.o) build/rel/libshelf.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)
build/san/shelf: $(CLI_SRC:%.c=build/san/%.o) build/san/libshelf.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

build/rel/tests/%: build/rel/tests/%.o build/rel/libshelf.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS) -lcmocka
build/san/tests/%: build/san/tests/%.o build/san/libshelf.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS) -lcmocka

# Test and bench tools: a generator of image catalogs, the convolution and sequence-layer
# speed probes.
build/tools/make_images: tests/tools/make_images.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $< $(LDLIBS)
build/bench/refit_head: bench/refit_head.c build/rel/libshelf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $^ $(LDLIBS)
build/bench/conv_speed: bench/conv_speed.c build/rel/libshelf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $^ $(LDLIBS)
build/bench/seq_speed: bench/seq_speed.c build/rel/libshelf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $^ $(LDLIBS)

test: deps shelf build/san/shelf build/tools/make_images $(TESTS:%=build/rel/tests/%) \
      $(TESTS:%=build/san/tests/%)
	@set -e; for t in $(TESTS); do echo "== $$t (release)"; build/rel/tests/$$t; \
	  echo "== $$t (asan+ubsan)"; build/san/tests/$$t; done
	@echo "== end-to-end (release)"; bash tests/e2e.sh ./shelf
	@echo "== end-to-end (asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1 bash tests/e2e.sh build/san/shelf
	@echo "== serve end-to-end (release)"; bash tests/serve_e2e.sh ./shelf
	@echo "== serve end-to-end (asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1 bash tests/serve_e2e.sh build/san/shelf
	@bash tests/valgrind.sh ./shelf
	@echo "all tests passed"

demo: deps shelf build/tools/make_images
	bash examples/demo.sh ./shelf

bench: deps shelf build/bench/conv_speed build/bench/refit_head
	bash scripts/install-deps.sh --bench
	bash bench/text.sh
	bash bench/image.sh

valgrind: shelf
	bash tests/valgrind.sh ./shelf

clean:
	rm -rf build shelf

.SECONDARY:
