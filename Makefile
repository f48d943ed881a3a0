# shelf: `make` builds ./shelf; `make test` runs every test (release and sanitizer builds);
# `make demo` runs the main job on the bundled sample catalog; `make bench` runs the peers.

CC      ?= cc
PKGS    := openblas libutf8proc libcjson libjpeg libpng libwebp libmicrohttpd zlib
# Recursive (=), not :=, so that pkg-config is asked after `deps` has installed the packages.
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -pthread \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# The one C++ translation unit (src/index/hnsw.cpp, over hnswlib's headers) builds with the
# same warnings; the library then needs libstdc++.
CXXFLAGS_COMMON = -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -pthread
# oneDNN (Debian's libdnnl-dev) has no pkg-config file; it runs on OpenMP (libgomp).
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lopenblas -lutf8proc -lcjson -ljpeg -lpng16 -lwebp -lmicrohttpd -lz) \
          -ldnnl -lgomp -lstdc++ -lm -pthread
# Open MPI (Debian's libopenmpi-dev): the command-line tool's distributed runs (cli/parallel.c);
# the library never sees it.
MPI_CFLAGS = $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   = $(shell pkg-config --libs ompi-c 2>/dev/null || echo -lmpi)
# PORTABLE=1 (packages) builds for any x86-64, the hot kernels twice (core/kernels.h), the
# loader choosing AVX2's where the CPU has it; else for this kind of machine (x86-64-v3).
PORTABLE ?= 0
# HARDEN: extra compile flags a package build passes (debian/rules: the stack protector);
# LDFLAGS and CPPFLAGS from the environment reach the release build too.
HARDEN ?=
ifeq ($(PORTABLE),1)
OPT     := -O3 -g -fno-math-errno -fPIC -DSHELF_PORTABLE
else
OPT     := -O3 -march=x86-64-v3 -fno-math-errno -fPIC
endif
SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_CXX_SRC := $(sort $(wildcard src/*/*.cpp))
LIB_OBJ := $(LIB_SRC:%.c=%.o) $(LIB_CXX_SRC:%.cpp=%.o)
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS   := $(TEST_SRC:tests/%.c=%)

.PHONY: all deps check-layers test test-unit test-e2e demo bench clean valgrind fuzz fuzz-build fuzz-smoke \
        install uninstall lib docs

# The library's version (shelf.h) and where make install puts things (DESTDIR for packages).
VERSION := $(shell sed -n 's/^\#define SHELF_VERSION "\(.*\)"/\1/p' include/shelf.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libshelf.so.$(SOMAJOR)
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
COMPDIR ?= $(PREFIX)/share/bash-completion/completions
# where Debian's /usr/bin/python3 looks: /usr/lib/python3/dist-packages for /usr, else
# PREFIX/lib/python3.X/dist-packages
PYDIR   ?= $(shell /usr/bin/python3 -c 'import sys; p = "$(PREFIX)"; print(p + "/lib/python3/dist-packages" if p == "/usr" else "%s/lib/python%d.%d/dist-packages" % ((p,) + sys.version_info[:2]))' 2>/dev/null)

all: deps shelf

# Installs the Debian packages when a library is missing (scripts/install-deps.sh).
deps:
	@pkg-config --exists $(PKGS) cmocka && [ -f /usr/include/utf8proc.h ] && \
	  [ -f /usr/include/oneapi/dnnl/dnnl.h ] && \
	  command -v valgrind >/dev/null && command -v $(FUZZ_CC) >/dev/null && \
	  command -v chromium >/dev/null && command -v $(CXX) >/dev/null && \
	  [ -f /usr/include/hnswlib/hnswlib.h ] && pkg-config --exists ompi-c && \
	  command -v mpirun >/dev/null && command -v man >/dev/null && command -v dh >/dev/null && \
	  command -v lintian >/dev/null && command -v dpkg-buildpackage >/dev/null && \
	  /usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null && \
	  [ -f /usr/lib/llvm-14/lib/libFuzzer.a ] && [ -n "$(FUZZ_RT)" ] || bash scripts/install-deps.sh

# The release objects remember the flags they were built with: another OPT (PORTABLE=1, or
# back) builds them again rather than mixing the two.
OPT_STAMP := build/rel/.opt-$(shell echo '$(OPT) $(CPPFLAGS) $(HARDEN)' | md5sum | cut -c1-12)
$(OPT_STAMP):
	@mkdir -p build/rel && rm -f build/rel/.opt-* && touch $@

build/rel/%.o: %.c include/shelf.h $(wildcard src/*/*.h cli/*.h tests/*.h) $(OPT_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) $(CPPFLAGS) $(HARDEN) -c $< -o $@

build/san/%.o: %.c include/shelf.h $(wildcard src/*/*.h cli/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN) -c $< -o $@

build/rel/%.o: %.cpp include/shelf.h $(wildcard src/*/*.h) $(OPT_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_COMMON) $(OPT) $(CPPFLAGS) $(HARDEN) -c $< -o $@

build/san/%.o: %.cpp include/shelf.h $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_COMMON) $(SAN) -c $< -o $@

build/rel/libshelf.a: $(LIB_OBJ:%=build/rel/%)
	rm -f $@ && ar rcs $@ $^
build/san/libshelf.a: $(LIB_OBJ:%=build/san/%)
	rm -f $@ && ar rcs $@ $^

# The shared library: position-independent objects (OPT has -fPIC), shelf_* alone exported
# (src/libshelf.map), its soname the major version.
build/rel/libshelf.so.$(VERSION): $(LIB_OBJ:%=build/rel/%) src/libshelf.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libshelf.map -Wl,--no-undefined \
	  $(OPT) $(LDFLAGS) -o $@ $(LIB_OBJ:%=build/rel/%) $(LDLIBS)
build/rel/$(SONAME) build/rel/libshelf.so: build/rel/libshelf.so.$(VERSION)
	ln -sf libshelf.so.$(VERSION) $@
lib: build/rel/libshelf.so build/rel/$(SONAME) build/rel/libshelf.a

# pkg-config's file, written by make install for its PREFIX, LIBDIR and INCDIR.
define SHELF_PC
prefix=$(PREFIX)
libdir=$(LIBDIR)
includedir=$(INCDIR)

Name: shelf
Description: product categorization for e-commerce catalogs (titles and photos)
Version: $(VERSION)
Cflags: -I$${includedir}
Libs: -L$${libdir} -lshelf
Requires.private: $(PKGS)
Libs.private: -ldnnl -lgomp -lstdc++ -lm -pthread
endef
export SHELF_PC

build/rel/cli/parallel.o build/san/cli/parallel.o: CFLAGS_COMMON += $(MPI_CFLAGS)
shelf: $(CLI_SRC:%.c=build/rel/%.o) build/rel/libshelf.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MPI_LIBS)
build/san/shelf: $(CLI_SRC:%.c=build/san/%.o) build/san/libshelf.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

build/rel/tests/%: build/rel/tests/%.o build/rel/libshelf.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS) -lcmocka
build/san/tests/%: build/san/tests/%.o build/san/libshelf.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS) -lcmocka

# libFuzzer targets (tests/fuzz/fuzz_*.c, one per input surface): clang-14 with libFuzzer,
# ASan and UBSan, over the library built the same way in build/fuzz. `make fuzz` runs each
# for FUZZ_SECONDS, `make test` for 30 s (fuzz-smoke); tests/fuzz/run.sh says how.
FUZZ_CC       := clang-14
FUZZ_CXX      := clang++-14
# clang's fuzzer runtime (libclang-rt-14-dev); = so that it is looked for after `deps`
FUZZ_RT        = $(wildcard /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a)
# clang (not gcc) warns of `|` between the overflow builtins in model_file.c, which is meant:
# every check runs, without branches.
FUZZ_SAN      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=all -Wno-bitwise-instead-of-logical
FUZZ_SRC      := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS  := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_SECONDS  ?= 600
FUZZ_JOBS     ?= 2

build/fuzz/%.o: %.c include/shelf.h $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_COMMON) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/%.o: %.cpp include/shelf.h $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CXXFLAGS_COMMON) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/libshelf.a: $(LIB_OBJ:%=build/fuzz/%)
	ar rcs $@ $^
build/fuzz/bin/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) build/fuzz/libshelf.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_COMMON) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@.o
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $@.o build/fuzz/libshelf.a $(LDLIBS)

fuzz-build: deps $(FUZZ_TARGETS:%=build/fuzz/bin/%)

# Every target for FUZZ_SECONDS (FUZZ_JOBS at a time), from tests/fuzz/corpus/TARGET; new
# inputs go to build/fuzz/corpus/TARGET, crashes to build/fuzz/crashes/TARGET. Fails on any
# crash, leak, timeout or sanitizer report.
fuzz: fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)
fuzz-smoke: fuzz-build
	bash tests/fuzz/run.sh 30 $(FUZZ_JOBS) $(FUZZ_TARGETS)

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
build/bench/ann_speed: bench/ann_speed.c build/rel/libshelf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $^ $(LDLIBS)
build/bench/seq_speed: bench/seq_speed.c build/rel/libshelf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(OPT) -o $@ $^ $(LDLIBS)

# No file includes a layer above its own; the CLI includes only shelf.h of the library.
check-layers:
	@bash scripts/check-layers.sh

test: check-layers deps shelf lib build/san/shelf build/tools/make_images $(TESTS:%=build/rel/tests/%) \
      $(TESTS:%=build/san/tests/%) fuzz-build
	@set -e; for t in $(TESTS); do echo "== $$t (release)"; build/rel/tests/$$t; \
	  echo "== $$t (asan+ubsan)"; build/san/tests/$$t; done
	@echo "== make install, the C example, make uninstall"; bash tests/install.sh
	@echo "== the Python package (/usr/bin/python3)"; /usr/bin/python3 tests/test_python.py
	@echo "== Debian packages"; bash tests/package.sh
	@echo "== end-to-end (release)"; bash tests/e2e.sh ./shelf
	@echo "== end-to-end (asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1 bash tests/e2e.sh build/san/shelf
	@echo "== model files of every format (release, asan+ubsan)"; bash tests/model_compat.sh ./shelf && ASAN_OPTIONS=detect_leaks=1 bash tests/model_compat.sh build/san/shelf
	@echo "== serve end-to-end (release)"; bash tests/serve_e2e.sh ./shelf
	@echo "== serve end-to-end (asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1 bash tests/serve_e2e.sh build/san/shelf
	@bash tests/valgrind.sh ./shelf
	@echo "== fuzz targets, 30 s each"; $(MAKE) --no-print-directory fuzz-smoke
	@echo "all tests passed"

demo: deps shelf build/tools/make_images
	bash examples/demo.sh ./shelf

bench: deps shelf build/bench/conv_speed build/bench/refit_head
	bash scripts/install-deps.sh --bench
	bash bench/text.sh
	bash bench/image.sh

valgrind: shelf
	bash tests/valgrind.sh ./shelf

# Man pages (shelf(1), shelf-COMMAND(1)) and bash completion, made from shelf's --help,
# which its option tables print: they cannot drift from it.
build/docs/man1/shelf.1: shelf scripts/make-docs.py
	rm -rf build/docs && /usr/bin/python3 scripts/make-docs.py ./shelf build/docs
docs: build/docs/man1/shelf.1

# make install PREFIX=... (DESTDIR=... for a package): the tool, the shared and static
# library, the header, pkg-config's file, the man pages and bash completion; make uninstall
# takes away what it put.
INSTALLED = $(BINDIR)/shelf $(LIBDIR)/libshelf.so.$(VERSION) $(LIBDIR)/$(SONAME) \
            $(LIBDIR)/libshelf.so $(LIBDIR)/libshelf.a $(INCDIR)/shelf.h \
            $(LIBDIR)/pkgconfig/shelf.pc $(MANDIR)/man1/shelf.1 $(MANDIR)/man1/shelf-*.1 \
            $(COMPDIR)/shelf $(PYDIR)/shelf/__init__.py $(PYDIR)/shelf/_lib.py \
            $(PYDIR)/shelf/sklearn.py $(PYDIR)/shelf/_installed.py
install: shelf lib docs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 755 shelf $(DESTDIR)$(BINDIR)/shelf
	install -m 644 build/rel/libshelf.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libshelf.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libshelf.so
	install -m 644 build/rel/libshelf.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/shelf.h $(DESTDIR)$(INCDIR)/
	printf '%s\n' "$$SHELF_PC" > $(DESTDIR)$(LIBDIR)/pkgconfig/shelf.pc
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR)
	install -m 644 build/docs/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 build/docs/completion/shelf $(DESTDIR)$(COMPDIR)/shelf
	install -d $(DESTDIR)$(PYDIR)/shelf
	install -m 644 python/shelf/__init__.py python/shelf/_lib.py python/shelf/sklearn.py \
	  $(DESTDIR)$(PYDIR)/shelf/
	printf 'LIBDIR = "%s"  # where make install put libshelf.so.0\n' '$(LIBDIR)' \
	  > $(DESTDIR)$(PYDIR)/shelf/_installed.py
uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	rm -rf $(DESTDIR)$(PYDIR)/shelf/__pycache__
	-rmdir $(DESTDIR)$(PYDIR)/shelf 2>/dev/null

clean:
	rm -rf build shelf

.SECONDARY:
