# Thin wrapper around CMake/CTest: the README's commands.
#
#   make cluster    a 3-node local cluster in the foreground, data in ./data
#   make run        one node in the foreground, data in ./data/node1
#   make test       every test (installs missing packages and builds first)
#   make test-asan  every test under AddressSanitizer + UBSan (build-asan/)
#   make check-threads  build libraries and tests with clang -Wthread-safety
#                   -Werror: lock annotations checked (build-threads/)
#   make bench      micro-benchmarks, kvd against the baseline, and one node
#                   against a 3-node cluster (docs/benchmarks.md)
#   make docker-image  the rumor:dev image (docs/docker.md)
#   make docker-up  a 5-node cluster in Docker, waited for until it formed
#   make docker-down   remove that cluster, data volumes included
#   make chaos      the chaos matrix against the Docker cluster: every fault
#                   and a mixed schedule, R=W=2 and R=W=1, 10 seeds each
#                   (docs/reliability.md; about 2 hours)
#   make chaos-local   the same without Docker: kill and pause of local kvd

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
THREADS_DIR ?= build-threads
WERROR ?= OFF
JOBS ?= $(shell nproc)
# Each test carries its own timeout (tests/CMakeLists.txt).
CTEST_FLAGS ?= --output-on-failure

.PHONY: all deps configure build run cluster test test-asan check-threads bench clean \
	docker-image docker-up docker-down chaos chaos-local

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DRUMOR_WERROR=$(WERROR) >/dev/null

build: configure
	@ninja -C $(BUILD_DIR)

run: build
	@mkdir -p data
	exec $(BUILD_DIR)/kvd --listen=127.0.0.1:7379 --data-dir=data/node1

cluster: build
	@bash scripts/cluster.sh

test: build
	cd $(BUILD_DIR) && ctest -j$(JOBS) $(CTEST_FLAGS)

test-asan: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DRUMOR_SANITIZE=ON -DRUMOR_BUILD_BENCHMARKS=OFF \
	  -DRUMOR_WERROR=$(WERROR) >/dev/null
	@ninja -C $(ASAN_DIR)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j$(JOBS) $(CTEST_FLAGS)

check-threads: deps
	@cmake -S . -B $(THREADS_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_C_COMPILER=clang-14 \
	  -DCMAKE_CXX_COMPILER=clang++-14 -DRUMOR_THREAD_SAFETY=ON \
	  -DRUMOR_BUILD_BENCHMARKS=OFF >/dev/null
	@ninja -C $(THREADS_DIR)
	@echo "check-threads: every lock annotation holds"

bench: build
	$(BUILD_DIR)/bench/micro_bench
	BUILD=$(BUILD_DIR) bash bench/compare.sh
	BUILD=$(BUILD_DIR) bash bench/cluster_compare.sh

docker-image:
	@bash scripts/docker-cluster.sh image

docker-up:
	@bash scripts/docker-cluster.sh up

docker-down:
	@bash scripts/docker-cluster.sh down

chaos: build
	@bash scripts/chaos-matrix.sh

chaos-local: build
	@MODE=local bash scripts/chaos-matrix.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(THREADS_DIR)
