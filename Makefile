# The two commands of the README:
#   make run    builds qwen3 alone and starts the chat (make run ARGS="-m MODEL_DIR")
#   make test   installs what is missing, builds everything and runs the whole test suite
# and make install (PREFIX=/usr/local): qwen3 into PREFIX/bin, the docs into PREFIX/share/doc/qwen3.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all setup configure build qwen3 run install test asan tsan fuzz-server clean format

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: setup configure
	cmake --build $(BUILD) -j $(JOBS)

# The binary alone: what running and installing need (the test binaries are about half of a fresh build).
qwen3: setup configure
	cmake --build $(BUILD) -j $(JOBS) --target qwen3

run: qwen3
	@scripts/run-main $(ARGS)

install: qwen3
	cmake --install $(BUILD) --prefix $(PREFIX)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DQWEN3_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

# ThreadSanitizer over the server and scheduler: the engine's scheduler tests and the server's end-to-end suites
# (HTTP layer, scheduler thread, workers, streaming) with a TSan-built qwen3.
tsan:
	$(MAKE) build BUILD=build-tsan CMAKE_FLAGS="-DQWEN3_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" QWEN3_TIME_SCALE=10 \
	  ctest --output-on-failure -j $(JOBS) -R 'Scheduler|server_'

# The server's libFuzzer targets (HTTP request parser, request-body validator) with clang-14, ASan and UBSan;
# FUZZ_SECONDS each (tests/fuzz/run-server.sh).
FUZZ_SECONDS ?= 120
fuzz-server: setup
	CXX=clang++-14 CC=clang-14 cmake -S . -B build-fuzz-server -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DQWEN3_FUZZ=ON -DQWEN3_TESTS=OFF
	cmake --build build-fuzz-server -j $(JOBS) --target fuzz_http fuzz_request fuzz_schema fuzz_regex fuzz_gbnf
	tests/fuzz/run-server.sh $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
